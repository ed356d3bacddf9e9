"""Graders for lesson D1: the Bradley-Terry loss and where a reward model reads its score."""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise


@exercise("bradley_terry_loss", "the Bradley-Terry loss", section="bradley-terry-loss")
def grade_bradley_terry_loss(f, check: Checker) -> None:
    """Tied rewards, two pairs by hand, and a margin too large for a naive log(sigmoid)."""
    with check.case(
        "equal rewards",
        "loss = -mean(log sigmoid(r_chosen - r_rejected)); with equal rewards sigmoid(0) = 1/2, "
        "so the loss is log 2 = 0.6931.",
    ):
        check.close(
            "loss",
            f(torch.zeros(3), torch.zeros(3)),
            math.log(2.0),
            mistakes={"forget the minus sign": -math.log(2.0)},
        )
    with check.case(
        "two pairs: chosen (2, 0), rejected (0, 1)",
        "Margins are 2 and -1: -log sigmoid(2) = 0.12693 and -log sigmoid(-1) = 1.31326, mean 0.72010.",
    ):
        loss = f(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]))
        check.close(
            "loss",
            loss,
            0.720095,
            atol=1e-5,
            mistakes={
                "swap chosen and rejected": 1.220095,
                "sum over pairs instead of taking the mean": 1.44019,
                "forget the minus sign": -0.720095,
            },
        )
    with check.case(
        "a huge wrong-way margin of -400",
        "log(torch.sigmoid(-400)) is log(0) = -inf in floating point; F.logsigmoid stays exact "
        "(the loss is 400).",
    ):
        check.close("loss", f(torch.tensor([-200.0]), torch.tensor([200.0])), 400.0, atol=1e-3)


@exercise("last_token_index", "the last real token of each row", section="last-token")
def grade_last_token_index(f, check: Checker) -> None:
    """Right padding, left padding, and a one-token row."""
    with check.case(
        "right padding",
        "The index of the last 1 in each row of the mask: (mask * positions).argmax(dim=1).",
    ):
        mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
        check.close(
            "index",
            f(mask),
            [2, 4],
            mistakes={"return the number of real tokens (forget the - 1)": [3, 5]},
        )
    with check.case(
        "left padding, as generate() pads prompts",
        "Counting real tokens (mask.sum(dim=1) - 1) only works for right padding; with left "
        "padding the last real token is the last position.",
    ):
        mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
        check.close(
            "index", f(mask), [4, 4], mistakes={"count real tokens, mask.sum(dim=1) - 1": [2, 3]}
        )
    with check.case("a single real token", "A row with one real token at position 0 gives 0."):
        check.close("index", f(torch.tensor([[1, 0, 0, 0]])), [0])
