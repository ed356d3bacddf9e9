"""Lesson D2, the pipeline: pretraining, preference data, the reward model, and evaluation.

Every stage of InstructGPT is one function here: ``pretrain`` (stage 1),
``build_reward_model`` (stage 2: pairs, split, Bradley-Terry training, normalisation) and
``train_ppo`` from the PPO module (stage 3); ``run_pipeline`` chains them and ``evaluate``
asks the hidden rater what each model's text is worth.
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedTokenizerFast

from snippets import common
from snippets.d1_reward_modeling_concepts import RewardModel, bradley_terry_loss, pairwise_accuracy
from snippets.d2_rlhf_llm_with_pytorch.config import Config
from snippets.d2_rlhf_llm_with_pytorch.policy import (
    Rollout,
    generate,
    lm_forward,
    load_policy_and_tokenizer,
    text_quality,
)
from snippets.d2_rlhf_llm_with_pytorch.ppo import exact_kl_per_token, train_ppo
from snippets.d2_rlhf_llm_with_pytorch.world import sample_prompts, sample_review

# --8<-- [end:imports]


# --8<-- [start:pretrain]
def next_token_step(
    lm: nn.Module,
    optimizer: torch.optim.Optimizer,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> float:
    """One gradient step on the mean cross-entropy of each token given the ones before it.

    ``labels`` is ``input_ids`` with -100 wherever no loss is wanted (padding, a prompt).

    Returns:
        The loss before the step.
    """
    logits, _ = lm_forward(lm, input_ids, attention_mask)
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def pretrain(
    lm: nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    config: Config,
    rng: np.random.Generator,
) -> list[float]:
    """Next-token training on freshly sampled reviews: the pretraining + SFT stand-in.

    Each review ends with EOS so the model learns to stop. Padding positions get no loss.

    Returns:
        The loss of every step.
    """
    device = next(lm.parameters()).device
    optimizer = torch.optim.AdamW(lm.parameters(), lr=config.pretrain_lr, weight_decay=0.01)
    warmup = max(1, config.pretrain_steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(1.0, s / config.pretrain_steps)))
        ),
    )
    lm.train()
    losses = []
    for _ in common.progress(range(config.pretrain_steps), desc="pretraining"):
        texts = [
            " ".join(sample_review(rng)) + f" {tokenizer.eos_token}"
            for _ in range(config.pretrain_batch)
        ]
        batch = tokenizer(texts, padding=True, return_tensors="pt").to(device)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        ids, attn = batch["input_ids"], batch["attention_mask"]
        losses.append(next_token_step(lm, optimizer, ids, attn, labels))
        schedule.step()
    lm.eval()
    return losses


# --8<-- [end:pretrain]


# --8<-- [start:preference-data]
@dataclass
class PreferenceData:
    """Pairs of token sequences (prompt + completion, no padding) and the rater's choice."""

    chosen: list[list[int]] = field(default_factory=list)
    rejected: list[list[int]] = field(default_factory=list)
    gold_margin: list[float] = field(default_factory=list)  # gold(chosen) - gold(rejected)


def left_pad(
    sequences: list[list[int]], pad_id: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token lists into (ids, attention_mask), padding on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, width - len(s) :] = 1
    return ids.to(device), mask.to(device)


def split_preferences(
    data: PreferenceData, fraction: float
) -> tuple[PreferenceData, PreferenceData]:
    """Hold out the first ``fraction`` of the pairs: ``(rest, held_out)``.

    The pairs come in random order already, so the first ones are a random sample.
    """
    n_held_out = int(len(data.chosen) * fraction)

    def part(rows: slice) -> PreferenceData:
        return PreferenceData(data.chosen[rows], data.rejected[rows], data.gold_margin[rows])

    return part(slice(n_held_out, None)), part(slice(None, n_held_out))


@torch.no_grad()
def preference_loss(reward_model: RewardModel, data: PreferenceData, pad_id: int) -> float:
    """Mean Bradley-Terry loss of the model on some labelled pairs (no gradients)."""
    device = next(reward_model.parameters()).device
    r_chosen = reward_model(*left_pad(data.chosen, pad_id, device))
    r_rejected = reward_model(*left_pad(data.rejected, pad_id, device))
    return bradley_terry_loss(r_chosen, r_rejected).item()


# --8<-- [end:preference-data]


# --8<-- [start:preferences]
def collect_preferences(
    lm: nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    config: Config,
    rng: np.random.Generator,
    n_prompts: int,
) -> PreferenceData:
    """Two sampled completions per prompt, labelled by the noisy gold rater.

    The rater prefers A with probability sigmoid((gold(A) - gold(B)) / T): a
    Bradley-Terry labeller (lesson D1) with ``T = config.label_temperature``, so close
    calls are often labelled the "wrong" way and ties are coin flips.
    """
    data = PreferenceData()
    for start in common.progress(range(0, n_prompts, 64), desc="preference pairs"):
        prompts = sample_prompts(rng, min(64, n_prompts - start))
        a = generate(lm, tokenizer, prompts, config)
        b = generate(lm, tokenizer, prompts, config)
        gold_a, gold_b = text_quality(tokenizer, a)["gold"], text_quality(tokenizer, b)["gold"]
        p_a = 1.0 / (1.0 + np.exp(-(gold_a - gold_b) / config.label_temperature))
        a_wins = rng.random(len(prompts)) < p_a
        for i in range(len(prompts)):
            seq_a = a.input_ids[i][a.attention_mask[i] == 1].tolist()
            seq_b = b.input_ids[i][b.attention_mask[i] == 1].tolist()
            (win, lose, margin) = (seq_a, seq_b, 1) if a_wins[i] else (seq_b, seq_a, -1)
            data.chosen.append(win)
            data.rejected.append(lose)
            data.gold_margin.append(margin * float(gold_a[i] - gold_b[i]))
    return data


# --8<-- [end:preferences]


# --8<-- [start:reward-model]
def train_reward_model(
    reward_model: RewardModel,
    train: PreferenceData,
    valid: PreferenceData,
    pad_id: int,
    config: Config,
) -> dict[str, Any]:
    """Fit the reward model to the preference pairs with the Bradley-Terry loss.

    Chosen and rejected sequences go through the model in one batch, so both see the
    same parameters at every step. Several times per epoch the loss on the validation
    pairs is measured and the weights with the lowest one are kept: early stopping on
    the same noisy kind of label, so no gold score is used to choose.

    Returns:
        The loss of every step, the steps and losses of the validation checks, and the
        step of the kept weights (0: the starting weights).
    """
    device = next(reward_model.parameters()).device
    optimizer = torch.optim.AdamW(reward_model.parameters(), lr=config.rm_lr, weight_decay=0.01)
    batches = [
        b.tolist()
        for _ in range(config.rm_epochs)
        for b in torch.randperm(len(train.chosen)).split(config.rm_batch)
    ]
    # a step size decaying linearly to 0: the last checkpoints are not the noisiest
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / len(batches))
    check_every = max(1, len(batches) // (config.rm_epochs * config.rm_checks_per_epoch))
    log: dict[str, Any] = {"losses": [], "valid_steps": [], "valid_losses": [], "best_step": 0}
    best = (preference_loss(reward_model, valid, pad_id), copy.deepcopy(reward_model.state_dict()))
    for step, idx in enumerate(common.progress(batches, desc="reward model"), start=1):
        reward_model.train()
        pairs = [train.chosen[i] for i in idx] + [train.rejected[i] for i in idx]
        rewards = reward_model(*left_pad(pairs, pad_id, device))
        loss = bradley_terry_loss(rewards[: len(idx)], rewards[len(idx) :])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        log["losses"].append(loss.item())
        if step % check_every == 0 or step == len(batches):
            reward_model.eval()
            log["valid_steps"].append(step)
            log["valid_losses"].append(preference_loss(reward_model, valid, pad_id))
            if log["valid_losses"][-1] < best[0]:
                best = (log["valid_losses"][-1], copy.deepcopy(reward_model.state_dict()))
                log["best_step"] = step
    reward_model.load_state_dict(best[1])
    reward_model.eval()
    return log


# --8<-- [end:reward-model]


# --8<-- [start:rm-eval]
@torch.no_grad()
def gold_agreement(reward_model: RewardModel, data: PreferenceData, pad_id: int) -> float:
    """Held-out pairwise accuracy against the noiseless gold preference (ties skipped).

    For each pair we ask: does the reward model rank the two completions the way the
    hidden rater's true scores do? That is the accuracy a perfect reward model reaches
    even though its training labels were noisy.
    """
    device = next(reward_model.parameters()).device
    keep = [i for i, m in enumerate(data.gold_margin) if m != 0]
    better = [data.chosen[i] if data.gold_margin[i] > 0 else data.rejected[i] for i in keep]
    worse = [data.rejected[i] if data.gold_margin[i] > 0 else data.chosen[i] for i in keep]
    r_better = reward_model(*left_pad(better, pad_id, device))
    r_worse = reward_model(*left_pad(worse, pad_id, device))
    return pairwise_accuracy(r_better, r_worse)


@torch.no_grad()
def normalize_reward_model(reward_model: RewardModel, rollout: Rollout) -> None:
    """Fold a shift and scale into the head so SFT samples score mean 0, std 1.

    Bradley-Terry fixes only differences of rewards, so the offset is arbitrary; the
    normalisation (Ziegler et al. 2019) makes the score scale, and so beta, meaningful.
    """
    scores = reward_model(rollout.input_ids, rollout.attention_mask)
    mean, std = scores.mean(), scores.std().clamp_min(1e-6)
    reward_model.head.weight /= std
    reward_model.head.bias.sub_(mean).div_(std)


# --8<-- [end:rm-eval]


# --8<-- [start:stage-2]
def build_reward_model(
    lm: nn.Module, tokenizer: PreTrainedTokenizerFast, config: Config, rng: np.random.Generator
) -> tuple[RewardModel, dict[str, Any]]:
    """Stage 2: preference pairs from the SFT model, and a reward model trained on them.

    The pairs are split three ways: a test set that only ``gold_agreement`` sees, a
    validation set that picks the checkpoint, and the training set. The reward model
    starts from a copy of the SFT model's body, as in InstructGPT.

    Returns:
        ``(reward_model, stats)``: the frozen, normalised reward model, and its training
        losses, held-out accuracy, label agreement and share of ties.
    """
    data = collect_preferences(lm, tokenizer, config, rng, config.preference_prompts)
    rest, test = split_preferences(data, config.test_fraction)
    train, valid = split_preferences(rest, config.valid_fraction)
    device = next(lm.parameters()).device
    reward_model = RewardModel(copy.deepcopy(lm.base_model), lm.config.hidden_size).to(device)
    log = train_reward_model(reward_model, train, valid, tokenizer.pad_token_id, config)
    stats: dict[str, Any] = {
        "rm_losses": log["losses"],
        "rm_valid_steps": log["valid_steps"],
        "rm_valid_losses": log["valid_losses"],
        "rm_best_step": log["best_step"],
        "rm_accuracy": gold_agreement(reward_model, test, tokenizer.pad_token_id),
        "label_agreement": float(np.mean([m > 0 for m in rest.gold_margin if m != 0])),
        "tie_fraction": float(np.mean([m == 0 for m in data.gold_margin])),
        "test_pairs": sum(m != 0 for m in test.gold_margin),
        "train_pairs": train,  # D3's DPO learns from the same pairs
    }
    normalize_reward_model(reward_model, generate(lm, tokenizer, sample_prompts(rng, 512), config))
    return reward_model.requires_grad_(False), stats


# --8<-- [end:stage-2]


# --8<-- [start:evaluate]
@torch.no_grad()
def evaluate(
    lm: nn.Module,
    ref_lm: nn.Module,
    reward_model: RewardModel,
    tokenizer: PreTrainedTokenizerFast,
    prompts: list[str],
    config: Config,
) -> dict[str, Any]:
    """Sample once per prompt; report gold and reward-model scores and the KL to the reference."""
    rollout = generate(lm, tokenizer, prompts, config)
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logits, _ = lm_forward(lm, ids, attn)
    ref_logits, _ = lm_forward(ref_lm, ids, attn)
    kl = exact_kl_per_token(logits[:, p - 1 : -1], ref_logits[:, p - 1 : -1], config.temperature)
    quality = text_quality(tokenizer, rollout)
    return {
        "gold_mean": float(quality["gold"].mean()),
        "gold_std": float(quality["gold"].std()),
        "rm_score": reward_model(ids, attn).mean().item(),
        "kl": (kl * rollout.response_mask).sum(dim=1).mean().item(),
        "grammatical": quality["grammatical"],
        "samples": [
            f"{prompt} | {' '.join(w[len(prompt.split()) :])}"
            for prompt, w in zip(prompts, quality["words"], strict=True)
        ],
    }


# --8<-- [end:evaluate]


# --8<-- [start:pipeline]
def run_pipeline(
    config: Config, seed: int = 0, model: str = "tiny", device: Any = "cpu"
) -> dict[str, Any]:
    """The three InstructGPT stages end to end, plus (``config.kl_off_run``) the KL-off run.

    Returns:
        Metrics, PPO logs per run (``logs``), evaluations (``evals``), stage losses and
        seconds, and the SFT model, tokenizer and reward model for further use.
    """
    rng = common.seed_everything(seed)
    out: dict[str, Any] = {"config": asdict(config), "seed": seed, "model": model}
    lm, tokenizer = load_policy_and_tokenizer(model, config, device)
    with common.Stopwatch() as clock:
        out["pretrain_losses"] = pretrain(lm, tokenizer, config, rng)
    out["seconds_pretrain"] = clock.seconds
    with common.Stopwatch() as clock:
        reward_model, stats = build_reward_model(lm, tokenizer, config, rng)
    out |= stats | {"seconds_reward_model": clock.seconds}
    eval_prompts = sample_prompts(np.random.default_rng(seed + 10_000), config.eval_prompts)
    common.seed_everything(seed + 20_000)  # the same sampling noise for every evaluation
    out["evals"] = {"sft": evaluate(lm, lm, reward_model, tokenizer, eval_prompts, config)}
    out["logs"] = {}
    runs = {"kl": config} | (
        {"no_kl": replace(config, init_kl_coef=0.0)} if config.kl_off_run else {}
    )
    for name, run_config in runs.items():
        with common.Stopwatch() as clock:
            policy, out["logs"][name] = train_ppo(
                lm, reward_model, tokenizer, run_config, seed, desc=f"PPO ({name})"
            )
        out[f"seconds_ppo_{name}"] = clock.seconds
        common.seed_everything(seed + 20_000)
        out["evals"][name] = evaluate(policy.lm, lm, reward_model, tokenizer, eval_prompts, config)
    out["tokenizer"], out["sft_lm"], out["reward_model"] = tokenizer, lm, reward_model
    return out


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers the targets are about, from a ``run_pipeline`` result."""
    sft = result["evals"]["sft"]
    metrics: dict[str, Any] = {
        "rm_accuracy": result["rm_accuracy"],
        "label_agreement": result["label_agreement"],
        "sft_grammatical": sft["grammatical"],
        "gold_before": sft["gold_mean"],
        "gold_std_before": sft["gold_std"],
    }
    for name in ("kl", "no_kl"):
        if name in result["evals"]:
            ev = result["evals"][name]
            metrics[f"gold_after_{name}"] = ev["gold_mean"]
            metrics[f"gold_gain_std_{name}"] = (ev["gold_mean"] - sft["gold_mean"]) / max(
                sft["gold_std"], 1e-8
            )
            metrics[f"rm_score_after_{name}"] = ev["rm_score"]
            metrics[f"kl_after_{name}"] = ev["kl"]
            metrics[f"grammatical_after_{name}"] = ev["grammatical"]
    return metrics


# --8<-- [end:pipeline]
