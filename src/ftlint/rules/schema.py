"""JSON Schema conformity: assistant responses against `--response-schema`, whole records
against `--record-schema` (FTJ001-FTJ003).

The schemas are compiled once per run (`ftlint.jsonschemas.SchemaStore`); each response is
parsed once per example and shared by FTJ001 and FTJ002 through `example.cache`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from ..findings import Finding, Location, Severity
from ..formats import Example, Turn
from ..jsonschemas import (ParseFailure, SchemaStore, UserSchema, inner_span, locate_in_string,
                           parse_json)
from ..records import Record
from ..rule import Context, Rule, fingerprint, record_digest

# A response that is exactly one fenced code block (```json ... ``` or ``` ... ```).
_FENCE = re.compile(r"\A\s*```[ \t]*(?:json[ \t]*|JSON[ \t]*)?\r?\n(.*?)\r?\n?```\s*\Z", re.S)


@dataclass
class Response:
    """One assistant response, parsed once."""

    pointer: str          # record pointer of the string holding the response
    text: str
    exact: bool           # True: `text` is exactly the string at `pointer` (columns can be mapped)
    value: Any = None
    failure: ParseFailure | None = None
    base: int = 0         # offset of the JSON inside `text` (after an opening fence)

    def locate(self, record: Record, start: int, end: int | None = None) -> Location:
        if not self.exact:
            return record.locate(self.pointer)
        return locate_in_string(record, self.pointer, start, end)


def response_texts(example: Example, final_only: bool) -> list[tuple[str, str, bool]]:
    """(pointer, text, exact) of each assistant response, tool calls left out.

    Preference data: only the chosen side (rejected answers are bad on purpose); KTO records
    labelled false are skipped for the same reason."""
    if example.format == "kto" and example.record.data.get("label") is False:
        return []
    out: list[tuple[str, str, bool]] = []
    for turn in example.turns:
        if turn.role != "assistant" or turn.is_tool_call:
            continue
        item = _turn_text(turn)
        if item is not None:
            out.append(item)
    return out[-1:] if final_only else out


def _turn_text(turn: Turn) -> tuple[str, str, bool] | None:
    content = turn.content
    if isinstance(content, str):
        if turn.tool_calls and not content.strip():
            return None  # a tool-call-only turn with an empty content string
        return turn.pointer, content, True
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append((f"{turn.pointer}/{i}", part))
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                key = "text" if "text" in part else "value" if "value" in part else None
                if key and isinstance(part[key], str):
                    texts.append((f"{turn.pointer}/{i}/{key}", part[key]))
        if not texts:
            return None  # reasoning / tool-call parts only
        if len(texts) == 1:
            return texts[0][0], texts[0][1], True
        return turn.pointer, "".join(t for _, t in texts), False
    return None


def parsed_responses(example: Example, ctx: Context) -> list[Response]:
    cached = example.cache.get("ftj.responses")
    if cached is not None:
        return cached
    settings = ctx.services.get("settings")
    final_only = bool(settings and settings.response_turns == "final")
    fenced = bool(settings and settings.response_fenced)
    out: list[Response] = []
    for pointer, text, exact in response_texts(example, final_only):
        resp = Response(pointer, text, exact)
        value, failure = parse_json(text)
        if failure is not None and fenced:
            m = _FENCE.match(text)
            if m:
                inner_value, inner_failure = parse_json(m.group(1))
                resp.base = m.start(1)
                if inner_failure is None:
                    value, failure = inner_value, None
                else:
                    failure = ParseFailure(inner_failure.message, m.start(1) + inner_failure.offset)
        resp.value, resp.failure = value, failure
        out.append(resp)
    example.cache["ftj.responses"] = out
    return out


def _response_schema(ctx: Context) -> UserSchema | None:
    store = SchemaStore.from_services(ctx.services)
    return store.response_for(ctx.path) if store is not None else None


def _finding(rule: Rule, record: Record, location: Location, message: str, key: str,
             properties: dict[str, Any] | None = None) -> Finding:
    """A finding at an explicit location, fingerprinted by record content + pointer + `key`."""
    return Finding(rule.code, rule.name, rule.severity, message, location,
                   fingerprint=fingerprint(rule.code, f"{location.pointer}#{key}", record_digest(record)),
                   properties=properties or {})


def _inner_position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {col} of the response" if "\n" in text else f"character {offset + 1} of the response"


class _ResponseRule(Rule):
    """Rules on assistant responses: they have work only where a response schema is configured."""

    def active(self, ctx: Context) -> bool:
        return _response_schema(ctx) is not None


class ResponseNotJson(_ResponseRule):
    """An assistant response is not valid JSON although a response schema is configured.

    ## What it does
    When `--response-schema` (or `response-schema` / `response-schemas` in the project config)
    is set, every assistant response (or only the final one, with `response-turns = "final"`)
    must parse as strict JSON. The finding points at the character inside the response where
    the parser stopped; the column is computed inside the JSON string literal, escapes
    included. With `response-fenced = true`, a response that is one fenced code block
    (```` ```json ... ``` ````) is accepted and the JSON inside it is checked.

    ## Why it matters
    Fine-tuning for structured output teaches the model whatever the targets look like: one
    response with a trailing comment, a single-quoted key or prose before the object teaches
    it to break the parser in production.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Classify: great product"},
                  {"role": "assistant", "content": "{'label': 'positive'}"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Classify: great product"},
                  {"role": "assistant", "content": "{\\"label\\": \\"positive\\"}"}]}
    ```

    ## How to fix
    Regenerate the response with `json.dumps`, or drop the example. NaN/Infinity, single
    quotes, trailing commas and text around the JSON are all rejected by strict parsers.
    """

    code = "FTJ001"
    name = "response-not-json"
    severity = Severity.ERROR
    tags = ("schema", "structured-output")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        if _response_schema(ctx) is None:
            return
        record = example.record
        for resp in parsed_responses(example, ctx):
            f = resp.failure
            if f is None:
                continue
            where = _inner_position(resp.text, f.offset)
            loc = resp.locate(record, f.offset)
            yield _finding(self, record, loc, f"Response is not valid JSON: {f.message} (at {where}).",
                           "parse", {"inner_offset": f.offset})


class ResponseSchemaViolation(_ResponseRule):
    """An assistant response does not validate against the response JSON Schema.

    ## What it does
    Validates each JSON response against the configured schema (Draft 2020-12 unless the
    schema's `$schema` names another draft; `format` is checked). Every violation is its own
    finding: missing required property, wrong type, enum, range, pattern, additional
    property, and so on. The message names the JSONPath inside the response (e.g.
    `$.confidence`) and the finding points at that value inside the response string.

    ## Why it matters
    A model fine-tuned for a schema reproduces its targets: a few responses with a missing
    field or a string where a number belongs are enough to make production outputs fail
    validation.

    ## Example
    Schema `{"type": "object", "required": ["label", "confidence"], "properties":
    {"confidence": {"type": "number", "minimum": 0, "maximum": 1}}}` and the response
    `{"label": "positive", "confidence": "high"}`.

    ## Use instead
    `{"label": "positive", "confidence": 0.92}`

    ## How to fix
    Fix or regenerate the response, or, if the schema is wrong, fix the schema. Configure which
    responses are checked with `response-turns` (all or final) and fenced blocks with
    `response-fenced` in `[tool.ftlint]`.
    """

    code = "FTJ002"
    name = "response-schema-violation"
    severity = Severity.ERROR
    tags = ("schema", "structured-output")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        schema = _response_schema(ctx)
        if schema is None:
            return
        record = example.record
        for resp in parsed_responses(example, ctx):
            if resp.failure is not None:
                continue
            for v in schema.violations(resp.value):
                if resp.exact:
                    s, e = inner_span(resp.text, v.pointer, resp.base)
                    loc = resp.locate(record, s, e)
                else:
                    loc = record.locate(resp.pointer)
                yield _finding(self, record, loc, f"Response violates {_name(schema)}: {v.message}.",
                               f"{v.keyword}:{v.path}", {"json_path": v.path, "keyword": v.keyword})


class RecordSchemaViolation(Rule):
    """A record does not validate against the record JSON Schema.

    ## What it does
    With `--record-schema PATH` (or `record-schema` in the project config), validates every
    whole record against the schema, for teams whose records carry custom fields (ids,
    sources, quality labels, metadata). Each violation is a finding at the offending value
    (for a missing property: at the object that lacks it), with its JSONPath in the message.

    ## Why it matters
    Pipelines downstream of the dataset (filters, weighting, audits) rely on these fields; a
    record with a misspelt key or a wrong type silently drops out or breaks the job.

    ## Example
    Schema requires `"source": {"enum": ["human", "synthetic"]}` and a record has
    `"source": "gpt4"`.

    ## Use instead
    `"source": "synthetic"`

    ## How to fix
    Correct the record, or extend the schema when the new value is legitimate.
    """

    code = "FTJ003"
    name = "record-schema-violation"
    severity = Severity.ERROR
    tags = ("schema",)

    def active(self, ctx: Context) -> bool:
        store = SchemaStore.from_services(ctx.services)
        return store is not None and store.record is not None

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        store = SchemaStore.from_services(ctx.services)
        if store is None or store.record is None:
            return
        record = example.record
        for v in store.record.violations(record.data):
            yield _finding(self, record, record.locate(v.pointer),
                           f"Record violates {_name(store.record)}: {v.message}.",
                           f"{v.keyword}:{v.path}", {"json_path": v.path, "keyword": v.keyword})


def _name(schema: UserSchema) -> str:
    return schema.path.replace("\\", "/").rsplit("/", 1)[-1]
