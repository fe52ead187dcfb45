"""Training configs (Axolotl, LLaMA-Factory, TRL, AutoTrain): read, normalise, lint.

The engine calls `looks_like_training_config(path)` while walking directories and
`load_config(path, display, settings)` for every config it lints. A config is read with
`yaml.safe_load` semantics only (never code), its dialect is detected from its keys (or forced
with `--dialect` / the `dialect` setting), and it is normalised into one `TrainingPlan`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Location, Severity, UsageError
from ..rule import fingerprint
from .dialects import NORMALISERS, Normalised, detect_dialect
from .keys import DIALECTS
from .plan import DatasetSpec, TrainingPlan
from .yamlsafe import YamlDocument, YamlProblem, load_yaml_text, read_config_text, to_path, to_pointer

__all__ = ["ConfigDocument", "DatasetRef", "DIALECTS", "TrainingPlan", "DatasetSpec", "detect_dialect",
           "load_config", "looks_like_training_config", "read_plan"]

# Aliases accepted by --dialect.
DIALECT_ALIASES = {
    "axolotl": "axolotl", "llamafactory": "llamafactory", "llama-factory": "llamafactory",
    "llama_factory": "llamafactory", "lf": "llamafactory", "trl": "trl", "autotrain": "autotrain",
    "autotrain-advanced": "autotrain",
}


@dataclass
class DatasetRef:
    """A local dataset file the engine lints through the config (view of a DatasetSpec)."""

    path: str                  # filesystem path of a local dataset file
    split: str | None = None   # train / eval / test
    format: str | None = None  # format the config declares, when the records agree with it
    exists: bool = True


@dataclass
class ConfigDocument:
    path: str
    display: str
    data: Any
    dialect: str | None = None
    plan: TrainingPlan | None = None
    findings: list[Finding] = field(default_factory=list)
    yaml: YamlDocument | None = None
    dialect_source: str = "keys"   # keys | setting (--dialect)
    scores: dict[str, float] = field(default_factory=dict)
    normalised: Normalised | None = None

    # --- locations ---------------------------------------------------------------------------
    def locate(self, key_path: str | tuple | list = "", *, value: bool = False) -> Location:
        """Where a key is in the file: its key's span (or its value's with `value=True`).

        `key_path` is a JSON pointer ("/datasets/0/path") or a tuple of keys; the deepest
        existing prefix is used, and line 1 when nothing matches.
        """
        path = to_path(key_path)
        span = self.yaml.span(path, value=value) if self.yaml else None
        pointer = to_pointer(path)
        if span is None:
            return Location(self.display, 1, 1, 1, 1, pointer)
        return Location(self.display, span.line, span.column, span.end_line, span.end_column, pointer)

    def has(self, key_path: str | tuple | list) -> bool:
        return self.yaml is not None and to_path(key_path) in self.yaml.spans

    def get(self, key_path: str | tuple | list, default: Any = None) -> Any:
        cur = self.data
        for p in to_path(key_path):
            if isinstance(cur, dict) and p in cur:
                cur = cur[p]
            elif isinstance(cur, list) and isinstance(p, int) and 0 <= p < len(cur):
                cur = cur[p]
            else:
                return default
        return cur

    # --- facts for rules ---------------------------------------------------------------------
    @property
    def assumed(self) -> list[str]:
        return self.plan.assumed if self.plan else []

    @property
    def samples(self) -> dict[str, list[dict]]:
        return self.normalised.samples if self.normalised else {}

    @property
    def datasets(self) -> list[DatasetRef]:
        """Local dataset files to lint with this config's plan (the engine reads this)."""
        out: list[DatasetRef] = []
        if self.plan is None:
            return out
        seen: set[str] = set()
        for spec in self.plan.datasets:
            if spec.source != "local" or not spec.local_path or not os.path.isfile(spec.local_path):
                continue
            if spec.local_path in seen:
                continue
            seen.add(spec.local_path)
            fmt = spec.format if _agrees(spec.format, spec.detected_format) else None
            out.append(DatasetRef(spec.local_path, spec.split, fmt, True))
        return out


def _agrees(declared: str | None, detected: str | None) -> bool:
    if declared is None or detected is None:
        return False
    return declared == detected or {declared, detected} == {"openai", "sharegpt"}


# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _parse(path: str, mtime: float, size: int) -> YamlDocument | YamlProblem:
    try:
        return load_yaml_text(read_config_text(path))
    except YamlProblem as exc:
        return exc


def _parse_path(path: str) -> YamlDocument | YamlProblem:
    try:
        st = os.stat(path)
    except OSError as exc:
        return YamlProblem(f"cannot read: {exc.strerror or exc}")
    return _parse(os.path.realpath(path), st.st_mtime, st.st_size)


def looks_like_training_config(path: str) -> bool:
    """True when a YAML file found in a directory walk is a training config of a known dialect."""
    try:
        if os.path.getsize(path) > 1024 * 1024:
            return False
    except OSError:
        return False
    doc = _parse_path(path)
    if isinstance(doc, YamlProblem):
        return False
    dialect, _ = detect_dialect(doc.data)
    return dialect is not None


def _finding(code: str, name: str, severity: Severity, message: str, loc: Location) -> Finding:
    return Finding(code, name, severity, message, loc,
                   fingerprint=fingerprint(code, loc.pointer or "", f"{loc.path}|{message}"))


def load_config(path: str, display: str, settings: Any) -> ConfigDocument:
    """Read, detect and normalise one training config.

    A file that is not usable YAML gives an FTG020 finding at the error's position; a YAML file
    that is no training config gives an FTG021 note; both come back with `plan=None`, so the
    config rules skip it. Only an unreadable path is a UsageError.
    """
    if os.path.isdir(path):
        raise UsageError(f"{display}: is a directory, not a training config")
    if not os.path.exists(path):
        raise UsageError(f"{display}: no such file")
    forced = getattr(settings, "dialect", None) if settings is not None else None
    if forced:
        if forced.lower() not in DIALECT_ALIASES:
            raise UsageError(f"--dialect {forced}: expected one of {', '.join(DIALECTS)}")
        forced = DIALECT_ALIASES[forced.lower()]
    parsed = _parse_path(path)
    if isinstance(parsed, YamlProblem):
        doc = ConfigDocument(path, display, None)
        loc = Location(display, parsed.line, parsed.column, parsed.line, parsed.column + 1, "")
        doc.findings.append(_finding("FTG020", "invalid-config-yaml", Severity.ERROR,
                                     f"Cannot read this config: {parsed.message}.", loc))
        return doc
    doc = ConfigDocument(path, display, parsed.data, yaml=parsed)
    if not isinstance(parsed.data, dict):
        kind = "empty" if parsed.data is None else f"a {type(parsed.data).__name__}"
        # A list, a scalar or nothing given as a config is a mistake, not merely "other YAML".
        sev = Severity.ERROR if forced else Severity.WARNING
        doc.findings.append(_finding(
            "FTG021", "not-a-training-config", sev,
            f"This YAML document is {kind}, not a mapping of training settings; it was not checked as "
            "a training config.", Location(display, 1, 1, 1, 2, "")))
        return doc
    dialect, scores = detect_dialect(parsed.data)
    doc.scores = scores
    if forced:
        dialect, doc.dialect_source = forced, "setting"
    if dialect is None:
        doc.findings.append(_finding(
            "FTG021", "not-a-training-config", Severity.NOTE,
            "This YAML file does not look like an Axolotl, LLaMA-Factory, TRL or AutoTrain training "
            "config (no model key and too few known keys); it was not checked. Pass --dialect to force one.",
            Location(display, 1, 1, 1, 2, "")))
        return doc
    doc.dialect = dialect
    try:
        norm = NORMALISERS[dialect](parsed.data, path)
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:  # a normaliser bug must not take the run down: report it on the file
        doc.findings.append(_finding(
            "FTX001", "internal-error", Severity.ERROR,
            f"Reading this {dialect} config failed: {type(exc).__name__}: {exc}. Please report it.",
            Location(display, 1, 1, 1, 2, "")))
        return doc
    doc.normalised = norm
    doc.plan = norm.plan
    return doc


def read_plan(path: str, *, dialect: str | None = None) -> tuple[TrainingPlan, ConfigDocument]:
    """The TrainingPlan of a config file, for the token, VRAM and smoke features.

    Raises UsageError (one line, naming the file) when the file is not a usable training config.
    """

    class _S:
        pass

    s = _S()
    s.dialect = dialect  # type: ignore[attr-defined]
    display = path
    doc = load_config(path, display, s)
    if doc.plan is None:
        msg = doc.findings[0].message if doc.findings else "not a training config"
        loc = doc.findings[0].location if doc.findings else None
        where = f"{display}:{loc.line}:{loc.column}" if loc else display
        raise UsageError(f"{where}: {msg}")
    return doc.plan, doc
