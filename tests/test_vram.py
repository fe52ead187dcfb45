"""VRAM estimator: each term against its closed form, directions of every knob, verdicts, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftlint.configs.plan import TrainingPlan
from ftlint.findings import UsageError
from ftlint.models import count_params, resolve_arch
from ftlint.vram import estimate, find_gpu, parse_memory
from ftlint.vram.estimator import NF4_BYTES, NF4_DQ_BYTES

from conftest import FIXTURES, run_cli

GiB = 1024 ** 3
FIELDS = ["model", "params", "trainable_params", "peak_bytes", "required_bytes", "breakdown", "low_bytes",
          "high_bytes", "gpu", "gpu_bytes", "verdict", "assumptions", "suggestions"]
TERMS = ["weights", "trainable_weights", "gradients", "optimizer_state", "activations", "logits_loss",
         "transients", "runtime_margin"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def plan(**kw) -> TrainingPlan:
    base = dict(dialect="axolotl", base_model="meta-llama/Meta-Llama-3-8B", method="qlora", load_in_4bit=True,
                double_quant=True, lora_r=16, lora_dropout=0.05, lora_target_modules=["all-linear"], sequence_len=2048,
                micro_batch_size=1, gradient_accumulation_steps=4, gradient_checkpointing=True, bf16=True,
                attn_implementation="flash_attention_2", optimizer="adamw_torch_fused")
    base.update(kw)
    return TrainingPlan(**base)


def est(p: TrainingPlan, gpu: str | None = "rtx-4090", **kw):
    return estimate(p, resolve_arch(p.base_model), find_gpu(gpu) if gpu else None, **kw)


# -- GPUs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,gid", [("RTX 4090", "rtx-4090"), ("rtx-4090", "rtx-4090"), ("A100 80GB", "a100-80gb"),
                                      ("a100-80gb", "a100-80gb"), ("NVIDIA H100", "h100-80gb"), ("h200", "h200"),
                                      ("V100 32GB", "v100-32gb"), ("l40s", "l40s"), ("A10G", "a10g"), ("T4", "t4"),
                                      ("RTX A6000", "rtx-a6000"), ("rtx 5090", "rtx-5090"), ("L4", "l4"),
                                      ("rtx-3090", "rtx-3090"), ("a100-40gb", "a100-40gb"), ("v100-16gb", "v100-16gb")])
def test_gpu_spellings(name: str, gid: str) -> None:
    assert find_gpu(name).id == gid


def test_unknown_gpu_and_memory_parsing() -> None:
    with pytest.raises(UsageError, match="unknown GPU"):
        find_gpu("voodoo-5")
    assert parse_memory("24GiB") == 24 * GiB == parse_memory("24 GB") == parse_memory("24")
    assert parse_memory("24576MiB") == 24 * GiB
    with pytest.raises(UsageError):
        parse_memory("lots")


# -- terms --------------------------------------------------------------------------------------
def test_qlora_weights_and_adapters_closed_form() -> None:
    e = est(plan())
    pc = count_params(resolve_arch("meta-llama/Meta-Llama-3-8B"))
    # NF4 with double quant for linear weights; Axolotl casts the rest (embeddings, lm_head, norms)
    # back to bf16 after prepare_model_for_kbit_training for (Q)LoRA
    assert e.breakdown["weights"] == round(pc.linear * NF4_DQ_BYTES + pc.not_quantized * 2)
    assert e.trainable_params == 41_943_040  # r=16 on all seven projections of Llama-3-8B
    assert e.breakdown["trainable_weights"] == e.breakdown["gradients"] == 4 * e.trainable_params
    assert e.breakdown["optimizer_state"] == 8 * e.trainable_params
    no_dq = est(plan(double_quant=False))
    assert no_dq.breakdown["weights"] - e.breakdown["weights"] == round(pc.linear * (NF4_BYTES - NF4_DQ_BYTES), -1) or \
        abs(no_dq.breakdown["weights"] - e.breakdown["weights"] - pc.linear * (NF4_BYTES - NF4_DQ_BYTES)) < 2
    # LLaMA-Factory does not upcast either; AutoTrain keeps PEFT's fp32 upcast (4.2 GB for 8B's embeddings)
    lf = est(plan(dialect="llamafactory"))
    assert e.breakdown["weights"] == lf.breakdown["weights"]
    at = est(plan(dialect="autotrain"))
    assert at.breakdown["weights"] - e.breakdown["weights"] == pc.not_quantized * 2
    # ... and with fp32 norms/embeddings the residual stream is fp32: checkpointed layer inputs double
    assert at.breakdown["activations"] > e.breakdown["activations"]
    # TRL 1.x casts the adapters of a quantised model to bf16: 2 B weight, 2 B grad, AdamW 2 x 2 B
    trl = est(plan(dialect="trl"))
    assert trl.breakdown["trainable_weights"] == trl.breakdown["gradients"] == 2 * trl.trainable_params
    assert trl.breakdown["optimizer_state"] == 4 * trl.trainable_params


def test_logits_term_scales_with_vocabulary_and_tokens() -> None:
    e1 = est(plan(sequence_len=1024))
    e2 = est(plan(sequence_len=2048))
    assert e2.breakdown["logits_loss"] == 2 * e1.breakdown["logits_loss"]
    assert e1.breakdown["logits_loss"] == 1024 * 128256 * 12
    assert est(plan(liger_kernel=True)).breakdown["logits_loss"] < e1.breakdown["logits_loss"] / 10


@pytest.mark.parametrize("change,smaller", [
    ({"gradient_checkpointing": True}, True), ({"micro_batch_size": 1}, True), ({"sequence_len": 1024}, True),
    ({"liger_kernel": True}, True), ({"optimizer": "paged_adamw_8bit"}, True), ({"lora_dropout": 0.0}, True),
    ({"attn_implementation": "eager"}, False), ({"lora_r": 64}, False),
])
def test_every_knob_moves_the_peak_the_right_way(change: dict, smaller: bool) -> None:
    base = plan(gradient_checkpointing=False, micro_batch_size=2, method="lora", load_in_4bit=False)
    a, b = est(base), est(base.model_copy(update=change))
    assert (b.peak_bytes < a.peak_bytes) == smaller, change


def test_quantisation_order_and_full_finetuning() -> None:
    q = est(plan())
    l8 = est(plan(method="lora", load_in_4bit=False, load_in_8bit=True))
    lora = est(plan(method="lora", load_in_4bit=False))
    full = est(plan(method="full", load_in_4bit=False, lora_target_modules=None, lora_r=None))
    assert q.peak_bytes < l8.peak_bytes < lora.peak_bytes < full.peak_bytes
    assert full.trainable_params == full.params == 8_030_261_248
    # pure bf16 full fine-tuning: 2 (weights) + 2 (grads) + 4 (AdamW in bf16) bytes per parameter
    assert full.breakdown["trainable_weights"] == 2 * full.params
    lf = est(plan(dialect="llamafactory", method="full", load_in_4bit=False, lora_target_modules=None))
    assert lf.breakdown["optimizer_state"] == 8 * lf.params


def test_zero_and_fsdp_shard_the_state_not_the_activations() -> None:
    full = plan(method="full", load_in_4bit=False, deepspeed="ds.json")
    one = est(full.model_copy(update={"zero_stage": 1}), "h100-80gb", num_gpus=8)
    two = est(full.model_copy(update={"zero_stage": 2}), "h100-80gb", num_gpus=8)
    three = est(full.model_copy(update={"zero_stage": 3}), "h100-80gb", num_gpus=8)
    single = est(full.model_copy(update={"zero_stage": 3}), "h100-80gb", num_gpus=1)
    assert three.peak_bytes < two.peak_bytes < one.peak_bytes
    assert three.breakdown["optimizer_state"] * 8 == pytest.approx(single.breakdown["optimizer_state"], rel=1e-6)
    assert single.peak_bytes > 80 * GiB and three.verdict == "fits"


def test_moe_counts_all_experts_as_weights() -> None:
    p = plan(base_model="mistralai/Mixtral-8x7B-v0.1")
    e = est(p, "h100-80gb")
    assert e.params == 46_702_792_704
    assert any("MoE" in a for a in e.assumptions)
    assert e.verdict == "oom"  # transformers 5 keeps fused experts unquantised (bf16)


def test_data_lengths_replace_the_worst_case() -> None:
    p = plan(sequence_len=4096)
    worst = est(p)
    real = est(p, lengths=[300, 512, 900, 120])
    assert real.sequence["padded_length"] == 900 and real.peak_bytes < worst.peak_bytes
    assert est(p.model_copy(update={"packing": True}), lengths=[300]).sequence["padded_length"] == 4096


def test_bands_and_verdicts() -> None:
    e = est(plan())
    assert e.low_bytes < e.required_bytes < e.high_bytes and e.peak_bytes < e.required_bytes
    assert sum(v for k, v in e.breakdown.items() if k != "runtime_margin") == e.peak_bytes
    assert e.breakdown["runtime_margin"] == e.required_bytes - e.peak_bytes
    assert e.verdict == "fits"
    assert est(plan(), "t4").verdict == "fits"  # 8B QLoRA at 1 x 2048: ~10.5 GiB
    assert est(plan(dialect="autotrain"), "t4").verdict in ("tight", "oom")  # + fp32 embeddings and residual
    assert est(plan(method="lora", load_in_4bit=False, gradient_checkpointing=False, micro_batch_size=4,
                    sequence_len=4096)).verdict == "oom"
    assert est(plan(), None).verdict is None


def test_suggestions_report_their_savings() -> None:
    e = est(plan(method="lora", load_in_4bit=False, gradient_checkpointing=False, micro_batch_size=4))
    changes = {s.change.split(" (")[0].split(":")[0]: s for s in e.suggestions}
    assert any(c.startswith("enable gradient checkpointing") for c in changes)
    assert any(c.startswith("QLoRA") for c in changes)
    for s in e.suggestions:
        assert s.saves_bytes > 0 and s.required_bytes == e.required_bytes - s.saves_bytes


def test_well_known_verdicts() -> None:
    # full fine-tuning of a 7B with fp32 trainables + AdamW (16 B/param) cannot fit one 80 GB card
    lf_full = plan(dialect="llamafactory", base_model="meta-llama/Llama-2-7b-hf", method="full", load_in_4bit=False,
                   lora_target_modules=None, sequence_len=512)
    assert est(lf_full, "a100-80gb").verdict == "oom"
    # ...and 8B QLoRA at 2048 tokens, micro batch 1, checkpointing fits a 24 GB card (the common recipe)
    assert est(plan(), "rtx-3090").verdict == "fits"
    assert est(plan(base_model="meta-llama/Llama-2-13b-hf"), "rtx-4090").verdict == "fits"
    # 70B QLoRA does not fit 24 GB, fits 80 GB at 2048 x 1 with checkpointing
    big = plan(base_model="meta-llama/Llama-3.1-70B")
    assert est(big, "rtx-4090").verdict == "oom"
    assert est(big, "a100-80gb").verdict in ("fits", "tight")


def test_time_and_cost_sanity_anchor() -> None:
    # a 7B QLoRA run of typical size: ~10k examples of ~700 tokens, 3 epochs, on an A100
    p = plan(base_model="mistralai/Mistral-7B-v0.1", num_epochs=3)
    t = est(p, "a100-80gb", tokens_per_epoch=7_000_000).time
    assert 0.5 <= t["gpu_hours"] <= 4 and 1 <= t["cost_usd"] <= 10
    assert t["flops_per_token"] > 6 * 7e9  # fwd + bwd + recompute over 7B params
    cheaper = est(p, "a100-80gb", tokens_per_epoch=7_000_000, price_per_hour=1.0).time
    assert cheaper["cost_usd"] == pytest.approx(cheaper["gpu_hours"], rel=0.01)
    assert est(p, "a100-80gb").time["hours"] is None  # no token count: no made-up time


def test_json_fields_exactly_as_the_issue_lists() -> None:
    d = est(plan()).as_dict()
    for f in FIELDS:
        assert f in d
    assert list(d["breakdown"]) == TERMS
    json.dumps(d)


def test_no_torch_on_the_estimator_path() -> None:
    code = ("import sys; from ftlint.configs.plan import TrainingPlan; from ftlint.models import resolve_arch; "
            "from ftlint.vram import estimate, find_gpu; import ftlint.vram.command, ftlint.rules.vram; "
            "p = TrainingPlan(dialect='trl', base_model='Qwen/Qwen2.5-7B', method='qlora', load_in_4bit=True); "
            "estimate(p, resolve_arch(p.base_model), find_gpu('l4')); "
            "bad = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"})


# -- CLI ------------------------------------------------------------------------------------------
BAD = FIXTURES / "rules" / "FTV001" / "bad.yaml"
GOOD = FIXTURES / "rules" / "FTV001" / "good.yaml"


def test_cli_json_and_exit_codes() -> None:
    r = run_cli("estimate", str(GOOD), "--gpu", "RTX 4090", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["verdict"] == "fits" and d["gpu"] == "rtx-4090" and d["model"] == "meta-llama/Meta-Llama-3-8B"
    r = run_cli("estimate", str(BAD), "--gpu-memory", "80GiB", "--format", "json")
    assert r.exit_code == 1 and json.loads(r.stdout)["verdict"] == "oom"
    text = run_cli("estimate", str(BAD), "--gpu", "a100-80gb").stdout
    assert "OUT OF MEMORY" in text and "enable gradient checkpointing" in text and "activations" in text


@pytest.mark.parametrize("args,msg", [
    (["--gpu", "voodoo"], "unknown GPU"), (["--gpu", "l4", "--gpu-memory", "24GiB"], "either --gpu"),
    (["--gpu-memory", "lots"], "cannot read GPU memory"), (["--model", "acme/nothing"], "not found"),
])
def test_cli_usage_errors_are_one_line(args: list[str], msg: str) -> None:
    r = run_cli("estimate", str(GOOD), *args)
    assert r.exit_code == 2 and msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_missing_config(tmp_path: Path) -> None:
    r = run_cli("estimate", str(tmp_path / "nope.yml"))
    assert r.exit_code == 2 and "nope.yml" in r.stderr


def test_gpus_override_splits_state(tmp_path: Path) -> None:
    one = json.loads(run_cli("estimate", str(GOOD), "--format", "json").stdout)
    assert one["gpu"] is None and one["verdict"] is None and one["gpu_bytes"] is None


def test_ftv001_finds_a_model_folder_next_to_the_config(tmp_path: Path) -> None:
    # FTV001 resolves the model as the FTG rules do: offline, and next to the config when the
    # relative folder is not under the working directory.
    proj = tmp_path / "proj"
    (proj / "model").mkdir(parents=True)
    (proj / "model" / "config.json").write_text((FIXTURES / "models" / "tiny-llama" / "config.json").read_text())
    (proj / "train.yml").write_text("base_model: ./model\nadapter: lora\nsequence_len: 32768\n"
                                    "micro_batch_size: 512\ndatasets:\n  - path: x/y\n    type: alpaca\n")
    r = run_cli("check", "proj/train.yml", "--select", "FTV001", "--gpu", "t4", "--format", "json", cwd=tmp_path)
    found = json.loads(r.stdout)
    assert [f["code"] for f in found] == ["FTV001"] and "Out of memory on t4" in found[0]["message"]
    assert found[0]["line"] == 4  # at micro_batch_size
    r = run_cli("estimate", "proj/train.yml", "--gpu", "t4", cwd=tmp_path)  # and so does `ftlint estimate`
    assert r.exit_code == 1 and "OUT OF MEMORY" in r.stdout
