"""`--format github`: workflow-command annotations, escaped as the Actions runner expects."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import lint_json, run_cli
from ftlint.engine import FileStats, Report
from ftlint.findings import Finding, Location, Related, Severity
from ftlint.output.github import annotation, escape_data, escape_property, render
from test_sarif import planted_records, write_planted_jsonl

COMMAND = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")


def unescape(text: str) -> str:
    # The runner's inverse of the toolkit's escaping (actions/runner ActionCommand.Unescape).
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def parse(line: str) -> tuple[str, dict[str, str], str]:
    m = COMMAND.match(line)
    assert m, line
    props = {}
    for part in m.group(2).split(","):
        key, _, value = part.partition("=")
        props[key] = unescape(value)
    return m.group(1), props, unescape(m.group(3))


def test_one_annotation_per_finding_at_the_same_place(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the source root, whatever lies above the temporary directory
    write_planted_jsonl(tmp_path / "train.jsonl", planted_records())
    findings = lint_json("--fail-on", "never", "train.jsonl", cwd=tmp_path)
    result = run_cli("check", "--format", "github", "train.jsonl", cwd=tmp_path)
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    commands = [parse(line) for line in lines if line.startswith("::")]
    assert len(commands) == len(findings)
    assert "problems" in lines[-1]  # the summary line closes the log
    levels = {"error": "error", "warning": "warning", "note": "notice"}
    for f, (level, props, message) in zip(findings, commands):
        assert level == levels[f["severity"]]
        assert props == {"file": "train.jsonl", "line": str(f["line"]), "col": str(f["column"]),
                         "endLine": str(f["end_line"]), "endColumn": str(f["end_column"]), "title": f["code"]}
        assert message.startswith(f["message"][:20]) and f"[{f['name']}]" in message


def test_escaping_of_data_and_properties() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a,b:c%d\n") == "a%2Cb%3Ac%25d%0A"
    f = Finding("FTC001", "empty-content", Severity.NOTE, "50% of it:\nline two, with comma",
                Location("odd, name:1.jsonl", 3, 4, 3, 9, "/x"),
                related=[Related(Location("odd, name:1.jsonl", 1, 1), "First copy.")])
    line = annotation(f, "odd, name:1.jsonl")
    assert "\n" not in line and "\r" not in line
    level, props, message = parse(line)
    assert level == "notice"
    assert props["file"] == "odd, name:1.jsonl" and props["title"] == "FTC001"
    assert (props["line"], props["col"], props["endLine"], props["endColumn"]) == ("3", "4", "3", "9")
    assert message.startswith("50% of it:\nline two, with comma.") and "First copy. (odd, name:1.jsonl:1:1)" in message


def test_file_with_special_characters_end_to_end(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write_planted_jsonl(tmp_path / "a,b:c.jsonl", planted_records(clean=10))
    result = run_cli("check", "--format", "github", "a,b:c.jsonl", cwd=tmp_path)
    files = {parse(line)[1]["file"] for line in result.stdout.splitlines() if line.startswith("::")}
    assert files == {"a,b:c.jsonl"}


def test_paths_relative_to_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "data").mkdir()
    write_planted_jsonl(tmp_path / "data" / "train.jsonl", planted_records(clean=10))
    result = run_cli("check", "--format", "github", "train.jsonl", cwd=tmp_path / "data")
    files = {parse(line)[1]["file"] for line in result.stdout.splitlines() if line.startswith("::")}
    assert files == {"data/train.jsonl"}


def test_finding_without_file_has_no_file_property(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    f = Finding("FTX001", "internal-error", Severity.ERROR, "Rule X failed", Location("<dataset>"))
    out = render(Report([f], [FileStats("x.jsonl")], []))
    level, props, message = parse(out.splitlines()[0])
    assert level == "error" and props == {"title": "FTX001"} and message.startswith("Rule X failed.")


def test_clean_file_prints_only_summary(tmp_path: Path) -> None:
    import random

    from test_sarif import _chat

    rng = random.Random(1)
    write_planted_jsonl(tmp_path / "ok.jsonl", [_chat(rng, f"ok {i}") for i in range(60)])
    result = run_cli("check", "--format", "github", "ok.jsonl", cwd=tmp_path)
    assert result.exit_code == 0
    assert not [line for line in result.stdout.splitlines() if line.startswith("::")]
