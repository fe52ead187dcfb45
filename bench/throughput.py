"""Throughput benchmark: ftlint vs a plain-Python validator vs a bare parse, on one file.

    python bench/throughput.py --records 200000 [--jobs N] [--keep]

Generates a chat JSONL file from real text (the shared corpus when present, else this
repository's docs and fixtures), then times, each in a fresh subprocess with its peak RSS:
  floor      orjson.loads per line, nothing else
  peer       json.loads per line + format, role, empty-content and exact-duplicate checks
             (what users write from the OpenAI data-prep guide)
  ftlint     `ftlint check` with the default rules, no tokenizer
and prints a table with records/s, MB/s, peak RSS and the ratios.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

PEER = r'''
import json, sys, hashlib
seen = set(); problems = 0; n = 0
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        n += 1
        try:
            rec = json.loads(line)
        except ValueError:
            problems += 1; continue
        msgs = rec.get("messages") if isinstance(rec, dict) else None
        if not isinstance(msgs, list):
            problems += 1; continue
        for m in msgs:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
                problems += 1
            elif not isinstance(m.get("content"), str) or not m["content"].strip():
                problems += 1
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
            problems += 1
        key = hashlib.sha1(json.dumps(msgs, sort_keys=True).encode()).digest()
        if key in seen:
            problems += 1
        seen.add(key)
print(n, problems)
'''

FLOOR = r'''
import orjson, sys
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        orjson.loads(line); n += 1
print(n)
'''

MEASURE = r'''
import resource, runpy, sys, time
t = time.perf_counter()
sys.argv = sys.argv[1:]
try:
    if sys.argv[0] == "-c":
        code = sys.argv[1]; sys.argv = sys.argv[1:]
        exec(compile(code, "<bench>", "exec"), {"__name__": "__main__"})
    else:
        from ftlint.cli import main
        try:
            main(sys.argv, standalone_mode=False)
        except SystemExit:
            pass
finally:
    # peak RSS of this process, and of the largest worker process it forked (if any)
    sys.stderr.write(f"\nBENCH {time.perf_counter() - t:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} "
                     f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
'''


def texts() -> list[str]:
    out: list[str] = []
    for path in sorted(CORPUS.glob("llamafactory/data/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if isinstance(data, list):
            for rec in data:
                if isinstance(rec, dict):
                    for v in rec.values():
                        if isinstance(v, str) and len(v) > 20:
                            out.append(v)
    if not out:  # no corpus: use the repository's own prose
        for path in list(ROOT.glob("docs/*.md")) + [ROOT / "README.md"]:
            if path.is_file():
                out.extend(p for p in path.read_text().split("\n\n") if len(p) > 20)
    return out


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Chat records whose turns are random runs of real sentences: diverse like a real set."""
    rng = random.Random(seed)
    sentences = [s.strip() + "." for t in texts() for s in t.replace("\n", " ").split(". ") if len(s.split()) >= 4]
    def run(k: int) -> str:
        return " ".join(rng.choice(sentences) for _ in range(k))
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            turns = [{"role": "system", "content": "You are a helpful assistant."}] if i % 3 == 0 else []
            for _ in range(rng.choice((1, 1, 2))):
                turns.append({"role": "user", "content": run(rng.randint(2, 3))})
                turns.append({"role": "assistant", "content": run(rng.randint(2, 4))})
            fh.write(json.dumps({"messages": turns}, ensure_ascii=False) + "\n")


def run(args: list[str]) -> tuple[float, int, int, str]:
    proc = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True)
    line = [l for l in proc.stderr.splitlines() if l.startswith("BENCH ")][-1]
    _, secs, rss, child_rss = line.split()
    return float(secs), int(rss) * 1024, int(child_rss) * 1024, proc.stdout.strip()[-200:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--jobs", type=int, default=0, help="ftlint --jobs (0 = automatic)")
    ap.add_argument("--keep", action="store_true", help="keep the generated file in bench/out/")
    ap.add_argument("--only", choices=("floor", "peer", "ftlint"), action="append")
    ns = ap.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"chat_{ns.records}.jsonl"
    if not data.exists():
        t = time.perf_counter()
        generate(data, ns.records)
        print(f"generated {data} in {time.perf_counter() - t:.1f}s")
    size = data.stat().st_size
    # An installed wheel comes with its bytecode (pip compiles it). A source checkout run with
    # PYTHONDONTWRITEBYTECODE set would compile every ftlint module at each start (~0.1 s): once here.
    compileall.compile_dir(str(ROOT / "src"), quiet=1)
    rows = []
    which = ns.only or ["floor", "peer", "ftlint"]
    if "floor" in which:
        rows.append(("floor: orjson.loads per line", *run(["-c", FLOOR, str(data)])))
    if "peer" in which:
        rows.append(("peer: json.loads + format/role/empty/dup", *run(["-c", PEER, str(data)])))
    if "ftlint" in which:
        rows.append(("ftlint check (default rules)", *run(["check", str(data), "--quiet", "--jobs", str(ns.jobs)])))
    print(f"\n{ns.records:,} records, {size / 1e6:.1f} MB, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print(f"{'run':<44}{'seconds':>9}{'records/s':>12}{'MB/s':>8}{'peak RSS':>11}{'worker RSS':>12}")
    for name, secs, rss, child, _ in rows:
        print(f"{name:<44}{secs:>9.2f}{ns.records / secs:>12,.0f}{size / 1e6 / secs:>8.1f}{rss / 2**20:>7.0f} MiB"
              f"{(f'{child / 2**20:>8.0f} MiB' if child else '           -')}")
    times = {name.split(":")[0].split()[0]: secs for name, secs, _, _, _ in rows}
    if "ftlint" in times and "peer" in times:
        print(f"ratio ftlint / peer  = {times['ftlint'] / times['peer']:.2f}  (target <= 1.0)")
    if "ftlint" in times and "floor" in times:
        print(f"ratio ftlint / floor = {times['ftlint'] / times['floor']:.2f}")
    if not ns.keep:
        data.unlink()


if __name__ == "__main__":
    main()
