"""Exercises for lesson D2: RLHF for a language model.

Write the log-probabilities of a completion, the per-token KL estimates, the
KL-shaped rewards and GAE over tokens.

Each function below has the lesson's signature and docstring; replace the body, then run

    uv run python -m exercises check d2

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
"""

from __future__ import annotations

import torch


def response_logprobs(
    logits: torch.Tensor, input_ids: torch.Tensor, prompt_length: int, temperature: float
) -> torch.Tensor:
    """Log-probabilities of the completion tokens under the temperature-scaled policy.

    The logits at position t predict the token at position t + 1, so completion token
    ``input_ids[:, P + i]`` is scored by ``logits[:, P + i - 1]``. Dividing by the
    sampling temperature makes these the probabilities the tokens were drawn with.

    Returns:
        Shape (B, R): one log-probability per completion token.
    """
    # TODO: score each completion token with the logits that predicted it.
    raise NotImplementedError("response_logprobs")


def kl_per_token(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k1"
) -> torch.Tensor:
    """Per-token estimates of KL(pi || pi_ref) from the sampled tokens' log-probs.

    ``k1 = log pi - log pi_ref`` is unbiased but single samples can be negative;
    ``k3 = (r - 1) - log r`` with ``r = pi_ref / pi`` is also unbiased and never negative
    (Schulman, "Approximating KL divergence", 2020). The penalty in the reward uses k1,
    as InstructGPT and TRL do.
    """
    # TODO: return the k1 or the k3 estimate per token.
    raise NotImplementedError("kl_per_token")


def compute_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> torch.Tensor:
    """Per-token rewards, shape (B, R): -beta * k1 on every token, the score on the last.

    Args:
        scores: reward-model score of each completion, shape (B,).
        logprobs: policy log-probs of the completion tokens, shape (B, R).
        ref_logprobs: the frozen reference's log-probs of the same tokens.
        mask: 1 on real completion tokens, 0 on padding (where the reward stays 0).
        kl_coef: beta.
    """
    # TODO: a KL penalty on every real token plus the score on the last real token.
    raise NotImplementedError("compute_rewards")


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the completion tokens.

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = delta_t + gamma lambda A_{t+1}.
    The value after the last real token is 0: the episode (the completion) has ended.

    Returns:
        ``(advantages, returns)`` with returns = advantages + values (the value targets).
    """
    # TODO: GAE backwards over the completion tokens, stopping at the end of each completion.
    raise NotImplementedError("compute_gae")
