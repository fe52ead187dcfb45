"""Command line: a thin layer over the engine, the formatters and the other services.

Every usage mistake or unusable input ends as one line on stderr and exit code 2;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import Any, Callable

import click

from . import __version__
from .findings import UsageError
from .formats import FORMATS as DATASET_FORMATS
from .output import FORMATS as OUTPUT_FORMATS
from .output import write_report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FAIL_ON = ("error", "warning", "note", "never")


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into one-line messages with exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or os.environ.get("FTLINT_DEBUG") == "1"
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except UsageError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"ftlint: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("ftlint: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # the reader went away (`ftlint rules | head`): stop quietly, like other CLI tools
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except RecursionError:
            if debug:
                traceback.print_exc()
            click.echo("ftlint: error: input is nested too deeply to process", err=True)
            sys.exit(EXIT_USAGE)
        except Exception as exc:  # last resort: never a bare traceback
            if debug:
                traceback.print_exc()
            click.echo(f"ftlint: internal error: {type(exc).__name__}: {exc} (rerun with --debug "
                       "and report it)", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper


class _Main(click.Group):
    """`ftlint --smoke CONFIG [smoke options]` is spelled out as `ftlint smoke CONFIG [smoke options]`,
    so the smoke's own options (--format, --steps, ...) work after the shortcut too.

    The commands that live beside the feature they drive are imported only when invoked (or
    listed by --help), so `ftlint check` never pays for their imports (rulesets, VRAM, smoke)."""

    LAZY = {"estimate": "ftlint.vram.command:estimate", "smoke": "ftlint.smoke.command:smoke",
            "test-rules": "ftlint.rulesets.command:test_rules"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, attr = self.LAZY[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args:
            if args[0] == "--smoke" and len(args) > 1:
                args = ["smoke", *args[1:]]
            elif args[0].startswith("--smoke="):
                args = ["smoke", args[0].split("=", 1)[1], *args[1:]]
        return super().parse_args(ctx, args)


@click.group(cls=_Main, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftlint")
@click.option("--smoke", "smoke_config", metavar="CONFIG", type=click.Path(),
              help="Shortcut for `ftlint smoke CONFIG`: a real short QLoRA training run.")
@click.pass_context
def main(ctx: click.Context, smoke_config: str | None) -> None:
    """ftlint: lint LLM fine-tuning datasets and training configs before the GPU is rented."""
    if smoke_config:
        smoke = main.get_command(ctx, "smoke")
        ctx.invoke(smoke, config=smoke_config)
        return
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def common_lint_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--format", "output_format", type=click.Choice(OUTPUT_FORMATS),
                     default="text", show_default=True, help="Output format."),
        click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to a file."),
        click.option("--select", multiple=True, help="Only these rules (code, prefix or name; repeatable, comma-separated)."),
        click.option("--ignore", multiple=True, help="Skip these rules (code, prefix or name)."),
        click.option("--extend-select", multiple=True, help="Add rules to the default selection."),
        click.option("--fail-on", type=click.Choice(FAIL_ON), default=None,
                     help="Lowest severity that makes the exit code 1 [default: warning]."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="Project config (pyproject.toml with [tool.ftlint], or .ftlint.yaml)."),
        click.option("--ruleset", "rulesets", multiple=True, help="YAML ruleset name or path (repeatable)."),
        click.option("--debug", is_flag=True, help="Show tracebacks for errors."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@main.command()
@click.argument("paths", nargs=-1, required=True)
@common_lint_options
@click.option("--format-hint", type=click.Choice(DATASET_FORMATS),
              help="Force the dataset format instead of detecting it.")
@click.option("--statistics", is_flag=True, help="Show counts per rule.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary line.")
@click.option("--no-color", is_flag=True, help="No ANSI colours.")
@click.option("--gpu", help="GPU to check VRAM fit against (e.g. rtx-4090, a100-80gb).")
@click.option("--dialect", type=click.Choice(["axolotl", "llamafactory", "trl", "autotrain"]),
              help="Training-config dialect, instead of detecting it from the keys.")
@click.option("--model", help="Base model (hub id or local folder) for token counts.")
@click.option("--tokenizer", help="Tokenizer folder or tokenizer.json for token counts.")
@click.option("--response-schema", type=click.Path(), help="JSON Schema every assistant response must satisfy.")
@click.option("--record-schema", type=click.Path(), help="JSON Schema every whole record must satisfy.")
@click.option("--sarif-category", help="SARIF automationDetails.id (one category per upload).")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes (0 = decide automatically).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Execution engine for very large datasets.")
@_handle_errors
def check(paths: tuple[str, ...], output_format: str, output: str | None, select: tuple[str, ...],
          ignore: tuple[str, ...], extend_select: tuple[str, ...], fail_on: str | None,
          config_file: str | None, rulesets: tuple[str, ...], debug: bool, format_hint: str | None,
          statistics: bool, quiet: bool, no_color: bool, gpu: str | None, model: str | None,
          tokenizer: str | None, response_schema: str | None, record_schema: str | None,
          sarif_category: str | None, jobs: int | None, engine: str, dialect: str | None = None) -> None:
    """Lint datasets and training configs (files or directories)."""
    from .api import build_linter, exit_code

    overrides = {
        "select": _split(select), "ignore": _split(ignore), "extend_select": _split(extend_select),
        "fail_on": fail_on, "format_hint": format_hint, "gpu": gpu, "model": model, "tokenizer": tokenizer,
        "response_schema": response_schema, "record_schema": record_schema, "rulesets": list(rulesets),
        "jobs": jobs, "dialect": dialect,
    }
    linter, settings = build_linter(config_file, overrides, debug=debug)
    if engine == "ray":
        from .distributed import lint_with_ray

        report = lint_with_ray(linter, list(paths))
    else:
        report = linter.lint(paths)
    from .output import get_formatter

    color = output_format == "text" and not no_color and output is None and sys.stdout.isatty() \
        and "NO_COLOR" not in os.environ
    text = get_formatter(output_format)(report, color=color, statistics=statistics, quiet=quiet,
                                         category=sarif_category)
    write_report(text, output)
    sys.exit(exit_code(report, settings.fail_on))


@main.command("rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
@click.option("--ruleset", "rulesets", multiple=True, help="Also list rules from these YAML rulesets.")
@_handle_errors
def list_rules(output_format: str, rulesets: tuple[str, ...]) -> None:
    """List every rule: code, name, default severity, summary."""
    from .api import available_rules

    rules = available_rules(list(rulesets))
    if output_format == "json":
        import orjson

        click.echo(orjson.dumps([{"code": c.code, "name": c.name, "severity": c.severity.label,
                                  "scope": c.scope, "tags": list(c.tags), "summary": c.summary(),
                                  "enabled_by_default": c.enabled_by_default, "source": c.source}
                                 for c in rules.values()], option=orjson.OPT_INDENT_2).decode())
        return
    for cls in rules.values():
        flag = "" if cls.enabled_by_default else " (opt-in)"
        click.echo(f"{cls.code}  {cls.name:<32} {cls.severity.label:<8} {cls.summary()}{flag}")


@main.command("rule")
@click.argument("code")
@click.option("--ruleset", "rulesets", multiple=True, help="Also look in these YAML rulesets.")
@_handle_errors
def show_rule(code: str, rulesets: tuple[str, ...]) -> None:
    """Explain one rule: what it does, why it matters, examples, how to fix."""
    from .api import available_rules
    from .registry import find_rule

    cls = find_rule(available_rules(list(rulesets)), code)
    click.echo(f"# {cls.code} {cls.name}\n")
    click.echo(f"Default severity: {cls.severity.label}. Scope: {cls.scope}. Tags: {', '.join(cls.tags) or '-'}."
               f"{'' if cls.enabled_by_default else ' Opt-in (enable with --extend-select).'}")
    specs = cls.option_specs()
    if specs:
        from .rule import Option

        click.echo(f"Options (in [tool.ftlint.rules.{cls.code}] or [tool.ftlint.rules.{cls.name}]):")
        for name, spec in specs.items():
            default = Option.show(cls.default_options[name]) if name in cls.default_options else "unset"
            click.echo(f"  {name}: {spec.label()}, default {default}")
    click.echo("")
    click.echo(cls.doc())

