"""SARIF output: both schemas, GitHub's ingestion rules in plain code, caps, paths, fingerprints."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import jsonschema
import pytest

from conftest import run_cli, write_jsonl
from ftlint.engine import FileStats, Report
from ftlint.findings import Finding, Location, Related, Severity
from ftlint.output.sarif import MAX_RESULTS, build_log, relative_uri, render, sentence, source_root

HERE = Path(__file__).resolve().parent
SCHEMA_DIRS = [HERE / "schemas", Path(os.environ.get("FTLINT_SCHEMAS", HERE.parent.parent / "shared" / "schemas"))]
SCHEMA_FILES = ("sarif-schema-2.1.0.json", "github-codeql-action-sarif-schema-2.1.0.json")


def _schema(name: str) -> dict:
    for d in SCHEMA_DIRS:
        if (d / name).is_file():
            return json.loads((d / name).read_text(encoding="utf-8"))
    pytest.skip(f"SARIF schema {name} not found in {', '.join(map(str, SCHEMA_DIRS))}")


def validate(log: dict) -> None:
    """Against the OASIS schema (draft-04) and GitHub's copy (2020-12), formats checked."""
    for name in SCHEMA_FILES:
        schema = _schema(name)
        cls = jsonschema.validators.validator_for(schema)
        errors = sorted(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(log), key=str)
        assert not errors, f"{name}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])


LEVELS = {"error", "warning", "note"}


def check_github_rules(log: dict) -> None:
    """What GitHub code scanning requires of an upload, as plain assertions."""
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ftlint"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", driver["semanticVersion"])
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)), "rule ids must be unique"
    for r in rules:
        assert r["name"] and r["name"] != r["id"]
        for key in ("shortDescription", "fullDescription"):
            assert r[key]["text"].strip() and len(r[key]["text"]) <= 1024, (r["id"], key)
        assert r["help"]["text"].strip() and r["help"]["markdown"].strip()
        assert r["helpUri"].startswith("https://")
        assert r["defaultConfiguration"]["level"] in LEVELS
        props = r["properties"]
        assert isinstance(props["tags"], list) and len(props["tags"]) <= 10
        assert props["precision"] in ("very-high", "high", "medium", "low")
        if "security-severity" in props:
            assert isinstance(props["security-severity"], str)
            assert 0.0 <= float(props["security-severity"]) <= 10.0
            assert "security" in props["tags"]
    assert run["columnKind"] == "unicodeCodePoints"
    assert len(run["results"]) <= MAX_RESULTS
    seen_fp: set[tuple[str, str, str]] = set()
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in LEVELS
        text = res["message"]["text"]
        assert text[0].isupper() or not text[0].isalpha(), text
        assert text.rstrip()[-1] in ".!?…", text
        assert len(res["locations"]) == 1
        phys = res["locations"][0]["physicalLocation"]
        _check_artifact(phys["artifactLocation"])
        reg = phys["region"]
        for k in ("startLine", "startColumn", "endLine", "endColumn"):
            assert isinstance(reg[k], int) and reg[k] >= 1, (k, reg)
        assert (reg["endLine"], reg["endColumn"]) >= (reg["startLine"], reg["startColumn"])
        for rel in res.get("relatedLocations", []):
            assert rel["message"]["text"].strip()
            _check_artifact(rel["physicalLocation"]["artifactLocation"])
        fp = res["partialFingerprints"]["primaryLocationLineHash"]
        key = (res["ruleId"], phys["artifactLocation"]["uri"], fp)
        assert key not in seen_fp, f"duplicate fingerprint {key}"
        seen_fp.add(key)


def _check_artifact(art: dict) -> None:
    uri = art["uri"]
    if art.get("uriBaseId") == "%SRCROOT%":
        assert not uri.startswith("/") and "\\" not in uri and ":" not in uri.split("/")[0]
        assert ".." not in uri.split("/"), uri
    else:  # only for files outside the source root: an absolute file URI, still without ".."
        assert uri.startswith("file:///") and ".." not in uri.split("/"), uri


# --- datasets with planted defects ------------------------------------------------------------
WORDS = ("river model data token budget learning rate gradient batch memory example answer question "
         "simple careful precise summary translate explain paragraph holiday recipe garden weather "
         "invoice customer policy refund shipping python function variable review the a of to and in "
         "for with on is was will can should").split()


def _text(rng: random.Random, n: int = 12) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return (" ".join(words)).capitalize() + "."


def _chat(rng: random.Random, tag: str) -> dict:
    return {"messages": [{"role": "user", "content": f"{_text(rng)} ({tag})"},
                         {"role": "assistant", "content": _text(rng, 20)}]}


def planted_records(seed: int = 7, clean: int = 110, rounds: int = 1) -> list:
    """A chat dataset with many kinds of defects, several of them twice (identical fingerprints).

    Each round plants every defect again with different text."""
    rng = random.Random(seed)
    defects = [d for r in range(rounds) for d in _defects(rng, r)]
    records: list = [_chat(rng, f"clean {i}") for i in range(clean)]
    # Spread the defects through the file, keeping their relative order.
    step = max(1, len(records) // len(defects))
    for i, d in enumerate(defects):
        records.insert(min(len(records), i * (step + 1) + 3), d)
    return records


def _defects(rng: random.Random, r: int) -> list:
    n = f" (round {r})" if r else ""
    u = lambda t: {"role": "user", "content": t + n}  # noqa: E731
    a = lambda t: {"role": "assistant", "content": t}  # noqa: E731
    defects: list = [
        {"messages": [u("Summarise the refund policy."), a("   ")]},
        {"messages": [u("Summarise the refund policy."), a("   ")]},           # identical twice
        {"messages": [{"role": "customer", "content": "Where is my parcel?"}, a("It ships today.")]},
        {"messages": [u("Hi there."), {"role": "system", "content": "Be brief."}, a("Hello.")]},
        {"messages": [u("Question one?"), u("Question two?"), a("Both answered.")]},
        {"messages": [u("Only a question with no answer at all?")]},
        {"messages": [u("Tell me a joke."), a("Why did the chicken cross?"), u("Why?")]},
        {"messages": [u("Weather?"), {"role": "tool", "content": "{\"t\": 21}"}, a("It is 21 degrees.")]},
        {"messages": [u("Repeat after me: the garden is green"), a("Repeat after me: the garden is green")]},
        {"messages": [u("Write a greeting."), a("Hello {{customer_name}}, thanks for your order!")]},
        {"messages": [u("Explain tokens."), a("<|im_start|>assistant tokens are pieces of text")]},
        {"messages": [u("Explain caf\u00c3\u00a9 menus."), a("The menu lists caf\u00c3\u00a9 drinks.\x07")]},
        {"messages": [u("Can you help me?"), a("As an AI language model, I cannot help with that request.")]},
        {"messages": [u("Store my key."), a("Use ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 as the token.")]},
        {"messages": [u("Who do I contact?"), a("Write to jane.doe@example.org or call +1 415 555 0132.")]},
        ["not", "an", "object", r],
        ["not", "an", "object", r],                                              # identical twice
        {"messages": {"role": "user", "content": "messages must be a list"}},
        {"messages": [u("Content of the wrong type."), {"role": "assistant", "content": 42}]},
        {"prompt": "Mixed in a prompt/completion record.", "completion": "Done."},
        {"instruction": "alpaca record without output"},
        *INVALID_LINES,
    ]
    dup = _chat(rng, f"dup {r}")
    conflict_prompt = "What is the capital of France?"
    defects += [dup, dup, dup,                                                  # a clean record, three times
                {"messages": [u(conflict_prompt), a("Paris.")]},
                {"messages": [u(conflict_prompt), a("Lyon.")]}]
    return defects


class RawLine(str):
    """A line written verbatim to a JSONL file (broken JSON); JSON arrays leave it out."""


INVALID_LINES = [RawLine('{"messages": [{"role": "user", "content": "unclosed"}'), RawLine("{'single': 'quotes'}"),
                 RawLine('{"messages": [{"role": "user", "content": "unclosed"}')]


def write_planted_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, RawLine) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_planted_json(path: Path, records: list) -> Path:
    """A multi-line JSON array, as LLaMA-Factory ships datasets."""
    records = [r for r in records if not isinstance(r, RawLine)]
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def sarif_of(tmp: Path, *paths: str, extra: tuple[str, ...] = ()) -> dict:
    result = run_cli("check", "--format", "sarif", "--fail-on", "never", *extra, *paths, cwd=tmp)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- tests ------------------------------------------------------------------------------------
@pytest.fixture
def planted(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # the source root, whatever lies above the temporary directory
    write_planted_jsonl(tmp_path / "train.jsonl", planted_records())
    write_planted_json(tmp_path / "chat.json", planted_records(seed=11))
    return tmp_path


def test_sarif_on_planted_datasets_passes_both_schemas_and_github_rules(planted: Path) -> None:
    log = sarif_of(planted, "train.jsonl", "chat.json", extra=("--sarif-category", "datasets/train"))
    validate(log)
    check_github_rules(log)
    run = log["runs"][0]
    codes = {r["ruleId"] for r in run["results"]}
    # Many kinds of findings, from every family that exists now.
    assert {"FTP001", "FTP003", "FTP004"} <= codes, codes
    assert len(codes) >= 10, codes
    assert run["automationDetails"]["id"] == "datasets/train/"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"train.jsonl", "chat.json"}


def test_every_enabled_rule_listed_once_with_docs(planted: Path) -> None:
    from ftlint.api import available_rules

    log = sarif_of(planted, "train.jsonl")
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    listed = [r["id"] for r in rules]
    enabled = [c for c, cls in available_rules([]).items() if cls.enabled_by_default]
    assert set(enabled) <= set(listed)
    for r in rules:
        from ftlint.registry import all_rules

        cls = all_rules()[r["id"]]
        if cls.doc_section("What it does"):
            assert r["fullDescription"]["text"].split()[0] in cls.doc_section("What it does")
        assert r["help"]["markdown"].startswith(cls.doc() or cls.name)
        for heading in re.findall(r"^## (.+)$", cls.doc(), re.M):  # plain text keeps every section
            assert f"{heading}:" in r["help"]["text"]
        assert not re.search(r"^\s*(```|## )", r["help"]["text"], re.M)  # no fences or headings left


def test_security_rules_carry_security_severity(planted: Path) -> None:
    log = sarif_of(planted, "train.jsonl")
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    from ftlint.registry import all_rules

    secure = [c for c, cls in all_rules().items() if cls.security_severity is not None and c in rules]
    for code in secure:
        props = rules[code]["properties"]
        assert props["security-severity"] == f"{float(all_rules()[code].security_severity):.1f}"
        assert "security" in props["tags"]
    for code, r in rules.items():
        if code not in secure:
            assert "security-severity" not in r["properties"]


def test_related_locations_have_messages(planted: Path) -> None:
    log = sarif_of(planted, "train.jsonl")
    with_related = [r for r in log["runs"][0]["results"] if r.get("relatedLocations")]
    if not with_related:
        pytest.skip("no rule with related locations is registered yet")
    for r in with_related:
        for rel in r["relatedLocations"]:
            assert rel["message"]["text"].endswith(".")
            assert rel["physicalLocation"]["region"]["startLine"] >= 1


def test_regions_match_json_findings(planted: Path) -> None:
    """SARIF regions are the engine's positions (code points; endColumn exclusive in both)."""
    from conftest import lint_json

    findings = lint_json("--fail-on", "never", "train.jsonl", cwd=planted)
    log = sarif_of(planted, "train.jsonl")
    want = sorted((f["code"], f["line"], f["column"], f["end_line"], f["end_column"]) for f in findings)
    got = sorted((r["ruleId"], *(r["locations"][0]["physicalLocation"]["region"][k]
                                 for k in ("startLine", "startColumn", "endLine", "endColumn")))
                 for r in log["runs"][0]["results"])
    assert got == want


def test_columns_count_code_points(tmp_path: Path) -> None:
    # Astral characters before the broken value: UTF-16 would count 2 per emoji, code points 1.
    (tmp_path / "u.jsonl").write_text('{"text": "😀😀😀", "x": }\n', encoding="utf-8")
    log = sarif_of(tmp_path, "u.jsonl")
    res = [r for r in log["runs"][0]["results"] if r["ruleId"] == "FTP001"][0]
    col = res["locations"][0]["physicalLocation"]["region"]["startColumn"]
    assert col == len('{"text": "😀😀😀", "x": ') + 1


def test_no_findings_is_valid_and_lists_rules(tmp_path: Path) -> None:
    rng = random.Random(3)
    write_jsonl(tmp_path / "ok.jsonl", [_chat(rng, f"ok {i}") for i in range(60)])
    log = sarif_of(tmp_path, "ok.jsonl")
    validate(log)
    check_github_rules(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"]
    assert "automationDetails" not in log["runs"][0]


def test_sarif_on_shared_corpus(corpus: Path) -> None:
    log = sarif_of(corpus, ".")
    validate(log)
    check_github_rules(log)
    assert log["runs"][0]["results"], "the real corpus has findings"


def test_sarif_written_with_output_flag(planted: Path) -> None:
    result = run_cli("check", "--format", "sarif", "-o", "out.sarif", "train.jsonl", cwd=planted)
    assert result.exit_code == 1
    validate(json.loads((planted / "out.sarif").read_text(encoding="utf-8")))


# --- paths ------------------------------------------------------------------------------------
def test_paths_repo_relative_posix_from_subdirectory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    data = repo / "data dir" / "sub"
    data.mkdir(parents=True)
    write_planted_jsonl(data / "train.jsonl", planted_records(clean=20))
    # Run from a subdirectory with a path that climbs: the URI is still relative to the repo root.
    log = sarif_of(repo / "data dir", "../data dir/sub/train.jsonl")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"data%20dir/sub/train.jsonl"}
    check_github_rules(log)
    validate(log)


def test_symlinks_resolved_inside_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "real").mkdir()
    write_planted_jsonl(repo / "real" / "train.jsonl", planted_records(clean=20))
    (repo / "link.jsonl").symlink_to(repo / "real" / "train.jsonl")
    log = sarif_of(repo, "link.jsonl")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"real/train.jsonl"}


def test_symlink_to_outside_keeps_link_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    outside = write_planted_jsonl(tmp_path / "elsewhere.jsonl", planted_records(clean=20))
    (repo / "data.jsonl").symlink_to(outside)
    assert relative_uri(str(repo / "data.jsonl"), source_root(repo)) == "data.jsonl"


def test_file_outside_root_gets_absolute_uri_and_notification(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    outside = write_planted_jsonl(tmp_path / "outside.jsonl", planted_records(clean=20))
    log = sarif_of(repo, str(outside))
    validate(log)
    check_github_rules(log)
    run = log["runs"][0]
    art = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == outside.resolve().as_uri() and "uriBaseId" not in art
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any("outside the source root" in n for n in notes)


# --- the cap and run-level findings ----------------------------------------------------------
def _synthetic(n_errors: int, n_warnings: int, n_notes: int) -> Report:
    findings = []
    for i, sev in enumerate([Severity.NOTE] * n_notes + [Severity.WARNING] * n_warnings + [Severity.ERROR] * n_errors):
        findings.append(Finding("FTC001", "empty-content", sev, f"problem {i}",
                                Location("data.jsonl", i + 1, 1, i + 1, 5, "/messages/0/content"),
                                fingerprint=f"{i:032x}"))
    from ftlint.registry import all_rules

    return Report(findings, [FileStats("data.jsonl", records=len(findings))], [all_rules()["FTC001"]])


def test_cap_keeps_most_severe_and_says_how_many_dropped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = _synthetic(n_errors=20_000, n_warnings=4_000, n_notes=1_010)
    log = build_log(report)
    run = log["runs"][0]
    assert len(run["results"]) == MAX_RESULTS == 25_000
    levels = [r["level"] for r in run["results"]]
    assert levels.count("error") == 20_000 and levels.count("warning") == 4_000 and levels.count("note") == 1_000
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any("10 least severe were dropped" in n and "25,010" in n for n in notes), notes
    assert run["properties"]["ftlint"]["resultsDropped"] == 10


def test_capped_log_validates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = build_log(_synthetic(3, 3, 3), max_results=4)
    validate(log)
    assert [r["level"] for r in log["runs"][0]["results"]] == ["error"] * 3 + ["warning"]
    note = log["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]
    assert "5 least severe were dropped" in note["message"]["text"]


def test_findings_without_a_file_become_notifications(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = _synthetic(1, 0, 0)
    report.findings.append(Finding("FTX001", "internal-error", Severity.ERROR,
                                   "Rule FTD009 (x) failed on this input: ValueError: boom",
                                   Location("<dataset>")))
    log = build_log(report)
    validate(log)
    check_github_rules(log)
    run = log["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["FTC001"]
    texts = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any(t.startswith("FTX001 (internal-error): Rule FTD009") for t in texts)
    # The rule it refers to is described even though it was not in report.rules.
    assert "FTX001" in [r["id"] for r in run["tool"]["driver"]["rules"]]


def test_related_and_messages_from_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = _synthetic(2, 0, 0)
    report.findings[1].related.append(Related(Location("data.jsonl", 1, 1, 1, 2), "first copy here"))
    report.findings[1].message = "duplicate of line 1"
    log = build_log(report)
    res = [r for r in log["runs"][0]["results"] if r.get("relatedLocations")][0]
    assert res["message"]["text"] == "Duplicate of line 1."
    assert res["relatedLocations"][0]["message"]["text"] == "First copy here."
    assert res["relatedLocations"][0]["id"] == 1
    validate(log)


def test_sentence() -> None:
    assert sentence("bad thing") == "Bad thing."
    assert sentence("Already fine!") == "Already fine!"
    assert sentence("  `x` is wrong (see docs)  ") == "`x` is wrong (see docs)."


def test_render_is_json_string(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = render(_synthetic(1, 1, 1), category="c")
    assert json.loads(text)["runs"][0]["automationDetails"]["id"] == "c/"
