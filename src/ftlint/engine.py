"""Run the selected rules over files: discovery, per-file streaming, dataset-level merging."""

from __future__ import annotations

import collections
import contextlib
import errno
import gc
import itertools
import multiprocessing as mp
import os
import pickle
import signal
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .findings import Finding, Location, Related, Severity, UsageError
from .formats import REQUIRED_KEYS, Example, detect_format, normalise, type_name
from .records import (DATASET_SUFFIXES, Problem, Record, Slice, is_json_array, iter_jsonl_lines, jsonl_chunks,
                      read_json, read_jsonl, reader_for)
from .registry import Selection, rule_options
from .rule import Context, Rule, fingerprint, record_digest
from .settings import Settings

CONFIG_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache"}
NOT_DATASETS = {"dataset_info.json", "package.json", "tsconfig.json"}
SPLIT_WORDS = {
    "train": "train", "training": "train",
    "eval": "eval", "evaluation": "eval", "validation": "eval", "valid": "eval", "val": "eval",
    "dev": "eval", "test": "test",
}
SNIFF_RECORDS = 64  # records buffered to decide a file's dominant format
PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # smaller files are faster in one process
BATCH_RECORDS = 1024  # examples handed to the rules at once (`check_batch`, `collect_batch`)


@dataclass
class FileStats:
    path: str
    records: int = 0
    formats: Counter = field(default_factory=Counter)
    kind: str = "dataset"  # dataset | config


@dataclass
class Report:
    findings: list[Finding]
    files: list[FileStats]
    rules: list[type[Rule]]


def display_path(path: str) -> str:
    """Relative to the working directory when inside it, POSIX separators."""
    p = Path(path)
    try:
        rel = p.resolve().relative_to(Path.cwd().resolve())
        return rel.as_posix()
    except (ValueError, OSError, RuntimeError):  # outside the cwd; RuntimeError: a symlink loop (Python < 3.13)
        return p.as_posix()


def redact_secrets(findings: list[Finding]) -> None:
    """Messages and JSON pointers quote user data (keys, roles, tool names); a secret in one is
    replaced by its type and a short hash here, once, so no output format (SARIF goes to GitHub)
    ever prints it. Line and column still point at the place."""
    from dataclasses import replace

    from .rules.security import find_secrets, redact

    def scrub(text: str | None) -> str | None:
        for kind, value in find_secrets(text) if text else ():
            text = text.replace(value, f"<{kind} {redact(value)}>")
        return text

    for f in findings:
        texts = [f.message, f.location.pointer] + [t for r in f.related for t in (r.message, r.location.pointer)]
        if not any(t and find_secrets(t) for t in texts):
            continue
        f.message = scrub(f.message) or ""
        f.location = replace(f.location, pointer=scrub(f.location.pointer))
        f.related = [Related(replace(r.location, pointer=scrub(r.location.pointer)), scrub(r.message) or "")
                     for r in f.related]


def split_of(path: str) -> str | None:
    stem = Path(path).name.lower().split(".")[0]
    for token in stem.replace("-", "_").split("_"):
        if token in SPLIT_WORDS:
            return SPLIT_WORDS[token]
    return None


def discover(paths: Iterable[str], exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(path, kind) for every file to lint; kind is 'dataset' or 'config'."""
    import fnmatch

    out: list[tuple[str, str]] = []
    for raw in paths:
        if not os.path.lexists(raw):
            raise UsageError(f"{raw}: no such file or directory")
        if os.path.isdir(raw):
            found = 0
            for root, dirs, files in os.walk(raw, followlinks=False):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if any(fnmatch.fnmatch(full, pat) or fnmatch.fnmatch(name, pat) for pat in exclude):
                        continue
                    if os.path.exists(full) and not os.path.isfile(full):
                        continue  # a pipe or device: opening it could block forever
                    kind = _kind(full, explicit=False)
                    if kind:
                        out.append((full, kind))
                        found += 1
            if not found:
                raise UsageError(f"{raw}: no dataset (.jsonl, .json, .csv, .parquet) or training "
                                 "config (.yaml) files found in this directory")
            continue
        if os.path.exists(raw) and not os.path.isfile(raw):
            raise UsageError(f"{raw}: not a regular file (a pipe or device); reading it could block forever")
        kind = _kind(raw, explicit=True)
        if kind is None:
            raise UsageError(f"{raw}: unsupported file type; expected a dataset (.jsonl, .ndjson, "
                             ".json, .csv, .parquet) or a training config (.yaml, .yml)")
        out.append((raw, kind))
    return out


def _kind(path: str, explicit: bool) -> str | None:
    lower = path.lower()
    if os.path.islink(path) and not os.path.exists(path):
        return "dataset" if explicit else None  # broken link: reported when read
    if lower.endswith(DATASET_SUFFIXES):
        if not explicit and os.path.basename(lower) in NOT_DATASETS:
            return None
        return "dataset"
    if lower.endswith(CONFIG_SUFFIXES):
        if explicit:
            return "config"
        from .configs import looks_like_training_config

        return "config" if looks_like_training_config(path) else None
    return None


class Linter:
    def __init__(self, settings: Settings, selection: Selection, services: dict[str, Any] | None = None,
                 debug: bool = False) -> None:
        self.settings = settings
        self.selection = selection
        self.services = services or {}
        self.debug = debug
        # Checked once, for every rule the config names (enabled or not): a bad value is exit 2 now,
        # not an internal error in the middle of a run.
        self._user_options = rule_options(settings, selection.rules)
        self.rules = {c: cls(self._options(cls)) for c, cls in selection.rules.items() if c in selection.enabled}
        self.record_rules = [r for r in self.rules.values() if r.scope == "record"]
        self.dataset_rules = [r for r in self.rules.values() if r.scope == "dataset"]
        self.config_rules = [r for r in self.rules.values() if r.scope == "config"]

    def _options(self, cls: type[Rule]) -> dict[str, Any]:
        return dict(self._user_options.get(cls.code, {}))

    # ------------------------------------------------------------------------------------
    def lint(self, paths: Iterable[str], scanner: "Scanner | None" = None) -> Report:
        """Lint `paths`. `scanner` decides where dataset files are scanned (ftlint.distributed
        passes one that runs on Ray); by default here, with forked workers for big JSONL files."""
        targets = discover(paths, self.settings.exclude)
        findings: list[Finding] = []
        stats: list[FileStats] = []
        facts: dict[str, dict[str, list[Any]]] = {c: {} for c in (r.code for r in self.dataset_rules)}
        splits: dict[str, str] = {}
        counts: dict[str, int] = {}

        datasets: list[tuple[str, Context]] = []
        for path, kind in targets:
            if kind == "config":
                cfg_findings, cfg_datasets = self._lint_config(path)
                findings.extend(cfg_findings)
                stats.append(FileStats(display_path(path), kind="config"))
                datasets.extend(cfg_datasets)
            else:
                split = split_of(path)
                datasets.append((path, Context(split=split, file_format=self.settings.format_hint)))

        # A file named directly and also used by a config is linted once, with the config's
        # plan (model, sequence length, split), whichever came first (a dict keeps first order).
        chosen: dict[str, tuple[str, Context]] = {}
        for path, ctx in datasets:
            real = os.path.realpath(path)
            if real not in chosen or (ctx.plan is not None and chosen[real][1].plan is None):
                chosen[real] = (path, ctx)
        jobs: list[tuple[str, str, Context]] = []
        for path, ctx in chosen.values():
            display = display_path(path)
            ctx.path = display
            ctx.services = self.services
            if ctx.split:
                splits[display] = ctx.split
            jobs.append((path, display, ctx))
        # Each file's chunks come back in file order and merge in file order, whatever scanned them.
        scanned = (scanner or self._scan_files)(jobs)
        for (path, display, ctx), chunks in zip(jobs, scanned):
            file_findings, file_stats = self._merge_chunks(display, chunks, facts)
            findings.extend(file_findings)
            stats.append(file_stats)
            counts[display] = file_stats.records

        dctx = Context(services=self.services, splits=splits, record_counts=counts)
        for rule in self.dataset_rules:
            dctx.options = rule.options
            findings.extend(self._guard(rule, "", lambda: list(rule.finish(facts[rule.code], dctx))))

        findings = [self._apply_severity(f) for f in findings if self.selection.is_enabled(f.code, f.location.path)]
        redact_secrets(findings)
        findings.sort(key=Finding.sort_key)
        return Report(findings, stats, self.selection.enabled_rules())

    def _apply_severity(self, f: Finding) -> Finding:
        override = self.selection.severity.get(f.code)
        if override is not None:
            f.severity = override
        return f

    # ------------------------------------------------------------------------------------
    def _lint_config(self, path: str) -> tuple[list[Finding], list[tuple[str, Context]]]:
        from .configs import load_config

        display = display_path(path)
        doc = load_config(path, display, self.settings)
        findings: list[Finding] = list(doc.findings)
        ctx = Context(path=display, plan=doc.plan, services=self.services)
        for rule in self.config_rules:
            ctx.options = rule.options
            findings.extend(self._guard(rule, display, lambda: list(rule.check_config(doc, doc.plan, ctx))))
        datasets = [(ref.path, Context(split=ref.split, file_format=ref.format or self.settings.format_hint,
                                       plan=doc.plan)) for ref in doc.datasets if ref.exists]
        return findings, datasets

    def _scan_files(self, jobs: list[tuple[str, str, Context]]) -> Iterator[list["_Chunk"]]:
        """The local scanner: one file after the other (lazily, so each merges before the next)."""
        for path, display, ctx in jobs:
            yield self._scan_file(path, display, ctx)

    def _scan_file(self, path: str, display: str, ctx: Context) -> list["_Chunk"]:
        """Read one dataset file (sniffing its dominant format into `ctx`) and scan it."""
        try:
            reader, items, buffered = self._sniff(path, display, ctx)
            jobs = self._jobs_for(path, reader, buffered)
            if jobs > 1:
                close = getattr(items, "close", None)
                if close:
                    close()
                if ctx.file_format:
                    # Ask the rules whether they apply here before forking: what `active` loads
                    # (numpy tables, a tokenizer) is then loaded once and inherited by every worker.
                    self._rules_for(ctx.file_format, ctx, {})
                scan = _scan_json_parallel if reader is read_json else _scan_parallel
                chunks = scan(self, path, display, ctx, jobs)
            else:
                chunks = [self._scan(_chain(buffered, items), ctx)]
        except UsageError:
            raise
        except OSError as exc:
            raise UsageError(f"{display}: cannot read: {exc.strerror or exc}") from exc
        return chunks

    def _sniff(self, path: str, display: str, ctx: Context) -> tuple[Any, Iterator[Record | Problem],
                                                                     list[Record | Problem]]:
        """Open a dataset file and read its head: (reader, the rest, the head). The head's
        dominant format becomes the file's (unless one was given). Raises OSError."""
        reader = reader_for(path) or reader_for(path + ".jsonl")
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a directory, not a dataset file")
        items: Iterator[Record | Problem] = reader(path, display, self.settings.max_line_bytes)
        buffered: list[Record | Problem] = []
        for item in items:
            buffered.append(item)
            if len(buffered) >= SNIFF_RECORDS:
                break
        ctx.file_format = ctx.file_format or _dominant_format(buffered)
        return reader, items, buffered

    def _merge_chunks(self, display: str, chunks: Iterable["_Chunk"],
                      facts: dict[str, dict[str, list[Any]]]) -> tuple[list[Finding], FileStats]:
        """Merge chunk results in file order: the same findings and facts as one sequential pass."""
        stats = FileStats(display)
        findings: list[Finding] = []
        unknown: list[Record] = []
        file_facts = {code: facts[code].setdefault(display, []) for code in facts}
        for chunk in chunks:
            findings.extend(chunk.findings)
            stats.records += chunk.records
            stats.formats.update(chunk.formats)
            unknown.extend(chunk.unknown)
            for code, items_ in chunk.facts.items():
                file_facts[code].extend(items_)
        if unknown and stats.records == len(unknown):
            first = unknown[0]
            findings.append(self._reader_finding(
                "FTP007", f"No record matches a known dataset format (keys of the first record: "
                f"{', '.join(sorted(first.data)[:8]) or 'none'}). Expected alpaca, sharegpt, OpenAI "
                "chat, prompt/completion, text, preference or KTO records; use --format-hint to force one.",
                first.locate(""), first, ""))
        elif unknown:
            for rec in unknown[:50]:
                findings.append(self._reader_finding(
                    "FTP007", f"Record matches no known format (keys: {', '.join(sorted(rec.data)[:8])}).",
                    rec.locate(""), rec, ""))
        return findings, stats

    def _jobs_for(self, path: str, reader: Any, head: list[Record | Problem]) -> int:
        """Processes for one file: JSONL and JSON arrays are split, and only when it pays (or is
        asked for)."""
        if any(isinstance(i, Problem) and i.fatal for i in head):
            return 1
        if reader is read_json:
            if not is_json_array(path):  # one document, or JSON Lines saved as .json
                return 1
        elif reader is not read_jsonl:
            return 1
        if "fork" not in mp.get_all_start_methods():
            return 1
        jobs = self.settings.jobs
        if jobs == 0:
            return min(os.cpu_count() or 1, 8) if os.path.getsize(path) >= PARALLEL_MIN_BYTES else 1
        return max(1, jobs)

    def _scan(self, items: Iterable[Record | Problem], ctx: Context) -> "_Chunk":
        """Structure checks, normalisation, record rules and fact collection over `items`."""
        with _fewer_gc_passes():
            return self._scan_items(items, ctx)

    def _scan_items(self, items: Iterable[Record | Problem], ctx: Context) -> "_Chunk":
        chunk = _Chunk(facts={r.code: [] for r in self.dataset_rules})
        findings = chunk.findings
        dominant = ctx.file_format
        pending: list[Example] = []
        rules_by_format: dict = {}
        for item in items:
            if isinstance(item, Problem):
                findings.append(self._problem(ctx.path, item))
                continue
            chunk.records += 1
            fmt = self._check_structure(item, dominant, findings, chunk.unknown)
            if fmt is None:
                continue
            chunk.formats[fmt] += 1
            example, defects = normalise(item, fmt)
            for d in defects:
                findings.append(self._reader_finding(d.code, d.message, item.locate(d.pointer), item, d.pointer))
            if defects and any(d.code == "FTP005" for d in defects):
                continue
            pending.append(example)
            if len(pending) >= BATCH_RECORDS:
                self._run_batch(pending, ctx, findings, chunk.facts, rules_by_format)
        self._run_batch(pending, ctx, findings, chunk.facts, rules_by_format)
        return chunk

    def _check_structure(self, record: Record, dominant: str | None, findings: list[Finding],
                         unknown: list[Record]) -> str | None:
        data = record.data
        if not isinstance(data, dict):
            findings.append(self._reader_finding(
                "FTP003", f"Record is {'an array' if isinstance(data, list) else type_name(data)}, not a JSON object.", record.locate(""), record, ""))
            return None
        fmt = detect_format(data)
        if fmt is None:
            if dominant in REQUIRED_KEYS:
                missing = [k for k in REQUIRED_KEYS[dominant] if k not in data]
                findings.append(self._reader_finding(
                    "FTP005", f"Missing required field{'s' if len(missing) > 1 else ''} "
                    f"{', '.join('`' + k + '`' for k in missing)} for {dominant} records.",
                    record.locate(""), record, ""))
                return None
            unknown.append(record)
            return None
        if dominant and fmt != dominant and not _compatible(fmt, dominant):
            findings.append(self._reader_finding(
                "FTP006", f"Record is in {fmt} format but the file is mostly {dominant}; trainers "
                "load one format per file.", record.locate(""), record, ""))
        return fmt

    def _rules_for(self, fmt: str, ctx: Context, cache: dict[str, tuple[list[Rule], list[Rule]]]) -> tuple[list[Rule], list[Rule]]:
        """(record rules, dataset rules) that apply to `fmt` in this file; decided once per format."""
        rules = cache.get(fmt)
        if rules is None:
            def applies(rule: Rule) -> bool:
                if rule.formats is not None and fmt not in rule.formats:
                    return False
                ctx.options = rule.options
                try:
                    return rule.active(ctx)
                except Exception:
                    return True  # let the rule run and report its own failure
            rules = cache[fmt] = ([r for r in self.record_rules if applies(r)],
                                  [r for r in self.dataset_rules if applies(r)])
        return rules

    def _run_batch(self, batch: list[Example], ctx: Context, findings: list[Finding],
                   file_facts: dict[str, list[Any]], cache: dict | None = None) -> None:
        """Run the rules on a batch of examples: each rule sees the whole batch at once
        (`check_batch`/`collect_batch`), grouped by format when a file mixes formats. Facts
        keep file order whatever the grouping: dataset rules report the first of a pair."""
        if not batch:
            return
        cache = {} if cache is None else cache
        groups: dict[str, list[int]] = {}
        for i, example in enumerate(batch):
            groups.setdefault(example.format, []).append(i)
        facts: dict[str, list[tuple[int, Any]]] = {}
        for fmt, positions in groups.items():
            group = batch if len(groups) == 1 else [batch[i] for i in positions]
            record_rules, dataset_rules = self._rules_for(fmt, ctx, cache)
            for rule in record_rules:
                ctx.options = rule.options
                try:
                    found = list(rule.check_batch(group, ctx))  # whole, so a failure adds nothing twice
                except Exception:  # find the example that breaks it: only that one loses its findings
                    for example in group:
                        try:
                            findings.extend(rule.check(example, ctx))
                        except Exception as exc:  # a broken rule is a finding, not a crash
                            findings.append(self._internal_error(rule, example.record, exc))
                else:
                    findings.extend(found)
            for rule in dataset_rules:
                ctx.options = rule.options
                try:
                    collected = rule.collect_batch(group, ctx)
                except Exception:
                    collected = []
                    for example in group:
                        try:
                            collected.append(rule.collect(example, ctx))
                        except Exception as exc:
                            collected.append(None)
                            findings.append(self._internal_error(rule, example.record, exc))
                facts.setdefault(rule.code, []).extend(zip(positions, collected))
        for code, pairs in facts.items():
            if len(groups) > 1:
                pairs.sort(key=lambda pair: pair[0])
            file_facts[code].extend(fact for _, fact in pairs if fact is not None)
        batch.clear()

    def _guard(self, rule: Rule, path: str, fn) -> list[Finding]:
        try:
            return fn()
        except UsageError:
            raise
        except Exception as exc:
            return [self._internal_error(rule, Location(path or "<dataset>"), exc)]

    def _internal_error(self, rule: Rule, where: Record | Location, exc: Exception) -> Finding:
        detail = f"{type(exc).__name__}: {exc}"
        if self.debug:
            detail += "\n" + traceback.format_exc()
        if isinstance(where, Record):
            location, key = where.locate(""), record_digest(where)
        else:
            location, key = where, where.path
        return Finding("FTX001", "internal-error", Severity.ERROR,
                       f"Rule {rule.code} ({rule.name}) failed on this input: {detail}. Please report it.",
                       location, fingerprint=fingerprint("FTX001", rule.code, key))

    def _problem(self, display: str, p: Problem) -> Finding:
        cls = self.selection.rules[p.code]
        loc = Location(display, p.line, p.column, p.line, p.end_column or p.column + 1)
        return Finding(cls.code, cls.name, cls.severity, p.message, loc,
                       fingerprint=fingerprint(p.code, "", f"{display}:{p.message}"))

    def _reader_finding(self, code: str, message: str, location: Location, record: Record,
                        pointer: str) -> Finding:
        cls = self.selection.rules[code]
        return Finding(cls.code, cls.name, cls.severity, message, location,
                       fingerprint=fingerprint(code, pointer, record_digest(record)))


@dataclass
class _Chunk:
    """What scanning part of a file produces; chunks merge in file order."""

    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    formats: Counter = field(default_factory=Counter)
    unknown: list[Record] = field(default_factory=list)
    facts: dict[str, list[Any]] = field(default_factory=dict)


# Set in the parent right before forking; the workers inherit it (nothing is pickled but results).
_FORK_STATE: tuple[Linter, str, str, Context] | None = None


# Given a list of (path, display path, context) dataset files, yields each file's chunks in order.
Scanner = Callable[[list[tuple[str, str, Context]]], Iterable[list[_Chunk]]]


def scan_range(linter: Linter, path: str, display: str, ctx: Context, start: int, end: int | None,
               first_line: int) -> _Chunk:
    """Scan the JSONL lines that start in [start, end) of `path`; `start` is a line start and
    `first_line` its 1-based line number. Shared by the forked workers and the Ray tasks."""
    with open(path, "rb") as fh:
        fh.seek(start)
        return linter._scan(iter_jsonl_lines(fh, display, first_line, end, linter.settings.max_line_bytes), ctx)


def _scan_range(bounds: tuple[int, int, int]) -> _Chunk:
    linter, path, display, ctx = _FORK_STATE  # type: ignore[misc]
    return scan_range(linter, path, display, ctx, *bounds)


def _scan_parallel(linter: Linter, path: str, display: str, ctx: Context, jobs: int) -> list[_Chunk]:
    global _FORK_STATE
    chunks = jsonl_chunks(path, jobs * 4)  # several per worker: uneven records still balance
    # never more workers than chunks: `--jobs 10000` on a small file must not fork 10000 processes
    first = list(itertools.islice(chunks, jobs))
    _FORK_STATE = (linter, path, display, ctx)
    try:
        with _Workers(len(first), display) as workers:
            # ranges are handed out as they are found: the first workers start at once
            pending = [workers.submit(_scan_range, bounds) for bounds in itertools.chain(first, chunks)]
            return [workers.result(r) for r in pending]
    finally:
        _FORK_STATE = None


JSON_PIECE_RECORDS = 2048  # records of a JSON array handed to a worker at a time


def _worker_init(pids: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # discards a Ctrl-C that came during the fork
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    pids.put(os.getpid())


class _Workers:
    """Forked workers, with two guards `multiprocessing.Pool` lacks.

    - Ctrl-C is left to this process, which stops the pool: a worker killed by SIGINT halfway
      through sending a result would leave the pool waiting forever, and print its traceback.
    - Results are awaited with a watchdog: a worker that dies (killed for lack of memory) loses
      its task, which the pool would wait for forever; here that is a one-line error (exit 2).
    """

    def __init__(self, processes: int, display: str) -> None:
        context = mp.get_context("fork")
        self.display = display
        self._pids = context.SimpleQueue()
        self._known: set[int] = set()
        # Ctrl-C is held back while the workers fork: one arriving between a fork and the worker's
        # initializer would kill that worker halfway (the pool's threads keep it blocked for good)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.pool = context.Pool(processes, initializer=_worker_init, initargs=(self._pids,))
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            raise

    def __enter__(self) -> "_Workers":
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a held-back Ctrl-C arrives here
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pool.terminate()

    def submit(self, fn: Callable[[Any], _Chunk], arg: Any) -> Any:
        return self.pool.apply_async(fn, (arg,))

    def result(self, pending: Any) -> _Chunk:
        while True:
            try:
                return pending.get(timeout=0.5)
            except mp.TimeoutError:
                while not self._pids.empty():
                    self._known.add(self._pids.get())
                if not all(map(_alive, self._known)):
                    raise UsageError(f"{self.display}: a worker process stopped unexpectedly (killed for lack of "
                                     "memory?); rerun with --jobs 1, or with fewer jobs") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # the pool reaps a dead worker within 0.1 s; then its pid is gone
    except ProcessLookupError:
        return False
    return True


# The JSON path's spool: one unlinked temporary file per piece in flight, opened before the fork.
_SPOOL: list[int] = []


def _scan_json_piece(task: tuple[int, int]) -> _Chunk:
    linter, _path, display, ctx = _FORK_STATE  # type: ignore[misc]
    slot, size = task
    piece = pickle.loads(os.pread(_SPOOL[slot], size, 0))
    return linter._scan((i.record(display) if isinstance(i, Slice) else i for i in piece), ctx)


def _scan_json_parallel(linter: Linter, path: str, display: str, ctx: Context, jobs: int) -> list[_Chunk]:
    """A JSON array on forked workers. A JSON array cannot be cut at a byte offset (a `},{` may
    sit inside a string), so this process reads it (`read_json(slices=True)`: each record's text
    and position, and the reader's problems, in file order) and hands pieces of
    JSON_PIECE_RECORDS over; the workers parse and scan them. At most two pieces per worker are
    in flight, so memory stays flat; pieces come back in file order.

    A piece travels through a spool file, and the pool's pipe carries only (slot, size): a pool
    stopped by Ctrl-C while its feeder thread pushes a large task into a pipe that no worker
    reads any more would wait forever."""
    global _FORK_STATE
    pieces = _pieces(read_json(path, display, linter.settings.max_line_bytes, slices=True), JSON_PIECE_RECORDS)
    # never more workers than pieces: `--jobs 400` on a small array must not fork 400 processes
    first = list(itertools.islice(pieces, jobs))
    workers = max(1, len(first))
    with contextlib.ExitStack() as stack:
        slots = [stack.enter_context(tempfile.TemporaryFile(prefix="ftlint-")) for _ in range(2 * workers)]
        _SPOOL[:] = [f.fileno() for f in slots]
        _FORK_STATE = (linter, path, display, ctx)
        try:
            with _Workers(workers, display) as pool:
                chunks: list[_Chunk] = []
                pending: collections.deque = collections.deque()
                for n, piece in enumerate(itertools.chain(first, pieces)):
                    if len(pending) == len(slots):  # the oldest piece's slot is free once it is done
                        chunks.append(pool.result(pending.popleft()))
                    blob = pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL)
                    os.pwrite(_SPOOL[n % len(slots)], blob, 0)
                    pending.append(pool.submit(_scan_json_piece, (n % len(slots), len(blob))))
                chunks.extend(pool.result(p) for p in pending)
                return chunks
        finally:
            _FORK_STATE = None
            _SPOOL.clear()


def _pieces(items: Iterator[Slice | Problem], size: int) -> Iterator[list[Slice | Problem]]:
    piece: list[Slice | Problem] = []
    for item in items:
        piece.append(item)
        if len(piece) >= size:
            yield piece
            piece = []
    if piece:
        yield piece


@contextlib.contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Scanning allocates millions of short-lived objects (records, turns) that die with their
    batch; the cycle collector's default pass every 700 allocations costs ~10% of the scan.
    Passes every 50,000 allocations still collect any cycle, with memory bounded (measured)."""
    old = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


# Formats that a trainer accepts side by side in one file.
_COMPATIBLE = {frozenset({"openai", "sharegpt"})}


def _compatible(a: str, b: str) -> bool:
    return frozenset({a, b}) in _COMPATIBLE


def _dominant_format(items: list[Record | Problem]) -> str | None:
    counts = Counter(detect_format(i.data) for i in items if isinstance(i, Record) and isinstance(i.data, dict))
    counts.pop(None, None)
    return counts.most_common(1)[0][0] if counts else None
