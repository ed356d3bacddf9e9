"""Lesson D5, the report: training curves of every arm, and the run's JSON record."""

# --8<-- [start:imports]
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snippets import common

# --8<-- [end:imports]

PANELS = (  # (history key, title), in reading order
    ("success", "success on the training episodes"),
    ("call_validity", "share of calls the calculator ran"),
    ("calls_per_task", "calls per episode"),
    ("malformed_turns", "malformed turns per episode"),
)


# The page's run keeps its record here (its --record): the lab and the views read it.
RECORD = Path(__file__).resolve().parents[2] / "docs" / "assets" / "figures" / "d5_run.json"


# --8<-- [start:plot]
def history_figure(result: dict, title: str, window: int = 5):  # noqa: ANN201 - a Figure
    """One panel per figure, one line per arm (a ``window``-step moving mean)."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(14, 3.4))
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        for arm, a in result["arms"].items():
            values = np.asarray(a["history"][key])
            w = min(window, len(values))
            smooth = np.convolve(values, np.ones(w) / w, mode="valid")
            ax.plot(np.arange(w, len(values) + 1), smooth, lw=1.4, label=arm)
        ax.axhline(result["before"][key], color="k", ls="--", lw=1, label="SFT, held out")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("GRPO step")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return fig


def plot_history(result: dict, path: str | Path, title: str) -> str:
    """Save :func:`history_figure` as a PNG."""
    return common.save_figure(history_figure(result, title), path)


# --8<-- [end:plot]


def save_record(result: dict, path: str | Path) -> str:
    """The whole run (histories, held-out figures, transcripts) as JSON, floats to 5 digits."""
    rounded = json.loads(json.dumps(result), parse_float=lambda x: round(float(x), 5))
    Path(path).write_text(json.dumps(rounded))
    return str(path)
