"""``python -m snippets.e0_debugging_common_pitfalls``: run the atlas and the learning-curve demo.

Every pitfall runs broken and fixed, then the cross-entropy method learns CartPole over
several seeds for the learning-curve figure; one JSON line of every symptom comes last.
``--results`` writes the same numbers as JSON, from which the page's numbers are rendered.
"""

# --8<-- [start:imports]
from __future__ import annotations

import time
from typing import Any

import numpy as np

from snippets import common
from snippets.e0_debugging_common_pitfalls.atlas import BY_NAME, run_atlas
from snippets.e0_debugging_common_pitfalls.base import Config
from snippets.e0_debugging_common_pitfalls.reading_curves import (
    cem_cartpole,
    cem_summary,
    plot_learning_curves,
)
from snippets.e0_debugging_common_pitfalls.report import RESULTS_NAME, save_figures, write_results
from snippets.e0_debugging_common_pitfalls.tracking import track_curve

# --8<-- [end:imports]


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
    record = (
        f"write {RESULTS_NAME}.json, the record the page is rendered from, here (every pitfall)"
    )
    outputs = {"plot_dir": ("DIR", "write the e0_*.png figures here"), "results": ("DIR", record)}
    aliases = {"cem_iterations": "--iterations"}
    parser = common.config_parser(
        Config, __doc__, __spec__, quick=QUICK, aliases=aliases, outputs=outputs
    )
    parser.add_argument("--pitfall", choices=["all", *BY_NAME], default="all", help="run one only")
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


if __name__ == "__main__":
    main()
