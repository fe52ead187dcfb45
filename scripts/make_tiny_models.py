#!/usr/bin/env python
"""Build the tiny random models under fixtures/models/ (committed; rerun to regenerate).

Each model folder holds a randomly initialised causal LM of a real architecture (Llama, Qwen2)
at toy size, a byte-level BPE tokenizer trained here with `tokenizers` on local text (the smoke
fixture datasets plus a few standard-library docstrings), and a ChatML chat template with
`{% generation %}` markers so TRL's `assistant_only_loss` works. Every folder stays under 1 MB.
Nothing is downloaded.

Usage: python scripts/make_tiny_models.py [--out fixtures/models]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

MODELS = {
    # name: (transformers config class, vocab size, extra config)
    "tiny-llama": ("LlamaConfig", 1024, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=2048, tie_word_embeddings=False,
                                             rope_parameters={"rope_type": "default", "rope_theta": 500000.0})),
    "tiny-qwen2": ("Qwen2Config", 768, dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2,
                                            max_position_embeddings=4096, tie_word_embeddings=True,
                                            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
}


def corpus_lines() -> list[str]:
    """Local text only: the fixture datasets' strings and some stdlib docstrings."""
    import collections
    import email
    import json as json_mod
    import textwrap

    lines: list[str] = []
    for path in sorted((ROOT / "fixtures" / "smoke" / "data").glob("*.jsonl")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            stack = [json.loads(raw)]
            while stack:  # every string value in the record
                value = stack.pop()
                if isinstance(value, str):
                    lines.append(value)
                elif isinstance(value, dict):
                    stack.extend(value.values())
                elif isinstance(value, list):
                    stack.extend(value)
    for module in (collections, email, json_mod, textwrap, argparse, shutil):
        lines.extend(line for line in (module.__doc__ or "").splitlines() if line.strip())
    return lines


def build_tokenizer(vocab_size: int, lines: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    from ftlint.smoke.templates import CHATML

    fast.chat_template = CHATML
    fast.model_max_length = 2048
    return fast


def build(name: str, out: Path, lines: list[str]) -> Path:
    import torch
    import transformers

    config_cls, vocab, extra = MODELS[name]
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    tok = build_tokenizer(vocab, lines)
    # The model's vocabulary is the tokenizer's real size, as a released model's is.
    vocab_size = len(tok)
    cfg = getattr(transformers, config_cls)(
        vocab_size=vocab_size, bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        dtype="bfloat16", **extra)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    # A class name every transformers release knows (v5 writes its internal `TokenizersBackend`).
    tc_path = folder / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text(encoding="utf-8"))
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    tc_path.write_text(json.dumps(tc, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(
        f"# {name}\n\nRandomly initialised {cfg.model_type} model for ftlint's tests, made by "
        "`scripts/make_tiny_models.py`: it has learned nothing. Tokenizer: byte-level BPE "
        f"({vocab_size} tokens) trained on the smoke fixture datasets; ChatML template with "
        "`{% generation %}` markers.\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    params = sum(p.numel() for p in model.parameters())
    print(f"{folder}: {cfg.model_type}, {params:,} parameters, {size / 1024:.0f} KiB")
    if size >= 1024 * 1024:
        raise SystemExit(f"{folder} is {size} bytes; fixtures must stay under 1 MB")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "fixtures" / "models")
    ap.add_argument("--only", choices=sorted(MODELS), action="append")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = corpus_lines()
    for name in args.only or sorted(MODELS):
        build(name, args.out, lines)


if __name__ == "__main__":
    main()
