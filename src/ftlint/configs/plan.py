"""The typed training plan: every dialect (Axolotl, LLaMA-Factory, TRL, AutoTrain) is
normalised into this one model, which the token, VRAM and smoke features consume.

`None` means "the config does not say"; consumers apply the trainer's documented default and
say so in their assumptions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["full", "lora", "qlora", "freeze"]


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str                          # as written in the config (hub id, local path, or name)
    local_path: str | None = None      # resolved local file, when it exists
    split: Literal["train", "eval", "test"] = "train"
    declared_type: str | None = None   # as the config declares it (e.g. "alpaca", "chat_template")
    format: str | None = None          # ftlint format name it implies (alpaca, sharegpt, openai, …)
    key_path: str | None = None        # JSON pointer of the dataset entry in the config, for findings


class TrainingPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dialect: Literal["axolotl", "llamafactory", "trl", "autotrain"]
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
    deepspeed: str | None = None             # config path or stage name
    zero_stage: int | None = None            # 0..3 when known
    fsdp: bool = False
    num_gpus: int = 1
    output_dir: str | None = None
    seed: int | None = None
