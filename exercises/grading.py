"""The grading machinery: cases, comparisons with hints, and the registry of exercises.

A grader is a function ``grade(f, check)`` that calls the reader's function ``f`` on small
hand-checkable inputs and compares what comes back with ``check.close``. Each comparison
happens inside a named case (``with check.case(...)``); the first mismatch stops the grader
and is reported with the case, the expected and the actual value, and a hint. When the
actual value equals the result of a known mistake (``mistakes={...}``), the report names
that mistake.
"""

from __future__ import annotations

import importlib
import pkgutil
import textwrap
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

LESSONS = {  # lesson id -> stem of its snippets module (and of its exercise file)
    "a3": "a3_mdp_and_bellman",
    "b0": "b0_multi_armed_bandits",
    "b1": "b1_tabular_q_learning",
    "b2": "b2_monte_carlo_methods",
    "b3": "b3_deep_q_networks_dqn",
    "c0": "c0_policy_gradients_reinforce",
    "c1": "c1_actor_critic_methods_a2c",
    "c2": "c2_proximal_policy_optimization_ppo",
    "c3": "c3_continuous_actions_ppo_sac",
    "d1": "d1_reward_modeling_concepts",
    "d2": "d2_rlhf_llm_with_pytorch",
    "d3": "d3_grpo_rloo_and_dpo",
}


@dataclass(frozen=True)
class Exercise:
    """One exercise: write ``function`` of lesson ``lesson``; ``grade`` checks it."""

    lesson: str  # "b1"
    function: str  # "q_update"
    title: str  # what the function is, in a few words
    section: str  # the section of snippets/<stem>.py that holds the lesson's own function
    grade: Callable[[Callable[..., Any], Checker], None]

    @property
    def id(self) -> str:
        """``b1.q_update``: what ``python -m exercises check`` accepts."""
        return f"{self.lesson}.{self.function}"

    @property
    def stem(self) -> str:
        """The lesson's module stem, e.g. ``b1_tabular_q_learning``."""
        return LESSONS[self.lesson]

    def stub(self) -> Callable[..., Any]:
        """The reader's function, from ``exercises/<stem>.py``."""
        return getattr(importlib.import_module(f"exercises.{self.stem}"), self.function)

    def solution(self) -> Callable[..., Any]:
        """The lesson's own function, from ``snippets/<stem>`` (a module or a package).

        A package that does not re-export the name is searched module by module.
        """
        module = importlib.import_module(f"snippets.{self.stem}")
        if hasattr(module, self.function):
            return getattr(module, self.function)
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            part = importlib.import_module(f"snippets.{self.stem}.{info.name}")
            if hasattr(part, self.function):
                return getattr(part, self.function)
        raise AttributeError(f"snippets.{self.stem} has no {self.function}")


REGISTRY: list[Exercise] = []


def exercise(
    function: str, title: str, section: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a grader; the lesson is the grader module's name (``exercises.graders.b1``)."""

    def register(grade: Callable[..., None]) -> Callable[..., None]:
        lesson = grade.__module__.rsplit(".", 1)[-1]
        REGISTRY.append(Exercise(lesson, function, title, section, grade))
        return grade

    return register


class Mismatch(Exception):
    """A value differs from the expected one; the message says which, by how much and why."""


def as_array(value: Any) -> np.ndarray:
    """NumPy view of a number, list, array or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def show(value: Any) -> str:
    """A short, readable rendering of a value for the report."""
    array = as_array(value)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    return np.array2string(array, precision=5, suppress_small=True, separator=", ")


def matches(actual: Any, expected: Any, atol: float) -> bool:
    """Same shape and equal to ``atol`` (absolute), NaN never equal."""
    try:
        a, e = as_array(actual), as_array(expected)
    except (TypeError, ValueError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=0.0, atol=atol))


class Checker:
    """Collects the cases of one grading run and raises :class:`Mismatch` at the first failure."""

    def __init__(self) -> None:
        self.case_name = ""
        self.hint = ""
        self.passed: list[str] = []

    @contextmanager
    def case(self, name: str, hint: str) -> Iterator[None]:
        """A named case; ``hint`` says what the case is about, for when it fails."""
        self.case_name, self.hint = name, hint
        yield
        self.passed.append(name)

    def close(
        self,
        what: str,
        actual: Any,
        expected: Any,
        atol: float = 1e-6,
        mistakes: dict[str, Any] | None = None,
    ) -> None:
        """Compare ``actual`` with ``expected``; on a mismatch name a matching known mistake."""
        if matches(actual, expected, atol):
            return
        try:
            a_shape, e_shape = as_array(actual).shape, as_array(expected).shape
        except (TypeError, ValueError):
            raise Mismatch(
                f"{what}: expected {show(expected)}, got {actual!r} (not a number or array)"
            ) from None
        if a_shape != e_shape:
            raise Mismatch(
                f"{what}: expected shape {e_shape}, got shape {a_shape}\n"
                f"  expected {show(expected)}\n  actual   {show(actual)}"
            )
        lines = [f"{what}:", f"  expected {show(expected)}", f"  actual   {show(actual)}"]
        for mistake, wrong in (mistakes or {}).items():
            if matches(actual, wrong, max(atol, 1e-5)):
                lines.append(f"  That is exactly what you get if you {mistake}.")
                break
        raise Mismatch("\n".join(lines))

    def true(self, what: str, condition: bool, detail: str = "") -> None:
        """Fail with ``what`` (and ``detail``) unless ``condition`` holds."""
        if not condition:
            raise Mismatch(f"{what}{': ' + detail if detail else ''}")


@dataclass(frozen=True)
class Result:
    """The outcome of grading one function."""

    exercise: Exercise
    status: str  # "done", "todo" (still the stub) or "wrong"
    passed: int  # cases passed
    report: str  # empty when done

    @property
    def done(self) -> bool:
        """Whether every case passed."""
        return self.status == "done"


def _where_not_implemented(error: BaseException) -> str:
    """Name of the function that raised NotImplementedError (the stub, or one it calls)."""
    frames = traceback.extract_tb(error.__traceback__)
    return frames[-1].name if frames else "?"


def _hint(text: str) -> str:
    """The case's hint, wrapped for a terminal."""
    return textwrap.fill(text, 96, initial_indent="  hint: ", subsequent_indent="        ")


def grade(ex: Exercise, function: Callable[..., Any]) -> Result:
    """Run ``ex``'s grader on ``function`` and turn the outcome into a :class:`Result`."""
    check = Checker()
    try:
        ex.grade(function, check)
    except NotImplementedError as error:
        where = _where_not_implemented(error)
        note = "" if where == ex.function else f" (it calls {where}, which is still a stub)"
        return Result(ex, "todo", len(check.passed), f"not written yet: NotImplementedError{note}")
    except Mismatch as error:
        report = f"case {check.case_name!r} failed.\n{error}\n{_hint(check.hint)}"
        return Result(ex, "wrong", len(check.passed), report)
    except Exception as error:  # the reader's code crashed: say where, in one line
        frame = traceback.extract_tb(error.__traceback__)[-1]
        report = (
            f"case {check.case_name!r} raised {type(error).__name__}: {error}\n"
            f"  at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}\n"
            f"{_hint(check.hint)}"
        )
        return Result(ex, "wrong", len(check.passed), report)
    return Result(ex, "done", len(check.passed), "")
