"""Lesson E1: reward hacking you can run, a gridworld that farms a bonus, and its fix.

Two small demonstrations of specification gaming. A gridworld whose designer added a
"checkpoint" bonus: the optimal policy under that proxy reward circles the checkpoint forever
and never reaches the goal; paying the same bonus as a potential difference (Ng et al.,
1999) removes the loophole without changing the optimal policy. And best-of-n sampling
against a reward model with a length bias: the proxy score climbs with optimisation
pressure while the hidden "gold" score rises, peaks and falls (Gao et al., 2022).
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np

from snippets import a3_mdp_and_bellman as a3
from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
Discount = Annotated[float, common.Range(0, 0.999)]  # below 1: farming forever must be finite


@dataclass(frozen=True)
class Config:
    """Settings of both demonstrations."""

    shape: tuple[int, int] = (4, 6)  # rows, columns of the gridworld
    start: tuple[int, int] = (3, 0)
    goal: tuple[int, int] = (0, 5)  # terminal; entering it pays goal_reward
    checkpoint: tuple[int, int] = (2, 1)  # entering it pays bonus under the proxy reward
    goal_reward: common.PosFloat = 10.0  # paid on entering the goal
    bonus: common.PosFloat = 1.0  # checkpoint bonus of the proxy reward
    gamma: Discount = 0.95  # discount factor
    max_steps: common.PosInt = 100  # rollout cap (the proxy policy never ends on its own)
    # best-of-n against a length-biased reward model
    trials: common.PosInt = 2000  # prompts in the best-of-n experiment, each with max_n answers
    max_n: common.PosInt = 1024  # the largest n (n = 1, 2, 4, ... up to it)
    length_bias: common.NonNegFloat = 1.0  # reward model: quality + length_bias * length + noise
    rm_noise: common.NonNegFloat = 0.5  # std of the reward model's noise
    length_penalty: common.NonNegFloat = 0.5  # gold: quality - length_penalty * (length - 1)^2
    length_spread: common.PosFloat = 0.5  # log-length ~ N(0, length_spread^2)


# --8<-- [end:config]


# --8<-- [start:rewards]
def cell(cfg: Config, rc: tuple[int, int]) -> int:
    """State number of a (row, column) cell, numbered row by row as in A3."""
    return rc[0] * cfg.shape[1] + rc[1]


def true_task(cfg: Config) -> a3.MDP:
    """What the designer wants: reach the goal. +goal_reward on entering it, 0 otherwise."""
    base = a3.gridworld(cfg.shape, cfg.gamma, off_grid_reward=0.0, terminals=(cfg.goal,))
    entering_goal = base.P[:, :, cell(cfg, cfg.goal)]  # P(s' = goal | s, a)
    return a3.MDP(
        base.P, base.R + cfg.goal_reward * entering_goal, cfg.gamma, base.terminal, base.shape
    )


def proxy_task(cfg: Config) -> a3.MDP:
    """What the designer wrote: the true reward plus a bonus every time the checkpoint is entered.

    The bonus was meant as a hint ("the good route passes the checkpoint"), but it pays on
    every entry, so stepping off and back on earns it again.
    """
    task = true_task(cfg)
    entering_checkpoint = task.P[:, :, cell(cfg, cfg.checkpoint)]
    return a3.MDP(
        task.P, task.R + cfg.bonus * entering_checkpoint, task.gamma, task.terminal, task.shape
    )


# --8<-- [end:rewards]


# --8<-- [start:shaping]
def checkpoint_potential(cfg: Config) -> np.ndarray:
    """Phi(s): the bonus on the checkpoint cell, 0 elsewhere (and 0 at the terminal goal)."""
    phi = np.zeros(cfg.shape[0] * cfg.shape[1])
    phi[cell(cfg, cfg.checkpoint)] = cfg.bonus
    return phi


def shaped_task(cfg: Config, phi: np.ndarray) -> a3.MDP:
    """The true reward plus F(s, a, s') = gamma * Phi(s') - Phi(s) (potential-based shaping).

    Entering the checkpoint pays gamma * bonus, leaving it costs bonus: a round trip is
    worth exactly 0 once discounted (and less than 0 undiscounted), so there is nothing
    to farm. Ng, Harada & Russell (1999)
    prove that such shaping leaves the optimal policy unchanged:
    Q_shaped(s, a) = Q_true(s, a) - Phi(s).
    """
    task = true_task(cfg)
    shaping = task.gamma * task.P @ phi - phi[:, None]  # expected F for each (s, a)
    shaping[task.terminal] = 0.0
    return a3.MDP(task.P, task.R + shaping, task.gamma, task.terminal, task.shape)


# --8<-- [end:shaping]


# --8<-- [start:rollout]
@dataclass
class Episode:
    """A greedy rollout from the start cell, scored under both reward functions."""

    path: list[int]
    reached_goal: bool
    true_return: float  # undiscounted sum of the true reward
    proxy_return: float  # undiscounted sum of the proxy reward
    checkpoint_visits: int


def solve(task: a3.MDP) -> tuple[np.ndarray, np.ndarray]:
    """Value iteration (from A3) and the greedy policy's first-choice action in each state."""
    v, _ = a3.value_iteration(task)
    return v, a3.q_values(task, v).argmax(axis=1)


def rollout(cfg: Config, actions: np.ndarray) -> Episode:
    """Follow a deterministic policy from the start for at most ``max_steps`` steps."""
    truth, proxy = true_task(cfg), proxy_task(cfg)
    s, path = cell(cfg, cfg.start), [cell(cfg, cfg.start)]
    true_return = proxy_return = 0.0
    for _ in range(cfg.max_steps):
        a = actions[s]
        true_return += truth.R[s, a]
        proxy_return += proxy.R[s, a]
        s = int(truth.P[s, a].argmax())  # deterministic moves
        path.append(s)
        if truth.terminal[s]:
            break
    visits = path.count(cell(cfg, cfg.checkpoint))
    return Episode(path, bool(truth.terminal[s]), true_return, proxy_return, visits)


# --8<-- [end:rollout]


# --8<-- [start:best-of-n]
@dataclass
class Overoptimisation:
    """Best-of-n against a proxy reward model, averaged over prompts.

    Attributes:
        n: candidates per prompt.
        kl: KL(best-of-n || base) = log n - (n - 1) / n nats: exact here, where scores are
            continuous and never tie; an upper bound in general (Beirami et al., 2024).
        proxy: mean reward-model score of the chosen answer.
        gold: mean gold (true) score of the chosen answer.
        length: mean length of the chosen answer (1 = typical).
    """

    n: np.ndarray
    kl: np.ndarray
    proxy: np.ndarray
    gold: np.ndarray
    length: np.ndarray


def best_of_n(cfg: Config, seed: int) -> Overoptimisation:
    """Pick the answer the reward model likes best among n samples, for n = 1, 2, 4, ...

    Each sampled answer has a quality q ~ N(0, 1) and a length l (lognormal, typical 1).
    The gold judge wants quality at a typical length: gold = q - c (l - 1)^2. The reward
    model learned that longer answers tended to be better: proxy = q + b l + noise.
    """
    rng = np.random.default_rng(seed)
    shape = (cfg.trials, cfg.max_n)
    quality = rng.standard_normal(shape)
    length = np.exp(cfg.length_spread * rng.standard_normal(shape))
    proxy = quality + cfg.length_bias * length + cfg.rm_noise * rng.standard_normal(shape)
    gold = quality - cfg.length_penalty * (length - 1.0) ** 2
    ns = 2 ** np.arange(int(np.log2(cfg.max_n)) + 1)
    rows = np.arange(cfg.trials)
    out = {"proxy": [], "gold": [], "length": []}
    for n in ns:
        pick = proxy[:, :n].argmax(axis=1)  # the first n samples of each prompt
        for key, values in (("proxy", proxy), ("gold", gold), ("length", length)):
            out[key].append(values[rows, pick].mean())
    kl = np.log(ns) - (ns - 1) / ns
    return Overoptimisation(ns, kl, *(np.array(out[k]) for k in ("proxy", "gold", "length")))


# --8<-- [end:best-of-n]


# --8<-- [start:plot]
def plot_gridworld(cfg: Config, panels: list[tuple[str, a3.MDP]], path: str) -> str:
    """Values and greedy arrows (A3's plot) for each task, with the greedy path in red.

    S marks the start, C the checkpoint, G the goal; the path shows the first 12 steps.
    """
    fig = a3.plot_values_and_policy(
        panels[0][1],
        [(title, solve(task)[0], a3.greedy_policy(task, solve(task)[0])) for title, task in panels],
    )
    cols = cfg.shape[1]
    for ax, (_, task) in zip(fig.axes, panels, strict=True):
        episode = rollout(cfg, solve(task)[1])
        rows_cols = [divmod(s, cols) for s in episode.path[:12]]
        ax.plot(
            [c for _, c in rows_cols], [r for r, _ in rows_cols], color="tab:red", lw=2.5, alpha=0.8
        )
        for (r, c), label in ((cfg.start, "S"), (cfg.goal, "G"), (cfg.checkpoint, "C")):
            ax.text(c - 0.38, r - 0.3, label, color="tab:orange", fontsize=12, weight="bold")
    return common.save_figure(fig, path)


def plot_overoptimisation(result: Overoptimisation, path: str) -> str:
    """Proxy and gold score of the best-of-n answer against KL from the base policy."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, ax = plt.subplots()
    ax.plot(result.kl, result.proxy, "o-", label="proxy (reward model) score")
    ax.plot(result.kl, result.gold, "s-", color="tab:red", label="gold score")
    best = int(result.gold.argmax())
    ax.annotate(
        f"gold peaks at n = {result.n[best]}",
        (result.kl[best], result.gold[best]),
        xytext=(result.kl[best] + 0.6, result.gold[best] + 1.5),
        arrowprops={"arrowstyle": "->"},
    )
    ax.set(
        xlabel="KL(best-of-n ‖ base) in nats  (n = 1, 2, 4, …, 1024)",
        ylabel="mean score",
        title="Optimising a proxy: overoptimisation in miniature",
    )
    ax.legend()
    return common.save_figure(fig, path)


# --8<-- [end:plot]


# --8<-- [start:main]
def tasks_by_reward(cfg: Config) -> dict[str, a3.MDP]:
    """The same gridworld under the true reward, the designer's proxy, and the shaped fix."""
    shaped = shaped_task(cfg, checkpoint_potential(cfg))
    return {"true": true_task(cfg), "proxy": proxy_task(cfg), "shaped": shaped}


def gridworld_metrics(episodes: dict[str, Episode]) -> dict[str, object]:
    """For each reward: goal reached?, steps, checkpoint bonuses taken, and the true return."""
    metrics: dict[str, object] = {}
    for name, ep in episodes.items():
        metrics[f"{name}_reached_goal"] = ep.reached_goal
        metrics[f"{name}_steps"] = len(ep.path) - 1
        metrics[f"{name}_checkpoint_visits"] = ep.checkpoint_visits
        metrics[f"{name}_true_return"] = ep.true_return
    return metrics


def panel_title(name: str, episode: Episode) -> str:
    """The title of one reward's panel: where its greedy episode went."""
    if episode.reached_goal:
        return f"{name} reward: goal in {len(episode.path) - 1} steps"
    return f"{name} reward: {episode.checkpoint_visits} bonuses, no goal"


def main(argv: list[str] | None = None) -> dict:
    """Solve the gridworld under three rewards and run best-of-n; print the headline numbers."""
    outputs = {
        "plot": "save the gridworld figure as a PNG",
        "plot_bon": "save the best-of-n figure as a PNG",
    }
    parser = common.config_parser(Config, __doc__, __spec__, quick={"trials": 200}, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)

    with common.Stopwatch() as clock:
        tasks = tasks_by_reward(cfg)
        episodes = {name: rollout(cfg, solve(task)[1]) for name, task in tasks.items()}
        bon = best_of_n(cfg, args.seed)

    if args.plot:
        panels = [(panel_title(name, episodes[name]), task) for name, task in tasks.items()]
        plot_gridworld(cfg, panels, args.plot)
    if args.plot_bon:
        plot_overoptimisation(bon, args.plot_bon)
    best = int(bon.gold.argmax())
    metrics = {
        **gridworld_metrics(episodes),
        "bon_gold_peak_n": int(bon.n[best]),
        "bon_gold_peak": bon.gold[best],
        "bon_gold_at_n1": bon.gold[0],
        f"bon_gold_at_n{bon.n[-1]}": bon.gold[-1],
        f"bon_proxy_at_n{bon.n[-1]}": bon.proxy[-1],
        "seconds": clock.seconds,
    }
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
