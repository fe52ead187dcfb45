"""A shared, lazily built view of one batch of examples, for record rules that vectorise.

The engine hands every record rule the same examples one batch at a time. Several rule families
need the same things from a batch: the flattened turns, a role signature per example, and all
texts joined into one buffer that C-speed searches (`bytes.find`, memchr) can scan once instead
of once per turn. `batch_view(examples)` computes these once and keeps them on the first
example's cache, so the next rule (or the next call with an equal batch) reuses them.

It is the one per-batch view of the rule families: one cache slot, one validity rule (the same
examples, by identity), one flattening (`flat`, `starts`, `texts`, `roles`, `owner`). A family
that needs its own buffers on top (security's case-preserving blob, dataset's lower-cased UTF-8)
keeps them as `view.derived(key, build)`, so they live and die with the view and nobody flattens
the batch a second time.

Everything here is a *prefilter* for exact rules: it names the examples that may have a finding,
and the rules run their own per-example `check` on those. The text projection below is what
makes byte searches exact-safe: each character becomes exactly one byte (ASCII letters lowered,
C0/C1 controls and DEL -> NUL, the lead characters of UTF-8 mojibake `Â Ã â ï` -> 0x01, other
characters up to U+00FF kept, anything else `?`). Turn offsets therefore equal byte offsets, and
an ASCII needle occurs in `turn.lower` exactly where it occurs in the projection, except in texts
holding U+0130 (İ, lowered to two characters) or U+212A (Kelvin sign, lowered to `k`); those
turns are reported separately (`special`) so rules treat them as candidates.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, attrgetter, contains, eq, is_, is_not, not_, or_, truth
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

if TYPE_CHECKING:
    from ..formats import Example

KEY = "ftlint.batch_view"
MARKS = ("\u0130", "\u212a", "\ufffd")  # projected to `?` but needed: see `BatchView.marked`

CTRL = 0x00  # projection of C0 controls other than \t \n \r, DEL, and C1 controls
MOJI = 0x01  # projection of Â Ã â ï, the first characters of every mojibake pattern


def _projection_table() -> bytes:
    table = bytearray(range(256))
    for b in range(ord("A"), ord("Z") + 1):
        table[b] = b + 32
    for b in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)):
        if b not in (0x09, 0x0A, 0x0D):
            table[b] = CTRL
    for ch in "ÂÃâï":
        table[ord(ch)] = MOJI
    return bytes(table)


TABLE = _projection_table()
_CALL_SUFFIX = ("", "*")
T = TypeVar("T")


class Group:
    """Turns of one kind joined into one projection `proj` (bytes). Local turn k spans
    [starts[k], starts[k + 1]) and is turn `flat[k]` of the batch."""

    __slots__ = ("flat", "starts", "proj")

    def __init__(self, flat: list[int], encoded: list[bytes]) -> None:
        self.flat = flat
        self.starts = list(accumulate(map(len, encoded), initial=0))
        self.proj = b"".join(encoded).translate(TABLE)

    def turn_at(self, offset: int) -> int:
        """The local turn holding a byte offset of `proj`."""
        return bisect_right(self.starts, offset) - 1

    def hits(self, needle: bytes) -> Iterator[int]:
        """Local turns whose projection contains `needle`, each once (a match running into
        the next turn names the first, which is harmless for a prefilter)."""
        find = self.proj.find
        starts = self.starts
        i = find(needle)
        while i >= 0:
            k = bisect_right(starts, i) - 1
            yield k
            i = find(needle, starts[k + 1])

    def segment(self, k: int) -> bytes:
        return self.proj[self.starts[k]:self.starts[k + 1]]


class BatchView:
    """What the batch rules share. Built by `batch_view`; methods take the same `examples`."""

    __slots__ = ("n", "_rest", "flat", "starts", "nturns", "roles", "_tool_calls", "_sigs", "_texts",
                 "_groups", "_encoded", "_ascii", "_irregular", "_marks",
                 "_tool_candidates", "_any_flagged_call", "_all_str", "_derived")

    def __init__(self, examples: list["Example"]) -> None:
        self.n = len(examples)
        # Strong references to the other examples make the identity check in `matches` exact;
        # the first example holds this view, so there is no reference cycle.
        self._rest = tuple(islice(examples, 1, None))
        turn_lists = list(map(attrgetter("turns"), examples))
        self.nturns = list(map(len, turn_lists))
        rejected = list(map(attrgetter("rejected"), examples))
        if rejected.count(None) == self.n:
            all_lists, counts = turn_lists, self.nturns
        else:
            all_lists = [t + r if r else t for t, r in zip(turn_lists, rejected)]
            counts = list(map(len, all_lists))
        self.flat = list(chain.from_iterable(all_lists))    # every example's all_turns(), in order
        self.starts = list(accumulate(counts, initial=0))   # example i owns flat[starts[i]:starts[i+1]]
        self.roles = list(map(attrgetter("role"), self.flat))
        self._tool_calls: list | None = None
        self._any_flagged_call: bool | None = None   # any sharegpt function_call turn
        self._all_str: bool | None = None            # every content is a string
        self._sigs: list[tuple] | None = None
        self._texts: list[str] | None = None
        self._groups: list[tuple[bool, Group]] | None = None
        self._encoded: list[bytes] = []
        self._ascii: list[bool] | None = None
        self._irregular: set[int] | None = None
        self._marks: dict[str, set[int]] | None = None
        self._tool_candidates: list[int] | None = None
        self._derived: dict[str, object] = {}

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """A family's own buffer for this batch, built by `build()` on first use and kept with the
        view (so it is valid exactly as long as the view). `key` names the family's entry; what
        `build` returns must not refer to `examples[0]`, which holds the view."""
        try:
            return self._derived[key]  # type: ignore[return-value]
        except KeyError:
            value = self._derived[key] = build()
            return value

    def matches(self, examples: list["Example"]) -> bool:
        return len(examples) == self.n and all(map(is_, islice(examples, 1, None), self._rest))

    def __reduce__(self):  # a pickled example must not drag its batch along
        return (_stale_view, ())

    def owner(self, flat_index: int) -> int:
        """The example that holds a flat turn."""
        return bisect_right(self.starts, flat_index) - 1

    def owners(self, flat_indices: Iterable[int]) -> list[int]:
        """Sorted, distinct examples holding the given flat turns."""
        return sorted({bisect_right(self.starts, j) - 1 for j in flat_indices})

    @property
    def tool_calls(self) -> list:
        if self._tool_calls is None:
            self._tool_calls = list(map(attrgetter("tool_calls"), self.flat))
        return self._tool_calls

    @property
    def any_flagged_call(self) -> bool:
        if self._any_flagged_call is None:
            self._any_flagged_call = any(map(attrgetter("is_tool_call"), self.flat))
        return self._any_flagged_call

    @property
    def sigs(self) -> list[tuple]:
        """Per example, its role signature: each turn's role, with "*" appended for a tool call
        (`tool_calls` or a sharegpt function_call turn), and "|" before preference `rejected`
        turns. The structural rules' verdicts are functions of it."""
        if self._sigs is None:
            flat, m = self.flat, len(self.flat)
            calls = self.tool_calls
            if calls.count(None) == m and not self.any_flagged_call:
                codes = self.roles
            else:
                marks = map(or_, map(truth, calls), map(truth, map(attrgetter("is_tool_call"), flat)))
                codes = list(map(add, self.roles, map(_CALL_SUFFIX.__getitem__, marks)))
            starts = self.starts
            if m == sum(self.nturns):
                self._sigs = list(map(tuple, map(codes.__getitem__, map(slice, starts, starts[1:]))))
            else:
                self._sigs = [tuple(codes[s:e]) if s + nt == e else tuple(codes[s:s + nt]) + ("|",) + tuple(codes[s + nt:e])
                              for nt, s, e in zip(self.nturns, starts, starts[1:])]
        return self._sigs

    # --- texts ------------------------------------------------------------------------------
    @property
    def texts(self) -> list[str]:
        """`turn.text` of every flat turn."""
        if self._texts is None:
            contents = list(map(attrgetter("content"), self.flat))
            self._all_str = list(map(type, contents)).count(str) == len(contents)
            if self._all_str:
                self._texts = contents  # `text` is the content itself when it is a string
            else:
                self._texts = list(map(attrgetter("text"), self.flat))
        return self._texts

    def blank_turns(self) -> list[int]:
        """Flat turns whose text is empty or whitespace only."""
        texts = self.texts
        return list(chain(compress(range(len(texts)), map(not_, texts)),
                          compress(range(len(texts)), map(str.isspace, texts))))

    def groups(self) -> list[tuple[bool, Group]]:
        """(answers, group) for the answers (assistant turns of `turns`) and the other turns."""
        if self._groups is None:
            texts = self.texts
            m = len(texts)
            answer = list(map(eq, self.roles, repeat("assistant")))
            if m != sum(self.nturns):  # preference `rejected` turns are not answers
                for nt, start, end in zip(self.nturns, self.starts, self.starts[1:]):
                    if end - start > nt:
                        answer[start + nt:end] = repeat(False, end - start - nt)
            encoded = list(map(str.encode, texts, repeat("latin-1"), repeat("replace")))
            out: list[tuple[bool, Group]] = []
            for want, mask in ((True, answer), (False, map(not_, answer))):
                idx = list(compress(range(m), mask))
                if idx:
                    out.append((want, Group(idx, list(map(encoded.__getitem__, idx)))))
            self._encoded = encoded
            self._groups = out
        return self._groups

    @property
    def lengths(self) -> list[int]:
        """Length of every flat turn's text (= of its projection)."""
        self.groups()
        return list(map(len, self._encoded))

    @property
    def ascii(self) -> list[bool]:
        """`str.isascii()` of every flat turn's text."""
        if self._ascii is None:
            self._ascii = list(map(str.isascii, self.texts))
        return self._ascii

    @property
    def irregular(self) -> set[int]:
        """Flat turns whose text holds a tab, a carriage return or a control character: the
        turns where ' ' and '\\n' are not the only whitespace of an ASCII text."""
        if self._irregular is None:
            found: set[int] = set()
            for _, group in self.groups():
                for needle in (b"\x00", b"\t", b"\r"):
                    found.update(map(group.flat.__getitem__, group.hits(needle)))
            self._irregular = found
        return self._irregular

    def marked(self, char: str) -> set[int]:
        """Flat turns whose text holds `char` (one of MARKS: characters the projection turns
        into `?`, so that byte searches cannot see them)."""
        if self._marks is None:
            texts = self.texts
            wide = list(compress(range(len(texts)), map(not_, map(str.isascii, texts))))
            marks: dict[str, set[int]] = {c: set() for c in MARKS}
            if wide:
                joined = "".join(map(texts.__getitem__, wide))
                starts = list(accumulate(map(len, map(texts.__getitem__, wide)), initial=0))
                for c in MARKS:
                    i = joined.find(c)
                    while i >= 0:
                        k = bisect_right(starts, i) - 1
                        marks[c].add(wide[k])
                        i = joined.find(c, starts[k + 1])
            self._marks = marks
        return self._marks[char]

    @property
    def special(self) -> set[int]:
        """Flat turns holding U+0130 or U+212A, where `lower()` and the projection disagree."""
        return self.marked("\u0130") | self.marked("\u212a")

    # --- tool content -----------------------------------------------------------------------
    def tool_candidates(self, examples: list["Example"]) -> list[int]:
        """Examples that may hold tool content: declared tools (or legacy `functions`), tool
        replies, tool calls, or list content (which may carry tool-call parts)."""
        if self._tool_candidates is None:
            found: set[int] = set()
            tools = list(map(attrgetter("tools"), examples))
            if tools.count(None) != self.n:
                found.update(i for i, t in enumerate(tools) if t is not None)
            functions = list(map(contains, map(attrgetter("record.data"), examples), repeat("functions")))
            if True in functions:
                found.update(compress(range(self.n), functions))
            flat = self.flat
            turns: set[int] = set()
            if "tool" in self.roles:
                turns.update(compress(range(len(flat)), map(eq, self.roles, repeat("tool"))))
            calls = self.tool_calls
            if calls.count(None) != len(flat):
                turns.update(compress(range(len(flat)), map(is_not, calls, repeat(None))))
            if self.any_flagged_call:
                turns.update(compress(range(len(flat)), map(truth, map(attrgetter("is_tool_call"), flat))))
            if not self._all_str:  # list content may carry tool-call parts
                if self._all_str is None:
                    self.texts
                if not self._all_str:
                    lists = map(isinstance, map(attrgetter("content"), flat), repeat(list))
                    turns.update(compress(range(len(flat)), lists))
            found.update(self.owners(turns))
            self._tool_candidates = sorted(found)
        return self._tool_candidates


def _stale_view() -> None:
    return None


def batch_view(examples: list["Example"]) -> BatchView:
    """The shared view of `examples` (non-empty), built on first use."""
    first = examples[0]
    view = first.cache.get(KEY)
    if view is None or not view.matches(examples):
        view = first.cache[KEY] = BatchView(examples)
    return view
