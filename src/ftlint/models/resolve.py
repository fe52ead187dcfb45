"""Resolve a model id or folder to its architecture, offline first.

Order: a local folder's config.json -> the Hugging Face cache (no download) -> the built-in
catalog -> the hub (only when online, HF_HUB_OFFLINE unset and huggingface_hub installed) ->
ModelNotFound naming everything that was tried.
"""

from __future__ import annotations

from ..hub import hub_status

import json
import os
from pathlib import Path
from typing import Any

from ..findings import UsageError
from .arch import ModelArch

# model_type -> layout family (what decides the module names and the exact parameter count)
FAMILIES = {
    "llama": "llama", "mistral": "llama", "qwen2": "llama", "qwen3": "llama", "mixtral": "llama",
    "qwen2_moe": "llama", "qwen3_moe": "llama", "yi": "llama", "granite": "llama",
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3_text": "gemma",
    "phi3": "phi3", "gpt_bigcode": "gpt_bigcode", "starcoder2": "starcoder2",
}


class ModelNotFound(UsageError):
    """No architecture could be found for a model id or path; the message lists what was tried."""


def _text_config(cfg: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Multimodal configs keep the language model under `text_config`; merge it over the top."""
    text = cfg.get("text_config")
    if isinstance(text, dict) and ("hidden_size" in text or "num_hidden_layers" in text or not cfg.get("hidden_size")):
        merged = {k: v for k, v in cfg.items() if k not in ("text_config", "vision_config")}
        merged.update(text)
        # the text model type is more precise (gemma3_text), but the tie flag may sit on the outside
        if "tie_word_embeddings" not in text and "tie_word_embeddings" in cfg:
            merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
        return merged, True
    return cfg, False


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return default


def _siglip_params(vision: dict[str, Any], text_hidden: int) -> tuple[int, int]:
    """Gemma 3's SigLIP vision tower plus its projector, in closed form."""
    h = int(vision.get("hidden_size", 1152))
    inter = int(vision.get("intermediate_size", 4304))
    layers = int(vision.get("num_hidden_layers", 27))
    patch = int(vision.get("patch_size", 14))
    image = int(vision.get("image_size", 896))
    channels = int(vision.get("num_channels", 3))
    conv = channels * patch * patch * h + h
    positions = (image // patch) ** 2 * h
    layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * 2 * h
    tower = conv + positions + layers * layer + 2 * h
    projector = h * text_hidden + h  # mm_input_projection_weight + mm_soft_emb_norm
    linear = layers * (4 * h * h + 2 * h * inter)
    return tower + projector, linear


def arch_from_config(cfg: dict[str, Any], name: str, source: str) -> ModelArch:
    """A ModelArch from a config.json mapping (hub style or transformers-5 style).

    UsageError (naming the model) when the mapping is not a usable config: a required size
    missing or not positive, or a value of the wrong type (`"hidden_size": "4k"`).
    """
    if not isinstance(cfg, dict):
        raise UsageError(f"{name}: config.json is not a JSON object")
    try:
        return _arch_from_config(cfg, name, source)
    except (TypeError, ValueError, OverflowError) as exc:  # int("4k"), a list where a number goes, …
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{name}: config.json has a value ftlint cannot read ({detail})") from None


def _arch_from_config(cfg: dict[str, Any], name: str, source: str) -> ModelArch:
    outer = cfg
    cfg, multimodal = _text_config(cfg)
    model_type = str(_first(cfg, "model_type", default="") or outer.get("model_type") or "")
    family = FAMILIES.get(model_type, "generic")
    if model_type == "gpt_bigcode":
        hidden = _first(cfg, "n_embd", "hidden_size")
        layers = _first(cfg, "n_layer", "num_hidden_layers")
        heads = _first(cfg, "n_head", "num_attention_heads")
        inter = _first(cfg, "n_inner", default=None) or 4 * int(hidden)
        kv = 1 if cfg.get("multi_query", True) else heads
        max_pos = _first(cfg, "n_positions", "max_position_embeddings", default=2048)
    else:
        hidden = _first(cfg, "hidden_size", "n_embd", "d_model")
        layers = _first(cfg, "num_hidden_layers", "n_layer", "num_layers")
        heads = _first(cfg, "num_attention_heads", "n_head")
        inter = _first(cfg, "intermediate_size", "ffn_dim", "n_inner")
        kv = _first(cfg, "num_key_value_heads", default=heads)
        max_pos = _first(cfg, "max_position_embeddings", "n_positions", "seq_length", default=2048)
    vocab = _first(cfg, "vocab_size")
    missing = [k for k, v in (("hidden_size", hidden), ("num_hidden_layers", layers),
                              ("num_attention_heads", heads), ("vocab_size", vocab)) if v is None]
    if missing:
        raise UsageError(f"{name}: config.json lacks {', '.join(missing)} (model_type "
                         f"{model_type or 'unknown'}); cannot size the model")
    hidden, layers, heads, vocab = int(hidden), int(layers), int(heads), int(vocab)
    if min(hidden, layers, heads, vocab) <= 0:
        raise UsageError(f"{name}: config.json sizes must be positive (hidden_size {hidden}, num_hidden_layers "
                         f"{layers}, num_attention_heads {heads}, vocab_size {vocab}); cannot size the model")
    head_dim = _first(cfg, "head_dim", default=None)
    if head_dim is None and model_type in ("gemma", "gemma2", "gemma3", "gemma3_text"):
        head_dim = 256
    head_dim = int(head_dim) if head_dim else hidden // heads
    if inter is None:
        inter = 4 * hidden
    defaults_tied = family in ("gemma", "gpt_bigcode", "starcoder2")
    tie = cfg.get("tie_word_embeddings")
    tie = defaults_tied if tie is None else bool(tie)
    experts = int(_first(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0) or 0)
    per_tok = int(_first(cfg, "num_experts_per_tok", "top_k", default=0) or 0) if experts else 0
    moe_inter = _first(cfg, "moe_intermediate_size", default=None)
    if experts and moe_inter is None:
        moe_inter = inter  # Mixtral: the experts use intermediate_size
    rope = cfg.get("rope_parameters") if isinstance(cfg.get("rope_parameters"), dict) else {}
    rope_theta = _first(cfg, "rope_theta", default=None) or rope.get("rope_theta")
    dtype = _first(cfg, "dtype", "torch_dtype", default=None) or _first(outer, "dtype", "torch_dtype", default=None)

    arch: dict[str, Any] = dict(
        name=name, model_type=model_type or "unknown", family=family, source=source,
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=int(kv), head_dim=head_dim, intermediate_size=int(inter),
        vocab_size=vocab, max_position_embeddings=int(max_pos), tie_word_embeddings=tie,
        num_experts=experts, num_experts_per_tok=per_tok,
        moe_intermediate_size=int(moe_inter) if moe_inter else None,
        dtype=str(dtype) if dtype else None, rope_theta=float(rope_theta) if rope_theta else None,
        sliding_window=cfg.get("sliding_window") if isinstance(cfg.get("sliding_window"), int) else None,
        hidden_act=_first(cfg, "hidden_act", "hidden_activation", "activation_function", default=None),
        multimodal=multimodal, auto_map=bool(outer.get("auto_map")),
        exact=family != "generic" and not (multimodal and model_type not in ("gemma3", "gemma3_text")),
    )
    if model_type == "qwen2":
        arch["attention_bias"] = True  # hard-coded in Qwen2Attention
    elif model_type == "qwen2_moe":
        arch["attention_bias"] = bool(cfg.get("qkv_bias", True))
    else:
        arch["attention_bias"] = bool(cfg.get("attention_bias", False))
    arch["mlp_bias"] = bool(cfg.get("mlp_bias", False))
    if model_type in ("qwen3", "qwen3_moe", "gemma3", "gemma3_text"):
        arch["qk_norm"] = True
    if model_type in ("gemma2", "gemma3", "gemma3_text"):
        arch["norms_per_layer"] = 4
    if model_type == "gpt_bigcode":
        arch.update(attention_bias=True, o_bias=True, mlp_bias=True, gated_mlp=False, layer_norm=True,
                    learned_positions=int(max_pos))
    if model_type == "starcoder2":
        use_bias = bool(cfg.get("use_bias", True))
        arch.update(attention_bias=use_bias, o_bias=use_bias, mlp_bias=use_bias, gated_mlp=False,
                    layer_norm=True)
    if model_type in ("qwen2_moe", "qwen3_moe"):
        arch["decoder_sparse_step"] = int(cfg.get("decoder_sparse_step", 1) or 1)
        arch["mlp_only_layers"] = [int(i) for i in (cfg.get("mlp_only_layers") or [])]
    if model_type == "qwen2_moe":
        arch["shared_expert_intermediate_size"] = int(cfg.get("shared_expert_intermediate_size") or 0) or None
    vision = outer.get("vision_config")
    if multimodal and model_type in ("gemma3", "gemma3_text") and isinstance(vision, dict):
        arch["vision_params"], arch["vision_linear_params"] = _siglip_params(vision, hidden)
    return ModelArch(**arch)


# --------------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot read model config: {exc}") from exc


def _chat_template_in(folder: Path) -> bool | None:
    """Whether a model folder ships a chat template (tokenizer_config.json or chat_template.jinja)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tok = folder / "tokenizer_config.json"
    if tok.is_file():
        try:
            data = json.loads(tok.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return bool(isinstance(data, dict) and data.get("chat_template"))
    return None


def _from_folder(folder: Path, name: str, source: str) -> ModelArch:
    arch = arch_from_config(_read_json(folder / "config.json"), name, source)
    arch.has_chat_template = _chat_template_in(folder)
    return arch


def hf_cache_dirs() -> list[Path]:
    """Where huggingface_hub keeps downloaded repos, by its own environment rules."""
    dirs: list[Path] = []
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            dirs.append(Path(os.environ[var]).expanduser())
    home = os.environ.get("HF_HOME")
    if home:
        dirs.append(Path(home).expanduser() / "hub")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        dirs.append(base / "huggingface" / "hub")
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def find_in_hf_cache(repo_id: str) -> Path | None:
    """The snapshot folder of `repo_id` holding config.json (the `main` ref first), or None."""
    if repo_id.count("/") != 1:
        return None
    folder_name = "models--" + repo_id.replace("/", "--")
    for cache in hf_cache_dirs():
        repo = cache / folder_name
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            # the cache folder name is case-sensitive on disk; try a case-insensitive match
            try:
                match = [p for p in cache.iterdir() if p.name.lower() == folder_name.lower()]
            except OSError:
                match = []
            if not match:
                continue
            repo, snapshots = match[0], match[0] / "snapshots"
            if not snapshots.is_dir():
                continue
        candidates: list[Path] = []
        ref = repo / "refs" / "main"
        if ref.is_file():
            try:
                candidates.append(snapshots / ref.read_text(encoding="utf-8").strip())
            except OSError:
                pass
        try:
            others = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            others = []
        candidates.extend(others)
        for snap in candidates:
            if (snap / "config.json").is_file():
                return snap
    return None


def _from_hub(repo_id: str) -> ModelArch:
    from huggingface_hub import hf_hub_download  # optional; ImportError handled by the caller

    path = Path(hf_hub_download(repo_id, "config.json", etag_timeout=5))
    arch = arch_from_config(_read_json(path), repo_id, "hub")
    try:
        tok = Path(hf_hub_download(repo_id, "tokenizer_config.json", etag_timeout=5))
        arch.has_chat_template = _chat_template_in(tok.parent)
    except Exception:  # a model without tokenizer files is still sized
        pass
    return arch


def near_config(name: str, config_path: str) -> str:
    """A model named in a config: trainers resolve a relative folder from the working directory;
    when it is not there but sits next to the config (projects keep small models with their
    configs), that folder. Anything else (a hub id, an existing path) is returned unchanged."""
    p = os.path.expanduser(name)
    if os.path.isabs(p) or os.path.exists(p):
        return name
    alt = os.path.join(os.path.dirname(os.path.abspath(config_path)), p)
    return alt if os.path.isdir(alt) else name


def resolve_arch(name_or_path: str, *, trust_remote_code: bool = False) -> ModelArch:
    """Architecture facts for a model id or local folder, without downloading weights.

    `trust_remote_code` is accepted for symmetry with the trainers: reading config.json never
    runs code, but a remote-code architecture is sized only approximately (arch.exact False).
    """
    from .catalog import lookup

    name = (name_or_path or "").strip()
    if not name:
        raise ModelNotFound("no base model given (set base_model / model_name_or_path, or pass --model)")
    tried: list[str] = []
    path = Path(name).expanduser()
    if path.is_file() and path.name.endswith(".json"):
        return arch_from_config(_read_json(path), name, "local")
    if path.is_dir():
        if (path / "config.json").is_file():
            return _from_folder(path, name, "local")
        tried.append(f"local folder {name} (no config.json)")
    else:
        tried.append(f"local folder {name} (not found)")

    snap = find_in_hf_cache(name)
    if snap is not None:
        return _from_folder(snap, name, "hf-cache")
    if name.count("/") == 1:
        tried.append("Hugging Face cache (" + ", ".join(str(d) for d in hf_cache_dirs()) + ")")

    arch = lookup(name)
    if arch is not None:
        return arch
    tried.append("built-in catalog")

    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        why_not = hub_status()
        if why_not is not None:
            tried.append(f"the hub (skipped: {why_not})")
        else:
            try:
                return _from_hub(name)
            except ImportError:
                tried.append("the hub (skipped: huggingface_hub is not installed)")
            except UsageError:
                raise
            except Exception as exc:  # offline, gated, missing: say so, do not crash
                tried.append(f"the hub ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else 'failed'})")
    raise ModelNotFound(f"model {name!r} not found; tried: " + "; ".join(tried))
