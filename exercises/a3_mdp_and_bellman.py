"""Exercises for lesson A3: the Bellman equations.

Write the Bellman backup, solve for v_pi exactly, run value iteration and read off
the greedy policy.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check a3

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import numpy as np

from snippets.a3_mdp_and_bellman import MDP, policy_dynamics  # noqa: F401 (yours to use)


def q_values(mdp: MDP, v: np.ndarray) -> np.ndarray:
    """One-step lookahead: q[s, a] = R(s, a) + gamma sum_s' P(s'|s, a) v(s')."""
    # TODO: the one-step lookahead for every (s, a) at once (one line of NumPy).
    raise NotImplementedError("q_values")


def evaluate_policy_exact(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    """Solve the Bellman expectation equation v = r_pi + gamma P_pi v as a linear system.

    Terminal states are fixed at 0 and left out of the solve, which keeps the system
    non-singular even for gamma = 1 (as long as the policy reaches a terminal state).

    Returns:
        v_pi, shape (S,).
    """
    # TODO: build P_pi and r_pi, then solve the linear system for the non-terminal states.
    raise NotImplementedError("evaluate_policy_exact")


def value_iteration(
    mdp: MDP, tol: float = 1e-10, max_sweeps: int = 100_000
) -> tuple[np.ndarray, int]:
    """Solve the Bellman optimality equation v*(s) = max_a q(s, a) by fixed-point iteration.

    Returns:
        ``(v_star, sweeps)``.
    """
    # TODO: sweep max_a q(s, a) until no value moves more than tol; return (v, sweeps).
    raise NotImplementedError("value_iteration")


def greedy_policy(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    """The policy that is greedy with respect to v, splitting ties evenly.

    Returns:
        pi, shape (S, A), each row a probability distribution over the best actions.
    """
    # TODO: mark the best actions of each row (within atol) and split the probability among them.
    raise NotImplementedError("greedy_policy")
