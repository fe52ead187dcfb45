"""Consistency rules: the content and order of turns inside one example."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from bisect import bisect_right
from itertools import chain, compress, repeat
from operator import is_not
from typing import Iterable, Iterator

from ..findings import Finding, Severity
from ..formats import Example, Turn
from ..rule import Context, Rule
from ._batch import CTRL, MOJI, batch_view

CHAT_FORMATS = ("openai", "sharegpt", "kto", "preference")


def _norm(turn: Turn) -> str:
    return " ".join(turn.lower.split())


# Batch versions (`check_batch`) find the examples that may have a finding with C-speed scans
# over the whole batch (see `_batch`) and run the reference `check` on those only, so their
# findings are exactly `check`'s. Every prefilter below is a necessary condition of a finding.

def _check_some(rule: Rule, examples: list[Example], chosen: Iterable[int], ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for i in chosen:
        out.extend(rule.check(examples[i], ctx))
    return out


_MEMO_MAX = 4096


class _SignatureRule(Rule):
    """A structural rule whose verdict (findings or none) depends only on each turn's role and
    whether it is a tool call: one example per distinct signature is checked, and the
    signatures found clean are remembered."""

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        if not examples:
            return []
        sigs = batch_view(examples).sigs
        clean: dict = self.__dict__.setdefault("_clean", {})
        verdicts = list(map(clean.get, sigs))
        if verdicts.count(True) == len(verdicts):
            return []
        out: list[Finding] = []
        for i in compress(range(len(examples)), map(is_not, verdicts, repeat(True))):
            if clean.get(sigs[i]) is True:  # found clean earlier in this batch
                continue
            found = list(self.check(examples[i], ctx))
            if len(clean) >= _MEMO_MAX:
                clean.clear()
            clean[sigs[i]] = not found
            out.extend(found)
        return out


class EmptyContent(Rule):
    """A turn, instruction or response is empty or whitespace only.

    ## What it does
    Reports every message (and alpaca instruction/output, prompt/completion, text) whose content
    is empty or only whitespace. An assistant turn that only carries `tool_calls` is fine.

    ## Why it matters
    An empty response teaches the model to stop immediately; an empty prompt teaches it to
    answer nothing in particular. Platforms (OpenAI, SiliconFlow) reject such files.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Summarise this."}, {"role": "assistant", "content": "  "}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Summarise this."}, {"role": "assistant", "content": "It says…"}]}
    ```

    ## How to fix
    Fill in the content or drop the example.
    """

    code = "FTC001"
    name = "empty-content"
    severity = Severity.ERROR
    tags = ("consistency",)

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        if not examples:
            return []
        view = batch_view(examples)
        return _check_some(self, examples, view.owners(view.blank_turns()), ctx)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        record = example.record
        for turn in example.all_turns():
            if turn.tool_calls or turn.role == "tool":
                continue
            content = turn.content
            if content is None or isinstance(content, (str, list)) and not turn.text.strip():
                if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") not in (None, "text") for p in content):
                    continue  # image/audio parts without text
                what = "Text" if turn.role == "text" else f"{turn.role.capitalize()} content"
                yield self.finding(record, turn.pointer, f"{what} is empty.")


class UnknownRole(_SignatureRule):
    """A message has a role that no chat template knows.

    ## What it does
    Reports roles outside system/user/assistant/tool and their common spellings
    (human/gpt, function_call/observation, model, developer, function, ipython).

    ## Why it matters
    Chat templates raise on unknown roles ("Invalid role tag") or silently drop the turn.

    ## Example
    ```json
    {"messages": [{"role": "customer", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## How to fix
    Map the role to a standard one, or declare the role tags in your trainer's dataset config.
    """

    code = "FTC002"
    name = "unknown-role"
    severity = Severity.ERROR
    tags = ("consistency", "roles")
    formats = CHAT_FORMATS

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.all_turns():
            if turn.role == "unknown":
                known = ", ".join(sorted({"system", "user", "assistant", "tool"}))
                yield self.finding(example.record, turn.role_pointer,
                                   f"Unknown role `{turn.raw_role}` (expected one of {known}).")


class SystemNotFirst(_SignatureRule):
    """A system message appears after the first turn.

    ## What it does
    Reports system messages that are not the first message of the conversation.

    ## Why it matters
    Most chat templates (Llama 3, Mistral, Gemma) only place a system prompt at the start;
    SiliconFlow and Together reject files with a system turn elsewhere.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## How to fix
    Move the system message to the start, or merge it into the user turn.
    """

    code = "FTC003"
    name = "system-not-first"
    severity = Severity.ERROR
    tags = ("consistency", "roles")
    formats = CHAT_FORMATS + ("alpaca",)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for i, turn in enumerate(example.turns):
            if turn.role == "system" and i > 0:
                yield self.finding(example.record, turn.role_pointer,
                                   f"System message at position {i + 1}; it must be the first message.")


class RolesNotAlternating(_SignatureRule):
    """User and assistant turns do not alternate, or the conversation starts with the assistant.

    ## What it does
    After an optional system message, the first turn must be from the user and user/assistant
    turns must alternate. Tool replies may follow an assistant tool call (several in a row).

    ## Why it matters
    Templates such as Mistral's and Gemma's raise "Conversation roles must alternate"; others
    merge or mislabel turns, so the loss mask trains on the wrong text.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hi!"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi. Hello?"}, {"role": "assistant", "content": "Hi!"}]}
    ```

    ## How to fix
    Merge consecutive turns of the same role, or insert the missing turn.
    """

    code = "FTC004"
    name = "roles-not-alternating"
    severity = Severity.ERROR
    tags = ("consistency", "roles")
    formats = ("openai", "sharegpt", "kto")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        prev: str | None = None
        for i, turn in enumerate(example.turns):
            role = turn.role
            if role in ("system", "unknown"):
                continue
            if prev is None:
                if role != "user":
                    yield self.finding(example.record, turn.role_pointer,
                                       f"Conversation starts with `{turn.raw_role}`; the first turn after the system prompt must be from the user.")
                prev = role
                continue
            if role == "tool":
                ok = prev in ("assistant", "tool")
            elif role == "assistant":
                ok = prev in ("user", "tool") or (prev == "assistant" and _is_call(example.turns[i - 1]))
            else:  # user
                ok = prev in ("assistant", "tool")
            if not ok:
                yield self.finding(example.record, turn.role_pointer,
                                   f"`{turn.raw_role}` follows `{example.turns[i - 1].raw_role}`; user and assistant turns must alternate.")
            prev = role


def _is_call(turn: Turn) -> bool:
    return bool(turn.tool_calls) or turn.is_tool_call


class NoAssistantTurn(_SignatureRule):
    """A conversation has no assistant turn, so there is nothing to train on.

    ## What it does
    Reports chat examples without any assistant message (and completions that are missing).

    ## Why it matters
    With assistant-only loss the example contributes zero loss; platforms (OpenAI, Together)
    reject the file.

    ## Example
    ```json
    {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    ```

    ## How to fix
    Add the assistant's answer or remove the example.
    """

    code = "FTC005"
    name = "no-assistant-turn"
    severity = Severity.ERROR
    tags = ("consistency", "roles")
    formats = ("openai", "sharegpt", "kto")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        if example.turns and not any(t.role == "assistant" for t in example.turns):
            key = "/messages" if "messages" in example.record.data else "/conversations"
            yield self.finding(example.record, key, "Conversation has no assistant turn; it trains on nothing.")


class LastTurnNotAssistant(_SignatureRule):
    """The conversation ends with a turn that is not the assistant's.

    ## What it does
    Reports conversations whose last message is from the user, the system or a tool.
    Option `allow_roles` (list) accepts other final roles.

    ## Why it matters
    The final user turn is never answered, so it is dead weight in the context; with some
    templates it also shifts the loss mask.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Thanks"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## How to fix
    Drop the trailing turn or add the assistant's reply.
    """

    code = "FTC006"
    name = "last-turn-not-assistant"
    severity = Severity.WARNING
    tags = ("consistency", "roles")
    formats = ("openai", "sharegpt")
    default_options = {"allow_roles": []}
    option_types = {"allow_roles": list[str]}

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        turns = example.turns
        if not turns or not any(t.role == "assistant" for t in turns):
            return
        last = turns[-1]
        if last.role != "assistant" and last.role not in self.options["allow_roles"]:
            yield self.finding(example.record, last.role_pointer,
                               f"Conversation ends with a `{last.raw_role}` turn; the last turn should be the assistant's.")


class ToolReplyWithoutCall(_SignatureRule):
    """A tool reply appears without a preceding assistant tool call.

    ## What it does
    Reports `tool` / `observation` turns that do not follow an assistant turn with
    `tool_calls` (or a sharegpt `function_call` turn).

    ## Why it matters
    Templates render the reply with no call to answer; the model learns to hallucinate tool
    results.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Weather?"}, {"role": "tool", "content": "{\\"temp\\": 21}"}, {"role": "assistant", "content": "21°C"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "{\\"temp\\": 21}"}, {"role": "assistant", "content": "21°C"}]}
    ```

    ## How to fix
    Add the assistant's call before the reply, or drop the reply.
    """

    code = "FTC007"
    name = "tool-reply-without-call"
    severity = Severity.ERROR
    tags = ("consistency", "tools")
    formats = ("openai", "sharegpt")

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        prev: Turn | None = None
        for turn in example.turns:
            if turn.role == "tool":
                if prev is None or not (_is_call(prev) or prev.role == "tool"):
                    yield self.finding(example.record, turn.role_pointer,
                                       "Tool reply without a preceding assistant tool call.")
            if turn.role != "system":
                prev = turn


class ResponseEchoesPrompt(Rule):
    """The response repeats the prompt instead of answering it.

    ## What it does
    Compares each assistant answer with the user turn before it (after normalising case and
    whitespace): identical text, a long answer copied verbatim from the prompt, or near-identical
    text (similarity >= `threshold`, default 0.9).

    ## Why it matters
    Echo examples come from broken generation or column mix-ups; the model learns to parrot.

    ## Example
    ```json
    {"instruction": "List three primary colours.", "output": "List three primary colours."}
    ```

    ## Use instead
    ```json
    {"instruction": "List three primary colours.", "output": "Red, yellow and blue."}
    ```

    ## How to fix
    Regenerate or correct the answer; check the column mapping that built the file.
    """

    code = "FTC008"
    name = "response-echoes-prompt"
    severity = Severity.WARNING
    tags = ("consistency",)
    default_options = {"threshold": 0.9, "min_chars": 20}
    option_types = {"threshold": Rule.Option(float, min=0, max=1), "min_chars": Rule.Option(int, min=0)}

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        prev_user: Turn | None = None
        for turn in example.turns:
            if turn.role == "user":
                prev_user = turn
            elif turn.role == "assistant" and prev_user is not None and not _is_call(turn):
                verdict = self._echo(prev_user, turn)
                if verdict:
                    yield self.finding(example.record, turn.pointer, f"Response {verdict} the prompt.")

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        if not examples:
            return []
        view = batch_view(examples)
        sigs = view.sigs
        pairs_of: dict = self.__dict__.setdefault("_pairs", {})
        chosen: list[int] = []
        special = None
        min_chars = self.options["min_chars"]
        window, missing = self._window, self._missing
        for i, sig in enumerate(sigs):
            pairs = pairs_of.get(sig)
            if pairs is None:
                if len(pairs_of) >= _MEMO_MAX:
                    pairs_of.clear()
                pairs = pairs_of[sig] = _echo_pairs(sig)
            if not pairs:
                continue
            if special is None:
                special, size, starts = view.special, view.lengths, view.starts
                ascii_, irregular = view.ascii, view.irregular
                texts = view.texts
            base = starts[i]
            for u, a in pairs:
                pu, pa = base + u, base + a
                phi, rhi = size[pu], size[pa]
                if not phi or not rhi:
                    continue  # an empty text has no verdict
                if special and (pu in special or pa in special):  # lower() lengthens U+0130: the exact bounds
                    turns = examples[i].turns
                    if self._may_echo(turns[u], turns[a]):
                        chosen.append(i)
                        break
                    continue
                # Lengths are upper bounds of the normalised lengths (no U+0130). The window
                # only tightens as a lower bound grows, so a pair that may be "nearly identical"
                # even with the longer text's lower bound at its upper bound needs no measuring.
                # Otherwise only that text's lower bound can rule the pair out: the shorter
                # one's is at least 1 when it is not blank (a blank text has no verdict; a blank
                # pair let through is only checked), and below 5000 when its length is.
                if rhi >= phi:
                    plo = 1 if phi < 5000 else _lower_bound(texts[pu], ascii_[pu], pu in irregular)
                    if not plo:
                        continue
                    verdicts = window(plo, phi, rhi, rhi) if 4 * rhi <= 5 * phi else 0
                    if verdicts != 2:
                        rlo = _lower_bound(texts[pa], ascii_[pa], pa in irregular)
                        if not (rlo and (rlo <= phi or rhi >= min_chars and rlo / phi <= 1.25)):
                            continue
                        verdicts = window(plo, phi, rlo, rhi)
                else:
                    verdicts = window(phi, phi, 1, rhi) if 5 * rhi >= 4 * phi else 0
                    if verdicts != 2:
                        plo = _lower_bound(texts[pu], ascii_[pu], pu in irregular)
                        if not (plo and (plo <= rhi or rhi >= min_chars and rhi >= 0.5 * plo)):
                            continue
                        verdicts = window(plo, phi, 1, rhi)
                if not verdicts:
                    continue
                if verdicts == 1:
                    target = 1.0
                else:
                    target = missing(_words_upper(texts[pa], ascii_[pa], pa in irregular))
                    if target == 0:
                        chosen.append(i)
                        break
                # (`turn.text` is the view's text; lower() is `turn.lower`, without the property)
                if _probe(texts[pu].lower(), texts[pa].lower(), target):
                    chosen.append(i)
                    break
        return _check_some(self, examples, chosen, ctx)

    def _target(self, plo: int, phi: int, rlo: int, rhi: int, rwords: int) -> float | None:
        """From bounds on the normalised lengths (and the response's word count): None when no
        verdict is possible, else how many response words missing from the prompt rule every
        verdict out (0: none can)."""
        verdicts = self._window(plo, phi, rlo, rhi)
        if not verdicts:
            return None
        return 1.0 if verdicts == 1 else self._missing(rwords)

    def _window(self, plo: int, phi: int, rlo: int, rhi: int) -> int:
        """From bounds on the normalised lengths: 0 when no verdict is possible, 1 when only
        "identical" or "copied" are, 2 when "nearly identical" may be."""
        if plo == 0 or rlo == 0:
            return 0  # a normalised text is empty
        threshold, min_chars = self.options["threshold"], self.options["min_chars"]
        # identical (equal lengths) or copied (len(r) >= min_chars and >= half of len(p), r in p)
        copied = (rlo <= phi and plo <= rhi) or (rhi >= min_chars and rhi >= 0.5 * plo and rlo <= phi)
        # nearly identical: the length window, then SequenceMatcher.ratio() >= threshold, which is
        # at most 2 * min(len) / (len(p) + len(r)) (matching characters <= the shorter length)
        near = rhi >= min_chars and plo < 5000 and rhi / plo >= 0.8 and rlo / phi <= 1.25
        if near:
            if rhi < plo:
                near = 2.0 * rhi / (plo + rhi) >= threshold
            elif phi < rlo:
                near = 2.0 * phi / (phi + rlo) >= threshold
        return 2 if near else 1 if copied else 0

    def _missing(self, rwords: int) -> float:
        """How many response words missing from the prompt rule "nearly identical" out (0: no
        number does). One response word that is not even a substring of the prompt rules out
        "identical" and "copied" (every word of r would lie inside p). "Nearly identical" needs
        |words(p) & words(r)| >= threshold * |words(r)|: impossible once more than
        (1 - threshold) * |words(r)| words are missing: the least integer above that (with a
        margin far above float rounding; |words(r)| <= rwords)."""
        threshold = self.options["threshold"]
        if not 0.0 <= threshold <= 1.0:
            return 0.0
        return float(int((1.0 - threshold) * rwords + 1e-6) + 1)

    def _may_echo(self, prompt: Turn, response: Turn) -> bool:
        """False only when `_echo` is certain to return None, proved from bounds on the lengths
        of the normalised texts and from words of the response missing from the prompt."""
        ptext, rtext = prompt.text, response.text
        phi, rhi = _norm_upper(ptext), _norm_upper(rtext)
        # The lower bound of the longer text first: it alone often rules the pair out.
        if rhi >= phi:
            rlo, rwords = _norm_lower(rtext)
            if rlo == 0 or rlo > 1.25 * phi:
                return False
            plo, _ = _norm_lower(ptext)
        else:
            plo, _ = _norm_lower(ptext)
            if plo == 0 or rhi < 0.5 * plo:
                return False
            rlo, rwords = _norm_lower(rtext)
        target = self._target(plo, phi, rlo, rhi, rwords)
        if target is None:
            return False
        if target == 0:
            return True
        return _probe(prompt.lower, response.lower, target)

    def _echo(self, prompt: Turn, response: Turn) -> str | None:
        p, r = _norm(prompt), _norm(response)
        if not r or not p:
            return None
        if p == r:
            return "is identical to"
        if len(r) >= self.options["min_chars"] and len(r) >= 0.5 * len(p) and r in p:
            return "is copied verbatim from"
        if len(r) >= self.options["min_chars"] and 0.8 <= len(r) / len(p) <= 1.25 and len(p) < 5000:
            # Word overlap first (C-speed set operations); the character diff only for close pairs.
            pw, rw = set(p.split()), set(r.split())
            if len(pw & rw) < self.options["threshold"] * max(len(pw), len(rw)):
                return None
            m = SequenceMatcher(None, p, r, autojunk=False)
            if m.quick_ratio() >= self.options["threshold"] and m.ratio() >= self.options["threshold"]:
                return "is nearly identical to"
        return None


def _echo_pairs(sig: tuple) -> tuple[tuple[int, int], ...]:
    """(user, assistant) turn positions that `ResponseEchoesPrompt.check` compares, from the
    role signature."""
    pairs = []
    prev_user = None
    for j, code in enumerate(sig):
        if code == "|":  # preference `rejected` turns follow
            break
        if code == "user":
            prev_user = j
        elif code == "assistant" and prev_user is not None:  # "assistant*" is a tool call
            pairs.append((prev_user, j))
    return tuple(pairs)


_ASCII_SPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "


# Bounds on len(" ".join(text.lower().split())) without splitting. lower() keeps every
# character's length and whitespace-ness except U+0130 (two characters), so the normalised
# length is the non-space count plus one per gap between words: at least the non-space count
# (exactly 0 for a blank text), at most len(text.lower()); the words are at most spaces + 1.

def _norm_upper(text: str) -> int:
    return len(text) if text.isascii() else len(text) + text.count("\u0130")


def _norm_lower(text: str) -> tuple[int, int]:
    """(a lower bound of the normalised length, an upper bound of the number of words)."""
    if text.isascii():
        solid = len(text.encode("ascii").translate(None, _ASCII_SPACE))
        return solid, len(text) - solid + 1
    flat = text
    if not flat.isprintable():  # printable: ' ' is the only whitespace
        flat = flat.replace("\n", " ").replace("\t", " ").replace("\r", " ")
        if not flat.isprintable():  # other whitespace or invisible characters: measure exactly
            words = text.split()
            return (len(" ".join(words)) + text.count("\u0130") if words else 0), len(words)
    spaces = flat.count(" ")
    return len(text) + text.count("\u0130") - spaces, spaces + 1


def _lower_bound(text: str, ascii_: bool, irregular: bool) -> int:
    """A lower bound of the normalised length of a text without U+0130: exact for ASCII text
    whose only whitespace is single spaces between words (no tab, carriage return or control:
    not `irregular`), else `_norm_lower`'s."""
    if ascii_:
        if not irregular and _single_spaced(text):
            return len(text)
    elif text.isprintable():  # ' ' is its only whitespace (and no U+0130: no count of it)
        return len(text) - text.count(" ")
    return _norm_lower(text)[0]


def _words_upper(text: str, ascii_: bool, irregular: bool) -> int:
    """An upper bound of the number of words of a text: for ASCII text without tabs, carriage
    returns or controls, ' ' and '\\n' are its only whitespace."""
    if ascii_:
        if not irregular:
            return text.count(" ") + text.count("\n") + 1
    elif text.isprintable():
        return text.count(" ") + 1
    return _norm_lower(text)[1]


def _single_spaced(text: str) -> bool:
    """For ASCII text without tabs, carriage returns or controls: whether single spaces
    between words are its only whitespace (then its normalised length is its length)."""
    return "  " not in text and "\n" not in text and text[:1] != " " and text[-1:] != " "


def _probe(prompt: str | bytes, response: str | bytes, target: float) -> bool:
    """False when at least `target` distinct words of the (lower-case) response are not
    substrings of the (lower-case) prompt, looking at the first few words only."""
    probes = int(target * 2) + 2
    words = response.split(None, probes)
    del words[probes:]  # the unsplit rest
    missing: set = set()
    short = []
    for word in words:  # long words first: short ones are usually inside some prompt word
        if len(word) < 4:
            short.append(word)
        elif word not in prompt and word not in missing:
            missing.add(word)
            if len(missing) >= target:
                return False
    for word in short:
        if word not in prompt and word not in missing:
            missing.add(word)
            if len(missing) >= target:
                return False
    return True


_FENCE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)
_PLACEHOLDERS = re.compile(
    r"\{\{\s*[A-Za-z_][\w.\-]*\s*\}\}"                       # {{name}}
    r"|\[\s*(?:INSERT|YOUR|PLACEHOLDER|TODO|FILL IN)\b[^\]\n]{0,40}\]"  # [INSERT NAME]
    r"|<\s*(?:PLACEHOLDER|INSERT[ _][A-Z_ ]+)\s*>"           # <INSERT_NAME>
    r"|\$\{[A-Za-z_]\w*\}",                                  # ${name}
    re.I,
)


class UnfilledPlaceholder(Rule):
    """Text contains an unfilled template placeholder such as `{{name}}` or `[INSERT NAME]`.

    ## What it does
    Finds `{{var}}`, `${var}`, `[INSERT …]`, `[YOUR …]` and `<PLACEHOLDER>` markers outside code
    blocks and inline code (Jinja, Handlebars and shell in code are legitimate).

    ## Why it matters
    The model learns to emit the literal placeholder ("I am {{name}}"), a common leftover of
    templated synthetic data (LLaMA-Factory's identity.json ships them on purpose, to be replaced).

    ## Example
    ```json
    {"instruction": "Who are you?", "output": "I am {{name}}, built by {{author}}."}
    ```

    ## Use instead
    ```json
    {"instruction": "Who are you?", "output": "I am Ada, built by Acme."}
    ```

    ## How to fix
    Substitute the values before training (e.g. `sed -i 's/{{name}}/Ada/g'`).
    """

    code = "FTC009"
    name = "unfilled-placeholder"
    severity = Severity.WARNING
    tags = ("consistency", "template")
    precision = "medium"

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        """`check`'s substring prefilter, evaluated on the batch projection: only turns holding
        `{`, `[` or `<` (memchr scans) can pass it; `{{` and `${` are looked for from a turn's
        first `{` on, the keywords in the turn's span of the projection (nothing is copied)."""
        if not examples:
            return []
        view = batch_view(examples)
        chosen: set[int] = set()
        special = view.special
        for _, group in view.groups():
            proj, starts, flat = group.proj, group.starts, group.flat
            find = proj.find
            i = find(b"{")
            while i >= 0:
                k = bisect_right(starts, i) - 1
                end = starts[k + 1]
                # every `${` of the turn starts at or after the byte before its first `{`
                if find(b"{{", i, end) >= 0 or find(b"${", max(i - 1, starts[k]), end) >= 0 or flat[k] in special:
                    chosen.add(flat[k])
                i = find(b"{", end)
            seen: set[int] = set()
            for opener in (b"[", b"<"):
                for k in group.hits(opener):
                    start, end = starts[k], starts[k + 1]
                    turn = flat[k]
                    if turn not in chosen and turn not in seen:
                        seen.add(turn)
                        if (find(b"your", start, end) >= 0 or find(b"insert", start, end) >= 0
                                or find(b"todo", start, end) >= 0 or find(b"fill in", start, end) >= 0
                                or find(b"placeholder", start, end) >= 0 or turn in special):
                            chosen.add(turn)
        return _check_some(self, examples, view.owners(chosen), ctx)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.all_turns():
            low = turn.lower
            # Substring tests first: every pattern needs `{{`, `${`, or a bracket and a keyword.
            if not ("{{" in low or "${" in low or ("[" in low or "<" in low) and (
                    "insert" in low or "your" in low or "placeholder" in low or "todo" in low or "fill in" in low)):
                continue
            found = _PLACEHOLDERS.findall(_FENCE.sub(" ", turn.text))
            if found:
                shown = ", ".join(dict.fromkeys(found[:3]))
                yield self.finding(example.record, turn.pointer,
                                   f"Unfilled placeholder{'s' if len(found) > 1 else ''} {shown} in {turn.role} content.")


# Special tokens of common chat templates (Llama 2/3, ChatML/Qwen, Mistral, Gemma, Phi, GPT).
_SPECIAL = re.compile(
    r"<\|(?:im_start|im_end|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|"
    r"endoftext|eom_id|python_tag|fim_prefix|fim_middle|fim_suffix|fim_pad|file_sep|repo_name|"
    r"system|user|assistant|end|endofprompt|pad|tool_call|tool_response)\|>"
    r"|<\/?(?:start_of_turn|end_of_turn|bos|eos|tool_call|tool_response)>"
    r"|\[/?INST\]|<<SYS>>|<</SYS>>|<s>\s*\[INST\]|</s>\s*(?:<s>|$)",
)


# Every marker above starts with `<` or `[` followed by one of these (lower-cased, as in the
# batch projection): `<|`, `</`, `<<`, `<s` (start_of_turn, s>), `<e`, `<b`, `<t`; `[i`, `[/`.
_MARKER_STARTS = ((b"<", (b"|", b"/", b"<", b"s", b"e", b"b", b"t")), (b"[", (b"i", b"/")))


class TemplateTokenInContent(Rule):
    """Content contains chat-template special tokens such as `<|im_start|>` or `[INST]`.

    ## What it does
    Finds the control tokens of the common chat templates (ChatML/Qwen, Llama 2 and 3, Mistral,
    Gemma, Phi, GPT fill-in-the-middle) inside message text.

    ## Why it matters
    The tokenizer turns them into real special tokens, so the example's structure breaks and the
    model learns to emit turn boundaries mid-answer. OpenAI rejects such files ("message contains
    an invalid token").

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi<|im_end|>"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## How to fix
    Strip the markers (they usually come from text that was already rendered with a template).
    """

    code = "FTC010"
    name = "template-token-in-content"
    severity = Severity.ERROR
    tags = ("consistency", "template")

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        """Every marker starts with `<` or `[`: the regex runs only on turns holding one."""
        if not examples:
            return []
        view = batch_view(examples)
        texts = view.texts
        chosen: set[int] = set()
        for _, group in view.groups():
            proj, starts = group.proj, group.starts
            for opener, nexts in _MARKER_STARTS:
                i = proj.find(opener)
                while i >= 0:
                    if proj[i + 1:i + 2] not in nexts:
                        i = proj.find(opener, i + 1)
                        continue
                    k = group.turn_at(i)
                    flat = group.flat[k]
                    if _SPECIAL.search(texts[flat]):
                        chosen.add(view.owner(flat))
                    i = proj.find(opener, starts[k + 1])
        return _check_some(self, examples, sorted(chosen), ctx)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.all_turns():
            text = turn.text
            if "<" not in text and "[" not in text:
                continue
            m = _SPECIAL.search(text)
            if m:
                yield self.finding(example.record, turn.pointer,
                                   f"Chat-template marker `{m.group(0).strip()}` inside {turn.role} content.")


_CTRL_BYTE, _MOJI_BYTE = bytes((CTRL,)), bytes((MOJI,))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_MOJIBAKE = re.compile(r"Ã[\x80-\xbf]|Ã[©¨¢ª«®¯°±³´µ¶·¸¹º»¼½¾¿¡]|â€[™œ\x9d˜¦“”]|Â[\xa0-\xbf]|ï»¿")


class ControlCharsOrMojibake(Rule):
    """Text contains control characters, replacement characters or mojibake.

    ## What it does
    Finds C0/C1 control characters (other than tab and newline), U+FFFD replacement characters,
    and double-encoded UTF-8 sequences such as `Ã©` or `â€™`.

    ## Why it matters
    These are the fingerprints of broken scraping or encoding round trips; the model learns
    to produce garbage characters.

    ## Example
    ```json
    {"instruction": "Say hello", "output": "Itâ€™s a cafÃ© day."}
    ```

    ## Use instead
    ```json
    {"instruction": "Say hello", "output": "It’s a café day."}
    ```

    ## How to fix
    Repair the encoding (e.g. with `ftfy`) or drop the example.
    """

    code = "FTC011"
    name = "control-chars-or-mojibake"
    severity = Severity.WARNING
    tags = ("consistency", "encoding")

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        """A control character (other than tab and newline) is a CTRL byte of the projection,
        U+FFFD is found in the joined text, and every mojibake pattern starts with a MOJI byte."""
        if not examples:
            return []
        view = batch_view(examples)
        turns = set(view.marked("\ufffd"))
        for _, group in view.groups():
            for k in chain(group.hits(_CTRL_BYTE), group.hits(_MOJI_BYTE)):
                turns.add(group.flat[k])
        chosen = view.owners(turns)
        return _check_some(self, examples, sorted(chosen), ctx)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.all_turns():
            text = turn.text
            if text.isascii() and text.isprintable():
                continue
            m = _CONTROL.search(text)
            if m:
                ch = m.group(0)
                yield self.finding(example.record, turn.pointer,
                                   f"Control or replacement character U+{ord(ch):04X} in {turn.role} content.")
                continue
            m = _MOJIBAKE.search(text)
            if m:
                yield self.finding(example.record, turn.pointer,
                                   f"Mojibake `{m.group(0)}` in {turn.role} content (text decoded with the wrong encoding).")


_REFUSAL_SOURCE = (
    r"\bas an ai(?: language)? model\b|\bas a (?:large )?language model\b|\bi(?:'m| am) (?:just )?an ai(?: assistant)?(?:,| and) i (?:can(?:no|')t|don't)\b"
    r"|\bi(?:'m| am) sorry,? but i (?:can(?:no|')t|am unable to|won't) (?:help|assist|provide|fulfil|comply)"
    r"|\bi (?:cannot|can't) (?:fulfil|fulfill|comply with) (?:this|that|your) request\b"
    r"|\bmy knowledge cutoff\b"
)
# One literal of each alternative above ("as an ai" and "an ai" share one).
_REFUSAL_NEEDLES = (b"an ai", b"language model", b"sorry", b" request", b"knowledge cutoff")
_REFUSAL = re.compile(_REFUSAL_SOURCE)
# The batch's second test, on the projection of an answer: the pattern less its leading `\b`s.
# It matches wherever `_REFUSAL` matches the lower-case text (outside U+0130 and U+212A): each
# match consumes only ASCII literals, which the projection keeps in place, and the remaining
# `\b`s each stand next to an ASCII letter, where a bytes pattern (ASCII word characters) sees
# a boundary wherever the str pattern (Unicode word characters) does.
_REFUSAL_PREFILTER = re.compile(_REFUSAL_SOURCE.replace(r"|\b", "|").removeprefix(r"\b").encode())
_REFUSAL_ANY_CASE = re.compile(_REFUSAL_SOURCE, re.I)


class RefusalBoilerplate(Rule):
    """An assistant answer contains refusal or "As an AI language model" boilerplate.

    ## What it does
    Finds stock phrases of distilled chat models: "As an AI language model", "I'm sorry, but I
    can't help with", "I cannot fulfil this request", "my knowledge cutoff".

    ## Why it matters
    Distilled refusals teach the fine-tuned model to refuse and to talk about itself instead of
    answering; it is the most common contaminant of synthetic SFT data.

    ## Example
    ```json
    {"instruction": "Write a haiku about rain.", "output": "As an AI language model, I cannot feel rain, but here is a haiku…"}
    ```

    ## Use instead
    ```json
    {"instruction": "Write a haiku about rain.", "output": "Soft rain on the roof…"}
    ```

    ## How to fix
    Rewrite or drop the example; if refusals are intended (safety data), ignore this rule for
    that file with `per-file-ignores`.
    """

    code = "FTC012"
    name = "refusal-boilerplate"
    severity = Severity.WARNING
    tags = ("consistency", "quality")
    precision = "medium"

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        """Every alternative of the pattern contains one of `_REFUSAL_NEEDLES`; they are searched
        in the projection of the answers (which equals their lower-case text on ASCII), and the
        answers holding one are searched with `_REFUSAL_PREFILTER`."""
        if not examples:
            return []
        view = batch_view(examples)
        turns: set[int] = set()
        special = view.special
        search = _REFUSAL_PREFILTER.search
        for answer, group in view.groups():
            if answer:
                hit: set[int] = set()
                for needle in _REFUSAL_NEEDLES:
                    hit.update(group.hits(needle))
                proj, starts, flat = group.proj, group.starts, group.flat
                for k in hit:
                    # a slice, so that the pattern sees the turn's own ends
                    if search(proj[starts[k]:starts[k + 1]]):
                        turns.add(flat[k])
                if special:
                    answers = set(flat)
                    turns.update(t for t in special if t in answers)
        return _check_some(self, examples, view.owners(turns), ctx)

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        for turn in example.turns:
            if turn.role != "assistant":
                continue
            text = turn.text
            lowered = turn.lower
            # Every phrase contains one of these words; substring tests skip most answers at C speed.
            if not (" ai" in lowered or "language model" in lowered or "sorry" in lowered
                    or "fulfil" in lowered or "comply" in lowered or "knowledge cutoff" in lowered):
                continue
            if _REFUSAL.search(lowered):  # case-sensitive search on lowered text: fast
                m = _REFUSAL_ANY_CASE.search(text)  # only on a hit: quote the user's own casing
                quote = m.group(0) if m else "refusal phrase"
                yield self.finding(example.record, turn.pointer, f"Refusal boilerplate: \"{quote}\".")
