"""Lesson D2, the report: figures of a run, its JSON record, and the numbers its page shows.

``save_run`` writes what the command measured (``--save-logs``); ``render_numbers`` turns
that record, and the benchmark's seeds, into the Markdown the lesson page includes, so no
measured number on the page is typed by hand.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:plots]
def plot_reward_hacking(logs: dict[str, dict[str, list[float]]]) -> Any:
    """Reward-model score, gold score and KL per PPO iteration, one line per run."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    labels = {"kl": "with KL penalty", "no_kl": "KL penalty off"}
    panels = (
        ("rm_score", "reward-model score (proxy)"),
        ("gold_score", "gold score (hidden rater)"),
        ("kl", "KL to reference (nats)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for k, (name, log) in enumerate(logs.items()):
            ax.plot(log[key], color=f"C{k}", label=labels.get(name, name))
        ax.set_title(title)
        ax.set_xlabel("PPO iteration")
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_diagnostics(log: dict[str, list[float]]) -> Any:
    """The health metrics of one PPO run: entropy, clip fraction, beta, length, grammaticality."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    keys = (
        ("entropy", "entropy per token (nats)"),
        ("clip_fraction", "clip fraction"),
        ("kl_coef", "KL coefficient beta"),
        ("grammatical", "share of grammatical reviews"),
    )
    fig, axes = plt.subplots(1, len(keys), figsize=(13, 3.2))
    for ax, (key, title) in zip(axes, keys, strict=True):
        ax.plot(log[key], color="C0")
        ax.set_title(title)
        ax.set_xlabel("PPO iteration")
    fig.tight_layout()
    return fig


# --8<-- [end:plots]


# --8<-- [start:save]
NOT_SAVED = ("tokenizer", "sft_lm", "reward_model", "train_pairs")  # models and data


def save_run(result: dict[str, Any], metrics: dict[str, Any], path: str | Path) -> None:
    """Write a run's logs, evaluations and samples as JSON, floats to 5 digits.

    ``metrics`` is the JSON line the command printed, kept exactly as printed.
    """
    import torch

    keep = {k: v for k, v in result.items() if k not in NOT_SAVED}
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    text = json.dumps({**keep, "machine": machine})
    rounded = json.loads(text, parse_float=lambda x: round(float(x), 5))
    Path(path).write_text(json.dumps({**rounded, "metrics": metrics}))


# --8<-- [end:save]


# --8<-- [start:numbers]
ROOT = Path(__file__).resolve().parents[2]
RUN_JSON = ROOT / "docs" / "assets" / "figures" / "d2_default_run.json"  # --save-logs
BENCHMARK_JSON = ROOT / "results" / "benchmark.json"  # python -m snippets.benchmark --lesson d2
NUMBERS_MD = ROOT / "results" / "d2_rlhf_llm_with_pytorch.md"  # what the page includes


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


def _num(x: float, spec: str = ".2f") -> str:
    """A number as the prose writes it, with a typographic minus sign."""
    return format(x, spec).replace("-", "−")


def _section(name: str, lines: list[str]) -> list[str]:
    return [f"<!-- --8<-- [start:{name}] -->", *lines, f"<!-- --8<-- [end:{name}] -->", ""]


def _text_block(lines: list[str]) -> list[str]:
    return ["```text", *lines, "```"]


def render_numbers(run: dict[str, Any], seeds: list[dict[str, Any]]) -> str:
    """The Markdown sections of measured numbers the lesson page includes.

    Args:
        run: the default run's record, as ``save_run`` wrote it.
        seeds: the benchmark's runs of the lesson, one ``{"seed", "metrics"}`` per seed.
    """
    m, ev, c = run["metrics"], run["evals"], run["config"]
    log, losses = run["logs"]["kl"], run["pretrain_losses"]
    out = ["<!-- Written by snippets/d2_rlhf_llm_with_pytorch/report.py; do not edit. -->", ""]
    out += _section(
        "stage-1",
        [
            f"After {c['pretrain_steps']} steps of {c['pretrain_batch']} reviews the loss falls from "
            f"{losses[0]:.2f} to {np.mean(losses[-20:]):.2f} nats per token (mean of the last 20 "
            f"steps), and {_pct(m['sft_grammatical'], 0)} of the SFT model's samples are grammatical "
            "under the rater's rules.",
        ],
    )
    out += _section(
        "stage-2",
        [
            f"- {_pct(run['tie_fraction'], 0)} of the pairs are ties (both reviews equally good to the "
            "rater) and are labelled by a coin flip; of the rest, "
            f"{_pct(run['label_agreement'])} of the labels agree with the rater's own ordering. "
            f"Tested on the {run['test_pairs']} held-out pairs that are not ties, against the "
            f"*noiseless* ordering, the reward model agrees on **{_pct(m['rm_accuracy'])}** of "
            f"them (target: at least 90 %). Its validation loss was lowest after step "
            f"{run['rm_best_step']} of {len(run['rm_losses'])}, and that is the model kept.",
        ],
    )
    low = int(np.argmin(log["kl_coef"]))
    out += _section(
        "ppo-health",
        [
            f"In the default run $\\beta$ starts at {log['kl_coef'][0]:.3f}, is lowest "
            f"({log['kl_coef'][low]:.3f}) at iteration {low + 1} and ends at "
            f"{log['kl_coef'][-1]:.3f}; the mean clip fraction never exceeds "
            f"{_pct(max(log['clip_fraction']))}.",
        ],
    )
    runs = [k for k in ("kl", "no_kl") if k in ev]
    head = {"kl": "PPO with KL penalty", "no_kl": "PPO, KL penalty off"}
    rows = [
        "| | SFT model | " + " | ".join(head[k] for k in runs) + " |",
        "|---|---|" + "---|" * len(runs),
        f"| gold score, mean (std) | {_num(ev['sft']['gold_mean'])} ({ev['sft']['gold_std']:.2f}) | "
        + " | ".join(f"{_num(ev[k]['gold_mean'])} ({ev[k]['gold_std']:.2f})" for k in runs)
        + " |",
        "| gain in starting standard deviations | — | "
        + " | ".join(_num(m[f"gold_gain_std_{k}"], "+.2f") for k in runs)
        + " |",
        f"| reward-model score (normalised) | {_num(ev['sft']['rm_score'])} | "
        + " | ".join(_num(ev[k]["rm_score"]) for k in runs)
        + " |",
        "| KL to the SFT model (nats per completion) | 0 | "
        + " | ".join(f"{ev[k]['kl']:.2f}" for k in runs)
        + " |",
        f"| grammatical reviews | {_pct(ev['sft']['grammatical'], 0)} | "
        + " | ".join(_pct(ev[k]["grammatical"], 0) for k in runs)
        + " |",
    ]
    verdict = m["gold_gain_std_kl"] >= 1 and m["kl_after_kl"] <= 6
    out += _section(
        "before-after",
        [
            f"With the default settings and seed {run['seed']}:",
            "",
            *rows,
            "",
            f"With the penalty the gold score rises by **{_num(m['gold_gain_std_kl'], '+.2f')}** starting "
            f"standard deviations at a KL of **{m['kl_after_kl']:.2f}** nats: the target (at least "
            f"+1 at no more than 6 nats) is {'met' if verdict else 'missed'}.",
        ],
    )
    samples = []
    for k, title in (("sft", "SFT model"), ("kl", "PPO with KL penalty")):
        samples += [title, *ev[k]["samples"][:5], ""]
    out += _section("samples", _text_block(samples[:-1]))
    if "no_kl" in ev:
        out += _section(
            "hacking-samples",
            _text_block(["KL penalty off, same prompts", *ev["no_kl"]["samples"][:3]]),
        )
        out += _section(
            "hacking",
            [
                f"Its reward-model score ends at {ev['no_kl']['rm_score']:.1f} against "
                f"{ev['kl']['rm_score']:.1f} for the penalised run, while the gold score falls to "
                f"{_num(ev['no_kl']['gold_mean'], '.1f')}, {ev['no_kl']['kl']:.0f} nats from the SFT model; "
                f"{_pct(ev['no_kl']['grammatical'], 0)} of its reviews are grammatical, against "
                f"{_pct(ev['sft']['grammatical'], 0)} of the SFT model's.",
            ],
        )
    out += _section("seeds", seed_table(seeds))
    stages = [run[f"seconds_ppo_{k}"] for k in runs]
    out += _section(
        "run-output",
        [
            f"It prints the samples of each model, then one JSON line (seed {run['seed']}, "
            f"{m['threads']} torch thread):",
            "",
            *_text_block([json.dumps(m)]),
            "",
            f"**Time.** The whole pipeline took **{m['cpu_seconds']:.0f} seconds of CPU time** "
            f"and {m['seconds']:.0f} s of wall time on {run['machine']}"
            + (
                " (one thread, so the difference is time spent waiting for cores other processes "
                "were using)"
                if m["seconds"] > 1.3 * m["cpu_seconds"]
                else ""
            )
            + f". Wall time per stage: pretraining {run['seconds_pretrain']:.0f} s, preference data "
            f"and reward model {run['seconds_reward_model']:.0f} s, and "
            + " and ".join(f"{s:.0f} s" for s in stages)
            + f" for the PPO run{'s' if len(stages) > 1 else ''}. Target: at most 5 minutes.",
        ],
    )
    return "\n".join(out)


def seed_table(seeds: list[dict[str, Any]]) -> list[str]:
    """One row per benchmark seed: the three numbers the target is about, and a verdict."""
    rows = [
        "| seed | reward-model accuracy | gold gain (start std) | KL (nats) | target met |",
        "|---|---|---|---|---|",
    ]
    met = 0
    for entry in sorted(seeds, key=lambda e: e["seed"]):
        x = entry["metrics"]
        ok = x["rm_accuracy"] >= 0.9 and x["gold_gain_std_kl"] >= 1 and x["kl_after_kl"] <= 6
        met += ok
        rows.append(
            f"| {entry['seed']} | {_pct(x['rm_accuracy'])} | {_num(x['gold_gain_std_kl'], '+.2f')} | "
            f"{x['kl_after_kl']:.2f} | {'yes' if ok else '**no**'} |"
        )
    if not seeds:
        return rows
    low = {k: min(e["metrics"][k] for e in seeds) for k in ("rm_accuracy", "gold_gain_std_kl")}
    high_kl = max(e["metrics"]["kl_after_kl"] for e in seeds)
    return [
        *rows,
        "",
        f"**{met} of {len(seeds)} seeds meet all three targets.** The worst cases: lowest "
        f"reward-model accuracy {_pct(low['rm_accuracy'])}, smallest gold gain "
        f"{_num(low['gold_gain_std_kl'], '+.2f')} start std, largest KL {high_kl:.2f} nats.",
    ]


def write_numbers(
    run_json: Path = RUN_JSON, benchmark_json: Path = BENCHMARK_JSON, out: Path = NUMBERS_MD
) -> str:
    """Render the page's numbers from the committed JSON records and write them to ``out``."""
    run = json.loads(run_json.read_text())
    seeds = json.loads(benchmark_json.read_text())["lessons"]["d2"]["runs"]
    text = render_numbers(run, seeds)
    out.write_text(text)
    return text


if __name__ == "__main__":  # python -m snippets.d2_rlhf_llm_with_pytorch.report
    print(f"wrote {NUMBERS_MD.relative_to(ROOT)} ({len(write_numbers())} characters)")
# --8<-- [end:numbers]
