"""Exercises for lesson D1: reward modelling.

Write the Bradley-Terry loss and find where a reward model reads its score.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check d1

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401 (yours to use: F.logsigmoid)


def bradley_terry_loss(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the observed preferences under Bradley-Terry.

    loss = -mean(log sigmoid(r_chosen - r_rejected)). It is binary cross-entropy with
    the label "chosen wins" and the logit r_chosen - r_rejected; ``logsigmoid`` keeps it
    finite when the difference is large and negative.

    Args:
        reward_chosen: rewards of the preferred answers, shape (N,).
        reward_rejected: rewards of the other answer of each pair, shape (N,).

    Returns:
        The scalar loss: log(2) = 0.693 when the rewards are equal, 0 when the chosen
        answers win by a wide margin.
    """
    # TODO: the negative mean log-likelihood of the choices, numerically stable.
    raise NotImplementedError("bradley_terry_loss")


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real (non-padding) token of each row.

    Works for left and right padding: it is the largest position whose mask is 1.
    """
    # TODO: for each row, the position of the last token whose mask is 1.
    raise NotImplementedError("last_token_index")
