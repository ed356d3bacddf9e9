"""Mutants of lesson D5: wrong action masks and wrong searches for the first drift."""

from __future__ import annotations

import torch

from exercises.mutants import Mutants

MUTANTS = Mutants()


# ---------------------------------------------------------------- token in, token out (rollout.py)
def _padded(masks: list[list[int]], fill: int = 0, left: bool = False) -> torch.Tensor:
    """The masks stacked to the longest, padded with ``fill`` on the right (or the left)."""
    width = max(len(m) for m in masks)
    out = torch.full((len(masks), width), fill, dtype=torch.long)
    for row, mask in enumerate(masks):
        if left:
            out[row, width - len(mask) :] = torch.tensor(mask)
        else:
            out[row, : len(mask)] = torch.tensor(mask)
    return out


@MUTANTS.add(
    "shifted_action_mask",
    "drop the last column instead of the first, so column t marks ids[t], not ids[t + 1]",
)
def _mask_shift_wrong_way(masks):
    return _padded(masks)[:, :-1]


@MUTANTS.add("shifted_action_mask", "forget the shift and return the (B, T) mask")
def _mask_not_shifted(masks):
    return _padded(masks)


@MUTANTS.add("shifted_action_mask", "pad with 1, so padding counts as actions")
def _mask_padded_with_ones(masks):
    return _padded(masks, fill=1)[:, 1:]


@MUTANTS.add(
    "shifted_action_mask",
    "left-pad the rows, as D2 pads prompts for generation, while collate right-pads the ids",
)
def _mask_left_padded(masks):
    return _padded(masks, left=True)[:, 1:]


@MUTANTS.add(
    "shifted_action_mask",
    "mark every token after the task, observations included (the no-mask ablation's mask)",
)
def _mask_after_task(masks):
    after = [[int(any(m[: i + 1])) for i in range(len(m))] for m in masks]
    return _padded(after)[:, 1:]


@MUTANTS.add(
    "shifted_action_mask", "mark the task and the observations instead of the sampled tokens"
)
def _mask_inverted(masks):
    return _padded([[1 - x for x in m] for m in masks])[:, 1:]


def _tail(sampled, retokenized):
    """Where the shorter list ends, if the lists have different lengths; else None."""
    return None if len(sampled) == len(retokenized) else min(len(sampled), len(retokenized))


@MUTANTS.add(
    "first_drift",
    "stop at the end of the shorter list, so a list that ends early counts as no drift",
)
def _drift_shorter_only(sampled, retokenized):
    for position, (a, b) in enumerate(zip(sampled, retokenized, strict=False)):
        if a != b:
            return position
    return None


@MUTANTS.add("first_drift", "count positions from 1 instead of 0")
def _drift_one_based(sampled, retokenized):
    for position, (a, b) in enumerate(zip(sampled, retokenized, strict=False), start=1):
        if a != b:
            return position
    tail = _tail(sampled, retokenized)
    return None if tail is None else tail + 1


@MUTANTS.add("first_drift", "return the last position where the ids differ, not the first")
def _drift_last(sampled, retokenized):
    found = None
    for position, (a, b) in enumerate(zip(sampled, retokenized, strict=False)):
        if a != b:
            found = position
    return found if found is not None else _tail(sampled, retokenized)


@MUTANTS.add("first_drift", "return the sampled token at the drift instead of its position")
def _drift_token(sampled, retokenized):
    for a, b in zip(sampled, retokenized, strict=False):
        if a != b:
            return a
    tail = _tail(sampled, retokenized)
    longer = sampled if len(sampled) > len(retokenized) else retokenized
    return None if tail is None else longer[tail]


@MUTANTS.add(
    "first_drift", "zip the lists with strict=True, which raises when their lengths differ"
)
def _drift_strict_zip(sampled, retokenized):
    for position, (a, b) in enumerate(zip(sampled, retokenized, strict=True)):
        if a != b:
            return position
    return None


@MUTANTS.add("first_drift", "return 0, not None, when the lists are equal")
def _drift_zero_when_equal(sampled, retokenized):
    for position, (a, b) in enumerate(zip(sampled, retokenized, strict=False)):
        if a != b:
            return position
    tail = _tail(sampled, retokenized)
    return 0 if tail is None else tail
