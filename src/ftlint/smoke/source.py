"""Find the model the config names on this machine, offline, and decide whether it needs remote code.

Order: the path as written (relative to the working directory, as trainers resolve it), the
path relative to the config's folder, then the Hugging Face cache (never the network). The
caller reports every place tried when nothing is found.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hub import cached_snapshot, hf_cache_dir


@dataclass
class ModelSource:
    name: str                     # as written in the config
    path: str | None = None       # local folder with config.json
    source: str | None = None     # local | hf-cache
    looked: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def find_model(name: str, config_dir: str | None) -> ModelSource:
    src = ModelSource(name)
    candidates = [name]
    if config_dir and not os.path.isabs(name):
        candidates.append(os.path.join(config_dir, name))
    for cand in candidates:
        folder = Path(cand).expanduser()
        src.looked.append(f"local folder {folder}")
        if (folder / "config.json").is_file():
            src.path, src.source = os.path.normpath(str(folder)), "local"
            break
    else:
        snap = _from_cache(name)
        src.looked.append(f"Hugging Face cache {hf_cache_dir()}")
        if snap:
            src.path, src.source = snap, "hf-cache"
    if src.path:
        try:
            config = json.loads((Path(src.path) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        src.config = config if isinstance(config, dict) else {}  # a list or scalar is no model config
    return src


def _from_cache(repo_id: str) -> str | None:
    """A cached snapshot of `repo_id` holding config.json, without touching the network."""
    if repo_id.count("/") != 1 or os.path.exists(repo_id):
        return None
    snap = cached_snapshot(repo_id, "config.json")
    return str(snap) if snap is not None else None


def remote_code_needed(config: dict[str, Any], known_types: set[str]) -> str | None:
    """The code a model would run (its auto_map entry), when transformers cannot build it alone."""
    auto_map = config.get("auto_map")
    model_type = config.get("model_type")
    if not auto_map or (model_type in known_types):
        return None
    if isinstance(auto_map, dict):
        target = auto_map.get("AutoModelForCausalLM") or next(iter(auto_map.values()), "")
        return str(target) if target else "auto_map"
    return "auto_map"
