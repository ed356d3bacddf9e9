"""Mutants of lesson B0: wrong UCB bonuses and wrong incremental averages."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants
from snippets.b0_multi_armed_bandits import argmax_random_ties

MUTANTS = Mutants()


def _ucb(q, counts, bonus, rng, untried=np.inf):
    """Argmax of q + bonus with random ties, untried arms given ``untried``."""
    return argmax_random_ties(q + np.where(counts > 0, bonus, untried), rng)


@MUTANTS.add("ucb_actions", "use log10 instead of the natural log")
def _ucb_log10(q, counts, t, c, rng):
    return _ucb(q, counts, c * np.sqrt(np.log10(t) / np.maximum(counts, 1)), rng)


@MUTANTS.add("ucb_actions", "misplace the brackets: c sqrt(ln t) / N(a)")
def _ucb_brackets(q, counts, t, c, rng):
    return _ucb(q, counts, c * np.sqrt(np.log(t)) / np.maximum(counts, 1), rng)


@MUTANTS.add("ucb_actions", "leave out the square root")
def _ucb_no_sqrt(q, counts, t, c, rng):
    return _ucb(q, counts, c * np.log(t) / np.maximum(counts, 1), rng)


@MUTANTS.add("ucb_actions", "put c inside the square root")
def _ucb_c_inside(q, counts, t, c, rng):
    return _ucb(q, counts, np.sqrt(c * np.log(t) / np.maximum(counts, 1)), rng)


@MUTANTS.add("ucb_actions", "break ties with np.argmax, which always picks the first")
def _ucb_argmax(q, counts, t, c, rng):
    bonus = np.where(counts > 0, c * np.sqrt(np.log(t) / np.maximum(counts, 1)), np.inf)
    return np.argmax(q + bonus, axis=1)


@MUTANTS.add("ucb_actions", "give an untried arm no bonus instead of an infinite one")
def _ucb_untried_zero(q, counts, t, c, rng):
    return _ucb(q, counts, c * np.sqrt(np.log(t) / np.maximum(counts, 1)), rng, untried=0.0)


@MUTANTS.add("ucb_actions", "subtract the bonus instead of adding it")
def _ucb_minus(q, counts, t, c, rng):
    bonus = np.where(counts > 0, -c * np.sqrt(np.log(t) / np.maximum(counts, 1)), np.inf)
    return argmax_random_ties(q + bonus, rng)


@MUTANTS.add("update_estimates", "return a new array instead of changing q in place")
def _upd_copy(q, counts, actions, rewards, step_size=None):
    rows = np.arange(q.shape[0])
    counts[rows, actions] += 1
    alpha = 1.0 / counts[rows, actions] if step_size is None else step_size
    q = q.copy()
    q[rows, actions] += alpha * (rewards - q[rows, actions])
    return q


@MUTANTS.add("update_estimates", "step by 1 / (N + 1) after counting the pull")
def _upd_n_plus_one(q, counts, actions, rewards, step_size=None):
    rows = np.arange(q.shape[0])
    counts[rows, actions] += 1
    alpha = 1.0 / (counts[rows, actions] + 1) if step_size is None else step_size
    q[rows, actions] += alpha * (rewards - q[rows, actions])


@MUTANTS.add("update_estimates", "ignore step_size (always step by 1 / N)")
def _upd_no_step_size(q, counts, actions, rewards, step_size=None):
    rows = np.arange(q.shape[0])
    counts[rows, actions] += 1
    q[rows, actions] += (rewards - q[rows, actions]) / counts[rows, actions]


@MUTANTS.add("update_estimates", "index q[:, actions], which updates those arms in every run")
def _upd_all_runs(q, counts, actions, rewards, step_size=None):
    rows = np.arange(q.shape[0])
    counts[rows, actions] += 1
    alpha = 1.0 / counts[rows, actions] if step_size is None else step_size
    q[:, actions] += alpha * (rewards - q[rows, actions])


@MUTANTS.add("update_estimates", "move Q(a) by (Q - R) / N, the wrong way")
def _upd_wrong_sign(q, counts, actions, rewards, step_size=None):
    rows = np.arange(q.shape[0])
    counts[rows, actions] += 1
    alpha = 1.0 / counts[rows, actions] if step_size is None else step_size
    q[rows, actions] += alpha * (q[rows, actions] - rewards)


@MUTANTS.add("update_estimates", "forget to count the pull when step_size is given")
def _upd_no_count_with_step(q, counts, actions, rewards, step_size=None):
    rows = np.arange(q.shape[0])
    if step_size is None:
        counts[rows, actions] += 1
    alpha = 1.0 / counts[rows, actions] if step_size is None else step_size
    q[rows, actions] += alpha * (rewards - q[rows, actions])
