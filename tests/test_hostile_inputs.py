"""Hostile inputs through the real CLI, in a subprocess with a timeout.

Every command (check, estimate, smoke, test-rules, rule, rules) fed a broken, malicious or
strange file must answer with exit 1 or 2 and a message naming the file: never a traceback,
never a hang, never the last-resort "internal error", and nothing in the input is executed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TIMEOUT = 90  # seconds; every case here finishes in about one
MARKER = "PWNED"  # a file that an executed YAML tag would create


def ftlint(*args: str, cwd: Path, timeout: int = TIMEOUT, python: list[str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("FTLINT_DEBUG", None)
    cmd = (python or [sys.executable, "-m", "ftlint"]) + list(args)
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace",
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ftlint {' '.join(args)} hung (no answer in {timeout}s)")


def assert_handled(res: subprocess.CompletedProcess, name: str, codes: tuple[int, ...] = (1, 2)) -> str:
    out = res.stdout + res.stderr
    assert res.returncode in codes, f"exit {res.returncode}:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert "internal error" not in out, out[-3000:]
    if '"$schema"' in res.stdout:  # SARIF lists every rule (FTX001 too) in its catalogue: look at results
        import json

        assert all(r["ruleId"] != "FTX001" for run in json.loads(res.stdout)["runs"] for r in run["results"])
    else:
        assert "FTX001" not in out, out[-3000:]
    assert name in out, f"{name!r} not named in:\n{out[-3000:]}"
    if res.returncode == 2:  # a usage error is one line on stderr
        assert res.stderr.strip().startswith("ftlint: error:") or res.stdout, res.stderr
    return out


# ---------------------------------------------------------------------------------------------
# Datasets

def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


DATASETS: dict[str, bytes] = {
    "truncated.jsonl": b'{"instruction": "a", "output": "b"}\n{"instruction": "a", "out',
    "truncated.json": b'[{"instruction": "a", "output": "b"}, {"instruction": "a", "out',
    "binary.jsonl": bytes(range(256)) * 40,
    "binary-no-nul.jsonl": bytes(range(1, 256)) * 40,
    "bad-utf8.jsonl": b'{"instruction": "caf\xe9", "output": "b"}\n',
    "bad-utf8.json": b'[{"instruction": "caf\xe9", "output": "b"}]',
    "bad-utf8.csv": b'instruction,output\ncaf\xe9,b\n',
    "utf16.jsonl": '{"instruction": "a", "output": "b"}\n'.encode("utf-16"),
    "utf16.json": '[{"instruction": "a", "output": "b"}]'.encode("utf-16"),
    "utf16.csv": 'instruction,output\na,b\n'.encode("utf-16"),
    "crlf.jsonl": b'{"instruction": "a", "output": "b"}\r\n{"instruction": "c", "output": ""}\r\n',
    "crlf.json": b'[\r\n{"instruction": "a", "output": "b"},\r\n{"instruction": "c", "output": ""}\r\n]\r\n',
    "nul.jsonl": b'{"instruction": "a", "output": "b"}\n' * 300 + b'{"instruction": "a\x00", "output": "b"}\n',
    "empty.jsonl": b"",
    "empty.json": b"",
    "empty.csv": b"",
    "blank.jsonl": b"\n   \n\t\n",
    "blank.json": b"  \n ",
    "deep.jsonl": _deep(100_000) + b"\n",
    "deep.json": _deep(100_000),
    "deep-object.json": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep-record.jsonl": b'{"instruction": "a", "output": "b", "x": ' + _deep(100_000) + b"}\n",
    "scalars.jsonl": b'[1, 2]\n42\n"text"\nnull\ntrue\n',
    "scalars.json": b'[[1, 2], 42, "text", null]',
    "number.json": b"42",
    "wrong-types.jsonl": (b'{"instruction": 1, "output": ["b"]}\n{"messages": "hi"}\n'
                          b'{"messages": [1, null, {"role": 5, "content": {"a": 1}}]}\n'
                          b'{"conversations": {"from": "human"}}\n{"prompt": null, "completion": 3.5}\n'
                          b'{"messages": [{"role": "assistant", "content": null, "tool_calls": "x"}], "tools": 7}\n'
                          b'{"prompt": [], "chosen": {}, "rejected": 1e999}\n'),
    "huge-numbers.jsonl": b'{"instruction": "a", "output": "b", "n": 1' + b"0" * 5000 + b'}\n',
    "lone-surrogate.jsonl": b'{"instruction": "\\ud800", "output": "b"}\n',
    "csv-ragged.csv": b'instruction,output\n"unterminated,b\nx,y,z,w\n',
    "not-parquet.parquet": b"PAR1 this is not parquet at all",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, blob in DATASETS.items():
        (folder / name).write_bytes(blob)
    return folder


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_hostile_dataset(hostile: Path, name: str) -> None:
    res = ftlint("check", name, cwd=hostile)
    assert_handled(res, name)


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
@pytest.mark.parametrize("name", ["binary.jsonl", "deep.json", "wrong-types.jsonl", "utf16.csv"])
def test_hostile_dataset_machine_formats(hostile: Path, name: str, fmt: str) -> None:
    res = ftlint("check", "--format", fmt, name, cwd=hostile)
    assert_handled(res, name)


def test_thirty_megabyte_line(tmp_path: Path) -> None:
    """A 30 MB single line is reported as FTP008 (over the default 16 MiB), and quickly."""
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"instruction": "' + b"a" * 30_000_000 + b'", "output": "b"}\n'
                    + b'{"instruction": "q", "output": "r"}\n')
    start = time.monotonic()
    res = ftlint("check", "--format", "json", "big.jsonl", cwd=tmp_path)
    out = assert_handled(res, "big.jsonl", (1,))
    assert '"FTP008"' in out and '"line": 1' in out
    assert time.monotonic() - start < 30


def test_thirty_megabyte_single_line_json_array(tmp_path: Path) -> None:
    """A minified JSON array is one long line by nature: it is read (whole-file), not refused."""
    big = tmp_path / "big.json"
    big.write_bytes(b'[{"instruction": "' + b"a" * 30_000_000 + b'", "output": "b"}]')
    res = ftlint("check", "big.json", cwd=tmp_path)
    assert_handled(res, "big.json", (1,))


def test_max_line_bytes_setting_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / ".ftlint.yaml").write_text("max-line-bytes: 100\n")
    (tmp_path / "d.jsonl").write_text('{"instruction": "a", "output": "b"}\n'
                                      '{"instruction": "' + "x" * 200 + '", "output": "b"}\n')
    res = ftlint("check", "--format", "json", "d.jsonl", cwd=tmp_path)
    out = assert_handled(res, "d.jsonl", (1,))
    assert '"FTP008"' in out and "over the limit of 100" in out


def test_directory_named_like_a_data_file(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").mkdir()
    assert_handled(ftlint("check", "data.jsonl", cwd=tmp_path), "data.jsonl", (2,))
    (tmp_path / "cfg.json").mkdir()
    (tmp_path / "train.yaml").mkdir()
    assert_handled(ftlint("estimate", "train.yaml", cwd=tmp_path), "train.yaml", (2,))
    assert_handled(ftlint("smoke", "--device", "cpu", "train.yaml", cwd=tmp_path), "train.yaml", (2,))
    assert_handled(ftlint("check", "train.yaml", cwd=tmp_path), "train.yaml", (2,))


def test_directory_named_like_a_data_file_inside_a_walk(tmp_path: Path) -> None:
    (tmp_path / "data" / "sub.jsonl").mkdir(parents=True)
    (tmp_path / "data" / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    res = ftlint("check", "data", cwd=tmp_path)
    assert_handled(res, "data/ok.jsonl", (1,))


@pytest.mark.parametrize("args", [
    ["check", "missing.jsonl"], ["check", "missing/"], ["estimate", "missing.yaml"],
    ["smoke", "--device", "cpu", "missing.yaml"], ["test-rules", "missing.yaml"],
    ["rules", "--ruleset", "missing.yaml"], ["rule", "FTP001", "--ruleset", "missing.yaml"],
    ["check", "ok.jsonl", "--response-schema", "missing.json"],
    ["check", "ok.jsonl", "--record-schema", "missing.json"],
    ["check", "ok.jsonl", "--ruleset", "missing.yaml"], ["check", "ok.jsonl", "--config", "missing.yaml"],
    ["check", "ok.jsonl", "--tokenizer", "missing/tokenizer.json"],
])
def test_missing_paths(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    assert_handled(ftlint(*args, cwd=tmp_path), "missing", (1, 2))


def test_symlink_loops(tmp_path: Path) -> None:
    """Regression: a symlink loop used to end as 'internal error: RuntimeError: Symlink loop'."""
    for a, b in (("a.jsonl", "b.jsonl"), ("a.yaml", "b.yaml"), ("a.json", "b.json")):
        os.symlink(b, tmp_path / a)
        os.symlink(a, tmp_path / b)
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    os.symlink(".", tmp_path / "self")  # a directory loop: the walk must not follow it forever
    for args, name in ((["check", "a.jsonl"], "a.jsonl"), (["check", "a.yaml"], "a.yaml"),
                       (["estimate", "a.yaml"], "a.yaml"), (["smoke", "--device", "cpu", "a.yaml"], "a.yaml"),
                       (["test-rules", "a.yaml"], "a.yaml"), (["rules", "--ruleset", "a.yaml"], "a.yaml"),
                       (["check", "ok.jsonl", "--response-schema", "a.json"], "a.json"),
                       (["check", "ok.jsonl", "--config", "a.yaml"], "a.yaml")):
        assert_handled(ftlint(*args, cwd=tmp_path), name)
    assert_handled(ftlint("check", ".", cwd=tmp_path), "ok.jsonl", (1,))


def test_fifo_named_like_a_dataset_does_not_hang(tmp_path: Path) -> None:
    """A named pipe with no writer would block `open()` forever."""
    os.mkfifo(tmp_path / "pipe.jsonl")
    assert_handled(ftlint("check", "pipe.jsonl", cwd=tmp_path, timeout=30), "pipe.jsonl", (2,))
    (tmp_path / "js.jsonl").write_text('{"instruction": "a", "output": "{}"}\n')
    for name in ("pipe.yaml", "pipe.json"):
        os.mkfifo(tmp_path / name)
    for args in (["check", "pipe.yaml"], ["estimate", "pipe.yaml"], ["smoke", "--device", "cpu", "pipe.yaml"],
                 ["check", "js.jsonl", "--response-schema", "pipe.json"], ["test-rules", "pipe.yaml"],
                 ["check", "js.jsonl", "--ruleset", "pipe.yaml"], ["check", "js.jsonl", "--config", "pipe.yaml"]):
        assert_handled(ftlint(*args, cwd=tmp_path, timeout=30), args[-1], (1, 2))
    (tmp_path / "walk").mkdir()
    os.mkfifo(tmp_path / "walk" / "pipe.jsonl")  # skipped in a directory walk
    (tmp_path / "walk" / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    assert_handled(ftlint("check", "walk", cwd=tmp_path, timeout=30), "walk/ok.jsonl", (1,))


# A wrapper that runs the CLI with `open` failing with EACCES for one path: tests run as root,
# where chmod 000 does not stop a read.
_DENY = """
import builtins, io, os, sys
target = os.path.realpath(sys.argv[1])
real_open, real_io_open, real_os_open = builtins.open, io.open, os.open
def _check(file):
    if isinstance(file, (str, bytes, os.PathLike)) and os.path.realpath(os.fsdecode(file)) == target:
        raise PermissionError(13, "Permission denied", os.fsdecode(file))
def fake_open(file, *a, **k):
    _check(file); return real_open(file, *a, **k)
def fake_os_open(file, *a, **k):
    _check(file); return real_os_open(file, *a, **k)
builtins.open = io.open = fake_open
os.open = fake_os_open
import pathlib
sys.argv = ["ftlint"] + sys.argv[2:]
from ftlint.cli import main
main()
"""


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "config", "ruleset", "schema", "project"])
def test_unreadable_files(tmp_path: Path, kind: str) -> None:
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    locked = {"jsonl": "locked.jsonl", "json": "locked.json", "csv": "locked.csv", "config": "locked.yaml",
              "ruleset": "locked.yaml", "schema": "locked.json", "project": "locked.yaml"}[kind]
    (tmp_path / locked).write_text("{}\n" if kind != "config" else "base_model: x\nadapter: lora\n")
    args = {"jsonl": ["check", locked], "json": ["check", locked], "csv": ["check", locked],
            "config": ["check", locked], "ruleset": ["check", "ok.jsonl", "--ruleset", locked],
            "schema": ["check", "ok.jsonl", "--response-schema", locked],
            "project": ["check", "ok.jsonl", "--config", locked]}[kind]
    if os.geteuid() != 0:  # the real thing where it works
        (tmp_path / locked).chmod(0)
        res = ftlint(*args, cwd=tmp_path)
    else:
        res = ftlint(locked, *args, cwd=tmp_path, python=[sys.executable, "-c", _DENY])
    out = assert_handled(res, locked, (1, 2))
    assert "ermission denied" in out


def test_unreadable_config_for_estimate_and_smoke(tmp_path: Path) -> None:
    (tmp_path / "locked.yaml").write_text("base_model: x\nadapter: lora\n")
    for args in (["estimate", "locked.yaml"], ["smoke", "--device", "cpu", "locked.yaml"]):
        res = ftlint("locked.yaml", *args, cwd=tmp_path, python=[sys.executable, "-c", _DENY])
        assert_handled(res, "locked.yaml", (1, 2))


# ---------------------------------------------------------------------------------------------
# A file that changes while it is read

def _mutate(path: Path, stop: threading.Event) -> None:
    line = b'{"instruction": "grow", "output": "x"}\n'
    i = 0
    while not stop.is_set():
        i += 1
        try:
            if i % 3 == 0:
                with open(path, "r+b") as fh:
                    fh.truncate(max(0, os.path.getsize(path) // 2 - 7))  # cut a record in half
            else:
                with open(path, "ab") as fh:
                    fh.write(line * 2000)
        except OSError:
            pass
        time.sleep(0.001)


@pytest.mark.parametrize("name", ["moving.jsonl", "moving.json", "moving.csv"])
def test_file_changing_while_read(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rec = '{"instruction": "q%d", "output": "a"}'
    if name.endswith(".csv"):
        path.write_text("instruction,output\n" + "".join(f"q{i},a\n" for i in range(50_000)))
    elif name.endswith(".json"):
        path.write_text("[" + ",\n".join(rec % i for i in range(50_000)) + "]")
    else:
        path.write_text("".join(rec % i + "\n" for i in range(50_000)))
    stop = threading.Event()
    worker = threading.Thread(target=_mutate, args=(path, stop), daemon=True)
    worker.start()
    try:
        for _ in range(3):
            res = ftlint("check", "--jobs", "2", name, cwd=tmp_path)
            assert_handled(res, name, (1,))
    finally:
        stop.set()
        worker.join()


# ---------------------------------------------------------------------------------------------
# YAML and JSON files that drive ftlint: training configs, project configs, rulesets, schemas

BOMB = "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
               for p, c in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi"))


def _tag_yaml(marker: Path) -> str:
    return (f'base_model: !!python/object/apply:os.system ["touch {marker}"]\n'
            f'rules: !!python/object/new:subprocess.Popen [["touch", "{marker}"]]\n'
            f'name: !!python/name:os.system\n'
            f'prefix: !!python/object/apply:builtins.eval ["open(\'{marker}\', \'w\')"]\n')


def control_files(marker: Path) -> dict[str, bytes]:
    return {
        "bomb": (BOMB + "base_model: x\nrules: *i\nextend-select: *i\ntype: object\n"
                 "properties: {x: {enum: *i}}\n").encode(),
        "bomb-nested": (BOMB + "select: [*i]\n").encode(),
        "self-alias": b"a: &a [*a]\n",
        "python-tags": _tag_yaml(marker).encode(),
        "deep": b"[" * 100_000 + b"\n",
        "deep-map": b"{a: " * 5000 + b"1" + b"}" * 5000 + b"\n",
        "binary": bytes(range(256)) * 20,
        "utf16": "base_model: x\nname: y\n".encode("utf-16"),
        "bad-utf8": b"base_model: caf\xe9\n",
        "truncated": b"base_model: x\ndatasets:\n  - path: [a, b\n",
        "list": b"- 1\n- 2\n",
        "scalar": b"42\n",
        "wrong-types": (b"base_model: [1, 2]\nlearning_rate: abc\ndatasets: 5\nsequence_len: -3\n"
                        b"select: 7\nignore: {a: 1}\nname: [x]\nprefix: 9\nrules: 3\n"
                        b"type: 12\nproperties: []\nfail-on: 3\nmax-line-bytes: lots\n"),
        "multi-doc": b"a: 1\n---\nb: 2\n",
        "huge": b"# " + b"x" * (9 * 1024 * 1024) + b"\nbase_model: x\n",
    }


# Each role: how the file is passed; the exit codes accepted; whether an unusable but valid-YAML
# file (e.g. a list) can legitimately be accepted.
ROLES = {
    "config-check": (["check", "{f}.yaml"], ".yaml"),
    "config-estimate": (["estimate", "{f}.yaml", "--gpu", "rtx-4090"], ".yaml"),
    "config-smoke": (["smoke", "--device", "cpu", "--steps", "1", "{f}.yaml"], ".yaml"),
    "ruleset-check": (["check", "ok.jsonl", "--ruleset", "{f}.yaml"], ".yaml"),
    "ruleset-test": (["test-rules", "{f}.yaml"], ".yaml"),
    "ruleset-rules": (["rules", "--ruleset", "{f}.yaml"], ".yaml"),
    "ruleset-rule": (["rule", "FTP001", "--ruleset", "{f}.yaml"], ".yaml"),
    "schema-response-yaml": (["check", "js.jsonl", "--response-schema", "{f}.yaml"], ".yaml"),
    "schema-record-json": (["check", "js.jsonl", "--record-schema", "{f}.json"], ".json"),
    "project-config": (["check", "ok.jsonl", "--config", "{f}.yaml"], ".yaml"),
}


@pytest.fixture(scope="module")
def control_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("control")
    (folder / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    (folder / "js.jsonl").write_text('{"instruction": "a", "output": "{\\"x\\": 1}"}\n')
    for name, blob in control_files(folder / MARKER).items():
        (folder / f"{name}.yaml").write_bytes(blob)
        (folder / f"{name}.json").write_bytes(blob)
    return folder


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("case", sorted(control_files(Path("x"))))
def test_hostile_control_file(control_dir: Path, role: str, case: str) -> None:
    template, ext = ROLES[role]
    args = [a.replace("{f}", case) for a in template]
    name = case + ext
    res = ftlint(*args, cwd=control_dir)
    out = res.stdout + res.stderr
    assert not (control_dir / MARKER).exists(), "a YAML tag was executed"
    assert "Traceback" not in out and "internal error" not in out and "FTX001" not in out, out[-3000:]
    if case == "huge" and not role.startswith("config"):
        return  # a 9 MB file of comments is refused as a training config only (size limit); elsewhere it is data
    if role == "config-check" and case in ("list", "scalar"):
        # a valid YAML document that is no mapping: an FTG021 warning (an error with --dialect)
        assert res.returncode == 1 and name in out and "FTG021" in out, out[-3000:]
        return
    if role == "ruleset-test" and "not a ruleset, skipped" in out:
        # test-rules skips YAML that is clearly not a ruleset (valid YAML, no rules/prefix keys)
        assert case in ("list", "scalar", "multi-doc") or name in out
        return
    assert_handled(res, name)


def test_python_tags_in_a_project_pyproject_are_just_strings(tmp_path: Path) -> None:
    """TOML has no tags; a TOML string that looks like one is data, never run."""
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.ftlint]\nmodel = "!!python/object/apply:os.system [\\"touch {tmp_path / MARKER}\\"]"\n')
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    ftlint("check", "ok.jsonl", cwd=tmp_path)
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("content", [
    b"[tool.ftlint]\nselect = [1,\n",                          # broken TOML
    b"[tool.ftlint]\nselect = " + b"[" * 100_000 + b"\n",       # deeply nested TOML
    b"[tool.ftlint]\nselect = 5\n",                             # wrong type
    b"[tool.ftlint]\nunknown-setting = true\n",                 # unknown key
    b"[tool.ftlint]\nfail-on = \"sometimes\"\n",                # bad value
    b"[tool.ftlint]\nmodel = \"caf\xe9\"\n",                    # invalid UTF-8
    b"[tool.ftlint]\nrules = { FTD001 = 3 }\n",                 # rule options not a table
    b"[tool.ftlint]\nresponse-schema = \"nope.json\"\n",        # a path that is not there
])
def test_broken_pyproject(tmp_path: Path, content: bytes) -> None:
    """Regression: a pyproject.toml with [tool.ftlint] that failed to parse was silently ignored."""
    (tmp_path / ".git").mkdir()  # the search for a project config stops at the repository root
    (tmp_path / "pyproject.toml").write_bytes(content)
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    for args in (["check", "ok.jsonl"], ["rules"], ["rule", "FTP001"]):
        res = ftlint(*args, cwd=tmp_path)
        if args[0] != "check" and res.returncode == 0:
            continue  # `rules`/`rule` read no project config unless it names rulesets
        # the missing schema is named itself (the file that is wrong), the rest by the config file
        assert_handled(res, "nope.json" if b"nope.json" in content else "pyproject.toml", (2,))


def test_broken_dot_ftlint_yaml_found_by_search(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".ftlint.yaml").write_text(BOMB + "extend-select: *i\n")
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    start = time.monotonic()
    assert_handled(ftlint("check", "ok.jsonl", cwd=tmp_path), ".ftlint.yaml", (2,))
    assert time.monotonic() - start < 20


def test_broken_json_schema_files(tmp_path: Path) -> None:
    (tmp_path / "js.jsonl").write_text('{"instruction": "a", "output": "{\\"x\\": 1}"}\n')
    cases = {
        "truncated.json": b'{"type": "object", "properties": {',
        "not-a-schema.json": b'{"type": 12}',
        "bad-regex.json": b'{"type": "string", "pattern": "(["}',
        "list.json": b"[1, 2]",
        "bad-ref.json": b'{"$ref": "http://example.com/elsewhere.json"}',
        "ref-file.json": b'{"$ref": "/etc/passwd"}',
        "ref-loop.json": b'{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}',
        "deep.json": b'{"items": ' * 50_000 + b"{}" + b"}" * 50_000,
        "empty.json": b"",
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        for flag in ("--response-schema", "--record-schema"):
            res = ftlint("check", "js.jsonl", flag, name, cwd=tmp_path)
            assert_handled(res, name, (1, 2) if name != "ref-loop.json" else (0, 1, 2))


def test_broken_ruleset_semantics(tmp_path: Path) -> None:
    (tmp_path / "ok.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    cases = {
        "bad-regex.yaml": "name: t\nprefix: ABC\nrules:\n  - code: ABC001\n    name: r\n    message: m\n"
                          "    given: $.instruction\n    then: {function: pattern, functionOptions: {match: '(['}}\n",
        "bad-path.yaml": "name: t\nprefix: ABC\nrules:\n  - code: ABC001\n    name: r\n    message: m\n"
                         "    given: '$..[?('\n    then: {function: truthy}\n",
        "extends-loop.yaml": "name: t\nprefix: ABC\nextends: [extends-loop.yaml]\nrules: []\n",
        "extends-passwd.yaml": "name: t\nprefix: ABC\nextends: [/etc/passwd]\nrules: []\n",
        "fixture-escape.yaml": "name: t\nprefix: ABC\nrules:\n  - code: ABC001\n    name: r\n    message: m\n"
                               "    given: $.instruction\n    then: {function: truthy}\n"
                               "    fixtures: [{file: /etc/shadow, expect: []}]\n",
        "function-import.yaml": "name: t\nprefix: ABC\nrules:\n  - code: ABC001\n    name: r\n    message: m\n"
                                "    given: $.instruction\n    then: {function: os.system}\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        for args in (["check", "ok.jsonl", "--ruleset", name], ["test-rules", name], ["rules", "--ruleset", name]):
            res = ftlint(*args, cwd=tmp_path)
            out = res.stdout + res.stderr
            assert "Traceback" not in out and "internal error" not in out, out
            if name == "extends-loop.yaml" and res.returncode == 0:
                continue  # extending itself may be accepted as a no-op
            # a ruleset that extends /etc/passwd: the error names the file it read, nothing of its content
            assert_handled(res, "/etc/passwd" if name == "extends-passwd.yaml" else name)
            assert "root:" not in out  # nothing of /etc/passwd or /etc/shadow is printed


# ---------------------------------------------------------------------------------------------
# Security: secrets never printed, inputs never modified, nothing executed, configs are data

SECRETS = {
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "github": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "slack": "xoxb-2048-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
}


def _secret_dataset(folder: Path) -> None:
    s = SECRETS
    lines = [
        {"instruction": f"Use the key {s['stripe']} to charge", "output": f"Done with {s['github']}."},
        {"messages": [{"role": s["slack"], "content": "hi"}, {"role": "assistant", "content": s["stripe"]}]},
        {s["github"]: "a secret as a key", "instruction": "x", "output": "y"},
    ]
    import json as _json

    (folder / "train.jsonl").write_text("".join(_json.dumps(r) + "\n" for r in lines))
    (folder / "keys.jsonl").write_text(_json.dumps({s["stripe"]: 1, s["github"]: 2}) + "\n")
    (folder / "tool.jsonl").write_text(_json.dumps({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": s["github"], "arguments": _json.dumps({"token": s["stripe"]})}}]}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}) + "\n")


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_secrets_never_appear_in_any_output_format(tmp_path: Path, fmt: str) -> None:
    """Regression: a secret used as a record key was printed by FTP007 ('keys of the first record')."""
    _secret_dataset(tmp_path)
    res = ftlint("check", "--format", fmt, "--statistics", "--extend-select", "FTS", "--fail-on", "note",
                 "train.jsonl", "keys.jsonl", "tool.jsonl", cwd=tmp_path)
    out = assert_handled(res, "train.jsonl", (1,))
    assert "FTS001" in out  # the secrets were found (the test is not vacuous) ...
    for value in SECRETS.values():  # ... and never printed
        assert value not in out, f"{value} printed in {fmt} output"
        assert value[:16] not in out


def test_secrets_in_a_training_config_are_not_printed(tmp_path: Path) -> None:
    (tmp_path / "train.yaml").write_text(
        f"base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nhub_token: {SECRETS['github']}\n"
        f"wandb_api_key: {SECRETS['stripe']}\n{SECRETS['slack']}: 1\ndatasets:\n  - path: d.jsonl\n    type: alpaca\n")
    (tmp_path / "d.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    for args in (["check", "train.yaml"], ["check", "--format", "sarif", "train.yaml"],
                 ["estimate", "train.yaml", "--gpu", "rtx-4090"], ["estimate", "--format", "json", "train.yaml"],
                 ["smoke", "--device", "cpu", "train.yaml"]):
        res = ftlint(*args, cwd=tmp_path)
        out = res.stdout + res.stderr
        assert "Traceback" not in out
        for value in SECRETS.values():
            assert value not in out, f"{value} printed by {args}"


def _tree_digest(folder: Path) -> dict[str, str]:
    import hashlib

    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.is_file():
            out[str(p.relative_to(folder))] = "link" if p.is_symlink() else "dir"
            continue
        st = p.stat()
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest() + f"/{st.st_mtime_ns}/{st.st_mode}"
    return out


def test_no_command_modifies_or_adds_input_files(tmp_path: Path) -> None:
    import shutil

    _secret_dataset(tmp_path)
    for name in ("truncated.jsonl", "bad-utf8.json", "wrong-types.jsonl", "crlf.jsonl"):
        (tmp_path / name).write_bytes(DATASETS[name])
    shutil.copytree(ROOT_FIXTURES / "rulesets", tmp_path / "rulesets")
    shutil.copy(ROOT_FIXTURES / "demo" / "train.yml", tmp_path / "train.yml")
    shutil.copy(ROOT_FIXTURES / "demo" / "train.jsonl", tmp_path / "demo.jsonl")
    (tmp_path / ".ftlint.yaml").write_text("extend-select: [FTS]\n")
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    before = _tree_digest(tmp_path)
    commands = [["check", "."], ["check", "--format", "sarif", "--jobs", "2", "."],
                ["check", "demo.jsonl", "--response-schema", "schema.json", "--ruleset", "recommended"],
                ["estimate", "train.yml", "--gpu", "rtx-4090"], ["smoke", "--device", "cpu", "train.yml"],
                ["test-rules", "rulesets"], ["rules"], ["rule", "FTP001"]]
    for args in commands:
        res = ftlint(*args, cwd=tmp_path, timeout=180)
        assert "Traceback" not in res.stdout + res.stderr, (args, res.stderr[-2000:])
        after = _tree_digest(tmp_path)
        assert after == before, f"{args} changed {set(after.items()) ^ set(before.items())}"


ROOT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_only_safe_yaml_and_no_eval_in_the_package() -> None:
    """Configs and rulesets are data: no unsafe YAML loader, eval/exec, or imports named by data."""
    import re

    src = Path(__file__).resolve().parents[1] / "src" / "ftlint"
    unsafe = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\s*\(|Loader\s*=\s*yaml\.(Loader|FullLoader|"
                        r"UnsafeLoader)|yaml\.(Unsafe|Full)?Loader\(|\beval\(|\bexec\(|__import__\(")
    hits = [f"{p.relative_to(src)}:{i}: {line.strip()}" for p in src.rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if unsafe.search(line) and not line.strip().startswith("#")]
    assert not hits, hits


def test_config_pointing_outside_names_the_path_and_prints_no_content(tmp_path: Path) -> None:
    """A config's dataset outside the working directory (an absolute path, ../..) is linted where the
    trainer would read it, every finding names that path, and nothing of its content is printed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "other.jsonl").write_text(f'{{"{SECRETS["github"]}": "x"}}\nnot json at all: root:x:0:0\n')
    proj = tmp_path / "proj"
    (proj / "configs").mkdir(parents=True)
    (proj / ".git").mkdir()
    (proj / "configs" / "a.yaml").write_text(
        "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nsequence_len: 512\ndatasets:\n"
        "  - path: /etc/passwd\n    type: alpaca\n  - path: ../../outside/other.jsonl\n    type: alpaca\n")
    for fmt in ("text", "json", "github", "sarif"):
        res = ftlint("check", "--format", fmt, "configs/a.yaml", cwd=proj)
        out = assert_handled(res, "outside/other.jsonl", (1,))
        assert "/etc/passwd" in out
        assert "root:x:0" not in out and SECRETS["github"] not in out


def test_smoke_never_runs_remote_code_without_the_flag(tmp_path: Path) -> None:
    import json as _json
    import shutil

    model = tmp_path / "evil-model"
    shutil.copytree(ROOT_FIXTURES / "models" / "tiny-llama", model)
    cfg = _json.loads((model / "config.json").read_text())
    cfg["architectures"] = ["EvilForCausalLM"]
    cfg["model_type"] = "evil"
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig",
                       "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (model / "config.json").write_text(_json.dumps(cfg))
    code = f"open({str(tmp_path / MARKER)!r}, 'w').write('ran')\n"
    (model / "configuration_evil.py").write_text(code)
    (model / "modeling_evil.py").write_text(code)
    (tmp_path / "d.jsonl").write_text('{"instruction": "a", "output": "b"}\n' * 8)
    (tmp_path / "train.yaml").write_text(f"base_model: {model}\nadapter: lora\ntrust_remote_code: true\n"
                                         "sequence_len: 64\nmicro_batch_size: 1\ndatasets:\n"
                                         "  - path: d.jsonl\n    type: alpaca\n")
    for args in (["smoke", "--device", "cpu", "--steps", "1", "train.yaml"], ["estimate", "train.yaml"],
                 ["check", "train.yaml"]):
        res = ftlint(*args, cwd=tmp_path, timeout=300)
        out = res.stdout + res.stderr
        assert "Traceback" not in out, out[-2000:]
        assert not (tmp_path / MARKER).exists(), f"{args} ran the model's own code"
        if args[0] == "smoke":
            assert res.returncode == 1 and "FTK006" in out and "evil-model" in out, out[-2000:]
