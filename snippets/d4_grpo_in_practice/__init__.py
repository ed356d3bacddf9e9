"""Lesson D4: GRPO in practice: exact gradients, the loss variants, and collapse you can watch.

Read the modules in this order:

- ``exact``: every estimator's expected gradient, computed exactly by enumeration;
- ``variants``: GRPO, DAPO, Dr. GRPO, GSPO and CISPO as small loss functions;
- ``train``: any variant on three-digit sums (D3's task with longer operands, from
  ``rlvr``), with the diagnostics logged at every step;

plus ``report`` (figures) and ``__main__`` (the command line:
``python -m snippets.d4_grpo_in_practice``). The face re-exports the variants and the
practice half; ``exact`` is imported as a module (it is a command of its own, and a package
that imported it would make ``python -m`` warn that it was loaded twice).
"""

# --8<-- [start:package]
from snippets.d4_grpo_in_practice.train import Config, collect, recipe, run
from snippets.d4_grpo_in_practice.variants import (
    VARIANTS,
    LossSettings,
    advantages,
    dynamic_sampling_keep,
    overlong_penalty,
    variant_loss,
)

__all__ = [
    "VARIANTS",
    "Config",
    "LossSettings",
    "advantages",
    "collect",
    "dynamic_sampling_keep",
    "overlong_penalty",
    "recipe",
    "run",
    "variant_loss",
]
# --8<-- [end:package]
