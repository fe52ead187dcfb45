"""Token rules (FTT): lengths and loss masks counted with the model's real tokenizer and chat
template (see ftlint.tokens). They run only when a model or tokenizer is configured (a training
config's base model, `--model`, `--tokenizer`, or the project config); otherwise they cost nothing.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from ..findings import Finding, Location, Severity
from ..formats import Example
from ..rule import Context, RecordRef, Rule
from ..tokens.counter import TokenCounts, counts_for, prepare_batch, service_for, token_spec


class _TokenRule(Rule):
    """Shared plumbing: batch counting, the approximate label."""

    tags = ("tokens",)

    def active(self, ctx: Context) -> bool:
        """No model or tokenizer configured: nothing to count, so no per-record cost at all."""
        return token_spec(ctx)[0] is not None

    def check_batch(self, examples: list[Example], ctx: Context) -> list[Finding]:
        prepare_batch(examples, ctx)  # one parallel tokenizer call; cached, so the other token rules reuse it
        return super().check_batch(examples, ctx)

    def collect_batch(self, examples: list[Example], ctx: Context) -> list[Any]:
        prepare_batch(examples, ctx)
        return super().collect_batch(examples, ctx)

    @staticmethod
    def label(c: TokenCounts) -> str:
        return f" (approximate count: {c.approx_reason})" if c.approximate else ""

    @staticmethod
    def props(c: TokenCounts, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"total_tokens": c.total, "assistant_tokens": c.assistant,
                               "prompt_tokens": c.prompt, "trained_tokens": c.trained, **extra}
        if c.approximate:
            out["approximate"] = True
            out["approximate_reason"] = c.approx_reason
        return out


def sequence_len(ctx: Context, options: dict[str, Any]) -> int | None:
    """The configured training sequence length: the config, else the rule options, else FTT001's."""
    plan = ctx.plan
    if plan is not None and getattr(plan, "sequence_len", None):
        return int(plan.sequence_len)
    if options.get("sequence_len"):
        return int(options["sequence_len"])
    settings = ctx.services.get("settings") if ctx.services else None
    if settings is not None:
        for key in ("FTT001", "sequence-too-long"):
            value = (settings.rules.get(key) or {}).get("sequence_len")
            if value:
                return int(value)
    return None


class SequenceTooLong(_TokenRule):
    """Example is longer than the training sequence length and will be truncated or dropped.

    ## What it does
    Renders each example with the model's chat template, tokenises it with the model's tokenizer
    and compares the token count with the configured sequence length (`sequence_len`,
    `max_length`, `cutoff_len`; or the rule option `sequence_len`). The finding points at the
    message where the cut falls and says how many answer tokens are lost. It is an error when the
    whole answer is cut, because the example then trains on nothing.

    ## Why it matters
    Trainers truncate silently (TRL, LLaMA-Factory) or drop the example (Axolotl's default
    `excess_length_strategy: drop`). A truncated answer teaches the model to stop mid-sentence;
    a fully cut answer wastes compute and, with assistant-only loss, contributes no gradient.

    ## Example
    With `sequence_len: 256`, a conversation that renders to 300 tokens, 120 of which are the
    assistant's answer starting at token 230.

    ## Use instead
    Examples that fit in `sequence_len`, or a larger `sequence_len` (see the FTT011 summary for
    the length that covers 99% of the examples).

    ## How to fix
    Raise the sequence length, shorten or split the long examples, or drop them before training.
    """

    code = "FTT001"
    name = "sequence-too-long"
    severity = Severity.WARNING
    default_options = {"sequence_len": None}
    option_types = {"sequence_len": Rule.Option(int | None, min=1)}

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        limit = sequence_len(ctx, self.options)
        if not limit:
            return
        c = counts_for(example, ctx)
        if c is None or c.error or c.total <= limit:
            return
        over = c.total - limit
        cut = c.assistant_after(limit)
        pointer = c.pointer_at(limit)
        props = self.props(c, sequence_len=limit, over_by=over, assistant_tokens_cut=cut)
        head = f"Example is {c.total:,} tokens, {over:,} over sequence_len {limit:,}"
        dialect = getattr(ctx.plan, "dialect", None)
        if dialect == "axolotl":
            props["outcome"] = "dropped"
            msg = f"{head}; Axolotl drops examples longer than sequence_len, so it never trains"
            yield self.finding(example.record, pointer, msg + self.label(c) + ".", properties=props)
            return
        props["outcome"] = "truncated"
        if c.assistant and cut >= c.assistant and c.loss != "all":
            msg = (f"{head}; truncation cuts the whole answer ({c.assistant:,} tokens), so the example "
                   "trains on nothing")
            yield self.finding(example.record, pointer, msg + self.label(c) + ".", severity=Severity.ERROR,
                               properties=props)
            return
        if c.assistant:
            share = 100.0 * cut / c.assistant
            msg = f"{head}; truncation cuts {cut:,} of {c.assistant:,} answer tokens ({share:.0f}%)"
        else:
            msg = f"{head}; truncation cuts the last {over:,} tokens"
        yield self.finding(example.record, pointer, msg + self.label(c) + ".", properties=props)


class ExceedsModelContext(_TokenRule):
    """Example is longer than the model's context window.

    ## What it does
    Compares each example's token count (model tokenizer + chat template) with the model's context
    length: `max_position_embeddings` from the model's config.json, else the tokenizer's
    `model_max_length` (or the rule option `context_length`).

    ## Why it matters
    Positions beyond the trained context are out of distribution: even with a large
    `sequence_len`, the model cannot use such examples well, and RoPE models degrade sharply.

    ## Example
    A 50,000-token conversation for a model with a 32,768-token context.

    ## Use instead
    Examples within the context window, or a long-context variant of the model (with rope scaling
    configured on purpose).

    ## How to fix
    Split or shorten the examples, or choose a model whose context covers them.
    """

    code = "FTT002"
    name = "exceeds-model-context"
    severity = Severity.WARNING
    default_options = {"context_length": None}
    option_types = {"context_length": Rule.Option(int | None, min=1)}

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        svc = service_for(ctx)
        if svc is None:
            return
        limit = self.options.get("context_length") or svc.context_length
        if not limit:
            return
        c = counts_for(example, ctx)
        if c is None or c.error or c.total <= limit:
            return
        yield self.finding(example.record, c.pointer_at(int(limit)),
                           f"Example is {c.total:,} tokens, longer than the model's context of {int(limit):,} "
                           f"tokens{self.label(c)}.", properties=self.props(c, context_length=int(limit)))


class TokenLengthOutlier(_TokenRule):
    """Example's token length is far outside the rest of the file.

    ## What it does
    Collects every example's token count and flags those outside Tukey's far fences on the log
    scale (beyond `k` interquartile ranges, default 3) in files with at least `min_examples`
    examples.

    ## Why it matters
    Extreme lengths are usually mistakes: a whole document pasted into one answer, a conversation
    that lost its content, or a scraper that concatenated pages. Very long outliers also set the
    padded batch size and the memory peak.

    ## Example
    A file of 200-token answers with one 9,000-token example.

    ## Use instead
    Lengths from one distribution; long documents split into several examples.

    ## How to fix
    Look at the flagged examples; remove or split them if they are mistakes.
    """

    code = "FTT003"
    name = "token-length-outlier"
    severity = Severity.WARNING
    scope = "dataset"
    default_options = {"k": 3.0, "min_examples": 20}
    option_types = {"k": Rule.Option(float, min=0), "min_examples": Rule.Option(int, min=0)}

    def collect(self, example: Example, ctx: Context) -> Any:
        c = counts_for(example, ctx)
        if c is None or c.error:
            return None
        r = example.record
        return (r.line, r.column, r.index, c.total, c.approximate)

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        k = float(self.options.get("k", 3.0))
        for path, items in facts.items():
            if len(items) < int(self.options.get("min_examples", 20)):
                continue
            logs = sorted(math.log(max(1, t[3])) for t in items)
            q1, q3 = _quantile(logs, 0.25), _quantile(logs, 0.75)
            iqr = max(q3 - q1, math.log(1.25))  # identical lengths must not make every change an outlier
            lo, hi = math.exp(q1 - k * iqr), math.exp(q3 + k * iqr)
            median = math.exp(_quantile(logs, 0.5))
            for line, col, index, total, approx in items:
                if lo <= total <= hi:
                    continue
                side = "longer" if total > hi else "shorter"
                note = " (approximate count)" if approx else ""
                ref = RecordRef(path, line, col, index)
                yield self.finding_at(ref.location(""), f"Example is {total:,} tokens, far {side} than the file's "
                                      f"median of {median:,.0f} tokens (outside {lo:,.0f}–{hi:,.0f}){note}.",
                                      key=f"{path}:{index}:{total}",
                                      properties={"total_tokens": total, "median_tokens": round(median),
                                                  "low_fence": round(lo), "high_fence": round(hi)})


class TinyAssistantShare(_TokenRule):
    """Assistant answer is a tiny share of the example's tokens.

    ## What it does
    Flags examples of at least `min_tokens` tokens where the tokens the model is trained on (the
    assistant answers, with their end-of-turn token) are under `min_share` (default 2%) of all
    tokens.

    ## Why it matters
    With assistant-only loss, compute is spent on prompts that produce almost no gradient; such
    examples are often templated prompts with an empty or one-word answer.

    ## Example
    A 3,000-token prompt answered with "Yes.".

    ## Use instead
    Examples whose answers carry the behaviour you want to teach.

    ## How to fix
    Check whether the answers were truncated or lost upstream; drop or rewrite the examples, or
    raise `min_share` / lower it if short answers are intended (classification data).
    """

    code = "FTT004"
    name = "tiny-assistant-share"
    severity = Severity.NOTE
    default_options = {"min_share": 0.02, "min_tokens": 64}
    option_types = {"min_share": Rule.Option(float, min=0, max=1), "min_tokens": Rule.Option(int, min=0)}

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        c = counts_for(example, ctx)
        if c is None or c.error or c.loss == "all" or c.total < int(self.options["min_tokens"]) or not c.assistant:
            return
        share = c.assistant / c.total
        if share >= float(self.options["min_share"]):
            return
        pointer = c.piece_starts[-1][1] if c.piece_starts else ""
        for start, ptr in c.piece_starts:
            if c.spans and start >= c.spans[-1][0]:
                pointer = ptr
                break
        yield self.finding(example.record, pointer,
                           f"Answer is {c.assistant:,} of {c.total:,} tokens ({100 * share:.1f}%); almost all of "
                           f"this example is prompt{self.label(c)}.", properties=self.props(c, share=round(share, 4)))


class SpecialTokenInText(_TokenRule):
    """Text contains a string that the model's tokenizer turns into a special token.

    ## What it does
    Checks every message for the text of the tokenizer's special tokens (`<|im_start|>`,
    `<|eot_id|>`, `</s>`, …). Tokenizers match these strings anywhere in the input, so the text
    becomes a control token instead of characters.

    ## Why it matters
    Leaked template markers (often from data rendered with another model's template, or scraped
    chat logs) inject fake turn boundaries: the model learns to emit end-of-turn or role headers
    in the middle of answers.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "<|im_start|>user\\nHi<|im_end|>"}, ...]}
    ```

    ## Use instead
    Plain message text; let the chat template add the markers.

    ## How to fix
    Strip the markers, or re-export the data as structured messages instead of pre-rendered text.
    """

    code = "FTT005"
    name = "special-token-in-text"
    severity = Severity.WARNING

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        c = counts_for(example, ctx)
        if c is None or c.approximate:
            return
        svc = service_for(ctx)
        name = svc.spec if svc else "the model's"
        for pointer, token in c.special_hits:
            yield self.finding(example.record, pointer,
                               f"Text contains `{token}`, which the {name} tokenizer encodes as a special token "
                               "(a leaked template marker).", properties={"token": token})


class EmptyLossMask(_TokenRule):
    """Nothing in the example is trained: the rendered loss mask is empty.

    ## What it does
    With assistant-only (or completion-only) loss, finds examples where no token falls inside an
    assistant answer after rendering with the chat template: no assistant turn, answers the
    template does not render, or roles the template does not treat as the assistant.

    ## Why it matters
    The example costs compute and trains nothing; TRL raises "at least one example has no
    assistant tokens" and stops the run.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hello"}]}
    ```
    (with TRL, which keeps the role `bot` as written).

    ## Use instead
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    ```

    ## How to fix
    Add or fix the assistant turn (role names the template knows), or drop the example.
    """

    code = "FTT006"
    name = "empty-loss-mask"
    severity = Severity.ERROR

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        c = counts_for(example, ctx)
        if c is None or c.error or c.loss == "all" or c.trained > 0 or c.total == 0:
            return
        what = "assistant answers" if c.loss == "assistant" else "the completion"
        yield self.finding(example.record, "",
                           f"No token of this example is trained: the loss is on {what} and the rendered "
                           f"example has none{self.label(c)}.", properties=self.props(c))


class EosNotTrained(_TokenRule):
    """The end-of-sequence token is not inside the trained part of the example.

    ## What it does
    With assistant-only or completion-only loss, checks that the tokenizer's EOS token (the end of
    turn for chat models) is among the trained tokens of the final answer. Reported once per file
    with the number of examples affected.

    ## Why it matters
    A model that is never trained on the EOS after its answer does not learn to stop and rambles
    until `max_new_tokens`.

    ## Example
    A template that renders `<|im_end|>` outside its `{% generation %}` block, or text data whose
    completion is tokenised without the EOS.

    ## Use instead
    A template whose `{% generation %}` block ends after the end-of-turn token.

    ## How to fix
    Move `{% endgeneration %}` after the EOS in the chat template, or set the tokenizer's
    `eos_token` to the template's end-of-turn token.
    """

    code = "FTT007"
    name = "eos-not-trained"
    severity = Severity.WARNING
    scope = "dataset"

    def collect(self, example: Example, ctx: Context) -> Any:
        c = counts_for(example, ctx)
        if c is None or c.approximate or c.eos_trained is not False:
            return None
        svc = service_for(ctx)
        return (RecordRef.of(example.record), svc.eos_text if svc else None)

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        for path, items in facts.items():
            if not items:
                continue
            ref, eos = items[0]
            n = len(items)
            yield self.finding_at(ref.location(""), f"The EOS token {eos!r} is not in the trained part of the answer "
                                  f"({n:,} example{'s' if n != 1 else ''} in this file); the model will not learn "
                                  "to stop.", key=f"{path}:eos", properties={"examples": n, "eos_token": eos})


class PadTokenIsEos(_TokenRule):
    """The tokenizer's pad token is its EOS token (or it has none, so trainers use EOS).

    ## What it does
    Reads the tokenizer's special tokens once per run and reports when `pad_token` equals
    `eos_token` or is missing.

    ## Why it matters
    Collators that mask labels by the pad id (transformers' `DataCollatorForLanguageModeling`,
    many custom loops) then mask every EOS too, and the model never learns to stop. TRL and Axolotl
    mask padding by position, so with them this is a note, not a warning.

    ## Example
    `tokenizer_config.json` with `"pad_token": "<|im_end|>"` and `"eos_token": "<|im_end|>"`.

    ## Use instead
    A distinct pad token (e.g. `<|endoftext|>` for Qwen, `<|finetune_right_pad_id|>` for Llama 3).

    ## How to fix
    Set `pad_token` in the trainer config (Axolotl `special_tokens: {pad_token: ...}`, TRL
    `SFTConfig(pad_token=...)`) to a token other than EOS.
    """

    code = "FTT008"
    name = "pad-token-is-eos"
    severity = Severity.WARNING
    scope = "dataset"

    def collect(self, example: Example, ctx: Context) -> Any:
        svc = service_for(ctx)
        if svc is None or svc.approximate or not svc.eos_text or not svc.once(self.code, ""):
            return None
        if svc.pad_text and svc.pad_text != svc.eos_text:
            return None
        return (RecordRef.of(example.record), svc.spec, svc.pad_text, svc.eos_text,
                getattr(ctx.plan, "dialect", None))

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        for items in facts.values():
            for ref, spec, pad, eos, dialect in items[:1]:
                what = f"the EOS token {eos!r} as its pad token" if pad else f"no pad token (trainers pad with EOS {eos!r})"
                severity = Severity.NOTE if dialect in ("trl", "axolotl") else None
                yield self.finding_at(ref.location(""), f"Tokenizer {spec!r} has {what}; collators that mask labels by "
                                      "pad id also mask every EOS, so the model never learns to stop.",
                                      severity=severity, key=f"{spec}:pad", properties={"pad_token": pad, "eos_token": eos})
                return


class MissingGenerationMarkers(_TokenRule):
    """Assistant-only loss is configured but the chat template has no `{% generation %}` markers.

    ## What it does
    When the training config asks for assistant-only loss (`assistant_only_loss: true`, or the
    rule option `assistant_only_loss` for TRL scripts without a config), checks
    that the chat template marks the assistant text with `{% generation %}...{% endgeneration %}`.

    ## Why it matters
    transformers builds the assistant mask from these markers only; without them the mask is empty
    and TRL stops with "no assistant tokens" (TRL 1.x swaps in its own training template for the
    model families it knows, and fails for the others).

    ## Example
    The stock Llama 3 or Mistral template with `assistant_only_loss: true`.

    ## Use instead
    A training template whose assistant turns are wrapped in `{% generation %}` blocks.

    ## How to fix
    Set a chat template with generation markers (`chat_template:` in the config), or use
    completion-only loss with prompt/completion data.
    """

    code = "FTT009"
    name = "missing-generation-markers"
    severity = Severity.WARNING
    scope = "dataset"

    default_options = {"assistant_only_loss": False}

    def collect(self, example: Example, ctx: Context) -> Any:
        configured = getattr(ctx.plan, "assistant_only_loss", None) if ctx.plan is not None else None
        if configured is None:
            configured = bool(self.options.get("assistant_only_loss"))
        if configured is not True or example.format in ("text", "prompt_completion"):
            return None  # the assistant mask only exists for conversational data
        svc = service_for(ctx)
        if svc is None or svc.template is None or svc.template.has_generation or not svc.once(self.code, ""):
            return None
        return (RecordRef.of(example.record), svc.template.origin)

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        for items in facts.values():
            for ref, origin in items[:1]:
                yield self.finding_at(ref.location(""), f"assistant_only_loss is on but the chat template ({origin}) "
                                      "has no {% generation %} markers, so the assistant mask is empty.",
                                      key=f"{origin}:generation")
                return


class TemplateRejectsConversation(_TokenRule):
    """The chat template rejects the conversation or silently drops a message.

    ## What it does
    Renders each conversation with the model's chat template. Reports templates that raise (for
    example "Conversation roles must alternate user/assistant/user/assistant/...") and messages
    whose text does not appear in the rendered output because the template ignores their role.

    ## Why it matters
    A template error stops preprocessing; a dropped message is silent: the model trains on a
    conversation with a missing turn.

    ## Example
    ```json
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Hello"}]}
    ```
    (Llama 2 / Mistral templates require alternating roles.)

    ## Use instead
    Conversations with the roles and order the template supports.

    ## How to fix
    Merge consecutive messages of one role, map custom roles to system/user/assistant/tool, or
    choose a template that supports the roles.
    """

    code = "FTT010"
    name = "template-rejects-conversation"
    severity = Severity.ERROR

    def check(self, example: Example, ctx: Context) -> Iterator[Finding]:
        c = counts_for(example, ctx)
        if c is None or c.approximate:
            return
        if c.error:
            yield self.finding(example.record, c.error_pointer, f"The chat template rejects this conversation: "
                               f"{c.error}")
            return
        for pointer, role in c.dropped:
            yield self.finding(example.record, pointer, f"The chat template renders no text for this {role!r} "
                               "message; it is silently dropped from training.", properties={"role": role})


class TokenStatistics(_TokenRule):
    """Token statistics per file: length percentiles, tokens per epoch, suggested sequence length.

    ## What it does
    Reports, once per file, p50/p95/p99/max tokens per example, total and trained tokens per epoch,
    the number of examples over the sequence length, and the sequence length (a multiple of 64)
    that covers 99% of the examples. The numbers are in the finding's `properties` for JSON and
    SARIF consumers.

    ## Why it matters
    Choosing `sequence_len` from the data instead of a guess avoids both truncation and wasted
    padding; tokens per epoch drive the training time and cost.

    ## Example
    `p50 212, p95 480, max 1,203 tokens; 1.2M tokens per epoch; 99% fit in 512`.

    ## Use instead
    This is an informational note.

    ## How to fix
    Nothing to fix; use the suggested sequence length, or ignore the rule (`--ignore FTT011`).
    """

    code = "FTT011"
    name = "token-statistics"
    severity = Severity.NOTE
    scope = "dataset"
    default_options = {"sequence_len": None, "round_to": 64}
    option_types = {"sequence_len": Rule.Option(int | None, min=1), "round_to": Rule.Option(int, min=1)}

    def collect(self, example: Example, ctx: Context) -> Any:
        c = counts_for(example, ctx)
        if c is None or c.error:
            return None
        meta = None
        svc = service_for(ctx)
        if svc is not None and svc.once(self.code, ctx.path):
            meta = {"tokenizer": svc.describe(), "sequence_len": sequence_len(ctx, self.options),
                    "epochs": getattr(ctx.plan, "num_epochs", None), "approximate": svc.approximate,
                    "approximate_reason": svc.approx_reason or None,
                    "packing": bool(getattr(ctx.plan, "packing", False)),
                    "template_note": svc.template_note or None}
        return (c.total, c.trained, meta)

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        step = max(1, int(self.options.get("round_to") or 64))
        for path, items in facts.items():
            if not items:
                continue
            meta = next((m for _, _, m in items if m), {}) or {}
            totals = sorted(t for t, _, _ in items)
            n = len(totals)
            total_tokens = sum(totals)
            trained = sum(tr for _, tr, _ in items)
            p50, p95, p99 = (_nearest_rank(totals, q) for q in (0.50, 0.95, 0.99))
            suggested = int(math.ceil(p99 / step) * step)
            seq = meta.get("sequence_len")
            props: dict[str, Any] = {
                "examples": n, "p50": p50, "p95": p95, "p99": p99, "max": totals[-1], "min": totals[0],
                "mean": round(total_tokens / n, 1), "tokens_per_epoch": total_tokens,
                "trained_tokens_per_epoch": trained, "suggested_sequence_len": suggested,
                "tokenizer": meta.get("tokenizer"),
            }
            parts = [f"Tokens per example: p50 {p50:,}, p95 {p95:,}, max {totals[-1]:,} ({n:,} examples)",
                     f"{total_tokens:,} tokens per epoch ({trained:,} trained)"]
            epochs = meta.get("epochs")
            if epochs:
                props["epochs"] = epochs
                props["tokens_total"] = int(total_tokens * float(epochs))
            if seq:
                over = sum(1 for t in totals if t > seq)
                props["sequence_len"] = seq
                props["over_sequence_len"] = over
                parts.append(f"{over:,} over sequence_len {seq:,}")
                if meta.get("packing"):
                    props["packed_sequences_per_epoch"] = math.ceil(total_tokens / seq)
            parts.append(f"a sequence length of {suggested:,} covers 99% of examples")
            if meta.get("approximate"):
                props["approximate"] = True
                props["approximate_reason"] = meta.get("approximate_reason")
                parts.append("approximate counts")
            if meta.get("template_note"):
                props["template_note"] = meta["template_note"]
            yield self.finding_at(Location(path, 1, 1, 1, 1, ""), "; ".join(parts) + f" [{meta.get('tokenizer', '')}].",
                                  key=f"{path}:stats", properties=props)


class ApproximateTokenCounts(_TokenRule):
    """Token counts are approximate: the model's tokenizer is not available offline.

    ## What it does
    When a model is configured but its tokenizer cannot be found (no local folder, not in the
    Hugging Face cache, hub not reachable or disabled), token rules fall back to ~4 characters per
    token plus a per-message overhead. This note says so once, with where ftlint looked; every
    token finding made from approximate counts is labelled "approximate".

    ## Why it matters
    Approximate counts can be off by 20-50% (code, non-English text), so length findings near the
    limit are not reliable.

    ## Example
    `--model meta-llama/Llama-3.1-8B` on a machine without that model in the cache.

    ## Use instead
    `--tokenizer path/to/folder` with the model's tokenizer.json and tokenizer_config.json, or the
    model downloaded once to the Hugging Face cache.

    ## How to fix
    Download the tokenizer files once (`huggingface-cli download MODEL tokenizer.json
    tokenizer_config.json`), or point `--tokenizer` at a local copy.
    """

    code = "FTT012"
    name = "approximate-token-counts"
    severity = Severity.NOTE
    scope = "dataset"

    def collect(self, example: Example, ctx: Context) -> Any:
        svc = service_for(ctx)
        if svc is None or not svc.approximate or not svc.once(self.code, ""):
            return None
        return (RecordRef.of(example.record), svc.spec, svc.approx_reason)

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        for items in facts.values():
            for ref, spec, reason in items[:1]:
                yield self.finding_at(Location(ref.path, 1, 1, 1, 1, ""),
                                      f"Token counts are approximate: {reason}. Counted at ~4 characters per token; "
                                      "token findings are labelled approximate.", key=f"{spec}:approx",
                                      properties={"model": spec, "reason": reason})
                return


class NoChatTemplate(_TokenRule):
    """The tokenizer has no chat template (or the configured one cannot be used) for chat data.

    ## What it does
    For conversational data, reports once per run when the tokenizer has no chat template and the
    config sets none, when the config names a template ftlint does not bundle, or when the
    template does not compile. Counts then use ChatML or the tokenizer's template, as the
    message says.

    ## Why it matters
    TRL refuses conversational data without a chat template; base models usually ship none, so the
    run stops at preprocessing, or trains with a template the model will not see at inference.

    ## Example
    Fine-tuning a base Llama 3 checkpoint on `messages` data without `chat_template:`.

    ## Use instead
    A config that sets the chat template (`chat_template: llama3`, `chatml`, or inline Jinja).

    ## How to fix
    Set the chat template in the training config, or use an instruct tokenizer that has one.
    """

    code = "FTT013"
    name = "no-chat-template"
    severity = Severity.WARNING
    scope = "dataset"

    def collect(self, example: Example, ctx: Context) -> Any:
        if example.format == "text":
            return None
        svc = service_for(ctx)
        if svc is None or svc.approximate:
            return None
        problem = svc.template_error or svc.template_note
        if not problem or not svc.once(self.code, ""):
            return None
        if not svc.template_error and "has no chat template" not in problem and ctx.plan is None:
            return None
        return (RecordRef.of(example.record), problem)

    def finish(self, facts: dict[str, list[Any]], ctx: Context) -> Iterator[Finding]:
        for items in facts.values():
            for ref, problem in items[:1]:
                yield self.finding_at(ref.location(""), problem[0].upper() + problem[1:] + ".", key=problem)
                return


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default)."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _nearest_rank(sorted_values: list[int], q: float) -> int:
    """The smallest value that at least q of the examples do not exceed."""
    idx = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[idx]

