"""The smoke run: load the model the way the config does, attach its adapters, train a few real
steps with TRL on the config's own (longest) examples, and measure.

Everything heavy (torch, transformers, peft, trl, datasets, bitsandbytes) is imported inside
`run_smoke`, never at module import, so `ftlint check` does not pay for it. Failures become
FTK findings on the report; nothing here lets an exception escape for expected problems.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ..findings import Location
from ..rules import smoke as R
from .data import DataPool, Row, load_pool, pick
from .estimate import gpu_id, predict_peak
from .report import ConfigLocator, SmokeReport, StepStats
from .source import find_model, remote_code_needed
from .templates import BUILTIN, has_generation_markers, looks_like_jinja

STACK = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
DEFAULT_SEQUENCE_LEN = 2048
DEFAULT_LR = 2e-4
DIVERGENCE = 1.2          # last/first loss (or eval after/before) above this is a warning
ESTIMATE_TOLERANCE = 0.25  # |measured - predicted| / predicted above this is a warning


@dataclass
class SmokeOptions:
    steps: int = 3
    device: str = "auto"              # auto | cuda | cpu
    max_examples: int = 1000          # records read per training file, at most
    eval_examples: int = 4            # held-out examples for the before/after loss
    trust_remote_code: bool = False
    hourly_cost: float | None = None  # USD per GPU hour, for the projected cost
    gpu: str | None = None            # GPU name for the estimator (default: the one found)
    seed: int = 42


class _Stop(Exception):
    """The smoke cannot go on; the reason is already a finding on the report."""


def _add(rep: SmokeReport, cls: type, location: Location, message: str, **props: Any) -> None:
    rep.findings.append(cls().finding_at(location, message, key=f"{cls.code}:{location.path}",
                                         properties={k: v for k, v in props.items() if v is not None}))


def _stop(rep: SmokeReport, cls: type, location: Location, message: str, **props: Any) -> None:
    if os.environ.get("FTLINT_DEBUG") == "1" and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc(file=sys.__stderr__)
    _add(rep, cls, location, message, **props)
    raise _Stop


def run_smoke(plan: Any, *, config_path: str | None = None, display: str | None = None,
              options: SmokeOptions | None = None, doc: Any = None) -> SmokeReport:
    """Run the smoke for a TrainingPlan; `config_path` (and the configs package's `doc`) locate
    findings and resolve relative paths."""
    opts = options or SmokeOptions()
    display = display or (config_path or "<training plan>")
    rep = SmokeReport(config=display)
    loc = ConfigLocator(config_path, display, doc, getattr(plan, "sources", None))
    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="ftlint-smoke-")
    try:
        with _quiet():
            _run(plan, opts, rep, loc, config_path, workdir)
    except _Stop:
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        rep.timings["total"] = time.perf_counter() - started
    return rep.finish()


@contextlib.contextmanager
def _quiet():
    """Training libraries print progress and logs to stdout; the report owns stdout."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- the run -------------------------------------------------------------------------------------
def _run(plan: Any, opts: SmokeOptions, rep: SmokeReport, loc: ConfigLocator, config_path: str | None,
         workdir: str) -> None:
    config_dir = os.path.dirname(os.path.abspath(config_path)) if config_path else None
    missing = [m for m in STACK if importlib.util.find_spec(m) is None]
    if missing:
        _stop(rep, R.SmokeStackMissing, loc.at("base_model"),
              f"The training stack is not installed: {', '.join(missing)} missing. "
              "Install it with `pip install 'ftlint[smoke]'`.", missing=missing)

    # Offline before transformers is imported: the smoke never downloads anything.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    # 1. The model and tokenizer, found locally.
    if not plan.base_model:
        _stop(rep, R.SmokeModelNotFound, loc.at("base_model", "model_name_or_path", "model_name", "model"),
              "The config names no base model, so there is nothing to load.")
    model_src = find_model(plan.base_model, config_dir)
    if not model_src.path:
        _stop(rep, R.SmokeModelNotFound, loc.at("base_model", "model_name_or_path", "model_name", "model"),
              f"Model `{plan.base_model}` is not on this machine (looked in: {'; '.join(model_src.looked)}); "
              "the smoke never downloads. Download it once or point the config at a local folder.",
              looked=model_src.looked)
    tok_src = model_src
    if plan.tokenizer and plan.tokenizer != plan.base_model:
        tok_src = find_model(plan.tokenizer, config_dir) if not _is_tokenizer_folder(plan.tokenizer) \
            else _local_tokenizer(plan.tokenizer)
        if not tok_src.path:
            _stop(rep, R.SmokeModelNotFound, loc.at("tokenizer_config", "tokenizer", "tokenizer_name_or_path"),
                  f"Tokenizer `{plan.tokenizer}` is not on this machine (looked in: {'; '.join(tok_src.looked)}).",
                  looked=tok_src.looked)
    cfg = model_src.config
    rep.model = {"name": plan.base_model, "path": model_src.path, "source": model_src.source,
                 "model_type": cfg.get("model_type"), "architectures": cfg.get("architectures")}

    # 2. Data, through ftlint's own readers (cheap, before the heavy imports).
    pool = load_pool(plan, config_dir, opts.max_examples)
    if not pool.train:
        why = []
        if not plan.datasets:
            why.append("the config lists no datasets")
        if pool.missing:
            why.append("not local files (hub datasets are never downloaded): " + ", ".join(pool.missing))
        if pool.skipped:
            why.append("records skipped: " + ", ".join(f"{n} {r}" for r, n in pool.skipped.most_common(5)))
        _stop(rep, R.SmokeNoTrainingData, loc.at("datasets", "dataset"),
              "No usable training examples" + (": " + "; ".join(why) if why else "") + ".")

    stage = getattr(plan, "stage", "sft") or "sft"
    if stage not in ("sft", "pretrain"):
        rep.notes.append(f"the config trains with `{stage}`: the smoke runs supervised fine-tuning on the same "
                         "model, adapters and data (chosen answers), which loads and steps the same way")

    # 3. The stack, the device, the remote-code question.
    t = time.perf_counter()
    import torch
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    rep.timings["import"] = time.perf_counter() - t
    _silence_libraries()

    needs_code = remote_code_needed(cfg, set(CONFIG_MAPPING_NAMES))
    trust = False
    if needs_code:
        if not opts.trust_remote_code:
            asked = " The config sets trust_remote_code, but a config file cannot grant it." \
                if plan.trust_remote_code else ""
            _stop(rep, R.SmokeRemoteCodeNotAllowed, loc.at("trust_remote_code", "base_model"),
                  f"Model `{plan.base_model}` ({model_src.path}) asks to run its own code ({needs_code}) for "
                  f"architecture `{cfg.get('model_type')}`.{asked} Review that code, then pass --trust-remote-code.",
                  model=plan.base_model, code=needs_code)
        trust = True
        rep.notes.append(f"running remote code {needs_code} from {model_src.path} (--trust-remote-code)")
    elif plan.trust_remote_code:
        rep.notes.append("the config sets trust_remote_code, but the architecture is built into transformers: "
                         "loaded without remote code")

    device = _choose_device(opts, rep, loc, torch)
    quant = _quantisation(plan, device, rep, loc, torch)
    bf16, fp16 = bool(plan.bf16), bool(plan.fp16)
    if device == "cuda" and bf16 and not torch.cuda.is_bf16_supported():
        _stop(rep, R.SmokePrecisionUnsupported, loc.at("bf16"),
              f"bf16 is set, but {torch.cuda.get_device_name(0)} does not support bf16; use fp16 on this GPU.")
    if plan.bf16 is None and plan.fp16 is None:
        rep.notes.append("the config sets neither bf16 nor fp16: trained in fp32")

    t = time.perf_counter()
    import datasets
    import peft
    import trl
    rep.timings["import"] += time.perf_counter() - t
    _silence_libraries()
    rep.versions = _versions()

    # 4. Tokenizer, chat template, token lengths.
    tok = _load_tokenizer(tok_src.path, trust, rep, loc)
    _apply_chat_template(plan, tok, rep, loc, config_dir)
    if pool.kind == "messages" and not tok.chat_template:
        _stop(rep, R.SmokeChatTemplateMissing, loc.at("chat_template", "template", "datasets"),
              f"The data is conversational, but the tokenizer of `{plan.tokenizer or plan.base_model}` has no "
              "chat template and the config sets none (e.g. `chat_template: chatml`).")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
        rep.notes.append("the tokenizer has no pad token: used the EOS token for padding")
    for row in pool.train + pool.eval:
        row.tokens = _count_tokens(tok, row, rep, loc)

    seq_len = plan.sequence_len or DEFAULT_SEQUENCE_LEN
    if not plan.sequence_len:
        rep.notes.append(f"the config sets no sequence length: used {DEFAULT_SEQUENCE_LEN}")
    micro = plan.micro_batch_size or 1
    accum = plan.gradient_accumulation_steps or 1
    train_rows, eval_rows = pick(pool.train, opts.steps * micro * accum, opts.eval_examples, pool.eval)
    if opts.eval_examples and not eval_rows:
        rep.notes.append("too few examples to hold any out: no before/after loss")
    mask, row_kind = _loss_masking(plan, pool, tok, rep)
    train_data = [_as_trl_row(r, row_kind) for r in train_rows]
    eval_data = [_as_trl_row(r, row_kind) for r in eval_rows]
    rep.data = {
        "files": pool.files, "examples_read": sum(f["records_read"] for f in pool.files if f.get("split") == "train"),
        "examples_total": pool.total_train_records, "usable_examples": len(pool.train),
        "train_examples": len(train_rows), "eval_examples": len(eval_rows),
        "longest_tokens": max((r.tokens or 0) for r in train_rows),
        "shortest_trained_tokens": min((r.tokens or 0) for r in train_rows),
        "truncated_to": seq_len if any((r.tokens or 0) > seq_len for r in train_rows) else None,
        "row_kind": row_kind, "skipped": dict(pool.skipped), "missing": pool.missing,
    }

    # 5. The estimator's prediction (before loading, so an out-of-memory finding can quote it).
    gpu_name = opts.gpu or (gpu_id(torch.cuda.get_device_name(0)) if device == "cuda" else None)
    rep.prediction = predict_peak(
        config_path, gpu_name, plan=plan, model_path=model_src.path,
        lengths=[min(r.tokens or 0, seq_len) for r in train_rows],
        gpu_bytes=torch.cuda.get_device_properties(0).total_memory if device == "cuda" and not gpu_name else None)

    # 6. Model + adapters.
    compute_dtype = _dtype(torch, quant.get("compute_dtype") if quant else None, bf16, fp16)
    t = time.perf_counter()
    model = _load_model(plan, model_src.path, device, quant, compute_dtype, trust, rep, loc, torch, transformers)
    rep.timings["load"] = time.perf_counter() - t
    model = _attach_adapters(plan, model, quant, rep, loc, peft, torch)

    # 7. Train.
    lr = plan.learning_rate if plan.learning_rate is not None else DEFAULT_LR
    if plan.learning_rate is None:
        rep.notes.append(f"the config sets no learning rate: used {DEFAULT_LR}")
    total_steps = _total_steps(plan, pool, micro, accum)
    warmup = plan.warmup_steps
    if warmup is None and plan.warmup_ratio:
        warmup = math.ceil(plan.warmup_ratio * total_steps) if total_steps else 0
    optim = _optimizer(plan, rep, transformers)
    sched = "constant_with_warmup"
    if plan.lr_scheduler and plan.lr_scheduler not in ("constant", "constant_with_warmup"):
        rep.notes.append(f"scheduler `{plan.lr_scheduler}` ran as constant_with_warmup: over {opts.steps} steps of a "
                         f"{total_steps or '?'}-step run it has not decayed yet")
    sft_args = dict(
        output_dir=workdir, max_steps=opts.steps, per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro, gradient_accumulation_steps=accum, learning_rate=lr,
        lr_scheduler_type=sched, warmup_steps=warmup or 0, optim=optim, bf16=bf16, fp16=fp16,
        activation_checkpointing=bool(plan.gradient_checkpointing),
        gradient_checkpointing=bool(plan.gradient_checkpointing),
        max_length=seq_len, packing=bool(plan.packing), logging_steps=1, save_strategy="no",
        eval_strategy="no", report_to=[], disable_tqdm=True, logging_nan_inf_filter=False,  # NaN must show
        use_cpu=device == "cpu", seed=plan.seed or opts.seed,
        dataloader_num_workers=0, train_sampling_strategy="sequential", shuffle_dataset=False,
        dataset_num_proc=None, model_init_kwargs=None,
    )
    if device == "cuda" and plan.tf32:
        sft_args["tf32"] = True
    if row_kind == "messages":
        sft_args["assistant_only_loss"] = mask
    elif row_kind == "prompt_completion":
        sft_args["completion_only_loss"] = mask
    if plan.liger_kernel:
        if importlib.util.find_spec("liger_kernel"):
            sft_args["use_liger_kernel"] = True
        else:
            rep.notes.append("liger_kernel is set but liger-kernel is not installed: standard loss used")
    rep.settings = {
        "method": plan.method, "sequence_len": seq_len, "micro_batch_size": micro, "gradient_accumulation_steps": accum,
        "learning_rate": lr, "scheduler": sched, "warmup_steps": warmup or 0, "optimizer": optim,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "gradient_checkpointing": bool(plan.gradient_checkpointing), "packing": bool(plan.packing),
        "loss_on": _loss_on(row_kind, mask), "attn_implementation": rep.settings.get("attn_implementation"),
        "chat_template": rep.settings.get("chat_template"), "steps": opts.steps,
    }
    trainer_obj = _trainer(trl, transformers, datasets, model, tok, sft_args, train_data, eval_data, rep, loc)
    _train(trainer_obj, device, bool(eval_data), rep, loc, torch, plan)

    # 8. Judge and measure.
    _judge(rep, loc)
    _memory(rep, device, torch)
    _compare_with_estimate(rep, loc, device)
    _project(rep, total_steps, opts, device)


# --- pieces -------------------------------------------------------------------------------------
def _silence_libraries() -> None:
    for name in ("transformers", "datasets"):
        if name in sys.modules:
            with contextlib.suppress(Exception):
                mod = sys.modules[name]
                if name == "transformers":
                    mod.logging.set_verbosity_error()
                    mod.utils.logging.disable_progress_bar()
                else:
                    mod.disable_progress_bars()
                    mod.logging.set_verbosity_error()


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _is_tokenizer_folder(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f))
                                       for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def _local_tokenizer(path: str) -> Any:
    from .source import ModelSource

    return ModelSource(path, path=path, source="local", looked=[f"local folder {path}"])


def _choose_device(opts: SmokeOptions, rep: SmokeReport, loc: ConfigLocator, torch: Any) -> str:
    cuda = torch.cuda.is_available()
    if opts.device == "cuda" and not cuda:
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        _stop(rep, R.SmokeCudaUnavailable, loc.at("base_model"),
              f"--device cuda was requested, but {why} (torch {torch.__version__}).")
    if opts.device == "cpu" or not cuda:
        rep.device = "cpu"
        if opts.device == "auto":
            rep.device_note = "no CUDA device: ran on the CPU; memory is the process's peak RSS, not VRAM"
        return "cpu"
    rep.device = f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cuda"


def _quantisation(plan: Any, device: str, rep: SmokeReport, loc: ConfigLocator, torch: Any) -> dict[str, Any] | None:
    bits = 4 if (plan.load_in_4bit or plan.method == "qlora") else 8 if plan.load_in_8bit else 0
    if not bits:
        return None
    key = "load_in_4bit" if bits == 4 else "load_in_8bit"
    if importlib.util.find_spec("bitsandbytes") is None:
        _stop(rep, R.SmokeQuantizationUnavailable, loc.at(key, "adapter", "quantization_bit"),
              f"The config loads the model in {bits}-bit, but bitsandbytes is not installed.")
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # a broken native library raises all sorts of errors
        _stop(rep, R.SmokeQuantizationUnavailable, loc.at(key, "adapter", "quantization_bit"),
              f"The config loads the model in {bits}-bit, but bitsandbytes cannot be imported: "
              f"{type(exc).__name__}: {_short(exc)}")
    if bits == 4:
        double = True if plan.double_quant is None else bool(plan.double_quant)
        qtype = plan.quant_type or "nf4"
        compute = plan.compute_dtype or ("bfloat16" if plan.bf16 else "float16" if plan.fp16 else "float32")
        return {"bits": 4, "quant_type": qtype, "double_quant": double, "compute_dtype": compute}
    return {"bits": 8, "compute_dtype": None}


def _dtype(torch: Any, name: str | None, bf16: bool, fp16: bool) -> Any:
    if name:
        return getattr(torch, name, torch.float32)
    return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32


def _load_tokenizer(path: str, trust: bool, rep: SmokeReport, loc: ConfigLocator) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    except Exception as exc:
        _stop(rep, R.SmokeModelNotFound, loc.at("tokenizer_config", "tokenizer", "base_model"),
              f"The tokenizer in {path} cannot be loaded offline: {type(exc).__name__}: {_short(exc)}")


def _apply_chat_template(plan: Any, tok: Any, rep: SmokeReport, loc: ConfigLocator, config_dir: str | None) -> None:
    name = plan.chat_template
    if not name:
        rep.settings["chat_template"] = "tokenizer" if tok.chat_template else None
        return
    if looks_like_jinja(name):
        tok.chat_template = name
        rep.settings["chat_template"] = "inline (from the config)"
        return
    for cand in (name, os.path.join(config_dir or "", name)):
        if cand.endswith((".jinja", ".j2", ".jinja2")) and os.path.isfile(cand):
            try:
                with open(cand, encoding="utf-8") as fh:
                    tok.chat_template = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                _stop(rep, R.SmokeTrainingFailed, loc.at("chat_template"),
                      f"The chat template file {cand} cannot be read: {type(exc).__name__}: {_short(exc)}")
            rep.settings["chat_template"] = cand
            return
    if name in BUILTIN:
        tok.chat_template = BUILTIN[name]
        rep.settings["chat_template"] = name
        return
    rep.settings["chat_template"] = "tokenizer" if tok.chat_template else None
    rep.notes.append(f"chat template `{name}` is not one the smoke reproduces (chatml, llama3, inline Jinja, a "
                     ".jinja file): used the tokenizer's own" if tok.chat_template else
                     f"chat template `{name}` is not one the smoke reproduces, and the tokenizer has none")


def _count_tokens(tok: Any, row: Row, rep: SmokeReport, loc: ConfigLocator) -> int:
    try:
        if row.kind == "messages":
            ids = tok.apply_chat_template(row.data["messages"], tokenize=True, return_dict=False)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return len(ids)
        if row.kind == "prompt_completion":
            return len(tok(row.data["prompt"] + row.data["completion"])["input_ids"])
        return len(tok(row.data["text"])["input_ids"])
    except Exception as exc:
        _stop(rep, R.SmokeTrainingFailed, Location(row.path, row.line, 1, row.line, 1, ""),
              f"The chat template failed on this example: {type(exc).__name__}: {_short(exc)}")


def _loss_masking(plan: Any, pool: DataPool, tok: Any, rep: SmokeReport) -> tuple[bool, str]:
    """(mask prompts?, TRL row kind). Without generation markers, messages become
    prompt/completion so TRL can still mask everything but the last answer."""
    if plan.assistant_only_loss is not None or plan.train_on_inputs is not None:
        mask = bool(plan.assistant_only_loss) or plan.train_on_inputs is False
    else:
        mask = plan.dialect in ("axolotl", "llamafactory")  # both default to training on answers only
        rep.notes.append(f"loss masking not set: {plan.dialect}'s default ({'answers only' if mask else 'all tokens'})")
    kind = pool.kind or "messages"
    if kind == "messages" and mask and not has_generation_markers(tok.chat_template):
        rep.notes.append("the chat template has no {% generation %} markers: each conversation trains as "
                         "prompt/completion (loss on the last assistant answer only)")
        return True, "conversational_prompt_completion"
    return mask, kind


def _as_trl_row(row: Row, kind: str) -> dict[str, Any]:
    if kind == "conversational_prompt_completion":
        msgs = row.data["messages"]
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        return {"prompt": msgs[:last], "completion": [msgs[last]]}
    return row.data


def _loss_on(kind: str, mask: bool) -> str:
    if kind == "text":
        return "all tokens"
    if kind in ("conversational_prompt_completion", "prompt_completion"):
        return "completion only" if mask or kind.startswith("conv") else "all tokens"
    return "assistant turns only" if mask else "all tokens"


def _load_model(plan: Any, path: str, device: str, quant: dict[str, Any] | None, compute_dtype: Any, trust: bool,
                rep: SmokeReport, loc: ConfigLocator, torch: Any, transformers: Any) -> Any:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"trust_remote_code": trust, "device_map": {"": 0 if device == "cuda" else "cpu"}}
    if quant and quant["bits"] == 4:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quant["quant_type"],
            bnb_4bit_use_double_quant=quant["double_quant"], bnb_4bit_compute_dtype=compute_dtype)
        rep.quantization = (f"4-bit {quant['quant_type']}{', double quant' if quant['double_quant'] else ''}, "
                            f"compute {str(compute_dtype).replace('torch.', '')}")
    elif quant:
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        rep.quantization = "8-bit (LLM.int8)"
    # Frozen weights in the training precision (as trainers load them); full fine-tuning keeps
    # fp32 master weights under mixed precision.
    kwargs["dtype"] = compute_dtype if (quant or plan.method in ("lora", "qlora")) else torch.float32
    attn = plan.attn_implementation
    if attn in ("flash_attention_2", "flash_attention_3") and (device != "cuda" or importlib.util.find_spec("flash_attn") is None):
        rep.notes.append(f"attn_implementation {attn} is not available here: used sdpa")
        attn = "sdpa"
    if attn:
        kwargs["attn_implementation"] = attn
    rep.settings["attn_implementation"] = attn or "default"
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except Exception as exc:
        if _is_oom(exc, torch):
            _oom(rep, loc, plan, "loading the model", exc)
        if isinstance(exc, OSError):
            _stop(rep, R.SmokeModelNotFound, loc.at("base_model"),
                  f"The model in {path} cannot be loaded offline: {_short(exc)}")
        _stop(rep, R.SmokeTrainingFailed, loc.at("base_model"),
              f"Loading the model failed: {type(exc).__name__}: {_short(exc)}")
    if not quant:
        rep.quantization = f"none ({str(kwargs['dtype']).replace('torch.', '')} weights)"
    else:
        n = 0
        for m in model.modules():
            if type(m).__name__ in ("Linear4bit", "Linear8bitLt"):
                n += 1
                # bitsandbytes 0.50 repacks CPU weights for inference in eval mode and never
                # unpacks them for training (the held-out eval would break the next step).
                if hasattr(m, "support_avx512bf16_for_cpu"):
                    m.support_avx512bf16_for_cpu = False
        rep.quantization += f"; {n} linear layers quantised"
    return model


def _attach_adapters(plan: Any, model: Any, quant: dict[str, Any] | None, rep: SmokeReport, loc: ConfigLocator,
                     peft: Any, torch: Any) -> Any:
    total_before = sum(p.numel() for p in model.parameters())
    lora = plan.method in ("lora", "qlora") or (quant is not None and plan.method != "full")
    try:
        if quant:
            model = peft.prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=bool(plan.gradient_checkpointing))
        if not lora:
            if plan.method == "freeze":
                rep.notes.append("freeze tuning ran as full fine-tuning (the plan does not say which layers)")
            for p in model.parameters():
                p.requires_grad_(True)
            total = sum(p.numel() for p in model.parameters())
            rep.trainable_parameters = rep.total_parameters = total
            rep.adapter = f"full fine-tuning: {total:,} trainable of {total:,}"
            rep.model["parameters"] = total
            return model
        targets: Any = plan.lora_target_modules
        if targets and any(t in ("all-linear", "all_linear", "all") for t in targets):
            targets = "all-linear"
        r = plan.lora_r or 8
        alpha = plan.lora_alpha if plan.lora_alpha is not None else 2 * r
        dropout = plan.lora_dropout if plan.lora_dropout is not None else 0.0
        extra = {k: True for k in ("use_rslora", "use_dora") if getattr(plan, k, False)}
        config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                                 modules_to_save=plan.lora_modules_to_save, task_type="CAUSAL_LM", bias="none",
                                 **extra)
        model = peft.get_peft_model(model, config)
    except Exception as exc:
        if _is_oom(exc, torch):
            _oom(rep, loc, plan, "attaching the adapters", exc)
        _stop(rep, R.SmokeTrainingFailed, loc.at("lora_target_modules", "lora_target_linear", "adapter", "lora_r"),
              f"Attaching the LoRA adapters failed: {type(exc).__name__}: {_short(exc)}")
    trainable, total = model.get_nb_trainable_parameters()
    rep.trainable_parameters, rep.total_parameters = trainable, total
    rep.model["parameters"] = total_before if not quant else total - trainable
    names = sorted({str(n).split(".")[-1] for n in (model.peft_config["default"].target_modules or [])})
    rep.adapter = (f"LoRA r={r}, alpha={alpha:g}, dropout={dropout:g} on {', '.join(names)}: "
                   f"{trainable:,} trainable of {total:,} ({100 * trainable / max(total, 1):.2f}%)")
    return model


def _optimizer(plan: Any, rep: SmokeReport, transformers: Any) -> str:
    from transformers.training_args import OptimizerNames

    valid = {o.value for o in OptimizerNames}
    name = plan.optimizer or "adamw_torch"
    if name not in valid:
        rep.notes.append(f"optimizer `{name}` is not one transformers knows: used adamw_torch")
        return "adamw_torch"
    if plan.optimizer is None:
        rep.notes.append("the config sets no optimizer: used adamw_torch")
    return name


def _total_steps(plan: Any, pool: DataPool, micro: int, accum: int) -> int | None:
    if plan.max_steps:
        return int(plan.max_steps)
    n = pool.total_train_records
    if not n:
        return None
    cap = getattr(plan, "max_samples", None)
    if cap:
        n = min(n, cap * max(1, sum(1 for f in pool.files if f.get("split") == "train")))
    epochs = plan.num_epochs or 1
    if plan.val_set_size and plan.val_set_size < 1:
        n = int(n * (1 - plan.val_set_size))
    elif plan.val_set_size and plan.val_set_size >= 1:
        n = max(0, n - int(plan.val_set_size))
    per_step = micro * accum * max(plan.num_gpus or 1, 1)
    return max(1, math.ceil(n * epochs / per_step))


def _trainer(trl: Any, transformers: Any, datasets: Any, model: Any, tok: Any, sft_args: dict[str, Any],
             train_data: list[dict[str, Any]], eval_data: list[dict[str, Any]], rep: SmokeReport,
             loc: ConfigLocator) -> Any:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    fields = {f.name for f in dataclasses.fields(trl.SFTConfig)}
    args = {k: v for k, v in sft_args.items() if k in fields}
    if "activation_checkpointing" in fields:
        args.pop("gradient_checkpointing", None)
    try:
        config = trl.SFTConfig(**args)
    except (ValueError, TypeError) as exc:
        _stop(rep, R.SmokeTrainingFailed, loc.at("optimizer", "bf16", "fp16"),
              f"The training arguments are rejected: {_short(exc)}")
    recorder = _Recorder()
    try:
        trainer = trl.SFTTrainer(
            model=model, args=config, processing_class=tok,
            train_dataset=datasets.Dataset.from_list(train_data),
            eval_dataset=datasets.Dataset.from_list(eval_data) if eval_data else None,
            callbacks=[recorder.callback(transformers)])
    except Exception as exc:
        _stop(rep, R.SmokeTrainingFailed, loc.at("datasets", "chat_template"),
              f"Preparing the dataset for training failed: {type(exc).__name__}: {_short(exc)}")
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    trainer._ftlint_recorder = recorder
    return trainer


class _Recorder:
    """Per-step wall time, logged metrics and memory, from trainer callbacks."""

    def __init__(self) -> None:
        self.began: float | None = None
        self.step_seconds: list[float] = []
        self.logs: list[dict[str, Any]] = []
        self.peaks: list[int | None] = []
        self.train_start: float | None = None

    def callback(self, transformers: Any) -> Any:
        rec = self

        class Callback(transformers.TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
                import torch

                if torch.cuda.is_available() and not args.use_cpu:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                rec.train_start = time.perf_counter()

            def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001
                rec.began = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
                import torch

                cuda = torch.cuda.is_available() and not args.use_cpu
                if cuda:
                    torch.cuda.synchronize()
                rec.step_seconds.append(time.perf_counter() - (rec.began or time.perf_counter()))
                rec.peaks.append(torch.cuda.max_memory_allocated() if cuda else None)

            def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
                if logs and "loss" in logs:
                    rec.logs.append(dict(logs))

        return Callback()


def _train(trainer: Any, device: str, has_eval: bool, rep: SmokeReport, loc: ConfigLocator, torch: Any,
           plan: Any) -> None:
    rec: _Recorder = trainer._ftlint_recorder
    t = time.perf_counter()
    try:
        if has_eval:
            rep.eval_loss_before = _float(trainer.evaluate().get("eval_loss"))
        t = time.perf_counter()
        trainer.train()
        rep.timings["train"] = time.perf_counter() - t
        if device == "cuda":
            rep.memory = _cuda_memory(torch)  # before the eval pass can change it
        if has_eval:
            rep.eval_loss_after = _float(trainer.evaluate().get("eval_loss"))
    except Exception as exc:
        _collect_steps(rep, rec)
        if _is_oom(exc, torch):
            if device == "cuda":
                rep.memory = _cuda_memory(torch)
            _oom(rep, loc, plan, f"training step {len(rec.step_seconds) + 1}", exc)
        _stop(rep, R.SmokeTrainingFailed, loc.at("base_model"),
              f"Training failed at step {len(rec.step_seconds) + 1}: {type(exc).__name__}: {_short(exc)}")
    _collect_steps(rep, rec)


def _collect_steps(rep: SmokeReport, rec: _Recorder) -> None:
    steps: list[StepStats] = []
    prev_tokens = 0.0
    for i, seconds in enumerate(rec.step_seconds):
        logs = rec.logs[i] if i < len(rec.logs) else {}
        cum = logs.get("num_tokens")
        tokens = int(cum - prev_tokens) if isinstance(cum, (int, float)) else None
        if isinstance(cum, (int, float)):
            prev_tokens = cum
        steps.append(StepStats(
            step=i + 1, loss=_float(logs.get("loss")), grad_norm=_float(logs.get("grad_norm")),
            learning_rate=_float(logs.get("learning_rate")), seconds=round(seconds, 4), tokens=tokens,
            tokens_per_s=round(tokens / seconds, 1) if tokens and seconds > 0 else None,
            peak_allocated_bytes=rec.peaks[i] if i < len(rec.peaks) else None))
    rep.steps = steps


def _judge(rep: SmokeReport, loc: ConfigLocator) -> None:
    for st in rep.steps:
        bad = [name for name, v in (("loss", st.loss), ("gradient norm", st.grad_norm))
               if v is not None and not math.isfinite(v)]
        if bad:
            _add(rep, R.SmokeNonFiniteLoss, loc.at("learning_rate", "fp16", "bf16"),
                 f"Step {st.step}: {' and '.join(bad)} not finite (loss {st.loss}, grad norm {st.grad_norm}).",
                 step=st.step)
            break
    if rep.steps and any(s.loss is None for s in rep.steps):
        _add(rep, R.SmokeTrainingFailed, loc.at("base_model"),
             "The trainer reported no loss for some steps (no trainable tokens in the batch?).")
    losses = [s.loss for s in rep.steps if s.loss is not None and math.isfinite(s.loss)]
    if len(losses) >= 2 and losses[0] > 0 and losses[-1] > DIVERGENCE * losses[0]:
        _add(rep, R.SmokeLossDiverging, loc.at("learning_rate"),
             f"The loss rose from {losses[0]:.4f} to {losses[-1]:.4f} over {len(losses)} steps.")
    before, after = rep.eval_loss_before, rep.eval_loss_after
    if before and after and math.isfinite(before) and math.isfinite(after) and after > DIVERGENCE * before:
        _add(rep, R.SmokeLossDiverging, loc.at("learning_rate"),
             f"The held-out loss rose from {before:.4f} to {after:.4f} after {len(rep.steps)} steps.")


def _cuda_memory(torch: Any) -> dict[str, Any]:
    free, total = torch.cuda.mem_get_info()
    return {"kind": "cuda", "max_allocated_bytes": torch.cuda.max_memory_allocated(),
            "max_reserved_bytes": torch.cuda.max_memory_reserved(),
            "device_used_bytes": total - free, "device_total_bytes": total}


def _memory(rep: SmokeReport, device: str, torch: Any) -> None:
    if device == "cuda":
        rep.memory = rep.memory or _cuda_memory(torch)
        return
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    rep.memory = {"kind": "cpu", "peak_rss_bytes": rss if sys.platform == "darwin" else rss * 1024}


def _compare_with_estimate(rep: SmokeReport, loc: ConfigLocator, device: str) -> None:
    pred = rep.prediction
    predicted = pred.get("predicted_bytes") if pred else None
    measured = rep.memory.get("max_allocated_bytes") if device == "cuda" else None
    if not (pred and measured and predicted):
        return
    pred["measured_bytes"] = measured
    pred["error_pct"] = round(100.0 * (predicted - measured) / measured, 1)
    if abs(measured - predicted) > ESTIMATE_TOLERANCE * predicted:
        _add(rep, R.SmokeMemoryEstimateOff, loc.at("base_model"),
             f"Measured peak {measured / 1e9:.2f} GB vs estimated {predicted / 1e9:.2f} GB "
             f"({pred['error_pct']:+.1f}% error).", measured=measured, predicted=predicted)


def _project(rep: SmokeReport, total_steps: int | None, opts: SmokeOptions, device: str) -> None:
    times = [s.seconds for s in rep.steps if s.seconds]
    if not times or not total_steps:
        return
    # The first step pays one-off costs (allocator warm-up, kernel selection).
    per_step = sum(times[1:]) / len(times[1:]) if len(times) > 1 else times[0]
    seconds = per_step * total_steps
    basis = (f"measured on the {rep.data.get('train_examples')} longest examples, so an upper bound"
             if device == "cuda" else "CPU timing: not representative of a GPU run")
    rep.projection = {"total_steps": total_steps, "seconds_per_step": round(per_step, 4),
                      "seconds": round(seconds, 1), "duration": _duration(seconds), "basis": basis}
    if opts.hourly_cost is not None:
        rep.projection["cost"] = round(seconds / 3600 * opts.hourly_cost, 2)
        rep.projection["hourly_cost"] = opts.hourly_cost


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    if d:
        return f"{d}d {h}h {m}m"
    if h:
        return f"{h}h {m}m"
    return f"{m}m {s}s" if m else f"{s}s"


def _is_oom(exc: BaseException, torch: Any) -> bool:
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _oom(rep: SmokeReport, loc: ConfigLocator, plan: Any, when: str, exc: BaseException) -> None:
    fixes = []
    if not plan.gradient_checkpointing:
        fixes.append("enable gradient_checkpointing")
    if (plan.micro_batch_size or 1) > 1:
        fixes.append(f"halve micro_batch_size to {max(1, (plan.micro_batch_size or 1) // 2)} and double "
                     "gradient_accumulation_steps")
    if not (plan.load_in_4bit or plan.method == "qlora") and plan.method != "full":
        fixes.append("load the base model in 4-bit (QLoRA)")
    if plan.optimizer and "8bit" not in plan.optimizer:
        fixes.append("use an 8-bit optimizer (adamw_bnb_8bit)")
    if plan.sequence_len:
        fixes.append(f"shorten sequence_len below {plan.sequence_len}")
    pred = rep.prediction or {}
    est = f" The estimate was {pred['predicted_bytes'] / 1e9:.2f} GB." if pred.get("predicted_bytes") else ""
    _stop(rep, R.SmokeOutOfMemory, loc.at("micro_batch_size", "sequence_len", "base_model"),
          f"Out of memory while {when}.{est} Try: {'; '.join(fixes) or 'a GPU with more memory'}. ({_short(exc)})",
          fixes=fixes)


def _float(x: Any) -> float | None:
    try:
        return float(x) if x is not None else None
    except (TypeError, ValueError):
        return None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
