"""Lesson E0, the report: the atlas's figures and the JSON record of a run.

The page's sentences and tables are rendered from that JSON by ``snippets/regenerate/views_e.py``.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from snippets import common
from snippets.e0_debugging_common_pitfalls.atlas import BY_NAME
from snippets.e0_debugging_common_pitfalls.base import Config
from snippets.e0_debugging_common_pitfalls.record import Outcome

# --8<-- [end:imports]


# --8<-- [start:report]
RESULTS_NAME = "e0_debugging_common_pitfalls"  # results/<this>.json


def save_figures(outcomes: dict[str, Outcome], cfg: Config, folder: str) -> list[str]:
    """One figure per pitfall, drawn from results already computed; returns the paths."""
    return [
        common.save_figure(
            BY_NAME[name].figure(outcome, cfg),
            os.path.join(folder, f"e0_{name.replace('-', '_')}.png"),
        )
        for name, outcome in outcomes.items()
    ]


def write_results(metrics: dict[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write the metrics as JSON, the record the page's numbers are rendered from.

    Floats are rounded to 4 decimals, as ``common.emit_metrics`` prints them, so the file
    holds exactly the numbers of the JSON line.
    """
    rounded = json.loads(json.dumps(metrics), parse_float=lambda x: round(float(x), 4))
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{RESULTS_NAME}.json").write_text(json.dumps(rounded, indent=1) + "\n")
    return out / f"{RESULTS_NAME}.json"


# --8<-- [end:report]
