"""The chunked multi-process path gives exactly the findings of one sequential pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def _json_dataset(tmp_path: Path, tail: str = "\n]\n") -> Path:
    """The same records as a pretty-printed JSON array (LLaMA-Factory style), with values only the
    stdlib decoder reads (NaN, an integer past 64 bits), non-ASCII text, and `tail` at the end."""
    recs = [json.loads(line) for line in _dataset(tmp_path).read_text().splitlines()[:-2]]
    recs[40] = {"messages": [{"role": "user", "content": "naïve café ✓ 😀"}, {"role": "assistant", "content": "ok"}],
                "score": float("nan"), "id": 123456789012345678901234567890}
    recs[395] = recs[310]  # a copy whose first occurrence sits a few pieces earlier: file order matters
    text = json.dumps(recs, ensure_ascii=False, indent=2)
    f = tmp_path / "train.json"
    f.write_text(text[:-2] + tail, encoding="utf-8")
    return f


def test_parallel_json_array_equals_sequential(tmp_path: Path, monkeypatch) -> None:
    """A JSON array is read by the main process and scanned by workers in pieces (here of 37
    records, so a dozen pieces): exactly the findings of one sequential pass, truncated or not."""
    import ftlint.engine

    monkeypatch.setattr(ftlint.engine, "JSON_PIECE_RECORDS", 37)
    for tail in ("\n]\n", "\n  {\"messages\": [{\"role\""):
        f = _json_dataset(tmp_path, tail)
        one = run_cli("check", "--format", "json", "--jobs", "1", str(f))
        two = run_cli("check", "--format", "json", "--jobs", "2", str(f))
        assert one.exit_code == two.exit_code == 1
        a, b = json.loads(one.stdout), json.loads(two.stdout)
        assert a == b
        assert {"FTP003", "FTC001", "FTC002", "FTC012", "FTD002", "FTD003"} <= {x["code"] for x in a}
    assert "FTP001" in {x["code"] for x in a}  # the truncated array


def test_json_documents_are_not_split(tmp_path: Path) -> None:
    """One JSON document, or JSON Lines saved as .json, stays in one process (and still works)."""
    from ftlint.records import is_json_array

    doc = tmp_path / "one.json"
    doc.write_text('\n  {"prompt": "a", "completion": ""}\n')
    lines = tmp_path / "lines.json"
    lines.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": ""}\n')
    arr = tmp_path / "arr.json"
    arr.write_bytes(b'\xef\xbb\xbf \n [{"prompt": "a", "completion": ""}]')
    assert (is_json_array(str(doc)), is_json_array(str(lines)), is_json_array(str(arr))) == (False, False, True)
    for f in (doc, lines):
        one = json.loads(run_cli("check", "--format", "json", "--jobs", "1", str(f)).stdout)
        assert one == json.loads(run_cli("check", "--format", "json", "--jobs", "2", str(f)).stdout)
        assert "FTC001" in {x["code"] for x in one}


def test_parallel_json_deeply_nested_record(tmp_path: Path) -> None:
    """A record nested almost as deep as the decoder allows is read by the main process and then
    parsed again in a worker, a few stack frames deeper: it must not fail there."""
    recs = [json.dumps({"instruction": f"q{i}", "output": "b"}) for i in range(80)]
    f = tmp_path / "deep.json"

    def write(depth: int) -> None:
        deep = '{"instruction": "a", "output": "b", "extra": ' + "[" * depth + "]" * depth + "}"
        f.write_text("[" + ",\n".join([*recs, deep]) + "]")

    # the deepest record one process still reads here (it depends on this test's own stack depth)
    low, high = 100, 3000
    while low < high:
        mid = (low + high + 1) // 2
        write(mid)
        if "FTP001" in run_cli("check", "--format", "json", "--jobs", "1", "--select", "FTP001", str(f)).stdout:
            high = mid - 1
        else:
            low = mid
    write(low)
    one = run_cli("check", "--format", "json", "--jobs", "1", str(f))
    two = run_cli("check", "--format", "json", "--jobs", "2", str(f))
    assert (one.exit_code, one.stdout) == (two.exit_code, two.stdout), two.stderr


def test_parallel_json_sends_only_slots_through_the_pool(tmp_path: Path, monkeypatch) -> None:
    """Pieces go through the spool files; the pool's pipe carries (slot, size) only, so a pool
    stopped by Ctrl-C never waits on a large task stuck in a pipe. Never more workers than pieces."""
    import ftlint.engine

    monkeypatch.setattr(ftlint.engine, "JSON_PIECE_RECORDS", 50)
    sizes: list[int] = []
    tasks: list = []
    real_init, real_submit = ftlint.engine._Workers.__init__, ftlint.engine._Workers.submit

    def init(self, processes: int, display: str) -> None:
        sizes.append(processes)
        real_init(self, processes, display)

    def submit(self, fn, arg):
        tasks.append(arg)
        return real_submit(self, fn, arg)

    monkeypatch.setattr(ftlint.engine._Workers, "__init__", init)
    monkeypatch.setattr(ftlint.engine._Workers, "submit", submit)
    f = _json_dataset(tmp_path)
    assert run_cli("check", "--format", "json", "--jobs", "50", str(f)).exit_code == 1
    assert sizes == [8]  # 400 records in pieces of 50: 8 pieces, so 8 workers, not 50
    assert len(tasks) == 8 and all(len(a) == 2 and all(type(x) is int for x in a) for a in tasks)


def _die_on_second_range(bounds: tuple[int, int, int]):
    """Stands in for the JSONL worker: the worker handed the second byte range dies."""
    import os

    import ftlint.engine

    if bounds[0] > 0:
        os._exit(9)
    return ftlint.engine.scan_range(*ftlint.engine._FORK_STATE, *bounds)


def _die_on_second_piece(task: tuple[int, int]):
    """Stands in for the JSON-array worker: the worker handed the second spool slot dies."""
    import os

    if task[0] == 1:
        os._exit(9)
    return _REAL_JSON_PIECE(task)


_REAL_JSON_PIECE = None


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path: Path, monkeypatch) -> None:
    """A worker killed (for lack of memory, say) loses its task, which multiprocessing.Pool waits
    for forever: here it is one line and exit 2, for JSONL and for JSON arrays."""
    import signal

    import ftlint.engine

    global _REAL_JSON_PIECE
    _REAL_JSON_PIECE = ftlint.engine._scan_json_piece
    monkeypatch.setattr(ftlint.engine, "_scan_range", _die_on_second_range)
    monkeypatch.setattr(ftlint.engine, "_scan_json_piece", _die_on_second_piece)
    monkeypatch.setattr(ftlint.engine, "JSON_PIECE_RECORDS", 50)

    def hung(*_: object) -> None:
        raise TimeoutError("the run hung after a worker died")

    previous = signal.signal(signal.SIGALRM, hung)  # a regression fails the test instead of hanging it
    try:
        for f in (_dataset(tmp_path), _json_dataset(tmp_path)):
            signal.alarm(60)
            result = run_cli("check", "--jobs", "2", str(f))
            signal.alarm(0)
            assert result.exit_code == 2, (result.stdout, result.stderr)
            assert "a worker process stopped unexpectedly" in result.stderr and "Traceback" not in result.stderr
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
def test_ctrl_c_stops_a_parallel_json_scan(tmp_path: Path) -> None:
    """SIGINT to the whole process group mid-scan: exit 130 with one line, never a hang or a
    worker's traceback (a stopped pool once waited forever on a task stuck in a pipe)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    recs = [{"messages": [{"role": "user", "content": f"Question {i} " * 30},
                          {"role": "assistant", "content": f"Answer {i} " * 40}]} for i in range(40_000)]
    f = tmp_path / "big.json"
    f.write_text(json.dumps(recs, indent=1))
    for delay in (0.5, 0.8, 1.1, 1.4):
        proc = subprocess.Popen([sys.executable, "-m", "ftlint", "check", "--jobs", "2", "--quiet", str(f)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"hung after SIGINT at {delay}s")
        assert "Traceback" not in err.decode(), err.decode()
        assert proc.returncode in (0, 1, 130), (proc.returncode, err.decode())
