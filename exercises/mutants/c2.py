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


def _surrogate(
    new,
    old,
    adv,
    clip_coef=0.2,
    mask=None,
    *,
    sign=-1.0,
    combine=torch.minimum,
    log_ratio=False,
    eps=None,
    clip_advantage=False,
    frac_won=False,
    divide_all=False,
):
    """clipped_surrogate_loss with the mistakes switched on by keyword flags."""
    eps = clip_coef if eps is None else eps
    ratio = new - old if log_ratio else torch.exp(new - old)
    unclipped = ratio * adv
    if clip_advantage:
        clipped = ratio * torch.clamp(adv, -eps, eps)
    else:
        clipped = torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * adv
    objective = combine(unclipped, clipped)
    if frac_won:
        was_clipped = (clipped < unclipped).float()
    else:
        was_clipped = ((ratio - 1.0).abs() > eps).float()
    if mask is None:
        return sign * objective.mean(), was_clipped.mean()
    denom = torch.tensor(float(mask.numel())) if divide_all else mask.sum().clamp_min(1.0)
    return sign * (objective * mask).sum() / denom, (was_clipped * mask).sum() / denom


def _second(a, b):
    return b


def _first(a, b):
    return a


@MUTANTS.add("clipped_surrogate_loss", "forget the minus sign (PPO maximises the objective)")
def _ppo_sign(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, sign=1.0)


@MUTANTS.add("clipped_surrogate_loss", "take the max instead of the pessimistic min")
def _ppo_max(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(
        new_logprobs, old_logprobs, advantages, clip_coef, mask, combine=torch.maximum
    )


@MUTANTS.add("clipped_surrogate_loss", "use only the clipped term")
def _ppo_clipped_only(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, combine=_second)


@MUTANTS.add("clipped_surrogate_loss", "use only the unclipped term (no clipping at all)")
def _ppo_unclipped_only(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, combine=_first)


@MUTANTS.add("clipped_surrogate_loss", "count only the samples where the clipped term won the min")
def _ppo_frac_won(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, frac_won=True)


@MUTANTS.add(
    "clipped_surrogate_loss", "mask the terms but divide by every sample, padding included"
)
def _ppo_divide_all(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, divide_all=True)


@MUTANTS.add("clipped_surrogate_loss", "use the log-ratio new - old as the ratio (no exp)")
def _ppo_log_ratio(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, log_ratio=True)


@MUTANTS.add("clipped_surrogate_loss", "ignore clip_coef (always clip at 0.2)")
def _ppo_fixed_eps(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, eps=0.2)


@MUTANTS.add("clipped_surrogate_loss", "clip the advantage instead of the ratio")
def _ppo_clip_adv(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    return _surrogate(new_logprobs, old_logprobs, advantages, clip_coef, mask, clip_advantage=True)


def _value(
    new,
    old,
    returns,
    clip_coef=0.2,
    mask=None,
    *,
    combine=torch.maximum,
    half=0.5,
    around=None,
    eps=None,
    divide_all=False,
):
    """clipped_value_loss with the mistakes switched on by keyword flags."""
    eps = clip_coef if eps is None else eps
    centre = old if around is None else around
    clipped_values = centre + torch.clamp(new - centre, -eps, eps)
    loss = half * combine((new - returns) ** 2, (clipped_values - returns) ** 2)
    if mask is None:
        return loss.mean()
    denom = torch.tensor(float(mask.numel())) if divide_all else mask.sum().clamp_min(1.0)
    return (loss * mask).sum() / denom


@MUTANTS.add("clipped_value_loss", "take the min of the two squared errors instead of the max")
def _v_min(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, combine=torch.minimum)


@MUTANTS.add("clipped_value_loss", "forget the factor 0.5")
def _v_no_half(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, half=1.0)


@MUTANTS.add("clipped_value_loss", "mask the terms but divide by every sample, padding included")
def _v_divide_all(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, divide_all=True)


@MUTANTS.add("clipped_value_loss", NO_CLIP)
def _v_around_returns(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, around=returns)


@MUTANTS.add("clipped_value_loss", "drop the max and use only the clipped error")
def _v_clipped_only(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, combine=_second)


@MUTANTS.add("clipped_value_loss", NO_CLIP)
def _v_unclipped_only(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, combine=_first)


@MUTANTS.add("clipped_value_loss", "ignore clip_coef (always clip at 0.2)")
def _v_fixed_eps(new_values, old_values, returns, clip_coef=0.2, mask=None):
    return _value(new_values, old_values, returns, clip_coef, mask, eps=0.2)
