"""Mutants of lesson D3: wrong GRPO and RLOO advantages and wrong DPO losses."""

from __future__ import annotations

import torch.nn.functional as F

from exercises.mutants import Mutants

MUTANTS = Mutants()
STD_EPS = 1e-4


def _grpo(rewards, group_size, scale="group", *, wrong=""):
    """group_advantages with the mistake ``wrong`` names.

    Mistakes:
        population: use the population std (unbiased=False)
        batch_mean: take the mean over the whole batch instead of per group
        strided: group the rewards strided, view(G, -1), instead of contiguous
        always_scale: ignore scale='none' (always divide by the std)
        no_eps: forget the 1e-4, so a group of equal rewards gives NaN
        batch_std: divide by the std of the whole batch instead of the group's
    """
    strided = wrong == "strided"
    grouped = rewards.view(group_size, -1).T if strided else rewards.view(-1, group_size)
    mean = rewards.mean() if wrong == "batch_mean" else grouped.mean(dim=1, keepdim=True)
    centred = grouped - mean
    if scale == "group" or wrong == "always_scale":
        if wrong == "batch_std":
            std = rewards.std()
        else:
            std = grouped.std(dim=1, keepdim=True, unbiased=wrong != "population")
        centred = centred / (std + (0.0 if wrong == "no_eps" else STD_EPS))
    return (centred.T if strided else centred).reshape(-1)


MUTANTS.flags("group_advantages", _grpo)


@MUTANTS.add(
    "rloo_advantages", "include the reward itself in its baseline (that is GRPO without scaling)"
)
def _rloo_self(rewards, group_size):
    grouped = rewards.view(-1, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).reshape(-1)


def _rloo(rewards, group_size, *, wrong=""):
    """rloo_advantages with the mistake ``wrong`` names.

    Mistakes:
        divide_g: divide the others' sum by G instead of G - 1
        batch: leave one out of the whole batch instead of the group
        strided: group the rewards strided, view(G, -1), instead of contiguous
        sign: subtract the other way round (baseline minus reward)
    """
    strided = wrong == "strided"
    grouped = rewards.view(group_size, -1).T if strided else rewards.view(-1, group_size)
    if wrong == "batch":
        others = (rewards.sum() - grouped) / (rewards.numel() - 1)
    else:
        divisor = group_size if wrong == "divide_g" else group_size - 1
        others = (grouped.sum(dim=1, keepdim=True) - grouped) / divisor
    out = (-1.0 if wrong == "sign" else 1.0) * (grouped - others)
    return (out.T if strided else out).reshape(-1)


MUTANTS.flags("rloo_advantages", _rloo)


def _dpo(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1, *, wrong=""):
    """dpo_loss with the mistake ``wrong`` names.

    Mistakes:
        no_ref: leave out the reference log-probabilities
        no_beta: forget beta
        swap: swap chosen and rejected
        no_detach: return the implicit rewards with their gradient (not detached)
        ref_sign: subtract the other way round, log pi_ref - log pi
        fixed_beta: ignore beta (always 0.1)
        sum: sum over pairs instead of taking the mean
    """
    b = {"fixed_beta": 0.1, "no_beta": 1.0}.get(wrong, beta)
    if wrong == "no_ref":
        ref_chosen_logps, ref_rejected_logps = 0.0 * chosen_logps, 0.0 * rejected_logps
    sign = -1.0 if wrong == "ref_sign" else 1.0
    chosen_rewards = b * sign * (chosen_logps - ref_chosen_logps)
    rejected_rewards = b * sign * (rejected_logps - ref_rejected_logps)
    if wrong == "swap":
        margin = rejected_rewards - chosen_rewards
    else:
        margin = chosen_rewards - rejected_rewards
    losses = -F.logsigmoid(margin)
    loss = losses.sum() if wrong == "sum" else losses.mean()
    if wrong == "no_detach":
        return loss, chosen_rewards, rejected_rewards
    return loss, chosen_rewards.detach(), rejected_rewards.detach()


MUTANTS.flags("dpo_loss", _dpo)
