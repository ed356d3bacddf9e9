"""E0's shared pieces: the settings of every experiment, CartPole rollouts, the figures' style.

Every pitfall module runs its experiments with these and draws its figure with
:func:`new_figure`; the record it exports is in ``record``.
"""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
Discount = Annotated[float, common.Range(0, 0.999)]  # below 1: pitfall 1's task never ends
AtLeast2 = Annotated[int, common.Range(2)]
AtLeast4 = Annotated[int, common.Range(4)]


@dataclass(frozen=True)
class Config:
    """Settings of every experiment on the page (all small: the whole atlas runs in seconds)."""

    gamma: Discount = 0.99  # discount of every return on the page
    # 1. truncation: TD(0) evaluation of a CartPole controller that never falls
    truncation_episodes: common.PosInt = 4  # 500-step episodes of the controller
    td_iterations: common.PosInt = 1500  # full-batch TD(0) sweeps
    td_lr: common.PosFloat = 0.5  # TD step size
    # 2. return normalisation: REINFORCE gradient estimates from batches of episodes
    grad_batches: AtLeast2 = 32  # independent gradient estimates
    grad_batch_size: common.PosInt = 16  # episodes per estimate
    # 3. learning rate: a softmax policy on a 5-armed bandit (one-step REINFORCE)
    bandit_runs: common.PosInt = 1000  # independent runs, stepped together
    bandit_steps: common.PosInt = 300  # pulls per run
    lr: common.PosFloat = 0.1  # a step size that works
    lr_too_high: common.PosFloat = 5.0  # a step size that collapses the policy
    # 4. target network: linear TD on a replay buffer of a 3-state loop
    q_gamma: common.Prob = 0.9  # discount of the loop
    q_steps: common.PosInt = 2000  # minibatch updates
    q_lr: common.PosFloat = 0.1  # TD step size
    q_batch: common.PosInt = 32  # transitions per minibatch
    target_every: common.PosInt = 100  # updates between target-network syncs
    # 5. seeding: random-policy CartPole episodes
    seeding_episodes: AtLeast2 = 5  # episodes per run
    # 6. reward scale: fitting a critic with Adam
    reward_scale: common.PosFloat = 100.0  # the factor the broken rewards carry
    critic_steps: common.PosInt = 200  # Adam steps
    critic_lr: common.PosFloat = 1e-2  # Adam step size
    # 7. RLHF: log-probs of sampled tokens in a toy causal language model
    vocab: AtLeast2 = 12  # tokens in the toy vocabulary
    sequence_length: common.PosInt = 16  # sampled tokens per sequence
    sequences: common.PosInt = 64  # sequences sampled
    # 8. autoreset: a PPO-style rollout of a Gymnasium vector env
    autoreset_envs: common.PosInt = 32  # CartPole copies stepped together
    autoreset_steps: common.PosInt = 256  # steps per copy
    # reading learning curves: cross-entropy method on a linear CartPole policy
    cem_iterations: common.PosInt = 20  # CEM iterations per seed
    cem_population: AtLeast4 = 16  # weight vectors tried per iteration
    cem_noise: common.NonNegFloat = 0.02  # extra spread that keeps CEM searching
    seeds: common.PosInt = 5  # seeds of the learning-curve demo


# --8<-- [end:config]


# --8<-- [start:rollout]
def make_vector_cartpole(n_envs: int) -> Any:
    """``n_envs`` CartPole-v1 copies stepped together by NumPy (Gymnasium's vector entry point)."""
    import gymnasium as gym

    return gym.make_vec("CartPole-v1", num_envs=n_envs, vectorization_mode="vector_entry_point")


def rollout_vector(
    env: Any, act: Callable[[np.ndarray], np.ndarray], seed: int
) -> dict[str, np.ndarray]:
    """Play exactly one episode in every copy of a vector env.

    A copy that has finished keeps being stepped (Gymnasium resets it on its next step, see
    pitfall 8), but its steps are masked out.

    Args:
        env: a Gymnasium vector env.
        act: maps a batch of observations (N, obs_dim) to a batch of actions (N,).
        seed: seed for ``env.reset``.

    Returns:
        ``obs`` (T, N, obs_dim), ``actions`` (T, N), ``rewards`` (T, N) and ``mask`` (T, N),
        where ``mask[t, i]`` is True while episode i is still running at step t.
    """
    obs, _ = env.reset(seed=seed)
    alive = np.ones(env.num_envs, dtype=bool)
    out: dict[str, list[np.ndarray]] = {"obs": [], "actions": [], "rewards": [], "mask": []}
    while alive.any():
        actions = act(obs)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        for key, value in (("obs", obs), ("actions", actions), ("mask", alive.copy())):
            out[key].append(value)
        out["rewards"].append(np.where(alive, rewards, 0.0))
        alive &= ~(terminated | truncated)
        obs = next_obs
    return {key: np.asarray(value) for key, value in out.items()}


def cartpole_episodes(
    n_envs: int, act: Callable[[np.ndarray], np.ndarray], seed: int, gamma: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One episode in each of ``n_envs`` CartPole copies (:func:`rollout_vector`).

    Returns:
        The rollout, and the discounted return-to-go of each of its steps, shape (T, N).
    """
    env = make_vector_cartpole(n_envs)
    episodes = rollout_vector(env, act, seed)
    env.close()
    return episodes, returns_to_go(episodes["rewards"], gamma)


def returns_to_go(rewards: np.ndarray, gamma: float, ends: np.ndarray | None = None) -> np.ndarray:
    """Discounted return from each step to the end of its episode; rewards has shape (T, N).

    ``ends[t]`` marks the steps after which an episode is over (the return stops there);
    without it, each column is one episode.
    """
    out = np.zeros_like(rewards, dtype=float)
    running = np.zeros(rewards.shape[1:])
    for t in range(len(rewards) - 1, -1, -1):
        if ends is not None:
            running = np.where(ends[t], 0.0, running)
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable for large logits."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# --8<-- [end:rollout]


# --8<-- [start:figure]
def new_figure(nrows: int = 1, ncols: int = 1, **options: Any) -> tuple[Any, Any]:
    """A figure in the course's style and its axes: ``plt.subplots(nrows, ncols, **options)``.

    matplotlib is imported here, so running the experiments does not load it.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    return plt.subplots(nrows, ncols, **options)


def finish_figure(fig: Any, ax: Any, legend: str = "best", **labels: Any) -> Any:
    """Label one panel (``ax.set(xlabel=..., title=...)``), add its legend and return ``fig``."""
    ax.set(**labels)
    ax.legend(loc=legend)
    return fig


# --8<-- [end:figure]
