"""Formatters: one module per output format, each a `render(report, **opts) -> str`."""

from __future__ import annotations

from typing import Callable

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
