"""Third-party rules arrive through the `ftlint.rules` entry-point group."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from conftest import run_cli, write_jsonl

PLUGIN = '''
from ftlint.findings import Severity
from ftlint.rule import Rule


class NoShouting(Rule):
    """Assistant answers are not written in capitals.

    ## What it does
    Flags answers in all capitals.

    ## Why it matters
    Tone.

    ## Example
    "HELLO"

    ## Use instead
    "Hello"

    ## How to fix
    Rewrite.
    """

    code = "ACME001"
    name = "no-shouting"
    severity = Severity.WARNING

    def check(self, example, ctx):
        for turn in example.turns:
            if turn.role == "assistant" and turn.text.isupper():
                yield self.finding(example.record, turn.pointer, "Answer is in capitals.")
'''


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, body: str, target: str) -> None:
    (tmp_path / f"{module}.py").write_text(body)
    dist = tmp_path / f"{module}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[ftlint.rules]\n{module} = {target}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_plugin_rule_runs_like_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, "acme_rules", PLUGIN, "acme_rules")
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "Hi", "completion": "HELLO THERE"}])
    result = run_cli("check", str(data), "--select", "ACME")
    assert result.exit_code == 1 and "ACME001" in result.stdout and "1:" in result.stdout
    assert "no-shouting" in run_cli("rules").stdout
    sys.modules.pop("acme_rules", None)


def test_broken_plugin_is_skipped_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path, monkeypatch, "broken_rules", "raise ImportError('nope')\n", "broken_rules")
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "Hi", "completion": "Hello"}])
    result = run_cli("check", str(data), "--select", "FTC")
    assert result.exit_code == 0, result.output
