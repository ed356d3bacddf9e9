"""Lesson D4, the exact testbed: every estimator's expected gradient, by enumeration.

D3's ``exact`` module enumerates the sequences of a small tabular policy to test its KL terms.
This module extends it into the lesson's testbed. Every prompt ``x`` has its own tabular policy
over sequences of ``length`` tokens from a vocabulary of ``vocab``, and a pass/fail reward: a
sequence passes when its count of token 0 lies in the prompt's window. The pass rate
``p_x = Σ_y P_θ(y|x) r(x, y)`` is an exact sum, and so is the gradient of every estimator:

- **advantages**: REINFORCE with and without the true baseline, RLOO, GRPO and Dr. GRPO.
  A group estimator's expectation over groups of ``G`` is a sum over the binomial count of
  successes among the other ``G − 1`` completions (the reward is binary);
- **KL terms**: k1, k2 and k3, in the reward or in the loss, with or without TRL's ratio,
  against the true gradients of the reverse and forward KL, per token and per sequence;
- **variance**: sampled groups of each size, measured around the exact expected gradient.
"""

# --8<-- [start:imports]
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

import torch

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import exact as d3_exact
from snippets.d3_grpo_rloo_and_dpo import losses

# --8<-- [end:imports]

Estimator = Literal["reinforce", "baseline", "rloo", "grpo", "dr_grpo"]
ESTIMATORS: tuple[Estimator, ...] = ("reinforce", "baseline", "rloo", "grpo", "dr_grpo")
WINDOWS = ((3, 5), (2, 5), (0, 0), (1, 5), (0, 2))  # a prompt passes if lo <= #(token 0) <= hi
KINDS = ("k1", "k2", "k3")
WEIGHT_GRID = (0.02, 0.1, 0.3, 0.5)  # pass rates of the closed-form weight table (w(1 − p) = w(p))
EXACT = 1e-8  # relative gradient error below which two float64 gradients are the same


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """The testbed: tabular policies, one per prompt, and the sampled variance (float64)."""

    vocab: Annotated[int, common.Range(2, 6)] = 6  # tokens: vocab**length sequences per prompt
    length: Annotated[int, common.Range(3, 5)] = 5  # tokens per sequence
    scale: common.PosFloat = 0.5  # std of the random logits of every policy and the reference
    group_size: Annotated[int, common.Range(2, 64)] = 8  # G of the advantage table
    group_sizes: tuple[Annotated[int, common.Range(2, 64)], ...] = (2, 4, 8, 16, 32)  # variance
    groups: common.PosInt = 600  # sampled groups per prompt and group size


# --8<-- [end:config]


# --8<-- [start:testbed]
@functools.cache
def enumerate_sequences(vocab: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sequence, ``(V**T, T)`` in D3's order, and the logits row of each token's prefix."""
    seqs = d3_exact.all_sequences(vocab, length)
    columns = []
    for t in range(length):
        place = vocab ** torch.arange(t - 1, -1, -1)  # base-V digits of the prefix y_<t
        columns.append(d3_exact.num_prefixes(vocab, t) + (seqs[:, :t] * place).sum(dim=1))
    return seqs, torch.stack(columns, dim=1)


def token_logprobs(logits: torch.Tensor, length: int) -> torch.Tensor:
    """``log π_θ(y_t | y_<t)`` of every token of every sequence: D3's policy, one gather."""
    seqs, rows = enumerate_sequences(logits.shape[-1], length)
    return torch.log_softmax(logits, dim=-1)[rows, seqs]


def pass_fail(vocab: int, length: int) -> torch.Tensor:
    """The binary reward ``r(x, y)`` of every prompt and sequence: ``(prompts, V**T)``."""
    zeros = (enumerate_sequences(vocab, length)[0] == 0).sum(dim=1)
    return torch.stack([((lo <= zeros) & (zeros <= hi)).double() for lo, hi in WINDOWS])


def draw_logits(cfg: Config, seed: int, policies: int) -> torch.Tensor:
    """Random tabular logits, ``(policies, rows, V)``, N(0, scale²), seeded."""
    g = torch.Generator().manual_seed(seed)
    rows = d3_exact.num_prefixes(cfg.vocab, cfg.length)
    shape = (policies, rows, cfg.vocab)
    return cfg.scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def pass_rate_and_gradient(
    logits: torch.Tensor, reward: torch.Tensor, length: int
) -> tuple[float, torch.Tensor]:
    """``p = Σ_y P_θ(y) r(y)`` and its true gradient ``∇p`` (autograd through the sum)."""
    logits = logits.detach().requires_grad_()
    p = (token_logprobs(logits, length).sum(dim=-1).exp() * reward).sum()
    (grad,) = torch.autograd.grad(p, logits)
    return p.item(), grad


# --8<-- [end:testbed]


# --8<-- [start:advantages]
def advantage(estimator: Estimator, reward: float, others: int, G: int, p: float) -> float:
    """One completion's advantage, from its own reward and the successes among the others.

    ``others`` of the other ``G − 1`` completions of its group passed; ``p`` is the true pass
    rate (the baseline that knows it). GRPO, Dr. GRPO and RLOO call D3's own functions on the
    group ``(reward, 1 … 1, 0 … 0)``.
    """
    if estimator == "reinforce":
        return reward
    if estimator == "baseline":
        return reward - p
    group = torch.tensor([reward] + [1.0] * others + [0.0] * (G - 1 - others), dtype=torch.float64)
    if estimator == "rloo":
        return losses.rloo_advantages(group, G)[0].item()
    scale = "group" if estimator == "grpo" else "none"
    return losses.group_advantages(group, G, scale)[0].item()


def expected_advantage(estimator: Estimator, reward: float, G: int, p: float) -> float:
    """``a(r) = E[A | own reward r]``: a sum over ``S ~ Binomial(G − 1, p)`` successes."""
    return sum(
        math.comb(G - 1, s) * p**s * (1 - p) ** (G - 1 - s) * advantage(estimator, reward, s, G, p)
        for s in range(G)
    )


def expected_gradient(
    logits: torch.Tensor, reward: torch.Tensor, length: int, estimator: Estimator, G: int
) -> torch.Tensor:
    """``E[(1/G) Σ_i A_i ∇log P_θ(y_i)] = Σ_y P_θ(y) a(r(y)) ∇log P_θ(y)``, exactly.

    By symmetry every completion of a group has the same expected term; given its own
    reward, the others enter only through their count of successes.
    """
    logits = logits.detach().requires_grad_()
    logp = token_logprobs(logits, length).sum(dim=-1)  # log P_θ(y)
    prob = logp.exp().detach()  # a sample, once drawn, does not move with θ
    p = (prob * reward).sum().item()
    a = torch.tensor(
        [expected_advantage(estimator, r, G, p) for r in (0.0, 1.0)], dtype=torch.float64
    )
    surrogate = (prob * a[reward.long()] * logp).sum()
    (grad,) = torch.autograd.grad(surrogate, logits)
    return grad


# --8<-- [end:advantages]


# --8<-- [start:closed-form]
def grpo_weight(p: float, G: int, eps: float = losses.STD_EPS) -> float:
    """GRPO's weight ``w_G(p)`` in ``E[ĝ] = w_G(p) ∇p``, in closed form.

    With ``k`` successes in the group, the Bessel-corrected std is ``σ_k = sqrt(k(G−k)/(G(G−1)))``;
    a success's advantage is ``(1 − k/G)/(σ_k + ε)``, a failure's ``−(k/G)/(σ_k + ε)``. Then
    ``w = a(1) − a(0) = Σ_s b(s) [(1 − (s+1)/G)/(σ_{s+1} + ε) + (s/G)/(σ_s + ε)]`` with
    ``b = Binomial(G − 1, p)``; it tends to ``1/sqrt(p(1 − p))`` as ``G`` grows.
    """

    def term(centred: float, k: int) -> float:  # 0 when the group agrees (centred = 0)
        return centred / (math.sqrt(k * (G - k) / (G * (G - 1))) + eps) if centred else 0.0

    return sum(
        math.comb(G - 1, s)
        * p**s
        * (1 - p) ** (G - 1 - s)
        * (term(1 - (s + 1) / G, s + 1) + term(s / G, s))
        for s in range(G)
    )


def closed_form_weight(estimator: Estimator, p: float, G: int) -> float:
    """Every estimator's ``w_G(p)``: 1 (unbiased), ``(G − 1)/G`` (Dr. GRPO), or GRPO's."""
    if estimator == "grpo":
        return grpo_weight(p, G)
    return (G - 1) / G if estimator == "dr_grpo" else 1.0


# --8<-- [end:closed-form]


# --8<-- [start:compare-advantages]
def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of the angle between two gradients."""
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


def advantage_table(logits: torch.Tensor, rewards: torch.Tensor, length: int, G: int) -> dict:
    """Each estimator's expected gradient against ``∇J``, ``J = mean_x p_x``, and its weights.

    The implied weight of prompt ``x`` is ``<E[ĝ_x], ∇p_x> / ‖∇p_x‖²``: the factor by which
    the estimator scales that prompt's share of the true gradient.
    """
    found = [pass_rate_and_gradient(lg, r, length) for lg, r in zip(logits, rewards, strict=True)]
    p = [pg[0] for pg in found]
    true = torch.stack([pg[1] for pg in found])  # ∇p_x: one block of parameters per prompt
    table = {}
    for estimator in ESTIMATORS:
        grads = torch.stack(
            [
                expected_gradient(lg, r, length, estimator, G)
                for lg, r in zip(logits, rewards, strict=True)
            ]
        )
        weights = [
            (g * t).sum().item() / (t * t).sum().item() for g, t in zip(grads, true, strict=True)
        ]
        table[estimator] = {
            "weights": weights,
            "closed_form": [closed_form_weight(estimator, px, G) for px in p],
            "cosine": cosine(grads, true),
            "relative_error": d3_exact.relative_error(grads, true),
            "norm_ratio": (grads.norm() / true.norm()).item(),
        }
    return {
        "group_size": G,
        "pass_rates": p,
        "inverse_std": [1 / math.sqrt(px * (1 - px)) for px in p],
        "estimators": table,
    }


# --8<-- [end:compare-advantages]


# --8<-- [start:kl-terms]
def kl_surrogate(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    kind: Literal["k1", "k2", "k3"],
    placement: Literal["loss", "reward"],
    ratio: bool,
) -> torch.Tensor:
    """The term whose gradient the update follows, one per sequence, from per-token ``k``.

    ``"loss"``: autograd differentiates ``Σ_t k_t`` at the sampled tokens. ``"reward"``:
    ``Σ_t k_t`` is detached and multiplies ``log P_θ(y)`` (the score function). With
    ``ratio``, each ``k_t`` is multiplied by ``ρ_t = π_θ/π_old``, ``π_old`` a detached copy:
    1 in value on fresh samples, ``∇ρ_t = ∇log π_θ`` (TRL's ``use_bias_correction_kl``).
    """
    log_r = ref_logp - logp  # log π_ref/π_θ of each sampled token, given its prefix
    k = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": losses.k3_kl(logp, ref_logp)}[kind]
    if ratio:
        k = torch.exp(logp - logp.detach()) * k
    if placement == "loss":
        return k.sum(dim=-1)
    return k.sum(dim=-1).detach() * logp.sum(dim=-1)


def token_kl_gradient(
    logits: torch.Tensor, ref_logits: torch.Tensor, length: int, direction: str
) -> torch.Tensor:
    """``∇ Σ_t E_{y_<t ~ P_θ}[KL_t]``, the next-token KLs with the prefixes' weights held fixed.

    ``"reverse"``: ``KL(π_θ(·|y_<t) ‖ π_ref(·|y_<t))``; ``"forward"``: the other way round.
    """
    logits = logits.detach().requires_grad_()
    rows = enumerate_sequences(logits.shape[-1], length)[1]
    mine, ref = torch.log_softmax(logits, -1)[rows], torch.log_softmax(ref_logits, -1)[rows]
    weight = token_logprobs(logits, length).sum(dim=-1).exp().detach()
    a, b = (mine, ref) if direction == "reverse" else (ref, mine)
    kl = (a.exp() * (a - b)).sum(dim=-1)  # (sequences, T): the full KL at each prefix
    (grad,) = torch.autograd.grad((weight[:, None] * kl).sum(), logits)
    return grad


# --8<-- [end:kl-terms]


# --8<-- [start:k3-loss-gradient]
def k3_loss_gradient(logits: torch.Tensor, ref_logits: torch.Tensor, length: int) -> torch.Tensor:
    """The exact expected gradient of GRPO's per-token k3 term, used as a loss.

    ``E_{y~P_θ}[∇_θ Σ_t k3_t(y)]`` with ``k3_t = r_t − 1 − log r_t`` and
    ``r_t = π_ref(y_t|y_<t)/π_θ(y_t|y_<t)``: each sequence's summed k3 is differentiated at its
    tokens and weighted by its probability ``P_θ(y)``, held fixed as a sample is.

    Args:
        logits: ``(num_prefixes(V, T), V)``: the tabular policy's logits, D3's row order.
        ref_logits: the reference policy's logits, the same shape.
        length: ``T``, tokens per sequence.

    Returns:
        The expected gradient, shaped like ``logits``.
    """
    logits = logits.detach().requires_grad_()
    logp, ref_logp = token_logprobs(logits, length), token_logprobs(ref_logits, length)
    weight = logp.sum(dim=-1).exp().detach()  # P_θ(y): the sample is data, not differentiated
    log_r = ref_logp - logp
    k3 = (log_r.exp() - 1 - log_r).sum(dim=-1)
    (grad,) = torch.autograd.grad((weight * k3).sum(), logits)
    return grad


# --8<-- [end:k3-loss-gradient]


# --8<-- [start:kl-table]
def verdict(grad: torch.Tensor, reverse: torch.Tensor, forward: torch.Tensor) -> str:
    """Which KL's gradient ``grad`` is: ``reverse``, ``forward``, ``zero`` or ``neither``."""
    if grad.norm() < EXACT * reverse.norm():
        return "zero"
    if d3_exact.relative_error(grad, reverse) < EXACT:
        return "reverse"
    return "forward" if d3_exact.relative_error(grad, forward) < EXACT else "neither"


def kl_table(logits: torch.Tensor, ref_logits: torch.Tensor, length: int) -> dict:
    """Every KL term's expected value and gradient, against the four true gradients."""
    policy = functools.partial(token_logprobs, length=length)
    kl, seq_reverse = d3_exact.kl_and_gradient(logits, ref_logits, policy, "reverse")
    _, seq_forward = d3_exact.kl_and_gradient(logits, ref_logits, policy, "forward")
    tok_reverse, tok_forward = (
        token_kl_gradient(logits, ref_logits, length, d) for d in ("reverse", "forward")
    )
    rows = {}
    for kind, placement, ratio in itertools.product(KINDS, ("loss", "reward"), (False, True)):
        theta = logits.detach().requires_grad_()
        logp, ref_logp = policy(theta), policy(ref_logits)
        weight = logp.sum(dim=-1).exp().detach()  # P_θ(y), held fixed as a sample is
        term = kl_surrogate(logp, ref_logp, kind, placement, ratio)
        (grad,) = torch.autograd.grad((weight * term).sum(), theta)
        value = (weight * kl_surrogate(logp, ref_logp, kind, "loss", ratio)).sum()
        rows[f"{kind}-{placement}{'-ratio' if ratio else ''}"] = {
            "value": value.item(),
            "token": verdict(grad, tok_reverse, tok_forward),
            "sequence": verdict(grad, seq_reverse, seq_forward),
            "cosine_sequence_reverse": cosine(grad, seq_reverse),
            "error_sequence_reverse": d3_exact.relative_error(grad, seq_reverse),
        }
    return {"kl": kl, "terms": rows}


# --8<-- [end:kl-table]


# --8<-- [start:variance]
def score_kernel(logits: torch.Tensor, picked: torch.Tensor, length: int) -> torch.Tensor:
    """``<∇log P_θ(y_i), ∇log P_θ(y_j)>`` for every pair of every group: ``(groups, G, G)``.

    In a tabular policy the score of ``y`` is ``onehot(y_t) − π(·|y_<t)`` in the row of each
    prefix ``y_<t``; two sequences' scores meet only in the rows of the prefixes they share.
    """
    seqs, rows = enumerate_sequences(logits.shape[-1], length)
    pi = logits.softmax(dim=-1)
    h, y = rows[picked], seqs[picked]  # (groups, G, T): prefix row and token
    q, norm = pi[h, y], pi[h].square().sum(dim=-1)  # π(y_t | y_<t) and ‖π(·|y_<t)‖²
    same = h[:, :, None] == h[:, None]  # (groups, G, G, T): same prefix at step t
    inner = (y[:, :, None] == y[:, None]).double() - q[:, :, None] - q[:, None] + norm[:, :, None]
    return (same * inner).sum(dim=-1)


def sampled_variance(
    logits: torch.Tensor,
    reward: torch.Tensor,
    length: int,
    G: int,
    groups: int,
    g: torch.Generator,
) -> dict[str, tuple[float, float]]:
    """Each estimator's ``E‖ĝ − E[ĝ]‖²`` over sampled groups of ``G``, and ``‖E[ĝ]‖²``.

    ``ĝ = (1/G) Σ_i A_i ∇log P_θ(y_i)``, so ``‖ĝ‖² = Aᵀ K A / G²`` with ``K`` the
    :func:`score_kernel`. The mean it is measured around is the exact one,
    :func:`expected_gradient`.
    """
    seqs, rows = enumerate_sequences(logits.shape[-1], length)
    prob = token_logprobs(logits, length).sum(dim=-1).exp()
    p = (prob * reward).sum().item()
    picked = torch.multinomial(prob.expand(groups, -1), G, replacement=True, generator=g)
    r, kernel = reward[picked], score_kernel(logits, picked, length)  # r: (groups, G)
    advantages = {
        "reinforce": r,
        "baseline": r - p,
        "rloo": losses.rloo_advantages(r.flatten(), G).view(groups, G),
        "grpo": losses.group_advantages(r.flatten(), G).view(groups, G),
        "dr_grpo": losses.group_advantages(r.flatten(), G, "none").view(groups, G),
    }
    found = {}
    for estimator, a in advantages.items():
        mean = expected_gradient(logits, reward, length, estimator, G)
        along = mean[rows, seqs].sum(dim=-1) - (logits.softmax(-1) * mean).sum(-1)[rows].sum(-1)
        square = torch.einsum("ni,nij,nj->n", a, kernel, a) / G**2  # ‖ĝ‖²
        cross = (a * along[picked]).sum(dim=1) / G  # <ĝ, E[ĝ]>
        signal = mean.square().sum()
        found[estimator] = ((square - 2 * cross + signal).mean().item(), signal.item())
    return found


def variance_by_group_size(
    cfg: Config, logits: torch.Tensor, rewards: torch.Tensor, seed: int
) -> dict:
    """``E‖ĝ − E[ĝ]‖²`` of ``ĝ = mean_x ĝ_x`` for every G, raw and relative to ``‖E[ĝ]‖²``."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, list[float]]] = {
        e: {"variance": [], "relative": []} for e in ESTIMATORS
    }
    for G in cfg.group_sizes:
        per_prompt = [
            sampled_variance(lg, r, cfg.length, G, cfg.groups, g)
            for lg, r in zip(logits, rewards, strict=True)
        ]
        for e in ESTIMATORS:
            spread = sum(v[e][0] for v in per_prompt) / len(per_prompt) ** 2
            signal = sum(v[e][1] for v in per_prompt) / len(per_prompt) ** 2
            out[e]["variance"].append(spread)
            out[e]["relative"].append(spread / signal)
    return {"group_sizes": list(cfg.group_sizes), "groups": cfg.groups, "estimators": out}


# --8<-- [end:variance]


# --8<-- [start:plot]
def plot_variance(variance: dict, path: str) -> str:
    """Two log-log panels: each estimator's variance, and its variance over ``‖E[ĝ]‖²``, by G."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for e, found in variance["estimators"].items():
        for ax, key in zip(axes, ("variance", "relative"), strict=True):
            ax.loglog(variance["group_sizes"], found[key], "o-", label=e, base=2)
    for ax, title in zip(axes, ("E‖ĝ − E[ĝ]‖²", "E‖ĝ − E[ĝ]‖² / ‖E[ĝ]‖²"), strict=True):
        ax.set(xlabel="group size G", title=title)
    axes[0].legend()
    return common.save_figure(fig, path)


# --8<-- [end:plot]


# --8<-- [start:main]
def testbed(cfg: Config, seed: int) -> dict:
    """The tables: advantages, GRPO's weight by G, KL terms, variance by group size."""
    logits = draw_logits(cfg, seed, len(WINDOWS) + 2)  # one policy per prompt, then KL's two
    rewards = pass_fail(cfg.vocab, cfg.length)
    return {
        "advantages": advantage_table(logits[: len(WINDOWS)], rewards, cfg.length, cfg.group_size),
        "grpo_weight": {
            "pass_rates": list(WEIGHT_GRID),
            "group_sizes": list(cfg.group_sizes),
            "weights": [[grpo_weight(p, G) for p in WEIGHT_GRID] for G in cfg.group_sizes],
        },
        "kl": kl_table(logits[-2], logits[-1], cfg.length),
        "variance": variance_by_group_size(cfg, logits[: len(WINDOWS)], rewards, seed),
    }


def main(argv: list[str] | None = None) -> dict:
    """Print, as one JSON line, the exact tables and the sampled variances."""
    quick = {"vocab": 3, "length": 3, "groups": 50}
    outputs = {"plot": "save the variance figure as a PNG"}
    parser = common.config_parser(Config, __doc__, __spec__, quick=quick, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    torch.set_num_threads(1)  # thousands of small tensor ops: threads only add overhead
    found = testbed(cfg, args.seed)
    if args.plot:
        plot_variance(found["variance"], args.plot)
    return common.emit_metrics({**found, **asdict(cfg), "seed": args.seed})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
