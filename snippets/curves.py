"""Learning curves, shared by the lessons: smoothing, "solved", schedules, seeds and curve files.

Several lessons train on CartPole-v1 and report the same things: the 100-episode mean
return, the first episode at which it reaches 475, a linearly decaying exploration rate or
learning rate, evaluation episodes on seeds the training never saw, and a learning curve
written to a small JSON file that the benchmark overlays on one figure. Each of those is
written once, here.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import numpy as np

# --8<-- [end:imports]


# --8<-- [start:constants]
# CartPole-v1 counts as solved when the mean return of the last 100 episodes reaches 475
# (gymnasium.spec("CartPole-v1").reward_threshold; an episode is capped at 500).
SOLVED_RETURN = 475.0
SOLVED_WINDOW = 100

# A lesson trained with seed s evaluates on seed s + EVAL_SEED_OFFSET (episodes the training
# never plays, used to pick checkpoints) and scores its final agent on s + TEST_SEED_OFFSET
# (fresh episodes that not even the checkpoint selection has seen).
EVAL_SEED_OFFSET = 10_000
TEST_SEED_OFFSET = 20_000

# --8<-- [end:constants]


# --8<-- [start:smoothing]
def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (of fewer at the start).

    Args:
        values: One number per episode (or per evaluation).
        window: How many of the latest values each mean covers.

    Returns:
        An array as long as ``values``: position i holds the mean of
        ``values[max(0, i - window + 1) : i + 1]``.
    """
    v = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def best_mean_return(returns: Sequence[float], window: int = SOLVED_WINDOW) -> float:
    """The highest ``window``-episode mean return reached (over full windows if there are any)."""
    means = moving_average(returns, window)
    return float(means[window - 1 :].max() if len(means) >= window else means.max())


def first_solved(
    returns: Sequence[float], threshold: float = SOLVED_RETURN, window: int = SOLVED_WINDOW
) -> int | None:
    """The first episode at which the mean of the last ``window`` returns reaches ``threshold``.

    Returns:
        The 1-based episode count (so at least ``window``), or ``None`` if it never does.
    """
    if len(returns) < window:
        return None
    means = moving_average(returns, window)[window - 1 :]
    hits = np.flatnonzero(means >= threshold)
    return int(hits[0] + window) if len(hits) else None


def mean_episode_curve(
    returns: Sequence[Sequence[float]],
    lengths: Sequence[Sequence[int]],
    window: int = SOLVED_WINDOW,
) -> tuple[np.ndarray, np.ndarray]:
    """The learning curve of several seeds that each played the same number of episodes.

    Args:
        returns: One list of episode returns per seed.
        lengths: The episodes' lengths in environment steps, same shape.
        window: Episodes in the moving average.

    Returns:
        ``(x, y)``: environment steps at the end of each episode and the ``window``-episode
        mean return there, both averaged over the seeds.
    """
    x = np.mean([np.cumsum(steps) for steps in lengths], axis=0)
    y = np.mean([moving_average(r, window) for r in returns], axis=0)
    return x, y


def moving_average_at_steps(
    steps: Sequence[int], returns: Sequence[float], window: int = SOLVED_WINDOW, points: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """The mean return of the last ``window`` episodes, read at evenly spaced step counts.

    For training that runs many environments at once, where episodes end at uneven steps.

    Args:
        steps: The environment step at which each episode ended, in order.
        returns: Each episode's return.
        window: Episodes in the moving average.
        points: How many step counts to read it at, from the first episode's end to the last.

    Returns:
        ``(x, y)``: the step counts (integers) and the mean of the last ``window`` returns of
        episodes that had ended by then.
    """
    steps_arr, returns_arr = np.asarray(steps), np.asarray(returns, dtype=np.float64)
    grid = np.linspace(steps_arr[0], steps_arr[-1], points).astype(int)
    means = [returns_arr[steps_arr <= x][-window:].mean() for x in grid]
    return grid, np.asarray(means)


# --8<-- [end:smoothing]


# --8<-- [start:schedule]
def linear_schedule(
    start: float, end: float, end_fraction: float = 1.0
) -> Callable[[float], float]:
    """A value that moves linearly from ``start`` to ``end``, then stays at ``end``.

    The schedule is a function of ``progress_remaining``, which falls from 1 at the start
    of training to 0 at its end: Stable-Baselines3's convention, so the result can be passed
    to SB3 as a learning rate. It is the same line as SB3's own ``LinearSchedule``, which
    decays DQN's ε.

    Args:
        start: The value at the start (``progress_remaining = 1``).
        end: The value once a share ``end_fraction`` of training is done, and after.
        end_fraction: The share of training the decay takes, in (0, 1].

    Returns:
        ``schedule(progress_remaining) -> value``.
    """

    def schedule(progress_remaining: float) -> float:
        # The share of the decay still ahead: 1 at the start, 0 once it is over.
        ahead = max(0.0, (progress_remaining - (1.0 - end_fraction)) / end_fraction)
        return end + (start - end) * ahead

    return schedule


# --8<-- [end:schedule]


# --8<-- [start:curve-file]
def write_curve(
    path: str | os.PathLike[str],
    x: Sequence[float],
    y: Sequence[float],
    label: str,
    x_label: str = "environment steps",
) -> str:
    """Write a learning curve as JSON ``{"x_label", "x", "y", "label"}``.

    The benchmark reads these files (``--curve PATH``) and draws every lesson's curve on
    one figure; C1 overlays them with ``--compare-curve``.

    Returns:
        The path written, as a string.
    """
    if len(x) != len(y):
        raise ValueError(f"a curve needs as many x as y values, got {len(x)} and {len(y)}")
    data = {
        "x_label": x_label,
        "x": [round(float(v), 1) for v in x],
        "y": [round(float(v), 2) for v in y],
        "label": label,
    }
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def read_curve(path: str | os.PathLike[str]) -> dict:
    """Read a curve written by :func:`write_curve`.

    Raises:
        ValueError: If the file lacks a key or its x and y differ in length.
    """
    with open(path) as f:
        data = json.load(f)
    missing = {"x_label", "x", "y", "label"} - data.keys()
    if missing or len(data["x"]) != len(data["y"]):
        raise ValueError(f"{os.fspath(path)} is not a learning curve (missing {sorted(missing)})")
    return data


# --8<-- [end:curve-file]
