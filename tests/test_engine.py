"""The engine and CLI contract: exit codes, selection, locations, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import lint_json, run_cli, write_jsonl
from ftlint.findings import Severity
from ftlint.registry import Selection, all_rules
from ftlint.rule import Rule

CHAT = {"messages": [{"role": "user", "content": "What is the capital of France?"},
                     {"role": "assistant", "content": "Paris is the capital of France."}]}


def test_clean_file_exits_zero_with_fail_on_error(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "data.jsonl", [CHAT])
    assert run_cli("check", str(f), "--fail-on", "error").exit_code == 0
    # the default threshold is warning: 1 example is below the recommended count
    assert run_cli("check", str(f)).exit_code == 1
    assert run_cli("check", str(f), "--fail-on", "never").exit_code == 0


def test_missing_path_is_usage_error(tmp_path: Path) -> None:
    result = run_cli("check", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "nope.jsonl: no such file or directory" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_extension_is_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    result = run_cli("check", str(f))
    assert result.exit_code == 2 and "notes.txt: unsupported file type" in result.stderr


def test_empty_directory_is_usage_error(tmp_path: Path) -> None:
    result = run_cli("check", str(tmp_path))
    assert result.exit_code == 2 and "no dataset" in result.stderr


def test_unknown_selector_is_usage_error(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "d.jsonl", [CHAT])
    result = run_cli("check", str(f), "--select", "NOPE123")
    assert result.exit_code == 2 and "unknown rule selector" in result.stderr


def test_select_by_prefix_name_and_ignore(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "d.jsonl", [CHAT, {"messages": [{"role": "user", "content": " "},
                                                                {"role": "assistant", "content": "ok"}]}])
    codes = {x["code"] for x in lint_json(str(f), "--select", "FTC")}
    assert codes == {"FTC001"}
    assert {x["code"] for x in lint_json(str(f), "--select", "empty-content")} == {"FTC001"}
    assert "FTC001" not in {x["code"] for x in lint_json(str(f), "--ignore", "empty-content")}


def test_json_array_locations_point_at_values(tmp_path: Path) -> None:
    f = tmp_path / "alpaca.json"
    f.write_text(json.dumps([
        {"instruction": "Say hi", "input": "", "output": "Hi there!"},
        {"instruction": "Say bye", "input": "", "output": ""},
    ], indent=2))
    [finding] = lint_json(str(f), "--select", "FTC001")
    lines = f.read_text().splitlines()
    assert lines[finding["line"] - 1][finding["column"] - 1:].startswith('""')
    assert finding["pointer"] == "/output"
    assert finding["end_column"] == finding["column"] + 2


def test_project_config_per_file_ignores_and_severity(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [CHAT])
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ftlint]\nseverity = { "FTD001" = "error" }\n'
        '[tool.ftlint.rules.example-count]\nmin = 1\nmax = 10\n')
    assert lint_json("d.jsonl", cwd=tmp_path) == []
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\nseverity = { "FTD001" = "error" }\n')
    [f] = lint_json("d.jsonl", cwd=tmp_path)
    assert f["code"] == "FTD001" and f["severity"] == "error"
    (tmp_path / "pyproject.toml").write_text('[tool.ftlint]\nper-file-ignores = { "d.jsonl" = ["FTD"] }\n')
    assert lint_json("d.jsonl", cwd=tmp_path) == []


def test_bad_project_config_is_usage_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [CHAT])
    (tmp_path / ".ftlint.yaml").write_text("selectt: [FTC]\n")
    result = run_cli("check", "d.jsonl", cwd=tmp_path)
    assert result.exit_code == 2 and ".ftlint.yaml" in result.stderr and "selectt" in result.stderr


class _Crashy(Rule):
    """Crashes.

    ## What it does
    x
    """

    code = "ZZZ999"
    name = "crashy"
    severity = Severity.WARNING

    def check(self, example, ctx):
        raise RuntimeError("boom")


def test_crashing_rule_is_a_finding(tmp_path: Path) -> None:
    from ftlint.engine import Linter
    from ftlint.settings import Settings

    f = write_jsonl(tmp_path / "d.jsonl", [CHAT, CHAT])
    rules = all_rules({"ZZZ999": _Crashy})
    report = Linter(Settings(), Selection(rules, select=["ZZZ999", "FTX"])).lint([str(f)])
    errors = [x for x in report.findings if x.code == "FTX001"]
    assert len(errors) == 2 and "boom" in errors[0].message and errors[0].location.line == 1


def test_rules_and_rule_commands() -> None:
    out = run_cli("rules").output
    assert "FTC001  empty-content" in out
    doc = run_cli("rule", "FTC004").output
    for section in ("What it does", "Why it matters", "Example", "Use instead", "How to fix"):
        assert section in doc
    assert run_cli("rule", "roles-not-alternating").exit_code == 0
    missing = run_cli("rule", "XYZ")
    assert missing.exit_code == 2 and "no rule named" in missing.stderr


def test_statistics_and_quiet(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "d.jsonl", [CHAT])
    out = run_cli("check", str(f), "--statistics", "--quiet").output
    assert "FTD001" in out and "1 problem" in out
    data = json.loads(run_cli("check", str(f), "--format", "json", "--statistics").stdout)
    assert data["statistics"]["counts"] == {"FTD001": 1}
    assert data["statistics"]["files"][0]["records"] == 1


def test_parse_errors_are_findings_not_crashes(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_bytes(b'{"messages": [\n[1, 2]\n"str"\n\xff\xfe\n{"text": "ok"}\n')
    found = {(x["code"], x["line"]) for x in lint_json(str(f), "--select", "FTP")}
    assert ("FTP001", 1) in found and ("FTP003", 2) in found and ("FTP003", 3) in found
    assert ("FTP002", 4) in found


def test_corpus_reads_without_internal_error(corpus: Path) -> None:
    findings = lint_json(str(corpus))
    assert not [f for f in findings if f["code"] == "FTX001"]
    assert findings  # the real corpus does contain real problems (placeholders, duplicates, …)


def test_rules_doc_is_up_to_date() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_rules_doc.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_near_duplicate_across_splits(tmp_path: Path) -> None:
    poem = "Write a short poem about the sea at night with rhyme and a calm mood please"
    answer = "The moon lies on the water silver and slow while the tide hums softly"
    train = [{"instruction": f"Topic {i}: describe a different thing number {i} in several words", "output": f"Thing {i} is described here with words of its own {i}"} for i in range(5)]
    train.append({"instruction": poem, "output": answer})
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "test.jsonl", [{"instruction": poem + "!", "output": answer + "."}])
    found = [f for f in lint_json(str(tmp_path), "--select", "FTD004,FTD005") if f["path"].endswith("test.jsonl")]
    assert [f["code"] for f in found] == ["FTD005"]
    assert found[0]["related"][0]["line"] == 6


def test_dataset_named_directly_and_by_config_uses_the_config_plan(tmp_path: Path) -> None:
    import shutil

    from conftest import FIXTURES

    for name in ("train.jsonl", "validation.jsonl", "train.yml"):
        shutil.copy(FIXTURES / "demo" / name, tmp_path / name)
    # the directory walk meets train.jsonl before train.yml; the config's plan must still apply
    stats = [f for f in lint_json(str(tmp_path), "--select", "FTT011") if f["code"] == "FTT011"]
    assert sorted(Path(f["path"]).name for f in stats) == ["train.jsonl", "validation.jsonl"]


def test_dataset_outside_project_is_named(tmp_path: Path) -> None:
    from conftest import ROOT

    outside = write_jsonl(tmp_path / "elsewhere.jsonl", [CHAT])
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.yml").write_text(
        f"base_model: Qwen/Qwen2.5-0.5B-Instruct\nadapter: lora\ndatasets:\n  - path: {outside}\n"
        "    type: chat_template\nsequence_len: 512\nmicro_batch_size: 1\nnum_epochs: 1\n")
    [note] = [f for f in lint_json(str(project / "train.yml"), "--select", "FTG022", cwd=ROOT)]
    assert str(outside) in note["message"] and note["line"] == 4 and note["severity"] == "note"
    # a dataset beside the config is not reported
    write_jsonl(project / "train.jsonl", [CHAT])
    (project / "train.yml").write_text(
        "base_model: Qwen/Qwen2.5-0.5B-Instruct\nadapter: lora\ndatasets:\n  - path: train.jsonl\n"
        "    type: chat_template\nsequence_len: 512\nmicro_batch_size: 1\nnum_epochs: 1\n")
    assert lint_json(str(project / "train.yml"), "--select", "FTG022", cwd=ROOT) == []


def test_absurd_config_sizes_still_give_valid_json_and_sarif(tmp_path: Path) -> None:
    """Byte totals beyond 64 bits (orjson's limit) fall back to the json module in every format."""
    from conftest import FIXTURES, ROOT

    cfg = tmp_path / "huge.yml"
    cfg.write_text(f"base_model: Qwen/Qwen2.5-0.5B-Instruct\nadapter: lora\ndatasets:\n"
                   f"  - path: {FIXTURES / 'demo' / 'train.jsonl'}\n    type: chat_template\n"
                   "sequence_len: 99999999999\nmicro_batch_size: 99999999\nnum_epochs: 1\n")
    for fmt in ("json", "sarif"):
        result = run_cli("check", str(cfg), "--gpu", "t4", "--format", fmt, cwd=ROOT)
        assert result.exit_code == 1, result.output
        json.loads(result.stdout)
    estimate = run_cli("estimate", str(cfg), "--gpu", "t4", "--format", "json", cwd=ROOT)
    assert estimate.exit_code == 1 and json.loads(estimate.stdout)["verdict"] == "oom"


def test_dataset_facts_keep_file_order_when_a_batch_mixes_formats(tmp_path: Path) -> None:
    """Rules see a batch grouped by format; the facts must still arrive in file order, or a
    dataset rule would call the later record "the first copy"."""
    q = "What is the boiling point of water at sea level?"
    f = write_jsonl(tmp_path / "mixed.jsonl", [
        {"messages": [{"role": "user", "content": "Unrelated question here?"},
                      {"role": "assistant", "content": "Unrelated answer."}]},
        {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": "100 degrees Celsius."}]},
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "About 212 F, I think."}]},
    ])
    conflicts = [x for x in lint_json(str(f), "--select", "FTD003") if x["code"] == "FTD003"]
    assert [(x["line"], x["related"][0]["line"]) for x in conflicts] == [(3, 2)]
