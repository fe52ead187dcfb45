"""Safe YAML loading that remembers where every key is.

Configs are data: only `yaml.safe_load` semantics (SafeLoader: no Python tags, no custom
constructors). The document is composed first, so every mapping key and sequence item keeps its
start/end marks, then checked for alias bombs ("billion laughs") before it is constructed: the
node graph is walked with aliases expanded and the walk stops at a fixed budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..locate import escape_token, split_pointer

try:  # libyaml is much faster and keeps the same marks
    _Loader: type = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - pure-Python PyYAML
    _Loader = yaml.SafeLoader

MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000   # nodes visited with aliases expanded; real configs have < 5,000
MAX_DEPTH = 100


class YamlProblem(Exception):
    """The file is not a usable YAML document; `line`/`column` are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Span:
    line: int      # 1-based
    column: int    # 1-based
    end_line: int
    end_column: int


@dataclass
class YamlDocument:
    data: Any
    # key path (tuple of str keys / int indexes) -> (span of the key or item, span of the value)
    spans: dict[tuple, tuple[Span, Span]] = field(default_factory=dict)
    # key paths that appear more than once in the same mapping: path -> spans of every copy
    duplicates: dict[tuple, list[Span]] = field(default_factory=dict)
    # scalar values' quoting style (None plain, "'", '"', "|", ">"): columns inside a value
    # map to the file only for plain and quoted scalars
    styles: dict[tuple, str | None] = field(default_factory=dict)
    root: Span | None = None  # the document's top node

    def span(self, path: tuple, value: bool = False) -> Span | None:
        """The span of the deepest existing prefix of `path` (key, or value when `value`)."""
        while path:
            hit = self.spans.get(path)
            if hit is not None:
                return hit[1] if value else hit[0]
            path = path[:-1]
        return None


def _span(node: yaml.Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def to_path(key_path: str | tuple | list) -> tuple:
    """A JSON pointer ("/datasets/0/path") or a tuple of keys -> a tuple with int indexes."""
    if isinstance(key_path, (tuple, list)):
        return tuple(key_path)
    out: list[Any] = []
    for token in split_pointer(key_path):
        out.append(int(token) if token.isdigit() else token)
    return tuple(out)


def to_pointer(path: tuple | list) -> str:
    return "".join("/" + escape_token(t) for t in path)


def _check_expansion(root: yaml.Node) -> None:
    """Walk the node graph with aliases expanded; refuse cycles, depth and size bombs."""
    budget = MAX_EXPANDED_NODES
    on_stack: set[int] = set()
    # iterative DFS: (node, depth, leaving?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            on_stack.discard(id(node))
            continue
        budget -= 1
        if budget < 0:
            m = node.start_mark
            raise YamlProblem(f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (an alias "
                              "bomb such as 'billion laughs'); refusing to load it", m.line + 1, m.column + 1)
        if depth > MAX_DEPTH:
            m = node.start_mark
            raise YamlProblem(f"YAML is nested more than {MAX_DEPTH} levels deep", m.line + 1, m.column + 1)
        if isinstance(node, yaml.ScalarNode):
            continue
        if id(node) in on_stack:
            m = node.start_mark
            raise YamlProblem("YAML alias refers to itself (a recursive structure); configs must be plain "
                              "trees", m.line + 1, m.column + 1)
        on_stack.add(id(node))
        stack.append((node, depth, True))
        if isinstance(node, yaml.SequenceNode):
            for child in reversed(node.value):
                stack.append((child, depth + 1, False))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.append((value, depth + 1, False))
                stack.append((key, depth + 1, False))


def _key_of(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return None  # complex keys are not addressable by a pointer


def _index(root: yaml.Node, doc: YamlDocument) -> None:
    """Record the span of every key and item, walking the (already size-checked) node graph."""
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    visited = 0
    while stack:
        node, path = stack.pop()
        visited += 1
        if visited > MAX_EXPANDED_NODES:
            return
        if isinstance(node, yaml.ScalarNode):
            doc.styles[path] = node.style or None  # plain: None from PyYAML, "" from libyaml
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, Span] = {}
            for key_node, value_node in node.value:
                key = _key_of(key_node)
                if key is None or key == "<<":
                    continue
                child = path + (key,)
                if key in seen:
                    doc.duplicates.setdefault(child, [seen[key]]).append(_span(key_node))
                seen[key] = _span(key_node)
                doc.spans[child] = (_span(key_node), _span(value_node))
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = path + (i,)
                doc.spans[child] = (_span(item), _span(item))
                stack.append((item, child))


def load_yaml_text(text: str) -> YamlDocument:
    """Parse one YAML document with safe_load semantics; YamlProblem on anything unusable."""
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "invalid YAML"
            if exc.context and "single document" in str(exc.context):
                problem = "expected a single YAML document but found several (separated by ---)"
            raise YamlProblem(f"invalid YAML: {problem}", *(_mark(mark))) from None
        except yaml.YAMLError as exc:
            raise YamlProblem(f"invalid YAML: {str(exc).splitlines()[0]}") from None
        if root is None:
            return YamlDocument(None)
        _check_expansion(root)
        try:
            data = loader.construct_document(root)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = str(exc.problem or "unsupported YAML")
            if "could not determine a constructor" in problem:
                tag = problem.split("tag", 1)[-1].strip(" '").replace("tag:yaml.org,2002:", "!!")
                problem = (f"YAML tag {tag} is not allowed: configs are read as plain data "
                           "(yaml.safe_load); tags that build Python objects are refused")
            raise YamlProblem(problem, *(_mark(mark))) from None
        except yaml.YAMLError as exc:
            raise YamlProblem(f"invalid YAML: {str(exc).splitlines()[0]}") from None
        except RecursionError:
            raise YamlProblem("YAML is nested too deeply to read") from None
        doc = YamlDocument(data, root=_span(root))
        _index(root, doc)
        return doc
    finally:
        loader.dispose()


def safe_load(text: str) -> Any:
    """`yaml.safe_load` with the guards above, for every YAML file ftlint reads (project config,
    schemas, rulesets): plain `safe_load` builds an alias bomb cheaply, but whatever walks the
    result afterwards (validation, marks) runs for hours. YamlProblem on anything unusable."""
    return load_yaml_text(text).data


def check_expansion(root: yaml.Node) -> None:
    """For loaders that compose nodes themselves: YamlProblem on alias bombs, cycles, deep nesting."""
    _check_expansion(root)


def _mark(mark: Any) -> tuple[int, int]:
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def read_config_text(path: str) -> str:
    """The file's text; YamlProblem when it is too large, binary or not UTF-8."""
    import os

    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise YamlProblem(f"cannot read: {exc.strerror or exc}") from None
    if not os.path.isfile(path):  # a pipe or device: opening it could block forever
        raise YamlProblem("not a regular file (a pipe or device)")
    if size > MAX_CONFIG_BYTES:
        raise YamlProblem(f"file is {size / 1e6:.1f} MB; a training config is at most "
                          f"{MAX_CONFIG_BYTES // (1024 * 1024)} MB")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise YamlProblem(f"cannot read: {exc.strerror or exc}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        raise YamlProblem("file contains NUL bytes (binary or UTF-16); a config must be UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(f"invalid UTF-8 at byte {exc.start}", line, 1) from None
