"""Lesson D6, the corrections: TRL 1.16's importance-sampling weights and the loss they enter.

When the completions come from a sampler ``μ`` (vLLM) and the trainer ``π_θ`` recomputes their
log-probabilities, TRL's ``GRPOTrainer`` (with ``use_vllm=True`` and
``vllm_importance_sampling_correction=True``, its default) multiplies each token's policy loss
by a detached weight built from ``π_θ/μ``. :func:`is_weights` builds that weight as TRL does;
:func:`corrected_loss` is D4's loss with it applied where TRL applies it: after the clip, before
the KL term is added and before the tokens are averaged. The tests check both against TRL's
``_compute_loss``, value and gradient.
"""

# --8<-- [start:imports]
from __future__ import annotations

import math
from typing import Literal

import torch

from snippets.d4_grpo_in_practice import variants

# --8<-- [end:imports]


# --8<-- [start:weights]
Mode = Literal["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"]
MODES: tuple[Mode, ...] = ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")


def is_weights(
    trainer_logps: torch.Tensor,
    sampler_logps: torch.Tensor,
    mask: torch.Tensor,
    mode: Mode,
    clip_min: float | None,
    clip_max: float | None,
) -> torch.Tensor:
    """TRL 1.16's ``importance_sampling_ratio``, as ``_generate_and_score_completions`` builds it.

    The token log-ratio ``log π_θ − log μ`` (masked; NaN, an unavailable sampler logprob,
    becomes 0) is kept per token, or **summed** over the sequence (``sequence_*``: the
    likelihood ratio of the whole sequence, not GSPO's mean). Its exponential is clamped to
    ``[clip_min, clip_max]`` (``*_truncate``, :func:`truncated_weights`), or set to 0 where
    it leaves that band (``*_mask``, :func:`masked_weights`).

    Returns:
        ``(sequences, tokens)`` for ``token_*`` modes, ``(sequences, 1)`` for ``sequence_*``.
    """
    log_ratio = torch.nan_to_num((trainer_logps - sampler_logps) * mask, nan=0.0)
    if mode.startswith("sequence"):
        log_ratio = log_ratio.sum(dim=-1, keepdim=True)
    bound = truncated_weights if mode.endswith("truncate") else masked_weights
    return bound(log_ratio, clip_min, clip_max)


# --8<-- [end:weights]


# --8<-- [start:truncate]
def truncated_weights(
    log_ratio: torch.Tensor, clip_min: float | None, clip_max: float | None
) -> torch.Tensor:
    """Truncated importance sampling (TIS): the ratio ``exp(log_ratio)`` clamped to ``[C_min, C_max]``.

    A ``None`` bound is no bound. A ratio above ``C_max`` still counts, with weight ``C_max``.
    """
    return torch.clamp(torch.exp(log_ratio), min=clip_min, max=clip_max)


# --8<-- [end:truncate]


# --8<-- [start:mask]
def masked_weights(
    log_ratio: torch.Tensor, clip_min: float | None, clip_max: float | None
) -> torch.Tensor:
    """Masked importance sampling (MIS): the ratio, or 0 where it leaves ``[C_min, C_max]``.

    A ratio equal to a bound is kept; a ``None`` bound is no bound. A dropped token or
    sequence leaves the loss altogether, instead of counting with a capped weight.
    """
    ratio = torch.exp(log_ratio)
    low = -math.inf if clip_min is None else clip_min
    high = math.inf if clip_max is None else clip_max
    return ratio.masked_fill((ratio < low) | (ratio > high), 0.0)


# --8<-- [end:mask]


# --8<-- [start:corrections]
def corrections(clip_min: float, clip_max: float) -> dict[str, tuple[Mode, float, float] | None]:
    """Every correction as TRL arguments ``(mode, C_min, C_max)``; ``None`` is no correction.

    Plain token-level and sequence-level IS are the truncate modes with no cap.
    """
    found: dict[str, tuple[Mode, float, float] | None] = {
        "none": None,
        "token_is": ("token_truncate", 0.0, math.inf),
        "sequence_is": ("sequence_truncate", 0.0, math.inf),
    }
    return found | {mode: (mode, clip_min, clip_max) for mode in MODES}


# --8<-- [end:corrections]


# --8<-- [start:loss]
def corrected_loss(
    s: variants.LossSettings,
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    ref_logps: torch.Tensor | None = None,
) -> torch.Tensor:
    """D4's loss of ``s.variant`` with each token's policy term multiplied by ``weight``.

    As in TRL's ``_compute_loss``: the clipped (or CISPO) token loss is computed from
    ``π_θ/π_old`` as in D4, multiplied by the detached ``weight`` (:func:`is_weights`, shape
    ``(completions, tokens)`` or ``(completions, 1)``), then ``β`` times the ratio-corrected
    k3 is added (not weighted), and the tokens are averaged as the variant averages them.
    D4's ``variant_loss`` does all of it: its ``weight`` argument is this correction.

    Args:
        s: the variant and its clip ranges and KL weight.
        logps: log π_θ of each sampled token, ``(completions, tokens)``, with grad.
        old_logps: log π_old, the trainer's own log-probabilities when the batch was made.
        advantages: one per completion, ``(completions,)``.
        mask: 1 for completion tokens, 0 for padding.
        weight: the importance weight of each token (or completion), no grad.
        ref_logps: log π_ref of each token; needed only when ``s.beta > 0``.
    """
    loss, _ = variants.variant_loss(s, logps, old_logps, advantages, mask, ref_logps, weight)
    return loss


# --8<-- [end:loss]
