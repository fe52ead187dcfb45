"""Rule options: their declared types, and the checks that turn a wrong value in the project
config into a clear settings error (exit 2) instead of a crash inside the rule.

A rule declares `default_options`, and `option_types` where the default does not say the type
(a None default) or the value has a domain (`Option(float, min=0, max=1)`). `Rule.option_specs`
and `Rule.options_problem` (rule.py) use what is here.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """A rule option's type, with bounds where the option has an obvious domain.

    `min`/`max` bound a number (inclusive); `keys` are the keys a dict option may have.
    A tuple type (`tuple[float, float]`) is a list of exactly that many items. An int is
    accepted where a float is expected; a bool is never a number.
    """

    type: Any
    min: float | None = None
    max: float | None = None
    keys: tuple[str, ...] | None = None

    def label(self) -> str:
        """The type as `ftlint rule` and docs/rules.md show it, e.g. `float (0..1)`."""
        extra = []
        if self.min is not None and self.max is not None:
            extra.append(f"{self.min:g}..{self.max:g}")
        elif self.min is not None:
            extra.append(f">= {self.min:g}")
        elif self.max is not None:
            extra.append(f"<= {self.max:g}")
        if self.keys:
            extra.append("keys: " + ", ".join(self.keys))
        return _type_label(self.type) + (f" ({'; '.join(extra)})" if extra else "")

    @staticmethod
    def show(value: Any) -> str:
        """A default as the user would write it (TOML spelling; None: unset)."""
        if value is None:
            return "unset"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k} = {Option.show(v)}" for k, v in value.items()) + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(Option.show(v) for v in value) + "]"
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(value)

    def problem(self, value: Any) -> tuple[str, str] | None:
        """(sub-path, message) when `value` does not fit, else None."""
        problem = _type_problem(self.type, value, "")
        if problem:
            return problem
        if _is_number(value) and self.type is not Any:
            low = -math.inf if self.min is None else self.min
            high = math.inf if self.max is None else self.max
            if not low <= value <= high:  # also rejects nan, bounded or not
                bound = (f" between {self.min:g} and {self.max:g}" if self.min is not None and self.max is not None
                         else f" >= {self.min:g}" if self.min is not None
                         else f" <= {self.max:g}" if self.max is not None else "")
                return "", f"expected {_expected(_strip_none(self.type))}{bound}, got {_show(value)}"
        if self.keys and isinstance(value, dict):
            for key in value:
                if key not in self.keys:
                    return f".{key}", f"unknown key; expected one of {', '.join(self.keys)}"
        return None


_UNIONS = (typing.Union, types.UnionType)
_YAML11_EXPONENT = re.compile(r"^[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strip_none(tp: Any) -> Any:
    if typing.get_origin(tp) in _UNIONS:
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        return rest[0] if len(rest) == 1 else tp
    return tp


def infer_type(default: Any) -> Any:
    """The type an undeclared option takes from its default. A default that does not say (None,
    a list of numbers, a tuple) accepts any value: a plugin written before option types existed
    keeps working. Built-in rules declare such options (a test checks that none is untyped)."""
    if isinstance(default, (bool, int, float, str)):
        return type(default)
    if isinstance(default, (list, tuple)) and default and all(isinstance(v, str) for v in default):
        return list[str]
    if isinstance(default, dict):
        return dict[str, Any]
    return Any


def check_type(tp: Any, what: str) -> None:
    """A rule author's mistake (an unsupported type) fails when the rule is registered."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (Any, bool, int, float, str, list, dict, type(None)):
        return
    if origin in _UNIONS or origin in (list, tuple) or (origin is dict and args[:1] == (str,)):
        if origin is tuple and (not args or Ellipsis in args):
            raise TypeError(f"{what}: write a tuple type with its items, e.g. tuple[float, float]")
        for arg in args[1:] if origin is dict else args:
            check_type(arg, what)
        return
    raise TypeError(f"{what}: unsupported option type {tp!r}")


def _type_label(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any"
    if tp is type(None):
        return "None"
    if origin in _UNIONS:
        return " | ".join(_type_label(a) for a in args)
    if origin is tuple:
        return "[" + ", ".join(_type_label(a) for a in args) + "]"
    if origin is list:
        return f"list[{_type_label(args[0])}]"
    if origin is dict:
        return "dict" if args[1] is Any else f"dict[str, {_type_label(args[1])}]"
    return getattr(tp, "__name__", str(tp))


def _expected(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in _UNIONS:
        words = [_expected(a) for a in args]
        return ", ".join(words[:-1]) + " or " + words[-1]
    if origin is tuple:
        return f"a list of {len(args)} " + ("numbers" if set(args) <= {float, int} else "items")
    if origin is list or tp is list:
        return "a list of strings" if args == (str,) else "a list"
    if origin is dict or tp is dict:
        return "a table of key/value pairs"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            type(None): "null"}.get(tp, _type_label(tp))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_problem(tp: Any, value: Any, path: str) -> tuple[str, str] | None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return None
    if origin in _UNIONS:
        problems = [_type_problem(a, value, path) for a in args]
        if any(p is None for p in problems):
            return None
        deeper = [p for p in problems if p[0] != path]  # the value had the right shape for one arm
        return deeper[0] if len(deeper) == 1 else (path, f"expected {_expected(tp)}, got {_show(value)}")
    if origin in (list, tuple) or tp is list:
        if not isinstance(value, (list, tuple)) or (origin is tuple and len(value) != len(args)):
            return path, f"expected {_expected(tp)}, got {_show(value)}"
        for i, item in enumerate(value):
            problem = _type_problem(args[i] if origin is tuple else (args[0] if args else Any), item, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            return path, f"expected {_expected(tp)}, got {_show(value)}"
        for key, item in value.items():
            problem = _type_problem(args[1] if args else Any, item, f"{path}.{key}")
            if problem:
                return problem
        return None
    ok = (isinstance(value, bool) if tp is bool else _is_number(value) and (tp is float or isinstance(value, int))
          if tp in (int, float) else value is None if tp is type(None) else isinstance(value, tp))
    if ok:
        return None
    hint = ""
    if tp in (int, float) and isinstance(value, str) and _YAML11_EXPONENT.match(value.strip()):
        # YAML 1.1 (PyYAML) reads 1e-6 as text: a float there needs a dot (1.0e-6)
        hint = " (YAML reads a number like 1e-6 as text: write 1.0e-6)"
    return path, f"expected {_expected(tp)}, got {_show(value)}{hint}"
