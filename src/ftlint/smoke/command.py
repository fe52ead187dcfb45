"""`ftlint smoke CONFIG` (also `ftlint --smoke CONFIG`): a real short training run of a config.

Importing this module is cheap: the training stack is imported by the runner, only when a
smoke actually runs.
"""

from __future__ import annotations

import os
import sys

import click

from ..findings import UsageError


@click.command("smoke")
@click.argument("config", type=click.Path())
@click.option("--steps", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Optimizer steps to run.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU (bitsandbytes runs 4-bit there too).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to a file.")
@click.option("--max-examples", type=click.IntRange(1), default=1000, show_default=True,
              help="Records read per training file; the longest of them are trained on first.")
@click.option("--eval-examples", type=click.IntRange(0), default=4, show_default=True,
              help="Held-out examples for the loss before and after the steps (0: skip).")
@click.option("--trust-remote-code", is_flag=True,
              help="Allow a model's own Python code (never allowed by the config alone).")
@click.option("--gpu", help="GPU id for the VRAM estimate (default: the GPU found).")
@click.option("--hourly-cost", type=float, help="Price of one GPU hour (USD) for the projected cost.")
@click.option("--dialect", type=click.Choice(["axolotl", "llamafactory", "trl", "autotrain"]),
              help="Force the config dialect instead of detecting it.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def smoke(config: str, steps: int = 3, device: str = "auto", output_format: str = "text",
          output: str | None = None, max_examples: int = 1000, eval_examples: int = 4,
          trust_remote_code: bool = False, gpu: str | None = None, hourly_cost: float | None = None,
          dialect: str | None = None, debug: bool = False) -> None:
    """Train a few real steps of CONFIG (QLoRA/LoRA/full as configured) on its longest examples and
    report losses, memory, speed and the projected run time. Exit 1 when the smoke fails."""
    from ..cli import _handle_errors

    _handle_errors(_smoke)(config=config, steps=steps, device=device, output_format=output_format,
                           output=output, max_examples=max_examples, eval_examples=eval_examples,
                           trust_remote_code=trust_remote_code, gpu=gpu, hourly_cost=hourly_cost,
                           dialect=dialect, debug=debug)


def _smoke(config: str, steps: int, device: str, output_format: str, output: str | None, max_examples: int,
           eval_examples: int, trust_remote_code: bool, gpu: str | None, hourly_cost: float | None,
           dialect: str | None, debug: bool) -> None:
    from ..output import write_report
    from .report import render
    from .runner import SmokeOptions, run_smoke

    if debug:
        os.environ["FTLINT_DEBUG"] = "1"
    display, plan, doc = load_plan(config, dialect)
    opts = SmokeOptions(steps=steps, device=device, max_examples=max_examples, eval_examples=eval_examples,
                        trust_remote_code=trust_remote_code, gpu=gpu, hourly_cost=hourly_cost)
    report = run_smoke(plan, config_path=config, display=display, options=opts, doc=doc)
    write_report(render(report, output_format), output)
    sys.exit(1 if report.status != "passed" else 0)


def load_plan(config: str, dialect: str | None = None) -> tuple[str, object, object]:
    """(display path, TrainingPlan, ConfigDocument) of a config; UsageError when it is unusable."""
    from ..configs import load_config
    from ..engine import display_path
    from ..settings import find_project_config, load_settings

    display = display_path(config)
    if not os.path.exists(config):
        raise UsageError(f"{display}: no such file")
    if os.path.isdir(config):
        raise UsageError(f"{display}: is a directory, not a training config")
    settings = load_settings(find_project_config())
    if dialect:
        try:
            settings.dialect = dialect
        except (AttributeError, ValueError):
            object.__setattr__(settings, "dialect", dialect)
    doc = load_config(config, display, settings)
    if getattr(doc, "plan", None) is None:
        first = doc.findings[0] if getattr(doc, "findings", None) else None
        where = f"{display}:{first.location.line}:{first.location.column}" if first else display
        raise UsageError(f"{where}: {first.message if first else 'not a training config'}")
    return display, doc.plan, doc
