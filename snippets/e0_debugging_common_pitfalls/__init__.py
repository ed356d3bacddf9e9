"""Lesson E0: debugging RL, an atlas of common pitfalls you can run, and how to read curves.

Each pitfall is a module with a pair of functions, ``<name>_broken`` and ``<name>_fixed``,
with the same signature: they run the same small experiment, differ in the one or two lines
that matter, and return the result that shows the symptom. Each module exports one
:class:`~snippets.e0_debugging_common_pitfalls.record.Pitfall` record, and the atlas
(``atlas``) is a loop over those records. ``report`` draws the figures and writes the JSON
record, and ``__main__`` is the command line (``python -m snippets.e0_debugging_common_pitfalls``).
The tests assert that the symptom appears with the bug and disappears with the fix.

This file only hands the package's main names on.
"""

from __future__ import annotations

from snippets.e0_debugging_common_pitfalls.atlas import BY_NAME, PITFALLS, run_atlas
from snippets.e0_debugging_common_pitfalls.base import Config
from snippets.e0_debugging_common_pitfalls.record import Outcome, Pitfall, Symptom
from snippets.e0_debugging_common_pitfalls.report import RESULTS_NAME, save_figures, write_results

__all__ = [
    "BY_NAME",
    "PITFALLS",
    "RESULTS_NAME",
    "Config",
    "Outcome",
    "Pitfall",
    "Symptom",
    "run_atlas",
    "save_figures",
    "write_results",
]
