"""Whether the Hugging Face hub may be asked at all: one policy for every resolver.

The hub is used only when the user has not turned it off (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE,
FTLINT_OFFLINE) and a TCP connection to it opens within a second. The probe runs once per
process, so an offline machine costs one short timeout instead of huggingface_hub's retries.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

_OFF = {"1", "true", "yes", "on"}
HUB_HOST = "huggingface.co"


def hub_disabled_by_env() -> bool:
    return any(os.environ.get(k, "").strip().lower() in _OFF
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "FTLINT_OFFLINE"))


@functools.lru_cache(maxsize=1)
def _reachable(timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_status() -> str | None:
    """None when the hub may be used; otherwise why not, for "what was tried" messages."""
    if hub_disabled_by_env():
        return "hub access is off (HF_HUB_OFFLINE)"
    if not _reachable():
        return "hub not reachable"
    return None


def hf_cache_dir() -> Path:
    """The hub cache folder, by huggingface_hub's environment rules (without importing it)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).expanduser() / "huggingface" / "hub"


def cached_snapshot(repo_id: str, filename: str) -> Path | None:
    """The snapshot folder of `repo_id` in the HF cache that holds `filename`: the one
    `refs/main` names, else the newest such snapshot. Never touches the network."""
    repo = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    try:
        commit = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):  # no refs/main (a snapshot copied in by hand): the newest
        commit = ""
    if commit and (snapshots / commit / filename).is_file():
        return snapshots / commit
    candidates = [p for p in snapshots.iterdir() if (p / filename).is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None
