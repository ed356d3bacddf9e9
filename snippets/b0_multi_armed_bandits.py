"""Lesson B0: multi-armed bandits, ε-greedy and UCB on the 10-armed testbed, and regret.

A bandit is reinforcement learning with one state: pull one of k arms, get a noisy reward,
repeat. Everything here is vectorised over independent runs, so the 2000-run testbed of
Sutton & Barto (chapter 2) takes seconds in NumPy. The second experiment measures
cumulative regret and checks UCB1 against the bound of Auer, Cesa-Bianchi & Fischer (2002).
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run."""

    arms: common.PosInt = 10  # k, the number of arms of the testbed
    runs: common.PosInt = 2000  # independent bandit problems, simulated side by side
    steps: common.PosInt = 1000  # pulls per run
    epsilons: tuple[common.Prob, ...] = (0.0, 0.01, 0.1)  # the ε-greedy agents (0 = greedy)
    ucb_c: common.PosFloat = 2.0  # exploration weight of the UCB agent (Sutton & Barto Fig. 2.4)
    regret_runs: common.PosInt = 200  # runs of the longer regret experiment
    regret_steps: common.PosInt = 10_000  # its horizon: long enough to tell log from linear
    bernoulli_means: tuple[common.Prob, ...] = (0.9, 0.8, 0.7, 0.6, 0.5)  # UCB1 bound check


# --8<-- [end:config]


# --8<-- [start:testbed]
def make_testbed(runs: int, arms: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``runs`` independent k-armed problems: true values q*(a) ~ N(0, 1).

    Returns:
        ``q_true``, shape (runs, arms). Pulling arm a in run i pays N(q_true[i, a], 1).
    """
    return rng.standard_normal((runs, arms))


# --8<-- [end:testbed]


# --8<-- [start:agent]
@dataclass(frozen=True)
class Agent:
    """How an agent explores and how it averages rewards.

    Attributes:
        name: label for plots and metrics.
        epsilon: probability of pulling a uniformly random arm (ε-greedy).
        ucb_c: if set, act by the upper confidence bound with this weight instead.
        initial_value: Q_1(a) for every arm; a large value gives "optimistic" exploration.
        step_size: None for sample averages (step 1/N), or a constant α.
    """

    name: str
    epsilon: float = 0.0
    ucb_c: float | None = None
    initial_value: float = 0.0
    step_size: float | None = None


# --8<-- [end:agent]


# --8<-- [start:select]
def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax that breaks ties uniformly at random.

    ``np.argmax`` always returns the first maximum; with all estimates at 0 a greedy agent
    would then pull arm 0 forever. Multiplying the "is a maximum" mask by uniform noise
    and taking the argmax picks one of the tied arms at random.
    """
    is_max = values == values.max(axis=1, keepdims=True)
    return np.argmax(is_max * rng.random(values.shape), axis=1)


def epsilon_greedy_actions(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """With probability ε a uniformly random arm, otherwise a greedy one (per run)."""
    runs, arms = q.shape
    explore = rng.random(runs) < epsilon
    return np.where(explore, rng.integers(arms, size=runs), argmax_random_ties(q, rng))


# --8<-- [start:ucb]
def ucb_actions(
    q: np.ndarray, counts: np.ndarray, t: int, c: float, rng: np.random.Generator
) -> np.ndarray:
    """Upper-confidence-bound choice: argmax_a Q(a) + c sqrt(ln t / N(a)).

    An arm never pulled (N = 0) has an infinite bonus, so each arm is tried once first.

    Args:
        q: value estimates, shape (runs, arms).
        counts: pulls of each arm so far, same shape.
        t: the current step, counting from 1.
        c: exploration weight; c = sqrt(2) is Auer et al.'s UCB1.
        rng: breaks ties.
    """
    bonus = np.where(counts > 0, c * np.sqrt(np.log(t) / np.maximum(counts, 1)), np.inf)
    return argmax_random_ties(q + bonus, rng)


# --8<-- [end:ucb]
# --8<-- [end:select]


# --8<-- [start:update]
def update_estimates(
    q: np.ndarray,
    counts: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    step_size: float | None = None,
) -> None:
    """Incremental average, in place: Q(a) <- Q(a) + (R - Q(a)) / N(a) for the pulled arm.

    With ``step_size`` = α the update is Q(a) <- Q(a) + α (R - Q(a)) instead: an
    exponential recency-weighted average that can follow a drifting reward.
    """
    rows = np.arange(q.shape[0])
    counts[rows, actions] += 1
    alpha = 1.0 / counts[rows, actions] if step_size is None else step_size
    q[rows, actions] += alpha * (rewards - q[rows, actions])


# --8<-- [end:update]


# --8<-- [start:run]
@dataclass
class BanditResult:
    """Per-step averages over runs of one agent's experiment.

    Attributes:
        average_reward: mean reward received at each step, shape (steps,).
        optimal_action: fraction of runs that pulled a best arm, shape (steps,).
        cumulative_regret: mean of sum_t (max_a q*(a) - q*(A_t)), shape (steps,).
    """

    agent: Agent
    average_reward: np.ndarray
    optimal_action: np.ndarray
    cumulative_regret: np.ndarray


def run_agent(
    agent: Agent,
    q_true: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    rewards: str = "gaussian",
) -> BanditResult:
    """Play one agent on every run of ``q_true`` at once.

    Args:
        agent: the strategy.
        q_true: true arm means, shape (runs, arms).
        steps: pulls per run.
        rng: all randomness (exploration, ties, reward noise) comes from here.
        rewards: ``"gaussian"`` pays N(q*, 1); ``"bernoulli"`` pays 1 with probability q*.

    Returns:
        The per-step averages over runs.
    """
    runs, arms = q_true.shape
    rows = np.arange(runs)
    q = np.full((runs, arms), agent.initial_value, dtype=float)
    counts = np.zeros((runs, arms), dtype=np.int64)
    best_value = q_true.max(axis=1)
    is_best = q_true == best_value[:, None]
    reward_sum = np.zeros(steps)
    optimal = np.zeros(steps)
    regret = np.zeros(steps)
    for t in range(steps):
        if agent.ucb_c is not None:
            actions = ucb_actions(q, counts, t + 1, agent.ucb_c, rng)
        else:
            actions = epsilon_greedy_actions(q, agent.epsilon, rng)
        means = q_true[rows, actions]
        if rewards == "gaussian":
            r = means + rng.standard_normal(runs)
        else:
            r = (rng.random(runs) < means).astype(float)
        update_estimates(q, counts, actions, r, agent.step_size)
        reward_sum[t] = r.mean()
        optimal[t] = is_best[rows, actions].mean()
        regret[t] = (best_value - means).mean()
    return BanditResult(agent, reward_sum, optimal, np.cumsum(regret))


# --8<-- [end:run]


# --8<-- [start:testbed-experiment]
def default_agents(epsilons: tuple[float, ...], ucb_c: float) -> list[Agent]:
    """The agents of Sutton & Barto's Figures 2.2 and 2.4: ε-greedy for each ε, and UCB."""
    agents = [Agent("greedy" if e == 0 else f"eps={e:g}", epsilon=e) for e in epsilons]
    return agents + [Agent(f"UCB c={ucb_c:g}", ucb_c=ucb_c)]


def run_testbed(
    agents: list[Agent], runs: int, steps: int, arms: int, seed: int
) -> list[BanditResult]:
    """Run every agent on the same ``runs`` problems (common random numbers).

    Each agent gets its own generator, derived from ``seed``, for its actions and rewards,
    so adding an agent does not change the others' numbers.
    """
    q_true = make_testbed(runs, arms, np.random.default_rng(seed))
    return [
        run_agent(agent, q_true, steps, np.random.default_rng([seed, i + 1]))
        for i, agent in enumerate(agents)
    ]


# --8<-- [end:testbed-experiment]


# --8<-- [start:regret-bound]
def ucb1_regret_bound(means: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """The UCB1 regret bound of Auer et al. (2002), Theorem 1.

    For rewards in [0, 1], the expected regret of UCB1 after n pulls is at most
    8 * (sum over suboptimal i of ln(n) / Δ_i) + (1 + π²/3) * (sum over all j of Δ_j),
    where Δ_i = μ* - μ_i is the gap of arm i.

    Args:
        means: the arms' true mean rewards μ_i.
        n: number of pulls (a scalar or an array of them).

    Returns:
        The bound at each n.
    """
    means = np.asarray(means, dtype=float)
    gaps = means.max() - means
    suboptimal = gaps[gaps > 0]
    log_n = np.log(np.asarray(n, dtype=float))
    return 8.0 * log_n * np.sum(1.0 / suboptimal) + (1.0 + np.pi**2 / 3.0) * gaps.sum()


def run_ucb1_bernoulli(
    means: tuple[float, ...], runs: int, steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """UCB1 (c = sqrt 2) on a Bernoulli bandit: measured mean regret and the bound, per step."""
    q_true = np.tile(np.asarray(means, dtype=float), (runs, 1))
    agent = Agent("UCB1", ucb_c=float(np.sqrt(2.0)))
    result = run_agent(agent, q_true, steps, np.random.default_rng(seed), rewards="bernoulli")
    bound = ucb1_regret_bound(np.asarray(means), np.arange(1, steps + 1))
    return result.cumulative_regret, bound


# --8<-- [end:regret-bound]


# --8<-- [start:plot]
def plot_testbed(results: list[BanditResult]) -> object:
    """Sutton & Barto Figs. 2.2 / 2.4: average reward and % optimal action against steps."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, (ax_r, ax_o) = plt.subplots(1, 2, figsize=(11, 4))
    steps = np.arange(1, len(results[0].average_reward) + 1)
    for res in results:
        ax_r.plot(steps, res.average_reward, lw=1, label=res.agent.name)
        ax_o.plot(steps, 100 * res.optimal_action, lw=1, label=res.agent.name)
    ax_r.set(xlabel="step", ylabel="average reward", title="Average reward")
    ax_o.set(xlabel="step", ylabel="% optimal action", title="Optimal action", ylim=(0, 100))
    ax_r.legend()
    return fig


def plot_regret(
    results: list[BanditResult], ucb1_regret: np.ndarray, ucb1_bound: np.ndarray
) -> object:
    """Cumulative regret on a log time axis: the testbed agents, then UCB1 vs its bound."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(11, 4))
    for res in results:
        steps = np.arange(1, len(res.cumulative_regret) + 1)
        ax_t.plot(steps, res.cumulative_regret, label=res.agent.name)
    ax_t.set(xscale="log", xlabel="step (log scale)", ylabel="cumulative regret")
    ax_t.set_title("10-armed testbed")
    ax_t.legend()
    steps = np.arange(1, len(ucb1_regret) + 1)
    ax_b.plot(steps, ucb1_regret, label="UCB1, measured")
    ax_b.plot(steps, ucb1_bound, "k--", label="Auer et al. bound")
    ax_b.set(xscale="log", xlabel="step (log scale)", ylabel="cumulative regret")
    ax_b.set_title("Bernoulli bandit: UCB1 under its bound")
    ax_b.legend()
    return fig


# --8<-- [end:plot]


# --8<-- [start:main]
def regret_experiment(
    agents: list[Agent], cfg: Config, seed: int
) -> tuple[list[BanditResult], np.ndarray, np.ndarray]:
    """The long runs: each agent's cumulative regret, then UCB1's regret and its bound."""
    q_long = make_testbed(cfg.regret_runs, cfg.arms, np.random.default_rng(seed))
    long_runs = [
        run_agent(agent, q_long, cfg.regret_steps, np.random.default_rng([seed, 100 + i]))
        for i, agent in enumerate(common.progress(agents, desc="regret"))
    ]
    means, runs, steps = cfg.bernoulli_means, cfg.regret_runs, cfg.regret_steps
    return long_runs, *run_ucb1_bernoulli(means, runs, steps, seed)


def final_values(
    cfg: Config,
    seed: int,
    results: list[BanditResult],
    long_runs: list[BanditResult],
    ucb1: list[np.ndarray],
) -> dict[str, object]:
    """Where each curve of the two figures ends, and the best average reward possible."""
    q_true = make_testbed(cfg.runs, cfg.arms, np.random.default_rng(seed))  # run_testbed's
    return {
        "best_possible_reward": q_true.max(axis=1).mean(),
        "final_reward": {res.agent.name: res.average_reward[-1] for res in results},
        "final_optimal_pct": {res.agent.name: 100 * res.optimal_action[-1] for res in results},
        "final_regret": {res.agent.name: res.cumulative_regret[-1] for res in long_runs},
        "ucb1_bernoulli_regret": ucb1[0][-1],
        "ucb1_bound": ucb1[1][-1],
    }


def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags (``--epsilons 0 0.1`` or ``0,0.1``) and figures."""
    quick = {"runs": 200, "steps": 200, "regret_runs": 50, "regret_steps": 1000}
    figure = "save the {} figure as a PNG"
    outputs = {"plot": figure.format("testbed"), "regret_plot": figure.format("regret")}
    return common.config_parser(Config, __doc__, __spec__, quick=quick, outputs=outputs)


def main(argv: list[str] | None = None) -> dict:
    """Run the testbed and the regret experiment; print the headline numbers as JSON."""
    cfg, args = common.parse_config(command_line(), argv)
    agents = default_agents(cfg.epsilons, cfg.ucb_c)
    cpu_start = time.process_time()  # CPU seconds: honest timing on a busy machine too
    with common.Stopwatch() as testbed_clock:
        results = run_testbed(agents, cfg.runs, cfg.steps, cfg.arms, args.seed)
    testbed_cpu = time.process_time() - cpu_start
    with common.Stopwatch() as regret_clock:
        long_runs, *ucb1 = regret_experiment(agents, cfg, args.seed)
    if args.plot:
        common.save_figure(plot_testbed(results), args.plot)
    if args.regret_plot:
        common.save_figure(plot_regret(long_runs, *ucb1), args.regret_plot)
    return common.emit_metrics(
        {
            "runs": cfg.runs,
            "steps": cfg.steps,
            "regret_steps": cfg.regret_steps,
            "testbed_seconds": testbed_clock.seconds,
            "testbed_cpu_seconds": testbed_cpu,
            "regret_seconds": regret_clock.seconds,
            **final_values(cfg, args.seed, results, long_runs, ucb1),
        }
    )


if __name__ == "__main__":
    main()
# --8<-- [end:main]
