"""Exercises for lesson C2: proximal policy optimisation.

Write PPO's clipped surrogate loss and its clipped value loss.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check c2

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import torch


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
    # TODO: ratio, clipped ratio, the pessimistic min; return (loss, clip fraction).
    raise NotImplementedError("clipped_surrogate_loss")


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
    # TODO: clip the new value around the old one and take the larger squared error.
    raise NotImplementedError("clipped_value_loss")
