"""Wrong project settings fail clearly (one line naming the file and the setting, exit 2):
unknown rules in any setting that names rules, unknown rule options, option values of the
wrong type or out of range. Never silently ignored, never an FTX001 internal error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import FIXTURES, run_cli, write_jsonl
from test_plugins import PLUGIN, _install

from ftlint.findings import UsageError
from ftlint.registry import Selection, _add, all_rules, builtin_rules
from ftlint.rule import Option, Rule
from ftlint.settings import Settings

RECORDS = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                         {"role": "assistant", "content": f"Answer number {i}."}]} for i in range(3)]


def _check(tmp_path: Path, config: str, *args: str, name: str = "pyproject.toml"):
    (tmp_path / name).write_text(config, encoding="utf-8")
    write_jsonl(tmp_path / "d.jsonl", RECORDS)
    return run_cli("check", "d.jsonl", "--format", "json", *args, cwd=tmp_path)


def _usage_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# The issue's own example: every mistake in it used to be ignored or an FTX001 finding.
def test_the_reported_config_is_rejected_not_an_internal_error(tmp_path: Path) -> None:
    result = _check(tmp_path, '[tool.ftlint]\nseverity = {FTZ123 = "error"}\n'
                    'per-file-ignores = {"*.jsonl" = ["NOPE9"]}\n'
                    '[tool.ftlint.rules.FTD001]\nmin = "lots"\nbogus = 3\n'
                    '[tool.ftlint.rules.not-a-rule]\nx = 1\n')
    line = _usage_error(result)
    assert "FTX001" not in result.stdout
    assert line.startswith(f"ftlint: error: {tmp_path / 'pyproject.toml'}: setting `")


UNKNOWN_RULES = [
    ('[tool.ftlint]\nseverity = {FTZ123 = "error"}\n',
     "setting `severity.FTZ123`: unknown rule selector 'FTZ123' (see `ftlint rules`)"),
    ('[tool.ftlint]\nper-file-ignores = {"*.jsonl" = ["FTC", "NOPE9"]}\n',
     "setting `per-file-ignores.\"*.jsonl\"`: unknown rule selector 'NOPE9' (see `ftlint rules`)"),
    ('[tool.ftlint]\nselect = ["FTC", "zzz"]\n', "setting `select`: unknown rule selector 'zzz'"),
    ('[tool.ftlint]\nignore = ["FTZ"]\n', "setting `ignore`: unknown rule selector 'FTZ'"),
    ('[tool.ftlint]\nextend-select = ["no-such-rule"]\n',
     "setting `extend-select`: unknown rule selector 'no-such-rule'"),
    # an empty selector is a prefix of every code: it would silently pick every rule
    ('[tool.ftlint]\nignore = [""]\n', "setting `ignore`: unknown rule selector ''"),
    ('[tool.ftlint.rules.not-a-rule]\nx = 1\n',
     "setting `rules.not-a-rule`: unknown rule (see `ftlint rules`); options take a full rule code or name"),
    ('[tool.ftlint.rules.FTD]\nmin = 1\n', "setting `rules.FTD`: unknown rule (see `ftlint rules`)"),
    ('[tool.ftlint.rules.ftd001]\nmin = 1\n', "setting `rules.ftd001`: unknown rule; did you mean `FTD001`?"),
]


@pytest.mark.parametrize("config, message", UNKNOWN_RULES, ids=[m.split("`")[1] for _, m in UNKNOWN_RULES])
def test_unknown_rules_in_the_config_name_the_file_and_setting(tmp_path: Path, config: str, message: str) -> None:
    line = _usage_error(_check(tmp_path, config))
    assert line.startswith(f"ftlint: error: {tmp_path / 'pyproject.toml'}: ")
    assert message in line


BAD_OPTIONS = [
    ('min = "lots"', "`rules.FTD001.min`: expected an integer, got 'lots'"),
    ("min = 2.5", "`rules.FTD001.min`: expected an integer, got 2.5"),
    ("min = true", "`rules.FTD001.min`: expected an integer, got true"),
    ("min = -1", "`rules.FTD001.min`: expected an integer >= 0, got -1"),
    ("bogus = 3", "`rules.FTD001.bogus`: unknown option of FTD001 (example-count); known options: min, max"),
]


@pytest.mark.parametrize("line, message", BAD_OPTIONS, ids=[b[0] for b in BAD_OPTIONS])
def test_bad_rule_options(tmp_path: Path, line: str, message: str) -> None:
    out = _usage_error(_check(tmp_path, f"[tool.ftlint.rules.FTD001]\n{line}\n"))
    assert out == f"ftlint: error: {tmp_path / 'pyproject.toml'}: setting {message}"


@pytest.mark.parametrize("rule, body, message", [
    ("near-duplicate", "threshold = 1.5", "`rules.near-duplicate.threshold`: expected a number between 0 and 1, got 1.5"),
    ("near-duplicate", "threshold = nan", "expected a number between 0 and 1, got nan"),
    ("near-duplicate", "bands = 0", "`rules.near-duplicate.bands`: expected an integer >= 1, got 0"),
    ("near-duplicate", 'threshold = "high"', "expected a number, got 'high'"),
    ("FTC006", 'allow_roles = "tool"', "`rules.FTC006.allow_roles`: expected a list of strings, got 'tool'"),
    ("FTC006", 'allow_roles = ["tool", 3]', "`rules.FTC006.allow_roles[1]`: expected a string, got 3"),
    ("FTG004", "ranges = {adpater = [1e-6, 1e-3]}",
     "`rules.FTG004.ranges.adpater`: unknown key; expected one of full, adapter,"),
    ("FTG004", "ranges = {adapter = [1e-6]}", "`rules.FTG004.ranges.adapter`: expected a list of 2 numbers, got [1e-06]"),
    ("FTG004", 'ranges = {adapter = [1e-6, "x"]}', "`rules.FTG004.ranges.adapter[1]`: expected a number, got 'x'"),
    ("FTT001", 'sequence_len = "2048"', "`rules.FTT001.sequence_len`: expected an integer or null, got '2048'"),
    ("FTV001", "gpus = 0", "`rules.FTV001.gpus`: expected an integer >= 1, got 0"),
    ("FTV001", "gpu_memory = [24]", "expected a string, a number or null, got [24]"),
    ("FTJ006", 'check-formats = "yes"', "`rules.FTJ006.check-formats`: expected true or false, got 'yes'"),
    ("FTP001", "x = 1", "`rules.FTP001.x`: unknown option of FTP001 (invalid-json); this rule has no options"),
    # options that are each valid but contradict each other (Rule.options_conflict)
    ("FTG005", "min_scale = 10", "`rules.FTG005.min_scale`: min_scale 10 is above max_scale 8"),
    ("FTD001", "min = 500", "`rules.FTD001.min`: min 500 is above max 100"),
    ("FTV001", "gpu_memory = 0", "`rules.FTV001.gpu_memory`: expected a positive number of GiB"),
    ("FTV001", "gpu_memory = -24", "`rules.FTV001.gpu_memory`: expected a positive number of GiB"),
    ("FTV001", 'gpu_memory = ""', "`rules.FTV001.gpu_memory`: cannot read GPU memory ''"),
    ("FTV001", 'gpu_memory = "0GiB"', "`rules.FTV001.gpu_memory`: GPU memory must be positive, got '0GiB'"),
    ("FTV001", 'gpu_memory = "lots"', "`rules.FTV001.gpu_memory`: cannot read GPU memory 'lots'"),
    ("FTV001", 'gpu = "rtx-4090"\ngpu_memory = "80GiB"', "`rules.FTV001.gpu_memory`: give either gpu or gpu_memory"),
    ("FTG004", "ranges = {adapter = [-1, -0.5]}", "`rules.FTG004.ranges.adapter`: expected 0 < low <= high, got [-1, -0.5]"),
    # the option the user set is named, not its default partner
    ("FTG005", "max_scale = 0.1", "`rules.FTG005.max_scale`: min_scale 0.25 is above max_scale 0.1"),
    ("near-duplicate", "bands = 65", "`rules.near-duplicate.bands`: bands 65 is above num_perm 64"),
    ("FTG004", "ranges = {adapter = [1e-3, 1e-6]}",
     "`rules.FTG004.ranges.adapter`: expected 0 < low <= high, got [0.001, 1e-06]"),
])
def test_typed_options_of_other_rules(tmp_path: Path, rule: str, body: str, message: str) -> None:
    # FTG004/FTV001/FTT001 are not even enabled for a JSONL dataset: their options are checked anyway
    assert message in _usage_error(_check(tmp_path, f"[tool.ftlint.rules.{rule}]\n{body}\n"))


def test_yaml_project_config_is_checked_the_same_way(tmp_path: Path) -> None:
    line = _usage_error(_check(tmp_path, "rules:\n  FTT001:\n    sequence_len: [1]\n", name=".ftlint.yaml"))
    assert line == (f"ftlint: error: {tmp_path / '.ftlint.yaml'}: setting `rules.FTT001.sequence_len`: "
                    "expected an integer or null, got [1]")
    # null is a fine value for an option that may be unset; an int is fine where a float is expected
    ok = _check(tmp_path, "rules:\n  FTT001: {sequence_len: null}\n  FTC008: {threshold: 1}\n", name=".ftlint.yaml")
    assert ok.exit_code in (0, 1), ok.stderr


def test_cli_selectors_keep_their_own_message(tmp_path: Path) -> None:
    # the CLI's --select/--ignore are not settings of the file: same message as before
    line = _usage_error(_check(tmp_path, '[tool.ftlint]\nselect = ["FTC"]\n', "--select", "FTZ9"))
    assert line == "ftlint: error: unknown rule selector 'FTZ9' (see `ftlint rules`)"


def test_every_kind_of_selector_stays_accepted(tmp_path: Path) -> None:
    team = FIXTURES / "rulesets" / "team.yaml"
    config = (f'[tool.ftlint]\nrulesets = [{json.dumps(str(team))}]\n'
              'select = ["ALL"]\nextend-select = ["FTC", "near-duplicate"]\nignore = ["ftd001", "TEAM004"]\n'
              'severity = {FTC = "error", "example-count" = "note", TEAM001 = "note", ALL = "warning", TEAM = "error"}\n'
              'per-file-ignores = {"*.jsonl" = ["FTS", "unfilled-placeholder", "TEAM002"]}\n'
              '[tool.ftlint.rules.system-prompt-you-are]\n[tool.ftlint.rules.FTD001]\nmin = 1\n')
    result = _check(tmp_path, config)
    assert result.exit_code in (0, 1), result.stderr
    # a ruleset named only on the command line makes its codes valid in the file too
    result = _check(tmp_path, '[tool.ftlint]\nseverity = {TEAM001 = "note"}\n', "--ruleset", str(team))
    assert result.exit_code in (0, 1), result.stderr


def test_plugin_rules_and_their_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = PLUGIN.replace('    severity = Severity.WARNING\n',
                          '    severity = Severity.WARNING\n    default_options = {"min_letters": 3}\n')
    _install(tmp_path, monkeypatch, "acme_opts", body, "acme_opts")
    try:
        ok = _check(tmp_path, '[tool.ftlint]\nextend-select = ["ACME"]\nseverity = {no-shouting = "error"}\n'
                    '[tool.ftlint.rules.ACME001]\nmin_letters = 5\n')
        assert ok.exit_code in (0, 1), ok.stderr
        bad = _usage_error(_check(tmp_path, '[tool.ftlint.rules.no-shouting]\nmin_letters = "five"\n'))
        assert bad.endswith("setting `rules.no-shouting.min_letters`: expected an integer, got 'five'")
    finally:
        sys.modules.pop("acme_opts", None)


def test_plugin_option_without_a_telling_default_accepts_any_value(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin written before option types existed (a None default, a tuple of numbers) keeps
    working: those options take any value, and unknown option names are still refused."""
    body = PLUGIN.replace('    severity = Severity.WARNING\n',
                          '    severity = Severity.WARNING\n    default_options = {"limit": None, "band": (0.1, 0.9), "ids": []}\n')
    _install(tmp_path, monkeypatch, "acme_untyped", body, "acme_untyped")
    try:
        assert "ACME001" in all_rules()
        ok = _check(tmp_path, '[tool.ftlint.rules.ACME001]\nlimit = 5\nband = [0.2, 0.8]\nids = [1, 2]\n')
        assert ok.exit_code in (0, 1), ok.stderr
        bad = _usage_error(_check(tmp_path, '[tool.ftlint.rules.ACME001]\nlimt = 5\n'))
        assert "unknown option of ACME001" in bad and "known options: limit, band, ids" in bad
    finally:
        sys.modules.pop("acme_untyped", None)


def test_option_conflicts_are_checked_on_the_merged_options(tmp_path: Path) -> None:
    """Options set partly under the rule's code and partly under its name are checked together:
    a contradiction across the two tables is caught, and values that only fit together pass."""
    split = "[tool.ftlint.rules.FTD005]\nbands = 64\n[tool.ftlint.rules.near-duplicate]\nnum_perm = 32\n"
    assert _usage_error(_check(tmp_path, split)).endswith(
        "setting `rules.FTD005.bands`: bands 64 is above num_perm 32")
    ok = _check(tmp_path, "[tool.ftlint.rules.FTD001]\nmin = 150\n[tool.ftlint.rules.example-count]\nmax = 200\n")
    assert ok.exit_code in (0, 1), ok.stderr


def test_table_options_merge_across_code_and_name(tmp_path: Path) -> None:
    """FTG004 `ranges` set under the code and under the name merge key by key (neither is lost),
    and both are checked."""
    from ftlint.registry import builtin_rules, rule_options
    from ftlint.settings import Settings

    settings = Settings(rules={"FTG004": {"ranges": {"full": [1e-7, 1e-6]}},
                               "learning-rate-out-of-range": {"ranges": {"adapter": [1e-6, 1e-5]}}})
    assert rule_options(settings, builtin_rules())["FTG004"]["ranges"] == {"full": [1e-7, 1e-6], "adapter": [1e-6, 1e-5]}
    bad = "[tool.ftlint.rules.FTG004]\nranges = {full = [1e-7, 1e-6]}\n" \
          "[tool.ftlint.rules.learning-rate-out-of-range]\nranges = {adapter = [1e-3, 1e-5]}\n"
    assert "ranges.adapter`: expected 0 < low <= high" in _usage_error(_check(tmp_path, bad))


def test_yaml_exponent_without_a_dot_gets_a_hint(tmp_path: Path) -> None:
    line = _usage_error(_check(tmp_path, "rules:\n  FTG004:\n    ranges:\n      adapter: [1e-6, 1e-3]\n",
                               name=".ftlint.yaml"))
    assert line.endswith("expected a number, got '1e-6' (YAML reads a number like 1e-6 as text: write 1.0e-6)")


def test_nan_is_refused_even_without_bounds(tmp_path: Path) -> None:
    line = _usage_error(_check(tmp_path, "rules:\n  FTV001:\n    gpu_memory: .nan\n", name=".ftlint.yaml"))
    assert line.endswith("setting `rules.FTV001.gpu_memory`: expected a string, a number or null, got nan")
    (tmp_path / "toml").mkdir()
    line = _usage_error(_check(tmp_path / "toml", "[tool.ftlint.rules.FTG004]\nranges = {full = [nan, 1e-3]}\n"))
    assert "`rules.FTG004.ranges.full`" in line


# --- every rule's defaults are valid settings: a wrongly declared type fails here --------------
def _as_config_value(value: Any) -> Any:
    """A default as TOML/YAML hands it back (tuples are lists)."""
    return json.loads(json.dumps(value))


def test_every_default_is_a_valid_option_value() -> None:
    for code, cls in builtin_rules().items():
        defaults = {k: _as_config_value(v) for k, v in cls.default_options.items()}
        assert cls.options_problem(defaults) is None, code
        assert set(cls.option_specs()) >= set(cls.default_options), code
        # built-in options are all typed: "any" is only for plugins that predate option types
        assert not [n for n, spec in cls.option_specs().items() if spec.type is Any], code


def test_a_config_of_every_rules_defaults_passes(tmp_path: Path) -> None:
    rules = {cls.code if i % 2 else cls.name: _as_config_value(cls.default_options)
             for i, cls in enumerate(builtin_rules().values()) if cls.default_options}
    assert len(rules) >= 10
    result = _check(tmp_path, yaml.safe_dump({"rules": rules, "extend-select": ["ALL"]}), name=".ftlint.yaml")
    assert result.exit_code in (0, 1), result.stderr


def test_wrong_declarations_fail_when_the_rule_is_registered() -> None:
    class Wrong(Rule):
        code, name = "ZZW001", "wrong"
        default_options = {"threshold": 0.5}
        option_types = {"threshold": int}

    class Unsupported(Rule):
        code, name = "ZZW002", "unsupported"
        default_options = {"when": None}
        option_types = {"when": set}

    class OutOfRange(Rule):
        code, name = "ZZW003", "out-of-range"
        default_options = {"share": 2.0}
        option_types = {"share": Option(float, min=0, max=1)}

    class Declared(Rule):
        code, name = "ZZW004", "declared"
        default_options = {"limit": None, "names": ["a"], "pairs": {"a": (1, 2.5)}}
        option_types = {"limit": Rule.Option(int | None, min=1), "pairs": dict[str, tuple[float, float]],
                        "extra": bool}  # an option without a default: unset unless configured

    for cls, words in ((Wrong, "does not fit its declared type int"), (Unsupported, "unsupported option type"),
                       (OutOfRange, "between 0 and 1")):
        with pytest.raises(UsageError, match=words):
            _add({}, cls)
    found: dict[str, type[Rule]] = {}
    _add(found, Declared)
    assert {k: s.label() for k, s in Declared.option_specs().items()} == {
        "limit": "int | None (>= 1)", "names": "list[str]", "pairs": "dict[str, [float, float]]", "extra": "bool"}
    assert Declared.options_problem({"extra": True, "limit": 3}) is None
    assert Declared.options_problem({"pairs": {"a": [1, True]}}) == ("pairs.a[1]", "expected a number, got true")


def test_api_built_linter_checks_options_and_selectors() -> None:
    from ftlint.engine import Linter

    rules = all_rules()
    with pytest.raises(UsageError, match=r"^project config: setting `rules.FTD001.min`: expected an integer"):
        Linter(Settings(rules={"FTD001": {"min": "x"}}), Selection(rules))
    with pytest.raises(UsageError, match="unknown rule selector 'NOPE9'"):
        Selection(rules, per_file_ignores={"*.jsonl": ["NOPE9"]})
    with pytest.raises(UsageError, match="unknown rule selector 'FTZ'"):
        Selection(rules, severity={"FTZ": "error"})


def test_options_by_name_and_code_are_merged_code_last(tmp_path: Path) -> None:
    from ftlint.engine import Linter

    settings = Settings(rules={"FTD001": {"min": 1}, "example-count": {"min": 7, "max": 9}})
    linter = Linter(settings, Selection(all_rules(), select=["FTD001"]))
    assert linter.rules["FTD001"].options == {"min": 1, "max": 9}


def test_rule_command_prints_types_and_defaults() -> None:
    out = run_cli("rule", "FTD001").stdout
    assert "Options (in [tool.ftlint.rules.FTD001] or [tool.ftlint.rules.example-count]):" in out
    assert "  min: int (>= 0), default 50\n  max: int (>= 0), default 100\n" in out
    out = run_cli("rule", "vram-fit").stdout
    assert "  gpus: int | None (>= 1), default unset\n" in out
    assert "  check-formats: bool, default false\n" in run_cli("rule", "FTJ006").stdout
    assert "Options" not in run_cli("rule", "FTP001").stdout
