"""Lesson D3, the KL term exactly: expected values and expected gradients by enumeration.

A KL estimator is computed on sampled tokens and then used in one of two ways:

- **as a loss**: the sampled tokens are data, and autograd differentiates the estimator's
  formula at them. The expected gradient is ``Σ_y P_θ(y) ∇_θ loss(y)``: the sampling
  distribution ``P_θ`` is held fixed (it is not differentiated), as in TRL's GRPO loss.
- **as a reward**: the summed estimate is detached and multiplies ``∇ log P_θ(y)`` (the score
  function, C0's REINFORCE), as D2 and RLOO do. Expected gradient:
  ``Σ_y P_θ(y) k(y) ∇_θ log P_θ(y)``.

On a policy small enough to enumerate every outcome, both expectations are exact sums, so
each estimator's expected value and expected gradient can be set beside the true
``∇ KL(π_θ‖π_ref)`` (reverse) and ``∇ KL(π_ref‖π_θ)`` (forward). A policy here is a function
from a logits tensor to the log-probabilities of every token of every outcome, shaped
``(outcomes, tokens)``: one categorical distribution is the case of one token.
"""

# --8<-- [start:imports]
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Annotated, Literal

import torch

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import losses

# --8<-- [end:imports]

Estimator = Literal["k1", "k2", "k3", "ratio_k3", "k1_reward"]
ESTIMATORS: tuple[Estimator, ...] = ("k1", "k2", "k3", "ratio_k3", "k1_reward")
TokenLogprobs = Callable[[torch.Tensor], torch.Tensor]  # logits -> (outcomes, tokens)


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """The two small policies the exact table is computed on (float64, logits ~ N(0, scale²))."""

    categories: Annotated[int, common.Range(2)] = 4  # outcomes of the one categorical
    vocab: Annotated[int, common.Range(2)] = 3  # tokens of the sequence policy ...
    length: common.PosInt = 2  # ... and its sequence length: vocab**length sequences
    scale: common.PosFloat = 1.0  # std of the random logits of policy and reference


# --8<-- [end:config]


# --8<-- [start:policies]
def categorical_logprobs(logits: torch.Tensor) -> torch.Tensor:
    """One categorical ``softmax(logits)`` as outcomes of one token: shape ``(K, 1)``."""
    return torch.log_softmax(logits, dim=-1).unsqueeze(-1)


def all_sequences(vocab: int, length: int) -> torch.Tensor:
    """Every sequence of ``length`` tokens from ``range(vocab)``, in lexicographic order."""
    return torch.tensor(list(itertools.product(range(vocab), repeat=length))).view(-1, length)


def num_prefixes(vocab: int, length: int) -> int:
    """Prefixes of length ``0 … length-1``: one row of logits each in a tabular policy."""
    return sum(vocab**t for t in range(length))


def sequence_logprobs(logits: torch.Tensor, length: int) -> torch.Tensor:
    """The log-probability of every token of every sequence under a tabular autoregressive policy.

    Args:
        logits: ``(num_prefixes(V, length), V)``: one row of next-token logits per prefix;
            rows run through the empty prefix, then prefixes of length 1, 2 …, each length
            in lexicographic order.
        length: the sequence length ``T``.

    Returns:
        ``(V**T, T)``: row ``n`` is sequence ``n`` of :func:`all_sequences`.
    """
    vocab = logits.shape[-1]
    logp, seqs = torch.log_softmax(logits, dim=-1), all_sequences(vocab, length)
    columns, code = [], torch.zeros(len(seqs), dtype=torch.long)
    for t in range(length):  # row of prefix y_<t: offset of its length + its base-V code
        columns.append(logp[num_prefixes(vocab, t) + code, seqs[:, t]])
        code = code * vocab + seqs[:, t]
    return torch.stack(columns, dim=1)


# --8<-- [end:policies]


# --8<-- [start:estimators]
def estimator(
    logp: torch.Tensor, ref_logp: torch.Tensor, kind: Estimator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each outcome's KL estimate and the surrogate that is differentiated, summed over tokens.

    With ``r = π_ref/π_θ`` of each sampled token (given its prefix):

    - ``"k1"``: ``log π_θ/π_ref``, used as a loss.
    - ``"k2"``: ``½ (log r)²``, used as a loss.
    - ``"k3"``: ``r − 1 − log r``, used as a loss (GRPO's term, TRL without the correction).
    - ``"ratio_k3"``: ``ρ · k3`` with ``ρ = π_θ/π_old`` and ``π_old`` a detached copy, so
      ``ρ = 1`` in value (TRL's ``use_bias_correction_kl=True``, its default).
    - ``"k1_reward"``: ``Σ_t k1`` detached, times ``Σ_t log π_θ`` (the score function).

    Args:
        logp: ``(outcomes, tokens)`` log π_θ of each token, with grad.
        ref_logp: the same under π_ref, without grad.
        kind: which estimator.

    Returns:
        ``(estimate, surrogate)``, each ``(outcomes,)``; for a loss they are the same tensor.
    """
    log_r = ref_logp - logp
    k3 = losses.k3_kl(logp, ref_logp)  # the very term D3's GRPO loss uses
    per_token = {
        "k1": -log_r,
        "k2": 0.5 * log_r**2,
        "k3": k3,
        "ratio_k3": torch.exp(logp - logp.detach()) * k3,
    }
    if kind == "k1_reward":
        k1 = (-log_r).sum(dim=-1)
        return k1, k1.detach() * logp.sum(dim=-1)
    estimate = per_token[kind].sum(dim=-1)
    return estimate, estimate


# --8<-- [end:estimators]


# --8<-- [start:expectations]
def expected_estimate_and_gradient(
    logits: torch.Tensor, ref_logits: torch.Tensor, policy: TokenLogprobs, kind: Estimator
) -> tuple[float, torch.Tensor]:
    """``E_{y~π_θ}[estimate(y)]`` and ``E_{y~π_θ}[∇_θ surrogate(y)]``, exactly.

    The weights ``P_θ(y)`` are detached: a sample, once drawn, does not move with θ.
    """
    logits = logits.detach().requires_grad_()
    logp, ref_logp = policy(logits), policy(ref_logits).detach()
    weight = logp.sum(dim=-1).exp().detach()  # P_θ(y) = Π_t π_θ(y_t | y_<t)
    estimate, surrogate = estimator(logp, ref_logp, kind)
    (grad,) = torch.autograd.grad((weight * surrogate).sum(), logits)
    return (weight * estimate).sum().item(), grad


def kl_and_gradient(
    logits: torch.Tensor,
    ref_logits: torch.Tensor,
    policy: TokenLogprobs,
    direction: Literal["reverse", "forward"],
) -> tuple[float, torch.Tensor]:
    """The true KL between the outcome distributions, and its gradient in the logits.

    ``"reverse"`` is ``KL(π_θ‖π_ref) = Σ_y P_θ(y) log P_θ(y)/P_ref(y)``, the penalty RLHF means;
    ``"forward"`` is ``KL(π_ref‖π_θ)``. Here nothing is held fixed.
    """
    logits = logits.detach().requires_grad_()
    logp, ref = policy(logits).sum(dim=-1), policy(ref_logits).detach().sum(dim=-1)
    if direction == "reverse":
        kl = (logp.exp() * (logp - ref)).sum()
    else:
        kl = (ref.exp() * (ref - logp)).sum()
    (grad,) = torch.autograd.grad(kl, logits)
    return kl.item(), grad


# --8<-- [end:expectations]


# --8<-- [start:compare]
def relative_error(grad: torch.Tensor, target: torch.Tensor) -> float:
    """``‖grad − target‖ / ‖target‖``: 0 when equal, 1 when ``grad`` is zero."""
    return ((grad - target).norm() / target.norm()).item()


def compare(logits: torch.Tensor, ref_logits: torch.Tensor, policy: TokenLogprobs) -> dict:
    """Every estimator's expected value and gradient against both true KL gradients.

    Returns:
        ``{"kl": KL(π_θ‖π_ref), "estimators": {kind: {"value", "error_reverse",
        "error_forward", "cosine_reverse"}}}``: each estimator's expected estimate, the
        relative error of its expected gradient to ``∇KL(π_θ‖π_ref)`` and to
        ``∇KL(π_ref‖π_θ)``, and its cosine with the first.
    """
    kl, reverse = kl_and_gradient(logits, ref_logits, policy, "reverse")
    _, forward = kl_and_gradient(logits, ref_logits, policy, "forward")
    found = {}
    for kind in ESTIMATORS:
        value, grad = expected_estimate_and_gradient(logits, ref_logits, policy, kind)
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), reverse.flatten(), dim=0)
        found[kind] = {
            "value": value,
            "cosine_reverse": cosine.item(),
            "error_reverse": relative_error(grad, reverse),
            "error_forward": relative_error(grad, forward),
        }
    return {"kl": kl, "estimators": found}


def exact_table(cfg: Config, seed: int) -> dict[str, dict]:
    """:func:`compare` on one categorical and on a tabular sequence policy, random logits."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape: int) -> torch.Tensor:
        return cfg.scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    rows = num_prefixes(cfg.vocab, cfg.length)
    return {
        "categorical": compare(draw(cfg.categories), draw(cfg.categories), categorical_logprobs),
        "sequence": compare(
            draw(rows, cfg.vocab),
            draw(rows, cfg.vocab),
            partial(sequence_logprobs, length=cfg.length),
        ),
    }


# --8<-- [end:compare]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Print, as one JSON line, every estimator's exact expected value and gradient errors."""
    parser = common.config_parser(Config, __doc__, __spec__)
    cfg, args = common.parse_config(parser, argv)
    return common.emit_metrics({**exact_table(cfg, args.seed), **asdict(cfg), "seed": args.seed})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
