"""Find rules (built-in modules, entry-point plugins, YAML rulesets) and decide which apply.

Selection lives here and nowhere else (after flake8's style guide): a rule is chosen by full
code, code prefix or kebab-case name in `select` / `extend_select` / `ignore`, and per-file
ignores use fnmatch globs.
"""

from __future__ import annotations

import fnmatch
import importlib
import logging
import pkgutil
from importlib import metadata
from typing import TYPE_CHECKING, Any, Iterable

from .findings import Severity, UsageError
from .rule import CODE_PATTERN, Rule

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "ftlint.rules"

_BUILTINS: dict[str, type[Rule]] | None = None


def _collect(module) -> Iterable[type[Rule]]:
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Rule) and obj.__module__ == module.__name__ \
                and "code" in vars(obj):
            yield obj


def builtin_rules() -> dict[str, type[Rule]]:
    """Every rule class in `ftlint.rules.*`, by code (imported once)."""
    global _BUILTINS
    if _BUILTINS is None:
        import ftlint.rules as pkg

        found: dict[str, type[Rule]] = {}
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for cls in _collect(module):
                _add(found, cls)
        _BUILTINS = found
    return _BUILTINS


def plugin_rules() -> dict[str, type[Rule]]:
    """Third-party rules from the `ftlint.rules` entry-point group; a broken plugin is logged."""
    found: dict[str, type[Rule]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a plugin must never take the linter down
            log.warning("could not load ftlint plugin %s: %s", ep.name, exc)
            continue
        classes = [obj] if isinstance(obj, type) else list(_collect(obj))
        for cls in classes:
            if isinstance(cls, type) and issubclass(cls, Rule):
                cls.source = f"plugin:{ep.name}"
                try:
                    _add(found, cls)
                except UsageError as exc:
                    log.warning("%s", exc)
    return found


def _add(found: dict[str, type[Rule]], cls: type[Rule]) -> None:
    if not CODE_PATTERN.match(cls.code):
        raise UsageError(f"rule {cls.__name__}: code {cls.code!r} must be 2-4 capitals and 3 digits")
    try:
        cls.option_specs()  # an option the rule cannot type is the rule author's mistake: say so now
    except TypeError as exc:
        raise UsageError(f"rule {cls.code}: {exc}") from None
    if cls.code in found:
        raise UsageError(f"rule code {cls.code} is defined twice ({found[cls.code].__name__}, {cls.__name__})")
    found[cls.code] = cls


def all_rules(extra: dict[str, type[Rule]] | None = None) -> dict[str, type[Rule]]:
    rules = dict(builtin_rules())
    for source in (plugin_rules(), extra or {}):
        for code, cls in source.items():
            if code in rules:
                raise UsageError(f"rule code {code} from {cls.source} clashes with a built-in rule")
            rules[code] = cls
    return dict(sorted(rules.items()))


def matches(cls: type[Rule], selector: str) -> bool:
    s = selector.strip()
    return s.upper() == "ALL" or cls.code.startswith(s.upper()) or cls.name == s.lower()


def known_selector(rules: dict[str, type[Rule]], selector: str) -> bool:
    """Whether `selector` picks at least one rule (an empty one would pick every rule by prefix)."""
    return bool(selector.strip()) and any(matches(cls, selector) for cls in rules.values())


def unknown_selector(selector: str) -> str:
    return f"unknown rule selector {selector!r} (see `ftlint rules`)"


def check_settings(settings: "Settings", rules: dict[str, type[Rule]]) -> None:
    """Every rule the project config names exists, so a typo fails (exit 2, naming the file and
    the setting) instead of being ignored. Run on the file's own settings: CLI selectors are
    checked by Selection with the CLI's wording."""
    from .settings import setting_error

    for field, alias in (("select", "select"), ("extend_select", "extend-select"), ("ignore", "ignore")):
        for sel in getattr(settings, field):
            if not known_selector(rules, sel):
                raise setting_error(settings, alias, unknown_selector(sel))
    for sel in settings.severity:
        if not known_selector(rules, sel):
            raise setting_error(settings, f"severity.{sel}", unknown_selector(sel))
    for pattern, selectors in settings.per_file_ignores.items():
        for sel in selectors:
            if not known_selector(rules, sel):
                raise setting_error(settings, f'per-file-ignores."{pattern}"', unknown_selector(sel))
    rule_options(settings, rules)


def rule_options(settings: "Settings", rules: dict[str, type[Rule]]) -> dict[str, dict[str, Any]]:
    """The project config's options for each rule (by code; a rule's name, then its code), each
    checked against the rule's declared option types."""
    from .settings import setting_error

    by_key = {key: cls for cls in rules.values() for key in (cls.code, cls.name)}
    out: dict[str, dict[str, Any]] = {}
    for key, options in settings.rules.items():
        cls = by_key.get(key)
        if cls is None:
            hint = by_key.get(key.upper()) or by_key.get(key.lower())
            raise setting_error(settings, f"rules.{key}", f"unknown rule; did you mean `{hint.code}`?" if hint
                                else "unknown rule (see `ftlint rules`); options take a full rule code or name")
        problem = cls.options_problem(options)
        if problem:
            raise setting_error(settings, f"rules.{key}.{problem[0]}", problem[1])
    for code, cls in rules.items():
        for key in (cls.name, cls.code):  # the code wins over the name
            if key in settings.rules:
                merged = out.setdefault(code, {})
                for option, value in settings.rules[key].items():
                    if isinstance(value, dict) and isinstance(merged.get(option), dict):
                        value = {**merged[option], **value}  # a table (FTG004 ranges) merges key by key
                    merged[option] = value
        if code in out:  # options valid alone may still contradict each other, across both tables
            conflict = cls.options_conflict({**cls.default_options, **out[code]})
            if conflict:
                option = conflict[0].split(".")[0]
                tables = [k for k in (cls.code, cls.name) if k in settings.rules]
                key = next((k for k in tables if option in settings.rules[k]), tables[0])  # where it was set
                raise setting_error(settings, f"rules.{key}.{conflict[0]}", conflict[1])
    return out


class Selection:
    """Which rules run, on which files, at which severity."""

    def __init__(self, rules: dict[str, type[Rule]], select: list[str] | None = None,
                 ignore: list[str] | None = None, extend_select: list[str] | None = None,
                 per_file_ignores: dict[str, list[str]] | None = None,
                 severity: dict[str, str] | None = None) -> None:
        self.rules = rules
        for sel in [*(select or []), *(ignore or []), *(extend_select or []), *(severity or {}),
                    *(s for sels in (per_file_ignores or {}).values() for s in sels)]:
            if not known_selector(rules, sel):
                raise UsageError(unknown_selector(sel))
        if select:
            chosen = {c for c, cls in rules.items() if any(matches(cls, s) for s in select)}
        else:
            chosen = {c for c, cls in rules.items() if cls.enabled_by_default}
        chosen |= {c for c, cls in rules.items() if any(matches(cls, s) for s in extend_select or [])}
        chosen -= {c for c, cls in rules.items() if any(matches(cls, s) for s in ignore or [])}
        self.enabled = chosen
        self.per_file_ignores = per_file_ignores or {}
        self.severity: dict[str, Severity] = {}
        for sel, level in (severity or {}).items():
            for c, cls in rules.items():
                if matches(cls, sel):
                    self.severity[c] = Severity.parse(level)

    def is_enabled(self, code: str, path: str | None = None) -> bool:
        if code not in self.enabled:
            return False
        if path:
            for pattern, selectors in self.per_file_ignores.items():
                if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern):
                    if any(matches(self.rules[code], s) for s in selectors):
                        return False
        return True

    def enabled_rules(self, scope: str | None = None) -> list[type[Rule]]:
        return [cls for c, cls in self.rules.items() if c in self.enabled and (scope is None or cls.scope == scope)]


def find_rule(rules: dict[str, type[Rule]], key: str) -> type[Rule]:
    for cls in rules.values():
        if cls.code == key.upper() or cls.name == key.lower():
            return cls
    raise UsageError(f"no rule named {key!r} (see `ftlint rules`)")
