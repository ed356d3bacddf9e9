"""Graders for lesson D5: the trainer's action mask and the first retokenisation drift.

Each part of the lesson adds its graders under its own heading below.
"""

from __future__ import annotations

import torch

from exercises.grading import Checker, exercise

# ---------------------------------------------------------------- token in, token out (rollout.py)
# One episode: the task (3 ids), a call (2), its observation (2), the answer (2).
EPISODE = [0, 0, 0, 1, 1, 0, 0, 1, 1]


@exercise("the trainer's action mask")
def grade_shifted_action_mask(f, check: Checker) -> None:
    """One episode by hand, then episodes of different lengths that need padding.

    Todo:
        right-pad the masks with 0 to the longest, then drop the first column (shift by one).
    """
    with check.case(
        "one episode: task (3 ids), call (2), observation (2), answer (2)",
        """The log-probability at position t scores the token at t + 1, so column t of the
        trainer's mask says whether ids[t + 1] was sampled: the episode's mask without its
        first entry (the first task token is never predicted). 8 columns for 9 ids; the two
        observation tokens stay 0.""",
    ):
        mask = f([list(EPISODE)])
        check.true("the mask is a torch tensor", torch.is_tensor(mask))
        check.close("mask", mask, [[0, 0, 1, 1, 0, 0, 1, 1]])
    check.expect(
        "two episodes of 5 and 3 ids: (0, 1, 1, 0, 1) and (0, 0, 1)",
        """Stack as collate stacks the ids: right-padded to the longest episode, T = 5, so
        the result is (2, T - 1) = (2, 4). Padding is never an action: pad with 0, after
        the real tokens, then shift.""",
        "mask",
        lambda: f([[0, 1, 1, 0, 1], [0, 0, 1]]),
        [[1, 1, 0, 1], [0, 1, 0, 0]],
    )
    check.expect(
        "three episodes: a truncated one that ends on an observation, the first one, a short one",
        """A truncated episode ends with the observation of its last turn: its last
        columns are 0. Every row is shifted the same way, whatever its length; the width
        is the longest episode's, 10, minus one.""",
        "mask",
        lambda: f([[0, 0, 1, 1, 0, 0, 1, 1, 0, 0], list(EPISODE), [0, 1]]),
        [
            [0, 1, 1, 0, 0, 1, 1, 0, 0],
            [0, 0, 1, 1, 0, 0, 1, 1, 0],
            [1, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
    )


# Ids of a sampled call and observation, and what re-encoding the text gives: BPE fuses the
# sampled ">" (62) and the observation's "<" (27) into one token "><" (89).
SAMPLED = [40, 7, 62, 27, 90]
FUSED = [40, 7, 89, 90]


@exercise("the first retokenisation drift")
def grade_first_drift(f, check: Checker) -> None:
    """A fused boundary, equal lists, lists where one ends early, a drift at 0, several drifts.

    Todo:
        walk both lists together; if one ends first, its length; None if they are equal.
    """
    check.expect(
        "sampled (40, 7, 62, 27, 90), retokenised (40, 7, 89, 90): '>' '<' fused into '><'",
        """Walk both lists together and return the first index whose ids differ: here 2,
        where the sampled '>' and the re-encoded '><' part ways. A position, counted from 0,
        not the token found there.""",
        "first drift",
        lambda: f(list(SAMPLED), list(FUSED)),
        2,
    )
    with check.case(
        "two equal lists",
        """No drift: return None. Not 0, which would say that the very first token
        drifted, and not -1 or the length.""",
    ):
        found = f(list(SAMPLED), list(SAMPLED))
        check.true("no drift gives None", found is None, f"got {found!r}")
    check.expect(
        "the retokenised list stops early: (3, 4, 5, 6) and (3, 4, 5)",
        """Every shared position agrees, but the lists differ: the drift is at the first
        position one list has and the other lacks, the shorter length, 3. A comparison that
        stops at the shorter list (zip) misses it.""",
        "first drift",
        lambda: f([3, 4, 5, 6], [3, 4, 5]),
        3,
    )
    check.expect(
        "the sampled list stops early: (3, 4) and (3, 4, 9)",
        "The same rule the other way round: position 2, the length of the shorter list.",
        "first drift",
        lambda: f([3, 4], [3, 4, 9]),
        2,
    )
    check.expect(
        "a drift at the very first token: (7, 1) and (8, 1)",
        """Position 0 is a drift like any other. Check `is None`, not truthiness: 0 is
        falsy, but it is an answer.""",
        "first drift",
        lambda: f([7, 1], [8, 1]),
        0,
    )
    check.expect(
        "several drifts: (1, 2, 3, 4, 5) and (1, 9, 3, 8, 5)",
        """The lists differ at positions 1 and 3; the trainer goes wrong from the first
        one on, so return 1.""",
        "first drift",
        lambda: f([1, 2, 3, 4, 5], [1, 9, 3, 8, 5]),
        1,
    )
