"""The pre-commit hooks: the manifest, the light install, and (slow) the real `pre-commit try-repo`."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
HEAVY = {"torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "ray", "deepspeed",
         "vllm", "flash-attn", "xformers", "nvidia-ml-py"}


def _hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))}


def _selects(hook: dict, path: str) -> bool:
    return bool(re.search(hook["files"], path)) and not (hook.get("exclude") and re.search(hook["exclude"], path))


def test_manifest_is_valid_for_pre_commit() -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    hooks = clientlib.load_manifest(str(MANIFEST))
    assert [h["id"] for h in hooks][:2] == ["ftlint", "ftlint-config"]


def test_dataset_hook() -> None:
    hook = _hooks()["ftlint"]
    assert hook["entry"] == "ftlint check" and hook["language"] == "python"
    assert hook["require_serial"] is True
    assert hook["files"] == r"\.(jsonl|ndjson|json|csv|parquet)$"
    for path in ("train.jsonl", "data/a.ndjson", "b.json", "c.csv", "d/e.parquet", "my dir/x.jsonl"):
        assert _selects(hook, path), path
    for path in ("train.jsonl.bak", "notes.txt", "package.json", "web/package-lock.json", "tsconfig.base.json",
                 "data/dataset_info.json", ".vscode/settings.json", "train.yaml"):
        assert not _selects(hook, path), path


def test_config_hook() -> None:
    hook = _hooks()["ftlint-config"]
    assert hook["entry"].startswith("ftlint check") and hook["language"] == "python"
    assert hook["require_serial"] is True
    for path in ("train.yml", "configs/llama3_lora_sft.yaml", "examples/qlora.yml"):
        assert _selects(hook, path), path
    for path in (".github/workflows/ci.yml", ".pre-commit-config.yaml", "docker-compose.yml", "mkdocs.yml",
                 "train.jsonl", "rulesets/team.yaml"):
        assert not _selects(hook, path), path


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_hook_installs_only_the_light_core() -> None:
    project = _pyproject()["project"]
    names = {re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    assert not names & HEAVY, f"core dependencies pull in the training stack: {names & HEAVY}"
    assert project["scripts"]["ftlint"] == "ftlint.cli:main"  # the hook's entry


def test_example_pre_commit_config_uses_our_hooks() -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    path = ROOT / "examples" / ".pre-commit-config.yaml"
    config = clientlib.load_config(str(path))
    ids = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert ids <= set(_hooks()) and "ftlint" in ids


def test_example_workflow_uploads_sarif() -> None:
    wf = yaml.safe_load((ROOT / "examples" / "github-actions" / "ftlint.yml").read_text(encoding="utf-8"))
    assert wf["permissions"]["security-events"] == "write"
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    upload = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    assert len(upload) == 1
    lint = [s for s in steps if "--format sarif" in str(s.get("run", ""))]
    assert len(lint) == 1 and upload[0]["with"]["sarif_file"] in lint[0]["run"]
    assert f"--sarif-category {upload[0]['with']['category']}" in lint[0]["run"]


# --- the real thing ---------------------------------------------------------------------------
def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=ftlint-test", "-c", "user.email=test@example.invalid",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True)


def _snapshot(dest: Path) -> Path:
    """A git repo holding the checkout's current files (committed or not).

    `pre-commit try-repo <path>` installs from a commit: HEAD plus tracked changes, but never
    untracked files, so the test commits a copy of the working tree instead and stays
    independent of what happens to be committed.
    """
    wanted = ["pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml", "src"]
    dest.mkdir()
    for name in wanted:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, dest / name)
    if not (dest / "README.md").exists():  # pyproject's readme; the real one may not be written yet
        (dest / "README.md").write_text("# ftlint\n", encoding="utf-8")
    _git("init", "-q", cwd=dest)
    _git("add", "-A", cwd=dest)
    _git("commit", "-q", "-m", "snapshot", cwd=dest)
    return dest


def _clean_records(n: int) -> list[dict]:
    rng = random.Random(0)
    words = "data model answer question summary garden invoice policy refund shipping recipe weather".split()
    out = []
    for i in range(n):
        q = " ".join(rng.choice(words) for _ in range(8)).capitalize()
        a = " ".join(rng.choice(words) for _ in range(16)).capitalize()
        out.append({"messages": [{"role": "user", "content": f"{q} (question {i})?"},
                                 {"role": "assistant", "content": f"{a}."}]})
    return out


NETWORK_ERRORS = ("Could not find a version that satisfies", "NewConnectionError", "Temporary failure in name resolution",
                  "No matching distribution found", "ConnectTimeoutError", "Network is unreachable")


def _try_repo(repo: Path, hook: str, files: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_COLOR="never", NO_COLOR="1", PRE_COMMIT_HOME=str(cwd.parent / "pc-home"))
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(repo), hook, "--verbose", "--color", "never",
           "--files", *files]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and "An unexpected error has occurred" in out and any(e in out for e in NETWORK_ERRORS):
        pytest.skip("pre-commit could not install the hook's dependencies (no package index reachable)")
    return proc


@pytest.mark.slow
def test_try_repo_fails_broken_dataset_and_passes_clean_one(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = _snapshot(tmp_path / "ftlint-src")
    work = tmp_path / "project"
    (work / "data").mkdir(parents=True)
    clean = work / "data" / "clean.jsonl"
    clean.write_text("".join(json.dumps(r) + "\n" for r in _clean_records(60)), encoding="utf-8")
    broken = work / "data" / "broken.jsonl"
    lines = [json.dumps(r) for r in _clean_records(60)]
    lines[6] = '{"messages": [{"role": "user", "content": "unclosed"'
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _git("init", "-q", cwd=work)
    _git("add", "-A", cwd=work)

    failed = _try_repo(repo, "ftlint", ["data/broken.jsonl"], work)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "An unexpected error" not in out, out
    assert re.search(r"ftlint \(fine-tuning datasets\)\.+Failed", out), out
    assert "data/broken.jsonl" in out and "7:" in out and "FTP001" in out, out

    passed = _try_repo(repo, "ftlint", ["data/clean.jsonl"], work)
    out = passed.stdout + passed.stderr
    assert passed.returncode == 0, out
    assert re.search(r"ftlint \(fine-tuning datasets\)\.+Passed", out), out


@pytest.mark.slow
def test_hook_environment_is_light(tmp_path: Path) -> None:
    """The environment pre-commit builds for the hook has the core only: no torch, tens of MB."""
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = _snapshot(tmp_path / "ftlint-src")
    work = tmp_path / "project"
    work.mkdir()
    _git("init", "-q", cwd=work)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    config = {"repos": [{"repo": str(repo), "rev": head, "hooks": [{"id": "ftlint"}, {"id": "ftlint-config"}]}]}
    (work / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    home = tmp_path / "pc-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "install-hooks"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and any(e in out for e in NETWORK_ERRORS):
        pytest.skip("pre-commit could not install the hook's dependencies (no package index reachable)")
    assert proc.returncode == 0, out
    envs = [p for p in home.glob("repo*/py_env-*") if p.is_dir()]
    assert envs, f"no hook environment under {home}: {out}"
    site = [p for e in envs for p in e.glob("lib/python*/site-packages")]
    installed = {p.name.split("-")[0].lower() for s in site for p in s.glob("*.dist-info")}
    assert "ftlint" in installed
    assert not installed & {h.replace("-", "_") for h in HEAVY}, installed & HEAVY
    size = sum(f.stat().st_size for e in envs for f in e.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"\nhook environment: {size / 2**20:.0f} MiB, {len(installed)} distributions")
    assert size < 400 * 2**20, f"hook environment is {size / 2**20:.0f} MiB"
