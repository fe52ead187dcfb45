"""Machine-readable output: a JSON list of findings (an object with statistics on request)."""

from __future__ import annotations

from collections import Counter


from ..engine import Report
from . import dumps_json


def render(report: Report, statistics: bool = False, **_: object) -> str:
    findings = [f.to_dict() for f in report.findings]
    if not statistics:
        return dumps_json(findings)
    counts = Counter(f.code for f in report.findings)
    stats = {
        "files": [{"path": s.path, "kind": s.kind, "records": s.records, "formats": dict(s.formats)}
                  for s in report.files],
        "counts": dict(sorted(counts.items())),
    }
    return dumps_json({"findings": findings, "statistics": stats})
