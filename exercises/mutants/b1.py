"""Mutants of lesson B1: wrong Q-learning targets, TD(0) loops and epsilon-greedy choices."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _q_step(q, state, action, target, alpha):
    td = target - q[state, action]
    q[state, action] += alpha * td
    return float(td)


@MUTANTS.add("q_update", "bootstrap through the terminal state (target r + gamma max Q(s'))")
def _q_through_terminal(q, state, action, reward, next_state, terminated, alpha, gamma):
    return _q_step(q, state, action, reward + gamma * q[next_state].max(), alpha)


@MUTANTS.add("q_update", "bootstrap from Q(s', a) of the action taken instead of the max over a'")
def _q_action_taken(q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward if terminated else reward + gamma * q[next_state, action]
    return _q_step(q, state, action, target, alpha)


@MUTANTS.add("q_update", "use the mean of Q(s') instead of its max (that is expected SARSA)")
def _q_mean(q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward if terminated else reward + gamma * q[next_state].mean()
    return _q_step(q, state, action, target, alpha)


@MUTANTS.add("q_update", "forget the step size alpha")
def _q_no_alpha(q, state, action, reward, next_state, terminated, alpha, gamma):
    return _q_step(
        q, state, action, reward if terminated else reward + gamma * q[next_state].max(), 1.0
    )


@MUTANTS.add("q_update", "bootstrap from max Q(s) of the current state instead of Q(s')")
def _q_current_state(q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward if terminated else reward + gamma * q[state].max()
    return _q_step(q, state, action, target, alpha)


@MUTANTS.add("q_update", "return the new Q(s, a) instead of the TD error")
def _q_return_value(q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward if terminated else reward + gamma * q[next_state].max()
    _q_step(q, state, action, target, alpha)
    return float(q[state, action])


@MUTANTS.add("q_update", "forget the discount gamma")
def _q_no_gamma(q, state, action, reward, next_state, terminated, alpha, gamma):
    target = reward if terminated else reward + q[next_state].max()
    return _q_step(q, state, action, target, alpha)


def _td0(env, policy, episodes, alpha, gamma, rng, *, choose=None, bootstrap=None, stop=None):
    """TD(0) with pluggable action choice, bootstrap rule and stopping rule."""
    v = np.zeros(env.observation_space.n)
    for _ in range(episodes):
        state, _ = env.reset()
        done = False
        while not done:
            if policy.ndim == 1:
                action = int(policy[state])
            elif choose is None:
                action = int(rng.choice(len(policy[state]), p=policy[state]))
            else:
                action = choose(policy[state], rng)
            next_state, reward, terminated, truncated, _ = env.step(action)
            ends = terminated if bootstrap is None else bootstrap(terminated, truncated)
            target = reward + (0.0 if ends else gamma * v[next_state])
            v[state] += alpha * (target - v[state])
            state = next_state
            done = (terminated or truncated) if stop is None else stop(terminated, truncated)
    return v


@MUTANTS.add("td0_prediction", "bootstrap through the terminal state")
def _td0_through_terminal(env, policy, episodes, alpha, gamma, rng):
    return _td0(env, policy, episodes, alpha, gamma, rng, bootstrap=lambda term, trunc: False)


@MUTANTS.add("td0_prediction", "treat the time-limit cut like a termination (no bootstrap)")
def _td0_cut_ends(env, policy, episodes, alpha, gamma, rng):
    return _td0(
        env, policy, episodes, alpha, gamma, rng, bootstrap=lambda term, trunc: term or trunc
    )


@MUTANTS.add("td0_prediction", "take the most probable action instead of sampling one")
def _td0_argmax(env, policy, episodes, alpha, gamma, rng):
    return _td0(env, policy, episodes, alpha, gamma, rng, choose=lambda p, rng: int(np.argmax(p)))


@MUTANTS.add("td0_prediction", "draw actions uniformly, ignoring the policy's probabilities")
def _td0_uniform(env, policy, episodes, alpha, gamma, rng):
    return _td0(
        env, policy, episodes, alpha, gamma, rng, choose=lambda p, rng: int(rng.integers(len(p)))
    )


@MUTANTS.add("td0_prediction", "stop only at terminated, not at truncated")
def _td0_no_stop_at_cut(env, policy, episodes, alpha, gamma, rng):
    return _td0(env, policy, episodes, alpha, gamma, rng, stop=lambda term, trunc: term)


@MUTANTS.add("td0_prediction", "forget the discount gamma")
def _td0_no_gamma(env, policy, episodes, alpha, gamma, rng):
    return _td0(env, policy, episodes, alpha, 1.0, rng)


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
