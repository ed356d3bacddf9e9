"""Lesson D2, the policy: a GPT-2 from ``transformers``, sampling, and log-probabilities.

The same functions serve the tiny model built from a ``GPT2Config`` and a pretrained hub
model loaded with ``from_pretrained``: everything else talks to the model only through
``base_model``, ``get_output_embeddings`` and ``generate``.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)

from snippets.d1_reward_modeling_concepts import position_ids_from_mask
from snippets.d2_rlhf_llm_with_pytorch.config import Config
from snippets.d2_rlhf_llm_with_pytorch.world import PAD, build_tokenizer, gold_score, is_grammatical

# --8<-- [end:imports]


# --8<-- [start:load]
def disable_dropout(model: nn.Module) -> None:
    """Set every dropout probability to 0.

    PPO compares log-probabilities computed at rollout time with ones recomputed during
    the update; dropout would make them differ even before any parameter moved.
    """
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def load_policy_and_tokenizer(
    name: str, config: Config, device: Any = "cpu"
) -> tuple[nn.Module, PreTrainedTokenizerFast]:
    """The policy language model and its tokenizer.

    Args:
        name: ``"tiny"`` builds a small GPT-2 from a ``GPT2Config`` (no download);
            anything else (``"gpt2"``, or a folder written by ``save_pretrained``) goes
            through ``from_pretrained``, which needs the internet for a hub name.
        config: sizes of the tiny model.
        device: where to put the model.

    Returns:
        ``(model, tokenizer)`` with left padding, a pad token distinct from EOS, and
        dropout switched off.
    """
    if name == "tiny":
        tokenizer = build_tokenizer()
        gpt2_config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=64,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = GPT2LMHeadModel(gpt2_config)
    else:
        tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(name)
        if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
            tokenizer.add_special_tokens({"pad_token": PAD})  # GPT-2 ships without one
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "left"
    disable_dropout(model)
    return model.to(device), tokenizer


# --8<-- [end:load]


# --8<-- [start:value-head]
def lm_forward(
    lm: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and last hidden states, with positions counted from the first real token."""
    hidden = lm.base_model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
    ).last_hidden_state
    return lm.get_output_embeddings()(hidden), hidden


class PolicyWithValueHead(nn.Module):
    """The policy LM plus a value head on the same trunk.

    One forward pass gives next-token logits and V(s_t), the value of the prefix that
    ends at each position. The value head starts at zero so it does not disturb the
    pretrained trunk through the shared gradient at the start.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.value_head = nn.Linear(lm.config.hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, values)`` of shapes (B, T, vocab) and (B, T)."""
        logits, hidden = lm_forward(self.lm, input_ids, attention_mask)
        return logits, self.value_head(hidden).squeeze(-1)


# --8<-- [end:value-head]


# --8<-- [start:rollout]
@dataclass
class Rollout:
    """A batch of sampled completions.

    Attributes:
        input_ids: prompt (left-padded) followed by the completion, shape (B, P + R).
        attention_mask: 1 on prompt tokens and on completion tokens up to the first EOS.
        prompt_length: P, the width of the padded prompt block.
        response_mask: the completion part of ``attention_mask``, shape (B, R).
        finished: whether each completion emitted EOS, shape (B,).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    prompt_length: int
    response_mask: torch.Tensor
    finished: torch.Tensor


# --8<-- [end:rollout]


# --8<-- [start:generate]
@torch.no_grad()
def generate(
    lm: nn.Module, tokenizer: PreTrainedTokenizerFast, prompts: list[str], config: Any
) -> Rollout:
    """Sample one completion per prompt from the full, temperature-scaled distribution.

    ``top_k=0`` and ``top_p=1`` keep every token, so the log-probabilities PPO
    recomputes (softmax of logits / temperature) are the ones we sampled from.
    ``config`` needs ``temperature`` and ``max_new_tokens``.
    """
    device = next(lm.parameters()).device
    batch = tokenizer(prompts, padding=True, return_tensors="pt").to(device)
    generation = GenerationConfig(
        do_sample=True,
        temperature=config.temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=config.max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    sequences = lm.generate(**batch, generation_config=generation)
    prompt_length = batch["input_ids"].shape[1]
    response = sequences[:, prompt_length:]
    is_eos = response == tokenizer.eos_token_id
    # keep tokens up to and including the first EOS; everything after it is padding
    after_eos = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    response_mask = (~after_eos).long()
    return Rollout(
        input_ids=sequences,
        attention_mask=torch.cat([batch["attention_mask"], response_mask], dim=1),
        prompt_length=prompt_length,
        response_mask=response_mask,
        finished=is_eos.any(dim=1),
    )


# --8<-- [end:generate]


# --8<-- [start:text-quality]
def rollout_words(tokenizer: PreTrainedTokenizerFast, rollout: Rollout) -> list[list[str]]:
    """Prompt + completion of each row as words (special tokens dropped)."""
    ids = (rollout.input_ids * rollout.attention_mask).tolist()
    return [tokenizer.decode(row, skip_special_tokens=True).split() for row in ids]


def text_quality(tokenizer: PreTrainedTokenizerFast, rollout: Rollout) -> dict[str, Any]:
    """Gold scores and grammaticality of a rollout: what the hidden rater would say."""
    words = rollout_words(tokenizer, rollout)
    finished = rollout.finished.tolist()
    return {
        "gold": np.array([gold_score(w, f) for w, f in zip(words, finished, strict=True)]),
        "grammatical": float(
            np.mean([is_grammatical(w, f) for w, f in zip(words, finished, strict=True)])
        ),
        "words": words,
    }


# --8<-- [end:text-quality]


# --8<-- [start:logprobs]
def response_logprobs(
    logits: torch.Tensor, input_ids: torch.Tensor, prompt_length: int, temperature: float
) -> torch.Tensor:
    """Log-probabilities of the completion tokens under the temperature-scaled policy.

    The logits at position t predict the token at position t + 1, so completion token
    ``input_ids[:, P + i]`` is scored by ``logits[:, P + i - 1]``. Dividing by the
    sampling temperature makes these the probabilities the tokens were drawn with.

    Returns:
        Shape (B, R): one log-probability per completion token.
    """
    scaled = logits[:, prompt_length - 1 : -1] / temperature
    tokens = input_ids[:, prompt_length:]
    return torch.log_softmax(scaled, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


# --8<-- [end:logprobs]
