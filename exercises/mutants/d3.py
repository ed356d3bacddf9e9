"""Mutants of lesson D3: wrong GRPO and RLOO advantages and wrong DPO losses."""

from __future__ import annotations

import torch.nn.functional as F

from exercises.mutants import Mutants

MUTANTS = Mutants()
STD_EPS = 1e-4


def _grpo(
    rewards,
    group_size,
    scale="group",
    *,
    unbiased=True,
    batch_mean=False,
    strided=False,
    always_scale=False,
    eps=STD_EPS,
    batch_std=False,
):
    """group_advantages with the mistakes switched on by keyword flags."""
    grouped = rewards.view(group_size, -1).T if strided else rewards.view(-1, group_size)
    mean = rewards.mean() if batch_mean else grouped.mean(dim=1, keepdim=True)
    centred = grouped - mean
    if scale == "group" or always_scale:
        std = rewards.std() if batch_std else grouped.std(dim=1, keepdim=True, unbiased=unbiased)
        centred = centred / (std + eps)
    return (centred.T if strided else centred).reshape(-1)


@MUTANTS.add("group_advantages", "use the population std (unbiased=False)")
def _grpo_population(rewards, group_size, scale="group"):
    return _grpo(rewards, group_size, scale, unbiased=False)


@MUTANTS.add("group_advantages", "take the mean over the whole batch instead of per group")
def _grpo_batch_mean(rewards, group_size, scale="group"):
    return _grpo(rewards, group_size, scale, batch_mean=True)


@MUTANTS.add("group_advantages", "group the rewards strided, view(G, -1), instead of contiguous")
def _grpo_strided(rewards, group_size, scale="group"):
    return _grpo(rewards, group_size, scale, strided=True)


@MUTANTS.add("group_advantages", "ignore scale='none' (always divide by the std)")
def _grpo_always_scale(rewards, group_size, scale="group"):
    return _grpo(rewards, group_size, scale, always_scale=True)


@MUTANTS.add("group_advantages", "forget the 1e-4, so a group of equal rewards gives NaN")
def _grpo_no_eps(rewards, group_size, scale="group"):
    return _grpo(rewards, group_size, scale, eps=0.0)


@MUTANTS.add("group_advantages", "divide by the std of the whole batch instead of the group's")
def _grpo_batch_std(rewards, group_size, scale="group"):
    return _grpo(rewards, group_size, scale, batch_std=True)


def _rloo(rewards, group_size, *, divisor=None, batch=False, strided=False, sign=1.0):
    """rloo_advantages with the mistakes switched on by keyword flags."""
    grouped = rewards.view(group_size, -1).T if strided else rewards.view(-1, group_size)
    if batch:
        others = (rewards.sum() - grouped) / (rewards.numel() - 1)
    else:
        others = (grouped.sum(dim=1, keepdim=True) - grouped) / (divisor or group_size - 1)
    out = sign * (grouped - others)
    return (out.T if strided else out).reshape(-1)


@MUTANTS.add(
    "rloo_advantages", "include the reward itself in its baseline (that is GRPO without scaling)"
)
def _rloo_self(rewards, group_size):
    grouped = rewards.view(-1, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).reshape(-1)


@MUTANTS.add("rloo_advantages", "divide the others' sum by G instead of G - 1")
def _rloo_divide_g(rewards, group_size):
    return _rloo(rewards, group_size, divisor=group_size)


@MUTANTS.add("rloo_advantages", "leave one out of the whole batch instead of the group")
def _rloo_batch(rewards, group_size):
    return _rloo(rewards, group_size, batch=True)


@MUTANTS.add("rloo_advantages", "group the rewards strided, view(G, -1), instead of contiguous")
def _rloo_strided(rewards, group_size):
    return _rloo(rewards, group_size, strided=True)


@MUTANTS.add("rloo_advantages", "subtract the other way round (baseline minus reward)")
def _rloo_sign(rewards, group_size):
    return _rloo(rewards, group_size, sign=-1.0)


def _dpo(
    chosen,
    rejected,
    ref_chosen,
    ref_rejected,
    beta=0.1,
    *,
    refs=True,
    use_beta=True,
    swap=False,
    detach=True,
    ref_sign=1.0,
    fixed_beta=False,
    reduce="mean",
):
    """dpo_loss with the mistakes switched on by keyword flags."""
    b = 0.1 if fixed_beta else (beta if use_beta else 1.0)
    rc, rr = (ref_chosen, ref_rejected) if refs else (0.0 * chosen, 0.0 * rejected)
    chosen_rewards = b * ref_sign * (chosen - rc)
    rejected_rewards = b * ref_sign * (rejected - rr)
    margin = rejected_rewards - chosen_rewards if swap else chosen_rewards - rejected_rewards
    losses = -F.logsigmoid(margin)
    loss = losses.sum() if reduce == "sum" else losses.mean()
    if detach:
        return loss, chosen_rewards.detach(), rejected_rewards.detach()
    return loss, chosen_rewards, rejected_rewards


@MUTANTS.add("dpo_loss", "leave out the reference log-probabilities")
def _dpo_no_ref(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, refs=False
    )


@MUTANTS.add("dpo_loss", "forget beta")
def _dpo_no_beta(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, use_beta=False
    )


@MUTANTS.add("dpo_loss", "swap chosen and rejected")
def _dpo_swap(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, swap=True)


@MUTANTS.add("dpo_loss", "return the implicit rewards with their gradient (not detached)")
def _dpo_no_detach(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, detach=False
    )


@MUTANTS.add("dpo_loss", "subtract the other way round, log pi_ref - log pi")
def _dpo_ref_sign(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, ref_sign=-1.0
    )


@MUTANTS.add("dpo_loss", "ignore beta (always 0.1)")
def _dpo_fixed_beta(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, fixed_beta=True
    )


@MUTANTS.add("dpo_loss", "sum over pairs instead of taking the mean")
def _dpo_sum(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return _dpo(
        chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta, reduce="sum"
    )
