"""The two documents a `given` path can read: the raw record, or the normalised example.

The raw record is `record.data` exactly as written, so a path such as `$.messages[*].content`
maps one-to-one onto a JSON pointer. The example view is the same conversation in one shape
for every format (alpaca, sharegpt, OpenAI, prompt/completion, text, preference, KTO):

    {
      "format": "openai",
      "roles": "system,user,assistant",          # canonical roles, comma-joined
      "text": "…all turns' text, one per line…",
      "turns": [{"role": "system", "raw_role": "system", "content": …, "text": "…",
                 "tool_calls": […], "index": 0, "final": false}, …],
      "rejected": [… same shape, preference data only …],
      "tools": […]
    }

Each path in the view is mapped back to the pointer of the value in the user's own file
(`turns[2].content` of an alpaca record is `/output`), so findings land on the right line.
"""

from __future__ import annotations

from typing import Any

from ..formats import Example, Turn
from ..locate import join_pointer, split_pointer


def example_view(example: Example) -> dict[str, Any]:
    last = example.last_assistant_index()
    view: dict[str, Any] = {
        "format": example.format,
        "roles": ",".join(t.role for t in example.turns),
        "text": "\n".join(t.text for t in example.all_turns()),
        "turns": [_turn(t, i, i == last) for i, t in enumerate(example.turns)],
    }
    if example.rejected is not None:
        view["rejected"] = [_turn(t, i, False) for i, t in enumerate(example.rejected)]
    if example.tools is not None:
        view["tools"] = example.tools
    return view


def _turn(t: Turn, index: int, final: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": t.role, "raw_role": t.raw_role, "content": t.content, "text": t.text,
                           "index": index, "final": final, "is_tool_call": t.is_tool_call}
    if t.tool_calls is not None:
        out["tool_calls"] = t.tool_calls
    return out


def turn_pointer(t: Turn) -> str:
    """The pointer of the message object holding this turn (or of its content when none)."""
    a, b = split_pointer(t.pointer), split_pointer(t.role_pointer)
    common: list[str] = []
    for x, y in zip(a, b):
        if x != y:
            break
        common.append(x)
    if common == a:  # text/alpaca turns: role and content are the same value
        return t.pointer
    return join_pointer("", *common)


def _messages_pointer(turns: list[Turn]) -> str:
    """The pointer of the list that holds the turns (for the `roles` summary)."""
    if not turns:
        return ""
    first = split_pointer(turn_pointer(turns[0]))
    last = split_pointer(turn_pointer(turns[-1]))
    common: list[str] = []
    for x, y in zip(first, last):
        if x != y:
            break
        common.append(x)
    if len(turns) == 1 and common and common[-1].isdigit():
        common = common[:-1]
    return join_pointer("", *common)


def example_pointer(example: Example, path: tuple) -> str:
    """Map a path inside `example_view(example)` to a JSON pointer in the raw record."""
    if not path:
        return ""
    head, rest = path[0], path[1:]
    if head in ("turns", "rejected"):
        turns = example.turns if head == "turns" else (example.rejected or [])
        if not rest:
            return _messages_pointer(turns)
        turn = turns[rest[0]]
        if len(rest) == 1:
            return turn_pointer(turn)
        key, tail = rest[1], rest[2:]
        if key == "content":
            return join_pointer(turn.pointer, *tail)
        if key in ("role", "raw_role"):
            return turn.role_pointer
        if key == "tool_calls" and turn.tool_calls_pointer:
            return join_pointer(turn.tool_calls_pointer, *tail)
        if key == "text":
            return turn.pointer
        return turn_pointer(turn)
    if head == "tools":
        base = example.tools_pointer or ""
        # `tools` written as a JSON string: the decoded items have no pointer of their own.
        if isinstance(example.record.data, dict) and isinstance(example.record.data.get("tools"), str):
            return base
        return join_pointer(base, *rest)
    if head == "roles":
        return _messages_pointer(example.turns)
    return ""


def record_pointer(path: tuple) -> str:
    return join_pointer("", *path)
