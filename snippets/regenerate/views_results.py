"""The results page: the benchmark's table of every lesson, and what moves between seeds.

Both are rendered from ``results/benchmark.json`` alone; ``python -m snippets.benchmark`` writes
that file, and ``python -m snippets.regenerate --render`` these views.
"""

# --8<-- [start:imports]
from __future__ import annotations

from snippets import benchmark
from snippets.regenerate.helpers import View, table

# --8<-- [end:imports]


# --8<-- [start:views]
def view_benchmark(results: dict) -> str:
    """Every benchmarked lesson against its target, then where and when each was measured."""
    head = [
        "lesson",
        "metric",
        "target",
        "reference",
        "median [IQR] over seeds",
        "seeds meeting target",
        "wall time per seed (median)",
    ]
    rows, where = [], {}
    for name in sorted(results["lessons"]):
        entry = results["lessons"][name]
        s = entry["summary"]
        value = f"{s['median']:g} [{s['q25']:g}, {s['q75']:g}]"
        for metric, q in s.get("also", {}).items():
            value += f"; `{metric}` {q['median']:g} [{q['q25']:g}, {q['q75']:g}]"
        met = f"{s['met']} / {s['seeds']}"
        if entry.get("seeds_per_run", 1) > 1:
            met += f" run ({entry['seeds_per_run']} seeds in it)"
        label = benchmark.lesson_label(name)
        rows.append(
            [
                f"{label} `{entry['module']}`",
                f"`{entry['metric']}`",
                entry["target_text"],
                entry["reference"],
                value,
                met,
                f"{s['median_wall_seconds']:g} s",
            ]
        )
        m = entry["machine"]
        versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        key = (
            f"{entry['date']}: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, {versions}"
        )
        where.setdefault(key, []).append(label)
    runs = [f"- **Run on {key}**: {', '.join(names)}.\n" for key, names in where.items()]
    return table(head, rows) + "\n" + "".join(runs)


def view_results_notes(*entries: tuple[str, dict]) -> str:
    """The results page: how much B0, B1 and B3 move between seeds, and why (list items)."""
    from snippets.b3_deep_q_networks_dqn import DQNConfig

    lessons = benchmark.lessons_from_manifest()
    (b0_name, b0), (b1_name, b1), (_, b3) = entries
    ucb = [lessons[b0_name].value(r["metrics"]) for r in b0["runs"]]
    runs = [r["metrics"] for r in b1["runs"]]
    p, episodes = runs[0]["optimal_success_within_limit"], runs[0]["eval_episodes"]
    off = max(abs(m["greedy_success_eval"] - m["greedy_success_exact"]) for m in runs)
    seeds = [r["metrics"]["per_seed"][0] for r in b3["runs"]]
    kept = [s for s in seeds if s["kept_mean_return"] >= 475]
    low = [
        f"seed {s['seed']} keeps an early checkpoint that scores {s['kept_mean_return']:.1f}"
        for s in seeds
        if s["kept_mean_return"] < 475
    ]
    finals = sum(s["final_mean_return"] >= 475 for s in seeds)
    cfg = DQNConfig()
    evals = cfg.total_timesteps // cfg.eval_freq
    return (
        f"- **B0** averages {b0['runs'][0]['metrics']['runs']:,} bandit problems drawn at random, so "
        f"its figure moves a little between seeds: from {min(ucb):.3f} to {max(ucb):.3f} over "
        f"seeds {b0['runs'][0]['seed']}–{b0['runs'][-1]['seed']}.\n"
        f"- **B1** evaluates the greedy policy on {episodes:,} fresh episodes of the real "
        f"environment, so even a perfect policy's score is noisy: the standard error of a success "
        f"rate near the optimum's {p:.3f} over {episodes:,} episodes is "
        f"{(p * (1 - p) / episodes) ** 0.5:.3f}. On the 4x4 map the measured score and the exact "
        f"success probability of the same greedy policy differ by at most {off:.3f} over the seeds.\n"
        f"- **B3** scores the checkpoint the lesson keeps (the best periodic evaluation) on "
        f"{cfg.final_eval_episodes} fresh episodes. {len(kept)} of {len(seeds)} seeds keep an agent "
        f"at 475 or more; {'; '.join(low) or 'none keeps less'}. The final networks are at 475 or "
        f"more in {finals} of {len(seeds)} seeds (`final_mean_return` in the JSON): the "
        f"instability the [B3 page](B_core_algorithms/B3_deep_q_networks_dqn.md) explains. Its "
        f"{b3['summary']['median_wall_seconds']:.0f} s per seed (the median) include {evals} periodic "
        f"evaluations of {cfg.eval_episodes} episodes each.\n"
    )


VIEWS: dict[str, View] = {
    "benchmark": View(("file:results/benchmark.json",), view_benchmark),
    "results-notes": View(("benchmark:b0", "benchmark:b1-4x4", "benchmark:b3"), view_results_notes),
}
# --8<-- [end:views]
