"""Per-rule cost: microseconds per record for reading, normalising and every enabled rule.

    python bench/rules.py FILE.jsonl [--select FTC,FTS] [--batch 1024]

Reads the whole file first (so reading is timed on its own), then runs each rule over all
examples in batches, as the engine does (`check_batch` / `collect_batch`, then `finish`).
Use it to find the rule that dominates before optimising; `bench/throughput.py` measures the
end-to-end run.
"""

from __future__ import annotations

import argparse
import time

from ftlint.api import build_linter
from ftlint.formats import detect_format, normalise
from ftlint.records import read_jsonl
from ftlint.rule import Context


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--select", default="", help="comma-separated codes or prefixes")
    ap.add_argument("--batch", type=int, default=1024)
    ns = ap.parse_args()
    linter, _ = build_linter()
    t = time.perf_counter()
    records = [r for r in read_jsonl(ns.file, ns.file) if hasattr(r, "data")]
    n = len(records)
    print(f"{'read':<44}{1e6 * (time.perf_counter() - t) / n:8.2f} us/record  ({n:,} records)")
    t = time.perf_counter()
    examples = [normalise(r, detect_format(r.data))[0] for r in records]
    print(f"{'normalise':<44}{1e6 * (time.perf_counter() - t) / n:8.2f}")
    fmt = examples[0].format
    ctx = Context(path=ns.file, file_format=fmt, services=linter.services)
    record_rules, dataset_rules = linter._rules_for(fmt, ctx, {})
    wanted = [s for s in ns.select.split(",") if s]
    total = 0.0
    for rule in record_rules + dataset_rules:
        if wanted and not any(rule.code.startswith(w) for w in wanted):
            continue
        ctx.options = rule.options
        t = time.perf_counter()
        facts = []
        for i in range(0, n, ns.batch):
            batch = examples[i:i + ns.batch]
            if rule.scope == "record":
                list(rule.check_batch(batch, ctx))
            else:
                facts.extend(f for f in rule.collect_batch(batch, ctx) if f is not None)
        spent = time.perf_counter() - t
        extra = ""
        if rule.scope == "dataset":
            t = time.perf_counter()
            list(rule.finish({ns.file: facts}, Context(services=linter.services, record_counts={ns.file: n})))
            finish = time.perf_counter() - t
            extra = f"   + finish {1e6 * finish / n:.2f}"
            spent += finish
        total += spent
        print(f"{rule.code + ' ' + rule.name:<44}{1e6 * spent / n:8.2f}{extra}")
    print(f"{'all rules':<44}{1e6 * total / n:8.2f}")


if __name__ == "__main__":
    main()
