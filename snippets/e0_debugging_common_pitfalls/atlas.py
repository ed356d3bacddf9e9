"""Lesson E0, the atlas: every pitfall's record, in page order, and one loop that runs them."""

# --8<-- [start:imports]
from __future__ import annotations

from snippets import common
from snippets.e0_debugging_common_pitfalls import (
    autoreset,
    learning_rate,
    logprob_shift,
    normalisation,
    reward_scale,
    seeding,
    target_network,
    truncation,
)
from snippets.e0_debugging_common_pitfalls.base import Config
from snippets.e0_debugging_common_pitfalls.record import Outcome, Pitfall

# --8<-- [end:imports]


# --8<-- [start:atlas]
PITFALLS: tuple[Pitfall, ...] = tuple(
    module.PITFALL
    for module in (
        truncation,
        normalisation,
        learning_rate,
        target_network,
        seeding,
        reward_scale,
        logprob_shift,
        autoreset,
    )
)
BY_NAME = {pitfall.name: pitfall for pitfall in PITFALLS}


def run_atlas(cfg: Config, names: list[str], seed: int) -> dict[str, Outcome]:
    """Run the broken and the fixed version (and any reference) of each named pitfall."""
    return {name: BY_NAME[name].run(cfg, seed) for name in common.progress(names, desc="pitfalls")}


# --8<-- [end:atlas]
