"""Fast tests of the smoke: no training. Real training runs are in test_smoke_train.py (slow)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_cli, write_jsonl
from ftlint.configs.plan import DatasetSpec, TrainingPlan
from ftlint.findings import Severity
from ftlint.smoke.data import load_pool, pick, remap
from ftlint.smoke.report import ConfigLocator, SmokeReport, StepStats, render
from ftlint.smoke.runner import SmokeOptions, run_smoke

SMOKE = FIXTURES / "smoke"
MODELS = FIXTURES / "models"


def _plan(**kw) -> TrainingPlan:
    base = dict(dialect="axolotl", base_model=str(MODELS / "tiny-llama"), method="qlora", load_in_4bit=True,
                sequence_len=256, micro_batch_size=2, learning_rate=2e-4,
                datasets=[DatasetSpec(path=str(SMOKE / "data" / "alpaca.jsonl"), format="alpaca")])
    base.update(kw)
    return TrainingPlan(**base)


def _codes(report: SmokeReport) -> list[str]:
    return [f.code for f in report.findings]


def test_cli_and_smoke_command_do_not_import_the_training_stack() -> None:
    code = ("import sys, ftlint.cli, ftlint.smoke.command, ftlint.rules.smoke; "
            "print([m for m in ('torch', 'transformers', 'peft', 'trl', 'datasets', 'bitsandbytes') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_fixture_models_are_small_and_complete() -> None:
    for name, model_type in (("tiny-llama", "llama"), ("tiny-qwen2", "qwen2")):
        folder = MODELS / name
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert size < 1024 * 1024, f"{name} is {size} bytes"
        cfg = json.loads((folder / "config.json").read_text())
        assert cfg["model_type"] == model_type
        template = (folder / "chat_template.jinja").read_text()
        assert "generation" in template and "<|im_start|>" in template
        tok = json.loads((folder / "tokenizer.json").read_text())
        assert tok["model"]["type"] == "BPE" and len(tok["model"]["vocab"]) + len(tok["added_tokens"]) >= 700


def test_pool_converts_alpaca_and_sharegpt_to_messages() -> None:
    plan = _plan(datasets=[DatasetSpec(path=str(SMOKE / "data" / "alpaca.jsonl"), format="alpaca"),
                           DatasetSpec(path=str(SMOKE / "data" / "sharegpt.jsonl"), format="sharegpt")])
    pool = load_pool(plan, None, max_examples=1000)
    assert pool.kind == "messages"
    assert len(pool.train) == 36 + 16 and pool.total_train_records == 52
    first = pool.train[0].data["messages"]
    assert [m["role"] for m in first] == ["user", "assistant"]
    roles = {m["role"] for r in pool.train for m in r.data["messages"]}
    assert roles == {"system", "user", "assistant"}  # sharegpt human/gpt became user/assistant


def test_pool_reads_at_most_max_examples_but_counts_all(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": f"q{i}", "output": "a" * i} for i in range(1, 51)])
    pool = load_pool(_plan(datasets=[DatasetSpec(path=str(data))]), None, max_examples=10)
    assert len(pool.train) == 10 and pool.total_train_records == 50


def test_pick_takes_the_longest_first_and_holds_others_out(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "q", "output": "x" * n} for n in (5, 50, 20, 40, 10, 30)])
    pool = load_pool(_plan(datasets=[DatasetSpec(path=str(data))]), None, max_examples=100)
    train, held = pick(pool.train, 2, 2, [])
    assert [len(r.data["messages"][1]["content"]) for r in train] == [50, 40]
    assert held and not set(map(id, held)) & set(map(id, train))


def test_pool_uses_the_eval_split_for_held_out_examples(tmp_path: Path) -> None:
    tr = write_jsonl(tmp_path / "train.jsonl", [{"text": "t" * n} for n in range(1, 9)])
    ev = write_jsonl(tmp_path / "eval.jsonl", [{"text": "eval"}])
    pool = load_pool(_plan(datasets=[DatasetSpec(path=str(tr)), DatasetSpec(path=str(ev), split="eval")]), None, 100)
    train, held = pick(pool.train, 2, 4, pool.eval)
    assert pool.kind == "text" and [r.data["text"] for r in held] == ["eval"]


def test_remap_custom_columns() -> None:
    out = remap({"dialog": [{"speaker": "user", "text": "hi"}]}, {"messages": "dialog", "role": "speaker",
                                                                   "content": "text"}, "openai")
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert remap({"q": "a", "a": "b"}, {"prompt": "q", "response": "a"}, "alpaca")["output"] == "b"


def test_missing_model_is_a_finding_naming_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    rep = run_smoke(_plan(base_model="no-such-org/no-such-model"))
    assert rep.status == "failed" and _codes(rep) == ["FTK001"]
    msg = rep.findings[0].message
    assert "no-such-org/no-such-model" in msg and str(tmp_path / "hub") in msg and "never downloads" in msg


def test_missing_model_finding_points_at_the_config_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = tmp_path / "train.yml"
    cfg.write_text("# a comment\nadapter: qlora\nbase_model: no-such-org/no-such-model\n")
    rep = run_smoke(_plan(base_model="no-such-org/no-such-model"), config_path=str(cfg), display="train.yml")
    loc = rep.findings[0].location
    assert (loc.path, loc.line, loc.column) == ("train.yml", 3, 1)


def test_hub_dataset_is_no_training_data() -> None:
    rep = run_smoke(_plan(datasets=[DatasetSpec(path="tatsu-lab/alpaca", format="alpaca")]))
    assert _codes(rep) == ["FTK008"] and "tatsu-lab/alpaca" in rep.findings[0].message


def test_missing_stack_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import ftlint.smoke.runner as runner

    real = importlib.util.find_spec
    monkeypatch.setattr(runner.importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a))
    rep = run_smoke(_plan())
    assert _codes(rep) == ["FTK011"] and "trl" in rep.findings[0].message


def test_remote_code_is_refused_without_the_flag(tmp_path: Path) -> None:
    model = tmp_path / "custom-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "model_type": "my_custom_arch", "auto_map": {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}}))
    rep = run_smoke(_plan(base_model=str(model), trust_remote_code=True))
    assert _codes(rep) == ["FTK006"]
    msg = rep.findings[0].message
    assert str(model) in msg and "modeling_custom.CustomForCausalLM" in msg and "--trust-remote-code" in msg


def test_cuda_required_without_cuda() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rep = run_smoke(_plan(), options=SmokeOptions(device="cuda"))
    assert _codes(rep) == ["FTK005"] and rep.status == "failed"


def test_report_json_writes_non_finite_losses_as_strings() -> None:
    rep = SmokeReport(config="c.yml", steps=[StepStats(1, loss=2.0), StepStats(2, loss=float("nan"))]).finish()
    data = json.loads(render(rep, "json"))
    assert data["losses"] == [2.0, "nan"] and data["losses_finite"] is False and data["status"] == "failed"
    text = render(rep, "text")
    assert "FAILED" in text and "losses finite: NO" in text


def test_sarif_carries_smoke_findings() -> None:
    from ftlint.rules.smoke import SmokeOutOfMemory

    loc = ConfigLocator(None, "train.yml").at("base_model")
    rep = SmokeReport(config="train.yml")
    rep.findings.append(SmokeOutOfMemory().finding_at(loc, "Out of memory.", key="x"))
    log = json.loads(render(rep.finish(), "sarif"))
    run = log["runs"][0]
    assert run["results"][0]["ruleId"] == "FTK002"
    assert any(r["id"] == "FTK002" for r in run["tool"]["driver"]["rules"])


def test_smoke_rules_are_documented() -> None:
    from ftlint.registry import builtin_rules

    codes = sorted(c for c in builtin_rules() if c.startswith("FTK"))
    assert codes[:3] == ["FTK001", "FTK002", "FTK003"] and len(codes) >= 13
    for code in codes:
        cls = builtin_rules()[code]
        assert cls.scope == "smoke" and cls.doc_section("How to fix")
    assert builtin_rules()["FTK004"].severity == Severity.WARNING


@pytest.mark.parametrize("args", [["smoke", "does-not-exist.yml"], ["--smoke", "does-not-exist.yml", "--format", "json"]])
def test_cli_unusable_input_is_exit_2_without_traceback(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    assert "does-not-exist.yml" in result.stderr and "Traceback" not in result.output


def test_cli_not_a_training_config_is_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "x.yml"
    cfg.write_text("- just\n- a list\n")
    result = run_cli("smoke", str(cfg))
    assert result.exit_code == 2 and "x.yml" in result.stderr and "Traceback" not in result.output


def test_cli_missing_model_is_exit_1_with_a_json_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = tmp_path / "train.yml"
    cfg.write_text((SMOKE / "qlora.yml").read_text().replace("../models/tiny-llama", "no-such-org/no-such-model")
                   .replace("path: data/", f"path: {SMOKE / 'data'}/"))
    result = run_cli("--smoke", str(cfg), "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "failed" and [f["code"] for f in data["findings"]] == ["FTK001"]
    assert data["findings"][0]["line"] == 4  # `base_model:` after the three comment lines


def test_projection_duration_format() -> None:
    from ftlint.smoke.runner import _duration

    assert _duration(42) == "42s" and _duration(125) == "2m 5s" and _duration(3 * 3600 + 60) == "3h 1m"
    assert _duration(90000).startswith("1d")
    assert math.isfinite(0.0)


def _gpu_check_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_entries_fit_the_measurements_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gpu_check = _gpu_check_module()
    cfg = tmp_path / "run.yml"
    gpu_check.write_config(cfg, tmp_path / "model", tmp_path / "d.jsonl", "qlora", 2048, 2, True)
    plan = TrainingPlan(dialect="axolotl", base_model="x", method="qlora", load_in_4bit=True, sequence_len=2048,
                        micro_batch_size=2, gradient_checkpointing=True, bf16=True, lora_r=16)
    report = {"status": "passed", "losses": [11.9, 11.8, 11.7], "steps": [{"seconds": 1.0, "tokens_per_s": 4000}],
              "memory": {"kind": "cuda", "max_allocated_bytes": 7_000_000_000, "max_reserved_bytes": 7_500_000_000,
                         "device_used_bytes": 8_000_000_000},
              "prediction": {"predicted_bytes": 7_200_000_000, "error_pct": 2.9},
              "versions": {"torch": "2.11", "transformers": "5.17", "peft": "0.18", "bitsandbytes": "0.50.2"},
              "findings": []}
    monkeypatch.setattr(gpu_check, "_cuda_version", lambda: "13.0")
    entry = gpu_check.entry_for(("llama3-8b", "qlora", 2048, 2, True), report, plan, "NVIDIA H200", "cuda", 30.0)
    assert entry["id"] == "smoke-h200-llama3-8b-qlora-s2048-b2-gc" and entry["kind"] == "measured"
    assert entry["model"] == "meta-llama/Meta-Llama-3-8B" and entry["gpu"] == "h200"
    assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(entry["stack"])
    TrainingPlan(base_model=entry["model"], **entry["plan"])  # what tests/test_vram_measurements.py does
    assert entry["measured"]["max_memory_allocated"] == 7_000_000_000 and entry["tolerance"] <= 0.2
    # merging adds the entry to a copy of the data file, replacing an older one with the same id
    data = tmp_path / "vram_measurements.json"
    data.write_text(json.dumps({"schema": 1, "entries": [{"id": entry["id"], "kind": "measured", "old": True}]}))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"schema": 1, "entries": [entry]}))
    monkeypatch.setattr(gpu_check, "DATA_FILE", data)
    gpu_check.merge(results)
    merged = json.loads(data.read_text())["entries"]
    assert len(merged) == 1 and "old" not in merged[0]


def test_cuda_memory_is_reported_beside_the_estimate_with_its_error() -> None:
    """The CUDA half of the report without a GPU: the three CUDA figures are read, the measured
    peak is put beside the estimator's prediction with the error, and an error beyond the
    tolerance is a finding (FTK012) at the config's base model."""
    from types import SimpleNamespace

    from ftlint.smoke.runner import _compare_with_estimate, _memory

    fake_cuda = SimpleNamespace(mem_get_info=lambda: (30 * 2**30, 141 * 2**30),
                                max_memory_allocated=lambda: 7_000_000_000,
                                max_memory_reserved=lambda: 7_600_000_000)
    torch = SimpleNamespace(cuda=fake_cuda)
    loc = ConfigLocator(None, "train.yml")

    close = SmokeReport(config="train.yml", prediction={"predicted_bytes": 7_500_000_000})
    _memory(close, "cuda", torch)
    assert close.memory == {"kind": "cuda", "max_allocated_bytes": 7_000_000_000,
                            "max_reserved_bytes": 7_600_000_000, "device_used_bytes": 111 * 2**30,
                            "device_total_bytes": 141 * 2**30}
    _compare_with_estimate(close, loc, "cuda")
    assert close.prediction["measured_bytes"] == 7_000_000_000
    assert close.prediction["error_pct"] == 7.1
    assert not close.findings

    far = SmokeReport(config="train.yml", prediction={"predicted_bytes": 4_000_000_000})
    _memory(far, "cuda", torch)
    _compare_with_estimate(far, loc, "cuda")
    assert far.prediction["error_pct"] == -42.9
    assert [f.code for f in far.findings] == ["FTK012"]

    cpu = SmokeReport(config="train.yml", prediction={"predicted_bytes": 4_000_000_000})
    _memory(cpu, "cpu", torch)
    _compare_with_estimate(cpu, loc, "cpu")  # RSS is not comparable with a GPU peak
    assert cpu.memory["kind"] == "cpu" and "measured_bytes" not in cpu.prediction
