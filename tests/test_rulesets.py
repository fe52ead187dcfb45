"""Unit tests for the ruleset language: JSONPath subset, globs, functions, loader errors."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from ftlint.findings import UsageError
from ftlint.rulesets import load_rulesets, load_set, selectors_for
from ftlint.rulesets.functions import MISSING, FunctionContext, get_function, register_function
from ftlint.rulesets.globs import matches
from ftlint.rulesets.jsonpath import JSONPathError, compile_path
from ftlint.rulesets.loader import RulesetError, builtin_names

DOC = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi", "weight": 0},
        {"role": "assistant", "content": "Hello", "weight": 1},
    ],
    "meta": {"tags": ["a", "b"], "n": 3, "a/b": "slash", "x~y": "tilde"},
}


def paths(expr: str, doc=DOC) -> list[tuple]:
    return [p for _, p in compile_path(expr).find(doc)]


# ---------------------------------------------------------------------------------------------
# JSONPath


@pytest.mark.parametrize("expr, expected", [
    ("$", [()]),
    ("$.messages[0].role", [("messages", 0, "role")]),
    ("$['messages'][-1]['content']", [("messages", 2, "content")]),
    ("$.messages[*].role", [("messages", i, "role") for i in range(3)]),
    ("$.messages[0,2].role", [("messages", 0, "role"), ("messages", 2, "role")]),
    ("$.messages[1:].role", [("messages", 1, "role"), ("messages", 2, "role")]),
    ("$.messages[::2].role", [("messages", 0, "role"), ("messages", 2, "role")]),
    ("$.messages[?(@.role == 'user')].content", [("messages", 1, "content")]),
    ("$.messages[?@.role != 'user' && @.role != 'system']", [("messages", 2)]),
    ("$.messages[?(@.weight)]", [("messages", 1), ("messages", 2)]),          # existence, not truthiness
    ("$.messages[?(!@.weight)].role", [("messages", 0, "role")]),
    ("$.messages[?(@.weight >= 1)]", [("messages", 2)]),
    ("$.messages[?(@.weight == true)]", []),                                  # type-strict
    ("$.messages[?(@.role in ['user', 'assistant'])]", [("messages", 1), ("messages", 2)]),
    ("$.messages[?(@.content =~ /^you/i)]", [("messages", 0)]),
    ("$.messages[?(@.role == 'user' || (@.weight == 1))]", [("messages", 1), ("messages", 2)]),
    ("$..weight", [("messages", 1, "weight"), ("messages", 2, "weight")]),
    ("$.meta.tags[*]", [("meta", "tags", 0), ("meta", "tags", 1)]),
    ("$.meta['a/b']", [("meta", "a/b")]),
    ("$.nothing.here", []),
    ("$.messages[7]", []),
    ("$.messages[?(@.role == $.messages[0].role)]", [("messages", 0)]),
])
def test_jsonpath_selects(expr: str, expected: list[tuple]) -> None:
    assert paths(expr) == expected


def test_recursive_descent_visits_everything() -> None:
    found = paths("$..*", {"a": {"b": 1}, "c": [2]})
    # RFC 9535 order: the children of each visited node, nodes visited depth first
    assert found == [("a",), ("c",), ("a", "b"), ("c", 0)]


@pytest.mark.parametrize("expr, column", [
    ("messages", 1),
    ("$.messages[", 12),
    ("$.messages[?(@.role == ]", 24),
    ("$.messages[?(@.content =~ /(/)]", 27),
    ("$.messages[0", 13),
    ("$.", 3),
    ("$.messages[::0]", 15),
])
def test_jsonpath_errors_have_columns(expr: str, column: int) -> None:
    with pytest.raises(JSONPathError) as info:
        compile_path(expr)
    assert info.value.column == column, str(info.value)


# ---------------------------------------------------------------------------------------------
# Globs


@pytest.mark.parametrize("patterns, path, expected", [
    (["*.jsonl"], "data/train.jsonl", True),
    (["*.jsonl"], "data/train.json", False),
    (["support/**"], "data/support/a.jsonl", True),
    (["support/**"], "data/supported/a.jsonl", False),
    (["support/*.jsonl"], "support/deep/a.jsonl", False),
    (["**/eval/*.jsonl"], "eval/x.jsonl", True),
    (["/data/*.jsonl"], "data/x.jsonl", True),
    (["/data/*.jsonl"], "other/data/x.jsonl", False),
    (["!*.jsonl"], "x.json", True),
    (["!*.jsonl"], "x.jsonl", False),
    (["**/*.jsonl", "!legacy/**"], "a/legacy/x.jsonl", False),
    (["train_[0-9].jsonl"], "train_3.jsonl", True),
    ([], "anything", True),
])
def test_globs(patterns: list[str], path: str, expected: bool) -> None:
    assert matches(patterns, path) is expected


# ---------------------------------------------------------------------------------------------
# Functions


def call(name: str, value, **options):
    fdef = get_function(name)
    assert fdef is not None
    opts = fdef.prepare(options) if fdef.prepare else options
    return [p.message for p in fdef.fn(value, opts, FunctionContext("T001"))]


def test_truthy_falsy_defined() -> None:
    assert call("truthy", "x") == [] and call("truthy", [1]) == []
    for empty in ("", [], {}, None, 0, False, MISSING):
        assert call("truthy", empty), empty
        assert call("falsy", empty) == []
    assert call("defined", MISSING) == ["is missing"] and call("defined", None) == []
    assert call("undefined", None) == ["must not be present"] and call("undefined", MISSING) == []


def test_pattern_length_enumeration() -> None:
    assert call("pattern", "You are x", match="^You are") == []
    assert call("pattern", "Be x", match="^You are") == ["does not match /^You are/"]
    assert "matches the forbidden pattern" in call("pattern", "a b.corp c", notMatch=r"\.corp\b")[0]
    assert call("pattern", "YOU ARE", match="^you are", flags="i") == []
    assert call("pattern", 42, match="x") == []  # strings only
    assert call("length", "abcd", max=3) == ["is too long: 4 characters, maximum 3"]
    assert call("length", "ab", min=3) == ["is too short: 2 characters, minimum 3"]
    assert call("length", [1, 2], max=1) == ["is too long: 2 items, maximum 1"]
    assert call("length", "é", max=1, unit="bytes") == ["is too long: 2 bytes, maximum 1"]
    # Without a tokenizer, tokens are estimated and the message says so.
    msg = call("length", "x" * 40, max=5, unit="tokens")[0]
    assert "10 tokens (estimated at 4 characters per token" in msg
    assert call("enumeration", 1, values=[0, 1]) == []
    assert call("enumeration", True, values=[0, 1])  # JSON true is not 1
    assert call("enumeration", 1.0, values=[0, 1]) == []


def test_schema_function_points_inside_the_value() -> None:
    fdef = get_function("schema")
    opts = fdef.prepare({"schema": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}})
    problems = fdef.fn({"a": ["x", 3]}, opts, FunctionContext("T001"))
    assert [p.path for p in problems] == [("a", 1)]
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        fdef.prepare({"schema": {"type": "nope"}})


# ---------------------------------------------------------------------------------------------
# Loader


def write(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


RULE = """\
name: team
prefix: TEAM
rules:
  - code: TEAM001
    name: a-rule
    description: A rule.
    given: "$.messages[*].content"
    then:
      function: truthy
"""


def test_loads_into_rule_classes(tmp_path: Path) -> None:
    classes = load_rulesets([str(write(tmp_path, RULE))])
    cls = classes["TEAM001"]
    assert cls.name == "a-rule" and cls.scope == "record" and cls.source == "ruleset:team"
    for section in ("What it does", "Why it matters", "Example", "Use instead", "How to fix"):
        assert f"## {section}" in cls.doc()
    assert cls.summary() == "A rule."


@pytest.mark.parametrize("mutation, line, fragment", [
    (("prefix: TEAM", "prefix: FTX"), 2, "reserved"),
    (("prefix: TEAM", "prefix: team"), 2, "2 to 4 capital letters"),
    (("code: TEAM001", "code: ABC001"), 4, "must be the ruleset prefix TEAM"),
    (("name: a-rule", "name: A Rule"), 5, "kebab-case"),
    (("    given:", "    givn:"), 7, "did you mean 'given'"),
    (("function: truthy", "function: truthyy"), 9, "did you mean 'truthy'"),
    (("function: truthy", "functon: truthy"), 9, "then.functon: unknown key 'functon'; did you mean 'function'?"),
    (("function: truthy", "function: pattern"), 9, "functionOptions"),
    (('"$.messages[*].content"', '"$.messages[*.content"'), 7, "7:25: given '$.messages[*.content': expected ']'"),
    # a plain (unquoted) value: the column is inside it too, whichever YAML loader is in use
    (('"$.messages[*].content"', '$.messages[*.content'), 7, "7:24: given '$.messages[*.content': expected ']'"),
    (("description: A rule.", "description: A rule.\n    severity: fatal"), 7, "'fatal' is not one of"),
    (("description: A rule.", "description: A rule.\n    message: 'bad {valeu}'"), 7, "unknown placeholder {valeu}"),
    (("description: A rule.", "description: A rule.\n    description: Twice."), 7, "duplicate key 'description'"),
    (("rules:", "extends: [nope-not-a-ruleset]\nrules:"), 3, "unknown ruleset 'nope-not-a-ruleset'"),
    (("  - code", "  - code: TEAM002\n    name: b-rule\n    description: d\n    then: {function: count, functionOptions: {per: file}}\n  - code"),
     7, "count needs `min` or `max`"),
])
def test_curator_mistakes_point_at_file_line(tmp_path: Path, mutation: tuple[str, str], line: int, fragment: str) -> None:
    path = write(tmp_path, RULE.replace(*mutation, 1))
    with pytest.raises(RulesetError) as info:
        load_rulesets([str(path)])
    err = info.value
    assert err.path.endswith("team.yaml") and err.line == line, str(err)
    assert fragment in str(err)


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match=r"team.yaml:4:1: invalid YAML"):
        load_rulesets([str(write(tmp_path, "name: x\nprefix: TEAM\nrules: [\n"))])
    with pytest.raises(RulesetError, match="must be a mapping"):
        load_rulesets([str(write(tmp_path, "- 1\n"))])
    with pytest.raises(RulesetError, match="empty"):
        load_rulesets([str(write(tmp_path, ""))])


def test_unknown_ruleset_name_suggests() -> None:
    with pytest.raises(UsageError, match="did you mean 'openai'"):
        load_rulesets(["opnai"])


def test_extends_cycle_and_duplicate_codes(tmp_path: Path) -> None:
    write(tmp_path, "name: a\nprefix: AA\nextends: [b.yaml]\n", "a.yaml")
    write(tmp_path, "name: b\nprefix: BB\nextends: [a.yaml]\n", "b.yaml")
    with pytest.raises(RulesetError, match="cycle"):
        load_rulesets([str(tmp_path / "a.yaml")])
    write(tmp_path, RULE, "one.yaml")
    write(tmp_path, RULE.replace("name: team", "name: other").replace("name: a-rule", "name: b-rule"), "two.yaml")
    with pytest.raises(RulesetError, match="TEAM001' is also defined in"):
        load_rulesets([str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml")])


def test_override_of_builtin_rule_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, RULE + "overrides:\n  - files: ['*.jsonl']\n    rules: {FTC001: off}\n")
    with pytest.raises(RulesetError, match="is a built-in rule"):
        load_rulesets([str(path)])


def test_builtin_rulesets_load_and_use_reserved_prefix() -> None:
    names = builtin_names()
    for expected in ("recommended", "strict", "openai", "fireworks", "together", "siliconflow", "hf-autotrain"):
        assert expected in names
    loaded = load_set(names)
    assert all(code.startswith("FTR") for code in loaded.classes)
    for cls in loaded.classes.values():
        assert "Source:" in cls.doc(), f"{cls.code} does not cite its source"
        assert cls.doc_section("Example") and cls.doc_section("How to fix")


def test_selectors_recommended_and_strict() -> None:
    from ftlint.registry import builtin_rules

    defaults = {c for c, cls in builtin_rules().items() if cls.enabled_by_default}
    assert set(selectors_for(["recommended"])) == defaults
    strict = set(selectors_for(["strict"]))
    assert set(builtin_rules()) <= strict and {"FTR001", "FTR002"} <= strict


def test_python_function_from_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function registered by a (real, on-disk) distribution's entry point is usable from YAML."""
    site = tmp_path / "site"
    (site / "teamfuncs-1.0.dist-info").mkdir(parents=True)
    (site / "teamfuncs-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: teamfuncs\nVersion: 1.0\n")
    (site / "teamfuncs-1.0.dist-info" / "entry_points.txt").write_text(
        "[ftlint.functions]\nshouting = teamfuncs:shouting\n")
    (site / "teamfuncs.py").write_text(
        "def shouting(value, options, ctx):\n"
        "    if isinstance(value, str) and value.isupper():\n"
        "        return [{'message': 'is all capitals', 'path': []}]\n")
    monkeypatch.syspath_prepend(str(site))
    ruleset = write(tmp_path, RULE.replace("function: truthy", "function: shouting"))
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "HELLO"},
                                             {"role": "assistant", "content": "Hi"}]}) + "\n")
    from conftest import lint_json

    found = [f for f in lint_json(str(data), "--ruleset", str(ruleset)) if f["code"] == "TEAM001"]
    assert [(f["line"], f["pointer"]) for f in found] == [(1, "/messages/0/content")]
    assert "is all capitals" in found[0]["message"]
    sys.modules.pop("teamfuncs", None)


def test_register_function_cannot_replace_builtin() -> None:
    with pytest.raises(ValueError):
        register_function("truthy", lambda v, o, c: None)


# ---------------------------------------------------------------------------------------------
# Properties: every match's pointer leads back to the matched value, at its exact span.

from hypothesis import given, settings, strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(alphabet="ab/~\"é\\ ", max_size=4),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(alphabet="ab/~ é", max_size=3), kids, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(alphabet="ab/~", max_size=3), _json, max_size=4))
def test_recursive_matches_locate_exactly(doc: dict) -> None:
    from ftlint.records import Record
    from ftlint.rulesets.document import record_pointer

    line = json.dumps(doc, ensure_ascii=False)
    record = Record("x.jsonl", 0, doc, 1, raw=line.encode())
    for value, path in compile_path("$..*").find(doc):
        pointer = record_pointer(path)
        loc = record.locate(pointer)
        assert json.loads(line[loc.column - 1:loc.end_column - 1]) == value, pointer
