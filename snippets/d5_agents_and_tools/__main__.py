"""Lesson D5: multi-turn RL with a calculator tool, on a laptop CPU.

Trains a tiny Qwen2 (with a BPE tokenizer trained here) on imperfect demonstrations, then
trains each arm named by ``--arm`` with GRPO over whole episodes from that same SFT model, and
prints one JSON line: held-out success, call validity and calls per task before and after.
"""

# --8<-- [start:main]
from __future__ import annotations

import sys

import torch

from snippets import common
from snippets.d5_agents_and_tools import experiment, report

QUICK = {
    "sft_steps": 10,
    "sft_min_success": 0.0,
    "sft_anneal_steps": 5,
    "demonstrations": 100,
    "steps": 1,
    "eval_tasks": 8,
    "hidden": 32,
}
OUTPUTS = {"plot": "save the training curves (PNG)", "record": "save the whole run (JSON)"}


def main(argv: list[str] | None = None) -> dict:
    """SFT, then every asked-for arm from the same start; one JSON line of headline figures."""
    parser = common.config_parser(
        experiment.Config, __doc__, __spec__, quick=QUICK, outputs=OUTPUTS
    )
    cfg, args = common.parse_config(parser, argv)
    if len(set(cfg.arm)) < len(cfg.arm):
        parser.error("argument --arm: an arm is named twice")
    torch.set_num_threads(cfg.threads)
    result = experiment.run(cfg, args.seed)
    if args.plot:
        report.plot_history(result, args.plot, f"seed {args.seed}")
    if args.record:
        report.save_record(result, args.record)
    return common.emit_metrics(experiment.headline(result) | {"seed": args.seed})


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
