"""Mutants of lesson B2: wrong episode records and wrong Monte Carlo averages."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _play(
    env, policy, encode=int, *, record_next=False, shift=False, stop_on_cut=True, drop_last=False
):
    """run_episode with the mistakes switched on by flags."""
    states, rewards = [], []
    obs, _ = env.reset()
    done, previous = False, 0.0
    while not done:
        next_obs, reward, terminated, truncated, _ = env.step(policy(obs))
        done = (terminated or truncated) if stop_on_cut else terminated
        if drop_last and done:
            break
        states.append(encode(next_obs if record_next else obs))
        rewards.append(previous if shift else float(reward))
        obs, previous = next_obs, float(reward)
    return states, rewards


@MUTANTS.add("run_episode", "record the next observation instead of the one acted in")
def _run_next_obs(env, policy, encode=int):
    return _play(env, policy, encode, record_next=True)


@MUTANTS.add("run_episode", "stop only at terminated, not at truncated")
def _run_no_cut(env, policy, encode=int):
    return _play(env, policy, encode, stop_on_cut=False)


@MUTANTS.add("run_episode", "store the raw observation instead of encode(obs)")
def _run_no_encode(env, policy, encode=int):
    return _play(env, policy)


@MUTANTS.add("run_episode", "record the reward of the previous step (R_t instead of R_{t+1})")
def _run_shifted_reward(env, policy, encode=int):
    return _play(env, policy, encode, shift=True)


@MUTANTS.add("run_episode", "leave out the last step (stop before recording it)")
def _run_drop_last(env, policy, encode=int):
    return _play(env, policy, encode, drop_last=True)


def _mc(
    v, n, states, rewards, gamma, first_visit=True, *, keep="first", late_g=False, average=True
):
    """mc_update with the mistakes switched on by keyword flags."""
    first_time, last_time = {}, {}
    for t, s in enumerate(states):
        first_time.setdefault(s, t)
        last_time[s] = t
    g = 0.0
    for t in range(len(states) - 1, -1, -1):
        if not late_g:
            g = rewards[t] + gamma * g
        s = states[t]
        counted = first_time if keep == "first" else last_time
        if first_visit and counted[s] != t:
            if late_g:
                g = rewards[t] + gamma * g
            continue
        n[s] += 1
        v[s] = v[s] + (g - v[s]) / n[s] if average else g
        if late_g:
            g = rewards[t] + gamma * g


@MUTANTS.add(
    "mc_update", "count the last visit instead of the first (the first one met walking backwards)"
)
def _mc_last_visit(v, n, states, rewards, gamma, first_visit=True):
    _mc(v, n, states, rewards, gamma, first_visit, keep="last")


@MUTANTS.add(
    "mc_update", "leave out the reward that follows S_t (G_t starts with rewards[t] = R_{t+1})"
)
def _mc_late_g(v, n, states, rewards, gamma, first_visit=True):
    _mc(v, n, states, rewards, gamma, first_visit, late_g=True)


@MUTANTS.add("mc_update", "count every visit even when first_visit is True")
def _mc_always_every(v, n, states, rewards, gamma, first_visit=True):
    _mc(v, n, states, rewards, gamma, False)


@MUTANTS.add("mc_update", "count only the first visit even when first_visit is False")
def _mc_always_first(v, n, states, rewards, gamma, first_visit=True):
    _mc(v, n, states, rewards, gamma, True)


@MUTANTS.add("mc_update", "forget the discount")
def _mc_no_gamma(v, n, states, rewards, gamma, first_visit=True):
    _mc(v, n, states, rewards, 1.0, first_visit)


@MUTANTS.add("mc_update", "overwrite V(s) with the latest return instead of averaging")
def _mc_overwrite(v, n, states, rewards, gamma, first_visit=True):
    _mc(v, n, states, rewards, gamma, first_visit, average=False)


@MUTANTS.add("mc_update", "accumulate the return forwards (a sum of the past rewards)")
def _mc_forwards(v, n, states, rewards, gamma, first_visit=True):
    seen, g = set(), 0.0
    for t, s in enumerate(states):
        g = rewards[t] + gamma * g
        if first_visit and s in seen:
            continue
        seen.add(s)
        n[s] += 1
        v[s] += (g - v[s]) / n[s]


@MUTANTS.add(
    "mc_update", "apply the discount to the rewards by their index, gamma^t R_{t+1}, not from S_t"
)
def _mc_global_discount(v, n, states, rewards, gamma, first_visit=True):
    first_time = {}
    for t, s in enumerate(states):
        first_time.setdefault(s, t)
    discounted = np.asarray(rewards, dtype=float) * gamma ** np.arange(len(rewards))
    for t in range(len(states) - 1, -1, -1):
        s = states[t]
        if first_visit and first_time[s] != t:
            continue
        n[s] += 1
        v[s] += (discounted[t:].sum() - v[s]) / n[s]
