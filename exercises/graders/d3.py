"""Graders for lesson D3: GRPO's group advantages, RLOO's leave-one-out ones, the DPO loss."""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise

# Two prompts, four completions each: the first group half right, the second all equal.
REWARDS = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])


@exercise("GRPO's group-normalised advantages")
def grade_group_advantages(f, check: Checker) -> None:
    """Two groups of four, scaled by the group std and unscaled.

    Todo:
        centre each group's rewards on their mean, then divide by the group's std (+ STD_EPS).
    """
    s = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    check.expect(
        "rewards (1, 0, 0, 1) and (2, 2, 2, 2), G = 4, scale by the group's std",
        """Per group: (r - mean) / (std + 1e-4) with the Bessel-corrected std (torch's default):
        sqrt(1/3) = 0.57735 for the first group, so +-0.5 / 0.57745 = +-0.86588. A group whose
        rewards are all equal gets 0, not NaN: that is what the 1e-4 is for.""",
        "advantages",
        lambda: f(REWARDS.clone(), 4),
        [s, -s, -s, s, 0.0, 0.0, 0.0, 0.0],
        atol=1e-5,
    )
    check.expect(
        'scale="none" (Dr. GRPO)',
        "Without scaling the advantage is the reward minus its group's mean.",
        "advantages",
        lambda: f(REWARDS.clone(), 4, "none"),
        [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0],
    )
    with check.case(
        "groups are contiguous: G = 2",
        "rewards.view(-1, G) has one row per prompt: here (1, 0), (0, 1), (2, 2), (2, 2).",
    ):
        check.close("advantages", f(REWARDS.clone(), 2, "none"), [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0])
        check.close(
            "advantages",
            f(torch.tensor([3.0, 1.0, 0.0, 0.0]), 2, "none"),
            [1.0, -1.0, 0.0, 0.0],
        )


@exercise("RLOO's leave-one-out advantages")
def grade_rloo_advantages(f, check: Checker) -> None:
    """A group of four and one of two.

    Todo:
        subtract from each reward the mean of the other rewards of its group.
    """
    check.expect(
        "rewards (1, 0, 0, 1), G = 4",
        "Each reward minus the mean of the OTHER three: 1 - 1/3 = 2/3 and 0 - 2/3 = -2/3.",
        "advantages",
        lambda: f(torch.tensor([1.0, 0.0, 0.0, 1.0]), 4),
        [2 / 3, -2 / 3, -2 / 3, 2 / 3],
        atol=1e-6,
    )
    check.expect(
        "two groups of two: (3, 1) and (5, 5)",
        "With G = 2 the other sample is the whole baseline: 3 - 1 = 2, 1 - 3 = -2; equal rewards give 0.",
        "advantages",
        lambda: f(torch.tensor([3.0, 1.0, 5.0, 5.0]), 2),
        [2.0, -2.0, 0.0, 0.0],
    )


@exercise("the DPO loss")
def grade_dpo_loss(f, check: Checker) -> None:
    """One pair by hand, two pairs with beta = 0.5, then the implicit rewards it returns.

    Todo:
        the implicit rewards of both responses, then the Bradley-Terry loss of their difference.
    """
    args = [torch.tensor([-5.0]), torch.tensor([-7.0]), torch.tensor([-5.5]), torch.tensor([-6.5])]
    with check.case(
        "log-probs: chosen -5 (reference -5.5), rejected -7 (reference -6.5), beta = 0.1",
        """Implicit rewards beta (log pi - log pi_ref) = 0.05 and -0.05; the loss is the
        Bradley-Terry loss of their difference, -log sigmoid(0.1) = 0.64440.""",
    ):
        out = f(*args, 0.1)
        check.true(
            "it returns (loss, chosen_rewards, rejected_rewards)",
            isinstance(out, tuple) and len(out) == 3,
        )
        check.close(
            "loss",
            out[0],
            -math.log(1 / (1 + math.exp(-0.1))),
            atol=1e-5,
        )
        check.close("chosen_rewards", out[1], [0.05], atol=1e-6)
        check.close("rejected_rewards", out[2], [-0.05], atol=1e-6)
    chosen, rejected = torch.tensor([-5.0, -3.0]), torch.tensor([-7.0, -2.0])
    ref_chosen, ref_rejected = torch.tensor([-5.5, -3.0]), torch.tensor([-6.5, -4.0])
    # beta = 0.5: chosen rewards (0.25, 0), rejected (-0.25, 1); margins 0.5 and -1
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731  -log sigmoid(m) = softplus(-m)
    with check.case(
        "two pairs, beta = 0.5",
        """beta scales the implicit rewards: (0.25, 0) and (-0.25, 1); the loss is the MEAN over
        pairs of -log sigmoid(margin) for margins 0.5 and -1.""",
    ):
        out = f(chosen, rejected, ref_chosen, ref_rejected, 0.5)
        check.close("loss", out[0], (softplus(-0.5) + softplus(1.0)) / 2, atol=1e-5)
        check.close("chosen_rewards", out[1], [0.25, 0.0], atol=1e-6)
        check.close("rejected_rewards", out[2], [-0.25, 1.0], atol=1e-6)
    with check.case(
        "the implicit rewards are for logging",
        "Return the rewards detached; the gradient flows through the loss only.",
    ):
        chosen = torch.tensor([-5.0], requires_grad=True)
        _, chosen_rewards, _ = f(chosen, *args[1:], 0.1)
        check.true("chosen_rewards does not require grad", not chosen_rewards.requires_grad)
