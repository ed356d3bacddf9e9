"""Exercises for lesson B3: deep Q-networks.

Write DQN's TD target and its loss.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check b3

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F  # noqa: F401 (yours to use: F.smooth_l1_loss)

if TYPE_CHECKING:
    from snippets.b3_deep_q_networks_dqn import Batch


def td_target(
    rewards: torch.Tensor, dones: torch.Tensor, next_q_target: torch.Tensor, gamma: float
) -> torch.Tensor:
    """The one-step TD target y = r + gamma * (1 - done) * max_a' Q_target(s', a').

    Args:
        rewards: (B, 1) rewards.
        dones: (B, 1) 1.0 where s' is terminal: nothing follows, so the target is just r.
        next_q_target: (B, n_actions) Q-values of s' from the *target* network.
        gamma: discount factor.

    Returns:
        (B, 1) targets, with no gradient attached.
    """
    # TODO: y = r + gamma * (1 - done) * max_a' Q_target(s', a'), with no gradient.
    raise NotImplementedError("td_target")


def dqn_loss(
    q_net: torch.nn.Module, q_target: torch.nn.Module, batch: Batch, gamma: float
) -> torch.Tensor:
    """DQN's loss on a minibatch: Huber(Q(s, a), y) with y from the target network."""
    # TODO: Huber loss between Q(s, a) of q_net and your td_target from q_target.
    raise NotImplementedError("dqn_loss")
