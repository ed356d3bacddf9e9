"""Lesson D6: when the sampler is not the trainer: staleness, precision, corrections.

Read the modules in this order:

- ``correction``: TRL 1.16's importance-sampling weights and the loss they multiply;
- ``exact``: on D4's exact testbed, the bias of every correction under every mismatch;
- ``train``: D4's sums task trained with a sampler some steps stale or in bf16, ± correction;
- ``actor_learner``: the same algorithm as Ray actors that sample and a learner that trains.

The face re-exports the corrections; ``exact``, ``train`` and ``actor_learner`` are imported
as modules (each is a command of its own, and a package that imported them would make
``python -m`` warn that they were loaded twice).
"""

# --8<-- [start:package]
from snippets.d6_sampler_trainer_mismatch.correction import (
    MODES,
    Mode,
    corrected_loss,
    corrections,
    is_weights,
    masked_weights,
    truncated_weights,
)

__all__ = [
    "MODES",
    "Mode",
    "corrected_loss",
    "corrections",
    "is_weights",
    "masked_weights",
    "truncated_weights",
]
# --8<-- [end:package]
