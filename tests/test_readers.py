"""Readers: CSV and Parquet rows, JSON documents, JSON Lines saved as .json, encodings."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import lint_json


def test_csv_rows_are_records_with_row_lines(tmp_path: Path) -> None:
    f = tmp_path / "data.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["instruction", "input", "output"])
        w.writerow(["Say hi", "", "Hi there!"])
        w.writerow(["Multi\nline prompt", "", "An answer."])
        w.writerow(["Say bye", "", " "])
    [finding] = lint_json(str(f), "--select", "FTC001")
    assert finding["line"] == 5 and finding["pointer"] == "/output"  # the third row starts on line 5


def test_parquet_rows(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}]}]
    f = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), f)
    codes = {(x["code"], x["line"]) for x in lint_json(str(f), "--select", "FTC004,FTC005")}
    assert codes == {("FTC004", 2), ("FTC005", 2)}


def test_corrupt_parquet_is_a_finding(tmp_path: Path) -> None:
    f = tmp_path / "data.parquet"
    f.write_bytes(b"PAR1 this is not parquet")
    [finding] = lint_json(str(f), "--select", "FTP001")
    assert "Parquet" in finding["message"]


def test_jsonl_saved_as_json_and_single_document(tmp_path: Path) -> None:
    f = tmp_path / "lines.json"
    f.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": ""}\n')
    [finding] = lint_json(str(f), "--select", "FTC001")
    assert finding["line"] == 2
    g = tmp_path / "one.json"
    g.write_text('{\n  "prompt": "a",\n  "completion": ""\n}\n')
    [finding] = lint_json(str(g), "--select", "FTC001")
    assert (finding["line"], finding["column"]) == (3, 17)


def test_bom_crlf_and_utf16(tmp_path: Path) -> None:
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b'\xef\xbb\xbf{"text": "hello"}\r\n{"text": ""}\r\n')
    found = {(x["code"], x["line"]) for x in lint_json(str(f), "--select", "FTP002,FTC001")}
    assert found == {("FTP002", 1), ("FTC001", 2)}
    g = tmp_path / "utf16.jsonl"
    g.write_bytes('{"text": "hello"}\n'.encode("utf-16"))
    [finding] = lint_json(str(g), "--select", "FTP002")
    assert "UTF-16" in finding["message"]


def test_truncated_json_array(tmp_path: Path) -> None:
    f = tmp_path / "data.json"
    f.write_text('[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "c", "compl')
    found = lint_json(str(f), "--select", "FTP001")
    assert found and found[0]["line"] == 3


# --- JSON arrays are streamed a window at a time ------------------------------------------------

def _read_summary(path: Path, block_bytes: int) -> list[tuple]:
    """Everything a JSON reader hands on: records (value, index, position, the span of every
    value down to the messages' keys, the source text) and problems."""
    import json

    from ftlint.records import Problem, read_json

    out: list[tuple] = []
    for item in read_json(str(path), "d.json", block_bytes=block_bytes):
        if isinstance(item, Problem):
            out.append(("problem", item.code, item.message, item.line, item.column, item.end_column, item.fatal))
            continue
        pointers = [""]
        if isinstance(item.data, dict):
            for key, value in item.data.items():
                pointers.append("/" + key.replace("~", "~0").replace("/", "~1"))
                for i, part in enumerate(value[:3] if isinstance(value, list) else []):
                    pointers.append(f"/{key}/{i}")
                    pointers.extend(f"/{key}/{i}/{k}" for k in (list(part)[:2] if isinstance(part, dict) else []))
        spans = [tuple(vars(item.locate(p)).values()) for p in pointers]
        out.append(("record", item.index, json.dumps(item.data, sort_keys=True), item.line, item.column,
                    spans, item.source))
    return out


def _json_cases() -> dict[str, bytes]:
    import json
    import random

    rng = random.Random(7)
    words = ["alpha", "béta", "δέλτα", "😀", "x\ny", 'q"t', "back\\slash", "你好", "\u2028"]
    cases = {
        "truncated": b'[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "c", "compl',
        "unclosed": b'[\n  {"prompt": "a", "completion": "b"},\n',
        "missing-comma": b'[{"a": "b"}\n {"c": "d"}]',
        "bad-value": b'[{"a": "b"},\n  {"c": tru}]',
        "control-char": b'[{"a": "b\x01c"}]',
        "empty": b"", "blank": b"   \n\n  ", "empty-array": b"[ ]",
        "single": b'{\n  "prompt": "a",\n  "completion": ""\n}\n',
        "lines": b'{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": ""}\n',
        # bare values whose text a window could cut ("-5" of "-5.5e3", a 5,000-digit integer)
        "numbers": b'[1, 22, 333, 4444, -5.5e3, 6E+2, "str", null, true]',
        "huge-int": b'[{"a": ' + b"9" * 5000 + b"}]",
        "unterminated": b'[{"a": "b}]', "bad-escape": b'[{"a": "\\x"}]', "short-u-escape": b'[{"a": "\\u12"}]',
        "crlf": b'[\r\n  {"a": "b"},\r\n  {"c": "d"}\r\n]\r\n',
        "bom": b'\xef\xbb\xbf[{"a": "b"}, {"c": ""}]',
        "bad-utf8": '[{"a": "héllo"},\n {"b": "x'.encode() + b"\xff" + b'y"}]',
        "bad-utf8-after-bom": b'\xef\xbb\xbf[{"a": "\xc3"}]',
        "deep": b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
        "two-arrays": b'[{"a": "b"}]\n[{"c": "d"}]\n',
        "trailing-text": b'[{"a": "b"}] trailing',
        "huge-int-then-more": b'[{"a": ' + b"9" * 5000 + b'}, {"b": "' + b"x" * 3000 + b'"}]',
    }
    for k in range(8):
        records = [{"instruction": " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))),
                    "output": rng.choice(words) * rng.randint(1, 30),
                    "messages": [{"role": "user", "content": rng.choice(words)}]} for _ in range(rng.randint(1, 15))]
        text = json.dumps(records, ensure_ascii=k % 2 == 0, indent=[None, 1, 2, 4][k % 4])
        if k >= 5:  # a planted syntax error
            cut = rng.randint(1, len(text) - 1)
            text = text[:cut] + ["x", ",", "}"][k - 5] + text[cut + 1:]
        cases[f"generated-{k}"] = text.encode()
    return cases


@pytest.mark.parametrize("name", sorted(_json_cases()))
def test_json_windows_change_nothing(tmp_path: Path, name: str) -> None:
    """Windows of 1, 2, 3, 7 or 64 bytes cut records, strings, escapes, numbers and UTF-8
    characters everywhere: what the reader yields is exactly what one window over the whole
    file yields (the way the file was read before it was streamed)."""
    path = tmp_path / "d.json"
    path.write_bytes(_json_cases()[name])
    whole = _read_summary(path, 1 << 30)
    for block in (1, 2, 3, 7, 64):
        assert _read_summary(path, block) == whole, block


def test_json_windows_on_the_corpus(corpus: Path) -> None:
    for path in sorted(corpus.glob("llamafactory/data/*.json"))[:4]:
        assert _read_summary(path, 997) == _read_summary(path, 1 << 30), path


def test_a_json_array_is_read_a_window_at_a_time(tmp_path: Path) -> None:
    """Memory does not grow with the file: records hold only the window they were read from,
    each a few blocks long, not the whole text."""
    import json

    from ftlint.records import read_json

    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"instruction": f"question {i} " * 20, "output": "answer " * 30}
                                for i in range(2000)], indent=2))
    records = list(read_json(str(path), "big.json", block_bytes=4096))  # alive, so ids stay distinct
    windows = {id(r._text): len(r._text) for r in records}
    assert len(windows) > 100
    assert max(windows.values()) < 3 * 4096 < path.stat().st_size


def test_data_after_the_array_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "two.json"
    f.write_text('[\n  {"prompt": "a", "completion": "b"}\n]\n[\n  {"prompt": "c", "completion": "d"}\n]\n')
    [finding] = lint_json(str(f), "--select", "FTP001")
    assert (finding["line"], finding["column"]) == (4, 1) and "after the array" in finding["message"]
