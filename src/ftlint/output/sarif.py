"""SARIF 2.1.0 output for GitHub code scanning (`--format sarif`).

Built with sarif-om (the OASIS object model) and serialised by `to_json_obj`, which drops the
model's unset fields and placeholder defaults (-1 indices, empty language tags) so the log
validates against both the OASIS schema and the copy GitHub's upload action uses.

GitHub's ingestion rules that shape this module (see docs/ci.md):
- every result has exactly one location with a repository-relative POSIX URI under
  `%SRCROOT%` (no `..`, symlinks resolved) and a 1-based region; related locations carry a
  message or the whole upload is rejected;
- `partialFingerprints.primaryLocationLineHash` comes from the finding's content-based
  fingerprint plus an occurrence counter, so alerts survive records inserted above them;
- at most 25,000 results per run: the most severe are kept and a notification says how many
  were dropped.

Paths outside the source root (the git work tree around the working directory, or the
working directory) cannot be shown by GitHub; they are written as absolute `file://` URIs
without `uriBaseId` (still valid SARIF, never `..`) and a run notification counts them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import attr
import orjson
import sarif_om as om

from .. import __version__
from ..engine import Report
from ..findings import Finding, Location, Severity
from ..rule import Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/ftlint/ftlint"
RULES_DOC_URI = INFORMATION_URI + "/blob/main/docs/rules.md"
SRCROOT = "%SRCROOT%"
MAX_RESULTS = 25_000          # GitHub rejects runs with more
MAX_DESCRIPTION = 1024        # GitHub truncates/rejects longer rule descriptions
MAX_TAGS = 10                 # GitHub shows at most 10 tags per rule
MAX_RELATED = 100             # GitHub keeps at most 100 locations per result
PRECISIONS = ("very-high", "high", "medium", "low")
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
# ftlint counts columns in Unicode code points (offsets into the decoded str).
COLUMN_KIND = "unicodeCodePoints"
# Keep these even when they equal the model's default: GitHub and readers expect them spelled out.
_ALWAYS_EMIT = {"level"}


# --- serialisation of the sarif-om model ----------------------------------------------------
def to_json_obj(obj: Any) -> Any:
    """sarif-om objects -> plain JSON values with the schema's property names."""
    if attr.has(type(obj)):
        out: dict[str, Any] = {}
        for field in attr.fields(type(obj)):
            value = getattr(obj, field.name)
            if value is None:
                continue
            default = field.default
            if isinstance(default, attr.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if value == default and field.name not in _ALWAYS_EMIT:
                continue
            out[field.metadata["schema_property_name"]] = to_json_obj(value)
        return out
    if isinstance(obj, dict):
        return {str(k): to_json_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_obj(v) for v in obj]
    return obj


# --- paths ------------------------------------------------------------------------------
def source_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The directory `%SRCROOT%` stands for: `root`, else the git work tree around the working
    directory (what actions/checkout makes the repository root), else the working directory."""
    if root is not None:
        return Path(os.path.realpath(root))
    cwd = Path(os.path.realpath(os.getcwd()))
    for candidate in (cwd, *cwd.parents):
        if (candidate / ".git").exists():
            return candidate
    return cwd


def relative_uri(path: str, root: Path) -> str | None:
    """Repository-relative POSIX path of `path` (symlinks resolved), or None when outside `root`.

    A symlink that points outside the root keeps its in-root link path: GitHub can show that.
    """
    absolute = os.path.abspath(path)
    for candidate in (os.path.realpath(absolute), absolute):
        try:
            rel = Path(candidate).relative_to(root)
        except ValueError:
            continue
        posix = rel.as_posix()
        if posix in ("", ".") or ".." in rel.parts:
            continue
        return posix
    return None


class _Artifacts:
    """Maps display paths to SARIF artifact locations, caching the filesystem work."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, om.ArtifactLocation] = {}
        self.outside: set[str] = set()

    def __call__(self, path: str) -> om.ArtifactLocation:
        hit = self.cache.get(path)
        if hit is None:
            rel = relative_uri(path, self.root)
            if rel is not None:
                hit = om.ArtifactLocation(uri=quote(rel, safe="/"), uri_base_id=SRCROOT)
            else:
                self.outside.add(path)
                hit = om.ArtifactLocation(uri=Path(os.path.realpath(path)).as_uri())
            self.cache[path] = hit
        return hit


def _has_file(loc: Location) -> bool:
    # The engine uses pseudo paths like "<dataset>" for run-level problems.
    return bool(loc.path) and not loc.path.startswith("<")


# --- text -------------------------------------------------------------------------------
def sentence(text: str) -> str:
    """GitHub wants messages in full sentences: capitalised, ending in punctuation."""
    text = text.strip()
    if not text:
        return "Problem found."
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?…":
        text += "."
    return text


def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def _plain(markdown: str) -> str:
    """The rule doc as plain text: headings become labelled paragraphs, fences disappear."""
    lines = []
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            continue
        m = re.match(r"^#+\s*(.*)$", line)
        lines.append(f"{m.group(1)}:" if m else line)
    return "\n".join(lines).strip()


# --- rules ------------------------------------------------------------------------------
def _help_uri(cls: type[Rule]) -> str:
    explicit = getattr(cls, "help_uri", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    # Anchor of a "## CODE name" heading in docs/rules.md.
    return f"{RULES_DOC_URI}#{cls.code.lower()}-{re.sub(r'[^a-z0-9-]', '', cls.name.lower())}"


def _security_severity(cls: type[Rule]) -> str | None:
    value = getattr(cls, "security_severity", None)
    if value is None:
        return None
    try:
        score = min(10.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        return None
    return f"{score:.1f}"


def rule_descriptor(cls: type[Rule]) -> om.ReportingDescriptor:
    code = cls.code
    name = getattr(cls, "name", "") or code
    if name == code:  # GitHub wants a name that differs from the id
        name = f"{code.lower()}-rule"
    doc = cls.doc()
    summary = cls.summary() if doc else name.replace("-", " ").capitalize()
    full = " ".join(cls.doc_section("What it does").split()) or summary
    markdown = doc or summary
    options = getattr(cls, "default_options", None) or {}
    if options:
        markdown += "\n\n## Options\n" + "\n".join(f"- `{k}` (default `{v!r}`)" for k, v in options.items())
    tags = [str(t) for t in (getattr(cls, "tags", ()) or ())]
    security = _security_severity(cls)
    if security is not None and "security" not in tags:
        tags.insert(0, "security")
    tags = list(dict.fromkeys(tags))[:MAX_TAGS]
    precision = getattr(cls, "precision", "high")
    props: dict[str, Any] = {"tags": tags, "precision": precision if precision in PRECISIONS else "high",
                             "scope": getattr(cls, "scope", "record")}
    if security is not None:
        props["security-severity"] = security
    return om.ReportingDescriptor(
        id=code,
        name=name,
        short_description=om.MultiformatMessageString(text=_clip(sentence(summary))),
        full_description=om.MultiformatMessageString(text=_clip(sentence(full))),
        help=om.MultiformatMessageString(text=_plain(markdown), markdown=markdown),
        help_uri=_help_uri(cls),
        default_configuration=om.ReportingConfiguration(level=LEVELS[Severity.parse(cls.severity)]),
        properties=props,
    )


class _AdHocRule:
    """Metadata for a finding whose rule is not in the report's rule list."""

    def __init__(self, f: Finding) -> None:
        self.code, self.name, self.severity = f.code, f.name, f.severity


def _descriptor_for_finding(f: Finding) -> om.ReportingDescriptor:
    try:
        from ..registry import all_rules

        cls = all_rules().get(f.code)
    except Exception:  # the registry is optional here: fall back to the finding's own data
        cls = None
    if cls is not None:
        return rule_descriptor(cls)
    text = sentence(f"Findings reported as {f.code} ({f.name})")
    return om.ReportingDescriptor(
        id=f.code, name=f.name if f.name != f.code else f"{f.code.lower()}-rule",
        short_description=om.MultiformatMessageString(text=text),
        full_description=om.MultiformatMessageString(text=text),
        help=om.MultiformatMessageString(text=text, markdown=text),
        help_uri=f"{RULES_DOC_URI}#{f.code.lower()}",
        default_configuration=om.ReportingConfiguration(level=LEVELS[f.severity]),
        properties={"tags": [], "precision": "medium"},
    )


# --- results ----------------------------------------------------------------------------
def _region(loc: Location) -> om.Region:
    line = max(1, int(loc.line or 1))
    column = max(1, int(loc.column or 1))
    end_line, end_column = loc.end()
    end_line = max(line, int(end_line or line))
    end_column = max(1, int(end_column or column))
    if end_line == line and end_column < column:
        end_column = column
    # SARIF's endColumn is exclusive, like ftlint's end_column.
    return om.Region(start_line=line, start_column=column, end_line=end_line, end_column=end_column)


def _physical(loc: Location, artifacts: _Artifacts) -> om.PhysicalLocation:
    return om.PhysicalLocation(artifact_location=artifacts(loc.path), region=_region(loc))


_DIGITS = re.compile(r"\d+")


def _base_fingerprint(f: Finding) -> str:
    if f.fingerprint:
        return f.fingerprint
    # A rule that built its Finding by hand: hash what does not move when lines move.
    from ..rule import fingerprint

    return fingerprint(f.code, f.location.pointer or "", f"{f.location.path}|{_DIGITS.sub('#', f.message)}")


def _json_safe(value: Any) -> Any:
    try:
        return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # an integer beyond 64 bits: the slower json module has no limit
        import json

        return json.loads(json.dumps(value, default=str))


def render(report: Report, category: str | None = None, root: str | None = None,
           max_results: int = MAX_RESULTS, **_: object) -> str:
    """The SARIF log for `report` as a JSON string."""
    from . import dumps_json

    return dumps_json(build_log(report, category=category, root=root, max_results=max_results))


def build_log(report: Report, category: str | None = None, root: str | None = None,
              max_results: int = MAX_RESULTS) -> dict[str, Any]:
    """The SARIF log as plain JSON values (for tests and the API)."""
    artifacts = _Artifacts(source_root(root))

    # Every enabled rule once, in the report's order; then any rule a finding used that is not listed.
    descriptors: list[om.ReportingDescriptor] = []
    index: dict[str, int] = {}
    for cls in _unique(report.rules):
        index[cls.code] = len(descriptors)
        descriptors.append(rule_descriptor(cls))
    for f in report.findings:
        if f.code not in index:
            index[f.code] = len(descriptors)
            descriptors.append(_descriptor_for_finding(f))

    notifications: list[om.Notification] = []
    located = [f for f in report.findings if _has_file(f.location)]
    for f in report.findings:
        if not _has_file(f.location):  # nothing GitHub could place on a file: a tool notification
            notifications.append(om.Notification(
                level=LEVELS[f.severity], message=om.Message(text=sentence(f"{f.code} ({f.name}): {f.message}")),
                descriptor=om.ReportingDescriptorReference(id=f.code, index=index[f.code])))

    # Occurrence counters in file order keep identical fingerprints in one file distinct and
    # stable: inserting other records above them does not change their relative order.
    occurrences: Counter[tuple[str, str, str]] = Counter()
    fingerprints: list[str] = []
    for f in located:
        base = _base_fingerprint(f)
        key = (f.location.path, f.code, base)
        occurrences[key] += 1
        fingerprints.append(f"{base}:{occurrences[key]}")

    order = sorted(range(len(located)), key=lambda i: (-int(located[i].severity), located[i].sort_key()))
    dropped = max(0, len(order) - max_results)
    kept = order[:max_results]
    if dropped:
        by_level = Counter(LEVELS[located[i].severity] for i in order[max_results:])
        detail = ", ".join(f"{n:,} {lvl}" for lvl, n in sorted(by_level.items()))
        notifications.append(om.Notification(level="warning", message=om.Message(text=(
            f"ftlint found {len(located):,} problems; GitHub accepts at most {max_results:,} results per run, "
            f"so the {dropped:,} least severe were dropped ({detail}). Run ftlint locally to see all of them."))))

    results = [_result(located[i], fingerprints[i], index, artifacts) for i in kept]

    if artifacts.outside:
        notifications.append(om.Notification(level="note", message=om.Message(text=(
            f"{len(artifacts.outside)} file(s) lie outside the source root {artifacts.root.name or '/'}; "
            "their results use absolute file URIs, which GitHub code scanning cannot show on a file."))))

    run = om.Run(
        tool=om.Tool(driver=om.ToolComponent(
            name="ftlint", semantic_version=__version__, version=__version__,
            information_uri=INFORMATION_URI, rules=descriptors)),
        results=results,
        invocations=[om.Invocation(execution_successful=True,
                                   tool_execution_notifications=notifications or None)],
        column_kind=COLUMN_KIND,
        properties={"ftlint": {"files": len(report.files), "records": sum(s.records for s in report.files),
                               "findings": len(report.findings), "resultsDropped": dropped}},
    )
    if category:
        # Like github/codeql-action: the category is the id up to its last "/".
        run.automation_details = om.RunAutomationDetails(id=category if category.endswith("/") else category + "/")
    log = to_json_obj(om.SarifLog(runs=[run], version="2.1.0", schema_uri=SCHEMA_URI))
    return {"$schema": log.pop("$schema"), "version": log.pop("version"), **log}


def _unique(rules: Iterable[type[Rule]]) -> list[type[Rule]]:
    seen: dict[str, type[Rule]] = {}
    for cls in rules:
        seen.setdefault(cls.code, cls)
    return list(seen.values())


def _result(f: Finding, fp: str, index: dict[str, int], artifacts: _Artifacts) -> om.Result:
    related = []
    for n, rel in enumerate(f.related, start=1):
        if not _has_file(rel.location) or len(related) >= MAX_RELATED:
            continue
        related.append(om.Location(id=n, physical_location=_physical(rel.location, artifacts),
                                   message=om.Message(text=sentence(rel.message or "Related location"))))
    props: dict[str, Any] = {}
    if f.location.pointer:
        props["pointer"] = f.location.pointer
    if f.properties:
        props.update(_json_safe(f.properties))
    return om.Result(
        rule_id=f.code,
        rule_index=index[f.code],
        level=LEVELS[f.severity],
        message=om.Message(text=sentence(f.message)),
        locations=[om.Location(physical_location=_physical(f.location, artifacts))],
        related_locations=related or None,
        partial_fingerprints={"primaryLocationLineHash": fp},
        properties=props or None,
    )
