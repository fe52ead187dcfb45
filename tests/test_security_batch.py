"""FTS001/FTS002 batch path: exactly the per-example findings, and prefilters that lose nothing.

`check_batch` joins a batch's turn texts into one blob and scans only the turns its prefilters
name. Here (1) batch findings are compared with `check` on every example, on the rule fixtures,
the shared corpus and generated records with planted secrets and personal data; (2) the
prefilters are checked to name every turn the rules' own tests (`_maybe_secret`, find_pii's)
accept, on planted and random texts; (3) the rewritten phone/card patterns are compared with
their plain forms.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftlint.formats import Example, detect_format, normalise
from ftlint.records import Record, read_jsonl
from ftlint.rule import Context
from ftlint.rules import security as S
from ftlint.rules._batch import KEY

from conftest import FIXTURES, examples_of, reachable

RULES = (S.SecretInText, S.PersonalData)


def key(f) -> tuple:
    return (f.code, f.message, f.location, f.fingerprint, f.severity, tuple(f.related), sorted(f.properties.items()))


def assert_batch_equals_check(examples: list[Example], sizes=(1, 3, 64, 1024)) -> int:
    """Batch findings == per-example findings, for both rules and several batch sizes (both
    rules on the same batch, as the engine runs them: the second reuses the first's blob)."""
    total = 0
    ctx = Context()
    expected = {cls.code: [[key(f) for f in cls().check(e, ctx)] for e in examples] for cls in RULES}
    for size in sizes:
        rules = [cls() for cls in RULES]
        for start in range(0, len(examples), size):
            batch = examples[start:start + size]
            for rule in rules:
                got = [key(f) for f in rule.check_batch(list(batch), ctx)]
                want = [k for e in expected[rule.code][start:start + size] for k in e]
                assert got == want, (rule.code, size, start)
    for found in expected.values():
        total += sum(map(len, found))
    return total


# --- fixtures and corpus ----------------------------------------------------------------------
FIXTURE_FILES = sorted(p for d in FIXTURES.joinpath("rules").glob("FTS*") for p in d.iterdir()
                       if p.suffix in (".jsonl", ".json", ".csv", ".parquet"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixtures(path: Path) -> None:
    found = assert_batch_equals_check(examples_of(path))
    if path.stem == "bad":
        assert found


def test_corpus(corpus: Path) -> None:
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".json", ".jsonl"))
    assert files
    for path in files:
        assert_batch_equals_check(examples_of(path), sizes=(7, 1024))


# --- generated records with planted secrets and personal data ---------------------------------
SECRETS = [
    "AKIAZ5GMHY3TQWERTY12", "ASIAZ5GMHY3TQWERTY12", "ghp_R2d2C3poLukeSkywalkerHanSolo12345678",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
    "glpat-aB3dE5fG7hJ9kL1mN3pQ", "GR1348941aB3dE5fG7hJ9kL1mN3pQ", "glagent-" + "a" * 50,
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "rk_live_4eC39HqLyjWDarjtT1zdp7dc", "-----BEGIN RSA PRIVATE KEY-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "https://admin:s3cr3tP4ss@db.internal.acme.io/",
    "sk-proj-AbCdEfGhIjKlMnOpQrStT3BlbkFJAbCdEfGhIjKlMnOpQrSt", "sk-ant-api03-" + "Ab1" * 12,
    "SK0123456789abcdef0123456789abcdef", "AC0123456789abcdef0123456789abcdef",
    "https://hooks.slack.com/services/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",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7", "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
    "0123456789abcdef0123456789abcdef-us12", "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "pypi-AgEIcHlwaS5vcmc" + "A" * 70, "AccountKey=" + "a" * 88, "AKCp5abcdefghij ", "AP6abcdefghij ",
    "EAAAE1234567890abcdef", "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs hf_x",
]
PII = [
    "jane.doe@acme-corp.com", "support@example.com", "a@b.co", "J.DOE9@ACME.COM", "x%1@Host-2.org", "+x@-y.io", "4539 1488 0343 6467", "4539-1488-0343-6467",
    "4111 1111 1111 1111", "+1 415 867 2671", "(415) 867-2671", "415.867.2671", "+44 20 7946 0958",
    "415 555 0100", "４１５ ８６７ ２６７１", "415\u3000867\u30002671", "٤١٥ ٨٦٧ ٢٦٧١", "2023-10-12 1,234,567",
    "12345678901234567890", "order 1234567 shipped 7654321",
]
FILLER = ("the model answers every question about rivers and mountains with care while the user asks "
          "for more detail on history 2023 sorry A G J K k - _ @ 555 12 345").split()
ODD = ["中文文本", "\u3000", "\xa0", "\t", "\n", "\x00", "café", "\U0001f600", "١٢٣", "１２３", "?", "—", "\x1c"]


def text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        r = rng.random()
        parts.append(rng.choice(SECRETS) if r < 0.08 else rng.choice(PII) if r < 0.2
                     else rng.choice(ODD) if r < 0.3 else rng.choice(FILLER))
    glue = rng.choice([" ", "", "\n", "中", "-", "_", "\x00"])  # "" glues plants to their neighbours
    return glue.join(parts)


def record(rng: random.Random) -> dict:
    kind = rng.random()
    if kind < 0.15:
        return {"instruction": text(rng), "input": rng.choice(["", text(rng)]), "output": text(rng)}
    if kind < 0.25:
        return {"prompt": [{"role": "user", "content": text(rng)}],
                "chosen": [{"role": "assistant", "content": text(rng)}],
                "rejected": [{"role": "assistant", "content": text(rng)}]}
    msgs = []
    for i in range(rng.randint(1, 5)):
        content = text(rng) if rng.random() < 0.85 else [{"type": "text", "text": text(rng)} for _ in range(2)]
        msgs.append({"role": ("user", "assistant")[i % 2], "content": content})
    return {"messages": msgs}


def generated(tmp_path: Path, seed: int, n: int) -> list[Example]:
    rng = random.Random(seed)
    path = tmp_path / f"gen{seed}.jsonl"
    path.write_text("".join(json.dumps(record(rng), ensure_ascii=rng.random() < 0.3) + "\n" for _ in range(n)),
                    encoding="utf-8")
    return examples_of(path)


@pytest.mark.parametrize("seed", range(4))
def test_generated(tmp_path: Path, seed: int) -> None:
    examples = generated(tmp_path, seed, 400)
    assert assert_batch_equals_check(examples, sizes=(1, 5, 64, 1024)) > 20


# --- prefilters name every turn the rules' own tests accept -----------------------------------
def batch_of(texts: list[str]) -> S._BatchText:
    return S._BatchText(texts)


def pii_gate(t: str) -> bool:
    """find_pii looks further only at these (a superset of the texts it finds something in)."""
    return bool(S._EMAIL.search(t)) or (sum(map(t.count, "0123456789")) >= 10 and bool(S._DIGIT_RUN.search(t)))


def assert_prefilters_cover(texts: list[str]) -> None:
    batch = batch_of(texts)
    secret, pii = S._secret_turns(batch), S._pii_turns(batch)
    for k, t in enumerate(texts):
        if S._maybe_secret(t):
            assert k in secret, t
        if pii_gate(t) or S.find_pii(t):
            assert k in pii, t


LITERALS = [*S._UPPER_LITERALS, *S._UNDERSCORE_LITERALS, *S._DASH_LITERALS, S._JWT, S._SLACK_HOOK]


def test_every_image_holds_an_anchor_and_pairs_are_adjacent() -> None:
    anchors = S._char_set(S._ANCHOR_CHARS)
    for image, _ in S._secret_images():
        assert any(chars <= anchors for chars in image), image
    assert all(b == a + 1 for a, b in S._CONTEXT)  # read as one 16-bit key


def test_named_images_are_confirmed_by_their_pattern() -> None:
    """A turn kept only by pattern images is scanned only when a pattern matches: each such
    pattern must match every text `_maybe_secret` accepts through that image's test."""
    texts = ["see laws and straws", "Console.WriteLine(x.y)", "at 12:30:45 sharp", "SKincare ACcount",
             'aws key = "' + "h7Tq" * 10 + '"', "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
             "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw", "go to HTTPS://HOOKS.SLACK.COM/x",
             "SKz9y8w7v6u5t4s3r2q1p0onmlkjihgzyx", " AP6a9Kd3Xh7Qw2ZpL5mN "]
    texts = ["plain prose, nothing to see"] + texts + ["plain prose, nothing to see"]  # no anchor near an end
    assert_prefilters_cover(texts)
    kept = S._secret_turns(batch_of(texts))
    assert kept == set(range(5, len(texts) - 1))


@pytest.mark.parametrize("literal", LITERALS)
def test_every_literal_anchor_is_found_anywhere(literal: str) -> None:
    assert set(literal) & set(S._ANCHOR_CHARS), literal
    texts = [literal, literal + " tail", "head " + literal, "中" + literal + "中", "x" * 40 + literal,
             "a\x00" + literal, literal + "\n" + literal, "@" + literal, literal[:-1], literal[1:]]
    assert_prefilters_cover(texts)
    batch = batch_of(texts)
    assert set(range(4)) <= S._secret_turns(batch)


def test_planted_texts_are_covered() -> None:
    assert_prefilters_cover(SECRETS + PII + [s + " " + p for s in SECRETS for p in PII[:3]])
    assert_prefilters_cover(["", "x", "\x00", "\x00@\x00", "12345\x006789012345", "123 456 7890 \x00"])


def test_unicode_digits_and_spaces_are_covered() -> None:
    texts = ["0123456789 ０１２３ call ４１５ ８６７ ２６７１", "0123456789 ٤١٥ ٨٦٧ ٢٦٧١", "0123456789 415\u3000867",
             "0123456789 415\xa0\xa0867", "0123456789 𝟒𝟏𝟓 𝟖𝟔𝟕 𝟐𝟔𝟕𝟏", "0123456789 415\u2009867 中文"]
    assert all(pii_gate(t) for t in texts)
    assert_prefilters_cover(texts)


def test_unusual_characters_are_exactly_the_non_ascii_digits_and_spaces() -> None:
    unusual, wanted = S._unicode_digit_or_space(), re.compile(r"[\d\s]")  # what _DIGIT_RUN can take
    for c in range(0x80, 0x10000):
        ch = chr(c)
        assert bool(unusual.match(ch)) == bool(wanted.match(ch)), hex(c)
    assert unusual.match("\U0001d7ce") and unusual.match("\U0001f600")


ALPHABET = st.sampled_from(list("AGJKk_-@.:/ 0123456789aceIPSRyhfswWxXoO'\"?()+\n\t")
                           + ["中", "\u3000", "٣", "３", "\x00", "é", "\u017f", "\u212a"])
FRAGMENTS = st.sampled_from(LITERALS + ["-us1", "SK", "AC", "AP", "0123456789abcdef" * 2, "://u:p@h", "a@b.cd",
                                        "415 867 2671", "4539148803436467", "XOXB-", "xOxs-", "HOOKS.SLACK",
                                        "hoo\u212as.\u017flack", "aw\u017f", "AWS", "laws", "z9" * 12, "Ab3dE5",
                                        "12345678", "Kd93_-fjQ0aB" * 3, "SKz9y8w7v6u5t4s3", "'" + "h7Tq" * 10 + "'"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.one_of(ALPHABET, FRAGMENTS), max_size=12).map("".join), min_size=1, max_size=8))
def test_prefilters_cover_random_texts(texts: list[str]) -> None:
    assert_prefilters_cover(texts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.one_of(ALPHABET, FRAGMENTS), max_size=12).map("".join), min_size=1, max_size=6))
def test_batch_equals_check_random(texts: list[str]) -> None:
    lines = [{"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": t[::-1]}]} for t in texts]
    path = Path(f"/tmp/ftlint-security-batch-{id(texts)}.jsonl")
    try:
        path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
        assert_batch_equals_check(examples_of(path), sizes=(1, 4))
    finally:
        path.unlink(missing_ok=True)


# --- the faster phone/card patterns match exactly what the plain forms match ------------------
PLAIN_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])\d{3,4}[ .\-]\d{3,4}(?![\w\-])")
PLAIN_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")
NUMERIC = st.lists(st.sampled_from(list("0123456789") * 4 + list(" -.()+_aZ\n\t\x1c") + ["\xa0", "٣", "３", "\u3000", "é"]),
                   max_size=40).map("".join)


@settings(max_examples=2000, deadline=None)
@given(NUMERIC)
def test_rewritten_patterns_match_the_plain_forms(t: str) -> None:
    spans = lambda p: [m.span() for m in p.finditer(t)]  # noqa: E731
    assert spans(S._PHONE) == spans(PLAIN_PHONE)
    assert spans(S._CARD) == spans(PLAIN_CARD)
    if t.isascii():
        assert spans(S._PHONE_ASCII) == spans(PLAIN_PHONE)
        assert spans(S._CARD_ASCII) == spans(PLAIN_CARD)
        assert bool(S._DIGIT_RUN_ASCII.search(t)) == bool(S._DIGIT_RUN.search(t))


# --- the shared blob --------------------------------------------------------------------------
def test_reused_list_with_new_examples_is_not_stale(tmp_path: Path) -> None:
    """The engine refills one list for every batch: the cached blob must follow the examples."""
    a = generated(tmp_path, 10, 50)
    b = generated(tmp_path, 11, 50)
    rule, ctx, batch = S.PersonalData(), Context(), []
    for examples in (a, b):
        batch.clear()
        batch.extend(examples)
        want = [key(f) for e in examples for f in rule.check(e, ctx)]
        assert [key(f) for f in rule.check_batch(batch, ctx)] == want
    batch[:] = [b[0]] + a[1:]
    want = [key(f) for e in batch for f in rule.check(e, ctx)]
    assert [key(f) for f in rule.check_batch(batch, ctx)] == want


def test_blob_makes_no_reference_cycle(tmp_path: Path) -> None:
    """The blob is a derived entry of the shared view in the first example's cache: nothing it
    holds may lead to an example, and nothing the view holds may lead back to the first one, or
    every batch would wait for the cycle collector."""
    examples = generated(tmp_path, 12, 20)
    for cls in RULES:
        list(cls().check_batch(examples, Context()))
    view = examples[0].cache[KEY]
    for obj in reachable(S._BatchText.of(view)):
        assert not isinstance(obj, (Example, Record)), obj
    for obj in reachable(view):
        assert obj is not examples[0] and obj is not examples[0].cache, obj


def test_subclass_with_own_scan_keeps_per_example_path(tmp_path: Path) -> None:
    class Everything(S.PersonalData):
        @staticmethod
        def scan(text: str) -> list[tuple[str, str]]:
            return [("anything", text)] if text else []

    examples = generated(tmp_path, 13, 30)
    rule, ctx = Everything(), Context()
    assert [key(f) for f in rule.check_batch(examples, ctx)] == [key(f) for e in examples for f in rule.check(e, ctx)]


def test_reader_records_keep_working_without_cache_hits(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "mail jane.doe@acme-corp.com"}]}) + "\n")
    (item,) = list(read_jsonl(str(path), "one.jsonl"))
    example, _ = normalise(item, detect_format(item.data))
    assert [f.code for f in S.PersonalData().check_batch([example], Context())] == ["FTS002"]
    assert S.SecretInText().check_batch([], Context()) == []
