"""Property test: any mapping of (mostly) known keys to any YAML values normalises and lints
without an exception escaping (no FTX001 internal-error findings, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ftlint.configs.keys import spec  # noqa: E402

IMPORTANT = {
    "axolotl": ["base_model", "adapter", "load_in_4bit", "load_in_8bit", "lora_r", "lora_alpha", "lora_dropout",
                "lora_target_modules", "lora_target_linear", "sequence_len", "micro_batch_size", "batch_size",
                "gradient_accumulation_steps", "num_epochs", "max_steps", "learning_rate", "warmup_steps",
                "warmup_ratio", "bf16", "fp16", "tf32", "val_set_size", "datasets", "test_datasets", "rl",
                "chat_template", "trust_remote_code", "deepspeed", "plugins", "gradient_checkpointing"],
    "llamafactory": ["model_name_or_path", "stage", "finetuning_type", "quantization_bit", "lora_rank",
                     "lora_alpha", "lora_target", "dataset", "eval_dataset", "dataset_dir", "cutoff_len",
                     "per_device_train_batch_size", "num_train_epochs", "learning_rate", "val_size", "template",
                     "max_samples", "max_steps", "warmup_steps", "pure_bf16", "flash_attn"],
    "trl": ["model_name_or_path", "dataset_name", "datasets", "use_peft", "load_in_4bit", "lora_r",
            "lora_target_modules", "max_length", "per_device_train_batch_size", "learning_rate", "warmup_steps",
            "eval_strategy", "bf16", "fp16", "dataset_text_field"],
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["lora", "qlora", "all", "q_proj,v_proj", "2e-4",
                                                          "data/x.jsonl", "org/name", "auto", "sft", "dpo"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(
                                                           ["path", "type", "data_files", "split", "name",
                                                            "field_messages", "columns"]), inner, max_size=3)),
                      max_leaves=8)


@st.composite
def configs(draw):
    dialect = draw(st.sampled_from(sorted(IMPORTANT)))
    keys = draw(st.lists(st.one_of(st.sampled_from(IMPORTANT[dialect]),
                                   st.sampled_from(sorted(spec(dialect).top))), min_size=1, max_size=12))
    data = {k: draw(values) for k in keys}
    data.setdefault("base_model" if dialect == "axolotl" else "model_name_or_path", "meta-llama/Llama-3.2-1B")
    return dialect, data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs())
def test_random_configs_never_crash(tmp_path_factory, case) -> None:
    from ftlint.api import build_linter

    dialect, data = case
    folder: Path = tmp_path_factory.mktemp("cfg")
    cfg = folder / "train.yml"
    try:
        cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    except (yaml.YAMLError, UnicodeEncodeError):
        return
    linter, _ = build_linter(None, {"select": ["FTG", "FTX"], "dialect": dialect})
    report = linter.lint([str(cfg)])
    crashes = [f.message for f in report.findings if f.code.startswith("FTX")]
    assert not crashes, crashes
