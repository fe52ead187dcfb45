"""The built-in catalog: architecture facts of the base models users pick most.

Data lives in `ftlint/data/model_catalog.json` in config.json style, so it goes through the
same parser as a real config.json. Names match case-insensitively, with or without the
organisation, and with the usual variant suffixes dropped (-Instruct, -chat, -hf, -it,
-bnb-4bit, unsloth re-uploads, …): those variants have the same shape.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from .arch import ModelArch

# Tokens that name a variant of the same weights' shape, not a different shape.
_NOISE = {"instruct", "chat", "hf", "it", "pt", "base", "bnb", "4bit", "8bit", "unsloth", "gptq", "awq",
          "fp16", "bf16", "gguf", "dynamic", "thinking", "meta", "intermediate"}
# Tokens that mean the release ships a chat template.
_CHAT = {"instruct", "chat", "it", "thinking"}


def _tokens(name: str) -> list[str]:
    base = name.strip().lower().rstrip("/").rsplit("/", 1)[-1]
    base = re.sub(r"^(meta-)?llama(\d)", r"llama-\2", base.replace("_", "-"))  # llama3-8b -> llama-3-8b
    return [t for t in re.split(r"[-\s]+", base) if t]


def normalise(name: str) -> str:
    """The key a model name is matched by: variant tokens and dates (2507, 2410) dropped."""
    kept = [t for t in _tokens(name) if t not in _NOISE and not re.fullmatch(r"\d{4}", t)]
    return "".join(kept)


def is_chat_variant(name: str) -> bool:
    return any(t in _CHAT for t in _tokens(name))


@functools.lru_cache(maxsize=1)
def _entries() -> tuple[list[dict[str, Any]], dict[str, int]]:
    text = resources.files("ftlint").joinpath("data/model_catalog.json").read_text(encoding="utf-8")
    models = json.loads(text)["models"]
    index: dict[str, int] = {}
    for i, entry in enumerate(models):
        for name in (entry["id"], *entry.get("aliases", [])):
            index.setdefault(name.lower(), i)
            index.setdefault(normalise(name), i)
    return models, index


def catalog_ids() -> list[str]:
    return [e["id"] for e in _entries()[0]]


def catalog_entry(name: str) -> dict[str, Any] | None:
    models, index = _entries()
    i = index.get(name.strip().lower())
    if i is None:
        i = index.get(normalise(name))
    return models[i] if i is not None else None


def lookup(name: str) -> ModelArch | None:
    """The catalog's ModelArch for `name` (named as asked), or None."""
    from .resolve import arch_from_config

    entry = catalog_entry(name)
    if entry is None:
        return None
    arch = arch_from_config(entry["config"], name, "catalog")
    if is_chat_variant(name):
        arch.has_chat_template = True
    else:
        arch.has_chat_template = entry.get("base_has_chat_template")
    return arch
