"""`ftlint estimate CONFIG`: will this training config fit the GPU, and what will it cost."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..findings import UsageError
from ..output import dumps_json, write_report
from .estimator import TERMS, Estimate, estimate as run_estimate, human_bytes
from .gpus import GPU, custom_gpu, find_gpu, gpu_ids

LABELS = {
    "weights": "frozen weights", "trainable_weights": "trainable weights (adapters / master)",
    "gradients": "gradients", "optimizer_state": "optimizer state", "activations": "activations",
    "logits_loss": "logits and loss", "transients": "transients", "runtime_margin": "runtime margin (context, allocator)",
}


def select_gpu(gpu: str | None, gpu_memory: str | None) -> GPU | None:
    if gpu and gpu_memory:
        raise UsageError("give either --gpu or --gpu-memory, not both")
    if gpu_memory:
        return custom_gpu(gpu_memory)
    if gpu:
        return find_gpu(gpu)
    return None


def data_lengths(doc: Any, plan: Any, settings: Any, limit: int = 200_000) -> tuple[list[int] | None, str]:
    """Token lengths of the training examples when the datasets are local and a tokenizer resolves."""
    try:
        from ..formats import detect_format, normalise
        from ..records import Record, reader_for
        from ..tokens import TokenService
    except ImportError:
        return None, "token counting is not available in this install"
    refs = [r for r in getattr(doc, "datasets", []) if r.exists and (r.split in (None, "train"))]
    if not refs:
        return None, "no local training dataset"
    spec = getattr(settings, "tokenizer", None) or getattr(settings, "model", None) or plan.tokenizer or plan.base_model
    if not spec:
        return None, "no tokenizer"
    svc = TokenService(spec, plan.chat_template)
    lengths: list[int] = []
    approx = False
    for ref in refs:
        reader = reader_for(ref.path)
        if reader is None or os.path.isdir(ref.path):
            continue
        batch: list[Any] = []

        def flush() -> None:
            nonlocal approx
            if not batch:
                return
            svc.prepare(batch, plan, None)
            for ex in batch:
                counts = ex.cache.get("tokens")
                if counts is not None and not counts.error:
                    lengths.append(int(counts.total))
                    approx = approx or counts.approximate
            batch.clear()

        try:
            for item in reader(ref.path, ref.path):
                if not isinstance(item, Record) or not isinstance(item.data, dict):
                    continue
                fmt = ref.format or detect_format(item.data)
                if fmt is None:
                    continue
                example, _ = normalise(item, fmt)
                batch.append(example)
                if len(batch) >= 1024:
                    flush()
                if len(lengths) + len(batch) >= limit:
                    break
            flush()
        except (OSError, UsageError):
            continue
    if not lengths:
        return None, "no countable examples in the local datasets"
    note = f"{len(lengths):,} examples tokenised" + (" (approximate counts: " + svc.approx_reason + ")" if approx else "")
    return lengths, note


def render_text(est: Estimate, config: str) -> str:
    lines = [f"{config}: {est.model}, {est.params:,} parameters, {est.trainable_params:,} trainable"]
    seq = est.sequence
    lines.append(f"micro batch {seq['micro_batch']} x {seq['padded_length']} tokens"
                 f"{' (from the data)' if seq.get('from_data') else ''}, gradient accumulation {seq['gradient_accumulation']}"
                 f"{f', {est.num_gpus} GPUs' if est.num_gpus > 1 else ''}; peak at the {est.peak_phase} step")
    lines.append("")
    width = max(len(v) for v in LABELS.values())
    for term in TERMS:
        value = est.breakdown.get(term, 0)
        share = "" if term == "runtime_margin" or not est.peak_bytes else f"{100 * value / est.peak_bytes:5.1f}%"
        lines.append(f"  {LABELS[term]:<{width}}  {human_bytes(value):>12}  {share}")
    lines.append(f"  {'peak (max_memory_allocated)':<{width}}  {human_bytes(est.peak_bytes):>12}")
    lines.append(f"  {'required on the card':<{width}}  {human_bytes(est.required_bytes):>12}"
                 f"   (range {human_bytes(est.low_bytes)} - {human_bytes(est.high_bytes)})")
    lines.append("")
    if est.gpu:
        verdict = {"fits": "FITS", "tight": "TIGHT", "oom": "OUT OF MEMORY"}[est.verdict or "fits"]
        lines.append(f"{verdict} on {est.gpu} ({human_bytes(est.gpu_bytes)}"
                     f"{' each' if est.num_gpus > 1 else ''}): needs {human_bytes(est.required_bytes)}")
    else:
        lines.append("no GPU given (--gpu rtx-4090 or --gpu-memory 24GiB) for a verdict")
    if est.suggestions:
        lines.append("")
        lines.append("Changes that save memory:")
        for s in est.suggestions[:8]:
            lines.append(f"  - {s.change}: saves {human_bytes(s.saves_bytes)} -> {human_bytes(s.required_bytes)}"
                         f"{f' ({s.verdict})' if est.gpu else ''}")
    t = est.time
    lines.append("")
    if t.get("hours") is not None:
        cost = f", about ${t['cost_usd']:,.2f} at ${t['price_per_hour']}/GPU-hour" if t.get("cost_usd") is not None else ""
        lines.append(f"Time: {t['tokens']:,} tokens x {t['flops_per_token'] / 1e9:.1f} GFLOP/token at {t['mfu']:.0%} "
                     f"utilisation: {t['hours']:.2f} h{cost} ({t['basis']})")
    else:
        lines.append(f"Time: {t.get('flops_per_token', 0) / 1e9:.1f} GFLOP per token; {t.get('basis')}")
    if est.assumptions:
        lines.append("")
        lines.append("Assumptions:")
        lines.extend(f"  - {a}" for a in est.assumptions)
    return "\n".join(lines)


@click.command("estimate")
@click.argument("config", type=click.Path())
@click.option("--gpu", help=f"GPU to check against: {', '.join(gpu_ids())} (common spellings accepted).")
@click.option("--gpu-memory", help="GPU memory instead of a known GPU, e.g. 24GiB, 80GB, 24576MiB.")
@click.option("--gpus", "num_gpus", type=click.IntRange(1, 4096), default=None,
              help="GPUs the run uses (default: the config's, else 1).")
@click.option("--model", help="Base model (hub id or local folder) instead of the config's.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to a file.")
@click.option("--price", type=click.FloatRange(0, None), default=None, help="USD per GPU-hour (default: the GPU table's).")
@click.option("--mfu", type=click.FloatRange(0.01, 1.0), default=None,
              help="Assumed model FLOPs utilisation (default: 0.40 full, 0.35 LoRA, 0.25 QLoRA).")
@click.option("--no-data", is_flag=True, help="Ignore the datasets; size for the config's sequence length.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Project config file.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def estimate(config: str, gpu: str | None, gpu_memory: str | None, num_gpus: int | None, model: str | None,
             output_format: str, output: str | None, price: float | None, mfu: float | None, no_data: bool,
             config_file: str | None, debug: bool) -> None:
    """Estimate peak GPU memory, a fit verdict, and time and cost for a training CONFIG."""
    from ..cli import _handle_errors

    _handle_errors(_estimate)(config, gpu, gpu_memory, num_gpus, model, output_format, output, price, mfu,
                              no_data, config_file, debug=debug)


def _estimate(config: str, gpu: str | None, gpu_memory: str | None, num_gpus: int | None, model: str | None,
              output_format: str, output: str | None, price: float | None, mfu: float | None, no_data: bool,
              config_file: str | None, debug: bool = False) -> None:
    from pathlib import Path

    from ..configs import load_config
    from ..models.resolve import near_config, resolve_arch
    from ..settings import find_project_config, load_settings

    if not os.path.exists(config):
        raise UsageError(f"{config}: no such file")
    if os.path.isdir(config):
        raise UsageError(f"{config}: is a directory, not a training config")
    settings = load_settings(Path(config_file) if config_file else find_project_config())
    if model:
        settings.model = model
    gpu_obj = select_gpu(gpu or (None if gpu_memory else settings.gpu), gpu_memory)
    doc = load_config(config, config, settings)
    plan = doc.plan
    if plan is None:  # say why, at the place the config reader found (as `smoke` does)
        first = doc.findings[0] if doc.findings else None
        where = f"{config}:{first.location.line}:{first.location.column}" if first else config
        raise UsageError(f"{where}: not a training config ftlint can read"
                         + (f": {first.message}" if first else ""))
    name = model or plan.base_model
    if not name:
        raise UsageError(f"{config}: no base model in the config (pass --model)")
    # a model given with --model is the user's path; the config's own is also looked for next to it
    arch = resolve_arch(name if model else near_config(name, config), trust_remote_code=plan.trust_remote_code)
    lengths, note = (None, "--no-data") if no_data else data_lengths(doc, plan, settings)
    est = run_estimate(plan, arch, gpu_obj, num_gpus=num_gpus, lengths=lengths, price_per_hour=price, mfu=mfu)
    if lengths is None and note not in ("--no-data", "no local training dataset"):
        est.assumptions.append(f"data lengths not used: {note}")
    elif lengths is not None:
        est.assumptions.append(f"lengths from the data: {note}")
    if output_format == "json":
        text = dumps_json(est.as_dict())
    else:
        text = render_text(est, config)
    write_report(text, output)
    sys.exit(1 if est.verdict == "oom" else 0)
