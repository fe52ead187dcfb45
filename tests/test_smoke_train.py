"""Real training runs of the smoke on the tiny fixture models (CPU, bitsandbytes 4-bit). Slow."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, write_jsonl
from ftlint.configs.plan import DatasetSpec, TrainingPlan
from ftlint.smoke.runner import SmokeOptions, run_smoke

pytestmark = pytest.mark.slow
pytest.importorskip("trl")
pytest.importorskip("peft")

SMOKE = FIXTURES / "smoke"
MODELS = FIXTURES / "models"
ALPACA = str(SMOKE / "data" / "alpaca.jsonl")


def _plan(**kw) -> TrainingPlan:
    base = dict(dialect="axolotl", base_model=str(MODELS / "tiny-llama"), method="qlora", load_in_4bit=True,
                lora_r=8, lora_alpha=16, lora_target_modules=["all-linear"], sequence_len=256,
                micro_batch_size=2, learning_rate=2e-4, datasets=[DatasetSpec(path=ALPACA, format="alpaca")])
    base.update(kw)
    return TrainingPlan(**base)


def test_axolotl_qlora_fixture_trains_three_real_4bit_steps() -> None:
    result = run_cli("--smoke", str(SMOKE / "qlora.yml"), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "passed" and data["findings"] == []
    assert len(data["losses"]) == 3 and all(math.isfinite(x) for x in data["losses"]) and data["losses_finite"]
    assert data["quantization"].startswith("4-bit nf4, double quant, compute bfloat16")
    assert 0 < data["trainable_parameters"] < data["total_parameters"]
    assert "trainable of" in data["adapter"] and "q_proj" in data["adapter"]
    s = data["settings"]
    assert (s["sequence_len"], s["micro_batch_size"], s["optimizer"], s["precision"]) == (512, 2, "adamw_bnb_8bit", "bf16")
    assert s["gradient_checkpointing"] is True and s["chat_template"] == "chatml"
    assert s["loss_on"] == "assistant turns only"
    d = data["data"]
    assert d["examples_total"] == 52 and d["train_examples"] == 6 and d["eval_examples"] == 4
    assert d["row_kind"] == "messages"
    for step in data["steps"]:
        assert step["tokens"] > 0 and step["seconds"] > 0 and math.isfinite(step["grad_norm"])
    assert math.isfinite(data["eval_loss_before"]) and math.isfinite(data["eval_loss_after"])
    assert data["memory"]["kind"] == "cpu" and data["memory"]["peak_rss_bytes"] > 50e6
    assert data["device"] == "cpu" and "CPU" in data["device_note"]
    assert data["projection"]["total_steps"] == 26  # 52 examples / micro batch 2, one epoch


def test_lora_qwen2_fixture_trains_and_reports_text() -> None:
    result = run_cli("smoke", str(SMOKE / "lora-qwen2.yml"), "--steps", "2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "PASSED" in out and "quantization  none (float32 weights)" in out
    assert "LoRA r=4, alpha=8, dropout=0 on q_proj, v_proj" in out
    assert "losses finite: yes" in out


def test_longest_examples_train_first(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "Say it.", "output": "word " * n} for n in
                                              (3, 60, 10, 45, 5, 30, 8, 2)])
    rep = run_smoke(_plan(datasets=[DatasetSpec(path=str(data))], micro_batch_size=1), options=SmokeOptions(steps=2))
    assert rep.status == "passed", rep.findings
    assert rep.data["train_examples"] == 2 and rep.data["longest_tokens"] > rep.data["shortest_trained_tokens"]
    # the two trained examples are the 60- and 45-word answers: more tokens than any held-out one
    assert rep.steps[0].tokens > rep.steps[1].tokens > 50


def test_full_fine_tuning_on_text_data(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"text": "The tide comes in and goes out. " * k} for k in range(1, 8)])
    rep = run_smoke(_plan(method="full", load_in_4bit=False, lora_r=None, lora_alpha=None, lora_target_modules=None,
                          datasets=[DatasetSpec(path=str(data))]), options=SmokeOptions(steps=2, eval_examples=2))
    assert rep.status == "passed", rep.findings
    assert rep.trainable_parameters == rep.total_parameters and rep.adapter.startswith("full fine-tuning")
    assert rep.data["row_kind"] == "text" and rep.settings["loss_on"] == "all tokens"


def test_template_without_generation_markers_trains_prompt_completion() -> None:
    plain = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
             "{% endfor %}")
    rep = run_smoke(_plan(chat_template=plain, train_on_inputs=False), options=SmokeOptions(steps=1, eval_examples=0))
    assert rep.status == "passed", rep.findings
    assert rep.data["row_kind"] == "conversational_prompt_completion"
    assert any("generation" in n for n in rep.notes)


def test_nan_weights_give_a_non_finite_loss_finding(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    model = tmp_path / "nan-llama"
    shutil.copytree(MODELS / "tiny-llama", model)
    weights = load_file(model / "model.safetensors")
    weights["model.norm.weight"] = torch.full_like(weights["model.norm.weight"], float("nan"))
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    rep = run_smoke(_plan(base_model=str(model), method="lora", load_in_4bit=False),
                    options=SmokeOptions(steps=2, eval_examples=0))
    assert rep.status == "failed"
    assert "FTK003" in [f.code for f in rep.findings]
    assert rep.steps and not rep.losses_finite


def test_tokenizer_without_template_and_chat_data_is_a_finding(tmp_path: Path) -> None:
    model = tmp_path / "base-llama"
    shutil.copytree(MODELS / "tiny-llama", model)
    (model / "chat_template.jinja").unlink()
    rep = run_smoke(_plan(base_model=str(model)))
    assert [f.code for f in rep.findings] == ["FTK013"]


def test_bad_lora_target_is_a_training_failure() -> None:
    rep = run_smoke(_plan(lora_target_modules=["query_key_value"]), options=SmokeOptions(steps=1))
    assert [f.code for f in rep.findings] == ["FTK009"]
    assert "query_key_value" in rep.findings[0].message
