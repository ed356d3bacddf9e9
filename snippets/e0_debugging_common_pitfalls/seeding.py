"""E0 pitfall 5: unseeded environments."""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import Config, new_figure
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:seeding-setup]
def random_episode_return(env: Any, obs: np.ndarray, rng: np.random.Generator) -> float:
    """Play one episode with uniformly random actions from ``obs``; return its length."""
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
        total += float(reward)
        if terminated or truncated:
            return total


@dataclass
class Repeat:
    """The same experiment run twice with the same seed."""

    first: list[float]
    second: list[float]

    @property
    def reproducible(self) -> bool:
        """The check every experiment should pass: same seed, same numbers."""
        return self.first == self.second


def run_twice(run: Callable[[Config, int], list[float]], cfg: Config, seed: int) -> Repeat:
    """Run ``run(cfg, seed)`` twice and keep both results."""
    return Repeat(run(cfg, seed), run(cfg, seed))


# --8<-- [end:seeding-setup]


# --8<-- [start:seeding-broken]
def seeding_broken(cfg: Config, seed: int) -> list[float]:
    """Random-policy returns where ``seed`` is accepted but never reaches the randomness."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng()  # BUG: fresh OS entropy on every call
    returns = []
    for _ in range(cfg.seeding_episodes):
        obs, _ = env.reset()  # BUG: the first reset draws its seed from the OS too
        returns.append(random_episode_return(env, obs, rng))
    return returns


# --8<-- [end:seeding-broken]


# --8<-- [start:seeding-fixed]
def seeding_fixed(cfg: Config, seed: int) -> list[float]:
    """Seed the first reset and the agent's generator; later resets continue the sequence."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    returns = []
    for episode in range(cfg.seeding_episodes):
        obs, _ = env.reset(seed=seed) if episode == 0 else env.reset()
        returns.append(random_episode_return(env, obs, rng))
    return returns


# --8<-- [end:seeding-fixed]


# --8<-- [start:seeding-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Two runs with the same seed, for the broken and for the fixed function."""
    fig, axes = new_figure(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, name, run in zip(
        axes, ("broken", "fixed"), (outcome.broken, outcome.fixed), strict=True
    ):
        ax.plot(run.first, marker="o", label="run 1")
        ax.plot(run.second, marker="x", ls="--", label="run 2, same seed")
        ax.set(xlabel="episode", title=f"{name}: reproducible = {run.reproducible}")
        ax.legend()
    axes[0].set_ylabel("random-policy return")
    return fig


PITFALL = Pitfall(
    name="seeding",
    experiment=Experiment(
        lambda cfg, seed: run_twice(seeding_broken, cfg, seed),
        lambda cfg, seed: run_twice(seeding_fixed, cfg, seed),
    ),
    symptom=Symptom("two runs with the same seed agree", lambda result: result.reproducible),
    figure=figure,
    extra=lambda outcome: {"episodes": len(outcome.fixed.first)},
    notice=(
        "Run twice with the same seed, the broken function's {episodes} returns differ; the "
        "fixed function's coincide."
    ),
)
# --8<-- [end:seeding-record]
