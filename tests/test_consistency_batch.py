"""Batch rules give exactly the per-example findings (FTC001-012, FTJ004-009).

`check_batch` of these rules prefilters a whole batch with C-speed scans and runs the reference
`check` on the examples that may have a finding; here every batch result is compared with
`check` run on each example, on the rule fixtures, the shared corpus and generated records with
planted problems, in batches of several sizes.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftlint.formats import Example, Turn, normalise
from ftlint.records import Record
from ftlint.rule import Context, Rule
from ftlint.rules import consistency, tools
from ftlint.rules._batch import BatchView, batch_view

from conftest import FIXTURES, examples_of

RULES: list[type[Rule]] = sorted(
    (cls for mod in (consistency, tools) for cls in vars(mod).values()
     if isinstance(cls, type) and issubclass(cls, Rule) and getattr(cls, "code", "")[:3] in ("FTC", "FTJ")
     and cls.__module__ == mod.__name__ and (cls.code.startswith("FTC") or cls.code >= "FTJ004")),
    key=lambda c: c.code)
OPTIONS: dict[str, list[dict]] = {
    "FTC006": [{"allow_roles": ["tool"]}],
    "FTC008": [{"threshold": 0.5}, {"threshold": 0.97, "min_chars": 5}, {"threshold": 1.0}, {"threshold": 0.0},
               {"threshold": 1.5}, {"min_chars": 0}],
    "FTJ006": [{"check-formats": True}],
}


def key(f) -> tuple:
    return (f.code, f.message, f.location, f.fingerprint, f.severity, tuple(f.related), sorted(f.properties.items()))


def assert_batch_equals_check(examples: list[Example], sizes=(1, 3, 64, 1024)) -> int:
    """Every rule (and option set): batch findings == per-example findings. Returns the number
    of findings compared."""
    total = 0
    by_format: dict[str, list[Example]] = {}
    for e in examples:
        by_format.setdefault(e.format, []).append(e)
    for fmt, group in by_format.items():
        for cls in RULES:
            if cls.formats is not None and fmt not in cls.formats:
                continue
            for options in [{}] + OPTIONS.get(cls.code, []):
                rule, reference = cls(options), cls(options)
                ctx = Context(options=rule.options)
                expected = [[key(f) for f in reference.check(e, ctx)] for e in group]
                for size in sizes:
                    for start in range(0, len(group), size):
                        batch = group[start:start + size]
                        got = [key(f) for f in rule.check_batch(list(batch), ctx)]
                        want = [k for e in expected[start:start + size] for k in e]
                        assert got == want, (cls.code, options, fmt, size, start)
                total += sum(map(len, expected))
    return total


# --- fixtures and corpus ----------------------------------------------------------------------
FIXTURE_FILES = sorted(p for d in FIXTURES.joinpath("rules").glob("FT[CJ]*") for p in d.iterdir()
                       if p.suffix in (".jsonl", ".json", ".csv", ".parquet") and p.stem in ("bad", "good"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixtures(path: Path) -> None:
    examples = examples_of(path)
    found = assert_batch_equals_check(examples)
    if path.stem == "bad" and path.parent.name.startswith("FTC"):
        assert found  # the bad fixtures do exercise the finding path


def test_corpus(corpus: Path) -> None:
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".json", ".jsonl"))
    assert files
    total = 0
    for path in files:
        total += assert_batch_equals_check(examples_of(path), sizes=(7, 1024))
    assert total > 0


# --- generated records with planted problems ------------------------------------------------
WORDS = ("the model answers every question about rivers and mountains with care while the "
         "user asks for more detail on climate history language cutoff sorry request").split()
ODD = ["İstanbul", "\u212aelvin", "ΟΔΟΣ", "中文文本", "\u3000", "\xa0", "\t", "\n", "\r", "\x0b", "\x1c", "\x85",
       "café", "Ã©", "â€™", "ï»¿", "\ufffd", "\x07", "\u200b", "\U0001f600", "  ", "ſ"]
PLANTS = ["{{name}}", "${user}", "[INSERT NAME]", "[ your company ]", "<PLACEHOLDER>", "<INSERT_DATE>",
          "`{{code}}`", "```\n{{x}}\n```", "{{`x`name}}", "[TODO: fill in]", "<|im_start|>", "[INST]",
          "<<SYS>>", "</s>", "<start_of_turn>", "[/INST]", "<eos>", "<BOS>", "</tool_response>",
          "<|endoftext|>", "a<b", "[1]", "<<</SYS>>", "As an AI language model,", "I'm sorry, but I can't help",
          "I cannot fulfil this request", "my knowledge cutoff", "AS AN AI MODEL", "as an aİ model",
          "my \u212anowledge cutoff", "I am an AI, I can't", "i'm sorry but i won't assist"]


def sentence(rng: random.Random, n: int) -> str:
    parts = []
    for _ in range(n):
        r = rng.random()
        parts.append(rng.choice(ODD) if r < 0.08 else rng.choice(PLANTS) if r < 0.12 else rng.choice(WORDS))
    sep = rng.choice([" ", " ", " ", "  ", "\n", " \n "])
    return sep.join(parts)


def mutate(rng: random.Random, text: str) -> str:
    """A near copy: case, whitespace and a few word edits."""
    words = text.split()
    for _ in range(rng.randint(0, 2)):
        if words:
            words[rng.randrange(len(words))] = rng.choice(WORDS)
    out = rng.choice([" ", "  ", "\n"]).join(words)
    return rng.choice([out, out.upper(), out.title(), " " + out + " ", out[: max(1, len(out) * 3 // 4)]])


def conversation(rng: random.Random) -> dict:
    roles = ["system", "user", "assistant", "tool", "human", "gpt", "customer", "function", "developer"]
    msgs = []
    if rng.random() < 0.3:
        msgs.append({"role": "system", "content": sentence(rng, 5)})
    for _ in range(rng.randint(1, 4)):
        prompt = sentence(rng, rng.randint(1, 30))
        msgs.append({"role": "user", "content": prompt})
        kind = rng.random()
        if kind < 0.25:
            answer = mutate(rng, prompt)
        elif kind < 0.35:
            answer = prompt
        elif kind < 0.45:
            words = prompt.split()
            answer = " ".join(words[len(words) // 4:]) if words else prompt
        else:
            answer = sentence(rng, rng.randint(0, 30))
        call = rng.random()
        if call < 0.1:
            msgs.append({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": rng.choice(["get_weather", "nope"]), "arguments": rng.choice(['{"city": "Paris"}', "{bad", "[]"])}}]})
            if rng.random() < 0.7:  # else the answer follows the call directly
                msgs.append({"role": "tool", "tool_call_id": rng.choice(["c1", "c2"]), "content": "{}"})
        elif call < 0.15:  # legacy function calling, declared or not
            msgs.append({"role": "assistant", "content": None,
                         "function_call": {"name": rng.choice(["get_weather", "lookup"]), "arguments": "{}"}})
            msgs.append({"role": "function", "name": "get_weather", "content": "{}"})
        elif call < 0.2:  # two answers in a row
            msgs.append({"role": "assistant", "content": sentence(rng, 3)})
        msgs.append({"role": "assistant", "content": answer})
    for _ in range(rng.randint(0, 2)):  # structural defects
        r = rng.random()
        if r < 0.3:
            msgs.insert(rng.randrange(len(msgs) + 1), {"role": rng.choice(roles), "content": sentence(rng, 3)})
        elif r < 0.5 and msgs:
            msgs[rng.randrange(len(msgs))]["content"] = rng.choice(["", "  ", "\n", None, [{"type": "text", "text": " "}]])
        elif r < 0.6:
            msgs.append({"role": "user", "content": [{"type": "text", "text": sentence(rng, 4)},
                                                     {"type": "image_url", "image_url": {"url": "x"}}]})
    record: dict = {"messages": msgs}
    if rng.random() < 0.05:
        record["functions"] = [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    if rng.random() < 0.2:
        record["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": rng.choice(["object", "dict"]), "properties": {"city": {"type": rng.choice(["string", "str", "strng"])}},
            "required": ["city"]}}}]
    return record


def generated(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []
    for _ in range(count):
        r = rng.random()
        if r < 0.6:
            out.append(conversation(rng))
        elif r < 0.7:
            convo = [{"from": {"user": "human", "assistant": "gpt"}.get(m["role"], m["role"]), "value": m.get("content")}
                     for m in conversation(rng)["messages"]]
            if rng.random() < 0.4:  # a sharegpt call, answered or not, declared or not
                at = rng.randrange(len(convo) + 1)
                convo[at:at] = [{"from": "function_call", "value": rng.choice(
                    ['{"name": "get_weather", "arguments": {"city": 1}}', '{"name": "x"', '[{"name": "lookup"}]'])}] + (
                    [{"from": "observation", "value": "{}"}] if rng.random() < 0.5 else [])
            record = {"conversations": convo}
            if rng.random() < 0.3:
                record["tools"] = json.dumps([{"name": "get_weather", "parameters": {
                    "type": "object", "properties": {"city": {"type": "string"}}}}])
            out.append(record)
        elif r < 0.8:
            p = sentence(rng, rng.randint(1, 20))
            out.append({"instruction": p, "input": rng.choice(["", sentence(rng, 3)]),
                        "output": rng.choice([p, mutate(rng, p), sentence(rng, 10)])})
        elif r < 0.9:
            p = sentence(rng, 8)
            out.append({"prompt": [{"role": "user", "content": p}],
                        "chosen": [{"role": "assistant", "content": rng.choice([p, sentence(rng, 8)])}],
                        "rejected": [{"role": "assistant", "content": sentence(rng, 8)}]})
        else:
            out.append({"text": sentence(rng, rng.randint(0, 20))})
    return out


@pytest.mark.parametrize("seed", range(4))
def test_generated(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=seed % 2 == 0) + "\n" for r in generated(seed, 600)),
                    encoding="utf-8")
    assert assert_batch_equals_check(examples_of(path), sizes=(1, 50, 1024)) > 0


# --- the echo rule on adversarial pairs ------------------------------------------------------
ALPHABET = st.sampled_from(list("abcab xyz  ") + ["\n", "\t", "İ", "\u212a", "Σ", "σ", "中", "\u3000", "\xa0", "é", "É"])
TEXT = st.lists(ALPHABET, max_size=60).map("".join)


def _pair_record(prompt: str, answer: str) -> Example:
    data = {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}
    raw = json.dumps(data).encode()
    return normalise(Record("p.jsonl", 0, data, 1, raw=raw), "openai")[0]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, st.sampled_from(["same", "upper", "mutate", "cut", "other"]), TEXT,
       st.sampled_from([0.9, 0.5, 0.2, 1.0]), st.sampled_from([20, 3, 0]))
def test_echo_pairs(prompt: str, how: str, other: str, threshold: float, min_chars: int) -> None:
    answer = {"same": prompt, "upper": prompt.upper(), "mutate": prompt.replace("a", "b", 1) + " x",
              "cut": prompt[len(prompt) // 3:], "other": other}[how]
    rule = consistency.ResponseEchoesPrompt({"threshold": threshold, "min_chars": min_chars})
    examples = [_pair_record(prompt, answer), _pair_record(answer, prompt)]
    ctx = Context(options=rule.options)
    want = [key(f) for e in examples for f in rule.check(e, ctx)]
    assert [key(f) for f in rule.check_batch(examples, ctx)] == want


SEPARATORS = [" "] * 8 + ["  ", "\n", " \n ", "\t", "\u3000", "\xa0"]
VOCAB = ["alpha", "beta", "gamma", "delta", "ep", "zo", "a", "The", "theta", "iota", "kappa", "lambda",
         "mu", "xi", "omicron", "pi", "rho", "sigma", "tau", "中文", "été", "Étage", "x"]


def _words_text(rng: random.Random, words: list[str], spaced: float) -> str:
    """Words joined by single spaces, or (with probability `spaced` per gap) other whitespace,
    sometimes with whitespace around."""
    text = "".join(w + (rng.choice(SEPARATORS) if rng.random() < spaced else " ") for w in words).rstrip(" ")
    return rng.choice(["", " ", "\n"]) + text if rng.random() < 0.1 else text


def _near_pair(rng: random.Random, threshold: float) -> tuple[str, str]:
    """A prompt and an answer with about (1 - threshold) of the words changed, around the word
    count where "nearly identical" stops; long texts (over 5000 characters) and copies too."""
    n = rng.choice([1, 2, 3, 5, 9, 10, 11, 19, 20, 21, 40, 99, 100, 101, 1100])
    words = [rng.choice(VOCAB) + (str(rng.randrange(n * 2)) if rng.random() < 0.8 else "") for _ in range(n)]
    changed = max(0, int((1 - threshold) * n) + rng.choice([-1, 0, 0, 1, 2]))
    answer = list(words)
    for j in rng.sample(range(n), min(n, changed)):
        answer[j] = rng.choice(["new", "other", "zz"]) + str(rng.randrange(10 ** 6)) if rng.random() < 0.8 else ""
    answer = [w for w in answer if w]
    if rng.random() < 0.15:  # a copied stretch
        start = rng.randrange(n)
        answer = words[start:start + max(1, (n * rng.choice([5, 6, 8])) // 10)]
    if rng.random() < 0.2:
        answer = [w.upper() for w in answer]
    spaced = rng.choice([0.0, 0.0, 0.05, 0.5])
    return _words_text(rng, words, spaced), _words_text(rng, answer, spaced)


@pytest.mark.parametrize("threshold", [0.9, 0.8, 0.95, 0.5, 1.0, 0.0])
def test_echo_near_the_word_bound(threshold: float) -> None:
    """Pairs around the word-overlap bound of "nearly identical" (the batch's missing-word
    target), with multiple spaces, newlines, tabs, non-ASCII words and texts over 5000
    characters: the batch flags exactly what `check` flags, and some pairs are flagged."""
    rng = random.Random(int(threshold * 100))
    rule = consistency.ResponseEchoesPrompt({"threshold": threshold, "min_chars": rng.choice([20, 3])})
    ctx = Context(options=rule.options)
    examples = []
    for _ in range(150):
        prompt, answer = _near_pair(rng, threshold)
        examples += [_pair_record(prompt, answer), _pair_record(answer, prompt)]
    want = [key(f) for e in examples for f in rule.check(e, ctx)]
    assert len(want) > 20
    for size in (5, 300):
        got = [key(f) for start in range(0, len(examples), size)
               for f in rule.check_batch(examples[start:start + size], ctx)]
        assert got == want, size


# --- the batch view ----------------------------------------------------------------------------
def test_view_is_rebuilt_for_another_batch(tmp_path: Path) -> None:
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in generated(7, 40)), encoding="utf-8")
    examples = [e for e in examples_of(path) if e.format == "openai"]
    first = batch_view(examples[:10])
    assert batch_view(list(examples[:10])) is first  # an equal batch reuses it
    other = batch_view(examples[:12])
    assert other is not first and other.n == 12
    swapped = examples[:10]
    swapped[5] = examples[20]
    assert batch_view(swapped) is not other
    assert_batch_equals_check(examples, sizes=(10, 12, 5))


def test_view_does_not_pickle_the_batch(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in generated(3, 20)), encoding="utf-8")
    examples = examples_of(path)
    batch_view(examples)
    assert isinstance(examples[0].cache.get("ftlint.batch_view"), BatchView)
    assert pickle.loads(pickle.dumps(examples[0].cache))["ftlint.batch_view"] is None


# --- the Unicode facts the prefilters rely on ---------------------------------------------------
def test_unicode_facts() -> None:
    """lower() keeps length and whitespace-ness except U+0130; only U+0130 and U+212A lower to
    ASCII from outside it; ' ' is the only printable whitespace; lower() never makes `[ { < $`."""
    expanding, to_ascii, printable_space = [], [], []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        low = c.lower()
        if len(low) != 1:
            expanding.append(cp)
        assert all(ch.isspace() == c.isspace() for ch in low), hex(cp)
        if cp > 127 and any(ord(ch) < 128 for ch in low):
            to_ascii.append(cp)
        if c.isspace() and c != " " and c.isprintable():
            printable_space.append(cp)
        if c not in "[{<$" and any(ch in "[{<$" for ch in low):
            raise AssertionError(hex(cp))
    assert expanding == [0x130] and to_ascii == [0x130, 0x212A] and printable_space == []
    assert all(("a" + chr(cp) + "b").split() == ["a", "b"] for cp in range(sys.maxunicode + 1)
               if not 0xD800 <= cp <= 0xDFFF and chr(cp).isspace())
    # bytes.split() and str.split() agree on the ASCII whitespace the echo rule's fast path allows
    assert b"a b\nc".split() == [b"a", b"b", b"c"]


def test_turn_text_fast_path() -> None:
    turn = Turn("user", "user", "Hello", "/p", "/r")
    assert turn.text == "Hello"


# --- the edges of the prefilters' shortcuts ------------------------------------------------------
# Each text is flagged by `check`; it sits between answers that end and start with a letter, so
# in the batch projection (turns joined without separators) it abuts word characters.
EDGES = [
    ("FTC009", "${name} costs {x}"),                 # `${` one byte before the turn's first `{`
    ("FTC009", "{a} and {b}, then {{name}}"),        # `{{` after single braces
    ("FTC009", "{x}${user}"),                        # `${` right after a brace
    ("FTC009", "insert here: [ınsert name]"),        # the keyword only before the bracket (dotless ı matches it)
    ("FTC009", "see <PLACEHOLDER>"),                 # `<` and the keyword at the turn's end
    ("FTC009", "[TODO: fill in]"),                   # bracket first, keyword inside
    ("FTC012", "As an AI language model, I cannot help."),  # at the start of an answer
    ("FTC012", "Sadly that is past my knowledge cutoff"),    # at the end of an answer
    ("FTC012", "—as an AI model—"),                  # non-ASCII non-word neighbours of the boundaries
    ("FTC012", "I'm sorry, but I can't help"),
    ("FTC012", "I cannot fulfil this request"),
]


@pytest.mark.parametrize("code,text", EDGES)
def test_prefilter_edges(code: str, text: str) -> None:
    cls = next(c for c in RULES if c.code == code)
    examples = [_pair_record("Tell me more", "It ends in x"), _pair_record(text, text),
                _pair_record("And then", "xyz starts it"), _pair_record(text, "plain answer" + text)]
    rule = cls({})
    ctx = Context(options=rule.options)
    want = [key(f) for e in examples for f in rule.check(e, ctx)]
    assert want  # the plant is a finding
    for size in (1, 2, 3, 4):
        got = [key(f) for start in range(0, len(examples), size)
               for f in rule.check_batch(examples[start:start + size], ctx)]
        assert got == want, size
