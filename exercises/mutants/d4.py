"""Mutants of lesson D4: wrong group filters and wrong GSPO sequence ratios."""

from __future__ import annotations

import torch

from exercises.mutants import Mutants

MUTANTS = Mutants()


# ---------------------------------------------------------------- the loss variants (variants.py)
@MUTANTS.add("dynamic_sampling_keep", "keep the groups whose rewards agree (the filter inverted)")
def _keep_inverted(rewards, group_size):
    grouped = rewards.view(-1, group_size)
    return grouped.amax(dim=1) == grouped.amin(dim=1)


@MUTANTS.add(
    "dynamic_sampling_keep", "drop only the groups that are all wrong, keeping the all-right ones"
)
def _keep_any_success(rewards, group_size):
    return rewards.view(-1, group_size).amax(dim=1) > 0


@MUTANTS.add("dynamic_sampling_keep", "group the rewards strided, view(G, -1), not contiguous")
def _keep_strided(rewards, group_size):
    grouped = rewards.view(group_size, -1).T
    return grouped.amax(dim=1) > grouped.amin(dim=1)


@MUTANTS.add("dynamic_sampling_keep", "return one flag per completion instead of one per group")
def _keep_per_completion(rewards, group_size):
    grouped = rewards.view(-1, group_size)
    return (grouped.amax(dim=1) > grouped.amin(dim=1)).repeat_interleave(group_size)


@MUTANTS.add(
    "dynamic_sampling_keep",
    "count successes, 0 < sum < G, which is right only for rewards that are 0 or 1",
)
def _keep_binary_count(rewards, group_size):
    successes = rewards.view(-1, group_size).sum(dim=1)
    return (successes > 0) & (successes < group_size)


def _masked_log_ratio(logps, old_logps, mask):
    return (logps - old_logps) * mask.float()


@MUTANTS.add(
    "sequence_log_ratio",
    "sum the token log-ratios (the whole sequence's ratio) instead of averaging",
)
def _ratio_sum(logps, old_logps, mask):
    return _masked_log_ratio(logps, old_logps, mask).sum(dim=1, keepdim=True)


@MUTANTS.add(
    "sequence_log_ratio", "divide by the padded width T instead of each completion's length"
)
def _ratio_over_width(logps, old_logps, mask):
    return _masked_log_ratio(logps, old_logps, mask).sum(dim=1, keepdim=True) / mask.shape[1]


@MUTANTS.add("sequence_log_ratio", "forget the mask, so padding tokens count")
def _ratio_unmasked(logps, old_logps, mask):
    return (logps - old_logps).mean(dim=1, keepdim=True)


@MUTANTS.add(
    "sequence_log_ratio", "average the ratios instead of the log-ratios (an arithmetic mean)"
)
def _ratio_arithmetic(logps, old_logps, mask):
    mask = mask.float()
    mean = (torch.exp(logps - old_logps) * mask).sum(dim=1, keepdim=True) / mask.sum(
        dim=1, keepdim=True
    ).clamp_min(1.0)
    return torch.log(mean)


@MUTANTS.add("sequence_log_ratio", "detach the result, so no gradient flows through the ratio")
def _ratio_detached(logps, old_logps, mask):
    mask = mask.float()
    summed = _masked_log_ratio(logps, old_logps, mask).sum(dim=1, keepdim=True)
    return (summed / mask.sum(dim=1, keepdim=True).clamp_min(1.0)).detach()


@MUTANTS.add(
    "sequence_log_ratio", "divide by the token count unclamped, so an empty completion gives NaN"
)
def _ratio_unclamped(logps, old_logps, mask):
    mask = mask.float()
    return _masked_log_ratio(logps, old_logps, mask).sum(dim=1, keepdim=True) / mask.sum(
        dim=1, keepdim=True
    )


@MUTANTS.add("sequence_log_ratio", "return shape (completions,), dropping keepdim")
def _ratio_flat(logps, old_logps, mask):
    mask = mask.float()
    return _masked_log_ratio(logps, old_logps, mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


# ---------------------------------------------------------------- the exact testbed (exact.py)
def _k3_gradient(logits, ref_logits, length, *, wrong=""):
    """k3_loss_gradient with the mistake ``wrong`` names.

    Mistakes:
        not_detached: let the weights P_θ(y) carry gradient (forget to detach the sampling)
        inverted: invert the ratio, r = π_θ/π_ref instead of π_ref/π_θ
        k1: differentiate k1 = log π_θ/π_ref instead of k3
        uniform: weigh every sequence equally instead of by P_θ(y)
        ratio: multiply k3 by TRL's ratio π_θ/π_old (the reverse-KL version)
        mean: average k3 over the tokens instead of summing it
    """
    from snippets.d4_grpo_in_practice.exact import token_logprobs

    logits = logits.detach().requires_grad_()
    logp, ref_logp = token_logprobs(logits, length), token_logprobs(ref_logits, length)
    weight = logp.sum(dim=-1).exp()
    weight = weight if wrong == "not_detached" else weight.detach()
    weight = torch.ones_like(weight) if wrong == "uniform" else weight
    log_r = (logp - ref_logp) if wrong == "inverted" else (ref_logp - logp)
    k = -log_r if wrong == "k1" else log_r.exp() - 1 - log_r
    k = torch.exp(logp - logp.detach()) * k if wrong == "ratio" else k
    k = k.mean(dim=-1) if wrong == "mean" else k.sum(dim=-1)
    (grad,) = torch.autograd.grad((weight * k).sum(), logits)
    return grad


MUTANTS.flags("k3_loss_gradient", _k3_gradient)
