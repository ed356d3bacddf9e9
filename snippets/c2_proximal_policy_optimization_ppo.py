"""Lesson C2: the PPO losses (clipped surrogate and clipped value loss), shared with C3 and D2.

These few lines are the heart of PPO. The from-scratch PPO of this lesson
(``snippets.c2_proximal_policy_optimization_ppo_cartpole``), C3's Gaussian PPO and Chapter
D's RLHF trainer all import them from here, so the course writes them exactly once. The
module also draws the clipped objective (``--plot``); importing the losses costs only torch.
The page's comparison tables are rendered from the benchmark's results by
``snippets/regenerate/views_c.py``.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass

import torch

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:clipped-surrogate]
def clipped_surrogate_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate objective, as a loss to minimise.

    With ratio r = exp(new - old), the objective per sample is
    min(r A, clip(r, 1 - eps, 1 + eps) A); the loss is its negative mean.

    Args:
        new_logprobs: log pi_theta(a|s) under the policy being optimised (requires grad).
        old_logprobs: log pi_old(a|s) recorded when the data was collected.
        advantages: advantage estimates, same shape.
        clip_coef: eps, how far the ratio may move from 1 before the gradient stops.
        mask: optional 0/1 tensor of the same shape (for padded tokens in D2).

    Returns:
        ``(loss, clip_fraction)``: the scalar loss and the share of samples whose ratio
        was clipped (a health metric: near 0 means tiny steps, above ~0.3 too large).
    """
    ratio = torch.exp(new_logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    objective = torch.minimum(unclipped, clipped)
    was_clipped = ((ratio - 1.0).abs() > clip_coef).float()
    if mask is None:
        return -objective.mean(), was_clipped.mean()
    denom = mask.sum().clamp_min(1.0)
    return -(objective * mask).sum() / denom, (was_clipped * mask).sum() / denom


# --8<-- [end:clipped-surrogate]


# --8<-- [start:clipped-value]
def clipped_value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's clipped value loss: 0.5 * max((V - R)^2, (V_clip - R)^2).

    The new value prediction may move at most ``clip_coef`` away from the prediction made
    at collection time, mirroring the policy clip.

    Args:
        new_values: V_theta(s) from the network being optimised.
        old_values: V(s) recorded at collection time.
        returns: regression targets (advantages + old values).
        clip_coef: largest allowed move of the value prediction.
        mask: optional 0/1 tensor of the same shape.

    Returns:
        The scalar loss.
    """
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    loss = 0.5 * torch.maximum((new_values - returns) ** 2, (clipped_values - returns) ** 2)
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


# --8<-- [end:clipped-value]


# --8<-- [start:objective-figure]
def clipped_objective_and_gradient(
    ratios: torch.Tensor, advantage: float, clip_coef: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's per-sample objective and its derivative in the ratio, one ratio at a time.

    Uses :func:`clipped_surrogate_loss` itself (with old log-prob 0, so the ratio is
    ``exp(new_logprob)``), so the figure shows the function that D2 trains with.

    Returns:
        ``(objective, d objective / d ratio)``, each with the shape of ``ratios``.
    """
    objective, gradient = [], []
    for r in ratios.tolist():
        new_logprob = torch.tensor([r]).log().requires_grad_(True)
        loss, _ = clipped_surrogate_loss(
            new_logprob, torch.zeros(1), torch.tensor([advantage]), clip_coef
        )
        (d_logprob,) = torch.autograd.grad(-loss, new_logprob)
        objective.append(-loss.item())
        gradient.append(d_logprob.item() / r)  # chain rule: d/dr = d/dlogr * dlogr/dr
    return torch.tensor(objective), torch.tensor(gradient)


def plot_clipped_objective(path: str, clip_coef: float = 0.2) -> str:
    """Draw L^CLIP against the ratio for A = +1 and A = -1 and mark where the gradient is 0."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    ratios = torch.linspace(0.3, 1.7, 281)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6), sharex=True)
    for ax, adv in zip(axes, (1.0, -1.0), strict=True):
        objective, gradient = clipped_objective_and_gradient(ratios, adv, clip_coef)
        ax.plot(ratios, ratios * adv, color="grey", ls=":", label="unclipped  r·A")
        ax.plot(ratios, objective, lw=2.2, label="PPO  min(r·A, clip(r)·A)")
        flat = gradient.abs() < 1e-9
        low, high = ax.get_ylim()
        ax.fill_between(
            ratios,
            low,
            high,
            where=flat.numpy(),
            color="tab:orange",
            alpha=0.15,
            label="gradient is zero",
        )
        ax.set_ylim(low, high)
        for edge in (1 - clip_coef, 1 + clip_coef):
            ax.axvline(edge, color="black", lw=0.8, ls="--")
        sign = "> 0" if adv > 0 else "< 0"
        ax.set(title=f"advantage A {sign}", xlabel="probability ratio r = π_new / π_old")
        ax.legend(fontsize=8, loc="upper left" if adv > 0 else "lower left")
    axes[0].set_ylabel("objective (maximised)")
    return common.save_figure(fig, path)


# --8<-- [end:objective-figure]


# --8<-- [start:main]
@dataclass(frozen=True)
class Config:
    """The one setting of the figure."""

    clip_coef: common.Prob = 0.2  # PPO's epsilon


def main(argv: list[str] | None = None) -> dict:
    """Draw the clipped objective and print it, and its derivative, at three ratios."""
    outputs = {"plot": "save the clipped-objective figure here (PNG)"}
    parser = common.config_parser(Config, __doc__, __spec__, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    ratios = torch.tensor([0.5, 1.0, 1.5])
    metrics: dict = {"clip_coef": cfg.clip_coef, "ratios": ratios.tolist()}
    for adv, key in ((1.0, "a_pos"), (-1.0, "a_neg")):
        obj, grad = clipped_objective_and_gradient(ratios, adv, cfg.clip_coef)
        metrics[f"objective_{key}"] = obj.tolist()
        metrics[f"gradient_{key}"] = grad.tolist()
    if args.plot:
        plot_clipped_objective(args.plot, cfg.clip_coef)
    return common.emit_metrics(metrics)


# --8<-- [end:main]


if __name__ == "__main__":
    main()
