"""GPU table: memory the driver reports, bf16 support, peak dense TFLOPs, a documented price."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from ..findings import UsageError

MiB = 1024 ** 2
GiB = 1024 ** 3


@dataclass(frozen=True)
class GPU:
    id: str
    memory_bytes: int
    bf16: bool = True
    tflops_bf16: float | None = None
    price_per_hour: float | None = None
    names: tuple[str, ...] = ()


def _key(name: str) -> str:
    k = re.sub(r"[^a-z0-9]", "", name.lower())
    for prefix in ("nvidia", "geforce", "tesla"):
        k = k.removeprefix(prefix)
    return k


@functools.lru_cache(maxsize=1)
def _table() -> tuple[dict[str, GPU], dict[str, str]]:
    text = resources.files("ftlint").joinpath("data/gpus.json").read_text(encoding="utf-8")
    gpus: dict[str, GPU] = {}
    index: dict[str, str] = {}
    for row in json.loads(text)["gpus"]:
        gpu = GPU(row["id"], int(row["memory_mib"]) * MiB, bool(row["bf16"]), row.get("tflops_bf16"),
                  row.get("price_per_hour"), tuple(row.get("names", ())))
        gpus[gpu.id] = gpu
        for name in (gpu.id, *gpu.names):
            index.setdefault(_key(name), gpu.id)
    return gpus, index


def gpu_ids() -> list[str]:
    return list(_table()[0])


def find_gpu(name: str) -> GPU:
    """A GPU by id or common spelling ("RTX 4090", "A100 80GB", "h100"), case-insensitive."""
    gpus, index = _table()
    key = _key(name)
    gid = index.get(key) or index.get(key.replace("gb", "")) or index.get(key + "gb")
    if gid is None:
        raise UsageError(f"unknown GPU {name!r}; known: {', '.join(gpus)} (or pass --gpu-memory 24GiB)")
    return gpus[gid]


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*$", re.I)


def parse_memory(text: str) -> int:
    """'24GiB', '24 GB', '24G', '24576MiB', '24' (GiB) -> bytes. Card labels are binary: GB reads as GiB."""
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(f"cannot read GPU memory {text!r}; write it like 24GiB, 80GB or 24576MiB")
    value, unit = float(m.group(1)), (m.group(2) or "g").lower()
    size = int(value * 1024 ** {"k": 1, "m": 2, "g": 3, "t": 4}[unit])
    if size <= 0:
        raise UsageError(f"GPU memory must be positive, got {text!r}")
    return size


def custom_gpu(memory: str) -> GPU:
    size = parse_memory(memory)
    return GPU(f"custom-{size / GiB:g}gib", size, True, None, None)
