"""Lesson D2, the report: figures of a run, and its JSON record.

``save_run`` writes what the command measured (``--save-logs``); ``snippets/regenerate/views_d.py``
turns that record, and the benchmark's seeds, into the Markdown the lesson page includes, so
no measured number on the page is typed by hand.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from snippets import common

# --8<-- [end:imports]

# Where the page's default run keeps its record (its --save-logs): the lab and the views read it.
RUN_JSON = (
    Path(__file__).resolve().parents[2] / "docs" / "assets" / "figures" / "d2_default_run.json"
)


# --8<-- [start:plots]
def plot_reward_hacking(logs: dict[str, dict[str, list[float]]]) -> Any:
    """Reward-model score, gold score and KL per PPO iteration, one line per run."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    labels = {"kl": "with KL penalty", "no_kl": "KL penalty off"}
    panels = (
        ("rm_score", "reward-model score (proxy)"),
        ("gold_score", "gold score (hidden rater)"),
        ("kl", "KL to reference (nats)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for k, (name, log) in enumerate(logs.items()):
            ax.plot(log[key], color=f"C{k}", label=labels.get(name, name))
        ax.set_title(title)
        ax.set_xlabel("PPO iteration")
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_diagnostics(log: dict[str, list[float]]) -> Any:
    """The health metrics of one PPO run: entropy, clip fraction, beta, length, grammaticality."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    keys = (
        ("entropy", "entropy per token (nats)"),
        ("clip_fraction", "clip fraction"),
        ("kl_coef", "KL coefficient beta"),
        ("grammatical", "share of grammatical reviews"),
    )
    fig, axes = plt.subplots(1, len(keys), figsize=(13, 3.2))
    for ax, (key, title) in zip(axes, keys, strict=True):
        ax.plot(log[key], color="C0")
        ax.set_title(title)
        ax.set_xlabel("PPO iteration")
    fig.tight_layout()
    return fig


# --8<-- [end:plots]


# --8<-- [start:save]
NOT_SAVED = ("tokenizer", "sft_lm", "reward_model", "train_pairs")  # models and data


def save_run(result: dict[str, Any], metrics: dict[str, Any], path: str | Path) -> None:
    """Write a run's logs, evaluations and samples as JSON, floats to 5 digits.

    ``metrics`` is the JSON line the command printed, kept exactly as printed.
    """
    import torch

    keep = {k: v for k, v in result.items() if k not in NOT_SAVED}
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    text = json.dumps({**keep, "machine": machine})
    rounded = json.loads(text, parse_float=lambda x: round(float(x), 5))
    Path(path).write_text(json.dumps({**rounded, "metrics": metrics}))


# --8<-- [end:save]
