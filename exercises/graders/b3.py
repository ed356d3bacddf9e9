"""Graders for lesson B3: DQN's TD target and its loss."""

from __future__ import annotations

from typing import NamedTuple

import torch

from exercises.grading import Checker, exercise


class Batch(NamedTuple):
    """The lesson's minibatch type, field for field (kept here so grading stays light)."""

    observations: torch.Tensor
    actions: torch.Tensor
    next_observations: torch.Tensor
    dones: torch.Tensor
    rewards: torch.Tensor


def linear(weight: list[list[float]]) -> torch.nn.Linear:
    """A bias-free linear Q-network with the given weight: Q(s) = W s."""
    net = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(weight))
    return net


@exercise("the DQN target with its done mask")
def grade_td_target(f, check: Checker) -> None:
    """Three transitions, one terminal; no gradient may flow into the target.

    Todo:
        y = r + gamma * (1 - done) * max_a' Q_target(s', a'), with no gradient.
    """
    rewards = torch.tensor([[1.0], [0.5], [-1.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    next_q = torch.tensor([[2.0, 3.0], [10.0, 4.0], [0.0, -2.0]], requires_grad=True)
    # 1 + 0.9 * 3 = 3.7;  0.5 (terminal);  -1 + 0.9 * 0 = -1
    check.expect(
        "three transitions, the second one terminal, gamma = 0.9",
        """y = r + gamma * (1 - done) * max over a' of Q_target(s', a'); keep the (B, 1) shape
        (max(dim=1, keepdim=True)).""",
        "y",
        lambda: f(rewards, dones, next_q, 0.9),
        [[3.7], [0.5], [-1.0]],
    )
    with check.case(
        "the target is a constant",
        "Compute it under torch.no_grad() (or .detach() it): the loss must not push the target.",
    ):
        y = f(rewards, dones, next_q, 0.9)
        check.true("the returned target does not require grad", not y.requires_grad)


@exercise("the DQN loss with a target network")
def grade_dqn_loss(f, check: Checker) -> None:
    """Two transitions through two linear networks; the value, then the gradients.

    Todo:
        Huber loss between Q(s, a) of q_net and your td_target from q_target.
    """
    q_net = linear([[1.0, 2.0], [3.0, 4.0]])  # Q(s1 = e1) = (1, 3), Q(s2 = e2) = (2, 4)
    q_target = linear([[0.5, 0.0], [0.0, 1.0]])
    batch = Batch(
        observations=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        actions=torch.tensor([[0], [1]]),
        next_observations=torch.tensor([[2.0, 0.0], [0.0, 3.0]]),
        dones=torch.tensor([[0.0], [1.0]]),
        rewards=torch.tensor([[1.0], [0.0]]),
    )
    check.expect(
        "two transitions, the second terminal, gamma = 0.5",
        """Q(s, a) = q_net(s).gather(1, a) = (1, 4); y from q_target: (1 + 0.5 * max(1, 0), 0) =
        (1.5, 0); Huber of the errors (-0.5, 4) is (0.125, 3.5), mean 1.8125.""",
        "loss",
        lambda: f(q_net, q_target, batch, 0.5),
        1.8125,
    )
    with check.case(
        "gradients reach q_net only",
        """Backpropagating the loss must change only q_net, through Q(s, a): the target network is a
        frozen copy (use td_target, which runs under no_grad).""",
    ):
        q_net.zero_grad()
        q_target.zero_grad()
        f(q_net, q_target, batch, 0.5).backward()
        # dLoss/dQ(s, a) = clamp(error, -1, 1) / 2 = (-0.25, 0.5), on W[0, 0] and W[1, 1]
        check.close("q_net.weight.grad", q_net.weight.grad, [[-0.25, 0.0], [0.0, 0.5]])
        check.no_grad("q_target gets no gradient", q_target.weight)
