"""`--engine ray` gives exactly the findings of the local engine.

The piece arithmetic (byte slices -> line starts and line numbers) is checked without Ray; the
end-to-end comparisons start one small local Ray instance for the module (slow: ~15-20 s to start
on a 2-core machine).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, write_jsonl
from ftlint.api import build_linter
from ftlint.distributed import _count_newlines, _row_group_runs, _scan_jsonl_piece
from ftlint.engine import display_path
from ftlint.rule import Context


def _chat(user: str, answer: str, system: str | None = None) -> dict:
    turns = [{"role": "system", "content": system}] if system else []
    return {"messages": turns + [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def _dataset(folder: Path, n: int = 1500, seed: int = 7) -> Path:
    """A chat file with defects of every scope scattered over it: parse errors, wrong roles,
    empty answers, refusals, exact and near duplicates, conflicting answers, a very long line."""
    rnd = random.Random(seed)
    words = ("bread flour water salt yeast oven proof knead crust crumb starter levain rye spelt "
             "bake cool slice butter honey jam").split()
    lines: list[str] = []
    for i in range(n):
        q = f"Question {i % 600}: how do I bake loaf number {i % 600}?"  # asked 2-3 times
        a = f"Answer {i}: " + " ".join(rnd.choices(words, k=rnd.randint(5, 40)))
        rec: object = _chat(q, a, ("You are a baker.", "Act as a baker.")[i % 2] if i % 5 == 0 else None)
        if i % 97 == 0:
            rec = _chat(q, "   ")
        elif i % 89 == 0:
            rec = {"messages": [{"role": "customer", "content": q}, {"role": "assistant", "content": a}]}
        elif i % 83 == 0:
            rec = _chat(q, "As an AI language model, I cannot bake.")
        elif i % 71 == 0:
            rec = ["not", "an", "object"]
        elif i % 61 == 0:
            rec = {"instruction": q, "output": a}  # another format in a chat file
        elif i % 53 == 0 and i > 100:
            rec = json.loads(lines[i - 100]) if lines[i - 100].startswith("{") else rec  # exact duplicate
        line = json.dumps(rec, ensure_ascii=False)
        if i % 131 == 0:
            line = line[: len(line) // 2]  # truncated JSON
        if i == 700:
            line = json.dumps(_chat(q, "long " * 6000))  # one line longer than a piece
        lines.append(line)
    text = "\n".join(lines[:400]) + "\n\n" + "\r\n".join(lines[400:800]) + "\r\n" + "\n".join(lines[800:]) + "\n"
    path = folder / "train.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_pieces_scan_every_line_once_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal byte slices of any size turn into pieces whose findings equal one sequential pass."""
    monkeypatch.chdir(tmp_path)
    f = _dataset(tmp_path, n=600)
    linter, _ = build_linter(overrides={"jobs": 1})
    display = display_path(str(f))

    def findings(chunks) -> list[dict]:  # in report order (batching reorders them inside a chunk)
        return [x.to_dict() for x in sorted((x for c in chunks for x in c.findings), key=lambda x: x.sort_key())]

    whole = linter._scan_file(str(f), display, Context(path=display, services=linter.services))
    expected = findings(whole)
    size = f.stat().st_size
    for n in (1, 2, 7, 40, 400):
        ctx = Context(path=display, services=linter.services, file_format="openai")
        bounds = [size * i // n for i in range(n + 1)]
        before, chunks = 0, []
        for start, end in zip(bounds, bounds[1:]):
            chunks.append(_scan_jsonl_piece(linter, str(f), display, ctx, start, end, before))
            before += _count_newlines(str(f), start, end)
        assert findings(chunks) == expected, n
        assert sum(c.records for c in chunks) == sum(c.records for c in whole)


def test_missing_ray_is_a_one_line_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = write_jsonl(tmp_path / "train.jsonl", [_chat("hi", "hello")])
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = run_cli("check", "--engine", "ray", str(f))
    assert result.exit_code == 2
    assert result.stderr.strip() == "ftlint: error: --engine ray needs Ray: pip install 'ftlint[ray]'"


def test_unreachable_cluster_fails_fast_in_one_line() -> None:
    import socket

    from ftlint.distributed import _check_reachable
    from ftlint.findings import UsageError

    with socket.socket() as s:  # a port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UsageError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        _check_reachable(f"127.0.0.1:{port}", timeout=2)
    _check_reachable("auto")  # left to Ray


# ---------------------------------------------------------------------------------------------
# With a local Ray instance

@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=200 * 1024 * 1024)
    yield ray
    if started:
        ray.shutdown()


def _both(*args: str, cwd: Path | None = None, monkeypatch: pytest.MonkeyPatch | None = None,
          piece: int | None = None) -> tuple[str, str]:
    local = run_cli("check", "--format", "json", "--jobs", "1", *args, cwd=cwd)
    if piece is not None and monkeypatch is not None:
        monkeypatch.setenv("FTLINT_RAY_CHUNK_BYTES", str(piece))
    ray = run_cli("check", "--format", "json", "--engine", "ray", *args, cwd=cwd)
    assert local.exit_code == ray.exit_code, (local.output, ray.output)
    assert local.exit_code in (0, 1), local.output
    return local.stdout, ray.stdout


@pytest.mark.slow
def test_ray_equals_local_on_the_corpus(ray_local, corpus: Path) -> None:
    local, ray = _both(str(corpus))
    assert local == ray
    assert len(json.loads(local)) > 100


@pytest.mark.slow
def test_ray_equals_local_on_a_many_piece_file(ray_local, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Dozens of byte-range tasks, a second file for cross-file facts (train/eval overlap), and
    services the workers must rebuild from the settings: a tokenizer, a record schema and a YAML
    ruleset, all given as paths relative to the working directory."""
    train = _dataset(tmp_path, n=1500)
    rows = [json.loads(x) for x in train.read_text(encoding="utf-8").splitlines()[:1200:37]
            if x.startswith('{"messages"') and x.endswith("}")]
    write_jsonl(tmp_path / "eval.jsonl", rows + [_chat("new question", "new answer")])
    (tmp_path / "record.schema.json").write_text(json.dumps(
        {"type": "object", "properties": {"messages": {"maxItems": 2}}}), encoding="utf-8")
    tok = ROOT / "fixtures" / "tokenizers" / "tiny-chatml"
    monkeypatch.chdir(tmp_path)
    args = ("--extend-select", "FTD005,FTT", "--tokenizer", str(tok), "--record-schema",
            "record.schema.json", "--ruleset", str(ROOT / "fixtures" / "rulesets" / "team.yaml"), ".")
    local, ray = _both(*args, monkeypatch=monkeypatch, piece=24 * 1024)
    assert local == ray
    codes = {f["code"] for f in json.loads(local)}
    assert {"FTP001", "FTP003", "FTP006", "FTC001", "FTC002", "FTC012", "FTD002", "FTD003",
            "FTD004", "FTJ003", "TEAM001"} <= codes, codes
    assert any(c.startswith("FTT") for c in codes), codes


@pytest.mark.slow
def test_ray_equals_local_on_parquet_row_groups(ray_local, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"instruction": f"Task {i % 300}", "input": "", "output": "" if i % 41 == 0 else f"Done {i % 600}"}
            for i in range(2000)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train.parquet", row_group_size=150)
    monkeypatch.chdir(tmp_path)
    assert len(_row_group_runs("train.parquet", 4096)) >= 4  # several tasks, not one
    local, ray = _both("train.parquet", monkeypatch=monkeypatch, piece=4096)
    assert local == ray
    codes = {f["code"] for f in json.loads(local)}
    assert {"FTC001", "FTD002", "FTD003"} <= codes, codes


@pytest.mark.slow
def test_ray_reports_unreadable_files_like_local(ray_local, tmp_path: Path) -> None:
    """A broken link is read on the driver (JSONL) or on a worker (JSON): one line, exit 2."""
    good = write_jsonl(tmp_path / "a.jsonl", [_chat("hi", "hello")] * 3)
    for name in ("b.jsonl", "c.json"):
        (tmp_path / name).symlink_to(tmp_path / "missing")
        messages = []
        for engine in ("local", "ray"):
            result = run_cli("check", "--engine", engine, str(good), str(tmp_path / name))
            assert result.exit_code == 2, result.output
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            messages.append(result.stderr.strip())
        assert name in messages[0] and name in messages[1], messages


@pytest.mark.slow
def test_failed_tasks_become_one_line_errors(ray_local) -> None:
    from ftlint.distributed import _get
    from ftlint.findings import UsageError

    def missing_module() -> None:  # defined here, so Ray ships it by value
        raise ImportError("No module named 'ftlint'")

    def broken() -> None:
        raise ValueError("bad piece")

    with pytest.raises(UsageError, match="data.jsonl: the Ray workers cannot import what ftlint needs"):
        _get(ray_local, [ray_local.remote(missing_module).remote()], "data.jsonl")
    with pytest.raises(RuntimeError, match="^data.jsonl: a Ray task failed: ValueError: bad piece$"):
        _get(ray_local, [ray_local.remote(broken).remote()], "data.jsonl")
