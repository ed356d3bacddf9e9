"""The tables of lesson D4: the exact testbed, and the variants on the harder task.

Each ``view_*`` function turns committed records into the Markdown the D4 page includes;
``VIEWS`` names, for each file ``results/runs/<view>.md``, the records it is rendered from.
"""

# --8<-- [start:imports]
from __future__ import annotations

from snippets.regenerate.helpers import (
    View,
    captioned,
    from_benchmarks,
    median_iqr,
    num,
    pct,
    provenance,
    seed_metrics,
    table,
)

# --8<-- [end:imports]


# --8<-- [start:exact]
D4_ESTIMATORS = {  # exact.py's estimators, as the page names them
    "reinforce": "REINFORCE, $A_i = r_i$",
    "baseline": "REINFORCE, true baseline: $A_i = r_i - p_x$",
    "rloo": "RLOO: $A_i = r_i - \\frac{1}{G-1}\\sum_{j \\ne i} r_j$",
    "grpo": "GRPO: $A_i = (r_i - \\bar r)/(\\operatorname{std}(r) + \\varepsilon)$",
    "dr_grpo": "Dr. GRPO: $A_i = r_i - \\bar r$",
}
D4_KL_TERMS = {
    "k1": "$k_1 = \\log \\pi_\\theta/\\pi_{\\text{ref}}$",
    "k2": "$k_2 = \\tfrac12 (\\log r)^2$",
    "k3": "$k_3 = r - 1 - \\log r$",
}
D4_VERDICTS = {
    "reverse": "reverse KL(π‖ref)",
    "forward": "forward KL(ref‖π)",
    "neither": "neither",
    "zero": "neither (zero)",
}


def _testbed_line(m: dict) -> str:
    """What the exact numbers were computed on."""
    prompts = len(m["advantages"]["pass_rates"])
    return (
        f"*Exact sums over the {m['vocab'] ** m['length']} sequences (vocabulary {m['vocab']}, "
        f"length {m['length']}) of each of {prompts} prompts, a tabular policy per prompt, "
        f"logits drawn with seed {m['seed']}.*\n"
    )


def view_d4_advantages(run: dict) -> str:
    """D4: each advantage's exact expected gradient against ∇J, and its weight per prompt."""
    m = run["metrics"]
    a = m["advantages"]
    head = ["advantage", "cosine with ∇J", "‖E[ĝ]‖ / ‖∇J‖", "‖E[ĝ] − ∇J‖ / ‖∇J‖"]
    head += [
        f"weight of prompt {i + 1} ($p$ = {num(p, '.3f')})" for i, p in enumerate(a["pass_rates"])
    ]
    rows = []
    for kind, label in D4_ESTIMATORS.items():
        e = a["estimators"][kind]
        gaps = [
            num(e["cosine"], ".4f"),
            num(e["norm_ratio"], ".3f"),
            num(e["relative_error"], ".3f"),
        ]
        rows.append([label, *gaps, *(num(w, ".3f") for w in e["weights"])])
    limit = [num(w, ".3f") for w in a["inverse_std"]]
    rows.append(["$1/\\sigma(p) = 1/\\sqrt{p(1-p)}$", "", "", "", *limit])
    weight = "\\langle \\mathbb{E}[\\hat g_x], \\nabla p_x \\rangle / \\lVert \\nabla p_x \\rVert^2"
    where = (
        f"*Groups of G = {a['group_size']}. $J = \\frac1X \\sum_x p_x$; the weight of prompt $x$ "
        f"is ${weight}$.*\n"
    )
    return table(head, rows) + "\n" + where + "\n" + _testbed_line(m) + "\n" + provenance(run)


def view_d4_grpo_weight(run: dict) -> str:
    """D4: GRPO's closed-form weight w_G(p) for several G, against its limit 1/σ(p)."""
    w = run["metrics"]["grpo_weight"]
    head = ["group size"] + [
        f"$p$ = {p:g}" + (f" or {1 - p:g}" if p != 0.5 else "") for p in w["pass_rates"]
    ]
    rows = [
        [f"G = {G}"] + [num(x, ".3f") for x in ws]
        for G, ws in zip(w["group_sizes"], w["weights"], strict=True)
    ]
    rows.append(
        ["$1/\\sigma(p)$, the limit"]
        + [num(1 / (p * (1 - p)) ** 0.5, ".3f") for p in w["pass_rates"]]
    )
    return table(head, rows) + "\n" + provenance(run)


def view_d4_kl(run: dict) -> str:
    """D4: each KL term, in the loss or the reward, with or without the ratio: whose gradient."""
    m = run["metrics"]
    rows = []
    for name, t in m["kl"]["terms"].items():
        kind, placement, *ratio = name.split("-")
        rows.append(
            [
                D4_KL_TERMS[kind] + (", times $\\rho$" if ratio else ""),
                placement,
                num(t["value"], ".3f"),
                D4_VERDICTS[t["token"]],
                D4_VERDICTS[t["sequence"]],
                num(t["cosine_sequence_reverse"], ".3f"),
                num(t["error_sequence_reverse"], ".3f"),
            ]
        )
    head = [
        "term ($r = \\pi_{\\text{ref}}/\\pi_\\theta$ per token)",
        "used in the",
        f"expected value (KL(P‖P_ref) = {num(m['kl']['kl'], '.3f')})",
        "per token, prefix fixed: gradient of",
        "whole sequences: gradient of",
        "cosine with ∇KL(P‖P_ref)",
        "error to it",
    ]
    where = (
        "*A verdict is a match to 1e-8 in relative error, computed in float64. "
        "Gradient error: ‖E[∇] − ∇KL‖ / ‖∇KL‖.*\n"
    )
    return table(head, rows) + "\n" + where + "\n" + _testbed_line(m) + "\n" + provenance(run)


def view_d4_variance(run: dict) -> str:
    """D4: each estimator's sampled variance around the exact mean, by group size."""
    v = run["metrics"]["variance"]
    head = ["advantage"] + [f"G = {G}" for G in v["group_sizes"]]
    rows = [
        [D4_ESTIMATORS[kind]] + [num(x, ".1f") for x in v["estimators"][kind]["relative"]]
        for kind in D4_ESTIMATORS
    ]
    spread = "\\mathbb{E}\\lVert \\hat g - \\mathbb{E}[\\hat g] \\rVert^2"
    signal = "\\lVert \\mathbb{E}[\\hat g] \\rVert^2"
    where = (
        f"*${spread} / {signal}$ over {v['groups']} sampled groups per prompt and group size; "
        "the mean is the exact one.*\n"
    )
    return captioned(head, rows, where, run)


EXACT_VIEWS: dict[str, View] = {
    "d4-advantages": View(("d4-exact",), view_d4_advantages),
    "d4-grpo-weight": View(("d4-exact",), view_d4_grpo_weight),
    "d4-kl": View(("d4-exact",), view_d4_kl),
    "d4-variance": View(("d4-exact",), view_d4_variance),
}
# --8<-- [end:exact]


# --8<-- [start:practice]
PRACTICE_ARMS = ("grpo", "dapo", "dr_grpo", "gspo", "cispo")
PRACTICE_BENCH = tuple(f"d4-{v}" for v in PRACTICE_ARMS)


def _arm_row(m: dict, name: str) -> list[str]:
    """One variant's row of a run's JSON line: pass@k, entropy, collapse, zero-std, clipping."""
    at, quiet, k = m[f"collapse_step_{name}"], m.get(f"no_signal_step_{name}"), "pass_at_64"
    return [
        name,
        f"{pct(m['pass_at_1_before'])} → {pct(m[f'pass_at_1_after_{name}'])}",
        f"{pct(m[f'{k}_before'])} → {pct(m[f'{k}_before'] + m[f'{k}_change_{name}'])}",
        f"{num(m[f'entropy_first_{name}'], '.2f')} → {num(m[f'final_entropy_{name}'], '.2f')}",
        "none" if at is None else str(at),
        "none" if quiet is None else str(quiet),
        pct(m[f"zero_std_{name}"], 0),
        f"{pct(m[f'clip_low_{name}'])} / {pct(m[f'clip_high_{name}'])}",
        f"{m[f'groups_sampled_{name}']:.0f}",
    ]


def _arms_table(run: dict) -> str:
    """Every variant of one run, one row each, and the line saying how it was measured."""
    from snippets.d4_grpo_in_practice import train

    m = run["metrics"]
    names = [k.removeprefix("pass_at_1_gain_") for k in m if k.startswith("pass_at_1_gain_")]
    cfg = train.Config()
    share, agree = pct(cfg.collapse_fraction, 0), pct(cfg.no_signal_share, 0)
    header = [
        "variant",
        "pass@1 before → after",
        "pass@64 before → after",
        "entropy (nats), step 1 → last 5 steps",
        f"entropy below {share} of step 1's from step",
        f"≥ {agree} of groups agree from step",
        "zero-std groups (mean)",
        "clip fraction low / high (mean)",
        "groups sampled per step",
    ]
    return table(header, [_arm_row(m, n) for n in names]) + "\n" + provenance(run)


def view_d4_variants(run: dict) -> str:
    """D4: every variant from the same start, one seed: pass@k, entropy, zero-std, clipping."""
    return _arms_table(run)


def view_d4_collapse(run: dict) -> str:
    """D4: the collapse run at a low temperature: GRPO, clip-higher alone, and DAPO."""
    return _arms_table(run)


def _over_seeds(ms: list[dict], key: str, scale: float = 100.0, fmt: str = "{:+.1f}") -> str:
    """Median [25th, 75th percentile] of one metric over the seeds' JSON lines."""
    return median_iqr([scale * m[key] for m in ms], fmt)


def view_d4_benchmark(*entries: tuple[str, dict]) -> str:
    """D4: five seeds per variant, median [25th, 75th percentile], and the held-back seeds."""
    from snippets import benchmark

    rows = []
    for name, e in entries:
        v = benchmark.LESSONS[name].metric.removeprefix("pass_at_1_gain_")
        ms = seed_metrics(e)
        rows.append(
            [
                v + (" (held back)" if name.endswith("heldout") else ""),
                ", ".join(str(r["seed"]) for r in e["runs"]),
                _over_seeds(ms, f"pass_at_1_gain_{v}"),
                _over_seeds(ms, f"pass_at_64_change_{v}"),
                _over_seeds(ms, f"final_entropy_{v}", 1.0, "{:.2f}"),
                _over_seeds(ms, f"zero_std_{v}", 100.0, "{:.0f} %"),
                f"{e['summary']['met']} of {e['summary']['seeds']}",
            ]
        )
    header = [
        "variant",
        "seeds",
        "pass@1 gain (points)",
        "pass@64 change (points)",
        "final entropy (nats)",
        "zero-std groups",
        "seeds with a gain ≥ 20 points",
    ]
    note = "\n*Median [25th, 75th percentile] over the seeds.*\n\n"
    return table(header, rows) + note + _seed_rows(entries) + "\n" + from_benchmarks(*entries)


def _seed_rows(entries: tuple[tuple[str, dict], ...]) -> str:
    """Every seed once: where pretraining stopped, pass@1 at the start, each variant's gain."""
    runs = {}
    for name, e in entries:  # the five variant entries share their runs; held back: DAPO only
        for r in e["runs"]:
            runs.setdefault(r["seed"], (name.endswith("heldout"), r["metrics"]))
    rows = [
        [
            str(seed) + (" (held back)" if held else ""),
            str(m["pretrain_steps_used"]),
            pct(m["pass_at_1_before"]),
        ]
        + [
            f"{100 * m[f'pass_at_1_gain_{v}']:+.1f}" if f"pass_at_1_gain_{v}" in m else "—"
            for v in PRACTICE_ARMS
        ]
        for seed, (held, m) in sorted(runs.items())
    ]
    header = [
        "seed",
        "pretraining steps",
        "pass@1 at the start",
        *(f"{v}: pass@1 gain (points)" for v in PRACTICE_ARMS),
    ]
    return table(header, rows)


PRACTICE_VIEWS: dict[str, View] = {
    "d4-variants": View(("d4-variants",), view_d4_variants),
    "d4-collapse": View(("d4-collapse",), view_d4_collapse),
    "d4-benchmark": View(
        tuple(f"benchmark:{n}" for n in (*PRACTICE_BENCH, "d4-heldout")), view_d4_benchmark
    ),
}
# --8<-- [end:practice]


# --8<-- [start:registry]
VIEWS: dict[str, View] = {**EXACT_VIEWS, **PRACTICE_VIEWS}
# --8<-- [end:registry]
