"""File globs for `files:` and `overrides:` (gitignore-like, small and predictable).

- `*` matches within one path segment, `?` one character, `[abc]` a class, `**` any number of
  segments (`**/x` also matches `x` at the top).
- A pattern without `/` matches the file name anywhere (`*.jsonl`).
- A pattern with `/` matches the path or any tail of it that starts at a folder boundary, so
  `support/*.jsonl` matches `data/support/a.jsonl`; a leading `/` anchors it to the start.
- `!pattern` excludes: a file is selected when it matches some positive pattern (or there are
  only negative ones) and no negative pattern.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern:
    i, out = 0, []
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _match_one(pattern: str, path: str) -> bool:
    if pattern.startswith("/"):
        return _regex(pattern[1:]).match(path.lstrip("/")) is not None
    if "/" not in pattern.rstrip("/"):
        return _regex(pattern).match(path.rsplit("/", 1)[-1]) is not None
    rx = _regex(pattern)
    if rx.match(path):
        return True
    pos = path.find("/")
    while pos != -1:
        if rx.match(path, pos + 1):
            return True
        pos = path.find("/", pos + 1)
    return False


def matches(patterns: tuple[str, ...] | list[str], path: str) -> bool:
    """True when `path` (POSIX, as displayed) is selected by `patterns`; no patterns = every file."""
    if not patterns:
        return True
    path = path.replace("\\", "/")
    positives = [p for p in patterns if not p.startswith("!")]
    negatives = [p[1:] for p in patterns if p.startswith("!")]
    if positives and not any(_match_one(p, path) for p in positives):
        return False
    return not any(_match_one(p, path) for p in negatives)
