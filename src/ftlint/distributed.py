"""`ftlint check --engine ray`: scan dataset files on a Ray cluster, merge on the driver.

The local engine and this one share every step but one. The driver discovers files, lints
training configs, sniffs each dataset's dominant format, merges the chunks of every file in
file order and runs the dataset-level rules' `finish` over the merged facts (ftlint.engine).
Only the scanning of records moves to Ray tasks:

- JSONL: byte ranges. A first wave of tasks counts the newlines in equal byte slices, so every
  piece knows the line number it starts at without the driver reading the file; a second wave
  scans each piece with `engine.scan_range`, the function the forked local workers use. Line
  numbers, record indexes and therefore every finding are exactly those of one local pass.
- Parquet: runs of row groups (the footer says how many rows each holds).
- JSON arrays, CSV, and files whose head is unreadable: one task per file.

Tasks carry only picklable inputs: the settings, the codes of the enabled rules, the file's
path, display path and context. A worker rebuilds the Linter (rule discovery, YAML rulesets,
schema store, tokenizer) from the settings once per process, in the driver's working
directory when it exists there, so relative paths in the settings resolve the same way.
Ray Data is not used: its readers neither keep line positions nor let a piece start on a line
boundary that we choose, and findings must point at exact lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Iterator

from . import __version__
from .engine import SNIFF_RECORDS, Linter, Report, _Chunk, scan_range
from .findings import UsageError
from .records import Problem, read_jsonl, read_parquet, reader_for
from .rule import Context
from .settings import Settings

# A piece of a file is at most this big (uncompressed bytes for Parquet); smaller when the
# cluster has more CPUs than pieces. FTLINT_RAY_CHUNK_BYTES overrides it.
MAX_PIECE_BYTES = 64 * 1024 * 1024
MIN_PIECE_BYTES = 4 * 1024 * 1024
COUNT_BLOCK = 1 << 22


@dataclass(frozen=True)
class LinterSpec:
    """Everything a worker needs to rebuild the driver's Linter."""

    settings: Settings
    enabled: tuple[str, ...]
    debug: bool
    cwd: str
    version: str

    @classmethod
    def of(cls, linter: Linter) -> "LinterSpec":
        # jobs=1: a Ray task never forks workers of its own
        settings = linter.settings.model_copy(update={"jobs": 1}, deep=True)
        return cls(settings, tuple(sorted(linter.selection.enabled)), linter.debug, os.getcwd(), __version__)

    def key(self) -> str:
        return "|".join((self.settings.model_dump_json(), ",".join(self.enabled), str(self.debug),
                         self.cwd, self.version))


@dataclass
class _Failure:
    """A usage error met on a worker (unreadable file, missing ruleset): raised on the driver."""

    message: str


# ---------------------------------------------------------------------------------------------
# Driver side


def lint_with_ray(linter: Linter, paths: list[str], address: str | None = None,
                  piece_bytes: int | None = None) -> Report:
    """Lint `paths` like `linter.lint(paths)`, scanning the dataset files on Ray.

    Uses the Ray connection that is already initialised, or connects to `address` / $RAY_ADDRESS,
    or starts a local Ray instance (and shuts down what it started).
    """
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS") or None
        _check_reachable(target)
        try:
            ray.init(address=target, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"at {target}" if target else "locally"
            raise UsageError(f"cannot start or reach a Ray cluster {where}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc
        started = True
    try:
        if piece_bytes is None and os.environ.get("FTLINT_RAY_CHUNK_BYTES"):
            try:
                piece_bytes = int(os.environ["FTLINT_RAY_CHUNK_BYTES"])
            except ValueError:
                raise UsageError("FTLINT_RAY_CHUNK_BYTES must be a number of bytes") from None
        return linter.lint(paths, scanner=RayScanner(ray, linter, piece_bytes))
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds, with one line, on a `host:port` nobody listens at (Ray itself retries
    for minutes)."""
    if not address or address in ("auto", "local"):
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return  # not host:port: let Ray judge it
    import socket

    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'ftlint[ray]'") from None
    return ray


@dataclass
class _Plan:
    """How one file is scanned: its tasks (or the error that stops the run when its turn comes)."""

    kind: str = "file"  # file | jsonl | parquet
    pieces: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    refs: list[Any] = dataclasses.field(default_factory=list)
    error: UsageError | None = None


class RayScanner:
    """An engine `Scanner`: submits every file's tasks at once, yields their chunks in file order."""

    def __init__(self, ray: Any, linter: Linter, piece_bytes: int | None = None) -> None:
        self.ray = ray
        self.linter = linter
        self.piece_bytes = piece_bytes

    def __call__(self, jobs: list[tuple[str, str, Context]]) -> Iterator[list[_Chunk]]:
        ray = self.ray
        plans = [self._plan(path, display, ctx) for path, display, ctx in jobs]
        # Workers may run elsewhere: they get absolute paths (the same mount on every node).
        jobs = [(os.path.abspath(path), display, ctx) for path, display, ctx in jobs]
        piece = self.piece_bytes or self._piece_size(jobs, plans)
        spec = ray.put(LinterSpec.of(self.linter))
        scan = ray.remote(_scan_task)
        count = ray.remote(_count_newlines)
        # Wave 1: newline counts of equal JSONL slices, for the line number each piece starts at.
        counted: list[tuple[_Plan, list[Any]]] = []
        for (path, _, _), plan in zip(jobs, plans):
            if plan.kind == "jsonl":
                size = os.path.getsize(path)
                n = max(1, math.ceil(size / piece))
                bounds = [size * i // n for i in range(n + 1)]
                plan.pieces = list(zip(bounds, bounds[1:]))
                counted.append((plan, [count.remote(path, s, e) for s, e in plan.pieces]))
            elif plan.kind == "parquet":
                try:
                    plan.pieces = _row_group_runs(path, piece)
                except Exception:  # an unreadable footer: the whole-file task reports it as locally
                    plan.kind = "file"
        counts = _get(ray, [ref for _, refs in counted for ref in refs], "counting JSONL lines")
        # Wave 2: scans, for every file at once.
        it = iter(counts)
        newlines = {id(plan): [next(it) for _ in refs] for plan, refs in counted}
        for (path, display, ctx), plan in zip(jobs, plans):
            if plan.error is not None:
                continue
            task_ctx = dataclasses.replace(ctx, services={}, options={})  # services are rebuilt there
            if plan.kind == "jsonl":
                before = 0
                for (start, end), lines in zip(plan.pieces, newlines[id(plan)]):
                    plan.refs.append(scan.remote(spec, "jsonl", path, display, task_ctx, (start, end, before)))
                    before += lines
            elif plan.kind == "parquet":
                for groups, first_row in plan.pieces:
                    plan.refs.append(scan.remote(spec, "parquet", path, display, task_ctx, (groups, first_row)))
            else:
                plan.refs.append(scan.remote(spec, "file", path, display, task_ctx, ()))
        for (_, display, _), plan in zip(jobs, plans):
            if plan.error is not None:
                raise plan.error
            chunks: list[_Chunk] = []
            for result in _get(ray, plan.refs, display):
                if isinstance(result, _Failure):
                    raise UsageError(result.message)
                chunks.extend(result)
            yield chunks

    def _plan(self, path: str, display: str, ctx: Context) -> _Plan:
        """Read the head of a file here, as the local engine does, to fix its dominant format
        (`ctx.file_format`) and decide whether it can be split. Other files go to one task whole."""
        if (reader_for(path) or reader_for(path + ".jsonl")) not in (read_jsonl, read_parquet):
            return _Plan()  # JSON arrays and CSV are read once, on the worker
        try:
            reader, items, head = self.linter._sniff(path, display, ctx)
            close = getattr(items, "close", None)
            if close:
                close()
        except UsageError as exc:
            return _Plan(error=exc)
        except OSError as exc:
            return _Plan(error=UsageError(f"{display}: cannot read: {exc.strerror or exc}"))
        if any(isinstance(i, Problem) and i.fatal for i in head):
            return _Plan()
        if reader is read_jsonl:
            return _Plan("jsonl")
        if reader is read_parquet and len(head) >= SNIFF_RECORDS:
            return _Plan("parquet")
        return _Plan()

    def _piece_size(self, jobs: list[tuple[str, str, Context]], plans: list[_Plan]) -> int:
        """Enough pieces to keep every CPU of the cluster busy, none bigger than MAX_PIECE_BYTES."""
        total = sum(os.path.getsize(p) for (p, _, _), plan in zip(jobs, plans) if plan.kind != "file")
        cpus = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        return int(min(MAX_PIECE_BYTES, max(MIN_PIECE_BYTES, total // (4 * cpus) + 1)))


def _get(ray: Any, refs: list[Any], display: str) -> list[Any]:
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        if isinstance(cause, ImportError):
            raise UsageError(f"{display}: the Ray workers cannot import what ftlint needs ({cause}); "
                             "install ftlint on every node or give the job a runtime environment") from exc
        raise RuntimeError(f"{display}: a Ray task failed: {type(cause).__name__}: {cause}") from exc
    except ray.exceptions.RayError as exc:  # lost worker or node, object store failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{display}: the Ray cluster failed while scanning: {first}") from exc


def _row_group_runs(path: str, piece_bytes: int) -> list[tuple[list[int], int]]:
    """Consecutive row groups of about `piece_bytes` (uncompressed): ([groups], first row)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    runs: list[tuple[list[int], int]] = []
    groups: list[int] = []
    size = first = row = 0
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        if groups and size + rg.total_byte_size > piece_bytes:
            runs.append((groups, first))
            groups, size, first = [], 0, row
        groups.append(i)
        size += rg.total_byte_size
        row += rg.num_rows
    if groups:
        runs.append((groups, first))
    return runs


# ---------------------------------------------------------------------------------------------
# Worker side (plain functions: Ray wraps them with ray.remote on the driver)


def _count_newlines(path: str, start: int, end: int) -> int:
    n = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            buf = fh.read(min(COUNT_BLOCK, left))
            if not buf:
                break
            n += buf.count(b"\n")
            left -= len(buf)
    return n


_LINTERS: dict[str, Linter] = {}


def worker_linter(spec: LinterSpec) -> Linter:
    """The driver's Linter, rebuilt from its settings (once per worker process and spec)."""
    key = spec.key()
    linter = _LINTERS.get(key)
    if linter is not None:
        return linter
    if spec.version != __version__:
        raise UsageError(f"the Ray workers run ftlint {__version__}, the driver {spec.version}; "
                         "install the same version on every node")
    from .api import available_rules, make_services
    from .registry import Selection

    rules = available_rules(settings=spec.settings)  # built-ins, plugins and the YAML rulesets
    missing = sorted(set(spec.enabled) - set(rules))
    if missing:
        raise UsageError(f"rules {', '.join(missing)} are not available on the Ray workers; install "
                         "the same plugins and rulesets there")
    selection = Selection(rules)
    selection.enabled = set(spec.enabled)  # the driver already resolved select/ignore/rulesets
    linter = Linter(spec.settings, selection, make_services(spec.settings), debug=spec.debug)
    if len(_LINTERS) >= 4:
        _LINTERS.clear()
    _LINTERS[key] = linter
    return linter


@contextlib.contextmanager
def _in_dir(path: str) -> Iterator[None]:
    """Run in the driver's directory when this node has it (shared storage, local Ray)."""
    old = os.getcwd()
    moved = os.path.isdir(path)
    if moved:
        os.chdir(path)
    try:
        yield
    finally:
        if moved:
            os.chdir(old)


def _scan_task(spec: LinterSpec, kind: str, path: str, display: str, ctx: Context,
               args: tuple) -> list[_Chunk] | _Failure:
    """Scan one piece of a file (or all of it) on a worker; the chunks travel back to the driver."""
    try:
        with _in_dir(spec.cwd):
            linter = worker_linter(spec)
            ctx.services = linter.services
            if kind == "jsonl":
                start, end, newlines_before = args
                return [_scan_jsonl_piece(linter, path, display, ctx, start, end, newlines_before)]
            if kind == "parquet":
                groups, first_row = args
                return [linter._scan(read_parquet(path, display, linter.settings.max_line_bytes,
                                                  row_groups=groups, first_index=first_row), ctx)]
            return linter._scan_file(path, display, ctx)
    except UsageError as exc:
        return _Failure(str(exc))
    except OSError as exc:
        return _Failure(f"{display}: cannot read on a Ray worker: {exc.strerror or exc}")


def _scan_jsonl_piece(linter: Linter, path: str, display: str, ctx: Context, start: int, end: int,
                      newlines_before: int) -> _Chunk:
    """Scan the lines that start in [start, end): the piece begins at the first line start at or
    after `start`, and its line number follows from the newlines counted before `start`."""
    first_line = newlines_before + 1
    if start > 0:
        with open(path, "rb") as fh:
            fh.seek(start - 1)
            skipped = fh.readline()  # the rest of the line that began in the previous piece
        if skipped.endswith(b"\n") and len(skipped) > 1:
            first_line += 1  # that newline lies at or after `start`: it is not in newlines_before
        start += len(skipped) - 1  # past `end` when one line fills the piece: nothing to scan
    return scan_range(linter, path, display, ctx, start, end, first_line)
