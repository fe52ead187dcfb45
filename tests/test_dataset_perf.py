"""The batch paths of the dataset rules (FTD002-FTD005) give exactly the facts of the
per-example reference methods, on fixtures, the shared corpus and hostile text."""

from __future__ import annotations

import multiprocessing as mp
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, reachable
from ftlint.formats import Example, detect_format, normalise
from ftlint.records import Record, reader_for
from ftlint.rule import Context
from ftlint.rules import dataset
from ftlint.rules.dataset import (ConflictingResponses, DuplicateExample, NearDuplicate, TrainEvalOverlap,
                                  _batch_view, _example_digest, _prompt_answer_digests)

RULES = (DuplicateExample, ConflictingResponses, TrainEvalOverlap, NearDuplicate)


def _examples_from_data(rows: list[dict]) -> list[Example]:
    out = []
    for i, data in enumerate(rows):
        ex, _ = normalise(Record("mem.jsonl", i, data, i + 1), detect_format(data))
        if ex is not None:
            out.append(ex)
    return out


def _examples_from_file(path: Path, limit: int | None = None) -> list[Example]:
    rows = []
    for rec in reader_for(str(path))(str(path), str(path)):
        if hasattr(rec, "data") and isinstance(rec.data, dict):
            rows.append(rec)
            if limit and len(rows) >= limit:
                break
    return [ex for ex in (normalise(r, detect_format(r.data))[0] for r in rows) if ex is not None]


def _assert_batch_equals_reference(make, batch_sizes=(1, 7, 1024), options: dict | None = None) -> int:
    """For every rule: collect_batch over fresh examples (in batches) == collect on fresh examples."""
    count = 0
    for rule_cls in RULES:
        rule = rule_cls(options if rule_cls is NearDuplicate else None)
        ctx = Context(options=rule.options, split="train")
        reference = [rule.collect(e, ctx) for e in make()]
        count = len(reference)
        for size in batch_sizes:
            examples = make()
            got = []
            for i in range(0, len(examples), size):
                got.extend(rule.collect_batch(examples[i:i + size], ctx))
            assert len(got) == len(reference)
            for k, (g, r) in enumerate(zip(got, reference)):
                assert g == r, f"{rule.code} batch {size}: example {k} differs"
    return count


def test_whitespace_table_is_what_str_split_splits_on() -> None:
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    ours = {chr(b) for b in dataset._SPACE_BYTES} | set(dataset._MULTIBYTE_SPACES)
    assert ours == spaces
    # the batch digests look for wide spaces only at UTF-8 leads in this range
    assert all(dataset._LEAD_LO <= ord(ch.encode()[:1]) <= dataset._LEAD_HI for ch in dataset._MULTIBYTE_SPACES)


HOSTILE_TEXTS = [
    "Hello   world", "  hello world  ", "hello\tworld\n\n", "hello\x1cworld\x1d\x1e\x1f!", "\x85\xa0nbsp\xa0here",
    "ideographic\u3000space\u2028line\u2029para\u202f\u205f\u1680\u2000\u200a end", "",
    "   ", "\n", "\u00e9t\u00e9 \u00c9T\u00c9 caf\u00e9",
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u8fd9\u662f\u4e00\u4e2a\u5f88\u957f\u7684\u53e5\u5b50\u6ca1\u6709\u7a7a\u683c" * 3,
    "emoji \U0001f600\U0001f680 and \u2014 dashes \u2019quotes\u201d", "a" * 16, "b" * 17, "c" * 32, "d" * 33, "e" * 100,
    "x" * 8 + " " + "y" * 9 + " " + "z" * 24, "lone \ud800 surrogate \udfff here", "tabs\t\tand\r\nnewlines",
    "word.word,word;word:word!word?word(word)word[word]word{word}word\"word'word`word~word",
    "\u2000\u2001leading unicode spaces and trailing\u3000", "nul\x00byte and \x07 bell", "\u0130stanbul \u1e9e STRASSE",
]


def _hostile_rows(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(300):
        filler = " filler words to pass the minimum of eight words"
        pick = [rng.choice(HOSTILE_TEXTS) + (filler if rng.random() < .5 else "") for _ in range(4)]
        kind = i % 6
        if kind == 0:
            rows.append({"instruction": pick[0], "input": pick[1], "output": pick[2]})
        elif kind == 1:
            rows.append({"messages": [{"role": "system", "content": pick[0]}, {"role": "user", "content": pick[1]},
                                      {"role": "assistant", "content": pick[2]}, {"role": "user", "content": pick[3]}]})
        elif kind == 2:  # answer first: no prompt; or no assistant at all
            rows.append({"messages": [{"role": "assistant", "content": pick[0]}, {"role": "user", "content": pick[1]}]})
        elif kind == 3:
            rows.append({"messages": [{"role": "user", "content": pick[0]}]})
        elif kind == 4:
            rows.append({"prompt": [{"role": "user", "content": pick[0]}],
                         "chosen": [{"role": "assistant", "content": pick[1]}],
                         "rejected": [{"role": "assistant", "content": pick[2]}]})
        else:
            rows.append({"conversations": [{"from": "human", "value": pick[0]}, {"from": "gpt", "value": pick[1]},
                                           {"from": "human", "value": pick[2]}, {"from": "gpt", "value": pick[3]}]})
    rows.append({"messages": []})  # no turns at all
    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    rows.append({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "multi  part"}, {"type": "text", "text": " content"}]},
        {"role": "assistant", "content": None, "tool_calls": [call]}]})
    return rows


def test_batch_equals_reference_on_hostile_text() -> None:
    rows = _hostile_rows()
    assert _assert_batch_equals_reference(lambda: _examples_from_data(rows)) > 250


def test_batch_equals_reference_with_options() -> None:
    rows = _hostile_rows(1)
    # min_words below 3 leaves examples without any 3-gram; 48/16 makes bands of 3 (byte keys in finish)
    _assert_batch_equals_reference(lambda: _examples_from_data(rows), (5, 1024),
                                   {"min_words": 1, "num_perm": 48, "bands": 16, "threshold": 0.5})


def test_batch_equals_reference_on_fixtures() -> None:
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".jsonl", ".json", ".csv") and p.is_file())
    total = 0
    for path in files:
        try:
            examples = _examples_from_file(path)
        except Exception:  # not a dataset (schemas, configs)
            continue
        if examples:
            total += _assert_batch_equals_reference(lambda: _examples_from_file(path), (3, 1024))
    assert total > 50


def test_batch_equals_reference_on_corpus(corpus: Path) -> None:
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".jsonl", ".json") and p.is_file())
    total = 0
    for path in files:
        examples = _examples_from_file(path, limit=400)
        if examples:
            total += _assert_batch_equals_reference(lambda: _examples_from_file(path, limit=400), (64, 1024))
    assert total > 500


ALPHABET = st.sampled_from(list("ab cD.,!\t\n\x1c\x1f\x85\xa0\u3000\u2009\u2028\u00e9\u00c9\u4f60\U0001f600") + ["  ", "word", "x" * 20, "y" * 40])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]),
                                   st.lists(ALPHABET, max_size=30).map("".join)), max_size=5), min_size=1, max_size=6))
def test_batch_digests_match_reference(conversations: list[list[tuple[str, str]]]) -> None:
    rows = [{"messages": [{"role": r, "content": c} for r, c in conv]} for conv in conversations]
    batch, ref = _examples_from_data(rows), _examples_from_data(rows)
    view = _batch_view(batch)
    for k, r in enumerate(ref):
        assert view.digests[k] == _example_digest(r)
        assert (view.prompts[k], view.answers[k]) == (_prompt_answer_digests(r) or (None, None))
    rule = NearDuplicate({"min_words": 3})
    ctx = Context(options=rule.options)
    assert rule.collect_batch(_examples_from_data(rows), ctx) == [rule.collect(e, ctx) for e in _examples_from_data(rows)]


def test_digest_ignores_whitespace_and_case_only() -> None:
    a, b, c = _examples_from_data([{"instruction": "Say  hi\n", "output": "Hi!"},
                                   {"instruction": " say hi", "output": "hi!\u3000"},
                                   {"instruction": "say hi", "output": "hi !"}])
    view = _batch_view([a, b, c])
    assert view.digests[0] == view.digests[1] != view.digests[2]
    assert view.prompts[0] == view.prompts[2] and view.answers[0] != view.answers[2]  # same prompt, other answer


def test_view_is_a_derived_entry_of_the_shared_batch_view() -> None:
    """One flattening per batch: the dataset buffers live on the shared view, are reused for the
    same examples, rebuilt for others, and hold no example (the first one holds the view)."""
    from ftlint.rules._batch import batch_view

    rows = [{"instruction": f"question {i}", "output": f"answer {i}"} for i in range(6)]
    batch = _examples_from_data(rows)
    view = _batch_view(batch)
    assert _batch_view(list(batch)) is view
    assert batch_view(batch).derived(dataset._VIEW_KEY, lambda: None) is view
    assert _batch_view(batch[:5]) is not view
    for obj in reachable(view):
        assert not isinstance(obj, (Example, Record)), obj


def _collect_in_child(queue) -> None:  # pragma: no cover - runs in the forked child
    rows = [{"instruction": f"question number {i} about a topic with enough words", "output": f"answer {i}"} for i in range(600)]
    rule = NearDuplicate()
    facts = rule.collect_batch(_examples_from_data(rows), Context(options=rule.options))
    queue.put(sum(f is not None for f in facts))


def test_forked_worker_does_not_hang_after_the_parent_used_rensa() -> None:
    """rensa starts a Rayon pool for large batches, and a forked child of a process with a pool
    hangs in it: the batch path keeps every rensa call below that size."""
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    rows = [{"instruction": f"parent question {i} with quite a few words in it", "output": "ok"} for i in range(1500)]
    rule = NearDuplicate()
    rule.collect_batch(_examples_from_data(rows), Context(options=rule.options))
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_collect_in_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in rensa")
    assert queue.get(timeout=5) == 600


def test_near_duplicate_finish_finds_planted_pairs() -> None:
    base = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door"
    rows = [{"instruction": base, "output": "a story about animals in the house"},
            {"instruction": "completely unrelated text about databases indexes and query planning in practice",
             "output": "use an index"},
            {"instruction": base.replace("warm", "cold"), "output": "a story about animals in the house"},
            {"instruction": base, "output": "a story about animals in the house"}]  # exact copy: FTD002's job
    for options in ({}, {"num_perm": 48, "bands": 16}):
        rule = NearDuplicate(options)
        ctx = Context(options=rule.options)
        facts = [f for f in rule.collect_batch(_examples_from_data(rows), ctx) if f is not None]
        found = list(rule.finish({"mem.jsonl": facts}, Context()))
        assert [(f.location.line, f.related[0].location.line) for f in found] == [(3, 1)], options


def _reference_duplicates(items: list[bytes]) -> list[tuple[int, int, int]]:
    """(copy, first copy, ordinal) with a dict, the obvious way."""
    first: dict[bytes, int] = {}
    seen: dict[bytes, int] = {}
    out = []
    for i, fact in enumerate(items):
        key = fact[:16]
        if key not in first:
            first[key] = i
            continue
        seen[key] = seen.get(key, 0) + 1
        out.append((i, first[key], seen[key]))
    return out


def test_duplicate_finish_matches_a_dict_over_keys_sharing_a_prefix() -> None:
    rng = random.Random(3)
    items = []
    for i in range(3000):
        # keys that share their first 8 bytes but not the rest must not be taken for copies
        key = rng.randrange(40).to_bytes(8, "little") + rng.randrange(3).to_bytes(8, "little")
        items.append(dataset._fact(key, Record("a.jsonl", i, {}, i + 1)))
    found = list(DuplicateExample().finish({"a.jsonl": items}, Context()))
    expected = _reference_duplicates(items)
    assert [(f.location.line, f.related[0].location.line) for f in found] == [(i + 1, j + 1) for i, j, _ in expected]
    assert len({f.fingerprint for f in found}) == len(found)
    with_answers = [f[:16] + bytes([rng.randrange(2)]) * 16 + f[16:] for f in items]
    conflicts = list(ConflictingResponses().finish({"a.jsonl": with_answers}, Context()))
    expected = [(i, j) for i, j, _ in expected if with_answers[i][16:32] != with_answers[j][16:32]]
    assert [(f.location.line, f.related[0].location.line) for f in conflicts] == [(i + 1, j + 1) for i, j in expected]
    assert 0 < len(conflicts) < len(found)


def _examples_with_roles(roles: list[str]) -> list[Example]:
    """Examples whose turns carry the given (possibly non-canonical) roles, built directly:
    the normaliser only makes canonical ones, but plugins may hand over others."""
    from ftlint.formats import Turn
    out = []
    for i in range(40):
        data = {"i": i}
        ex = Example(Record("mem.jsonl", i, data, i + 1), "openai")
        for k, role in enumerate(roles):
            text = f"Turn {k} of example {i % 7}: some words, and\u00a0a few more  words here"
            ex.turns.append(Turn(role, role, text, f"/messages/{k}/content", f"/messages/{k}/role"))
        out.append(ex)
    return out


@pytest.mark.parametrize("roles", [
    ["user", "assistant"],
    ["my-role", "assistant", "user", "assistant"],  # one digest word, but two near-duplicate words
    ["two words", "assistant"],                      # not one word: the digests fall back to the reference
    [" user ", "assistant"],                         # spaces around a role vanish in the digest
    ["tool.call", "assistant"],
])
def test_batch_equals_reference_with_odd_roles(roles: list[str]) -> None:
    _assert_batch_equals_reference(lambda: _examples_with_roles(roles), (1, 9, 64), {"min_words": 3})


def test_batch_equals_reference_when_some_turns_are_already_lower_cased() -> None:
    rows = _hostile_rows(2)

    def make() -> list[Example]:
        examples = _examples_from_data(rows)
        for ex in examples[::3]:  # another rule got there first for some turns only
            for turn in ex.turns[:1]:
                turn.lower
        return examples

    _assert_batch_equals_reference(make, (16, 1024))


def test_shared_view_is_not_reused_for_a_refilled_batch() -> None:
    """The engine clears and refills one list per batch: a refilled list of the same size
    must not be taken for the previous batch."""
    first = _examples_from_data([{"instruction": f"question {i} with several words in it", "output": "a"}
                                 for i in range(16)])
    second = _examples_from_data([{"instruction": f"another {i} entirely different prompt here", "output": "b"}
                                  for i in range(16)])
    rule = DuplicateExample()
    ctx = Context(options=rule.options)
    batch = list(first)
    got_first = rule.collect_batch(batch, ctx)
    batch.clear()
    batch.extend(second)
    got_second = rule.collect_batch(batch, ctx)
    assert got_first == [rule.collect(e, ctx) for e in _examples_from_data(
        [{"instruction": f"question {i} with several words in it", "output": "a"} for i in range(16)])]
    assert got_second == [rule.collect(e, ctx) for e in second]
    assert got_first != got_second


def test_word_values_in_numpy_equal_the_reference_at_every_length() -> None:
    """Words of 1-45 bytes cover one head word, two, two plus the tail words, and xxh3."""
    import numpy as np

    rng = random.Random(1)
    words = [bytes(rng.randrange(33, 127) for _ in range(rng.randint(1, 45))) for _ in range(3000)]
    buf = b" " + b" ".join(words) + b" " * 17
    starts = np.cumsum([1] + [len(w) + 1 for w in words[:-1]]).astype(np.int64)
    ends = starts + np.array([len(w) for w in words], dtype=np.int64)
    assert dataset._word_values_batch(buf, starts, ends).tolist() == [dataset._word_value(w) for w in words]


def _short_rows() -> list[dict]:
    """Examples of 0, 1, 2, 3 and more near-duplicate words side by side (punctuation-only turns,
    wide spaces, words over 32 bytes, preference `rejected` turns), so that an example's 3-gram
    range that spills one word into its neighbour's shows up in the neighbour's signature."""
    texts = ["", "...", "one", "one two", "one, two! three", "α\u3000β γ δ", "x" * 40 + " " + "y" * 33 + " z",
             "four words right here", "!?", "a b c d e f g h i j", "\u00a0\u2003", "long" * 20]
    rows: list[dict] = []
    for i, a in enumerate(texts):
        for b in texts[i % 3::3]:
            rows.append({"instruction": a, "output": b})
        rows.append({"prompt": [{"role": "user", "content": a}], "chosen": [{"role": "assistant", "content": "ok"}],
                     "rejected": [{"role": "assistant", "content": a + " rejected words here"}]})
    rows.append({"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "!"}]})
    return rows


@pytest.mark.parametrize("min_words", [0, 1, 2, 3, 4])
def test_batch_equals_reference_for_examples_of_few_words(min_words: int) -> None:
    rows = _short_rows()
    _assert_batch_equals_reference(lambda: _examples_from_data(rows), (1, 2, 5, 1024), {"min_words": min_words})


@pytest.mark.parametrize("roles", [["my-role", "assistant"], ["two words", "assistant"], ["user", "tool.call"]])
def test_batch_equals_reference_for_few_words_and_odd_roles(roles: list[str]) -> None:
    def make() -> list[Example]:
        out = _examples_with_roles(roles)
        for k, ex in enumerate(out):  # turns of 0, 1, 2 and 3 words
            for turn in ex.turns:
                turn.content = " ".join(["w"] * (k % 4)) + ("!" if k % 2 else "")
        return out

    for min_words in (0, 1, 3):
        _assert_batch_equals_reference(make, (1, 3, 64), {"min_words": min_words})


def test_word_head_masks_keep_exactly_the_word_bytes() -> None:
    """`_keep_word_bytes` against Python's own masking, for every remaining length 1..40."""
    import numpy as np

    heads = np.array([0xFFEEDDCCBBAA9988] * 40, dtype=np.uint64)
    remaining = np.arange(1, 41, dtype=np.int64)
    got = dataset._keep_word_bytes(heads.copy(), remaining).tolist()
    assert got == [0xFFEEDDCCBBAA9988 & ((1 << 8 * min(r, 8)) - 1) for r in range(1, 41)]
