"""Training configs: dialect detection, normalisation into the TrainingPlan, key locations,
hostile YAML, dataset resolution, and planted mistakes flagged at the key's line."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import FIXTURES, lint_json, run_cli, write_jsonl
from ftlint.configs import load_config, looks_like_training_config, read_plan
from ftlint.configs.dialects import detect_dialect
from ftlint.settings import Settings

CONFIGS = FIXTURES / "configs"
NOT_TRAINING = {"cloud/baseten.yaml", "cloud/modal.yaml", "multi_tokens/tokens_cfg.yaml"}


def _alpaca(n: int) -> list[dict]:
    return [{"instruction": f"Add {i} and {i}.", "input": "", "output": f"The sum is {2 * i}."} for i in range(n)]


def _chat(n: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                          {"role": "assistant", "content": f"It is {i + 1}."}]} for i in range(n)]


def _planted(text: str) -> set[tuple[str, int]]:
    """`# expect: FTG003 FTG004` comments -> {(code, line)}."""
    out: set[tuple[str, int]] = set()
    for n, line in enumerate(text.splitlines(), 1):
        m = re.search(r"#\s*expect:\s*(.+)$", line)
        if m:
            out.update((code, n) for code in m.group(1).split())
    return out


def _ftg(findings: list[dict]) -> set[tuple[str, int]]:
    return {(f["code"], f["line"]) for f in findings if f["code"].startswith("FTG")}


# --- the shared corpus ---------------------------------------------------------------------------
def _corpus_configs(corpus: Path) -> list[Path]:
    return sorted(p for d in ("axolotl/examples", "llamafactory/examples")
                  for p in (corpus / d).rglob("*") if p.suffix in (".yaml", ".yml"))


def test_every_corpus_config_parses_with_its_dialect(corpus: Path) -> None:
    configs = _corpus_configs(corpus)
    assert len(configs) > 250
    counts: Counter = Counter()
    for path in configs:
        rel = path.relative_to(corpus).as_posix()
        doc = load_config(str(path), rel, Settings())
        short = "/".join(rel.split("/")[-2:])
        if short in NOT_TRAINING:
            assert doc.dialect is None and doc.plan is None, rel
            assert not looks_like_training_config(str(path)), rel
            assert [f.code for f in doc.findings] == ["FTG021"], rel
            continue
        want = "axolotl" if rel.startswith("axolotl/") else "llamafactory"
        assert doc.dialect == want, f"{rel}: detected {doc.dialect} ({doc.scores})"
        assert doc.plan is not None and doc.plan.dialect == want
        assert doc.plan.base_model, rel
        assert looks_like_training_config(str(path)), rel
        # every recorded source is a key that exists in the file
        for field, pointer in doc.plan.sources.items():
            assert doc.has(pointer), f"{rel}: {field} -> {pointer}"
        counts[doc.dialect] += 1
    assert counts["axolotl"] == 250 and counts["llamafactory"] == 41, counts


def test_corpus_lints_without_internal_errors(corpus: Path) -> None:
    findings = lint_json(str(corpus / "axolotl" / "examples"), str(corpus / "llamafactory" / "examples"))
    assert not [f for f in findings if f["code"].startswith("FTX")]
    codes = Counter(f["code"] for f in findings)
    assert codes["FTG010"] > 0 and codes["FTG015"] > 0
    # LLaMA-Factory configs resolve their dataset names through data/dataset_info.json, and the
    # datasets are linted with the config: findings point into the data files.
    assert any("llamafactory/data/" in f["path"] for f in findings)


def test_corpus_llamafactory_names_resolve(corpus: Path) -> None:
    path = corpus / "llamafactory/examples/train_lora/qwen3_lora_sft.yaml"
    doc = load_config(str(path), "qwen3_lora_sft.yaml", Settings())
    specs = doc.plan.datasets
    assert [s.name for s in specs] == ["identity", "alpaca_en_demo"]
    assert all(s.source == "local" and s.local_path.endswith(".json") for s in specs)
    assert {s.detected_format for s in specs} == {"alpaca"}
    assert [Path(r.path).name for r in doc.datasets] == ["identity.json", "alpaca_en_demo.json"]


def test_corpus_axolotl_plan_values(corpus: Path) -> None:
    path = corpus / "axolotl/examples/llama-3/qlora.yml"
    plan, doc = read_plan(str(path))
    assert plan.dialect == "axolotl" and plan.method == "qlora" and plan.load_in_4bit
    assert (plan.lora_r, plan.lora_alpha, plan.lora_dropout) == (32, 16.0, 0.05)
    assert plan.lora_target_modules == ["all-linear"]
    assert (plan.sequence_len, plan.packing, plan.micro_batch_size, plan.gradient_accumulation_steps) == (4096, True, 2, 4)
    assert (plan.num_epochs, plan.learning_rate, plan.optimizer) == (4.0, 2e-4, "paged_adamw_32bit")
    assert plan.bf16 is None and plan.sources["bf16"] == "/bf16"  # bf16: auto
    assert plan.quant_type == "nf4" and "quant_type" in plan.assumed
    assert plan.datasets[0].source == "hub" and plan.datasets[0].declared_type == "alpaca"
    loc = doc.locate(plan.sources["micro_batch_size"])
    assert (loc.line, loc.column) == (37, 1)


def test_cloud_configs_are_not_walked(corpus: Path) -> None:
    result = run_cli("check", str(corpus / "axolotl" / "examples" / "cloud"))
    assert result.exit_code == 2 and "no dataset" in result.output


# --- dialect detection ---------------------------------------------------------------------------
TRL_CONFIG = """\
model_name_or_path: Qwen/Qwen2.5-0.5B
dataset_name: trl-lib/Capybara
learning_rate: 2.0e-5
num_train_epochs: 1
packing: true
per_device_train_batch_size: 2
gradient_accumulation_steps: 8
eval_strategy: steps
use_peft: true
lora_r: 32
lora_alpha: 16
output_dir: Qwen2-0.5B-SFT
"""

AUTOTRAIN_CONFIG = """\
task: llm-sft
base_model: meta-llama/Llama-3.2-1B
project_name: autotrain-llama32-1b-finetune
log: tensorboard
backend: local
data:
  path: HuggingFaceH4/no_robots
  train_split: train
  valid_split: test
  chat_template: tokenizer
  column_mapping:
    text_column: messages
params:
  block_size: 2048
  model_max_length: 4096
  epochs: 2
  batch_size: 1
  lr: 1e-5
  peft: true
  quantization: int4
  target_modules: all-linear
  gradient_accumulation: 8
  mixed_precision: bf16
"""


def test_detects_trl_and_autotrain(tmp_path: Path) -> None:
    (tmp_path / "sft.yaml").write_text(TRL_CONFIG)
    (tmp_path / "at.yml").write_text(AUTOTRAIN_CONFIG)
    plan, _ = read_plan(str(tmp_path / "sft.yaml"))
    assert plan.dialect == "trl" and plan.method == "lora" and plan.lora_r == 32
    assert (plan.sequence_len, plan.micro_batch_size, plan.gradient_accumulation_steps) == (1024, 2, 8)
    assert "sequence_len" in plan.assumed and plan.datasets[0].source == "hub"
    plan, _ = read_plan(str(tmp_path / "at.yml"))
    assert plan.dialect == "autotrain" and plan.method == "qlora" and plan.load_in_4bit
    assert (plan.sequence_len, plan.micro_batch_size, plan.gradient_accumulation_steps) == (2048, 1, 8)
    assert (plan.learning_rate, plan.num_epochs, plan.bf16) == (1e-5, 2.0, True)
    assert [s.split for s in plan.datasets] == ["train", "eval"]


def test_detection_scores_need_evidence() -> None:
    assert detect_dialect({"name": "CI", "on": ["push"]})[0] is None
    assert detect_dialect({"base_model": "x/y", "sequence_len": 512})[0] == "axolotl"
    assert detect_dialect({"model_name_or_path": "x/y", "stage": "sft", "template": "qwen"})[0] == "llamafactory"
    assert detect_dialect({"model_name_or_path": "x/y", "dataset_name": "a/b", "max_length": 512})[0] == "trl"
    assert detect_dialect(["not", "a", "mapping"])[0] is None


def test_dialect_override(tmp_path: Path) -> None:
    cfg = tmp_path / "ambiguous.yaml"
    cfg.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nlearning_rate: 1.0e-4\nnum_train_epochs: 2\n")
    assert load_config(str(cfg), "a.yaml", Settings()).dialect == "llamafactory"
    assert load_config(str(cfg), "a.yaml", Settings(dialect="trl")).dialect == "trl"
    findings = lint_json(str(cfg), "--dialect", "trl", "--select", "FTG001")
    assert findings == []
    result = run_cli("check", str(cfg), "--dialect", "nonsense")
    assert result.exit_code == 2


# --- hostile YAML --------------------------------------------------------------------------------
LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]) + "\n"


@pytest.mark.parametrize("text,fragment", [
    (LAUGHS, "alias bomb"),
    ("base_model: !!python/object/apply:os.system ['echo pwned']\n", "!!python/object/apply:os.system"),
    ("base_model: !!python/name:os.system\n", "!!python/name:os.system"),
    ("a: &x [1, *x]\n", "alias refers to itself"),
    ("base_model: [unclosed\n", "invalid YAML"),
    ("base_model: a\n---\nbase_model: b\n", "single YAML document"),
    ("base_model: x\n\tlr: 1\n", "invalid YAML"),
])
def test_hostile_yaml_is_a_finding(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "train.yml"
    cfg.write_text(text)
    result = run_cli("check", "--format", "json", str(cfg))
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)
    assert [f["code"] for f in findings] == ["FTG020"]
    assert fragment in findings[0]["message"] and findings[0]["path"].endswith("train.yml")
    assert "Traceback" not in result.output


def test_binary_and_non_mapping(tmp_path: Path) -> None:
    (tmp_path / "utf16.yaml").write_bytes("base_model: x\n".encode("utf-16"))
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "empty.yaml").write_text("")
    findings = lint_json(str(tmp_path / "utf16.yaml"), str(tmp_path / "list.yaml"), str(tmp_path / "empty.yaml"))
    assert {(Path(f["path"]).name, f["code"]) for f in findings} == {
        ("utf16.yaml", "FTG020"), ("list.yaml", "FTG021"), ("empty.yaml", "FTG021")}
    # forcing a dialect onto a non-mapping is an error, not a note
    result = run_cli("check", "--format", "json", "--dialect", "axolotl", str(tmp_path / "list.yaml"))
    assert json.loads(result.stdout)[0]["severity"] == "error"
    # a directory walk skips YAML that is not a training config
    assert not looks_like_training_config(str(tmp_path / "list.yaml"))


def test_read_plan_raises_usage_error(tmp_path: Path) -> None:
    from ftlint.findings import UsageError

    cfg = tmp_path / "x.yaml"
    cfg.write_text("a: [1,\n")
    with pytest.raises(UsageError, match=r"x.yaml:2:1: Cannot read this config"):
        read_plan(str(cfg))


# --- locations -----------------------------------------------------------------------------------
def test_locate_points_at_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "train.yml"
    cfg.write_text("base_model: x/y\n"
                   "datasets:\n"
                   "  - path: data/a.jsonl\n"
                   "    type: alpaca\n"
                   "lora_target_modules: [q_proj, v_proj]\n")
    doc = load_config(str(cfg), "train.yml", Settings())
    assert (doc.locate("/datasets/0/type").line, doc.locate("/datasets/0/type").column) == (4, 5)
    assert (doc.locate(("datasets", 0, "path")).line, doc.locate(("datasets", 0, "path")).column) == (3, 5)
    item = doc.locate("/lora_target_modules/1", value=True)
    assert (item.line, item.column, item.end_column) == (5, 31, 37)
    missing = doc.locate("/datasets/0/nothing")  # deepest existing prefix: the entry itself
    assert (missing.line, missing.column, missing.pointer) == (3, 5, "/datasets/0/nothing")
    assert doc.locate("/nope").line == 1


# --- datasets through the config -----------------------------------------------------------------
def test_check_config_lints_its_local_datasets(tmp_path: Path) -> None:
    records = _chat(60)
    records[7]["messages"][1]["content"] = "   "          # empty assistant turn (line 8)
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", records)
    write_jsonl(tmp_path / "data" / "eval.jsonl", _chat(5))
    cfg = tmp_path / "train.yml"
    cfg.write_text("base_model: meta-llama/Llama-3.1-8B-Instruct\n"
                   "adapter: qlora\nload_in_4bit: true\nlora_r: 16\nlora_alpha: 32\nlora_target_linear: true\n"
                   "datasets:\n  - path: data/train.jsonl\n    type: chat_template\n"
                   "test_datasets:\n  - path: data/eval.jsonl\n    type: chat_template\n"
                   "sequence_len: 2048\nmicro_batch_size: 2\ngradient_accumulation_steps: 2\n"
                   "num_epochs: 2\nlearning_rate: 2.0e-4\n")
    findings = lint_json(str(cfg))
    in_data = [f for f in findings if f["path"].endswith("data/train.jsonl")]
    assert any(f["line"] == 8 and f["pointer"] == "/messages/1/content" for f in in_data), findings
    assert not [f for f in findings if f["code"].startswith(("FTX", "FTG"))], findings
    doc = load_config(str(cfg), "train.yml", Settings())
    assert [(Path(r.path).name, r.split, r.format) for r in doc.datasets] == [
        ("train.jsonl", "train", "openai"), ("eval.jsonl", "eval", "openai")]


def test_llamafactory_dataset_info_resolution() -> None:
    cfg = CONFIGS / "llamafactory" / "configs" / "qwen_lora_sft.yaml"
    plan, doc = read_plan(str(cfg))
    assert [(s.name, s.source, s.format, s.detected_format) for s in plan.datasets] == [
        ("my_chat", "local", "sharegpt", "sharegpt"), ("my_alpaca", "local", "alpaca", "alpaca")]
    assert plan.datasets[0].columns == {"messages": "conversations", "role": "from", "content": "value"}
    assert (plan.method, plan.lora_r, plan.lora_alpha, plan.lora_target_modules) == ("lora", 16, 32.0, ["all-linear"])
    assert plan.gradient_checkpointing and "gradient_checkpointing" in plan.assumed
    findings = lint_json(str(cfg), "--select", "FTG,FTX")
    assert findings == [], findings


def _lf_project(tmp_path: Path) -> Path:
    shutil.copytree(CONFIGS / "llamafactory", tmp_path / "lf")
    return tmp_path / "lf"


# --- planted mistakes, one config per dialect ------------------------------------------------------
AXOLOTL_PLANTED = """\
base_model: microsoft/Phi-3-mini-4k-instruct
trust_remote_code: true  # expect: FTG014
adapter: qlora  # expect: FTG002
load_in_8bit: true
lora_r: 8
lora_alpha: 512  # expect: FTG005
lora_droput: 0.05  # expect: FTG001
lora_target_modules:
  - q_proj  # expect: FTG003
  - o_proj
datasets:
  - path: data/train.jsonl
    type: chat_template  # expect: FTG012
test_datasets:
  - path: data/missing.jsonl  # expect: FTG011
    type: alpaca
val_set_size: 0
sequence_len: 8192  # expect: FTG008
micro_batch_size: 4
gradient_accumulation_steps: 8
num_epochs: 1
learning_rate: 0.02
warmup_steps: 50  # expect: FTG006
warmup_ratio: 0.1  # expect: FTG002
bf16: true  # expect: FTG009
use_galore: true  # expect: FTG001
relora: true  # expect: FTG015
learning_rate: 0.02  # expect: FTG004 FTG017
"""


def test_axolotl_planted_mistakes(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", _alpaca(40))
    cfg = tmp_path / "train.yml"
    cfg.write_text(AXOLOTL_PLANTED)
    findings = lint_json(str(cfg), "--select", "FTG", "--gpu", "Tesla V100")
    assert _ftg(findings) == _planted(AXOLOTL_PLANTED), sorted(_ftg(findings) ^ _planted(AXOLOTL_PLANTED))
    assert any("did you mean `lora_dropout`" in f["message"] for f in findings if f["code"] == "FTG001")
    assert [f["column"] for f in findings if f["code"] == "FTG003"] == [5]


LF_PLANTED = """\
model_name_or_path: microsoft/Phi-3-mini-4k-instruct
stage: sft
do_train: true
finetuning_type: full  # expect: FTG007
quantization_bit: 4  # expect: FTG002
dataset_dir: ../data
dataset: my_alpaca,gone,nope,renamed_columns  # expect: FTG011 FTG012
template: phi
cutoff_len: 8192  # expect: FTG008
per_device_train_batch_size: 1
gradient_accumulation_steps: 2
learning_rate: 1.0e-2  # expect: FTG004
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
val_size: 0.0  # expect: FTG010
output_dir: saves/phi
per_device_train_batchsize: 2  # expect: FTG001
"""


def test_llamafactory_planted_mistakes(tmp_path: Path) -> None:
    project = _lf_project(tmp_path)
    cfg = project / "configs" / "planted.yaml"
    cfg.write_text(LF_PLANTED)
    findings = lint_json(str(cfg), "--select", "FTG")
    assert _ftg(findings) == _planted(LF_PLANTED), sorted(_ftg(findings) ^ _planted(LF_PLANTED))
    missing = [f["message"] for f in findings if f["code"] == "FTG011"]
    assert any("`gone`" in m and "gone.json" in m for m in missing)
    assert any("`nope` is not defined" in m for m in missing)
    mismatch = next(f["message"] for f in findings if f["code"] == "FTG012")
    assert "`question`" in mismatch and "`answer`" in mismatch


TRL_PLANTED = """\
model_name_or_path: meta-llama/Llama-3.2-1B  # expect: FTG007
dataset_name: data/train.jsonl  # expect: FTG012 FTG010
load_in_4bit: true  # expect: FTG002
lora_r: 16  # expect: FTG002
max_length: 200000  # expect: FTG008
per_device_train_batch_size: 4
gradient_accumulation_steps: 8  # expect: FTG006
num_train_epochs: 1
learning_rate: 2.0e-5
warmup_ratio: 0.1  # expect: FTG001
output_dir: out
"""


def test_trl_planted_mistakes(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", _alpaca(40))
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(TRL_PLANTED)
    findings = lint_json(str(cfg), "--select", "FTG")
    assert _ftg(findings) == _planted(TRL_PLANTED), sorted(_ftg(findings) ^ _planted(TRL_PLANTED))
    assert any("transformers 5" in f["message"] for f in findings if f["code"] == "FTG001")
    assert any("KeyError" not in f["message"] and "TRL's SFT trainer" in f["message"]
               for f in findings if f["code"] == "FTG012")


AUTOTRAIN_PLANTED = """\
task: llm-sft
base_model: meta-llama/Llama-3.2-1B  # expect: FTG014 FTG013
project_name: my-project
log: tensorboard
backend: local
data:
  path: data
  train_split: train
  valid_split: null  # expect: FTG010
  chat_template: null
  column_mapping:
    text_column: text  # expect: FTG012
params:
  block_size: 1024
  epochs: 3
  batch_size: 2
  lr: 0.05  # expect: FTG004
  peft: true
  quantization: int4
  lora_r: 16
  lora_alpha: 1024  # expect: FTG005
  gradient_accumulation: 4
  mixed_precision: bf16  # expect: FTG009
  optimiser: adamw_torch  # expect: FTG001
"""


def test_autotrain_planted_mistakes(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", _chat(40))
    cfg = tmp_path / "autotrain.yml"
    cfg.write_text(AUTOTRAIN_PLANTED)
    findings = lint_json(str(cfg), "--select", "FTG", "--gpu", "T4")
    assert _ftg(findings) == _planted(AUTOTRAIN_PLANTED), sorted(_ftg(findings) ^ _planted(AUTOTRAIN_PLANTED))
    assert any("did you mean `optimizer`" in f["message"] for f in findings)


def test_autotrain_missing_required_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "autotrain.yml"
    cfg.write_text("task: llm-sft\nbase_model: meta-llama/Llama-3.2-1B\nproject_name: p\n"
                   "data:\n  path: HuggingFaceH4/no_robots\n  train_split: train\n"
                   "params:\n  peft: true\n")
    findings = [f for f in lint_json(str(cfg), "--select", "FTG016")]
    missing = {re.search(r"`([^`]+)`", f["message"]).group(1) for f in findings}
    assert missing == {"backend", "log", "data.valid_split", "data.chat_template", "data.column_mapping"}
    assert {f["line"] for f in findings if "data." in f["message"]} == {4}


# --- model facts from a local folder -----------------------------------------------------------
def test_local_model_folder_next_to_config(tmp_path: Path) -> None:
    shutil.copytree(CONFIGS / "models" / "tiny-qwen2", tmp_path / "models" / "tiny-qwen2")
    cfg = tmp_path / "train.yml"
    cfg.write_text("base_model: models/tiny-qwen2\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
                   "lora_target_modules: [q_proj, wq]\n"
                   "datasets:\n  - path: org/ds\n    type: chat_template\n"
                   "sequence_len: 1024\nval_set_size: 0.1\nlearning_rate: 2.0e-4\n")
    findings = lint_json(str(cfg), "--select", "FTG003,FTG008,FTG013")
    assert {(f["code"], f["line"]) for f in findings} == {("FTG003", 5), ("FTG008", 9), ("FTG013", 1)}, findings


# --- key lists -----------------------------------------------------------------------------------
def test_trl_static_keys_cover_the_installed_trl() -> None:
    dataclasses = pytest.importorskip("dataclasses")
    trl = pytest.importorskip("trl")
    from ftlint.configs.keys import spec

    known = spec("trl").top
    for cls in (trl.SFTConfig, trl.ModelConfig, trl.ScriptArguments):
        missing = {f.name for f in dataclasses.fields(cls)} - known
        assert not missing, f"{cls.__name__}: {sorted(missing)} (regenerate keys_data.py)"


def test_corpus_keys_are_known(corpus: Path) -> None:
    """Every key used by the corpus configs is in the key lists, except real mistakes."""
    from ftlint.configs.keys import spec

    import yaml

    unknown: Counter = Counter()
    for path in _corpus_configs(corpus):
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict) or "/".join(path.parts[-2:]) in NOT_TRAINING:
            continue
        dialect = "axolotl" if "axolotl" in path.parts else "llamafactory"
        unknown.update(k for k in data if k not in spec(dialect).top)
    # Keys the trainers no longer read (the archived Axolotl examples), an internal field, and one typo.
    assert set(unknown) <= {"gptq_groupsize", "gptq_model_v1", "sample_packing_seq_len_multiplier", "adam_eps",
                            "eta_min", "context_parapllel_size", "base_model_ignore_patterns", "torch_dtype",
                            "full_finetune", "test_value", "gptq_disable_exllama"}, unknown
