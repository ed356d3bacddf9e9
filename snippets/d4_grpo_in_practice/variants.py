"""Lesson D4, the loss variants: GRPO, DAPO, Dr. GRPO, GSPO and CISPO beside D3's losses.

Every variant takes the same batch as D3's ``grpo_loss``: per-token log-probabilities of
completions shaped ``(completions, tokens)``, a 0/1 ``mask`` for padding, and one advantage
per completion, with the ``G`` completions of one prompt next to each other. They differ in
three places only: how the advantage is scaled, which importance ratio is clipped (and how),
and how the token losses are averaged. Each setting is checked against TRL 1.16's
``GRPOTrainer._compute_loss`` in the tests, value and gradient.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass

import torch

from snippets.d3_grpo_rloo_and_dpo import losses as d3

# --8<-- [end:imports]


# --8<-- [start:settings]
VARIANTS = ("grpo", "dapo", "dr_grpo", "gspo", "cispo")
AGGREGATION: dict[str, d3.Aggregation] = {  # how each variant averages its token losses
    "grpo": "grpo",
    "dapo": "dapo",
    "dr_grpo": "dr_grpo",
    "gspo": "grpo",
    "cispo": "dapo",
}


@dataclass(frozen=True)
class LossSettings:
    """One variant's knobs, named as in TRL's ``GRPOConfig`` where TRL has them."""

    variant: str = "grpo"  # one of VARIANTS
    epsilon: float = 0.2  # low clip ε_low (and ε_high unless epsilon_high is set)
    epsilon_high: float | None = None  # DAPO's clip-higher (0.28); CISPO's cap on the weight
    beta: float = 0.0  # weight of D3's ratio-corrected k3 KL to the reference
    max_len: int | None = None  # Dr. GRPO's constant L (max_completion_length); None: batch width

    def __post_init__(self) -> None:
        """Refuse an unknown variant, and CISPO without its cap (TRL's default caps at ε)."""
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.variant == "cispo" and self.epsilon_high is None:
            raise ValueError("cispo needs epsilon_high, the cap on its weight (e.g. 5.0)")

    @property
    def high(self) -> float:
        """ε_high: the upper clip for the clipped variants, the weight's cap for CISPO."""
        return self.epsilon if self.epsilon_high is None else self.epsilon_high


# --8<-- [end:settings]


# --8<-- [start:advantages]
def advantages(variant: str, rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Each variant's advantage: D3's group-centred reward, over the group's std but for Dr. GRPO.

    Args:
        variant: one of ``VARIANTS``.
        rewards: one reward per completion, ``(prompts * G,)``, groups contiguous.
        group_size: ``G``.

    Returns:
        One advantage per completion, shape ``(prompts * G,)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    scale = "none" if variant == "dr_grpo" else "group"  # TRL: scale_rewards="none" / "group"
    return d3.group_advantages(rewards, group_size, scale=scale)


# --8<-- [end:advantages]


# --8<-- [start:sequence-ratio]
def sequence_log_ratio(
    logps: torch.Tensor, old_logps: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """GSPO's log-ratio: the mean of a completion's token log-ratios, shape ``(completions, 1)``.

    Its exponential is the geometric mean of the token ratios, ``(π_θ(o_i)/π_old(o_i))^{1/|o_i|}``:
    the length-normalised likelihood ratio of the whole completion, one number per completion.
    """
    mask = mask.float()
    summed = ((logps - old_logps) * mask).sum(dim=1, keepdim=True)
    return summed / mask.sum(dim=1, keepdim=True).clamp_min(1.0)


# --8<-- [end:sequence-ratio]


# --8<-- [start:gspo-token]
def gspo_token_ratio(
    logps: torch.Tensor, old_logps: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """GSPO-token's ratio ``sg[s_i] · π_θ(o_t)/sg[π_θ(o_t)]``: the value of ``s_i`` on every token.

    The stop-gradient trick: the value is the sequence ratio, the gradient that of
    ``s_i log π_θ(o_t)``. Averaged over a completion's tokens with one shared advantage it is
    GSPO, value and gradient; it exists so that each token could carry its own advantage.
    """
    sequence = torch.exp(sequence_log_ratio(logps, old_logps, mask)).detach()
    return sequence * torch.exp(logps - logps.detach())


# --8<-- [end:gspo-token]


# --8<-- [start:token-losses]
def clipped_token_loss(
    ratio: torch.Tensor, adv: torch.Tensor, low: float, high: float
) -> torch.Tensor:
    """C2's clipped surrogate per token, with separate bounds: ``-min(r A, clip(r, 1-low, 1+high) A)``.

    C2's ``clipped_surrogate_loss`` averages and clips symmetrically; DAPO needs the two
    bounds apart, and the variants need the loss of each token before any average.
    """
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - low, 1.0 + high) * adv)


def cispo_token_loss(
    ratio: torch.Tensor, adv: torch.Tensor, logps: torch.Tensor, cap: float
) -> torch.Tensor:
    """CISPO per token: REINFORCE ``-w A log π_θ`` with the weight ``w = sg[min(r, cap)]``.

    The weight carries no gradient, so a clipped token still teaches: its gradient is scaled
    by the cap instead of dropped, as PPO's clip drops it.
    """
    return -torch.clamp(ratio, max=cap).detach() * adv * logps


# --8<-- [end:token-losses]


# --8<-- [start:clip-stats]
def clip_fractions(
    ratio: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, s: LossSettings
) -> dict[str, float]:
    """TRL's clip fractions: tokens whose ratio is clipped *where the clip binds*.

    Low: ``r < 1 - ε_low`` with ``A < 0``; high: ``r > 1 + ε_high`` with ``A > 0`` (for
    CISPO: ``r > cap`` with ``A > 0``, and no low clip). A token whose ratio is out of range
    but whose advantage has the other sign keeps its gradient, so it is not counted. With a
    sequence ratio (GSPO) the fractions count completions, not tokens, as TRL's do.
    """
    if s.variant == "cispo":
        low, high = torch.zeros_like(ratio, dtype=torch.bool), (ratio > s.high) & (adv > 0)
    else:
        low, high = (ratio < 1.0 - s.epsilon) & (adv < 0), (ratio > 1.0 + s.high) & (adv > 0)
    weights = mask.float() if ratio.shape == mask.shape else torch.ones_like(ratio)
    count = weights.sum().clamp_min(1.0)
    return {
        "clip_low_frac": ((low.float() * weights).sum() / count).item(),
        "clip_high_frac": ((high.float() * weights).sum() / count).item(),
    }


# --8<-- [end:clip-stats]


# --8<-- [start:variant-loss]
def variant_loss(
    s: LossSettings,
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logps: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of ``s.variant`` on a batch of completions, and its clip (and KL) statistics.

    Args:
        s: the variant and its clip ranges and KL weight.
        logps: log π_θ of each sampled token, ``(completions, tokens)``, with grad.
        old_logps: log π_old when the completions were sampled (no grad).
        advantages: one per completion, ``(completions,)``.
        mask: 1 for completion tokens, 0 for padding.
        ref_logps: log π_ref of each token; needed only when ``s.beta > 0``.
        weight: an optional importance weight per token ``(completions, tokens)`` or per
            completion ``(completions, 1)`` (D6's sampler correction), applied as TRL applies
            it: to the policy term after the clip, before the KL term and the average.

    Returns:
        ``(loss, stats)``: ``stats`` holds ``clip_low_frac``, ``clip_high_frac`` and, when
        ``s.beta > 0``, ``kl`` (the mean ratio-corrected k3 over tokens).
    """
    mask = mask.float()
    if s.variant == "gspo":  # one ratio per completion, shape (completions, 1)
        log_ratio = sequence_log_ratio(logps, old_logps, mask)
    else:  # one ratio per token
        log_ratio = logps - old_logps
    ratio, adv = torch.exp(log_ratio), advantages.unsqueeze(1)
    if s.variant == "cispo":
        per_token = cispo_token_loss(ratio, adv, logps, cap=s.high)
    else:
        per_token = clipped_token_loss(ratio, adv, low=s.epsilon, high=s.high)
    stats = clip_fractions(ratio, adv, mask, s)
    if weight is not None:  # TRL: per_token_loss * importance_sampling_ratio (use_vllm only)
        per_token = per_token * weight.detach()
    if s.beta > 0.0:
        if ref_logps is None:
            raise ValueError("beta > 0 needs ref_logps")
        kl = d3.k3_kl(logps, ref_logps) * ratio  # TRL's use_bias_correction_kl=True
        per_token = per_token + s.beta * kl
        stats["kl"] = ((kl * mask).sum() / mask.sum().clamp_min(1.0)).item()
    weights, denominator = d3.token_weights(mask, AGGREGATION[s.variant], s.max_len)
    loss = (per_token.expand_as(weights) * weights).sum() / denominator
    return loss, stats


# --8<-- [end:variant-loss]


# --8<-- [start:dynamic-sampling]
def dynamic_sampling_keep(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """DAPO's dynamic-sampling filter: which groups have rewards that are not all equal.

    A group whose ``G`` rewards agree has advantage 0 for every completion, so it adds nothing
    to the gradient but still counts in the denominator. DAPO drops such groups and samples
    more prompts until the batch is full of groups that teach.

    Args:
        rewards: one reward per completion, ``(prompts * G,)``, groups contiguous.
        group_size: ``G``.

    Returns:
        Boolean ``(prompts,)``: True where the group's rewards differ.
    """
    grouped = rewards.view(-1, group_size)
    return grouped.amax(dim=1) > grouped.amin(dim=1)


# --8<-- [end:dynamic-sampling]


# --8<-- [start:zero-loss]
def zero_loss_example(seed: int = 0) -> dict[str, tuple[float, float]]:
    """Why a GRPO loss of 0 is normal: its value and gradient norm in two tiny batches.

    A linear softmax policy over 5 tokens writes 2 groups of 4 completions of 4 tokens; one
    update on fresh samples (π_old = π_θ), β = 0. "on-policy": rewards (1,0,0,1), (0,0,0,1);
    "agreed": (1,1,1,1), (0,0,0,0). Returns ``{case: (loss, gradient norm)}``.
    """
    gen = torch.Generator().manual_seed(seed)
    policy = torch.nn.Linear(3, 5)
    with torch.no_grad():
        policy.weight.copy_(torch.randn(5, 3, generator=gen))
    states, actions = (
        torch.randn(8, 4, 3, generator=gen),
        torch.randint(0, 5, (8, 4), generator=gen),
    )
    mask = torch.ones(8, 4)
    out = {}
    for case, rewards in {
        "on-policy": [1, 0, 0, 1, 0, 0, 0, 1],
        "agreed": [1] * 4 + [0] * 4,
    }.items():
        logps = torch.log_softmax(policy(states), -1).gather(-1, actions[..., None]).squeeze(-1)
        adv = advantages("grpo", torch.tensor(rewards, dtype=torch.float32), group_size=4)
        loss, _ = variant_loss(LossSettings("grpo"), logps, logps.detach(), adv, mask)
        grads = torch.autograd.grad(loss, list(policy.parameters()))
        out[case] = (loss.item(), torch.cat([g.flatten() for g in grads]).norm().item())
    return out


# --8<-- [end:zero-loss]


# --8<-- [start:overlong]
def overlong_penalty(lengths: torch.Tensor, max_len: int, cache: int) -> torch.Tensor:
    """DAPO's soft overlong punishment (its Eq. 13, TRL's ``get_soft_overlong_punishment``).

    0 up to ``max_len - cache`` tokens, then falling linearly to -1 at ``max_len``, and -1
    beyond. Added to the task reward, it tells a long answer apart from a wrong one gently,
    instead of scoring every truncated answer as a failure.

    Args:
        lengths: completion lengths in tokens, any shape.
        max_len: ``L_max``, the completion length limit.
        cache: ``L_cache``, the width of the ramp (0: no ramp).

    Returns:
        The penalty, same shape as ``lengths``, in ``[-1, 0]``.
    """
    if cache <= 0:  # no ramp: only a completion past the limit is punished
        return -(lengths > max_len).float()
    return ((max_len - cache - lengths.float()) / cache).clamp(-1.0, 0.0)


def mask_truncated(mask: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """DAPO's overlong masking (TRL's ``mask_truncated_completions``): drop truncated completions.

    A completion cut off at the length limit has no final answer, so its reward says little;
    masking it removes it from the loss instead of punishing what may be a good start.
    """
    return mask * (~truncated.bool()).unsqueeze(1).to(mask.dtype)


# --8<-- [end:overlong]
