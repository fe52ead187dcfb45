#!/usr/bin/env python3
"""The longer fuzz campaign: coverage-guided (atheris) or property-based (hypothesis) fuzzing of
the readers, the location mapping, every rule, and the YAML loaders.

    python scripts/fuzz.py TARGET --seconds 240                 # atheris (pip install atheris)
    python scripts/fuzz.py TARGET --engine hypothesis --examples 5000
    python scripts/fuzz.py --list

Targets take raw bytes and raise `FuzzFailure` (or any exception) when an invariant breaks:

- reader:  bytes as a .jsonl/.json/.csv file; the reader never raises and every position lies
           inside the file.
- lint:    bytes as a dataset, the whole Linter with every rule selected; no exception, no FTX001
           internal-error finding, every location inside the file, and for JSON/JSONL findings with
           a pointer the text at (line, column) starts the value the pointer names.
- yaml:    bytes as a training config, a project config, a ruleset and a YAML schema; only
           UsageError / findings, never another exception.

A failing input is written to tests/regressions/inputs/<target>-<sha1>.<ext>;
tests/regressions/test_regressions.py replays every file there through the same target.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import orjson

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / "tests" / "regressions" / "inputs"
EXTS = (".jsonl", ".json", ".csv")


class FuzzFailure(AssertionError):
    """An invariant broke (as opposed to an exception escaping ftlint)."""


# ---------------------------------------------------------------------------------------------
# Shared state (built once per process: building a Linter costs far more than one input)

_STATE: dict[str, Any] = {}
_TMP = Path(tempfile.mkdtemp(prefix="ftlint-fuzz-"))


def _linter() -> Any:
    if "linter" not in _STATE:
        from ftlint.api import build_linter

        # every rule, opt-in ones included; no project config from the working directory
        empty = _TMP / ".ftlint.yaml"  # no project config from wherever the campaign runs
        empty.write_text("{}\n")
        linter, _ = build_linter(str(empty), {"select": ["FT"]})
        _STATE["linter"] = linter
    return _STATE["linter"]


def split_ext(data: bytes) -> tuple[str, bytes]:
    """The first byte chooses the file type, the rest is the content."""
    if not data:
        return ".jsonl", b""
    return EXTS[data[0] % len(EXTS)], data[1:]


def _write(content: bytes, ext: str, name: str = "data") -> Path:
    path = _TMP / f"{name}{ext}"
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------------------------------------
# Invariants

def _lines(content: bytes) -> list[str]:
    """The file's lines as ftlint numbers them: split on \\n only; BOM dropped."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    return content.decode("utf-8", "replace").split("\n")


def check_position(lines: list[str], line: int, column: int, what: str) -> None:
    if not 1 <= line <= len(lines):
        raise FuzzFailure(f"{what}: line {line} outside the file (1..{len(lines)})")
    limit = len(lines[line - 1]) + 1
    if not 1 <= column <= limit:
        raise FuzzFailure(f"{what}: column {column} outside line {line} (1..{limit})")


def _offset(text: str, line: int, column: int) -> int:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts[line - 1] + column - 1


def _resolve(value: Any, pointer: str) -> tuple[Any, bool]:
    """The value at the longest existing prefix of `pointer` (as Record.locate falls back)."""
    from ftlint.locate import split_pointer

    for token in split_pointer(pointer):
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return value, False
    return value, True


def check_value_at(content: bytes, ext: str, records: list[Any], finding: Any) -> None:
    """For JSON/JSONL: the finding's span lies inside the value its pointer names (the value at the
    longest existing prefix), and that value's span starts where the text decodes to exactly it.

    Most findings span the whole value; a few (a tool name inside a JSON string) point inside it.
    """
    loc = finding.location
    if loc.pointer is None or ext not in (".jsonl", ".json") or finding.code in ("FTP001", "FTP002"):
        return
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    text = content.decode("utf-8", "replace")
    pos, fend = _offset(text, loc.line, loc.column), _offset(text, *loc.end())
    owner = None
    for r in records:  # the record whose span holds the finding
        rl = r.locate("")
        if _offset(text, rl.line, rl.column) <= pos < max(_offset(text, *rl.end()), pos + 1):
            owner = r
    if owner is None:
        raise FuzzFailure(f"{finding.code} at {loc.line}:{loc.column}: inside no record")
    expected, _ = _resolve(owner.data, loc.pointer)
    vl = owner.locate(loc.pointer)
    vstart, vend = _offset(text, vl.line, vl.column), _offset(text, *vl.end())
    try:
        _, end = json.JSONDecoder().raw_decode(text, vstart)
        # the reader's own parser, so numbers compare alike (orjson reads integers over 64 bits as floats)
        decoded = (orjson.loads if ext == ".jsonl" else json.loads)(text[vstart:end])
    except (ValueError, RecursionError) as exc:
        raise FuzzFailure(f"{loc.pointer!r} of the record at line {owner.line} located at {vl.line}:{vl.column}, "
                          f"which starts no JSON value: {exc}") from None
    if decoded != expected or type(decoded) is not type(expected) or end != vend:
        raise FuzzFailure(f"{loc.pointer!r} of the record at line {owner.line} is {str(expected)[:80]!r}, but "
                          f"its location {vl.line}:{vl.column} holds {str(decoded)[:80]!r}")
    if not (vstart <= pos and (fend <= vend or loc.end() == (loc.line, loc.column + 1))):
        raise FuzzFailure(f"{finding.code} at {loc.line}:{loc.column}-{loc.end()} is outside the value of "
                          f"{loc.pointer!r} ({vl.line}:{vl.column}-{vl.end()})")


def target_reader(data: bytes) -> None:
    from ftlint.records import Problem, Record, reader_for

    ext, content = split_ext(data)
    path = _write(content, ext)
    lines = _lines(content)
    if ext == ".csv":  # the csv module ends rows at \r, \n or \r\n (universal newlines), and so count its lines
        lines = content.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for item in reader_for(str(path))(str(path), "data" + ext, 4096):
        if isinstance(item, Problem):
            check_position(lines, item.line, item.column, f"{item.code} {item.message}")
        elif isinstance(item, Record) and ext != ".csv":
            loc = item.locate("")
            check_position(lines, loc.line, loc.column, "record start")


def target_lint(data: bytes) -> None:
    from ftlint.records import Record, reader_for

    ext, content = split_ext(data)
    path = _write(content, ext)
    report = _linter().lint([str(path)])
    lines = _lines(content)
    records = [r for r in reader_for(str(path))(str(path), str(path), 16 << 20) if isinstance(r, Record)]
    for f in report.findings:
        if f.code == "FTX001":
            raise FuzzFailure(f"internal error: {f.message}")
        if f.location.path != str(path) and not f.location.path.endswith(path.name):
            continue  # dataset-level findings about no file
        if ext == ".csv":
            continue  # CSV positions are rows (a quoted field may span lines); checked by `reader`
        check_position(lines, f.location.line, f.location.column, f"{f.code} {f.message[:60]}")
        check_value_at(content, ext, records, f)


def target_yaml(data: bytes) -> None:
    from ftlint.findings import UsageError

    path = _write(data, ".yaml", "cfg")
    # 1. as a training config (the engine path: findings, never an exception)
    report = _linter().lint([str(path)]) if _is_config(path) else None
    if report is not None:
        bad = [f.message for f in report.findings if f.code == "FTX001"]
        if bad:
            raise FuzzFailure(f"internal error: {bad[0]}")
    from ftlint.configs import load_config

    load_config(str(path), "cfg.yaml", None)
    # 2. as a project config, 3. as a YAML JSON Schema, 4. as a ruleset
    from ftlint.jsonschemas import compile_schema, load_schema_file
    from ftlint.rulesets import load_rulesets
    from ftlint.settings import load_settings

    for step in (lambda: load_settings(path),
                 lambda: compile_schema(load_schema_file(str(path)), str(path), str(_TMP)),
                 lambda: load_rulesets([str(path)])):
        try:
            step()
        except UsageError:
            pass


def _is_config(path: Path) -> bool:
    from ftlint.engine import _kind

    return _kind(str(path), explicit=True) == "config"


TARGETS: dict[str, Callable[[bytes], None]] = {"reader": target_reader, "lint": target_lint, "yaml": target_yaml}


# ---------------------------------------------------------------------------------------------
# Seeds and failures

def seeds(target: str) -> list[bytes]:
    out: list[bytes] = []
    if target == "yaml":
        for folder in (ROOT / "fixtures" / "configs", ROOT / "rulesets", ROOT / "fixtures" / "rules"):
            out += [p.read_bytes()[:20_000] for p in sorted(folder.rglob("*.y*ml"))[:60]]
        return out
    for ext in EXTS:
        prefix = bytes([EXTS.index(ext)])
        for p in sorted((ROOT / "fixtures").rglob(f"*{ext}"))[:80]:
            out.append(prefix + p.read_bytes()[:20_000])
    return out


def save_failure(target: str, data: bytes, exc: BaseException) -> Path:
    INPUTS.mkdir(parents=True, exist_ok=True)
    ext = ".yaml" if target == "yaml" else ".bin"
    path = INPUTS / f"{target}-{hashlib.sha1(data).hexdigest()[:12]}{ext}"
    path.write_bytes(data)
    path.with_suffix(path.suffix + ".txt").write_text(f"{type(exc).__name__}: {str(exc)[:500]}\n")
    return path


def run_one(target: str, data: bytes) -> None:
    """What the regression test calls: the target with its invariants."""
    TARGETS[target](data)


# ---------------------------------------------------------------------------------------------
# Engines

def run_atheris(target: str, seconds: int, max_len: int) -> int:
    import atheris

    with atheris.instrument_imports(include=["ftlint"]):
        import ftlint.api  # noqa: F401
        import ftlint.configs  # noqa: F401
        import ftlint.records  # noqa: F401
        import ftlint.rules  # noqa: F401
    corpus = _TMP / f"corpus-{target}"
    corpus.mkdir(exist_ok=True)
    for i, s in enumerate(seeds(target)):
        (corpus / f"seed{i}").write_bytes(s)
    fn = TARGETS[target]
    found: list[Path] = []

    def one(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001 - every escape is a finding of the campaign
            if "UsageError" in type(exc).__name__ and target != "lint":
                return
            path = save_failure(target, data, exc)
            found.append(path)
            print(f"FAILURE {path.name}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            raise

    args = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-max_len={max_len}", "-timeout=20",
            "-rss_limit_mb=4096", "-print_final_stats=1"]
    atheris.Setup(args, one)
    atheris.Fuzz()
    return 0


def run_hypothesis(target: str, examples: int) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    fn = TARGETS[target]
    failures: list[str] = []
    last: list[tuple[bytes, BaseException]] = []  # hypothesis replays the shrunk example last

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
            st.sampled_from(["instruction", "input", "output", "messages", "role", "content", "conversations",
                             "from", "value", "prompt", "completion", "chosen", "rejected", "label", "text",
                             "tools", "tool_calls", "function", "name", "arguments", "system", "x"]) | st.text(max_size=5),
            inner, max_size=5),
        max_leaves=25)

    @st.composite
    def inputs(draw: Any) -> bytes:
        if target == "yaml":
            import yaml

            value = draw(json_values)
            try:
                text = yaml.safe_dump(value, allow_unicode=True)
            except yaml.YAMLError:
                text = ""
            return draw(st.sampled_from([text.encode(), draw(st.binary(max_size=200))]))
        ext = draw(st.integers(0, 2))
        recs = draw(st.lists(json_values, min_size=0, max_size=6))
        sep = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"]))
        indent = draw(st.sampled_from([None, 1, 2]))
        if ext == 0:
            body = sep.join(json.dumps(r, ensure_ascii=draw(st.booleans())).encode() for r in recs) + sep
        elif ext == 1:
            body = json.dumps(recs, indent=indent, ensure_ascii=False).encode()
        else:
            body = draw(st.binary(max_size=300))
        if draw(st.booleans()):  # damage it
            cut = draw(st.integers(0, len(body)))
            body = body[:cut] + draw(st.binary(max_size=8)) + body[cut + draw(st.integers(0, 3)):]
        return bytes([ext]) + body

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs())
    def prop(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001
            if "UsageError" in type(exc).__name__ and target != "lint":
                return
            last[:] = [(data, exc)]
            raise

    start = time.monotonic()
    try:
        prop()
    except Exception as exc:  # noqa: BLE001 - report and exit non-zero
        print(f"FAILURE: {type(exc).__name__}: {str(exc)[:300]}")
        if last:
            path = save_failure(target, *last[0])
            failures.append(f"{path.name}: {type(last[0][1]).__name__}: {str(last[0][1])[:200]}")
    print(f"{target}: {examples} examples in {time.monotonic() - start:.0f}s; failures: {failures or 'none'}")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", nargs="?", choices=sorted(TARGETS))
    ap.add_argument("--engine", choices=["atheris", "hypothesis"], default="atheris")
    ap.add_argument("--seconds", type=int, default=240, help="atheris: total time")
    ap.add_argument("--max-len", type=int, default=4096, help="atheris: largest input in bytes")
    ap.add_argument("--examples", type=int, default=2000, help="hypothesis: examples")
    ap.add_argument("--replay", nargs="*", help="run these saved inputs through the target and stop")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list or not args.target:
        print("targets:", ", ".join(sorted(TARGETS)))
        return 0
    if args.replay is not None:
        for p in args.replay:
            run_one(args.target, Path(p).read_bytes())
            print("ok", p)
        return 0
    if args.engine == "atheris":
        return run_atheris(args.target, args.seconds, args.max_len)
    return run_hypothesis(args.target, args.examples)


if __name__ == "__main__":
    sys.exit(main())
