"""The smoke report: what ran, what it measured, and the findings; rendered as text, JSON or SARIF.

No training-stack imports here: the command renders reports (including failures before the
stack is imported) without paying for torch.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..findings import Finding, Location, Severity


@dataclass
class StepStats:
    step: int
    loss: float | None = None
    grad_norm: float | None = None
    learning_rate: float | None = None
    seconds: float | None = None
    tokens: int | None = None          # non-padding tokens in the step's micro-batches
    tokens_per_s: float | None = None
    peak_allocated_bytes: int | None = None  # CUDA: running peak at the end of the step


@dataclass
class SmokeReport:
    config: str                                   # display path of the config
    status: str = "failed"                        # passed | failed
    device: str | None = None                     # e.g. "cuda:0 (NVIDIA H200)" or "cpu"
    device_note: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    quantization: str | None = None               # "4-bit nf4, double quant, compute bfloat16"
    adapter: str | None = None                    # "LoRA r=8 ...: 16,384 trainable of 155,968 (10.50%)"
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    steps: list[StepStats] = field(default_factory=list)
    eval_loss_before: float | None = None
    eval_loss_after: float | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    prediction: dict[str, Any] | None = None
    projection: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    # --- derived ---------------------------------------------------------------------------
    @property
    def losses(self) -> list[float | None]:
        return [s.loss for s in self.steps]

    @property
    def losses_finite(self) -> bool:
        return bool(self.steps) and all(s.loss is not None and math.isfinite(s.loss) for s in self.steps)

    @property
    def loss_fell(self) -> bool | None:
        vals = [s.loss for s in self.steps if s.loss is not None and math.isfinite(s.loss)]
        return None if len(vals) < 2 else vals[-1] < vals[0]

    @property
    def failed(self) -> bool:
        return any(f.severity >= Severity.ERROR for f in self.findings)

    def finish(self) -> "SmokeReport":
        self.status = "failed" if self.failed or not self.losses_finite else "passed"
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "config": self.config,
            "status": self.status,
            "device": self.device,
            "device_note": self.device_note,
            "model": self.model,
            "quantization": self.quantization,
            "adapter": self.adapter,
            "trainable_parameters": self.trainable_parameters,
            "total_parameters": self.total_parameters,
            "settings": self.settings,
            "data": self.data,
            "losses": [_num(x) for x in self.losses],
            "losses_finite": self.losses_finite,
            "loss_fell": self.loss_fell,
            "steps": [{k: _num(v) for k, v in asdict(s).items()} for s in self.steps],
            "eval_loss_before": _num(self.eval_loss_before),
            "eval_loss_after": _num(self.eval_loss_after),
            "memory": self.memory,
            "prediction": self.prediction,
            "projection": self.projection,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": self.notes,
            "versions": self.versions,
            "findings": [f.to_dict() for f in self.findings],
        }
        return out


def _num(x: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so a reader sees what happened."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


# --- locations in the config ---------------------------------------------------------------
class ConfigLocator:
    """Where a config spells a setting, for findings about it.

    With the configs package's document, a plan field's source pointer (`plan.sources`) is
    located exactly; otherwise the key is looked up as a top-level YAML key; else line 1.
    """

    def __init__(self, path: str | None, display: str, doc: Any = None, sources: dict[str, str] | None = None) -> None:
        self.display = display
        self.doc = doc
        self.sources = sources or {}
        self.lines: list[str] = []
        if path and os.path.isfile(path):
            try:
                self.lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self.lines = []

    def at(self, *keys: str) -> Location:
        """The first of `keys` (plan fields or config keys) that the config spells out."""
        for key in keys:
            pointer = self.sources.get(key)
            if pointer is not None and self.doc is not None and hasattr(self.doc, "locate"):
                try:
                    loc = self.doc.locate(pointer)
                except Exception:  # a locator problem must not hide the finding
                    loc = None
                if isinstance(loc, Location):
                    return loc
            pattern = re.compile(rf'^(\s*)["\']?{re.escape(key)}["\']?\s*:')
            for i, line in enumerate(self.lines, start=1):
                m = pattern.match(line)
                if m:
                    col = len(m.group(1)) + 1
                    return Location(self.display, i, col, i, col + len(key), "/" + key)
        return Location(self.display, 1, 1, 1, 1, "")


# --- rendering ---------------------------------------------------------------------------------
def _gb(n: Any) -> str:
    return f"{n / 1e9:.2f} GB" if isinstance(n, (int, float)) else "-"


def _fmt(x: Any, spec: str = ".4f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec) if math.isfinite(x) else str(x)
    return str(x)


def render_text(report: SmokeReport) -> str:
    r = report
    out: list[str] = []
    head = "PASSED" if r.status == "passed" else "FAILED"
    out.append(f"ftlint smoke {r.config}: {head}")
    if r.device:
        out.append(f"  device        {r.device}" + (f"  ({r.device_note})" if r.device_note else ""))
    if r.model:
        m = r.model
        out.append(f"  model         {m.get('path') or m.get('name')}  [{m.get('model_type', '?')}, "
                   f"source: {m.get('source', '?')}]")
    if r.quantization:
        out.append(f"  quantization  {r.quantization}")
    if r.adapter:
        out.append(f"  adapter       {r.adapter}")
    s = r.settings
    if s:
        out.append("  settings      " + ", ".join(f"{k}={v}" for k, v in s.items() if v is not None))
    d = r.data
    if d:
        out.append(f"  data          {d.get('train_examples', 0)} training examples (longest first, "
                   f"longest {d.get('longest_tokens', '-')} tokens) of {d.get('examples_read', 0)} read; "
                   f"{d.get('eval_examples', 0)} held out; format {d.get('row_kind', '-')}")
    if r.steps:
        out.append("  step  loss      grad_norm  seconds  tokens  tokens/s")
        for st in r.steps:
            out.append(f"  {st.step:>4}  {_fmt(st.loss):>8}  {_fmt(st.grad_norm):>9}  {_fmt(st.seconds, '.3f'):>7}"
                       f"  {_fmt(st.tokens):>6}  {_fmt(st.tokens_per_s, '.0f'):>8}")
        fell = {True: "yes", False: "no", None: "-"}[r.loss_fell]
        out.append(f"  losses finite: {'yes' if r.losses_finite else 'NO'}; loss fell: {fell}")
    if r.eval_loss_before is not None or r.eval_loss_after is not None:
        out.append(f"  held-out loss before {_fmt(r.eval_loss_before)} -> after {_fmt(r.eval_loss_after)}")
    mem = r.memory
    if mem.get("kind") == "cuda":
        line = (f"  peak memory   allocated {_gb(mem.get('max_allocated_bytes'))}, reserved "
                f"{_gb(mem.get('max_reserved_bytes'))}, device in use {_gb(mem.get('device_used_bytes'))} "
                f"of {_gb(mem.get('device_total_bytes'))}")
        out.append(line)
    elif mem.get("kind") == "cpu":
        out.append(f"  peak memory   process RSS {_gb(mem.get('peak_rss_bytes'))} (CPU run; no GPU measured)")
    if r.prediction:
        p = r.prediction
        if p.get("predicted_bytes") is not None:
            err = p.get("error_pct")
            out.append(f"  VRAM estimate {_gb(p.get('predicted_bytes'))} peak allocated"
                       + (f"; measured {_gb(p.get('measured_bytes'))}, error {err:+.1f}%" if err is not None
                          else " (compared with the measurement only on CUDA runs)"))
        elif p.get("note"):
            out.append(f"  VRAM estimate {p['note']}")
    if r.projection:
        pj = r.projection
        line = (f"  projection    {pj.get('total_steps')} optimizer steps x {_fmt(pj.get('seconds_per_step'), '.3f')} s "
                f"= {pj.get('duration')}")
        if pj.get("cost") is not None:
            line += f", about ${pj['cost']:.2f}"
        out.append(line + f" ({pj.get('basis')})")
    if r.timings:
        out.append("  timings       " + ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items()))
    for note in r.notes:
        out.append(f"  note: {note}")
    for f in r.findings:
        loc = f.location
        out.append(f"{loc.path}:{loc.line}:{loc.column}: {f.code} [{f.severity.label}] {f.message} ({f.name})")
    return "\n".join(out)


def render_json(report: SmokeReport) -> str:
    from ..output import dumps_json

    return dumps_json(report.to_dict())


def render_sarif(report: SmokeReport) -> str:
    """The findings as a SARIF log, through the same writer as `ftlint check`."""
    from ..engine import FileStats, Report
    from ..output.sarif import render
    from ..registry import builtin_rules

    rules = builtin_rules()
    used = [rules[c] for c in sorted({f.code for f in report.findings}) if c in rules]
    return render(Report(list(report.findings), [FileStats(report.config, kind="config")], used))


def render(report: SmokeReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        return render_sarif(report)
    return render_text(report)
