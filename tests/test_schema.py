"""Response and record JSON Schemas (FTJ001-FTJ003) and the schema loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from conftest import FIXTURES, lint_json, run_cli, write_jsonl
from ftlint.jsonschemas import literal_offset, parse_json

STRUCTURED = FIXTURES / "structured"
SCHEMA = {
    "type": "object",
    "required": ["label", "confidence"],
    "properties": {"label": {"enum": ["pos", "neg"]}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
    "additionalProperties": False,
}


def _chat(*responses: str, user: str = "Classify: fine") -> dict:
    msgs: list[dict] = []
    for r in responses:
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": r}]
    return {"messages": msgs}


def _positions(findings: list[dict]) -> list[str]:
    return sorted(f"{f['line']}:{f['column']} {f['code']}" for f in findings)


def _expected(name: str) -> list[str]:
    return sorted(x for x in (STRUCTURED / name).read_text().splitlines() if x.strip())


def _schema(tmp_path: Path, schema: object = SCHEMA, name: str = "schema.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


# --- the realistic invoice-extraction dataset --------------------------------------------------
def test_invoices_every_planted_defect_at_its_position_and_nothing_else() -> None:
    findings = lint_json("--select", "FTJ", "--response-schema", str(STRUCTURED / "invoice.schema.json"),
                         str(STRUCTURED / "invoices.jsonl"))
    assert _positions(findings) == _expected("invoices.expected.txt")
    by_line = {f["line"]: f for f in findings}
    assert "$.line_items[1].unit_price" in by_line[32]["message"]
    assert "$.total" in by_line[27]["message"] and "missing" in by_line[27]["message"]
    assert by_line[33]["properties"]["json_path"] == "$.date"  # format checking is on
    assert all(f["pointer"].startswith("/messages/") for f in findings)


def test_response_turns_final_and_fenced_blocks_via_project_config(tmp_path: Path) -> None:
    data = STRUCTURED / "invoices.jsonl"
    (tmp_path / ".ftlint.yaml").write_text(
        f"response-schema: {STRUCTURED / 'invoice.schema.json'}\nresponse-turns: final\nresponse-fenced: true\n")
    findings = [f for f in lint_json("--select", "FTJ", str(data), cwd=tmp_path)]
    got = _positions(findings)
    want = _expected("invoices.expected.txt")
    # record 25 (fenced block) and record 36's first, prose turn are now accepted; nothing else changes
    assert set(want) - set(got) == {"25:435 FTJ001", "36:394 FTJ001"}
    assert set(got) <= set(want)


def test_fenced_block_violation_points_inside_the_fence(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    (tmp_path / ".ftlint.yaml").write_text(f"response-schema: {schema.name}\nresponse-fenced: true\n")
    resp = '```json\n{"label": "pos", "confidence": 7}\n```'
    data = write_jsonl(tmp_path / "d.jsonl", [_chat(resp)])
    (f,) = lint_json("--select", "FTJ", str(data), cwd=tmp_path)
    line = data.read_text().splitlines()[0]
    assert f["code"] == "FTJ002" and "$.confidence" in f["message"]
    assert f["column"] == line.index('7}') + 1


def test_json_array_file_alpaca_output(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    records = [{"instruction": "Classify: good", "input": "", "output": '{"label": "pos", "confidence": 0.9}'},
               {"instruction": "Classify: bad", "input": "", "output": '{"label": "neg", "confidence": "high"}'},
               {"instruction": "Classify: ok", "input": "", "output": "label=pos"}]
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    findings = lint_json("--select", "FTJ", "--response-schema", str(schema), str(path))
    lines = path.read_text().splitlines()
    bad_line = next(i for i, x in enumerate(lines) if '\\"high\\"' in x)
    prose_line = next(i for i, x in enumerate(lines) if "label=pos" in x)
    assert _positions(findings) == sorted([f"{bad_line + 1}:{lines[bad_line].index(chr(92) + chr(34) + 'high') + 1} FTJ002",
                                           f"{prose_line + 1}:{lines[prose_line].index('label=pos') + 1} FTJ001"])


def test_csv_rows_point_at_the_row_with_the_inner_position_in_the_message(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    path = tmp_path / "d.csv"
    path.write_text('prompt,completion\n"Classify: a","{""label"": ""pos"", ""confidence"": 0.5}"\n'
                    '"Classify: b","{""label"": ""pos"",}"\n', encoding="utf-8")
    (f,) = lint_json("--select", "FTJ", "--response-schema", str(schema), str(path))
    assert f["code"] == "FTJ001" and f["line"] == 3 and "character 17 of the response" in f["message"]


def test_multi_part_content_and_tool_call_turns_are_not_responses(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    rec = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Classify: fine"}]},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function",
                                                             "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
        {"role": "assistant", "content": [{"type": "text", "text": '{"label": "pos", "confidence": 2}'}]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}
    data = write_jsonl(tmp_path / "d.jsonl", [rec])
    (f,) = lint_json("--select", "FTJ001,FTJ002", "--response-schema", str(schema), str(data))
    assert f["code"] == "FTJ002" and f["pointer"] == "/messages/3/content/0/text"
    assert f["column"] == data.read_text().index("2}") + 1


def test_preference_rejected_and_kto_undesirable_are_not_checked(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    good = '{"label": "pos", "confidence": 0.5}'
    recs = [{"prompt": "Classify: a", "chosen": good, "rejected": "not json"}]
    kto = [{"prompt": "Classify: a", "completion": "not json", "label": False},
           {"prompt": "Classify: b", "completion": "still not json", "label": True}]
    assert lint_json("--select", "FTJ", "--response-schema", str(schema),
                     str(write_jsonl(tmp_path / "pref.jsonl", recs))) == []
    (f,) = lint_json("--select", "FTJ", "--response-schema", str(schema), str(write_jsonl(tmp_path / "kto.jsonl", kto)))
    assert f["line"] == 2


# --- per-file schemas and path resolution -----------------------------------------------------
def test_response_schemas_by_glob_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    _schema(tmp_path / "schemas", SCHEMA, "cls.json")
    _schema(tmp_path / "schemas", {"type": "object", "required": ["answer"]}, "qa.json")
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "cls_train.jsonl", [_chat('{"label": "pos", "confidence": 0.1}')])
    write_jsonl(tmp_path / "data" / "qa_train.jsonl", [_chat('{"label": "pos", "confidence": 0.1}')])
    write_jsonl(tmp_path / "data" / "chat.jsonl", [_chat("Plain prose is fine here.")])
    (tmp_path / ".ftlint.yaml").write_text(
        "response-schemas:\n  'cls_*.jsonl': schemas/cls.json\n  'data/qa_*': schemas/qa.json\n")
    sub = tmp_path / "data"
    findings = lint_json("--select", "FTJ", ".", cwd=sub)  # config found by walking up; paths from its folder
    assert [(f["path"], f["code"]) for f in findings] == [("qa_train.jsonl", "FTJ002")]
    assert "$.answer" in findings[0]["message"] and "qa.json" in findings[0]["message"]


def test_local_ref_to_a_sibling_file(tmp_path: Path) -> None:
    _schema(tmp_path, {"type": "number", "minimum": 0, "maximum": 1}, "prob.json")
    schema = _schema(tmp_path, {"type": "object", "properties": {"confidence": {"$ref": "prob.json"}}})
    data = write_jsonl(tmp_path / "d.jsonl", [_chat('{"confidence": 3}')])
    (f,) = lint_json("--select", "FTJ", "--response-schema", str(schema), str(data))
    assert "$.confidence" in f["message"] and "maximum" in f["message"]


def test_dollar_schema_selects_the_draft(tmp_path: Path) -> None:
    tuple_items = {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}
    data = write_jsonl(tmp_path / "d.jsonl", [_chat('["a", 1]'), _chat('["a", "b"]')])
    draft7 = _schema(tmp_path, {"$schema": "http://json-schema.org/draft-07/schema#", **tuple_items}, "d7.json")
    findings = lint_json("--select", "FTJ", "--response-schema", str(draft7), str(data))
    assert [(f["line"], f["properties"]["json_path"]) for f in findings] == [(2, "$[1]")]
    # The same schema without `$schema` is read as 2020-12, where `items` must be one schema.
    plain = _schema(tmp_path, tuple_items, "plain.json")
    result = run_cli("check", "--response-schema", str(plain), str(data))
    assert result.exit_code == 2 and "plain.json" in result.stderr and "$.items" in result.stderr


@pytest.mark.parametrize("content, problem", [
    ('{"type": "strng"}', "'strng' is not a JSON Schema type"),
    ('{"type": "object", "required": "name"}', "$.required"),
    ('{"type": "object",}', "not valid JSON"),
    ('[1, 2]', "top level must be an object"),
    ('{"$schema": "https://example.com/my-draft", "type": "object"}', "unknown `$schema`"),
    ("type: [object\n", "not valid YAML"),
])
def test_invalid_schema_is_a_usage_error_naming_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / ("schema.yaml" if content.startswith("type:") else "schema.json")
    path.write_text(content, encoding="utf-8")
    data = write_jsonl(tmp_path / "d.jsonl", [_chat('{"label": "pos", "confidence": 0.1}')])
    for flag in ("--response-schema", "--record-schema"):
        result = run_cli("check", flag, str(path), str(data))
        assert result.exit_code == 2, result.output
        err = result.stderr.strip()
        assert err.startswith("ftlint: error: ") and str(path) in err and problem in err
        assert "Traceback" not in result.output and len(err.splitlines()) == 1


def test_missing_or_unreadable_schema_file(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [_chat("{}")])
    result = run_cli("check", "--response-schema", str(tmp_path / "nope.json"), str(data))
    assert result.exit_code == 2 and "nope.json: cannot read JSON Schema" in result.stderr
    result = run_cli("check", "--record-schema", str(tmp_path), str(data))
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_schema_is_compiled_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftlint.jsonschemas as js

    calls = []
    real = js.compile_schema
    monkeypatch.setattr(js, "compile_schema", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    schema = _schema(tmp_path)
    recs = [_chat('{"label": "pos", "confidence": 0.5}')] * 300
    data = write_jsonl(tmp_path / "d.jsonl", recs)
    (tmp_path / ".ftlint.yaml").write_text(f"response-schema: {schema.name}\nrecord-schema: {schema.name}\n")
    findings = lint_json("--select", "FTJ", str(data), cwd=tmp_path)
    assert len(calls) == 1  # the same file used twice is compiled once
    assert {f["code"] for f in findings} == {"FTJ003"}  # records lack label/confidence


# --- record schema ------------------------------------------------------------------------------
def test_record_schema_points_at_the_offending_value_in_a_multiline_json_file(tmp_path: Path) -> None:
    schema = _schema(tmp_path, {
        "type": "object", "required": ["id", "messages"],
        "properties": {"id": {"type": "integer"}, "meta": {"type": "object", "properties": {
            "lang": {"enum": ["en", "de"]}}}}})
    records = [{"id": 1, "meta": {"lang": "en"}, "messages": _chat("Hi")["messages"]},
               {"id": "2", "meta": {"lang": "fr"}, "messages": _chat("Hi")["messages"]},
               {"meta": {}, "messages": _chat("Hi")["messages"]}]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    findings = lint_json("--select", "FTJ003", "--record-schema", str(schema), str(path))
    lines = path.read_text().splitlines()

    def pos(needle: str, nth: int = 0) -> tuple[int, int]:
        hits = [(i + 1, x.index(needle) + 1) for i, x in enumerate(lines) if needle in x]
        return hits[nth]

    third = pos('"meta": {}')[0] - 1  # the third record's "{" is on the line before its first key
    got = [(f["line"], f["column"], f["pointer"]) for f in findings]
    assert got == [(*pos('"2"'), "/id"), (*pos('"fr"'), "/meta/lang"), (third, 3, "")]
    assert lines[third - 1] == "  {"
    assert "$.id" in findings[2]["message"] and "missing" in findings[2]["message"]


# --- the string-literal column mapping -----------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), st.booleans())
def test_literal_offset_matches_json_escaping(text: str, ascii_only: bool) -> None:
    literal = json.dumps(text, ensure_ascii=ascii_only)
    for i in range(len(text) + 1):
        assert literal_offset(literal, i) == len(json.dumps(text[:i], ensure_ascii=ascii_only)) - 1


def test_parse_json_is_strict() -> None:
    assert parse_json('{"a": 1}') == ({"a": 1}, None)
    for bad, offset in (("{'a': 1}", 1), ('{"a": NaN}', 6), ("", 0), ('{"a": 1} x', 9), ("[1,]", 3)):
        value, failure = parse_json(bad)
        assert failure is not None and failure.offset == offset, (bad, failure)
