"""Architecture facts the estimator and the config rules need, from a model's config.json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ModelArch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str                        # the id or path it was resolved from
    model_type: str                  # llama, mistral, qwen2, qwen3, gemma2, phi3, mixtral, gpt_bigcode, …
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool = False
    num_experts: int = 0             # MoE: experts per layer (0 = dense)
    num_experts_per_tok: int = 0
    moe_intermediate_size: int | None = None
    has_chat_template: bool | None = None  # base vs instruct, when known
    source: str = "catalog"          # local | hf-cache | catalog | hub
