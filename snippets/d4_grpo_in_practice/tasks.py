"""Lesson D4, a harder verifiable task: multi-digit sums, checked exactly.

D3's two-digit addition is solved by a tiny GPT-2 after a few hundred steps. Three-digit
addition (the default: ``terms=2``, ``digits=3``) is harder: carries chain over three
columns and answers have three or four digits. ``terms=3`` gives chain sums ``a + b + c``,
harder still: too hard for this tiny model to reach the band in the pretraining budget.
The model starts weak (the same band rule as D3: pretrain on noisy sums until held-out
pass@1 is in ``[band_low, band_high]``), so many groups are all wrong and some all right:
the regime where GRPO's practical problems appear.

The tokenizer and the model are D3's (digits and ``+``, ``=`` are all the task needs);
sampling is D2's ``generate``; pass@k is D3's estimator.
"""

# --8<-- [start:imports]
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

from snippets import common
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import rlvr

# --8<-- [end:imports]


# --8<-- [start:task]
def sample_problems(rng: np.random.Generator, n: int, terms: int, digits: int) -> np.ndarray:
    """``n`` sums of ``terms`` operands with exactly ``digits`` digits each; shape (n, terms)."""
    return rng.integers(10 ** (digits - 1), 10**digits, size=(n, terms))


def prompt_text(row: np.ndarray) -> str:
    """``[471, 358]`` -> ``"4 7 1 + 3 5 8 ="``: one token per digit or sign."""
    return " + ".join(" ".join(str(int(x))) for x in row) + " ="


def check(row: np.ndarray, words: list[str], finished: bool) -> float:
    """The verifier: 1.0 if the completion is exactly the digits of the sum, then EOS."""
    return float(finished and "".join(words) == str(int(row.sum())))


def plausible_wrong_answer(row: np.ndarray, rng: np.random.Generator) -> int:
    """A careless adder's slip: one carry dropped, or an answer off by one or by ten."""
    total = int(row.sum())
    head, last = int(row[:-1].sum()), int(row[-1])
    width = len(str(max(head, last)))  # add digit by digit, keeping no carry
    pairs = zip(f"{head:0{width}d}", f"{last:0{width}d}", strict=True)
    no_carry = int("".join(str((int(x) + int(y)) % 10) for x, y in pairs))
    for candidate in rng.permutation([no_carry, total + 1, total - 1, total + 10, total - 10]):
        if candidate != total and candidate >= 0:
            return int(candidate)
    return total + 1  # pragma: no cover - the list always holds a wrong answer


# --8<-- [end:task]


# --8<-- [start:sample-and-check]
@torch.no_grad()
def sample_and_check(
    lm: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, problems: np.ndarray, cfg: Any
) -> tuple[d2.Rollout, torch.Tensor]:
    """One sampled answer per row of ``problems`` (D2's sampler), and the checker's reward."""
    rollout = d2.generate(lm, tokenizer, [prompt_text(row) for row in problems], cfg)
    answers = rollout.input_ids[:, rollout.prompt_length :] * rollout.response_mask
    words = [tokenizer.decode(r, skip_special_tokens=True).split() for r in answers.tolist()]
    finished = rollout.finished.tolist()
    rewards = [check(row, w, f) for row, w, f in zip(problems, words, finished, strict=True)]
    return rollout, torch.tensor(rewards)


# --8<-- [end:sample-and-check]


# --8<-- [start:pretrain]
def pretrain_step(
    lm: GPT2LMHeadModel,
    tokenizer: PreTrainedTokenizerFast,
    optimizer: torch.optim.Optimizer,
    cfg: Any,
    rng: np.random.Generator,
) -> float:
    """One next-token step on sums that are right only ``correct_fraction`` of the time.

    Only the answer tokens and EOS carry loss (D2's ``next_token_step`` with labels).
    """
    problems = sample_problems(rng, cfg.pretrain_batch, cfg.terms, cfg.digits)
    right = rng.random(len(problems)) < cfg.correct_fraction
    answers = [
        int(row.sum()) if ok else plausible_wrong_answer(row, rng)
        for row, ok in zip(problems, right, strict=True)
    ]
    prompts = [prompt_text(row) for row in problems]
    texts = [f"{p} {' '.join(str(s))} {d2.EOS}" for p, s in zip(prompts, answers, strict=True)]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    n_prompt = len(prompts[0].split())  # every prompt has the same number of tokens
    answer_len = batch["attention_mask"].sum(1) - n_prompt
    width = batch["input_ids"].shape[1]
    is_answer = torch.arange(width)[None] >= (width - answer_len)[:, None]
    labels = batch["input_ids"].masked_fill(~is_answer, -100)
    return d2.next_token_step(lm, optimizer, batch["input_ids"], batch["attention_mask"], labels)


def pretrain_to_band(
    lm: GPT2LMHeadModel,
    tokenizer: PreTrainedTokenizerFast,
    cfg: Any,
    rng: np.random.Generator,
    check_problems: np.ndarray,
) -> list[tuple[int, float]]:
    """D3's band rule on these sums: stop at the first check with pass@1 in the band.

    Returns:
        (step, pass@1 of one sample per check problem) at every check.
    """
    optimizer = torch.optim.AdamW(lm.parameters(), lr=cfg.pretrain_lr, weight_decay=0.01)
    checks: list[tuple[int, float]] = []
    for step in common.progress(range(1, cfg.band_max_steps + 1), desc="pretraining"):
        lm.train()
        pretrain_step(lm, tokenizer, optimizer, cfg, rng)
        if step % cfg.band_check_every == 0:
            lm.eval()
            checks.append(
                (step, sample_and_check(lm, tokenizer, check_problems, cfg)[1].mean().item())
            )
            if cfg.band_low <= checks[-1][1] <= cfg.band_high:
                break
    lm.eval()
    return checks


# --8<-- [end:pretrain]


# --8<-- [start:pass-at-k]
def pass_at_k_curve(
    lm: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, problems: np.ndarray, cfg: Any
) -> dict[int, float]:
    """pass@k for k = 1, 2, 4, ... up to ``eval_samples`` (D3's unbiased estimator)."""
    n = cfg.eval_samples
    chunk = max(1, 1024 // n)
    correct = np.zeros(len(problems), dtype=int)
    for start in range(0, len(problems), chunk):
        rows = problems[start : start + chunk]
        _, rewards = sample_and_check(lm, tokenizer, np.repeat(rows, n, axis=0), cfg)
        correct[start : start + len(rows)] = rewards.view(len(rows), n).sum(1).numpy()
    ks = [2**i for i in range(int(math.log2(n)) + 1)]
    return {k: float(np.mean([rlvr.pass_at_k(n, int(c), k) for c in correct])) for k in ks}


# --8<-- [end:pass-at-k]
