"""Property tests (hypothesis) over the readers, the location mapping, every rule and the SARIF
writer. The invariants are the fuzz campaign's (scripts/fuzz.py), so the short runs here and the
long campaign check exactly the same things."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "tests" / "schemas"
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _load_fuzz():
    spec = importlib.util.spec_from_file_location("ftlint_fuzz_props", ROOT / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()

# ---------------------------------------------------------------------------------------------
# Strategies

KEYS = ["instruction", "input", "output", "messages", "role", "content", "conversations", "from", "value",
        "prompt", "completion", "chosen", "rejected", "label", "text", "tools", "tool_calls", "function",
        "name", "arguments", "system", "type", "parameters", "id", "tool_call_id", "weight"]
ROLES = ["system", "user", "assistant", "tool", "human", "gpt", "function_call", "observation", "developer"]

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
           | st.sampled_from(ROLES + ['{"a": 1}', "```json\n{}\n```", "AKIAIOSFODNN7EXAMPLE", "", " "]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5),
                           max_leaves=30)


@st.composite
def records(draw: Any) -> Any:
    """Records shaped like each dataset format, with any JSON value anywhere."""
    v = lambda: draw(json_values)  # noqa: E731
    turn = lambda: draw(st.fixed_dictionaries(  # noqa: E731
        {"role": st.sampled_from(ROLES) | json_values, "content": json_values},
        optional={"tool_calls": json_values, "name": json_values, "tool_call_id": json_values}))
    shape = draw(st.sampled_from(["alpaca", "openai", "sharegpt", "pc", "pref", "kto", "text", "any"]))
    if shape == "alpaca":
        return {"instruction": v(), "input": v(), "output": v()}
    if shape == "openai":
        rec = {"messages": draw(st.lists(st.builds(lambda: turn()), max_size=5)) if draw(st.booleans()) else v()}
        if draw(st.booleans()):
            rec["tools"] = v()
        return rec
    if shape == "sharegpt":
        return {"conversations": [{"from": draw(st.sampled_from(ROLES)), "value": v()}
                                  for _ in range(draw(st.integers(0, 4)))], "tools": v()}
    if shape == "pc":
        return {"prompt": v(), "completion": v()}
    if shape == "pref":
        return {"prompt": v(), "chosen": v(), "rejected": v()}
    if shape == "kto":
        return {"prompt": v(), "completion": v(), "label": v()}
    if shape == "text":
        return {"text": v()}
    return v()


def _dump(recs: list[Any], ext: str, indent: int | None, ascii_: bool, newline: str) -> bytes:
    if ext == ".jsonl":
        return "".join(json.dumps(r, ensure_ascii=ascii_) + newline for r in recs).encode()
    return json.dumps(recs, indent=indent, ensure_ascii=ascii_).replace("\n", newline).encode()


@pytest.fixture(autouse=True, scope="module")
def _in_tmp(tmp_path_factory: pytest.TempPathFactory):
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("props"))  # no project config of the checkout
    yield
    os.chdir(old)


# ---------------------------------------------------------------------------------------------
# Readers never raise; every position lies inside the file

@settings(max_examples=300, **SETTINGS)
@given(st.binary(max_size=600), st.integers(0, 2))
def test_readers_never_raise_on_arbitrary_bytes(blob: bytes, ext: int) -> None:
    fuzz.target_reader(bytes([ext]) + blob)


@settings(max_examples=150, **SETTINGS)
@given(st.lists(records(), max_size=5), st.sampled_from([".jsonl", ".json"]), st.data())
def test_readers_never_raise_on_damaged_json(recs: list, ext: str, data: Any) -> None:
    body = _dump(recs, ext, data.draw(st.sampled_from([None, 2])), data.draw(st.booleans()), "\n")
    cut = data.draw(st.integers(0, len(body)))
    body = body[:cut] + data.draw(st.binary(max_size=6)) + body[cut + data.draw(st.integers(0, 4)):]
    fuzz.target_reader(bytes([fuzz.EXTS.index(ext)]) + body)


# ---------------------------------------------------------------------------------------------
# Every rule, every JSON value: no exception escapes (FTX001 counts as one), and every finding
# points inside the file, at the value its pointer names

@settings(max_examples=200, **SETTINGS)
@given(st.lists(records(), min_size=1, max_size=6), st.sampled_from([".jsonl", ".json"]),
       st.sampled_from([None, 1, 2]), st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_rules_never_raise_and_locations_point_at_values(recs: list, ext: str, indent: int | None,
                                                          ascii_: bool, newline: str) -> None:
    fuzz.target_lint(bytes([fuzz.EXTS.index(ext)]) + _dump(recs, ext, indent, ascii_, newline))


def test_location_property_catches_a_wrong_position() -> None:
    """The invariant is not vacuous: a finding moved off its value is caught."""
    from ftlint.findings import Finding, Location, Severity
    from ftlint.records import Record, read_jsonl

    content = b'{"instruction": "a", "output": "bb"}\n'
    path = fuzz._write(content, ".jsonl")
    recs = [r for r in read_jsonl(str(path), str(path)) if isinstance(r, Record)]
    good = Finding("FTC001", "x", Severity.ERROR, "m", recs[0].locate("/output"))
    fuzz.check_value_at(content, ".jsonl", recs, good)
    bad = Finding("FTC001", "x", Severity.ERROR, "m", Location(str(path), 1, 3, 1, 8, "/output"))
    with pytest.raises(fuzz.FuzzFailure):
        fuzz.check_value_at(content, ".jsonl", recs, bad)
    with pytest.raises(fuzz.FuzzFailure):
        fuzz.check_position(["abc"], 1, 5, "x")


# ---------------------------------------------------------------------------------------------
# SARIF is always schema-valid

def _validators() -> list:
    import jsonschema

    out = []
    for name in ("sarif-schema-2.1.0.json", "github-codeql-action-sarif-schema-2.1.0.json"):
        schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        out.append((name, cls(schema, format_checker=cls.FORMAT_CHECKER)))
    return out


_SARIF_VALIDATORS: list = []


@settings(max_examples=40, **SETTINGS)
@given(st.lists(records(), min_size=1, max_size=5), st.sampled_from([".jsonl", ".json", ".csv"]),
       st.binary(max_size=40), st.text(max_size=20))
def test_sarif_always_validates(recs: list, ext: str, noise: bytes, category: str) -> None:
    from ftlint.output import get_formatter

    if not _SARIF_VALIDATORS:
        _SARIF_VALIDATORS.extend(_validators())
    if ext == ".csv":
        body = b"instruction,output\n" + noise + b"\n"
    else:
        body = _dump(recs, ext, None, False, "\n") + noise
    path = fuzz._write(body, ext)
    report = fuzz._linter().lint([str(path)])
    log = json.loads(get_formatter("sarif")(report, color=False, statistics=False, quiet=False,
                                            category=category or None))
    for name, validator in _SARIF_VALIDATORS:
        errors = list(validator.iter_errors(log))
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"
