"""E0 pitfall 4: bootstrapping from the weights being updated (no target network)."""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import Config, finish_figure, new_figure
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:target-network-setup]
# A loop of three states 0 -> 1 -> 2 -> 0 with reward 0 everywhere, so the true values are 0.
# Two features per state: updating state 0 also moves states 1 and 2 (generalisation).
LOOP_FEATURES = np.array([[1.0, 0.0], [2.0, 1.0], [1.0, 1.0]])
LOOP_NEXT = np.array([1, 2, 0])
SKEWED_REPLAY = np.array([9.0, 1.0, 1.0]) / 11  # the buffer holds mostly state-0 transitions
ON_POLICY_REPLAY = np.ones(3) / 3  # a well-mixed buffer: each state as often as it is visited


@dataclass
class TDRun:
    """Largest absolute value estimate |V(s)| after each update (the truth is 0)."""

    max_abs_value: np.ndarray

    @property
    def final(self) -> float:
        """The last recorded max |V(s)|."""
        return float(self.max_abs_value[-1])


def linear_td_on_replay(
    replay: np.ndarray, target_every: int | None, cfg: Config, seed: int
) -> TDRun:
    """Minibatch semi-gradient TD(0) with linear features, sampling transitions from a buffer.

    This is DQN's update with one action per state (so the max over actions disappears)
    and a linear "network" V(s) = phi(s) @ w.

    Args:
        replay: probability of each state's transition in the replay buffer.
        target_every: copy w into the target weights every this many updates; ``None``
            bootstraps from w itself (no target network).
        cfg: settings (``q_gamma``, ``q_steps``, ``q_lr``, ``q_batch``).
        seed: seed of the minibatch sampling.
    """
    rng = np.random.default_rng(seed)
    w = np.ones(2)
    w_target = w.copy()
    history = []
    for step in range(cfg.q_steps):
        if target_every is not None and step % target_every == 0:
            w_target = w.copy()
        bootstrap = w if target_every is None else w_target
        s = rng.choice(3, size=cfg.q_batch, p=replay)
        td_error = (
            0.0 + cfg.q_gamma * LOOP_FEATURES[LOOP_NEXT[s]] @ bootstrap - LOOP_FEATURES[s] @ w
        )
        w = w + cfg.q_lr * (LOOP_FEATURES[s] * td_error[:, None]).mean(axis=0)
        history.append(np.abs(LOOP_FEATURES @ w).max())
        if history[-1] > 1e12:  # diverged: stop before overflowing
            break
    return TDRun(np.array(history))


def well_mixed_replay(cfg: Config, seed: int) -> TDRun:
    """The other fix, shown for reference: no target network, but an on-policy buffer."""
    return linear_td_on_replay(ON_POLICY_REPLAY, target_every=None, cfg=cfg, seed=seed)


# --8<-- [end:target-network-setup]


# --8<-- [start:target-network-broken]
def target_network_broken(cfg: Config, seed: int) -> TDRun:
    """No target network, and a replay buffer dominated by one part of the state space."""
    return linear_td_on_replay(SKEWED_REPLAY, target_every=None, cfg=cfg, seed=seed)


# --8<-- [end:target-network-broken]


# --8<-- [start:target-network-fixed]
def target_network_fixed(cfg: Config, seed: int) -> TDRun:
    """The same data and features, bootstrapping from a copy refreshed every 100 updates."""
    return linear_td_on_replay(SKEWED_REPLAY, target_every=cfg.target_every, cfg=cfg, seed=seed)


# --8<-- [end:target-network-fixed]


# --8<-- [start:target-network-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Max |V(s)| per update on a log scale: no target network, target network, mixed buffer."""
    fig, ax = new_figure()
    ax.semilogy(
        outcome.broken.max_abs_value, color="tab:red", label="no target network, skewed replay"
    )
    ax.semilogy(
        outcome.fixed.max_abs_value,
        color="tab:blue",
        label=f"target network (sync every {cfg.target_every})",
    )
    ax.semilogy(
        outcome.reference.max_abs_value,
        color="tab:green",
        ls=":",
        label="no target network, well-mixed replay",
    )
    title = "Bootstrapping on replay"
    return finish_figure(fig, ax, xlabel="update", ylabel="max |V(s)|  (truth: 0)", title=title)


PITFALL = Pitfall(
    name="target-network",
    experiment=Experiment(target_network_broken, target_network_fixed, well_mixed_replay),
    symptom=Symptom(
        "max \\|V(s)\\| after the last update (truth 0)", lambda result: result.final, "{:.3g}"
    ),
    figure=figure,
    extra=lambda outcome: {
        "order": int(np.floor(np.log10(outcome.broken.final))),
        "updates": len(outcome.broken.max_abs_value),
        "mixed": outcome.reference.final,
    },
    notice=(
        "Without a target network the largest value passes $10^{{{order}}}$ after {updates} "
        "updates (where the run stops, before floating point overflows); with one it ends at "
        "{fixed:.2g}, and with the well-mixed buffer at {mixed:.4f}."
    ),
)
# --8<-- [end:target-network-record]
