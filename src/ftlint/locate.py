"""Map a JSON pointer inside a record's source text to a character span.

Only called when a finding is reported, so the hot path never pays for it. Skipping over
sibling values uses the C-accelerated `json` scanner (`raw_decode`), so even large records
are located quickly.
"""

from __future__ import annotations

import json
import re

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


def escape_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(base: str, *tokens: str | int) -> str:
    return base + "".join("/" + escape_token(t) for t in tokens)


def split_pointer(pointer: str) -> list[str]:
    if not pointer:
        return []
    # Drop one leading "/", not all: "//0" is the member "" and then index 0 (RFC 6901).
    body = pointer[1:] if pointer.startswith("/") else pointer
    return [t.replace("~1", "/").replace("~0", "~") for t in body.split("/")]


def skip_ws(text: str, pos: int) -> int:
    """The first offset at or after `pos` that is not JSON whitespace."""
    return _WS.match(text, pos).end()


def _value_end(text: str, pos: int) -> int:
    _, end = _DECODER.raw_decode(text, pos)
    return end


def find_span(text: str, pointer: str, start: int = 0) -> tuple[int, int, bool]:
    """Return (start, end, exact) offsets of the value at `pointer` in the JSON `text`.

    When the pointer leads nowhere (a missing key), the span of the deepest existing
    container is returned with exact=False, so the finding still points at the right object.
    """
    pos = skip_ws(text, start)
    try:
        for token in split_pointer(pointer):
            if pos >= len(text):
                break
            ch = text[pos]
            if ch == "{":
                found = _find_key(text, pos, token)
            elif ch == "[" and token.isdigit():
                found = _find_index(text, pos, int(token))
            else:
                found = None
            if found is None:
                return pos, _value_end(text, pos), False
            pos = found
        return pos, _value_end(text, pos), True
    except (ValueError, IndexError):
        return pos, min(len(text), pos + 1), False


def _find_key(text: str, pos: int, key: str) -> int | None:
    pos = skip_ws(text, pos + 1)
    found = None
    while pos < len(text) and text[pos] != "}":
        name, pos = _DECODER.raw_decode(text, pos)
        pos = skip_ws(text, pos)
        pos = skip_ws(text, pos + 1)  # the colon
        if name == key:
            found = pos  # JSON parsers keep the last of duplicate keys, so the location does too
        pos = skip_ws(text, _value_end(text, pos))
        if pos < len(text) and text[pos] == ",":
            pos = skip_ws(text, pos + 1)
    return found


def _find_index(text: str, pos: int, index: int) -> int | None:
    pos = skip_ws(text, pos + 1)
    i = 0
    while pos < len(text) and text[pos] != "]":
        if i == index:
            return pos
        pos = skip_ws(text, _value_end(text, pos))
        if pos < len(text) and text[pos] == ",":
            pos = skip_ws(text, pos + 1)
        i += 1
    return None
