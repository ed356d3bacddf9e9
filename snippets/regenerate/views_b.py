"""The tables of chapter B: bandits, Q-learning, Monte Carlo and DQN, and the seeds behind them.

Each ``view_*`` function turns committed records into the Markdown a page includes; ``VIEWS``
names, for each file ``results/runs/<view>.md``, the records it is rendered from.
"""

# --8<-- [start:imports]
from __future__ import annotations

from snippets.regenerate.helpers import View, captioned, from_benchmark, num, provenance, table

# --8<-- [end:imports]


# --8<-- [start:views]
B0_REFERENCE = {  # Sutton & Barto Figs. 2.2 and 2.4, expected values at step 1000
    "greedy": "1.02 / 35 %",
    "eps=0.01": "1.30 / 59 %",
    "eps=0.1": "1.37 / 80 %",
    "UCB c=2": "1.49 / 85 %",
}


def agent(name: str) -> str:
    """B0's agent names as the page writes them: ``eps=0.1`` -> ``ε = 0.1``."""
    return name.replace("eps=", "ε = ").replace("UCB c=", "UCB, c = ")


def view_b0_testbed(b0: dict) -> str:
    """B0: every agent's reward and share of optimal pulls at the last step of the testbed."""
    m = b0["metrics"]
    rows = [
        [
            agent(name),
            f"{reward:.2f}",
            f"{m['final_optimal_pct'][name]:.1f} %",
            B0_REFERENCE.get(name, ""),
        ]
        for name, reward in m["final_reward"].items()
    ]
    best = f"{m['best_possible_reward']:.2f}"
    rows.append(["best possible ($\\mathbb{E}\\max_a q_*(a)$)", best, "100 %", "1.54"])
    head = ["agent", "average reward", "% optimal action", "reference (expected value)"]
    timing = (
        f"The whole testbed ({len(m['final_reward'])} agents × {m['runs']:,} runs × {m['steps']:,} "
        f"steps) took **{m['testbed_cpu_seconds']:.1f} s of CPU time** ({m['testbed_seconds']:.1f} s "
        "of wall time).\n"
    )
    intro = f"At step {m['steps']:,}, seed 0:\n\n"
    return intro + captioned(head, rows, timing, b0)


def view_b0_regret(b0: dict) -> str:
    """B0: cumulative regret at the end of the long experiment."""
    m = b0["metrics"]
    rows = [[agent(name), f"{regret:.0f}"] for name, regret in m["final_regret"].items()]
    rows.append(
        [
            "UCB1 on the Bernoulli bandit (means 0.9, 0.8, 0.7, 0.6, 0.5)",
            f"{m['ucb1_bernoulli_regret']:.0f}, bound {m['ucb1_bound']:.0f}",
        ]
    )
    head = ["agent", f"cumulative regret after {m['regret_steps']:,} steps"]
    return table(head, rows) + "\n" + provenance(b0)


def view_b1_model(*records: dict) -> str:
    """B1: what dynamic programming on FrozenLake's own model says."""
    columns = {  # metric -> column head
        "optimal_success_within_limit": "best success within the step limit",
        "optimal_success_no_limit": "best success, no limit",
        "value_iteration_policy_success": "converged greedy policy, within the limit",
    }
    rows = [[r["metrics"]["map"], *(f"{r['metrics'][k]:.3f}" for k in columns)] for r in records]
    return table(["map", *columns.values()], rows)


def view_b1_runs(*records: dict) -> str:
    """B1: the Q-learning agent of each map, scored two ways."""
    rows = [
        [
            r["metrics"]["map"],
            f"{r['metrics']['episodes']:,} ({r['metrics']['train_steps'] / 1000:.0f} k)",
            f"{r['metrics']['train_seconds']:.1f} s wall, {r['metrics']['train_cpu_seconds']:.1f} s CPU",
            f"**{r['metrics']['greedy_success_eval']:.3f}**",
            f"{r['metrics']['greedy_success_exact']:.3f}",
            f"{r['metrics']['optimal_success_within_limit']:.3f}",
        ]
        for r in records
    ]
    evals = records[0]["metrics"]["eval_episodes"]
    head = [
        "map",
        "episodes (steps)",
        "training time",
        f"greedy success, {evals:,} episodes",
        "exact success of the greedy policy",
        "optimum within the limit",
    ]
    return table(head, rows) + "\n" + "\n".join(provenance(r) for r in records)


def view_b1_seeds(*entries: tuple[str, dict]) -> str:
    """B1: every benchmarked seed of both maps."""
    rows = []
    for _, entry in entries:
        for run in entry["runs"]:
            m = run["metrics"]
            rows.append(
                [
                    m["map"],
                    str(run["seed"]),
                    f"{m['greedy_success_eval']:.3f}",
                    f"{m['greedy_success_exact']:.3f}",
                    f"{m['train_cpu_seconds']:.1f} s",
                ]
            )
    head = ["map", "seed", "greedy success, 1000 episodes", "exact success", "training CPU time"]
    return table(head, rows) + "\n" + "\n".join(from_benchmark(e, n) for n, e in entries)


def view_b2(b2: dict) -> str:
    """B2: each part of the lesson's run."""
    m = b2["metrics"]
    per_game = 1000 * m["blackjack_gym_seconds"] / m["blackjack_gym_episodes"]
    rows = [
        [
            "Blackjack, Gymnasium env, readable MC loop",
            f"{m['blackjack_gym_episodes']:,}",
            f"{m['blackjack_gym_seconds']:.1f} s ({per_game:.2f} ms a game)",
            "left column of the figure",
        ],
        [
            "Blackjack, NumPy replica",
            f"{m['blackjack_replica_episodes']:,}",
            f"{m['blackjack_replica_seconds']:.1f} s",
            f"right column; v(20, no ace, dealer 10) = {m['v_20_no_ace_dealer_10_replica']:.3f}",
        ],
        [
            "Example 5.4 state, every game starting there",
            f"{m['v_13_usable_ace_dealer_2_returns']:,}",
            "(replica)",
            f"{num(m['v_13_usable_ace_dealer_2'])} (book: −0.27726)",
        ],
        [
            "4x4 gridworld, first / every visit",
            f"{m['grid_runs']} × {m['grid_episodes']:,}",
            f"{m['grid_seconds']:.1f} s ({m['grid_cpu_seconds']:.1f} s CPU)",
            f"RMSE {m['grid_rmse_first_visit']:.2f} / {m['grid_rmse_every_visit']:.2f}",
        ],
    ]
    return table(["part", "episodes", "wall time", "result"], rows) + "\n" + provenance(b2)


def view_b2_state(b2: dict) -> str:
    """B2: the value of Example 5.4's state and its standard error."""
    m = b2["metrics"]
    n = m["v_13_usable_ace_dealer_2_returns"]
    se = ((1 - m["v_13_usable_ace_dealer_2"] ** 2) / n) ** 0.5  # returns in {-1, 0, 1}
    rows = [
        [
            f"estimate from {n:,} games starting at (13, usable ace, dealer 2)",
            f"**{num(m['v_13_usable_ace_dealer_2'])}**",
        ],
        ["Sutton & Barto, Example 5.4", "−0.27726"],
        ["standard error of the estimate (at most $\\sqrt{(1 - v^2)/n}$)", f"{se:.4f}"],
    ]
    return table(["quantity", "value"], rows)


def view_b3_seeds(entry: tuple[str, dict]) -> str:
    """B3: the kept and the final agent of every benchmarked seed."""
    name, e = entry
    rows, notes = [], []
    for run in e["runs"]:
        r = run["metrics"]["per_seed"][0]
        kept = f"{r['kept_mean_return']:.1f}"
        rows.append(
            [
                str(r["seed"]),
                f"**{kept}**" if r["kept_mean_return"] >= 475 else kept,
                f"{r['kept_from_step']:,}",
                f"{r['final_mean_return']:.1f}",
                f"{r['seconds']:.0f} s ({r['cpu_seconds']:.0f} s)",
            ]
        )
        if r["kept_mean_return"] < 475 and run["curve"]:
            best = run["curve"]["y"][run["curve"]["x"].index(r["kept_from_step"])]
            notes.append(
                f"seed {r['seed']} kept its checkpoint from step {r['kept_from_step']:,}, "
                f"whose 10-episode evaluation read {best:g}, and that agent scores "
                f"{r['kept_mean_return']:.1f} on fresh episodes"
            )
    finals = sum(run["metrics"]["per_seed"][0]["final_mean_return"] >= 475 for run in e["runs"])
    s = e["summary"]
    head = [
        "seed",
        "kept agent (20 fresh episodes)",
        "saved at step",
        "final agent (same 20 episodes)",
        "wall time (CPU)",
    ]
    text = (
        f"The target, a kept agent at 475 or more in at least 4 of 5 seeds within 100k steps, "
        f"is met by **{s['met']} of {s['seeds']}** seeds; "
        f"{finals} of {s['seeds']} final networks are still at 475 or more."
    )
    if notes:
        text += " Below it, " + "; ".join(notes) + "."
    return table(head, rows) + "\n" + text + "\n\n" + from_benchmark(e, name)


def view_b3_zoo(zoo: dict) -> str:
    """B3: one seed with the RL Zoo's settings, and what its periodic evaluations read."""
    m = zoo["metrics"]
    r = m["per_seed"][0]
    curve = zoo["files"]["b3-zoo-curve"]
    row = [
        f"RL Zoo settings, seed {r['seed']}",
        f"{m['timesteps']:,} steps",
        f"**{r['kept_mean_return']:.1f}** (checkpoint at {r['kept_from_step']:,})",
        f"**{r['final_mean_return']:.1f}**",
    ]
    head = ["run", "budget", "kept agent (20 fresh episodes)", "final agent"]
    evals = ", ".join(f"{y:g}" for y in curve["y"])
    every = int(curve["x"][1] - curve["x"][0])
    return (
        table(head, [row]) + f"\nIts periodic evaluations (10 greedy episodes every {every:,} "
        f"steps) read, in order: {evals}.\n\n" + provenance(zoo)
    )


VIEWS: dict[str, View] = {
    "b0-testbed": View(("b0",), view_b0_testbed),
    "b0-regret": View(("b0",), view_b0_regret),
    "b1-model": View(("b1-4x4", "b1-8x8"), view_b1_model),
    "b1-runs": View(("b1-4x4", "b1-8x8"), view_b1_runs),
    "b1-seeds": View(("benchmark:b1-4x4", "benchmark:b1-8x8"), view_b1_seeds),
    "b2": View(("b2",), view_b2),
    "b2-state": View(("b2",), view_b2_state),
    "b3-seeds": View(("benchmark:b3",), view_b3_seeds),
    "b3-zoo": View(("b3-zoo",), view_b3_zoo),
}
# --8<-- [end:views]
