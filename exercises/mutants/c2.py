"""Mutants of lesson C2: wrong clipped surrogate and clipped value losses."""

from __future__ import annotations

import torch

from exercises.mutants import Mutants

MUTANTS = Mutants()
# Clipping around the returns never wins the max (|clamp(V - R)| <= |V - R|): it is no clip.
NO_CLIP = (
    "leave the clip without effect (no clipping at all, or a clip around the returns, "
    "whose error never wins the max)"
)


def _second(a, b):
    return b


def _first(a, b):
    return a


def _ppo(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None, *, wrong=""):
    """clipped_surrogate_loss with the mistake ``wrong`` names.

    Mistakes:
        sign: forget the minus sign (PPO maximises the objective)
        max: take the max instead of the pessimistic min
        clipped_only: use only the clipped term
        unclipped_only: use only the unclipped term (no clipping at all)
        frac_won: count only the samples where the clipped term won the min
        divide_all: mask the terms but divide by every sample, padding included
        log_ratio: use the log-ratio new - old as the ratio (no exp)
        fixed_eps: ignore clip_coef (always clip at 0.2)
        clip_adv: clip the advantage instead of the ratio
    """
    eps = 0.2 if wrong == "fixed_eps" else clip_coef
    log_r = new_logprobs - old_logprobs
    ratio = log_r if wrong == "log_ratio" else torch.exp(log_r)
    unclipped = ratio * advantages
    if wrong == "clip_adv":
        clipped = ratio * torch.clamp(advantages, -eps, eps)
    else:
        clipped = torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * advantages
    combine = {"max": torch.maximum, "clipped_only": _second, "unclipped_only": _first}
    objective = combine.get(wrong, torch.minimum)(unclipped, clipped)
    if wrong == "frac_won":
        was_clipped = (clipped < unclipped).float()
    else:
        was_clipped = ((ratio - 1.0).abs() > eps).float()
    sign = 1.0 if wrong == "sign" else -1.0
    if mask is None:
        return sign * objective.mean(), was_clipped.mean()
    if wrong == "divide_all":
        denom = torch.tensor(float(mask.numel()))
    else:
        denom = mask.sum().clamp_min(1.0)
    return sign * (objective * mask).sum() / denom, (was_clipped * mask).sum() / denom


MUTANTS.flags("clipped_surrogate_loss", _ppo)


def _v(new_values, old_values, returns, clip_coef=0.2, mask=None, *, wrong=""):
    """clipped_value_loss with the mistake ``wrong`` names.

    Mistakes:
        min: take the min of the two squared errors instead of the max
        no_half: forget the factor 0.5
        divide_all: mask the terms but divide by every sample, padding included
        clipped_only: drop the max and use only the clipped error
        fixed_eps: ignore clip_coef (always clip at 0.2)
    """
    eps = 0.2 if wrong == "fixed_eps" else clip_coef
    centre = returns if wrong == "around_returns" else old_values
    clipped_values = centre + torch.clamp(new_values - centre, -eps, eps)
    combine = {"min": torch.minimum, "clipped_only": _second, "unclipped_only": _first}
    errors = combine.get(wrong, torch.maximum)(
        (new_values - returns) ** 2, (clipped_values - returns) ** 2
    )
    loss = (1.0 if wrong == "no_half" else 0.5) * errors
    if mask is None:
        return loss.mean()
    if wrong == "divide_all":
        return (loss * mask).sum() / torch.tensor(float(mask.numel()))
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


MUTANTS.flags("clipped_value_loss", _v)
MUTANTS.flags("clipped_value_loss", _v, {"around_returns": NO_CLIP, "unclipped_only": NO_CLIP})
