"""E0 pitfall 2: raw returns as REINFORCE weights."""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import (
    Config,
    cartpole_episodes,
    finish_figure,
    new_figure,
    softmax,
)
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:normalisation-setup]
@dataclass
class GradientStats:
    """Agreement of REINFORCE gradient estimates from independent batches of episodes.

    Attributes:
        snr: signal-to-noise ratio ``|mean g|^2 / mean |g - mean g|^2`` over batches.
        cosines: cosine of each batch's gradient with the mean gradient.
    """

    snr: float
    cosines: np.ndarray


# A half-trained linear softmax policy: logits = obs @ THETA, episodes last ~200 steps.
THETA = np.array([[-0.3, 0.3], [-0.6, 0.6], [-3.0, 3.0], [-1.5, 1.5]])


def reinforce_gradients(
    weight_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], cfg: Config, seed: int
) -> GradientStats:
    """Estimate grad J for THETA from ``grad_batches`` batches and measure how they agree.

    The gradient of sum_t w_t log pi(a_t|s_t) for a linear softmax policy is
    sum_t s_t (onehot(a_t) - pi(.|s_t)) w_t, averaged over the episodes of a batch.

    Args:
        weight_fn: maps (returns_to_go, mask) of one batch to the per-step weights w_t.
        cfg: settings (``gamma``, ``grad_batches``, ``grad_batch_size``).
        seed: seed of the environments and of the action sampling.
    """
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        return (rng.random(len(obs)) < softmax(obs @ THETA)[:, 1]).astype(np.int64)

    ep, returns = cartpole_episodes(cfg.grad_batches * cfg.grad_batch_size, act, seed, cfg.gamma)
    score = np.eye(2)[ep["actions"]] - softmax(ep["obs"] @ THETA)  # d log pi / d logits
    grads = []
    for b in range(cfg.grad_batches):
        cols = slice(b * cfg.grad_batch_size, (b + 1) * cfg.grad_batch_size)
        w = weight_fn(returns[:, cols], ep["mask"][:, cols]) * ep["mask"][:, cols]
        g = np.einsum("tni,tna,tn->ia", ep["obs"][:, cols], score[:, cols], w)
        grads.append(g.ravel() / cfg.grad_batch_size)
    grads = np.array(grads)
    mean = grads.mean(axis=0)
    noise = ((grads - mean) ** 2).sum(axis=1).mean()
    cosines = grads @ mean / (np.linalg.norm(grads, axis=1) * np.linalg.norm(mean))
    return GradientStats(float(mean @ mean / noise), cosines)


# --8<-- [end:normalisation-setup]


# --8<-- [start:normalisation-broken]
def raw_returns(returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The bug: weight each log-prob by its raw return-to-go (all positive on CartPole)."""
    return returns


def normalisation_broken(cfg: Config, seed: int) -> GradientStats:
    """REINFORCE gradients weighted by raw returns."""
    return reinforce_gradients(raw_returns, cfg, seed)


# --8<-- [end:normalisation-broken]


# --8<-- [start:normalisation-fixed]
def normalised_returns(returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The fix: subtract the batch mean (a baseline) and divide by the batch std."""
    valid = returns[mask]
    return (returns - valid.mean()) / (valid.std() + 1e-8)


def normalisation_fixed(cfg: Config, seed: int) -> GradientStats:
    """REINFORCE gradients weighted by returns normalised over the batch."""
    return reinforce_gradients(normalised_returns, cfg, seed)


# --8<-- [end:normalisation-fixed]


# --8<-- [start:normalisation-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Histograms of each batch gradient's cosine with the mean gradient, broken and fixed."""
    bad, good = outcome.broken, outcome.fixed
    fig, ax = new_figure()
    bins = np.linspace(-1, 1, 41)
    ax.hist(
        bad.cosines, bins=bins, color="tab:red", alpha=0.6, label=f"raw returns (SNR {bad.snr:.2f})"
    )
    ax.hist(
        good.cosines,
        bins=bins,
        color="tab:blue",
        alpha=0.6,
        label=f"normalised returns (SNR {good.snr:.2f})",
    )
    title = "REINFORCE gradient agreement across batches"
    labels = {"xlabel": "cosine(batch gradient, mean gradient)", "ylabel": "batches"}
    return finish_figure(fig, ax, "upper left", title=title, **labels)


PITFALL = Pitfall(
    name="normalisation",
    experiment=Experiment(normalisation_broken, normalisation_fixed),
    symptom=Symptom("gradient signal-to-noise ratio", lambda result: result.snr),
    figure=figure,
    extra=lambda outcome: {
        "batches": len(outcome.broken.cosines),
        "raw_below_half": int((outcome.broken.cosines < 0.5).sum()),
    },
    notice=(
        "Normalising raises the SNR from {broken:.1f} to {fixed:.1f}, and {raw_below_half} of "
        "the {batches} raw-return batches are closer to orthogonal to the mean gradient than "
        "parallel to it (cosine below 0.5): an update in a direction that is mostly noise."
    ),
)
# --8<-- [end:normalisation-record]
