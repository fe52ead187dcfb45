"""Human-readable output: findings grouped by file, then a summary."""

from __future__ import annotations

from collections import Counter

import click

from ..engine import Report
from ..findings import Severity

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}


def render(report: Report, color: bool = False, statistics: bool = False, quiet: bool = False, **_: object) -> str:
    def style(text: str, **kw: object) -> str:
        return click.style(text, **kw) if color else text

    lines: list[str] = []
    current = None
    if not quiet:
        for f in report.findings:
            loc = f.location
            if loc.path != current:
                if current is not None:
                    lines.append("")
                lines.append(style(loc.path, bold=True, underline=True))
                current = loc.path
            sev = f.severity
            lines.append(
                f"  {loc.line}:{loc.column}".ljust(12)
                + style(f.code.ljust(8), fg=_COLOURS[sev], bold=True)
                + style(sev.label.ljust(8), fg=_COLOURS[sev])
                + f"{f.message}  "
                + style(f"[{f.name}]", dim=True)
            )
            for rel in f.related:
                rl = rel.location
                lines.append(style(f"              ↳ {rl.path}:{rl.line}:{rl.column}: {rel.message}", dim=True))
        if report.findings:
            lines.append("")
    if statistics and report.findings:
        counts = Counter((f.code, f.name, f.severity.label) for f in report.findings)
        for (code, name, sev), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"{n:>7}  {code}  {sev:<8} {name}")
        lines.append("")
    lines.append(summary(report, style))
    return "\n".join(lines)


def summary(report: Report, style=lambda t, **k: t) -> str:
    sev = Counter(f.severity for f in report.findings)
    records = sum(s.records for s in report.files)
    nfiles = len(report.files)
    scope = f"{nfiles} file{'s' if nfiles != 1 else ''} ({records:,} record{'s' if records != 1 else ''})"
    if not report.findings:
        return style(f"✓ No problems found in {scope}.", fg="green")
    parts = [f"{sev[s]} {s.label}{'s' if sev[s] != 1 else ''}" for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE) if sev[s]]
    n = len(report.findings)
    return style(f"✗ {n} problem{'s' if n != 1 else ''} ({', '.join(parts)}) in {scope}.", bold=True)
