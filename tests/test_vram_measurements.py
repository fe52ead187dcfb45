"""The estimator against every measured or published peak kept in src/ftlint/data/vram_measurements.json."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ftlint.configs.plan import TrainingPlan
from ftlint.models import resolve_arch
from ftlint.vram import custom_gpu, estimate, find_gpu
from ftlint.vram.estimator import STACK_KEYS

DATA = json.loads(resources.files("ftlint").joinpath("data/vram_measurements.json").read_text(encoding="utf-8"))
ENTRIES = DATA["entries"]
FIELD = {"allocated": "max_memory_allocated", "reserved": "max_memory_reserved", "device_used": "device_used",
         "max_fit": "device_limit"}


def test_file_is_valid() -> None:
    assert DATA["schema"] == 1
    ids = [e["id"] for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert e["kind"] in ("measured", "published") and e["source"]
        assert e["compare"] in FIELD
        assert ("gpu" in e) != ("gpu_memory" in e)
        assert e["oom"] or e["measured"][FIELD[e["compare"]]]
        for key, value in e.get("stack_overrides", {}).items():
            assert value in STACK_KEYS[key], (e["id"], key)
        if e["kind"] == "measured":  # our own runs must say what they ran on, and need no overrides
            assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(e["stack"])
            assert e["tolerance"] <= 0.2 and not e.get("stack_overrides")
        assert e["tolerance"] <= 0.2  # the bar for published measurements too


def _estimate(entry: dict):
    plan = TrainingPlan(base_model=entry["model"], **entry["plan"])
    gpu = find_gpu(entry["gpu"]) if "gpu" in entry else custom_gpu(entry["gpu_memory"])
    return estimate(plan, resolve_arch(entry["model"]), gpu, suggestions=False, stack=entry.get("stack_overrides"))


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_estimate_matches(entry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    est = _estimate(entry)
    if entry["oom"]:
        assert est.verdict == "oom"
        return
    assert est.verdict != "oom"
    measured = entry["measured"][FIELD[entry["compare"]]]
    predicted = est.peak_bytes if entry["compare"] == "allocated" else est.required_bytes
    assert abs(predicted - measured) / measured <= entry["tolerance"], (predicted, measured)


def test_overrides_change_what_they_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = next(e for e in ENTRIES if e["id"].startswith("starcoder"))
    plain = dict(entry, stack_overrides={})
    with_overrides, without = _estimate(entry), _estimate(plain)
    # fp32 norms on the 4-bit path: fp32 residual stream, so the checkpointed layer inputs double
    assert with_overrides.breakdown["activations"] > without.breakdown["activations"]
    # TRL 1.x casts the adapters of a quantised model to bf16 (2 B, AdamW moments 2 x 2 B); fp32 is 4 B + 8 B
    n = without.trainable_params
    assert without.breakdown["trainable_weights"] == 2 * n and without.breakdown["optimizer_state"] == 4 * n
    fp32 = _estimate(dict(entry, stack_overrides={"adapter_dtype": "float32"}))
    assert fp32.breakdown["trainable_weights"] == 4 * n and fp32.breakdown["optimizer_state"] == 8 * n
    with pytest.raises(ValueError, match="unknown stack setting"):
        estimate(TrainingPlan(base_model=entry["model"], **entry["plan"]), resolve_arch(entry["model"]),
                 stack={"adapter_dtype": "int4"})
