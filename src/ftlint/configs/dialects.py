"""Dialect detection and normalisation of Axolotl, LLaMA-Factory, TRL and AutoTrain configs.

Each `normalise_*` reads the config the way that trainer does (its key names, its defaults, its
dataset resolution) and fills a `TrainingPlan`. Values the config does not write but the trainer
assumes are filled in with the trainer's documented default and listed in `Normalised.assumed`;
every value read from a key records that key's JSON pointer in `plan.sources`.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import datasets as dsets
from .keys import DIALECTS, spec
from .plan import DatasetSpec, TrainingPlan
from .yamlsafe import to_path, to_pointer

MISSING: Any = object()


@dataclass
class Normalised:
    plan: TrainingPlan
    assumed: list[str] = field(default_factory=list)                   # plan fields set from defaults
    invalid: list[tuple[str, str]] = field(default_factory=list)       # (pointer, message)
    unmodelled: list[tuple[str, str]] = field(default_factory=list)    # (pointer, feature)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (pointer, kind, message)
    samples: dict[str, list[dict]] = field(default_factory=dict)      # local path -> first records


# ---------------------------------------------------------------------------------------------
# detection

# What each trainer uses when the config sets no sequence length / micro batch (read from their
# argument defaults). The normalisers below fill them in; the VRAM estimator falls back on them
# for a plan built without a config. AutoTrain's sequence length is derived (block_size), not a constant.
DEFAULT_SEQUENCE_LEN = {"axolotl": 512, "llamafactory": 2048, "trl": 1024, "autotrain": 1024}
DEFAULT_MICRO_BATCH = {"axolotl": 1, "llamafactory": 8, "trl": 8, "autotrain": 2}

MODEL_KEYS = {"axolotl": "base_model", "llamafactory": "model_name_or_path", "trl": "model_name_or_path",
              "autotrain": "base_model"}


def detect_dialect(data: Any) -> tuple[str | None, dict[str, float]]:
    """The dialect whose keys explain the config best, and every dialect's score.

    A key known to k dialects adds 1/k to each of them; the model key adds 2. A dialect needs its
    model key or a score of at least 3 to be a candidate.
    """
    if not isinstance(data, dict):
        return None, {}
    keys = [k for k in data if isinstance(k, str)]
    if "task" in data and (isinstance(data.get("params"), dict) or isinstance(data.get("data"), dict)):
        return "autotrain", {"autotrain": 10.0}
    known = {d: spec(d).top for d in DIALECTS if d != "autotrain"}
    scores: dict[str, float] = {d: 0.0 for d in known}
    for k in keys:
        owners = [d for d, ks in known.items() if k in ks]
        for d in owners:
            scores[d] += 1.0 / len(owners)
    for d in known:
        if MODEL_KEYS[d] in data:
            scores[d] += 2.0
    # Shape evidence that keys alone do not carry.
    if isinstance(data.get("dataset"), str):
        scores["llamafactory"] += 1.0
    ds = data.get("datasets")
    if isinstance(ds, list) and ds and isinstance(ds[0], dict):
        if "type" in ds[0]:
            scores["axolotl"] += 1.0
        elif set(ds[0]) <= set(spec("trl").nested[("datasets", "*")]):
            scores["trl"] += 1.0
    candidates = {d: s for d, s in scores.items()
                  if (MODEL_KEYS[d] in data and s >= 2.5) or s >= 3.0}
    if not candidates:
        return None, scores
    best = max(candidates, key=lambda d: (candidates[d], -list(known).index(d)))
    return best, scores


# ---------------------------------------------------------------------------------------------
# reading values


class Builder:
    """Typed access to the raw config with pointers, defaults and invalid-value reports."""

    def __init__(self, data: dict, dialect: str, config_path: str) -> None:
        self.data = data
        self.dialect = dialect
        self.config_path = config_path
        self.fields: dict[str, Any] = {"dialect": dialect}
        self.sources: dict[str, str] = {}
        self.out = Normalised(plan=None)  # type: ignore[arg-type]
        here = Path(config_path).resolve().parent
        cwd = Path.cwd()
        self.bases = [here] if here == cwd else [here, cwd]

    # raw access ---------------------------------------------------------------------------
    def raw(self, *path: Any) -> Any:
        cur: Any = self.data
        for p in path:
            if isinstance(cur, dict) and p in cur:
                cur = cur[p]
            elif isinstance(cur, list) and isinstance(p, int) and 0 <= p < len(cur):
                cur = cur[p]
            else:
                return MISSING
        return cur

    def has(self, *path: Any) -> bool:
        v = self.raw(*path)
        return v is not MISSING and v is not None

    def truthy(self, *path: Any) -> bool:
        v = self.raw(*path)
        return v is not MISSING and bool(v) and v not in ("false", "False", "no", "none", "None")

    def invalid(self, path: tuple, message: str) -> None:
        self.out.invalid.append((to_pointer(path), message))

    def unmodelled(self, path: tuple, feature: str) -> None:
        self.out.unmodelled.append((to_pointer(path), feature))

    def problem(self, path: tuple, kind: str, message: str) -> None:
        self.out.problems.append((to_pointer(path), kind, message))

    # typed reads --------------------------------------------------------------------------
    def read(self, path: tuple, kind: str) -> Any:
        v = self.raw(*path)
        if v is MISSING or v is None:
            return None
        conv = _CONVERTERS[kind]
        try:
            return conv(v)
        except (TypeError, ValueError):
            name = ".".join(str(p) for p in path)
            self.invalid(path, f"`{name}` should be {_EXPECTED[kind]}, not {_show(v)}")
            return None

    def set(self, fieldname: str, value: Any, path: tuple | None = None) -> None:
        self.fields[fieldname] = value
        if path is not None:
            self.sources[fieldname] = to_pointer(path)

    def take(self, fieldname: str, path: tuple, kind: str, default: Any = None,
             transform: Callable[[Any], Any] | None = None) -> Any:
        """Read `path` into `fieldname`; fall back to the trainer's default (recorded as assumed)."""
        v = self.read(path, kind)
        if v is None:
            if default is not None:
                self.fields[fieldname] = default
                self.out.assumed.append(fieldname)
            return self.fields.get(fieldname)
        if transform is not None:
            v = transform(v)
        self.set(fieldname, v, path)
        return v

    def take_flag(self, fieldname: str, path: tuple) -> bool:
        """A boolean setting the plan always holds: absent or null reads as False."""
        self.take(fieldname, path, "bool")
        self.fields[fieldname] = value = bool(self.fields.get(fieldname))
        return value

    def default(self, fieldname: str, value: Any) -> None:
        if self.fields.get(fieldname) is None and value is not None:
            self.fields[fieldname] = value
            self.out.assumed.append(fieldname)

    def flag_features(self, table: dict[str, str]) -> None:
        for key, feature in table.items():
            if self.truthy(key):
                self.unmodelled((key,), feature)

    # datasets -----------------------------------------------------------------------------
    def local_spec(self, path: Path, ref: str, split: str, key_path: tuple, **kw: Any) -> DatasetSpec:
        records, fmt = dsets.sniff(path)
        local = str(path)
        if records:
            self.out.samples[local] = records
        return DatasetSpec(path=ref, local_path=local, split=split, key_path=to_pointer(key_path),
                           source="local", detected_format=fmt, **kw)

    def resolve_file_or_dir(self, ref: str, split: str, key_path: tuple, *, hub_ok: bool = True,
                            **kw: Any) -> list[DatasetSpec]:
        """A dataset reference that may be a local file, a local folder or a hub id."""
        found = dsets.find_local(ref, self.bases)
        if found is not None:
            if found.is_dir():
                files = dsets.data_files_in(found)
                if not files:
                    return [DatasetSpec(path=ref, split=split, key_path=to_pointer(key_path), source="local",
                                        **kw)]
                return [self.local_spec(f, ref, split, key_path, **kw) for f in files]
            return [self.local_spec(found, ref, split, key_path, **kw)]
        if ref.startswith(("http://", "https://", "s3://", "gs://", "gcs://", "az://", "abfs://")):
            return [DatasetSpec(path=ref, split=split, key_path=to_pointer(key_path), source="remote", **kw)]
        if hub_ok and dsets.looks_like_hub_id(ref) and not dsets.looks_like_local_path(ref):
            return [DatasetSpec(path=ref, split=split, key_path=to_pointer(key_path), source="hub", **kw)]
        return [DatasetSpec(path=ref, split=split, key_path=to_pointer(key_path), source="missing", **kw)]

    def tried(self, ref: str) -> str:
        return ", ".join(_rel(c) for c in dsets.candidates(ref, self.bases))

    # result -------------------------------------------------------------------------------
    def finish(self) -> Normalised:
        self.fields["sources"] = self.sources
        self.fields["assumed"] = sorted(set(self.out.assumed))
        try:
            plan = TrainingPlan(**self.fields)
        except Exception as exc:  # a value the plan's types reject: report it and drop it
            from pydantic import ValidationError

            if not isinstance(exc, ValidationError):
                raise
            for err in exc.errors():
                name = str(err["loc"][0]) if err["loc"] else ""
                if name in self.fields and name not in ("dialect", "sources", "assumed"):
                    pointer = self.sources.get(name, "")
                    self.out.invalid.append((pointer, f"`{pointer.lstrip('/') or name}`: {err['msg']}"))
                    self.fields.pop(name, None)
            plan = TrainingPlan(**self.fields)
        self.out.plan = plan
        return self.out



def _take_parallelism_and_output(b: "Builder", fsdp_keys: tuple[str, ...] = ("fsdp",)) -> None:
    """DeepSpeed (with its ZeRO stage), FSDP, output folder and seed: the same keys in every
    dialect. `fsdp_keys` in order of preference; `fsdp_version` counts when merely present."""
    ds = b.read(("deepspeed",), "str")
    if ds:
        b.set("deepspeed", ds, ("deepspeed",))
        b.fields["zero_stage"] = zero_stage_of(ds, b.bases)
    key = next((k for k in fsdp_keys if b.truthy(k) or (k == "fsdp_version" and b.has(k))), None)
    if key:
        b.set("fsdp", True, (key,))
    b.take("output_dir", ("output_dir",), "str")
    b.take("seed", ("seed",), "int")

def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _rel(p: Path) -> str:
    try:
        return Path(os.path.relpath(p, Path.cwd())).as_posix()
    except ValueError:  # another drive on Windows
        return p.as_posix()


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "no", "0", "off"):
        return False
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ValueError(v)


_MAX_INT = 2**53  # beyond this no config value is meaningful, and floats lose integers


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, int) and abs(v) <= _MAX_INT:
        return v
    if isinstance(v, str):
        v = float(v.strip())
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) <= _MAX_INT:
        return int(v)
    raise ValueError(v)


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, int) and abs(v) <= _MAX_INT:
        return float(v)
    if isinstance(v, str):
        v = float(v.strip())  # YAML 1.1 reads `2e-4` as a string; the trainers convert it
    if isinstance(v, float) and math.isfinite(v):
        return v
    raise ValueError(v)


def _to_str(v: Any) -> str:
    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
        return str(v)
    raise ValueError(v)


def _to_strlist(v: Any) -> list[str]:
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return list(v)
    raise ValueError(v)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": _to_bool, "int": _to_int, "float": _to_float, "str": _to_str, "strlist": _to_strlist,
    "raw": lambda v: v,
}
_EXPECTED = {"bool": "true or false", "int": "a whole number", "float": "a finite number", "str": "a string",
             "strlist": "a list of names (or a comma-separated string)", "raw": "a value"}


def zero_stage_of(ref: str | None, bases: list[Path]) -> int | None:
    """ZeRO stage from a DeepSpeed config path (its JSON when local, else its name)."""
    if not ref:
        return None
    found = dsets.find_local(ref, bases)
    if found is not None and found.is_file():
        try:
            data = json.loads(found.read_text(encoding="utf-8"))
            stage = data.get("zero_optimization", {}).get("stage")
            if isinstance(stage, int):
                return stage
        except (OSError, ValueError, AttributeError):
            pass
    m = re.search(r"(?:zero|z)[_-]?([0-3])", Path(ref).name.lower())
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------
# Axolotl

AXOLOTL_UNMODELLED = {
    "gptq": "GPTQ-quantised base model",
    "relora": "ReLoRA restarts",
    "lisa_n_layers": "LISA layer-wise sampling",
    "qat": "quantisation-aware training",
    "quantization": "post-training quantisation",
    "model_quantization_config": "a custom model quantisation config",
    "processor_type": "a multimodal processor (images/audio)",
    "diffusion": "diffusion language-model training",
    "ebft": "energy-based fine-tuning",
    "kd_trainer": "knowledge distillation",
    "context_parallel_size": "context parallelism",
    "tensor_parallel_size": "tensor parallelism",
    "expert_parallel_size": "expert parallelism",
    "dynamic_checkpoint": "dynamic activation checkpointing",
    "activation_offloading": "activation offloading",
    "llama4_linearized_experts": "linearised MoE experts",
    "use_scattermoe": "ScatterMoE kernels",
    "use_sonicmoe": "SonicMoE kernels",
    "quantize_moe_experts": "quantised MoE experts",
    "streaming": "streaming datasets",
    "pretraining_dataset": "a streamed pre-training dataset",
    "reward_model": "reward-model training",
    "process_reward_model": "process reward-model training",
    "vllm": "vLLM generation during training",
    "fp8": "FP8 training",
    "use_ray": "Ray Train",
}

# Axolotl prompt-strategy names -> ftlint format (by the part before the first '.' or ':').
_AXOLOTL_TYPES = {
    "alpaca": "alpaca", "alpaca_chat": "alpaca", "alpaca_instruct": "alpaca", "alpaca_w_system": "alpaca",
    "alpaca_reflection": "alpaca",
    "chat_template": "openai", "sharegpt": "sharegpt", "sharegpt_jokes": "sharegpt",
    "completion": "text", "pretrain": "text",
}
_AXOLOTL_RL_STAGE = {"dpo": "dpo", "ipo": "dpo", "simpo": "dpo", "kto": "kto", "orpo": "orpo", "grpo": "grpo",
                     "gdpo": "grpo", "ebft": "other"}


def normalise_axolotl(data: dict, config_path: str) -> Normalised:
    b = Builder(data, "axolotl", config_path)
    b.take("base_model", ("base_model",), "str")
    b.take("tokenizer", ("tokenizer_config",), "str")
    if b.has("chat_template_jinja"):
        b.take("chat_template", ("chat_template_jinja",), "str")
    else:
        b.take("chat_template", ("chat_template",), "str")
    b.take_flag("trust_remote_code", ("trust_remote_code",))

    rl = b.read(("rl",), "str")
    if rl:
        b.set("stage", _AXOLOTL_RL_STAGE.get(rl.lower(), "other"), ("rl",))
    elif b.truthy("reward_model") or b.truthy("process_reward_model"):
        b.set("stage", "reward", ("reward_model",) if b.truthy("reward_model") else ("process_reward_model",))

    adapter = b.read(("adapter",), "str")
    four = b.take("load_in_4bit", ("load_in_4bit",), "bool") or False
    eight = b.take("load_in_8bit", ("load_in_8bit",), "bool") or False
    b.fields["load_in_4bit"], b.fields["load_in_8bit"] = bool(four), bool(eight)
    if adapter in ("lora", "qlora"):
        b.set("method", "qlora" if (adapter == "qlora" or four) else "lora", ("adapter",))
    elif adapter:
        b.set("method", "lora", ("adapter",))
        b.unmodelled(("adapter",), f"the `{adapter}` adapter (sized as LoRA)")
    elif b.has("unfrozen_parameters"):
        b.set("method", "freeze", ("unfrozen_parameters",))
    if four:
        kw = ("bnb_config_kwargs",)
        b.take("quant_type", kw + ("bnb_4bit_quant_type",), "str", default="nf4")
        b.take("double_quant", kw + ("bnb_4bit_use_double_quant",), "bool", default=True)
        b.take("compute_dtype", kw + ("bnb_4bit_compute_dtype",), "str")

    b.take("lora_r", ("lora_r",), "int")
    b.take("lora_alpha", ("lora_alpha",), "float")
    b.take("lora_dropout", ("lora_dropout",), "float", default=0.0 if adapter else None)
    if b.truthy("lora_target_linear"):
        b.set("lora_target_modules", ["all-linear"], ("lora_target_linear",))
    elif isinstance(b.raw("lora_target_modules"), str):
        # a string is a regular expression for PEFT, kept as one entry
        b.set("lora_target_modules", [b.raw("lora_target_modules")], ("lora_target_modules",))
    else:
        b.take("lora_target_modules", ("lora_target_modules",), "strlist")
    b.take("lora_modules_to_save", ("lora_modules_to_save",), "strlist")
    b.take_flag("use_rslora", ("peft_use_rslora",))
    b.take_flag("use_dora", ("peft_use_dora",))

    b.take("sequence_len", ("sequence_len",), "int", default=DEFAULT_SEQUENCE_LEN["axolotl"])
    b.take_flag("packing", ("sample_packing",))
    micro = b.take("micro_batch_size", ("micro_batch_size",), "int", default=DEFAULT_MICRO_BATCH["axolotl"])
    accum = b.read(("gradient_accumulation_steps",), "int")
    total = b.read(("batch_size",), "int")
    if accum is not None:
        b.set("gradient_accumulation_steps", accum, ("gradient_accumulation_steps",))
    elif total is not None and micro:
        b.set("gradient_accumulation_steps", max(1, total // micro), ("batch_size",))
    else:
        b.default("gradient_accumulation_steps", 1)
    b.take("num_epochs", ("num_epochs",), "float", default=1.0)
    b.take("max_steps", ("max_steps",), "int")
    b.take("learning_rate", ("learning_rate",), "float")
    b.take("lr_scheduler", ("lr_scheduler",), "str", default="cosine")
    b.take("warmup_steps", ("warmup_steps",), "int")
    b.take("warmup_ratio", ("warmup_ratio",), "float")
    b.take("optimizer", ("optimizer",), "str")
    bf16 = b.raw("bf16")
    if isinstance(bf16, str) and bf16.lower() in ("auto",):
        b.sources["bf16"] = "/bf16"  # decided at run time from the GPU
    elif isinstance(bf16, str) and bf16.lower() == "full":
        b.set("bf16", True, ("bf16",))
    else:
        b.take("bf16", ("bf16",), "bool")
    if b.truthy("bfloat16") and b.fields.get("bf16") is None:
        b.set("bf16", True, ("bfloat16",))
    b.take("fp16", ("fp16",), "bool")
    if b.truthy("float16") and b.fields.get("fp16") is None:
        b.set("fp16", True, ("float16",))
    b.take("tf32", ("tf32",), "bool")
    gc = b.raw("gradient_checkpointing")
    if isinstance(gc, str) and gc:
        b.set("gradient_checkpointing", True, ("gradient_checkpointing",))  # "offload" variants
    else:
        b.take_flag("gradient_checkpointing", ("gradient_checkpointing",))
    if b.has("attn_implementation"):
        b.take("attn_implementation", ("attn_implementation",), "str")
    else:
        for key, impl in (("flash_attention", "flash_attention_2"), ("sdp_attention", "sdpa"),
                          ("xformers_attention", "xformers"), ("flex_attention", "flex_attention"),
                          ("eager_attention", "eager")):
            if b.truthy(key):
                b.set("attn_implementation", impl, (key,))
                break
    b.take("train_on_inputs", ("train_on_inputs",), "bool", default=False)
    for key in ("liger_fused_linear_cross_entropy", "cut_cross_entropy", "chunked_cross_entropy"):
        if b.truthy(key):
            b.set("liger_kernel", True, (key,))
            break
    b.take("val_set_size", ("val_set_size",), "float", default=0.0)
    _take_parallelism_and_output(b, fsdp_keys=("fsdp_config", "fsdp", "fsdp_version"))

    specs: list[DatasetSpec] = []
    for section, split in (("datasets", "train"), ("test_datasets", "eval")):
        entries = b.raw(section)
        if entries is MISSING or entries is None:
            continue
        if isinstance(entries, dict):
            entries = [entries]
            base: tuple = (section,)
            items = [(base, entries[0])]
        elif isinstance(entries, list):
            items = [((section, i), e) for i, e in enumerate(entries)]
        else:
            b.invalid((section,), f"`{section}` should be a list of datasets, not {_show(entries)}")
            continue
        for key_path, entry in items:
            specs.extend(_axolotl_dataset(b, entry, key_path, split))
    if specs and all(s.declared_type in ("completion", "pretrain") for s in specs) and not rl:
        b.fields.setdefault("stage", "pretrain")
    if b.has("pretraining_dataset"):
        b.fields.setdefault("stage", "pretrain")
    b.fields["datasets"] = specs
    b.flag_features(AXOLOTL_UNMODELLED)
    if b.truthy("plugins"):
        plugins = b.raw("plugins")
        names = [str(p).rsplit(".", 2)[-2] if str(p).count(".") >= 2 else str(p)
                 for p in (plugins if isinstance(plugins, list) else [plugins])]
        modelled = {"liger", "cut_cross_entropy"}
        other = [n for n in names if not any(m in n.lower() for m in modelled)]
        if other:
            b.unmodelled(("plugins",), "plugins " + ", ".join(sorted(set(other))))
    return b.finish()


def _axolotl_dataset(b: Builder, entry: Any, key_path: tuple, split: str) -> list[DatasetSpec]:
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict):
        b.invalid(key_path, f"a dataset entry should be a mapping with `path` and `type`, not {_show(entry)}")
        return []
    path = entry.get("path")
    dtype = entry.get("type")
    declared: str | None
    if isinstance(dtype, dict):
        declared = "user_defined"
    elif isinstance(dtype, str):
        declared = dtype
    else:
        declared = None
    base = re.split(r"[.:]", declared, maxsplit=1)[0] if declared else None
    fmt = _AXOLOTL_TYPES.get(base or "")
    columns: dict[str, str] = {}
    if base == "chat_template":
        columns["messages"] = str(entry.get("field_messages") or "messages")
        mapping = entry.get("message_property_mappings") or {}
        role = (mapping.get("role") if isinstance(mapping, dict) else None) or entry.get("message_field_role") or "role"
        content = (mapping.get("content") if isinstance(mapping, dict) else None) \
            or entry.get("message_field_content") or "content"
        columns["role"], columns["content"] = str(role), str(content)
        fmt = "openai" if (role, content) == ("role", "content") else "sharegpt"
    elif base in ("sharegpt", "sharegpt_jokes"):
        columns.update(messages="conversations", role="from", content="value")
    elif base in ("completion", "pretrain"):
        columns["text"] = str(entry.get("field") or entry.get("text_column") or "text")
    elif fmt == "alpaca":
        columns.update(prompt="instruction", response="output")
    stage = b.fields.get("stage")
    if stage in ("dpo", "orpo") and declared:
        fmt = "preference"
        columns = {"chosen": str(entry.get("field_chosen") or "chosen"),
                   "rejected": str(entry.get("field_rejected") or "rejected")}
    elif stage == "kto" and declared:
        fmt = "kto"
        columns = {}
    kw = dict(declared_type=declared, format=fmt, columns=columns,
              name=str(entry["name"]) if isinstance(entry.get("name"), str) else None)
    if not isinstance(path, str) or not path.strip():
        if entry.get("path") is None and "path" not in entry:
            b.invalid(key_path, "dataset entry has no `path`")
        else:
            b.invalid(key_path + ("path",), f"dataset `path` should be a string, not {_show(path)}")
        return []
    ds_type = entry.get("ds_type")
    data_files = entry.get("data_files")
    builder = path.strip().lower() in ("json", "csv", "parquet", "text", "arrow")
    out: list[DatasetSpec] = []
    if data_files and (builder or ds_type or dsets.find_local(path, b.bases) is not None
                       or not dsets.looks_like_hub_id(path)):
        files = [data_files] if isinstance(data_files, str) else list(data_files) \
            if isinstance(data_files, list) else []
        for i, f in enumerate(files):
            if not isinstance(f, str):
                continue
            fkey = key_path + ("data_files",) + ((i,) if isinstance(data_files, list) else ())
            got = b.resolve_file_or_dir(f, split, fkey, hub_ok=False, **kw)
            out.extend(got)
        return out
    kp = key_path + ("path",)
    got = b.resolve_file_or_dir(path, split, kp, hub_ok=not (ds_type or builder), **kw)
    for s in got:
        if s.source == "missing":
            b.problem(kp, "missing", f"dataset `{path}` not found (looked in {b.tried(path)}) and it is "
                      "not a Hugging Face hub id")
    return got


def _take_trainer_steps(b: Builder, dialect: str) -> None:
    """The batch and step keys of HF TrainingArguments, which LLaMA-Factory and TRL configs share."""
    b.take("micro_batch_size", ("per_device_train_batch_size",), "int", default=DEFAULT_MICRO_BATCH[dialect])
    b.take("gradient_accumulation_steps", ("gradient_accumulation_steps",), "int", default=1)
    b.take("num_epochs", ("num_train_epochs",), "float", default=3.0)
    ms = b.read(("max_steps",), "int")
    if ms is not None and ms > 0:
        b.set("max_steps", ms, ("max_steps",))


# ---------------------------------------------------------------------------------------------
# LLaMA-Factory

LF_UNMODELLED = {
    "use_galore": "GaLore optimiser", "use_apollo": "APOLLO optimiser", "use_badam": "BAdam optimiser",
    "use_adam_mini": "Adam-mini optimiser", "use_muon": "Muon optimiser", "use_llama_pro": "LLaMA Pro block expansion",
    "mixture_of_depths": "mixture of depths", "pissa_init": "PiSSA initialisation",
    "loraplus_lr_ratio": "LoRA+ learning-rate ratio", "use_asft_loss": "ASFT loss", "use_eaft_loss": "EAFT loss",
    "use_dft_loss": "DFT loss", "fp8": "FP8 training", "freeze_vision_tower": "multimodal training",
    "image_max_pixels": "multimodal training", "video_max_pixels": "multimodal training",
    "tokenized_path": "pre-tokenised data (datasets are not read from their source)",
    "use_kt": "KTransformers", "use_mca": "Megatron-Core training", "use_ray": "Ray Train",
    "ray_num_workers": "Ray Train", "add_tokens": "added tokens", "add_special_tokens": "added special tokens",
    "streaming": "streaming datasets", "neat_packing": "neat packing (packing without cross-attention)",
}
_LF_STAGE = {"pt": "pretrain", "sft": "sft", "rm": "reward", "ppo": "ppo", "dpo": "dpo", "kto": "kto"}
_LF_ATTN = {"fa2": "flash_attention_2", "fa3": "flash_attention_3", "sdpa": "sdpa", "disabled": "eager"}


def normalise_llamafactory(data: dict, config_path: str) -> Normalised:
    b = Builder(data, "llamafactory", config_path)
    b.take("base_model", ("model_name_or_path",), "str")
    b.take("chat_template", ("template",), "str")
    b.take_flag("trust_remote_code", ("trust_remote_code",))
    stage = b.read(("stage",), "str")
    if stage:
        b.set("stage", _LF_STAGE.get(stage, "other"), ("stage",))
        if stage == "dpo" and b.read(("pref_loss",), "str") == "orpo":
            b.set("stage", "orpo", ("pref_loss",))
    else:
        b.default("stage", "sft")
    if b.has("do_train") and b.read(("do_train",), "bool") is False:
        b.unmodelled(("do_train",), "a run that does not train (do_train: false)")

    ftype = b.read(("finetuning_type",), "str")
    if ftype is None:
        ftype = "lora"
        b.out.assumed.append("method")
    qbit = b.read(("quantization_bit",), "int")
    qmethod = b.read(("quantization_method",), "str") or "bnb"
    if ftype in ("lora", "oft"):
        method = "qlora" if qbit == 4 else "lora"
        if ftype == "oft":
            b.unmodelled(("finetuning_type",), "OFT adapters (sized as LoRA)")
    elif ftype in ("full", "freeze"):
        method = ftype
    else:
        method = "full"
        b.invalid(("finetuning_type",), f"`finetuning_type` should be lora, oft, freeze or full, not {_show(ftype)}")
    b.set("method", method, ("finetuning_type",) if b.has("finetuning_type") else None)
    if qbit is not None:
        b.sources["load_in_4bit" if qbit == 4 else "load_in_8bit"] = "/quantization_bit"
        b.fields["load_in_4bit"] = qbit == 4 and qmethod == "bnb"
        b.fields["load_in_8bit"] = qbit == 8 and qmethod == "bnb"
        if qmethod != "bnb":
            b.unmodelled(("quantization_method",), f"{qmethod} quantisation")
        if qbit not in (4, 8):
            b.unmodelled(("quantization_bit",), f"{qbit}-bit quantisation")
        if qbit == 4:
            b.take("quant_type", ("quantization_type",), "str", default="nf4")
            b.take("double_quant", ("double_quantization",), "bool", default=True)
            b.take("compute_dtype", ("compute_dtype",), "str")
    if b.read(("model_name_or_path",), "str") and re.search(r"(gptq|awq|aqlm|int4|int8|bnb-4bit)",
                                                             str(b.raw("model_name_or_path")), re.I):
        b.unmodelled(("model_name_or_path",), "a pre-quantised checkpoint")

    if method in ("lora", "qlora"):
        r = b.take("lora_r", ("lora_rank",), "int", default=8)
        b.take("lora_alpha", ("lora_alpha",), "float", default=float(r * 2) if r else None)
        b.take("lora_dropout", ("lora_dropout",), "float", default=0.0)
        target = b.read(("lora_target",), "strlist")
        if target is None:
            b.default("lora_target_modules", ["all-linear"])
        else:
            b.set("lora_target_modules", ["all-linear"] if target == ["all"] else target, ("lora_target",))
        b.take("lora_modules_to_save", ("additional_target",), "strlist")
        b.take("use_rslora", ("use_rslora",), "bool")
        b.take("use_dora", ("use_dora",), "bool")
    else:
        for key, f in (("lora_rank", "lora_r"), ("lora_alpha", "lora_alpha")):
            b.take(f, (key,), "int" if f == "lora_r" else "float")
    for f in ("use_rslora", "use_dora"):
        b.fields[f] = bool(b.fields.get(f))

    b.take("sequence_len", ("cutoff_len",), "int", default=DEFAULT_SEQUENCE_LEN["llamafactory"])
    pk = b.read(("packing",), "bool")
    if pk is None:
        b.fields["packing"] = b.fields.get("stage") == "pretrain"  # LF packs pre-training data by default
        b.out.assumed.append("packing")
    else:
        b.set("packing", pk, ("packing",))
    _take_trainer_steps(b, "llamafactory")
    b.take("learning_rate", ("learning_rate",), "float", default=5e-5)
    b.take("lr_scheduler", ("lr_scheduler_type",), "str", default="linear")
    b.take("warmup_steps", ("warmup_steps",), "int")
    b.take("warmup_ratio", ("warmup_ratio",), "float")
    b.take("optimizer", ("optim",), "str", default="adamw_torch")
    b.take("bf16", ("bf16",), "bool")
    if b.truthy("pure_bf16"):
        b.set("bf16", True, ("pure_bf16",))
    b.take("fp16", ("fp16",), "bool")
    b.take("tf32", ("tf32",), "bool")
    if b.read(("disable_gradient_checkpointing",), "bool"):
        b.set("gradient_checkpointing", False, ("disable_gradient_checkpointing",))
    else:
        b.fields["gradient_checkpointing"] = True  # LLaMA-Factory enables it unless disabled
        b.out.assumed.append("gradient_checkpointing")
    fa = b.read(("flash_attn",), "str")
    if fa and fa in _LF_ATTN:
        b.set("attn_implementation", _LF_ATTN[fa], ("flash_attn",))
    b.take("train_on_inputs", ("train_on_prompt",), "bool", default=False)
    if b.truthy("enable_liger_kernel"):
        b.set("liger_kernel", True, ("enable_liger_kernel",))
    b.take("val_set_size", ("val_size",), "float", default=0.0)
    b.take("max_samples", ("max_samples",), "int")
    _take_parallelism_and_output(b)
    b.flag_features(LF_UNMODELLED)

    specs: list[DatasetSpec] = []
    dataset_dir = b.read(("dataset_dir",), "str") or "data"
    info, info_path, tried = _lf_dataset_info(b, dataset_dir)
    for key, split in (("dataset", "train"), ("eval_dataset", "eval")):
        names = b.read((key,), "strlist")
        if not names:
            continue
        raw = b.raw(key)
        for i, name in enumerate(names):
            kp = (key, i) if isinstance(raw, list) else (key,)
            specs.extend(_lf_dataset(b, name, kp, split, dataset_dir, info, info_path, tried))
    b.fields["datasets"] = specs
    return b.finish()


def _lf_dataset_info(b: Builder, dataset_dir: str) -> tuple[dict | None, Path | None, list[str]]:
    """LLaMA-Factory reads `<dataset_dir>/dataset_info.json` from its working directory; ftlint
    also looks next to the config and in the folders above it (where the project root usually is)."""
    if dataset_dir == "ONLINE" or dataset_dir.startswith("REMOTE:"):
        return None, None, []
    tried: list[Path] = []
    p = Path(os.path.expanduser(dataset_dir))
    if p.is_absolute():
        tried.append(p)
    else:
        here = Path(b.config_path).resolve().parent
        for folder in (here, *here.parents, Path.cwd()):
            c = folder / p
            if c not in tried:
                tried.append(c)
            if len(tried) > 12:
                break
    for folder in tried:
        f = folder / "dataset_info.json"
        if f.is_file():
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                b.problem(("dataset_dir",) if b.has("dataset_dir") else ("dataset",), "info",
                          f"{_rel(f)} cannot be read: {exc}")
                return None, f, []
            if not isinstance(data, dict):
                b.problem(("dataset",), "info", f"{_rel(f)} is not a JSON object of dataset entries")
                return None, f, []
            return data, f, []
    return None, None, [_rel(t / "dataset_info.json") for t in tried[:4]]


def _lf_dataset(b: Builder, name: str, kp: tuple, split: str, dataset_dir: str, info: dict | None,
                info_path: Path | None, tried: list[str]) -> list[DatasetSpec]:
    if dataset_dir == "ONLINE":
        return [DatasetSpec(path=name, name=name, split=split, key_path=to_pointer(kp), source="hub")]
    if info is None:
        if info_path is None and not dataset_dir.startswith("REMOTE:"):
            b.problem(kp, "missing", f"dataset `{name}` cannot be resolved: no dataset_info.json found "
                      f"for dataset_dir `{dataset_dir}` (looked for {', '.join(tried)})")
            return [DatasetSpec(path=name, name=name, split=split, key_path=to_pointer(kp), source="missing")]
        return [DatasetSpec(path=name, name=name, split=split, key_path=to_pointer(kp), source="unknown")]
    entry = info.get(name)
    if not isinstance(entry, dict):
        from .keys import suggest

        hint = suggest(name, set(info))
        b.problem(kp, "missing", f"dataset `{name}` is not defined in {_rel(info_path)}"  # type: ignore[arg-type]
                  + (f"; did you mean `{hint[0]}`?" if hint else ""))
        return [DatasetSpec(path=name, name=name, split=split, key_path=to_pointer(kp), source="missing")]
    formatting = str(entry.get("formatting") or "alpaca")
    ranking = bool(entry.get("ranking"))
    cols = entry.get("columns") if isinstance(entry.get("columns"), dict) else {}
    tags = entry.get("tags") if isinstance(entry.get("tags"), dict) else {}
    columns: dict[str, str]
    if formatting == "alpaca":
        columns = {"prompt": str(cols.get("prompt", "instruction"))}
        if b.fields.get("stage") != "pretrain":  # pre-training reads only the prompt column
            columns["response"] = str(cols.get("response", "output"))
        fmt = "alpaca" if "response" in columns else "text"
    else:
        role = str(tags.get("role_tag", "role" if formatting == "openai" else "from"))
        content = str(tags.get("content_tag", "content" if formatting == "openai" else "value"))
        columns = {"messages": str(cols.get("messages", "messages" if formatting == "openai" else "conversations")),
                   "role": role, "content": content}
        fmt = "openai" if (role, content) == ("role", "content") else "sharegpt"
    if ranking:
        fmt = "preference"
        columns = {k: str(cols[k]) for k in ("chosen", "rejected") if k in cols} or \
            {"chosen": "chosen", "rejected": "rejected"}
    elif cols.get("kto_tag") or b.fields.get("stage") == "kto":
        fmt = "kto"
    kw = dict(name=name, declared_type=f"{formatting}{' (ranking)' if ranking else ''}", format=fmt,
              columns=columns)
    for remote in ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"):
        if entry.get(remote):
            src = "hub" if remote.endswith("hub_url") else "remote"
            return [DatasetSpec(path=str(entry[remote]), split=split, key_path=to_pointer(kp), source=src, **kw)]
    fname = entry.get("file_name")
    if not isinstance(fname, str) or not fname:
        b.problem(kp, "missing", f"dataset `{name}` in {_rel(info_path)} has no `file_name` "  # type: ignore[arg-type]
                  "(nor hf_hub_url / ms_hub_url / script_url)")
        return [DatasetSpec(path=name, split=split, key_path=to_pointer(kp), source="missing", **kw)]
    target = info_path.parent / fname  # type: ignore[union-attr]
    if target.is_dir():
        files = dsets.data_files_in(target)
        return [b.local_spec(f, fname, split, kp, **kw) for f in files] or \
            [DatasetSpec(path=fname, split=split, key_path=to_pointer(kp), source="local", **kw)]
    if target.is_file():
        return [b.local_spec(target, fname, split, kp, **kw)]
    b.problem(kp, "missing", f"dataset `{name}`: file {_rel(target)} (from {_rel(info_path)}) does not "  # type: ignore[arg-type]
              "exist")
    return [DatasetSpec(path=fname, split=split, key_path=to_pointer(kp), source="missing", **kw)]


# ---------------------------------------------------------------------------------------------
# TRL

TRL_UNMODELLED = {
    "use_vllm": "vLLM generation during training", "model_init_kwargs": "custom model_init_kwargs",
    "dataset_streaming": "streaming datasets", "padding_free": "padding-free batching",
    "activation_offloading": "activation offloading", "ref_model_mixup_alpha": "reference-model syncing",
}


def normalise_trl(data: dict, config_path: str) -> Normalised:
    b = Builder(data, "trl", config_path)
    b.take("base_model", ("model_name_or_path",), "str")
    b.take("chat_template", ("chat_template_path",), "str")
    b.take_flag("trust_remote_code", ("trust_remote_code",))
    if any(b.has(k) for k in ("desirable_weight", "undesirable_weight")):
        b.fields["stage"] = "kto"
    elif any(b.has(k) for k in ("beta", "ref_model_sync_steps", "rpo_alpha", "precompute_ref_log_probs",
                                "f_divergence_type")):
        b.fields["stage"] = "dpo"
    peft = b.take("use_peft", ("use_peft",), "bool")
    four = bool(b.take("load_in_4bit", ("load_in_4bit",), "bool"))
    eight = bool(b.take("load_in_8bit", ("load_in_8bit",), "bool"))
    b.fields["load_in_4bit"], b.fields["load_in_8bit"] = four, eight
    b.fields.pop("use_peft", None)
    b.sources.pop("use_peft", None)
    if peft:
        b.set("method", "qlora" if four else "lora", ("use_peft",))
        b.take("lora_r", ("lora_r",), "int", default=16)
        b.take("lora_alpha", ("lora_alpha",), "float", default=32.0)
        b.take("lora_dropout", ("lora_dropout",), "float", default=0.05)
    else:
        b.take("lora_r", ("lora_r",), "int")
        b.take("lora_alpha", ("lora_alpha",), "float")
    tm = b.raw("lora_target_modules")
    if isinstance(tm, str) and tm not in ("all-linear",) and "," not in tm:
        b.set("lora_target_modules", [tm], ("lora_target_modules",))
    else:
        b.take("lora_target_modules", ("lora_target_modules",), "strlist")
    b.take("lora_modules_to_save", ("lora_modules_to_save",), "strlist")
    b.take_flag("use_rslora", ("use_rslora",))
    b.take_flag("use_dora", ("use_dora",))
    if four:
        b.take("quant_type", ("bnb_4bit_quant_type",), "str", default="nf4")
        b.take("double_quant", ("use_bnb_nested_quant",), "bool", default=False)
    b.take("compute_dtype", ("dtype",), "str")
    b.take("sequence_len", ("max_length",), "int", default=DEFAULT_SEQUENCE_LEN["trl"])
    b.take_flag("packing", ("packing",))
    _take_trainer_steps(b, "trl")
    b.take("learning_rate", ("learning_rate",), "float",
           default=1e-6 if b.fields.get("stage") == "dpo" else 2e-5)
    b.take("lr_scheduler", ("lr_scheduler_type",), "str", default="linear")
    ws = b.read(("warmup_steps",), "float")
    if ws is not None:
        if 0 < ws < 1:  # transformers 5: a float below 1 is a ratio of the total steps
            b.set("warmup_ratio", ws, ("warmup_steps",))
        else:
            b.set("warmup_steps", int(ws), ("warmup_steps",))
    b.take("warmup_ratio", ("warmup_ratio",), "float")
    b.take("optimizer", ("optim",), "str", default="adamw_torch_fused")
    fp16 = b.take("fp16", ("fp16",), "bool")
    b.take("bf16", ("bf16",), "bool", default=None if fp16 else True)  # TRL: bf16 unless fp16
    b.take("tf32", ("tf32",), "bool")
    if b.has("gradient_checkpointing"):
        b.take("gradient_checkpointing", ("gradient_checkpointing",), "bool")
    elif b.has("activation_checkpointing"):
        b.take("gradient_checkpointing", ("activation_checkpointing",), "bool")
    else:
        b.default("gradient_checkpointing", True)  # TRL's SFTConfig default
    b.fields["gradient_checkpointing"] = bool(b.fields.get("gradient_checkpointing"))
    b.take("attn_implementation", ("attn_implementation",), "str")
    b.take("assistant_only_loss", ("assistant_only_loss",), "bool")
    co = b.read(("completion_only_loss",), "bool")
    if co is not None:
        b.set("train_on_inputs", not co, ("completion_only_loss",))
    if b.truthy("use_liger_kernel"):
        b.set("liger_kernel", True, ("use_liger_kernel",))
    b.take("val_set_size", ("test_split_size",), "float")
    _take_parallelism_and_output(b)
    b.flag_features(TRL_UNMODELLED)

    specs: list[DatasetSpec] = []
    name = b.read(("dataset_name",), "str")
    if name:
        cfg = b.read(("dataset_config",), "str")
        specs.extend(b.resolve_file_or_dir(name, "train", ("dataset_name",), name=cfg))
    mixture = b.raw("datasets")
    if isinstance(mixture, list):
        for i, entry in enumerate(mixture):
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                b.invalid(("datasets", i), "a `datasets` entry should be a mapping with a `path`")
                continue
            specs.extend(_trl_dataset(b, entry, ("datasets", i)))
    elif mixture is not MISSING and mixture is not None:
        b.invalid(("datasets",), f"`datasets` should be a list of {{path: ...}} entries, not {_show(mixture)}")
    for s in specs:
        if s.source == "missing":
            ref = s.path
            b.problem(to_path(s.key_path or ""), "missing",
                      f"dataset `{ref}` not found (looked in {b.tried(ref)}) and it is not a Hugging Face hub id")
    b.fields["datasets"] = specs
    return b.finish()


def _trl_dataset(b: Builder, entry: dict, kp: tuple) -> list[DatasetSpec]:
    path = entry["path"]
    split_name = str(entry.get("split") or "train")
    split = "eval" if split_name in ("test", "validation", "eval", "dev") else "train"
    builder = path.strip().lower() in ("json", "csv", "parquet", "text", "arrow")
    files = entry.get("data_files")
    kw = dict(name=entry.get("name") if isinstance(entry.get("name"), str) else None)
    if files is None and not builder:
        return b.resolve_file_or_dir(path, split, kp + ("path",), **kw)
    out: list[DatasetSpec] = []
    items: list[tuple[tuple, str, str]] = []
    if isinstance(files, str):
        items.append((kp + ("data_files",), files, split))
    elif isinstance(files, list):
        items += [(kp + ("data_files", i), f, split) for i, f in enumerate(files) if isinstance(f, str)]
    elif isinstance(files, dict):
        for k, f in files.items():
            sp = "eval" if str(k) in ("test", "validation", "eval", "dev") else "train"
            if k != split_name:
                continue  # load_dataset(..., split=split) reads only that split's files
            for j, ff in enumerate(f if isinstance(f, list) else [f]):
                if isinstance(ff, str):
                    items.append((kp + ("data_files", k) + ((j,) if isinstance(f, list) else ()), ff, sp))
    local_files = builder or dsets.find_local(path, b.bases) is not None or not dsets.looks_like_hub_id(path)
    for fkp, f, sp in items:
        if local_files:
            out.extend(b.resolve_file_or_dir(f, sp, fkp, hub_ok=False, **kw))
        else:
            out.append(DatasetSpec(path=f"{path}:{f}", split=sp, key_path=to_pointer(fkp), source="hub", **kw))
    return out


# ---------------------------------------------------------------------------------------------
# AutoTrain Advanced

_AUTOTRAIN_STAGE = {"llm": "pretrain", "llm-generic": "pretrain", "llm-sft": "sft", "llm-dpo": "dpo",
                    "llm-orpo": "orpo", "llm-reward": "reward"}


def normalise_autotrain(data: dict, config_path: str) -> Normalised:
    b = Builder(data, "autotrain", config_path)
    task = b.read(("task",), "str") or ""
    if task in _AUTOTRAIN_STAGE:
        b.set("stage", _AUTOTRAIN_STAGE[task], ("task",))
    else:
        b.set("stage", "other", ("task",))
        b.unmodelled(("task",), f"AutoTrain task `{task}` (ftlint checks LLM fine-tuning tasks)")
    b.take("base_model", ("base_model",), "str")
    P = ("params",)
    b.take("chat_template", ("data", "chat_template"), "str")
    # AutoTrain loads models with trust_remote_code unless ALLOW_REMOTE_CODE=false in the environment.
    b.fields["trust_remote_code"] = os.environ.get("ALLOW_REMOTE_CODE", "true").lower() == "true"
    b.out.assumed.append("trust_remote_code")
    peft = b.take("use_peft", P + ("peft",), "bool") or False
    b.fields.pop("use_peft", None)
    b.sources.pop("use_peft", None)
    quant = b.read(P + ("quantization",), "str")
    if quant is None and not b.has(*P, "quantization"):
        quant = "int4"  # LLMTrainingParams default; applies only with peft
    if peft:
        four, eight = quant == "int4", quant == "int8"
        b.set("method", "qlora" if four else "lora", P + ("peft",))
        b.fields["load_in_4bit"], b.fields["load_in_8bit"] = four, eight
        if quant and b.has(*P, "quantization"):
            b.sources["load_in_4bit" if four else "load_in_8bit"] = to_pointer(P + ("quantization",))
        if four:
            b.default("quant_type", "nf4")
            b.default("double_quant", True)
        b.take("lora_r", P + ("lora_r",), "int", default=16)
        b.take("lora_alpha", P + ("lora_alpha",), "float", default=32.0)
        b.take("lora_dropout", P + ("lora_dropout",), "float", default=0.05)
        tm = b.read(P + ("target_modules",), "strlist")
        if tm is None:
            b.default("lora_target_modules", ["all-linear"])
        else:
            b.set("lora_target_modules", tm, P + ("target_modules",))
    block = b.read(P + ("block_size",), "raw")
    mml = b.take("model_max_length", P + ("model_max_length",), "int", default=2048)
    b.fields.pop("model_max_length", None)
    b.sources.pop("model_max_length", None)
    if isinstance(block, int) and not isinstance(block, bool) and block > 0:
        b.set("sequence_len", block, P + ("block_size",))
    else:
        b.fields["sequence_len"] = min(mml or 2048, 1024)  # configure_block_size: tokenizer max, capped
        b.out.assumed.append("sequence_len")
    b.take("micro_batch_size", P + ("batch_size",), "int", default=DEFAULT_MICRO_BATCH["autotrain"])
    b.take("gradient_accumulation_steps", P + ("gradient_accumulation",), "int", default=4)
    b.take("num_epochs", P + ("epochs",), "float", default=1.0)
    b.take("learning_rate", P + ("lr",), "float", default=3e-5)
    b.take("lr_scheduler", P + ("scheduler",), "str", default="linear")
    b.take("warmup_ratio", P + ("warmup_ratio",), "float", default=0.1)
    b.take("optimizer", P + ("optimizer",), "str", default="adamw_torch")
    mp = b.read(P + ("mixed_precision",), "str")
    if mp in ("bf16", "fp16"):
        b.set(mp, True, P + ("mixed_precision",))
    if b.read(P + ("disable_gradient_checkpointing",), "bool"):
        b.set("gradient_checkpointing", False, P + ("disable_gradient_checkpointing",))
    else:
        b.default("gradient_checkpointing", True)
    if b.read(P + ("use_flash_attention_2",), "bool"):
        b.set("attn_implementation", "flash_attention_2", P + ("use_flash_attention_2",))
    b.take("seed", P + ("seed",), "int", default=42)
    if b.truthy(*P, "unsloth"):
        b.unmodelled(P + ("unsloth",), "Unsloth kernels")
    if b.has(*P, "distributed_backend"):
        b.unmodelled(P + ("distributed_backend",), "a distributed backend")
    b.fields["output_dir"] = b.read(("project_name",), "str")

    specs: list[DatasetSpec] = []
    path = b.read(("data", "path"), "str")
    cm = b.raw("data", "column_mapping")
    cm = cm if isinstance(cm, dict) else {}
    columns = {"text": str(cm.get("text_column", "text"))}
    if cm.get("prompt_text_column"):
        columns["prompt"] = str(cm["prompt_text_column"])
    if cm.get("rejected_text_column"):
        columns["rejected"] = str(cm["rejected_text_column"])
    kw = dict(declared_type=f"autotrain:{task}", columns=columns)
    if path:
        found = dsets.find_local(path, b.bases)
        for split_key, split in (("train_split", "train"), ("valid_split", "eval")):
            split_name = b.read(("data", split_key), "str")
            if split_name is None:
                if split == "train":
                    split_name = "train"
                else:
                    continue
            kp = ("data", split_key) if b.has("data", split_key) else ("data", "path")
            if found is not None and found.is_dir():
                files = [found / f"{split_name}.{ext}" for ext in ("csv", "jsonl")]
                hit = next((f for f in files if f.is_file()), None)
                if hit is not None:
                    specs.append(b.local_spec(hit, f"{path}/{hit.name}", split, kp, **kw))
                else:
                    b.problem(kp, "missing", f"AutoTrain reads {path}/{split_name}.csv or "
                              f"{path}/{split_name}.jsonl; neither exists")
                    specs.append(DatasetSpec(path=f"{path}/{split_name}", split=split, key_path=to_pointer(kp),
                                             source="missing", **kw))
            elif found is None and dsets.looks_like_hub_id(path) and not dsets.looks_like_local_path(path):
                specs.append(DatasetSpec(path=path, split=split, key_path=to_pointer(("data", "path")),
                                         source="hub", **kw))
            elif split == "train":
                b.problem(("data", "path"), "missing", f"dataset folder `{path}` not found (looked in "
                          f"{b.tried(path)}) and it is not a Hugging Face hub id")
                specs.append(DatasetSpec(path=path, split=split, key_path="/data/path", source="missing", **kw))
    b.fields["datasets"] = specs
    return b.finish()


NORMALISERS: dict[str, Callable[[dict, str], Normalised]] = {
    "axolotl": normalise_axolotl, "llamafactory": normalise_llamafactory, "trl": normalise_trl,
    "autotrain": normalise_autotrain,
}
