"""Token counting with the tiny fixture tokenizers (fast, offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import FIXTURES, lint_json, run_cli, write_jsonl
from ftlint.configs.plan import TrainingPlan
from ftlint.formats import detect_format, normalise
from ftlint.records import Record
from ftlint.rule import Context
from ftlint.tokens import TokenService, counts_for, resolve
from ftlint.tokens.resolve import Unresolved, find_in_cache
from ftlint.tokens.template import CHATML, ChatTemplate, TemplateError

TOK = FIXTURES / "tokenizers"
CHATML_DIR = TOK / "tiny-chatml"


def example(data: dict, line: int = 1):
    rec = Record("x.jsonl", line - 1, data, line, raw=json.dumps(data).encode())
    ex, _ = normalise(rec, detect_format(data))
    return ex


def conv(u: str, a: str, system: str | None = None) -> dict:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return {"messages": msgs}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def ctx_with(tokenizer: str | None = None, plan: TrainingPlan | None = None) -> Context:
    from ftlint.settings import Settings

    return Context(path="x.jsonl", plan=plan, services={"settings": Settings(tokenizer=tokenizer)})


# --- resolution -------------------------------------------------------------------------------
def test_resolve_folder_and_file() -> None:
    f = resolve(str(CHATML_DIR))
    assert f.chat_template and f.template_origin == "tokenizer_config.json"
    assert f.special["eos_token"] == "<|im_end|>" and f.special["pad_token"] == "<|endoftext|>"
    assert f.context_length == 512 and "max_position_embeddings" in f.context_origin
    g = resolve(str(CHATML_DIR / "tokenizer.json"))
    assert g.tokenizer_json.endswith("tokenizer.json") and g.chat_template == f.chat_template


def test_chat_template_jinja_file_wins(tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    shutil.copytree(CHATML_DIR, folder)
    (folder / "chat_template.jinja").write_text("{% for m in messages %}[{{ m['content'] }}]{% endfor %}")
    f = resolve(str(folder))
    assert f.template_origin == "chat_template.jinja" and f.chat_template.startswith("{% for m")


def test_named_template_variants(tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    shutil.copytree(CHATML_DIR, folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["chat_template"] = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert resolve(str(folder)).chat_template == "D"


def test_resolve_from_hf_cache_without_network(offline: Path) -> None:
    snap = offline / "models--acme--tiny" / "snapshots" / "abc123"
    shutil.copytree(CHATML_DIR, snap)
    (offline / "models--acme--tiny" / "refs").mkdir(parents=True)
    (offline / "models--acme--tiny" / "refs" / "main").write_text("abc123")
    assert find_in_cache("acme/tiny") == snap
    f = resolve("acme/tiny")
    assert "Hugging Face cache" in f.origin and f.special["eos_token"] == "<|im_end|>"


def test_unresolved_says_where_it_looked(offline: Path) -> None:
    with pytest.raises(Unresolved) as err:
        resolve("acme/missing")
    msg = str(err.value)
    assert "Hugging Face cache" in msg and "HF_HUB_OFFLINE" in msg


# --- templates --------------------------------------------------------------------------------
def test_template_globals_and_errors() -> None:
    t = ChatTemplate("{{ messages[0]['content'] | tojson }}{% for m in messages %}{% if loop.index > 1 %}"
                     "{% break %}{% endif %}{{ m.role }}{% endfor %}", {}, "test")
    text, _ = t.render([{"role": "user", "content": "<é>"}, {"role": "x", "content": ""}])
    assert text == '"<é>"user'  # tojson does not escape HTML or non-ASCII; loopcontrols work
    bad = ChatTemplate("{{ raise_exception('no system role') }}", {}, "test")
    with pytest.raises(TemplateError, match="no system role"):
        bad.render([{"role": "user", "content": "x"}])
    sandbox = ChatTemplate("{{ messages.__class__.__mro__ }}", {}, "test")
    with pytest.raises(TemplateError):
        sandbox.render([])


def test_generation_spans_match_transformers() -> None:
    transformers = pytest.importorskip("transformers")
    folder = str(TOK / "tiny-generation")
    hf = transformers.AutoTokenizer.from_pretrained(folder)
    svc = TokenService(folder)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi, the answer is one."}, {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": "Because the data says so."}]
    ex = example({"messages": msgs})
    svc.prepare([ex])
    c = ex.cache["tokens"]
    out = hf.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask = out["assistant_masks"]
    assert c.total == len(out["input_ids"])
    ours = [0] * c.total
    for s, e in c.spans:
        ours[s:e] = [1] * (e - s)
    assert ours == list(mask) and c.mask_method == "generation" and c.eos_trained is True


# --- counting ---------------------------------------------------------------------------------
def test_batch_equals_single_and_is_cached() -> None:
    svc = TokenService(str(CHATML_DIR))
    data = [conv("Hello", "Hi there."), conv("Why " * 30, "Because.", system="Be brief."),
            {"instruction": "Write", "input": "a list", "output": "one two"}, {"text": "plain text"}]
    batch = [example(d, i + 1) for i, d in enumerate(data)]
    svc.prepare(batch)
    for d, ex in zip(data, batch):
        single = example(d)
        svc.prepare([single])
        a, b = ex.cache["tokens"], single.cache["tokens"]
        assert (a.total, a.assistant, a.spans) == (b.total, b.assistant, b.spans)
    first = batch[0].cache["tokens"]
    svc.prepare(batch)  # cached: nothing recomputed
    assert batch[0].cache["tokens"] is first


def test_chat_counts_and_mask() -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(CHATML_DIR / "tokenizer.json"))
    svc = TokenService(str(CHATML_DIR))
    ex = example(conv("Hello there", "Hi."))
    svc.prepare([ex])
    c = ex.cache["tokens"]
    rendered = "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\nHi.<|im_end|>\n"
    prompt = "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"
    assert c.total == len(tok.encode(rendered, add_special_tokens=False).ids)
    assert c.assistant == c.total - len(tok.encode(prompt, add_special_tokens=False).ids)
    assert c.prompt + c.assistant == c.total and c.trained == c.assistant and c.eos_trained is True
    assert c.mask_method == "prefix" and c.loss == "assistant"


def test_text_format_appends_eos_and_trains_everything() -> None:
    svc = TokenService(str(CHATML_DIR))
    ex = example({"text": "the model"})
    svc.prepare([ex])
    c = ex.cache["tokens"]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(CHATML_DIR / "tokenizer.json"))
    assert c.total == len(tok.encode("the model<|im_end|>").ids)
    assert c.loss == "all" and c.trained == c.total


def test_alpaca_conversions() -> None:
    data = {"instruction": "Write a list", "input": "of numbers", "output": "one two three"}
    svc = TokenService(str(CHATML_DIR))
    ex = example(data)
    svc.prepare([ex])
    hf_like = ChatTemplate(CHATML, {}, "t").render(
        [{"role": "user", "content": "Write a list\nof numbers"}, {"role": "assistant", "content": "one two three"}])[0]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(CHATML_DIR / "tokenizer.json"))
    assert ex.cache["tokens"].total == len(tok.encode(hf_like, add_special_tokens=False).ids)
    # Axolotl `type: alpaca` uses its own text prompter, with the EOS after the response.
    ax = example(data)
    svc.prepare([ax], TrainingPlan(dialect="axolotl"))
    text = ("Below is an instruction that describes a task, paired with an input that provides further context. "
            "Write a response that appropriately completes the request.\n\n### Instruction:\nWrite a list\n\n"
            "### Input:\nof numbers\n\n### Response:\none two three<|im_end|>")
    c = ax.cache["tokens"]
    assert c.total == len(tok.encode(text).ids) and c.mask_method == "completion"


def test_trl_keeps_sharegpt_roles_as_written() -> None:
    data = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
    svc = TokenService(str(CHATML_DIR))
    canonical, raw = example(data), example(data)
    svc.prepare([canonical])
    svc.prepare([raw], TrainingPlan(dialect="trl"))
    assert canonical.cache["tokens"].assistant > 0
    # TRL only renames from/value; the template sees role "gpt", which is not an assistant turn.
    assert raw.cache["tokens"].assistant == 0 and raw.cache["tokens"].loss == "all"


def test_prompt_completion_conversational() -> None:
    data = {"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello"}]}
    svc = TokenService(str(CHATML_DIR))
    ex = example(data)
    svc.prepare([ex])
    c = ex.cache["tokens"]
    assert c.loss == "completion" and c.mask_method == "completion" and c.assistant > 0 and c.eos_trained


def test_no_model_means_no_cost(tmp_path: Path) -> None:
    from ftlint.api import build_linter

    path = write_jsonl(tmp_path / "d.jsonl", [conv("Hello", "Hi")])
    linter, _ = build_linter(None, {"select": ["FTT"]})
    report = linter.lint([str(path)])
    assert report.findings == [] and "tokens" not in linter.services


def test_approximate_labels_every_finding(tmp_path: Path, offline: Path) -> None:
    (tmp_path / "cfg.yaml").write_text("rules:\n  FTT001:\n    sequence_len: 16\n")
    path = write_jsonl(tmp_path / "d.jsonl", [conv("Hello", "Hi"), conv("word " * 60, "answer " * 20)])
    found = lint_json("--select", "FTT", "--model", "acme/not-cached", "--config", str(tmp_path / "cfg.yaml"),
                      str(path))
    codes = [f["code"] for f in found]
    assert codes.count("FTT012") == 1
    long = [f for f in found if f["code"] == "FTT001"]
    assert [f["line"] for f in long] == [2]
    assert "approximate" in long[0]["message"] and long[0]["properties"]["approximate"] is True
    stats = [f for f in found if f["code"] == "FTT011"]
    assert stats and stats[0]["properties"]["approximate"] is True


def test_statistics_properties(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(CHATML_DIR / "tokenizer.json"))
    recs = [conv("Question " + "one " * i, "Answer.") for i in range(1, 21)]
    path = write_jsonl(tmp_path / "d.jsonl", recs)
    found = lint_json("--select", "FTT011", "--tokenizer", str(CHATML_DIR), str(path))
    assert len(found) == 1
    p = found[0]["properties"]
    totals = sorted(len(tok.encode(ChatTemplate(CHATML, {}, "t").render(r["messages"])[0],
                                   add_special_tokens=False).ids) for r in recs)
    assert p["examples"] == 20 and p["max"] == totals[-1] and p["min"] == totals[0]
    assert p["p50"] == totals[9] and p["p95"] == totals[18] and p["tokens_per_epoch"] == sum(totals)
    assert p["suggested_sequence_len"] % 64 == 0 and p["suggested_sequence_len"] >= p["p99"]
    sarif = run_cli("check", "--format", "sarif", "--select", "FTT011", "--tokenizer", str(CHATML_DIR), str(path))
    assert '"suggested_sequence_len"' in sarif.stdout


def test_plan_in_context_drives_sequence_len_and_dialect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Through a training config: the plan's base model, sequence_len and dialect are used."""
    import ftlint.configs as configs

    data = write_jsonl(tmp_path / "train.jsonl", [conv("Hello", "Hi"), conv("Explain " * 40, "Because " * 10)])
    plan = TrainingPlan(dialect="axolotl", base_model=str(CHATML_DIR), sequence_len=48)

    def fake_load(path: str, display: str, settings):  # the engine's view of a loaded config
        return SimpleNamespace(findings=[], plan=plan, datasets=[configs.DatasetRef(str(data))])

    monkeypatch.setattr(configs, "load_config", fake_load)
    cfg = tmp_path / "train.yml"
    cfg.write_text("base_model: x\n")
    found = lint_json("--select", "FTT001", str(cfg))
    assert [f["line"] for f in found] == [2]
    assert found[0]["properties"]["outcome"] == "dropped" and "Axolotl drops" in found[0]["message"]


def test_broken_template_is_reported_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    shutil.copytree(CHATML_DIR, folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}{{ m.content }"
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    path = write_jsonl(tmp_path / "d.jsonl", [conv("Hello", "Hi")])
    found = lint_json("--select", "FTT013", "--tokenizer", str(folder), str(path))
    assert len(found) == 1 and "does not compile" in found[0]["message"]


def test_corrupt_tokenizer_falls_back_to_approximation(tmp_path: Path) -> None:
    folder = tmp_path / "tok"
    shutil.copytree(CHATML_DIR, folder)
    (folder / "tokenizer.json").write_text("{not json")
    path = write_jsonl(tmp_path / "d.jsonl", [conv("Hello", "Hi")])
    found = lint_json("--select", "FTT012", "--tokenizer", str(folder), str(path))
    assert len(found) == 1 and "could not be loaded" in found[0]["message"]


def test_counts_for_without_model_is_none() -> None:
    ex = example(conv("a", "b"))
    assert counts_for(ex, ctx_with(None)) is None
    assert counts_for(ex, ctx_with(str(CHATML_DIR))) is None  # cached: computed once per example
