"""Architecture facts the estimator and the config rules need, from a model's config.json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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

    # --- shape details that change the exact parameter count -------------------------------
    family: str = "llama"            # layout family: llama | gemma | phi3 | gpt_bigcode | starcoder2 | generic
    attention_bias: bool = False     # q/k/v biases (Qwen2: always)
    o_bias: bool = False             # output-projection bias (GPT-BigCode, StarCoder2)
    mlp_bias: bool = False
    gated_mlp: bool = True           # SwiGLU/GeGLU (gate, up, down) vs plain (fc, proj)
    layer_norm: bool = False         # LayerNorm with bias (True) vs RMSNorm (weight only)
    norms_per_layer: int = 2         # Gemma 2/3: 4 (pre/post attention and feed-forward)
    qk_norm: bool = False            # per-head RMSNorm on q and k (Qwen3, Gemma 3)
    learned_positions: int = 0       # GPT-BigCode: rows of the learned position table
    shared_expert_intermediate_size: int | None = None  # Qwen2-MoE shared expert
    decoder_sparse_step: int = 1     # Qwen-MoE: every n-th layer is sparse
    mlp_only_layers: list[int] = Field(default_factory=list)
    vision_params: int = 0           # multimodal towers + projector (frozen, counted separately)
    vision_linear_params: int = 0    # the part of vision_params in nn.Linear weights (bnb quantises them)
    multimodal: bool = False

    # --- facts for other consumers ---------------------------------------------------------
    dtype: str | None = None          # the checkpoint's dtype (config `dtype` / `torch_dtype`)
    rope_theta: float | None = None
    sliding_window: int | None = None
    hidden_act: str | None = None
    exact: bool = True                # False: an architecture ftlint does not model exactly
    auto_map: bool = False            # the config asks for remote code

    def sparse_layer(self, index: int) -> bool:
        """Whether layer `index` uses routed experts (Qwen-MoE's sparse-step rule)."""
        if self.num_experts <= 0 or index in self.mlp_only_layers:
            return False
        step = max(1, self.decoder_sparse_step)
        return (index + 1) % step == 0

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim
