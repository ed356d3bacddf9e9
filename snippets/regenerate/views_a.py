"""The tables of chapter A: Gymnasium's first agent (A2) and the Bellman equations (A3).

Each ``view_*`` function turns committed records into the Markdown a page includes; ``VIEWS``
names, for each file ``results/runs/<view>.md``, the records it is rendered from.
"""

# --8<-- [start:imports]
from __future__ import annotations

from snippets.regenerate.helpers import View, json_line, num, provenance, table

# --8<-- [end:imports]


# --8<-- [start:views]
def view_a2(a2: dict) -> str:
    """A2: random play against the trained agent, and the printed line."""
    m = a2["metrics"]
    rows = [
        [
            "one seeded random episode",
            f"{m['random_episode_length']} steps, return {m['random_episode_return']:g}",
        ],
        ["random play, mean return", f"{m['random_mean_return']:.2f}"],
        [
            f"{m['algo'].upper()} after {m['timesteps']:,} steps, greedy, mean return",
            f"{m['trained_mean_return']:.2f}",
        ],
        ["training time (wall)", f"{m['train_seconds']:.0f} s"],
    ]
    return table(["", m["env_id"]], rows) + "\n" + json_line(a2) + "\n" + provenance(a2)


def view_a3(*records: dict) -> str:
    """A3: both gridworlds solved three ways."""
    rows = [
        [
            r["metrics"]["world"],
            f"{r['metrics']['gamma']:g}",
            num(r["metrics"]["v_random_cell_0_1"]),
            num(r["metrics"]["v_star_cell_0_1"]),
            f"{r['metrics']['max_abs_exact_vs_iterative']:.1e}",
            str(r["metrics"]["evaluation_sweeps"]),
            str(r["metrics"]["value_iteration_sweeps"]),
            f"{r['metrics']['seconds']:.3f} s",
        ]
        for r in records
    ]
    header = [
        "world",
        "γ",
        "$v_\\pi$ of cell (0, 1), random policy",
        "$v_*$ of cell (0, 1)",
        "exact − iterative (max)",
        "evaluation sweeps",
        "value-iteration sweeps",
        "time",
    ]
    return table(header, rows) + "\n" + "\n".join(provenance(r) for r in records)


VIEWS: dict[str, View] = {
    "a2": View(("a2",), view_a2),
    "a3": View(("a3-5x5", "a3-4x4"), view_a3),
}
# --8<-- [end:views]
