"""Whether the Hugging Face hub may be asked at all: one policy for every resolver.

The hub is used only when the user has not turned it off (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE,
FTLINT_OFFLINE) and a TCP connection to it opens within a second. The probe runs once per
process, so an offline machine costs one short timeout instead of huggingface_hub's retries.
"""

from __future__ import annotations

import functools
import os
import socket

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
