"""Detect a record's dataset format and normalise it into one conversation view.

Every supported format (alpaca, sharegpt, OpenAI chat with tools, TRL prompt/completion and
text, preference, KTO) becomes an `Example`: a list of `Turn`s with canonical roles and the
JSON pointer of every value, so rules are written once and still point at the user's own keys.
Structural defects found on the way (wrong types, missing fields) are returned as `Defect`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .records import Record

FORMATS = ("alpaca", "sharegpt", "openai", "prompt_completion", "text", "preference", "kto")

# Role spellings seen in the wild -> canonical role.
ROLE_ALIASES: dict[str, str] = {
    "system": "system",
    "user": "user", "human": "user",
    "assistant": "assistant", "gpt": "assistant", "model": "assistant", "bot": "assistant",
    "chatgpt": "assistant",
    "tool": "tool", "function": "tool", "observation": "tool", "ipython": "tool",
    "function_call": "assistant",  # sharegpt: an assistant turn that is a tool call
    "developer": "system",
}


@dataclass(slots=True)
class Turn:
    role: str                     # canonical: system | user | assistant | tool | unknown
    raw_role: str                 # as written
    content: Any                  # usually str; None for tool-call-only assistant turns
    pointer: str                  # JSON pointer of the content value
    role_pointer: str             # JSON pointer of the role value
    tool_calls: list | None = None
    tool_calls_pointer: str | None = None
    is_tool_call: bool = False    # sharegpt function_call turn: content is the call JSON
    tool_call_id: str | None = None
    _text: str | None = None      # caches: many rules read the same text
    _lower: str | None = None

    @property
    def text(self) -> str:
        """Content as plain text (multi-part content joined); '' when absent."""
        if self._text is None:
            c = self.content
            if isinstance(c, str):
                self._text = c
            elif isinstance(c, list):
                self._text = "".join(_part_text(p) for p in c)
            else:
                self._text = ""
        return self._text

    @property
    def lower(self) -> str:
        """`text.lower()`, computed once."""
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower


def _part_text(part: Any) -> str:
    if isinstance(part, dict):
        v = part.get("text", part.get("value", ""))
        return v if isinstance(v, str) else ""
    return part if isinstance(part, str) else ""


@dataclass(frozen=True, slots=True)
class Defect:
    """A structural problem: `code` is FTP004 (wrong type) or FTP005 (missing field)."""

    code: str
    message: str
    pointer: str


@dataclass(slots=True)
class Example:
    record: Record
    format: str
    turns: list[Turn] = field(default_factory=list)
    rejected: list[Turn] | None = None    # preference data: the dispreferred continuation
    tools: Any = None
    tools_pointer: str | None = None
    cache: dict = field(default_factory=dict)  # per-example results shared among rules (token counts)

    @property
    def prompt_turns(self) -> list[Turn]:
        """Turns before the final assistant answer."""
        last = self.last_assistant_index()
        return self.turns if last is None else self.turns[:last]

    def last_assistant_index(self) -> int | None:
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i].role == "assistant":
                return i
        return None

    def assistant_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.role == "assistant"]

    def all_turns(self) -> list[Turn]:
        return self.turns + (self.rejected or [])


def detect_format(data: dict) -> str | None:
    """The format of one record, from its keys; None when no format matches."""
    has = data.__contains__
    if has("chosen") and has("rejected") or has("chosen_messages"):
        return "preference"
    if has("messages") or has("conversations"):
        if has("label") and not has("completion"):
            return "kto"
        msgs = data.get("messages", data.get("conversations"))
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) and "from" in msgs[0]:
            return "sharegpt"
        return "sharegpt" if has("conversations") else "openai"
    if has("prompt") and has("completion"):
        return "kto" if has("label") else "prompt_completion"
    if has("instruction") and (has("output") or has("response")):
        return "alpaca"
    if has("text"):
        return "text"
    return None


# Required keys per format, for the missing-field rule when a format is forced or dominant.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "output"),
    "sharegpt": ("conversations",),
    "openai": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
    "preference": ("chosen", "rejected"),
    "kto": ("label",),
}


def normalise(record: Record, fmt: str) -> tuple[Example, list[Defect]]:
    data = record.data
    defects: list[Defect] = []
    ex = Example(record, fmt)
    if fmt == "alpaca":
        _alpaca(data, ex, defects)
    elif fmt in ("openai", "sharegpt"):
        key = "messages" if "messages" in data else "conversations"
        ex.turns = _messages(data.get(key), "/" + key, defects, required=True)
        _tools(data, ex, defects)
    elif fmt == "prompt_completion":
        ex.turns = _text_or_messages(data, "prompt", "user", defects)
        ex.turns += _text_or_messages(data, "completion", "assistant", defects)
        _tools(data, ex, defects)
    elif fmt == "text":
        _string_field(data, "text", defects, required=True)
        ex.turns = [Turn("text", "text", data.get("text"), "/text", "/text")]
    elif fmt == "preference":
        _preference(data, ex, defects)
    elif fmt == "kto":
        if "messages" in data or "conversations" in data:
            key = "messages" if "messages" in data else "conversations"
            ex.turns = _messages(data.get(key), "/" + key, defects, required=True)
        else:
            ex.turns = _text_or_messages(data, "prompt", "user", defects)
            ex.turns += _text_or_messages(data, "completion", "assistant", defects)
        if "label" in data and not isinstance(data["label"], bool):
            defects.append(Defect("FTP004", "KTO `label` must be true or false.", "/label"))
    return ex, defects


def _string_field(data: dict, key: str, defects: list[Defect], required: bool) -> None:
    if key not in data:
        if required:
            defects.append(Defect("FTP005", f"Missing required field `{key}`.", ""))
    elif not isinstance(data[key], str):
        defects.append(Defect("FTP004", f"`{key}` must be a string, not {type_name(data[key])}.", "/" + key))


def _alpaca(data: dict, ex: Example, defects: list[Defect]) -> None:
    out_key = "output" if "output" in data else "response"
    for key, required in (("instruction", True), ("input", False), (out_key, True), ("system", False)):
        _string_field(data, key, defects, required)
    if isinstance(data.get("system"), str):
        ex.turns.append(Turn("system", "system", data["system"], "/system", "/system"))
    history = data.get("history")
    if history is not None:
        if not isinstance(history, list):
            defects.append(Defect("FTP004", f"`history` must be a list of [prompt, response] pairs, not {type_name(history)}.", "/history"))
        else:
            for i, pair in enumerate(history):
                p = f"/history/{i}"
                if not (isinstance(pair, list) and len(pair) == 2):
                    defects.append(Defect("FTP004", "Each `history` item must be a [prompt, response] pair.", p))
                    continue
                ex.turns.append(Turn("user", "user", pair[0], p + "/0", p))
                ex.turns.append(Turn("assistant", "assistant", pair[1], p + "/1", p))
    instruction = data.get("instruction")
    extra = data.get("input")
    if isinstance(instruction, str) and isinstance(extra, str) and extra.strip():
        content: Any = instruction + "\n\n" + extra
    else:
        content = instruction
    ex.turns.append(Turn("user", "user", content, "/instruction", "/instruction"))
    ex.turns.append(Turn("assistant", "assistant", data.get(out_key), "/" + out_key, "/" + out_key))


_ROLE_CONTENT = ("role", "content")
_FROM_VALUE = ("from", "value")


def _messages(value: Any, base: str, defects: list[Defect], required: bool) -> list[Turn]:
    if value is None:
        if required:
            defects.append(Defect("FTP005", f"Missing required field `{base[1:]}`.", ""))
        return []
    if not isinstance(value, list):
        defects.append(Defect("FTP004", f"`{base[1:]}` must be a list of messages, not {type_name(value)}.", base))
        return []
    turns: list[Turn] = []
    append = turns.append
    for i, msg in enumerate(value):
        # Fast path, most messages: exactly a string role and a string content (or from/value).
        if type(msg) is dict and len(msg) == 2:
            if "content" in msg:
                raw_role, content, keys = msg.get("role"), msg["content"], _ROLE_CONTENT
            else:
                raw_role, content, keys = msg.get("from"), msg.get("value"), _FROM_VALUE
            if type(raw_role) is str and type(content) is str:
                lower = raw_role.lower()
                append(Turn(ROLE_ALIASES.get(lower, "unknown"), raw_role, content, f"{base}/{i}/{keys[1]}",
                            f"{base}/{i}/{keys[0]}", None, None, lower == "function_call", None))
                continue
        p = f"{base}/{i}"
        if not isinstance(msg, dict):
            defects.append(Defect("FTP004", f"Message {i} must be an object, not {type_name(msg)}.", p))
            continue
        role_key = "role" if "role" in msg else "from" if "from" in msg else None
        content_key = "content" if "content" in msg else "value" if "value" in msg else None
        if role_key is None:
            defects.append(Defect("FTP005", f"Message {i} has no `role` (or sharegpt `from`).", p))
            continue
        raw_role = msg[role_key]
        if not isinstance(raw_role, str):
            defects.append(Defect("FTP004", f"Message {i} role must be a string, not {type_name(raw_role)}.", f"{p}/{role_key}"))
            continue
        role = ROLE_ALIASES.get(raw_role.lower(), "unknown")
        tool_calls = msg.get("tool_calls")
        content = msg.get(content_key) if content_key else None
        if content_key is None and not tool_calls:
            defects.append(Defect("FTP005", f"Message {i} has no `content` (or sharegpt `value`).", p))
        elif content is not None and not isinstance(content, (str, list)):
            defects.append(Defect("FTP004", f"Message {i} content must be a string or a list of parts, not {type_name(content)}.", f"{p}/{content_key}"))
        elif isinstance(content, list) and not all(isinstance(x, (dict, str)) for x in content):
            defects.append(Defect("FTP004", f"Message {i} content parts must be objects or strings.", f"{p}/{content_key}"))
        if tool_calls is not None and not isinstance(tool_calls, list):
            defects.append(Defect("FTP004", f"`tool_calls` must be a list, not {type_name(tool_calls)}.", f"{p}/tool_calls"))
            tool_calls = None
        turns.append(Turn(
            role, raw_role, content, f"{p}/{content_key or 'content'}", f"{p}/{role_key}",
            tool_calls=tool_calls, tool_calls_pointer=f"{p}/tool_calls" if tool_calls is not None else None,
            # sharegpt `function_call` turns, and LLaMA-Factory v1 `{"type": "tool_call"}` parts
            is_tool_call=raw_role.lower() == "function_call" or (
                isinstance(content, list) and any(isinstance(x, dict) and x.get("type") == "tool_call" for x in content)),
            tool_call_id=msg.get("tool_call_id") if isinstance(msg.get("tool_call_id"), str) else None,
        ))
    return turns


def _text_or_messages(data: dict, key: str, role: str, defects: list[Defect]) -> list[Turn]:
    value = data.get(key)
    if key not in data:
        defects.append(Defect("FTP005", f"Missing required field `{key}`.", ""))
        return []
    if isinstance(value, str):
        return [Turn(role, role, value, "/" + key, "/" + key)]
    if isinstance(value, list):
        return _messages(value, "/" + key, defects, required=True)
    if isinstance(value, dict) and ("from" in value or "role" in value):
        # LLaMA-Factory preference data: chosen/rejected are single sharegpt messages.
        return [_retarget(t, "/" + key) for t in _messages([value], "/" + key, defects, required=True)]
    defects.append(Defect("FTP004", f"`{key}` must be a string or a list of messages, not {type_name(value)}.", "/" + key))
    return []


def _retarget(turn: Turn, pointer: str) -> Turn:
    """A single-message object at `pointer` (not inside a list): fix up its pointers."""
    suffix = turn.pointer.rsplit("/", 1)[1]
    role_suffix = turn.role_pointer.rsplit("/", 1)[1]
    turn.pointer = f"{pointer}/{suffix}"
    turn.role_pointer = f"{pointer}/{role_suffix}"
    return turn


def _preference(data: dict, ex: Example, defects: list[Defect]) -> None:
    if "chosen_messages" in data:  # LLaMA-Factory v1 format: two full conversations
        ex.turns = _messages(data.get("chosen_messages"), "/chosen_messages", defects, required=True)
        ex.rejected = _messages(data.get("rejected_messages"), "/rejected_messages", defects, required=True)
        return
    prompt: list[Turn] = []
    for key in ("prompt", "conversations", "messages"):
        if key in data:
            prompt = (_text_or_messages(data, key, "user", defects) if key == "prompt"
                      else _messages(data[key], "/" + key, defects, required=True))
            break
    chosen = _text_or_messages(data, "chosen", "assistant", defects)
    rejected = _text_or_messages(data, "rejected", "assistant", defects)
    # TRL implicit-prompt preference data repeats the prompt inside chosen/rejected.
    ex.turns = prompt + [t for t in chosen if t.role == "assistant"] if prompt else chosen
    ex.rejected = rejected
    _tools(data, ex, defects)


def _tools(data: dict, ex: Example, defects: list[Defect]) -> None:
    if "tools" not in data:
        return
    tools = data["tools"]
    ex.tools_pointer = "/tools"
    if isinstance(tools, str):  # sharegpt/glaive keep the tool list as a JSON string
        import json

        try:
            tools = json.loads(tools) if tools.strip() else []
        except ValueError:
            defects.append(Defect("FTP004", "`tools` is a string that is not valid JSON.", "/tools"))
            return
    if tools is not None and not isinstance(tools, list):
        defects.append(Defect("FTP004", f"`tools` must be a list, not {type_name(tools)}.", "/tools"))
        return
    ex.tools = tools


def type_name(value: Any) -> str:
    """A JSON value's type for messages: 'an object', 'a list', 'a string', 'null', ..."""
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
