"""Exercises for lesson C1: actor-critic methods.

Write n-step returns, GAE and the A2C loss.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check c1

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import numpy as np
import torch


def n_step_returns(
    rewards: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    n: int,
) -> np.ndarray:
    """n-step returns G_t^(n) for every step of one rollout from one environment.

    G_t^(n) = R_{t+1} + gamma R_{t+2} + ... + gamma^(k-1) R_{t+k} + gamma^k V(S_{t+k}),
    with k = n, or fewer steps when the episode or the rollout ends first.

    Args:
        rewards: R_{t+1}, the reward that followed action A_t, shape (T,).
        next_values: V(S_{t+1}), the critic's value of the state each step led to, shape (T,).
            When step t ended the episode this is the value of the *final* observation
            (Gymnasium's vector envs report it separately, since they reset at once).
        terminated: 1 where S_{t+1} is terminal (the pole fell): nothing follows, V = 0.
        truncated: 1 where the episode was cut by a time limit: the future exists, so we
            bootstrap from V(S_{t+1}), but the sum must not run into the next episode.
        gamma: discount factor.
        n: how many rewards to sum before bootstrapping (n >= 1).

    Returns:
        G^(n), shape (T,).
    """
    # TODO: sum up to n discounted rewards from each t, then bootstrap where the docstring says.
    raise NotImplementedError("n_step_returns")


def gae_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al., 2016) over one rollout.

    delta_t = R_{t+1} + gamma (1 - terminated_t) V(S_{t+1}) - V(S_t)
    adv_t   = delta_t + gamma lam (1 - terminated_t)(1 - truncated_t) adv_{t+1}

    Works on shape (T,) or (T, n_envs): time is the first axis.

    Args:
        rewards: R_{t+1}, the reward that followed action A_t.
        values: V(S_t), the critic's estimate of the state each step started from.
        next_values: V(S_{t+1}); at an episode end, the value of the final observation.
        terminated: 1 where the episode really ended (no bootstrap).
        truncated: 1 where a time limit cut it (bootstrap, but stop the recursion).
        gamma: discount factor.
        lam: lambda in [0, 1]; 0 gives the one-step TD error, 1 the n-step
            (rollout-length) return minus V(S_t).

    Returns:
        ``(advantages, returns)``, where returns = advantages + values is the critic's
        regression target (the lambda-return).
    """
    # TODO: one backward pass for delta_t and A_t; return (advantages, advantages + values).
    raise NotImplementedError("gae_advantages")


def actor_critic_loss(
    log_probs: torch.Tensor,
    entropy: torch.Tensor,
    values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    vf_coef: float = 0.5,
    ent_coef: float = 0.0,
) -> dict[str, torch.Tensor]:
    """A2C's loss: policy gradient + vf_coef * critic regression - ent_coef * entropy.

    Args:
        log_probs: log pi(A_t|S_t) of the actions taken (requires grad).
        entropy: entropy of pi(.|S_t) at each state (requires grad).
        values: the critic's V(S_t) (requires grad).
        advantages: the advantage estimates, treated as constants (no gradient flows into them).
        returns: the critic's targets, constants.
        vf_coef: weight of the value loss.
        ent_coef: weight of the entropy bonus.

    Returns:
        A dict with ``loss`` (what ``backward`` is called on) and its three parts.
    """
    # TODO: combine the three losses and return them in a dict.
    raise NotImplementedError("actor_critic_loss")
