#!/usr/bin/env python
"""Measure real peak GPU memory with `ftlint smoke` on random-initialised models of real shapes.

Run by scripts/gpu_check.sh on a lent GPU (see that file for the wheels it needs). For each
shape (Llama-3.2-1B, Meta-Llama-3-8B) it builds the model with random weights directly on the
GPU, saves it once to local disk (the smoke loads models the way a trainer does, from a folder,
quantising on load), writes an Axolotl-style config per run and runs the smoke through the same
path as `ftlint smoke CONFIG --device cuda`: QLoRA and LoRA, a few sequence lengths, on
synthetic examples longer than the sequence length, so every micro batch is exactly
`sequence_len` tokens (the estimator's worst case).

Output: a JSON file in the format of src/ftlint/data/vram_measurements.json ({"schema": 1,
"entries": [...]}, kind "measured"), rewritten after every run so a timeout keeps what was
measured; `--merge FILE` adds (or replaces, by id) its entries in the repository's file.

    python scripts/gpu_check.py --out $OUT/vram_measurements.json --budget 420
    python scripts/gpu_check.py --cpu-selftest --out /tmp/selftest.json   # the flow, tiny, on the CPU
    python scripts/gpu_check.py --merge /path/to/vram_measurements.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TINY = ROOT / "fixtures" / "models" / "tiny-llama"
DATA_FILE = ROOT / "src" / "ftlint" / "data" / "vram_measurements.json"

# Real shapes (config.json values of the public models), weights random.
SHAPES = {
    "llama3-1b": {"catalog": "meta-llama/Llama-3.2-1B", "config": dict(
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, vocab_size=128256, max_position_embeddings=131072,
        tie_word_embeddings=True, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})},
    "llama3-8b": {"catalog": "meta-llama/Meta-Llama-3-8B", "config": dict(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=8192,
        tie_word_embeddings=False, rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 500000.0})},
    "selftest": {"catalog": None, "config": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, vocab_size=1024, max_position_embeddings=2048, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0})},
}

# In priority order (a run that would start after the budget is skipped).
RUNS = [
    # shape, method, sequence_len, micro_batch, gradient_checkpointing
    ("llama3-1b", "qlora", 1024, 1, True),
    ("llama3-1b", "qlora", 4096, 1, True),
    ("llama3-1b", "lora", 2048, 1, True),
    ("llama3-1b", "qlora", 2048, 2, False),
    ("llama3-8b", "qlora", 1024, 1, True),
    ("llama3-8b", "qlora", 4096, 1, True),
    ("llama3-8b", "lora", 2048, 1, True),
    ("llama3-8b", "qlora", 2048, 2, False),
]
SELFTEST_RUNS = [("selftest", "qlora", 128, 1, True), ("selftest", "lora", 256, 2, False)]
EXPECTED_SECONDS = {"llama3-1b": 25, "llama3-8b": 70, "selftest": 5}


def build_model(shape: str, folder: Path, device: str) -> float:
    """Random weights of `shape` saved as a loadable folder (with the tiny fixture tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    t = time.perf_counter()
    if (folder / "config.json").is_file():
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    tok_cfg = json.loads((TINY / "config.json").read_text())
    cfg = LlamaConfig(**SHAPES[shape]["config"], bos_token_id=None, eos_token_id=tok_cfg["eos_token_id"],
                      pad_token_id=tok_cfg["pad_token_id"], dtype="bfloat16")
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(folder, max_shard_size="5GB")
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(TINY / name, folder / name)
    return time.perf_counter() - t


def write_data(path: Path, min_tokens: int, n: int) -> None:
    """Examples longer than the sequence length: every trained batch is exactly sequence_len."""
    words = [w for w in (TINY / "tokenizer.json").read_text().split('"') if w.isalpha() and 3 < len(w) < 9][:400]
    words = words or ["tide", "moon", "water", "cloud"]
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            answer = " ".join(rng.choice(words) for _ in range(int(min_tokens * 1.3) + 64))
            fh.write(json.dumps({"instruction": f"Write note {i}.", "output": answer}) + "\n")


def write_config(path: Path, model: Path, data: Path, method: str, seq: int, micro: int, gc_on: bool) -> None:
    quant = "load_in_4bit: true\nadapter: qlora\n" if method == "qlora" else "adapter: lora\n"
    path.write_text(
        f"base_model: {model}\n{quant}lora_r: 16\nlora_alpha: 32\nlora_dropout: 0.05\nlora_target_linear: true\n"
        f"datasets:\n  - path: {data}\n    type: alpaca\ntrain_on_inputs: false\n"
        f"sequence_len: {seq}\nsample_packing: false\nmicro_batch_size: {micro}\ngradient_accumulation_steps: 1\n"
        f"num_epochs: 1\noptimizer: adamw_torch\nlearning_rate: 0.0002\nbf16: true\n"
        f"gradient_checkpointing: {'true' if gc_on else 'false'}\nattn_implementation: sdpa\n"
        "output_dir: /tmp/gpu_check_outputs\n", encoding="utf-8")


def entry_for(run: tuple, report: dict, plan, gpu_name: str, device: str, build_s: float) -> dict:
    shape, method, seq, micro, gc_on = run
    mem = report.get("memory") or {}
    pred = report.get("prediction") or {}
    plan_fields = {k: v for k, v in plan.model_dump().items() if k in (
        "dialect", "method", "load_in_4bit", "quant_type", "double_quant", "compute_dtype", "lora_r", "lora_alpha",
        "lora_dropout", "lora_target_modules", "sequence_len", "packing", "micro_batch_size",
        "gradient_accumulation_steps", "optimizer", "bf16", "fp16", "gradient_checkpointing",
        "attn_implementation", "train_on_inputs") and v is not None}
    oom = any(f["code"] == "FTK002" for f in report.get("findings", []))
    ident = f"smoke-{_gpu_id(gpu_name)}-{shape}-{method}-s{seq}-b{micro}{'-gc' if gc_on else ''}"
    return {
        "id": ident,
        "kind": "measured" if device == "cuda" else "selftest",
        "source": (f"scripts/gpu_check.py on {gpu_name}, {dt.date.today().isoformat()}: `ftlint smoke` through an "
                   "Axolotl-style config, random-initialised weights of the real shape, "
                   f"{len(report.get('losses') or [])} optimizer steps on examples longer than sequence_len"),
        "stack": report.get("versions", {}) | {"cuda": _cuda_version()},
        "gpu": _gpu_id(gpu_name),
        "model": SHAPES[shape]["catalog"],
        "plan": plan_fields,
        "measured": {"max_memory_allocated": mem.get("max_allocated_bytes"),
                     "max_memory_reserved": mem.get("max_reserved_bytes"),
                     "device_used": mem.get("device_used_bytes")},
        "compare": "allocated",
        "tolerance": 0.10,
        "oom": oom,
        "smoke": {"status": report.get("status"), "losses": report.get("losses"),
                  "step_seconds": [s.get("seconds") for s in report.get("steps", [])],
                  "tokens_per_s": [s.get("tokens_per_s") for s in report.get("steps", [])],
                  "predicted_peak_bytes": pred.get("predicted_bytes"), "error_pct": pred.get("error_pct"),
                  "prediction_note": pred.get("note"), "build_seconds": round(build_s, 1),
                  "timings": report.get("timings"), "findings": [f"{f['code']}: {f['message']}" for f in
                                                                 report.get("findings", [])]},
    }


def _gpu_id(name: str) -> str:
    from ftlint.smoke.estimate import gpu_id

    return gpu_id(name) or name.lower().replace(" ", "-")


def _cuda_version() -> str | None:
    import torch

    return torch.version.cuda


def measure(out: Path, budget: float, selftest: bool, workdir: Path) -> list[dict]:
    import torch

    from ftlint.smoke.command import load_plan
    from ftlint.smoke.report import render_json
    from ftlint.smoke.runner import SmokeOptions, run_smoke

    device = "cpu" if selftest else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (use --cpu-selftest to exercise the flow on the CPU)")
    gpu_name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    start = time.perf_counter()
    entries: list[dict] = []
    built: dict[str, float] = {}
    runs = SELFTEST_RUNS if selftest else RUNS
    for run in runs:
        shape, method, seq, micro, gc_on = run
        elapsed = time.perf_counter() - start
        cost = EXPECTED_SECONDS[shape] + (0 if shape in built else EXPECTED_SECONDS[shape])
        if elapsed + cost > budget:
            print(f"[{elapsed:6.0f}s] skip {run}: budget", flush=True)
            continue
        folder = workdir / shape
        if shape not in built:
            built[shape] = build_model(shape, folder, device)
            print(f"[{time.perf_counter() - start:6.0f}s] built {shape} in {built[shape]:.0f}s", flush=True)
        data = workdir / f"data-{seq}.jsonl"
        if not data.exists():
            write_data(data, seq, 8)
        cfg = workdir / f"{shape}-{method}-s{seq}-b{micro}-{int(gc_on)}.yml"
        write_config(cfg, folder, data, method, seq, micro, gc_on)
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            baseline = torch.cuda.memory_allocated()
        _, plan, doc = load_plan(str(cfg))
        report = json.loads(render_json(run_smoke(plan, config_path=str(cfg), display=cfg.name, doc=doc,
                                                  options=SmokeOptions(steps=3, device=device, eval_examples=0))))
        entry = entry_for(run, report, plan, gpu_name, device, built[shape])
        if device == "cuda":
            entry["smoke"]["baseline_allocated"] = baseline  # left over from earlier runs (should be ~0)
        entries.append(entry)
        m = entry["measured"]["max_memory_allocated"]
        p = entry["smoke"]["predicted_peak_bytes"]
        print(f"[{time.perf_counter() - start:6.0f}s] {entry['id']}: {report['status']}, losses {report['losses']}, "
              f"allocated {_gb(m)}, reserved {_gb(entry['measured']['max_memory_reserved'])}, predicted {_gb(p)}"
              + (f" ({entry['smoke']['error_pct']:+.1f}%)" if entry["smoke"]["error_pct"] is not None else "")
              + (f" findings {entry['smoke']['findings']}" if entry["smoke"]["findings"] else ""), flush=True)
        out.write_text(json.dumps({"schema": 1, "about": "measured by scripts/gpu_check.py; merge with --merge",
                                   "entries": entries}, indent=2) + "\n", encoding="utf-8")
    return entries


def _gb(n) -> str:
    return f"{n / 1e9:.2f} GB" if isinstance(n, (int, float)) else "-"


def merge(path: Path) -> None:
    """Add (or replace, by id) the measured entries of `path` in src/ftlint/data/vram_measurements.json."""
    new = [e for e in json.loads(path.read_text())["entries"] if e.get("kind") == "measured"
           and e.get("measured", {}).get("max_memory_allocated")]
    data = json.loads(DATA_FILE.read_text())
    ids = {e["id"] for e in new}
    data["entries"] = [e for e in data["entries"] if e["id"] not in ids] + new
    DATA_FILE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"merged {len(new)} measured entries into {DATA_FILE}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp")) / "vram_measurements.json")
    ap.add_argument("--budget", type=float, default=420, help="seconds; runs that would start later are skipped")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/ftlint-gpu-check"))
    ap.add_argument("--cpu-selftest", action="store_true", help="tiny shapes on the CPU: check the flow")
    ap.add_argument("--merge", type=Path, help="merge a results file into the repository's measurements")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    entries = measure(args.out, args.budget, args.cpu_selftest, args.workdir)
    print(f"wrote {len(entries)} entries to {args.out}")


if __name__ == "__main__":
    main()
