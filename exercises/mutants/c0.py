"""Mutants of lesson C0: wrong returns, baselines and REINFORCE losses."""

from __future__ import annotations

import numpy as np
import torch

from exercises.mutants import Mutants

MUTANTS = Mutants()


@MUTANTS.add(
    "discounted_returns",
    "leave out the reward of step t itself (an off-by-one between r_t and R_{t+1})",
)
def _g_shifted(rewards, gamma):
    rewards = np.asarray(rewards, dtype=np.float64)
    out, running = np.zeros_like(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        out[t] = gamma * running
        running = rewards[t] + gamma * running
    return out


@MUTANTS.add("discounted_returns", "sum the past rewards instead of the future ones")
def _g_past(rewards, gamma):
    rewards = np.asarray(rewards, dtype=np.float64)
    out, running = np.zeros_like(rewards), 0.0
    for t in range(len(rewards)):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


@MUTANTS.add("discounted_returns", "store the returns in reverse order")
def _g_reversed(rewards, gamma):
    rewards = np.asarray(rewards, dtype=np.float64)
    out, running = [], 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out.append(running)
    return np.array(out, dtype=np.float64)


@MUTANTS.add("discounted_returns", "forget the discount (gamma = 1)")
def _g_no_gamma(rewards, gamma):
    return np.cumsum(np.asarray(rewards, dtype=np.float64)[::-1])[::-1].copy()


@MUTANTS.add("discounted_returns", "discount the reward of step t too: G_t = gamma (r_t + G_{t+1})")
def _g_discount_all(rewards, gamma):
    rewards = np.asarray(rewards, dtype=np.float64)
    out, running = np.zeros_like(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = gamma * (rewards[t] + running)
        out[t] = running
    return out


def _adv(
    returns,
    mask,
    baseline,
    normalize,
    *,
    include_self=False,
    padded_count=False,
    zero_padding=True,
    centre=False,
    std_over_padding=False,
    variance=False,
    time_mean=False,
):
    """advantages_from_returns with the mistakes switched on by keyword flags."""
    adv = returns * mask
    if baseline:
        running = mask.sum(axis=0, keepdims=True)
        total = (returns * mask).sum(axis=0, keepdims=True)
        if time_mean:  # one baseline for every t: the others' mean over all their steps
            others_sum = (returns * mask).sum(axis=1, keepdims=True)
            others_n = mask.sum(axis=1, keepdims=True)
            base = (others_sum.sum() - others_sum) / np.maximum(others_n.sum() - others_n, 1)
            adv = returns - base
        elif include_self:
            adv = returns - total / np.maximum(running, 1)
        else:
            n_others = (len(returns) - 1 if padded_count else running - mask) + 0 * mask
            others = np.where(n_others > 0, (total - returns * mask) / np.maximum(n_others, 1), 0.0)
            adv = returns - others
        if zero_padding:
            adv = adv * mask
    if normalize:
        n = mask.size if std_over_padding else mask.sum()
        weights = np.ones_like(mask) if std_over_padding else mask
        mean = (adv * weights).sum() / n
        var = (((adv - mean) * weights) ** 2).sum() / n
        if centre:
            adv = (adv - mean) * mask
        adv = adv / ((var if variance else np.sqrt(var)) + 1e-8)
    return adv


@MUTANTS.add(
    "advantages_from_returns", "include the episode itself in the mean (not leave-one-out)"
)
def _adv_include_self(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, include_self=True)


@MUTANTS.add(
    "advantages_from_returns",
    "average over episodes that already ended (their padding counts as 0)",
)
def _adv_padded_count(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, padded_count=True)


@MUTANTS.add("advantages_from_returns", "subtract the mean when normalising")
def _adv_centre(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, centre=True)


@MUTANTS.add("advantages_from_returns", "take the standard deviation over the padding too")
def _adv_std_padding(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, std_over_padding=True)


@MUTANTS.add("advantages_from_returns", "forget to zero the padding after subtracting the baseline")
def _adv_padding_left(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, zero_padding=False)


@MUTANTS.add("advantages_from_returns", "divide by the variance instead of the standard deviation")
def _adv_variance(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, variance=True)


@MUTANTS.add(
    "advantages_from_returns",
    "use one baseline for every t: the other episodes' mean over all their steps",
)
def _adv_time_mean(returns, mask, baseline=True, normalize=True):
    return _adv(returns, mask, baseline, normalize, time_mean=True)


def _reinforce(
    logits,
    actions,
    advantages,
    mask,
    entropy_coef=0.0,
    *,
    sign=1.0,
    mean=True,
    mask_terms=True,
    divide_all=False,
    ent_sign=1.0,
    ent_mask=True,
    detach=True,
    probs=False,
):
    """reinforce_loss with the mistakes switched on by keyword flags."""
    log_probs = torch.log_softmax(logits, dim=-1)
    scores = log_probs.exp() if probs else log_probs
    taken = scores.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    weights = advantages.detach() if detach else advantages
    m = mask if mask_terms else torch.ones_like(mask)
    n = (float(mask.numel()) if divide_all else mask.sum()) if mean else 1.0
    pg = -sign * (taken * weights * m).sum() / n
    ent = (entropy * (mask if ent_mask else torch.ones_like(mask))).sum()
    ent = ent / (mask.sum() if ent_mask else float(mask.numel())) if mean else ent
    return pg - ent_sign * entropy_coef * ent


@MUTANTS.add("reinforce_loss", "forget the minus sign (the loss is minimised)")
def _rl_sign(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, sign=-1.0)


@MUTANTS.add("reinforce_loss", "sum over steps instead of taking the mean")
def _rl_sum(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, mean=False)


@MUTANTS.add("reinforce_loss", "leave the padded step in")
def _rl_no_mask(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(
        logits,
        actions,
        advantages,
        mask,
        entropy_coef,
        mask_terms=False,
        divide_all=True,
        ent_mask=False,
    )


@MUTANTS.add("reinforce_loss", "mask the terms but divide by every step, padding included")
def _rl_divide_all(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, divide_all=True)


@MUTANTS.add("reinforce_loss", "add the entropy instead of subtracting it")
def _rl_ent_sign(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, ent_sign=-1.0)


@MUTANTS.add("reinforce_loss", "average the entropy over the padding too")
def _rl_ent_padding(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, ent_mask=False)


@MUTANTS.add("reinforce_loss", "forget to detach the advantages")
def _rl_no_detach(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, detach=False)


@MUTANTS.add("reinforce_loss", "weight the probabilities pi(a|s) instead of their logarithms")
def _rl_probs(logits, actions, advantages, mask, entropy_coef=0.0):
    return _reinforce(logits, actions, advantages, mask, entropy_coef, probs=True)
