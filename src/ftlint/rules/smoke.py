"""Smoke-run findings (FTK). `ftlint smoke CONFIG` emits these; `ftlint check` never runs them.

The classes carry the metadata and the documentation (`ftlint rule FTK003`, SARIF help text);
the runner in `ftlint.smoke.runner` creates the findings.
"""

from __future__ import annotations

from ..findings import Severity
from ..rule import Rule


class SmokeRule(Rule):
    """Base for smoke findings: they come from a real training run, not from a file scan."""

    scope = "smoke"
    severity = Severity.ERROR
    tags: tuple[str, ...] = ("smoke",)


class SmokeModelNotFound(SmokeRule):
    """The base model or tokenizer cannot be loaded from this machine without a download.

    ## What it does
    Looks for the config's `base_model` (and `tokenizer`) as a local folder (relative to the
    working directory, then to the config's folder) and in the Hugging Face cache, without any
    network access, and reports every place it looked when none has the files.

    ## Why it matters
    A smoke run must be quick and offline; a training job that only fails when the download is
    refused (gated repo, typo in the id, air-gapped cluster) wastes the whole queue slot.

    ## Example
    ```yaml
    base_model: meta-llama/Llama-3.1-8B   # never downloaded on this machine
    ```

    ## Use instead
    ```yaml
    base_model: ./models/Llama-3.1-8B     # a local copy, or a model already in the HF cache
    ```

    ## How to fix
    Download the model once (`huggingface-cli download ID`) so it is in the cache, or point
    `base_model` at a local folder with `config.json`, the weights and the tokenizer files.
    """

    code = "FTK001"
    name = "smoke-model-not-found"


class SmokeOutOfMemory(SmokeRule):
    """The smoke run ran out of memory on the longest batch.

    ## What it does
    Catches CUDA (or host) out-of-memory errors while loading the model or training on the
    longest examples of the dataset, and reports how far it got, the VRAM estimator's prediction
    when available, and the cheapest change that would save memory.

    ## Why it matters
    The longest batch decides the peak. A real job that fits the first hundred batches can still
    die hours in when the longest example comes along.

    ## Example
    ```yaml
    micro_batch_size: 16
    sequence_len: 8192
    gradient_checkpointing: false
    ```

    ## Use instead
    ```yaml
    micro_batch_size: 2
    gradient_accumulation_steps: 8
    sequence_len: 8192
    gradient_checkpointing: true
    ```

    ## How to fix
    Enable gradient checkpointing, lower `micro_batch_size` (raise gradient accumulation to
    keep the effective batch), use 4-bit QLoRA or an 8-bit optimizer, or shorten
    `sequence_len`. `ftlint estimate CONFIG` says how much each change saves.
    """

    code = "FTK002"
    name = "smoke-out-of-memory"


class SmokeNonFiniteLoss(SmokeRule):
    """A training step produced a NaN or infinite loss or gradient norm.

    ## What it does
    Checks the loss and the gradient norm of every smoke step and reports the first step where
    either is NaN or infinite.

    ## Why it matters
    Non-finite values poison the weights; the run continues, burns its GPU hours and produces
    a useless adapter. The causes (fp16 overflow, a far too high learning rate, empty label
    masks) show up in the first steps.

    ## Example
    ```yaml
    fp16: true
    learning_rate: 0.5
    ```

    ## Use instead
    ```yaml
    bf16: true
    learning_rate: 0.0002
    ```

    ## How to fix
    Prefer bf16 over fp16, lower the learning rate, add warmup, and check that every example
    has at least one token that is trained on (not fully masked).
    """

    code = "FTK003"
    name = "smoke-non-finite-loss"


class SmokeLossDiverging(SmokeRule):
    """The loss rose during the smoke steps, or the held-out loss got worse.

    ## What it does
    Compares the last step's loss with the first, and the held-out loss after the steps with
    the loss of the unmodified model; warns when either rose by more than 20%.

    ## Why it matters
    A few steps on the longest examples should not make the model worse. A rising loss at the
    start of training usually means the learning rate is too high for the method (full
    fine-tuning rates on LoRA are fine; LoRA rates on full fine-tuning are not).

    ## Example
    ```yaml
    adapter: null          # full fine-tuning
    learning_rate: 0.001
    ```

    ## Use instead
    ```yaml
    adapter: null
    learning_rate: 0.00001
    warmup_steps: 20
    ```

    ## How to fix
    Lower the learning rate or add warmup, then run the smoke again. Three steps are noisy:
    rerun with `--steps 10` before changing a config that is known to work.
    """

    code = "FTK004"
    name = "smoke-loss-diverging"
    severity = Severity.WARNING


class SmokeCudaUnavailable(SmokeRule):
    """`--device cuda` was requested but this machine has no usable CUDA device.

    ## What it does
    Reports that CUDA was required and names why it is unavailable (no CUDA build of torch,
    no driver, no visible device).

    ## Why it matters
    A smoke that silently falls back to the CPU does not measure GPU memory; with `--device
    cuda` the user asked for exactly that.

    ## Example
    `ftlint smoke train.yml --device cuda` on a laptop without an NVIDIA GPU.

    ## Use instead
    `ftlint smoke train.yml --device auto` (CPU when there is no GPU), or run on the GPU host.

    ## How to fix
    Install a CUDA build of torch (`pip install torch` from PyPI on Linux), check
    `nvidia-smi` and `CUDA_VISIBLE_DEVICES`, or use `--device auto`.
    """

    code = "FTK005"
    name = "smoke-cuda-unavailable"


class SmokeRemoteCodeNotAllowed(SmokeRule):
    """The model needs `trust_remote_code`, which the smoke only allows with `--trust-remote-code`.

    ## What it does
    Detects models whose `config.json` maps to Python code shipped with the model (`auto_map`)
    for an architecture transformers does not know, and refuses to run that code unless the
    user passes `--trust-remote-code`. The finding names the model and the code it would run.

    ## Why it matters
    Remote code is arbitrary Python from the model repository. A linter must never execute it
    because a config file said `trust_remote_code: true`.

    ## Example
    ```yaml
    base_model: some-org/custom-arch-7b
    trust_remote_code: true
    ```

    ## Use instead
    Review the model's Python files, then run `ftlint smoke train.yml --trust-remote-code`.

    ## How to fix
    Pass `--trust-remote-code` after reviewing the code, or use a model whose architecture is
    built into transformers.
    """

    code = "FTK006"
    name = "smoke-remote-code-not-allowed"
    tags = ("smoke", "security")
    security_severity = 5.0


class SmokeQuantizationUnavailable(SmokeRule):
    """The config asks for 4-bit or 8-bit loading, but bitsandbytes cannot do it here.

    ## What it does
    Checks that bitsandbytes is installed and that it can quantise on the chosen device
    before loading the model, and reports the import or backend error.

    ## Why it matters
    QLoRA configs fail at model load when bitsandbytes is missing or was built without support
    for the device; the smoke catches it before the job is queued.

    ## Example
    ```yaml
    load_in_4bit: true
    adapter: qlora
    ```
    on an environment without `bitsandbytes`.

    ## Use instead
    The same config after `pip install 'bitsandbytes>=0.45'` (0.45+ also runs 4-bit on the CPU).

    ## How to fix
    Install or upgrade bitsandbytes in the training environment, or drop `load_in_4bit` /
    `load_in_8bit` and train plain LoRA.
    """

    code = "FTK007"
    name = "smoke-quantization-unavailable"


class SmokeNoTrainingData(SmokeRule):
    """The smoke found no usable local training examples in the config's datasets.

    ## What it does
    Reads the config's training datasets (local files only), converts alpaca, sharegpt,
    OpenAI-messages, prompt/completion and text records to a format TRL accepts, and reports
    when nothing usable is left: no dataset, a hub dataset that is not on disk, or records
    that cannot be converted.

    ## Why it matters
    Without data there is nothing to train on; a dataset that only exists on the hub is
    downloaded by the real run, not by a smoke that must stay offline.

    ## Example
    ```yaml
    datasets:
      - path: tatsu-lab/alpaca     # a hub id, not a local file
        type: alpaca
    ```

    ## Use instead
    ```yaml
    datasets:
      - path: data/alpaca.jsonl
        type: alpaca
    ```

    ## How to fix
    Point `datasets` at local files (download hub datasets once), and run `ftlint check` on
    them to see why records could not be used.
    """

    code = "FTK008"
    name = "smoke-no-training-data"


class SmokeTrainingFailed(SmokeRule):
    """Loading or training failed with an error the smoke could not classify.

    ## What it does
    Turns any other exception raised while loading the model, preparing the adapters or
    training into a finding with the error type and message (use `--debug` for the traceback).

    ## Why it matters
    This is exactly what the smoke is for: an error in the first steps of a real job
    (incompatible options, a bad target module name, a template that raises) found in a minute.

    ## Example
    ```yaml
    lora_target_modules: [query_key_value]   # a Falcon name on a Llama model
    ```

    ## Use instead
    ```yaml
    lora_target_modules: [q_proj, k_proj, v_proj, o_proj]
    ```

    ## How to fix
    Read the message; it is the training stack's own error. Fix the option it names and run
    the smoke again.
    """

    code = "FTK009"
    name = "smoke-training-failed"


class SmokePrecisionUnsupported(SmokeRule):
    """The config asks for a precision the device cannot run (bf16 on a pre-Ampere GPU).

    ## What it does
    Checks `bf16` against the GPU's capability before training.

    ## Why it matters
    The real job fails at start-up ("bf16 requires Ampere or newer"), or worse, a fallback
    path emulates it slowly.

    ## Example
    ```yaml
    bf16: true     # on a T4 or V100
    ```

    ## Use instead
    ```yaml
    fp16: true
    ```

    ## How to fix
    Use fp16 (with loss scaling) on GPUs without bf16, or rent an Ampere or newer GPU.
    """

    code = "FTK010"
    name = "smoke-precision-unsupported"


class SmokeStackMissing(SmokeRule):
    """The training stack (torch, transformers, peft, trl, datasets, accelerate) is not installed.

    ## What it does
    Checks that every package the smoke needs can be imported, and names the missing ones.

    ## Why it matters
    `ftlint check` stays light on purpose; the smoke needs the full training stack, in the
    environment where the job will run.

    ## Example
    `pip install ftlint` followed by `ftlint smoke train.yml`.

    ## Use instead
    `pip install 'ftlint[smoke]'` followed by `ftlint smoke train.yml`.

    ## How to fix
    Install the smoke extra (`pip install 'ftlint[smoke]'`), or run the smoke inside the
    training environment.
    """

    code = "FTK011"
    name = "smoke-stack-missing"


class SmokeMemoryEstimateOff(SmokeRule):
    """The measured GPU memory peak differs from the VRAM estimate by more than 25%.

    ## What it does
    On CUDA, compares `torch.cuda.max_memory_allocated()` over the smoke steps with the VRAM
    estimator's prediction for the same config and sequence length.

    ## Why it matters
    Either the estimate is off for this setup (report it, with the smoke's JSON) or the run
    does something the config does not say (a different attention kernel, no checkpointing).
    The GPU choice rests on the estimate.

    ## Example
    A measured peak of 14.1 GB against a prediction of 9.8 GB.

    ## Use instead
    A measured peak within 25% of the prediction.

    ## How to fix
    Trust the measurement for this config; check `attn_implementation` and
    `gradient_checkpointing`; and file the smoke's JSON report so the estimator can learn.
    """

    code = "FTK012"
    name = "smoke-memory-estimate-off"
    severity = Severity.WARNING


class SmokeChatTemplateMissing(SmokeRule):
    """Conversational data, but neither the tokenizer nor the config provides a chat template.

    ## What it does
    Checks that the tokenizer has a chat template (in `tokenizer_config.json` or
    `chat_template.jinja`) or that the config names one, when the data is conversational.

    ## Why it matters
    TRL cannot turn messages into tokens without a template; base models usually ship without
    one, and an ad-hoc fallback silently trains a format the model will not see at inference.

    ## Example
    ```yaml
    base_model: ./Llama-3.1-8B          # a base model: no chat template
    datasets: [{path: chat.jsonl, type: chat_template}]
    ```

    ## Use instead
    ```yaml
    base_model: ./Llama-3.1-8B
    chat_template: chatml
    datasets: [{path: chat.jsonl, type: chat_template}]
    ```

    ## How to fix
    Set `chat_template` in the config (a name such as `chatml`, or the Jinja text), or start
    from the instruct model whose tokenizer has one.
    """

    code = "FTK013"
    name = "smoke-chat-template-missing"
