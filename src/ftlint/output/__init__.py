"""Formatters: one module per output format, each a `render(report, **opts) -> str`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from ..findings import UsageError

FORMATS = ("text", "json", "github", "sarif")


def get_formatter(name: str) -> Callable[..., str]:
    if name == "text":
        from .text import render
    elif name == "json":
        from .json_format import render
    elif name == "github":
        from .github import render
    elif name == "sarif":
        from .sarif import render
    else:
        raise ValueError(f"unknown output format {name!r}")
    return render


def dumps_json(value: Any) -> str:
    """Indented JSON for every machine-readable output. orjson is fast but refuses integers
    beyond 64 bits (a config can ask for absurd sizes); those outputs fall back to `json`."""
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        import json

        return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def write_report(text: str, output: str | None) -> None:
    """Print the report, or write it to `output` (one-line error when that is impossible)."""
    if output:
        try:
            Path(output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{output}: cannot write output: {exc.strerror or exc}") from exc
    else:
        click.echo(text)
