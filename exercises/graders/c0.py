"""Graders for lesson C0: reward-to-go, the leave-one-out baseline and the REINFORCE loss."""

from __future__ import annotations

import math

import numpy as np
import torch

from exercises.grading import Checker, exercise

# Three episodes of rewards-to-go (3, 2, 1), (1) and (2, 1), padded to length 3.
RETURNS = np.array([[3.0, 2.0, 1.0], [1.0, 0.0, 0.0], [2.0, 1.0, 0.0]])
MASK = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])


@exercise("reward-to-go G_t")
def grade_discounted_returns(f, check: Checker) -> None:
    """Three rewards with gamma = 0.5, then gamma = 1, then an empty episode.

    Todo:
        compute G_t for every t in one backward pass.
    """
    check.expect(
        "rewards 1, 2, 3 with gamma = 0.5",
        """G_t = r_t + gamma G_{t+1}, where r_t (R_{t+1} in Sutton & Barto) is the reward that
        followed the action at step t: G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 =
        2.75.""",
        "returns",
        lambda: f([1.0, 2.0, 3.0], 0.5),
        [2.75, 3.5, 3.0],
    )
    check.expect(
        "gamma = 1: suffix sums",
        "With gamma = 1, G_t is the plain sum of r_t .. r_{T-1}.",
        "returns",
        lambda: f([1.0, 1.0, 1.0, 1.0], 1.0),
        [4.0, 3.0, 2.0, 1.0],
    )
    check.expect(
        "an empty episode",
        "No rewards, no returns: an array of shape (0,).",
        "returns",
        lambda: f([], 0.9),
        np.zeros(0),
    )


@exercise("reward-to-go with a leave-one-out baseline")
def grade_advantages_from_returns(f, check: Checker) -> None:
    """The baseline alone, the normalisation alone, and a batch of equal returns.

    Todo:
        subtract the leave-one-out baseline, then optionally divide by the std.
    """
    check.expect(
        "episodes (3, 2, 1), (1), (2, 1): baseline, no normalising",
        """At t = 0 episode 0's baseline is the mean of the OTHER episodes' returns (1 + 2) / 2 =
        1.5; at t = 1 only episode 2 is still running beside it; at t = 2 nobody is, so the
        baseline is 0.""",
        "advantages",
        lambda: f(RETURNS.copy(), MASK.copy(), baseline=True, normalize=False),
        [[1.5, 1.0, 1.0], [-1.5, 0.0, 0.0], [0.0, -1.0, 0.0]],
    )
    with check.case(
        "no baseline, normalising",
        """Divide by the standard deviation of the 6 real steps (sqrt(5) / 3, plus 1e-8), without
        subtracting the mean, and leave the padding at 0.""",
    ):
        adv = f(RETURNS.copy(), MASK.copy(), baseline=False, normalize=True)
        check.close(
            "advantages",
            adv,
            RETURNS * 3 / math.sqrt(5),
        )
    same = np.array([[2.0, 1.0], [2.0, 1.0]])
    check.expect(
        "every episode reached the time limit: equal returns",
        "Equal returns give advantages of exactly 0; the std is then 0, so divide by std + 1e-8.",
        "advantages",
        lambda: f(same, np.ones((2, 2))),
        np.zeros((2, 2)),
    )


@exercise("the REINFORCE loss")
def grade_reinforce_loss(f, check: Checker) -> None:
    """Gathered log-probabilities, the masked mean, the masked entropy bonus, detached advantages.

    Todo:
        minus the advantage-weighted log-probabilities, averaged over real steps; entropy bonus.
    """
    third = math.log(3.0)
    logits = torch.tensor([[[third, 0.0], [0.0, third]]])
    check.expect(
        "one episode of two steps, probabilities 0.75 and 0.25 for the action taken",
        """loss = -mean_t A_t log pi(a_t|s_t): log_softmax the logits, gather the action taken: -(1
        * log 0.75 + 2 * log 0.25) / 2 = 1.5301.""",
        "loss",
        lambda: f(logits, torch.tensor([[0, 0]]), torch.tensor([[1.0, 2.0]]), torch.ones(1, 2)),
        1.530135,
        atol=1e-5,
    )
    with check.case(
        "two episodes, the second one step shorter (mask)",
        "Average over the real steps only: divide the masked sum by mask.sum() = 3, not by N * T = 4.",
    ):
        adv = torch.tensor([[1.0, 3.0], [2.0, 100.0]])  # 100 sits on padding and must not count
        loss = f(
            torch.zeros(2, 2, 2),
            torch.tensor([[0, 1], [1, 0]]),
            adv,
            torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
        )
        ln2 = math.log(2.0)
        check.close(
            "loss",
            loss,
            2 * ln2,
            atol=1e-5,
        )
    check.expect(
        "the entropy bonus",
        """Subtract entropy_coef times the mean entropy: a uniform two-way policy has entropy log 2,
        so with A = 0 and entropy_coef = 0.1 the loss is -0.1 log 2.""",
        "loss",
        lambda: f(
            torch.zeros(1, 1, 2), torch.tensor([[0]]), torch.zeros(1, 1), torch.ones(1, 1), 0.1
        ),
        -0.1 * math.log(2.0),
    )
    padded = torch.zeros(2, 2, 2)
    padded[1, 1] = torch.tensor([math.log(3.0), 0.0])  # the padded step: probabilities (3/4, 1/4)
    check.expect(
        "the entropy bonus with a padded step, entropy_coef = 0.5",
        """Average the entropy over the real steps only, as the policy term: (entropy *
        mask).sum() / mask.sum(). The three real steps are uniform (entropy log 2), so the loss
        is -0.5 log 2; the padded step's lower entropy must not count.""",
        "loss",
        lambda: f(
            padded,
            torch.zeros(2, 2, dtype=torch.long),
            torch.zeros(2, 2),
            torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
            0.5,
        ),
        -0.5 * math.log(2.0),
        atol=1e-5,
    )
    with check.case(
        "advantages are constants",
        "Weight by advantages.detach(): the gradient must flow only into the logits.",
    ):
        logits = torch.zeros(1, 2, 2, requires_grad=True)
        adv = torch.tensor([[1.0, -1.0]], requires_grad=True)
        f(logits, torch.tensor([[0, 1]]), adv, torch.ones(1, 2)).backward()
        check.no_grad("no gradient reaches the advantages", adv)
        check.true(
            "the logits get a gradient",
            logits.grad is not None and bool(logits.grad.abs().sum() > 0),
        )
