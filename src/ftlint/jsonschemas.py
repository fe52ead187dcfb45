"""User JSON Schemas (response and record schemas) and embedded JSON, for the FTJ rules.

- Schema files are loaded and compiled once per run (`SchemaStore`, created with the run's
  services so that a broken schema stops the run with exit 2 before any data is read).
  Draft 2020-12 is the default; a `$schema` naming another draft selects that draft; format
  checking is on. Local `$ref`s to sibling files are resolved relative to the schema file;
  nothing is fetched over the network.
- Tool parameter schemas come from the data and are compiled once per distinct schema
  (`ValidatorCache`).
- Many fine-tuning values are JSON *inside a JSON string* (an assistant response, OpenAI
  `arguments`, a sharegpt `function_call` value, glaive's `tools`). `locate_in_string` maps an
  offset in the decoded string back to the file's column, accounting for escapes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import reprlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import orjson

from .findings import Location, UsageError
from .locate import find_span, join_pointer

if TYPE_CHECKING:
    from .records import Record
    from .settings import Settings

MAX_ERRORS_PER_VALUE = 25  # a wholly wrong value should not flood the report
_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = 6
_SHORT.maxdict = 4


# --------------------------------------------------------------------------------------------
# Compiling schemas
# --------------------------------------------------------------------------------------------
def import_jsonschema() -> Any:
    """Import jsonschema without its 2-second start-up cost.

    jsonschema's format module imports `rfc3987_syntax`, which builds a grammar parser at
    import time (about 2 s here) only to check the rare `iri` / `iri-reference` formats. The
    import is kept out, and those two formats are registered lazily: the parser is built the
    first time a schema actually uses one of them."""
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    blocked = "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # makes the import fail fast
    try:
        import jsonschema
    finally:
        if blocked:
            del sys.modules["rfc3987_syntax"]
    if blocked:
        for cls in (jsonschema.Draft7Validator, jsonschema.Draft201909Validator, jsonschema.Draft202012Validator):
            for fmt, rule in (("iri", "iri"), ("iri-reference", "iri_reference")):
                if fmt not in cls.FORMAT_CHECKER.checkers:
                    cls.FORMAT_CHECKER.checks(fmt, raises=ValueError)(_lazy_iri(rule))
    return jsonschema


def _lazy_iri(rule: str) -> Any:
    def check(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        try:
            from rfc3987_syntax import is_valid_syntax
        except ImportError:
            return True  # the optional checker is not installed: the format is not asserted
        return bool(is_valid_syntax(rule, instance))

    return check


def _validator_class(schema: Any, source: str) -> type:
    import_jsonschema()
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    if isinstance(schema, dict) and "$schema" in schema:
        uri = schema["$schema"]
        if not isinstance(uri, str):
            raise UsageError(f"{source}: invalid JSON Schema: `$schema` must be a string URI")
        for candidate in (uri, uri.rstrip("#"), uri.rstrip("#") + "#"):
            cls = validator_for({"$schema": candidate}, default=None)
            if cls is not None:
                return cls
        raise UsageError(f"{source}: invalid JSON Schema: unknown `$schema` {uri!r} (supported: "
                         "draft 2020-12, 2019-09, 7, 6, 4, 3)")
    return Draft202012Validator


def check_schema(cls: type, schema: Any) -> None:
    """`cls.check_schema` asserting only the `regex` format (a broken `pattern`): the URI formats
    of the meta-schema build a grammar parser per call (~0.2 s each).

    Schemas that `meta_check_fast` proves valid against the Draft 2020-12 meta-schema skip
    jsonschema (~0.2-1 ms each; tool schemas are new on almost every glaive record). Anything it
    cannot prove valid goes through jsonschema, so errors and their pointers are jsonschema's."""
    from jsonschema import Draft202012Validator, FormatChecker

    if cls is Draft202012Validator and meta_check_fast(schema) is True:
        return
    global _META_FORMATS
    if _META_FORMATS is None:
        _META_FORMATS = FormatChecker(formats=("regex",))
    cls.check_schema(schema, format_checker=_META_FORMATS)


_META_FORMATS: Any = None


# An exact re-implementation of the Draft 2020-12 meta-schema (jsonschema_specifications'
# draft202012 metaschema.json and vocabularies/*) for the keywords tool schemas use, with only
# the `regex` format asserted. Every subschema is checked against the whole meta-schema (its
# `$dynamicRef: "#meta"`), keywords the meta-schema does not define are allowed with any value.
# It answers True (valid), False (invalid) or None (not covered: $ref and friends, a `$schema`
# other than 2020-12, non-JSON Python values); only True is acted on.
class _Unknown(Exception):
    pass


_SIMPLE_TYPES = frozenset(("array", "boolean", "integer", "null", "number", "object", "string"))
_JSON_TYPES = frozenset((dict, list, str, int, float, bool, type(None)))
_DRAFT_2020_12 = frozenset(("https://json-schema.org/draft/2020-12/schema",
                            "https://json-schema.org/draft/2020-12/schema#"))
_MAX_DEPTH = 200  # deeper schemas go to jsonschema (which reports "nested too deeply")


def meta_check_fast(schema: Any) -> bool | None:
    """Whether `schema` is valid against the Draft 2020-12 meta-schema (regex format asserted);
    None when the schema uses something this check does not implement exactly."""
    try:
        return _schema(schema, 0)
    except (_Unknown, RecursionError):
        return None


def _kind(value: Any) -> type:
    t = type(value)
    if t not in _JSON_TYPES:
        raise _Unknown  # a tuple, Decimal, dict subclass ... : jsonschema's type rules decide
    return t


def _schema(node: Any, depth: int) -> bool:
    t = _kind(node)
    if t is bool:
        return True
    if t is not dict:
        return False  # type: ["object", "boolean"]
    if depth > _MAX_DEPTH:
        raise _Unknown
    for key, value in node.items():
        if type(key) is not str:
            raise _Unknown
        check = _KEYWORDS.get(key)
        if check is None:
            if key in _NOT_COVERED:
                raise _Unknown
            continue  # not a meta-schema keyword: any value is allowed
        if not check(value, depth + 1):
            return False
    return True


def _any(value: Any, depth: int) -> bool:  # const, default: `true`
    return True


def _string(value: Any, depth: int) -> bool:
    return _kind(value) is str


def _boolean(value: Any, depth: int) -> bool:
    return _kind(value) is bool


def _array(value: Any, depth: int) -> bool:  # enum, examples: {"type": "array", "items": true}
    return _kind(value) is list


def _number(value: Any, depth: int) -> bool:
    t = _kind(value)
    return t is int or t is float


def _non_negative_integer(value: Any, depth: int) -> bool:
    t = _kind(value)
    if t is int:
        return value >= 0
    if t is float:  # jsonschema's 2020-12 "integer" includes 2.0
        return value.is_integer() and not value < 0
    return False


def _multiple_of(value: Any, depth: int) -> bool:
    return _number(value, depth) and not value <= 0  # exclusiveMinimum 0 (NaN passes, as there)


def _type(value: Any, depth: int) -> bool:
    t = _kind(value)
    if t is str:
        return value in _SIMPLE_TYPES
    if t is not list or not value:
        return False
    for item in value:
        if _kind(item) is not str or item not in _SIMPLE_TYPES:
            return False
    return len(set(value)) == len(value)


def _string_array(value: Any, depth: int) -> bool:
    if _kind(value) is not list:
        return False
    for item in value:
        if _kind(item) is not str:
            return False
    return len(set(value)) == len(value)


def _regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    except Exception:  # e.g. OverflowError for a huge repeat count: leave it to jsonschema
        raise _Unknown from None
    return True


def _pattern(value: Any, depth: int) -> bool:
    return _kind(value) is str and _regex(value)


def _map_of(value: Any, depth: int, check: Any) -> bool:
    """An object whose every value passes `check` (a key that is not a string: not covered)."""
    if _kind(value) is not dict:
        return False
    for key, sub in value.items():
        if type(key) is not str:
            raise _Unknown
        if not check(sub, depth):
            return False
    return True


def _schema_map(value: Any, depth: int) -> bool:
    return _map_of(value, depth, _schema)


def _pattern_properties(value: Any, depth: int) -> bool:
    if not _schema_map(value, depth):
        return False
    return all(_regex(key) for key in value)  # propertyNames: {"format": "regex"}


def _schema_array(value: Any, depth: int) -> bool:
    if _kind(value) is not list or not value:
        return False
    return all(_schema(sub, depth) for sub in value)


def _string_array_map(value: Any, depth: int) -> bool:  # dependentRequired
    return _map_of(value, depth, _string_array)


def _schema_or_string_array(value: Any, depth: int) -> bool:
    return _string_array(value, depth) if _kind(value) is list else _schema(value, depth)


def _dependencies(value: Any, depth: int) -> bool:  # values: anyOf [schema, stringArray]
    return _map_of(value, depth, _schema_or_string_array)


def _schema_uri(value: Any, depth: int) -> bool:
    if _kind(value) is not str:
        return False
    if value not in _DRAFT_2020_12:
        raise _Unknown
    return True


_KEYWORDS: dict[str, Any] = {
    # core (the rest of core is _NOT_COVERED)
    "$schema": _schema_uri, "$comment": _string, "$defs": _schema_map,
    # applicator
    "prefixItems": _schema_array, "items": _schema, "contains": _schema,
    "additionalProperties": _schema, "properties": _schema_map,
    "patternProperties": _pattern_properties, "dependentSchemas": _schema_map,
    "propertyNames": _schema, "if": _schema, "then": _schema, "else": _schema,
    "allOf": _schema_array, "anyOf": _schema_array, "oneOf": _schema_array, "not": _schema,
    # unevaluated
    "unevaluatedItems": _schema, "unevaluatedProperties": _schema,
    # validation
    "type": _type, "const": _any, "enum": _array, "multipleOf": _multiple_of,
    "maximum": _number, "exclusiveMaximum": _number, "minimum": _number, "exclusiveMinimum": _number,
    "maxLength": _non_negative_integer, "minLength": _non_negative_integer, "pattern": _pattern,
    "maxItems": _non_negative_integer, "minItems": _non_negative_integer, "uniqueItems": _boolean,
    "maxContains": _non_negative_integer, "minContains": _non_negative_integer,
    "maxProperties": _non_negative_integer, "minProperties": _non_negative_integer,
    "required": _string_array, "dependentRequired": _string_array_map,
    # meta-data
    "title": _string, "description": _string, "default": _any, "deprecated": _boolean,
    "readOnly": _boolean, "writeOnly": _boolean, "examples": _array,
    # format-annotation, content
    "format": _string, "contentEncoding": _string, "contentMediaType": _string, "contentSchema": _schema,
    # the top meta-schema's legacy keywords
    "definitions": _schema_map, "dependencies": _dependencies,
}
# Meta-schema keywords with URI/anchor constraints that are not re-implemented here.
_NOT_COVERED = frozenset(("$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
                          "$recursiveAnchor", "$recursiveRef"))


def compile_schema(schema: Any, source: str, base_dir: str | None = None) -> Any:
    """A validator for `schema`; UsageError naming `source` when the schema itself is invalid."""
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, (dict, bool)):
        raise UsageError(f"{source}: invalid JSON Schema: the top level must be an object (or a "
                         f"boolean), not {_type_name(schema)}")
    cls = _validator_class(schema, source)
    try:
        check_schema(cls, schema)
    except SchemaError as exc:
        raise UsageError(f"{source}: invalid JSON Schema: {schema_error_text(exc)}") from None
    except OverflowError as exc:  # re.compile of a `pattern` like "a{4294967296}"
        raise UsageError(f"{source}: invalid JSON Schema: a regular expression in it cannot be compiled "
                         f"({exc})") from None
    kwargs: dict[str, Any] = {"format_checker": cls.FORMAT_CHECKER}
    if base_dir is not None:
        kwargs["registry"] = _local_registry(base_dir, source)
    _check_refs(cls, schema, source, kwargs.get("registry"))
    return cls(schema, **kwargs)


def _check_refs(cls: type, schema: Any, source: str, registry: Any) -> None:
    """Resolve every `$ref` now: one that cannot be resolved (a remote URL, a missing file) is a
    broken schema file (exit 2), not an internal error on every record it is used for."""
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable

    refs: list[str] = []
    stack, nested_ids = [schema], False
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            nested_ids = nested_ids or (node is not schema and "$id" in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if not refs or nested_ids:  # refs under a nested `$id` resolve against it: leave them to validation
        return
    resource = Resource.from_contents(schema, default_specification=_spec(cls))
    resolver = (registry if registry is not None else Registry()).resolver_with_root(resource)  # an empty Registry is falsy
    for ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise UsageError(f"{source}: invalid JSON Schema: cannot resolve `$ref` {ref!r} (remote "
                             "schemas are never fetched; local files are looked up beside the schema)") from None


def _local_registry(base_dir: str, source: str) -> Any:
    """Resolve relative `$ref`s to files next to the schema; never touch the network."""
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource

    base = Path(base_dir).resolve()

    def retrieve(uri: str) -> Any:
        if "://" in uri and not uri.startswith("file://"):
            raise NoSuchResource(ref=uri)  # remote schemas are not fetched
        target = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
        target = target if target.is_absolute() else base / target
        try:
            contents = load_schema_file(str(target))
        except UsageError:
            raise NoSuchResource(ref=uri) from None
        from jsonschema import Draft202012Validator

        return Resource.from_contents(contents, default_specification=_spec(Draft202012Validator))

    return Registry(retrieve=retrieve)


def _spec(cls: type) -> Any:
    from referencing.jsonschema import specification_with

    return specification_with(cls.META_SCHEMA["$schema"])


def load_schema_file(path: str) -> Any:
    """Read a schema file (JSON, or YAML for .yaml/.yml); UsageError naming the file otherwise."""
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        raise UsageError(f"{path}: cannot read JSON Schema: not a regular file (a pipe or device)")
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except IsADirectoryError:
        raise UsageError(f"{path}: cannot read JSON Schema: is a directory") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read JSON Schema: {exc.strerror or exc}") from None
    if path.lower().endswith((".yaml", ".yml")):
        from .configs.yamlsafe import YamlProblem, safe_load

        try:
            return safe_load(blob.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}: JSON Schema is not UTF-8 text ({exc.reason})") from None
        except YamlProblem as exc:
            raise UsageError(f"{path}:{exc.line}:{exc.column}: JSON Schema is not valid YAML: {exc.message}") from None
    try:
        text = blob.decode("utf-8-sig")
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: JSON Schema is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: JSON Schema is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}") from None
    except RecursionError:
        raise UsageError(f"{path}: JSON Schema is nested too deeply to read") from None


@dataclass
class UserSchema:
    """A compiled user schema and the file it came from."""

    path: str
    validator: Any

    def violations(self, instance: Any) -> list["Violation"]:
        return violations(self.validator, instance)


class SchemaStore:
    """The run's response and record schemas, loaded and compiled once (eagerly)."""

    def __init__(self, settings: "Settings") -> None:
        config_dir = os.path.dirname(os.path.abspath(settings.source)) if settings.source else None
        self._config_dir = config_dir
        self._compiled: dict[str, UserSchema] = {}
        self.response = self._load(settings.response_schema, config_dir)
        self.response_by_glob = [(glob, self._load(p, config_dir, from_config=True))
                                 for glob, p in settings.response_schemas.items()]
        self.record = self._load(settings.record_schema, config_dir)
        self._per_file: dict[str, UserSchema | None] = {}

    @classmethod
    def from_services(cls, services: dict[str, Any]) -> "SchemaStore | None":
        """The run's store; built on first use when the services did not create one."""
        store = services.get("schemas")
        if store is None and "settings" in services:
            store = services["schemas"] = cls(services["settings"])
        return store

    def _load(self, path: str | None, config_dir: str | None, from_config: bool = False) -> UserSchema | None:
        if not path:
            return None
        resolved = _resolve(path, config_dir, from_config)
        key = os.path.realpath(resolved)
        if key not in self._compiled:
            schema = load_schema_file(resolved)
            validator = compile_schema(schema, resolved, os.path.dirname(os.path.abspath(resolved)))
            self._compiled[key] = UserSchema(resolved, validator)
        return self._compiled[key]

    def response_for(self, display_path: str) -> UserSchema | None:
        """The response schema of a file: the first matching `response-schemas` glob, else the default."""
        if display_path not in self._per_file:
            chosen = self.response
            # Globs match the path as displayed, the file name, or the path from the config's folder.
            names = {display_path, display_path.rsplit("/", 1)[-1]}
            if self._config_dir:
                rel = os.path.relpath(os.path.abspath(display_path), self._config_dir)
                names.add(rel.replace(os.sep, "/"))
            for glob, schema in self.response_by_glob:
                if any(fnmatch.fnmatch(n, glob) for n in names):
                    chosen = schema
                    break
            self._per_file[display_path] = chosen
        return self._per_file[display_path]


def _resolve(path: str, config_dir: str | None, from_config: bool) -> str:
    """CLI paths are relative to the working directory; config paths to the config's folder
    (a path from the config that only exists relative to the working directory still works)."""
    if os.path.isabs(path) or config_dir is None:
        return path
    beside = os.path.join(config_dir, path)
    if from_config:
        return beside if os.path.exists(beside) or not os.path.exists(path) else path
    return path if os.path.exists(path) or not os.path.exists(beside) else beside


class ValidatorCache:
    """Validators for schemas found in the data (tool parameters), one per distinct schema."""

    def __init__(self, check_formats: bool = True, max_size: int = 4096) -> None:
        self._cache: dict[bytes, tuple[Any, SchemaProblem | None]] = {}
        self._max = max_size
        self.check_formats = check_formats

    def get(self, schema: Any) -> tuple[Any, "SchemaProblem | None"]:
        """(validator, None) or (None, where and why the schema is not valid JSON Schema)."""
        try:
            key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            key = repr(schema).encode()
        hit = self._cache.get(key)
        if hit is None:
            hit = self._compile(schema)
            if len(self._cache) >= self._max:
                self._cache.clear()  # bounded memory; distinct tool schemas are few in practice
            self._cache[key] = hit
        return hit

    def _compile(self, schema: Any) -> tuple[Any, "SchemaProblem | None"]:
        import_jsonschema()
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if not isinstance(schema, (dict, bool)):
            return None, SchemaProblem("", f"a schema must be an object, not {_type_name(schema)}")
        cls = Draft202012Validator
        if isinstance(schema, dict) and isinstance(schema.get("$schema"), str):
            from jsonschema.validators import validator_for

            cls = validator_for(schema, default=Draft202012Validator)
        try:
            check_schema(cls, schema)
        except SchemaError as exc:
            return None, SchemaProblem(join_pointer("", *exc.absolute_path), schema_error_text(exc))
        except RecursionError:
            return None, SchemaProblem("", "nested too deeply")
        except OverflowError as exc:  # re.compile of a `pattern` like "a{4294967296}"
            return None, SchemaProblem("", f"a regular expression in it cannot be compiled ({exc})")
        return cls(schema, format_checker=cls.FORMAT_CHECKER if self.check_formats else None), None


@dataclass(frozen=True)
class SchemaProblem:
    """Why a schema is not valid JSON Schema; `pointer` is the offending spot inside it."""

    pointer: str
    message: str


def schema_error_text(exc: Any) -> str:
    """A readable sentence for a meta-schema error (jsonschema's own text for a bad `type` is
    "'strng' is not valid under any of the given schemas")."""
    tokens = list(exc.absolute_path)
    where = json_path(tokens) if tokens else "the top level"
    if tokens and tokens[-1] == "type" and isinstance(exc.instance, (str, list)):
        return (f"at {where}: {_SHORT.repr(exc.instance)} is not a JSON Schema type (string, number, "
                "integer, boolean, object, array, null)")
    return f"at {where}: {_shorten(exc.message)}"


# --------------------------------------------------------------------------------------------
# Violations
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Violation:
    """One schema violation inside an instance.

    `pointer` is the JSON pointer (relative to the instance) of the value to point at: the
    offending value, or for a missing property its parent object. `path` is the JSONPath
    shown to the user (for a missing property it includes the property's name).
    """

    keyword: str
    path: str
    pointer: str
    message: str


def violations(validator: Any, instance: Any, limit: int = MAX_ERRORS_PER_VALUE) -> list[Violation]:
    out: list[Violation] = []
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
    except RecursionError:
        return [Violation("depth", "$", "", "$: value is nested too deeply to validate")]
    for error in errors:
        out.extend(_explain(error))
        if len(out) >= limit:
            break
    return out[:limit]


def _explain(error: Any) -> Iterable[Violation]:
    tokens = list(error.absolute_path)
    pointer = join_pointer("", *tokens)
    path = json_path(tokens)
    kw = str(error.validator)
    inst = error.instance
    if kw == "required" and isinstance(inst, dict):
        for name in error.validator_value or ():
            if name not in inst and f"{name!r} is a required property" in error.message:
                yield Violation(kw, json_path(tokens + [name]), pointer,
                                f"{json_path(tokens + [name])}: required property `{name}` is missing")
                return
        yield Violation(kw, path, pointer, f"{path}: {_shorten(error.message)}")
    elif kw == "additionalProperties" and isinstance(inst, dict) and isinstance(error.schema, dict):
        props = error.schema.get("properties", {}) or {}
        patterns = list((error.schema.get("patternProperties") or {}).keys())
        import re

        extras = [k for k in inst if k not in props and not any(_search(re, p, k) for p in patterns)]
        for k in extras or [None]:
            if k is None:
                yield Violation(kw, path, pointer, f"{path}: {_shorten(error.message)}")
            else:
                p = json_path(tokens + [k])
                yield Violation(kw, p, join_pointer(pointer, k),
                                f"{p}: property `{k}` is not allowed (additionalProperties is false)")
    elif kw == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        yield Violation(kw, path, pointer,
                        f"{path}: expected {expected}, got {_json_type(inst)} ({_SHORT.repr(inst)})")
    elif kw in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        hint = f"; closest alternative fails at {json_path(list(best.absolute_path))}: {_shorten(best.message)}" \
            if best is not None else ""
        what = "exactly one" if kw == "oneOf" else "any"
        yield Violation(kw, path, pointer, f"{path}: does not match {what} of the allowed schemas ({kw}){hint}")
    else:
        yield Violation(kw, path, pointer, f"{path}: {_shorten(error.message)} ({kw})")


def _search(re_mod: Any, pattern: str, key: str) -> bool:
    try:
        return re_mod.search(pattern, key) is not None
    except re_mod.error:
        return False


def json_path(tokens: Iterable[Any]) -> str:
    """`$.a[0]['odd key']` from pointer tokens."""
    out = "$"
    for t in tokens:
        if isinstance(t, int):
            out += f"[{t}]"
        elif isinstance(t, str) and t.isidentifier():
            out += "." + t
        else:
            out += "[" + json.dumps(str(t), ensure_ascii=False) + "]"
    return out


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _type_name(value: Any) -> str:
    t = _json_type(value)
    return ("an " if t[0] in "aeiou" else "a ") + t if t != "null" else "null"


# --------------------------------------------------------------------------------------------
# JSON inside JSON strings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParseFailure:
    message: str
    offset: int  # character offset of the fault in the parsed text


def parse_json(text: str) -> tuple[Any, ParseFailure | None]:
    """Strict JSON (no NaN/Infinity, no lone surrogates); on failure, the reason and offset."""
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        orjson_exc = exc
    except RecursionError:
        return None, ParseFailure("nested too deeply to parse", 0)
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if not text.strip():
            return None, ParseFailure("it is empty", 0)
        msg = exc.msg[: -len(" starting at")] if exc.msg.endswith(" starting at") else exc.msg
        return None, ParseFailure(msg, exc.pos)
    except _ConstantError as exc:
        return None, ParseFailure(f"{exc.name} is not a JSON value", max(text.find(exc.name), 0))
    except RecursionError:
        return None, ParseFailure("nested too deeply to parse", 0)
    # Python accepted it but orjson did not: lone surrogates or out-of-range numbers.
    return None, ParseFailure(str(orjson_exc).split(":")[0], getattr(orjson_exc, "pos", 0) or 0)


class _ConstantError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _reject_constant(name: str) -> Any:
    raise _ConstantError(name)


def literal_offset(literal: str, index: int) -> int:
    """Offset inside the JSON string literal `literal` (which starts with its opening quote) of
    the character at `index` of the decoded string. Escapes (`\\n`, `\\"`, `\\uXXXX`, surrogate
    pairs) are walked one decoded character at a time."""
    i, d, n = 1, 0, len(literal)
    while d < index and i < n - 1:
        b = literal.find("\\", i)
        if b == -1 or b - i >= index - d:  # no escape before the target: jump straight to it
            return min(i + (index - d), n - 1)
        d += b - i  # plain characters up to the escape
        i = b
        if literal[i + 1] == "u":
            code = int(literal[i + 2:i + 6], 16) if len(literal) >= i + 6 else 0
            if 0xD800 <= code < 0xDC00 and literal[i + 6:i + 8] == "\\u":
                try:
                    low = int(literal[i + 8:i + 12], 16)
                except ValueError:
                    low = 0
                i += 12 if 0xDC00 <= low < 0xE000 else 6
            else:
                i += 6
        else:
            i += 2
        d += 1
    return i


def locate_in_string(record: "Record", pointer: str, start: int, end: int | None = None) -> Location:
    """The file location of decoded characters [start, end) of the string at `pointer`.

    Falls back to the whole string value when the record has no source text (CSV, Parquet)."""
    loc = record.locate(pointer)
    src = record.source
    if src is None:
        return loc
    try:
        s, e, exact = find_span(src, pointer)
    except (ValueError, IndexError, RecursionError):
        return loc
    if not exact or src[s:s + 1] != '"':
        return loc
    literal = src[s:e]
    a = literal_offset(literal, start)
    b = literal_offset(literal, end if end is not None else start + 1)
    b = max(b, a + 1)
    return Location(loc.path, loc.line, loc.column + a, loc.line, loc.column + b, loc.pointer)


def inner_span(text: str, inner_pointer: str, base: int = 0) -> tuple[int, int]:
    """Decoded-string offsets of the value at `inner_pointer` in the JSON held in `text[base:]`."""
    try:
        s, e, _ = find_span(text, inner_pointer, base)
    except (ValueError, IndexError, RecursionError):
        return base, base + 1
    return s, e
