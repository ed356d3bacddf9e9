"""The grading machinery: cases, comparisons with hints, and the registry of exercises.

A grader is a function ``grade_<function>(f, check)`` of ``exercises/graders/<lesson>.py``,
registered with ``@exercise(title)``; its docstring's ``Todo:`` section is the line `start`
writes into the reader's empty function. It calls the reader's function ``f`` on small
hand-checkable inputs. A case of one comparison is one call, ``check.expect(case, hint,
what, lambda: f(...), want)``; a case that compares several things is a block ``with
check.case(case, hint):`` around ``check.close`` and ``check.true``. The first mismatch stops
the grader and is reported with the case, the expected and the actual value, what the numbers
show and the hint. A known mistake is named only when the answer gives the same numbers as
that mistake's mutant (``exercises/mutants/<lesson>.py``) on every case of the grader.
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

from snippets import manifest

HERE = Path(__file__).resolve().parent  # exercises/: where `start` writes the reader's files
GRADERS = HERE / "graders"


def lessons_with_graders() -> dict[str, str]:
    """Lesson id -> lower-case stem, for every lesson with ``graders/<id>.py``, in course order.

    The id is the stem's first two characters (``b1`` for ``B1_tabular_q_learning``); the
    stem names the lesson's snippets module and the reader's exercise file. Nothing else
    lists the lessons: a grader file and the lesson's entry in ``lessons.toml`` are enough.
    """
    found = {lesson.stem[:2].lower(): lesson.lower for lesson in manifest.lessons()}
    ids = sorted(p.stem for p in GRADERS.glob("[a-z][0-9].py"))
    if unknown := [i for i in ids if i not in found]:
        raise ValueError(f"exercises/graders/{unknown[0]}.py names no lesson of lessons.toml")
    return {i: stem for i, stem in found.items() if i in ids}


LESSONS = lessons_with_graders()  # lesson id -> stem of its snippets module (and exercise file)
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
    """A value differs from the expected one; the message says which and by how much."""


def as_array(value: Any) -> np.ndarray:
    """NumPy copy of a number, list, array or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.array(value, dtype=np.float64)


def show(value: Any) -> str:
    """A short, readable rendering of a value for the report (long arrays are summarised)."""
    array = as_array(value)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    return np.array2string(array, precision=5, suppress_small=True, separator=", ", threshold=24)


def matches(actual: Any, expected: Any, atol: float, equal_nan: bool = False) -> bool:
    """Same shape and equal to ``atol`` (absolute); NaN equals NaN only with ``equal_nan``."""
    try:
        a, e = as_array(actual), as_array(expected)
    except (TypeError, ValueError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=0.0, atol=atol, equal_nan=equal_nan))


def describe(actual: np.ndarray, expected: np.ndarray, atol: float) -> str:
    """What the numbers show, without naming a cause: sign, scale, offset or where they differ."""
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(actual)):
            return "the actual value is not finite (inf or NaN)"
        if np.allclose(actual, -expected, rtol=0.0, atol=atol):
            return "the actual value has the opposite sign"
        live = np.abs(expected) > atol
        if live.any():
            ratio = actual[live] / expected[live]
            k = ratio.flat[0]
            simple = any(abs(k - n) < 1e-6 or abs(k * n - 1) < 1e-6 for n in range(2, 11))
            if (
                np.allclose(actual[~live], 0.0, atol=atol)
                and np.ptp(ratio) < 1e-6
                and (simple or live.sum() > 1)
            ):
                return f"the actual value is {k:.6g} times the expected one"
        offset = actual - expected
        if actual.size > 1 and np.ptp(offset) < atol:
            return f"every entry is off by the same {offset.flat[0]:+.6g}"
        wrong = np.argwhere(~np.isclose(actual, expected, rtol=0.0, atol=atol))
        if actual.ndim and len(wrong) == actual.size:
            return f"all {actual.size} entries differ"
        if actual.ndim:
            places = ", ".join(str(tuple(int(i) for i in w)) for w in wrong[:6])
            more = "" if len(wrong) <= 6 else f" and {len(wrong) - 6} more"
            return f"{len(wrong)} of {actual.size} entries differ, at {places}{more}"
    return ""


class Checker:
    """Collects the cases of one grading run and raises :class:`Mismatch` at the first failure.

    With ``record`` it raises nothing: it notes every observation (each compared value, each
    condition, each error a case raised) and goes on to the end. Those notes are the
    function's *fingerprint* over all the cases, which :func:`diagnose` compares with the
    fingerprints of the known mistakes.
    """

    def __init__(self, record: bool = False) -> None:
        self.case_name = ""
        self.hint = ""
        self.passed: list[str] = []
        self.record = record
        self.seen: list[tuple[str, Any, float]] = []  # (kind, observation, atol), in order

    @contextmanager
    def case(self, name: str, hint: str) -> Iterator[None]:
        """A named case; ``hint`` says what the case is about, for when it fails.

        The hint is a paragraph: its line breaks and indentation are folded into spaces.
        """
        self.case_name, self.hint = name, " ".join(hint.split())
        try:
            yield
        except Exception as error:
            if not self.record:
                raise
            self.seen.append(("error", type(error).__name__, 0.0))
            return
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
    ) -> None:
        """A case of one comparison: ``call()`` (which calls ``f``) must give ``want``."""
        with self.case(name, hint):
            self.close(what, call(), want, atol)

    def close(self, what: str, actual: Any, expected: Any, atol: float = 1e-6) -> None:
        """Compare ``actual`` with ``expected``; on a mismatch say what the numbers show."""
        try:
            observed: Any = as_array(actual)
        except (TypeError, ValueError):
            observed = repr(actual)
        self.seen.append(("value", observed, atol))
        if self.record or matches(actual, expected, atol):
            return
        if isinstance(observed, str):
            raise Mismatch(
                f"{what}: expected {show(expected)}, got {actual!r} (not a number or array)"
            )
        wanted = as_array(expected)
        if observed.shape != wanted.shape:
            raise Mismatch(
                f"{what}: expected shape {wanted.shape}, got shape {observed.shape}\n"
                f"  expected {show(expected)}\n  actual   {show(actual)}"
            )
        indent = "\n" + " " * 11  # rows of a matrix line up under the first
        lines = [f"{what}:", f"  expected {show(expected)}", f"  actual   {show(actual)}"]
        lines[1:] = [line.replace("\n", indent) for line in lines[1:]]
        seen = describe(observed, wanted, atol)
        raise Mismatch("\n".join(lines + ([f"  ({seen})"] if seen else [])))

    def true(self, what: str, condition: bool, detail: str = "") -> None:
        """Fail with ``what`` (and ``detail``) unless ``condition`` holds."""
        self.seen.append(("flag", bool(condition), 0.0))
        if not condition and not self.record:
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
            self.true(what, True)
            return
        self.true(what, False)


Fingerprint = list[tuple[str, Any, float]]
_KNOWN: dict[tuple[str, Callable[..., Any]], Fingerprint] = {}  # the mutants' fingerprints


def fingerprint(ex: Exercise, function: Callable[..., Any]) -> Fingerprint:
    """Every observation ``ex``'s grader makes of ``function``, over all its cases."""
    check = Checker(record=True)
    with np.errstate(all="ignore"):
        try:
            ex.grade(function, check)
        except Exception as error:  # outside any case: the run ends here
            check.seen.append(("error", type(error).__name__, 0.0))
    return check.seen


def same(mine: Fingerprint, theirs: Fingerprint) -> bool:
    """Whether two fingerprints agree on every observation (values to their case's atol)."""
    if len(mine) != len(theirs):
        return False
    for (kind, a, atol), (other, b, _) in zip(mine, theirs, strict=True):
        if kind != other:
            return False
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            if not matches(a, b, max(atol, 1e-5), equal_nan=True):
                return False
        elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or a != b:
            return False
    return True


def diagnose(ex: Exercise, function: Callable[..., Any]) -> str | None:
    """The known mistake whose mutant gives the same numbers as ``function`` on every case.

    The candidates are the mutants of ``exercises/mutants/<lesson>.py``. None when no
    mutant matches everywhere, or when mutants of two different mistakes both do.
    """
    from exercises.mutants import mutants  # the mutants import the lessons, so late

    candidates = mutants(ex.lesson).get(ex.function, [])
    if not candidates:
        return None
    mine = fingerprint(ex, function)
    found = set()
    for wrong, mistake in candidates:
        if (ex.id, wrong) not in _KNOWN:
            _KNOWN[ex.id, wrong] = fingerprint(ex, wrong)
        if same(mine, _KNOWN[ex.id, wrong]):
            found.add(mistake)
    return found.pop() if len(found) == 1 else None


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
    """Run ``ex``'s grader on ``function`` and turn the outcome into a :class:`Result`.

    A wrong answer is named as a known mistake only when it matches that mistake's mutant
    on every case (:func:`diagnose`); otherwise the report says what the numbers show.
    """
    check = Checker()
    try:
        ex.grade(function, check)
    except NotImplementedError as error:
        where = _where_not_implemented(error)
        note = "" if where == ex.function else f" (it calls {where}, which is still a stub)"
        return Result(ex, "todo", len(check.passed), f"not written yet: NotImplementedError{note}")
    except Mismatch as error:
        report = f"case {check.case_name!r} failed.\n{error}"
    except Exception as error:  # the reader's code crashed: say where, in one line
        frame = traceback.extract_tb(error.__traceback__)[-1]
        report = (
            f"case {check.case_name!r} raised {type(error).__name__}: {error}\n"
            f"  at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"
        )
    else:
        return Result(ex, "done", len(check.passed), "")
    hint, passed = check.hint, len(check.passed)  # diagnose runs other Checkers
    mistake = diagnose(ex, function)
    if mistake:
        report += f"\n  That is exactly what you get if you {mistake}."
    report += f"\n{_hint(hint)}"
    return Result(ex, "wrong", passed, report)
