"""Exercises for lesson B1: tabular Q-learning.

Write the Q-learning update, TD(0) prediction and the epsilon-greedy choice.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check b1

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import gymnasium as gym


def q_update(
    q: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> float:
    """One Q-learning step, in place: Q(s,a) += alpha (r + gamma max_a' Q(s',a') - Q(s,a)).

    Returns:
        The TD error (target minus old estimate).
    """
    # TODO: compute the TD target, update q[state, action] in place, return the TD error.
    raise NotImplementedError("q_update")


def td0_prediction(
    env: gym.Env,
    policy: np.ndarray,
    episodes: int,
    alpha: float,
    gamma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """TD(0): learn v_pi from experience, one sampled Bellman backup per step.

    After each transition (s, r, s'), move V(s) a step alpha towards r + gamma V(s'),
    with V(s') = 0 if s' ended the episode. A time-limit cut is not an ending: there
    we still bootstrap from V(s').

    Args:
        env: a FrozenLake environment (any discrete Gymnasium env works).
        policy: one action per state, or an (S, A) table of probabilities.
        episodes: episodes to learn from.
        alpha: constant step size.
        gamma: discount.
        rng: draws the actions of a stochastic policy.
    """
    # TODO: play the episodes and apply the TD(0) update after every step.
    raise NotImplementedError("td0_prediction")


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """A random action with probability ε, otherwise a best one (ties broken at random)."""
    # TODO: explore with probability epsilon, otherwise pick a best action.
    raise NotImplementedError("epsilon_greedy")
