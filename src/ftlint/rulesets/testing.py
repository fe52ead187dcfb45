"""Run the tests written inside ruleset files (`tests: valid / invalid / fixtures`).

Every case goes through the real engine (reader, format detection, normalisation, locate), with
only the rule under test selected, so a passing test means the rule fires the same way in
`ftlint check`. A valid case whose record the engine could not even check (unknown format,
missing fields) fails: otherwise a typo in a test record would pass vacuously.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..findings import Finding, UsageError
from .loader import FixtureCase, RuleSpec, Ruleset, TestCase, parse_expected

# Reader findings that mean the record never reached the rules.
NOT_CHECKED = {"FTP001", "FTP002", "FTP003", "FTP005", "FTP007", "FTP008"}


@dataclass
class CaseResult:
    file: str
    code: str
    name: str
    label: str
    line: int
    passed: bool
    detail: str = ""


@dataclass
class FileResult:
    file: str
    results: list[CaseResult] = field(default_factory=list)
    error: str | None = None
    untested: list[str] = field(default_factory=list)
    skipped: bool = False


def looks_like_ruleset(path: Path) -> bool:
    """YAML files in a rulesets folder that are clearly something else are skipped."""
    from ..configs.yamlsafe import YamlProblem, safe_load

    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlProblem):
        return True  # let the loader report the problem with its position
    return not isinstance(data, dict) or "rules" in data or "prefix" in data or "extends" in data


def run_file(path: Path) -> FileResult:
    from . import load_set
    from .loader import RulesetError

    display = path.as_posix()
    if not looks_like_ruleset(path):
        return FileResult(display, skipped=True)
    try:
        loaded = load_set([str(path)])
    except RulesetError as exc:
        return FileResult(display, error=str(exc))
    except UsageError as exc:
        return FileResult(display, error=f"{display}: {exc}")
    rs = next(r for r in loaded.rulesets if r.path == path.resolve())
    out = FileResult(rs.display)
    for spec in rs.rules:
        if not (spec.valid or spec.invalid or spec.fixtures):
            out.untested.append(f"{spec.code} {spec.name}")
        for i, case in enumerate(spec.valid):
            out.results.append(_run_case(loaded.classes, rs, spec, case, f"valid[{i}]", valid=True))
        for i, case in enumerate(spec.invalid):
            out.results.append(_run_case(loaded.classes, rs, spec, case, f"invalid[{i}]", valid=False))
        for i, fx in enumerate(spec.fixtures):
            out.results.append(_run_fixture(loaded.classes, rs, spec, fx, f"fixture[{i}]"))
    return out


def _lint(classes: dict[str, Any], code: str, paths: list[str]) -> tuple[list[Finding], list[Finding]]:
    """(findings of `code` and internal errors, reader findings that stopped a record)."""
    from ..api import make_services
    from ..engine import Linter
    from ..registry import Selection, all_rules
    from ..settings import Settings

    rules = all_rules(dict(classes))
    select = [code] + [p for p in ("FTP", "FTX") if any(c.startswith(p) for c in rules)]
    settings = Settings(select=select)
    linter = Linter(settings, Selection(rules, select=select), make_services(settings))
    report = linter.lint(paths)
    mine = [f for f in report.findings if f.code == code or f.code.startswith("FTX")]
    stopped = [f for f in report.findings if f.code in NOT_CHECKED]
    return mine, stopped


def _write_case(folder: Path, case: TestCase) -> Path:
    path = folder / (case.file or "test.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(case.records, ensure_ascii=False, indent=2), encoding="utf-8")
    elif path.suffix in (".jsonl", ".ndjson"):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in case.records), encoding="utf-8")
    else:
        raise ValueError(f"test case file {case.file!r} must end in .jsonl, .ndjson or .json")
    return path


def _describe(found: list[tuple[int, str]]) -> str:
    return ", ".join(f"{i}:{p}" if i else (p or '""') for i, p in found) or "none"


def _run_case(classes: dict[str, Any], rs: Ruleset, spec: RuleSpec, case: TestCase, label: str,
              valid: bool) -> CaseResult:
    line = rs.marks.at(case.path)[0]
    result = CaseResult(rs.display, spec.code, spec.name, label, line, False)
    try:
        with tempfile.TemporaryDirectory(prefix="ftlint-test-") as tmp:
            path = _write_case(Path(tmp), case)
            mine, stopped = _lint(classes, spec.code, [str(path)])
            json_array = path.suffix == ".json"
    except (TypeError, ValueError) as exc:
        result.detail = f"cannot write the test records: {exc}"
        return result
    crashes = [f for f in mine if f.code.startswith("FTX")]
    if crashes:
        result.detail = crashes[0].message
        return result
    # JSONL: one record per line. JSON arrays (pretty-printed): by order of the findings' records.
    found = sorted({(f.location.line - 1 if not json_array else 0, f.location.pointer or "") for f in mine})
    if valid:
        if stopped:
            result.detail = (f"the record was not checked by {spec.code}: {stopped[0].code} "
                             f"{stopped[0].message}")
        elif found:
            result.detail = f"expected no findings, got {len(found)} at {_describe(found)}: {mine[0].message}"
        else:
            result.passed = True
        return result
    if case.errors is None:
        if found:
            result.passed = True
        else:
            hint = f" ({stopped[0].code}: {stopped[0].message})" if stopped else ""
            result.detail = f"expected at least one finding, got none{hint}"
        return result
    expected = sorted({parse_expected(e) for e in case.errors})
    if json_array:
        expected = sorted({(0, p) for _, p in expected})
    if found == expected:
        result.passed = True
    else:
        result.detail = f"expected findings at {_describe(expected)}, got {_describe(found)}"
        if mine:
            result.detail += f" (first message: {mine[0].message})"
        elif stopped:
            result.detail += f" (the record was not checked: {stopped[0].code} {stopped[0].message})"
    return result


def _run_fixture(classes: dict[str, Any], rs: Ruleset, spec: RuleSpec, fx: FixtureCase, label: str) -> CaseResult:
    line = rs.marks.at(fx.path)[0]
    result = CaseResult(rs.display, spec.code, spec.name, f"{label} {fx.file.name}", line, False)
    if not fx.file.is_file():
        result.detail = f"fixture file {fx.file} not found (paths are relative to the ruleset file)"
        return result
    try:
        mine, _ = _lint(classes, spec.code, [str(fx.file)])
    except UsageError as exc:
        result.detail = str(exc)
        return result
    crashes = [f for f in mine if f.code.startswith("FTX")]
    if crashes:
        result.detail = crashes[0].message
        return result
    expected = sorted(fx.expect, key=_position_key)
    with_col = [f"{f.location.line}:{f.location.column}" for f in mine]
    # Compare each expectation at the precision it was written in (LINE or LINE:COL).
    remaining = list(with_col)
    missing = []
    for e in expected:
        probe = e if ":" in e else None
        hit = next((a for a in remaining if (a == e if probe else a.split(":")[0] == e)), None)
        if hit is None:
            missing.append(e)
        else:
            remaining.remove(hit)
    if not missing and not remaining:
        result.passed = True
    else:
        result.detail = (f"expected findings at {', '.join(expected) or 'none'}, got "
                         f"{', '.join(sorted(with_col, key=_position_key)) or 'none'}")
    return result


def _position_key(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.split(":") if p.isdigit()]
    return (parts[0] if parts else 0, parts[1] if len(parts) > 1 else 0)
