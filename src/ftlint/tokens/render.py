"""Turn a normalised example into what the trainer tokenises.

Conversational records become chat messages rendered with the model's template (no generation
prompt: training text); plain text and string prompt/completion pairs are tokenised as text with
the EOS appended, as TRL's SFTTrainer does. Every piece remembers the JSON pointer of the value it
came from, so findings point at the user's own keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..formats import ROLE_ALIASES, Example

# The assistant-side roles a template trains on after conversion.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")

AXOLOTL_ALPACA_SYSTEM = ("Below is an instruction that describes a task, paired with an input that provides "
                         "further context. Write a response that appropriately completes the request.\n\n")
AXOLOTL_ALPACA_SYSTEM_NO_INPUT = ("Below is an instruction that describes a task. Write a response that "
                                  "appropriately completes the request.\n\n")


@dataclass
class Piece:
    """One message's content as it appears in the rendered text."""

    role: str
    text: str
    pointer: str


@dataclass
class Job:
    """What to tokenise for one example."""

    kind: str                                  # "chat" | "text"
    messages: list[dict] = field(default_factory=list)
    tools: Any = None
    assistant_indices: list[int] = field(default_factory=list)  # messages trained as answers
    prompt_messages: int | None = None         # prompt/completion chat: messages in the prompt
    text: str = ""                             # kind == "text": the whole training text
    prompt_chars: int = 0                      # kind == "text": where the completion starts
    add_special_tokens: bool = False
    append_eos: bool = False
    pieces: list[Piece] = field(default_factory=list)
    completion_only: bool = False              # text kind: the completion is the trained part


class NotRenderable(Exception):
    """The record's structure is too broken to render (the parse rules already report it)."""


def _message(raw: Any, canonical_roles: bool) -> dict:
    if not isinstance(raw, dict):
        raise NotRenderable("message is not an object")
    msg = {k: v for k, v in raw.items() if v is not None}  # as transformers' _normalize_chat_messages
    if "role" not in msg and "from" in msg:       # sharegpt -> ChatML keys (TRL maybe_convert_to_chatml)
        msg["role"] = msg.pop("from")
    if "content" not in msg and "value" in msg:
        msg["content"] = msg.pop("value")
    role = msg.get("role")
    if not isinstance(role, str):
        raise NotRenderable("message without a string role")
    if canonical_roles:  # Axolotl / LLaMA-Factory map human/gpt/observation to the template's roles
        mapped = ROLE_ALIASES.get(role.lower())
        if mapped and mapped != "unknown":
            msg["role"] = mapped
    reasoning = next((msg[k] for k in _REASONING_FIELDS if msg.get(k) is not None), None)
    if reasoning is not None:  # transformers aliases reasoning fields for templates that read either
        msg = {"thinking": reasoning, **msg, "reasoning_content": reasoning}
    return msg


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) and isinstance(p.get("text"), str)
                       else p if isinstance(p, str) else "" for p in content)
    return ""


def _messages(raw_list: Any, base: str, canonical: bool) -> tuple[list[dict], list[Piece]]:
    if not isinstance(raw_list, list):
        raise NotRenderable("messages is not a list")
    msgs, pieces = [], []
    for i, raw in enumerate(raw_list):
        msg = _message(raw, canonical)
        key = "content" if isinstance(raw, dict) and "content" in raw else "value"
        msgs.append(msg)
        pieces.append(Piece(msg["role"], _content_text(msg.get("content")), f"{base}/{i}/{key}"))
    return msgs, pieces


def build_job(example: Example, dialect: str | None = None, declared_type: str | None = None) -> Job:
    """The trainer's view of `example` (see module doc); raises NotRenderable."""
    data = example.record.data
    fmt = example.format
    canonical = dialect != "trl"
    if fmt == "text":
        text = data.get("text")
        if not isinstance(text, str):
            raise NotRenderable("text is not a string")
        return Job("text", text=text, add_special_tokens=True, append_eos=True,
                   pieces=[Piece("text", text, "/text")])
    if fmt == "alpaca" and dialect == "axolotl" and declared_type in (None, "alpaca"):
        return _axolotl_alpaca(data)
    if fmt == "prompt_completion" and isinstance(data.get("prompt"), str) and isinstance(data.get("completion"), str):
        prompt, completion = data["prompt"], data["completion"]
        return Job("text", text=prompt + completion, prompt_chars=len(prompt), add_special_tokens=True,
                   append_eos=True, completion_only=True,
                   pieces=[Piece("user", prompt, "/prompt"), Piece("assistant", completion, "/completion")])
    job = Job("chat")
    if fmt in ("openai", "sharegpt") or (fmt == "kto" and ("messages" in data or "conversations" in data)):
        key = "messages" if "messages" in data else "conversations"
        job.messages, job.pieces = _messages(data.get(key), "/" + key, canonical)
    elif fmt in ("prompt_completion", "kto"):
        for key in ("prompt", "completion"):
            value = data.get(key)
            if isinstance(value, str):
                role = "user" if key == "prompt" else "assistant"
                job.messages.append({"role": role, "content": value})
                job.pieces.append(Piece(role, value, "/" + key))
            else:
                msgs, pieces = _messages(value, "/" + key, canonical)
                job.messages += msgs
                job.pieces += pieces
            if key == "prompt":
                job.prompt_messages = len(job.messages)
    else:  # alpaca (LLaMA-Factory's conversion), preference: the normalised turns
        for turn in example.turns:
            if turn.role == "text" or not isinstance(turn.content, (str, list)):
                if turn.role == "assistant" and turn.content is None:
                    raise NotRenderable("assistant turn without content")
                continue
            content = turn.content
            if fmt == "alpaca" and turn.pointer == "/instruction":
                # LLaMA-Factory joins instruction and input with one newline.
                extra = data.get("input")
                content = data["instruction"] + ("\n" + extra if isinstance(extra, str) and extra else "")
            role = turn.role if turn.role != "unknown" else turn.raw_role
            job.messages.append({"role": role, "content": content})
            job.pieces.append(Piece(role, _content_text(content), turn.pointer))
    if not job.messages:
        raise NotRenderable("no messages")
    tools = example.tools
    if tools is None and isinstance(data.get("tools"), str):
        try:
            tools = json.loads(data["tools"])
        except ValueError:
            tools = None
    job.tools = tools or None
    if job.prompt_messages is not None:
        job.assistant_indices = [i for i in range(job.prompt_messages, len(job.messages))
                                 if job.messages[i].get("role") == "assistant"]
    else:
        job.assistant_indices = [i for i, m in enumerate(job.messages) if m.get("role") == "assistant"]
    return job


def _axolotl_alpaca(data: dict) -> Job:
    """Axolotl's `type: alpaca` prompter: a fixed text prompt, BOS added, EOS after the response."""
    instruction = data.get("instruction")
    extra = data.get("input")
    out_key = "output" if "output" in data else "response"
    output = data.get(out_key)
    if not isinstance(instruction, str) or not isinstance(output, str):
        raise NotRenderable("alpaca fields are not strings")
    if isinstance(extra, str) and extra.strip():
        prompt = (AXOLOTL_ALPACA_SYSTEM + f"### Instruction:\n{instruction}\n\n### Input:\n{extra}\n\n"
                  "### Response:\n")
    else:
        prompt = AXOLOTL_ALPACA_SYSTEM_NO_INPUT + f"### Instruction:\n{instruction}\n\n### Response:\n"
    return Job("text", text=prompt + output, prompt_chars=len(prompt), add_special_tokens=True, append_eos=True,
               completion_only=True,
               pieces=[Piece("user", instruction, "/instruction"), Piece("assistant", output, "/" + out_key)])
