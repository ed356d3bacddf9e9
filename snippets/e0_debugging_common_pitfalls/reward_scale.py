"""E0 pitfall 6: reward scale."""

# --8<-- [start:imports]
from __future__ import annotations

from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import Config, cartpole_episodes, new_figure
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:reward-scale-setup]
def random_policy_returns(cfg: Config, seed: int, episodes: int = 32) -> tuple[Any, np.ndarray]:
    """States of random-policy CartPole episodes and their discounted returns-to-go."""
    rng = np.random.default_rng(seed)
    ep, returns = cartpole_episodes(
        episodes, lambda obs: rng.integers(0, 2, len(obs)), seed, cfg.gamma
    )
    return ep["obs"][ep["mask"]], returns[ep["mask"]]


def fit_critic(states: np.ndarray, targets: np.ndarray, cfg: Config, seed: int) -> float:
    """Regress a small MLP critic on the targets with Adam; return the explained variance.

    Explained variance 1 - Var(target - prediction) / Var(target) does not depend on the
    scale of the targets, so it compares fits at different reward scales fairly.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a net this small runs fastest on one thread
    try:
        torch.manual_seed(seed)
        x = torch.as_tensor(states, dtype=torch.float32)
        y = torch.as_tensor(targets, dtype=torch.float32)
        critic = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
        )
        opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr)
        for _ in range(cfg.critic_steps):
            loss = ((critic(x).squeeze(-1) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            residual = y - critic(x).squeeze(-1)
        return float(1.0 - residual.var() / y.var())
    finally:
        torch.set_num_threads(threads)


def reward_scale_reference(cfg: Config, seed: int) -> float:
    """The same critic on the rewards as CartPole pays them (+1 a step), for reference."""
    states, returns = random_policy_returns(cfg, seed)
    return fit_critic(states, returns, cfg, seed)


# --8<-- [end:reward-scale-setup]


# --8<-- [start:reward-scale-broken]
def reward_scale_broken(cfg: Config, seed: int) -> float:
    """Rewards 100 times larger (points, cents, ...) fed to the critic as they are."""
    states, returns = random_policy_returns(cfg, seed)
    return fit_critic(states, cfg.reward_scale * returns, cfg, seed)


# --8<-- [end:reward-scale-broken]


# --8<-- [start:reward-scale-fixed]
def reward_scale_fixed(cfg: Config, seed: int) -> float:
    """The same rewards divided by the spread of the returns before the critic sees them."""
    states, returns = random_policy_returns(cfg, seed)
    scaled = cfg.reward_scale * returns
    return fit_critic(states, scaled / (scaled.std() + 1e-8), cfg, seed)


# --8<-- [end:reward-scale-fixed]


# --8<-- [start:reward-scale-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Explained variance of the critic at scale 1, at the large scale, and normalised."""
    bad = outcome.broken
    fig, ax = new_figure(figsize=(6.5, 3.5))
    scale = f"{cfg.reward_scale:g}"
    labels = ["rewards ×1", f"rewards ×{scale}", f"rewards ×{scale}, normalised"]
    values = [outcome.reference, bad, outcome.fixed]
    bars = ax.bar(labels, values, color=["0.6", "tab:red", "tab:blue"])
    ax.bar_label(bars, fmt="%.2f")
    ax.set(
        ylabel=f"explained variance, {cfg.critic_steps} Adam steps",
        ylim=(min(0, bad) - 0.05, 1),
        title="Critic fit vs reward scale",
    )
    return fig


PITFALL = Pitfall(
    name="reward-scale",
    experiment=Experiment(reward_scale_broken, reward_scale_fixed, reward_scale_reference),
    symptom=Symptom("critic's explained variance", lambda result: result),
    figure=figure,
    extra=lambda outcome: {"scale_one": outcome.reference},
    notice=(
        "The same data, the same network and the same number of Adam steps: with the large "
        "rewards the critic's explained variance is {broken:.2f}; after dividing by the spread "
        "of the returns it is {fixed:.2f} (at the original scale: {scale_one:.2f})."
    ),
)
# --8<-- [end:reward-scale-record]
