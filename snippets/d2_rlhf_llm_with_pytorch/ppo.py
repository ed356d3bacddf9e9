"""Lesson D2, PPO for a language model: per-token rewards, GAE over tokens, clipped updates.

Each completion is an episode whose actions are tokens. The reward is a KL penalty to a
frozen reference on every token plus the reward model's score on the last one; advantages
come from GAE over the tokens, and the policy and its value head minimise the clipped
losses of lesson C2, imported rather than copied.
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from snippets import common
from snippets.c2_proximal_policy_optimization_ppo import clipped_surrogate_loss, clipped_value_loss
from snippets.d1_reward_modeling_concepts import RewardModel
from snippets.d2_rlhf_llm_with_pytorch.config import Config
from snippets.d2_rlhf_llm_with_pytorch.policy import (
    PolicyWithValueHead,
    Rollout,
    generate,
    lm_forward,
    response_logprobs,
    text_quality,
)
from snippets.d2_rlhf_llm_with_pytorch.world import sample_prompts

# --8<-- [end:imports]


# --8<-- [start:masked]
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask`` is 1."""
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``x`` to mean 0, standard deviation 1 over the masked positions."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


# --8<-- [end:masked]


# --8<-- [start:kl]
# --8<-- [start:kl-per-token]
def kl_per_token(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k1"
) -> torch.Tensor:
    """Per-token estimates of KL(pi || pi_ref) from the sampled tokens' log-probs.

    ``k1 = log pi - log pi_ref`` is unbiased but single samples can be negative;
    ``k3 = (r - 1) - log r`` with ``r = pi_ref / pi`` is also unbiased and never negative
    (Schulman, "Approximating KL divergence", 2020). The penalty in the reward uses k1,
    as InstructGPT and TRL do.
    """
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kind must be 'k1' or 'k3', got {kind!r}")


# --8<-- [end:kl-per-token]
def exact_kl_per_token(
    logits: torch.Tensor, ref_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(pi(.|s_t) || pi_ref(.|s_t)) summed over the whole vocabulary, at every position.

    With a small vocabulary this is cheap, exact for each prefix and never negative;
    we log its sum over the completion as "KL" (it has far less noise than k1).
    """
    logp = torch.log_softmax(logits / temperature, dim=-1)
    ref_logp = torch.log_softmax(ref_logits / temperature, dim=-1)
    return (logp.exp() * (logp - ref_logp)).sum(dim=-1)


# --8<-- [end:kl]


# --8<-- [start:kl-controller]
class AdaptiveKLController:
    """Ziegler et al. (2019): nudge beta so the measured KL tracks a target.

    beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon), where n is the
    number of completions since the last update.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int) -> None:
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, kl: float, n_steps: int) -> None:
        """Move beta after a batch whose mean completion KL was ``kl``."""
        error = float(np.clip(kl / self.target - 1.0, -0.2, 0.2))
        self.value *= 1.0 + error * n_steps / self.horizon


# --8<-- [end:kl-controller]


# --8<-- [start:rewards]
def compute_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> torch.Tensor:
    """Per-token rewards, shape (B, R): -beta * k1 on every token, the score on the last.

    Args:
        scores: reward-model score of each completion, shape (B,).
        logprobs: policy log-probs of the completion tokens, shape (B, R).
        ref_logprobs: the frozen reference's log-probs of the same tokens.
        mask: 1 on real completion tokens, 0 on padding (where the reward stays 0).
        kl_coef: beta.
    """
    rewards = -kl_coef * kl_per_token(logprobs, ref_logprobs, "k1") * mask
    last = mask.sum(dim=1).long() - 1  # completions start at column 0 and are contiguous
    rows = torch.arange(len(scores), device=scores.device)
    rewards[rows, last] += scores
    return rewards


# --8<-- [end:rewards]


# --8<-- [start:gae]
def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the completion tokens.

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = delta_t + gamma lambda A_{t+1}.
    The value after the last real token is 0: the episode (the completion) has ended.

    Returns:
        ``(advantages, returns)`` with returns = advantages + values (the value targets).
    """
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, advantages + values


# --8<-- [end:gae]


# --8<-- [start:score-rollout]
@torch.no_grad()
def score_rollout(
    policy: PolicyWithValueHead,
    ref_lm: nn.Module,
    reward_model: RewardModel,
    rollout: Rollout,
    temperature: float,
) -> dict[str, torch.Tensor]:
    """Everything PPO needs from a rollout, computed once, without gradients.

    Returns:
        ``logprobs`` and ``ref_logprobs`` of the completion tokens, ``values`` V(s_t) of the
        prefix before each token, ``scores`` from the reward model, and for the logs the
        exact per-completion ``kl`` and per-token ``entropy``.
    """
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logits, values = policy(ids, attn)
    ref_logits, _ = lm_forward(ref_lm, ids, attn)
    step_logits, step_ref_logits = logits[:, p - 1 : -1], ref_logits[:, p - 1 : -1]
    logp = torch.log_softmax(step_logits / temperature, dim=-1)
    kl = exact_kl_per_token(step_logits, step_ref_logits, temperature) * rollout.response_mask
    return {
        "logprobs": response_logprobs(logits, ids, p, temperature),
        "ref_logprobs": response_logprobs(ref_logits, ids, p, temperature),
        "values": values[:, p - 1 : -1],
        "scores": reward_model(ids, attn),
        "kl": kl.sum(dim=1),
        "entropy": -(logp.exp() * logp).sum(dim=-1),
    }


# --8<-- [end:score-rollout]


# --8<-- [start:ppo-update]
def ppo_update(
    policy: PolicyWithValueHead,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    old: dict[str, torch.Tensor],
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: Config,
) -> dict[str, float]:
    """Several epochs of minibatch steps on the clipped losses of lesson C2.

    Returns:
        Mean clip fraction and value loss over all minibatch steps.
    """
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    mask = rollout.response_mask.float()
    clip_fractions, value_losses = [], []
    for _ in range(config.ppo_epochs):
        for mb in torch.randperm(len(ids)).split(config.minibatch):
            logits, values = policy(ids[mb], attn[mb])
            logprobs = response_logprobs(logits, ids[mb], p, config.temperature)
            pg_loss, clip_fraction = clipped_surrogate_loss(
                logprobs, old["logprobs"][mb], advantages[mb], config.clip_coef, mask[mb]
            )
            vf_loss = clipped_value_loss(
                values[:, p - 1 : -1], old["values"][mb], returns[mb], config.value_clip, mask[mb]
            )
            loss = pg_loss + config.vf_coef * vf_loss
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            clip_fractions.append(clip_fraction.item())
            value_losses.append(vf_loss.item())
    return {
        "clip_fraction": float(np.mean(clip_fractions)),
        "value_loss": float(np.mean(value_losses)),
    }


# --8<-- [end:ppo-update]


# --8<-- [start:ppo-step]
def ppo_step(
    policy: PolicyWithValueHead,
    ref_lm: nn.Module,
    reward_model: RewardModel,
    tokenizer: PreTrainedTokenizerFast,
    prompts: list[str],
    optimizer: torch.optim.Optimizer,
    kl_ctl: AdaptiveKLController,
    config: Config,
) -> dict[str, float]:
    """One PPO iteration: sample, score, turn scores into advantages, update, adapt beta.

    Returns:
        The iteration's statistics (reward-model score, gold score, KL, entropy, ...).
    """
    rollout = generate(policy.lm, tokenizer, prompts, config)
    old = score_rollout(policy, ref_lm, reward_model, rollout, config.temperature)
    mask = rollout.response_mask.float()
    rewards = compute_rewards(
        old["scores"], old["logprobs"], old["ref_logprobs"], mask, kl_ctl.value
    )
    advantages, returns = compute_gae(rewards, old["values"], mask, config.gamma, config.lam)
    advantages = masked_whiten(advantages, mask)
    update = ppo_update(policy, optimizer, rollout, old, advantages, returns, config)
    # the controller sees the k1 estimate summed over each completion, as in TRL
    kl_k1 = (kl_per_token(old["logprobs"], old["ref_logprobs"]) * mask).sum(dim=1).mean().item()
    kl_coef = kl_ctl.value
    kl_ctl.update(kl_k1, n_steps=len(prompts))
    quality = text_quality(tokenizer, rollout)
    return {
        "rm_score": old["scores"].mean().item(),
        "gold_score": float(quality["gold"].mean()),
        "kl": old["kl"].mean().item(),
        "kl_k1": kl_k1,
        "entropy": masked_mean(old["entropy"], mask).item(),
        "kl_coef": kl_coef,
        "length": mask.sum(dim=1).mean().item(),
        "grammatical": quality["grammatical"],
        **update,
    }


# --8<-- [end:ppo-step]


# --8<-- [start:ppo-train]
def train_ppo(
    sft_lm: nn.Module,
    reward_model: RewardModel,
    tokenizer: PreTrainedTokenizerFast,
    config: Config,
    seed: int,
    desc: str = "PPO",
) -> tuple[PolicyWithValueHead, dict[str, list[float]]]:
    """Fine-tune a copy of the SFT model with PPO; a frozen copy is the reference.

    Returns:
        ``(policy, logs)``: the trained policy and, per statistic, one value per iteration.
    """
    rng = common.seed_everything(seed)
    ref_lm = copy.deepcopy(sft_lm).eval().requires_grad_(False)
    policy = PolicyWithValueHead(copy.deepcopy(sft_lm)).to(next(sft_lm.parameters()).device)
    policy.eval()  # dropout is off anyway; eval() makes the intent explicit
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    kl_ctl = AdaptiveKLController(config.init_kl_coef, config.kl_target, config.kl_horizon)
    logs: dict[str, list[float]] = {}
    for _ in common.progress(range(config.ppo_iterations), desc=desc):
        prompts = sample_prompts(rng, config.rollout_batch)
        stats = ppo_step(
            policy, ref_lm, reward_model, tokenizer, prompts, optimizer, kl_ctl, config
        )
        for key, value in stats.items():
            logs.setdefault(key, []).append(value)
    return policy, logs


# --8<-- [end:ppo-train]
