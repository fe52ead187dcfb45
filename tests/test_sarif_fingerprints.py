"""Fingerprints survive edits above a finding (GitHub keeps the alert instead of reopening it).

The measurement: lint a dataset with many kinds of planted defects, insert new clean records at
the top of the file, lint again, and count how many of the first run's
(ruleId, uri, primaryLocationLineHash) triples are still there. The issue asks for >= 95%.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from test_sarif import (_chat, planted_records, sarif_of, write_planted_json, write_planted_jsonl)


def _keys(log: dict) -> list[tuple[str, str, str]]:
    out = []
    for r in log["runs"][0]["results"]:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        out.append((r["ruleId"], uri, r["partialFingerprints"]["primaryLocationLineHash"]))
    return out


def _lines(log: dict) -> dict[tuple[str, str, str], int]:
    return {k: r["locations"][0]["physicalLocation"]["region"]["startLine"]
            for k, r in zip(_keys(log), log["runs"][0]["results"])}


def survival(tmp: Path, writer, name: str, change: int, seed: int) -> tuple[float, int, Counter]:
    """Lint, then insert `change` clean records at the top (or delete -change of the first
    clean ones), lint again; the share of fingerprints of the first run still present."""
    rng = random.Random(seed)
    records = planted_records(seed=seed, clean=150, rounds=4)
    writer(tmp / name, records)
    before = sarif_of(tmp, name)
    if change >= 0:
        edited = [_chat(rng, f"inserted {seed} {i}") for i in range(change)] + records
    else:
        clean = [i for i, r in enumerate(records) if isinstance(r, dict) and "clean" in str(r)][: -change]
        edited = [r for i, r in enumerate(records) if i not in set(clean)]
    writer(tmp / name, edited)
    after = sarif_of(tmp, name)
    old, new = _keys(before), set(_keys(after))
    assert len(old) == len(set(old)), "fingerprints must be unique within a run"
    lost = Counter(k[0] for k in old if k not in new)
    # The findings really moved: a line-based fingerprint would not have survived.
    lines_before, lines_after = _lines(before), _lines(after)
    assert any(k in lines_after and lines_after[k] != line for k, line in lines_before.items())
    return (len(old) - sum(lost.values())) / len(old), len(old), lost


@pytest.mark.parametrize("writer,name", [(write_planted_jsonl, "train.jsonl"), (write_planted_json, "train.json")])
@pytest.mark.parametrize("change", [1, 25, -2])
def test_fingerprints_survive_inserting_records_at_the_top(tmp_path: Path, writer, name: str,
                                                           change: int) -> None:
    rate, total, lost = survival(tmp_path, writer, name, change, seed=5)
    print(f"\n{name} {change:+d} records at the top: {rate:.1%} of {total} fingerprints survived; "
          f"lost by rule: {dict(lost)}")
    assert total >= 80
    assert rate >= 0.95, f"only {rate:.1%} of {total} fingerprints survived; lost: {dict(lost)}"


def test_identical_findings_in_one_file_stay_distinct(tmp_path: Path) -> None:
    log = sarif_of(tmp_path, write_planted_jsonl(tmp_path / "d.jsonl", planted_records()).name)
    hashes = Counter(k[2].rsplit(":", 1)[0] for k in _keys(log))
    repeated = [h for h, n in hashes.items() if n > 1]
    assert repeated, "the planted data has identical defects; their base fingerprints should repeat"
    occ = sorted(k[2] for k in _keys(log) if k[2].rsplit(":", 1)[0] == repeated[0])
    assert [o.rsplit(":", 1)[1] for o in occ] == [str(i) for i in range(1, len(occ) + 1)]


def test_changing_the_offending_value_changes_its_fingerprint(tmp_path: Path) -> None:
    records = planted_records()
    write_planted_jsonl(tmp_path / "d.jsonl", records)
    before = {k for k in _keys(sarif_of(tmp_path, "d.jsonl")) if k[0] == "FTC009"}
    assert before, "placeholder rule expected to fire"
    for r in records:
        if isinstance(r, dict) and "messages" in r and isinstance(r["messages"], list):
            for m in r["messages"]:
                if isinstance(m.get("content"), str) and "{{customer_name}}" in m["content"]:
                    m["content"] = m["content"].replace("customer_name", "client_name")
    write_planted_jsonl(tmp_path / "d.jsonl", records)
    after = {k for k in _keys(sarif_of(tmp_path, "d.jsonl")) if k[0] == "FTC009"}
    assert after and not (before & after)
