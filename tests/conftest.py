from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
CORPUS = Path(os.environ.get("FTLINT_CORPUS", ROOT.parent / "shared" / "corpus"))
SCHEMAS = Path(os.environ.get("FTLINT_SCHEMAS", ROOT.parent / "shared" / "schemas"))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


def run_cli(*args: str, cwd: Path | None = None):
    """Run the CLI in-process; returns click's Result (exit_code, output, stderr)."""
    from ftlint.cli import main

    runner = CliRunner()
    if cwd:
        old = os.getcwd()
        os.chdir(cwd)
    try:
        return runner.invoke(main, list(args), catch_exceptions=False)
    finally:
        if cwd:
            os.chdir(old)


def lint_json(*args: str, cwd: Path | None = None) -> list[dict]:
    """`ftlint check --format json ARGS` -> the findings."""
    result = run_cli("check", "--format", "json", *args, cwd=cwd)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def examples_of(path: Path) -> list:
    """The normalised examples of a dataset file, as the engine would hand them to the rules
    (records of no known format, and records missing a required field, left out)."""
    from ftlint.formats import detect_format, normalise
    from ftlint.records import Problem, reader_for

    out = []
    for item in reader_for(str(path))(str(path), path.name):
        if isinstance(item, Problem) or not isinstance(item.data, dict):
            continue
        fmt = detect_format(item.data)
        if fmt is None:
            continue
        example, defects = normalise(item, fmt)
        if not any(d.code == "FTP005" for d in defects):
            out.append(example)
    return out


def reachable(root: object):
    """Every object reachable from `root` through references (strings, bytes, ints and classes
    are not followed): for tests that a cache holds nothing it must not keep alive."""
    import gc

    seen, todo = set(), [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, type)):
            continue
        seen.add(id(obj))
        yield obj
        todo.extend(gc.get_referents(obj))
