"""Graders for lesson C3: the log-density of a Gaussian policy, plain and tanh-squashed."""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  # 0.918939


def t(values: list[float]) -> torch.Tensor:
    """A float64 tensor, so that the expected values hold to 1e-6."""
    return torch.tensor(values, dtype=torch.float64)


@exercise("the log-density of a Gaussian policy")
def grade_gaussian_log_prob(f, check: Checker) -> None:
    """One dimension with sigma = 2, then two dimensions summed, then a batch.

    Todo:
        the per-dimension normal log-density, summed over the last axis.
    """
    check.expect(
        "a = 1, mu = 0, log sigma = log 2 (sigma = 2)",
        "log N = -((a - mu) / sigma)^2 / 2 - log sigma - log(2 pi) / 2 = -0.125 - 0.693147 - 0.918939.",
        "log-probability",
        lambda: f(t([1.0]), t([0.0]), t([math.log(2.0)])),
        -0.125 - math.log(2.0) - HALF_LOG_2PI,
    )
    with check.case(
        "two dimensions: a = (1, -1), mu = (0, 0), log sigma = (0, log 2)",
        "Independent dimensions: the log-densities add up. Sum over the last axis, not the mean.",
    ):
        logp = f(t([1.0, -1.0]), t([0.0, 0.0]), t([0.0, math.log(2.0)]))
        first, second = -0.5 - HALF_LOG_2PI, -0.125 - math.log(2.0) - HALF_LOG_2PI
        check.close(
            "log-probability",
            logp,
            first + second,
        )
    check.expect(
        "a batch of 3 two-dimensional actions: one log-probability each",
        "Reduce only the last axis (sum(-1)): a batch of shape (3, 2) gives shape (3,).",
        "log-probabilities",
        lambda: f(t([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]), t([0.0, 0.0]), t([0.0, 0.0])),
        [-2 * HALF_LOG_2PI, -0.5 - 2 * HALF_LOG_2PI, -2 - 2 * HALF_LOG_2PI],
    )


@exercise("the log-density of a tanh-squashed Gaussian")
def grade_squashed_log_prob(f, check: Checker) -> None:
    """At u = 0 the squashing changes nothing; at u = 1 it adds -log(1 - tanh(1)^2); 2-D sums.

    Todo:
        the Gaussian log-density of u minus the log-Jacobian of tanh.
    """
    check.expect(
        "u = 0, mu = 0, sigma = 1",
        "tanh'(0) = 1, so the correction log(1 - tanh(u)^2) is 0 and the density is the Gaussian's.",
        "log-probability",
        lambda: f(t([0.0]), t([0.0]), t([0.0])),
        -HALF_LOG_2PI,
        atol=1e-4,
    )
    gaussian = -0.5 - HALF_LOG_2PI
    correction = math.log(1 - math.tanh(1.0) ** 2)
    check.expect(
        "u = 1, mu = 0, sigma = 1",
        """p(a) = p(u) / |da/du| with da/du = 1 - tanh(u)^2 = 0.419974: subtract its log
        (-0.867562), which raises the log-density.""",
        "log-probability",
        lambda: f(t([1.0]), t([0.0]), t([0.0])),
        gaussian - correction,
        atol=1e-4,
    )
    u, mu, log_sigma = [1.0, -0.5], [0.2, 0.0], [0.0, math.log(2.0)]
    gaussian = sum(
        -0.5 * ((x - m) / math.exp(ls)) ** 2 - ls - HALF_LOG_2PI
        for x, m, ls in zip(u, mu, log_sigma, strict=True)
    )
    correction = sum(math.log(1 - math.tanh(x) ** 2) for x in u)
    check.expect(
        "two dimensions: u = (1, -0.5), mu = (0.2, 0), log sigma = (0, log 2)",
        """Each dimension is squashed on its own: subtract the SUM over dimensions of log(1 -
        tanh(u_i)^2), as the Gaussian log-densities are summed, not their mean.""",
        "log-probability",
        lambda: f(t(u), t(mu), t(log_sigma)),
        gaussian - correction,
        atol=1e-4,
    )
