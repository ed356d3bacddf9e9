"""Lesson D3, the report: the frontier figure, the pass@k figure and the page's tables."""

# --8<-- [start:imports]
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snippets import common

# --8<-- [end:imports]

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"ppo": "C0", "grpo": "C1", "rloo": "C2", "dpo": "C3", "best-of-n": "grey"}


# --8<-- [start:frontier]
def plot_frontier(runs: list[dict[str, Any]], path: str | Path) -> str:
    """Gold gain against KL for every method: one trace per seed, the median final point bold.

    Args:
        runs: one D3 result per seed (``{"methods": {name: {"points": [...]}}, "best_of_n": [...]}``).
        path: where to write the PNG.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in [m for m in COLOURS if m != "best-of-n" and m in runs[0]["methods"]]:
        finals = []
        for run in runs:
            points = run["methods"][name]["points"]
            ax.plot(
                [p["kl"] for p in points],
                [p["gold_gain_std"] for p in points],
                "-",
                color=COLOURS[name],
                alpha=0.25,
                lw=1,
            )
            finals.append((points[-1]["kl"], points[-1]["gold_gain_std"]))
        kl, gain = np.array(finals).T
        q = np.percentile(kl, [25, 50, 75]), np.percentile(gain, [25, 50, 75])
        ax.errorbar(q[0][1], q[1][1], xerr=[[q[0][1] - q[0][0]], [q[0][2] - q[0][1]]],
                    yerr=[[q[1][1] - q[1][0]], [q[1][2] - q[1][1]]], fmt="o", color=COLOURS[name],
                    ms=7, capsize=3, label=f"{name.upper()} (final, median and IQR)")  # fmt: skip
    if runs[0].get("best_of_n"):
        kls = [p["kl"] for p in runs[0]["best_of_n"]]
        gains = np.median([[p["gold_gain_std"] for p in run["best_of_n"]] for run in runs], axis=0)
        label = "best-of-n at its KL bound (n = 1 … 32)"
        ax.plot(kls, gains, "s--", color=COLOURS["best-of-n"], label=label)
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    ax.axvline(6.0, color="black", lw=0.8, ls=":")
    ax.set_xlabel("KL to the SFT model (nats per completion)")
    ax.set_ylabel("gold gain (SFT gold std)")
    ax.set_title(f"What each method buys per nat of KL ({len(runs)} seed{'s' * (len(runs) > 1)})")
    ax.legend(loc="lower right", fontsize=8)
    return common.save_figure(fig, path)


# --8<-- [end:frontier]


# --8<-- [start:pass-at-k-plot]
def plot_pass_at_k(result: dict[str, Any], path: str | Path) -> str:
    """pass@k against k (log scale) before and after GRPO on the checker."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, ax = plt.subplots()
    for key, label in (("pass_at_k_before", "pretrained"), ("pass_at_k_after", "after GRPO")):
        curve = {int(k): v for k, v in result[key].items()}
        ax.plot(list(curve), list(curve.values()), "o-", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("pass@k")
    ax.set_ylim(0, 1.02)
    ax.set_title("Two-digit addition: pass@k before and after RL on the checker")
    ax.legend()
    return common.save_figure(fig, path)


# --8<-- [end:pass-at-k-plot]


# --8<-- [start:tables]
NEEDS_COLUMNS = ("value_head", "reward_model", "reference", "sampling")


def cost_table(metrics: dict[str, Any], needs: dict[str, dict[str, bool]]) -> str:
    """What each method bought and cost in one run: the default run's JSON line, as Markdown."""
    lines = [
        "| method | gold gain (std) | KL (nats) | wall time | tokens generated | model state "
        "| value head | reward model | reference | sampling during training |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [m for m in needs if f"gold_gain_std_{m}" in metrics]:
        ticks = " | ".join("yes" if needs[name][c] else "no" for c in NEEDS_COLUMNS)
        lines.append(
            f"| {name.upper()} | {metrics[f'gold_gain_std_{name}']:+.2f} | {metrics[f'kl_{name}']:.2f} "
            f"| {metrics[f'seconds_{name}']:.0f} s | {metrics[f'tokens_generated_{name}']:,.0f} "
            f"| {metrics[f'model_state_mb_{name}']:.1f} MB | {ticks} |"
        )
    best = ", ".join(
        f"n = {b['n']}: {b['gold_gain_std']:+.2f} at ≤ {b['kl']:.2f} nats"
        for b in metrics.get("best_of_n", [])
    )
    peak = metrics.get("peak_rss_mb")
    text = "\n".join(lines) + "\n"
    if peak is not None:  # measured, unlike the model state: one process for every method
        text += (f"\nPeak resident memory of the whole run (the world, every method and the "
                 f"evaluations, one process): {peak:,.0f} MB.\n")  # fmt: skip
    return text + (
        f"\nBest-of-n from the SFT model, same prompts, at its KL bound: {best}.\n" if best else ""
    )


def seeds_table(entries: dict[str, dict]) -> str:
    """Median [IQR] over seeds of each method's final gold gain and KL, and seeds meeting the target."""
    lines = ["| method | target | gold gain (std), median [IQR] | KL (nats), median [IQR] | seeds meeting target |",
             "|---|---|---|---|---|"]  # fmt: skip
    for label, (entry, gain_key, kl_key) in entries.items():
        gains = [r["metrics"][gain_key] for r in entry["runs"]]
        kls = [r["metrics"][kl_key] for r in entry["runs"]]
        g, k = np.percentile(gains, [25, 50, 75]), np.percentile(kls, [25, 50, 75])
        lines.append(f"| {label} | {entry['target_text']} | {g[1]:+.2f} [{g[0]:+.2f}, {g[2]:+.2f}] "
                     f"| {k[1]:.2f} [{k[0]:.2f}, {k[2]:.2f}] | {entry['summary']['met']} / {entry['summary']['seeds']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def rlvr_text(metrics: dict[str, Any]) -> str:
    """pass@k before and after GRPO on the checker, from the RLVR run's JSON line."""
    ks = list(metrics["pass_at_k_before"])
    lines = ["| k | " + " | ".join(ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for key, label in (("pass_at_k_before", "pretrained"), ("pass_at_k_after", "after GRPO")):
        lines.append(f"| {label} | " + " | ".join(f"{metrics[key][k]:.0%}" for k in ks) + " |")
    took = f"{metrics['seconds_pretrain']:.0f} s"
    if "pretrain_steps_used" in metrics:  # absent from records made before the band
        took = f"{metrics['pretrain_steps_used']} steps, {took}"
    head = (f"pass@1 went from {metrics['pass_at_1_before']:.1%} to {metrics['pass_at_1_after']:.1%} "
            f"({100 * metrics['pass_at_1_gain']:+.1f} points) after {metrics['seconds_grpo']:.0f} s of GRPO "
            f"(pretraining took {took}).")  # fmt: skip
    return head + "\n\n" + "\n".join(lines) + "\n"


def dpo_seeds_text(entry: dict[str, Any], beta: float, target: float) -> str:
    """DPO over the benchmarked seeds: how many met the target, and how each miss ended."""
    runs = {r["seed"]: r["metrics"] for r in entry["runs"]}
    missed = [s for s, m in runs.items() if m["gold_gain_std_dpo"] < target]
    text = (f"At $\\beta = {beta:g}$, {entry['summary']['met']} of {entry['summary']['seeds']} "
            f"benchmarked seeds meet DPO's target.")  # fmt: skip
    for seed in [s for s in missed if len(runs[s].get("trace_dpo", [])) >= 2]:
        (kl0, g0), (kl1, g1) = runs[seed]["trace_dpo"][-2:]
        text += (f" Seed {seed} misses it: over its last stretch of training its KL went from "
                 f"{kl0:.2f} to {kl1:.2f} nats while its gold gain fell from {g0:+.2f} to "
                 f"{g1:+.2f} std.")  # fmt: skip
    return text + "\n"


def best_of_n_kl_table(best_of_n: list[dict[str, Any]]) -> str:
    """Best-of-n's KL bound beside its KL measured by sampling, and what it bought in gold."""
    lines = ["| $n$ | bound $\\log n - (n-1)/n$ (nats) | KL measured by sampling (nats), 95 % interval "
             "| gold gain (std) |", "|---|---|---|---|"]  # fmt: skip
    for b in best_of_n:
        lines.append(f"| {b['n']} | {b['kl']:.3f} | {b['kl_sampled']:.3f} [{b['kl_low']:.3f}, "
                     f"{b['kl_high']:.3f}] | {b['gold_gain_std']:+.2f} |")  # fmt: skip
    share = next((b["distinct_share"] for b in best_of_n if "distinct_share" in b), None)
    text = "\n".join(lines) + "\n"
    if share is not None:
        from snippets.d3_grpo_rloo_and_dpo.methods import BON_KL_POOL, BON_KL_PROMPTS

        gap, n = max((b["kl"] - b["kl_sampled"], b["n"]) for b in best_of_n if b["n"] > 1)
        text += (f"\nEach estimate uses {BON_KL_POOL:,} completions of each of {BON_KL_PROMPTS} held-out "
                 f"prompts (the interval: ±1.96 standard errors of the mean over the prompts); "
                 f"{100 * share:.0f} % of the completions were distinct (mean over the prompts). The largest "
                 f"gap between the bound and the measured KL is {gap:.3f} nats, at $n = {n}$.\n")  # fmt: skip
    return text


def runs_from_benchmark(results: dict) -> list[dict[str, Any]]:
    """One frontier record per seed from the benchmark: D3's methods, and PPO from D2's entry."""
    lessons = results["lessons"]
    d2_runs = {r["seed"]: r["metrics"] for r in lessons.get("d2", {}).get("runs", [])}
    runs = []
    for run in lessons["d3-grpo"]["runs"]:
        m = run["metrics"]
        found = {name: {"points": [{"kl": kl, "gold_gain_std": g} for kl, g in m[f"trace_{name}"]]}
                 for name in ("grpo", "rloo", "dpo") if f"trace_{name}" in m}  # fmt: skip
        if (ppo := d2_runs.get(run["seed"])) is not None:
            found = {
                "ppo": {
                    "points": [{"kl": ppo["kl_after_kl"], "gold_gain_std": ppo["gold_gain_std_kl"]}]
                }
            } | found
        runs.append({"methods": found, "best_of_n": m.get("best_of_n", [])})
    return runs


# --8<-- [end:tables]
