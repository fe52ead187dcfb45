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


def predict_peak(config_path: str | None, gpu: str | None) -> dict[str, Any] | None:
    """The estimator's prediction as a small dict, or a dict with only a `note` saying why not."""
    if not config_path:
        return {"note": "no config file to estimate from"}
    try:
        command = importlib.import_module("ftlint.vram.command").estimate
    except Exception:  # not installed yet, or broken: the smoke still runs
        return {"note": "VRAM estimator (ftlint.vram) not available: no comparison"}
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
    if not isinstance(data, dict) or not isinstance(data.get("peak_bytes"), (int, float)):
        return {"note": "VRAM estimator gave no peak_bytes"}
    keep = ("peak_bytes", "required_bytes", "low_bytes", "high_bytes", "verdict", "gpu", "breakdown")
    pred = {k: data.get(k) for k in keep if data.get(k) is not None}
    pred["predicted_bytes"] = data["peak_bytes"]
    return pred
