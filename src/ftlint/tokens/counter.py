"""Count tokens the way the trainer will: render, tokenise in batches, find the loss mask.

One `TokenService` exists per (tokenizer, template) and run; rules get per-example
`TokenCounts` through `counts_for(example, ctx)`, computed once and kept in `example.cache`.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ..formats import Example
from .render import Job, NotRenderable, build_job
from .resolve import TokenizerFiles, Unresolved, resolve
from .template_names import CHATML, NAMED_TEMPLATES

if TYPE_CHECKING:
    from .template import ChatTemplate

CACHE_KEY = "tokens"
APPROX_CHARS_PER_TOKEN = 4.0   # the usual rule of thumb for English text with BPE vocabularies
APPROX_MESSAGE_OVERHEAD = 4    # role header and end-of-turn marker per message


@dataclass(slots=True)
class TokenCounts:
    total: int
    assistant: int                      # tokens inside assistant answers (incl. their end-of-turn)
    trained: int                        # tokens in the loss mask under the configured loss
    spans: list[tuple[int, int]]        # assistant token spans [start, end)
    loss: str                           # assistant | completion | all
    approximate: bool = False
    approx_reason: str = ""
    eos_trained: bool | None = None     # None: not applicable (no eos, or loss on everything)
    special_hits: list[tuple[str, str]] = field(default_factory=list)   # (pointer, token text)
    dropped: list[tuple[str, str]] = field(default_factory=list)        # (pointer, role) the template left out
    error: str | None = None            # the template rejected the conversation
    error_pointer: str = ""
    mask_method: str = ""               # generation | prefix | search | completion | all | approx
    piece_starts: list[tuple[int, str]] = field(default_factory=list)   # (token index, pointer)

    @property
    def prompt(self) -> int:
        return self.total - self.assistant

    def pointer_at(self, token_index: int) -> str:
        """The pointer of the piece that holds `token_index` (where a cut falls)."""
        best = ""
        for start, pointer in self.piece_starts:
            if start <= token_index:
                best = pointer
            else:
                if not best:
                    best = pointer
                break
        return best

    def assistant_after(self, limit: int) -> int:
        """Assistant tokens at positions >= limit (cut by truncation to `limit`)."""
        return sum(max(0, e - max(s, limit)) for s, e in self.spans)


def loss_mode(plan: Any, fmt: str) -> str:
    """What the trainer computes the loss on: assistant answers, the completion, or everything."""
    if fmt == "text":
        return "all"
    if plan is not None:
        if getattr(plan, "train_on_inputs", None) is True:
            return "all"
        if getattr(plan, "assistant_only_loss", None) is True:
            return "assistant"
        if getattr(plan, "dialect", None) == "trl":
            return "completion" if fmt == "prompt_completion" else "all"
    return "completion" if fmt == "prompt_completion" else "assistant"


class TokenService:
    """A tokenizer + chat template for one run (or one approximation, with the reason)."""

    def __init__(self, spec: str, template_choice: str | None = None) -> None:
        self.spec = spec
        self.files: TokenizerFiles | None = None
        self.tokenizer: Any = None
        self.approx_reason = ""
        self.template: ChatTemplate | None = None
        self.template_note = ""
        self.template_error = ""
        self.eos_text: str | None = None
        self.eos_id: int | None = None
        self.pad_text: str | None = None
        self.context_length: int | None = None
        self.special_re: re.Pattern[str] | None = None
        self.reported: set[tuple[str, str]] = set()
        try:
            self.files = resolve(spec)
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(self.files.tokenizer_json)
        except Unresolved as exc:
            self.approx_reason = str(exc)
        except Exception as exc:  # a corrupt tokenizer.json: approximate, and say why
            self.approx_reason = f"tokenizer for {spec!r} could not be loaded: {type(exc).__name__}: {exc}"
            self.tokenizer = None
        if self.files is not None and self.tokenizer is not None:
            f = self.files
            self.eos_text = f.special.get("eos_token")
            self.pad_text = f.special.get("pad_token")
            self.eos_id = self.tokenizer.token_to_id(self.eos_text) if self.eos_text else None
            self.context_length = f.context_length
            specials = sorted({t.content for t in self.tokenizer.get_added_tokens_decoder().values() if t.special}
                              | {v for k, v in f.special.items() if v}, key=len, reverse=True)
            if specials:
                self.special_re = re.compile("|".join(re.escape(s) for s in specials))
        self._choose_template(template_choice)

    # --- template --------------------------------------------------------------------------
    def _choose_template(self, choice: str | None) -> None:
        from .template import ChatTemplate, TemplateError  # Jinja: only once a tokenizer is used
        variables = dict(self.files.special) if self.files else {}
        source, origin = None, ""
        if choice and ("{{" in choice or "{%" in choice):
            source, origin = choice, "the config's inline chat_template"
        elif choice and choice.lower() not in ("tokenizer_default", "tokenizer_default_fallback_chatml"):
            if choice.lower() in NAMED_TEMPLATES:
                source, origin = NAMED_TEMPLATES[choice.lower()], f"the named template {choice!r}"
            else:
                self.template_note = (f"the config names chat template {choice!r}, which ftlint does not bundle; "
                                      "counted with the tokenizer's own template")
        if source is None and self.files and self.files.chat_template:
            source, origin = self.files.chat_template, f"{self.files.template_origin} of {self.spec}"
        if source is None:
            source = CHATML
            if self.tokenizer is not None:
                origin = "ChatML (fallback)"
                self.template_note = (f"the tokenizer {self.spec!r} has no chat template and the config sets none; "
                                      "conversations were counted with ChatML")
            else:
                origin = "approximation"
        try:
            self.template = ChatTemplate(source, variables, origin)
        except TemplateError as exc:
            self.template_error = str(exc)
            self.template = ChatTemplate(CHATML, variables, "ChatML (the configured template does not compile)")

    @property
    def approximate(self) -> bool:
        return self.tokenizer is None

    def describe(self) -> str:
        if self.approximate:
            return f"approximate (~{APPROX_CHARS_PER_TOKEN:g} characters per token)"
        assert self.files is not None
        where = self.files.origin.split(" (")[0]  # "folder x" / "Hugging Face cache" / "Hugging Face hub"
        where = "local " + where.split(" ")[0] if where.startswith(("folder", "file")) else where
        template = self.template.origin.replace(f" of {self.spec}", "") if self.template else "-"
        return f"{self.spec} ({where}; template: {template})"

    def once(self, code: str, key: str) -> bool:
        """True the first time (code, key) is asked for: one-per-file/run notes."""
        if (code, key) in self.reported:
            return False
        self.reported.add((code, key))
        return True

    # --- counting --------------------------------------------------------------------------
    def prepare(self, examples: Iterable[Example], plan: Any = None, declared_type: str | None = None) -> None:
        """Count a batch of examples (one parallel encode) and cache the results on them."""
        from .template import TemplateError  # Jinja: only once a tokenizer is used
        todo = [ex for ex in examples if CACHE_KEY not in ex.cache]
        if not todo:
            return
        dialect = getattr(plan, "dialect", None)
        rendered: list[tuple[Example, Job, str, list[tuple[int, int]], str]] = []
        for ex in todo:
            try:
                job = build_job(ex, dialect, declared_type)
            except NotRenderable:
                ex.cache[CACHE_KEY] = None
                continue
            loss = loss_mode(plan, ex.format)
            if self.approximate:
                ex.cache[CACHE_KEY] = self._approximate(job, loss)
                continue
            try:
                text, spans, method = self._render(job)
            except TemplateError as exc:
                ex.cache[CACHE_KEY] = TokenCounts(0, 0, 0, [], loss, error=str(exc),
                                                  error_pointer=_messages_pointer(job))
                continue
            rendered.append((ex, job, text, spans, method))
        if not rendered:
            return
        with_special = [i for i, r in enumerate(rendered) if r[1].add_special_tokens]
        without = [i for i, r in enumerate(rendered) if not r[1].add_special_tokens]
        encodings: list[Any] = [None] * len(rendered)
        for group, flag in ((with_special, True), (without, False)):
            if group:
                encs = self.tokenizer.encode_batch([rendered[i][2] for i in group], add_special_tokens=flag)
                for i, enc in zip(group, encs):
                    encodings[i] = enc
        for (ex, job, text, spans, method), enc in zip(rendered, encodings):
            ex.cache[CACHE_KEY] = self._counts(ex, job, text, spans, method, enc, loss_mode(plan, ex.format))

    def _render(self, job: Job) -> tuple[str, list[tuple[int, int]], str]:
        """Training text and the character spans of the trained answers."""
        from .template import TemplateError  # Jinja: only once a tokenizer is used
        if job.kind == "text":
            text = job.text
            if job.append_eos and self.eos_text and not text.endswith(self.eos_text):
                text += self.eos_text
            if job.completion_only:
                return text, [(job.prompt_chars, len(text))], "completion"
            return text, [], "all"
        tmpl = self.template
        assert tmpl is not None
        if tmpl.has_generation:
            text, spans = tmpl.render(job.messages, tools=job.tools, track=True)
            return text, spans, "generation"
        text, _ = tmpl.render(job.messages, tools=job.tools)
        if job.prompt_messages is not None:  # TRL prompt/completion: the prompt with the generation prompt
            prompt, _ = tmpl.render(job.messages[:job.prompt_messages], tools=job.tools, add_generation_prompt=True)
            start = len(prompt) if text.startswith(prompt) else _common_prefix(prompt, text)
            return text, [(start, len(text))], "completion"
        spans: list[tuple[int, int]] = []
        method = "prefix"
        located: list[tuple[int, int] | None] | None = None
        for i in job.assistant_indices:
            span = None
            try:
                before = tmpl.render(job.messages[:i], tools=job.tools, add_generation_prompt=True)[0] if i else ""
                upto = text if i == len(job.messages) - 1 else tmpl.render(job.messages[:i + 1], tools=job.tools)[0]
            except TemplateError:
                before = upto = None
            if before is not None and upto is not None and text.startswith(upto) and upto.startswith(before) \
                    and (not spans or len(before) >= spans[-1][1]):
                span = (len(before), len(upto))
            else:  # the template renders history differently (Qwen3 drops old reasoning): find the answer
                if located is None:
                    located = _locate_messages(text, job.messages)
                where = located[i]
                if where is not None:
                    start, end = where
                    # The answer runs to its end-of-turn token (tool-call JSON and EOS included).
                    limit = next((p[0] for p in located[i + 1:] if p is not None), len(text))
                    eos_at = text.find(self.eos_text, end, limit) if self.eos_text else -1
                    span = (start, eos_at + len(self.eos_text) if eos_at >= 0 else end)
                    method = "search"
            if span is not None:
                spans.append(span)
        return text, spans, method

    def _counts(self, ex: Example, job: Job, text: str, char_spans: list[tuple[int, int]], method: str,
                enc: Any, loss: str) -> TokenCounts:
        total = len(enc)
        spans: list[tuple[int, int]] = []
        for cs, ce in char_spans:
            if ce <= cs:
                continue
            ts = _char_to_token(enc, cs, forward=True)
            te = _char_to_token(enc, ce - 1, forward=False)
            if ts is None or te is None or te < ts:
                continue
            spans.append((ts, te + 1))
        assistant = sum(e - s for s, e in spans)
        trained = total if loss == "all" or method == "all" else assistant
        eos_trained: bool | None = None
        if self.eos_id is not None and spans and loss != "all":
            ids = enc.ids
            last_s, last_e = spans[-1]
            eos_trained = self.eos_id in ids[last_s:last_e]
        counts = TokenCounts(total, assistant, trained, spans, loss, eos_trained=eos_trained, mask_method=method)
        # Where each piece starts, and what the template dropped or turned into special tokens.
        pos = 0
        for piece in job.pieces:
            needle = piece.text.strip()  # templates trim content (Llama 3) or split off reasoning (Qwen3)
            if "</think>" in needle:
                needle = needle.rsplit("</think>", 1)[1].strip()
            if not needle:
                continue
            at = text.find(needle, pos)
            if at < 0:
                if job.kind == "chat":
                    counts.dropped.append((piece.pointer, piece.role))
                continue
            tok = _char_to_token(enc, at, forward=True)
            if tok is not None:
                counts.piece_starts.append((tok, piece.pointer))
            pos = at + len(needle)
            if self.special_re is not None:
                m = self.special_re.search(piece.text)
                if m:
                    counts.special_hits.append((piece.pointer, m.group(0)))
        counts.piece_starts.sort()
        return counts

    def _approximate(self, job: Job, loss: str) -> TokenCounts:
        """Counts without the tokenizer: characters / 4 plus a per-message overhead."""
        pos = 0
        spans: list[tuple[int, int]] = []
        starts: list[tuple[int, str]] = []
        assistant_pieces = {id(job.pieces[i]) for i in job.assistant_indices if i < len(job.pieces)}
        for piece in job.pieces:
            n = math.ceil(len(piece.text) / APPROX_CHARS_PER_TOKEN) + (APPROX_MESSAGE_OVERHEAD if job.kind == "chat" else 0)
            starts.append((pos, piece.pointer))
            trained_piece = id(piece) in assistant_pieces if job.kind == "chat" else piece.role == "assistant"
            if trained_piece:
                spans.append((pos + (APPROX_MESSAGE_OVERHEAD - 1 if job.kind == "chat" else 0), pos + n))
            pos += n
        total = pos + (1 if job.append_eos else 0)
        if spans and job.kind == "text":
            spans[-1] = (spans[-1][0], total)
        assistant = sum(e - s for s, e in spans)
        trained = total if loss == "all" or (job.kind == "text" and not job.completion_only) else assistant
        return TokenCounts(total, assistant, trained, spans, loss, approximate=True,
                           approx_reason=self.approx_reason, mask_method="approx", piece_starts=starts)


def _content(msg: dict) -> str:
    c = msg.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _locate_messages(text: str, messages: list[dict]) -> list[tuple[int, int] | None]:
    """Character span of each message's content, searched from the end (tool preambles come first)."""
    out: list[tuple[int, int] | None] = [None] * len(messages)
    limit = len(text)
    for j in range(len(messages) - 1, -1, -1):
        needle = _content(messages[j]).strip()
        if "</think>" in needle:
            needle = needle.rsplit("</think>", 1)[1].strip()
        needle = needle or _tool_call_name(messages[j])
        if not needle:
            continue
        p = text.rfind(needle, 0, limit)
        if p >= 0:
            out[j] = (p, p + len(needle))
            limit = p
    return out


def _tool_call_name(msg: dict) -> str:
    calls = msg.get("tool_calls")
    if isinstance(calls, list) and calls and isinstance(calls[0], dict):
        fn = calls[0].get("function", calls[0])
        name = fn.get("name") if isinstance(fn, dict) else None
        return name if isinstance(name, str) else ""
    return ""


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _messages_pointer(job: Job) -> str:
    if job.pieces:
        p = job.pieces[0].pointer
        return p.rsplit("/", 2)[0] if p.count("/") >= 3 else p
    return ""


def _char_to_token(enc: Any, char: int, forward: bool) -> int | None:
    """Token holding `char`; characters no token covers (stripped spaces) move to the next/previous token."""
    tok = enc.char_to_token(char)
    if tok is not None:
        return tok
    offsets = enc.offsets
    if forward:
        ends = [o[1] for o in offsets]
        i = bisect.bisect_right(ends, char)
        return i if i < len(offsets) else None
    starts = [o[0] for o in offsets]
    i = bisect.bisect_right(starts, char) - 1
    return i if i >= 0 else None


# --- access from rules -----------------------------------------------------------------------
SERVICE_KEY = "tokens"


def token_spec(ctx: Any) -> tuple[str | None, str | None]:
    """(tokenizer spec, chat template choice) for this context, or (None, None) when none is configured."""
    settings = ctx.services.get("settings") if ctx.services else None
    plan = ctx.plan
    spec = None
    if settings is not None:
        spec = getattr(settings, "tokenizer", None) or getattr(settings, "model", None)
    if spec is None and plan is not None:
        spec = getattr(plan, "tokenizer", None) or getattr(plan, "base_model", None)
    template = getattr(plan, "chat_template", None) if plan is not None else None
    return spec, template


def service_for(ctx: Any) -> TokenService | None:
    """The run's TokenService for this context (created once, lazily); None without a model."""
    spec, template = token_spec(ctx)
    if not spec:
        return None
    services = ctx.services if ctx.services is not None else {}
    pool = services.setdefault(SERVICE_KEY, {})
    key = (spec, template)
    svc = pool.get(key)
    if svc is None:
        svc = pool[key] = TokenService(spec, template)
    return svc


def declared_type(ctx: Any) -> str | None:
    """The dataset type the config declares for the file being checked (Axolotl `type:`)."""
    plan = ctx.plan
    if plan is None or not getattr(plan, "datasets", None):
        return None
    import os

    here = os.path.realpath(ctx.path) if ctx.path else ""
    for spec in plan.datasets:
        local = getattr(spec, "local_path", None)
        if local and os.path.realpath(local) == here:
            return getattr(spec, "declared_type", None)
    return None


def counts_for(example: Example, ctx: Any) -> TokenCounts | None:
    """Token counts for `example` (cached), or None when no model is configured or it cannot render."""
    if CACHE_KEY in example.cache:
        return example.cache[CACHE_KEY]
    svc = service_for(ctx)
    if svc is None:
        example.cache[CACHE_KEY] = None
        return None
    svc.prepare([example], ctx.plan, declared_type(ctx))
    return example.cache.get(CACHE_KEY)


def prepare_batch(examples: list[Example], ctx: Any) -> None:
    svc = service_for(ctx)
    if svc is not None:
        svc.prepare(examples, ctx.plan, declared_type(ctx))
