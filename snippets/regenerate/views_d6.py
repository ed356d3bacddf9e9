"""The tables of lesson D6: a sampler that is not the trainer, measured exactly.

Each ``view_*`` function turns the record of D6's exact command into the Markdown the D6 page
includes; ``VIEWS`` names, for each file ``results/runs/<view>.md``, the records it is rendered
from. The command's JSON line rounds every float to 4 decimals, so a number that rounds to 0
is written "< 0.0001" unless the command says it is exact (a relative error below 1e-10).
"""

# --8<-- [start:imports]
from __future__ import annotations

import math

from snippets.regenerate.helpers import (
    View,
    captioned,
    from_benchmarks,
    median_iqr,
    num,
    provenance,
    seed_metrics,
    table,
)

# --8<-- [end:imports]


# --8<-- [start:exact]
D6_FIXES = {  # exact.py's corrections, as the page names them ({C} is the cap, {Cmin} the floor)
    "none": "none",
    "token_is": "token IS",
    "sequence_is": "sequence IS",
    "token_truncate": "`token_truncate`",
    "token_mask": "`token_mask`",
    "sequence_truncate": "`sequence_truncate`",
    "sequence_mask": "`sequence_mask` (TRL's default)",
}


def _small(x: float) -> str:
    """Three significant figures, or the JSON line's 4 decimals below 0.01; 0 is "< 0.0001"."""
    if x == 0:
        return "< 0.0001"
    return num(x, "#.3g") if abs(x) >= 0.01 else num(x, ".4f")


def _mismatch(name: str, m: dict) -> str:
    """A case's name as the page says it: ``stale_4`` is "4 steps stale"."""
    if name.startswith("stale_"):
        k = int(name.removeprefix("stale_"))
        return f"{k} step{'s' if k > 1 else ''} stale"
    return {
        "bf16": "logits rounded to bf16",
        "temperature": f"temperature {m['temperature']:g}",
        "top_p": f"top-p {m['top_p']:g}",
    }[name]


def _testbed_line(m: dict) -> str:
    """What the exact numbers were computed on."""
    return (
        f"*Exact sums over the {m['vocab'] ** m['length']} sequences (vocabulary {m['vocab']}, "
        f"length {m['length']}) of each of D4's 5 prompts, logits drawn with seed {m['seed']}; "
        "k steps stale: the trainer is k exact gradient-ascent steps (learning rate "
        f"{m['learning_rate']:g}) ahead of the sampler. Each number is a mean over the prompts.*\n"
    )


def view_d6_mismatch(run: dict) -> str:
    """D6: how far each sampler is from the trainer: KL, largest log-ratio, masked and unseen mass."""
    m = run["metrics"]
    band = f"[{m['clip_min']:g}, {m['clip_max']:g}]"
    head = [
        "the sampler μ",
        "KL(μ‖π_θ) of sequences",
        "largest \\|log π_θ(y)/μ(y)\\|",
        f"π_θ's mass outside {band} (masked)",
        "π_θ's mass μ never draws",
    ]
    rows = [
        [
            _mismatch(name, m),
            _small(c["kl_sampler_trainer"]),
            _small(c["max_log_ratio"]),
            _small(c["masked_mass"]),
            _small(c["unseen_mass"]),
        ]
        for name, c in m["bias"].items()
    ]
    return table(head, rows) + "\n" + _testbed_line(m) + "\n" + provenance(run)


def view_d6_bias(run: dict) -> str:
    """D6: each correction's relative error against ∇J (its cosine in brackets), by mismatch."""
    m = run["metrics"]
    head = ["the sampler μ", *D6_FIXES.values()]
    rows = []
    for name, c in m["bias"].items():
        cells = []
        for fix in D6_FIXES:
            r = c["corrections"][fix]
            error = "**0**" if r["unbiased"] else _small(r["relative_error"])
            cosine = f" ({num(r['cosine'], '.3f')})" if r["cosine"] < 0.9995 else ""
            cells.append(error + cosine)
        rows.append([_mismatch(name, m), *cells])
    where = (
        "*Relative error ‖E[ĝ] − ∇J‖ / ‖∇J‖ of the expected gradient, exact; in brackets its "
        "cosine with ∇J where that is below 0.9995. **0**: below 1e-10, unbiased up to float64 "
        "rounding. Token and sequence IS have no cap; TRL's four modes use "
        f"C_min = {m['clip_min']:g} (TRL's None) and C_max = {m['clip_max']:g} (TRL's default).*\n"
    )
    return table(head, rows) + "\n" + where + "\n" + _testbed_line(m) + "\n" + provenance(run)


def view_d6_tradeoff(run: dict) -> str:
    """D6: bias², variance and MSE of truncated IS against the cap C, on the stalest case."""
    m = run["metrics"]
    t = m["tradeoff"]
    caps = [f"C = {c:g}" if c < 1e5 else f"no cap (C = 1e{math.log10(c):.0f})" for c in t["caps"]]
    rows = [
        [f"`{mode}` {label}", *(_small(x) for x in t[mode][key])]
        for mode in ("token_truncate", "sequence_truncate")
        for key, label in (("bias2", "bias²"), ("variance", "variance"), ("mse", "MSE"))
    ]
    where = (
        f"*The sampler {_mismatch(t['case'], m)}. Bias² = ‖E[ĝ] − ∇J‖² / ‖∇J‖² with the mean exact; "
        f"variance = E‖ĝ − E[ĝ]‖² / ‖∇J‖² over {t['batches']} sampled batches of {t['batch']} "
        "sequences per prompt; MSE is their sum.*\n"
    )
    return captioned(["correction", *caps], rows, where, run)


EXACT_VIEWS: dict[str, View] = {
    "d6-mismatch": View(("d6-exact",), view_d6_mismatch),
    "d6-bias": View(("d6-exact",), view_d6_bias),
    "d6-tradeoff": View(("d6-exact",), view_d6_tradeoff),
}
# --8<-- [end:exact]


# --8<-- [start:train]
D6_TRAIN_ARMS = ("stale0", "stale2", "stale2_is", "stale8", "stale8_is", "bf16", "bf16_is")


def view_d6_train(*entries: tuple[str, dict]) -> str:
    """D6: every arm over seeds 0–4 and the held-back seeds, median [IQR], with the mismatch."""
    (name, main), (held_name, held) = entries
    ms, hs = seed_metrics(main), seed_metrics(held)
    over = lambda xs, key, scale=100.0, fmt="{:+.1f}": median_iqr(  # noqa: E731
        [scale * m[key] for m in xs], fmt
    )
    rows = [
        [
            arm,
            over(ms, f"pass_at_1_gain_{arm}"),
            over(hs, f"pass_at_1_gain_{arm}"),
            over(ms, f"mean_staleness_{arm}", 1.0, "{:.2f}"),
            over(ms, f"kl_{arm}", 1.0, "{:.3f}"),
            over(ms, f"masked_{arm}", 100.0, "{:.1f}"),
            over(ms, f"log_ratio_std_{arm}", 1.0, "{:.4f}"),
            over(ms, f"log_ratio_max_{arm}", 1.0, "{:.3f}"),
        ]
        for arm in D6_TRAIN_ARMS
    ]
    header = [
        "arm",
        "pass@1 gain (points), seeds 0–4",
        "… held back, seeds 20–24",
        "mean staleness (steps)",
        "KL(sampler ‖ trainer) per completion (nats)",
        "completions sequence_mask would drop (%)",
        "std of the token log-ratio",
        "largest absolute token log-ratio",
    ]
    met = ", ".join(f"`{n}`: {e['summary']['met']} of {e['summary']['seeds']}" for n, e in entries)
    note = (
        "\n*Median [25th, 75th percentile] over the seeds; the mismatch columns over seeds 0–4, "
        f"each the mean over a run's steps. Seeds meeting every target: {met}.*\n\n"
    )
    return table(header, rows) + note + from_benchmarks(*entries)


# --8<-- [end:train]


# --8<-- [start:actor-learner]
def view_d6_actor_learner(run: dict) -> str:
    """D6: the asynchronous actor–learner against the synchronous loop, same start, same budget."""
    m = run["metrics"]
    rows = []
    for mode in ("async", "sync"):
        r = m[mode]
        spread = ", ".join(
            f"{k}: {v}" for k, v in sorted(r["staleness"].items(), key=lambda kv: int(kv[0]))
        )
        rows.append(
            [
                "asynchronous, Ray actors" if mode == "async" else "synchronous, one process",
                spread,
                str(r["dropped"]),
                str(r["replaced"]),
                num(r["startup"], ".1f"),
                f"{r['tokens_per_second']:.0f}",
                f"{r['pass_at_1'][0][2]:.3f} → {r['final_pass_at_1']:.3f}",
                f"{100 * r['weight_zero']:.2f} %",
            ]
        )
    header = [
        "loop",
        "staleness (versions behind: batches)",
        "batches dropped (too stale)",
        "workers replaced",
        "start-up (s)",
        "sampled tokens per second, after start-up",
        "held-out pass@1, start → end",
        "sequences masked by the correction",
    ]
    where = f"*{m['pretrain_steps_used']} pretraining steps; {m['nodes']} Ray node(s), seed {m['seed']}.*\n"
    return captioned(header, rows, where, run)


# --8<-- [end:actor-learner]


# --8<-- [start:registry]
TRAIN_VIEWS: dict[str, View] = {
    "d6-train": View(("benchmark:d6-stale8", "benchmark:d6-heldout"), view_d6_train),
    "d6-train-run": View(("d6-train",), provenance),
    "d6-actor-learner": View(("d6-actor-learner",), view_d6_actor_learner),
}
VIEWS: dict[str, View] = {**EXACT_VIEWS, **TRAIN_VIEWS}
# --8<-- [end:registry]
