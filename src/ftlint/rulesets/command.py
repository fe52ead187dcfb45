"""`ftlint test-rules`: run the tests inside ruleset files, like a test runner."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli import _handle_errors
from ..findings import UsageError


@click.command("test-rules")
@click.argument("paths", nargs=-1)
@click.option("--quiet", "-q", is_flag=True, help="Only failures and the summary line.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@_handle_errors
def test_rules(paths: tuple[str, ...], quiet: bool, debug: bool) -> None:
    """Run the valid/invalid examples and fixtures written under each rule of YAML rulesets
    (files, folders or built-in names; default: ./rulesets). Exit 1 when a test fails."""
    from . import find_ruleset_files
    from .testing import run_file

    targets = list(paths)
    if not targets:
        if not Path("rulesets").is_dir():
            raise UsageError("no ruleset given and no ./rulesets folder: pass ruleset files or folders")
        targets = ["rulesets"]
    files = find_ruleset_files(targets)
    if not files:
        raise UsageError(f"{', '.join(targets)}: no ruleset files (*.yaml, *.yml) found")
    passed = failed = 0
    for path in files:
        res = run_file(path)
        if res.skipped:
            if not quiet:
                click.echo(f"{path.as_posix()}: not a ruleset, skipped")
            continue
        if res.error:
            failed += 1
            click.echo(f"ERROR {res.error}")
            continue
        if not quiet:
            click.echo(res.file)
        for r in res.results:
            if r.passed:
                passed += 1
                if not quiet:
                    click.echo(f"  PASS {r.code} {r.name} {r.label}")
            else:
                failed += 1
                click.echo(f"  FAIL {r.code} {r.name} {r.label} ({res.file}:{r.line})")
                click.echo(f"       {r.detail}")
        if not quiet:
            for rule in res.untested:
                click.echo(f"  WARN {rule}: no tests (add `tests: valid:` and `invalid:` examples)")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
