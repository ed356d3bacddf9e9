"""Mutants of lesson B1: wrong Q-learning targets, TD(0) loops and epsilon-greedy choices."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _q(q, state, action, reward, next_state, terminated, alpha, gamma, *, wrong=""):
    """q_update with the mistake ``wrong`` names.

    Mistakes:
        through_terminal: bootstrap through the terminal state (target r + gamma max Q(s'))
        action_taken: bootstrap from Q(s', a) of the action taken instead of the max over a'
        mean: use the mean of Q(s') instead of its max (that is expected SARSA)
        no_alpha: forget the step size alpha
        current_state: bootstrap from max Q(s) of the current state instead of Q(s')
        return_value: return the new Q(s, a) instead of the TD error
        no_gamma: forget the discount gamma
    """
    row = q[state] if wrong == "current_state" else q[next_state]
    if wrong == "action_taken":
        best = row[action]
    else:
        best = row.mean() if wrong == "mean" else row.max()
    if terminated and wrong != "through_terminal":
        target = reward
    else:
        target = reward + (1.0 if wrong == "no_gamma" else gamma) * best
    td = target - q[state, action]
    q[state, action] += (1.0 if wrong == "no_alpha" else alpha) * td
    return float(q[state, action]) if wrong == "return_value" else float(td)


MUTANTS.flags("q_update", _q)


def _td0(env, policy, episodes, alpha, gamma, rng, *, wrong=""):
    """td0_prediction with the mistake ``wrong`` names.

    Mistakes:
        through_terminal: bootstrap through the terminal state
        cut_ends: treat the time-limit cut like a termination (no bootstrap)
        argmax: take the most probable action instead of sampling one
        uniform: draw actions uniformly, ignoring the policy's probabilities
        no_stop_at_cut: stop only at terminated, not at truncated
        no_gamma: forget the discount gamma
    """
    draw = {
        "argmax": lambda p: int(np.argmax(p)),
        "uniform": lambda p: int(rng.integers(len(p))),
    }.get(wrong, lambda p: int(rng.choice(len(p), p=p)))
    discount = 1.0 if wrong == "no_gamma" else gamma
    v = np.zeros(env.observation_space.n)
    for _ in range(episodes):
        state, _ = env.reset()
        done = False
        while not done:
            action = int(policy[state]) if policy.ndim == 1 else draw(policy[state])
            next_state, reward, terminated, truncated, _ = env.step(action)
            ends = terminated or (truncated and wrong == "cut_ends")
            ends = ends and wrong != "through_terminal"
            v[state] += alpha * (reward + (0.0 if ends else discount * v[next_state]) - v[state])
            state = next_state
            done = terminated or (truncated and wrong != "no_stop_at_cut")
    return v


MUTANTS.flags("td0_prediction", _td0)


@MUTANTS.add("epsilon_greedy", "explore with probability 1 - epsilon")
def _eg_flipped(q_row, epsilon, rng):
    if rng.random() < 1 - epsilon:
        return int(rng.integers(len(q_row)))
    return int(rng.choice(np.flatnonzero(q_row == q_row.max())))


@MUTANTS.add("epsilon_greedy", "explore only among the non-greedy actions")
def _eg_non_greedy(q_row, epsilon, rng):
    best = np.flatnonzero(q_row == q_row.max())
    if rng.random() < epsilon:
        others = np.setdiff1d(np.arange(len(q_row)), best)
        return int(rng.choice(others)) if len(others) else int(rng.choice(best))
    return int(rng.choice(best))


@MUTANTS.add("epsilon_greedy", "break ties with np.argmax, which always picks the first")
def _eg_argmax(q_row, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    return int(np.argmax(q_row))


@MUTANTS.add("epsilon_greedy", "never explore (ignore epsilon)")
def _eg_greedy(q_row, epsilon, rng):
    return int(rng.choice(np.flatnonzero(q_row == q_row.max())))


@MUTANTS.add(
    "epsilon_greedy", "explore with rng.integers(len(q_row) - 1), so the last action is never drawn"
)
def _eg_off_by_one(q_row, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row) - 1))
    return int(rng.choice(np.flatnonzero(q_row == q_row.max())))


@MUTANTS.add("epsilon_greedy", "take the argmin (the worst action) when exploiting")
def _eg_argmin(q_row, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    return int(rng.choice(np.flatnonzero(q_row == q_row.min())))
