"""Graders for lesson D1: the Bradley-Terry loss and where a reward model reads its score."""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise


@exercise("the Bradley-Terry loss")
def grade_bradley_terry_loss(f, check: Checker) -> None:
    """Tied rewards, two pairs by hand, and a margin too large for a naive log(sigmoid).

    Todo:
        the negative mean log-likelihood of the choices, numerically stable.
    """
    check.expect(
        "equal rewards",
        """loss = -mean(log sigmoid(r_chosen - r_rejected)); with equal rewards sigmoid(0) = 1/2, so
        the loss is log 2 = 0.6931.""",
        "loss",
        lambda: f(torch.zeros(3), torch.zeros(3)),
        math.log(2.0),
    )
    check.expect(
        "two pairs: chosen (2, 0), rejected (0, 1)",
        "Margins are 2 and -1: -log sigmoid(2) = 0.12693 and -log sigmoid(-1) = 1.31326, mean 0.72010.",
        "loss",
        lambda: f(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])),
        0.720095,
        atol=1e-5,
    )
    check.expect(
        "a huge wrong-way margin of -400",
        """log(torch.sigmoid(-400)) is log(0) = -inf in floating point; F.logsigmoid stays exact
        (the loss is 400).""",
        "loss",
        lambda: f(torch.tensor([-200.0]), torch.tensor([200.0])),
        400.0,
        atol=1e-3,
    )


@exercise("the last real token of each row")
def grade_last_token_index(f, check: Checker) -> None:
    """Right padding, left padding, and a one-token row.

    Todo:
        for each row, the position of the last token whose mask is 1.
    """
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    check.expect(
        "right padding",
        "The index of the last 1 in each row of the mask: (mask * positions).argmax(dim=1).",
        "index",
        lambda: f(mask),
        [2, 4],
    )
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    check.expect(
        "left padding, as generate() pads prompts",
        """Counting real tokens (mask.sum(dim=1) - 1) only works for right padding; with left
        padding the last real token is the last position.""",
        "index",
        lambda: f(mask),
        [4, 4],
    )
    check.expect(
        "a single real token",
        "A row with one real token at position 0 gives 0.",
        "index",
        lambda: f(torch.tensor([[1, 0, 0, 0]])),
        [0],
    )
