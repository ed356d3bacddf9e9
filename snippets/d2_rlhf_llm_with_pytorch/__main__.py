"""Lesson D2: RLHF for a language model with PyTorch: pretraining, reward model, PPO.

A complete, laptop-sized InstructGPT pipeline: a tiny GPT-2 learns to write short movie
reviews, a reward model learns a hidden rater's noisy preferences, and PPO fine-tunes the
policy against it with a per-token KL penalty; the same PPO run without the penalty shows
reward hacking. One JSON line of headline metrics comes last.
"""

# --8<-- [start:imports]
from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

import torch

from snippets import common
from snippets.d2_rlhf_llm_with_pytorch.config import HUB_MODEL, QUICK, Config
from snippets.d2_rlhf_llm_with_pytorch.pipeline import headline, run_pipeline
from snippets.d2_rlhf_llm_with_pytorch.report import (
    plot_diagnostics,
    plot_reward_hacking,
    save_run,
)

# --8<-- [end:imports]


# --8<-- [start:cli]
def build_parser() -> common.LessonParser:
    """One flag per Config field, plus the model, the device and the output files."""
    outputs = {
        "plot": "save the reward-hacking figure (PNG)",
        "plot_diagnostics": "save the health metrics",
        "save_logs": "write the whole run as JSON",
    }
    parser = common.config_parser(
        Config,
        __doc__,
        __spec__,
        quick=QUICK,
        aliases={"init_kl_coef": "--kl-coef"},
        outputs=outputs,
    )
    parser.add_argument(
        "--model",
        default="tiny",
        help="'tiny' (built in code, the default) or a from_pretrained name or folder, such as gpt2",
    )
    parser.add_argument(
        "--device",
        choices=common.DEVICE_CHOICES,
        default=None,
        help="default: cpu for the tiny model, else CUDA, MPS, then CPU",
    )
    return parser


def settings(argv: list[str] | None) -> tuple[Config, Any, Any]:
    """Read the command line: ``(config, args, device)``.

    Precedence: Config defaults, then ``HUB_MODEL`` for a hub model, then ``--quick``,
    then the flags given. The tiny model runs on the CPU unless a device is asked for (by
    ``--device`` or ``RL_COURSE_DEVICE``): at ~100k parameters, kernel launches cost more
    than they save.
    """
    parser = build_parser()
    config, args = common.parse_config(parser, argv)
    if args.model != "tiny":
        held = set(vars(args)) | (set(QUICK) if args.quick else set())
        config = replace(config, **{k: v for k, v in HUB_MODEL.items() if k not in held})
    choice = args.device or os.environ.get(common.DEVICE_ENV_VAR)
    try:
        device = common.pick_device(choice or ("cpu" if args.model == "tiny" else "auto"))
    except ValueError as err:  # e.g. --device cuda on a machine without a GPU
        parser.error(f"argument --device: {err}")
    return config, args, device


# --8<-- [end:cli]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Run the pipeline and print the headline metrics as one JSON line."""
    config, args, device = settings(argv)
    torch.set_num_threads(config.threads)
    cpu_start = time.process_time()
    with common.Stopwatch() as clock:
        result = run_pipeline(config, args.seed, args.model, device)
    metrics = {
        **headline(result),
        "device": str(device),
        "threads": config.threads,
        "seconds": clock.seconds,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    if args.plot:
        common.save_figure(plot_reward_hacking(result["logs"]), args.plot)
    if args.plot_diagnostics:
        common.save_figure(plot_diagnostics(result["logs"]["kl"]), args.plot_diagnostics)
    for name, ev in result["evals"].items():
        print(f"--- samples: {name} ---", *ev["samples"][:6], sep="\n")
    shown = common.emit_metrics(metrics)  # the last line printed
    if args.save_logs:  # writes a file, prints nothing
        save_run(result, shown, args.save_logs)
    return shown


if __name__ == "__main__":
    main()
# --8<-- [end:main]
