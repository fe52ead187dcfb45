"""Token counts with the model's real tokenizer and chat template (issue 5).

`counts_for(example, ctx)` gives an example's `TokenCounts` (cached in `example.cache`);
`prepare_batch(examples, ctx)` counts many at once with the tokenizer's parallel encoder.
Without a configured model or tokenizer both are free and return nothing.
"""

from .counter import (CACHE_KEY, TokenCounts, TokenService, counts_for, loss_mode, prepare_batch,
                      service_for, token_spec)
from .resolve import TokenizerFiles, Unresolved, resolve


def __getattr__(name: str):  # ChatTemplate and TemplateError import Jinja: only when asked for
    if name in ("ChatTemplate", "TemplateError"):
        from . import template

        return getattr(template, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CACHE_KEY", "ChatTemplate", "TemplateError", "TokenCounts", "TokenService", "TokenizerFiles",
           "Unresolved", "counts_for", "loss_mode", "prepare_batch", "resolve", "service_for", "token_spec"]
