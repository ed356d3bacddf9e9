"""The tables and sentences of lesson D3: GRPO, RLOO, DPO, best-of-n and verifiable rewards.

The first section turns a run's metrics into Markdown tables (what each method cost, the seeds,
pass@k, best-of-n's KL); the ``view_*`` functions assemble them with each record's provenance.
``VIEWS`` names, for each file ``results/runs/<view>.md``, the records it is rendered from.
The views import D3's code only when called (it brings in PyTorch).
"""

# --8<-- [start:imports]
from __future__ import annotations

from typing import Any

import numpy as np

from snippets.regenerate.helpers import (
    View,
    captioned,
    from_benchmark,
    from_benchmarks,
    json_line,
    num,
    provenance,
    table,
)

# --8<-- [end:imports]


# --8<-- [start:tables]
NEEDS_COLUMNS = ("value_head", "reward_model", "reference", "sampling")


def cost_table(metrics: dict[str, Any], needs: dict[str, dict[str, bool]]) -> str:
    """What each method bought and cost in one run: the default run's JSON line, as Markdown."""
    lines = [
        "| method | gold gain (std) | KL (nats) | wall time | tokens generated | model state "
        "| value head | reward model | reference | sampling during training |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [m for m in needs if f"gold_gain_std_{m}" in metrics]:
        ticks = " | ".join("yes" if needs[name][c] else "no" for c in NEEDS_COLUMNS)
        lines.append(
            f"| {name.upper()} | {metrics[f'gold_gain_std_{name}']:+.2f} | {metrics[f'kl_{name}']:.2f} "
            f"| {metrics[f'seconds_{name}']:.0f} s | {metrics[f'tokens_generated_{name}']:,.0f} "
            f"| {metrics[f'model_state_mb_{name}']:.1f} MB | {ticks} |"
        )
    best = ", ".join(
        f"n = {b['n']}: {b['gold_gain_std']:+.2f} at ≤ {b['kl']:.2f} nats"
        for b in metrics.get("best_of_n", [])
    )
    peak = metrics.get("peak_rss_mb")
    text = "\n".join(lines) + "\n"
    if peak is not None:  # measured, unlike the model state: one process for every method
        text += (
            f"\nPeak resident memory of the whole run (the world, every method and the "
            f"evaluations, one process): {peak:,.0f} MB.\n"
        )
    return text + (
        f"\nBest-of-n from the SFT model, same prompts, at its KL bound: {best}.\n" if best else ""
    )


def methods_seeds_table(entries: dict[str, dict]) -> str:
    """Median [IQR] over seeds of each method's final gold gain and KL, and seeds meeting the target."""
    lines = [
        "| method | target | gold gain (std), median [IQR] | KL (nats), median [IQR] "
        "| seeds meeting target |",
        "|---|---|---|---|---|",
    ]
    for label, (entry, gain_key, kl_key) in entries.items():
        gains = [r["metrics"][gain_key] for r in entry["runs"]]
        kls = [r["metrics"][kl_key] for r in entry["runs"]]
        g, k = np.percentile(gains, [25, 50, 75]), np.percentile(kls, [25, 50, 75])
        met = f"{entry['summary']['met']} / {entry['summary']['seeds']}"
        lines.append(
            f"| {label} | {entry['target_text']} | {g[1]:+.2f} [{g[0]:+.2f}, {g[2]:+.2f}] "
            f"| {k[1]:.2f} [{k[0]:.2f}, {k[2]:.2f}] | {met} |"
        )
    return "\n".join(lines) + "\n"


def rlvr_text(metrics: dict[str, Any]) -> str:
    """pass@k before and after GRPO on the checker, from the RLVR run's JSON line."""
    ks = list(metrics["pass_at_k_before"])
    lines = ["| k | " + " | ".join(ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for key, label in (("pass_at_k_before", "pretrained"), ("pass_at_k_after", "after GRPO")):
        lines.append(f"| {label} | " + " | ".join(f"{metrics[key][k]:.0%}" for k in ks) + " |")
    took = f"{metrics['seconds_pretrain']:.0f} s"
    if "pretrain_steps_used" in metrics:  # absent from records made before the band
        took = f"{metrics['pretrain_steps_used']} steps, {took}"
    head = (
        f"pass@1 went from {metrics['pass_at_1_before']:.1%} to {metrics['pass_at_1_after']:.1%} "
        f"({100 * metrics['pass_at_1_gain']:+.1f} points) after "
        f"{metrics['seconds_grpo']:.0f} s of GRPO (pretraining took {took})."
    )
    return head + "\n\n" + "\n".join(lines) + "\n"


def dpo_seeds_text(entry: dict[str, Any], beta: float, target: float) -> str:
    """DPO over the benchmarked seeds: how many met the target, and how each miss ended."""
    runs = {r["seed"]: r["metrics"] for r in entry["runs"]}
    missed = [s for s, m in runs.items() if m["gold_gain_std_dpo"] < target]
    text = (
        f"At $\\beta = {beta:g}$, {entry['summary']['met']} of {entry['summary']['seeds']} "
        f"benchmarked seeds meet DPO's target."
    )
    for seed in [s for s in missed if len(runs[s].get("trace_dpo", [])) >= 2]:
        (kl0, g0), (kl1, g1) = runs[seed]["trace_dpo"][-2:]
        text += (
            f" Seed {seed} misses it: over its last stretch of training its KL went from "
            f"{kl0:.2f} to {kl1:.2f} nats while its gold gain fell from {g0:+.2f} to "
            f"{g1:+.2f} std."
        )
    return text + "\n"


def best_of_n_kl_table(best_of_n: list[dict[str, Any]]) -> str:
    """Best-of-n's KL bound beside its KL measured by sampling, and what it bought in gold."""
    lines = [
        "| $n$ | bound $\\log n - (n-1)/n$ (nats) | KL measured by sampling (nats), 95 % interval "
        "| gold gain (std) |",
        "|---|---|---|---|",
    ]
    for b in best_of_n:
        lines.append(
            f"| {b['n']} | {b['kl']:.3f} | {b['kl_sampled']:.3f} [{b['kl_low']:.3f}, "
            f"{b['kl_high']:.3f}] | {b['gold_gain_std']:+.2f} |"
        )
    share = next((b["distinct_share"] for b in best_of_n if "distinct_share" in b), None)
    text = "\n".join(lines) + "\n"
    if share is not None:
        from snippets.d3_grpo_rloo_and_dpo.methods import BON_KL_POOL, BON_KL_PROMPTS

        gap, n = max((b["kl"] - b["kl_sampled"], b["n"]) for b in best_of_n if b["n"] > 1)
        text += (
            f"\nEach estimate uses {BON_KL_POOL:,} completions of each of {BON_KL_PROMPTS} "
            f"held-out prompts (the interval: ±1.96 standard errors of the mean over the prompts); "
            f"{100 * share:.0f} % of the completions were distinct (mean over the prompts). "
            f"The largest gap between the bound and the measured KL is {gap:.3f} nats, "
            f"at $n = {n}$.\n"
        )
    return text


def _window(values: list[float], first: bool, n: int = 20) -> float:
    return float(np.mean(values[:n] if first else values[-n:]))


def history_table(runs: dict[str, dict]) -> str:
    """Start and end of each run: pass@1, pass@64, zero-std groups and entropy (20-step means)."""
    lines = [
        "| run | pretraining steps | pass@1 before → after | pass@64 before → after "
        "| zero-std groups, first → last 20 steps | entropy (nats), first → last 20 steps |",
        "|---|---|---|---|---|---|",
    ]
    for label, m in runs.items():
        h, k = m["history"], str(max(int(k) for k in m["pass_at_k_before"]))
        zero = list(np.add(h["all_right"], h["all_wrong"]))
        lines.append(
            f"| {label} | {m['pretrain_steps_used']} "
            f"| {m['pass_at_1_before']:.1%} → {m['pass_at_1_after']:.1%} "
            f"| {m['pass_at_k_before'][k]:.1%} → {m['pass_at_k_after'][k]:.1%} "
            f"| {_window(zero, True):.0%} → {_window(zero, False):.0%} "
            f"| {_window(h['entropy'], True):.2f} → {_window(h['entropy'], False):.2f} |"
        )
    return "\n".join(lines) + "\n"


def rlvr_seeds_table(entries: dict[str, tuple[dict, float]]) -> str:
    """One row per benchmarked seed: pretraining steps, pass@1 and pass@64 before and after.

    Args:
        entries: label -> (benchmark entry, the target gain of pass@1).
    """
    lines = [
        "| seeds | seed | pretraining steps | pass@1 before → after (gain) "
        "| pass@64 before → after | target met | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, (entry, target) in entries.items():
        for run in entry["runs"]:
            m = run["metrics"]
            k = str(max(int(k) for k in m["pass_at_k_before"]))
            lines.append(
                f"| {label} | {run['seed']} | {m.get('pretrain_steps_used', '—')} "
                f"| {m['pass_at_1_before']:.1%} → {m['pass_at_1_after']:.1%} "
                f"({100 * m['pass_at_1_gain']:+.1f}) "
                f"| {m['pass_at_k_before'][k]:.1%} → {m['pass_at_k_after'][k]:.1%} "
                f"| {'yes' if m['pass_at_1_gain'] >= target else '**no**'} "
                f"| {run['wall_seconds']:.0f} s |"
            )
    return "\n".join(lines) + "\n"


# --8<-- [end:tables]


# --8<-- [start:views]
def view_d3(d3: dict) -> str:
    """D3: what each method bought and cost in the default run, and the printed line."""
    from snippets.d3_grpo_rloo_and_dpo import methods

    cost = cost_table(d3["metrics"], methods.NEEDS)
    return cost + "\n" + json_line(d3) + "\n" + provenance(d3)


def view_d3_rlvr(rlvr: dict) -> str:
    """D3: pass@k before and after GRPO on the addition checker."""
    return rlvr_text(rlvr["metrics"]) + "\n" + provenance(rlvr)


def view_d3_rlvr_seeds(*entries: tuple[str, dict]) -> str:
    """D3: RLVR at every benchmarked seed, the held-back seeds in their own rows."""
    from snippets import benchmark

    labels = {"d3-rlvr": "benchmark", "d3-rlvr-heldout": "held back"}
    rows = {labels[n]: (e, benchmark.LESSONS[n].target) for n, e in entries}
    met = "; ".join(
        f"{labels[n]}: {e['summary']['met']} of {e['summary']['seeds']} seeds meet the target"
        for n, e in entries
    )
    return rlvr_seeds_table(rows) + f"\n{met}.\n\n" + from_benchmarks(*entries)


def view_d3_rlvr_fixed(fixed: dict, shuffled: dict, heldout: tuple[str, dict]) -> str:
    """D3: seed 13 after a fixed pretraining budget, its no-information control, and the band."""
    m = fixed["metrics"]
    band = next(r["metrics"] for r in heldout[1]["runs"] if r["seed"] == m["seed"])
    rows = {
        f"seed {m['seed']}, fixed budget": m,
        "the same start, rewards shuffled (control)": shuffled["metrics"],
        f"seed {m['seed']}, pretrained to the band": band,
    }
    return (
        history_table(rows)
        + "\n"
        + provenance(fixed)
        + "\n"
        + provenance(shuffled)
        + "\n"
        + from_benchmarks(heldout)
    )


def view_d3_best_of_n(bon: dict) -> str:
    """D3: best-of-n's KL bound beside the KL measured by sampling, seed 0."""
    return best_of_n_kl_table(bon["metrics"]["best_of_n"]) + "\n" + provenance(bon)


def view_d3_dpo(entry: tuple[str, dict]) -> str:
    """D3: DPO's seeds at the default β, and how a seed that misses its target ends."""
    from snippets import benchmark
    from snippets.d3_grpo_rloo_and_dpo import methods

    name, e = entry
    target = benchmark.lessons_from_manifest()[name].target
    return dpo_seeds_text(e, methods.Config().dpo_beta, target) + "\n" + from_benchmark(e, name)


def view_d3_length(*runs: dict) -> str:
    """D3: the completion lengths GRPO's three loss aggregations lead to (β = 0, seed 0)."""
    rows = []
    for run in runs:
        m, aggregation = run["metrics"], run["command"].split("--aggregation ")[1].split()[0]
        lengths = m["lengths_grpo"]
        rows.append(
            [
                f"`{aggregation}`",
                num(lengths[0], ".1f"),
                num(lengths[-1], ".1f"),
                f"{m['gold_gain_std_grpo']:+.2f}",
                num(m["kl_grpo"], ".2f"),
            ]
        )
    head = [
        "aggregation",
        "mean completion length, first trace point",
        "... last point",
        "gold gain (std)",
        "KL (nats)",
    ]
    others = " and ".join(f"`{r[0]}`" for r in rows[1:])
    return (
        table(head, rows)
        + "\n"
        + provenance(runs[0])
        + f"\n*The other rows: the same command with --aggregation {others}.*\n"
    )


def view_d3_seeds(*entries: tuple[str, dict]) -> str:
    """D3: each method's final gold gain and KL over the benchmarked seeds, PPO from D2's entry."""
    (_, d2), (_, grpo), (_, rloo), (_, dpo) = entries
    rows = {
        "PPO (D2)": (d2, "gold_gain_std_kl", "kl_after_kl"),
        "GRPO": (grpo, "gold_gain_std_grpo", "kl_grpo"),
        "RLOO": (rloo, "gold_gain_std_rloo", "kl_rloo"),
        "DPO": (dpo, "gold_gain_std_dpo", "kl_dpo"),
    }
    return methods_seeds_table(rows) + "\n" + from_benchmarks(*entries)


D3_KL_ESTIMATORS = {  # exact.py's estimators, as the page names them
    "k1": "$k_1 = \\log \\pi_\\theta/\\pi_{\\text{ref}}$ per token, as a loss",
    "k2": "$k_2 = \\tfrac12 (\\log r)^2$ per token, as a loss",
    "k3": "$k_3 = r - 1 - \\log r$ per token, as a loss",
    "ratio_k3": "$\\rho\\, k_3$ per token, as a loss (TRL's default)",
    "k1_reward": "$\\sum_t k_1$ as a reward, score function",
}


def view_d3_kl(kl: dict) -> str:
    """D3: each KL estimator's exact expected value and expected gradient, by enumeration."""
    m = kl["metrics"]
    cat, seq = m["categorical"], m["sequence"]

    def err(x: float) -> str:  # the record keeps 4 decimals: below that, exact
        return "0" if abs(x) < 5e-5 else num(x, ".3f")

    rows = []
    for kind, label in D3_KL_ESTIMATORS.items():
        c, s = cat["estimators"][kind], seq["estimators"][kind]
        rows.append(
            [
                label,
                num(c["value"], ".3f"),
                err(c["error_reverse"]),
                err(c["error_forward"]),
                err(s["error_reverse"]),
                num(s["cosine_reverse"], ".3f"),
                err(s["error_forward"]),
            ]
        )
    head = [
        "estimator ($r = \\pi_{\\text{ref}}/\\pi_\\theta$)",
        f"one categorical: expected value (KL = {cat['kl']:.3f})",
        "... gradient error to ∇KL(π‖ref)",
        "... to ∇KL(ref‖π)",
        "sequences: gradient error to ∇KL(π‖ref)",
        "... cosine with it",
        "... error to ∇KL(ref‖π)",
    ]
    where = (
        f"*Exact sums over the {m['categories']} outcomes of one categorical and the "
        f"{m['vocab'] ** m['length']} sequences of a tabular policy (vocabulary {m['vocab']}, "
        f"length {m['length']}), logits drawn with seed {m['seed']}. Gradient error: "
        "‖E[∇] − ∇KL‖ / ‖∇KL‖.*\n"
    )
    return captioned(head, rows, where, kl)


# --8<-- [end:views]


# --8<-- [start:registry]
VIEWS: dict[str, View] = {
    "d3": View(("d3",), view_d3),
    "d3-best-of-n": View(("d3-best-of-n",), view_d3_best_of_n),
    "d3-dpo-seeds": View(("benchmark:d3-dpo",), view_d3_dpo),
    "d3-rlvr": View(("d3-rlvr",), view_d3_rlvr),
    "d3-kl": View(("d3-kl",), view_d3_kl),
    "d3-rlvr-seeds": View(("benchmark:d3-rlvr", "benchmark:d3-rlvr-heldout"), view_d3_rlvr_seeds),
    "d3-rlvr-fixed": View(
        ("d3-rlvr-fixed", "d3-rlvr-fixed-shuffled", "benchmark:d3-rlvr-heldout"),
        view_d3_rlvr_fixed,
    ),
    "d3-length": View(("d3-length-grpo", "d3-length-dapo", "d3-length-dr_grpo"), view_d3_length),
    "d3-seeds": View(
        ("benchmark:d2", "benchmark:d3-grpo", "benchmark:d3-rloo", "benchmark:d3-dpo"),
        view_d3_seeds,
    ),
}
# --8<-- [end:registry]
