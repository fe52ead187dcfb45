"""FTV: VRAM fit of a training config on the chosen GPU (issue 6)."""

from __future__ import annotations

from typing import Any, Iterator

from ..findings import Finding, Severity, UsageError
from ..rule import Context, Rule

# Where to point: the key that sets the micro batch, else the method, else the model, per dialect.
ANCHOR_KEYS = (
    "/micro_batch_size", "/per_device_train_batch_size", "/params/batch_size", "/batch_size",
    "/adapter", "/finetuning_type", "/params/peft", "/load_in_4bit", "/sequence_len", "/cutoff_len", "/max_length",
    "/base_model", "/model_name_or_path", "/model",
)


class VramFit(Rule):
    """The training run does not fit (or barely fits) in the chosen GPU's memory.

    ## What it does
    When a GPU is set (`--gpu rtx-4090` on `ftlint check`, `gpu = "a100-80gb"` in the project
    config, or this rule's `gpu` / `gpu_memory` option), estimates the peak memory of one training
    step from the config alone — exact parameters, 4/8-bit storage, adapters, gradients, optimizer
    state, activations for the attention implementation and checkpointing, the logits/loss buffers,
    transients and the CUDA runtime margin — and compares what the card must hold with its memory.
    Error when the expected requirement exceeds the card, warning when only the high end of the
    range does. The message names the largest terms and the change that saves the most.

    ## Why it matters
    Out-of-memory is found today only after a rented GPU has downloaded and loaded the model, often
    at the first long batch or at the second step when the optimizer state appears. Fixed tables
    ignore the batch size and sequence length, which are exactly what users get wrong.

    ## Example
    ```yaml
    base_model: meta-llama/Meta-Llama-3-8B
    adapter: lora
    lora_target_linear: true
    sequence_len: 4096
    micro_batch_size: 4
    gradient_checkpointing: false
    ```
    `ftlint check train.yml --gpu rtx-4090`: LoRA in bf16 without checkpointing at 4 x 4096 tokens needs ~200 GiB.

    ## Use instead
    ```yaml
    base_model: meta-llama/Meta-Llama-3-8B
    adapter: qlora
    load_in_4bit: true
    lora_target_linear: true
    sequence_len: 2048
    micro_batch_size: 1
    gradient_accumulation_steps: 4
    gradient_checkpointing: true
    ```

    ## How to fix
    Run `ftlint estimate train.yml --gpu <id>` for the full breakdown and the savings of each
    change; the usual ones are gradient checkpointing, a smaller micro batch with more gradient
    accumulation, QLoRA, an 8-bit optimizer, a chunked loss (Liger) and a shorter sequence length.
    """

    code = "FTV001"
    name = "vram-fit"
    severity = Severity.ERROR
    scope = "config"
    tags = ("vram", "config", "cost")
    precision = "medium"
    default_options = {"gpu": None, "gpu_memory": None, "gpus": None}
    # gpu_memory: a size such as "24GiB", or a number of GiB
    option_types = {"gpu": str | None, "gpu_memory": str | float | None, "gpus": Rule.Option(int | None, min=1)}

    @classmethod
    def options_conflict(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        from ..vram.gpus import parse_memory

        memory = options.get("gpu_memory")
        if memory is None:
            return None
        if options.get("gpu"):
            return "gpu_memory", "give either gpu or gpu_memory, not both"
        if isinstance(memory, (int, float)) and not 0 < memory < float("inf"):  # 0 would switch the check off
            return "gpu_memory", f"expected a positive number of GiB (or a size such as \"24GiB\"), got {memory!r}"
        try:  # "" or "0GiB" would switch the check off too; "lots" would only be a note at run time
            parse_memory(_memory_text(memory))
        except UsageError as exc:
            return "gpu_memory", str(exc)
        return None

    def check_config(self, doc: Any, plan: Any, ctx: Context) -> Iterator[Finding]:
        from ..models import ModelNotFound
        from ..vram import estimate, human_bytes
        from ..vram.command import select_gpu
        from .config import _first_existing, model_arch_or_error

        if plan is None or not getattr(plan, "base_model", None):
            return
        settings = ctx.services.get("settings") if ctx.services else None
        gpu_name = self.options.get("gpu") or (getattr(settings, "gpu", None) if settings else None)
        memory = self.options.get("gpu_memory")
        memory = None if memory is None else _memory_text(memory)
        if not gpu_name and not memory:
            return
        anchor = doc.locate(_first_existing(doc, *ANCHOR_KEYS))
        try:
            gpu = select_gpu(None if memory else gpu_name, memory)
        except UsageError as exc:
            yield self.finding_at(anchor, f"Cannot check VRAM fit: {exc}.", severity=Severity.NOTE,
                                  key=f"{ctx.path}|usage")
            return
        # the same offline resolution as the FTG rules (never the hub; a model folder next to the config)
        arch = model_arch_or_error(plan, ctx, doc)
        if isinstance(arch, UsageError) and not isinstance(arch, ModelNotFound):
            yield self.finding_at(anchor, f"Cannot check VRAM fit: {arch}.", severity=Severity.NOTE,
                                  key=f"{ctx.path}|usage")
            return
        if gpu is None or arch is None or isinstance(arch, Exception):
            return  # an unknown model: the model rules say so; nothing to size here
        est = estimate(plan, arch, gpu, num_gpus=self.options.get("gpus"))
        if est.verdict not in ("oom", "tight"):
            return
        top = ", ".join(f"{k.replace('_', ' ')} {human_bytes(est.breakdown[k])}" for k in est.dominant(3))
        fix = ""
        if est.suggestions:
            s = est.suggestions[0]
            fix = f" Biggest saving: {s.change} ({human_bytes(s.saves_bytes)} less, {s.verdict})."
        per = " per GPU" if est.num_gpus > 1 else ""
        if est.verdict == "oom":
            msg = (f"Out of memory on {gpu.id}: the run needs about {human_bytes(est.required_bytes)}{per} "
                   f"(range {human_bytes(est.low_bytes)}-{human_bytes(est.high_bytes)}) but the card has "
                   f"{human_bytes(gpu.memory_bytes)}. Largest terms: {top}.{fix}")
            sev = Severity.ERROR
        else:
            msg = (f"Tight on {gpu.id}: expected {human_bytes(est.required_bytes)}{per} of "
                   f"{human_bytes(gpu.memory_bytes)}, up to {human_bytes(est.high_bytes)} in the worst case. "
                   f"Largest terms: {top}.{fix}")
            sev = Severity.WARNING
        msg += " Sized for the config's sequence length (worst case); `ftlint estimate` uses the data's lengths."
        yield self.finding_at(anchor, msg, severity=sev, key=f"{ctx.path}|{gpu.id}",
                              properties={"vram": est.as_dict()})


def _memory_text(memory: Any) -> str:
    """The `gpu_memory` option as the size parser reads it: a number is GiB, written out in full
    (1e-12 is not a size, 0.000000 is one that is too small)."""
    return format(memory, "f") if isinstance(memory, (int, float)) and not isinstance(memory, bool) else str(memory)
