"""Exact parameter counts and per-layer linear module shapes, in closed form from ModelArch.

The layouts follow the transformers 5 modeling code (checked against meta-device instantiation
in tests/test_models_params.py). MoE experts are fused 3-D parameters in transformers 5
(`experts.gate_up_proj`, `experts.down_proj`), not nn.Linear modules: bitsandbytes does not
quantise them and PEFT reaches them only through `target_parameters`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .arch import ModelArch


def linear_modules(arch: ModelArch) -> dict[str, tuple[int, int]]:
    """nn.Linear modules of one decoder layer: short name -> (in_features, out_features).

    Names are the module's own name; where two modules share one (GPT-BigCode's `c_proj`) the
    key is qualified by its parent (`attn.c_proj`, `mlp.c_proj`). A LoRA target `t` matches a
    key `k` when `k == t` or `k.endswith("." + t)`.
    """
    h, q, kv = arch.hidden_size, arch.q_dim, arch.kv_dim
    i = arch.intermediate_size
    if arch.family == "gpt_bigcode":
        return {"c_attn": (h, h + 2 * kv), "attn.c_proj": (h, h), "c_fc": (h, i), "mlp.c_proj": (i, h)}
    if arch.family == "phi3":
        return {"qkv_proj": (h, q + 2 * kv), "o_proj": (q, h), "gate_up_proj": (h, 2 * i), "down_proj": (i, h)}
    mods: dict[str, tuple[int, int]] = {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h)}
    if arch.family == "starcoder2":
        mods.update({"c_fc": (h, i), "c_proj": (i, h)})
        return mods
    sparse = arch.num_experts > 0 and any(arch.sparse_layer(n) for n in range(arch.num_hidden_layers))
    if not sparse:
        mods.update({"gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)})
    elif arch.shared_expert_intermediate_size:  # Qwen2-MoE shared expert (plain Linear modules)
        s = arch.shared_expert_intermediate_size
        mods.update({"shared_expert.gate_proj": (h, s), "shared_expert.up_proj": (h, s),
                     "shared_expert.down_proj": (s, h), "shared_expert_gate": (h, 1)})
    return mods


def expert_parameters(arch: ModelArch) -> dict[str, tuple[int, int]]:
    """Per-expert shapes of the fused MoE parameters (each exists num_experts times per sparse layer)."""
    if arch.num_experts <= 0:
        return {}
    m = arch.moe_intermediate_size or arch.intermediate_size
    h = arch.hidden_size
    return {"experts.gate_up_proj": (h, 2 * m), "experts.down_proj": (m, h)}


@dataclass
class ParamCounts:
    """Exact parameter counts with a breakdown. All values are element counts."""

    embeddings: int = 0        # token embeddings (+ learned positions)
    lm_head: int = 0           # 0 when tied to the embeddings
    attention: int = 0         # attention linear weights, all layers
    attention_bias: int = 0
    mlp: int = 0               # dense MLP / shared-expert linear weights, all layers
    mlp_bias: int = 0
    experts: int = 0           # routed expert weights (fused 3-D parameters), all layers
    router: int = 0
    norms: int = 0             # RMSNorm / LayerNorm weights (and biases)
    vision: int = 0            # multimodal tower + projector
    vision_linear: int = 0     # part of `vision` in nn.Linear weights
    per_layer_linear: dict[str, tuple[int, int]] = field(default_factory=dict)
    active_experts_fraction: float = 1.0

    @property
    def total(self) -> int:
        return (self.embeddings + self.lm_head + self.attention + self.attention_bias + self.mlp
                + self.mlp_bias + self.experts + self.router + self.norms + self.vision)

    @property
    def linear(self) -> int:
        """Weights of nn.Linear modules that bitsandbytes replaces (lm_head is always skipped)."""
        return self.attention + self.mlp + self.vision_linear

    @property
    def not_quantized(self) -> int:
        """Everything bitsandbytes leaves in the load dtype (embeddings, lm_head, norms, biases, experts)."""
        return self.total - self.linear

    @property
    def active(self) -> int:
        """Parameters a token passes through (MoE: only its top-k experts)."""
        return self.total - self.vision - round(self.experts * (1 - self.active_experts_fraction))

    def as_dict(self) -> dict[str, int | float]:
        out = {k: v for k, v in asdict(self).items() if k != "per_layer_linear"}
        out.update(total=self.total, linear=self.linear, not_quantized=self.not_quantized, active=self.active)
        return out


def count_params(arch: ModelArch) -> ParamCounts:
    """The exact parameter count of `AutoModelForCausalLM.from_config(config)` for this shape."""
    h, L, V = arch.hidden_size, arch.num_hidden_layers, arch.vocab_size
    pc = ParamCounts()
    pc.embeddings = V * h + arch.learned_positions * h
    pc.lm_head = 0 if arch.tie_word_embeddings else V * h
    norm = 2 * h if arch.layer_norm else h
    qkv_bias = (arch.q_dim + 2 * arch.kv_dim) if arch.attention_bias else 0
    o_bias = h if arch.o_bias else 0

    mods = linear_modules(arch)
    pc.per_layer_linear = mods
    attn_names = {"q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "c_attn", "attn.c_proj"}
    attn_w = sum(a * b for k, (a, b) in mods.items() if k in attn_names)
    dense_i = arch.intermediate_size
    for n in range(L):
        pc.attention += attn_w
        pc.attention_bias += qkv_bias + o_bias
        pc.norms += arch.norms_per_layer * norm
        if arch.qk_norm:
            pc.norms += 2 * arch.head_dim
        if arch.sparse_layer(n):
            m = arch.moe_intermediate_size or dense_i
            pc.experts += arch.num_experts * 3 * h * m
            pc.router += arch.num_experts * h
            if arch.shared_expert_intermediate_size:
                s = arch.shared_expert_intermediate_size
                pc.mlp += 3 * h * s + h  # shared expert + its 1-unit gate
        elif arch.gated_mlp:
            pc.mlp += 3 * h * dense_i
            if arch.mlp_bias:
                pc.mlp_bias += 2 * dense_i + h
        else:
            pc.mlp += 2 * h * dense_i
            if arch.mlp_bias:
                pc.mlp_bias += dense_i + h
    pc.norms += norm  # final norm
    pc.vision = arch.vision_params
    pc.vision_linear = arch.vision_linear_params
    if arch.num_experts and arch.num_experts_per_tok:
        pc.active_experts_fraction = arch.num_experts_per_tok / arch.num_experts
    return pc
