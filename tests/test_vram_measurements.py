"""The estimator against every measured or published peak kept in src/ftlint/data/vram_measurements.json."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ftlint.configs.plan import TrainingPlan
from ftlint.models import resolve_arch
from ftlint.vram import estimate, find_gpu

DATA = json.loads(resources.files("ftlint").joinpath("data/vram_measurements.json").read_text(encoding="utf-8"))
ENTRIES = DATA["entries"]


def test_file_is_valid() -> None:
    assert DATA["schema"] == 1
    ids = [e["id"] for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert e["kind"] in ("measured", "published") and e["source"]
        assert e["compare"] in ("allocated", "reserved", "device_used")
        field = {"allocated": "max_memory_allocated", "reserved": "max_memory_reserved", "device_used": "device_used"}
        assert e["oom"] or e["measured"][field[e["compare"]]]
        if e["kind"] == "measured":  # our own runs must say what they ran on
            assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(e["stack"])
            assert e["tolerance"] <= 0.2


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_estimate_matches(entry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = TrainingPlan(base_model=entry["model"], **entry["plan"])
    est = estimate(plan, resolve_arch(entry["model"]), find_gpu(entry["gpu"]))
    if entry["oom"]:
        assert est.verdict == "oom"
        return
    assert est.verdict != "oom"
    if entry["compare"] == "allocated":
        predicted, measured = est.peak_bytes, entry["measured"]["max_memory_allocated"]
    elif entry["compare"] == "reserved":
        predicted, measured = est.required_bytes, entry["measured"]["max_memory_reserved"]
    else:
        predicted, measured = est.required_bytes, entry["measured"]["device_used"]
    assert abs(predicted - measured) / measured <= entry["tolerance"], (predicted, measured)
