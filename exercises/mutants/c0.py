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


def _adv(returns, mask, baseline=True, normalize=True, *, wrong=""):
    """advantages_from_returns with the mistake ``wrong`` names.

    Mistakes:
        include_self: include the episode itself in the mean (not leave-one-out)
        padded_count: average over episodes that already ended (their padding counts as 0)
        centre: subtract the mean when normalising
        std_padding: take the standard deviation over the padding too
        padding_left: forget to zero the padding after subtracting the baseline
        variance: divide by the variance instead of the standard deviation
        time_mean: use one baseline for every t: the other episodes' mean over all their
            steps
    """
    adv = returns * mask
    if baseline:
        running = mask.sum(axis=0, keepdims=True)
        total = (returns * mask).sum(axis=0, keepdims=True)
        if wrong == "time_mean":  # one baseline for every t: the others' mean over their steps
            others_sum = (returns * mask).sum(axis=1, keepdims=True)
            others_n = mask.sum(axis=1, keepdims=True)
            base = (others_sum.sum() - others_sum) / np.maximum(others_n.sum() - others_n, 1)
            adv = returns - base
        elif wrong == "include_self":
            adv = returns - total / np.maximum(running, 1)
        else:
            n_others = (len(returns) - 1 if wrong == "padded_count" else running - mask) + 0 * mask
            others = np.where(n_others > 0, (total - returns * mask) / np.maximum(n_others, 1), 0.0)
            adv = returns - others
        if wrong != "padding_left":
            adv = adv * mask
    if normalize:
        everywhere = wrong == "std_padding"
        n = mask.size if everywhere else mask.sum()
        weights = np.ones_like(mask) if everywhere else mask
        mean = (adv * weights).sum() / n
        var = (((adv - mean) * weights) ** 2).sum() / n
        if wrong == "centre":
            adv = (adv - mean) * mask
        adv = adv / ((var if wrong == "variance" else np.sqrt(var)) + 1e-8)
    return adv


MUTANTS.flags("advantages_from_returns", _adv)


def _rl(logits, actions, advantages, mask, entropy_coef=0.0, *, wrong=""):
    """reinforce_loss with the mistake ``wrong`` names.

    Mistakes:
        sign: forget the minus sign (the loss is minimised)
        sum: sum over steps instead of taking the mean
        no_mask: leave the padded step in
        divide_all: mask the terms but divide by every step, padding included
        ent_sign: add the entropy instead of subtracting it
        ent_padding: average the entropy over the padding too
        no_detach: forget to detach the advantages
        probs: weight the probabilities pi(a|s) instead of their logarithms
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    scores = log_probs.exp() if wrong == "probs" else log_probs
    taken = scores.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    weights = advantages if wrong == "no_detach" else advantages.detach()
    everywhere = torch.ones_like(mask)  # the padding counted as a step
    m = everywhere if wrong == "no_mask" else mask
    mean = wrong != "sum"
    divide_all = wrong in ("no_mask", "divide_all")
    n = (float(mask.numel()) if divide_all else mask.sum()) if mean else 1.0
    pg = -(-1.0 if wrong == "sign" else 1.0) * (taken * weights * m).sum() / n
    ent_mask = wrong not in ("no_mask", "ent_padding")
    ent = (entropy * (mask if ent_mask else everywhere)).sum()
    ent = ent / (mask.sum() if ent_mask else float(mask.numel())) if mean else ent
    return pg - (-1.0 if wrong == "ent_sign" else 1.0) * entropy_coef * ent


MUTANTS.flags("reinforce_loss", _rl)
