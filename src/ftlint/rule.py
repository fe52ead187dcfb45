"""The rule API: one class per rule, metadata as class attributes (after sqlfluff).

A rule's docstring is its documentation, in Markdown with the sections
`What it does`, `Why it matters`, `Example`, `Use instead` and `How to fix`; `ftlint rule CODE`
prints it and SARIF carries it as help text.

Scopes:
- `record`: `check(example, ctx)` runs on every normalised example.
- `dataset`: `collect(example, ctx)` runs on every example and returns a small, picklable fact
  (or None); `finish(facts, ctx)` gets `{path: [facts in file order]}` for every file of the
  run (with `ctx.splits` naming train/eval files) and yields findings. Facts are what makes
  the state mergeable across chunks, processes and machines.
- `config`: `check_config(doc, plan, ctx)` runs on a training config (see ftlint.configs).
- `reader`: findings made by the readers and the normaliser (parse errors); no method.

The engine hands examples over in batches (`check_batch`, `collect_batch`); by default these call
`check`/`collect` once per example. A rule overrides them to work on the whole batch at once (one
regex pass over all texts, one numpy computation, one tokenizer call); they must give exactly
what the per-example methods give.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator

from .findings import Finding, Location, Related, Severity
from .options import Option, check_type, infer_type

if TYPE_CHECKING:
    from .formats import Example
    from .records import Record

CODE_PATTERN = re.compile(r"^[A-Z]{2,4}[0-9]{3}$")
DOC_SECTIONS = ("What it does", "Why it matters", "Example", "Use instead", "How to fix")


@dataclass
class Context:
    """What a rule may know beyond the example itself."""

    options: dict[str, Any] = field(default_factory=dict)  # this rule's options, defaults merged
    path: str = ""                 # display path of the file being checked
    file_format: str | None = None  # dominant format of the file
    split: str | None = None       # train / eval / test when known
    plan: Any = None               # ftlint.configs.plan.TrainingPlan when linting through a config
    services: dict[str, Any] = field(default_factory=dict)  # shared per-run helpers (tokenizer, …)
    splits: dict[str, str] = field(default_factory=dict)    # dataset-scope: path -> split
    record_counts: dict[str, int] = field(default_factory=dict)  # dataset-scope: path -> records


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    scope: ClassVar[str] = "record"
    tags: ClassVar[tuple[str, ...]] = ()
    precision: ClassVar[str] = "high"          # SARIF: very-high | high | medium | low
    security_severity: ClassVar[float | None] = None
    formats: ClassVar[tuple[str, ...] | None] = None  # formats it applies to; None = all
    default_options: ClassVar[dict[str, Any]] = {}
    # Option types where the default does not say it (a None default, a range): option -> a type
    # (bool, int, float, str, list[str], dict[str, T], tuple[float, float], `T | None`) or an
    # Rule.Option(type, min=, max=, keys=). Undeclared options take the type of their default.
    option_types: ClassVar[dict[str, Any]] = {}
    Option: ClassVar[type[Option]] = Option  # so a rule module declares ranges without another import
    enabled_by_default: ClassVar[bool] = True
    source: ClassVar[str] = "builtin"          # or the ruleset / plugin that defined it

    # --- documentation -------------------------------------------------------------------
    @classmethod
    def doc(cls) -> str:
        # cleandoc, not dedent: the summary sits on the quote line, so dedent would find no margin.
        return inspect.cleandoc(cls.__doc__ or "").strip()

    @classmethod
    def summary(cls) -> str:
        """The first line of the doc: a one-sentence description."""
        return cls.doc().splitlines()[0].strip() if cls.doc() else cls.name

    @classmethod
    def doc_section(cls, title: str) -> str:
        m = re.search(rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", cls.doc(), re.M | re.S)
        return m.group(1).strip() if m else ""

    @classmethod
    def option_specs(cls) -> dict[str, "Option"]:
        """Every option the rule accepts, with its type (an undeclared option whose default does
        not say it takes any value). TypeError for an unsupported declared type, or a default
        that does not fit its declared type."""
        specs: dict[str, Option] = {}
        for name in {**cls.default_options, **cls.option_types}:
            declared = cls.option_types.get(name)
            if declared is None:
                spec = Option(infer_type(cls.default_options[name]))
            else:
                spec = declared if isinstance(declared, Option) else Option(declared)
            check_type(spec.type, f"{cls.__name__}: option {name!r}")
            if name in cls.default_options:
                problem = spec.problem(cls.default_options[name])
                if problem:
                    raise TypeError(f"{cls.__name__}: default of option {name!r} does not fit its declared "
                                    f"type {spec.label()}: {problem[1]}")
            specs[name] = spec
        return specs

    @classmethod
    def options_problem(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """The first problem with user-given options as (option path, message), or None."""
        specs = cls.option_specs()
        for name, value in options.items():
            spec = specs.get(name)
            if spec is None:
                known = f"known options: {', '.join(specs)}" if specs else "this rule has no options"
                return str(name), f"unknown option of {cls.code} ({cls.name}); {known}"
            problem = spec.problem(value)
            if problem:
                return f"{name}{problem[0]}", problem[1]
        return None

    @classmethod
    def changed_option(cls, options: dict[str, Any], *names: str) -> str:
        """The first of `names` whose value is not its default (the one the user set), for
        `options_conflict` to name; the first name when none was changed."""
        return next((n for n in names if options.get(n) != cls.default_options.get(n)), names[0])

    @classmethod
    def options_conflict(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """A problem between options that are each valid alone (a minimum above its maximum), as
        (option, message), or None. `options` are all of the rule's options, defaults merged with
        every table that sets them; override where options interact."""
        return None

    # --- construction ------------------------------------------------------------------
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = {**self.default_options, **(options or {})}

    # --- reporting helpers -------------------------------------------------------------
    def finding(self, record: "Record", pointer: str, message: str, *,
                severity: Severity | None = None, related: Iterable[Related] = (),
                properties: dict[str, Any] | None = None) -> Finding:
        """A finding at the value `pointer` inside `record`."""
        return Finding(
            code=self.code, name=self.name, severity=severity or self.severity, message=message,
            location=record.locate(pointer), related=list(related),
            fingerprint=fingerprint(self.code, pointer, record_digest(record)),
            properties=properties or {},
        )

    def finding_at(self, location: Location, message: str, *, severity: Severity | None = None,
                   related: Iterable[Related] = (), key: str = "",
                   properties: dict[str, Any] | None = None) -> Finding:
        """A finding at an explicit location; `key` makes the fingerprint stable."""
        return Finding(self.code, self.name, severity or self.severity, message, location,
                       list(related), fingerprint(self.code, location.pointer or "", key or location.path),
                       properties or {})

    # --- the checks (override one, by scope) ---------------------------------------------
    def active(self, ctx: Context) -> bool:
        """Whether the rule has work to do in this file (asked once per file and format).

        Rules that need something optional (a tokenizer, a schema) return False when it is not
        configured, so they cost nothing per record.
        """
        return True

    def check(self, example: "Example", ctx: Context) -> Iterator[Finding]:  # record scope
        return iter(())

    def collect(self, example: "Example", ctx: Context) -> Any:  # dataset scope
        return None

    def check_batch(self, examples: list["Example"], ctx: Context) -> Iterable[Finding]:  # record scope
        """Findings for many examples: the same as `check` on each. If it raises, the engine
        falls back to `check` per example, so one bad example costs only its own findings."""
        out: list[Finding] = []
        for example in examples:
            out.extend(self.check(example, ctx))
        return out

    def collect_batch(self, examples: list["Example"], ctx: Context) -> list[Any]:  # dataset scope
        """Facts for many examples, in order (None where there is none): the same as `collect`."""
        return [self.collect(example, ctx) for example in examples]

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:  # dataset scope
        return iter(())

    def check_config(self, doc: Any, plan: Any, ctx: Context) -> Iterator[Finding]:  # config scope
        return iter(())


def record_digest(record: "Record") -> str:
    """Content hash of a record, independent of where it sits in the file."""
    import orjson

    try:
        blob = orjson.dumps(record.data, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        blob = repr(record.data).encode()
    return hashlib.blake2b(blob, digest_size=12).hexdigest()


def fingerprint(code: str, pointer: str, content_key: str) -> str:
    return hashlib.blake2b(f"{code}|{pointer}|{content_key}".encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class RecordRef:
    """A cheap, picklable handle on a record for dataset-level facts."""

    path: str
    line: int
    column: int
    index: int

    @classmethod
    def of(cls, record: "Record") -> "RecordRef":
        return cls(record.path, record.line, record.column, record.index)

    def location(self, pointer: str = "") -> Location:
        return Location(self.path, self.line, self.column, self.line, self.column + 1, pointer)
