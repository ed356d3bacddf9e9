"""E0, reading learning curves: a baseline you can trust, smoothing, seeds, bands, "solved"."""

# --8<-- [start:imports]
from __future__ import annotations

import os
from typing import Any

import numpy as np

from snippets import common, curves
from snippets.e0_debugging_common_pitfalls.base import (
    Config,
    make_vector_cartpole,
    new_figure,
    rollout_vector,
)

# --8<-- [end:imports]


# --8<-- [start:cem]
def cem_cartpole(cfg: Config, seed: int) -> np.ndarray:
    """Cross-entropy method on a linear CartPole policy: a random-search baseline.

    The policy pushes right when obs @ w > 0. Each iteration samples ``cem_population``
    weight vectors w around a mean, plays one episode with each (in one vector env), and
    moves the mean and spread to the best quarter; a little extra spread keeps it from
    collapsing. A deep-RL agent that cannot beat this on a new task deserves suspicion.

    Returns:
        The return of every episode played, in order (the raw learning curve).
    """
    rng = np.random.default_rng(seed)
    n = cfg.cem_population
    env = make_vector_cartpole(n)
    mean, std = np.zeros(4), np.ones(4)
    curve = []
    for it in range(cfg.cem_iterations):
        weights = mean + std * rng.standard_normal((n, 4))

        def act(obs: np.ndarray, weights: np.ndarray = weights) -> np.ndarray:
            return ((obs * weights).sum(axis=1) > 0).astype(np.int64)

        returns = rollout_vector(env, act, seed * 100_003 + it)["rewards"].sum(axis=0)
        elite = weights[np.argsort(returns)[-n // 4 :]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + cfg.cem_noise
        curve.extend(returns)
    env.close()
    return np.array(curve)


# --8<-- [end:cem]


# --8<-- [start:curves]
def ema(y: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing slider: exponential moving average with bias correction."""
    out, last = np.empty(len(y)), 0.0
    for i, value in enumerate(y):
        last = weight * last + (1 - weight) * value
        out[i] = last / (1 - weight ** (i + 1))
    return out


def seed_band(runs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and interquartile range across seeds; runs has shape (seeds, points)."""
    q25, median, q75 = np.percentile(runs, [25, 50, 75], axis=0)
    return median, q25, q75


def bootstrap_ci(
    values: np.ndarray, seed: int, level: float = 0.95, resamples: int = 10_000
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean over seeds."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    means = rng.choice(values, size=(resamples, len(values))).mean(axis=1)
    return tuple(np.percentile(means, [50 * (1 - level), 50 * (1 + level)]))


# --8<-- [end:curves]


# --8<-- [start:plot]
def plot_learning_curves(runs: np.ndarray, folder: str) -> str:
    """Raw, smoothed and banded learning curves of several seeds, with the solved line."""
    episodes = np.arange(1, runs.shape[1] + 1)
    fig, axes = new_figure(1, 3, figsize=(14, 3.8), sharey=True)
    axes[0].plot(episodes, runs[0], lw=0.8, color="0.6", label="raw (seed 0)")
    axes[0].plot(episodes, ema(runs[0], 0.9), label="EMA 0.9 (TensorBoard)")
    axes[0].plot(episodes, curves.moving_average(runs[0], 100), label="mean of last 100")
    axes[0].set_title("One seed: raw vs smoothed")
    smoothed = np.array([curves.moving_average(run, 20) for run in runs])
    for seed, curve in enumerate(smoothed):
        axes[1].plot(episodes, curve, lw=1, label=f"seed {seed}")
    axes[1].set_title("Every seed (mean of last 20)")
    median, q25, q75 = seed_band(smoothed)
    axes[2].fill_between(episodes, q25, q75, alpha=0.3, label="interquartile range")
    axes[2].plot(episodes, median, label=f"median of {len(runs)} seeds")
    axes[2].set_title("Summary: median and IQR band")
    for ax in axes:
        ax.axhline(curves.SOLVED_RETURN, color="k", ls="--", lw=1)
        ax.set_xlabel("episode")
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel(f"episode return ({curves.SOLVED_RETURN:g} = solved)")
    return common.save_figure(fig, os.path.join(folder, "e0_learning_curves.png"))


def cem_summary(runs: np.ndarray) -> dict[str, Any]:
    """The numbers the page quotes: each seed's last 100-episode mean and when it solved."""
    return {
        "final_100_episode_means": [float(run[-curves.SOLVED_WINDOW :].mean()) for run in runs],
        "solved_at_episode": [curves.first_solved(run) for run in runs],
    }


# --8<-- [end:plot]
