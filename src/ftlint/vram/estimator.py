"""Peak GPU memory of a fine-tuning step, as a sum of terms (HF transformers + PEFT + TRL stack).

No torch: everything is closed form from the TrainingPlan and the ModelArch. The model and its
derivations are documented in docs/vram.md; every default the plan leaves open is named in
`assumptions`. The peak is the largest of three moments of a training step (after step 1, so
the optimizer state exists):

- loss:      weights + trainable state + saved activations + the logits/loss buffers
- backward:  weights + trainable state + saved activations + one recomputed layer + its gradients
- optimizer: weights + trainable state + all gradients + optimizer temporaries
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..configs.dialects import DEFAULT_MICRO_BATCH, DEFAULT_SEQUENCE_LEN
from ..models import ModelArch, count_params, linear_modules
from ..models.params import ParamCounts
from .gpus import GPU, GiB

# bitsandbytes storage per weight: 4 bits + one fp32 absmax per 64-weight block; with double
# quantisation the absmax is 8-bit with one fp32 constant per 256 blocks.
NF4_BYTES = 0.5 + 4 / 64
NF4_DQ_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
INT8_BYTES = 1.0

# Logits/loss, bytes per logit element (b * s * V): bf16 logits, fp32 upcast in the loss,
# fp32 log-softmax output saved for backward, and in backward its fp32 gradient plus the
# gradient of the logits. Forward peaks at ~10 B, backward at ~12 B (expected), 14 B worst case.
LOGIT_BYTES = (10.0, 12.0, 14.0)
ACT_BAND = (0.85, 1.0, 1.2)
TRANSIENT_BAND = (0.5, 1.0, 2.0)
CONTEXT_BYTES = (0.3 * GiB, 0.5 * GiB, 1.0 * GiB)   # CUDA context + kernels, outside the allocator
FRAGMENTATION = (0.03, 0.05, 0.12)                   # unreleasable fragmentation / allocated

# Dialects whose k-bit LoRA path leaves peft.prepare_model_for_kbit_training's fp32 upcast of every
# non-quantised parameter in place. Axolotl calls it but then casts norms and embeddings back to
# torch_dtype for (Q)LoRA outside FSDP (loaders/model.py, _configure_embedding_dtypes); TRL 1.x's
# SFTTrainer never calls it; LLaMA-Factory does its own preparation and keeps them in bf16.
KBIT_UPCAST = {"autotrain"}
# Dialects whose trainer casts the LoRA adapters of a quantised model to bf16 (TRL 1.x SFTTrainer,
# following the QLoRA paper); elsewhere PEFT's autocast_adapter_dtype keeps them in fp32.
BF16_ADAPTERS_WHEN_QUANTISED = {"trl"}
# How a run's own training script can differ from its dialect's trainer (`estimate(stack=...)`):
# used to reproduce published measurements made with hand-written scripts or older library versions.
# loss "upcast_shift": transformers before the label-padding loss (4.4x) also made a contiguous fp32
# copy of the shifted logits, +4 B per logit element while the loss is formed.
STACK_KEYS = {"adapter_dtype": ("float32", "bfloat16"), "upcast": ("all", "norms", "none"),
              "loss": ("upcast", "upcast_shift")}
# PEFT's default LoRA targets when the config names none (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
PEFT_DEFAULT_TARGETS = {"llama": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"], "phi3": ["qkv_proj"],
                        "gpt_bigcode": ["c_attn"], "starcoder2": ["q_proj", "v_proj"], "generic": ["q_proj", "v_proj"]}
MFU = {"full": 0.40, "freeze": 0.40, "lora": 0.35, "qlora": 0.25}
TERMS = ("weights", "trainable_weights", "gradients", "optimizer_state", "activations", "logits_loss",
         "transients", "runtime_margin")


@dataclass
class Suggestion:
    change: str
    saves_bytes: int
    required_bytes: int
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change, "saves_bytes": self.saves_bytes, "required_bytes": self.required_bytes,
                "verdict": self.verdict}


@dataclass
class Estimate:
    model: str
    params: int
    trainable_params: int
    peak_bytes: int
    required_bytes: int
    breakdown: dict[str, int]
    low_bytes: int
    high_bytes: int
    peak_low_bytes: int
    peak_high_bytes: int
    gpu: str | None
    gpu_bytes: int | None
    num_gpus: int
    verdict: str | None
    peak_phase: str
    assumptions: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    sequence: dict[str, Any] = field(default_factory=dict)
    time: dict[str, Any] = field(default_factory=dict)
    param_breakdown: dict[str, Any] = field(default_factory=dict)

    def dominant(self, n: int = 3) -> list[str]:
        terms = sorted(((v, k) for k, v in self.breakdown.items() if k != "runtime_margin"), reverse=True)
        return [k for v, k in terms[:n] if v > 0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "params": self.params, "trainable_params": self.trainable_params,
            "peak_bytes": self.peak_bytes, "required_bytes": self.required_bytes, "breakdown": dict(self.breakdown),
            "low_bytes": self.low_bytes, "high_bytes": self.high_bytes, "gpu": self.gpu, "gpu_bytes": self.gpu_bytes,
            "verdict": self.verdict, "assumptions": list(self.assumptions),
            "suggestions": [s.as_dict() for s in self.suggestions],
            "peak_low_bytes": self.peak_low_bytes, "peak_high_bytes": self.peak_high_bytes,
            "peak_phase": self.peak_phase, "num_gpus": self.num_gpus, "dominant_terms": self.dominant(),
            "sequence": self.sequence, "time": self.time, "param_breakdown": self.param_breakdown,
        }


# --------------------------------------------------------------------------------------------
@dataclass
class _Setup:
    """The plan with every open question answered (and the answers recorded)."""

    method: str
    quant_bits: int            # 0, 4 or 8
    double_quant: bool
    kbit_upcast: bool
    weight_bytes: float        # bytes per non-quantised frozen weight
    act_bytes: int             # 2 (bf16/fp16) or 4 (fp32)
    batch: int
    seq: int                   # padded tokens per sequence in the worst micro batch
    grad_accum: int
    checkpointing: bool
    attn: str                  # sdpa | flash_attention_2 | eager | flex_attention
    optimizer: str
    chunked_loss: bool
    targets: list[str]
    lora_r: int
    lora_dropout: float
    modules_to_save: list[str]
    zero_stage: int
    fsdp: bool
    num_gpus: int
    assumptions: list[str]
    full_fp32_trainable: bool = False  # LLaMA-Factory casts trainable params to fp32 unless pure_bf16
    upcast: str = "none"       # which non-quantised params are fp32 on the k-bit path: all | norms | none
    adapter_bytes: float = 4.0  # bytes per LoRA parameter (fp32 unless the trainer casts them)
    shifted_logits_copy: bool = False  # older transformers loss: extra fp32 copy of the shifted logits

    @property
    def hidden_bytes(self) -> int:
        """Bytes per element of the residual stream. bitsandbytes layers return their input dtype and
        an fp32 norm weight promotes bf16 activations to fp32, so once norms or embeddings are fp32 on
        the k-bit path the hidden states (and every bnb layer's output) stay fp32 through the model."""
        return 4 if (self.quant_bits and self.upcast != "none") else self.act_bytes


def _resolve_targets(plan: Any, arch: ModelArch, assumptions: list[str]) -> list[str]:
    mods = linear_modules(arch)
    raw = plan.lora_target_modules
    if raw is None:
        if plan.dialect == "llamafactory":
            assumptions.append("LoRA targets not set: LLaMA-Factory's default `all` (every linear layer)")
            return list(mods)
        default = PEFT_DEFAULT_TARGETS.get(arch.family, ["q_proj", "v_proj"])
        assumptions.append(f"LoRA targets not set: PEFT's default for {arch.model_type} ({', '.join(default)})")
        raw = default
    names = [str(t) for t in raw]
    if any(t.lower() in ("all-linear", "all_linear", "all") for t in names):
        return list(mods)
    chosen = [k for k in mods if any(k == t or k.endswith("." + t) for t in names)]
    unknown = [t for t in names if not any(k == t or k.endswith("." + t) for k in mods)]
    if unknown:
        assumptions.append(f"LoRA targets not in {arch.model_type}'s linear layers ignored: {', '.join(unknown)}")
    return chosen


def _setup(plan: Any, arch: ModelArch, num_gpus: int | None, max_len: int | None) -> _Setup:
    a: list[str] = []
    method = plan.method
    bits = 4 if plan.load_in_4bit or method == "qlora" else 8 if plan.load_in_8bit else 0
    if method == "qlora" and not plan.load_in_4bit:
        a.append("method qlora without load_in_4bit: assumed 4-bit NF4 as QLoRA means")
    if method in ("full", "freeze") and bits:
        a.append(f"{bits}-bit loading with {method} training is not a working setup; sized as if it were")
    dq = bool(plan.double_quant) if plan.double_quant is not None else True
    if bits == 4 and plan.double_quant is None:
        a.append("double quantisation not set: assumed on (Axolotl, LLaMA-Factory, TRL and AutoTrain enable it for QLoRA)")
    upcast = bits > 0 and method in ("lora", "qlora") and plan.dialect in KBIT_UPCAST and not plan.fsdp
    if bits:
        a.append("non-quantised parameters (embeddings, lm_head, norms) upcast to fp32 by "
                 "peft.prepare_model_for_kbit_training" if upcast else
                 "non-quantised parameters (embeddings, lm_head, norms) in the load dtype (this trainer does not keep "
                 "PEFT's fp32 upcast)")
    fp32_run = plan.bf16 is False and plan.fp16 is not True and (plan.compute_dtype in (None, "float32"))
    if plan.bf16 is None and plan.fp16 is None:
        a.append("precision not set: assumed bf16 weights and activations")
    weight_bytes = 4.0 if fp32_run else 2.0
    act_bytes = 4 if fp32_run else 2
    batch = plan.micro_batch_size or DEFAULT_MICRO_BATCH.get(plan.dialect, 1)
    if not plan.micro_batch_size:
        a.append(f"micro batch not set: {plan.dialect}'s default {batch}")
    seq_cfg = plan.sequence_len or DEFAULT_SEQUENCE_LEN.get(plan.dialect, 1024)
    if not plan.sequence_len:
        a.append(f"sequence length not set: {plan.dialect}'s default {seq_cfg}")
    if plan.packing:
        seq = seq_cfg
        a.append(f"packing: every micro batch is {batch} x {seq} tokens")
    elif max_len is not None:
        seq = min(max_len, seq_cfg)
        a.append(f"longest example in the data: {max_len} tokens; worst micro batch padded to {seq}")
    else:
        seq = seq_cfg
        a.append(f"no token lengths from the data: worst case, every micro batch padded to {seq}")
    attn = plan.attn_implementation or "sdpa"
    if not plan.attn_implementation:
        a.append("attention implementation not set: transformers' default sdpa (memory-efficient)")
    optimizer = (plan.optimizer or "adamw_torch_fused").lower()
    if not plan.optimizer:
        a.append("optimizer not set: adamw_torch_fused (transformers' default)")
    targets: list[str] = []
    r = 0
    if method in ("lora", "qlora"):
        r = plan.lora_r or 8
        if not plan.lora_r:
            a.append("LoRA rank not set: 8 (PEFT's default)")
        targets = _resolve_targets(plan, arch, a)
    dropout = plan.lora_dropout if plan.lora_dropout is not None else 0.0
    zero = plan.zero_stage or 0
    if plan.deepspeed and plan.zero_stage is None:
        a.append("DeepSpeed config without a known ZeRO stage: assumed stage 2")
        zero = 2
    n = max(1, int(num_gpus or plan.num_gpus or 1))
    ckpt = bool(plan.gradient_checkpointing)
    adapter_bytes = 4.0
    if bits and method in ("lora", "qlora") and plan.dialect in BF16_ADAPTERS_WHEN_QUANTISED:
        adapter_bytes = 2.0
        a.append("LoRA adapters cast to bf16 by the trainer for a quantised base (TRL); AdamW state in bf16 too")
    return _Setup(method, bits, dq, upcast, weight_bytes, act_bytes, int(batch), int(seq), int(plan.gradient_accumulation_steps or 1),
                  ckpt, attn, optimizer, bool(plan.liger_kernel), targets, int(r), float(dropout),
                  list(plan.lora_modules_to_save or []), zero, bool(plan.fsdp), n, a,
                  upcast="all" if upcast else "none", adapter_bytes=adapter_bytes)


def _apply_stack(s: _Setup, stack: dict[str, str] | None) -> None:
    """Overrides for a run whose script differs from its dialect's trainer (see STACK_KEYS)."""
    for key, value in (stack or {}).items():
        if key not in STACK_KEYS or value not in STACK_KEYS[key]:
            raise ValueError(f"unknown stack setting {key}={value!r}; known: {STACK_KEYS}")
        if key == "adapter_dtype":
            s.adapter_bytes = 4.0 if value == "float32" else 2.0
        elif key == "upcast":
            s.kbit_upcast = value != "none"
            s.upcast = value
        elif key == "loss":
            s.shifted_logits_copy = value == "upcast_shift"
        s.assumptions.append(f"training script: {key} {value}")


def _optimizer_state_bytes(name: str) -> tuple[float, str]:
    """Bytes of optimizer state per trainable parameter, and the kind."""
    n = name.lower()
    if "8bit" in n or "8_bit" in n or n in ("adamw_bnb_8bit", "lion_8bit", "paged_lion_8bit"):
        return (1.0 if "lion" in n else 2.0), "8bit"
    if "adafactor" in n:
        return 0.05, "factored"  # row + column statistics: ~ (rows + cols) per matrix
    if "lion" in n:
        return 4.0, "fp32"
    if n in ("sgd",):
        return 0.0, "none"
    return 8.0, "fp32"  # adamw_torch(_fused), adamw_hf, paged_adamw_32bit, adamw_apex_fused, …


def _per_token_layer_activation(arch: ModelArch, s: _Setup, seq: int) -> float:
    """Bytes saved for backward per token by one decoder layer with no checkpointing."""
    h, q, kv, i = arch.hidden_size, arch.q_dim, arch.kv_dim, arch.intermediate_size
    ab = s.act_bytes
    hb = s.hidden_bytes  # outputs of (bnb) linear layers and the residual stream
    full = s.method in ("full", "freeze")
    # norms: RMSNorm saves its fp32 input; with trainable norm weights also the bf16 normalised value
    per_norm = ab * h if arch.layer_norm else 4 * h + (ab * h if full else 0)
    total = arch.norms_per_layer * per_norm
    # attention: shared input of q/k/v, q/k/v after RoPE, the kernel output, the o_proj input copy
    total += hb * h + ab * (q + 2 * kv) + 2 * ab * q + 4 * arch.num_attention_heads
    if arch.qk_norm:
        total += 4 * (q + kv)  # fp32 inputs of the per-head q/k norms
    if s.attn == "eager":
        heads = arch.num_attention_heads
        total += heads * seq * (4 + ab)  # fp32 softmax output + its low-precision copy, per query token
        total += ab * 2 * (q - kv)       # repeat_kv expands k and v to every head
    # MLP
    if arch.num_experts and any(arch.sparse_layer(n) for n in range(arch.num_hidden_layers)):
        m = arch.moe_intermediate_size or i
        k = max(1, arch.num_experts_per_tok)
        # routed copies per expert slot + router logits; fused experts are plain bf16 matmuls (not bnb)
        total += hb * h + k * (4 * ab * m + ab * h) + 4 * arch.num_experts
        if arch.shared_expert_intermediate_size:
            total += (3 * hb + ab) * arch.shared_expert_intermediate_size
    elif arch.gated_mlp:
        # gate and up outputs (saved by the activation and the product) and the activation: linear
        # outputs, so in the residual dtype; the product, input of down_proj
        total += hb * h + (3 * hb + ab) * i
    else:
        total += hb * h + (hb + ab) * i  # fc output (saved by the activation) and the activation
    if arch.family == "gpt_bigcode":
        total += 2 * h  # residual dropout masks (resid_pdrop 0.1 in StarCoder's config)
    # LoRA: fp32 adapters cast their input to fp32 and autocast saves a bf16 copy for lora_A, one per
    # adapter; adapters in the activation dtype use the input as is (already counted above), and only
    # dropout makes a new copy. Dropout adds a 1-byte mask; lora_A's r-dim output is saved for lora_B.
    if s.targets:
        mods = linear_modules(arch)
        cast = s.adapter_bytes != s.act_bytes
        for name in s.targets:
            d_in, _ = mods[name]
            copy = ab * d_in if (cast or s.lora_dropout > 0) else 0
            total += copy + (d_in if s.lora_dropout > 0 else 0) + ab * s.lora_r
    return total


def _backward_work_per_token(arch: ModelArch, s: _Setup) -> float:
    """Gradient buffers alive while one layer runs backward (grad of hidden, of the MLP inner)."""
    return 2 * s.act_bytes * arch.hidden_size + 2 * s.act_bytes * arch.intermediate_size + 4 * arch.hidden_size


@dataclass
class _Terms:
    weights: float
    trainable_weights: float
    gradients: float
    optimizer_state: float
    act_saved: float
    act_layer: float
    act_bwd: float
    logits: float
    t_fwd: float
    t_opt: float
    grad_partial: float


def _other_weights(pc: ParamCounts, s: _Setup) -> float:
    """Bytes of the non-quantised parameters on the k-bit path (embeddings, lm_head, norms, biases,
    fused experts, vision rest), after whatever upcast the trainer leaves in place."""
    if s.upcast == "all":
        return pc.not_quantized * 4.0
    if s.upcast == "norms":
        return pc.norms * 4.0 + (pc.not_quantized - pc.norms) * s.weight_bytes
    return pc.not_quantized * s.weight_bytes


def _compute(arch: ModelArch, pc: ParamCounts, s: _Setup, band: int) -> tuple[_Terms, int]:
    """All terms for one band (0 low, 1 expected, 2 high); returns the terms and trainable params."""
    n = s.num_gpus
    L = arch.num_hidden_layers
    tokens = s.batch * s.seq
    # ---- frozen and trainable parameters ---------------------------------------------------
    trainable = 0
    if s.method in ("lora", "qlora"):
        mods = linear_modules(arch)
        trainable = L * sum(s.lora_r * (mods[t][0] + mods[t][1]) for t in s.targets)
    saved_copies = 0
    for name in s.modules_to_save:
        if name in ("embed_tokens", "wte", "embed_in"):
            saved_copies += arch.vocab_size * arch.hidden_size
        elif name in ("lm_head", "embed_out"):
            saved_copies += arch.vocab_size * arch.hidden_size
    if s.quant_bits == 4:
        qbytes = NF4_DQ_BYTES if s.double_quant else NF4_BYTES
        weights = pc.linear * qbytes + _other_weights(pc, s)
    elif s.quant_bits == 8:
        # int8 weights + one fp32 scale per output row (SCB)
        rows = L * sum(o for _, o in linear_modules(arch).values())
        weights = pc.linear * INT8_BYTES + rows * 4 + _other_weights(pc, s)
    else:
        weights = pc.total * s.weight_bytes
    state_per, _ = _optimizer_state_bytes(s.optimizer)
    if s.method in ("lora", "qlora"):
        trainable += saved_copies
        # fp32 adapters (PEFT autocast_adapter_dtype) unless the trainer casts them; torch AdamW keeps
        # its two moments in the parameter's dtype, 8-bit optimizers their own 2 B
        tw = grads = trainable * s.adapter_bytes
        state = trainable * (state_per * s.adapter_bytes / 4.0 if state_per == 8.0 else state_per)
    else:
        if s.method == "freeze":
            per_layer = (pc.total - pc.embeddings - pc.lm_head - pc.vision) / max(1, L)
            trainable = int(per_layer * min(2, L))
        else:
            trainable = pc.total
        # weights of trainable params move from `weights` to `trainable_weights`
        weights = max(0.0, weights - trainable * s.weight_bytes)
        if s.fsdp:
            # FSDP mixed precision: fp32 sharded parameters and gradients, fp32 AdamW state
            tw, grads, state = trainable * 4.0, trainable * 4.0, trainable * state_per
        elif s.zero_stage:
            # DeepSpeed ZeRO: bf16 parameters + bf16 gradients + fp32 master copy and AdamW state (2+2+12)
            tw, grads, state = trainable * (s.weight_bytes + 4.0), trainable * s.weight_bytes, trainable * state_per
        else:
            # HF Trainer: parameters keep the load dtype (pure bf16 when loaded in bf16)
            pbytes = 4.0 if (s.weight_bytes == 4.0 or s.full_fp32_trainable) else s.weight_bytes
            tw = trainable * pbytes
            grads = trainable * pbytes
            state = trainable * (state_per if pbytes == 4.0 or state_per < 8 else 2 * pbytes)
    # ---- sharding across GPUs ----------------------------------------------------------------
    if n > 1:
        if s.fsdp or s.zero_stage >= 3:
            weights, tw, grads, state = weights / n, tw / n, grads / n, state / n
        elif s.zero_stage == 2:
            grads, state = grads / n, state / n
        elif s.zero_stage == 1:
            state = state / n
    # ---- activations ---------------------------------------------------------------------------
    f_act = ACT_BAND[band]
    per_layer_full = _per_token_layer_activation(arch, s, s.seq)
    head = 4 * arch.hidden_size + s.hidden_bytes * arch.hidden_size  # final norm fp32 input + lm_head input
    if s.checkpointing:
        # each checkpointed layer keeps its input hidden states
        act_saved = tokens * (L * s.hidden_bytes * arch.hidden_size + head)
        act_layer = tokens * per_layer_full
    else:
        act_saved = tokens * (L * per_layer_full + head)
        act_layer = 0.0
    act_bwd = tokens * _backward_work_per_token(arch, s)
    act_saved, act_layer, act_bwd = act_saved * f_act, act_layer * f_act, act_bwd * f_act
    # ---- logits / loss -------------------------------------------------------------------------
    if s.chunked_loss:
        # Liger fused linear cross-entropy: chunks of ~tokens*h/V rows of logits (fp32 + grad) and
        # the fp32 gradient of the hidden states: ~12 bytes per hidden element
        logits = tokens * arch.hidden_size * 12
    else:
        # forward with the shifted copy: bf16 logits 2 + fp32 4 + shifted fp32 copy 4 + log-softmax 4
        logits = tokens * arch.vocab_size * (LOGIT_BYTES[band] + (2.0 if s.shifted_logits_copy else 0.0))
    # ---- transients ----------------------------------------------------------------------------
    f_t = TRANSIENT_BAND[band]
    mods = linear_modules(arch)
    biggest = max((a * b for a, b in mods.values()), default=0)
    t_fwd = 0.0
    if s.quant_bits:
        t_fwd += biggest * 2  # bitsandbytes dequantises the largest weight to bf16 for its matmul
    if n > 1 and not (s.zero_stage or s.fsdp):
        t_fwd += grads  # DDP gradient buckets duplicate the gradients
    if n > 1 and (s.zero_stage or s.fsdp):
        t_fwd += 2 * 2 * arch.hidden_size ** 2 * 2  # reduce / all-gather buckets
        if s.fsdp or s.zero_stage >= 3:
            per_layer_params = (pc.total - pc.embeddings - pc.lm_head) / max(1, L)
            t_fwd += 2 * per_layer_params * s.weight_bytes  # gathered current + prefetched layer
    t_fwd *= f_t
    _, kind = _optimizer_state_bytes(s.optimizer)
    t_opt = 0.0
    if kind == "fp32" and "fused" not in s.optimizer:
        # foreach AdamW materialises sqrt(exp_avg_sq) for the whole group
        t_opt = (grads if (s.method in ("lora", "qlora")) else trainable * 4.0 / (n if (s.zero_stage or s.fsdp) and n > 1 else 1))
    t_opt *= f_t
    # gradients present during the forward/backward (accumulated from earlier micro batches)
    if s.grad_accum > 1:
        grad_partial = grads
    else:
        grad_partial = grads / max(1, L) if s.method in ("full", "freeze") else grads
    return _Terms(weights, tw, grads, state, act_saved, act_layer, act_bwd, logits, t_fwd, t_opt, grad_partial), trainable


def _peak(t: _Terms) -> tuple[float, str, dict[str, float]]:
    base = t.weights + t.trainable_weights + t.optimizer_state
    loss = base + t.grad_partial + t.act_saved + t.logits + t.t_fwd
    backward = base + t.grad_partial + t.act_saved + t.act_layer + t.act_bwd + t.t_fwd
    optim = base + t.gradients + t.t_opt
    phase, value = max((("loss", loss), ("backward", backward), ("optimizer", optim)), key=lambda kv: kv[1])
    parts = {"weights": t.weights, "trainable_weights": t.trainable_weights, "optimizer_state": t.optimizer_state}
    if phase == "loss":
        parts.update(gradients=t.grad_partial, activations=t.act_saved, logits_loss=t.logits, transients=t.t_fwd)
    elif phase == "backward":
        parts.update(gradients=t.grad_partial, activations=t.act_saved + t.act_layer + t.act_bwd, logits_loss=0.0,
                     transients=t.t_fwd)
    else:
        parts.update(gradients=t.gradients, activations=0.0, logits_loss=0.0, transients=t.t_opt)
    return value, phase, parts


def _margin(peak: float, band: int) -> float:
    return CONTEXT_BYTES[band] + FRAGMENTATION[band] * peak


def _verdict(required: float, high: float, gpu_bytes: int | None) -> str | None:
    if gpu_bytes is None:
        return None
    if required > gpu_bytes:
        return "oom"
    if high > gpu_bytes:
        return "tight"
    return "fits"


def _time(arch: ModelArch, pc: ParamCounts, s: _Setup, plan: Any, gpu: GPU | None, tokens_per_epoch: int | None,
          price: float | None, mfu: float | None) -> dict[str, Any]:
    """Projected hours and cost from FLOPs per token, an assumed utilisation and a price."""
    matmul = pc.active - pc.embeddings + (arch.vocab_size * arch.hidden_size if arch.tie_word_embeddings else 0)
    attn = 2 * arch.num_hidden_layers * s.seq * arch.q_dim  # causal QK^T + AV, average context s/2
    fwd = 2 * matmul + attn
    mult = {"full": 3.0, "freeze": 2.2, "lora": 2.0, "qlora": 2.0}[s.method]
    if s.checkpointing:
        mult += 1.0
    flops_per_token = fwd * mult
    out: dict[str, Any] = {"flops_per_token": int(flops_per_token), "tokens": None, "hours": None,
                           "gpu_hours": None, "cost_usd": None, "mfu": None, "price_per_hour": None, "basis": None}
    epochs = plan.num_epochs if plan.num_epochs is not None else (None if plan.max_steps else 1.0)
    if plan.max_steps:
        tokens = plan.max_steps * s.batch * s.grad_accum * s.num_gpus * s.seq
        out["basis"] = f"max_steps {plan.max_steps} x {s.batch * s.grad_accum * s.num_gpus} sequences x {s.seq} tokens (upper bound)"
    elif tokens_per_epoch:
        tokens = tokens_per_epoch * (epochs or 1.0)
        out["basis"] = f"{tokens_per_epoch:,} tokens per epoch from the data x {epochs or 1:g} epochs"
    else:
        out["basis"] = "no token count: datasets not available or not tokenised"
        return out
    out["tokens"] = int(tokens)
    util = mfu if mfu is not None else MFU[s.method]
    out["mfu"] = util
    if gpu is None or not gpu.tflops_bf16:
        return out
    seconds = tokens * flops_per_token / (s.num_gpus * gpu.tflops_bf16 * 1e12 * util)
    out["hours"] = round(seconds / 3600, 3)
    out["gpu_hours"] = round(seconds * s.num_gpus / 3600, 3)
    p = price if price is not None else gpu.price_per_hour
    if p is not None:
        out["price_per_hour"] = p
        out["cost_usd"] = round(out["gpu_hours"] * p, 2)
    return out


# --------------------------------------------------------------------------------------------
def estimate(plan: Any, arch: ModelArch, gpu: GPU | None = None, *, num_gpus: int | None = None,
             lengths: Sequence[int] | None = None, tokens_per_epoch: int | None = None,
             price_per_hour: float | None = None, mfu: float | None = None,
             suggestions: bool = True, stack: dict[str, str] | None = None) -> Estimate:
    """Estimate peak memory, required memory, a verdict against `gpu`, and time/cost.

    `lengths`: token lengths of the training examples (from the data), when known; the worst
    micro batch is padded to the longest (capped at the sequence length) unless packing.
    `stack`: how the run's own script differs from its dialect's trainer (keys in STACK_KEYS:
    `adapter_dtype`, `upcast`), for reproducing published measurements; ValueError on others.
    """
    max_len = max(lengths) if lengths else None
    if tokens_per_epoch is None and lengths:
        tokens_per_epoch = int(sum(min(x, plan.sequence_len or x) for x in lengths))
    s = _setup(plan, arch, num_gpus, max_len)
    _apply_stack(s, stack)
    if plan.dialect == "llamafactory" and s.method in ("full", "freeze"):
        s.full_fp32_trainable = True
        s.assumptions.append("LLaMA-Factory casts trainable parameters to fp32 (pure_bf16 not modelled)")
    pc = count_params(arch)
    if not arch.exact:
        s.assumptions.append(f"{arch.model_type}: architecture not modelled exactly; sized as a Llama-style decoder")
    if arch.num_experts and s.quant_bits:
        s.assumptions.append("MoE experts are fused 3-D parameters in transformers 5: bitsandbytes leaves them unquantised")
    if arch.vision_params:
        s.assumptions.append(f"vision tower counted as frozen weights ({arch.vision_params:,} parameters)")
    if s.optimizer.startswith("paged"):
        s.assumptions.append("paged optimizer: state may spill to host memory under pressure; counted on the GPU")
    results = []
    for band in (0, 1, 2):
        terms, trainable = _compute(arch, pc, s, band)
        peak, phase, parts = _peak(terms)
        results.append((peak, phase, parts, trainable))
    peak, phase, parts, trainable = results[1]
    required = peak + _margin(peak, 1)
    low = results[0][0] + _margin(results[0][0], 0)
    high = results[2][0] + _margin(results[2][0], 2)
    breakdown = {k: int(round(parts.get(k, 0.0))) for k in TERMS if k != "runtime_margin"}
    peak_i = sum(breakdown.values())
    breakdown["runtime_margin"] = int(round(required - peak))
    gpu_bytes = gpu.memory_bytes if gpu else None
    if gpu is not None and not gpu.bf16 and (plan.bf16 or (plan.bf16 is None and plan.fp16 is None)):
        s.assumptions.append(f"{gpu.id} has no bf16: the run needs fp16 or fp32 there (sized as 16-bit)")
    est = Estimate(
        model=arch.name, params=pc.total, trainable_params=int(trainable), peak_bytes=peak_i,
        required_bytes=int(round(required)), breakdown=breakdown, low_bytes=int(low), high_bytes=int(high),
        peak_low_bytes=int(results[0][0]), peak_high_bytes=int(results[2][0]), gpu=gpu.id if gpu else None,
        gpu_bytes=gpu_bytes, num_gpus=s.num_gpus, verdict=_verdict(required, high, gpu_bytes), peak_phase=phase,
        assumptions=s.assumptions,
        sequence={"micro_batch": s.batch, "padded_length": s.seq, "tokens_per_micro_batch": s.batch * s.seq,
                  "gradient_accumulation": s.grad_accum, "from_data": max_len is not None, "packing": bool(plan.packing)},
        param_breakdown={k: v for k, v in pc.as_dict().items()},
    )
    est.time = _time(arch, pc, s, plan, gpu, tokens_per_epoch, price_per_hour, mfu)
    if suggestions:
        est.suggestions = _suggest(plan, arch, gpu, est, num_gpus=num_gpus, lengths=lengths, stack=stack)
    return est


def _suggest(plan: Any, arch: ModelArch, gpu: GPU | None, est: Estimate, *, num_gpus: int | None,
             lengths: Sequence[int] | None, stack: dict[str, str] | None = None) -> list[Suggestion]:
    """Each change re-estimated; kept when it saves memory."""
    options: list[tuple[str, Any]] = []
    if not plan.gradient_checkpointing:
        options.append(("enable gradient checkpointing", plan.model_copy(update={"gradient_checkpointing": True})))
    batch = plan.micro_batch_size or DEFAULT_MICRO_BATCH.get(plan.dialect, 1)
    if batch > 1:
        half = max(1, batch // 2)
        ga = (plan.gradient_accumulation_steps or 1) * (batch // half)
        options.append((f"micro batch {half} with gradient accumulation {ga} (same effective batch)",
                        plan.model_copy(update={"micro_batch_size": half, "gradient_accumulation_steps": ga})))
    if plan.method in ("full", "freeze"):
        options.append(("LoRA instead of full fine-tuning (all linear layers, r=16)",
                        plan.model_copy(update={"method": "lora", "lora_r": 16, "lora_target_modules": ["all-linear"]})))
    if plan.method in ("full", "lora", "freeze") and not plan.load_in_4bit:
        options.append(("QLoRA: load the base model in 4-bit NF4 (r=16, all linear layers)",
                        plan.model_copy(update={"method": "qlora", "load_in_4bit": True, "load_in_8bit": False,
                                                "double_quant": True, "lora_r": plan.lora_r or 16,
                                                "lora_target_modules": plan.lora_target_modules or ["all-linear"]})))
    opt = (plan.optimizer or "adamw_torch_fused").lower()
    if "8bit" not in opt and "adafactor" not in opt and opt != "sgd":
        options.append(("8-bit optimizer (optimizer: paged_adamw_8bit)", plan.model_copy(update={"optimizer": "paged_adamw_8bit"})))
    if not plan.liger_kernel:
        options.append(("chunked/fused cross-entropy (Liger kernel: liger_kernel / use_liger_kernel)",
                        plan.model_copy(update={"liger_kernel": True})))
    if (plan.attn_implementation or "sdpa") == "eager":
        options.append(("sdpa or flash attention instead of eager", plan.model_copy(update={"attn_implementation": "sdpa"})))
    n = max(1, int(num_gpus or plan.num_gpus or 1))
    if n > 1 and not plan.fsdp and (plan.zero_stage or 0) < 3:
        options.append((f"shard across the {n} GPUs with DeepSpeed ZeRO-3 or FSDP",
                        plan.model_copy(update={"zero_stage": 3})))
    seq = est.sequence["padded_length"]
    if seq > 256:
        shorter = _longest_fitting_sequence(plan, arch, gpu, num_gpus, seq, stack) if gpu is not None else seq // 2
        if shorter is not None and shorter < seq:
            options.append((f"sequence length {shorter} (examples longer than that are truncated or dropped)",
                            plan.model_copy(update={"sequence_len": shorter, "packing": plan.packing})))
    out: list[Suggestion] = []
    for change, new_plan in options:
        lens = None if "sequence length" in change else lengths
        alt = estimate(new_plan, arch, gpu, num_gpus=num_gpus, lengths=lens, suggestions=False, stack=stack)
        saved = est.required_bytes - alt.required_bytes
        if saved > 0:
            out.append(Suggestion(change, int(saved), alt.required_bytes, alt.verdict or "-"))
    out.sort(key=lambda x: -x.saves_bytes)
    return out


def _longest_fitting_sequence(plan: Any, arch: ModelArch, gpu: GPU, num_gpus: int | None, current: int,
                              stack: dict[str, str] | None = None) -> int | None:
    """The longest multiple of 256 below `current` whose estimate fits, or half when none does."""
    lo, hi, best = 1, current // 256, None
    while lo <= hi:
        mid = (lo + hi) // 2
        cand = mid * 256
        if cand >= current:
            hi = mid - 1
            continue
        alt = estimate(plan.model_copy(update={"sequence_len": cand, "packing": True}), arch, gpu,
                       num_gpus=num_gpus, suggestions=False, stack=stack)
        if alt.verdict == "fits":
            best, lo = cand, mid + 1
        else:
            hi = mid - 1
    return best if best is not None else max(256, current // 2)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    return f"{n / GiB:.2f} GiB"
