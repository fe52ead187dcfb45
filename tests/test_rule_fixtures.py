"""Every rule has a failing and a passing fixture, and a complete doc.

fixtures/rules/<CODE>/bad.<ext>   -> at least one finding of CODE (exact LINE[:COL] from expected.txt)
fixtures/rules/<CODE>/good.<ext>  -> no finding of CODE
fixtures/rules/<CODE>/args.txt    -> extra CLI arguments, one per line (paths relative to the folder)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli
from ftlint.registry import builtin_rules
from ftlint.rule import DOC_SECTIONS

RULES = builtin_rules()
# Rules that `ftlint check` cannot trigger from a file; each is tested where named.
EXEMPT = {
    "FTX001": "needs a crashing rule: tests/test_engine.py::test_crashing_rule_is_a_finding",
    "FTG022": "needs a dataset outside the checkout: tests/test_engine.py::test_dataset_outside_project_is_named",
}
EXEMPT_PREFIXES = {
    "FTK": "smoke findings come from `ftlint smoke` runs: tests/test_smoke*.py",
}


def _exempt(code: str) -> bool:
    return code in EXEMPT or any(code.startswith(p) for p in EXEMPT_PREFIXES)


def _fixture(code: str, stem: str) -> Path:
    folder = FIXTURES / "rules" / code
    matches = sorted(p for p in folder.glob(f"{stem}*") if p.suffix != ".txt") if folder.is_dir() else []
    if not matches:
        pytest.fail(f"{code}: missing fixtures/rules/{code}/{stem}.<ext>")
    return matches[0]


def _args(code: str) -> list[str]:
    folder = FIXTURES / "rules" / code
    path = folder / "args.txt"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(str(folder / line) if (folder / line).exists() else line)
    return out


def _lint(code: str, target: Path) -> list[dict]:
    result = run_cli("check", "--format", "json", "--select", code, *_args(code), str(target))
    assert result.exit_code in (0, 1), f"{code}: exit {result.exit_code}: {result.output}"
    return [f for f in json.loads(result.stdout) if f["code"] == code]


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_doc_is_complete(code: str) -> None:
    cls = RULES[code]
    assert cls.name and cls.name == cls.name.lower() and " " not in cls.name
    for section in DOC_SECTIONS:
        assert cls.doc_section(section), f"{code} doc lacks a '## {section}' section"


@pytest.mark.parametrize("code", sorted(c for c in RULES if not _exempt(c)))
def test_bad_fixture_fires(code: str) -> None:
    bad = _fixture(code, "bad")
    findings = _lint(code, bad)
    assert findings, f"{code}: no finding on {bad.name}"
    expected = bad.parent / "expected.txt"
    if expected.is_file():
        want = [line.strip() for line in expected.read_text().splitlines() if line.strip() and not line.startswith("#")]
        got = [f"{f['line']}:{f['column']}" if ":" in w else str(f["line"]) for f, w in zip(findings, want)]
        assert got == want and len(findings) == len(want), f"{code}: positions {[(f['line'], f['column']) for f in findings]} != {want}"
    for f in findings:
        assert f["line"] >= 1 and f["column"] >= 1


@pytest.mark.parametrize("code", sorted(c for c in RULES if not _exempt(c)))
def test_good_fixture_is_clean(code: str) -> None:
    good = _fixture(code, "good")
    assert _lint(code, good) == []
