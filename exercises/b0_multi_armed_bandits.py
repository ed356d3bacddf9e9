"""Exercises for lesson B0: multi-armed bandits.

Write UCB's action choice and the incremental value update.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check b0

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import numpy as np

from snippets.b0_multi_armed_bandits import argmax_random_ties  # noqa: F401 (yours to use)


def ucb_actions(
    q: np.ndarray, counts: np.ndarray, t: int, c: float, rng: np.random.Generator
) -> np.ndarray:
    """Upper-confidence-bound choice: argmax_a Q(a) + c sqrt(ln t / N(a)).

    An arm never pulled (N = 0) has an infinite bonus, so each arm is tried once first.

    Args:
        q: value estimates, shape (runs, arms).
        counts: pulls of each arm so far, same shape.
        t: the current step, counting from 1.
        c: exploration weight; c = sqrt(2) is Auer et al.'s UCB1.
        rng: breaks ties.
    """
    # TODO: add the exploration bonus to q (infinite for untried arms) and take the argmax.
    raise NotImplementedError("ucb_actions")


def update_estimates(
    q: np.ndarray,
    counts: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    step_size: float | None = None,
) -> None:
    """Incremental average, in place: Q(a) <- Q(a) + (R - Q(a)) / N(a) for the pulled arm.

    With ``step_size`` = α the update is Q(a) <- Q(a) + α (R - Q(a)) instead: an
    exponential recency-weighted average that can follow a drifting reward.
    """
    # TODO: count each pull, then move Q(a) towards the reward by 1/N(a) or by step_size.
    raise NotImplementedError("update_estimates")
