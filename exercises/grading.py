"""The grading machinery: cases, comparisons with hints, and the registry of exercises.

A grader is a function ``grade_<function>(f, check)`` of ``exercises/graders/<lesson>.py``,
registered with ``@exercise(title)``; its docstring's ``Todo:`` section is the line `start`
writes into the reader's empty function. It calls the reader's function ``f`` on small
hand-checkable inputs. A case of one comparison is one call, ``check.expect(case, hint,
what, lambda: f(...), want)``; a case that compares several things is a block ``with
check.case(case, hint):`` around ``check.close`` and ``check.true``. The first mismatch stops
the grader and is reported with the case, the expected and the actual value, and the hint.
When the actual value equals the result of a known mistake (``mistakes={...}``), the report
names that mistake.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent  # exercises/: where `start` writes the reader's files
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
SECTION = re.compile(r"# --8<-- \[(start|end):([\w-]+)\]")


@dataclass(frozen=True)
class Exercise:
    """One exercise: write ``function`` of lesson ``lesson``; ``grade`` checks it."""

    lesson: str  # "b1"
    function: str  # "q_update"
    title: str  # what the function is, in a few words
    todo: str  # the line `start` writes into the empty body: what to do, briefly
    grade: Callable[[Callable[..., Any], Checker], None]

    @property
    def id(self) -> str:
        """``b1.q_update``: what ``python -m exercises check`` accepts."""
        return f"{self.lesson}.{self.function}"

    @property
    def stem(self) -> str:
        """The lesson's module stem, e.g. ``b1_tabular_q_learning``."""
        return LESSONS[self.lesson]

    def path(self, folder: Path = HERE) -> Path:
        """The reader's file for this exercise, ``<folder>/<stem>.py``."""
        return folder / f"{self.stem}.py"

    def stub(self, folder: Path = HERE) -> Callable[..., Any] | None:
        """The reader's function from ``<folder>/<stem>.py``; None if that file does not exist.

        Raises:
            AttributeError: If the file exists but defines no such function.
        """
        path = self.path(folder)
        if not path.is_file():
            return None
        module = load(path, f"exercises.{self.stem}" if folder == HERE else None)
        if not callable(getattr(module, self.function, None)):
            raise AttributeError(f"{path} has no function {self.function}")
        return getattr(module, self.function)

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

    @property
    def section(self) -> str:
        """The innermost ``--8<--`` section of the lesson's source that holds the function.

        The lesson's page includes that section as the exercise's solution.
        """
        function = inspect.unwrap(self.solution())
        # The code object knows its file and first line; inspect's lookup walks every loaded
        # module (torch's and JAX's included) and costs a fraction of a second per call.
        first = function.__code__.co_firstlineno
        source = Path(function.__code__.co_filename).read_text(encoding="utf-8")
        open_sections: list[str] = []
        for line in source.splitlines()[: first - 1]:
            for kind, name in SECTION.findall(line):
                if kind == "start":
                    open_sections.append(name)
                elif name in open_sections:
                    open_sections.remove(name)
        if not open_sections:
            raise LookupError(f"{self.function} (line {first}) is in no --8<-- section")
        return open_sections[-1]


def load(path: Path, name: str | None = None) -> ModuleType:
    """Execute the Python file ``path`` afresh (the reader may have just saved it)."""
    name = name or f"_exercises_{abs(hash(str(path.parent)))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


REGISTRY: list[Exercise] = []


def exercise(title: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the grader ``grade_<function>`` of the lesson its module is named after.

    ``exercises.graders.b1.grade_q_update`` grades B1's ``q_update``. The grader's docstring
    has a ``Todo:`` section: the line `start` writes into the empty body of the function.
    """

    def register(grade: Callable[..., None]) -> Callable[..., None]:
        lesson = grade.__module__.rsplit(".", 1)[-1]
        function = grade.__name__.removeprefix("grade_")
        doc = inspect.getdoc(grade) or ""
        todo = " ".join(doc.partition("\nTodo:\n")[2].split("\n\n")[0].split())
        if not todo:
            raise ValueError(f"{grade.__name__}'s docstring has no Todo: section")
        REGISTRY.append(Exercise(lesson, function, title, todo, grade))
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
        """A named case; ``hint`` says what the case is about, for when it fails.

        The hint is a paragraph: its line breaks and indentation are folded into spaces.
        """
        self.case_name, self.hint = name, " ".join(hint.split())
        yield
        self.passed.append(name)

    def expect(
        self,
        name: str,
        hint: str,
        what: str,
        call: Callable[[], Any],
        want: Any,
        *,
        atol: float = 1e-6,
        mistakes: dict[str, Any] | None = None,
    ) -> None:
        """A case of one comparison: ``call()`` (which calls ``f``) must give ``want``.

        ``atol`` and ``mistakes`` are as in :meth:`close`.
        """
        with self.case(name, hint):
            self.close(what, call(), want, atol, mistakes)

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

    def no_grad(self, what: str, tensor: Any) -> None:
        """Fail unless no gradient reached ``tensor`` (its ``.grad`` is None or all zero)."""
        grad = tensor.grad
        self.true(what, grad is None or not grad.abs().sum().item())

    def raises(self, error: type[Exception], what: str, call: Callable[[], Any]) -> None:
        """Fail with ``what`` unless ``call()`` raises ``error``."""
        try:
            call()
        except error:
            return
        self.true(what, False)


@dataclass(frozen=True)
class Result:
    """The outcome of grading one function."""

    exercise: Exercise
    status: str  # "done", "todo" (still the stub), "wrong" or "not started" (no file yet)
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
