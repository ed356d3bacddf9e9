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
        ax.errorbar(
            q[0][1],
            q[1][1],
            xerr=[[q[0][1] - q[0][0]], [q[0][2] - q[0][1]]],
            yerr=[[q[1][1] - q[1][0]], [q[1][2] - q[1][1]]],
            fmt="o",
            color=COLOURS[name],
            ms=7,
            capsize=3,
            label=f"{name.upper()} (final, median and IQR)",
        )
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


# --8<-- [start:history-plot]
def plot_history(result: dict, path: str | Path, title: str) -> str:
    """The GRPO run step by step: the samples' pass rate, groups with no gradient, entropy."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    h = result["history"]
    steps = np.arange(1, len(h["reward"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].plot(steps, h["reward"])
    axes[0].set_title("pass rate of the samples")
    axes[1].plot(steps, np.add(h["all_right"], h["all_wrong"]), label="zero std (either)")
    axes[1].plot(steps, h["all_wrong"], "--", lw=1, label="all G wrong")
    axes[1].set_title("share of groups with zero std")
    axes[1].legend()
    axes[2].plot(steps, h["entropy"])
    axes[2].set_title("policy entropy per token (nats)")
    for ax in axes:
        ax.set_xlabel("GRPO step")
    axes[0].set_ylim(0, 1)
    axes[1].set_ylim(0, 1)
    fig.suptitle(title, y=1.04)
    return common.save_figure(fig, path)


# --8<-- [end:history-plot]


# --8<-- [start:benchmark-runs]
def runs_from_benchmark(results: dict) -> list[dict[str, Any]]:
    """One frontier record per seed from the benchmark: D3's methods, and PPO from D2's entry."""
    lessons = results["lessons"]
    d2_runs = {r["seed"]: r["metrics"] for r in lessons.get("d2", {}).get("runs", [])}
    runs = []
    for run in lessons["d3-grpo"]["runs"]:
        m = run["metrics"]
        found = {
            name: {"points": [{"kl": kl, "gold_gain_std": g} for kl, g in m[f"trace_{name}"]]}
            for name in ("grpo", "rloo", "dpo")
            if f"trace_{name}" in m
        }
        if (ppo := d2_runs.get(run["seed"])) is not None:
            found = {
                "ppo": {
                    "points": [{"kl": ppo["kl_after_kl"], "gold_gain_std": ppo["gold_gain_std_kl"]}]
                }
            } | found
        runs.append({"methods": found, "best_of_n": m.get("best_of_n", [])})
    return runs


# --8<-- [end:benchmark-runs]
