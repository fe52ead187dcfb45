"""End-to-end tests for rulesets: `ftlint test-rules`, `check --ruleset`, `rule`, SARIF,
platform profiles, the curator tutorial on a real dataset, and packaging."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, lint_json, run_cli, write_jsonl

TEAM = FIXTURES / "rulesets" / "team.yaml"
SUPPORT = FIXTURES / "rulesets" / "data"
PROFILES = ("openai", "fireworks", "together", "siliconflow", "hf-autotrain")
# Each profile's code range (FTR1xx openai, FTR2xx fireworks, ...).
RANGE = {"FTR1": "openai", "FTR2": "fireworks", "FTR3": "together", "FTR4": "siliconflow", "FTR5": "hf-autotrain"}


def summary(output: str) -> tuple[int, int]:
    m = re.search(r"^(\d+) passed, (\d+) failed$", output.strip().splitlines()[-1])
    assert m, output
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------------------------------
# test-rules


def test_builtin_and_example_rulesets_pass_their_tests() -> None:
    result = run_cli("test-rules", str(ROOT / "rulesets"), str(TEAM))
    passed, failed = summary(result.output)
    assert result.exit_code == 0 and failed == 0, result.output
    assert passed >= 70
    assert "WARN" not in result.output  # every shipped rule has tests


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    text = TEAM.read_text().replace('errors: ["/messages/0/content"]', 'errors: ["/messages/1/content"]', 1)
    (tmp_path / "data").symlink_to(SUPPORT)
    (tmp_path / "team.yaml").write_text(text)
    result = run_cli("test-rules", str(tmp_path / "team.yaml"))
    assert result.exit_code == 1
    assert summary(result.output)[1] == 1
    assert "FAIL TEAM001 system-prompt-you-are invalid[0]" in result.output
    assert "expected findings at /messages/1/content, got /messages/0/content" in result.output


def test_a_valid_case_that_is_never_checked_fails(tmp_path: Path) -> None:
    """A typo in a test record must not pass vacuously."""
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: t
        prefix: TT
        rules:
          - code: TT001
            name: r
            description: d
            given: "$.messages[*].content"
            then: {function: truthy}
            tests:
              valid:
                - {"mesages": [{"role": "user", "content": ""}]}
        """))
    result = run_cli("test-rules", str(tmp_path / "r.yaml"))
    assert result.exit_code == 1 and "was not checked by TT001: FTP007" in result.output


def test_broken_ruleset_reports_file_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("name: t\nprefix: TT\nrules:\n  - code: TT001\n    nme: x\n")
    result = run_cli("test-rules", str(tmp_path))
    assert result.exit_code == 1
    assert re.search(r"ERROR .*r\.yaml:5:5: rules\[0\]\.nme: unknown key 'nme'; did you mean 'name'\?", result.output)
    assert result.output.strip().endswith("0 passed, 1 failed")


def test_check_with_broken_ruleset_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("name: t\nprefix: FTQ\n")
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "x"}])
    result = run_cli("check", str(data), "--ruleset", str(tmp_path / "r.yaml"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "r.yaml:2:9: prefix 'FTQ' is reserved" in result.stderr


# ---------------------------------------------------------------------------------------------
# check / rule / SARIF with the curator's example


def test_team_rules_fire_at_exact_positions() -> None:
    found = lint_json(str(SUPPORT), "--ruleset", str(TEAM))
    team = sorted((f["code"], Path(f["path"]).name, f["line"], f["column"], f["pointer"])
                  for f in found if f["code"].startswith("TEAM"))
    assert team == [
        ("TEAM001", "chats.jsonl", 3, 45, "/messages/0/content"),
        ("TEAM002", "chats.jsonl", 7, 203, "/messages/2/content"),
        ("TEAM003", "chats.jsonl", 5, 207, "/messages/2/content"),
    ]  # and nothing in legacy/ (override: system-prompt-you-are off)


def test_ruleset_rules_run_even_when_select_narrows(tmp_path: Path) -> None:
    found = lint_json(str(SUPPORT), "--ruleset", str(TEAM), "--select", "FTP")
    codes = {f["code"] for f in found}
    assert {"TEAM001", "TEAM002", "TEAM003"} <= codes
    # team.yaml extends `recommended`, which brings back the built-in default set (FTD001 here).
    assert "FTD001" in codes
    found = lint_json(str(SUPPORT), "--ruleset", str(TEAM), "--ignore", "TEAM003")
    assert "TEAM003" not in {f["code"] for f in found}


def test_project_config_rulesets(tmp_path: Path) -> None:
    shutil.copytree(SUPPORT, tmp_path / "data")
    shutil.copy(TEAM, tmp_path / "team.yaml")
    (tmp_path / ".ftlint.yaml").write_text("rulesets: [team.yaml]\n")
    (tmp_path / ".git").mkdir()
    found = lint_json("data", cwd=tmp_path)
    assert {f["code"] for f in found if f["code"].startswith("TEAM")} == {"TEAM001", "TEAM002", "TEAM003"}


def test_rule_command_and_listing_show_yaml_rules_like_builtins() -> None:
    result = run_cli("rule", "TEAM002", "--ruleset", str(TEAM))
    assert result.exit_code == 0
    for section in ("## What it does", "## Why it matters", "## Example", "## Use instead", "## How to fix"):
        assert section in result.output
    assert "Applies to files matching `support/**`" in result.output
    listing = run_cli("rules", "--ruleset", "openai", "--format", "json")
    rows = {r["code"]: r for r in json.loads(listing.output)}
    assert rows["FTR108"]["scope"] == "dataset" and rows["FTR108"]["source"] == "ruleset:openai"


def test_sarif_carries_yaml_rules() -> None:
    result = run_cli("check", str(SUPPORT), "--ruleset", str(TEAM), "--format", "sarif")
    sarif = json.loads(result.stdout)
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "TEAM001" in rules and "## How to fix" in rules["TEAM001"]["help"]["markdown"]
    results = [r for r in run["results"] if r["ruleId"] == "TEAM003"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (5, 207)


# ---------------------------------------------------------------------------------------------
# The tutorial, on a real dataset


TUTORIAL_RULE = """\
name: identity
prefix: IDN
description: Rules for our identity data.
extends: [recommended]
rules:
  - code: IDN001
    name: name-placeholder-filled
    description: An answer still contains the {{name}} placeholder.
    rationale: The model would learn to call itself "{{name}}".
    fix: Replace {{name}} with the product name before training.
    severity: error
    document: example
    given: "$.turns[?(@.role == 'assistant')]"
    then:
      field: text
      function: pattern
      functionOptions:
        notMatch: '\\{\\{\\s*name\\s*\\}\\}'
    message: "Unfilled {{{{name}}}} placeholder in the answer."
    tests:
      valid:
        - {"instruction": "Who are you?", "output": "I am Aria, an assistant by Acme."}
      invalid:
        - record: {"instruction": "Who are you?", "output": "I am {{name}}."}
          errors: ["/output"]
"""


def test_tutorial_rule_passes_tests_and_fires_on_real_data(tmp_path: Path, corpus: Path) -> None:
    ruleset = tmp_path / "identity.yaml"
    ruleset.write_text(TUTORIAL_RULE)
    result = run_cli("test-rules", str(ruleset))
    assert result.exit_code == 0 and summary(result.output) == (2, 0), result.output

    data = corpus / "llamafactory" / "data" / "identity.json"  # a pretty-printed JSON array
    found = [f for f in lint_json(str(data), "--ruleset", str(ruleset)) if f["code"] == "IDN001"]
    # Independently: the lines of "output" values that contain {{name}}.
    expected = [(i, line.index('"output"') + len('"output": ') + 1)
                for i, line in enumerate(data.read_text().splitlines(), 1)
                if '"output"' in line and "{{name}}" in line]
    assert expected and [(f["line"], f["column"]) for f in found] == expected
    assert all(f["pointer"] == "/output" for f in found)
    assert found[0]["message"] == "Unfilled {{name}} placeholder in the answer."


# ---------------------------------------------------------------------------------------------
# Platform profiles: one file, several platforms, one run


def chats(n: int, **extra) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"Question {i}?"},
                          {"role": "assistant", "content": f"Answer {i}."}], **extra} for i in range(n)]


def flagged_profiles(tmp_path: Path, name: str, records: list[dict]) -> set[str]:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(records, indent=1))
    else:
        write_jsonl(path, records)
    args = [a for p in PROFILES for a in ("--ruleset", p)]
    found = lint_json(str(path), *args)
    return {RANGE[f["code"][:4]] for f in found if f["code"].startswith("FTR")}


def test_profiles_flag_only_the_platform_whose_limits_break(tmp_path: Path) -> None:
    # 12 clean conversations: no platform objects.
    assert flagged_profiles(tmp_path, "ok.jsonl", chats(12)) == set()
    # 5 examples: under OpenAI's minimum of 10, fine for Fireworks (3), Together (1) and the rest.
    assert flagged_profiles(tmp_path, "five.jsonl", chats(5)) == {"openai"}
    # 2 examples: Fireworks' minimum of 3 joins in.
    assert flagged_profiles(tmp_path, "two.jsonl", chats(2)) == {"openai", "fireworks"}
    # A system message in the middle: SiliconFlow (system only first) and Together (alternation).
    mid = chats(12)
    mid[4]["messages"].insert(1, {"role": "system", "content": "Be brief."})
    assert flagged_profiles(tmp_path, "mid.jsonl", mid) == {"siliconflow", "together"}
    # Plain text rows: Together and AutoTrain accept them, the chat-only platforms do not.
    text = [{"text": f"Document {i}."} for i in range(12)]
    assert flagged_profiles(tmp_path, "text.jsonl", text) == {"openai", "fireworks", "siliconflow"}
    # A JSON array file: every platform that requires JSONL, and AutoTrain (CSV/JSONL).
    assert flagged_profiles(tmp_path, "array.json", chats(12)) == set(PROFILES) - {"together"}


def test_profile_finding_positions(tmp_path: Path) -> None:
    records = chats(12)
    records[6]["messages"][1]["weight"] = 2
    path = write_jsonl(tmp_path / "w.jsonl", records)
    found = lint_json(str(path), "--ruleset", "openai", "--ruleset", "together")
    hits = sorted((f["code"], f["line"], f["pointer"]) for f in found if f["code"].startswith("FTR"))
    assert hits == [("FTR106", 7, "/messages/1/weight"), ("FTR305", 7, "/messages/1/weight")]


def test_count_max_points_at_first_record_over_the_limit(tmp_path: Path) -> None:
    ruleset = tmp_path / "r.yaml"
    ruleset.write_text(textwrap.dedent("""\
        name: small
        prefix: SM
        rules:
          - code: SM001
            name: at-most-three
            description: At most three examples.
            then: {function: count, functionOptions: {max: 3}}
          - code: SM002
            name: unique-answers-across-files
            description: Answers are unique across all files.
            given: "$.messages[1].content"
            then: {function: unique}
        """))
    a = write_jsonl(tmp_path / "a.jsonl", chats(5))
    b = write_jsonl(tmp_path / "b.jsonl", chats(1))
    found = lint_json(str(a), str(b), "--ruleset", str(ruleset))
    sm1 = [(Path(f["path"]).name, f["line"]) for f in found if f["code"] == "SM001"]
    assert sm1 == [("a.jsonl", 4)]
    sm2 = [f for f in found if f["code"] == "SM002"]
    column = b.read_text().index('"Answer 0."') + 1
    assert [(Path(f["path"]).name, f["line"], f["column"]) for f in sm2] == [("b.jsonl", 1, column)]
    assert sm2[0]["related"][0]["line"] == 1 and sm2[0]["related"][0]["path"].endswith("a.jsonl")


def test_rule_instances_pickle(tmp_path: Path) -> None:
    """Worker processes receive rules by pickling: generated classes rebuild from their files."""
    from ftlint.rulesets import load_rulesets

    cls = load_rulesets([str(TEAM)])["TEAM001"]
    clone = pickle.loads(pickle.dumps(cls({"x": 1})))
    assert clone.code == "TEAM001" and clone.options == {"x": 1}


# ---------------------------------------------------------------------------------------------
# Packaging: the built-in rulesets travel inside the wheel (through the rulesets/builtin symlink).


def test_wheel_contains_builtin_rulesets(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                                  "fixtures", "tests", "bench", ".pytest_cache", ".hypothesis"))
    if not (src / "README.md").exists():
        (src / "README.md").write_text("ftlint\n")
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(out.glob("ftlint-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).stem for n in names if n.startswith("ftlint/rulesets/builtin/") and n.endswith(".yaml")}
    assert shipped == {Path(p).stem for p in (ROOT / "rulesets").glob("*.yaml")}
    assert "ftlint/data/ruleset.schema.json" in names
    # Installed (unpacked) wheel, outside the checkout: built-in names resolve and load.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import ftlint; "
            "assert ftlint.__file__.startswith(sys.argv[1]), ftlint.__file__; "
            "from ftlint.rulesets import load_rulesets; "
            "print(len(load_rulesets(['openai', 'fireworks', 'together', 'siliconflow', 'hf-autotrain', 'strict'])))")
    proc = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) >= 25


def test_token_limits_estimate_or_use_the_tokenizer(tmp_path: Path) -> None:
    long = write_jsonl(tmp_path / "long.jsonl", [
        {"messages": [{"role": "user", "content": "Summarise."}, {"role": "assistant", "content": "word " * 2000}]},
        {"messages": [{"role": "user", "content": "Summarise."}, {"role": "assistant", "content": "word " * 14000}]},
    ])
    found = lint_json(str(long), "--ruleset", "openai", "--ruleset", "hf-autotrain", "--select", "FTR1,FTR5")
    hits = sorted((f["code"], f["line"]) for f in found if f["code"] in ("FTR107", "FTR503"))
    # 10k characters ~ 2.5k tokens: over AutoTrain's 1,024; 70k ~ 17.5k: also over OpenAI's 16,385.
    assert hits == [("FTR107", 2), ("FTR503", 1), ("FTR503", 2)]
    assert all("estimated at 4 characters per token" in f["message"] for f in found if f["code"] == "FTR503")
    tokenizer = FIXTURES / "models" / "tiny-llama"
    if not (tokenizer / "tokenizer.json").is_file():
        pytest.skip("tiny tokenizer fixture not built")
    found = lint_json(str(long), "--ruleset", "hf-autotrain", "--select", "FTR5", "--tokenizer", str(tokenizer))
    msgs = [f["message"] for f in found if f["code"] == "FTR503"]
    assert len(msgs) == 2 and not any("estimated" in m for m in msgs)


def test_override_changes_severity_per_file(tmp_path: Path) -> None:
    text = TEAM.read_text() + "  - files: ['support/**']\n    rules: {TEAM003: note}\n"
    (tmp_path / "data").symlink_to(SUPPORT)
    (tmp_path / "team.yaml").write_text(text)
    found = lint_json(str(SUPPORT), "--ruleset", str(tmp_path / "team.yaml"))
    assert [f["severity"] for f in found if f["code"] == "TEAM003"] == ["note"]
