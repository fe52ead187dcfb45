"""Replay every input the fuzz campaign (scripts/fuzz.py) found through the target that found it.

Files are named `<target>-<sha1 prefix>.<ext>`; the `.txt` beside each says what broke before the
fix. A target raises when an invariant breaks (an exception escapes, an FTX001 internal error,
a position outside the file or away from the value its pointer names).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INPUTS = sorted(p for p in (HERE / "inputs").glob("*-*.*") if not p.name.endswith(".txt"))


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("ftlint_fuzz", ROOT / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory):
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("replay"))  # display paths and project-config search as in the campaign
    try:
        yield _fuzz_module()
    finally:
        os.chdir(old)


def test_there_are_regression_inputs() -> None:
    assert INPUTS, "tests/regressions/inputs is empty"
    for p in INPUTS:
        assert p.with_suffix(p.suffix + ".txt").is_file(), f"{p.name}: no note of what it broke"


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_fuzz_regression(fuzz, path: Path) -> None:
    target = path.name.split("-", 1)[0]
    fuzz.run_one(target, path.read_bytes())
