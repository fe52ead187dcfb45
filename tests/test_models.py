"""Model metadata: resolution order, config.json parsing, catalog aliases, exact parameter counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftlint.findings import UsageError
from ftlint.models import (ModelNotFound, arch_from_config, count_params, expert_parameters, linear_modules,
                           resolve_arch)
from ftlint.models.catalog import catalog_entry, catalog_ids, normalise


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


KNOWN_TOTALS = {
    "meta-llama/Meta-Llama-3-8B": 8_030_261_248,
    "NousResearch/Llama-2-7b-hf": 6_738_415_616,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "Qwen/Qwen3-8B": 8_190_735_360,
    "microsoft/Phi-3-mini-4k-instruct": 3_821_079_552,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
    "Qwen/Qwen2.5-0.5B": 494_032_768,
    "mistralai/Mixtral-8x7B-v0.1": 46_702_792_704,
}


@pytest.mark.parametrize("name,total", sorted(KNOWN_TOTALS.items()))
def test_known_totals(name: str, total: int) -> None:
    assert count_params(resolve_arch(name)).total == total


@pytest.mark.parametrize("alias,canonical", [
    ("meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B"),
    ("META-LLAMA/meta-llama-3-8b-instruct", "meta-llama/Meta-Llama-3-8B"),
    ("unsloth/llama-3-8b-Instruct-bnb-4bit", "meta-llama/Meta-Llama-3-8B"),
    ("NousResearch/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"),
    ("meta-llama/Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistralai/Mistral-7B-v0.3"),
    ("unsloth/Qwen2.5-7B-Instruct-unsloth-bnb-4bit", "Qwen/Qwen2.5-7B"),
    ("Qwen/Qwen3-4B-Instruct-2507", "Qwen/Qwen3-4B"),
    ("some-org/Qwen3-4B", "Qwen/Qwen3-4B"),
    ("google/gemma-3-12b-it", "google/gemma-3-12b-pt"),
    ("llama3-8b", "meta-llama/Meta-Llama-3-8B"),
])
def test_aliases_resolve_to_the_same_shape(alias: str, canonical: str) -> None:
    assert catalog_entry(alias)["id"] == canonical
    assert count_params(resolve_arch(alias)).total == count_params(resolve_arch(canonical)).total


def test_versions_are_not_conflated() -> None:
    assert normalise("mistralai/Mistral-7B-v0.1") != normalise("mistralai/Mistral-7B-v0.3")
    assert resolve_arch("mistralai/Mistral-7B-v0.3").vocab_size == 32768
    assert resolve_arch("mistralai/Mistral-7B-v0.1").vocab_size == 32000
    assert resolve_arch("microsoft/Phi-3-mini-128k-instruct").max_position_embeddings == 131072
    assert resolve_arch("microsoft/Phi-3-mini-4k-instruct").max_position_embeddings == 4096
    assert resolve_arch("meta-llama/Llama-3.1-8B").max_position_embeddings == 131072


def test_chat_template_flag_follows_the_variant() -> None:
    assert resolve_arch("meta-llama/Meta-Llama-3-8B").has_chat_template is False
    assert resolve_arch("meta-llama/Meta-Llama-3-8B-Instruct").has_chat_template is True
    assert resolve_arch("google/gemma-2-9b-it").has_chat_template is True


def test_unknown_model_names_everything_tried(offline: Path) -> None:
    with pytest.raises(ModelNotFound) as info:
        resolve_arch("acme/does-not-exist-7b")
    msg = str(info.value)
    assert isinstance(info.value, UsageError)
    for part in ("acme/does-not-exist-7b", "local folder", "Hugging Face cache", str(offline / "hub"),
                 "built-in catalog", "HF_HUB_OFFLINE"):
        assert part in msg


def test_empty_name_is_a_usage_error() -> None:
    with pytest.raises(ModelNotFound):
        resolve_arch("  ")


# -- config.json parsing ------------------------------------------------------------------
TF5_CONFIG = {  # transformers-5 style: `dtype`, `rope_parameters`
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 160,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
    "max_position_embeddings": 512, "dtype": "bfloat16", "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
    "tie_word_embeddings": True,
}


def test_local_folder_wins(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TF5_CONFIG))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    arch = resolve_arch(str(folder))
    assert arch.source == "local" and arch.dtype == "bfloat16" and arch.rope_theta == 500000.0
    assert arch.head_dim == 16 and arch.kv_dim == 32 and arch.tie_word_embeddings
    assert arch.has_chat_template is True
    expected = 1000 * 64 + 3 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 160 + 2 * 64) + 64
    assert count_params(arch).total == expected


def test_folder_without_config_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no config.json"):
        resolve_arch(str(tmp_path))


def test_hub_style_keys_and_broken_config(tmp_path: Path) -> None:
    hub = dict(TF5_CONFIG)
    hub.pop("dtype"), hub.pop("rope_parameters")
    hub.update(torch_dtype="float16", rope_theta=10000.0)
    arch = arch_from_config(hub, "x", "local")
    assert arch.dtype == "float16" and arch.rope_theta == 10000.0
    with pytest.raises(UsageError, match="hidden_size"):
        arch_from_config({"model_type": "llama", "vocab_size": 10}, "broken", "local")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match="cannot read model config"):
        resolve_arch(str(bad))


@pytest.mark.parametrize("change, match", [
    ({"hidden_size": "4k"}, "cannot read"), ({"num_attention_heads": 0}, "must be positive"),
    ({"intermediate_size": [1]}, "cannot read"), ({"num_key_value_heads": None, "num_attention_heads": -2},
                                                  "must be positive"),
])
def test_malformed_config_values_are_usage_errors(change: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        arch_from_config({**TF5_CONFIG, **change}, "odd", "local")


def test_hf_cache_snapshot_is_read_without_download(offline: Path) -> None:
    repo = offline / "hub" / "models--acme--tiny-llama"
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (snap / "config.json").write_text(json.dumps(TF5_CONFIG))
    arch = resolve_arch("acme/tiny-llama")
    assert arch.source == "hf-cache" and arch.hidden_size == 64
    # the cache beats the catalog for a catalogued id
    repo2 = offline / "hub" / "models--meta-llama--Meta-Llama-3-8B" / "snapshots" / "r1"
    repo2.mkdir(parents=True)
    (repo2 / "config.json").write_text(json.dumps(TF5_CONFIG))
    assert resolve_arch("meta-llama/Meta-Llama-3-8B").source == "hf-cache"


def test_multimodal_text_config() -> None:
    cfg = {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
           "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
           "intermediate_size": 10240, "vocab_size": 262208}, "vision_config": {"hidden_size": 1152}}
    arch = arch_from_config(cfg, "g", "local")
    assert arch.multimodal and arch.hidden_size == 2560 and arch.vision_params > 400_000_000
    assert arch.norms_per_layer == 4 and arch.qk_norm and arch.tie_word_embeddings


def test_linear_modules_by_architecture() -> None:
    llama = linear_modules(resolve_arch("meta-llama/Meta-Llama-3-8B"))
    assert llama == {"q_proj": (4096, 4096), "k_proj": (4096, 1024), "v_proj": (4096, 1024),
                     "o_proj": (4096, 4096), "gate_proj": (4096, 14336), "up_proj": (4096, 14336),
                     "down_proj": (14336, 4096)}
    phi = linear_modules(resolve_arch("microsoft/Phi-3-mini-4k-instruct"))
    assert phi == {"qkv_proj": (3072, 9216), "o_proj": (3072, 3072), "gate_up_proj": (3072, 16384),
                   "down_proj": (8192, 3072)}
    sc = linear_modules(resolve_arch("bigcode/starcoder"))
    assert sc["c_attn"] == (6144, 6144 + 2 * 128) and sc["mlp.c_proj"] == (24576, 6144)
    mix = resolve_arch("mistralai/Mixtral-8x7B-v0.1")
    assert "gate_proj" not in linear_modules(mix)
    assert expert_parameters(mix) == {"experts.gate_up_proj": (4096, 28672), "experts.down_proj": (14336, 4096)}


def test_catalog_is_complete_and_parses() -> None:
    ids = catalog_ids()
    assert len(ids) == len(set(ids))
    wanted = ["Llama-2-7b", "Llama-2-13b", "Llama-2-70b", "Meta-Llama-3-8B", "Llama-3.1-8B", "Llama-3.2-1B",
              "Llama-3.2-3B", "Llama-3.3-70B", "Mistral-7B-v0.1", "Mistral-7B-v0.2", "Mistral-7B-v0.3",
              "Mixtral-8x7B", "Qwen2.5-0.5B", "Qwen2.5-72B", "Qwen3-0.6B", "Qwen3-32B", "Yi-6B", "Yi-9B",
              "Yi-34B", "gemma-2-9b", "gemma-3-27b", "Phi-3-mini", "Phi-3.5-mini", "phi-4", "starcoder"]
    for w in wanted:
        assert any(w.lower() in i.lower() for i in ids), w
    for i in ids:
        assert count_params(resolve_arch(i)).total > 0


# -- exact counts against meta-device instantiation ------------------------------------------
META_MODELS = ["meta-llama/Llama-2-7b-hf", "meta-llama/Meta-Llama-3-8B", "meta-llama/Llama-3.2-1B",
               "mistralai/Mistral-7B-v0.3", "mistralai/Mixtral-8x7B-v0.1", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-0.5B",
               "Qwen/Qwen3-8B", "Qwen/Qwen3-30B-A3B", "01-ai/Yi-34B", "google/gemma-7b", "google/gemma-2-9b",
               "google/gemma-3-1b-pt", "google/gemma-3-4b-pt", "microsoft/Phi-3-mini-4k-instruct",
               "microsoft/Phi-4-mini-instruct", "bigcode/starcoder", "HuggingFaceTB/SmolLM2-135M"]


def meta_count(config: dict) -> int:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = dict(config)
    model_type = cfg.pop("model_type")
    hf_config = transformers.AutoConfig.for_model(model_type, **cfg)
    with torch.device("meta"):
        if model_type == "gemma3":
            model = transformers.Gemma3ForConditionalGeneration(hf_config)
        else:
            model = transformers.AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", META_MODELS)
def test_count_matches_meta_instantiation(name: str) -> None:
    entry = catalog_entry(name)
    assert count_params(resolve_arch(name)).total == meta_count(entry["config"])


@pytest.mark.parametrize("name", sorted(set(catalog_ids()) - set(META_MODELS)))
def test_every_catalog_entry_matches_meta_instantiation(name: str) -> None:
    entry = catalog_entry(name)
    assert count_params(resolve_arch(name)).total == meta_count(entry["config"])
