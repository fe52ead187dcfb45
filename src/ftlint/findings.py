"""The finding model: what a rule reports, and where."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that `severity >= threshold` reads naturally."""

    NOTE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r} (expected error, warning or note)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Location:
    """A 1-based span in a file; `pointer` is the JSON pointer of the value inside its record."""

    path: str
    line: int = 1
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None
    pointer: str | None = None

    def end(self) -> tuple[int, int]:
        return (self.end_line or self.line, self.end_column or self.column)


@dataclass(frozen=True)
class Related:
    """Another place a finding refers to (e.g. the first copy of a duplicate)."""

    location: Location
    message: str


@dataclass
class Finding:
    code: str
    name: str
    severity: Severity
    message: str
    location: Location
    related: list[Related] = field(default_factory=list)
    # Stable across edits elsewhere in the file: derived from record content + pointer, never line numbers.
    fingerprint: str | None = None
    # Free-form structured data for machine outputs (e.g. token counts).
    properties: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.code)

    def to_dict(self) -> dict[str, Any]:
        loc = self.location
        end_line, end_column = loc.end()
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.label,
            "message": self.message,
            "path": loc.path,
            "line": loc.line,
            "column": loc.column,
            "end_line": end_line,
            "end_column": end_column,
            "pointer": loc.pointer,
        }
        if self.related:
            out["related"] = [
                {"path": r.location.path, "line": r.location.line, "column": r.location.column,
                 "pointer": r.location.pointer, "message": r.message}
                for r in self.related
            ]
        if self.fingerprint:
            out["fingerprint"] = self.fingerprint
        if self.properties:
            out["properties"] = self.properties
        return out


class UsageError(Exception):
    """Unusable input or a usage mistake: reported as one line, exit code 2."""
