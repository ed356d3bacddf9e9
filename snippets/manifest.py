"""The course manifest: read ``lessons.toml``, where every lesson is written down once.

The MkDocs hook that builds the navigation, the API pages, the labs index and the home
page's day-by-day path, the site test, the command-line test, the exercises and the benchmark
all read the lessons from here, so adding a lesson is its files and one entry in that file.
"""

# --8<-- [start:manifest]
from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "lessons.toml"
KINDS = ("setup", "reading", "hands-on")


@dataclass(frozen=True)
class Module:
    """A snippets module and the title of its API page."""

    name: str  # snippets.<name>
    title: str
    intro: str = ""  # a line under the API page's title


@dataclass(frozen=True)
class Day:
    """One day of the home page's path through the course."""

    title: str  # e.g. "foundations"
    also: str = ""  # Markdown after the day's lessons, e.g. a link to the results page


@dataclass(frozen=True)
class Lesson:
    """One lesson: a page, the modules it is built from, a lab and benchmark entries."""

    stem: str  # e.g. "B1_tabular_q_learning"
    kind: str  # "setup", "reading" or "hands-on"
    chapter: str  # e.g. "B · Core algorithms"
    folder: str  # e.g. "B_core_algorithms"
    modules: tuple[Module, ...] = ()
    lab: bool = False
    benchmark: tuple[dict, ...] = ()  # keyword arguments of snippets.benchmark.Lesson
    runs: tuple[dict, ...] = ()  # the commands its page quotes (snippets.regenerate.Run)
    day: int = 1  # its day on the home page's path (1 is the first [[day]])
    label: str = ""  # its link text on the path, after the id: "B1 Q-learning"
    time: str = ""  # the time the path gives it, running the code included: "75 min"

    @property
    def page(self) -> str:
        """The page, relative to ``docs/``."""
        return f"{self.folder}/{self.stem}.md"

    @property
    def lower(self) -> str:
        """The stem in lower case: the name of its module, test and lab."""
        return self.stem.lower()


@cache
def lessons() -> tuple[Lesson, ...]:
    """Every lesson in course order, as ``lessons.toml`` lists them.

    Raises:
        ValueError: If an entry has an unknown kind or chapter letter, no day on the path, or
            a stem twice.
    """
    data = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    found = []
    for entry in data["lesson"]:
        letter = entry["stem"][0]
        if entry["kind"] not in KINDS or letter not in data["chapters"]:
            raise ValueError(f"lessons.toml: bad kind or chapter in {entry['stem']!r}")
        if not 1 <= entry.get("day", 0) <= len(days()) or not entry.get("label"):
            raise ValueError(f"lessons.toml: {entry['stem']!r} needs a day (1-{len(days())})")
        found.append(
            Lesson(
                stem=entry["stem"],
                kind=entry["kind"],
                chapter=data["chapters"][letter],
                folder=data["folders"][letter],
                modules=tuple(Module(**m) for m in entry.get("modules", ())),
                lab=entry.get("lab", False),
                benchmark=tuple(entry.get("benchmark", ())),
                runs=tuple(entry.get("run", ())),
                day=entry["day"],
                label=entry["label"],
                time=entry.get("time", ""),
            )
        )
    stems = [lesson.stem for lesson in found]
    if len(set(stems)) != len(stems):
        raise ValueError("lessons.toml: a stem is listed twice")
    return tuple(found)


@cache
def days() -> tuple[Day, ...]:
    """The days of the path through the course, in order (``[[day]]`` in ``lessons.toml``)."""
    data = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    return tuple(Day(**d) for d in data.get("day", ()))


@cache
def support_modules() -> tuple[Module, ...]:
    """Modules that belong to no single lesson (shared helpers, the benchmark, the views).

    Each ``snippets/regenerate/views_*.py`` has an API page by that file name alone, titled by
    its docstring's first line (``"The tables of chapter A: ..."``), after those listed.
    """
    data = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    listed = tuple(Module(**m) for m in data.get("support", ()))
    views = []
    for path in sorted((ROOT / "snippets" / "regenerate").glob("views_*.py")):
        line = (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").split("\n")[0]
        title = line.split(":")[0].rstrip(".")
        views.append(
            Module(f"regenerate.{path.stem}", f"Regenerate · {title[:1].lower()}{title[1:]}", line)
        )
    return listed + tuple(v for v in views if v.name not in {m.name for m in listed})


def all_modules() -> tuple[Module, ...]:
    """Every module with an API page: the lessons' modules in order, then the support ones."""
    return tuple(m for lesson in lessons() for m in lesson.modules) + support_modules()


# --8<-- [end:manifest]
