"""Lesson D3, the losses: GRPO, RLOO and DPO as short PyTorch functions.

Every function works on per-token log-probabilities of completions, shaped
``(completions, tokens)`` with a 0/1 ``mask`` for padding, and on one scalar reward per
completion. Completions come in groups: ``G`` samples for the same prompt sit next to each
other, so ``rewards.view(-1, G)`` has one row per prompt.
"""

# --8<-- [start:imports]
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from snippets import c2_proximal_policy_optimization_ppo as c2

# --8<-- [end:imports]

Aggregation = Literal["grpo", "dapo", "dr_grpo"]
STD_EPS = 1e-4  # TRL's: keeps a group whose rewards are all equal at advantage 0


# --8<-- [start:group-advantages]
def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: Literal["group", "none"] = "group"
) -> torch.Tensor:
    """GRPO's advantage: each reward minus its group's mean, over the group's std.

    The group of ``G`` completions of one prompt is its own baseline, so no value network is
    needed. ``scale="none"`` drops the division (Dr. GRPO's choice: dividing by a small std
    inflates the weight of prompts that are nearly always right or always wrong).

    Args:
        rewards: One reward per completion, shape ``(prompts * G,)``, groups contiguous.
        group_size: ``G``, completions per prompt (at least 2).
        scale: ``"group"`` (divide by the group's std, TRL's default) or ``"none"``.

    Returns:
        One advantage per completion, same shape as ``rewards``; every token of
        completion ``i`` shares it.
    """
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + STD_EPS)  # Bessel-corrected
    return centred.reshape(-1)


# --8<-- [end:group-advantages]


# --8<-- [start:rloo-advantages]
def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO's advantage: each reward minus the mean of the *other* G - 1 rewards.

    Leaving sample ``i`` out of its own baseline keeps the gradient estimate unbiased, as
    C0's baseline must not depend on the action it scores. Algebraically it is the group's
    centred reward scaled by ``G / (G - 1)``.

    Args:
        rewards: One reward per completion, shape ``(prompts * G,)``, groups contiguous.
        group_size: ``G``, completions per prompt (at least 2).

    Returns:
        One advantage per completion, same shape as ``rewards``.
    """
    grouped = rewards.view(-1, group_size)
    others_mean = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
    return (grouped - others_mean).reshape(-1)


# --8<-- [end:rloo-advantages]


# --8<-- [start:rloo-kl-penalty]
def kl_penalized_rewards(
    rewards: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """RLOO's KL penalty: each reward minus β times its completion's summed log-ratio.

    RLOO, as in its paper and in TRL's ``RLOOTrainer``, takes the KL to the reference off the
    reward *before* the leave-one-out baseline, one number per completion; GRPO instead adds
    k3 to the loss, per token. ``Σ_t (log π − log π_ref)`` is k1 summed over the completion:
    in expectation, the sequence's KL(π‖π_ref).

    Args:
        rewards: One reward per completion, shape ``(completions,)``.
        logprobs: log π of each sampled token under the policy that sampled it,
            ``(completions, tokens)``, without grad.
        ref_logprobs: log π_ref of the same tokens.
        mask: 1 for completion tokens, 0 for padding.
        beta: the weight of the penalty.

    Returns:
        The penalised rewards, same shape as ``rewards``: feed them to :func:`rloo_advantages`.
    """
    return rewards - beta * ((logprobs - ref_logprobs) * mask).sum(dim=1)


# --8<-- [end:rloo-kl-penalty]


# --8<-- [start:k3-kl]
def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's "k3" per-token KL estimate, ``exp(q - p) - (q - p) - 1``.

    ``p`` and ``q`` are the policy's and the reference's log-probabilities of the sampled
    token. Its *value* is unbiased for the next-token KL(π‖π_ref) under samples from π, and
    never negative, unlike the plain log-ratio ``p - q`` that D2 puts in the reward. Its
    *gradient*, used as a loss, is in expectation that of the forward KL(π_ref‖π): see
    ``exact.py`` and the ratio correction in :func:`grpo_loss`.
    """
    log_ratio = ref_logprobs - logprobs
    return torch.exp(log_ratio) - log_ratio - 1.0


# --8<-- [end:k3-kl]


# --8<-- [start:aggregate]
def token_weights(
    mask: torch.Tensor, how: Aggregation, max_len: int | None = None
) -> tuple[torch.Tensor, float | torch.Tensor]:
    """The weight of every token and the denominator for each way to average a token loss.

    - ``"grpo"``: average over each completion's tokens, then over completions:
      ``1/G Σ_i 1/|o_i| Σ_t``. A long completion's tokens each count less.
    - ``"dapo"``: one average over all tokens of the batch: ``1/Σ|o_i| Σ_{i,t}`` (TRL's default).
    - ``"dr_grpo"``: a constant denominator, ``1/(L G) Σ_{i,t}`` with ``L`` the length limit.

    Returns:
        ``(weights, denominator)``: the loss is ``Σ weights * token_loss / denominator``.
    """
    mask = mask.float()
    if how == "grpo":
        return mask / mask.sum(dim=1, keepdim=True).clamp_min(1.0), float(mask.shape[0])
    if how == "dapo":
        return mask, mask.sum().clamp_min(1.0)
    if how == "dr_grpo":
        return mask, float(mask.shape[0] * (max_len or mask.shape[1]))
    raise ValueError(f"aggregation must be 'grpo', 'dapo' or 'dr_grpo', got {how!r}")


# --8<-- [end:aggregate]


# --8<-- [start:grpo-loss]
def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logprobs: torch.Tensor | None = None,
    beta: float = 0.0,
    epsilon: float = 0.2,
    how: Aggregation = "dapo",
    max_len: int | None = None,
    kl_ratio_correction: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO (or RLOO) loss: C2's clipped ratio per token, plus β·KL, then aggregated.

    The policy term *is* C2's ``clipped_surrogate_loss``: that function returns the weighted
    mean ``Σ w·(-objective) / Σ w``, so multiplying by ``Σ w / denominator`` gives any of the
    three aggregations. With ``beta > 0`` the k3 KL to the reference is added to each
    token's loss (in the loss, not in the reward as in D2). TRL's default is ``beta = 0``.
    With ``kl_ratio_correction`` (TRL's ``use_bias_correction_kl=True``, its default) k3 is
    multiplied by the unclipped ratio π_θ/π_old: equal to 1 in value on fresh samples, but
    it turns the expected gradient of each token's term from the forward next-token KL's
    into the reverse one's, KL(π_θ‖π_ref) at that prefix.

    Args:
        logprobs: log π_θ of each sampled token, ``(completions, tokens)``, with grad.
        old_logprobs: log π_old when the completions were sampled (no grad).
        advantages: one per completion, ``(completions,)``, which every token shares; or one
            per token, ``(completions, tokens)`` (D5's per-turn credit).
        mask: 1 for completion tokens, 0 for padding.
        ref_logprobs: log π_ref of each token; needed only when ``beta > 0``.
        beta: weight of the KL penalty.
        epsilon: the clip range of the ratio.
        how: ``"grpo"``, ``"dapo"`` or ``"dr_grpo"`` (see :func:`token_weights`).
        max_len: the completion length limit ``L`` for ``"dr_grpo"``.
        kl_ratio_correction: multiply k3 by π_θ/π_old (TRL's default) or use k3 alone.

    Returns:
        ``(loss, stats)`` with the clip fraction and the mean KL in ``stats``.
    """
    weights, denominator = token_weights(mask, how, max_len)
    per_token_adv = advantages if advantages.dim() == 2 else advantages[:, None].expand_as(logprobs)
    policy_mean, clip_fraction = c2.clipped_surrogate_loss(
        logprobs, old_logprobs, per_token_adv, clip_coef=epsilon, mask=weights
    )
    loss = policy_mean * weights.sum() / denominator
    kl = torch.zeros(())
    if beta > 0.0:
        if ref_logprobs is None:
            raise ValueError("beta > 0 needs ref_logprobs")
        per_token_kl = k3_kl(logprobs, ref_logprobs)
        if kl_ratio_correction:  # differentiable ratio: 1 in value, not in gradient
            per_token_kl = per_token_kl * torch.exp(logprobs - old_logprobs)
        loss = loss + beta * (per_token_kl * weights).sum() / denominator
        kl = (per_token_kl * mask).sum() / mask.sum().clamp_min(1.0)
    return loss, {"clip_fraction": clip_fraction.item(), "kl": kl.detach().item()}


# --8<-- [end:grpo-loss]


# --8<-- [start:dpo-loss]
def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO: the Bradley-Terry loss of D1 on the implicit reward ``β log π/π_ref``.

    Each argument is the summed log-probability of a whole response (chosen or rejected)
    under the policy or the frozen reference. No sampling and no reward model: the pairs
    and the reference are all it needs.

    Returns:
        ``(loss, chosen_rewards, rejected_rewards)``: the mean loss and the implicit
        rewards ``β (log π - log π_ref)`` of each response (detached).
    """
    chosen_rewards = beta * (chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (rejected_logps - ref_rejected_logps)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards.detach(), rejected_rewards.detach()


# --8<-- [end:dpo-loss]
