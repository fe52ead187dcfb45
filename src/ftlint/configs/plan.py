"""The typed training plan: every dialect (Axolotl, LLaMA-Factory, TRL, AutoTrain) is
normalised into this one model, which the token, VRAM and smoke features consume.

`None` means "the config does not say and the trainer has no fixed default" (or it depends on
the hardware). Where the trainer does have a documented default, the normaliser fills it in and
lists the field in `assumed`, so consumers can say "assumed" in their output.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["full", "lora", "qlora", "freeze"]
# What the run optimises: supervised fine-tuning, continued pre-training, or a preference /
# reward / RL objective. Consumers use it to know which record shape the trainer expects.
Stage = Literal["sft", "pretrain", "dpo", "kto", "orpo", "reward", "ppo", "grpo", "other"]


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str                          # as written in the config (hub id, local path, or name)
    local_path: str | None = None      # resolved local file, when it exists
    split: Literal["train", "eval", "test"] = "train"
    declared_type: str | None = None   # as the config declares it (e.g. "alpaca", "chat_template")
    format: str | None = None          # ftlint format name it implies (alpaca, sharegpt, openai, …)
    key_path: str | None = None        # JSON pointer of the dataset entry in the config, for findings
    # local: on disk (local_path set) | hub: a hub id, not checked offline | missing: a local
    # path that does not exist | remote: a URL or another remote store | unknown: not resolvable
    source: Literal["local", "hub", "missing", "remote", "unknown"] = "unknown"
    detected_format: str | None = None  # ftlint format of the first records of local_path
    # Column / field names the trainer reads, by role (e.g. {"messages": "conversations",
    # "role": "from", "content": "value"} or {"prompt": "instruction", "response": "output"}).
    columns: dict[str, str] = Field(default_factory=dict)
    name: str | None = None            # LLaMA-Factory dataset name / HF config name


class TrainingPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dialect: Literal["axolotl", "llamafactory", "trl", "autotrain"]
    stage: Stage = "sft"
    base_model: str | None = None
    tokenizer: str | None = None
    chat_template: str | None = None      # template name or inline Jinja, when the config sets one
    trust_remote_code: bool = False

    method: Method = "full"
    load_in_4bit: bool = False
    load_in_8bit: bool = False
    quant_type: str | None = None          # nf4 | fp4
    double_quant: bool | None = None
    compute_dtype: str | None = None       # bfloat16 | float16 | float32

    lora_r: int | None = None
    lora_alpha: float | None = None
    lora_dropout: float | None = None
    lora_target_modules: list[str] | None = None   # None: the trainer's default; ["all-linear"] allowed
    lora_modules_to_save: list[str] | None = None
    use_rslora: bool = False                # scale alpha / sqrt(r) instead of alpha / r
    use_dora: bool = False

    sequence_len: int | None = None
    packing: bool = False
    micro_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    num_epochs: float | None = None
    max_steps: int | None = None
    learning_rate: float | None = None
    lr_scheduler: str | None = None
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    optimizer: str | None = None
    bf16: bool | None = None
    fp16: bool | None = None
    tf32: bool | None = None
    gradient_checkpointing: bool = False
    attn_implementation: str | None = None  # flash_attention_2 | sdpa | eager | flex_attention
    train_on_inputs: bool | None = None     # False: loss on assistant/completion only
    assistant_only_loss: bool | None = None
    liger_kernel: bool = False               # fused/chunked cross-entropy
    datasets: list[DatasetSpec] = Field(default_factory=list)
    val_set_size: float | None = None        # share/count held out for eval by the trainer
    max_samples: int | None = None           # LLaMA-Factory: cap on examples taken per dataset
    deepspeed: str | None = None             # config path or stage name
    zero_stage: int | None = None            # 0..3 when known
    fsdp: bool = False
    num_gpus: int = 1
    output_dir: str | None = None
    seed: int | None = None
    # plan field -> JSON pointer of the config key it was read from ("/micro_batch_size"), so any
    # consumer can point a finding at the key: `doc.locate(plan.sources["micro_batch_size"])`.
    sources: dict[str, str] = Field(default_factory=dict)
    # plan fields the config does not set, filled with the trainer's documented default
    # (e.g. Axolotl sequence_len 512, TRL max_length 1024, LLaMA-Factory cutoff_len 2048).
    assumed: list[str] = Field(default_factory=list)
