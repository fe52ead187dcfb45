"""Chat-template rendering without transformers.

The Jinja environment mirrors `transformers.utils.chat_template_utils._cached_compile_jinja_template`
(transformers 5): an immutable sandbox with `trim_blocks`/`lstrip_blocks`, the `loopcontrols`
extension, a `{% generation %}` tag that records the character spans of assistant text, the
`raise_exception` and `strftime_now` globals, a `tojson` filter that does not escape HTML, and
`dict`/`namespace` helpers. Rendering the same messages therefore gives the same string that
`apply_chat_template` tokenises.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.runtime
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

GENERATION_RE = re.compile(r"\{%-?\s*generation\s*-?%\}")

from .template_names import CHATML, LLAMA3, NAMED_TEMPLATES  # noqa: E402,F401  (re-exported)


class TemplateError(Exception):
    """The template raised (raise_exception, undefined access, sandbox violation) or failed to compile."""


class _GenerationTracker(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: records (start, end) character spans."""

    tags = {"generation"}

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        environment.extend(activate_tracker=self.activate_tracker)
        self._tracking: ContextVar[Any] = ContextVar("ftlint_generation_tracker", default=None)

    def parse(self, parser: Any) -> jinja2.nodes.CallBlock:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context: Any, caller: Any) -> str:
        rv = caller()
        tracking = self._tracking.get()
        if tracking is not None:
            blocks, spans = tracking
            start = sum(len(b) for b in blocks)
            spans.append((start, start + len(rv)))
        return rv

    def activate_tracker(self, blocks: list[str], spans: list[tuple[int, int]]) -> Any:
        return self._tracking.set((blocks, spans))

    def deactivate(self, token: Any) -> None:
        self._tracking.reset(token)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _TemplateDict:
    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 - same trick as Jinja's Namespace
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"namespace attribute {name!r} is not allowed")


class _Sandbox(ImmutableSandboxedEnvironment):
    """transformers' sandbox, with the attribute-safety verdict memoised for plain data types.

    For these types the verdict depends only on (type, attribute name), so caching it changes
    nothing about what is allowed; it halves the rendering time of large templates.
    """

    _MEMO_TYPES = frozenset({str, dict, list, tuple, int, float, bool, type(None), jinja2.runtime.LoopContext,
                             _TemplateNamespace})
    _verdicts: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        kind = type(obj)
        if kind not in self._MEMO_TYPES:
            return super().is_safe_attribute(obj, attr, value)
        key = (kind, attr)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = super().is_safe_attribute(obj, attr, value)
        return verdict


@lru_cache(maxsize=16)
def compile_template(source: str) -> jinja2.Template:
    env = _Sandbox(trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    try:
        return env.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile: {exc.message} (template line {exc.lineno})") from exc


def has_generation_markers(source: str | None) -> bool:
    """Whether the template marks assistant text with `{% generation %}` (what assistant-only loss needs)."""
    return bool(source) and GENERATION_RE.search(source) is not None


class ChatTemplate:
    """A compiled chat template plus the special-token variables transformers passes to it."""

    def __init__(self, source: str, variables: dict[str, str], origin: str) -> None:
        self.source = source
        self.origin = origin
        self.variables = dict(variables)
        self.template = compile_template(source)
        self.has_generation = has_generation_markers(source)
        self._ext = next(e for e in self.template.environment.extensions.values()
                         if isinstance(e, _GenerationTracker))

    def render(self, messages: list[dict], *, add_generation_prompt: bool = False, tools: Any = None,
               track: bool = False, extra: dict[str, Any] | None = None) -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and, with `track`, the `{% generation %}` spans."""
        kwargs = {**self.variables, **(extra or {})}
        try:
            if not track:
                return self.template.render(messages=messages, tools=tools, documents=None,
                                            add_generation_prompt=add_generation_prompt, **kwargs), []
            blocks: list[str] = []
            spans: list[tuple[int, int]] = []
            token = self._ext.activate_tracker(blocks, spans)
            try:
                for block in self.template.generate(messages=messages, tools=tools, documents=None,
                                                    add_generation_prompt=add_generation_prompt, **kwargs):
                    blocks.append(block)
            finally:
                self._ext.deactivate(token)
            return "".join(blocks), spans
        except jinja2.exceptions.TemplateError as exc:
            raise TemplateError(str(exc) or type(exc).__name__) from exc
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise TemplateError(f"{type(exc).__name__}: {exc}") from exc
