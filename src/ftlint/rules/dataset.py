"""Dataset-level rules: they see every example of a file (or of all files) through small facts."""

from __future__ import annotations

import hashlib
import string
import struct
from typing import Any, Iterator

from ..findings import Finding, Location, Related, Severity
from ..formats import Example, Turn
from ..rule import Context, RecordRef, Rule


def _turns_text(turns: list[Turn]) -> str:
    """Roles and lower-cased texts of `turns` in one string, the input of the example digests."""
    return "\x1e".join(f"{t.role}\x1f{t.lower}" for t in turns)


def _digest(text: str) -> bytes:
    """Hash of already lower-cased text with whitespace runs collapsed."""
    return hashlib.blake2b(" ".join(text.split()).encode("utf-8", "replace"), digest_size=16).digest()


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


_POS = struct.Struct("<III")


class _Fact(bytes):
    """One record's fact in a single bytes object (memory stays flat at millions of records):
    a 16-byte key, an optional 16-byte extra digest, then line, column and index."""

    __slots__ = ()

    @classmethod
    def of(cls, key: bytes, record: Any, extra: bytes = b"") -> "_Fact":
        return cls(key + extra + _POS.pack(record.line, record.column, record.index))

    @property
    def key(self) -> bytes:
        return self[:16]

    @property
    def extra(self) -> bytes:
        return self[16:-12]

    def ref(self, path: str) -> RecordRef:
        line, column, index = _POS.unpack(self[-12:])
        return RecordRef(path, line, column, index)


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

    def collect(self, example: Example, ctx: Context) -> _Fact:
        return _Fact.of(_example_digest(example), example.record)

    def finish(self, facts: dict[str, list[_Fact]], ctx: Context) -> Iterator[Finding]:
        for path, items in facts.items():
            first: dict[bytes, _Fact] = {}
            copies: dict[bytes, int] = {}
            for fact in items:
                key = fact.key
                seen = first.setdefault(key, fact)
                if seen is fact:
                    continue
                # The copy's ordinal, not its record index: stable when records are inserted above.
                copies[key] = copies.get(key, 0) + 1
                first_ref = seen.ref(path)
                yield self.finding_at(
                    fact.ref(path).location(), f"Duplicate of the example at line {first_ref.line}.",
                    related=[Related(first_ref.location(), "First copy of this example.")],
                    key=key.hex() + f":{copies[key]}")


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

    def collect(self, example: Example, ctx: Context) -> _Fact | None:
        pa = _prompt_answer_digests(example)
        if pa is None:
            return None
        return _Fact.of(pa[0], example.record, pa[1])

    def finish(self, facts: dict[str, list[_Fact]], ctx: Context) -> Iterator[Finding]:
        for path, items in facts.items():
            first: dict[bytes, _Fact] = {}
            for fact in items:
                seen = first.setdefault(fact.key, fact)
                if seen is fact or seen.extra == fact.extra:
                    continue
                first_ref = seen.ref(path)
                yield self.finding_at(
                    fact.ref(path).location(), f"Same prompt as the example at line {first_ref.line}, "
                    "but a different response.",
                    related=[Related(first_ref.location(), "The first response to this prompt.")],
                    key=fact.key.hex() + fact.extra.hex())


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

    def collect(self, example: Example, ctx: Context) -> _Fact | None:
        if ctx.split is None:
            return None
        pa = _prompt_answer_digests(example)
        key = pa[0] if pa else _example_digest(example)
        return _Fact.of(key, example.record)

    def finish(self, facts: dict[str, list[_Fact]], ctx: Context) -> Iterator[Finding]:
        train: dict[bytes, tuple[str, _Fact]] = {}
        for path, items in facts.items():
            if ctx.splits.get(path) == "train":
                for fact in items:
                    train.setdefault(fact.key, (path, fact))
        if not train:
            return
        for path, items in facts.items():
            split = ctx.splits.get(path)
            if split not in ("eval", "test"):
                continue
            for fact in items:
                found = train.get(fact.key)
                if found is not None:
                    hit = found[1].ref(found[0])
                    yield self.finding_at(
                        fact.ref(path).location(), f"This {split} example also appears in the training data "
                        f"({hit.path}:{hit.line}).",
                        related=[Related(hit.location(), "The training copy.")], key=fact.key.hex() + path)


# Words for MinHash: ASCII punctuation is not part of a word ("mood." == "mood!"). Working on
# UTF-8 bytes keeps this at C speed (str.translate with a table is several times slower).
_PUNCT_TO_SPACE = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))


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

    def collect(self, example: Example, ctx: Context) -> bytes | None:
        import numpy as np
        from rensa import RMinHash

        words = " ".join(t.lower for t in example.all_turns()).encode("utf-8", "replace").translate(_PUNCT_TO_SPACE).split()
        if len(words) < self.options["min_words"]:
            return None
        minhash = RMinHash(self.options["num_perm"], 7)
        # Word 3-grams: two texts on one topic share words, near-copies share phrases.
        # map/zip keep the shingling in C (no Python bytecode per word).
        minhash.update(map(b" ".join, zip(words, words[1:], words[2:])))
        # The signature's low 16 bits per permutation: a chance collision costs 1/65536 of a
        # match, and the fact stays at ~190 bytes (a million records fit in ~200 MB).
        signature = np.asarray(minhash.digest(), dtype=np.uint32).astype(np.uint16).tobytes()
        return _Fact.of(_example_digest(example), example.record, signature)

    def finish(self, facts: dict[str, list[_Fact]], ctx: Context) -> Iterator[Finding]:
        threshold = float(self.options["threshold"])
        train: list[tuple[str, _Fact]] = []
        for path, items in facts.items():
            for i, j, score in self._pairs(items, threshold):
                first = items[j].ref(path)
                yield self.finding_at(
                    items[i].ref(path).location(),
                    f"Near-duplicate (similarity {score:.2f}) of the example at line {first.line}.",
                    related=[Related(first.location(), "The first of these near-duplicates.")],
                    key=items[i].key.hex() + items[j].key.hex())
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
            hit = both[j][1].ref(both[j][0])
            yield self.finding_at(
                fact.ref(path).location(), f"This {ctx.splits[path]} example nearly copies a training example "
                f"(similarity {score:.2f}, {hit.path}:{hit.line}).",
                related=[Related(hit.location(), "The similar training example.")],
                key=fact.key.hex() + both[j][1].key.hex() + path)

    def _pairs(self, items: list[_Fact], threshold: float) -> Iterator[tuple[int, int, float]]:
        """(i, j, similarity) with j < i the earliest verified near-copy of item i.

        LSH by sorting: for each band, items with the same band key form a run, and every item
        is compared with the earliest item of its run. Memory is a few arrays of n entries,
        never a table per band; exact copies (same example digest) are left out.
        """
        import numpy as np

        n = len(items)
        perms = int(self.options["num_perm"])
        if n < 2:
            return
        sig = np.empty((n, perms), dtype=np.uint16)
        digests = np.empty((n, 2), dtype=np.uint64)
        for k, fact in enumerate(items):
            sig[k] = np.frombuffer(fact, dtype=np.uint16, count=perms, offset=16)
            digests[k] = np.frombuffer(fact, dtype=np.uint64, count=2)
        bands = int(self.options["bands"])
        rows = perms // bands
        best = np.full(n, -1, dtype=np.int64)
        best_score = np.zeros(n)
        for b in range(bands):
            band = np.ascontiguousarray(sig[:, b * rows:(b + 1) * rows])
            keys = np.frombuffer(band.tobytes(), dtype=f"V{band.itemsize * rows}")
            order = np.argsort(keys, kind="stable")  # equal keys keep file order
            sorted_keys = keys[order]
            starts = np.empty(n, dtype=bool)
            starts[0] = True
            starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
            earliest = order[starts][np.cumsum(starts) - 1]
            member = order[~starts]
            first = earliest[~starts]
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
