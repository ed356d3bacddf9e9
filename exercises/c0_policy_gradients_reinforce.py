"""Exercises for lesson C0: REINFORCE.

Write the reward-to-go, the leave-one-out baseline and the REINFORCE loss.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check c0

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def discounted_returns(rewards: Sequence[float] | np.ndarray, gamma: float) -> np.ndarray:
    """Reward-to-go of one episode: ``G_t = R_{t+1} + gamma R_{t+2} + gamma^2 R_{t+3} + ...``.

    Computed backwards in one pass with ``G_t = R_{t+1} + gamma G_{t+1}``; the episode ends
    after the last reward (nothing is bootstrapped).

    Args:
        rewards: ``R_1 ... R_T`` of one episode (``rewards[t]`` followed action ``A_t``).
        gamma: Discount factor in [0, 1].

    Returns:
        A float64 array of the same length holding ``G_0 ... G_{T-1}``.
    """
    # TODO: compute G_t for every t in one backward pass.
    raise NotImplementedError("discounted_returns")


def advantages_from_returns(
    returns: np.ndarray, mask: np.ndarray, baseline: bool = True, normalize: bool = True
) -> np.ndarray:
    """Turn padded reward-to-go ``(N, T)`` into the per-step weights of the policy gradient.

    The baseline for episode i at time t is the mean reward-to-go of the *other* episodes
    in the batch that were still running at time t (leave-one-out; 0 if none was). It
    does not depend on episode i's actions, so subtracting it leaves the gradient
    unbiased; it depends on t, which is part of the state in a time-limited task, so it
    tracks how much return is still to come. It is computed as the mean of pairwise
    differences G_it - G_jt, which are exactly zero for equal returns: when every episode
    reaches the time limit, every advantage is exactly 0 and the policy is left alone.

    Args:
        returns: Reward-to-go, shape ``(N, T)``, zero where ``mask`` is zero.
        mask: 1 where the step exists, 0 for padding.
        baseline: Subtract the leave-one-out baseline.
        normalize: Divide by the standard deviation over the real steps (the scale of
            returns changes a lot during training; this keeps the step size steady).

    Returns:
        Advantages of shape ``(N, T)``, zero on padding.
    """
    # TODO: subtract the leave-one-out baseline, then optionally divide by the std.
    raise NotImplementedError("advantages_from_returns")


def reinforce_loss(
    logits: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    entropy_coef: float = 0.0,
) -> torch.Tensor:
    """The REINFORCE surrogate loss: its gradient is minus the policy-gradient estimate.

    ``loss = -mean_t[ Adv_t log pi(A_t|S_t) ] - entropy_coef mean_t[ H(pi(.|S_t)) ]`` over
    the real (unmasked) steps of the batch. Its value means nothing; its gradient does.

    Args:
        logits: Policy logits, shape ``(N, T, n_actions)``.
        actions: Actions taken, shape ``(N, T)`` (any integer on padding).
        advantages: The weights, shape ``(N, T)``; treated as constants.
        mask: 1 for real steps, 0 for padding, shape ``(N, T)``.
        entropy_coef: Weight of the entropy bonus (0 turns it off).

    Returns:
        The scalar loss.
    """
    # TODO: minus the advantage-weighted log-probabilities, averaged over real steps; entropy bonus.
    raise NotImplementedError("reinforce_loss")
