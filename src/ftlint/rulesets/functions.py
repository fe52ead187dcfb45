"""The function library for ruleset `then` clauses.

A record function is called once per matched value:

    fn(value, options, context) -> iterable of problems (empty when the value passes)

where a problem is a message string, a `Problem`, or a dict `{"message": …, "path": [...]}` whose
path (keys and indices) points *inside* the value, so a finding can land on the exact nested
member. `value` is `MISSING` when `then.field` names a member that does not exist.

Python functions are registered through the `ftlint.functions` entry-point group (never as code
inside a YAML file), or programmatically with `register_function`.

Two functions work across records and make a rule dataset-scoped: `unique` and `count`. They
are implemented by the rule classes in `ftlint.rulesets.rules`; here they only have their option
checks.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from importlib import metadata
from types import SimpleNamespace
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ftlint.functions"
DATASET_FUNCTIONS = ("unique", "count")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Problem:
    message: str
    path: tuple = ()


@dataclass
class FunctionContext:
    """What a function may know besides the value: the rule, the file and per-run services."""

    rule_code: str
    path: str = ""                      # display path of the file
    pointer: str = ""                   # JSON pointer of the value in the record
    document: Any = None                # the document the `given` path ran on
    services: dict[str, Any] = field(default_factory=dict)
    ruleset_dir: str = ""               # folder of the ruleset file (for relative schema files)
    plan: Any = None                    # the training plan when linting through a config


RecordFunction = Callable[[Any, dict[str, Any], FunctionContext], Iterable[Any] | None]


@dataclass(frozen=True)
class FunctionDef:
    name: str
    fn: RecordFunction | None           # None for the dataset functions
    scope: str = "record"               # record | dataset
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # validate + precompile options
    source: str = "builtin"


# --------------------------------------------------------------------------------------------
# Built-in record functions


def _describe(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an empty object" if not value else "an object"
    return type(value).__name__


def is_truthy(value: Any) -> bool:
    """Missing, null, false, 0, "" and empty lists/objects are falsy; everything else is truthy."""
    if value is MISSING or value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def truthy(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    return [] if is_truthy(value) else [Problem(f"is {_describe(value)}; a non-empty value is required")]


def falsy(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    return [Problem(f"is {_describe(value)}; it must be empty or absent")] if is_truthy(value) else []


def defined(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    return [Problem("is missing")] if value is MISSING else []


def undefined(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    return [] if value is MISSING else [Problem("must not be present")]


_FLAGS = {"i": re.I, "m": re.M, "s": re.S, "x": re.X}


def _prepare_pattern(options: dict[str, Any]) -> dict[str, Any]:
    if "match" not in options and "notMatch" not in options:
        raise ValueError("pattern needs `match` or `notMatch` (or both)")
    flags = 0
    for ch in options.get("flags", ""):
        if ch not in _FLAGS:
            raise ValueError(f"unknown regex flag {ch!r} (use i, m, s, x)")
        flags |= _FLAGS[ch]
    out = dict(options)
    for key in ("match", "notMatch"):
        if key in options:
            try:
                out[f"_{key}"] = re.compile(options[key], flags)
            except re.error as exc:
                raise ValueError(f"`{key}` is not a valid regular expression: {exc}") from None
    return out


def _show(pattern: str) -> str:
    return f"/{pattern}/"


def pattern(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    """Strings must match `match` (searched anywhere; anchor with ^ and $) and must not match `notMatch`."""
    if not isinstance(value, str):
        return []
    out: list[Problem] = []
    rx = options.get("_match")
    if rx is not None and rx.search(value) is None:
        out.append(Problem(f"does not match {_show(options['match'])}"))
    rx = options.get("_notMatch")
    if rx is not None:
        m = rx.search(value)
        if m is not None:
            found = m.group(0)
            found = found if len(found) <= 60 else found[:57] + "..."
            out.append(Problem(f"contains {found!r}, which matches the forbidden pattern {_show(options['notMatch'])}"))
    return out


def _prepare_length(options: dict[str, Any]) -> dict[str, Any]:
    if "min" not in options and "max" not in options:
        raise ValueError("length needs `min` or `max` (or both)")
    if "min" in options and "max" in options and options["min"] > options["max"]:
        raise ValueError(f"length `min` ({options['min']}) is greater than `max` ({options['max']})")
    return dict(options)


CHARS_PER_TOKEN = 4  # the usual estimate for English text with BPE vocabularies


def _measure(value: Any, unit: str, ctx: FunctionContext) -> tuple[float, str] | None:
    if isinstance(value, str):
        if unit == "bytes":
            return len(value.encode("utf-8")), "bytes"
        if unit == "tokens":
            counter, why = token_counter(ctx.services, ctx.plan)
            if counter is not None:
                return counter(value), "tokens"
            return math.ceil(len(value) / CHARS_PER_TOKEN), f"tokens (estimated at {CHARS_PER_TOKEN} characters per token: {why})"
        return len(value), "characters"
    if isinstance(value, bool):
        return None
    if isinstance(value, list):
        return len(value), "items"
    if isinstance(value, dict):
        return len(value), "members"
    if isinstance(value, (int, float)):
        return value, ""
    return None


def length(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    """Strings by characters (or `unit: tokens|bytes`), lists by items, objects by members, numbers by value."""
    measured = _measure(value, options.get("unit", "characters"), ctx)
    if measured is None:
        return []
    n, unit = measured
    label = f"{n:,} {unit}".strip() if unit else f"{n}"
    lo, hi = options.get("min"), options.get("max")
    if lo is not None and n < lo:
        return [Problem(f"is too short: {label}, minimum {lo:,}")]
    if hi is not None and n > hi:
        return [Problem(f"is too long: {label}, maximum {hi:,}")]
    return []


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: 1 and true differ, 1 and 1.0 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b


def enumeration(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    if value is MISSING:
        return []
    values = options["values"]
    if any(same_value(value, v) for v in values):
        return []
    allowed = ", ".join(repr(v) if isinstance(v, str) else _json(v) for v in values)
    return [Problem(f"is {_json(value)}; expected one of {allowed}")]


def _json(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _prepare_schema(options: dict[str, Any]) -> dict[str, Any]:
    from ..jsonschemas import import_jsonschema

    import_jsonschema()  # without the 1-second IRI grammar build a plain import pays
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    schema = options["schema"]
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(f"`schema` is not a valid JSON Schema{' at ' + where if where else ''}: {exc.message}") from None
    return {**options, "_validator": cls(schema, format_checker=cls.FORMAT_CHECKER)}


def schema(value: Any, options: dict[str, Any], ctx: FunctionContext) -> list[Problem]:
    """The value must satisfy a JSON Schema; each violation points at the failing member."""
    if value is MISSING:
        return []
    validator = options["_validator"]
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    out: list[Problem] = []
    for err in errors[: options.get("maxErrors", 5)]:
        out.append(Problem(err.message, tuple(err.absolute_path)))
    return out


def _prepare_unique(options: dict[str, Any]) -> dict[str, Any]:
    return dict(options)


def _prepare_count(options: dict[str, Any]) -> dict[str, Any]:
    if "min" not in options and "max" not in options:
        raise ValueError("count needs `min` or `max` (or both)")
    if "min" in options and "max" in options and options["min"] > options["max"]:
        raise ValueError(f"count `min` ({options['min']}) is greater than `max` ({options['max']})")
    return dict(options)


# --------------------------------------------------------------------------------------------
# Tokens: ftlint.tokens' tokenizer for the run when one is configured, else an estimate.


def token_counter(services: dict[str, Any], plan: Any = None) -> tuple[Callable[[str], int] | None, str]:
    """A `text -> token count` callable from the run's tokenizer, or None and the reason."""
    key = ("_ruleset_token_counter", id(plan))
    if key not in services:
        services[key] = _resolve_token_counter(services, plan)
    return services[key]


def _resolve_token_counter(services: dict[str, Any], plan: Any) -> tuple[Callable[[str], int] | None, str]:
    try:
        from ..tokens import service_for  # the model's tokenizer, shared with the FTT rules
    except ImportError:
        return None, "token counting (ftlint.tokens) is not installed"
    shim = SimpleNamespace(services=services, plan=plan, path="")
    try:
        svc = service_for(shim)
    except Exception as exc:  # a tokenizer that cannot load: estimate, and say why
        return None, f"the tokenizer could not be loaded ({exc})"
    if svc is None:
        return None, "no tokenizer configured (--tokenizer or --model)"
    if svc.tokenizer is None:
        return None, svc.approx_reason or "the tokenizer is not available offline"
    tok = svc.tokenizer
    return (lambda text: len(tok.encode(text, add_special_tokens=False).ids)), ""


# --------------------------------------------------------------------------------------------
# Registry


BUILTIN_FUNCTIONS: dict[str, FunctionDef] = {
    "truthy": FunctionDef("truthy", truthy),
    "falsy": FunctionDef("falsy", falsy),
    "defined": FunctionDef("defined", defined),
    "undefined": FunctionDef("undefined", undefined),
    "pattern": FunctionDef("pattern", pattern, prepare=_prepare_pattern),
    "length": FunctionDef("length", length, prepare=_prepare_length),
    "enumeration": FunctionDef("enumeration", enumeration),
    "schema": FunctionDef("schema", schema, prepare=_prepare_schema),
    "unique": FunctionDef("unique", None, scope="dataset", prepare=_prepare_unique),
    "count": FunctionDef("count", None, scope="dataset", prepare=_prepare_count),
}

_REGISTERED: dict[str, FunctionDef] = {}


def register_function(name: str, fn: RecordFunction, *, source: str = "python") -> None:
    """Add a record function (for embedders and tests; plugins use the entry-point group)."""
    if name in BUILTIN_FUNCTIONS:
        raise ValueError(f"function {name!r} is built in and cannot be replaced")
    _REGISTERED[name] = FunctionDef(name, fn, source=source)


def get_function(name: str) -> FunctionDef | None:
    if name in BUILTIN_FUNCTIONS:
        return BUILTIN_FUNCTIONS[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name:
            continue
        try:
            fn = ep.load()
        except Exception as exc:  # a broken plugin is reported as "unknown function" with the cause
            log.warning("could not load ftlint function %s from %s: %s", name, ep.value, exc)
            return None
        if not callable(fn):
            log.warning("ftlint function %s (%s) is not callable", name, ep.value)
            return None
        fdef = FunctionDef(name, fn, source=f"entry point {ep.value}")
        _REGISTERED[name] = fdef
        return fdef
    return None


def available_functions() -> list[str]:
    names = set(BUILTIN_FUNCTIONS) | set(_REGISTERED)
    names |= {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def normalise_problems(result: Iterable[Any] | None) -> list[Problem]:
    """Accept what a Python function returns: None, strings, dicts or Problems."""
    if result is None:
        return []
    if isinstance(result, (str, Problem, dict)):
        result = [result]
    out: list[Problem] = []
    for item in result:
        if isinstance(item, Problem):
            out.append(item)
        elif isinstance(item, str):
            out.append(Problem(item))
        elif isinstance(item, dict) and isinstance(item.get("message"), str):
            path = item.get("path") or ()
            out.append(Problem(item["message"], tuple(path)))
        else:
            raise TypeError(f"a ruleset function returned {item!r}; expected a message string or "
                            "{'message': ..., 'path': [...]}")
    return out
