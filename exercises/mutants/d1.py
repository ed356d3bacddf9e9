"""Mutants of lesson D1: wrong Bradley-Terry losses and wrong last-token indices."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exercises.mutants import Mutants

MUTANTS = Mutants()


@MUTANTS.add("bradley_terry_loss", "forget the minus sign")
def _bt_sign(reward_chosen, reward_rejected):
    return F.logsigmoid(reward_chosen - reward_rejected).mean()


@MUTANTS.add("bradley_terry_loss", "swap chosen and rejected")
def _bt_swap(reward_chosen, reward_rejected):
    return -F.logsigmoid(reward_rejected - reward_chosen).mean()


@MUTANTS.add("bradley_terry_loss", "sum over pairs instead of taking the mean")
def _bt_sum(reward_chosen, reward_rejected):
    return -F.logsigmoid(reward_chosen - reward_rejected).sum()


@MUTANTS.add(
    "bradley_terry_loss", "take log(sigmoid(x)), which is log 0 = -inf for a large negative margin"
)
def _bt_naive(reward_chosen, reward_rejected):
    return -torch.log(torch.sigmoid(reward_chosen - reward_rejected)).mean()


@MUTANTS.add("bradley_terry_loss", "average the margins before the log-sigmoid")
def _bt_mean_inside(reward_chosen, reward_rejected):
    return -F.logsigmoid((reward_chosen - reward_rejected).mean())


@MUTANTS.add(
    "bradley_terry_loss", "use the raw margin, -mean(r_chosen - r_rejected), without the sigmoid"
)
def _bt_raw(reward_chosen, reward_rejected):
    return -(reward_chosen - reward_rejected).mean()


@MUTANTS.add("last_token_index", "return the number of real tokens (forget the - 1)")
def _last_count(attention_mask):
    return attention_mask.sum(dim=1)


@MUTANTS.add(
    "last_token_index", "count real tokens, mask.sum(dim=1) - 1, which holds for right padding only"
)
def _last_count_minus_one(attention_mask):
    return attention_mask.sum(dim=1) - 1


@MUTANTS.add("last_token_index", "take mask.argmax(dim=1), which is the FIRST real token")
def _last_first(attention_mask):
    return attention_mask.argmax(dim=1)


@MUTANTS.add("last_token_index", "take the first padding position minus one")
def _last_first_pad(attention_mask):
    return (attention_mask == 0).int().argmax(dim=1) - 1


@MUTANTS.add("last_token_index", "always take the last position, as if every row were left-padded")
def _last_position(attention_mask):
    return torch.full((attention_mask.shape[0],), attention_mask.shape[1] - 1)
