"""Project configuration: `[tool.ftlint]` in pyproject.toml (primary) or `.ftlint.yaml`.

The file is found by walking up from the current directory; CLI options override it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .findings import Severity, UsageError
from .formats import FORMATS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    select: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    extend_select: list[str] = Field(default_factory=list, alias="extend-select")
    per_file_ignores: dict[str, list[str]] = Field(default_factory=dict, alias="per-file-ignores")
    severity: dict[str, str] = Field(default_factory=dict)
    fail_on: Literal["error", "warning", "note", "never"] = Field("warning", alias="fail-on")
    format_hint: str | None = Field(None, alias="format-hint")
    # Per-rule options, keyed by rule code or name: {"FTD001": {"min": 50, "max": 100}}
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    rulesets: list[str] = Field(default_factory=list)
    gpu: str | None = None
    dialect: str | None = None  # training-config dialect; None: detected from the config's keys
    model: str | None = None
    tokenizer: str | None = None
    response_schema: str | None = Field(None, alias="response-schema")
    response_schemas: dict[str, str] = Field(default_factory=dict, alias="response-schemas")
    record_schema: str | None = Field(None, alias="record-schema")
    # Which assistant responses the response schema applies to, and whether a response may be
    # a single fenced code block holding the JSON (see docs/json-schema.md).
    response_turns: Literal["all", "final"] = Field("all", alias="response-turns")
    response_fenced: bool = Field(False, alias="response-fenced")
    exclude: list[str] = Field(default_factory=list)
    # the CSV reader hands it to csv.field_size_limit, which takes a C long
    max_line_bytes: int = Field(16 * 1024 * 1024, alias="max-line-bytes", gt=0, le=sys.maxsize)
    jobs: int = 0  # 0: decide from the data size and the machine
    source: str | None = None  # the file these settings came from

    # Checked here so a bad value is "FILE: setting `x`: ..." (exit 2), not a crash mid-run.
    @field_validator("severity")
    @classmethod
    def _known_severities(cls, value: dict[str, str]) -> dict[str, str]:
        for level in value.values():
            Severity.parse(level)  # ValueError names the bad level
        return value

    @field_validator("format_hint")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in FORMATS:
            raise ValueError(f"unknown format {value!r} (expected one of {', '.join(FORMATS)})")
        return value


def setting_error(settings: Settings, where: str, message: str) -> UsageError:
    """A bad value in the project config: "FILE: setting `where`: message" (exit 2)."""
    return UsageError(f"{settings.source or 'project config'}: setting `{where}`: {message}")


def find_project_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in (".ftlint.yaml", ".ftlint.yml"):
            if (folder / name).is_file():
                return folder / name
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8", errors="replace")
                data = tomllib.loads(text)
            except OSError:
                continue
            except (tomllib.TOMLDecodeError, RecursionError):
                if "tool.ftlint" in text:  # ours but broken: load_settings names the file and the error
                    return pyproject
                continue
            if "ftlint" in data.get("tool", {}):
                return pyproject
        if (folder / ".git").exists():
            break
    return None


def load_settings(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
        if path.name == "pyproject.toml":
            raw = tomllib.loads(text).get("tool", {}).get("ftlint", {})
        else:
            from .configs.yamlsafe import YamlProblem, safe_load

            try:
                raw = safe_load(text) or {}
            except YamlProblem as exc:
                raise UsageError(f"{path}:{exc.line}:{exc.column}: invalid project config: {exc.message}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read project config: {exc}") from exc
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: invalid project config: {str(exc).splitlines()[0]}") from exc
    except RecursionError:
        raise UsageError(f"{path}: invalid project config: nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: project config must be a mapping of settings")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"{path}: setting `{where}`: {err['msg']}") from exc
    settings.source = os.fspath(path)
    return settings
