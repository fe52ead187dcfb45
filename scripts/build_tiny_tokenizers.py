#!/usr/bin/env python
"""Build the tiny byte-level BPE tokenizers under fixtures/tokenizers/ (for the token tests).

Deterministic: a fixed generated English-like corpus, a 384-token vocabulary, ChatML special
tokens. Each variant folder is what `--tokenizer` reads (tokenizer.json, tokenizer_config.json,
config.json); they differ only in their chat template and special tokens:

  tiny-chatml       ChatML template, eos <|im_end|>, pad <|endoftext|>, context 512
  tiny-generation   ChatML with {% generation %} markers that include <|im_end|>
  tiny-broken       pad == eos, {% generation %} markers that leave <|im_end|> out, a template
                    that raises on non-alternating roles and silently drops unknown roles
  tiny-notemplate   no chat template at all (a base model)

Run: python scripts/build_tiny_tokenizers.py  (needs only the `tokenizers` package)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizers"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WORDS = ("the a an of to in is it that for on with as was be by this are or from at have not you your "
         "user assistant system question answer hello thanks please model data train token length long "
         "short example sentence text write explain why how what when where which number one two three "
         "four five code function return value list json python error fix file line").split()

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
GENERATION = ("{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
              "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
              "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
              "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
BROKEN = ("{% set ns = namespace(expect='user') %}"
          "{% for message in messages %}"
          "{% if message['role'] == 'system' %}{{ '<|im_start|>system\\n' + message['content'] + '<|im_end|>\\n' }}"
          "{% elif message['role'] in ['user', 'assistant'] %}"
          "{% if message['role'] != ns.expect %}{{ raise_exception('Conversation roles must alternate "
          "user/assistant/user/assistant/...') }}{% endif %}"
          "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
          "{% generation %}{{ message['content'] }}{% endgeneration %}{{ '<|im_end|>\\n' }}{% set ns.expect = 'user' %}"
          "{% else %}{{ '<|im_start|>user\\n' + message['content'] + '<|im_end|>\\n' }}{% set ns.expect = 'assistant' %}"
          "{% endif %}{% endif %}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def corpus(n: int = 4000) -> list[str]:
    rng = random.Random(1234)
    lines = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 16))]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice([".", "?", "!", ":", ","]) + " " + str(rng.randint(0, 999)))
    return lines


def build() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    return tok


def added_decoder(tok: Tokenizer) -> dict:
    return {str(tok.token_to_id(s)): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                     "single_word": False, "special": True} for s in SPECIALS}


def write_variant(tok: Tokenizer, name: str, template: str | None, eos: str, pad: str) -> None:
    folder = ROOT / name
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = {"added_tokens_decoder": added_decoder(tok), "bos_token": None, "eos_token": eos, "pad_token": pad,
              "unk_token": None, "model_max_length": 512, "tokenizer_class": "PreTrainedTokenizerFast",
              "clean_up_tokenization_spaces": False}
    if template is not None:
        config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2", "max_position_embeddings": 512},
                                                   indent=2) + "\n", encoding="utf-8")


def main() -> None:
    tok = build()
    write_variant(tok, "tiny-chatml", CHATML, "<|im_end|>", "<|endoftext|>")
    write_variant(tok, "tiny-generation", GENERATION, "<|im_end|>", "<|endoftext|>")
    write_variant(tok, "tiny-broken", BROKEN, "<|im_end|>", "<|im_end|>")
    write_variant(tok, "tiny-notemplate", None, "<|endoftext|>", "<|endoftext|>")
    print(f"wrote {ROOT} (vocab {tok.get_vocab_size()})")


if __name__ == "__main__":
    main()
