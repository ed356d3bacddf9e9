"""Graders for lesson D6: TRL's two ways to bound an importance weight, truncation and masking.

Each part of the lesson adds its graders under its own heading below.
"""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise

# ---------------------------------------------------------------- the corrections (correction.py)
LN = math.log
# log π_θ − log μ of two completions of three tokens (the test file's batch): ratios 2, 4, 0.5
# and 0.1, 1, then the second completion's padding, already masked to log-ratio 0
TOKENS = torch.tensor([[LN(2.0), LN(4.0), LN(0.5)], [LN(0.1), 0.0, 0.0]], dtype=torch.float64)
# the same two completions as whole sequences: TRL sums the log-ratios, 2·4·0.5 = 4 and 0.1
SEQUENCES = TOKENS.sum(dim=-1, keepdim=True)


@exercise("a truncated importance weight")
def grade_truncated_weights(f, check: Checker) -> None:
    """Token log-ratios by hand with a cap and a floor, a cap only, and a floor only.

    Todo:
        the ratio exp(log_ratio), clamped to [clip_min, clip_max]; a None bound is no bound.
    """
    check.expect(
        "token ratios (2, 4, 0.5) and (0.1, 1, pad), C_min 0.2, C_max 3",
        """Truncated IS keeps every token and caps its weight: exp(log_ratio) clamped to
        [0.2, 3], so 4 becomes 3 and 0.1 becomes 0.2. A padding token has log-ratio 0, so
        ratio 1. Clamp the ratio, not the log-ratio.""",
        "weights",
        lambda: f(TOKENS.clone(), 0.2, 3.0),
        [[2.0, 3.0, 0.5], [0.2, 1.0, 1.0]],
    )
    check.expect(
        "the same tokens, C_min None (TRL's default), C_max 3",
        """A None bound is no bound: torch.clamp accepts min=None. Nothing is raised to a
        floor, so 0.1 stays 0.1.""",
        "weights",
        lambda: f(TOKENS.clone(), None, 3.0),
        [[2.0, 3.0, 0.5], [0.1, 1.0, 1.0]],
    )
    check.expect(
        "sequence log-ratios log 4 and log 0.1 (sums of the tokens'), C_min 0.5, C_max 2",
        """TRL's sequence_truncate calls the same bound on the summed log-ratio, one column per
        sequence: 4 is capped at 2, 0.1 raised to 0.5. The shape stays (sequences, 1).""",
        "weights",
        lambda: f(SEQUENCES.clone(), 0.5, 2.0),
        [[2.0], [0.5]],
    )
    check.expect(
        "the same tokens with a floor only, C_min 0.5, C_max None",
        """Only a floor: 0.1 is raised to 0.5, and 4 is kept as 4 (a None cap is no cap, not
        0). With neither bound, truncated IS would be plain importance sampling.""",
        "weights",
        lambda: f(TOKENS.clone(), 0.5, None),
        [[2.0, 4.0, 0.5], [0.5, 1.0, 1.0]],
    )


@exercise("the masked-IS filter")
def grade_masked_weights(f, check: Checker) -> None:
    """Sequence log-ratios by hand against several bands, a ratio on the bound, and tokens.

    Todo:
        the ratio exp(log_ratio), or 0 where it leaves [clip_min, clip_max]; None is no bound.
    """
    check.expect(
        "sequence ratios 4 and 0.1, C_min None, C_max 3 (TRL's default band)",
        """Masked IS drops a sequence whose ratio leaves the band: 4 > 3 gets weight 0, and
        0.1, with no floor, keeps its own ratio 0.1 (not 1: the survivors are still
        reweighted). One column per sequence.""",
        "weights",
        lambda: f(SEQUENCES.clone(), None, 3.0),
        [[0.0], [0.1]],
    )
    check.expect(
        "sequence ratios 4 and 0.1, C_min 0.2, C_max None",
        """Only a floor: 0.1 < 0.2 is dropped, 4 is kept as 4. A None bound is no bound
        (minus or plus infinity), not 0.""",
        "weights",
        lambda: f(SEQUENCES.clone(), 0.2, None),
        [[4.0], [0.0]],
    )
    check.expect(
        "sequence ratios 4 and 0.1, band [0.05, 5]: both inside",
        """Inside the band the weight is the ratio itself, 4 and 0.1: masking zeroes what is
        outside and leaves the rest untouched (it does not clamp, and it is not a 0/1 mask).""",
        "weights",
        lambda: f(SEQUENCES.clone(), 0.05, 5.0),
        [[4.0], [0.1]],
    )
    check.expect(
        "token ratios (2, 4, 0.5) and (0.1, 1, pad), band [1, 2]: ratios on the bounds",
        """Per token (TRL's token_mask) the same rule holds for each token. A ratio equal to a
        bound is inside: 2 and the padding's 1 are kept; 4, 0.5 and 0.1 are dropped.""",
        "weights",
        lambda: f(TOKENS.clone(), 1.0, 2.0),
        [[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
    )
