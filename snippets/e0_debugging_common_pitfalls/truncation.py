"""E0 pitfall 1: treating a time limit as a real ending."""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import Config, finish_figure, new_figure
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:truncation-setup]
@dataclass
class ValueEstimate:
    """Result of a TD evaluation: the mean predicted value per iteration and at the end."""

    curve: np.ndarray
    value: float
    true_value: float


def balancing_controller(obs: np.ndarray) -> int:
    """A hand-written CartPole policy that never drops the pole: every episode times out."""
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0)


def controller_transitions(episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Transitions (s, r, s', terminated, truncated) of the controller on CartPole-v1."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "reward", "next_obs", "term", "trunc")}
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        while True:
            next_obs, reward, terminated, truncated, _ = env.step(balancing_controller(obs))
            for key, value in zip(
                rows, (obs, reward, next_obs, terminated, truncated), strict=True
            ):
                rows[key].append(value)
            obs = next_obs
            if terminated or truncated:
                break
    return {key: np.asarray(value) for key, value in rows.items()}


def cartpole_features(obs: np.ndarray) -> np.ndarray:
    """Linear-regression features [1, s, s^2] of CartPole observations (no clock in them)."""
    return np.column_stack([np.ones(len(obs)), obs, obs**2])


def batch_td_evaluation(
    data: dict[str, np.ndarray], stop_bootstrap: np.ndarray, cfg: Config
) -> ValueEstimate:
    """Semi-gradient TD(0) on a fixed batch of transitions with a linear value function.

    ``stop_bootstrap`` marks the transitions whose target is the reward alone.
    """
    phi, phi_next = cartpole_features(data["obs"]), cartpole_features(data["next_obs"])
    w = np.zeros(phi.shape[1])
    curve = []
    for _ in range(cfg.td_iterations):
        target = data["reward"] + cfg.gamma * (1.0 - stop_bootstrap) * (phi_next @ w)
        w += cfg.td_lr * phi.T @ (target - phi @ w) / len(phi)
        curve.append((phi @ w).mean())
    # The controller never fails and earns +1 a step: the value of the never-ending task
    # it is solving is 1 + gamma + gamma^2 + ... = 1 / (1 - gamma).
    return ValueEstimate(np.array(curve), curve[-1], 1.0 / (1.0 - cfg.gamma))


# --8<-- [end:truncation-setup]


# --8<-- [start:truncation-broken]
def truncation_broken(cfg: Config, seed: int) -> ValueEstimate:
    """TD evaluation that stops bootstrapping at the 500-step time limit (the bug)."""
    data = controller_transitions(cfg.truncation_episodes, seed)
    done = data["term"] | data["trunc"]  # BUG: a time-out is treated like the pole falling
    return batch_td_evaluation(data, done.astype(float), cfg)


# --8<-- [end:truncation-broken]


# --8<-- [start:truncation-fixed]
def truncation_fixed(cfg: Config, seed: int) -> ValueEstimate:
    """TD evaluation that bootstraps through time-outs and stops only on real endings."""
    data = controller_transitions(cfg.truncation_episodes, seed)
    done = data["term"]  # FIX: only `terminated` ends the return; `truncated` bootstraps
    return batch_td_evaluation(data, done.astype(float), cfg)


# --8<-- [end:truncation-fixed]


# --8<-- [start:truncation-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """The mean predicted value per TD iteration, broken and fixed, against the truth."""
    fig, ax = new_figure()
    ax.plot(outcome.broken.curve, color="tab:red", label="broken: done = terminated or truncated")
    ax.plot(outcome.fixed.curve, color="tab:blue", label="fixed: done = terminated")
    ax.axhline(outcome.fixed.true_value, color="k", ls="--", lw=1, label="true value 1/(1-γ)")
    labels = {"xlabel": "TD iteration", "ylabel": "mean predicted V(s)"}
    return finish_figure(fig, ax, title="Truncation is not termination", **labels)


def extra(outcome: Outcome) -> dict[str, float]:
    """The truth, the broken estimate's relative bias and the fixed estimate's error."""
    truth = outcome.fixed.true_value
    return {
        "truth": truth,
        "bias": 1.0 - outcome.broken.value / truth,
        "fixed_error": abs(outcome.fixed.value - truth),
    }


PITFALL = Pitfall(
    name="truncation",
    experiment=Experiment(truncation_broken, truncation_fixed),
    symptom=Symptom("mean TD value estimate (truth 100)", lambda result: result.value),
    figure=figure,
    extra=extra,
    notice=(
        "The broken estimate settles at {broken:.1f}, not {truth:.0f}: a {bias:.0%} bias on a "
        "policy that *never fails*. The fixed target recovers {truth:.0f} to within "
        "{fixed_error:.1f}."
    ),
)
# --8<-- [end:truncation-record]
