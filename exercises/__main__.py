"""Command line: ``python -m exercises start b1 | all``, ``check b1 | b1.q_update | all``, ``list``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from exercises import exercises
from exercises.grading import HERE, LESSONS, Exercise, Result, grade
from exercises.start import shown, start

STATUS = {"done": "done", "todo": "not done", "wrong": "not done", "not started": "not started"}


def select(target: str) -> list[Exercise]:
    """The exercises ``target`` names: ``all``, a lesson (``b1``) or one exercise (``b1.q_update``)."""
    target = target.lower()
    if target == "all":
        return exercises()
    lesson, _, function = target.partition(".")
    if lesson not in LESSONS:
        raise SystemExit(f"unknown lesson {lesson!r}: choose from all, {', '.join(LESSONS)}")
    found = [ex for ex in exercises(lesson) if not function or ex.function == function]
    if not found:
        names = ", ".join(ex.id for ex in exercises(lesson))
        raise SystemExit(f"unknown exercise {target!r}: {lesson} has {names}")
    return found


def attempt(ex: Exercise, folder: Path) -> Result:
    """Grade the reader's function in ``<folder>/<stem>.py``, or say why it cannot be graded."""
    path = ex.path(folder)
    if not path.is_file():
        into = "" if folder == HERE else f" --dir {shown(folder)}"
        run = f"uv run python -m exercises start {ex.lesson}{into}"
        report = f"run `{run}` first\n(it writes {shown(path)}, which does not exist yet)"
        return Result(ex, "not started", 0, report)
    try:
        function = ex.stub(folder)
    except Exception as error:  # a syntax error, or the function was deleted
        report = f"{shown(path)} does not load: {type(error).__name__}: {error}"
        return Result(ex, "wrong", 0, report)
    assert function is not None
    return grade(ex, function)


def run(selected: list[Exercise], solution: bool, folder: Path) -> list[Result]:
    """Grade the reader's files, or with ``solution`` the lessons' own functions."""
    return [grade(ex, ex.solution()) if solution else attempt(ex, folder) for ex in selected]


def print_details(results: list[Result], folder: Path = HERE) -> None:
    """One block per exercise (done with its case count, or the failing case and its hint).

    A lesson whose file does not exist yet gets one line saying how to start it.
    """
    said: set[str] = set()
    for r in results:
        if r.status == "not started":
            if r.report not in said:
                print(f"[not started] {r.exercise.lesson}: {r.report.replace(chr(10), ' ')}")
            said.add(r.report)
            continue
        where = shown(r.exercise.path(folder))
        if r.done:
            print(f"[done] {r.exercise.id}: {r.exercise.title} ({r.passed} cases passed)")
        else:
            print(f"[{STATUS[r.status]}] {r.exercise.id}: {r.exercise.title} ({where})")
            print("  " + r.report.replace("\n", "\n  "))
        print()


def print_table(results: list[Result]) -> None:
    """The ``check all`` table: exercise, done or not, and why not in a few words."""
    width = max(len(r.exercise.id) for r in results)
    print(f"{'exercise':{width}}  {'status':11}  detail")
    print(f"{'-' * width}  {'-' * 11}  {'-' * 40}")
    for r in results:
        detail = r.exercise.title if r.done else r.report.splitlines()[0]
        print(f"{r.exercise.id:{width}}  {STATUS[r.status]:11}  {detail}")
    done = sum(r.done for r in results)
    print(f"\n{done} of {len(results)} done. Details: python -m exercises check <lesson>")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and act; exit status 0 only if all went as asked."""
    parser = argparse.ArgumentParser(prog="python -m exercises", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    begin = sub.add_parser("start", help="write a lesson's exercise file (all: every lesson's)")
    begin.add_argument("target", help="all | a3 | b0 | ... | d3")
    begin.add_argument("--force", action="store_true", help="write over a file that exists")
    check = sub.add_parser("check", help="grade exercises: all, a lesson (b1) or one (b1.q_update)")
    check.add_argument("target", help="all | a3 | b0 | ... | d3 | b1.q_update")
    check.add_argument("--solution", action="store_true", help="grade the lesson's own code")
    for command in (begin, check):
        command.add_argument(
            "--dir", "--into", type=Path, default=HERE, help="folder of the exercise files"
        )
    sub.add_parser("list", help="list every exercise with the file to edit")
    args = parser.parse_args(argv)
    folder = getattr(args, "dir", HERE).resolve()
    os.environ.setdefault("RL_COURSE_PROGRESS", "0")
    if args.command == "list":
        for ex in exercises():
            print(f"{ex.id:36} {ex.title:44} exercises/{ex.stem}.py")
        return 0
    if args.command == "start":
        lessons = sorted({ex.lesson for ex in select(args.target)}, key=list(LESSONS).index)
        written = [start(lesson, folder, args.force) for lesson in lessons]
        return 0 if all(written) else 1
    results = run(select(args.target), args.solution, folder)
    if args.target.lower() == "all":
        print_table(results)
    else:
        print_details(results, folder)
    return 0 if all(r.done for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
