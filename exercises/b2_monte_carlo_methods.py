"""Exercises for lesson B2: Monte Carlo methods.

Record an episode the way Monte Carlo needs it, then fold its returns into the averages.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check b2

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import gymnasium as gym


def run_episode(
    env: gym.Env, policy: Callable[[object], int], encode: Callable[[object], int] = int
) -> tuple[list[int], list[float]]:
    """Play one episode and return what MC needs: states S_0..S_{T-1}, rewards R_1..R_T.

    Args:
        env: any Gymnasium environment with hashable observations.
        policy: maps an observation to an action.
        encode: maps an observation to a state index (identity for Discrete spaces).
    """
    # TODO: play one episode and collect the states and the rewards that follow them.
    raise NotImplementedError("run_episode")


def mc_update(
    v: np.ndarray,
    n: np.ndarray,
    states: list[int],
    rewards: list[float],
    gamma: float,
    first_visit: bool = True,
) -> None:
    """Fold one episode into the running averages, in place.

    Walk the episode backwards accumulating the return G_t = R_{t+1} + gamma G_{t+1}; at a
    counted visit of state s, N(s) += 1 and V(s) += (G_t - V(s)) / N(s): the incremental
    form of "V(s) is the mean of the returns seen from s".

    Args:
        v: value estimates, shape (S,).
        n: visit counts, shape (S,).
        states: S_0 .. S_{T-1}.
        rewards: R_1 .. R_T (rewards[t] follows states[t]).
        gamma: discount.
        first_visit: count only the first visit to each state in the episode (else every).
    """
    # TODO: accumulate the returns backwards and update the running averages in place.
    raise NotImplementedError("mc_update")
