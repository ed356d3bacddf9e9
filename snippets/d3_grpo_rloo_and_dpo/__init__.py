"""Lesson D3: RL for language models as it is done today: GRPO, RLOO, DPO, verifiable rewards.

Read the modules in this order:

- ``losses``: group advantages (GRPO, RLOO), RLOO's KL penalty, the k3 KL, the three loss
  aggregations, DPO;
- ``exact``: the KL term's expected value and expected gradient, exactly, by enumeration;
- ``methods``: each method trained in D2's world and scored by its hidden gold rater;
- ``rlvr``: GRPO with an exact checker as the reward, on two-digit addition;

plus ``report`` (the figures, and for now the page's tables) and ``__main__`` (the command line:
``python -m snippets.d3_grpo_rloo_and_dpo``).
"""

# --8<-- [start:package]
from snippets.d3_grpo_rloo_and_dpo.losses import (
    dpo_loss,
    group_advantages,
    grpo_loss,
    k3_kl,
    kl_penalized_rewards,
    rloo_advantages,
    token_weights,
)

__all__ = [
    "dpo_loss",
    "group_advantages",
    "grpo_loss",
    "k3_kl",
    "kl_penalized_rewards",
    "rloo_advantages",
    "token_weights",
]
# --8<-- [end:package]
