"""Lesson D3, the methods: GRPO, RLOO and DPO trained in D2's world, scored by its gold rater.

D2 builds the world: a tiny GPT-2 pretrained on synthetic reviews (the SFT model), noisy
preference pairs from a hidden gold rater, and a reward model trained on them. Here each
method starts from that SFT model; the gold rater, which no method sees, says what it bought,
and the exact KL to the SFT model says what it cost.
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from torch import nn

from snippets import common, curves
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import losses

# --8<-- [end:imports]


# --8<-- [start:config]
Method = Literal["ppo", "grpo", "rloo", "dpo", "best-of-n"]


@dataclass(frozen=True)
class Config:
    """Settings of the four methods. The world's own settings are D2's ``Config``."""

    iterations: common.PosInt = 60  # sampling rounds for GRPO and RLOO, as D2's PPO
    prompts_per_step: common.PosInt = 16  # prompts per round ...
    group_size: Annotated[int, common.Range(2)] = (
        4  # ... times G samples each: 64 completions, as D2's PPO
    )
    epochs: common.PosInt = 2  # passes over each round's samples (TRL: num_iterations)
    minibatch: common.PosInt = 32  # completions per gradient step
    lr: common.PosFloat = 2e-4  # Adam learning rate
    epsilon: common.Prob = 0.2  # clip range of the ratio
    beta: common.NonNegFloat = 0.2  # weight of the k3 KL in the loss (TRL's default is 0)
    kl_ratio_correction: bool = True  # k3 times π_θ/π_old, as TRL's use_bias_correction_kl
    aggregation: Literal["grpo", "dapo", "dr_grpo"] = "dapo"  # how token losses are averaged
    dpo_beta: common.PosFloat = 1.0  # DPO's β (TRL's default is 0.1; see the page)
    dpo_epochs: common.PosInt = 2  # passes over the preference pairs
    dpo_lr: common.PosFloat = 1e-4  # Adam learning rate for DPO
    dpo_batch: common.PosInt = 32  # pairs per DPO step
    eval_every: common.PosInt = 10  # rounds (or DPO steps x 10) between frontier points
    methods: tuple[Method, ...] = ("ppo", "grpo", "rloo", "dpo", "best-of-n")  # which to run
    threads: common.PosInt = 1  # torch CPU threads: one is fastest for the tiny model


BEST_OF = (1, 2, 4, 8, 16, 32)  # n for the best-of-n reference frontier


# --8<-- [end:config]


# --8<-- [start:world]
@dataclass
class World:
    """D2's world after its stages 1 and 2, shared by every method."""

    tokenizer: Any
    sft_lm: nn.Module  # the starting policy and the frozen reference
    reward_model: nn.Module  # trained on the pairs below; normalised to mean 0, std 1
    pairs: d2.PreferenceData  # the reward model's training pairs (DPO trains on them too)
    config: d2.Config
    eval_prompts: list[str]
    before: dict[str, Any]  # the SFT model's evaluation: gold mean and std


def build_world(config: d2.Config, seed: int) -> World:
    """Run D2's stages 1 and 2 exactly as D2 does, with the same seed."""
    rng = common.seed_everything(seed)
    lm, tokenizer = d2.load_policy_and_tokenizer("tiny", config)
    d2.pretrain(lm, tokenizer, config, rng)
    reward_model, stats = d2.build_reward_model(lm, tokenizer, config, rng)
    return world_from(lm, tokenizer, reward_model, stats["train_pairs"], config, seed)


def world_from(
    lm: nn.Module,
    tokenizer: Any,
    reward_model: nn.Module,
    pairs: d2.PreferenceData,
    config: d2.Config,
    seed: int,
) -> World:
    """Held-out prompts and the SFT model's scores on them, around trained models.

    The SFT model's scores are the baseline every method's gain is measured from.
    """
    prompts = d2.sample_prompts(
        np.random.default_rng(seed + curves.EVAL_SEED_OFFSET), config.eval_prompts
    )
    before = d2.evaluate(lm, lm, reward_model, tokenizer, prompts, config)
    return World(tokenizer, lm, reward_model, pairs, config, prompts, before)


def score(world: World, lm: nn.Module, seed: int) -> dict[str, float]:
    """Gold gain in units of the SFT model's gold std, and the exact KL to it (nats)."""
    common.seed_everything(seed + curves.TEST_SEED_OFFSET)  # same sampling noise for every method
    ev = d2.evaluate(
        lm, world.sft_lm, world.reward_model, world.tokenizer, world.eval_prompts, world.config
    )
    gain = (ev["gold_mean"] - world.before["gold_mean"]) / max(world.before["gold_std"], 1e-8)
    return {
        "gold_gain_std": gain,
        "kl": ev["kl"],
        "rm_score": ev["rm_score"],
        "grammatical": ev["grammatical"],
    }


# --8<-- [end:world]


# --8<-- [start:group-round]
def group_round(
    lm: nn.Module,
    world: World,
    optimizer: torch.optim.Optimizer,
    prompts: list[str],
    cfg: Config,
    baseline: Literal["grpo", "rloo"],
) -> dict[str, float]:
    """One round of GRPO or RLOO: G samples per prompt, a group baseline, clipped updates.

    No value network: the other samples of the same prompt are the baseline. GRPO puts the
    KL to the reference in the loss (k3, weight β); RLOO subtracts β times the completion's
    summed log-ratio from its reward, as TRL's ``RLOOTrainer`` does.
    """
    repeated = [p for p in prompts for _ in range(cfg.group_size)]
    rollout = d2.generate(lm, world.tokenizer, repeated, world.config)
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    mask, temperature = rollout.response_mask.float(), world.config.temperature
    with torch.no_grad():
        rewards = world.reward_model(ids, attn)
        old = d2.response_logprobs(d2.lm_forward(lm, ids, attn)[0], ids, p, temperature)
        ref = d2.response_logprobs(d2.lm_forward(world.sft_lm, ids, attn)[0], ids, p, temperature)
    if baseline == "grpo":  # KL in the loss (below), rewards normalised per group
        advantages, beta = losses.group_advantages(rewards, cfg.group_size), cfg.beta
    else:  # RLOO as in its paper and TRL: the sequence's KL comes off the reward first
        penalized = losses.kl_penalized_rewards(rewards, old, ref, mask, cfg.beta)
        advantages, beta = losses.rloo_advantages(penalized, cfg.group_size), 0.0
    # minibatches of whole groups keep each group's advantages together
    groups = torch.arange(len(repeated)).view(-1, cfg.group_size)
    per_step = max(1, cfg.minibatch // cfg.group_size)
    for _ in range(cfg.epochs):
        for chosen in groups[torch.randperm(len(groups))].split(per_step):
            mb = chosen.reshape(-1)
            logprobs = d2.response_logprobs(
                d2.lm_forward(lm, ids[mb], attn[mb])[0], ids[mb], p, temperature
            )
            loss, _ = losses.grpo_loss(
                logprobs,
                old[mb],
                advantages[mb],
                mask[mb],
                ref_logprobs=ref[mb],
                beta=beta,
                epsilon=cfg.epsilon,
                how=cfg.aggregation,
                max_len=world.config.max_new_tokens,
                kl_ratio_correction=cfg.kl_ratio_correction,
            )
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(lm.parameters(), world.config.max_grad_norm)
            optimizer.step()
    return {
        "reward": rewards.mean().item(),
        "length": mask.sum(1).mean().item(),
        "tokens": mask.sum().item(),
    }


# --8<-- [end:group-round]


# --8<-- [start:train-group]
def train_group(
    world: World, cfg: Config, seed: int, baseline: Literal["grpo", "rloo"]
) -> tuple[nn.Module, list[dict[str, float]]]:
    """GRPO or RLOO from the SFT model; a frontier point every ``eval_every`` rounds.

    Returns:
        ``(policy, points)``: each point holds the round, gold gain, KL and mean length.
    """
    rng = common.seed_everything(seed)
    lm = copy.deepcopy(world.sft_lm)
    optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr, eps=1e-5)
    points, tokens = [], 0.0
    for it in common.progress(range(1, cfg.iterations + 1), desc=baseline.upper()):
        stats = group_round(
            lm, world, optimizer, d2.sample_prompts(rng, cfg.prompts_per_step), cfg, baseline
        )
        tokens += stats["tokens"]
        if it % cfg.eval_every == 0 or it == cfg.iterations:
            points.append(
                {"step": it, "length": stats["length"], "tokens": tokens, **score(world, lm, seed)}
            )
    return lm, points


# --8<-- [end:train-group]


# --8<-- [start:dpo]
def sequence_logps(lm: nn.Module, sequences: list[list[int]], pad_id: int) -> torch.Tensor:
    """Summed log-probability of each sequence (every token after the first).

    The prompt's tokens are the same in a chosen and a rejected response, so their
    log-probabilities cancel in DPO's margin: summing over the whole sequence is exact.
    """
    ids, attn = d2.left_pad(sequences, pad_id, next(lm.parameters()).device)
    logits, _ = d2.lm_forward(lm, ids, attn)
    logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (logps * attn[:, 1:]).sum(dim=1)


def train_dpo(world: World, cfg: Config, seed: int) -> tuple[nn.Module, list[dict[str, float]]]:
    """DPO on the reward model's own preference pairs: no sampling, no reward model.

    Returns:
        ``(policy, points)`` with a frontier point every ``10 * eval_every`` steps and at the end.
    """
    common.seed_everything(seed)
    lm = copy.deepcopy(world.sft_lm)
    optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.dpo_lr)
    pad, pairs, n = world.tokenizer.pad_token_id, world.pairs, len(world.pairs.chosen)
    batches = [
        b.tolist() for _ in range(cfg.dpo_epochs) for b in torch.randperm(n).split(cfg.dpo_batch)
    ]
    points = []
    for step, idx in enumerate(common.progress(batches, desc="DPO"), start=1):
        both = [pairs.chosen[i] for i in idx] + [pairs.rejected[i] for i in idx]
        policy = sequence_logps(lm, both, pad)
        with torch.no_grad():
            ref = sequence_logps(world.sft_lm, both, pad)
        k = len(idx)
        loss, _, _ = losses.dpo_loss(policy[:k], policy[k:], ref[:k], ref[k:], beta=cfg.dpo_beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % (10 * cfg.eval_every) == 0 or step == len(batches):
            points.append({"step": step, **score(world, lm, seed)})
    return lm, points


# --8<-- [end:dpo]


# --8<-- [start:ppo-and-best-of-n]
def train_ppo(world: World, seed: int) -> tuple[nn.Module, list[dict[str, float]]]:
    """D2's PPO, unchanged: value head, per-token KL in the reward, adaptive β."""
    policy, logs = d2.train_ppo(
        world.sft_lm, world.reward_model, world.tokenizer, world.config, seed
    )
    tokens = sum(logs["length"]) * world.config.rollout_batch
    return policy.lm, [
        {"step": world.config.ppo_iterations, "tokens": tokens, **score(world, policy.lm, seed)}
    ]


@torch.no_grad()
def best_of_n(world: World, n: int, seed: int) -> dict[str, float]:
    """Sample n completions per prompt from the SFT model and keep the reward model's favourite.

    ``kl`` is the bound on its KL to the SFT model, ``log n - (n - 1) / n`` nats (Beirami et
    al., 2024), reached only when no two completions tie; ``best_of_n_kl`` measures the KL.
    """
    common.seed_everything(seed + curves.TEST_SEED_OFFSET)
    repeated = [p for p in world.eval_prompts for _ in range(n)]
    rollout = d2.generate(world.sft_lm, world.tokenizer, repeated, world.config)
    scores = world.reward_model(rollout.input_ids, rollout.attention_mask).view(-1, n)
    gold = torch.tensor(d2.text_quality(world.tokenizer, rollout)["gold"]).view(-1, n)
    picked = gold.gather(1, scores.argmax(1, keepdim=True)).mean().item()
    gain = (picked - world.before["gold_mean"]) / max(world.before["gold_std"], 1e-8)
    return {"n": n, "gold_gain_std": gain, "kl": math.log(n) - (n - 1) / n}


# --8<-- [end:ppo-and-best-of-n]


# --8<-- [start:best-of-n-kl]
BON_KL_PROMPTS = 16  # held-out prompts in the sampled estimate of best-of-n's KL
BON_KL_POOL = 1024  # SFT completions sampled per prompt for it


def best_of_n_log_ratios(ranks: np.ndarray, logps: np.ndarray, n: int) -> np.ndarray:
    """log(pi_n(y*) / pi(y*)) for the winner y* of each group of n in a pool of samples.

    Args:
        ranks: each sample's place in the reward order (equal for identical completions).
        logps: each sample's exact log-probability under the base policy, log pi(y).
        n: samples per group.

    With F(y) the base probability of a completion ranked at or below y, best-of-n picks y
    with probability pi_n(y) = F(y)^n - (F(y) - pi(y))^n. pi(y*) is exact; F(y*) - pi(y*),
    the share ranked below y*, is counted among the samples outside y*'s own group.
    """
    groups = len(ranks) // n
    rank, logp = ranks[: groups * n].reshape(groups, n), logps[: groups * n].reshape(groups, n)
    win = rank.argmax(axis=1)
    top, log_pi = rank[np.arange(groups), win], logp[np.arange(groups), win]
    below_all = np.searchsorted(np.sort(ranks), top, side="left")
    below = (below_all - (rank < top[:, None]).sum(axis=1)) / (len(ranks) - n)
    pi = np.exp(log_pi)
    f = np.minimum(1.0, below + pi)  # F(y*), at most 1
    # log(F^n - (F - pi)^n) = n log F + log(1 - (1 - pi / F)^n), computed without cancellation
    with np.errstate(divide="ignore"):  # pi = F: log1p(-1) = -inf gives (1 - 1)^n = 0, as it should
        return n * np.log(f) + np.log(-np.expm1(n * np.log1p(-pi / f))) - log_pi


@torch.no_grad()
def ranked_pool(world: World, prompt: str, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``size`` SFT completions of one prompt: each one's reward rank and exact log-probability.

    Identical completions are one completion: they share one reward and one rank, so they
    tie. Distinct completions are ranked by reward, then in a fixed order.

    Returns:
        ``(ranks, logps, distinct_share)``, one entry per sample, and the share of distinct ones.
    """
    rollout = d2.generate(world.sft_lm, world.tokenizer, [prompt] * size, world.config)
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logits = d2.lm_forward(world.sft_lm, ids, attn)[0]
    token_logps = d2.response_logprobs(logits, ids, p, world.config.temperature)
    logps = (token_logps * rollout.response_mask).sum(dim=1)
    unique, which = torch.unique(ids[:, p:] * rollout.response_mask, dim=0, return_inverse=True)
    rewards = world.reward_model(ids, attn)
    reward = torch.full((len(unique),), -math.inf).scatter_reduce(0, which, rewards, "amax")
    rank = np.empty(len(unique), dtype=np.int64)
    rank[np.lexsort((np.arange(len(unique)), reward.numpy()))] = np.arange(len(unique))
    return rank[which.numpy()], logps.numpy(), len(unique) / size


def best_of_n_kl(world: World, ns: tuple[int, ...], seed: int) -> dict[int, dict[str, float]]:
    """KL(best-of-n || SFT) for each n, estimated by sampling, with a 95 % interval over prompts.

    For each prompt, ``BON_KL_POOL`` completions are split into groups of n and
    ``best_of_n_log_ratios`` is averaged over the groups' winners. The mean over prompts is
    the estimate; the interval is ±1.96 standard errors of that mean.
    """
    common.seed_everything(seed + curves.TEST_SEED_OFFSET)
    per_prompt: dict[int, list[float]] = {n: [] for n in ns}
    distinct = []
    for prompt in world.eval_prompts[:BON_KL_PROMPTS]:
        ranks, logps, share = ranked_pool(world, prompt, BON_KL_POOL)
        distinct.append(share)
        for n in ns:
            per_prompt[n].append(float(best_of_n_log_ratios(ranks, logps, n).mean()))
    out = {}
    for n, values in per_prompt.items():
        mean, sem = float(np.mean(values)), float(np.std(values, ddof=1)) / len(values) ** 0.5
        out[n] = {
            "kl_sampled": mean,
            "kl_low": mean - 1.96 * sem,
            "kl_high": mean + 1.96 * sem,
            "distinct_share": float(np.mean(distinct)),
        }
    return out


def best_of_n_frontier(world: World, seed: int) -> list[dict[str, float]]:
    """Best-of-n for every n in ``BEST_OF``: gold gain, the KL bound, and the sampled KL."""
    sampled = best_of_n_kl(world, tuple(n for n in BEST_OF if n > 1), seed)
    zero = {"kl_sampled": 0.0, "kl_low": 0.0, "kl_high": 0.0}  # n = 1 is the SFT model itself
    return [best_of_n(world, n, seed) | sampled.get(n, zero) for n in BEST_OF]


# --8<-- [end:best-of-n-kl]


# --8<-- [start:run-method]
METHODS = ("ppo", "grpo", "rloo", "dpo")
# What each method keeps in memory besides the policy it trains.
NEEDS = {
    "ppo": {"value_head": True, "reward_model": True, "reference": True, "sampling": True},
    "grpo": {"value_head": False, "reward_model": True, "reference": True, "sampling": True},
    "rloo": {"value_head": False, "reward_model": True, "reference": True, "sampling": True},
    "dpo": {"value_head": False, "reward_model": False, "reference": True, "sampling": False},
}


def model_state_mb(world: World, method: str) -> float:
    """Megabytes of model state a method holds while it trains.

    The policy with its gradient and two Adam moments (4 copies), plus a frozen reference,
    the reward model and a value head where the method needs them.
    """
    policy = sum(p.numel() for p in world.sft_lm.parameters())
    needs = NEEDS[method]
    floats = 4 * policy + needs["reference"] * policy
    floats += needs["reward_model"] * sum(p.numel() for p in world.reward_model.parameters())
    floats += needs["value_head"] * 4 * (world.sft_lm.config.hidden_size + 1)
    return 4 * floats / 2**20  # float32


def run_method(world: World, method: str, cfg: Config, seed: int) -> dict[str, Any]:
    """Train one method from the SFT model; return its frontier points and its costs."""
    with common.Stopwatch() as clock:
        if method == "ppo":
            points = train_ppo(world, seed)[1]
        elif method in ("grpo", "rloo"):
            points = train_group(world, cfg, seed, method)[1]
        elif method == "dpo":
            points = train_dpo(world, cfg, seed)[1]
        else:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return {
        "points": points,
        "final": points[-1],
        "seconds": clock.seconds,
        "tokens_generated": points[-1].get("tokens", 0.0),
        "model_state_mb": model_state_mb(world, method),
        **NEEDS[method],
    }


# --8<-- [end:run-method]
