"""Turn parsed YAML rules into real `Rule` subclasses (record or dataset scope).

A generated class carries the same metadata as a built-in rule (code, name, severity, tags,
a five-section doc), so `ftlint rule CODE`, `ftlint rules` and SARIF show it like any other.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Iterator

import orjson

from ..findings import Finding, Location, Related, Severity
from ..formats import Example
from ..locate import split_pointer
from ..rule import Context, RecordRef, Rule
from . import globs
from .document import example_pointer, example_view, record_pointer
from .functions import MISSING, FunctionContext, normalise_problems
from .loader import RuleSpec, ThenSpec

PREVIEW = 60
VIEW_KEY = "ruleset_example_view"


class YamlRule(Rule):
    """Base of every rule defined in a ruleset file."""

    spec: ClassVar[RuleSpec]
    overrides: ClassVar[tuple[tuple[tuple[str, ...], str], ...]] = ()  # (globs, severity | "off")
    ruleset_dir: ClassVar[str] = ""
    load_key: ClassVar[tuple[str, ...]] = ()  # the ruleset files this class was built from

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._severity_cache: dict[str, Severity | None] = {}

    # Dynamically created classes are not importable: pickle by rebuilding from the files.
    def __reduce__(self):  # type: ignore[override]
        return (_rebuild, (self.load_key, self.code, self.options))

    # -- per-file selection ----------------------------------------------------------------
    def severity_for(self, path: str) -> Severity | None:
        """This rule's severity for a file, or None when `files` or an override turns it off."""
        cached = self._severity_cache.get(path, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        level: Severity | None = self.severity
        if not globs.matches(self.spec.files, path):
            level = None
        else:
            for patterns, setting in self.overrides:
                if globs.matches(patterns, path):
                    level = None if setting == "off" else Severity.parse(setting)
        self._severity_cache[path] = level
        return level

    # -- matching ---------------------------------------------------------------------------
    def _document(self, example: Example) -> tuple[Any, Any]:
        if self.spec.document == "example":
            view = example.cache.get(VIEW_KEY)
            if view is None:  # shared by every ruleset rule that reads this example
                view = example.cache[VIEW_KEY] = example_view(example)
            return view, lambda path: example_pointer(example, path)
        return example.record.data, record_pointer

    def _targets(self, doc: Any, then: ThenSpec) -> Iterator[tuple[Any, tuple]]:
        for given in self.spec.given:
            for value, path in given.find(doc):
                yield field_value(value, path, then.field)

    def message(self, value: Any, pointer: str, error: str) -> str:
        spec = self.spec
        prop = split_pointer(pointer)[-1] if pointer else "record"
        fields = {"value": preview(value), "path": pointer or "/", "property": prop, "error": error,
                  "description": spec.description.partition("\n")[0].strip().rstrip(".")}
        if spec.message:
            return spec.message.format_map(fields)
        return f"{fields['description']}: `{prop}` {error}."


def field_value(value: Any, path: tuple, field: str | None) -> tuple[Any, tuple]:
    """Apply `then.field` to a matched node: a member (dotted for nested), or `@key`."""
    if not field:
        return value, path
    if field == "@key":
        return (path[-1] if path else MISSING), path
    for part in field.split("."):
        key: Any = part
        if isinstance(value, list) and part.lstrip("-").isdigit():
            key = int(part)
            value = value[key] if -len(value) <= key < len(value) else MISSING
        elif isinstance(value, dict):
            value = value.get(part, MISSING)
        else:
            value = MISSING
        path = path + (key,)
    return value, path


def preview(value: Any) -> str:
    if value is MISSING:
        return "(missing)"
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."


class YamlRecordRule(YamlRule):
    scope = "record"

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        severity = self.severity_for(ctx.path)
        if severity is None:
            return
        record = example.record
        doc, to_pointer = self._document(example)
        seen: set[tuple[str, str]] = set()
        for then in self.spec.then:
            for target, tpath in self._targets(doc, then):
                pointer = to_pointer(tpath)
                fctx = FunctionContext(self.code, ctx.path, pointer, doc, ctx.services, self.ruleset_dir, ctx.plan)
                for problem in normalise_problems(then.fn(target, then.options, fctx)):
                    where = to_pointer(tpath + tuple(problem.path)) if problem.path else pointer
                    msg = self.message(target, where, problem.message)
                    if (where, msg) in seen:  # e.g. `$..*` reaching one value by two routes
                        continue
                    seen.add((where, msg))
                    yield self.finding(record, where, msg, severity=severity)


def _digest(value: Any, options: dict[str, Any]) -> bytes:
    if isinstance(value, str):
        if options.get("ignoreWhitespace"):
            value = " ".join(value.split())
        if options.get("ignoreCase"):
            value = value.casefold()
    try:
        blob = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        blob = repr(value).encode()
    return hashlib.blake2b(blob, digest_size=8).digest()


class YamlDatasetRule(YamlRule):
    """`unique` and `count`: facts per record, decided when the whole run has been read."""

    scope = "dataset"

    @property
    def then(self) -> ThenSpec:
        return self.spec.then[0]

    def collect(self, example: Example, ctx: Context) -> Any:
        if self.severity_for(ctx.path) is None:
            return None
        doc, to_pointer = self._document(example)
        then = self.then
        record = example.record
        if then.function == "count":
            for target, _ in self._targets(doc, then):
                if target is not MISSING:
                    return record.line
            return None
        wants_value = bool(self.spec.message and "{value}" in self.spec.message)
        out = []
        for target, tpath in self._targets(doc, then):
            if target is MISSING or target is None:
                continue
            pointer = to_pointer(tpath)
            # The exact span now (the record is gone by `finish`): same result in every worker.
            loc = record.locate(pointer)
            span = (loc.line, loc.column, loc.end_line, loc.end_column)
            out.append((_digest(target, then.options), pointer, RecordRef.of(record), span,
                        preview(target) if wants_value else ""))
        return out or None

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        if self.then.function == "count":
            yield from self._finish_count(facts)
        else:
            yield from self._finish_unique(facts)

    def _finish_unique(self, facts: dict[str, list[Any]]) -> Iterator[Finding]:
        per_file = self.then.options.get("per", "dataset") == "file"
        first: dict[Any, tuple[RecordRef, str, tuple]] = {}
        for path, per_record in facts.items():
            severity = self.severity_for(path)
            if severity is None:
                continue
            for items in per_record:
                for key, pointer, ref, span, value in items:
                    scope_key = (path, key) if per_file else key
                    if scope_key not in first:
                        first[scope_key] = (ref, pointer, span)
                        continue
                    ref0, pointer0, span0 = first[scope_key]
                    if ref0 == ref and pointer0 == pointer:  # one value reached by two `given` paths
                        continue
                    location = Location(ref.path, *span, pointer)
                    where = f"{ref0.path}:{ref0.line}" if ref0.path != ref.path else f"line {ref0.line}"
                    error = f"duplicates the value first seen at {where}"
                    related = [Related(Location(ref0.path, *span0, pointer0), "First occurrence of this value.")]
                    yield self.finding_at(location, self.message(value, pointer, error), severity=severity,
                                          related=related, key=f"{key.hex()}:{ref.path}:{ref.index}")

    def _finish_count(self, facts: dict[str, list[Any]]) -> Iterator[Finding]:
        opts = self.then.options
        lo, hi = opts.get("min"), opts.get("max")
        groups: list[tuple[str, list[tuple[str, int]]]]
        applicable = [(p, lines) for p, lines in facts.items() if self.severity_for(p) is not None]
        if opts.get("per", "file") == "dataset":
            merged = [(p, line) for p, lines in applicable for line in lines]
            groups = [(applicable[0][0], merged)] if applicable else []
            noun = "the dataset"
        else:
            groups = [(p, [(p, line) for line in lines]) for p, lines in applicable]
            noun = "the file"
        thing = "records" if all(g.text.strip() == "$" for g in self.spec.given) else "matching records"
        for path, items in groups:
            n = len(items)
            if lo is not None and n < lo:
                line = items[0][1] if items else 1
                error = f"{noun} has {n:,} {thing if n != 1 else thing[:-1]}, fewer than the minimum of {lo:,}"
                yield self.finding_at(Location(path, line, 1, line, 2, ""), self.message(n, "", error),
                                      severity=self.severity_for(path), key=f"{path}:min")
            if hi is not None and n > hi:
                over_path, line = items[hi]
                error = (f"{noun} has {n:,} {thing}, more than the maximum of {hi:,}; "
                         f"this is the first record over the limit")
                yield self.finding_at(Location(over_path, line, 1, line, 2, ""), self.message(n, "", error),
                                      severity=self.severity_for(over_path), key=f"{path}:max")


# --------------------------------------------------------------------------------------------
# Documentation


def _json_block(records: list[Any]) -> str:
    lines = []
    for r in records:
        try:
            lines.append(json.dumps(r, ensure_ascii=False))
        except (TypeError, ValueError):
            lines.append(repr(r))
    return "```json\n" + "\n".join(lines) + "\n```"


def _options_text(then: ThenSpec) -> str:
    shown = {k: v for k, v in then.options.items() if not k.startswith("_")}
    return f"`{then.function}`" + (f" with {json.dumps(shown, ensure_ascii=False)}" if shown else "")


def build_doc(spec: RuleSpec, ruleset_display: str) -> str:
    summary, _, rest = spec.description.partition("\n")
    where = "the normalised example (same shape for every dataset format)" if spec.document == "example" \
        else "each raw record"
    checks = "; ".join(
        (f"`{t.field}` of each match" if t.field else "each match") + f" must pass {_options_text(t)}"
        for t in spec.then)
    what = [rest.strip()] if rest.strip() else []
    what.append(f"Selects `{' | '.join(g.text for g in spec.given)}` in {where}; {checks}.")
    if spec.files:
        what.append(f"Applies to files matching {', '.join('`' + f + '`' for f in spec.files)}.")
    if spec.formats:
        what.append(f"Applies to {', '.join(spec.formats)} records.")
    what.append(f"Defined in ruleset `{spec.ruleset}` ({ruleset_display}, line {spec.line}).")
    why = spec.rationale or f"Required by the `{spec.ruleset}` ruleset."
    if spec.source:
        why += f"\n\nSource: {spec.source}"
    bad = spec.invalid[0].records if spec.invalid else []
    good = spec.valid[0].records if spec.valid else []
    example = _json_block(bad) if bad else "No failing example is given in the ruleset."
    use = _json_block(good) if good else "No passing example is given in the ruleset."
    fix = spec.fix or "Change the reported value so that it passes the check above, or exclude the file " \
                      "with an override."
    return (f"{summary.strip()}\n\n## What it does\n{chr(10).join(what)}\n\n## Why it matters\n{why}\n\n"
            f"## Example\n{example}\n\n## Use instead\n{use}\n\n## How to fix\n{fix}\n")


def make_class(spec: RuleSpec, ruleset_display: str, ruleset_dir: str,
               overrides: tuple[tuple[tuple[str, ...], str], ...], load_key: tuple[str, ...]) -> type[YamlRule]:
    base = YamlDatasetRule if spec.scope == "dataset" else YamlRecordRule
    tags = tuple(dict.fromkeys(spec.tags + ("ruleset", spec.ruleset)))
    attrs = {
        "__doc__": build_doc(spec, ruleset_display),
        "__module__": __name__,
        "code": spec.code,
        "name": spec.name,
        "severity": spec.severity,
        "tags": tags,
        "formats": spec.formats,
        "enabled_by_default": spec.enabled,
        "source": f"ruleset:{spec.ruleset}",
        "spec": spec,
        "overrides": overrides,
        "ruleset_dir": ruleset_dir,
        "load_key": load_key,
    }
    return type(f"Ruleset_{spec.code}", (base,), attrs)


def _rebuild(load_key: tuple[str, ...], code: str, options: dict[str, Any]) -> Rule:
    from . import load_rulesets

    return load_rulesets(list(load_key))[code](options)
