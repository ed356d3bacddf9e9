"""The mutant suite: plausible wrong versions of every exercise, one file per lesson.

``exercises/mutants/<lesson>.py`` (found by its file name, ``b1.py`` for lesson B1) holds
small wrong versions of that lesson's functions, each registered with the mistake it makes:

    MUTANTS = Mutants()

    @MUTANTS.add("q_update", "forget the step size alpha")
    def _no_alpha(q, state, action, reward, next_state, terminated, alpha, gamma): ...

The mutants serve twice. ``tests/test_exercises.py`` runs each through its grader, which must
fail it and name its mistake; and when a reader's answer fails, the grader names a mistake
only if the reader's function gives the same numbers as that mutant on every case.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class Mutants(dict[str, list[tuple[Callable[..., Any], str]]]):
    """Exercise function name -> list of (wrong function, the mistake it makes)."""

    def add(
        self, function: str, mistake: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function as a wrong ``function`` that makes ``mistake``.

        ``mistake`` completes the sentence "That is exactly what you get if you ...".
        """

        def register(wrong: Callable[..., Any]) -> Callable[..., Any]:
            self.setdefault(function, []).append((wrong, mistake))
            return wrong

        return register


def mutants(lesson: str) -> Mutants:
    """The mutants of ``lesson`` from ``exercises/mutants/<lesson>.py`` (none if no such file)."""
    if not (HERE / f"{lesson}.py").is_file():
        return Mutants()
    return importlib.import_module(f"exercises.mutants.{lesson}").MUTANTS
