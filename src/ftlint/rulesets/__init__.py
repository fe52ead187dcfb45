"""Curator-authored YAML rulesets: loading, `extends`, overrides and rule classes.

    load_rulesets(["openai", "rulesets/team.yaml"]) -> {code: Rule subclass}

A name without a slash or `.yaml` suffix is a built-in ruleset (the repository's `rulesets/`
folder, shipped inside the wheel as `ftlint/rulesets/builtin/`); anything else is a path.
The language is documented in docs/authoring-rules.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..findings import UsageError
from ..rule import Rule
from .functions import register_function
from .loader import RulesetError, Ruleset, builtin_names, parse_ruleset, resolve
from .rules import YamlRule, make_class

__all__ = ["load_rulesets", "selectors_for", "load_set", "LoadedSet", "RulesetError", "YamlRule",
           "register_function", "builtin_names"]


@dataclass
class LoadedSet:
    rulesets: list[Ruleset]                  # dependency order: extended rulesets first
    classes: dict[str, type[YamlRule]]       # by code
    builtins: set[str]                       # "default" / "all" requested by a shipped ruleset


_PARSED: dict[tuple[str, int, int], Ruleset] = {}
_SETS: dict[tuple, LoadedSet] = {}


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size)


def _parse(path: Path) -> Ruleset:
    key = _stamp(path)
    if key not in _PARSED:
        _PARSED[key] = parse_ruleset(path)
    return _PARSED[key]


def _order(roots: list[Path]) -> list[Ruleset]:
    """Depth-first over `extends`, each ruleset once, extended ones first; cycles are errors."""
    done: dict[Path, Ruleset] = {}
    visiting: list[Path] = []

    def visit(path: Path) -> None:
        if path in done:
            return
        if path in visiting:
            cycle = " -> ".join(p.name for p in visiting[visiting.index(path):] + [path])
            rs = _parse(visiting[-1])
            raise rs.marks.error(("extends",), f"`extends` forms a cycle: {cycle}")
        visiting.append(path)
        rs = _parse(path)
        for parent in rs.extends:
            visit(parent)
        visiting.pop()
        done[path] = rs

    for root in roots:
        visit(root)
    return list(done.values())


def load_set(names: list[str]) -> LoadedSet:
    """Resolve, parse and build every ruleset named (and what they extend)."""
    roots: list[Path] = []
    for name in names:
        path = resolve(name)
        if path not in roots:
            roots.append(path)
    ordered = _order(roots)
    key = tuple(_stamp(rs.path) for rs in ordered)
    if key in _SETS:
        return _SETS[key]
    load_key = tuple(str(p) for p in roots)

    specs = {}
    owners: dict[str, Ruleset] = {}
    by_name: dict[str, str] = {}
    for rs in ordered:
        for spec in rs.rules:
            for table, k, what in ((specs, spec.code, "code"), (by_name, spec.name, "name")):
                if k in table:
                    other = owners[spec.code if what == "code" else by_name[k]]
                    raise rs.marks.error(spec.path + (what,), f"rule {what} {k!r} is also defined in "
                                         f"{other.display}; codes and names must be unique across the "
                                         "rulesets of one run")
            specs[spec.code] = spec
            by_name[spec.name] = spec.code
            owners[spec.code] = rs

    # Overrides: later rulesets win; selectors are a code, a name or a code prefix.
    per_rule: dict[str, list[tuple[tuple[str, ...], str]]] = {code: [] for code in specs}
    for rs in ordered:
        for ov in rs.overrides:
            for k, (selector, setting) in enumerate(ov.rules.items()):
                hits = [c for c, s in specs.items() if c == selector.upper() or s.name == selector.lower()
                        or (selector.isupper() and c.startswith(selector))]
                if not hits:
                    raise rs.marks.error(ov.path + ("rules", selector), _unknown_selector(selector), key=True)
                for c in hits:
                    per_rule[c].append((ov.files, setting))

    classes: dict[str, type[YamlRule]] = {}
    for code, spec in specs.items():
        rs = owners[code]
        classes[code] = make_class(spec, rs.display, str(rs.path.parent), tuple(per_rule[code]), load_key)
    loaded = LoadedSet(ordered, classes, {rs.builtins for rs in ordered if rs.builtins})
    _SETS[key] = loaded
    return loaded


def _unknown_selector(selector: str) -> str:
    from ..registry import all_rules, matches

    try:
        if any(matches(cls, selector) for cls in all_rules().values()):
            return (f"override rule {selector!r} is a built-in rule; overrides change the rules of "
                    "rulesets only (use `per-file-ignores` in the project config for built-in rules)")
    except UsageError:
        pass
    return f"override rule {selector!r} matches no rule of this ruleset or the rulesets it extends"


def load_rulesets(names: list[str]) -> dict[str, type[Rule]]:
    """The rule classes defined by the named rulesets and everything they extend, by code."""
    if not names:
        return {}
    return dict(load_set(list(names)).classes)


def selectors_for(names: list[str]) -> list[str]:
    """Rule codes that naming these rulesets switches on: their enabled rules, plus the
    built-in Python rules when a shipped ruleset asks for them (`recommended`: the default set,
    `strict`: every built-in rule)."""
    if not names:
        return []
    from ..registry import builtin_rules

    loaded = load_set(list(names))
    codes = [c for c, cls in loaded.classes.items() if cls.enabled_by_default]
    if "all" in loaded.builtins:
        codes += list(builtin_rules())
    elif "default" in loaded.builtins:
        codes += [c for c, cls in builtin_rules().items() if cls.enabled_by_default]
    return list(dict.fromkeys(codes))


def find_ruleset_files(paths: list[str]) -> list[Path]:
    """Ruleset files under the given paths (folders are searched for *.yaml / *.yml)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out += [Path(root) / f for f in sorted(files) if f.endswith((".yaml", ".yml"))]
        elif p.is_file():
            out.append(p)
        else:
            out.append(resolve(raw))
    return out
