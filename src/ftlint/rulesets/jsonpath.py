"""A small, well-defined JSONPath subset for ruleset `given` expressions.

Written here rather than taken from a library so that every match carries its exact path
(turned into a JSON pointer, then into a line and column) and so that the grammar is
documented in one place (docs/authoring-rules.md). Semantics follow RFC 9535 where the
subset overlaps it.

    path      := '$' segment*
    segment   := '.' NAME | '.*' | '..' NAME | '..*' | '..' bracket | bracket
    bracket   := '[' '*' ']' | '[' sel (',' sel)* ']' | '[' slice ']' | '[?(' expr ')]' | '[?' expr ']'
    sel       := INT | 'string' | "string"
    slice     := [INT] ':' [INT] [':' [INT]]
    expr      := and ('||' and)*        and := not ('&&' not)*      not := '!' not | cmp
    cmp       := operand [('==' | '!=' | '<' | '<=' | '>' | '>=' | '=~' | 'in') operand]
    operand   := '@' relsegment* | '$' segment* | literal | '[' literal, … ']' | '(' expr ')'
    literal   := 'str' | "str" | NUMBER | true | false | null | /regex/flags

A bare `@.key` in a filter is an existence test (the member exists, whatever its value), as in
RFC 9535. Comparisons are type-strict (`1 == true` is false); `<`/`>` compare numbers with
numbers and strings with strings, anything else is false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

Path = tuple  # a path of str keys and int indices from the document root

_NAME = re.compile(r"[A-Za-z_\u0080-\uffff][\w\-\u0080-\uffff]*")
_INT = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_MISSING = object()


class JSONPathError(ValueError):
    """A malformed path; `column` is 1-based inside the path text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


# A step maps one node (value, path) to zero or more nodes.
Step = Callable[[Any, Path, Any], Iterator[tuple[Any, Path]]]


@dataclass(frozen=True)
class JSONPath:
    text: str
    steps: tuple[Step, ...]

    def find(self, document: Any) -> list[tuple[Any, Path]]:
        """Every (value, path) the expression selects, in document order."""
        nodes: list[tuple[Any, Path]] = [(document, ())]
        for step in self.steps:
            nodes = [out for value, path in nodes for out in step(value, path, document)]
            if not nodes:
                break
        return nodes


def compile_path(text: str) -> JSONPath:
    parser = _Parser(text)
    steps = parser.parse_root()
    return JSONPath(text, tuple(steps))


# --------------------------------------------------------------------------------------------
# Steps


def _children(value: Any, path: Path) -> Iterator[tuple[Any, Path]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield v, path + (k,)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield v, path + (i,)


def _descendants(value: Any, path: Path) -> Iterator[tuple[Any, Path]]:
    """The node itself, then every descendant, depth first in document order."""
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        yield v, p
        kids = list(_children(v, p))
        stack.extend(reversed(kids))


def _member(name: str | int) -> Step:
    def step(value: Any, path: Path, root: Any) -> Iterator[tuple[Any, Path]]:
        if isinstance(name, str):
            if isinstance(value, dict) and name in value:
                yield value[name], path + (name,)
        elif isinstance(value, list) and not isinstance(value, bool):
            i = name + len(value) if name < 0 else name
            if 0 <= i < len(value):
                yield value[i], path + (i,)
    step.member = name  # type: ignore[attr-defined]
    return step


def _plain_members(steps: list[Step]) -> list[str] | None:
    """The member names when a path is only `.name` steps, else None."""
    names = [getattr(s, "member", None) for s in steps]
    return names if all(isinstance(n, str) for n in names) else None


def _union(selectors: list[str | int]) -> Step:
    members = [_member(s) for s in selectors]

    def step(value: Any, path: Path, root: Any) -> Iterator[tuple[Any, Path]]:
        for m in members:
            yield from m(value, path, root)
    return step


def _wildcard(value: Any, path: Path, root: Any) -> Iterator[tuple[Any, Path]]:
    return _children(value, path)


def _slice(start: int | None, stop: int | None, stride: int | None) -> Step:
    def step(value: Any, path: Path, root: Any) -> Iterator[tuple[Any, Path]]:
        if isinstance(value, list):
            for i in range(len(value))[slice(start, stop, stride)]:
                yield value[i], path + (i,)
    return step


def _filter(predicate: Callable[[Any, Any], bool]) -> Step:
    def step(value: Any, path: Path, root: Any) -> Iterator[tuple[Any, Path]]:
        for v, p in _children(value, path):
            if predicate(v, root):
                yield v, p
    return step


def _recursive(inner: Step) -> Step:
    def step(value: Any, path: Path, root: Any) -> Iterator[tuple[Any, Path]]:
        for v, p in _descendants(value, path):
            yield from inner(v, p, root)
    return step


# --------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- helpers --------------------------------------------------------------------------
    def error(self, message: str, pos: int | None = None) -> JSONPathError:
        return JSONPathError(message, (self.pos if pos is None else pos) + 1)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expect(self, token: str) -> None:
        self.skip_ws()
        if not self.text.startswith(token, self.pos):
            found = self.text[self.pos] if self.pos < len(self.text) else "end of path"
            raise self.error(f"expected {token!r}, found {found!r}")
        self.pos += len(token)

    # -- paths ----------------------------------------------------------------------------
    def parse_root(self) -> list[Step]:
        self.skip_ws()
        if self.peek() != "$":
            raise self.error("a path must start with '$' (the record root)")
        self.pos += 1
        steps = self.parse_segments(allow_filters=True)
        self.skip_ws()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return steps

    def parse_segments(self, allow_filters: bool, stop: str = "") -> list[Step]:
        steps: list[Step] = []
        while self.pos < len(self.text):
            c = self.peek()
            if c in stop or c in " \t":
                break
            if self.peek(2) == "..":
                self.pos += 2
                if self.peek() == "[":
                    steps.append(_recursive(self.parse_bracket(allow_filters)))
                elif self.peek() == "*":
                    self.pos += 1
                    steps.append(_recursive(_wildcard))
                else:
                    steps.append(_recursive(_member(self.parse_name())))
            elif c == ".":
                self.pos += 1
                if self.peek() == "*":
                    self.pos += 1
                    steps.append(_wildcard)
                else:
                    steps.append(_member(self.parse_name()))
            elif c == "[":
                steps.append(self.parse_bracket(allow_filters))
            else:
                break
        return steps

    def parse_name(self) -> str:
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.error("expected a member name after '.' (use ['name'] for other keys)")
        self.pos = m.end()
        return m.group()

    def parse_bracket(self, allow_filters: bool) -> Step:
        start = self.pos
        self.pos += 1  # '['
        self.skip_ws()
        if self.peek() == "*":
            self.pos += 1
            self.expect("]")
            return _wildcard
        if self.peek() == "?":
            if not allow_filters:
                raise self.error("filters cannot be nested inside filters")
            self.pos += 1
            self.skip_ws()
            # `?(expr)` and `?expr` both parse: the parentheses are just a group
            expr = self.parse_expr()
            self.expect("]")
            return _filter(expr)
        selectors: list[str | int] = []
        slice_parts: list[int | None] | None = None
        while True:
            self.skip_ws()
            c = self.peek()
            if c in ("'", '"'):
                selectors.append(self.parse_string())
            elif c == ":" or _INT.match(self.text, self.pos):
                num = self.parse_int_opt()
                self.skip_ws()
                if self.peek() == ":":
                    if selectors:
                        raise self.error("a slice cannot be part of a union")
                    slice_parts = [num]
                    while self.peek() == ":" and len(slice_parts) < 3:
                        self.pos += 1
                        self.skip_ws()
                        slice_parts.append(self.parse_int_opt())
                        self.skip_ws()
                    if len(slice_parts) == 3 and slice_parts[2] == 0:
                        raise self.error("slice step cannot be 0")
                    break
                if num is None:
                    raise self.error("expected an index")
                selectors.append(num)
            else:
                found = c or "end of path"
                raise self.error(f"expected an index, a quoted name, '*', a slice or '?' filter, found {found!r}")
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            break
        self.skip_ws()
        if self.peek() != "]":
            raise self.error(f"expected ']' to close the '[' at column {start + 1}")
        self.pos += 1
        if slice_parts is not None:
            while len(slice_parts) < 3:
                slice_parts.append(None)
            return _slice(*slice_parts)
        return _member(selectors[0]) if len(selectors) == 1 else _union(selectors)

    def parse_int_opt(self) -> int | None:
        m = _INT.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return int(m.group())

    def parse_string(self) -> str:
        quote = self.peek()
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(out)
            out.append(c)
            self.pos += 1
        raise self.error("unterminated string", start)

    # -- filter expressions -------------------------------------------------------------
    def parse_expr(self) -> Callable[[Any, Any], bool]:
        left = self.parse_and()
        while True:
            self.skip_ws()
            if self.peek(2) != "||":
                return left
            self.pos += 2
            right = self.parse_and()
            left = (lambda a, b: lambda v, r: a(v, r) or b(v, r))(left, right)

    def parse_and(self) -> Callable[[Any, Any], bool]:
        left = self.parse_not()
        while True:
            self.skip_ws()
            if self.peek(2) != "&&":
                return left
            self.pos += 2
            right = self.parse_not()
            left = (lambda a, b: lambda v, r: a(v, r) and b(v, r))(left, right)

    def parse_not(self) -> Callable[[Any, Any], bool]:
        self.skip_ws()
        if self.peek() == "!" and self.peek(2) != "!=":
            self.pos += 1
            inner = self.parse_not()
            return lambda v, r: not inner(v, r)
        return self.parse_comparison()

    _OPS = ("==", "!=", "<=", ">=", "=~", "<", ">")

    def parse_comparison(self) -> Callable[[Any, Any], bool]:
        self.skip_ws()
        op_start = self.pos
        left, left_is_path = self.parse_operand()
        self.skip_ws()
        op = next((o for o in self._OPS if self.text.startswith(o, self.pos)), None)
        if op is None and re.match(r"in\b", self.text[self.pos:]):
            op = "in"
        if op is None:
            if left_is_path:  # existence test
                return lambda v, r: left(v, r) is not _MISSING
            if isinstance(left, _Group):
                return left.predicate
            raise self.error("expected a comparison (==, !=, <, <=, >, >=, =~, in) after a literal", op_start)
        self.pos += len(op)
        self.skip_ws()
        if op == "=~":
            rx = self.parse_regex()
            return lambda v, r: _regex_match(rx, left(v, r))
        right, _ = self.parse_operand()
        compare = _COMPARE[op]
        return lambda v, r: compare(left(v, r), right(v, r))

    def parse_regex(self) -> re.Pattern:
        start = self.pos
        if self.peek() == "/":
            end = self.pos + 1
            while end < len(self.text) and self.text[end] != "/":
                end += 2 if self.text[end] == "\\" else 1
            if end >= len(self.text):
                raise self.error("unterminated /regex/", start)
            body = self.text[self.pos + 1:end]
            self.pos = end + 1
            flags = 0
            while self.peek() in ("i", "m", "s"):
                flags |= {"i": re.I, "m": re.M, "s": re.S}[self.peek()]
                self.pos += 1
        elif self.peek() in ("'", '"'):
            body, flags = self.parse_string(), 0
        else:
            raise self.error("expected /regex/ or a quoted pattern after =~")
        try:
            return re.compile(body, flags)
        except re.error as exc:
            raise self.error(f"invalid regular expression: {exc}", start) from None

    def parse_operand(self) -> tuple[Any, bool]:
        """A callable (value, root) -> operand value (or _MISSING); and whether it is a path."""
        self.skip_ws()
        c = self.peek()
        if c in ("@", "$"):
            self.pos += 1
            steps = self.parse_segments(allow_filters=False, stop=")]|&=!<>, ")
            relative = c == "@"
            sub = JSONPath("", tuple(steps))
            members = _plain_members(steps)

            def resolve(v: Any, r: Any) -> Any:
                if members is not None:  # the common `@.role`: no node lists needed
                    cur = v if relative else r
                    for m in members:
                        if isinstance(cur, dict) and m in cur:
                            cur = cur[m]
                        else:
                            return _MISSING
                    return cur
                nodes = sub.find(v if relative else r)
                return nodes[0][0] if len(nodes) == 1 else _MISSING
            return resolve, True
        if c == "(":
            self.pos += 1
            inner = self.parse_expr()
            self.expect(")")
            return _Group(inner), False
        if c == "[":
            self.pos += 1
            items: list[Any] = []
            while True:
                self.skip_ws()
                if self.peek() == "]":
                    self.pos += 1
                    break
                items.append(self.parse_literal())
                self.skip_ws()
                if self.peek() == ",":
                    self.pos += 1
            frozen = list(items)
            return (lambda v, r: frozen), False
        value = self.parse_literal()
        return (lambda v, r: value), False

    def parse_literal(self) -> Any:
        self.skip_ws()
        c = self.peek()
        if c in ("'", '"'):
            return self.parse_string()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if re.match(rf"{word}\b", self.text[self.pos:]):
                self.pos += len(word)
                return value
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            s = m.group()
            return float(s) if any(ch in s for ch in ".eE") else int(s)
        found = c or "end of path"
        raise self.error(f"expected a value (string, number, true, false, null, @ or $), found {found!r}")


class _Group:
    """A parenthesised sub-expression used as an operand: it is a predicate."""

    def __init__(self, predicate: Callable[[Any, Any], bool]) -> None:
        self.predicate = predicate

    def __call__(self, v: Any, r: Any) -> Any:
        return self.predicate(v, r)


def _same_kind(a: Any, b: Any) -> bool:
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, num) and isinstance(b, num):
        return True
    return type(a) is type(b)


def _eq(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    return _same_kind(a, b) and a == b


def _order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if a is _MISSING or b is _MISSING or isinstance(a, bool) or isinstance(b, bool):
            return False
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) or \
                isinstance(a, str) and isinstance(b, str):
            return op(a, b)
        return False
    return compare


def _in(a: Any, b: Any) -> bool:
    return isinstance(b, list) and any(_eq(a, x) for x in b)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "<": _order(lambda a, b: a < b),
    "<=": _order(lambda a, b: a <= b),
    ">": _order(lambda a, b: a > b),
    ">=": _order(lambda a, b: a >= b),
    "in": _in,
}


def _regex_match(rx: re.Pattern, value: Any) -> bool:
    return isinstance(value, str) and rx.search(value) is not None
