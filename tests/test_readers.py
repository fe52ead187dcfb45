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
