"""Training examples for the smoke, read with ftlint's own readers and normaliser.

Every record goes through `ftlint.records` (streaming readers) and `ftlint.formats`
(`detect_format` + `normalise`), then becomes a row TRL's SFTTrainer accepts: conversational
`messages`, `prompt`/`completion` strings, or `text`. alpaca and sharegpt become messages.
No training-stack imports here.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..formats import FORMATS, detect_format, normalise
from ..records import DATASET_SUFFIXES, Problem, Record, reader_for

TRL_ROLES = {"system", "user", "assistant", "tool"}


@dataclass
class Row:
    """One example as TRL will see it, with where it came from."""

    data: dict[str, Any]
    kind: str            # messages | prompt_completion | text
    path: str            # display path of the dataset file
    line: int
    chars: int           # characters of all text (a length proxy before tokenising)
    tokens: int | None = None


@dataclass
class DataPool:
    train: list[Row] = field(default_factory=list)
    eval: list[Row] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    total_train_records: int = 0      # every record of the training files (for the projection)
    missing: list[str] = field(default_factory=list)  # datasets that are not local files
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    kind: str | None = None


def _display(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def resolve_dataset(spec: Any, config_dir: str | None) -> list[str]:
    """Local files for a dataset entry (a file, or the data files in a folder); [] when not local."""
    candidates: list[str] = []
    local = getattr(spec, "local_path", None)
    if local:
        candidates.append(local)
    raw = getattr(spec, "path", None) or ""
    if raw:
        candidates.append(raw)
        if config_dir and not os.path.isabs(raw):
            candidates.append(os.path.join(config_dir, raw))
    for cand in candidates:
        if os.path.isfile(cand):
            return [cand]
        if os.path.isdir(cand):
            files = sorted(str(p) for p in Path(cand).rglob("*")
                           if p.is_file() and p.suffix.lower() in DATASET_SUFFIXES)
            if files:
                return files
    return []


# The configs package's column roles -> the key ftlint's normaliser reads.
ALPACA_KEYS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
               "history": "history"}


def remap(data: dict, columns: dict[str, str] | None, fmt: str | None) -> dict:
    """Rename the config's custom column names (Axolotl `field_messages`, LLaMA-Factory
    `columns:`) to the standard keys, so the standard normaliser reads them."""
    if not columns:
        return data
    out = dict(data)
    if fmt == "alpaca":
        for role, std in ALPACA_KEYS.items():
            actual = columns.get(role)
            if actual and actual != std and actual in data and std not in data:
                out[std] = data[actual]
        return out
    actual = columns.get("messages")
    if actual and actual not in ("messages", "conversations") and actual in data:
        out["messages"] = data[actual]
    role_k, content_k = columns.get("role"), columns.get("content")
    if (role_k and role_k not in ("role", "from")) or (content_k and content_k not in ("content", "value")):
        key = "messages" if "messages" in out else "conversations"
        msgs = out.get(key)
        if isinstance(msgs, list):
            names = {role_k: "role", content_k: "content"}
            out[key] = [{names.get(k, k): v for k, v in m.items()} if isinstance(m, dict) else m for m in msgs]
    return out


def to_row(data: Any, fmt_hint: str | None, path: str, line: int, record: Any,
           columns: dict[str, str] | None = None) -> tuple[Row | None, str | None]:
    """(row, None) or (None, reason it was skipped)."""
    if not isinstance(data, dict):
        return None, "record is not an object"
    fmt = fmt_hint if fmt_hint in FORMATS else detect_format(data)
    if columns:
        mapped = remap(data, columns, fmt)
        if mapped is not data:
            data = mapped
            record = Record(record.path, record.index, data, record.line, record.column)
            if fmt_hint not in FORMATS:
                fmt = detect_format(data)
    if fmt is None:
        return None, "format not recognised"
    example, defects = normalise(record, fmt)
    if any(d.code in ("FTP004", "FTP005") for d in defects):
        return None, f"malformed {fmt} record"
    if fmt == "text":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return None, "empty text"
        return Row({"text": text}, "text", path, line, len(text)), None
    if fmt == "prompt_completion" and isinstance(data.get("prompt"), str) and isinstance(data.get("completion"), str):
        p, c = data["prompt"], data["completion"]
        if not c.strip():
            return None, "empty completion"
        return Row({"prompt": p, "completion": c}, "prompt_completion", path, line, len(p) + len(c)), None
    messages = []
    for turn in example.turns:
        if turn.role not in TRL_ROLES:
            return None, f"role {turn.raw_role!r} has no chat-template equivalent"
        messages.append({"role": turn.role, "content": turn.text})
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return None, "no assistant answer to train on"
    return Row({"messages": messages}, "messages", path, line, sum(len(m["content"]) for m in messages)), None


def _read(path: str, fmt_hint: str | None, limit: int, pool: DataPool, rows: list[Row],
          columns: dict[str, str] | None = None) -> dict[str, Any]:
    """Read up to `limit` usable rows from one file; count the rest cheaply for the projection."""
    display = _display(path)
    reader = reader_for(path)
    info: dict[str, Any] = {"path": display, "records_read": 0, "records_total": 0, "used": 0}
    if reader is None:
        pool.skipped[f"{display}: unsupported file type"] += 1
        return info
    read = 0
    exhausted = True
    for item in reader(path, display):
        if isinstance(item, Problem):
            pool.skipped["unparseable record"] += 1
            if item.fatal:
                break
            continue
        read += 1
        if len(rows) >= limit:
            exhausted = False
            break
        row, reason = to_row(item.data, fmt_hint, display, item.line, item, columns)
        if row is None:
            pool.skipped[reason or "unusable"] += 1
        else:
            rows.append(row)
            info["used"] += 1
    info["records_read"] = read
    total = read
    if not exhausted:
        from ..configs.datasets import count_examples

        counted = count_examples(path)
        total = counted if counted is not None else sum(1 for x in reader(path, display) if not isinstance(x, Problem))
    info["records_total"] = total
    return info


def load_pool(plan: Any, config_dir: str | None, max_examples: int, max_eval: int = 64) -> DataPool:
    """Rows from the plan's local train (and eval) datasets; alpaca/sharegpt become messages."""
    pool = DataPool()
    for spec in getattr(plan, "datasets", None) or []:
        files = resolve_dataset(spec, config_dir)
        if not files:
            pool.missing.append(spec.path)
            continue
        split = getattr(spec, "split", "train") or "train"
        fmt_hint = getattr(spec, "format", None)
        columns = getattr(spec, "columns", None) or None
        for path in files:
            if split == "train":
                info = _read(path, fmt_hint, max_examples, pool, pool.train, columns)
                pool.total_train_records += info["records_total"]
            else:
                info = _read(path, fmt_hint, len(pool.eval) + max_eval, pool, pool.eval, columns)
            info["split"] = split
            info["format"] = fmt_hint
            pool.files.append(info)
    _unify(pool)
    return pool


def _unify(pool: DataPool) -> None:
    """One row kind for the whole dataset (a HF Dataset has one schema): the majority's, with
    prompt/completion strings turned into messages when messages win; text rows cannot be."""
    kinds = Counter(r.kind for r in pool.train)
    if not kinds:
        return
    kind = kinds.most_common(1)[0][0]
    if len(kinds) > 1 and kind != "text":
        kind = "messages" if "messages" in kinds else kind

    def fit(rows: list[Row]) -> list[Row]:
        out = []
        for r in rows:
            if r.kind == kind:
                out.append(r)
            elif kind == "messages" and r.kind == "prompt_completion":
                r.data = {"messages": [{"role": "user", "content": r.data["prompt"]},
                                       {"role": "assistant", "content": r.data["completion"]}]}
                r.kind = "messages"
                out.append(r)
            else:
                pool.skipped[f"{r.kind} row in a {kind} dataset"] += 1
        return out

    pool.train = fit(pool.train)
    pool.eval = fit(pool.eval)
    pool.kind = kind


def pick(rows: list[Row], n_train: int, n_eval: int, eval_rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """The `n_train` longest rows (longest first: the memory peak is the worst case) and
    `n_eval` held-out rows: from the eval split when there is one, else spread over the rest."""
    ranked = sorted(rows, key=lambda r: (r.tokens if r.tokens is not None else r.chars), reverse=True)
    train = ranked[:n_train]
    if eval_rows:
        held = eval_rows[:n_eval]
    else:
        rest = ranked[n_train:]
        if n_eval <= 0 or not rest:
            held = []
        elif len(rest) <= n_eval:
            held = rest
        else:
            stride = len(rest) / n_eval
            held = [rest[int(i * stride)] for i in range(n_eval)]
    return train, held
