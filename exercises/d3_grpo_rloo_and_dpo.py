"""Exercises for lesson D3: GRPO, RLOO and DPO.

Write GRPO's and RLOO's advantages and the DPO loss.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check d3

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F  # noqa: F401 (yours to use: F.logsigmoid)

from snippets.d3_grpo_rloo_and_dpo.losses import STD_EPS  # noqa: F401 (the lesson's epsilon)


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: Literal["group", "none"] = "group"
) -> torch.Tensor:
    """GRPO's advantage: each reward minus its group's mean, over the group's std.

    The group of ``G`` completions of one prompt is its own baseline, so no value network is
    needed. ``scale="none"`` drops the division (Dr. GRPO's choice: dividing by a small std
    inflates the weight of prompts that are nearly always right or always wrong).

    Args:
        rewards: One reward per completion, shape ``(prompts * G,)``, groups contiguous.
        group_size: ``G``, completions per prompt (at least 2).
        scale: ``"group"`` (divide by the group's std, TRL's default) or ``"none"``.

    Returns:
        One advantage per completion, same shape as ``rewards``; every token of
        completion ``i`` shares it.
    """
    # TODO: centre each group's rewards on their mean, then divide by the group's std (+ STD_EPS).
    raise NotImplementedError("group_advantages")


def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO's advantage: each reward minus the mean of the *other* G - 1 rewards.

    Leaving sample ``i`` out of its own baseline keeps the gradient estimate unbiased, as
    C0's baseline must not depend on the action it scores. Algebraically it is the group's
    centred reward scaled by ``G / (G - 1)``.

    Args:
        rewards: One reward per completion, shape ``(prompts * G,)``, groups contiguous.
        group_size: ``G``, completions per prompt (at least 2).

    Returns:
        One advantage per completion, same shape as ``rewards``.
    """
    # TODO: subtract from each reward the mean of the other rewards of its group.
    raise NotImplementedError("rloo_advantages")


def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO: the Bradley-Terry loss of D1 on the implicit reward ``β log π/π_ref``.

    Each argument is the summed log-probability of a whole response (chosen or rejected)
    under the policy or the frozen reference. No sampling and no reward model: the pairs
    and the reference are all it needs.

    Returns:
        ``(loss, chosen_rewards, rejected_rewards)``: the mean loss and the implicit
        rewards ``β (log π - log π_ref)`` of each response (detached).
    """
    # TODO: the implicit rewards of both responses, then the Bradley-Terry loss of their difference.
    raise NotImplementedError("dpo_loss")
