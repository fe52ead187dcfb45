"""Find a model's tokenizer files offline: local folder -> Hugging Face cache -> hub (only when
online and allowed) -> nothing (the caller falls back to an approximate count).

Only plain files are read (tokenizer.json, tokenizer_config.json, chat_template.jinja,
special_tokens_map.json, config.json); nothing is imported from transformers and no code from a
model repository is ever run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hub import cached_snapshot, hf_cache_dir, hub_status

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                   "special_tokens_map.json", "config.json")
SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Beyond this, `model_max_length` is transformers' "no limit" sentinel, not a context length.
_NO_LIMIT = 10**7


class Unresolved(Exception):
    """The tokenizer could not be found; the message says where ftlint looked."""


@dataclass
class TokenizerFiles:
    name: str                      # what the user or the config asked for
    origin: str                    # where the files were found, for messages
    tokenizer_json: str
    config: dict[str, Any] = field(default_factory=dict)
    chat_template: str | None = None
    template_origin: str = ""
    special: dict[str, str] = field(default_factory=dict)   # bos_token/eos_token/pad_token/... -> text
    context_length: int | None = None
    context_origin: str = ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _token_text(value: Any) -> str | None:
    """Special tokens are strings or serialised AddedToken dicts ({"content": ...})."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _template_from_config(config: dict[str, Any]) -> str | None:
    tmpl = config.get("chat_template")
    if isinstance(tmpl, str):
        return tmpl
    if isinstance(tmpl, list):  # named variants: [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in tmpl if isinstance(t, dict)}
        chosen = named.get("default")
        return chosen if isinstance(chosen, str) else None
    return None


def load_folder(folder: Path, name: str, origin: str, tokenizer_json: Path | None = None) -> TokenizerFiles:
    tok = tokenizer_json or folder / "tokenizer.json"
    if not tok.is_file():
        if (folder / "tokenizer.model").is_file():
            raise Unresolved(f"{origin} has only a SentencePiece tokenizer.model and no tokenizer.json "
                             "(convert it once with transformers' `save_pretrained`)")
        raise Unresolved(f"{origin} has no tokenizer.json")
    config = _read_json(folder / "tokenizer_config.json")
    special: dict[str, str] = {}
    stm = _read_json(folder / "special_tokens_map.json")
    for key in SPECIAL_KEYS:
        for source in (config, stm):  # tokenizer_config wins, as in transformers
            text = _token_text(source.get(key))
            if text is not None:
                special[key] = text
                break
    template, template_origin = None, ""
    jinja_file = folder / "chat_template.jinja"
    if jinja_file.is_file():  # transformers 5 saves the template beside the config
        try:
            template, template_origin = jinja_file.read_text(encoding="utf-8"), "chat_template.jinja"
        except (OSError, UnicodeDecodeError):
            template = None
    if template is None:
        template = _template_from_config(config)
        template_origin = "tokenizer_config.json" if template is not None else ""
    context, context_origin = None, ""
    model_config = _read_json(folder / "config.json")
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = model_config.get(key) or (model_config.get("text_config") or {}).get(key)
        if isinstance(value, int) and value > 0:
            context, context_origin = value, f"config.json {key}"
            break
    if context is None:
        mml = config.get("model_max_length")
        if isinstance(mml, (int, float)) and 0 < mml < _NO_LIMIT:
            context, context_origin = int(mml), "tokenizer_config.json model_max_length"
    return TokenizerFiles(name, origin, str(tok), config, template, template_origin, special, context,
                          context_origin)


def find_in_cache(repo_id: str) -> Path | None:
    """The snapshot folder of `repo_id` in the HF cache that holds a tokenizer.json (no network)."""
    return cached_snapshot(repo_id, "tokenizer.json")


def download(repo_id: str) -> Path | None:
    """Fetch only the small tokenizer files into the HF cache; None when that is not possible."""
    if hub_status() is not None:
        return None
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    folder: Path | None = None
    for name in TOKENIZER_FILES:
        try:
            path = hf_hub_download(repo_id, name, etag_timeout=5)
        except Exception:  # missing optional file, gated repo, network error: keep what we have
            if name == "tokenizer.json":
                return None
            continue
        folder = Path(path).parent
    return folder


def looks_like_repo_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))


def resolve(spec: str) -> TokenizerFiles:
    """Resolve a tokenizer.json path, a folder, or a hub id; raises Unresolved with where it looked."""
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        if path.suffix != ".json":
            raise Unresolved(f"{spec} is not a tokenizer.json file")
        return load_folder(path.parent, spec, f"file {spec}", tokenizer_json=path)
    if path.is_dir():
        return load_folder(path, spec, f"folder {spec}")
    looked = [f"no local folder {spec}"]
    if looks_like_repo_id(spec):
        snap = find_in_cache(spec)
        if snap is not None:
            return load_folder(snap, spec, f"Hugging Face cache ({snap})")
        looked.append(f"not in the Hugging Face cache ({hf_cache_dir()})")
        why_not = hub_status()
        if why_not is not None:
            looked.append(why_not)
        else:
            folder = download(spec)
            if folder is not None:
                return load_folder(folder, spec, f"Hugging Face hub ({spec})")
            looked.append("hub download failed")
    raise Unresolved(f"tokenizer for {spec!r} not available offline: " + ", ".join(looked))
