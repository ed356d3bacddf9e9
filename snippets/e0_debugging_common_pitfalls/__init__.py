"""Lesson E0: debugging RL, an atlas of common pitfalls you can run, and how to read curves.

Each pitfall is a module with a pair of functions, ``<name>_broken`` and ``<name>_fixed``,
with the same signature: they run the same small experiment, differ in the one or two lines
that matter, and return the result that shows the symptom. Each module exports one
:class:`~snippets.e0_debugging_common_pitfalls.record.Pitfall` record, and the atlas is a loop
over those records. The tests assert that the symptom appears with the bug and disappears
with the fix; ``--results`` writes the numbers the page quotes.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from snippets import common, curves
from snippets.e0_debugging_common_pitfalls import (
    autoreset,
    learning_rate,
    logprob_shift,
    normalisation,
    reward_scale,
    seeding,
    target_network,
    truncation,
)
from snippets.e0_debugging_common_pitfalls.base import Config
from snippets.e0_debugging_common_pitfalls.reading_curves import (
    cem_cartpole,
    cem_summary,
    plot_learning_curves,
)
from snippets.e0_debugging_common_pitfalls.record import Outcome, Pitfall
from snippets.e0_debugging_common_pitfalls.tracking import track_curve

# --8<-- [end:imports]


# --8<-- [start:atlas]
PITFALLS: tuple[Pitfall, ...] = tuple(
    module.PITFALL
    for module in (
        truncation,
        normalisation,
        learning_rate,
        target_network,
        seeding,
        reward_scale,
        logprob_shift,
        autoreset,
    )
)
BY_NAME = {pitfall.name: pitfall for pitfall in PITFALLS}


def run_atlas(cfg: Config, names: list[str], seed: int) -> dict[str, Outcome]:
    """Run the broken and the fixed version (and any reference) of each named pitfall."""
    return {name: BY_NAME[name].run(cfg, seed) for name in common.progress(names, desc="pitfalls")}


def save_figures(outcomes: dict[str, Outcome], cfg: Config, folder: str) -> list[str]:
    """One figure per pitfall, drawn from results already computed; returns the paths."""
    return [
        common.save_figure(
            BY_NAME[name].figure(outcome, cfg),
            os.path.join(folder, f"e0_{name.replace('-', '_')}.png"),
        )
        for name, outcome in outcomes.items()
    ]


# --8<-- [end:atlas]


# --8<-- [start:report]
RESULTS_NAME = "e0_debugging_common_pitfalls"  # results/<this>.json and .md


def section(name: str, body: str) -> str:
    """A named section of the Markdown the page includes (``--8<-- "file.md:name"``)."""
    marker = "--8<--"
    return f"<!-- {marker} [start:{name}] -->\n{body}\n<!-- {marker} [end:{name}] -->\n"


def atlas_table(metrics: dict[str, Any]) -> str:
    """Every pitfall's symptom, broken and fixed, as a Markdown table."""
    rows = ["| pitfall | symptom measured | broken | fixed |", "|---|---|---|---|"]
    for p in PITFALLS:
        broken, fixed = (p.symptom.show(metrics[p.name][k]) for k in ("broken", "fixed"))
        rows.append(f"| {p.name} | {p.symptom.measured} | {broken} | {fixed} |")
    return "\n".join(rows)


def curves_sentence(cem: dict[str, Any]) -> str:
    """When each CEM seed met the 100-episode criterion, in words."""
    solved = [s for s in cem["solved_at_episode"] if s is not None]
    n = len(cem["solved_at_episode"])
    if not solved:
        return f"None of the {n} seeds meets the {curves.SOLVED_WINDOW}-episode criterion here."
    return (
        f"The {n} seeds (middle) cross {curves.SOLVED_RETURN:g} at different times: "
        f"{len(solved)} of {n} meet the {curves.SOLVED_WINDOW}-episode criterion, after "
        f"{min(solved)} to {max(solved)} episodes."
    )


def render_report(metrics: dict[str, Any]) -> str:
    """The page's measured numbers as Markdown, from the command's JSON and nothing else."""
    parts = [
        "<!-- Written by `python -m snippets.e0_debugging_common_pitfalls --results results`"
        " from the JSON beside it; do not edit. -->\n"
    ]
    parts += [section(p.name, p.notice.format(**metrics[p.name])) for p in PITFALLS]
    parts.append(section("atlas", atlas_table(metrics)))
    parts.append(section("curves", curves_sentence(metrics["cem"])))
    run = f"{metrics['seconds']:.0f} s of wall time ({metrics['cpu_seconds']:.0f} s of CPU time)"
    parts.append(section("run", run))
    return "\n".join(parts)


def write_results(metrics: dict[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write the metrics as JSON, and the page's Markdown rendered from that JSON.

    Floats are rounded to 4 decimals, as ``common.emit_metrics`` prints them, so the file
    holds exactly the numbers of the JSON line.
    """
    rounded = json.loads(json.dumps(metrics), parse_float=lambda x: round(float(x), 4))
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{RESULTS_NAME}.json").write_text(json.dumps(rounded, indent=1) + "\n")
    saved = json.loads((out / f"{RESULTS_NAME}.json").read_text())
    (out / f"{RESULTS_NAME}.md").write_text(render_report(saved))
    return out / f"{RESULTS_NAME}.md"


# --8<-- [end:report]


# --8<-- [start:main]
QUICK = {
    "truncation_episodes": 1,
    "td_iterations": 800,
    "grad_batches": 8,
    "bandit_runs": 300,
    "bandit_steps": 150,
    "q_steps": 600,
    "critic_steps": 100,
    "sequences": 16,
    "autoreset_steps": 64,
    "cem_iterations": 4,
    "seeds": 2,
}


def build_parser() -> common.LessonParser:
    """One flag per Config field, plus the choice of pitfall and the output files."""
    parser = common.config_parser(
        Config,
        __doc__,
        prog="python -m snippets.e0_debugging_common_pitfalls",
        quick=QUICK,
        aliases={"cem_iterations": "--iterations"},
    )
    parser.add_argument("--pitfall", choices=["all", *BY_NAME], default="all", help="run one only")
    parser.add_argument("--plot-dir", metavar="DIR", help="write the e0_*.png figures here")
    parser.add_argument(
        "--results",
        metavar="DIR",
        help=f"write {RESULTS_NAME}.json and the page's .md here (every pitfall)",
    )
    parser.add_argument(
        "--track",
        choices=["none", "tensorboard", "wandb"],
        default="none",
        help="also log the learning curves (W&B runs offline unless WANDB_MODE says otherwise)",
    )
    parser.add_argument("--logdir", default="runs/e0", help="folder for --track (default runs/e0)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the atlas (every pitfall broken and fixed) and the learning-curve demo; print JSON."""
    parser = build_parser()
    cfg, args = common.parse_config(parser, argv)
    if args.results and args.pitfall != "all":
        parser.error("argument --results: the page needs every pitfall (leave out --pitfall)")
    names = list(BY_NAME) if args.pitfall == "all" else [args.pitfall]
    seeds = range(args.seed, args.seed + cfg.seeds)
    cpu_start = time.process_time()
    with common.Stopwatch() as clock:
        outcomes = run_atlas(cfg, names, args.seed)
        runs = np.array([cem_cartpole(cfg, s) for s in common.progress(seeds, desc="CEM seeds")])
    metrics: dict[str, Any] = {name: BY_NAME[name].numbers(o) for name, o in outcomes.items()}
    metrics["cem"] = cem_summary(runs)
    metrics |= {"seconds": clock.seconds, "cpu_seconds": time.process_time() - cpu_start}
    if args.plot_dir:
        save_figures(outcomes, cfg, args.plot_dir)
        plot_learning_curves(runs, args.plot_dir)
    if args.track != "none":
        for s, run in zip(seeds, runs, strict=True):
            track_curve(run, args.track, args.logdir, run_name=f"cem-seed{s}")
    if args.results:
        write_results(metrics, args.results)
    return common.emit_metrics(metrics)


# --8<-- [end:main]
