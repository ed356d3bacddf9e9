"""Lesson D3, the bridge to TRL: a tiny Qwen2 chat model built offline, for tests and laptops.

TRL's trainers take a model by its name or folder. To run the same program that a reader
runs on ``Qwen/Qwen2.5-0.5B-Instruct`` without downloading anything, this module builds a
stand-in of the same kind: a Qwen2 architecture with 2 layers, randomly initialised from its
config, and a byte-level BPE tokenizer trained here on the task's own text. The tokenizer
carries the chat template that Qwen2.5 ships, read from TRL's installed copy with its special
tokens, so TRL recognises it (TRL compares templates by exact text). A few seconds of
supervised fine-tuning on correct answers, in the chat format, give the model enough skill that
the checker's reward is not 0 on every sample: without it no group would have a non-zero
reward std and GRPO would have nothing to learn from.
"""

# --8<-- [start:imports]
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
from trl import chat_template_utils

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:tokenizer]
# Qwen2.5's special tokens: <|im_end|> ends every turn (the EOS that stops generation),
# <|endoftext|> pads. TRL's copy of the template is the one Qwen2.5-*-Instruct ships.
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
CHAT_TEMPLATE = chat_template_utils.qwen2_5_chat_template


def train_tokenizer(texts: list[str], vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (as Qwen's) trained on ``texts``, with Qwen2.5's chat template.

    Byte-level: any text can be encoded, so a reader's prompt never hits an unknown token.
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=IM_END, pad_token=PAD, padding_side="left"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


# --8<-- [end:tokenizer]


# --8<-- [start:model]
def build_model(tokenizer: PreTrainedTokenizerFast, hidden: int = 64) -> Qwen2ForCausalLM:
    """A 2-layer Qwen2 built from its config: random weights, nothing downloaded."""
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


# --8<-- [end:model]


# --8<-- [start:sft]
def sft(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    prompts: list[list[dict[str, str]]],
    answers: list[str],
    steps: int,
    rng: np.random.Generator,
    batch: int = 32,
    lr: float = 1e-2,
) -> list[float]:
    """Supervised fine-tuning on (chat prompt, answer) pairs; loss on the answer and its EOS.

    The answer is appended to the prompt as the model will generate it after the template's
    ``<|im_start|>assistant`` line, then ``<|im_end|>``, which is where TRL stops sampling.

    Returns:
        The loss of every step.
    """
    heads = tokenizer.apply_chat_template(prompts, add_generation_prompt=True, tokenize=False)
    tails = [answer + IM_END for answer in answers]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    history = []
    for _ in range(steps):
        rows = rng.integers(0, len(prompts), size=batch)
        head = [tokenizer(heads[i], add_special_tokens=False)["input_ids"] for i in rows]
        tail = [tokenizer(tails[i], add_special_tokens=False)["input_ids"] for i in rows]
        width = max(len(h) + len(t) for h, t in zip(head, tail, strict=True))
        ids = torch.full((batch, width), tokenizer.pad_token_id)
        labels = torch.full((batch, width), -100)
        attention = torch.zeros((batch, width), dtype=torch.long)
        for row, (h, t) in enumerate(zip(head, tail, strict=True)):  # left padding, as TRL
            start = width - len(h) - len(t)
            ids[row, start:] = torch.tensor(h + t)
            labels[row, width - len(t) :] = torch.tensor(t)
            attention[row, start:] = 1
        loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    model.eval()
    return history


# --8<-- [end:sft]


# --8<-- [start:build]
def build_tiny_chat_model(
    folder: str | Path,
    prompts: list[list[dict[str, str]]],
    answers: list[str],
    sft_steps: int,
    seed: int,
) -> str:
    """Train the tokenizer, build the model, fine-tune it, and save both to ``folder``.

    Returns:
        The folder, ready for ``from_pretrained`` and for TRL's ``model=`` argument.
    """
    rng = common.seed_everything(seed)
    probe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    probe.chat_template = CHAT_TEMPLATE  # render the corpus exactly as training will see it
    chats = [
        [*p, {"role": "assistant", "content": a}] for p, a in zip(prompts, answers, strict=True)
    ]
    corpus = probe.apply_chat_template(chats, tokenize=False)
    tokenizer = train_tokenizer(corpus)
    model = build_model(tokenizer)
    sft(model, tokenizer, prompts, answers, sft_steps, rng)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


# --8<-- [end:build]
