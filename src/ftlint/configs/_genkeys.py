"""Regenerate `keys_data.py` (the static key lists) from the trainers' own sources.

Not imported at run time. Usage (maintainers only; needs checkouts of the projects):

    python -m ftlint.configs._genkeys --axolotl PATH --llamafactory PATH --autotrain PATH > keys_data.py

Axolotl, LLaMA-Factory and AutoTrain are read through their Python AST (pydantic models and
dataclasses), so none of them has to be installed; TRL and transformers are introspected from
the installed packages (`dataclasses.fields`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import pprint
from pathlib import Path


def _classes(files: list[Path]) -> dict[str, ast.ClassDef]:
    out: dict[str, ast.ClassDef] = {}
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                out[node.name] = node
    return out


def _fields(cls: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            ann = ast.unparse(stmt.annotation)
            if name == "model_config" or name.startswith("_") or "ClassVar" in ann:
                continue
            names.add(name)
            if isinstance(stmt.value, ast.Call):
                for kw in stmt.value.keywords:
                    if kw.arg in ("alias", "validation_alias") and isinstance(kw.value, ast.Constant):
                        names.add(kw.value.value)
    return names


def _resolve(name: str, classes: dict[str, ast.ClassDef], seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if name in seen or name not in classes:
        return set()
    seen.add(name)
    cls = classes[name]
    names = _fields(cls)
    for base in cls.bases:
        names |= _resolve(ast.unparse(base).split(".")[-1], classes, seen)
    return names


def axolotl(root: Path) -> dict[str, list[str]]:
    schemas = sorted((root / "src/axolotl/utils/schemas").rglob("*.py"))
    classes = _classes(schemas)
    top = _resolve("AxolotlInputConfig", classes)
    plugin_files = sorted((root / "src/axolotl/integrations").glob("*/args.py"))
    plugins = _classes(plugin_files)
    for name in plugins:
        top |= _resolve(name, plugins)
    ds: set[str] = set()
    for name in ("SFTDataset", "DPODataset", "KTODataset", "StepwiseSupervisedDataset",
                 "PretrainingDataset", "SyntheticDataset"):
        ds |= _resolve(name, classes)
    return {"top": sorted(top), "dataset": sorted(ds)}


def transformers4(training_args_dir: Path) -> set[str]:
    """TrainingArguments fields of transformers 4.x (LLaMA-Factory supports 4.55 to 5.x)."""
    files = [training_args_dir / "training_args.py", training_args_dir / "training_args_seq2seq.py"]
    classes = _classes([f for f in files if f.is_file()])
    return _resolve("Seq2SeqTrainingArguments", classes)


def llamafactory(root: Path, legacy: set[str]) -> dict[str, list[str]]:
    files = sorted((root / "src/llamafactory/hparams").glob("*.py"))
    classes = _classes(files)
    names: set[str] = set()
    for cls in ("ModelArguments", "DataArguments", "TrainingArguments", "FinetuningArguments",
                "GeneratingArguments", "EvaluationArguments"):
        names |= _resolve(cls, classes)
    from transformers import Seq2SeqTrainingArguments

    names |= {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)} | legacy
    return {"top": sorted(names)}


def trl() -> dict[str, list[str]]:
    from trl import DPOConfig, KTOConfig, ModelConfig, ScriptArguments, SFTConfig
    from trl.scripts.utils import DatasetConfig, DatasetMixtureConfig

    names: set[str] = set()
    for cls in (SFTConfig, DPOConfig, KTOConfig, ModelConfig, ScriptArguments, DatasetMixtureConfig):
        names |= {f.name for f in dataclasses.fields(cls)}
    names.add("env")  # TrlParser: environment variables set before training
    return {"top": sorted(names), "dataset": sorted(f.name for f in dataclasses.fields(DatasetConfig))}


def autotrain(root: Path) -> dict[str, list[str]]:
    params = _classes([root / "src/autotrain/trainers/clm/params.py"])
    fields = _resolve("LLMTrainingParams", params)
    return {"params": sorted(fields)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--axolotl", type=Path, required=True)
    ap.add_argument("--llamafactory", type=Path, required=True)
    ap.add_argument("--autotrain", type=Path, required=True)
    ap.add_argument("--transformers4", type=Path, required=True,
                    help="folder holding transformers 4.x training_args.py (from its wheel)")
    ap.add_argument("--sources", default="")
    args = ap.parse_args()
    from transformers import Seq2SeqTrainingArguments

    legacy = transformers4(args.transformers4)
    current = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    data = {
        "axolotl": axolotl(args.axolotl),
        "llamafactory": llamafactory(args.llamafactory, legacy),
        "trl": trl(),
        "autotrain": autotrain(args.autotrain),
        "transformers4_only": {"top": sorted(legacy - current)},
    }
    print('"""Generated by `python -m ftlint.configs._genkeys`; do not edit by hand.')
    print("")
    print(f"Sources: {args.sources}")
    print('"""')
    print("")
    print("KEYS: dict[str, dict[str, list[str]]] = " + pprint.pformat(data, width=110, compact=True))


if __name__ == "__main__":
    main()
