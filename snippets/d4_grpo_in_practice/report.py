"""Lesson D4, figures: the diagnostics of every variant, and entropy collapse as it happens."""

# --8<-- [start:imports]
from __future__ import annotations

from pathlib import Path

import numpy as np

from snippets import common

# --8<-- [end:imports]

PANELS = (  # (history key, title) of the diagnostics figure, in reading order
    ("pass_at_1", "held-out pass@1"),
    ("entropy", "policy entropy per token (nats)"),
    ("zero_std", "share of groups with zero reward std"),
    ("clip_low", "low clip fraction (r < 1 - ε, A < 0)"),
    ("clip_high", "high clip fraction (r > 1 + ε_high, A > 0)"),
    ("length", "mean completion length (tokens)"),
    ("truncated", "truncation rate"),
)


# --8<-- [start:diagnostics]
def plot_diagnostics(result: dict, path: str | Path, title: str) -> str:
    """One panel per diagnostic, one line per variant, and pass@k before and after."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    for ax, (key, label) in zip(axes.flat, PANELS, strict=False):
        for name, arm in result["arms"].items():
            values = arm["history"][key]
            ax.plot(np.arange(1, len(values) + 1), values, lw=1.2, label=name)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("RL step")
    axes.flat[0].legend(fontsize=8)
    ax = axes.flat[-1]
    ks = sorted(int(k) for k in result["pass_at_k_before"])
    before = [result["pass_at_k_before"][k] for k in ks]
    ax.plot(ks, before, "k--", marker="o", ms=3, label="before")
    for name, arm in result["arms"].items():
        ax.plot(ks, [arm["pass_at_k"][k] for k in ks], marker="o", ms=3, label=name)
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1)
    ax.set_title("pass@k at the end", fontsize=9)
    ax.set_xlabel("k")
    fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return common.save_figure(fig, path)


# --8<-- [end:diagnostics]


# --8<-- [start:collapse]
def plot_collapse(result: dict, path: str | Path, title: str) -> str:
    """Entropy, held-out pass@1 and zero-std groups step by step, with the two collapse marks.

    A dot where the entropy fell below ``collapse_fraction`` of step 1's; a dashed line
    where the share of groups that agree reached ``no_signal_share`` (``train.py``).
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, arm in result["arms"].items():
        h, at = arm["history"], arm["collapse_step"]
        steps = np.arange(1, len(h["entropy"]) + 1)
        (line,) = axes[0].plot(steps, h["entropy"], lw=1.2, label=name)
        if at is not None:
            axes[0].plot(at, h["entropy"][at - 1], "o", color=line.get_color(), ms=7)
        axes[1].plot(steps, h["pass_at_1"], lw=1.2, color=line.get_color())
        axes[2].plot(steps, h["zero_std"], lw=1.2, color=line.get_color())
        if arm["no_signal_step"] is not None:  # from here on nearly every group agrees
            axes[2].axvline(arm["no_signal_step"], color=line.get_color(), ls="--", lw=1)
    for ax, label in zip(
        axes,
        (
            "policy entropy per token (nats); ● collapse",
            "held-out pass@1",
            "share of groups with zero std; -- no signal",
        ),
        strict=True,
    ):
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("RL step")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return common.save_figure(fig, path)


# --8<-- [end:collapse]
