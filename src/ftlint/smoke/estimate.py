"""The VRAM estimator's prediction for the config being smoked, when `ftlint.vram` is installed.

The estimator is optional (and may land later than the smoke): it is imported lazily and its
stable contract is used, the `ftlint estimate CONFIG --format json` command with its
documented fields (`peak_bytes` = predicted `torch.cuda.max_memory_allocated`, `required_bytes`,
`low_bytes`, `high_bytes`, `verdict`). Anything missing or failing means "no comparison".
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
from typing import Any

GPU_NAMES = (  # torch's device name -> the estimator's GPU id
    (r"h200", "h200"), (r"h100", "h100-80gb"), (r"a100.*80", "a100-80gb"), (r"a100", "a100-40gb"),
    (r"l40s", "l40s"), (r"\bl4\b", "l4"), (r"a10g", "a10g"), (r"rtx a6000|a6000", "rtx-a6000"),
    (r"4090", "rtx-4090"), (r"3090", "rtx-3090"), (r"5090", "rtx-5090"), (r"\bt4\b", "t4"),
    (r"v100.*32", "v100-32gb"), (r"v100", "v100-16gb"),
)


def gpu_id(device_name: str | None) -> str | None:
    if not device_name:
        return None
    low = device_name.lower()
    for pattern, ident in GPU_NAMES:
        if re.search(pattern, low):
            return ident
    return None


def predict_peak(config_path: str | None, gpu: str | None, *, plan: Any = None, model_path: str | None = None,
                 lengths: list[int] | None = None, gpu_bytes: int | None = None) -> dict[str, Any] | None:
    """The estimator's prediction as a small dict, or a dict with only a `note` saying why not.

    With the estimator's Python API (`ftlint.vram.estimate`), the prediction is for exactly what
    the smoke trains: the resolved model folder and the token lengths of the trained examples.
    """
    try:
        vram = importlib.import_module("ftlint.vram")
        models = importlib.import_module("ftlint.models")
    except Exception:  # not installed yet, or broken: the smoke still runs
        return {"note": "VRAM estimator (ftlint.vram) not available: no comparison"}
    if plan is not None and model_path and hasattr(vram, "estimate") and hasattr(models, "resolve_arch"):
        try:
            arch = models.resolve_arch(model_path)
            card = None
            if gpu:
                card = vram.find_gpu(gpu)
            elif gpu_bytes and hasattr(vram, "custom_gpu"):
                card = vram.custom_gpu(f"{gpu_bytes / 2**30:.1f}GiB")
            est = vram.estimate(plan, arch, card, lengths=lengths or None, suggestions=False)
            data = est.as_dict() if hasattr(est, "as_dict") else dict(vars(est))
            return _keep(data, "python API, trained examples' lengths")
        except Exception as exc:  # an estimator problem must not fail the smoke
            api_error = f"{type(exc).__name__}: {exc}"
        else:  # pragma: no cover
            api_error = ""
    else:
        api_error = ""
    pred = _from_command(config_path, gpu)
    if api_error and "note" in pred:
        pred["note"] += f" (python API: {api_error[:200]})"
    return pred


def _keep(data: dict[str, Any], basis: str) -> dict[str, Any]:
    if not isinstance(data.get("peak_bytes"), (int, float)):
        return {"note": "VRAM estimator gave no peak_bytes"}
    keep = ("peak_bytes", "required_bytes", "low_bytes", "high_bytes", "peak_low_bytes", "peak_high_bytes",
            "verdict", "gpu", "breakdown", "peak_phase")
    pred = {k: data.get(k) for k in keep if data.get(k) is not None}
    pred["predicted_bytes"] = data["peak_bytes"]
    pred["basis"] = basis
    return pred


def _from_command(config_path: str | None, gpu: str | None) -> dict[str, Any]:
    """Through the documented `ftlint estimate CONFIG --format json` contract."""
    if not config_path:
        return {"note": "no config file to estimate from"}
    try:
        command = importlib.import_module("ftlint.vram.command").estimate
    except Exception:
        return {"note": "VRAM estimator command not available: no comparison"}
    args = [config_path, "--format", "json"] + (["--gpu", gpu] if gpu else [])
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            command.main(args, standalone_mode=False, prog_name="ftlint estimate")
    except SystemExit:
        pass  # exit 1 means "does not fit", still a prediction
    except Exception as exc:
        return {"note": f"VRAM estimator failed: {type(exc).__name__}: {exc}"}
    try:
        data = json.loads(out.getvalue())
    except ValueError:
        why = (err.getvalue().strip().splitlines() or out.getvalue().strip().splitlines() or ["no output"])[0]
        return {"note": f"VRAM estimator gave no estimate: {why[:200]}"}
    if not isinstance(data, dict):
        return {"note": "VRAM estimator gave no estimate"}
    return _keep(data, "ftlint estimate CONFIG")
