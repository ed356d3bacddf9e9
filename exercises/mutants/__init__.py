"""The mutant suite: plausible wrong versions of every exercise, one file per lesson.

``exercises/mutants/<lesson>.py`` (found by its file name, ``b1.py`` for lesson B1) holds
small wrong versions of that lesson's functions, each registered with the mistake it makes.
A mutant with a body of its own is decorated:

    MUTANTS = Mutants()

    @MUTANTS.add("epsilon_greedy", "never explore (ignore epsilon)")
    def _eg_greedy(q_row, epsilon, rng): ...

Mistakes that are switches of one shared wrong function are said once, as a table: the
function takes a keyword-only ``wrong`` naming its mistake, its docstring's ``Mistakes:``
section maps each value of ``wrong`` to the mistake it makes, and ``MUTANTS.flags``
registers ``functools.partial(_grpo, wrong="population")`` (named ``_grpo_population``)
and so on, one per row:

    def _grpo(rewards, group_size, scale="group", *, wrong=""):
        '''group_advantages with the mistake ``wrong`` names.

        Mistakes:
            population: use the population std (unbiased=False)
            batch_mean: take the mean over the whole batch instead of per group
        '''
        ...

    MUTANTS.flags("group_advantages", _grpo)

A mistake shared by two switches goes in a mapping instead, ``MUTANTS.flags(function,
base, {"around_returns": NO_CLIP, "unclipped_only": NO_CLIP})``.

The mutants serve twice. ``tests/test_exercises.py`` runs each through its grader, which must
fail it and name its mistake; and when a reader's answer fails, the grader names a mistake
only if the reader's function gives the same numbers as that mutant on every case.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
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

    def flags(
        self, function: str, base: Callable[..., Any], mistakes: Mapping[str, str] | None = None
    ) -> None:
        """Register ``functools.partial(base, wrong=switch)`` for each mistake ``base`` can make.

        ``base`` is a wrong ``function`` with one more, keyword-only, parameter ``wrong``:
        each value of it switches on one mistake. ``mistakes`` maps each switch to its
        mistake; by default it is the ``Mistakes:`` section of ``base``'s docstring, one
        ``switch: mistake`` a row. The partial is named ``<base>_<switch>``
        (``_grpo_population``), a name unique among ``function``'s mutants (the tests'
        ids), and it takes the exercise's arguments exactly as ``base`` does.
        """
        wrong = inspect.signature(base).parameters.get("wrong")
        if wrong is None or wrong.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise ValueError(f"{base.__name__} has no keyword-only parameter 'wrong'")
        taken = {getattr(mutant, "__name__", "") for mutant, _ in self.get(function, [])}
        for switch, mistake in (mistakes or _docstring_table(base)).items():
            mutant = functools.partial(base, wrong=switch)
            mutant.__name__ = f"{base.__name__}_{switch}"  # type: ignore[attr-defined]
            if mutant.__name__ in taken:  # type: ignore[attr-defined]
                raise ValueError(f"two mutants of {function} are named {mutant.__name__}")
            taken.add(mutant.__name__)  # type: ignore[attr-defined]
            self.setdefault(function, []).append((mutant, mistake))


def _docstring_table(base: Callable[..., Any]) -> dict[str, str]:
    """Switch -> mistake, from the ``Mistakes:`` section of ``base``'s docstring.

    Each row is ``switch: mistake``; a longer mistake goes on in lines indented further.
    """
    lines = inspect.cleandoc(base.__doc__ or "").splitlines()
    if "Mistakes:" not in lines:
        raise ValueError(f"{base.__name__}'s docstring has no Mistakes: section")
    rows: list[list[str]] = []
    for line in lines[lines.index("Mistakes:") + 1 :]:
        if not line.startswith("    "):
            break
        if line.startswith("        "):
            rows[-1][1] += " " + line.strip()
        else:
            rows.append(line.strip().split(": ", 1))
    table = dict(rows)
    if len(table) < len(rows) or not all(switch.isidentifier() for switch in table):
        raise ValueError(f"{base.__name__}: a switch is repeated or not a name")
    return table


def mutants(lesson: str) -> Mutants:
    """The mutants of ``lesson`` from ``exercises/mutants/<lesson>.py`` (none if no such file)."""
    if not (HERE / f"{lesson}.py").is_file():
        return Mutants()
    return importlib.import_module(f"exercises.mutants.{lesson}").MUTANTS
