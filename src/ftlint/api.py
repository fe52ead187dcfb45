"""Assemble a Linter from the project config, CLI overrides and rulesets (used by the CLI,
the tests and anyone embedding ftlint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine import Linter, Report
from .findings import Severity, UsageError
from .registry import Selection, all_rules, check_settings
from .rule import Rule
from .settings import Settings, find_project_config, load_settings


def available_rules(rulesets: list[str] | None = None, settings: Settings | None = None) -> dict[str, type[Rule]]:
    """Built-in + plugin rules, plus the rules of the named YAML rulesets."""
    names = list(rulesets or []) + (settings.rulesets if settings else [])
    extra: dict[str, type[Rule]] = {}
    if names:
        from .rulesets import load_rulesets

        extra = load_rulesets(names)
    return all_rules(extra)


def build_linter(config_file: str | None = None, overrides: dict[str, Any] | None = None,
                 debug: bool = False) -> tuple[Linter, Settings]:
    path = Path(config_file) if config_file else find_project_config()
    if config_file and not path.is_file():
        raise UsageError(f"{config_file}: project config not found")
    settings = load_settings(path)
    from_file = settings.model_copy(deep=True)  # what the file says, before CLI overrides
    for key, value in (overrides or {}).items():
        if value in (None, [], ()):
            continue
        if key == "extend_select" or key == "ignore" or key == "rulesets":
            value = list(getattr(settings, key)) + list(value)
        setattr(settings, key, value)
    rules = available_rules(settings=settings)
    check_settings(from_file, rules)  # unknown rules in the config name the file and the setting
    if settings.rulesets:  # a named ruleset switches its rules on (and `recommended`/`strict` built-ins)
        from .rulesets import selectors_for

        settings.extend_select = list(settings.extend_select) + selectors_for(settings.rulesets)
    selection = Selection(rules, settings.select, settings.ignore, settings.extend_select,
                          settings.per_file_ignores, settings.severity)
    services = make_services(settings)
    return Linter(settings, selection, services, debug=debug), settings


def make_services(settings: Settings) -> dict[str, Any]:
    """Per-run helpers shared by rules; each is created lazily on first use."""
    from .jsonschemas import SchemaStore

    # User schemas are compiled now: a broken schema file stops the run (exit 2) before any data.
    return {"settings": settings, "schemas": SchemaStore(settings)}


def exit_code(report: Report, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    threshold = Severity.parse(fail_on)
    return 1 if any(f.severity >= threshold for f in report.findings) else 0
