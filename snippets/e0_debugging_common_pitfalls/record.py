"""E0's pitfall record: each pitfall module exports one :class:`Pitfall`.

The package's ``__init__`` runs them all in one loop: the atlas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snippets.e0_debugging_common_pitfalls.base import Config

# --8<-- [start:record]
Run = Callable[[Config, int], Any]  # an experiment: run(cfg, seed) -> its result


@dataclass(frozen=True)
class Outcome:
    """The results of one pitfall's runs: with the bug, with the fix, and a reference if any."""

    broken: Any
    fixed: Any
    reference: Any = None


@dataclass(frozen=True)
class Experiment:
    """The same experiment with the bug and with the fix, and a reference run if any."""

    broken: Run
    fixed: Run
    reference: Run | None = None

    def run(self, cfg: Config, seed: int) -> Outcome:
        """Run the reference (if any), the broken and the fixed version once each."""
        reference = self.reference(cfg, seed) if self.reference else None
        return Outcome(self.broken(cfg, seed), self.fixed(cfg, seed), reference)


@dataclass(frozen=True)
class Symptom:
    """The one number (or flag) that tells a broken result from a fixed one.

    Attributes:
        measured: what it is, for the atlas table.
        read: reads it from a result; the tests and the JSON line report it.
        fmt: how the atlas table prints a number.
    """

    measured: str
    read: Callable[[Any], float | bool]
    fmt: str = "{:.2f}"

    def show(self, value: float | bool) -> str:
        """The value as the atlas table prints it (a flag as yes or no)."""
        return ("yes" if value else "no") if isinstance(value, bool) else self.fmt.format(value)


@dataclass(frozen=True)
class Pitfall:
    """One entry of the atlas: an experiment run with the bug and with the fix.

    Attributes:
        name: its name on the command line and in the JSON line (``--pitfall truncation``).
        experiment: the broken and the fixed run (and a reference the figure shows, if any).
        symptom: what the tests, the JSON line and the atlas table read from each result.
        figure: draws the page's figure from an :class:`Outcome`; it runs nothing itself.
        notice: the page's measured sentence, a format string filled from :meth:`numbers`.
        extra: more numbers the sentence quotes, computed from an Outcome (optional).
    """

    name: str
    experiment: Experiment
    symptom: Symptom
    figure: Callable[[Outcome, Config], Any]
    notice: str
    extra: Callable[[Outcome], dict[str, Any]] | None = None

    def run(self, cfg: Config, seed: int) -> Outcome:
        """Run the experiment: broken, fixed and (if any) reference, once each."""
        return self.experiment.run(cfg, seed)

    def numbers(self, outcome: Outcome) -> dict[str, Any]:
        """The symptom with the bug and with the fix, and any extra numbers of the sentence."""
        read = self.symptom.read
        found = {"broken": read(outcome.broken), "fixed": read(outcome.fixed)}
        return found | (self.extra(outcome) if self.extra else {})


# --8<-- [end:record]
