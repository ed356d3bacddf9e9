"""Lesson C2: the PPO losses (clipped surrogate and clipped value loss), shared with C3 and D2.

These few lines are the heart of PPO. The from-scratch PPO of this lesson
(``snippets.c2_proximal_policy_optimization_ppo_cartpole``), C3's Gaussian PPO and Chapter
D's RLHF trainer all import them from here, so the course writes them exactly once. The
module also draws the clipped objective (``--plot``) and writes the lesson's comparison
tables from the benchmark's results (``--report``); importing the losses costs only torch.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:clipped-surrogate]
def clipped_surrogate_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate objective, as a loss to minimise.

    With ratio r = exp(new - old), the objective per sample is
    min(r A, clip(r, 1 - eps, 1 + eps) A); the loss is its negative mean.

    Args:
        new_logprobs: log pi_theta(a|s) under the policy being optimised (requires grad).
        old_logprobs: log pi_old(a|s) recorded when the data was collected.
        advantages: advantage estimates, same shape.
        clip_coef: eps, how far the ratio may move from 1 before the gradient stops.
        mask: optional 0/1 tensor of the same shape (for padded tokens in D2).

    Returns:
        ``(loss, clip_fraction)``: the scalar loss and the share of samples whose ratio
        was clipped (a health metric: near 0 means tiny steps, above ~0.3 too large).
    """
    ratio = torch.exp(new_logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    objective = torch.minimum(unclipped, clipped)
    was_clipped = ((ratio - 1.0).abs() > clip_coef).float()
    if mask is None:
        return -objective.mean(), was_clipped.mean()
    denom = mask.sum().clamp_min(1.0)
    return -(objective * mask).sum() / denom, (was_clipped * mask).sum() / denom


# --8<-- [end:clipped-surrogate]


# --8<-- [start:clipped-value]
def clipped_value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's clipped value loss: 0.5 * max((V - R)^2, (V_clip - R)^2).

    The new value prediction may move at most ``clip_coef`` away from the prediction made
    at collection time, mirroring the policy clip.

    Args:
        new_values: V_theta(s) from the network being optimised.
        old_values: V(s) recorded at collection time.
        returns: regression targets (advantages + old values).
        clip_coef: largest allowed move of the value prediction.
        mask: optional 0/1 tensor of the same shape.

    Returns:
        The scalar loss.
    """
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    loss = 0.5 * torch.maximum((new_values - returns) ** 2, (clipped_values - returns) ** 2)
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


# --8<-- [end:clipped-value]


# --8<-- [start:objective-figure]
def clipped_objective_and_gradient(
    ratios: torch.Tensor, advantage: float, clip_coef: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's per-sample objective and its derivative in the ratio, one ratio at a time.

    Uses :func:`clipped_surrogate_loss` itself (with old log-prob 0, so the ratio is
    ``exp(new_logprob)``), so the figure shows the function that D2 trains with.

    Returns:
        ``(objective, d objective / d ratio)``, each with the shape of ``ratios``.
    """
    objective, gradient = [], []
    for r in ratios.tolist():
        new_logprob = torch.tensor([r]).log().requires_grad_(True)
        loss, _ = clipped_surrogate_loss(
            new_logprob, torch.zeros(1), torch.tensor([advantage]), clip_coef
        )
        (d_logprob,) = torch.autograd.grad(-loss, new_logprob)
        objective.append(-loss.item())
        gradient.append(d_logprob.item() / r)  # chain rule: d/dr = d/dlogr * dlogr/dr
    return torch.tensor(objective), torch.tensor(gradient)


def plot_clipped_objective(path: str, clip_coef: float = 0.2) -> str:
    """Draw L^CLIP against the ratio for A = +1 and A = -1 and mark where the gradient is 0."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    ratios = torch.linspace(0.3, 1.7, 281)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6), sharex=True)
    for ax, adv in zip(axes, (1.0, -1.0), strict=True):
        objective, gradient = clipped_objective_and_gradient(ratios, adv, clip_coef)
        ax.plot(ratios, ratios * adv, color="grey", ls=":", label="unclipped  r·A")
        ax.plot(ratios, objective, lw=2.2, label="PPO  min(r·A, clip(r)·A)")
        flat = gradient.abs() < 1e-9
        low, high = ax.get_ylim()
        ax.fill_between(
            ratios,
            low,
            high,
            where=flat.numpy(),
            color="tab:orange",
            alpha=0.15,
            label="gradient is zero",
        )
        ax.set_ylim(low, high)
        for edge in (1 - clip_coef, 1 + clip_coef):
            ax.axvline(edge, color="black", lw=0.8, ls="--")
        sign = "> 0" if adv > 0 else "< 0"
        ax.set(title=f"advantage A {sign}", xlabel="probability ratio r = π_new / π_old")
        ax.legend(fontsize=8, loc="upper left" if adv > 0 else "lower left")
    axes[0].set_ylabel("objective (maximised)")
    return common.save_figure(fig, path)


# --8<-- [end:objective-figure]


# --8<-- [start:report]
RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmark.json"
# The benchmark entries the page's tables are written from (names in lessons.toml).
COMPARED = {"c0": "REINFORCE (C0)", "c1": "A2C, SB3 (C1)", "c2": "PPO from scratch (C2)"}
VARIANTS = {
    "c2": "from scratch (this page)",
    "c2-sb3": "Stable-Baselines3, same settings",
    "c2-constant-clip": "from scratch, clip fixed at 0.2",
    "c2-no-clip": "from scratch, no clip (ε = 100)",
}


def median_iqr(values: list[float], fmt: str = "{:.0f}") -> str:
    """``"median [q25, q75]"`` of the values: how the course reports a number over seeds."""
    q25, median, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return f"{fmt.format(median)} [{fmt.format(q25)}, {fmt.format(q75)}]"


def markdown_table(header: str, rows: list[str]) -> str:
    """A Markdown table: the header row, the rule under it (one cell a column), the rows."""
    rule = "|---" * (header.count("|") - 1) + "|"
    return "\n".join([header, rule, *rows]) + "\n"


def seed_metrics(entry: dict) -> list[dict]:
    """What each seed's run of a benchmark entry measured (its JSON line)."""
    return [run["metrics"] for run in entry["runs"]]


def render_compared(*entries: tuple[str, dict]) -> str:
    """REINFORCE, A2C and PPO: each lesson's benchmark headline, from its record alone.

    Args:
        entries: ``(name, entry)`` of ``results/benchmark.json``'s lessons, in table order.
    """
    header = (
        "| method | what the benchmark measures | median [IQR] over seeds "
        "| seeds meeting the target | wall time per seed (median) |"
    )
    rows = []
    for name, e in entries:
        s = e["summary"]
        rows.append(
            f"| {COMPARED[name]} | {e['target_text']} | {s['median']:g} [{s['q25']:g}, {s['q75']:g}] "
            f"| {s['met']} / {s['seeds']} | {s['median_wall_seconds']:g} s |"
        )
    return markdown_table(header, rows)


def relapses(evals: list[float], solved: float = 475.0) -> tuple[int, int]:
    """Evaluations below ``solved`` after the first one at or above it, and how many came after.

    A policy that has solved CartPole and then scores less has unlearned: this counts it.
    """
    first = next((i for i, r in enumerate(evals) if r >= solved), len(evals))
    after = evals[first + 1 :]
    return sum(r < solved for r in after), len(after)


def render_variants(*entries: tuple[str, dict]) -> str:
    """PPO from scratch, SB3's PPO and the ablations: kept and final agents over seeds."""
    header = (
        "| PPO on CartPole-v1, 100k steps | kept agent, median [IQR] | final agent, median [IQR] "
        "| seeds: kept ≥ 475 | seeds: final ≥ 475 | first evaluation ≥ 475 "
        "| later evaluations < 475 | CPU time per seed |"
    )
    rows = []
    for name, e in entries:
        runs = seed_metrics(e)
        kept = [m["kept_mean_return"] for m in runs]
        final = [m["final_mean_return"] for m in runs]
        solved = sorted(m["first_solved_step"] for m in runs if m["first_solved_step"] is not None)
        when = f"{len(solved)} seeds, at {solved[0] / 1000:.0f}k–{solved[-1] / 1000:.0f}k steps"
        dips, after = (
            sum(x) for x in zip(*(relapses(m["eval_returns"]) for m in runs), strict=True)
        )
        rows.append(
            f"| {VARIANTS[name]} | {median_iqr(kept)} | {median_iqr(final)} "
            f"| {sum(k >= 475 for k in kept)} / {len(runs)} | {sum(f >= 475 for f in final)} / {len(runs)} "
            f"| {when if solved else 'never'} | {dips} of {after} "
            f"| {median_iqr([m['cpu_seconds'] for m in runs])} s |"
        )
    return markdown_table(header, rows)


# Each table: its file under results/, its renderer and the benchmark entries it reads.
REPORTS = {
    "c2_compared.md": (render_compared, tuple(COMPARED)),
    "c2_ppo.md": (render_variants, tuple(VARIANTS)),
}


def render_reports(results: dict) -> dict[str, str]:
    """Every table of the page, rendered from the benchmark's JSON (entries it lacks are left out)."""
    lessons = results["lessons"]
    return {
        file: render(*((n, lessons[n]) for n in names if n in lessons))
        for file, (render, names) in REPORTS.items()
    }


# --8<-- [end:report]


# --8<-- [start:main]
@dataclass(frozen=True)
class Config:
    """The one setting of the figure."""

    clip_coef: common.Prob = 0.2  # PPO's epsilon


def main(argv: list[str] | None = None) -> dict:
    """Draw the clipped objective, print it at three ratios; optionally write the page's tables."""
    parser = common.config_parser(
        Config, __doc__, prog="python -m snippets.c2_proximal_policy_optimization_ppo"
    )
    parser.add_argument(
        "--plot", metavar="PATH", help="save the clipped-objective figure here (PNG)"
    )
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="write the page's two tables from results/benchmark.json into DIR",
    )
    cfg, args = common.parse_config(parser, argv)
    ratios = torch.tensor([0.5, 1.0, 1.5])
    metrics: dict = {"clip_coef": cfg.clip_coef, "ratios": ratios.tolist()}
    for adv, key in ((1.0, "a_pos"), (-1.0, "a_neg")):
        obj, grad = clipped_objective_and_gradient(ratios, adv, cfg.clip_coef)
        metrics[f"objective_{key}"] = obj.tolist()
        metrics[f"gradient_{key}"] = grad.tolist()
    if args.plot:
        plot_clipped_objective(args.plot, cfg.clip_coef)
    if args.report:
        for file, text in render_reports(json.loads(RESULTS.read_text())).items():
            (Path(args.report) / file).write_text(text)
        metrics["report"] = sorted(REPORTS)
    return common.emit_metrics(metrics)


# --8<-- [end:main]


if __name__ == "__main__":
    main()
