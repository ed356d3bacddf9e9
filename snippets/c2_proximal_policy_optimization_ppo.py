"""Lesson C2: the PPO losses (clipped surrogate and clipped value loss), shared with D2.

These few lines are the heart of PPO. Chapter D's RLHF trainer imports them from here,
so the course writes them exactly once.
"""

# --8<-- [start:imports]
from __future__ import annotations

import torch

# --8<-- [end:imports]


# --8<-- [start:clipped-surrogate]
def clipped_surrogate_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate objective, as a loss to minimise.

    With ratio r = exp(new - old), the objective per sample is
    min(r A, clip(r, 1 - eps, 1 + eps) A); the loss is its negative mean.

    Args:
        new_logprobs: log pi_theta(a|s) under the policy being optimised (requires grad).
        old_logprobs: log pi_old(a|s) recorded when the data was collected.
        advantages: advantage estimates, same shape.
        clip_coef: eps, how far the ratio may move from 1 before the gradient stops.
        mask: optional 0/1 tensor of the same shape (for padded tokens in D2).

    Returns:
        ``(loss, clip_fraction)``: the scalar loss and the share of samples whose ratio
        was clipped (a health metric: near 0 means tiny steps, above ~0.3 too large).
    """
    ratio = torch.exp(new_logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    objective = torch.minimum(unclipped, clipped)
    was_clipped = ((ratio - 1.0).abs() > clip_coef).float()
    if mask is None:
        return -objective.mean(), was_clipped.mean()
    denom = mask.sum().clamp_min(1.0)
    return -(objective * mask).sum() / denom, (was_clipped * mask).sum() / denom


# --8<-- [end:clipped-surrogate]


# --8<-- [start:clipped-value]
def clipped_value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's clipped value loss: 0.5 * max((V - R)^2, (V_clip - R)^2).

    The new value prediction may move at most ``clip_coef`` away from the prediction made
    at collection time, mirroring the policy clip.

    Args:
        new_values: V_theta(s) from the network being optimised.
        old_values: V(s) recorded at collection time.
        returns: regression targets (advantages + old values).
        clip_coef: largest allowed move of the value prediction.
        mask: optional 0/1 tensor of the same shape.

    Returns:
        The scalar loss.
    """
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    loss = 0.5 * torch.maximum((new_values - returns) ** 2, (clipped_values - returns) ** 2)
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


# --8<-- [end:clipped-value]
