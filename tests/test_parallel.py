"""The chunked multi-process path gives exactly the findings of one sequential pass."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, write_jsonl
from ftlint.records import iter_jsonl_lines, jsonl_chunks, read_jsonl


def _dataset(tmp_path: Path) -> Path:
    recs: list = []
    for i in range(400):
        u = f"Question {i % 150}: how do I bake bread?"
        a = f"Answer {i % 170}: knead, proof, bake." if i % 13 else " "
        recs.append({"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]})
    recs[17] = ["not", "an", "object"]
    recs[300] = recs[5]
    recs[230] = {"messages": [{"role": "customer", "content": "hi"}, {"role": "assistant", "content": "As an AI language model, no."}]}
    f = write_jsonl(tmp_path / "train.jsonl", recs)
    with f.open("a") as fh:
        fh.write('{"broken": \n\n')
    return f


def test_chunks_cover_every_line_once(tmp_path: Path) -> None:
    f = _dataset(tmp_path)
    seq = [(r.line, r.index) for r in read_jsonl(str(f), "x") if hasattr(r, "index")]
    par = []
    for start, end, first in jsonl_chunks(str(f), 7):
        with f.open("rb") as fh:
            fh.seek(start)
            par += [(r.line, r.index) for r in iter_jsonl_lines(fh, "x", first, end) if hasattr(r, "index")]
    assert seq == par and len(seq) == 400


def test_parallel_findings_equal_sequential(tmp_path: Path) -> None:
    f = _dataset(tmp_path)
    one = run_cli("check", "--format", "json", "--jobs", "1", str(f))
    two = run_cli("check", "--format", "json", "--jobs", "2", str(f))
    assert one.exit_code == two.exit_code == 1
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a == b
    codes = {x["code"] for x in a}
    assert {"FTP001", "FTP003", "FTC001", "FTC002", "FTC012", "FTD002", "FTD003"} <= codes
