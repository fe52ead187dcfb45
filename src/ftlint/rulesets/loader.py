"""Read ruleset YAML files: node marks, schema validation, semantic checks, `extends`.

Every curator mistake becomes a `RulesetError` naming the file, line and column and what was
expected; YAML node marks are kept for every value so errors found after parsing (a bad regex,
an unknown function, a JSONPath typo) still point at the right place.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..configs.yamlsafe import YamlProblem, load_yaml_text
from ..findings import Severity, UsageError
from ..jsonschemas import import_jsonschema
from .functions import available_functions, get_function
from .jsonpath import JSONPath, JSONPathError, compile_path

BUILTIN_PREFIX = "FTR"          # the code prefix of the rulesets that ship with ftlint
RESERVED_PREFIX = "FT"          # every prefix starting with FT belongs to ftlint
PLACEHOLDERS = {"value", "path", "property", "error", "description"}
MAX_FILE_BYTES = 4 * 1024 * 1024


class RulesetError(UsageError):
    """A mistake in a ruleset file, with its position."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path, self.line, self.column, self.detail = path, line, column, message


# --------------------------------------------------------------------------------------------
# Built-in rulesets


def builtin_dir() -> Path:
    """The folder of the shipped rulesets (a symlink to the repository's rulesets/ in a checkout)."""
    return Path(str(resources.files("ftlint.rulesets") / "builtin"))


def builtin_names() -> list[str]:
    folder = builtin_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml"))


def resolve(ref: str, base: Path | None = None) -> Path:
    """A ruleset reference (built-in name or path) -> an existing file."""
    looks_like_path = "/" in ref or os.sep in ref or ref.endswith((".yaml", ".yml"))
    if not looks_like_path and (builtin_dir() / f"{ref}.yaml").is_file():
        return (builtin_dir() / f"{ref}.yaml").resolve()
    candidates = [Path(ref)] if Path(ref).is_absolute() else \
        ([base / ref] if base is not None else []) + [Path(ref)]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    names = ", ".join(builtin_names()) or "none installed"
    hint = difflib.get_close_matches(ref, builtin_names(), n=1)
    raise UsageError(f"unknown ruleset {ref!r}: not a built-in ruleset ({names}) nor an existing file"
                     + (f"; did you mean {hint[0]!r}?" if hint else ""))


def is_builtin(path: Path) -> bool:
    try:
        path.resolve().relative_to(builtin_dir().resolve())
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# YAML with marks


class Marks:
    """JSON-pointer-like paths (tuples) -> (line, column) of the YAML node, 1-based."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.positions: dict[tuple, tuple[int, int]] = {}
        self.styles: dict[tuple, str | None] = {}   # scalar quoting style, for columns inside values
        self.key_positions: dict[tuple, tuple[int, int]] = {}

    def at(self, path: tuple, key: bool = False) -> tuple[int, int]:
        table = self.key_positions if key else self.positions
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (1, 1))

    def error(self, path: tuple, message: str, key: bool = False) -> RulesetError:
        line, col = self.at(path, key)
        return RulesetError(self.display, line, col, message)


def load_yaml(text: str, display: str) -> tuple[Any, Marks]:
    """The ruleset's data and where each of its keys and values is, read by the same guarded
    loader as every other YAML file (`configs.yamlsafe`): safe tags only, no alias bombs."""
    try:
        doc = load_yaml_text(text)
    except YamlProblem as exc:
        raise RulesetError(display, exc.line, exc.column, exc.message) from None
    if doc.data is None:
        raise RulesetError(display, 1, 1, "the file is empty; expected a ruleset mapping "
                           "with `name`, `prefix` and `rules`")
    if doc.duplicates:
        # YAML keeps the last copy silently: a curator's second `then` would replace the first
        path, spans = min(doc.duplicates.items(), key=lambda item: (item[1][1].line, item[1][1].column))
        raise RulesetError(display, spans[1].line, spans[1].column,
                           f"duplicate key {path[-1]!r} (first defined on line {spans[0].line}); YAML "
                           "keeps only the last one")
    marks = Marks(display)
    marks.positions[()] = (doc.root.line, doc.root.column) if doc.root else (1, 1)
    for path, (key, value) in doc.spans.items():
        marks.positions[path] = (value.line, value.column)
        if isinstance(path[-1], str):
            marks.key_positions[path] = (key.line, key.column)
    marks.styles = doc.styles
    return doc.data, marks


# --------------------------------------------------------------------------------------------
# Schema validation


@lru_cache(maxsize=1)
def ruleset_schema() -> dict[str, Any]:
    text = (resources.files("ftlint") / "data" / "ruleset.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import_jsonschema()  # without the 1-second IRI grammar build a plain import pays
    from jsonschema import Draft202012Validator

    return Draft202012Validator(ruleset_schema())


def _where(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "ruleset"


def _descend(err: Any) -> Any:
    """For oneOf/anyOf, report the problem inside the branch meant for this kind of value
    (an object `then`, not the list form) instead of "not valid under any of the schemas"."""
    from jsonschema.exceptions import best_match

    while err.validator in ("oneOf", "anyOf") and err.context:
        branches: dict[Any, list] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else 0, []).append(sub)
        # A branch whose only complaint is the value's type is the wrong branch.
        fitting = [errs for errs in branches.values()
                   if not any(e.validator == "type" and not e.relative_path for e in errs)]
        if len(fitting) != 1:
            return best_match([err]) or err
        err = min(fitting[0], key=lambda e: (-len(e.absolute_path), e.validator in ("required", "if")))
    return err


def schema_errors(data: Any, marks: Marks) -> list[RulesetError]:
    validator = _validator()  # first: it imports jsonschema the cheap way
    from jsonschema.exceptions import relevance

    out: list[RulesetError] = []
    errors = [_descend(e) for e in sorted(validator.iter_errors(data), key=relevance)]
    # "unknown key 'nme'; did you mean 'name'" says more than "'name' is required" for one typo.
    misspelt = {tuple(e.absolute_path) for e in errors if e.validator == "additionalProperties"}
    for err in errors:
        if err.validator == "required" and tuple(err.absolute_path) in misspelt:
            continue
        path = tuple(err.absolute_path)
        message = err.message
        key = False
        if err.validator == "additionalProperties":
            extra = re.findall(r"'([^']+)'", message.split("(")[-1])
            allowed = list((err.schema.get("properties") or {}).keys())
            if extra:
                path = path + (extra[0],)
                key = True
                hint = difflib.get_close_matches(extra[0], allowed, n=1)
                message = f"unknown key {extra[0]!r}" + (f"; did you mean {hint[0]!r}?" if hint else
                                                         f"; expected one of {', '.join(allowed)}")
        elif err.validator == "required":
            message = message.replace("is a required property", "is required here")
        elif err.validator == "pattern" and path and path[-1] == "prefix":
            message = f"prefix {err.instance!r} must be 2 to 4 capital letters (e.g. TEAM)"
        elif err.validator == "pattern" and path and path[-1] == "code":
            message = f"code {err.instance!r} must be the ruleset prefix and 3 digits (e.g. TEAM001)"
        elif err.validator == "pattern" and path and path[-1] == "name":
            message = f"name {err.instance!r} must be kebab-case (lowercase words joined by '-')"
        elif err.validator == "enum":
            hint = difflib.get_close_matches(str(err.instance), [str(v) for v in err.validator_value], n=1)
            message += f"; did you mean {hint[0]!r}?" if hint else ""
        elif err.validator == "maxProperties" and err.validator_value == 0:
            message = "this function takes no options"
        out.append(marks.error(path, f"{_where(path)}: {message}", key=key))
    out.sort(key=lambda e: (e.line, e.column))
    return out


# --------------------------------------------------------------------------------------------
# The parsed model


@dataclass
class ThenSpec:
    function: str
    field: str | None
    options: dict[str, Any]
    scope: str                      # record | dataset
    fn: Any                         # the record function (None for dataset functions)
    path: tuple                     # position in the YAML, for errors


@dataclass
class TestCase:
    records: list[Any]
    file: str | None
    errors: list[str] | None        # expected "N:/pointer" or "/pointer"; None = any (invalid) / none (valid)
    path: tuple                     # position in the YAML


@dataclass
class FixtureCase:
    file: Path
    expect: list[str]
    path: tuple


@dataclass
class RuleSpec:
    code: str
    name: str
    description: str
    rationale: str
    fix: str
    source: str
    message: str | None
    severity: Severity
    tags: tuple[str, ...]
    enabled: bool
    files: tuple[str, ...]
    formats: tuple[str, ...] | None
    document: str                   # record | example
    given: tuple[JSONPath, ...]
    then: tuple[ThenSpec, ...]
    scope: str
    valid: list[TestCase]
    invalid: list[TestCase]
    fixtures: list[FixtureCase]
    ruleset: str
    file: str
    line: int
    path: tuple


@dataclass
class Override:
    files: tuple[str, ...]
    rules: dict[str, str]           # selector (code, name or prefix) -> severity | off
    file: str
    path: tuple


@dataclass
class Ruleset:
    name: str
    prefix: str
    description: str
    path: Path
    display: str
    extends: list[Path]
    builtins: str | None
    rules: list[RuleSpec]
    overrides: list[Override]
    marks: Marks = field(repr=False, default=None)  # type: ignore[assignment]


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        if is_builtin(path):
            return f"<builtin>/{path.name}"
        return path.as_posix()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_ruleset(path: Path) -> Ruleset:
    """Read, validate and compile one ruleset file (without its `extends`)."""
    display = _display(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RulesetError(display, 1, 1, f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB; "
                               "a ruleset this large is almost certainly not a ruleset")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RulesetError(display, 1, 1, "file is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{display}: cannot read ruleset: {exc.strerror or exc}") from None
    data, marks = load_yaml(text, display)
    if not isinstance(data, dict):
        raise RulesetError(display, 1, 1, "a ruleset must be a mapping with `name`, `prefix` and `rules`")
    errors = schema_errors(data, marks)
    if errors:
        raise errors[0]
    builtin = is_builtin(path)
    prefix = data["prefix"]
    if prefix.startswith(RESERVED_PREFIX) and not (builtin and prefix == BUILTIN_PREFIX):
        raise marks.error(("prefix",), f"prefix {prefix!r} is reserved: codes starting with FT belong "
                          f"to ftlint's built-in rules (its shipped rulesets use {BUILTIN_PREFIX}); "
                          "choose 2 to 4 other capitals, e.g. TEAM")
    if data.get("builtins") and not builtin:
        raise marks.error(("builtins",), "`builtins` is only for ftlint's shipped rulesets; use "
                          "`extends: [recommended]` or `[strict]` instead")
    base = path.parent
    extends = [_resolve_at(ref, base, marks, ("extends",) if isinstance(data.get("extends"), str) else ("extends", i))
               for i, ref in enumerate(_as_list(data.get("extends")))]
    rs = Ruleset(data["name"], prefix, data.get("description", ""), path, display, extends,
                 data.get("builtins"), [], [], marks)
    codes: dict[str, tuple] = {}
    names: dict[str, tuple] = {}
    for i, raw in enumerate(data.get("rules") or []):
        where = ("rules", i)
        if not raw["code"].startswith(prefix) or not re.fullmatch(rf"{prefix}\d{{3}}", raw["code"]):
            raise marks.error(where + ("code",), f"code {raw['code']!r} must be the ruleset prefix "
                              f"{prefix} followed by 3 digits (e.g. {prefix}001)")
        for table, key in ((codes, "code"), (names, "name")):
            if raw[key] in table:
                line = marks.at(table[raw[key]])[0]
                raise marks.error(where + (key,), f"{key} {raw[key]!r} is already used by the rule on line {line}")
            table[raw[key]] = where + (key,)
        rs.rules.append(_rule(raw, where, rs, marks))
    for i, raw in enumerate(data.get("overrides") or []):
        # YAML 1.1 reads a bare `off` as false.
        settings = {str(k): ("off" if v is False else v) for k, v in raw["rules"].items()}
        rs.overrides.append(Override(tuple(_as_list(raw["files"])), settings, display, ("overrides", i)))
    return rs


def _resolve_at(ref: str, base: Path, marks: Marks, where: tuple) -> Path:
    try:
        return resolve(ref, base)
    except UsageError as exc:
        raise marks.error(where, str(exc)) from None


def _rule(raw: dict[str, Any], where: tuple, rs: Ruleset, marks: Marks) -> RuleSpec:
    givens: list[JSONPath] = []
    raw_given = raw.get("given", "$")
    for j, text in enumerate(_as_list(raw_given)):
        gpath = where + (("given", j) if isinstance(raw_given, list) else ("given",))
        try:
            givens.append(compile_path(text))
        except JSONPathError as exc:
            line, col = marks.at(gpath)
            style = marks.styles.get(gpath, "?")
            if style in (None, "'", '"') and "\n" not in text and "\\" not in text and "''" not in text:
                # The column of the offending character itself (a quote shifts the text by one).
                col += exc.column - (1 if style is None else 0)
            raise RulesetError(marks.display, line, col, f"given {text!r}: {exc} (at column {exc.column} of the path)") from None
    thens: list[ThenSpec] = []
    raw_then = raw["then"]
    for j, t in enumerate(_as_list(raw_then)):
        tpath = where + (("then", j) if isinstance(raw_then, list) else ("then",))
        name = t["function"]
        fdef = get_function(name)
        if fdef is None:
            hint = difflib.get_close_matches(name, available_functions(), n=1)
            raise marks.error(tpath + ("function",), f"unknown function {name!r}"
                              + (f"; did you mean {hint[0]!r}?" if hint else "")
                              + f" (available: {', '.join(available_functions())}; Python functions are "
                              "registered through the `ftlint.functions` entry-point group)")
        options = dict(t.get("functionOptions") or {})
        if fdef.prepare is not None:
            try:
                options = fdef.prepare(options)
            except ValueError as exc:
                raise marks.error(tpath + ("functionOptions",), f"{name}: {exc}") from None
        field_ = t.get("field")
        if fdef.scope == "dataset" and field_ == "@key":
            raise marks.error(tpath + ("field",), f"{name} cannot check `@key`")
        thens.append(ThenSpec(name, field_, options, fdef.scope, fdef.fn, tpath))
    scopes = {t.scope for t in thens}
    if "dataset" in scopes and len(thens) > 1:
        raise marks.error(where + ("then",), "unique and count look across records: give them a rule "
                          "of their own (one `then` entry)")
    scope = "dataset" if "dataset" in scopes else "record"
    message = raw.get("message")
    if message is not None:
        _check_template(message, marks, where + ("message",))
    tests = raw.get("tests") or {}
    valid = [_case(c, where + ("tests", "valid", k), marks, expect_errors=False)
             for k, c in enumerate(tests.get("valid") or [])]
    invalid = [_case(c, where + ("tests", "invalid", k), marks, expect_errors=True)
               for k, c in enumerate(tests.get("invalid") or [])]
    fixtures = []
    for k, fx in enumerate(tests.get("fixtures") or []):
        # A missing fixture fails in `ftlint test-rules`, not in `ftlint check`.
        fpath = (rs.path.parent / fx["file"])
        fixtures.append(FixtureCase(fpath, [str(e) for e in fx["expect"]], where + ("tests", "fixtures", k)))
    return RuleSpec(
        code=raw["code"], name=raw["name"], description=raw["description"].strip(),
        rationale=(raw.get("rationale") or "").strip(), fix=(raw.get("fix") or "").strip(),
        source=(raw.get("source") or "").strip(), message=message,
        severity=Severity.parse(raw.get("severity", "warning")), tags=tuple(raw.get("tags") or ()),
        enabled=raw.get("enabled", True), files=tuple(_as_list(raw.get("files"))),
        formats=tuple(raw["formats"]) if raw.get("formats") else None,
        document=raw.get("document", "record"), given=tuple(givens), then=tuple(thens), scope=scope,
        valid=valid, invalid=invalid, fixtures=fixtures, ruleset=rs.name, file=rs.display,
        line=marks.at(where)[0], path=where,
    )


def _check_template(template: str, marks: Marks, where: tuple) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise marks.error(where, f"message template: {exc} (write {{{{ and }}}} for literal braces)") from None
    for f in fields:
        if f not in PLACEHOLDERS:
            raise marks.error(where, f"message template: unknown placeholder {{{f}}}; use "
                              + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS)))


_POINTER = re.compile(r"^(?:(\d+):)?(/.*|)$")


def _case(raw: Any, where: tuple, marks: Marks, expect_errors: bool) -> TestCase:
    """A test case: a bare record, or {record | records, file, errors}."""
    if isinstance(raw, dict) and ("record" in raw or "records" in raw):
        unknown = set(raw) - {"record", "records", "file", "errors"}
        if unknown:
            key = sorted(unknown)[0]
            raise marks.error(where + (key,), f"unknown key {key!r} in a test case; expected record or "
                              "records, file, errors", key=True)
        if "record" in raw and "records" in raw:
            raise marks.error(where, "a test case has `record` or `records`, not both")
        records = [raw["record"]] if "record" in raw else raw["records"]
        if not isinstance(records, list) or not records:
            raise marks.error(where + ("records",), "`records` must be a non-empty list of records")
        errors = raw.get("errors")
        if errors is not None:
            if not expect_errors:
                raise marks.error(where + ("errors",), "a valid case expects no findings: remove `errors`")
            if not isinstance(errors, list):
                raise marks.error(where + ("errors",), "`errors` must be a list of JSON pointers "
                                  "(\"/messages/0/content\", or \"1:/messages/0/content\" for record 1)")
            for k, e in enumerate(errors):
                if not isinstance(e, str) or not _POINTER.match(e):
                    raise marks.error(where + ("errors", k), f"expected error {e!r} is not a JSON pointer "
                                      "(\"/messages/0/content\", \"\" for the whole record, or "
                                      "\"1:/messages/0/content\" for record 1)")
        file = raw.get("file")
        if file is not None and (not isinstance(file, str) or file.startswith("/") or ".." in file.split("/")):
            raise marks.error(where + ("file",), "`file` must be a relative file name such as support/chat.jsonl")
        return TestCase(records, file, errors, where)
    return TestCase([raw], None, None, where)


def parse_expected(entry: str) -> tuple[int, str]:
    m = _POINTER.match(entry)
    assert m is not None  # validated at load time
    return int(m.group(1) or 0), m.group(2)
