"""The tables and transcripts of lesson D5: one seed's arms, and five seeds per arm.

Each ``view_*`` function turns committed records into the Markdown the D5 page includes;
``VIEWS`` names, for each file ``results/runs/<view>.md``, the records it is rendered from.
"""

# --8<-- [start:imports]
from __future__ import annotations

from snippets.regenerate.helpers import (
    View,
    from_benchmarks,
    median_iqr,
    num,
    pct,
    provenance,
    seed_metrics,
    table,
    text_block,
)

# --8<-- [end:imports]


# --8<-- [start:run]
D5_ARMS = {  # the arms, as the page names them
    "mask": "GRPO, observations masked",
    "no_mask": "GRPO, no mask (ablation)",
    "turn_reward": "GRPO + per-turn credit for a valid call",
}
D5_RECORD = "file:docs/assets/figures/d5_run.json"  # the page's run's --record
FIGURES = (  # (JSON key, column, format)
    ("success", "held-out success", pct),
    ("call_validity", "calls the calculator ran", pct),
    ("calls_per_task", "calls per episode", lambda x: num(x, ".2f")),
    ("malformed_turns", "malformed turns per episode", lambda x: num(x, ".2f")),
    ("truncated", "episodes cut by the turn limit", pct),
    ("tool_token_share", "written tokens that only the tool writes", pct),
)


def view_d5_run(run: dict) -> str:
    """D5: the SFT model and every arm after GRPO, on the same held-out tasks, one seed."""
    m = run["metrics"]
    arms = [k.removeprefix("success_gain_") for k in m if k.startswith("success_gain_")]
    rows = [["SFT model (the start of every arm)"] + [f(m[f"{k}_before"]) for k, _, f in FIGURES]]
    rows += [[D5_ARMS[a]] + [f(m[f"{k}_after_{a}"]) for k, _, f in FIGURES] for a in arms]
    return table(["model", *(c for _, c, _ in FIGURES)], rows) + "\n" + provenance(run)


def view_d5_transcripts(record: dict) -> str:
    """D5: the same held-out tasks played by the SFT model and by each arm after GRPO."""
    parts = ["**The SFT model** (before GRPO):\n", text_block(record["transcripts_before"])]
    for arm, a in record["arms"].items():
        parts += [f"\n**{D5_ARMS[arm]}**, after {len(a['history']['success'])} steps:\n"]
        parts += [text_block(a["transcripts"])]
    note = (
        "\n*Decoded for reading only (the trainer never decodes); `<|im_end|>` ends a turn. "
        "Rendered from `docs/assets/figures/d5_run.json`, the page's run's `--record`.*\n"
    )
    return "\n".join(parts) + note


# --8<-- [end:run]


# --8<-- [start:benchmark]
def _over_seeds(ms: list[dict], key: str, scale: float = 100.0, fmt: str = "{:.1f}") -> str:
    """Median [25th, 75th percentile] of one metric over the seeds' JSON lines."""
    return median_iqr([scale * m[key] for m in ms], fmt).replace("-", "−")


def view_d5_benchmark(*entries: tuple[str, dict]) -> str:
    """D5: five seeds per arm, median [IQR], before and after; held-back seeds apart."""
    from snippets import benchmark

    rows = []
    for name, e in entries:
        arm = benchmark.LESSONS[name].metric.removeprefix("success_gain_")
        ms = seed_metrics(e)
        rows.append(
            [
                D5_ARMS[arm] + (" (held back)" if name.endswith("heldout") else ""),
                ", ".join(str(r["seed"]) for r in e["runs"]),
                _over_seeds(ms, "success_before") + " → " + _over_seeds(ms, f"success_after_{arm}"),
                _over_seeds(ms, f"success_gain_{arm}", fmt="{:+.1f}"),
                _over_seeds(ms, "call_validity_before", fmt="{:.0f}")
                + " → "
                + _over_seeds(ms, f"call_validity_after_{arm}", fmt="{:.0f}"),
                _over_seeds(ms, "calls_per_task_before", 1.0, "{:.2f}")
                + " → "
                + _over_seeds(ms, f"calls_per_task_after_{arm}", 1.0, "{:.2f}"),
                _over_seeds(ms, f"tool_token_share_after_{arm}", fmt="{:.1f}"),
                f"{e['summary']['met']} of {e['summary']['seeds']}",
            ]
        )
    header = [
        "arm",
        "seeds",
        "success (%), SFT → after",
        "success gain (points)",
        "valid calls (%), SFT → after",
        "calls per episode, SFT → after",
        "tool-only tokens written (%), after",
        "seeds with a gain ≥ 20 points",
    ]
    note = "\n*Median [25th, 75th percentile] over the seeds, on 128 held-out tasks per seed.*\n\n"
    return table(header, rows) + note + _seed_rows(entries) + "\n" + from_benchmarks(*entries)


def _seed_rows(entries: tuple[tuple[str, dict], ...]) -> str:
    """Every seed once: the SFT model's success, then each arm's gain."""
    runs = {}
    for name, e in entries:  # the arm entries share their runs; held back: the mask arm only
        for r in e["runs"]:
            runs.setdefault(r["seed"], (name.endswith("heldout"), r["metrics"]))
    rows = [
        [
            str(seed) + (" (held back)" if held else ""),
            str(m["sft_steps_used"]),
            pct(m["success_before"]),
        ]
        + [
            num(100 * m[f"success_gain_{a}"], "+.1f") if f"success_gain_{a}" in m else "—"
            for a in D5_ARMS
        ]
        for seed, (held, m) in sorted(runs.items())
    ]
    header = [
        "seed",
        "SFT steps (annealing included)",
        "SFT success",
        *(f"{a}: gain (points)" for a in D5_ARMS),
    ]
    return table(header, rows)


VIEWS: dict[str, View] = {
    "d5-run": View(("d5-run",), view_d5_run),
    "d5-transcripts": View((D5_RECORD,), view_d5_transcripts),
    "d5-benchmark": View(
        tuple(f"benchmark:d5-{a}" for a in (*D5_ARMS, "heldout")), view_d5_benchmark
    ),
}
# --8<-- [end:benchmark]
