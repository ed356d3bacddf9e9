"""Graders for lesson C2: PPO's clipped surrogate loss and clipped value loss."""

from __future__ import annotations

import torch

from exercises.grading import Checker, exercise


def logs(ratios: list[float]) -> torch.Tensor:
    """New log-probabilities whose ratio to an old log-probability of 0 is ``ratios``."""
    return torch.tensor(ratios, dtype=torch.float64).log()


@exercise("PPO's clipped surrogate loss")
def grade_clipped_surrogate_loss(f, check: Checker) -> None:
    """Four ratios on both sides of the clip, a mask, and where the gradient stops.

    Todo:
        ratio, clipped ratio, the pessimistic min; return (loss, clip fraction).
    """
    with check.case(
        "ratios 1.5, 0.5, 1.1, 0.7 with advantages 1, 1, -2, -1, eps = 0.2",
        """Per sample min(r A, clip(r, 0.8, 1.2) A) = 1.2, 0.5, -2.2, -0.8: mean -0.325, so the loss
        is 0.325. The clip fraction counts |r - 1| > eps: 3 of 4.""",
    ):
        loss, frac = f(
            logs([1.5, 0.5, 1.1, 0.7]),
            torch.zeros(4, dtype=torch.float64),
            torch.tensor([1.0, 1.0, -2.0, -1.0], dtype=torch.float64),
            0.2,
        )
        check.close(
            "loss",
            loss,
            0.325,
            mistakes={
                "forget the minus sign (PPO maximises the objective)": -0.325,
                "take the max instead of the pessimistic min": 0.15,
                "use only the clipped term": 0.25,
                "use only the unclipped term (no clipping at all)": 0.225,
            },
        )
        check.close(
            "clip fraction",
            frac,
            0.75,
            mistakes={"count only the samples where the clipped term won the min": 0.5},
        )
    with check.case(
        "a mask hides a padded sample with a huge advantage",
        """With a mask, average over mask == 1 only: divide the masked sum by mask.sum(), for the
        loss and for the clip fraction.""",
    ):
        new, adv = logs([1.5, 1.0, 3.0]), torch.tensor([1.0, 2.0, 100.0], dtype=torch.float64)
        mask = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
        loss, frac = f(new, torch.zeros(3, dtype=torch.float64), adv, 0.2, mask)
        check.close(
            "loss",
            loss,
            -1.6,
            mistakes={"mask the terms but divide by every sample, padding included": -3.2 / 3},
        )
        check.close("clip fraction", frac, 0.5)
    with check.case(
        "the gradient stops beyond the clip",
        """For A > 0 and r > 1 + eps the clipped term wins the min and is constant: no gradient.
        Inside the clip the gradient in log pi is -r A / N.""",
    ):
        new = logs([1.5, 1.1]).requires_grad_(True)
        loss, _ = f(
            new, torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), 0.2
        )
        loss.backward()
        check.close("d loss / d new_logprobs", new.grad, [0.0, -0.55])


@exercise("PPO's clipped value loss")
def grade_clipped_value_loss(f, check: Checker) -> None:
    """One value that moved a little, one that jumped, and a mask.

    Todo:
        clip the new value around the old one and take the larger squared error.
    """
    new = torch.tensor([1.0, 2.0, 50.0], dtype=torch.float64)
    old = torch.tensor([0.9, 1.0, 0.0], dtype=torch.float64)
    returns = torch.tensor([1.5, 3.0, 0.0], dtype=torch.float64)
    check.expect(
        "V moved 0.1 (inside the clip) and 1.0 (outside), eps = 0.2",
        """V_clip = old + clamp(new - old, -eps, eps) = 1.0 and 1.2; per sample 0.5 * max((V - R)^2,
        (V_clip - R)^2) = 0.125 and 0.5 * 3.24 = 1.62; the mean is 0.8725.""",
        "loss",
        lambda: f(new[:2], old[:2], returns[:2], 0.2),
        0.8725,
        mistakes={
            "take the min of the two squared errors instead of the max": 0.3125,
            "forget the factor 0.5": 1.745,
        },
    )
    check.expect(
        "a padded third sample",
        "Average over mask == 1 only: divide the masked sum by mask.sum().",
        "loss",
        lambda: f(new, old, returns, 0.2, torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)),
        0.8725,
        mistakes={"mask the terms but divide by every sample, padding included": 1.745 / 3},
    )
