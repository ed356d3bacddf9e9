"""Lesson D6, training with a sampler that is not the trainer: weights k steps old, or bf16.

D4's sums task and loop (one-digit sums here, so that every arm of a seed fits in minutes on
one CPU core), with the completions drawn by a second model, the *sampler* ``μ``, while the
*trainer* ``π_θ`` takes the gradient steps. Each arm names how ``μ`` departs from ``π_θ``:

- ``staleK``: the batch of step ``t`` is sampled with the trainer's weights after step
  ``t − K`` (``θ_{t−K}``; ``θ_0`` while ``t < K``). Each step takes one optimiser step, so
  the sampler is exactly ``K`` optimiser steps behind: an asynchronous pipeline with a fixed
  lag. ``stale0`` is plain on-policy GRPO.
- ``bf16``: the sampler is the trainer's current weights cast to bfloat16 (a copy refreshed
  every step); the trainer stays in float32.

An arm ending in ``_is`` multiplies each token's loss by TRL 1.16's importance weight
(:func:`correction.is_weights`, ``sequence_mask`` with ``C_max = 3`` by default), computed
from the trainer's log-probs at the start of the step and the sampler's log-probs of the
same tokens, as TRL does with vLLM's. Every arm of a seed starts from the same pretrained
model and sees the same problems. Every step records the sampler-trainer log-ratio of the
sampled tokens, the exact KL between the two per sampled prefix, and the share of
completions the correction masks (also for the arms that do not apply it).
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy
import os
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from snippets import common
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import rlvr
from snippets.d4_grpo_in_practice import train as d4
from snippets.d6_sampler_trainer_mismatch.correction import Mode, is_weights

# --8<-- [end:imports]


# --8<-- [start:config]
ArmName = Literal[
    "stale0", "stale0_is", "stale2", "stale2_is", "stale8", "stale8_is", "bf16", "bf16_is"
]
ARMS: tuple[ArmName, ...] = tuple("stale0 stale2 stale2_is stale8 stale8_is bf16 bf16_is".split())


@dataclass(frozen=True)
class Config(d4.Config):
    """D4's task and loop (GRPO's loss), one-digit sums, and the sampler and correction."""

    arm: tuple[ArmName, ...] = ARMS  # arms to train, each from the same pretrained start
    seeds: common.PosInt = 1  # runs, one after another: seeds seed, seed+1, ...
    is_mode: Mode = "sequence_mask"  # the correction: TRL's vllm_importance_sampling_mode
    is_clip_min: common.NonNegFloat = 0.0  # its C_min (0: TRL's None, no floor)
    is_clip_max: common.PosFloat = 3.0  # its C_max (TRL's default)
    # D4's fields, with D6's defaults: one-digit sums, one optimiser step per batch
    digits: common.PosInt = 1  # digits per operand
    band_check_every: common.PosInt = 25  # pretraining steps between two checks
    steps: common.PosInt = 40  # RL steps (sampling rounds), one optimiser step each
    prompts_per_step: common.PosInt = 16  # problems per step
    epochs: common.PosInt = 1  # passes over each batch ...
    minibatches: common.PosInt = 1  # ... in this many optimiser steps each
    max_new_tokens: common.PosInt = 4  # completion length limit (answers need at most 3)
    heldout_problems: common.PosInt = 64  # held-out problems for pass@1 at every step
    eval_samples: common.PosInt = 16  # samples per problem: pass@k for k up to this


# D4's fields that do not act on GRPO's loss (DAPO's, GSPO's, CISPO's options, the KL to the
# start, the collapse marks) or that the arms fix (one optimiser step per batch, so that K
# counts optimiser steps): left off the command line.
SKIP = (
    "variant epsilon_high gspo_epsilon gspo_epsilon_high cispo_cap beta dynamic_sampling "
    "max_refill overlong overlong_cache collapse_fraction no_signal_share epochs minibatches"
).split()
QUICK = {  # pretraining cut to 20 fixed steps: a smoke test, not a result
    "pretrain": "fixed",
    "pretrain_steps": 20,
    "steps": 3,
    "eval_problems": 20,
    "eval_samples": 4,
    "heldout_problems": 16,
    "prompts_per_step": 8,
}


# --8<-- [end:config]


# --8<-- [start:sampler]
@dataclass(frozen=True)
class Arm:
    """How the sampler departs from the trainer, and whether the loss corrects for it."""

    staleness: int  # K: the sampler holds the trainer's weights of K optimiser steps ago
    bf16: bool  # the sampler is a bfloat16 copy
    corrected: bool  # the loss is weighted by TRL's importance weight


def arm_of(name: str) -> Arm:
    """``stale8_is`` -> ``Arm(8, False, True)``; ``bf16`` -> ``Arm(0, True, False)``."""
    kind, _, fix = name.partition("_")
    stale = 0 if kind == "bf16" else int(kind.removeprefix("stale"))
    return Arm(stale, kind == "bf16", fix == "is")


class Sampler:
    """The model that samples: the trainer's weights of ``K`` steps ago, or a bf16 copy.

    ``push`` is called after every optimiser step with the trainer: its weights join a queue
    of the last ``K + 1``, and the sampler loads the oldest (the newest when ``K = 0``).
    """

    def __init__(self, lm: torch.nn.Module, arm: Arm) -> None:
        self.model = copy.deepcopy(lm).requires_grad_(False)
        if arm.bf16:
            self.model.to(torch.bfloat16)
        self.queue: deque[dict[str, torch.Tensor]] = deque(maxlen=arm.staleness + 1)
        self.push(lm)

    def push(self, lm: torch.nn.Module) -> None:
        """Queue the trainer's current weights and load the oldest queued into the sampler."""
        self.queue.append({k: v.detach().clone() for k, v in lm.state_dict().items()})
        self.model.load_state_dict(self.queue[0])  # cast to the sampler's dtype

    @property
    def staleness(self) -> int:
        """How many optimiser steps the sampler is behind the trainer now."""
        return len(self.queue) - 1


# --8<-- [end:sampler]


# --8<-- [start:mismatch]
@torch.no_grad()
def compare(lm, sampler, rollout: d2.Rollout, cfg: Config) -> dict:
    """The trainer's and the sampler's view of a batch, and TRL's weight built from them.

    Both models score the sampled tokens (the sampler's log-probs are what vLLM would return
    with them). The KL is exact per sampled prefix, ``Σ_t KL(μ(·|y_<t) ‖ π_θ(·|y_<t))``,
    summed over the completion and averaged over completions: its mean over ``y ~ μ`` is the
    KL between the two distributions of whole completions.

    Returns:
        ``weight`` (TRL's ``importance_sampling_ratio``), the share of completions (or tokens,
        in ``token_*`` modes) whose weight the mode sets to 0 or clips, the KL, and the mean,
        std and largest absolute value of the token log-ratio ``log π_θ − log μ``.
    """
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    t = cfg.temperature
    mask = rollout.response_mask.float()
    trainer = d2.lm_forward(lm, ids, attn)[0]
    samp = d2.lm_forward(sampler, ids, attn)[0].float()  # a bf16 sampler's logits, widened
    logp_t, logp_s = (d2.response_logprobs(x, ids, p, t) for x in (trainer, samp))
    weight = is_weights(logp_t, logp_s, mask, cfg.is_mode, cfg.is_clip_min, cfg.is_clip_max)
    diff = (logp_t - logp_s) * mask
    raw = diff.exp() if weight.shape == mask.shape else diff.sum(1, keepdim=True).exp()
    counted = mask if weight.shape == mask.shape else torch.ones_like(weight)
    dist_t, dist_s = (torch.log_softmax(x[:, p - 1 : -1] / t, -1) for x in (trainer, samp))
    kl = ((dist_s.exp() * (dist_s - dist_t)).sum(-1) * mask).sum(1).mean()
    tokens = diff[mask.bool()]
    return {
        "weight": weight,
        "masked": (((weight != raw).float() * counted).sum() / counted.sum()).item(),
        "kl": kl.item(),
        "log_ratio_mean": tokens.mean().item(),
        "log_ratio_std": tokens.std().item() if len(tokens) > 1 else 0.0,
        "log_ratio_max": tokens.abs().max().item(),
    }


# --8<-- [end:mismatch]


# --8<-- [start:train]
# logged at every step (D4's run reads entropy and zero_std for its collapse marks)
HISTORY = (
    "reward",
    "pass_at_1",
    "entropy",
    "zero_std",
    "staleness",
    "masked",
    "kl",
    "log_ratio_mean",
    "log_ratio_std",
    "log_ratio_max",
)


def train_arm(lm, tokenizer, name: str, cfg: Config, seed: int, heldout: np.ndarray) -> dict:
    """One arm from ``lm``'s current weights: sample with the sampler, step the trainer.

    Called by D4's ``run`` for each arm, after the shared pretraining.
    """
    arm, how = arm_of(name), d4.recipe("grpo", cfg)
    rng = common.seed_everything(seed + 1)  # every arm sees the same problems
    optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
    sampler = Sampler(lm, arm)
    history: dict[str, list[float]] = {key: [] for key in HISTORY}
    for _ in common.progress(range(cfg.steps), desc=f"{name} on sums"):
        rollout, rewards, zero_std, _ = d4.collect(sampler.model, tokenizer, rng, cfg, how)
        seen = compare(lm, sampler.model, rollout, cfg) | {"staleness": sampler.staleness}
        weight = seen.pop("weight")  # applied only by the corrected arms
        stats = d4.update(
            lm, optimizer, rollout, rewards, cfg, how, rng, weight=weight if arm.corrected else None
        )
        sampler.push(lm)
        pass_at_1 = rlvr.sample_and_check(lm, tokenizer, heldout, cfg)[1].mean().item()
        stats |= seen | {"reward": rewards.mean().item(), "zero_std": zero_std}
        for key in HISTORY:
            history[key].append(stats[key] if key != "pass_at_1" else pass_at_1)
    return history


def run(cfg: Config, seed: int) -> dict:
    """D4's run: pretrain to the band, then train every arm of ``cfg.arm`` from that start."""
    return d4.run(cfg, seed, trainers=dict.fromkeys(cfg.arm, train_arm))


def _seeded_run(cfg: Config, seed: int) -> dict:
    """One seed's run in a worker process (one torch thread, as in the parent)."""
    torch.set_num_threads(1)
    return run(cfg, seed) | {"seed": seed}


def run_seeds(cfg: Config, seeds: list[int]) -> list[dict]:
    """Every seed's run; several seeds share the CPU's cores, two processes at most.

    The seeds are independent and each run seeds its own randomness, so a seed's numbers are
    the same whichever process runs it and whatever runs beside it.
    """
    workers = min(2, len(seeds), os.cpu_count() or 1)
    if workers == 1:
        return [_seeded_run(cfg, seed) for seed in seeds]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_seeded_run, [cfg] * len(seeds), seeds))


# --8<-- [end:train]


# --8<-- [start:headline]
CURVES = ("pass_at_1", "kl", "masked", "log_ratio_mean", "log_ratio_std", "log_ratio_max")


def headline(results: list[dict], cfg: Config) -> dict:
    """Per arm, medians over the seeds: pass@1 gain, staleness, masked share, KL, and curves.

    Every ``*_curve_<arm>`` is the per-step median over seeds of a logged quantity.
    """
    med = lambda xs: float(np.median(xs))  # noqa: E731 - one seed: the value itself
    out = {
        "pass_at_1_before": med([r["pass_at_k_before"][1] for r in results]),
        "pretrain_steps_used": [r["pretrain_steps_used"] for r in results],
    }
    for name in cfg.arm:
        arms = [r["arms"][name] for r in results]
        gains = [
            a["pass_at_k"][1] - r["pass_at_k_before"][1] for a, r in zip(arms, results, strict=True)
        ]
        mean_of = lambda key: med([np.mean(a["history"][key]) for a in arms])  # noqa: E731,B023
        out |= {
            f"pass_at_1_gain_{name}": med(gains),
            f"pass_at_1_after_{name}": med([a["pass_at_k"][1] for a in arms]),
            f"mean_staleness_{name}": mean_of("staleness"),
            f"masked_{name}": mean_of("masked"),
            f"kl_{name}": mean_of("kl"),
            f"log_ratio_std_{name}": mean_of("log_ratio_std"),
            f"log_ratio_max_{name}": med([max(a["history"]["log_ratio_max"]) for a in arms]),
            f"seconds_{name}": med([a["seconds"] for a in arms]),
        }
        for key in CURVES:
            curves = np.array([a["history"][key] for a in arms])
            out[f"{key}_curve_{name}"] = np.median(curves, axis=0).tolist()
    return out


# --8<-- [end:headline]


# --8<-- [start:plot]
def plot_curves(results: list[dict], cfg: Config, path: str) -> str:
    """Held-out pass@1, the sampler-trainer KL and the masked share per step, one line per arm.

    With several seeds, each line is the median over seeds and the band their IQR. A colour
    per sampler; dashed: uncorrected, solid: corrected.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colours = {}
    for name in cfg.arm:
        kind = name.partition("_")[0]
        colour = colours.setdefault(kind, f"C{len(colours)}")
        style = "-" if arm_of(name).corrected else "--"
        for ax, key in zip(axes, ("pass_at_1", "kl", "masked"), strict=True):
            values = np.array([r["arms"][name]["history"][key] for r in results])
            steps = np.arange(1, values.shape[1] + 1)
            low, mid, high = np.percentile(values, [25, 50, 75], axis=0)
            ax.plot(steps, mid, style, color=colour, lw=1.3, label=name)
            if len(results) > 1:
                ax.fill_between(steps, low, high, color=colour, alpha=0.12, lw=0)
    titles = (
        "held-out pass@1",
        "KL(sampler ‖ trainer) per completion (nats)",
        f"share masked by {cfg.is_mode} (C_max = {cfg.is_clip_max:g})",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("RL step (one optimiser step each)")
    axes[1].set_yscale("symlog", linthresh=1e-6)
    axes[0].legend(fontsize=7, ncol=2)
    seeds = [r["seed"] for r in results]
    fig.suptitle(f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}")
    fig.tight_layout()
    return common.save_figure(fig, path)


# --8<-- [end:plot]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Train every arm from a shared start per seed; print the headline metrics as one JSON line."""
    outputs = {"plot": "save the pass@1, KL and masked-share curves (PNG)"}
    parser = common.config_parser(
        Config, __doc__, __spec__, quick=QUICK, outputs=outputs, skip=SKIP
    )
    cfg, args = common.parse_config(parser, argv)
    if len(set(cfg.arm)) < len(cfg.arm):
        parser.error("argument --arm: an arm is named twice")
    if cfg.is_clip_min >= cfg.is_clip_max:
        parser.error("argument --is-clip-min: must be below --is-clip-max")
    torch.set_num_threads(1)  # a 100k-parameter model: one thread is fastest
    seeds = list(range(args.seed, args.seed + cfg.seeds))
    results = run_seeds(cfg, seeds)
    if args.plot:
        plot_curves(results, cfg, args.plot)
    return common.emit_metrics(headline(results, cfg) | {"seeds": seeds})


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
