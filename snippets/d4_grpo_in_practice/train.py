"""Lesson D4, training with diagnostics: any loss variant on three-digit sums, every step logged.

One run pretrains the tiny GPT-2 to partial skill (D3's band rule), measures pass@k, then
trains each asked-for variant from that same start, with the same seed, and measures again.
Each step samples ``G`` completions per prompt, scores them with the checker, and takes
several optimiser steps on the batch (``epochs`` x ``minibatches``), so that the ratio moves
away from 1 and the clip can bind. Every step logs what a practitioner watches: entropy, the
share of groups whose rewards all agree, the clip fractions, completion length and
truncation, the on-policy loss, and pass@1 on held-out problems.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch

from snippets import common, curves
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import rlvr
from snippets.d4_grpo_in_practice import variants

# --8<-- [end:imports]

Arm = Literal["grpo", "dapo", "dr_grpo", "gspo", "cispo", "clip_higher"]
ARMS: tuple[str, ...] = ("grpo", "dapo", "dr_grpo", "gspo", "cispo", "clip_higher")


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """The sums task, its pretraining band and the RL run of each variant."""

    variant: tuple[Arm, ...] = ("grpo",)  # variants to train, each from the same start
    terms: Annotated[int, common.Range(2)] = 2  # operands per sum
    digits: common.PosInt = 3  # digits per operand
    correct_fraction: common.Prob = 0.35  # share of right answers in the pretraining data
    pretrain: Literal["band", "fixed"] = "band"  # until pass@1 is in the band, or fixed steps
    pretrain_steps: common.PosInt = 400  # "fixed": exactly this many next-token steps
    band_low: common.Prob = 0.15  # stop pretraining once held-out pass@1 is at least this ...
    band_high: common.Prob = 0.40  # ... and at most this (D3's partial-skill band)
    band_check_every: common.PosInt = 50  # pretraining steps between two checks
    band_max_steps: common.PosInt = 4000  # never pretrain longer than this
    band_problems: common.PosInt = 256  # problems of each band check
    pretrain_batch: common.PosInt = 128  # sums per pretraining step
    pretrain_lr: common.PosFloat = 3e-3  # AdamW learning rate for pretraining
    steps: common.PosInt = 60  # RL steps (sampling rounds)
    prompts_per_step: common.PosInt = 32  # problems per step
    group_size: Annotated[int, common.Range(2)] = 8  # G: samples per problem
    epochs: common.PosInt = 2  # passes over each batch ...
    minibatches: common.PosInt = 2  # ... in this many optimiser steps each
    lr: common.PosFloat = 1e-3  # Adam learning rate for RL
    epsilon: common.Prob = 0.2  # clip range ε (ε_low for DAPO)
    epsilon_high: common.PosFloat = 0.28  # DAPO's clip-higher ε_high
    gspo_epsilon: common.PosFloat = 3e-4  # GSPO's ε_low on the sequence ratio (its paper's)
    gspo_epsilon_high: common.PosFloat = 4e-4  # GSPO's ε_high
    cispo_cap: common.PosFloat = 5.0  # CISPO's cap on the weight (TRL: epsilon_high)
    beta: common.NonNegFloat = 0.0  # weight of the k3 KL to the start (TRL's default: 0)
    dynamic_sampling: bool = True  # DAPO: drop groups that all agree and sample more
    max_refill: common.NonNegInt = 3  # DAPO: extra sampling rounds at most per step
    overlong: Literal["shape", "mask", "none"] = "shape"  # DAPO: how to treat long answers
    overlong_cache: common.NonNegInt = 2  # DAPO: width of the length penalty's ramp
    max_new_tokens: common.PosInt = 7  # completion length limit (answers need at most 5)
    temperature: common.PosFloat = 1.0  # sampling temperature (also of the entropy)
    heldout_problems: common.PosInt = 128  # held-out problems for pass@1 at every step
    eval_problems: common.PosInt = 100  # held-out problems for pass@k at the start and end
    eval_samples: common.PosInt = 64  # samples per problem: pass@k for k up to this
    collapse_fraction: common.Prob = 0.5  # "entropy collapsed": below this share of step 1's
    no_signal_share: common.Prob = 0.9  # "no signal": at least this share of groups agree
    n_layer: common.PosInt = 2  # GPT-2 layers
    n_embd: common.PosInt = 64  # GPT-2 width


# One-digit sums reach the band in a few dozen steps: the lab's and the tests' short setting.
ONE_DIGIT = {
    "digits": 1,
    "band_check_every": 25,
    "prompts_per_step": 16,
    "max_new_tokens": 4,
    "heldout_problems": 64,
}


# --8<-- [end:config]


# --8<-- [start:arms]
@dataclass(frozen=True)
class Recipe:
    """One variant as trained: its loss settings and DAPO's two sampling-side options."""

    loss: variants.LossSettings
    dynamic_sampling: bool = False
    overlong: str = "none"


def recipe(name: str, cfg: Config) -> Recipe:
    """The loss and options of each arm; ``clip_higher`` is DAPO's loss alone (no sampling tricks)."""
    eps, beta = cfg.epsilon, cfg.beta
    if name in ("dapo", "clip_higher"):
        loss = variants.LossSettings("dapo", eps, cfg.epsilon_high, beta)
        if name == "dapo":
            return Recipe(loss, cfg.dynamic_sampling, cfg.overlong)
        return Recipe(loss)
    if name == "gspo":
        return Recipe(variants.LossSettings("gspo", cfg.gspo_epsilon, cfg.gspo_epsilon_high, beta))
    if name == "cispo":
        return Recipe(variants.LossSettings("cispo", eps, cfg.cispo_cap, beta))
    return Recipe(variants.LossSettings(name, eps, None, beta, max_len=cfg.max_new_tokens))


# --8<-- [end:arms]


def select(rollout: d2.Rollout, rows: torch.Tensor) -> d2.Rollout:
    """The completions of ``rollout`` where ``rows`` is True."""
    r = rollout
    return d2.Rollout(
        r.input_ids[rows],
        r.attention_mask[rows],
        r.prompt_length,
        r.response_mask[rows],
        r.finished[rows],
    )


def concat_rollouts(parts: list[d2.Rollout], pad_id: int) -> d2.Rollout:
    """Stack rollouts whose completion blocks differ in width (``generate`` stops early)."""
    width = max(r.input_ids.shape[1] for r in parts)

    def pad(x: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)

    cut = parts[0].prompt_length
    return d2.Rollout(
        input_ids=torch.cat([pad(r.input_ids, pad_id) for r in parts]),
        attention_mask=torch.cat([pad(r.attention_mask, 0) for r in parts]),
        prompt_length=cut,
        response_mask=torch.cat([pad(r.response_mask, 0)[:, : width - cut] for r in parts]),
        finished=torch.cat([r.finished for r in parts]),
    )


# --8<-- [start:collect]
def collect(lm, tokenizer, rng: np.random.Generator, cfg: Config, how: Recipe) -> tuple:
    """Sample ``G`` answers for each of ``prompts_per_step`` problems and score them.

    With DAPO's dynamic sampling, groups whose ``G`` rewards all agree (advantage 0: no
    gradient) are dropped and more problems are sampled, up to ``max_refill`` extra rounds,
    until the batch holds ``prompts_per_step`` groups that teach.

    Returns:
        ``(rollout, rewards, zero_std, groups_sampled)``: ``zero_std`` is the share of groups
        of the *first* round whose rewards all agree (what plain GRPO trains on).
    """
    G, want = cfg.group_size, cfg.prompts_per_step
    parts, scores, zero_std, sampled, first = [], [], None, 0, None
    for _ in range(1 + (cfg.max_refill if how.dynamic_sampling else 0)):
        problems = rlvr.sample_problems(rng, want, cfg.digits, cfg.terms)
        rollout, rewards = rlvr.sample_and_check(lm, tokenizer, np.repeat(problems, G, 0), cfg)
        sampled, first = sampled + want, first or (rollout, rewards)
        keep = variants.dynamic_sampling_keep(rewards, G)
        zero_std = (1.0 - keep.float().mean()).item() if zero_std is None else zero_std
        if not how.dynamic_sampling:
            break
        rows = keep.repeat_interleave(G)
        parts.append(select(rollout, rows))
        scores.append(rewards[rows])
        if sum(len(s) for s in scores) >= want * G:
            break
    if not how.dynamic_sampling or not sum(len(s) for s in scores):
        return *first, zero_std, sampled  # every group agreed: a batch with no gradient
    rollout = concat_rollouts(parts, tokenizer.pad_token_id)
    keep_n = torch.arange(len(rollout.finished)) < want * G
    return select(rollout, keep_n), torch.cat(scores)[: want * G], zero_std, sampled


# --8<-- [end:collect]


# --8<-- [start:update]
def update(
    lm,
    optimizer,
    rollout: d2.Rollout,
    rewards: torch.Tensor,
    cfg: Config,
    how: Recipe,
    rng: np.random.Generator,
    ref_lm=None,
    weight: torch.Tensor | None = None,
) -> dict[str, float]:
    """Shape the rewards, compute advantages, and take ``epochs x minibatches`` optimiser steps.

    ``old_logps`` are computed once, before the first step; every later minibatch sees a
    policy that has already moved, so its ratio differs from 1 and the clip can bind.
    ``weight`` (D6: the importance weight of a sampler that is not the trainer, per token or
    per completion) multiplies each token's policy loss; None leaves it as it is.

    Returns:
        Entropy, length, truncation, the first (on-policy) loss and the mean clip fractions.
    """
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    mask = rollout.response_mask.float()
    lengths, truncated = mask.sum(1), ~rollout.finished
    if how.overlong == "shape":  # DAPO's soft penalty on long answers, added to the reward
        rewards = rewards + variants.overlong_penalty(
            lengths, cfg.max_new_tokens, cfg.overlong_cache
        )
    if how.overlong == "mask":  # or: truncated answers leave the loss
        mask = variants.mask_truncated(mask, truncated)
    adv = variants.advantages(how.loss.variant, rewards, cfg.group_size)
    with torch.no_grad():
        logits = d2.lm_forward(lm, ids, attn)[0]
        old = d2.response_logprobs(logits, ids, p, cfg.temperature)
        dist = torch.log_softmax(logits[:, p - 1 : -1] / cfg.temperature, dim=-1)
        entropy = ((-(dist.exp() * dist).sum(-1) * mask).sum() / mask.sum().clamp_min(1)).item()
        ref = (
            None
            if ref_lm is None
            else d2.response_logprobs(d2.lm_forward(ref_lm, ids, attn)[0], ids, p, cfg.temperature)
        )
    losses, clips = [], []
    for _ in range(cfg.epochs):
        for rows in np.array_split(rng.permutation(len(ids)), cfg.minibatches):
            rows = torch.as_tensor(rows)
            logps = d2.response_logprobs(
                d2.lm_forward(lm, ids[rows], attn[rows])[0], ids[rows], p, cfg.temperature
            )
            loss, stats = variants.variant_loss(
                how.loss,
                logps,
                old[rows],
                adv[rows],
                mask[rows],
                None if ref is None else ref[rows],
                None if weight is None else weight[rows],
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            clips.append((stats["clip_low_frac"], stats["clip_high_frac"]))
    low, high = np.mean(clips, axis=0)
    return {
        "entropy": entropy,
        "length": lengths.mean().item(),
        "truncated": truncated.float().mean().item(),
        "loss": losses[0],
        "clip_low": float(low),
        "clip_high": float(high),
    }


# --8<-- [end:update]


# --8<-- [start:train]
# logged at every step
HISTORY = (
    "reward",
    "pass_at_1",
    "entropy",
    "zero_std",
    "clip_low",
    "clip_high",
    "length",
    "truncated",
    "loss",
    "groups_sampled",
)


def train_arm(lm, tokenizer, name: str, cfg: Config, seed: int, heldout: np.ndarray) -> dict:
    """Train one variant from ``lm``'s current weights; log every diagnostic at every step."""
    how = recipe(name, cfg)
    rng = common.seed_everything(seed + 1)  # every arm sees the same random stream
    ref_lm = None
    if cfg.beta > 0:
        ref_lm = rlvr.build_model(cfg, tokenizer).requires_grad_(False)
        ref_lm.load_state_dict(lm.state_dict())
    optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
    history: dict[str, list[float]] = {key: [] for key in HISTORY}
    for _ in common.progress(range(cfg.steps), desc=f"{name} on sums"):
        rollout, rewards, zero_std, sampled = collect(lm, tokenizer, rng, cfg, how)
        stats = update(lm, optimizer, rollout, rewards, cfg, how, rng, ref_lm)
        pass_at_1 = rlvr.sample_and_check(lm, tokenizer, heldout, cfg)[1].mean().item()
        stats |= {
            "reward": rewards.mean().item(),
            "zero_std": zero_std,
            "pass_at_1": pass_at_1,
            "groups_sampled": float(sampled),
        }
        for key in HISTORY:
            history[key].append(stats[key])
    return history


def collapse_step(entropy: list[float], fraction: float, window: int = 5) -> int | None:
    """The first step whose ``window``-step mean entropy is below ``fraction`` of step 1's, or None."""
    smooth = np.convolve(entropy, np.ones(window) / window, mode="valid")
    below = np.flatnonzero(smooth < fraction * entropy[0])
    return int(below[0]) + window if len(below) else None


def no_signal_step(zero_std: list[float], share: float, window: int = 5) -> int | None:
    """The first step whose ``window``-step mean share of zero-std groups is at least ``share``.

    From there on nearly every group agrees (all wrong, or all right): nearly every advantage
    is 0, and the policy gradient has almost nothing left to follow.
    """
    smooth = np.convolve(zero_std, np.ones(window) / window, mode="valid")
    above = np.flatnonzero(smooth >= share)
    return int(above[0]) + window if len(above) else None


# --8<-- [end:train]


# --8<-- [start:run]
def run(cfg: Config, seed: int, trainers: dict | None = None) -> dict:
    """Pretrain to the band, measure pass@k, train every asked-for variant from there, measure.

    ``trainers`` maps a name to a function like :func:`train_arm` (D6 trains its own arms from
    the same start); None trains each of ``cfg.variant`` with :func:`train_arm`.

    Returns:
        The pretraining checks, pass@k before, and per variant: its history, pass@k after,
        its collapse step and its seconds.
    """
    rng = common.seed_everything(seed)
    tokenizer = rlvr.build_tokenizer()
    lm = rlvr.build_model(cfg, tokenizer)
    draw = lambda offset, n: rlvr.sample_problems(  # noqa: E731 - three held-out sets
        np.random.default_rng(seed + offset * curves.EVAL_SEED_OFFSET), n, cfg.digits, cfg.terms
    )
    with common.Stopwatch() as pretraining:
        checks = rlvr.pretrain(lm, tokenizer, cfg, rng, draw(2, cfg.band_problems))
    eval_problems, heldout = draw(1, cfg.eval_problems), draw(3, cfg.heldout_problems)
    common.seed_everything(seed + 2)  # pass@k's samples do not depend on what came before
    before = rlvr.pass_at_k_curve(lm, tokenizer, eval_problems, cfg)
    start = {k: v.clone() for k, v in lm.state_dict().items()}
    arms = {}
    for name, train in (trainers or dict.fromkeys(cfg.variant, train_arm)).items():
        lm.load_state_dict(start)
        with common.Stopwatch() as clock:
            history = train(lm, tokenizer, name, cfg, seed, heldout)
        after = rlvr.pass_at_k_curve(lm, tokenizer, eval_problems, cfg)
        arms[name] = {
            "history": history,
            "pass_at_k": after,
            "seconds": clock.seconds,
            "collapse_step": collapse_step(history["entropy"], cfg.collapse_fraction),
            "no_signal_step": no_signal_step(history["zero_std"], cfg.no_signal_share),
        }
    used = checks[-1][0] if checks else cfg.pretrain_steps
    return {
        "pretrain_checks": checks,
        "pretrain_steps_used": used,
        "seconds_pretrain": pretraining.seconds,
        "pass_at_k_before": before,
        "arms": arms,
    }


def headline(result: dict) -> dict:
    """The flat numbers of a run: per variant the pass@1 gain, pass@64 change, final entropy..."""
    before = result["pass_at_k_before"]
    k = max(before)
    out = {
        "pass_at_1_before": before[1],
        f"pass_at_{k}_before": before[k],
        "pretrain_steps_used": result["pretrain_steps_used"],
    }
    for name, a in result["arms"].items():
        h = a["history"]
        out |= {
            f"pass_at_1_after_{name}": a["pass_at_k"][1],
            f"pass_at_1_gain_{name}": a["pass_at_k"][1] - before[1],
            f"pass_at_{k}_change_{name}": a["pass_at_k"][k] - before[k],
            f"final_entropy_{name}": float(np.mean(h["entropy"][-5:])),
            f"zero_std_{name}": float(np.mean(h["zero_std"])),
            f"entropy_first_{name}": h["entropy"][0],
            f"clip_low_{name}": float(np.mean(h["clip_low"])),
            f"clip_high_{name}": float(np.mean(h["clip_high"])),
            f"truncated_{name}": float(np.mean(h["truncated"])),
            f"groups_sampled_{name}": float(np.mean(h["groups_sampled"])),
            f"collapse_step_{name}": a["collapse_step"],
            f"no_signal_step_{name}": a["no_signal_step"],
            f"seconds_{name}": a["seconds"],
        }
    return out


# --8<-- [end:run]
