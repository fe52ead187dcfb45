"""Training configs (Axolotl, LLaMA-Factory, TRL, AutoTrain): read, normalise, lint.

Placeholder interface until the training-config issue lands: the engine calls
`looks_like_training_config(path)` while walking directories and `load_config(...)` for
every config it lints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, UsageError


@dataclass
class DatasetRef:
    path: str                 # filesystem path of a local dataset file
    split: str | None = None  # train / eval / test
    format: str | None = None  # format the config declares, normalised to ftlint's names
    exists: bool = True


@dataclass
class ConfigDocument:
    path: str
    display: str
    data: Any
    dialect: str | None = None
    plan: Any = None
    datasets: list[DatasetRef] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def looks_like_training_config(path: str) -> bool:
    return False


def load_config(path: str, display: str, settings: Any) -> ConfigDocument:
    raise UsageError(f"{display}: training configs are not supported yet")
