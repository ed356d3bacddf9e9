"""The tables of chapter D's first lessons: reward models (D1) and RLHF with PyTorch (D2).

Each ``view_*`` function turns committed records into the Markdown a page includes; ``VIEWS``
names, for each file ``results/runs/<view>.md``, the records it is rendered from. D1's renderer
imports its lesson's code only when called. D3 and D4 have modules of their own.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json

import numpy as np

from snippets.regenerate.helpers import (
    View,
    num,
    pct,
    provenance,
    sections,
    table,
    text_block,
)

# --8<-- [end:imports]


# --8<-- [start:d1]
def view_d1(d1: dict) -> str:
    """D1: what Bradley-Terry recovers from annotators of three noise levels."""
    from snippets.d1_reward_modeling_concepts import ceiling_from_agreement

    m = d1["metrics"]
    rows = []
    for t, slope in m["slopes"].items():
        temp = float(t.removeprefix("T="))
        rows.append(
            [
                f"{temp:g}",
                f"{slope:.2f} ({1 / temp:.2f})",
                f"{m['rank_correlations'][t]:.2f}",
                pct(m["label_agreement"][t]),
                pct(m["model_accuracy"][t]),
                pct(m["truth_accuracy"][t]),
                pct(m["inter_annotator"][t]),
                pct(ceiling_from_agreement(m["inter_annotator"][t])),
            ]
        )
    head = [
        "$T$",
        "slope (theory $1/T$)",
        "rank corr.",
        "training labels matching the quality",
        "fitted model vs a fresh label",
        "hidden quality vs a fresh label",
        "annotator vs annotator",
        "ceiling if all pairs were equally hard",
    ]
    return (
        f"{m['pairs']:,} comparisons per noise level, seed 0:\n\n"
        + table(head, rows)
        + "\n"
        + provenance(d1)
    )


# --8<-- [end:d1]


# --8<-- [start:d2]
D2_RUN = "file:docs/assets/figures/d2_default_run.json"  # the default run's --save-logs


def view_d2(run: dict, d2: tuple[str, dict]) -> str:
    """D2: every measured sentence and table of the page, as named sections."""
    parts = d2_sections(run, d2[1]["runs"])
    return sections(parts, "`docs/assets/figures/d2_default_run.json` and `results/benchmark.json`")


def d2_sections(run: dict, seeds: list[dict]) -> dict[str, str]:
    """The page's sections from the default run's record and the benchmark's runs of D2.

    Args:
        run: the default run's record, as ``report.save_run`` wrote it.
        seeds: the benchmark's runs of the lesson, one ``{"seed", "metrics"}`` per seed.
    """
    m, ev, c = run["metrics"], run["evals"], run["config"]
    log, losses = run["logs"]["kl"], run["pretrain_losses"]
    out = {
        "stage-1": (
            f"After {c['pretrain_steps']} steps of {c['pretrain_batch']} reviews the loss falls from "
            f"{losses[0]:.2f} to {np.mean(losses[-20:]):.2f} nats per token (mean of the last 20 "
            f"steps), and {pct(m['sft_grammatical'], 0)} of the SFT model's samples are grammatical "
            "under the rater's rules."
        ),
        "stage-2": (
            f"- {pct(run['tie_fraction'], 0)} of the pairs are ties (both reviews equally good to the "
            "rater) and are labelled by a coin flip; of the rest, "
            f"{pct(run['label_agreement'])} of the labels agree with the rater's own ordering. "
            f"Tested on the {run['test_pairs']} held-out pairs that are not ties, against the "
            f"*noiseless* ordering, the reward model agrees on **{pct(m['rm_accuracy'])}** of "
            f"them (target: at least 90 %). Its validation loss was lowest after step "
            f"{run['rm_best_step']} of {len(run['rm_losses'])}, and that is the model kept."
        ),
    }
    low = int(np.argmin(log["kl_coef"]))
    out["ppo-health"] = (
        f"In the default run $\\beta$ starts at {log['kl_coef'][0]:.3f}, is lowest "
        f"({log['kl_coef'][low]:.3f}) at iteration {low + 1} and ends at "
        f"{log['kl_coef'][-1]:.3f}; the mean clip fraction never exceeds "
        f"{pct(max(log['clip_fraction']))}."
    )
    runs = [k for k in ("kl", "no_kl") if k in ev]
    sft = ev["sft"]
    rows = [
        ["gold score, mean (std)", f"{num(sft['gold_mean'], '.2f')} ({sft['gold_std']:.2f})"]
        + [f"{num(ev[k]['gold_mean'], '.2f')} ({ev[k]['gold_std']:.2f})" for k in runs],
        ["gain in starting standard deviations", "—"]
        + [num(m[f"gold_gain_std_{k}"], "+.2f") for k in runs],
        ["reward-model score (normalised)", num(sft["rm_score"], ".2f")]
        + [num(ev[k]["rm_score"], ".2f") for k in runs],
        ["KL to the SFT model (nats per completion)", "0"] + [f"{ev[k]['kl']:.2f}" for k in runs],
        ["grammatical reviews", pct(sft["grammatical"], 0)]
        + [pct(ev[k]["grammatical"], 0) for k in runs],
    ]
    head = {"kl": "PPO with KL penalty", "no_kl": "PPO, KL penalty off"}
    verdict = m["gold_gain_std_kl"] >= 1 and m["kl_after_kl"] <= 6
    out["before-after"] = (
        f"With the default settings and seed {run['seed']}:\n\n"
        + table(["", "SFT model", *(head[k] for k in runs)], rows)
        + f"\nWith the penalty the gold score rises by **{num(m['gold_gain_std_kl'], '+.2f')}** "
        f"starting standard deviations at a KL of **{m['kl_after_kl']:.2f}** nats: the target "
        f"(at least +1 at no more than 6 nats) is {'met' if verdict else 'missed'}."
    )
    samples = []
    for k, title in (("sft", "SFT model"), ("kl", "PPO with KL penalty")):
        samples += [title, *ev[k]["samples"][:5], ""]
    out["samples"] = text_block(samples[:-1])
    if "no_kl" in ev:
        off = ev["no_kl"]
        out["hacking-samples"] = text_block(["KL penalty off, same prompts", *off["samples"][:3]])
        out["hacking"] = (
            f"Its reward-model score ends at {off['rm_score']:.1f} against "
            f"{ev['kl']['rm_score']:.1f} for the penalised run, while the gold score falls to "
            f"{num(off['gold_mean'], '.1f')}, {off['kl']:.0f} nats from the SFT model; "
            f"{pct(off['grammatical'], 0)} of its reviews are grammatical, against "
            f"{pct(sft['grammatical'], 0)} of the SFT model's."
        )
    out["seeds"] = d2_seed_table(seeds)
    stages = [run[f"seconds_ppo_{k}"] for k in runs]
    waited = (
        " (one thread, so the difference is time spent waiting for cores other processes "
        "were using)"
        if m["seconds"] > 1.3 * m["cpu_seconds"]
        else ""
    )
    out["run-output"] = (
        f"It prints the samples of each model, then one JSON line (seed {run['seed']}, "
        f"{m['threads']} torch thread):\n\n" + text_block([json.dumps(m)]) + "\n\n"
        f"**Time.** The whole pipeline took **{m['cpu_seconds']:.0f} seconds of CPU time** "
        f"and {m['seconds']:.0f} s of wall time on {run['machine']}{waited}. Wall time per "
        f"stage: pretraining {run['seconds_pretrain']:.0f} s, preference data and reward model "
        f"{run['seconds_reward_model']:.0f} s, and "
        + " and ".join(f"{s:.0f} s" for s in stages)
        + f" for the PPO run{'s' if len(stages) > 1 else ''}. Target: at most 5 minutes."
    )
    return out


def d2_seed_table(seeds: list[dict]) -> str:
    """One row per benchmark seed: the three numbers the target is about, and a verdict."""
    rows, met = [], 0
    for entry in sorted(seeds, key=lambda e: e["seed"]):
        x = entry["metrics"]
        ok = x["rm_accuracy"] >= 0.9 and x["gold_gain_std_kl"] >= 1 and x["kl_after_kl"] <= 6
        met += ok
        rows.append(
            [
                str(entry["seed"]),
                pct(x["rm_accuracy"]),
                num(x["gold_gain_std_kl"], "+.2f"),
                f"{x['kl_after_kl']:.2f}",
                "yes" if ok else "**no**",
            ]
        )
    head = ["seed", "reward-model accuracy", "gold gain (start std)", "KL (nats)", "target met"]
    if not seeds:
        return table(head, rows).rstrip("\n")
    low = {k: min(e["metrics"][k] for e in seeds) for k in ("rm_accuracy", "gold_gain_std_kl")}
    high_kl = max(e["metrics"]["kl_after_kl"] for e in seeds)
    return (
        table(head, rows) + f"\n**{met} of {len(seeds)} seeds meet all three targets.** The worst "
        f"cases: lowest reward-model accuracy {pct(low['rm_accuracy'])}, smallest gold gain "
        f"{num(low['gold_gain_std_kl'], '+.2f')} start std, largest KL {high_kl:.2f} nats."
    )


# --8<-- [end:d2]


# --8<-- [start:registry]
VIEWS: dict[str, View] = {
    "d1": View(("d1",), view_d1),
    "d2": View((D2_RUN, "benchmark:d2"), view_d2),
}
# --8<-- [end:registry]
