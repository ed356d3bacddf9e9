"""E0 pitfall 3: a learning rate that collapses the policy."""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import Config, new_figure, softmax
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:learning-rate-setup]
@dataclass
class BanditRun:
    """Averages over many independent runs of a softmax policy on a bandit.

    Attributes:
        entropy: mean policy entropy (nats) after each step.
        expected_reward: mean of sum_a pi(a) mu_a after each step (best possible: 1.0).
        best_arm_share: share of runs whose most likely arm is the best one at the end.
    """

    entropy: np.ndarray
    expected_reward: np.ndarray
    best_arm_share: float


ARM_MEANS = np.linspace(0.0, 1.0, 5)  # five arms, the last one best; reward noise std 1


def gradient_bandit(lr: float, cfg: Config, seed: int) -> BanditRun:
    """The gradient-bandit algorithm (Sutton & Barto 2.8): REINFORCE on one-step episodes.

    Preferences H are the policy's logits; after pulling arm a and seeing reward r,
    H += lr * (r - baseline) * (onehot(a) - pi). All runs advance together as arrays.
    """
    rng = np.random.default_rng(seed)
    runs, k = cfg.bandit_runs, len(ARM_MEANS)
    prefs, baseline = np.zeros((runs, k)), np.zeros(runs)
    entropy, expected = [], []
    for t in range(cfg.bandit_steps):
        pi = softmax(prefs)
        arm = (pi.cumsum(axis=1) > rng.random((runs, 1))).argmax(axis=1)
        reward = ARM_MEANS[arm] + rng.normal(0.0, 1.0, runs)
        baseline += (reward - baseline) / (t + 1)
        prefs += lr * (reward - baseline)[:, None] * (np.eye(k)[arm] - pi)
        pi = softmax(prefs)
        entropy.append(-(pi * np.log(pi + 1e-12)).sum(axis=1).mean())
        expected.append((pi @ ARM_MEANS).mean())
    best = float((prefs.argmax(axis=1) == k - 1).mean())
    return BanditRun(np.array(entropy), np.array(expected), best)


# --8<-- [end:learning-rate-setup]


# --8<-- [start:learning-rate-broken]
def learning_rate_broken(cfg: Config, seed: int) -> BanditRun:
    """A step size so large that one noisy reward moves the logits by several nats."""
    return gradient_bandit(cfg.lr_too_high, cfg, seed)


# --8<-- [end:learning-rate-broken]


# --8<-- [start:learning-rate-fixed]
def learning_rate_fixed(cfg: Config, seed: int) -> BanditRun:
    """A step size fifty times smaller: the policy stays curious long enough to find the best arm."""
    return gradient_bandit(cfg.lr, cfg, seed)


def entropy_collapsed(entropy: np.ndarray, floor: float = 0.1, within: int = 50) -> bool:
    """The alarm to log in every policy-gradient run: entropy near 0 almost at once."""
    return bool(entropy[:within].min() < floor)


# --8<-- [end:learning-rate-fixed]


# --8<-- [start:learning-rate-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Policy entropy and expected reward per step, for both step sizes."""
    fig, (ax1, ax2) = new_figure(1, 2, figsize=(10, 3.8))
    for run, color, lr in (
        (outcome.broken, "tab:red", cfg.lr_too_high),
        (outcome.fixed, "tab:blue", cfg.lr),
    ):
        ax1.plot(run.entropy, color=color, label=f"lr = {lr:g}")
        ax2.plot(run.expected_reward, color=color, label=f"lr = {lr:g}")
    ax1.set(xlabel="step", ylabel="policy entropy (nats)", title="Entropy")
    ax2.axhline(ARM_MEANS.max(), color="k", ls="--", lw=1, label="best arm")
    ax2.set(xlabel="step", ylabel="expected reward", title="Expected reward")
    ax1.legend()
    ax2.legend()
    return fig


def extra(outcome: Outcome) -> dict[str, Any]:
    """How fast the entropy fell, and how many runs found the best arm."""
    bad, good = outcome.broken, outcome.fixed
    below = np.flatnonzero(bad.entropy < 0.1)
    return {
        "steps": len(bad.entropy),
        "collapse_step": int(below[0] + 1) if len(below) else None,
        "broken_best": bad.best_arm_share,
        "fixed_best": good.best_arm_share,
    }


PITFALL = Pitfall(
    name="learning-rate",
    experiment=Experiment(learning_rate_broken, learning_rate_fixed),
    symptom=Symptom(
        "expected reward at the last step (best 1.0)", lambda result: result.expected_reward[-1]
    ),
    figure=figure,
    extra=extra,
    notice=(
        "With the large step size the entropy falls from $\\ln 5 = 1.61$ nats to under 0.1 in "
        "{collapse_step} steps, and the expected reward *starts* faster, then freezes at "
        "{broken:.2f}: each run locked onto whichever arm got lucky first, and only "
        "{broken_best:.0%} picked the best one. With the small one the climb is slower and "
        "keeps going ({fixed:.2f} after {steps} steps, {fixed_best:.0%} on the best arm)."
    ),
)
# --8<-- [end:learning-rate-record]
