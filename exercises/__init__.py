"""Graded exercises: write the function that carries each lesson's idea, then check it.

``start`` writes a lesson's ``exercises/<stem>.py`` from the lesson's own code: each
function's signature and docstring, and a body that raises ``NotImplementedError``. The
file is the reader's (git ignores it). Fill it in and run

    uv run python -m exercises start b1          # writes exercises/b1_tabular_q_learning.py
    uv run python -m exercises check b1          # every exercise of lesson B1
    uv run python -m exercises check b1.q_update  # one exercise
    uv run python -m exercises check all         # a table of all of them

The graders live in ``exercises/graders/<lesson>.py``; each calls your function on small
inputs whose answers can be worked out by hand, and says which case failed, what it
expected, what it got, and what the likely mistake is. ``--solution`` grades the lesson's
own function instead, which is how ``tests/test_exercises.py`` proves every grader.
"""

from __future__ import annotations

import importlib

from exercises.grading import LESSONS, REGISTRY, Exercise


def exercises(lesson: str | None = None) -> list[Exercise]:
    """Every registered exercise, in course order, or those of one lesson (``"b1"``)."""
    for name in LESSONS if lesson is None else [lesson]:
        importlib.import_module(f"exercises.graders.{name}")  # registers its exercises
    order = list(LESSONS)
    found = sorted(REGISTRY, key=lambda ex: order.index(ex.lesson))  # stable: file order
    return [ex for ex in found if lesson is None or ex.lesson == lesson]
