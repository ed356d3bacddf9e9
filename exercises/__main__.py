"""Command line: ``python -m exercises check b1 | b1.q_update | all [--solution]`` and ``list``."""

from __future__ import annotations

import argparse
import os
import sys

from exercises import exercises
from exercises.grading import LESSONS, Exercise, Result, grade

STATUS = {"done": "done", "todo": "not done", "wrong": "not done"}


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


def run(selected: list[Exercise], solution: bool) -> list[Result]:
    """Grade the reader's stubs, or with ``solution`` the lessons' own functions."""
    return [grade(ex, ex.solution() if solution else ex.stub()) for ex in selected]


def print_details(results: list[Result]) -> None:
    """One block per exercise: done with its case count, or the failing case and its hint."""
    for r in results:
        where = f"exercises/{r.exercise.stem}.py"
        if r.done:
            print(f"[done] {r.exercise.id}: {r.exercise.title} ({r.passed} cases passed)")
        else:
            print(f"[{STATUS[r.status]}] {r.exercise.id}: {r.exercise.title} ({where})")
            print("  " + r.report.replace("\n", "\n  "))
        print()


def print_table(results: list[Result]) -> None:
    """The ``check all`` table: exercise, lesson, done or not, and why not in a few words."""
    width = max(len(r.exercise.id) for r in results)
    print(f"{'exercise':{width}}  {'status':8}  detail")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for r in results:
        detail = r.exercise.title if r.done else r.report.splitlines()[0]
        print(f"{r.exercise.id:{width}}  {STATUS[r.status]:8}  {detail}")
    done = sum(r.done for r in results)
    print(f"\n{done} of {len(results)} done. Details: python -m exercises check <lesson>")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, grade, print; exit status 0 only if everything checked passed."""
    parser = argparse.ArgumentParser(prog="python -m exercises", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="grade exercises: all, a lesson (b1) or one (b1.q_update)")
    check.add_argument("target", help="all | a3 | b0 | ... | d2 | b1.q_update")
    check.add_argument("--solution", action="store_true", help="grade the lesson's own code")
    sub.add_parser("list", help="list every exercise with the file to edit")
    args = parser.parse_args(argv)
    os.environ.setdefault("RL_COURSE_PROGRESS", "0")
    if args.command == "list":
        for ex in exercises():
            print(f"{ex.id:36} {ex.title:44} exercises/{ex.stem}.py")
        return 0
    results = run(select(args.target), args.solution)
    if args.target.lower() == "all":
        print_table(results)
    else:
        print_details(results)
    return 0 if all(r.done for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
