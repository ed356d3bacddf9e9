"""Lesson D6, mismatch measured exactly: a sampler that is not the trainer, on D4's testbed.

Production RL for language models samples with one engine (vLLM, SGLang) and trains with
another (FSDP, Megatron), often from weights a few steps old. The tokens then come from a
sampler ``μ`` while the gradient is wanted for the trainer ``π_θ``. On D4's testbed every
sequence of every prompt can be enumerated, so the expected gradient of an estimator that
samples from ``μ`` is an exact sum, and its bias against the true ``∇J(θ)`` is a number.

The sampler differs from the trainer in the four ways real systems do: ``k`` optimiser steps
stale, logits rounded to bf16, another temperature, top-p truncation. Each correction is a
weight on each token's (or each sequence's) term, computed as TRL 1.16 computes its
``importance_sampling_ratio`` (``vllm_importance_sampling_mode``); the bias–variance trade-off
of the cap ``C`` is measured with the mean exact and the variance sampled.
"""

# --8<-- [start:imports]
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Annotated

import torch

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import exact as d3_exact
from snippets.d4_grpo_in_practice import exact as d4_exact
from snippets.d6_sampler_trainer_mismatch.correction import Mode, corrections, is_weights

# --8<-- [end:imports]

EXACT = 1e-10  # relative gradient error below which a correction counts as unbiased


# --8<-- [start:config]
CAPS = (1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 1e6)  # the caps C of the bias–variance table


@dataclass(frozen=True)
class Config:
    """D4's testbed, the four ways the sampler departs from the trainer, and the corrections."""

    vocab: Annotated[int, common.Range(2, 6)] = 6  # tokens: vocab**length sequences per prompt
    length: Annotated[int, common.Range(3, 5)] = 5  # tokens per sequence
    scale: common.PosFloat = 0.5  # std of the random logits (D4's)
    stale_steps: tuple[common.PosInt, ...] = (1, 4, 16)  # k: the trainer is k steps ahead
    learning_rate: common.PosFloat = 2.0  # step size of each exact ascent step on Σ_x p_x
    temperature: common.PosFloat = 1.2  # the sampler's temperature (the trainer's is 1)
    top_p: Annotated[float, common.Range(0, 1, low_open=True)] = 0.9  # the sampler's nucleus
    clip_min: common.NonNegFloat = 0.0  # C_min of TRL's modes (0: TRL's None, no floor)
    clip_max: common.PosFloat = 3.0  # C_max: TRL's default cap, and the band of masked IS
    caps: tuple[common.PosFloat, ...] = CAPS  # C of the bias–variance table (1e6: no cap)
    batch: common.PosInt = 64  # sequences per prompt in one sampled gradient
    batches: common.PosInt = 200  # sampled gradients per cap, for the variance


# --8<-- [end:config]


# --8<-- [start:mismatch]
def ascend(
    logits: torch.Tensor, rewards: torch.Tensor, length: int, steps: int, lr: float
) -> torch.Tensor:
    """``steps`` exact gradient-ascent steps on every prompt's pass rate: the trainer after them."""
    for _ in range(steps):
        grads = [
            d4_exact.pass_rate_and_gradient(lg, r, length)[1]
            for lg, r in zip(logits, rewards, strict=True)
        ]
        logits = logits + lr * torch.stack(grads)
    return logits


def nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Top-p truncation as vLLM samples: the rest of the vocabulary gets logit ``-inf``.

    The most likely tokens are kept until their mass reaches ``top_p``, the token that
    crosses it included; the sampler renormalises over them.
    """
    probs, order = logits.softmax(dim=-1).sort(dim=-1, descending=True)
    before = probs.cumsum(dim=-1) - probs  # the mass of the tokens ranked above each one
    drop = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= top_p)
    return logits.masked_fill(drop, -math.inf)


def mismatches(cfg: Config, logits: torch.Tensor, rewards: torch.Tensor) -> dict:
    """Each case as ``(sampler_logits, trainer_logits)``: the tokens come from the first."""
    cases = {
        f"stale_{k}": (logits, ascend(logits, rewards, cfg.length, k, cfg.learning_rate))
        for k in cfg.stale_steps
    }
    cases["bf16"] = (logits.to(torch.bfloat16).double(), logits)
    cases["temperature"] = (logits / cfg.temperature, logits)
    cases["top_p"] = (nucleus(logits, cfg.top_p), logits)
    return cases


# --8<-- [end:mismatch]


# --8<-- [start:expected]
def expected_gradient(
    sampler_logits: torch.Tensor,
    trainer_logits: torch.Tensor,
    reward: torch.Tensor,
    length: int,
    correction: tuple[Mode, float, float] | None,
) -> torch.Tensor:
    """``E_{y~μ}[Σ_t w_t(y) A(y) ∇log π_θ(y_t|y_<t)]``, exactly, for one prompt.

    ``A(y) = r(y) − E_μ[r]``: the reward less the sampler's pass rate (the baseline a batch
    from the sampler estimates). ``w_t`` is the correction's weight (1 for none). A sequence
    the sampler never draws (``μ(y) = 0``, after top-p) is left out: it is never seen.
    """
    theta = trainer_logits.detach().requires_grad_()
    logp = d4_exact.token_logprobs(theta, length)  # (sequences, T) under the trainer
    mu_logp = d4_exact.token_logprobs(sampler_logits, length)
    mu = mu_logp.sum(dim=-1).exp()
    seen = mu > 0
    logp, mu_logp, mu, reward = logp[seen], mu_logp[seen], mu[seen], reward[seen]
    advantage = reward - (mu * reward).sum()
    weight = torch.ones(1, 1, dtype=logp.dtype)
    if correction is not None:
        weight = is_weights(logp.detach(), mu_logp, torch.ones_like(mu_logp), *correction)
    surrogate = (mu * advantage)[:, None] * weight * logp
    (grad,) = torch.autograd.grad(surrogate.sum(), theta)
    return grad


def expected_gradients(
    sampler: torch.Tensor,
    trainer: torch.Tensor,
    rewards: torch.Tensor,
    length: int,
    correction: tuple[Mode, float, float] | None,
) -> torch.Tensor:
    """:func:`expected_gradient` of every prompt, stacked: one block of parameters each."""
    return torch.stack(
        [
            expected_gradient(s, t, r, length, correction)
            for s, t, r in zip(sampler, trainer, rewards, strict=True)
        ]
    )


def true_gradient(trainer_logits: torch.Tensor, rewards: torch.Tensor, length: int) -> torch.Tensor:
    """``∇_θ Σ_x p_x(θ)``, one block per prompt: the on-policy gradient of the trainer."""
    return torch.stack(
        [
            d4_exact.pass_rate_and_gradient(lg, r, length)[1]
            for lg, r in zip(trainer_logits, rewards, strict=True)
        ]
    )


# --8<-- [end:expected]


# --8<-- [start:table]
def distance(
    sampler_logits: torch.Tensor,
    trainer_logits: torch.Tensor,
    length: int,
    band: tuple[float, float],
) -> dict:
    """How far apart sampler and trainer are, each a mean over prompts.

    ``kl_sampler_trainer`` is ``KL(μ‖π_θ)`` of whole sequences (over those ``μ`` draws);
    ``max_log_ratio`` is the largest ``|log π_θ(y)/μ(y)|`` of a sequence ``μ`` draws (the
    log of the ratio TRL's ``sequence_*`` modes clamp or mask); ``masked_mass`` is the
    trainer's probability of the drawn sequences whose ratio leaves ``band`` (those
    ``sequence_mask`` drops); ``unseen_mass`` its probability of those ``μ`` never draws.
    """
    found: dict[str, list[float]] = {k: [] for k in ("kl", "span", "masked", "unseen")}
    for s, t in zip(sampler_logits, trainer_logits, strict=True):
        mu, pi = (d4_exact.token_logprobs(lg, length).sum(dim=-1) for lg in (s, t))
        seen = mu > -math.inf
        mu, pi, unseen = mu[seen], pi[seen], pi[~seen].exp().sum().item()
        ratio = (pi - mu).exp()
        outside = (ratio < band[0]) | (ratio > band[1])
        found["kl"].append((mu.exp() * (mu - pi)).sum().item())
        found["span"].append((pi - mu).abs().max().item())
        found["masked"].append(pi[outside].exp().sum().item())
        found["unseen"].append(unseen)
    mean = {k: sum(v) / len(v) for k, v in found.items()}
    return {
        "kl_sampler_trainer": mean["kl"],
        "max_log_ratio": mean["span"],
        "masked_mass": mean["masked"],
        "unseen_mass": mean["unseen"],
    }


def bias_table(cfg: Config, logits: torch.Tensor, rewards: torch.Tensor) -> dict:
    """Every mismatch × correction: its expected gradient against the trainer's true one.

    Each row holds the cosine, the relative error ``‖E[ĝ] − ∇J‖/‖∇J‖`` and whether it is
    below ``EXACT`` (unbiased up to float64 rounding), beside the mismatch's :func:`distance`.
    """
    table = {}
    for name, (sampler, trainer) in mismatches(cfg, logits, rewards).items():
        true = true_gradient(trainer, rewards, cfg.length)
        rows = {}
        for fix, spec in corrections(cfg.clip_min, cfg.clip_max).items():
            grad = expected_gradients(sampler, trainer, rewards, cfg.length, spec)
            error = d3_exact.relative_error(grad, true)
            rows[fix] = {
                "cosine": d4_exact.cosine(grad, true),
                "relative_error": error,
                "unbiased": error < EXACT,
            }
        band = (cfg.clip_min, cfg.clip_max)
        table[name] = distance(sampler, trainer, cfg.length, band) | {"corrections": rows}
    return table


# --8<-- [end:table]


# --8<-- [start:variance]
def sampled_gradients(
    sampler_logits: torch.Tensor,
    trainer_logits: torch.Tensor,
    reward: torch.Tensor,
    length: int,
    correction: tuple[Mode, float, float] | None,
    picked: torch.Tensor,
) -> torch.Tensor:
    """The estimate ``(1/B) Σ_i Σ_t w_t A_i ∇log π_θ(y_t|y_<t)`` of each sampled batch.

    In a tabular policy ``∇log π_θ(y_t|y_<t)`` is ``onehot(y_t) − π_θ(·|y_<t)`` in the row of
    the prefix ``y_<t``, zero elsewhere; the batches are scattered into their rows.

    Args:
        sampler_logits: ``μ``'s tabular logits (one prompt).
        trainer_logits: ``π_θ``'s, the same shape.
        reward: the prompt's reward of every sequence.
        length: ``T``, tokens per sequence.
        correction: TRL's ``(mode, C_min, C_max)``, or ``None`` for no weight.
        picked: ``(batches, B)`` indices of the sequences each batch drew from ``μ``.

    Returns:
        ``(batches, rows, V)``: one gradient estimate per batch.
    """
    seqs, rows = d4_exact.enumerate_sequences(trainer_logits.shape[-1], length)
    logp = d4_exact.token_logprobs(trainer_logits, length)
    mu_logp = d4_exact.token_logprobs(sampler_logits, length)
    mu = mu_logp.sum(dim=-1).exp()
    advantage = reward - (mu * reward).sum()
    weight = torch.ones_like(logp)
    if correction is not None:
        weight = is_weights(logp, mu_logp, torch.ones_like(mu_logp), *correction).expand_as(logp)
    coef = (weight * advantage[:, None])[picked] / picked.shape[1]  # (batches, B, T)
    pi = trainer_logits.softmax(dim=-1)
    h, y = rows[picked], seqs[picked]
    score = torch.nn.functional.one_hot(y, pi.shape[-1]).double() - pi[h]  # (batches, B, T, V)
    out = torch.zeros(len(picked), *pi.shape, dtype=torch.float64)
    batch = torch.arange(len(picked))[:, None, None].expand_as(h)
    out.index_put_((batch, h), coef[..., None] * score, accumulate=True)
    return out


def cap_tradeoff(
    cfg: Config, sampler: torch.Tensor, trainer: torch.Tensor, rewards: torch.Tensor, seed: int
) -> dict:
    """Bias (exact) and variance (sampled) of token- and sequence-level truncated IS, by cap C.

    For each cap: ``bias² = ‖E[ĝ] − ∇J‖²/‖∇J‖²`` with the mean exact, and
    ``variance = E‖ĝ − E[ĝ]‖²/‖∇J‖²`` over ``batches`` sampled batches of ``batch``
    sequences per prompt, measured around the exact mean; their sum is the relative MSE.
    """
    g = torch.Generator().manual_seed(seed)
    true = true_gradient(trainer, rewards, cfg.length)
    signal = true.square().sum().item()
    mus = [d4_exact.token_logprobs(s, cfg.length).sum(dim=-1).exp() for s in sampler]
    picks = [
        torch.multinomial(mu.expand(cfg.batches, -1), cfg.batch, True, generator=g) for mu in mus
    ]
    out: dict = {"caps": list(cfg.caps), "batch": cfg.batch, "batches": cfg.batches}
    for mode in ("token_truncate", "sequence_truncate"):
        found: dict[str, list[float]] = {"bias2": [], "variance": [], "mse": []}
        for cap in cfg.caps:
            spec: tuple[Mode, float, float] = (mode, cfg.clip_min, cap)
            args = list(zip(sampler, trainer, rewards, picks, strict=True))
            means = [expected_gradient(s, t, r, cfg.length, spec) for s, t, r, _ in args]
            spread = sum(
                (sampled_gradients(s, t, r, cfg.length, spec, p) - m).square().sum().item()
                for (s, t, r, p), m in zip(args, means, strict=True)
            ) / (cfg.batches * signal)
            bias2 = (torch.stack(means) - true).square().sum().item() / signal
            for key, value in (("bias2", bias2), ("variance", spread), ("mse", bias2 + spread)):
                found[key].append(value)
        out[mode] = found
    return out


# --8<-- [end:variance]


# --8<-- [start:plot]
def plot_tradeoff(tradeoff: dict, path: str, title: str) -> str:
    """Two panels, token- and sequence-level truncation: bias², variance and MSE against C."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, mode in zip(axes, ("token_truncate", "sequence_truncate"), strict=True):
        for key, label in (("bias2", "bias²"), ("variance", "variance"), ("mse", "MSE")):
            ax.loglog(tradeoff["caps"], tradeoff[mode][key], "o-", label=label)
        ax.set(xlabel="cap C", title=f"{mode} ({title})")
    axes[0].set(ylabel="relative to ‖∇J‖²", ylim=(1e-4, None))  # uncapped bias² is ~1e-29
    axes[0].legend()
    return common.save_figure(fig, path)


# --8<-- [end:plot]


# --8<-- [start:main]
def mismatch_tables(cfg: Config, seed: int) -> dict:
    """D4's five prompts and random logits: the bias table, and the cap trade-off (stalest)."""
    logits = d4_exact.draw_logits(d4_exact.Config(cfg.vocab, cfg.length, cfg.scale), seed, 5)
    rewards = d4_exact.pass_fail(cfg.vocab, cfg.length)
    stalest = f"stale_{max(cfg.stale_steps)}"
    sampler, trainer = mismatches(cfg, logits, rewards)[stalest]
    return {
        "bias": bias_table(cfg, logits, rewards),
        "tradeoff": {"case": stalest} | cap_tradeoff(cfg, sampler, trainer, rewards, seed),
    }


def main(argv: list[str] | None = None) -> dict:
    """Print, as one JSON line, the exact bias of every correction under every mismatch."""
    quick = {"vocab": 3, "length": 3, "batches": 50}
    outputs = {"plot": "save the bias–variance figure as a PNG"}
    parser = common.config_parser(Config, __doc__, __spec__, quick=quick, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    if cfg.clip_min >= cfg.clip_max:
        parser.error("argument --clip-min: must be below --clip-max (TRL refuses it too)")
    torch.set_num_threads(1)  # many small tensor ops: threads only add overhead
    found = mismatch_tables(cfg, args.seed)
    if args.plot:
        plot_tradeoff(found["tradeoff"], args.plot, found["tradeoff"]["case"])
    return common.emit_metrics({**found, **asdict(cfg), "seed": args.seed})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
