"""Dataset-level rules: they see every example of a file (or of all files) through small facts."""

from __future__ import annotations

import array
import functools
import itertools
import operator
import string
import struct
from typing import Any, Iterator

from xxhash import xxh3_64_intdigest, xxh3_128_digest

from ..findings import Finding, Location, Related, Severity
from ..formats import Example, Turn
from ..rule import Context, RecordRef, Rule
from ._batch import BatchView, batch_view


# Whitespace as `str.split()` sees it (`str.isspace`): the batch digests work on UTF-8 bytes and
# must split exactly where the per-example reference does (a test checks this list).
_SPACE_BYTES = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_MULTIBYTE_SPACES = "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
                    "\u2028\u2029\u202f\u205f\u3000"
_TO_SPACE = bytes.maketrans(_SPACE_BYTES, b" " * len(_SPACE_BYTES))
# The first bytes of the wide spaces' UTF-8 lie in [_LEAD_LO, _LEAD_HI] (a test checks it).
_LEAD_LO, _LEAD_HI = 0xC2, 0xE3


def _turns_text(turns: list[Turn]) -> str:
    """Roles and lower-cased texts of `turns` in one string, the input of the example digests."""
    return "\x1e".join(f"{t.role}\x1f{t.lower}" for t in turns)


def _digest(text: str) -> bytes:
    """Hash of already lower-cased text with whitespace runs collapsed (the reference the batch
    path must match byte for byte)."""
    return xxh3_128_digest(" ".join(text.split()).encode("utf-8", "replace"))


def _example_digest(example: Example) -> bytes:
    """Digest of the whole example, normalised; computed once and shared by the rules."""
    key = example.cache.get("digest")
    if key is None:
        key = example.cache["digest"] = _digest(_turns_text(example.all_turns()))
    return key


def _prompt_answer_digests(example: Example) -> tuple[bytes, bytes] | None:
    """Digests of (prompt turns, final answer), or None without an answer or a prompt."""
    if "prompt_answer" not in example.cache:
        last = example.last_assistant_index()
        prompt = _turns_text(example.turns[:last]) if last is not None else ""
        example.cache["prompt_answer"] = (
            (_digest(prompt), _digest(example.turns[last].lower)) if last is not None and prompt.strip() else None)
    return example.cache["prompt_answer"]


_ROLES: dict[str, bytes | None] = {}


def _role_bytes(role: str) -> bytes | None:
    """The role as it appears in the normalised text; None if it is not one plain word."""
    if role not in _ROLES:
        norm = " ".join(role.split())
        _ROLES[role] = norm.encode("utf-8", "replace") if norm and " " not in norm else None
    return _ROLES[role]


@functools.cache
def _one_word(role: str) -> bool:
    """Whether the role, as `buf` holds it, is exactly one near-duplicate word."""
    norm = _role_bytes(role)
    return bool(norm) and not any(_WORD_BREAK[b] for b in norm)


@functools.cache
def _multibyte_space_codes() -> tuple[list[int], list[int]]:
    """The UTF-8 of the non-ASCII spaces as integers: two-byte and three-byte sequences."""
    two, three = [], []
    for ch in _MULTIBYTE_SPACES:
        b = ch.encode()
        (two if len(b) == 2 else three).append(int.from_bytes(b, "big"))
    return two, three


_POS = struct.Struct("<III")  # a fact's line, column and index

_get_lower = operator.attrgetter("_lower")
_get_position = operator.attrgetter("record.line", "record.column", "record.index")


class _BatchView:
    """The dataset rules' buffers on top of the shared batch view (`_batch.batch_view`), kept as
    its derived entry so all of them share one: every turn's lower-cased UTF-8, and per example
    its digest, its (prompt, answer) digests and its packed position. Plain lists, not
    per-example cache entries: no other rule reads them. It holds no example.

    `encoded[turn_start[k]:turn_start[k + 1]]` are example k's turns (`all_turns()`, the view's
    flat turns); `digests[k]` is `_example_digest`, `prompts[k]`/`answers[k]`
    `_prompt_answer_digests` (None, None where that is None), `positions[k]` the `_POS` bytes of
    its record. When every role is one plain word, `buf` holds the batch as ` role text role text … `
    (padded with spaces) and `role_start` where each turn's role starts in it, then the end.
    """

    __slots__ = ("encoded", "turn_start", "digests", "prompts", "answers", "positions",
                 "buf", "role_start", "roles_one_word")

    def __init__(self, view: BatchView, examples: list[Example]) -> None:
        import numpy as np

        self.turn_start = np.array(view.starts, dtype=np.int64)
        lowers = list(map(_get_lower, view.flat))
        if None in lowers:  # not lower-cased by another rule yet: per turn, C-level loops only
            lowers = list(map(str.lower, view.texts))
        self.encoded = list(map(str.encode, lowers, itertools.repeat("utf-8"), itertools.repeat("replace")))
        self.positions = list(itertools.starmap(_POS.pack, map(_get_position, examples)))
        self.buf = self.role_start = None
        roles = view.roles
        distinct = set(roles)
        # whether every role is one near-duplicate word (no punctuation): then that rule can
        # read its words from `buf` too
        self.roles_one_word = all(map(_one_word, distinct))
        for role in distinct:
            if _role_bytes(role) is None:  # not one plain word: the reference handles the odd case
                self.digests = list(map(_example_digest, examples))
                pairs = [_prompt_answer_digests(e) or (None, None) for e in examples]
                self.prompts = [p for p, _ in pairs]
                self.answers = [a for _, a in pairs]
                return
        # the end of each example's `turns` (before any preference `rejected` turns)
        self._digest(examples, roles, np.array(view.nturns, dtype=np.int64))

    def _digest(self, examples: list[Example], roles: list[str], chosen: Any) -> None:
        """The digests without splitting texts into Python words.

        All turns of the batch go into one buffer as `role text role text …`; numpy collapses
        the whitespace runs (str.split's whitespace, non-ASCII spaces included) in one pass,
        and every digest is the hash of a slice of the result: the example from its first role
        to its end, the prompt up to the last assistant role, the answer after that role.
        """
        import numpy as np

        n = len(examples)
        nturns = len(roles)
        parts: list[bytes] = [b""] * (2 * nturns + 2)
        parts[1:-1:2] = map(_ROLES.__getitem__, roles)
        parts[2:-1:2] = self.encoded
        # The trailing spaces end the last example like the others and give near-duplicate's
        # 8-byte reads room; the leading one starts the first word like the others.
        parts[-1] = b" " * 16
        buf = self.buf = b" ".join(parts)
        spaced = buf.translate(_TO_SPACE)
        a = np.frombuffer(spaced, dtype=np.uint8)
        if not buf.isascii():
            # the first byte of a wide space: one of the UTF-8 leads 0xC2-0xE3 (two numpy passes
            # are cheaper than a translation; the codes below pick the wide spaces among them)
            lead = np.flatnonzero(np.subtract(a, _LEAD_LO, dtype=np.uint8) <= _LEAD_HI - _LEAD_LO)
            if len(lead):
                nxt = np.minimum(lead + 1, len(a) - 1)
                pair = a[lead].astype(np.int32) << 8 | a[nxt]
                triple = pair << 8 | a[np.minimum(lead + 2, len(a) - 1)]
                two, three = _multibyte_space_codes()
                hit2, hit3 = np.isin(pair, two), np.isin(triple, three)
                if hit2.any() or hit3.any():
                    spaced = bytearray(spaced)
                    a = np.frombuffer(spaced, dtype=np.uint8)
                    for width, hit in ((2, hit2), (3, hit3)):
                        for k in range(width):
                            a[lead[hit] + k] = 32
        space = a == 32
        drop = np.empty_like(space)  # a space after a space goes; so does one at the very start
        drop[0] = space[0]
        np.logical_and(space[1:], space[:-1], out=drop[1:])
        dropped = np.flatnonzero(drop)
        # The kept text is a few long segments between runs of dropped spaces: joining them is
        # cheaper than a boolean mask over every byte (and slices of the bytes themselves are
        # several times cheaper to join than memoryview slices).
        run = np.flatnonzero(dropped[1:] != dropped[:-1] + 1)
        keep_from = [0, *(dropped[run] + 1).tolist(), int(dropped[-1]) + 1]
        keep_to = [int(dropped[0]), *dropped[run + 1].tolist(), len(spaced)]
        collapsed = b"".join(map(spaced.__getitem__, map(slice, keep_from, keep_to)))
        view = memoryview(collapsed)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))[1:-1]
        starts = np.empty(len(lengths) + 1, dtype=np.int64)
        starts[0] = 1
        np.cumsum(lengths + 1, out=starts[1:])
        starts[1:] += 1
        role_start = self.role_start = starts[0::2]  # and the end of the last text, plus one
        # Where each turn's role starts in the collapsed text (a role is never dropped), plus the end.
        at = role_start - np.searchsorted(dropped, role_start)
        at[-1] = len(collapsed)
        first = self.turn_start[:-1]
        ends = at[self.turn_start[1:]] - 1  # the one space that follows every example
        begins = at[first]
        slices = map(slice, begins.tolist(), np.maximum(ends, begins).tolist())
        self.digests = list(map(xxh3_128_digest, map(view.__getitem__, slices)))
        # The last assistant turn of each example's `turns` (not the rejected ones): the last
        # assistant position before the end of its turns, if it is not before their start.
        assistant = np.flatnonzero(np.fromiter(map("assistant".__eq__, roles), dtype=np.bool_, count=nturns))
        self.prompts = [None] * n
        self.answers = [None] * n
        if not len(assistant):
            return
        k = np.searchsorted(assistant, first + chosen) - 1
        last = assistant[np.maximum(k, 0)]
        has = np.flatnonzero((k >= 0) & (last > first))  # an answer with a prompt before it
        if not len(has):
            return
        last = last[has]
        begin = begins[has]
        answer = at[last] + lengths[2 * last] + 1
        prompts = map(xxh3_128_digest, map(view.__getitem__, map(slice, begin.tolist(), (at[last] - 1).tolist())))
        answers = map(xxh3_128_digest, map(view.__getitem__, map(
            slice, answer.tolist(), np.maximum(at[last + 1] - 1, answer).tolist())))
        if len(has) == n:
            self.prompts, self.answers = list(prompts), list(answers)
            return
        for i, p, q in zip(has.tolist(), prompts, answers):
            self.prompts[i] = p
            self.answers[i] = q


_VIEW_KEY = "ftlint.dataset.batch"


def _batch_view(examples: list[Example]) -> _BatchView:
    """The dataset rules' view of a batch: a derived entry of the shared view, so the engine's
    next dataset rule (handed the same batch) reuses it."""
    view = batch_view(examples) if examples else BatchView(examples)
    return view.derived(_VIEW_KEY, lambda: _BatchView(view, examples))


class ExampleCount(Rule):
    """The number of examples is outside the recommended range.

    ## What it does
    Counts the examples of each training file: below `min` (default 50) is a warning, above
    `max` (default 100) a note, and an empty file an error. Eval and test files are not counted.

    ## Why it matters
    Fine-tuning guidance (OpenAI's and others') is that 50–100 well-curated examples show
    whether fine-tuning helps; fewer rarely move the model, and the platforms set hard minimums
    (OpenAI 10, Fireworks 3). Above 100, make sure quality was checked, not just quantity.

    ## Example
    A `train.jsonl` with 12 examples.

    ## Use instead
    A `train.jsonl` with 50–100 curated, diverse examples.

    ## How to fix
    Add curated examples, or set `[tool.ftlint.rules.example-count]` `min`/`max` for your project.
    """

    code = "FTD001"
    name = "example-count"
    severity = Severity.WARNING
    scope = "dataset"
    tags = ("dataset",)
    default_options = {"min": 50, "max": 100}
    option_types = {"min": Rule.Option(int, min=0), "max": Rule.Option(int, min=0)}

    @classmethod
    def options_conflict(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        if options["min"] > options["max"]:
            return cls.changed_option(options, "min", "max"), f"min {options['min']} is above max {options['max']}"
        return None

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        lo, hi = self.options["min"], self.options["max"]
        for path, n in ctx.record_counts.items():
            if ctx.splits.get(path) in ("eval", "test"):
                continue
            loc = Location(path, 1, 1, 1, 2)
            if n == 0:
                yield self.finding_at(loc, "File has no examples.", severity=Severity.ERROR, key=path)
            elif n < lo:
                yield self.finding_at(loc, f"{n} example{'s' if n != 1 else ''}; fine-tuning guidance is 50–100 "
                                      f"curated examples (minimum set to {lo}).", key=path,
                                      properties={"examples": n})
            elif n > hi:
                yield self.finding_at(loc, f"{n:,} examples, above the {hi} curated examples of the "
                                      "guidance; make sure they were reviewed for quality, not just quantity.",
                                      severity=Severity.NOTE, key=path, properties={"examples": n})




# One record's fact is one plain bytes object: a 16-byte key, an optional extra (a 16-byte
# digest, or a near-duplicate signature), then line, column and index. Plain bytes keep memory
# flat at millions of records and pickle cheaply from the workers (a bytes subclass costs
# several times more to pickle and unpickle, and the parent unpickles every record's facts).


def _fact(key: bytes, record: Any, extra: bytes = b"") -> bytes:
    return key + extra + _POS.pack(record.line, record.column, record.index)


def _key(fact: bytes) -> bytes:
    return fact[:16]


def _extra(fact: bytes) -> bytes:
    return fact[16:-12]


def _ref(fact: bytes, path: str) -> RecordRef:
    line, column, index = _POS.unpack(fact[-12:])
    return RecordRef(path, line, column, index)


def _shared_keys(items: list[bytes]) -> list[list[int]]:
    """The positions of the facts whose key another fact shares: one ascending list per key.

    Sorting the keys with numpy finds the few repeats among millions of facts without a dict
    of every key (a dict costs ~100 MB and a Python step per fact at a million records).
    """
    import numpy as np

    n = len(items)
    if n < 2:
        return []
    width = len(items[0])
    first = np.empty(n, dtype=np.uint64)  # the key's first 8 bytes; the rest is compared below
    for lo in range(0, n, 65536):
        block = b"".join(items[lo:lo + 65536])
        if len(block) != width * len(items[lo:lo + 65536]):  # facts of mixed sizes: slice each
            block = b"".join(f[:16] + bytes(width - 16) for f in items[lo:lo + 65536])
        first[lo:lo + 65536] = np.ndarray((len(block) // width,), dtype="<u8", buffer=block, strides=(width,))
    order = np.argsort(first)
    ordered = first[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return []
    groups: dict[bytes, list[int]] = {}
    starts = np.flatnonzero(np.diff(same.astype(np.int8), prepend=0) == 1)  # runs of equal firsts
    ends = np.flatnonzero(np.diff(same.astype(np.int8), append=0) == -1) + 2
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        for i in sorted(order[lo:hi].tolist()):
            groups.setdefault(items[i][:16], []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


class DuplicateExample(Rule):
    """The same example appears more than once (after normalising whitespace and case).

    ## What it does
    Hashes every example's roles and texts (whitespace collapsed, lower-cased) and reports each
    repeat, with a related location pointing at the first copy.

    ## Why it matters
    Duplicates over-weight a few examples, waste compute and inflate eval scores when they
    leak across splits.

    ## Example
    ```json
    {"instruction": "Say hi", "output": "Hi!"}
    {"instruction": "say  hi", "output": "hi!"}
    ```

    ## Use instead
    Keep one copy.

    ## How to fix
    Deduplicate (e.g. `awk '!seen[$0]++'` for exact copies) and keep the best-written version.
    """

    code = "FTD002"
    name = "duplicate-example"
    severity = Severity.WARNING
    scope = "dataset"
    tags = ("dataset", "duplicates")

    def collect(self, example: Example, ctx: Context) -> bytes:
        return _fact(_example_digest(example), example.record)

    def collect_batch(self, examples: list[Example], ctx: Context) -> list[Any]:
        view = _batch_view(examples)
        return list(map(operator.concat, view.digests, view.positions))

    def finish(self, facts: dict[str, list[bytes]], ctx: Context) -> Iterator[Finding]:
        for path, items in facts.items():
            # (copy, first copy, ordinal) in file order; the ordinal, not the record index, goes
            # into the fingerprint: stable when records are inserted above.
            repeats = sorted((i, group[0], k) for group in _shared_keys(items)
                             for k, i in enumerate(group[1:], 1))
            for i, j, ordinal in repeats:
                first_ref = _ref(items[j], path)
                yield self.finding_at(
                    _ref(items[i], path).location(), f"Duplicate of the example at line {first_ref.line}.",
                    related=[Related(first_ref.location(), "First copy of this example.")],
                    key=_key(items[i]).hex() + f":{ordinal}")


class ConflictingResponses(Rule):
    """The same prompt appears with different responses.

    ## What it does
    Groups examples by their prompt (every turn before the final assistant answer, normalised)
    and reports examples whose answer differs from the first one seen for that prompt.

    ## Why it matters
    Contradictory targets pull the model in two directions; for factual or format-constrained
    tasks one of them is usually wrong.

    ## Example
    ```json
    {"instruction": "Capital of Australia?", "output": "Canberra"}
    {"instruction": "Capital of Australia?", "output": "Sydney"}
    ```

    ## Use instead
    One prompt, one correct answer (or vary the prompt when several answers are intended).

    ## How to fix
    Decide which answer is right and remove the other; if diversity is intended, ignore this
    rule for the file.
    """

    code = "FTD003"
    name = "conflicting-responses"
    severity = Severity.WARNING
    scope = "dataset"
    tags = ("dataset", "consistency")
    formats = ("alpaca", "openai", "sharegpt", "prompt_completion")

    def collect(self, example: Example, ctx: Context) -> bytes | None:
        pa = _prompt_answer_digests(example)
        if pa is None:
            return None
        return _fact(pa[0], example.record, pa[1])

    def collect_batch(self, examples: list[Example], ctx: Context) -> list[Any]:
        view = _batch_view(examples)
        return [None if p is None else p + a + pos for p, a, pos in zip(view.prompts, view.answers, view.positions)]

    def finish(self, facts: dict[str, list[bytes]], ctx: Context) -> Iterator[Finding]:
        for path, items in facts.items():
            conflicts = sorted((i, group[0]) for group in _shared_keys(items) for i in group[1:]
                               if _extra(items[i]) != _extra(items[group[0]]))
            for i, j in conflicts:
                fact, first_ref = items[i], _ref(items[j], path)
                yield self.finding_at(
                    _ref(fact, path).location(), f"Same prompt as the example at line {first_ref.line}, "
                    "but a different response.",
                    related=[Related(first_ref.location(), "The first response to this prompt.")],
                    key=_key(fact).hex() + _extra(fact).hex())


class TrainEvalOverlap(Rule):
    """An evaluation or test example also appears in the training data.

    ## What it does
    When train and eval/test files are linted together (named `train`/`validation`/`test`,
    or declared by a training config), reports eval examples whose prompt (or whole example)
    also occurs in a training file, with a related location at the training copy.

    ## Why it matters
    Leaked eval data makes the eval loss meaningless: you cannot see overfitting or compare
    runs against a baseline.

    ## Example
    `train.jsonl` and `validation.jsonl` both contain `{"instruction": "2+2?", "output": "4"}`.

    ## Use instead
    Disjoint splits.

    ## How to fix
    Remove the overlapping examples from the eval split (or from train), then re-split with
    deduplication first.
    """

    code = "FTD004"
    name = "train-eval-overlap"
    severity = Severity.ERROR
    scope = "dataset"
    tags = ("dataset", "leakage")

    def collect(self, example: Example, ctx: Context) -> bytes | None:
        if ctx.split is None:
            return None
        pa = _prompt_answer_digests(example)
        key = pa[0] if pa else _example_digest(example)
        return _fact(key, example.record)

    def collect_batch(self, examples: list[Example], ctx: Context) -> list[Any]:
        if ctx.split is None:
            return [None] * len(examples)
        view = _batch_view(examples)
        return [(d if p is None else p) + pos for p, d, pos in zip(view.prompts, view.digests, view.positions)]

    def finish(self, facts: dict[str, list[bytes]], ctx: Context) -> Iterator[Finding]:
        train: dict[bytes, tuple[str, bytes]] = {}
        for path, items in facts.items():
            if ctx.splits.get(path) == "train":
                for fact in items:
                    train.setdefault(_key(fact), (path, fact))
        if not train:
            return
        for path, items in facts.items():
            split = ctx.splits.get(path)
            if split not in ("eval", "test"):
                continue
            for fact in items:
                found = train.get(_key(fact))
                if found is not None:
                    hit = _ref(found[1], found[0])
                    yield self.finding_at(
                        _ref(fact, path).location(), f"This {split} example also appears in the training data "
                        f"({hit.path}:{hit.line}).",
                        related=[Related(hit.location(), "The training copy.")], key=_key(fact).hex() + path)


# Words for MinHash: ASCII punctuation is not part of a word ("mood." == "mood!"). Working on
# UTF-8 bytes keeps this at C speed (str.translate with a table is several times slower).
_PUNCT_TO_SPACE = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))
# The same split as a class per byte for the batch path: 1 where bytes.split() or the
# punctuation ends a word.
_WORD_BREAK = bytes(1 if chr(b) in string.punctuation or b in b" \t\n\x0b\x0c\r" else 0 for b in range(256))

# Shingle hashing, the same in Python (`_shingle_hashes`) and numpy (`_shingle_hashes_batch`):
# a word of up to 32 bytes is a linear mix of its (zero-padded) head and tail 8-byte words and
# its length, a longer one its xxh3; three word values make a 3-gram, finalised with the
# MurmurHash3 mixer so rensa's permutations see well-spread 64-bit token hashes.
_M64 = (1 << 64) - 1
_K = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_P = (0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3)
_FMIX = (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)
_SEED = 7  # rensa's permutation seed
_RENSA_ROWS = 128  # rows per rensa call: below its threshold for threads (see collect_batch)
_MIX_BLOCK = 16384  # 3-grams mixed at a time (128 KiB per array)


def _word_value(word: bytes) -> int:
    n = len(word)
    if n > 32:
        return xxh3_64_intdigest(word)
    h0, h1 = struct.unpack("<QQ", word[:16].ljust(16, b"\0"))
    x = h0 * _K[0] + h1 * _K[1] + n
    if n > 16:
        t0, t1 = struct.unpack("<QQ", word[-16:])
        x += t0 * _K[2] + t1 * _K[3]
    return x & _M64


def _fmix(x: int) -> int:
    x ^= x >> 33
    x = x * _FMIX[0] & _M64
    x ^= x >> 33
    x = x * _FMIX[1] & _M64
    return x ^ x >> 33


def _shingle_hashes(words: list[bytes]) -> list[int]:
    """64-bit hashes of the word 3-grams of `words` (the per-example reference)."""
    v = [_word_value(w) for w in words]
    return [_fmix((v[i] * _P[0] + v[i + 1] * _P[1] + v[i + 2] * _P[2]) & _M64) for i in range(len(v) - 2)]


def _shingle_hashes_batch(buf: Any, starts: Any, ends: Any) -> Any:
    """`_shingle_hashes` of all words of a buffer at once. Word i is buf[starts[i]:ends[i]], and
    `buf` ends with at least 16 word breaks (spaces). The result has one hash per word position;
    the caller drops the 3-grams that run past the end of an example."""
    return _mix_3grams(_word_values_batch(buf, starts, ends))


@functools.cache
def _head_masks() -> Any:
    """masks[i]: the low i bytes of a word set (i = 0..8)."""
    import numpy as np

    return np.array([(1 << 8 * i) - 1 for i in range(9)], dtype=np.uint64)


def _keep_word_bytes(head: Any, remaining: Any) -> Any:
    """Head words (8 bytes read at a word's offset, in place) with the bytes past the word's end
    zeroed (`remaining` >= 1 bytes of the word from there, at most 8 of them in this head word):
    one lookup of the mask of min(remaining, 8) bytes (`take` clips the index), one AND."""
    import numpy as np

    head &= np.take(_head_masks(), remaining, mode="clip")
    return head


def _word_values_batch(buf: Any, starts: Any, ends: Any) -> Any:
    """`_word_value` of every word buf[starts[i]:ends[i]] (see `_shingle_hashes_batch`)."""
    import numpy as np

    u64 = np.uint64
    # 8 bytes read at any byte offset (an unaligned view): the head words of every word at once.
    # `buf` ends with 16 word breaks, so no read runs past it.
    load = np.ndarray(shape=(len(buf) - 15,), dtype="<u8", buffer=buf, strides=(1,))
    n = ends - starts
    x = _keep_word_bytes(load[starts], n)
    x *= u64(_K[0])
    x += n.view(u64)
    over8 = np.flatnonzero(n > 8)  # a second head word only where there is one
    if not len(over8):
        return x
    n8 = n[over8]
    y = _keep_word_bytes(load[starts[over8] + 8], n8 - 8)
    y *= u64(_K[1])
    over16 = np.flatnonzero(n8 > 16)
    if len(over16):
        tail = ends[over8[over16]] - 16
        y[over16] += load[tail] * u64(_K[2]) + load[tail + 8] * u64(_K[3])
    x[over8] += y
    over32 = over8[n8 > 32]
    if len(over32):
        x[over32] = np.fromiter(map(xxh3_64_intdigest, map(buf.__getitem__, map(
            slice, starts[over32].tolist(), ends[over32].tolist()))), dtype=u64, count=len(over32))
    return x


def _mix_3grams(x: Any) -> Any:
    """The 3-gram hashes of consecutive word values (one per position but the last two)."""
    import numpy as np

    u64 = np.uint64
    if len(x) < 3:
        return np.empty(0, dtype=u64)
    # The 3-gram mix a block at a time: the temporaries stay in the CPU cache.
    out = np.empty(len(x) - 2, dtype=u64)
    tmp = np.empty(min(len(out), _MIX_BLOCK), dtype=u64)
    for lo in range(0, len(out), _MIX_BLOCK):
        hi = min(lo + _MIX_BLOCK, len(out))
        s, t = out[lo:hi], tmp[:hi - lo]
        np.multiply(x[lo:hi], u64(_P[0]), out=s)
        np.multiply(x[lo + 1:hi + 1], u64(_P[1]), out=t)
        s += t
        np.multiply(x[lo + 2:hi + 2], u64(_P[2]), out=t)
        s += t
        for k in _FMIX:
            np.right_shift(s, u64(33), out=t)
            s ^= t
            s *= u64(k)
        np.right_shift(s, u64(33), out=t)
        s ^= t
    return out


def _minhash_rows(hashes: Any, offsets: Any, num_perm: int) -> Any:
    """rensa MinHash signatures (rows x num_perm, uint32) of the token-hash rows
    hashes[offsets[k]:offsets[k + 1]].

    At most _RENSA_ROWS rows per call: from 256 rows rensa starts its Rayon thread pool, and a
    pool started in the parent deadlocks the forked workers of the engine.
    """
    import numpy as np
    from rensa import RMinHash

    rows = len(offsets) - 1
    out = array.array("I")  # rensa hands rows out as lists; array() converts them at C speed
    for lo in range(0, rows, _RENSA_ROWS):
        part = offsets[lo:min(lo + _RENSA_ROWS, rows) + 1]
        matrix = RMinHash.digest_matrix_from_flat_token_hashes(
            hashes[part[0]:part[-1]], part - part[0], num_perm, _SEED)
        for row in matrix.to_rows():
            out.fromlist(row)
    return np.frombuffer(out, dtype=np.uint32).reshape(rows, num_perm)


class NearDuplicate(Rule):
    """Two examples are near-duplicates (MinHash similarity above a threshold).

    ## What it does
    Estimates the Jaccard similarity of every example's word 3-grams with MinHash (rensa, Rust) and
    finds candidate pairs with locality-sensitive hashing, then verifies each pair. Reports
    near-copies inside a file, and eval/test examples that nearly copy a training example,
    with a related location at the first copy. Exact copies are left to `duplicate-example`.
    Options: `threshold` (default 0.7), `min_words` (default 8; shorter examples are skipped).

    ## Why it matters
    Near-duplicates (templated or lightly paraphrased synthetic data) over-weight a few
    patterns just like exact copies, and near-copies across splits leak the eval set while
    slipping past exact-match deduplication.

    ## Example
    ```json
    {"instruction": "Write a short poem about the sea at night, with rhyme.", "output": "The moon lies on the water..."}
    {"instruction": "Write a short poem about the sea at night, with rhymes!", "output": "The moon lies on the water..."}
    ```

    ## Use instead
    Keep one of them, or make them genuinely different.

    ## How to fix
    Deduplicate with a near-duplicate pass (MinHash/LSH) before splitting train and eval; lower
    or raise `threshold` in `[tool.ftlint.rules.near-duplicate]` to taste.
    """

    code = "FTD005"
    name = "near-duplicate"
    severity = Severity.WARNING
    scope = "dataset"
    tags = ("dataset", "duplicates", "leakage")
    precision = "medium"
    # 16 bands of 4 rows: pairs at similarity 0.7 become candidates with probability 0.99;
    # every candidate is then verified against the threshold.
    default_options = {"threshold": 0.7, "min_words": 8, "num_perm": 64, "bands": 16}
    option_types = {"threshold": Rule.Option(float, min=0, max=1), "min_words": Rule.Option(int, min=0), "num_perm": Rule.Option(int, min=1), "bands": Rule.Option(int, min=1)}

    @classmethod
    def options_conflict(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        if options["bands"] > options["num_perm"]:  # a band needs at least one signature row
            return cls.changed_option(options, "bands", "num_perm"), \
                f"bands {options['bands']} is above num_perm {options['num_perm']}"
        return None

    def collect(self, example: Example, ctx: Context) -> bytes | None:
        import numpy as np
        from rensa import RMinHash

        words = " ".join(t.lower for t in example.all_turns()).encode("utf-8", "replace").translate(_PUNCT_TO_SPACE).split()
        if len(words) < self.options["min_words"]:
            return None
        # Word 3-grams: two texts on one topic share words, near-copies share phrases.
        shingles = _shingle_hashes(words)
        digest = RMinHash.digest_matrix_from_token_hash_sets([shingles], self.options["num_perm"], _SEED).to_rows()[0]
        # The signature's low 16 bits per permutation: a chance collision costs 1/65536 of a
        # match, and the fact stays at ~190 bytes (a million records fit in ~200 MB).
        signature = np.asarray(digest, dtype=np.uint32).astype("<u2").tobytes()
        return _fact(_example_digest(example), example.record, signature)

    def collect_batch(self, examples: list[Example], ctx: Context) -> list[Any]:
        """`collect` for a whole batch: one buffer of all texts, word boundaries and 3-gram
        hashes in numpy, and rensa once per _RENSA_ROWS examples."""
        import numpy as np

        view = _batch_view(examples)
        buf = view.buf
        if buf is None or not view.roles_one_word:
            # Spaces around and between the texts: words never run from one text into the next.
            buf = b" " + b" ".join(view.encoded) + b" " * 17
        breaks = np.frombuffer(buf.translate(_WORD_BREAK), dtype=np.bool_)
        # Word boundaries in buf[1:] (the buffer starts with a break): saves a +1 over them all.
        edges = np.flatnonzero(breaks[1:] != breaks[:-1])
        starts, ends = edges[0::2], edges[1::2]
        values = _word_values_batch(memoryview(buf)[1:], starts, ends)
        if buf is view.buf:
            # The view's buffer also holds the roles, each one word where its turn starts: drop
            # them (example k's first word then moves down by the turn_start[k] roles before it).
            role_word = np.searchsorted(starts, view.role_start - 1)
            content = np.ones(len(starts), dtype=np.bool_)
            content[role_word[:-1]] = False
            values = values[content]
            first_word = role_word[view.turn_start] - view.turn_start
        else:
            lengths = np.fromiter(map(len, view.encoded), dtype=np.int64, count=len(view.encoded))
            part_start = np.zeros(len(lengths) + 1, dtype=np.int64)  # in buf[1:]
            np.cumsum(lengths + 1, out=part_start[1:])
            # each example's texts are encoded[turn_start[k]:turn_start[k + 1]]
            first_word = np.searchsorted(starts, part_start[view.turn_start])
        words = np.diff(first_word)
        keep = words >= self.options["min_words"]
        shingles = _mix_3grams(values)
        counts = np.where(keep, np.maximum(words - 2, 0), 0)
        offsets = np.zeros(len(examples) + 1, dtype=np.uint64)
        np.cumsum(counts, out=offsets[1:])
        # The 3-grams of kept example k start at its first word and stop two words before its
        # end: a mask over word positions (every word of a kept example, less its last two)
        # picks them, cheaper than an index per 3-gram. No picked position is among the last
        # two words of the batch, which have no 3-gram.
        picked = np.repeat(keep, words)
        end, kept_words = first_word[1:][keep], words[keep]
        picked[end[kept_words >= 1] - 1] = False
        picked[end[kept_words >= 2] - 2] = False
        rows = _minhash_rows(shingles[picked[:len(shingles)]], offsets, int(self.options["num_perm"]))
        signatures = rows.astype("<u2").tobytes()
        width = 2 * rows.shape[1]
        kept = np.flatnonzero(keep)
        facts = map(b"".join, zip(map(view.digests.__getitem__, kept.tolist()),
                                  map(signatures.__getitem__, map(slice, (kept * width).tolist(), ((kept + 1) * width).tolist())),
                                  map(view.positions.__getitem__, kept.tolist())))
        if len(kept) == len(examples):
            return list(facts)
        out: list[Any] = [None] * len(examples)
        for k, fact in zip(kept.tolist(), facts):
            out[k] = fact
        return out

    def finish(self, facts: dict[str, list[bytes]], ctx: Context) -> Iterator[Finding]:
        threshold = float(self.options["threshold"])
        train: list[tuple[str, bytes]] = []
        for path, items in facts.items():
            for i, j, score in self._pairs(items, threshold):
                first = _ref(items[j], path)
                yield self.finding_at(
                    _ref(items[i], path).location(),
                    f"Near-duplicate (similarity {score:.2f}) of the example at line {first.line}.",
                    related=[Related(first.location(), "The first of these near-duplicates.")],
                    key=_key(items[i]).hex() + _key(items[j]).hex())
            if ctx.splits.get(path) == "train":
                train.extend((path, f) for f in items)
        evals = [(p, f) for p, items in facts.items() if ctx.splits.get(p) in ("eval", "test") for f in items]
        if not train or not evals:
            return
        both = train + evals  # training examples first: they are "the first copy" of any pair
        for i, j, score in self._pairs([f for _, f in both], threshold):
            if i < len(train) or j >= len(train):
                continue  # only eval -> train pairs here
            path, fact = both[i]
            hit = _ref(both[j][1], both[j][0])
            yield self.finding_at(
                _ref(fact, path).location(), f"This {ctx.splits[path]} example nearly copies a training example "
                f"(similarity {score:.2f}, {hit.path}:{hit.line}).",
                related=[Related(hit.location(), "The similar training example.")],
                key=_key(fact).hex() + _key(both[j][1]).hex() + path)

    def _pairs(self, items: list[bytes], threshold: float) -> Iterator[tuple[int, int, float]]:
        """(i, j, similarity) with j < i the earliest verified near-copy of item i.

        LSH by sorting: for each band, items with the same band key form a run, and every item
        is compared with the earliest (in file order) item of its run. Memory is a few arrays of n entries,
        never a table per band; exact copies (same example digest) are left out.
        """
        import numpy as np

        n = len(items)
        perms = int(self.options["num_perm"])
        if n < 2:
            return
        # All facts have one layout (key, signature, position): decoded with one structured view
        # per block of facts (a block at a time keeps the extra memory small at millions).
        layout = np.dtype([("key", "<u8", (2,)), ("sig", "<u2", (perms,)), ("pos", "<u4", (3,))])
        sig = np.empty((n, perms), dtype=np.uint16)
        digests = np.empty((n, 2), dtype=np.uint64)
        for lo in range(0, n, 65536):
            table = np.frombuffer(b"".join(items[lo:lo + 65536]), dtype=layout)
            sig[lo:lo + len(table)] = table["sig"]
            digests[lo:lo + len(table)] = table["key"]
        bands = int(self.options["bands"])
        rows = perms // bands
        best = np.full(n, -1, dtype=np.int64)
        best_score = np.zeros(n)
        for b in range(bands):
            band = np.ascontiguousarray(sig[:, b * rows:(b + 1) * rows])
            # One integer per band when it fits (sorting integers is much faster than bytes);
            # equal bands are equal keys either way, and only the runs of equal keys matter.
            width = 2 * rows
            keys = band.view(f"<u{width}").ravel() if width in (2, 4, 8) else \
                np.frombuffer(band.tobytes(), dtype=f"V{width}")
            order = np.argsort(keys)
            sorted_keys = keys[order]
            new_run = np.empty(n, dtype=bool)
            new_run[0] = True
            new_run[1:] = sorted_keys[1:] != sorted_keys[:-1]
            # Only runs of two or more items matter: a position is in one when it or the next
            # position continues a run.
            shared = ~new_run
            shared[:-1] |= ~new_run[1:]
            picked = np.flatnonzero(shared)
            if not len(picked):
                continue
            order, new_run = order[picked], new_run[picked]
            run_start = np.flatnonzero(new_run)
            # the earliest item of each run (in file order), whatever order the sort left it in
            earliest = np.minimum.reduceat(order, run_start)[np.cumsum(new_run) - 1]
            is_member = order != earliest
            member, first = order[is_member], earliest[is_member]
            exact = (digests[member] == digests[first]).all(axis=1)
            member, first = member[~exact], first[~exact]
            if not len(member):
                continue
            score = (sig[member] == sig[first]).mean(axis=1)
            ok = score >= threshold
            member, first, score = member[ok], first[ok], score[ok]
            better = (best[member] < 0) | (first < best[member])
            best[member[better]] = first[better]
            best_score[member[better]] = score[better]
        for i in np.nonzero(best >= 0)[0]:
            yield int(i), int(best[i]), float(best_score[i])
