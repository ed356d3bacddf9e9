"""Exercises for lesson C3: continuous actions.

Write the log-density of a Gaussian policy and of SAC's tanh-squashed one.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check c3

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import math  # noqa: F401 (yours to use)

import torch


def gaussian_log_prob(
    action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> torch.Tensor:
    """Log-density of N(a; mu, diag(sigma^2)), summed over the action's dimensions (last axis)."""
    # TODO: the per-dimension normal log-density, summed over the last axis.
    raise NotImplementedError("gaussian_log_prob")


def squashed_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of a = tanh(u) with u ~ N(mean, sigma^2), as SAC samples its actions.

    Change of variables: p(a) = p(u) / |da/du| and da/du = 1 - tanh(u)^2, per dimension.
    """
    # TODO: the Gaussian log-density of u minus the log-Jacobian of tanh.
    raise NotImplementedError("squashed_log_prob")
