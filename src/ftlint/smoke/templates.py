"""Chat templates the smoke can apply by name (`chat_template: chatml` in a config).

Both carry `{% generation %}` markers, so TRL's `assistant_only_loss` can mask everything but
the assistant's words. A config's inline Jinja or a `.jinja` file is used as written.
"""

from __future__ import annotations

from ..tokens.template import has_generation_markers

__all__ = ["BUILTIN", "CHATML", "LLAMA3", "has_generation_markers", "looks_like_jinja"]

CHATML = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

LLAMA3 = (
    "{{- bos_token or '' -}}"
    "{%- for message in messages -%}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- message['content'] | trim + '<|eot_id|>' -}}{%- endgeneration -%}"
    "{%- else -%}"
    "{{- message['content'] | trim + '<|eot_id|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"
)

BUILTIN = {"chatml": CHATML, "llama3": LLAMA3}

def looks_like_jinja(value: str) -> bool:
    return "{{" in value or "{%" in value
