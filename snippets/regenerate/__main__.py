"""The command: ``python -m snippets.regenerate`` (see the package's docstring for examples)."""

# --8<-- [start:main]
from __future__ import annotations

from pathlib import Path

from snippets import common, regenerate
from snippets.regenerate import FIGURES_DIR, RUNS, RUNS_DIR


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen commands, keep their records, redraw the figures, re-render the tables."""
    parser = common.lesson_parser(regenerate.__doc__, prog="python -m snippets.regenerate")
    parser.add_argument("--lesson", action="append", help="runs of this lesson only (e.g. B1)")
    parser.add_argument("--run", action="append", choices=sorted(RUNS), help="this run only")
    parser.add_argument("--render", action="store_true", help="re-render the tables only")
    parser.add_argument("--list", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--out", type=Path, default=RUNS_DIR, help="folder for the records")
    parser.add_argument("--figures", type=Path, default=FIGURES_DIR, help="folder for figures")
    args = parser.parse_args(argv)
    lessons, names = [x.upper() for x in args.lesson or ()], args.run or ()
    everything = not lessons and not names
    chosen = [r for r in RUNS.values() if everything or r.name in names or r.lesson[:2] in lessons]
    if args.list:
        for run in chosen:
            print(f"{run.name}: {run.command()}  ->  {', '.join(run.figures) or 'numbers only'}")
        return common.emit_metrics({"runs": [r.name for r in chosen]})
    done, failed = ([], []) if args.render else regenerate.run_all(chosen, args.out, args.figures)
    if not args.render and everything:  # the benchmark's figures too
        regenerate.draw_benchmark_figures(args.figures)
    rendered = regenerate.render_all(args.out)
    return common.emit_metrics({"ran": done, "failed": failed, "rendered": rendered})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
