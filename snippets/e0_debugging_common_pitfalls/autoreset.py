"""E0 pitfall 8: training on the reset step of a Gymnasium vector env."""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import (
    Config,
    make_vector_cartpole,
    new_figure,
    returns_to_go,
)
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom
from snippets.e0_debugging_common_pitfalls.truncation import cartpole_features

# --8<-- [end:imports]


# --8<-- [start:autoreset-setup]
FAILURE_ANGLE = np.deg2rad(12.0)  # CartPole ends an episode once the pole leans past 12 degrees


@dataclass
class ReturnTargets:
    """The return targets of a vector-env rollout, and the rows a loss would train on.

    Attributes:
        obs: observation of each row, shape (T, N, 4).
        reward: reward of each row, shape (T, N).
        target: discounted return-to-go of each row, to the end of its episode.
        trained: True for the rows the loss uses.
    """

    obs: np.ndarray
    reward: np.ndarray
    target: np.ndarray
    trained: np.ndarray

    @property
    def angle(self) -> np.ndarray:
        """Pole angle (radians) of each row's observation."""
        return self.obs[..., 2]

    @property
    def reset_share(self) -> float:
        """Share of trained rows that are reset steps (CartPole pays +1 on every real step)."""
        return float((self.reward[self.trained] == 0).mean())


def random_rollout(cfg: Config, seed: int) -> dict[str, np.ndarray]:
    """A PPO-style rollout: ``autoreset_steps`` steps of ``autoreset_envs`` CartPole copies.

    Actions are random, as at the start of training, so episodes are short (about 20 steps).
    """
    env = make_vector_cartpole(cfg.autoreset_envs)  # Gymnasium's default: next-step autoreset
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list[np.ndarray]] = {
        k: [] for k in ("obs", "reward", "terminated", "truncated")
    }
    for _ in range(cfg.autoreset_steps):
        next_obs, reward, terminated, truncated, _ = env.step(rng.integers(0, 2, env.num_envs))
        for key, value in zip(rows, (obs, reward, terminated, truncated), strict=True):
            rows[key].append(value)
        obs = next_obs
    env.close()
    return {key: np.asarray(value) for key, value in rows.items()}


def return_targets(data: dict[str, np.ndarray], trained: np.ndarray, gamma: float) -> ReturnTargets:
    """Returns-to-go that stop where an episode ends, and the rows marked for training."""
    done = data["terminated"] | data["truncated"]  # pitfall 1: a time-out would bootstrap
    target = returns_to_go(data["reward"], gamma, ends=done)
    return ReturnTargets(data["obs"], data["reward"], target, trained)


# --8<-- [end:autoreset-setup]


# --8<-- [start:autoreset-broken]
def autoreset_broken(cfg: Config, seed: int) -> ReturnTargets:
    """Train on every row of the rollout, as a loop written for Gym's old vector envs did."""
    data = random_rollout(cfg, seed)
    trained = np.ones_like(data["reward"], dtype=bool)  # BUG: includes the reset steps
    return return_targets(data, trained, cfg.gamma)


# --8<-- [end:autoreset-broken]


# --8<-- [start:autoreset-fixed]
def autoreset_fixed(cfg: Config, seed: int) -> ReturnTargets:
    """Mask each copy's step after an episode ended: Gymnasium only reset it."""
    data = random_rollout(cfg, seed)
    done = data["terminated"] | data["truncated"]
    after_done = np.vstack([np.zeros_like(done[:1]), done[:-1]])  # FIX: the reset steps
    return return_targets(data, ~after_done, cfg.gamma)


# --8<-- [end:autoreset-fixed]


# --8<-- [start:autoreset-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Return target against pole angle for every trained row, broken and fixed."""
    fig, axes = new_figure(1, 2, figsize=(10, 3.8), sharex=True, sharey=True)
    for ax, run, name in zip(
        axes, (outcome.broken, outcome.fixed), ("broken", "fixed"), strict=True
    ):
        angle, target = np.degrees(np.abs(run.angle[run.trained])), run.target[run.trained]
        reset = run.reward[run.trained] == 0
        ax.scatter(
            angle[~reset], target[~reset], s=4, color="tab:blue", alpha=0.3, label="real steps"
        )
        ax.scatter(angle[reset], target[reset], s=8, color="tab:red", label="reset steps")
        ax.axvline(12, color="k", ls="--", lw=1, label="12°: the pole has fallen")
        ax.set(
            xlabel="|pole angle| of the row's observation (degrees)",
            title=f"{name}: {reset.mean():.1%} of trained rows are reset steps",
        )
        ax.legend(loc="upper right", fontsize=8)
    axes[0].set_ylabel("return target of the row")
    return fig


def critic_advantages(run: ReturnTargets) -> np.ndarray:
    """G - V(s) for every row, V a linear critic (pitfall 1's features) fitted to the trained rows."""
    x = cartpole_features(run.obs.reshape(-1, 4)).reshape(*run.target.shape, -1)
    w = np.linalg.lstsq(x[run.trained], run.target[run.trained], rcond=None)[0]
    return run.target - x @ w


def extra(outcome: Outcome) -> dict[str, float]:
    """What the broken batch teaches about a fallen pole, as a return and as an advantage."""
    bad = outcome.broken
    reset = bad.reward == 0
    leaning = ~reset & (np.abs(bad.angle) > np.deg2rad(10.0))  # real states about to fall
    advantage = critic_advantages(bad)
    return {
        "fallen": float((np.abs(bad.angle[reset]) > FAILURE_ANGLE).mean()),
        "reset_target": float(bad.target[reset].mean()),
        "leaning_target": float(bad.target[leaning].mean()),
        "reset_advantage": float(advantage[reset].mean()),
        "real_advantage": float(np.abs(advantage[~reset]).mean()),
    }


PITFALL = Pitfall(
    name="autoreset",
    experiment=Experiment(autoreset_broken, autoreset_fixed),
    symptom=Symptom(
        "share of trained rows that are reset steps", lambda result: result.reset_share, "{:.1%}"
    ),
    figure=figure,
    extra=extra,
    notice=(
        "Trained on every row, {broken:.1%} of the batch are reset steps, and {fallen:.0%} of "
        "them start from a pole that has already fallen. Each teaches that a fallen pole is "
        "worth {reset_target:.1f} (γ times the return of the *next* episode), while real "
        "states leaning past 10° are worth {leaning_target:.1f}. With a critic fitted to these "
        "targets (pitfall 1's linear features), the reset rows' advantages average "
        "{reset_advantage:+.1f}, against a typical {real_advantage:.1f} (in absolute value) "
        "for real rows: the biggest pushes in the batch go to actions the environment ignored. "
        "Masked, the share is {fixed:.0%}, and no real row's target changes."
    ),
)
# --8<-- [end:autoreset-record]
