"""Lesson D4: GRPO-family variants on three-digit sums, with every diagnostic logged at every step.

Pretrains a tiny GPT-2 to partial skill on three-digit addition (D3's band rule), then trains each
variant named by ``--variant`` from that same start, and prints one JSON line: pass@1 and
pass@64 before and after, final entropy, the share of zero-std groups and the step at which
entropy collapsed, per variant.
"""

# --8<-- [start:imports]
from __future__ import annotations

import sys

import torch

from snippets import common
from snippets.d4_grpo_in_practice import report, train

# --8<-- [end:imports]

QUICK = {
    "band_max_steps": 100,
    "steps": 3,
    "eval_problems": 20,
    "eval_samples": 8,
    "heldout_problems": 32,
}
OUTPUTS = {
    "plot": "save the diagnostics figure (PNG)",
    "plot_collapse": "save the collapse figure (PNG)",
}


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Pretrain, train every asked-for variant, and print their diagnostics as one JSON line."""
    parser = common.config_parser(train.Config, __doc__, __spec__, quick=QUICK, outputs=OUTPUTS)
    cfg, args = common.parse_config(parser, argv)
    if len(set(cfg.variant)) < len(cfg.variant):
        parser.error("argument --variant: a variant is named twice")
    torch.set_num_threads(1)  # a 100k-parameter model: one thread is fastest
    result = train.run(cfg, args.seed)
    title = f"seed {args.seed}, {result['pretrain_steps_used']} pretraining steps, T = {cfg.temperature:g}"
    if args.plot:
        report.plot_diagnostics(result, args.plot, title)
    if args.plot_collapse:
        report.plot_collapse(result, args.plot_collapse, title)
    checks = {"pretrain_checks": result["pretrain_checks"], "seed": args.seed}
    return common.emit_metrics(train.headline(result) | checks)


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
