"""Lesson D3: GRPO, RLOO and DPO beside D2's PPO in D2's world, scored by the gold rater.

Builds D2's world (SFT model, preference pairs, reward model) for the seed, trains each
method from the same SFT model, and prints the gold gain and KL of each as one JSON line.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import torch

from snippets import common
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import methods, report

# --8<-- [end:imports]

QUICK = {"iterations": 4, "eval_every": 2, "dpo_epochs": 1}
D2_QUICK = d2.QUICK  # D2's smaller world for --quick


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Train every method asked for and print one JSON line of gold gains and KLs."""
    outputs = {"plot": "save the frontier figure (PNG)", "save_run": "write the whole run as JSON"}
    parser = common.config_parser(methods.Config, __doc__, __spec__, quick=QUICK, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    torch.set_num_threads(cfg.threads)
    world = methods.build_world(d2.Config(**D2_QUICK) if args.quick else d2.Config(), args.seed)
    run = {
        "methods": {
            m: methods.run_method(world, m, cfg, args.seed) for m in cfg.methods if m != "best-of-n"
        }
    }
    if "best-of-n" in cfg.methods:
        run["best_of_n"] = methods.best_of_n_frontier(world, args.seed)
    if args.save_run:
        Path(args.save_run).write_text(json.dumps(run))
    if args.plot:
        report.plot_frontier([run], args.plot)
    return common.emit_metrics(headline(run, world) | {"seed": args.seed})


def headline(run: dict, world: methods.World) -> dict:
    """Gold gain and KL of each method's final policy, its seconds, best-of-n, peak memory."""
    out = {
        f"{k}_{m}": r["final"][k]
        for m, r in run["methods"].items()
        for k in ("gold_gain_std", "kl")
    }
    for key in ("seconds", "tokens_generated", "model_state_mb"):
        out |= {f"{key}_{m}": r[key] for m, r in run["methods"].items()}
    out |= {
        f"trace_{m}": [[p["kl"], p["gold_gain_std"]] for p in r["points"]]
        for m, r in run["methods"].items()
    }
    out |= {  # mean completion length in each sampling round's trace point (GRPO, RLOO)
        f"lengths_{m}": [p["length"] for p in r["points"]]
        for m, r in run["methods"].items()
        if "length" in r["final"]
    }
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return out | {
        "best_of_n": run.get("best_of_n", []),
        "peak_rss_mb": peak_mb,
        "gold_std_before": world.before["gold_std"],
    }


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
