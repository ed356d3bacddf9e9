"""Graders for lesson C3: the Gaussian policy's log-density and SAC's tanh-squashed one."""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  # 0.918939


@exercise("gaussian_log_prob", "the log-density of a Gaussian policy", section="gaussian-log-prob")
def grade_gaussian_log_prob(f, check: Checker) -> None:
    """A standard normal at 1, then two dimensions with sigma = 1 and 2, then a batch."""
    with check.case(
        "one dimension, a = 1, mu = 0, sigma = 1",
        "log N(a; mu, sigma^2) = -z^2 / 2 - log sigma - log(2 pi) / 2 with z = (a - mu) / sigma.",
    ):
        lp = f(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0]))
        check.close("log-density", lp, -0.5 - HALF_LOG_2PI, atol=1e-5)
    with check.case(
        "two dimensions, a = (1, 2), mu = 0, sigma = (1, 2)",
        "Both dimensions have z = 1; the second also pays -log 2 for its wider density. Sum the "
        "dimensions (the last axis): the action's density is the product of independent ones.",
    ):
        lp = f(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2), torch.tensor([[0.0, math.log(2.0)]]))
        expected = -1.0 - math.log(2.0) - 2 * HALF_LOG_2PI
        check.close(
            "log-density",
            lp,
            [expected],
            atol=1e-5,
            mistakes={
                "forget the -log sigma term": [-1.0 - 2 * HALF_LOG_2PI],
                "average the dimensions instead of summing them": [expected / 2],
            },
        )
    with check.case(
        "a batch of three one-dimensional actions at the mean",
        "Shapes (B, d) give (B,): sum over the last axis only.",
    ):
        lp = f(torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(3, 1))
        check.close("log-densities", lp, [-HALF_LOG_2PI] * 3, atol=1e-5)


@exercise(
    "squashed_log_prob", "the log-density of a tanh-squashed action", section="squashed-log-prob"
)
def grade_squashed_log_prob(f, check: Checker) -> None:
    """At u = 0 (no squashing there), at tanh(u) = 0.6, and on two dimensions."""
    with check.case(
        "u = 0: tanh has slope 1 there",
        "log p(a) = log N(u; mu, sigma^2) - sum log(1 - tanh(u)^2 + 1e-6); at u = 0 the slope is 1.",
    ):
        lp = f(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]))
        check.close("log-density", lp, -HALF_LOG_2PI, atol=1e-5)
    u = math.atanh(0.6)
    with check.case(
        "tanh(u) = 0.6, mu = 0, sigma = 1",
        "Change of variables: p(a) = p(u) / |da/du| with da/du = 1 - tanh(u)^2 = 0.64, so "
        "SUBTRACT log 0.64 from the Gaussian log-density of u (not of a = 0.6).",
    ):
        gauss = -0.5 * u * u - HALF_LOG_2PI
        lp = f(torch.tensor([u]), torch.tensor([0.0]), torch.tensor([0.0]))
        check.close(
            "log-density",
            lp,
            gauss - math.log(0.64),
            atol=1e-5,
            mistakes={
                "add the log-Jacobian instead of subtracting it": gauss + math.log(0.64),
                "forget the tanh correction": gauss,
                "evaluate the Gaussian at a = tanh(u) instead of u": -0.18
                - HALF_LOG_2PI
                - math.log(0.64),
            },
        )
    with check.case(
        "two dimensions, u = (0, atanh 0.6)",
        "Both the Gaussian term and the correction are summed over the last axis.",
    ):
        lp = f(torch.tensor([[0.0, u]]), torch.zeros(1, 2), torch.zeros(1, 2))
        check.close(
            "log-density", lp, [-0.5 * u * u - 2 * HALF_LOG_2PI - math.log(0.64)], atol=1e-5
        )
