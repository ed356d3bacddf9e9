"""Mutants of lesson D6: wrong truncated importance weights and wrong masked-IS filters."""

from __future__ import annotations

import math

import torch

from exercises.mutants import Mutants

MUTANTS = Mutants()


# ---------------------------------------------------------------- the corrections (correction.py)
def _band(clip_min, clip_max):
    return -math.inf if clip_min is None else clip_min, math.inf if clip_max is None else clip_max


@MUTANTS.add("truncated_weights", "zero the ratios outside the band (masking) instead of clamping")
def _truncate_by_masking(log_ratio, clip_min, clip_max):
    ratio = torch.exp(log_ratio)
    low, high = _band(clip_min, clip_max)
    return ratio.masked_fill((ratio < low) | (ratio > high), 0.0)


@MUTANTS.add("truncated_weights", "clamp the log-ratio to [C_min, C_max], then exponentiate")
def _truncate_the_log(log_ratio, clip_min, clip_max):
    return torch.exp(torch.clamp(log_ratio, min=clip_min, max=clip_max))


@MUTANTS.add("truncated_weights", "cap the ratio at C_max but ignore the floor C_min")
def _truncate_cap_only(log_ratio, clip_min, clip_max):
    return torch.clamp(torch.exp(log_ratio), max=clip_max)


@MUTANTS.add("truncated_weights", "read a None bound as 0 instead of no bound")
def _truncate_none_as_zero(log_ratio, clip_min, clip_max):
    low, high = (0.0 if c is None else c for c in (clip_min, clip_max))
    return torch.clamp(torch.exp(log_ratio), min=low, max=high)


@MUTANTS.add("truncated_weights", "use the symmetric band [1/C_max, C_max], ignoring C_min")
def _truncate_symmetric(log_ratio, clip_min, clip_max):
    low = None if clip_max is None else 1.0 / clip_max
    return torch.clamp(torch.exp(log_ratio), min=low, max=clip_max)


@MUTANTS.add("masked_weights", "clamp the ratio into the band (truncation) instead of dropping it")
def _mask_by_clamping(log_ratio, clip_min, clip_max):
    return torch.clamp(torch.exp(log_ratio), min=clip_min, max=clip_max)


@MUTANTS.add("masked_weights", "drop the ratios inside the band and keep those outside")
def _mask_inverted(log_ratio, clip_min, clip_max):
    ratio = torch.exp(log_ratio)
    low, high = _band(clip_min, clip_max)
    return ratio.masked_fill((ratio >= low) & (ratio <= high), 0.0)


@MUTANTS.add("masked_weights", "return the 0/1 keep flag instead of the kept ratio")
def _mask_flag_only(log_ratio, clip_min, clip_max):
    ratio = torch.exp(log_ratio)
    low, high = _band(clip_min, clip_max)
    return ((ratio >= low) & (ratio <= high)).to(ratio.dtype)


@MUTANTS.add("masked_weights", "drop a ratio equal to a bound (keep only the open band)")
def _mask_open_band(log_ratio, clip_min, clip_max):
    ratio = torch.exp(log_ratio)
    low, high = _band(clip_min, clip_max)
    return ratio.masked_fill((ratio <= low) | (ratio >= high), 0.0)


@MUTANTS.add("masked_weights", "read a None bound as 0 instead of no bound")
def _mask_none_as_zero(log_ratio, clip_min, clip_max):
    ratio = torch.exp(log_ratio)
    low, high = (0.0 if c is None else c for c in (clip_min, clip_max))
    return ratio.masked_fill((ratio < low) | (ratio > high), 0.0)


@MUTANTS.add("masked_weights", "compare the log-ratio, not the ratio, with the band")
def _mask_the_log(log_ratio, clip_min, clip_max):
    low, high = _band(clip_min, clip_max)
    return torch.exp(log_ratio).masked_fill((log_ratio < low) | (log_ratio > high), 0.0)
