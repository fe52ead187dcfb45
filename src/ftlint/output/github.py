"""GitHub Actions workflow commands (`--format github`): one annotation per finding.

    ::error file=data/train.jsonl,line=3,col=15,endLine=3,endColumn=16,title=FTP001::Invalid JSON…

Severities map to `error`, `warning` and `notice`. Values are escaped as the workflow-command
toolkit does (actions/toolkit `command.ts`): `%`, `\\r`, `\\n` in the message, and additionally
`:` and `,` in properties. File paths are relative to the repository root, like SARIF's, so
the annotations land on the changed file in a pull request.
"""

from __future__ import annotations

from ..engine import Report
from ..findings import Finding, Severity
from .sarif import _has_file, relative_uri, sentence, source_root

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding, path: str | None) -> str:
    loc = f.location
    end_line, end_column = loc.end()
    props: list[tuple[str, object]] = []
    if path is not None:
        props.append(("file", path))
        line = max(1, loc.line or 1)
        column = max(1, loc.column or 1)
        end_line = max(line, end_line or line)
        end_column = max(1, end_column or column)
        props += [("line", line), ("col", column), ("endLine", end_line), ("endColumn", end_column)]
    props.append(("title", f.code))
    message = f"{sentence(f.message)} [{f.name}]"
    for rel in f.related:
        rl = rel.location
        message += f"\n{rel.message} ({rl.path}:{rl.line}:{rl.column})"
    rendered = ",".join(f"{k}={escape_property(str(v))}" for k, v in props)
    return f"::{COMMANDS[f.severity]} {rendered}::{escape_data(message)}"


def render(report: Report, root: str | None = None, **_: object) -> str:
    from .text import summary

    base = source_root(root)
    lines = []
    for f in report.findings:
        path = None
        if _has_file(f.location):
            # Outside the repository GitHub cannot attach it to a file; keep the path it was given.
            path = relative_uri(f.location.path, base) or f.location.path
        lines.append(annotation(f, path))
    lines.append(summary(report))
    return "\n".join(lines)
