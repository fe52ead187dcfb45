"""Streaming dataset readers.

Each reader yields `Record`s (one training example with its source position) or `Problem`s
(a parse-level defect at a position). JSONL is streamed line by line; JSON arrays are decoded a
window at a time and split with the C scanner; CSV streams; Parquet streams record batches (pyarrow).
Positions are only turned into line/column when a finding is reported (`Record.locate`).
"""

from __future__ import annotations

import bisect
import codecs
import csv
import json
import os
import sys
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Iterator

import orjson

from .findings import Location
from .locate import find_span, skip_ws

DATASET_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
_DECODER = json.JSONDecoder()
_NOT_READ = "; the rest of the file was not read"


class _LineIndex:
    """Offsets of line starts in a text, for offset -> (line, column). The text is a whole file,
    or a window of one that starts on line `first_line`, `first_col` characters into that line.
    Built on first use (only a finding needs a position inside a record)."""

    __slots__ = ("text", "first_line", "first_col", "_starts")

    def __init__(self, text: str, first_line: int = 1, first_col: int = 0) -> None:
        self.text = text
        self.first_line = first_line
        self.first_col = first_col
        self._starts: list[int] | None = None

    def position(self, offset: int) -> tuple[int, int]:
        if self._starts is None:
            # line k starts after lines 0..k-1 and their newlines (C-level iteration throughout)
            self._starts = list(accumulate(map((1).__add__, map(len, self.text.split("\n"))), initial=0))
        i = bisect.bisect_right(self._starts, offset) - 1
        return self.first_line + i, offset - self._starts[i] + 1 + (self.first_col if i == 0 else 0)


class Record:
    """One example: its parsed value plus what is needed to locate values inside it."""

    __slots__ = ("path", "index", "data", "line", "column", "_raw", "_text", "_start", "_index")

    def __init__(self, path: str, index: int, data: Any, line: int, column: int = 1,
                 raw: bytes | None = None, text: str | None = None, start: int = 0,
                 line_index: _LineIndex | None = None) -> None:
        self.path = path
        self.index = index
        self.data = data
        self.line = line
        self.column = column
        self._raw = raw          # JSONL: the line's bytes (decoded lazily)
        self._text = text        # JSON: the whole file's text
        self._start = start      # JSON: offset of this record in the file text
        self._index = line_index

    @property
    def source(self) -> str | None:
        """The record's own source text, when it has one (JSON and JSONL)."""
        if self._raw is not None:
            return self._raw.decode("utf-8", "replace")
        if self._text is not None:
            end = find_span(self._text, "", self._start)[1]
            return self._text[self._start:end]
        return None

    def locate(self, pointer: str = "") -> Location:
        """The span of the value at `pointer` (or of its nearest existing container)."""
        if self._raw is not None:
            text = self._raw.decode("utf-8", "replace")
            s, e, _ = find_span(text, pointer)
            return Location(self.path, self.line, s + 1, self.line, e + 1, pointer or "")
        if self._text is not None and self._index is not None:
            s, e, _ = find_span(self._text, pointer, self._start)
            line, col = self._index.position(s)
            end_line, end_col = self._index.position(e)
            return Location(self.path, line, col, end_line, end_col, pointer or "")
        # CSV / Parquet: row granularity only.
        return Location(self.path, self.line, self.column, self.line, self.column, pointer or "")


@dataclass(frozen=True)
class Problem:
    """A parse-level defect found by a reader; turned into a finding of rule `code`."""

    code: str
    message: str
    line: int
    column: int = 1
    end_column: int | None = None
    fatal: bool = False  # True: the rest of the file could not be read


def sniff_encoding_problem(head: bytes) -> Problem | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem("FTP002", "File is UTF-16 encoded (byte-order mark found); fine-tuning "
                       "loaders expect UTF-8. Re-encode it as UTF-8.", 1, fatal=True)
    if b"\x00" in head[:8192]:
        return Problem("FTP002", "File looks binary (NUL bytes near the start), not UTF-8 text.", 1,
                       fatal=True)
    return None


def _diagnose_json_error(raw: bytes, line: int) -> Problem:
    """Explain why a line failed to parse, with the column of the fault."""
    if b"\x00" in raw:
        col = raw.index(b"\x00") + 1
        return Problem("FTP002", "NUL byte in the record.", line, col, col + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        col = len(raw[: exc.start].decode("utf-8", "replace")) + 1
        return Problem("FTP002", f"Invalid UTF-8 byte 0x{raw[exc.start]:02x}.", line, col, col + 1)
    text = text.rstrip("\r\n")  # keep the error on this line, not on the one after the newline
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return Problem("FTP001", f"Invalid JSON: {exc.msg}.", line, exc.colno, exc.colno + 1)
    except RecursionError:
        return Problem("FTP001", "Invalid JSON: nesting too deep to parse.", line)
    except ValueError as exc:  # not a JSONDecodeError: an integer over Python's 4,300-digit limit
        return Problem("FTP001", f"Invalid JSON: {str(exc).split(';')[0]}.", line)
    # orjson is stricter than json (e.g. lone surrogates, numbers out of range).
    return Problem("FTP001", "Invalid JSON (rejected by a strict parser: lone surrogate or "
                   "out-of-range number).", line)


def read_jsonl(path: str, display: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Record | Problem]:
    with open(path, "rb") as fh:
        problem = sniff_encoding_problem(fh.read(8192))
        if problem:
            yield problem
            return
        fh.seek(0)
        yield from iter_jsonl_lines(fh, display, 1, None, max_line_bytes)


def iter_jsonl_lines(fh: Any, display: str, first_line: int, end_offset: int | None,
                     max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Record | Problem]:
    """Parse JSONL lines from the current position of `fh` up to `end_offset` (a line start).

    The record index of a JSONL record is its 0-based line number, so chunks read by
    different processes agree with a sequential read.
    """
    loads = orjson.loads
    pos = fh.tell()
    lineno = first_line - 1
    for raw in fh:
        if end_offset is not None and pos >= end_offset:
            break
        pos += len(raw)
        lineno += 1
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            yield Problem("FTP002", "UTF-8 byte-order mark at the start of the file; some "
                          "loaders read it as part of the first key. Remove it.", 1, 1, 2)
            raw = raw[3:]
        if len(raw) > max_line_bytes:
            yield Problem("FTP008", f"Line is {len(raw):,} bytes, over the limit of "
                          f"{max_line_bytes:,}; it was not parsed.", lineno)
            continue
        try:
            data = loads(raw)
        except orjson.JSONDecodeError:
            if not raw.strip():
                continue  # blank lines are tolerated by every JSONL loader
            yield _diagnose_json_error(raw, lineno)
            continue
        except RecursionError:
            yield Problem("FTP001", "Invalid JSON: nesting too deep to parse.", lineno)
            continue
        yield Record(display, lineno - 1, data, lineno, 1, raw=raw)


def jsonl_chunks(path: str, pieces: int) -> Iterator[tuple[int, int, int]]:
    """Split a JSONL file into about `pieces` (start, end, first_line) byte ranges on line starts.

    A generator: each range is yielded as soon as its end is found, so workers can start on the
    first ranges while the newlines of the rest are still being counted."""
    size = os.path.getsize(path)
    step = max(1, size // max(1, pieces))
    start, start_line = 0, 1
    with open(path, "rb") as fh:
        lines = 1
        pos = 0
        target = step
        block = 1 << 22
        while target < size:
            # count newlines up to `target`, then move to the next line start
            while pos < target:
                buf = fh.read(min(block, target - pos))
                if not buf:
                    break
                lines += buf.count(b"\n")
                pos += len(buf)
            rest = fh.readline()
            if not rest:
                break
            pos += len(rest)
            lines += rest.count(b"\n")
            if pos >= size:
                break
            yield start, pos, start_line
            start, start_line = pos, lines
            target = max(pos + 1, target + step)
    yield start, size, start_line


JSON_BLOCK_BYTES = 4 << 20  # a JSON array is decoded this much at a time
_BOM = b"\xef\xbb\xbf"


def read_json(path: str, display: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
              block_bytes: int = JSON_BLOCK_BYTES, slices: bool = False) -> Iterator[Record | Problem | Slice]:
    """A JSON array of records (LLaMA-Factory's datasets) is streamed: the text is decoded a
    window of `block_bytes` at a time and each record is parsed where it starts, so memory holds
    a window and the records in flight, whatever the file's size. A single document, or JSON
    Lines saved as .json, is read as such.

    With `slices`, an array's records come as `Slice`s (their source text and position) for the
    parallel engine's workers, which turn them into the same records (`Slice.record`)."""
    with open(path, "rb") as fh:
        problem = sniff_encoding_problem(fh.read(8192))
        if problem:
            yield problem
            return
        fh.seek(0)
        bom = fh.read(3) == _BOM
        if bom:
            yield Problem("FTP002", "UTF-8 byte-order mark at the start of the file; remove it.", 1, 1, 2)
        fh.seek(0)
        problem = _invalid_utf8(fh, block_bytes)  # before any record, as a whole-file decode would
        if problem:
            yield problem
            return
        fh.seek(len(_BOM) if bom else 0)
        stream = _TextStream(fh, block_bytes)
        pos = stream.skip_ws(0)
        if pos >= len(stream.text):
            return  # empty file: the example-count rule reports it
        if stream.text[pos] == "[":
            yield from _json_array(stream, pos + 1, display, slices)
            return
        # Either one JSON document (a single record) or JSON Lines saved as .json.
        decoded = _decode_streamed(stream, pos, suffix="")
        if isinstance(decoded, Problem):
            yield decoded
            return
        data, pos, end = decoded
        line, col = stream.position(pos)
        record = Record(display, 0, data, line, col, text=stream.text, start=pos, line_index=stream.index())
        if stream.skip_ws(end) < len(stream.text):  # (this may start a new window: the record keeps its own)
            yield from read_jsonl(path, display, max_line_bytes)
            return
    yield record


def is_json_array(path: str) -> bool:
    """Whether the file's first non-blank character (after a byte-order mark) opens an array."""
    with open(path, "rb") as fh:
        head = fh.read(3)
        block = head[3:] if head == _BOM else head
        while True:
            rest = block.lstrip()
            if rest:
                return rest.startswith(b"[")
            block = fh.read(1 << 16)
            if not block:
                return False


def _invalid_utf8(fh: Any, block_bytes: int) -> Problem | None:
    """FTP002 at the first byte that is not UTF-8, read a block at a time; None when all is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # file offset of `block`
    while True:
        block = fh.read(block_bytes)
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the last block
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            at = offset - pending + exc.start  # file offset of the bad byte
            # its line: newlines counted a block at a time up to it, then that line's start read
            fh.seek(0)
            line, line_start, pos = 1, 0, 0
            while pos < at:
                chunk = fh.read(min(block_bytes, at - pos))
                newlines = chunk.count(b"\n")
                if newlines:
                    line += newlines
                    line_start = pos + chunk.rfind(b"\n") + 1
                pos += len(chunk)
            fh.seek(line_start)
            prefix = fh.read(at - line_start)
            bad = fh.read(1)[0]
            if line_start == 0 and prefix.startswith(_BOM):
                prefix = prefix[len(_BOM):]  # columns count from after the byte-order mark
            # columns count characters, as everywhere else (and in the JSONL reader), not bytes
            col = len(prefix.decode("utf-8", "replace")) + 1
            return Problem("FTP002", f"Invalid UTF-8 byte 0x{bad:02x}; the file cannot be decoded.",
                           line, col, col + 1, fatal=True)
        if not block:
            return None
        offset += len(block)


class _TextStream:
    """A file's decoded text, one window at a time. `text` is the window; it starts on file line
    `line`, `col` characters into that line. Records keep the window they were read from (for
    `locate`); `more` starts a new one."""

    def __init__(self, fh: Any, block_bytes: int) -> None:
        self.fh = fh
        self.block_bytes = block_bytes
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.line, self.col = 1, 0
        self.eof = False
        self.more(0)

    def more(self, keep_from: int) -> None:
        """A new window: text[keep_from:] and at least one more block (unless at the end)."""
        text = self.text
        newlines = text.count("\n", 0, keep_from)
        if newlines:
            self.line += newlines
            self.col = keep_from - text.rfind("\n", 0, keep_from) - 1
        else:
            self.col += keep_from
        added = ""
        # at least as much as is kept: a value longer than a block grows the window geometrically
        # (linear time overall), not a block at a time (quadratic copying)
        want = max(self.block_bytes, len(text) - keep_from)
        while not added and not self.eof:
            block = self.fh.read(want)
            self.eof = not block
            added = self.decoder.decode(block, final=self.eof)
        self.text = text[keep_from:] + added
        self._index: _LineIndex | None = None
        # the last position asked for, its line and where that line starts (maybe before the window)
        self._mark, self._mark_line, self._mark_line_start = 0, self.line, -self.col

    def index(self) -> _LineIndex:
        """The window's line index, shared by the records read from it (built on first use)."""
        if self._index is None:
            self._index = _LineIndex(self.text, self.line, self.col)
        return self._index

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column) of a window offset; counted on from the last one asked for."""
        if offset < self._mark:
            return self.index().position(offset)
        text = self.text
        newlines = text.count("\n", self._mark, offset)
        if newlines:
            self._mark_line += newlines
            self._mark_line_start = text.rfind("\n", self._mark, offset) + 1
        self._mark = offset
        return self._mark_line, offset - self._mark_line_start + 1

    def skip_ws(self, pos: int) -> int:
        """The next non-blank offset from `pos` (reading on as needed), or len(text) at the end."""
        pos = skip_ws(self.text, pos)
        while pos >= len(self.text) and not self.eof:
            self.more(pos)
            pos = skip_ws(self.text, 0)
        return pos


@dataclass(frozen=True)
class Slice:
    """A JSON array's record as its source text, for a worker process to parse (read_json's
    `slices`): picklable, and small next to the parsed value."""

    text: str
    index: int
    line: int
    column: int

    def record(self, display: str) -> Record:
        """The record `read_json` yields for this element: the same value (the same decoder),
        position and spans."""
        try:
            data = _DECODER.decode(self.text)
        except RecursionError:
            # The main process decoded it nearer the top of its stack (the C decoder counts against
            # Python's recursion limit): a worker, a few frames deeper, gets those frames back.
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(limit + 100)
            try:
                data = _DECODER.decode(self.text)
            finally:
                sys.setrecursionlimit(limit)
        return Record(display, self.index, data, self.line, self.column, text=self.text, start=0,
                      line_index=_LineIndex(self.text, self.line, self.column - 1))


def _json_array(stream: _TextStream, pos: int, display: str, slices: bool = False) -> Iterator[Record | Problem | Slice]:
    """The records (or `Slice`s) of a JSON array whose `[` ends just before `pos`."""
    pos = stream.skip_ws(pos)
    i = 0
    while pos < len(stream.text) and stream.text[pos] != "]":
        decoded = _decode_streamed(stream, pos)
        if isinstance(decoded, Problem):
            yield decoded
            return
        data, pos, end = decoded
        line, col = stream.position(pos)
        if slices:
            yield Slice(stream.text[pos:end], i, line, col)
        else:
            yield Record(display, i, data, line, col, text=stream.text, start=pos, line_index=stream.index())
        i += 1
        pos = stream.skip_ws(end)
        if pos < len(stream.text) and stream.text[pos] == ",":
            pos = stream.skip_ws(pos + 1)
        elif pos < len(stream.text) and stream.text[pos] != "]":
            line, col = stream.position(pos)
            yield Problem("FTP001", f"Invalid JSON: expected ',' or ']' between records{_NOT_READ}.",
                          line, col, col + 1, fatal=True)
            return
    if pos >= len(stream.text):
        line, col = stream.position(len(stream.text))
        yield Problem("FTP001", "Invalid JSON: the array is not closed (file truncated?).", line, col, fatal=True)
        return
    after = stream.skip_ws(pos + 1)
    if after < len(stream.text):  # a second array, or anything else, would be silently lost
        line, col = stream.position(after)
        yield Problem("FTP001", f"Invalid JSON: data after the array's closing `]`{_NOT_READ}.",
                      line, col, col + 1, fatal=True)


def _decode_streamed(stream: _TextStream, pos: int, suffix: str = _NOT_READ) -> tuple[Any, int, int] | Problem:
    """(value, start, end) of the JSON value at window offset `pos` (the window may be renewed on
    the way), or the fatal FTP001 that stops the read; `suffix` ends the messages that can be
    read as partial. A value cut by the end of the window fails at the window's end (or as an
    unterminated string): read on and decode it again."""
    while True:
        text = stream.text
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if not stream.eof and (exc.pos >= len(text) - 8 or exc.msg.startswith("Unterminated string")):
                stream.more(pos)
                pos = 0
                continue
            line, col = stream.position(exc.pos)
            return Problem("FTP001", f"Invalid JSON: {exc.msg}{suffix}.", line, col, col + 1, fatal=True)
        except RecursionError:
            line, col = stream.position(pos)
            return Problem("FTP001", "Invalid JSON: nesting too deep to parse.", line, col, fatal=True)
        except ValueError as exc:  # an integer over Python's 4,300-digit limit
            if not stream.eof and text[-1:].isdigit():  # its digits may go on in the next block
                stream.more(pos)
                pos = 0
                continue
            line, col = stream.position(pos)
            return Problem("FTP001", f"Invalid JSON: {str(exc).split(';')[0]}{suffix}.", line, col, fatal=True)
        if end > len(text) - 32 and not stream.eof:  # a bare number ("-5" of "-5.5e3") may go on
            stream.more(pos)
            pos = 0
            continue
        return value, pos, end


def read_csv(path: str, display: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Record | Problem]:
    with open(path, "rb") as fh:
        head = fh.read(8192)
    problem = sniff_encoding_problem(head)
    if problem:
        yield problem
        return
    csv.field_size_limit(max_line_bytes)
    with open(path, encoding="utf-8-sig", newline="", errors="strict") as fh:
        reader = csv.DictReader(fh)
        index = 0
        try:
            start_line = reader.line_num + 1
            for row in reader:
                if None in row:
                    yield Problem("FTP004", "Row has more fields than the header.", start_line)
                    row.pop(None)
                yield Record(display, index, row, start_line, 1)
                index += 1
                start_line = reader.line_num + 1
        except UnicodeDecodeError as exc:
            yield Problem("FTP002", f"Invalid UTF-8 ({exc.reason}); the rest of the file was not read.",
                          reader.line_num + 1, fatal=True)
        except csv.Error as exc:
            yield Problem("FTP001", f"Invalid CSV: {exc}.", reader.line_num, fatal=True)


def read_parquet(path: str, display: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, *,
                 row_groups: list[int] | None = None, first_index: int = 0) -> Iterator[Record | Problem]:
    """All rows, or only `row_groups` whose first row is row `first_index` (0-based) of the file."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        yield Problem("FTP001", "Reading Parquet needs pyarrow: pip install 'ftlint[parquet]'.", 1, fatal=True)
        return
    try:
        pf = pq.ParquetFile(path)
        index = first_index
        for batch in pf.iter_batches(batch_size=4096, row_groups=row_groups):
            for row in batch.to_pylist():
                # Parquet has no lines: the "line" is the 1-based row number.
                yield Record(display, index, row, index + 1, 1)
                index += 1
    except Exception as exc:  # pyarrow raises many types for corrupt files
        yield Problem("FTP001", f"Invalid Parquet file: {exc}.", 1, fatal=True)


READERS = {
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".json": read_json,
    ".csv": read_csv,
    ".parquet": read_parquet,
}


def reader_for(path: str):
    return READERS.get(os.path.splitext(path)[1].lower())
