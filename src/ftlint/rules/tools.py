"""Tool calls checked against their declared tools (FTJ004-FTJ009).

Supported shapes:
- OpenAI chat: top-level `tools` (`{"type": "function", "function": {...}}`) or legacy
  `functions`; assistant `tool_calls` (`arguments` is a JSON string, a dict is accepted) or
  legacy `function_call`; `tool` replies with `tool_call_id`.
- sharegpt (LLaMA-Factory, glaive): `function_call` turns whose value is the call JSON
  (`{"name": ..., "arguments": {...}}` or a list of them), `observation` replies, and `tools`
  as a list or a JSON string.
- LLaMA-Factory v1 messages: content parts `{"type": "tool_call", "value": "<call JSON>"}`.

Declared tool lists are analysed once per distinct list and each parameter schema is compiled
once (module-level caches keyed by content); calls are extracted once per example and shared
by the rules through `example.cache`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson

from ..findings import Finding, Location, Severity
from ..formats import Example, Turn
from ..jsonschemas import ValidatorCache, inner_span, locate_in_string, parse_json, violations
from ..locate import join_pointer, split_pointer
from ..records import Record
from ..rule import Context, Rule, fingerprint, record_digest
from ._batch import batch_view


# --------------------------------------------------------------------------------------------
# Locating values that may live inside a JSON string
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Anchor:
    """Where a JSON value lives: at `pointer` in the record, or - when `text` is set - inside
    the JSON held by the string at `pointer`, at inner pointer `prefix`."""

    pointer: str
    text: str | None = None
    prefix: str = ""

    def locate(self, record: Record, rel: str = "") -> Location:
        if self.text is None:
            return record.locate(self.pointer + self.prefix + rel)
        s, e = inner_span(self.text, self.prefix + rel)
        return locate_in_string(record, self.pointer, s, e)

    def locate_offset(self, record: Record, offset: int) -> Location:
        if self.text is None:
            return record.locate(self.pointer + self.prefix)
        return locate_in_string(record, self.pointer, offset)

    def child(self, rel: str) -> "Anchor":
        return Anchor(self.pointer, self.text, self.prefix + rel)

    def key(self, rel: str = "") -> str:
        return f"{self.pointer}#{self.prefix}{rel}"


# --------------------------------------------------------------------------------------------
# Declared tools
# --------------------------------------------------------------------------------------------
JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
# Python type names used by xLAM / APIGen-style tool lists (LLaMA-Factory's reason_tool_use demo).
PY_TYPES = {"str": "string", "string": "string", "int": "integer", "integer": "integer",
            "float": "number", "number": "number", "bool": "boolean", "boolean": "boolean",
            "dict": "object", "object": "object", "list": "array", "array": "array",
            "tuple": "array", "set": "array", "none": "null", "nonetype": "null"}
_GENERIC = re.compile(r"^\s*(\w+)\s*\[(.*)\]\s*$")
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else",
              "propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems")


def python_type(name: str) -> tuple[dict[str, Any] | None, bool]:
    """JSON Schema for a Python-style type name ('str', 'List[int]', 'int, optional',
    'Optional[str]'); None when not recognised. The flag says the parameter is optional."""
    text = name.strip()
    optional = False
    if text.lower().endswith(", optional"):
        text, optional = text[: -len(", optional")].strip(), True
    m = _GENERIC.match(text)
    if m:
        outer, inner = m.group(1).lower(), m.group(2)
        if outer == "optional":
            sub, _ = python_type(inner)
            return ({"anyOf": [sub, {"type": "null"}]} if sub else None), True
        if outer in ("list", "tuple", "set", "sequence"):
            sub, _ = python_type(inner)
            return ({"type": "array", "items": sub} if sub else {"type": "array"}), optional
        if outer in ("dict", "mapping"):
            return {"type": "object"}, optional
        if outer == "union":
            parts = [python_type(p)[0] for p in _split_args(inner)]
            return ({"anyOf": parts} if all(parts) else None), optional
        return None, optional
    if text.lower() == "any":
        return {}, optional
    mapped = PY_TYPES.get(text.lower())
    return ({"type": mapped} if mapped else None), optional


def _split_args(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    parts.append(cur)
    return [p for p in (p.strip() for p in parts) if p]


def normalise_dialect(schema: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Map Python type names to JSON Schema types (copying only when needed).

    Returns the schema to validate with and the (relative pointer, type name) of each
    Python-style type found. Unknown type names are left for the meta-schema check."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, ptr: str) -> Any:
        if not isinstance(node, dict):
            return node
        out = node
        t = node.get("type")
        if isinstance(t, str) and t not in JSON_TYPES:
            sub, optional = python_type(t)
            if sub is not None:
                found.append((ptr + "/type", t))
                out = {k: v for k, v in node.items() if k != "type"}
                out.update(sub)
                if optional:
                    out["x-ftlint-optional"] = True
        for key in SCHEMA_MAPS:
            value = out.get(key)
            if isinstance(value, dict):
                new = {k: walk(v, join_pointer(ptr, key, k)) for k, v in value.items()}
                if any(new[k] is not value[k] for k in value):
                    out = dict(out) if out is node else out
                    out[key] = new
        for key in SCHEMA_LISTS:
            value = out.get(key)
            if isinstance(value, list):
                new_l = [walk(v, join_pointer(ptr, key, i)) for i, v in enumerate(value)]
                if any(a is not b for a, b in zip(new_l, value)):
                    out = dict(out) if out is node else out
                    out[key] = new_l
        for key in SCHEMA_ONE:
            value = out.get(key)
            if isinstance(value, dict):
                new_v = walk(value, join_pointer(ptr, key))
                if new_v is not value:
                    out = dict(out) if out is node else out
                    out[key] = new_v
        return out

    result = walk(schema, "")
    if found and isinstance(result, dict) and isinstance(result.get("properties"), dict):
        # "x, optional" parameters are not required even if listed.
        optional = {k for k, v in result["properties"].items() if isinstance(v, dict) and v.get("x-ftlint-optional")}
        if optional and isinstance(result.get("required"), list):
            result = dict(result)
            result["required"] = [r for r in result["required"] if r not in optional]
    return _strip_marker(result) if found else result, found


def _strip_marker(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_marker(v) for k, v in node.items() if k != "x-ftlint-optional"}
    if isinstance(node, list):
        return [_strip_marker(v) for v in node]
    return node


@dataclass
class ToolDecl:
    name: str
    rel: str                 # pointer of the declaration inside the tools value
    validator: Any = None    # None: no parameters declared, or the schema is malformed
    schema: Any = None       # the parameter schema as validated (dialect mapped)
    _with_formats: Any = None

    def validator_for(self, check_formats: bool) -> Any:
        if not check_formats or self.validator is None:
            return self.validator
        if self._with_formats is None:
            self._with_formats = _FORMAT_VALIDATORS.get(self.schema)[0]
        return self._with_formats


@dataclass
class ToolSet:
    decls: dict[str, ToolDecl] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)   # FTJ008: (rel pointer, message)
    dialect: list[tuple[str, str]] = field(default_factory=list)    # FTJ009: (rel pointer, message)


# `format` is an annotation in Draft 2020-12; tool schemas in the wild use it loosely ("time"
# for "10:00"), so it is asserted only when the FTJ006 option `check-formats` is on.
_VALIDATORS = ValidatorCache(check_formats=False)
_FORMAT_VALIDATORS = ValidatorCache(check_formats=True)
_TOOLSETS: dict[Any, ToolSet] = {}
_TOOLSETS_MAX = 4096
_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def analyse_tools(tools: list) -> ToolSet:
    """Declarations, malformed-schema problems and dialect notes of one tools list."""
    ts = ToolSet()
    for i, entry in enumerate(tools):
        rel = f"/{i}"
        if not isinstance(entry, dict):
            ts.problems.append((rel, f"tool {i} must be an object, not {_json_kind(entry)}"))
            continue
        fn, fn_rel = entry, rel
        if "function" in entry:
            fn, fn_rel = entry["function"], rel + "/function"
            if not isinstance(fn, dict):
                ts.problems.append((fn_rel, f"tool {i}: `function` must be an object, not {_json_kind(fn)}"))
                continue
        elif entry.get("type") not in (None, "function"):
            continue  # built-in tools (code_interpreter, retrieval, web_search, ...) have no schema
        name = fn.get("name")
        if not isinstance(name, str) or not name.strip():
            where = fn_rel + "/name" if "name" in fn else fn_rel
            ts.problems.append((where, f"tool {i} has no `name` (a non-empty string)"))
            name = None
        elif name in ts.decls:
            ts.problems.append((fn_rel + "/name", f"tool `{name}` is declared twice"))
        elif not _NAME_OK.match(name):
            ts.problems.append((fn_rel + "/name", f"tool name `{name}` has characters that function-calling "
                                "APIs reject (allowed: letters, digits, _ . -; at most 64)"))
        validator = schema = None
        if "parameters" in fn and fn["parameters"] is not None:
            validator, schema = _analyse_parameters(fn, fn_rel, name or f"#{i}", ts)
        if name and name not in ts.decls:
            ts.decls[name] = ToolDecl(name, fn_rel, validator, schema)
    return ts


def _analyse_parameters(fn: dict, fn_rel: str, label: str, ts: ToolSet) -> tuple[Any, Any]:
    """(validator, schema as validated); (None, None) when the parameters are malformed."""
    params = fn["parameters"]
    p_rel = fn_rel + "/parameters"
    if not isinstance(params, dict):
        ts.problems.append((p_rel, f"tool `{label}`: `parameters` must be a JSON Schema object, not {_json_kind(params)}"))
        return None, None
    schema, py = normalise_dialect(params)
    notes: list[str] = []
    where = ""
    if py:
        names = sorted({t for _, t in py})
        notes.append("uses Python type names (" + ", ".join(f"`{n}`" for n in names[:5]) + ") instead of "
                     "JSON Schema types")
        where = p_rel + py[0][0]
    outer_required = fn.get("required")
    if isinstance(outer_required, list) and "required" not in schema:
        # xLAM/APIGen put `required` next to `parameters`: honour it when validating calls.
        optional = {k for k, v in (params.get("properties") or {}).items()
                    if isinstance(v, dict) and isinstance(v.get("type"), str) and v["type"].lower().endswith(", optional")}
        schema = dict(schema)
        schema["required"] = [r for r in outer_required if r not in optional]
        notes.append("declares `required` next to `parameters` instead of inside it")
        where = where or fn_rel + "/required"
    if notes:
        ts.dialect.append((where, f"tool `{label}` " + " and ".join(notes)))
    validator, problem = _VALIDATORS.get(schema)
    if problem:
        sep = " " if problem.message.startswith("at ") else ": "
        ts.problems.append((p_rel + problem.pointer, f"tool `{label}`: `parameters` is not a valid JSON Schema"
                            f"{sep}{problem.message}"))
        return None, None
    top = schema.get("type")
    if top is not None and top != "object":
        ts.problems.append((p_rel + "/type", f"tool `{label}`: `parameters` must describe an object "
                            f"(type \"object\"), not {top!r}"))
        return None, None
    props, req = schema.get("properties"), schema.get("required")
    if isinstance(props, dict) and isinstance(req, list):
        missing = [r for r in req if isinstance(r, str) and r not in props]
        if missing:
            where = p_rel + "/required" if "required" in params else fn_rel + "/required"
            ts.problems.append((where, f"tool `{label}` requires " + ", ".join(f"`{m}`" for m in missing)
                                + " but does not declare " + ("it" if len(missing) == 1 else "them")
                                + " in `properties`"))
    return validator, schema


def toolset_of(value: Any) -> ToolSet:
    """Cached analysis of a parsed tools list (keyed by its content)."""
    try:
        key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return _analyse_guarded(value)
    ts = _TOOLSETS.get(key)
    if ts is None:
        if len(_TOOLSETS) >= _TOOLSETS_MAX:
            _TOOLSETS.clear()
        ts = _TOOLSETS[key] = _analyse_guarded(value)
    return ts


def _analyse_guarded(value: list) -> ToolSet:
    try:
        return analyse_tools(value)
    except RecursionError:
        return ToolSet(problems=[("", "the tool list is nested too deeply to analyse")])


@dataclass
class Declared:
    """The tools a record declares, wherever they are written."""

    sets: list[tuple[Anchor, ToolSet]]

    @property
    def any(self) -> bool:
        return bool(self.sets)

    def get(self, name: str) -> tuple[ToolDecl, Anchor] | None:
        for anchor, ts in self.sets:
            d = ts.decls.get(name)
            if d is not None:
                return d, anchor
        return None


def _declaration_sets(example: Example) -> list[tuple[Anchor, ToolSet]]:
    """The example's tool declarations; [] at once when it has no `tools` or legacy `functions`."""
    if example.tools is None and "functions" not in example.record.data:
        return []
    return declared_tools(example).sets


def declared_tools(example: Example) -> Declared:
    cached = example.cache.get("ftj.declared")
    if cached is not None:
        return cached
    data = example.record.data
    sets: list[tuple[Anchor, ToolSet]] = []
    if example.tools is not None and example.tools_pointer:
        raw = data.get("tools") if example.tools_pointer == "/tools" else None
        anchor = Anchor(example.tools_pointer, raw if isinstance(raw, str) else None)
        sets.append((anchor, toolset_of(example.tools)))
    functions = data.get("functions")
    if isinstance(functions, list):  # legacy OpenAI function calling
        sets.append((Anchor("/functions"), toolset_of(functions)))
    out = example.cache["ftj.declared"] = Declared(sets)
    return out


# --------------------------------------------------------------------------------------------
# Calls and replies
# --------------------------------------------------------------------------------------------
@dataclass
class Call:
    turn: int
    anchor: Anchor              # the call object (contains name/arguments)
    name: str | None = None
    name_rel: str = "/name"
    args: Any = None            # parsed arguments object; None when unusable
    args_anchor: Anchor | None = None
    call_id: str | None = None
    id_rel: str | None = None
    problem: tuple[Location, str] | None = None   # FTJ004


@dataclass
class Reply:
    turn: int
    pointer: str               # the message
    call_id: str | None
    id_pointer: str | None


@dataclass
class Conversation:
    calls: list[Call] = field(default_factory=list)
    call_turns: dict[int, list[Call]] = field(default_factory=dict)  # includes unparseable call turns
    replies: list[Reply] = field(default_factory=list)


def _message_pointer(turn: Turn) -> str:
    return turn.role_pointer.rsplit("/", 1)[0]


def _resolve(data: Any, pointer: str) -> Any:
    for token in split_pointer(pointer):
        if isinstance(data, dict):
            data = data.get(token)
        elif isinstance(data, list) and token.isdigit() and int(token) < len(data):
            data = data[int(token)]
        else:
            return None
    return data


def conversation(example: Example) -> Conversation:
    cached = example.cache.get("ftj.conv")
    if cached is not None:
        return cached
    conv = Conversation()
    record = example.record
    for ti, turn in enumerate(example.turns):
        if turn.role == "tool":
            msg = _message_pointer(turn)
            cid = turn.tool_call_id
            conv.replies.append(Reply(ti, msg, cid, msg + "/tool_call_id" if cid is not None else None))
            continue
        if turn.role != "assistant":
            continue
        calls: list[Call] | None = None
        if turn.is_tool_call and not isinstance(turn.content, list):
            calls = _embedded_calls(record, ti, turn.pointer, turn.content)
        elif turn.tool_calls is not None:
            calls = _openai_calls(record, ti, turn)
        elif isinstance(turn.content, list):
            for i, part in enumerate(turn.content):
                if isinstance(part, dict) and part.get("type") in ("tool_call", "function_call"):
                    key = "value" if "value" in part else "text"
                    calls = (calls or []) + _embedded_calls(record, ti, f"{turn.pointer}/{i}/{key}", part.get(key))
        if calls is None and turn.raw_role == "assistant":  # legacy OpenAI `function_call`
            msg = _message_pointer(turn)
            legacy = _resolve(record.data, msg + "/function_call")
            if isinstance(legacy, dict):
                calls = [_call_from_object(record, ti, Anchor(msg + "/function_call"), legacy, "OpenAI")]
        if calls is not None:
            conv.call_turns[ti] = calls
            conv.calls.extend(calls)
    example.cache["ftj.conv"] = conv
    return conv


def _openai_calls(record: Record, ti: int, turn: Turn) -> list[Call]:
    calls: list[Call] = []
    base = turn.tool_calls_pointer or ""
    for j, item in enumerate(turn.tool_calls or []):
        anchor = Anchor(f"{base}/{j}")
        if not isinstance(item, dict):
            c = Call(ti, anchor)
            c.problem = (anchor.locate(record), f"tool call {j} must be an object, not {_json_kind(item)}")
            calls.append(c)
            continue
        fn = item.get("function")
        cid = item.get("id") if isinstance(item.get("id"), str) else None
        if isinstance(fn, dict):
            c = _call_from_object(record, ti, anchor.child("/function"), fn, "OpenAI")
        else:
            c = Call(ti, anchor)
            c.problem = (anchor.locate(record, "/function" if "function" in item else ""),
                         f"tool call {j} has no `function` object with `name` and `arguments`")
        c.call_id, c.id_rel = cid, (f"{base}/{j}/id" if cid is not None else None)
        calls.append(c)
    return calls


def _embedded_calls(record: Record, ti: int, pointer: str, value: Any) -> list[Call]:
    """A sharegpt `function_call` value / v1 `tool_call` part: call JSON inside a string."""
    if not isinstance(value, str):
        c = Call(ti, Anchor(pointer))
        c.problem = (record.locate(pointer), f"tool call must be a JSON string, not {_json_kind(value)}")
        return [c]
    parsed, failure = parse_json(value)
    if failure is not None:
        c = Call(ti, Anchor(pointer, value))
        c.problem = (locate_in_string(record, pointer, failure.offset),
                     f"tool call is not valid JSON: {failure.message} (at character {failure.offset + 1})")
        return [c]
    if isinstance(parsed, dict):
        return [_call_from_object(record, ti, Anchor(pointer, value), parsed, "call")]
    if isinstance(parsed, list) and parsed:  # parallel calls
        out = []
        for k, item in enumerate(parsed):
            anchor = Anchor(pointer, value, f"/{k}")
            if isinstance(item, dict):
                out.append(_call_from_object(record, ti, anchor, item, "call"))
            else:
                c = Call(ti, anchor)
                c.problem = (anchor.locate(record), f"tool call {k} must be an object with `name` and "
                             f"`arguments`, not {_json_kind(item)}")
                out.append(c)
        return out
    c = Call(ti, Anchor(pointer, value))
    c.problem = (c.anchor.locate(record), "tool call must be a JSON object with `name` and `arguments`, "
                 f"not {_json_kind(parsed)}")
    return [c]


def _call_from_object(record: Record, ti: int, anchor: Anchor, obj: dict, style: str) -> Call:
    c = Call(ti, anchor)
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        c.problem = (anchor.locate(record, "/name" if "name" in obj else ""),
                     "tool call has no `name` (a non-empty string)")
        return c
    c.name = name
    if "arguments" not in obj and "parameters" in obj:
        args_key = "parameters"  # some generators write `parameters` for the call's arguments
    else:
        args_key = "arguments"
    args = obj.get(args_key, {})
    args_anchor = anchor.child("/" + args_key)
    if args is None:
        args = {}
    if isinstance(args, str):
        # OpenAI: `arguments` is a JSON string. Inside a string-embedded call it is a string in a
        # string; errors are then located at that inner string as a whole.
        if anchor.text is None:
            inner_anchor = Anchor(anchor.pointer + anchor.prefix + "/" + args_key, args)
        else:
            inner_anchor = args_anchor
        parsed, failure = parse_json(args)
        if failure is not None:
            loc = inner_anchor.locate_offset(record, failure.offset) if inner_anchor.text is args else args_anchor.locate(record)
            c.problem = (loc, f"arguments of `{name}` are not valid JSON: {failure.message} "
                              f"(at character {failure.offset + 1} of the arguments)")
            return c
        args, args_anchor = parsed, inner_anchor
    if not isinstance(args, dict):
        c.problem = (args_anchor.locate(record), f"arguments of `{name}` must be a JSON object, not {_json_kind(args)}")
        return c
    c.args, c.args_anchor = args, args_anchor
    return c


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _finding(rule: Rule, record: Record, location: Location, message: str, key: str,
             severity: Severity | None = None, properties: dict[str, Any] | None = None) -> Finding:
    return Finding(rule.code, rule.name, severity or rule.severity, message, location,
                   fingerprint=fingerprint(rule.code, key, record_digest(record)), properties=properties or {})


def _has_tool_content(example: Example) -> bool:
    """Cheap pre-check so records without tools cost nearly nothing."""
    if example.tools is not None or "functions" in example.record.data:
        return True
    for t in example.turns:
        if t.role == "tool" or t.is_tool_call or t.tool_calls is not None:
            return True
        if isinstance(t.content, list) and any(isinstance(p, dict) and p.get("type") in ("tool_call", "function_call")
                                               for p in t.content):
            return True
    return False


class _ToolRule(Rule):
    """A rule with nothing to say about records without tool content: its batch version runs
    `check` only on the examples that `BatchView.tool_candidates` names (a superset of those
    `_has_tool_content` accepts, found with C-level passes over the whole batch)."""

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        if not examples:
            return []
        out: list[Finding] = []
        for i in batch_view(examples).tool_candidates(examples):
            out.extend(self.check(examples[i], ctx))
        return out


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------
class InvalidToolCall(_ToolRule):
    """A tool call is not well-formed (not JSON, no name, or arguments that are not an object).

    ## What it does
    Parses every tool call: OpenAI `tool_calls[].function` (whose `arguments` is a JSON
    string), legacy `function_call`, sharegpt/glaive `function_call` turns (the value is the
    call JSON) and LLaMA-Factory `tool_call` content parts. Reports calls that do not parse
    (at the character where the parser stopped, inside the string), calls without a `name`,
    and arguments that are not a JSON object.

    ## Why it matters
    The model learns to emit exactly what the targets contain: a truncated or single-quoted
    argument string in training becomes an unparseable tool call in production.

    ## Example
    ```json
    {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{'city': 'Paris'}"}}]}
    ```

    ## Use instead
    ```json
    {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]}
    ```

    ## How to fix
    Serialise arguments with `json.dumps(arguments)`; give every call a `name`.
    """

    code = "FTJ004"
    name = "invalid-tool-call"
    severity = Severity.ERROR
    tags = ("tools",)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        if not _has_tool_content(example):
            return
        record = example.record
        for c in conversation(example).calls:
            if c.problem is not None:
                loc, msg = c.problem
                yield _finding(self, record, loc, f"Invalid tool call: {msg}.", c.anchor.key())


class UndeclaredTool(_ToolRule):
    """A tool call names a tool that the record does not declare.

    ## What it does
    Compares the name of every tool call with the record's declared tools (`tools`, or legacy
    `functions`; glaive's JSON-string `tools` is parsed). A record with calls but no tool list
    is reported too, unless the system prompt names the tool (tools described in the prompt).

    ## Why it matters
    The model learns to call functions that do not exist in the tool list it is shown, i.e. to
    hallucinate tools; at inference the runtime rejects the call.

    ## Example
    `tools` declares `get_weather`, and the assistant calls `get_forecast`.

    ## Use instead
    Call a declared tool, or add the tool's declaration to `tools`.

    ## How to fix
    Fix the name in the call (typos, renamed tools) or add the missing declaration.
    """

    code = "FTJ005"
    name = "undeclared-tool"
    severity = Severity.ERROR
    tags = ("tools",)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        if not _has_tool_content(example):
            return
        record = example.record
        declared = declared_tools(example)
        system_text: str | None = None
        for c in conversation(example).calls:
            if c.name is None or declared.get(c.name) is not None:
                continue
            if not declared.any:
                if system_text is None:
                    system_text = "\n".join(t.text for t in example.turns if t.role == "system")
                if c.name in system_text:
                    continue  # tools described in the system prompt
                msg = f"Tool call names `{c.name}`, but the record declares no tools."
            else:
                names = sorted(n for _, ts in declared.sets for n in ts.decls)
                shown = ", ".join(f"`{n}`" for n in names[:8]) + (" …" if len(names) > 8 else "")
                msg = f"Tool call names `{c.name}`, which is not a declared tool (declared: {shown or 'none'})."
            yield _finding(self, record, c.anchor.locate(record, c.name_rel), msg, c.anchor.key(c.name_rel))


class ToolArgumentsSchemaViolation(_ToolRule):
    """A tool call's arguments do not validate against the tool's declared parameter schema.

    ## What it does
    Validates the arguments of every call to a declared tool against that tool's `parameters`
    JSON Schema (each schema compiled once): missing required parameters, wrong types, enum
    and range violations, unknown parameters when `additionalProperties` is false. Each
    violation is a finding at the offending argument, inside the arguments string when the
    arguments are a JSON string, with its JSONPath (e.g. `$.unit`) in the message. Python-style
    type names (`str`, `int, optional`, `List[str]`) are read as their JSON Schema types.
    `format` (e.g. `date-time`) is an annotation unless the option `check-formats = true` is
    set in `[tool.ftlint.rules.FTJ006]`: tool schemas in the wild use it loosely.

    ## Why it matters
    Tool-calling fine-tunes teach argument shapes; calls that violate the declared schema
    teach the model to produce calls the runtime rejects.

    ## Example
    `get_weather` declares `{"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}` with
    `city` required, and the call's arguments are `{"unit": "kelvin"}`.

    ## Use instead
    `{"city": "Paris", "unit": "c"}`

    ## How to fix
    Fix the arguments, or fix the tool's parameter schema if the call is right.
    """

    code = "FTJ006"
    name = "tool-arguments-schema-violation"
    severity = Severity.ERROR
    tags = ("tools", "schema")
    default_options = {"check-formats": False}

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        if not _has_tool_content(example):
            return
        record = example.record
        declared = declared_tools(example)
        if not declared.any:
            return
        formats = bool(self.options.get("check-formats"))
        for c in conversation(example).calls:
            if c.args is None or c.name is None or c.args_anchor is None:
                continue
            hit = declared.get(c.name)
            validator = hit[0].validator_for(formats) if hit is not None else None
            if validator is None:
                continue
            for v in violations(validator, c.args):
                loc = c.args_anchor.locate(record, v.pointer)
                yield _finding(self, record, loc, f"Arguments of `{c.name}` violate its parameter schema: "
                               f"{v.message}.", c.args_anchor.key(f"{v.keyword}:{v.path}"),
                               properties={"json_path": v.path, "keyword": v.keyword, "tool": c.name})


class ToolCallIdMismatch(_ToolRule):
    """A tool reply's `tool_call_id` does not match a call of the turn before it.

    ## What it does
    For conversations whose calls carry ids (OpenAI `tool_calls[].id`), checks that every
    `tool` message's `tool_call_id` names a call of the assistant turn it follows, that no call
    is answered twice, and - when replies with ids follow a call turn - that every call of
    that turn gets one. A tool reply with no call before it at all is FTC007
    (tool-reply-without-call); this rule does not report it again.

    ## Why it matters
    The OpenAI API and chat templates pair calls and results by id; a reply with the wrong id
    ("tool_call_id ... not found in tool_calls of previous message") makes the conversation
    invalid, and in training data it teaches the model results that answer nothing.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_2", "content": "{\\"temp\\": 21}"},
                  {"role": "assistant", "content": "It is 21 °C."}]}
    ```

    ## Use instead
    `"tool_call_id": "call_1"` in the tool message.

    ## How to fix
    Copy the id of the call the reply answers; drop duplicate replies; add the missing replies.
    """

    code = "FTJ007"
    name = "tool-call-id-mismatch"
    severity = Severity.ERROR
    tags = ("tools", "consistency")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        if not _has_tool_content(example):
            return
        conv = conversation(example)
        if not conv.replies:
            return
        record = example.record
        turns = example.turns
        answered: dict[str, int] = {}
        earlier_ids: set[str] = set()
        reply_by_turn = {r.turn: r for r in conv.replies}
        for ti in range(len(turns)):
            if ti in conv.call_turns:
                # Ids of every call so far, to tell "answers an earlier call" from "answers nothing".
                earlier_ids |= {c.call_id for c in conv.call_turns[ti] if c.call_id}
                answered = {}  # generators often reuse ids ("call_0") in every turn
            reply = reply_by_turn.get(ti)
            if reply is None:
                continue
            j = ti - 1
            while j >= 0 and turns[j].role == "tool":
                j -= 1
            calls = conv.call_turns.get(j)
            if not calls:
                continue  # no call before the reply at all: FTC007 reports it
            if reply.call_id is None:
                continue
            ids = {c.call_id for c in calls if c.call_id}
            if reply.call_id in ids:
                if reply.call_id in answered:
                    yield _finding(self, record, record.locate(reply.id_pointer or reply.pointer),
                                   f"Second reply to tool call `{reply.call_id}` (already answered by "
                                   f"message {answered[reply.call_id]}).", reply.pointer + "#dup")
                answered[reply.call_id] = _index_of(reply.pointer)
                continue
            why = "a call from an earlier turn" if reply.call_id in earlier_ids else "no tool call"
            yield _finding(self, record, record.locate(reply.id_pointer or reply.pointer),
                           f"Tool reply has tool_call_id `{reply.call_id}`, which matches {why}"
                           + (" of the assistant turn before it (its calls: "
                              + ", ".join(f"`{i}`" for i in sorted(ids)) + ")." if ids else
                              "; the calls before it carry no ids."),
                           reply.pointer + "#id")
        yield from self._unanswered(example, conv)

    def _unanswered(self, example: Example, conv: Conversation) -> Iterator[Finding]:
        """Calls with ids whose turn is followed by replies, but not by one for this call."""
        record = example.record
        turns = example.turns
        for ti, calls in conv.call_turns.items():
            following = []
            k = ti + 1
            while k < len(turns) and turns[k].role == "tool":
                following.append(k)
                k += 1
            if not following or not any(c.call_id for c in calls):
                continue
            reply_ids = {turns[k].tool_call_id for k in following}
            if None in reply_ids:
                continue  # replies without ids are matched by position; nothing to compare
            if reply_ids - {c.call_id for c in calls}:
                continue  # a reply with a wrong id is reported above; one finding per defect
            for c in calls:
                if c.call_id and c.call_id not in reply_ids and c.id_rel:
                    yield _finding(self, record, record.locate(c.id_rel),
                                   f"Tool call `{c.call_id}` ({c.name or 'unnamed'}) gets no reply; "
                                   "every call needs a tool message with its id.", c.id_rel + "#unanswered")


def _index_of(pointer: str) -> int:
    tail = pointer.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class MalformedToolSchema(_ToolRule):
    """A declared tool is malformed (no name, a duplicate name, or an invalid parameter schema).

    ## What it does
    Checks every entry of `tools` (or legacy `functions`; glaive's JSON-string `tools` is
    parsed): the entry and its `function` are objects, it has a non-empty `name` that
    function-calling APIs accept and that is not declared twice, `parameters` is a JSON Schema
    (validated against the Draft 2020-12 meta-schema) describing an object, and every name in
    `required` is declared in `properties`. Findings point inside the `tools` string when it
    is one.

    ## Why it matters
    The tool list is rendered into the prompt and defines what valid calls are; a broken
    declaration teaches the model a contract it cannot satisfy, and APIs reject it outright.

    ## Example
    ```json
    {"tools": [{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "strng"}},
                     "required": ["city", "date"]}}}]}
    ```

    ## Use instead
    ```json
    {"tools": [{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]}}}]}
    ```

    ## How to fix
    Fix the declaration at the reported position; generate tool lists from code (e.g. a
    pydantic model's `model_json_schema()`).
    """

    code = "FTJ008"
    name = "malformed-tool-schema"
    severity = Severity.ERROR
    tags = ("tools", "schema")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        record = example.record
        for anchor, ts in _declaration_sets(example):
            for rel, msg in ts.problems:
                yield _finding(self, record, anchor.locate(record, rel), f"Malformed tool declaration: {msg}.",
                               anchor.key(rel))


class NonstandardToolSchema(_ToolRule):
    """A declared tool uses a non-standard schema dialect (Python type names, outer `required`).

    ## What it does
    Notes tool declarations written in the xLAM/APIGen dialect: parameter types such as
    `str`, `int, optional`, `List[str]` or `dict` instead of JSON Schema types, and a
    `required` list next to `parameters` instead of inside it. ftlint reads the dialect (maps
    the types, honours the outer `required`) when it validates calls, so this is a note.

    ## Why it matters
    Such lists train fine as prompt text, but they are not JSON Schema: OpenAI-style APIs and
    validators reject them, and mixing them with standard declarations teaches the model two
    notations for the same thing.

    ## Example
    ```json
    {"name": "circle_area", "parameters": {"type": "dict",
      "properties": {"radius": {"type": "float"}}}, "required": ["radius"]}
    ```

    ## Use instead
    ```json
    {"name": "circle_area", "parameters": {"type": "object",
      "properties": {"radius": {"type": "number"}}, "required": ["radius"]}}
    ```

    ## How to fix
    Convert the declarations to JSON Schema (str->string, int->integer, float->number,
    bool->boolean, dict->object, List[x]->array) and move `required` into `parameters`; or
    ignore this rule for datasets meant for a dialect-aware template.
    """

    code = "FTJ009"
    name = "nonstandard-tool-schema"
    severity = Severity.NOTE
    tags = ("tools", "schema")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        record = example.record
        for anchor, ts in _declaration_sets(example):
            if not ts.dialect:
                continue
            rel, first = ts.dialect[0]
            more = len(ts.dialect) - 1
            msg = f"Non-standard tool schema: {first}" + (f" (and {more} more such declaration"
                                                          f"{'s' if more > 1 else ''} in this record)" if more else "") + "."
            yield _finding(self, record, anchor.locate(record, rel), msg, anchor.key(rel))

