"""Lesson D4: GRPO in practice: exact gradients, the loss variants, and collapse you can watch.

Read the modules in this order:

- ``exact``: every estimator's expected gradient, computed exactly by enumeration;
- ``variants``: GRPO, DAPO, Dr. GRPO, GSPO and CISPO as small loss functions;
- ``tasks``: three-digit sums, a harder verifiable task with an exact checker;
- ``train``: any variant on those sums, with the diagnostics logged at every step;

plus ``report`` (figures) and ``__main__`` (the command line:
``python -m snippets.d4_grpo_in_practice``).
"""

# --8<-- [start:package]
from snippets.d4_grpo_in_practice.tasks import check, prompt_text, sample_problems
from snippets.d4_grpo_in_practice.train import Config, run

__all__ = ["Config", "check", "prompt_text", "run", "sample_problems"]
# --8<-- [end:package]
