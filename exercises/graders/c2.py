"""Graders for lesson C2: PPO's clipped surrogate loss and clipped value loss."""

from __future__ import annotations

import torch

from exercises.grading import Checker, exercise


def logs(ratios: list[float]) -> torch.Tensor:
    """New log-probabilities whose ratio to an old log-probability of 0 is ``ratios``."""
    return torch.tensor(ratios, dtype=torch.float64).log()


@exercise("PPO's clipped surrogate loss")
def grade_clipped_surrogate_loss(f, check: Checker) -> None:
    """Ratios on both sides of the clip, a mask, eps = 0.3, and where the gradient stops.

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
        )
        check.close(
            "clip fraction",
            frac,
            0.75,
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
        )
        check.close("clip fraction", frac, 0.5)
    with check.case(
        "eps = 0.3: ratios 1.25, 0.75, 1.4 with advantages 1, -1, 1",
        """clip_coef is the eps: clip(r, 0.7, 1.3) leaves 1.25 and 0.75 alone and turns 1.4 into
        1.3; per sample min(r A, clip(r) A) = 1.25, -0.75, 1.3, mean 0.6, loss -0.6; only 1.4
        counts as clipped (1/3).""",
    ):
        loss, frac = f(
            logs([1.25, 0.75, 1.4]),
            torch.zeros(3, dtype=torch.float64),
            torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64),
            0.3,
        )
        check.close("loss", loss, -0.6)
        check.close("clip fraction", frac, 1 / 3)
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
    """Values inside and outside the clip (either error winning the max), eps = 0.5, a mask.

    Todo:
        clip the new value around the old one and take the larger squared error.
    """
    new = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    old = torch.tensor([0.9, 1.0, 1.0], dtype=torch.float64)
    returns = torch.tensor([1.5, 3.0, 0.0], dtype=torch.float64)
    check.expect(
        "V moved 0.1 (inside the clip), then 1.0 twice (outside), eps = 0.2",
        """V_clip = old + clamp(new - old, -eps, eps) = 1.0, 1.2, 1.2; per sample 0.5 * max((V -
        R)^2, (V_clip - R)^2) = 0.5 * max(0.25, 0.25), 0.5 * max(1, 3.24), 0.5 * max(4, 1.44) =
        0.125, 1.62, 2: the clipped error wins the max in the second sample, the unclipped one
        in the third; the mean is 1.248333.""",
        "loss",
        lambda: f(new, old, returns, 0.2),
        3.745 / 3,
    )
    check.expect(
        "eps = 0.5 and a padded third sample",
        """clip_coef is the eps: V_clip = 1.0 and 1.5, per sample 0.5 * max(1, 1) = 0.5 and 0.5 *
        max(1, 2.25) = 1.125; average over mask == 1 only (divide the masked sum by mask.sum()):
        0.8125.""",
        "loss",
        lambda: f(
            torch.tensor([1.0, 2.0, 50.0], dtype=torch.float64),
            torch.tensor([0.6, 1.0, 0.0], dtype=torch.float64),
            torch.tensor([0.0, 3.0, 0.0], dtype=torch.float64),
            0.5,
            torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64),
        ),
        0.8125,
    )
