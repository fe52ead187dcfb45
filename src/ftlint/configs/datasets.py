"""Where a config's datasets live, what their first records look like, how many there are.

Nothing here downloads: a dataset that is not on disk is classified as a hub id (left alone) or
as a local path that is missing (a finding).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")
OTHER_DATA_SUFFIXES = (".txt", ".arrow", ".tsv", ".gz", ".zst", ".xz", ".bz2")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SNIFF = 16          # records read to describe a file
MAX_DIR_FILES = 64  # data files taken from one dataset folder


def looks_like_hub_id(ref: str) -> bool:
    """`owner/name` with no data-file suffix and no path syntax."""
    ref = ref.strip()
    if ref.startswith((".", "/", "~")) or "\\" in ref:
        return False
    if ref.lower().endswith(DATA_SUFFIXES + OTHER_DATA_SUFFIXES):
        return False
    return bool(_HUB_ID.match(ref)) or (bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*", ref)) and "." not in ref)


def looks_like_local_path(ref: str) -> bool:
    ref = ref.strip()
    return (ref.startswith((".", "/", "~")) or ref.lower().endswith(DATA_SUFFIXES + OTHER_DATA_SUFFIXES)
            or ref.count("/") >= 2 or "\\" in ref)


def candidates(ref: str, bases: list[Path]) -> list[Path]:
    """Where a relative path may live: next to the config first, then the working directory."""
    p = Path(os.path.expanduser(ref))
    if p.is_absolute():
        return [p]
    out: list[Path] = []
    for base in bases:
        c = base / p
        if c not in out:
            out.append(c)
    return out


def find_local(ref: str, bases: list[Path]) -> Path | None:
    for c in candidates(ref, bases):
        if c.exists():
            return c
    return None


def data_files_in(folder: Path) -> list[Path]:
    """Data files inside a dataset folder (sorted, bounded), skipping hidden and metadata files."""
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name in ("dataset_info.json", "dataset_dict.json", "state.json"):
                continue
            if name.lower().endswith(DATA_SUFFIXES):
                out.append(Path(root) / name)
                if len(out) >= MAX_DIR_FILES:
                    return out
    return out


@functools.lru_cache(maxsize=256)
def _sniff(path: str, mtime: float, size: int) -> tuple[tuple[dict, ...], str | None, int]:
    from ..formats import detect_format
    from ..records import Record, reader_for

    reader = reader_for(path)
    if reader is None:
        return (), None, 0
    records: list[dict] = []
    problems = 0
    try:
        for item in reader(path, path, 16 * 1024 * 1024):
            if isinstance(item, Record):
                if isinstance(item.data, dict):
                    records.append(item.data)
            else:
                problems += 1
            if len(records) >= SNIFF or problems > SNIFF:
                break
    except (OSError, ValueError, ImportError, RecursionError):
        return (), None, problems
    counts: dict[str, int] = {}
    for rec in records:
        fmt = detect_format(rec)
        if fmt:
            counts[fmt] = counts.get(fmt, 0) + 1
    dominant = max(counts, key=counts.get) if counts else None  # type: ignore[arg-type]
    return tuple(records), dominant, problems


def sniff(path: str | Path) -> tuple[list[dict], str | None]:
    """The first records (objects only) of a data file and their dominant ftlint format."""
    p = str(path)
    try:
        st = os.stat(p)
    except OSError:
        return [], None
    if not os.path.isfile(p):
        return [], None
    records, fmt, _ = _sniff(p, st.st_mtime, st.st_size)
    return list(records), fmt


@functools.lru_cache(maxsize=256)
def _count(path: str, mtime: float, size: int) -> int | None:
    lower = path.lower()
    try:
        if lower.endswith((".jsonl", ".ndjson")):
            n = 0
            with open(path, "rb") as fh:
                for line in fh:
                    if line.strip():
                        n += 1
            return n
        if lower.endswith(".json"):
            import orjson

            with open(path, "rb") as fh:
                blob = fh.read()
            try:
                data = orjson.loads(blob)
            except orjson.JSONDecodeError:
                # JSON Lines saved as .json
                return sum(1 for line in blob.splitlines() if line.strip())
            return len(data) if isinstance(data, list) else 1
        if lower.endswith(".csv"):
            import csv

            with open(path, newline="", encoding="utf-8", errors="replace") as fh:
                return max(0, sum(1 for _ in csv.reader(fh)) - 1)
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError, ImportError, MemoryError):
        return None
    return None


def count_examples(path: str | Path) -> int | None:
    """Records in a local data file (None when it cannot be counted)."""
    p = str(path)
    try:
        st = os.stat(p)
    except OSError:
        return None
    if not os.path.isfile(p):
        return None
    return _count(p, st.st_mtime, st.st_size)


def first_keys(records: list[dict]) -> set[str]:
    keys: set[str] = set()
    for rec in records:
        keys.update(k for k in rec if isinstance(k, str))
    return keys


def message_keys(records: list[dict], field: str) -> set[str]:
    """Keys used inside the message objects of `field` in the sampled records."""
    keys: set[str] = set()
    for rec in records:
        msgs: Any = rec.get(field)
        if isinstance(msgs, list):
            for m in msgs[:4]:
                if isinstance(m, dict):
                    keys.update(k for k in m if isinstance(k, str))
    return keys
