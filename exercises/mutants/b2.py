"""Mutants of lesson B2: wrong episode records and wrong Monte Carlo averages."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _run(env, policy, encode=int, *, wrong=""):
    """run_episode with the mistake ``wrong`` names.

    Mistakes:
        next_obs: record the next observation instead of the one acted in
        no_cut: stop only at terminated, not at truncated
        no_encode: store the raw observation instead of encode(obs)
        shifted_reward: record the reward of the previous step (R_t instead of R_{t+1})
        drop_last: leave out the last step (stop before recording it)
    """
    encode = int if wrong == "no_encode" else encode
    states, rewards = [], []
    obs, _ = env.reset()
    done, previous = False, 0.0
    while not done:
        next_obs, reward, terminated, truncated, _ = env.step(policy(obs))
        done = terminated if wrong == "no_cut" else (terminated or truncated)
        if wrong == "drop_last" and done:
            break
        states.append(encode(next_obs if wrong == "next_obs" else obs))
        rewards.append(previous if wrong == "shifted_reward" else float(reward))
        obs, previous = next_obs, float(reward)
    return states, rewards


MUTANTS.flags("run_episode", _run)


def _mc(v, n, states, rewards, gamma, first_visit=True, *, wrong=""):
    """mc_update with the mistake ``wrong`` names.

    Mistakes:
        last_visit: count the last visit instead of the first (the first one met walking
            backwards)
        late_g: leave out the reward that follows S_t (G_t starts with rewards[t] = R_{t+1})
        always_every: count every visit even when first_visit is True
        always_first: count only the first visit even when first_visit is False
        no_gamma: forget the discount
        overwrite: overwrite V(s) with the latest return instead of averaging
    """
    first_visit = {"always_every": False, "always_first": True}.get(wrong, first_visit)
    gamma = 1.0 if wrong == "no_gamma" else gamma
    late_g = wrong == "late_g"
    first_time, last_time = {}, {}
    for t, s in enumerate(states):
        first_time.setdefault(s, t)
        last_time[s] = t
    counted = last_time if wrong == "last_visit" else first_time
    g = 0.0
    for t in range(len(states) - 1, -1, -1):
        if not late_g:
            g = rewards[t] + gamma * g
        s = states[t]
        if first_visit and counted[s] != t:
            if late_g:
                g = rewards[t] + gamma * g
            continue
        n[s] += 1
        v[s] = g if wrong == "overwrite" else v[s] + (g - v[s]) / n[s]
        if late_g:
            g = rewards[t] + gamma * g


MUTANTS.flags("mc_update", _mc)


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
