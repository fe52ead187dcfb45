"""Real text (the shared corpus' alpaca demo) with one planted defect of every kind: each is
reported at its line, and clean examples get (almost) no error or warning findings."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import lint_json

N = 300


def _chat(rec: dict) -> dict:
    prompt = rec["instruction"] + (("\n\n" + rec["input"]) if rec["input"].strip() else "")
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": rec["output"]}]}


def _plants(base: list[dict]) -> dict[int, tuple[str, object]]:
    """index -> (expected code, replacement record or raw line)."""
    u = lambda i: base[i]["messages"][0]["content"]  # noqa: E731
    a = lambda i: base[i]["messages"][1]["content"]  # noqa: E731
    m = lambda *turns: {"messages": [{"role": r, "content": c} for r, c in turns]}  # noqa: E731
    return {
        10: ("FTP001", '{"messages": [{"role": "user", "content": "unterminated}\n'),
        20: ("FTP003", ["just", "a", "list"]),
        30: ("FTP004", {"messages": {"role": "user", "content": u(30)}}),
        40: ("FTP005", {"messages": [{"role": "user"}, {"role": "assistant", "content": a(40)}]}),
        50: ("FTP006", {"instruction": u(50), "output": a(50)}),
        60: ("FTC001", m(("user", u(60)), ("assistant", "  \n"))),
        70: ("FTC002", m(("customer", u(70)), ("assistant", a(70)))),
        80: ("FTC003", m(("user", u(80)), ("system", "Be concise."), ("assistant", a(80)))),
        90: ("FTC004", m(("user", u(90)), ("user", "Please answer."), ("assistant", a(90)))),
        100: ("FTC005", m(("system", "You help."), ("user", u(100)))),
        110: ("FTC006", m(("user", u(110)), ("assistant", a(110)), ("user", "Thanks!"))),
        120: ("FTC007", m(("user", u(120)), ("tool", '{"result": 1}'), ("assistant", a(120)))),
        130: ("FTC008", m(("user", u(130) + " Explain it in full detail for me."), ("assistant", u(130) + " Explain it in full detail for me."))),
        140: ("FTC009", m(("user", u(140)), ("assistant", "Dear {{customer_name}}, " + a(140)))),
        150: ("FTC010", m(("user", u(150) + "<|im_end|>"), ("assistant", a(150)))),
        160: ("FTC011", m(("user", u(160)), ("assistant", a(160) + " Itâ€™s done."))),
        170: ("FTC012", m(("user", u(170)), ("assistant", "As an AI language model, I cannot do that. " + a(170)))),
        180: ("FTD002", base[5]),
        190: ("FTD003", m(("user", u(6)), ("assistant", "A completely different answer."))),
        200: ("FTS001", m(("user", u(200)), ("assistant", a(200) + " Use key AKIAZ5GMHY3TQWERTY12 to log in."))),
        210: ("FTS002", m(("user", u(210)), ("assistant", a(210) + " Questions: jane.doe@acme-corp.com."))),
    }


def test_every_planted_defect_is_found_at_its_line(corpus: Path, tmp_path: Path) -> None:
    src = json.loads((corpus / "llamafactory/data/alpaca_en_demo.json").read_text())[:N]
    base = [_chat(r) for r in src]
    plants = _plants(base)
    lines = []
    for i, rec in enumerate(base):
        if i in plants:
            code, repl = plants[i]
            lines.append(repl if isinstance(repl, str) else json.dumps(repl) + "\n")
        else:
            lines.append(json.dumps(rec) + "\n")
    f = tmp_path / "train.jsonl"
    f.write_text("".join(lines))
    findings = lint_json(str(f))
    by_line: dict[int, set[str]] = {}
    for x in findings:
        by_line.setdefault(x["line"], set()).add(x["code"])
    for i, (code, _) in plants.items():
        assert code in by_line.get(i + 1, set()), f"{code} not reported at line {i + 1}: {by_line.get(i + 1)}"

    # The source is real, not perfect: a few of its examples carry genuine defects ([Your Name]
    # placeholders, answers that repeat the input, one duplicate). They count as noise here.
    planted_lines = {i + 1 for i in plants} | {6, 7}  # 6, 7: first copies referenced by FTD002/FTD003
    noisy = {x["line"] for x in findings if x["severity"] in ("error", "warning")
             and x["line"] not in planted_lines and x["code"] != "FTD001"}
    clean = N - len(planted_lines)
    assert len(noisy) <= 0.02 * clean, f"{len(noisy)} clean examples flagged: {sorted(noisy)[:20]}"
