"""Mutants of lesson C1: wrong n-step returns, GAE recursions and A2C losses."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _n(rewards, next_values, terminated, truncated, gamma, n, *, wrong=""):
    """n_step_returns with the mistake ``wrong`` names.

    Mistakes:
        cross_cut: run the sum across the time-limit cut into the next episode
        cut_ends: treat the time-limit cut as a termination (no bootstrap there)
        no_end_bootstrap: forget to bootstrap at the end of the rollout
        through_terminal: bootstrap through the terminal state
        short_power: discount the bootstrap value by gamma^(k-1), one power too few
        extra: sum n + 1 rewards before bootstrapping (off by one)
    """
    honour_terminal, short_power = wrong != "through_terminal", wrong == "short_power"
    if not honour_terminal:  # every ending becomes a cut, bootstrapped like one
        truncated = np.maximum(terminated, truncated)
    T = len(rewards)
    returns = np.zeros(T)
    for t in range(T):
        g, discount = 0.0, 1.0
        last = min(t + n + (1 if wrong == "extra" else 0), T) - 1
        for k in range(t, last + 1):
            g += discount * rewards[k]
            if not short_power:
                discount *= gamma
            if (terminated[k] and honour_terminal) or (truncated[k] and wrong == "cut_ends"):
                break
            if (truncated[k] and wrong != "cross_cut") or k == last:
                if k < T - 1 or wrong != "no_end_bootstrap" or k < last:
                    g += discount * next_values[k]
                break
            if short_power:
                discount *= gamma
        returns[t] = g
    return returns


MUTANTS.flags("n_step_returns", _n)


def _gae(rewards, values, next_values, terminated, truncated, gamma, lam, *, wrong=""):
    """gae_advantages with the mistake ``wrong`` names.

    Mistakes:
        across_cut: let the recursion run across the cut into the next episode
        cut_ends: treat the cut as a termination (no bootstrap in its delta)
        through_terminal: bootstrap through the terminal state
        no_gamma: forget gamma in the recursion (decay by lambda alone)
        values_shift: take V(S_{t+1}) from values[t + 1], which at a cut is the next
            episode's first state
        minus: return advantages - values as the returns
    """
    if wrong == "through_terminal":  # every ending becomes a cut, bootstrapped like one
        truncated = np.maximum(np.asarray(terminated), np.asarray(truncated))
        terminated = 0 * truncated
    rewards, values, next_values = (
        np.asarray(x, dtype=np.float64) for x in (rewards, values, next_values)
    )
    term = np.asarray(terminated, dtype=np.float64)
    trunc = np.asarray(truncated, dtype=np.float64)
    ends = term + (trunc if wrong == "cut_ends" else 0 * trunc)
    cuts = 0 * trunc if wrong == "across_cut" else trunc
    decay = (1.0 if wrong == "no_gamma" else gamma) * lam
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        shifted = wrong == "values_shift" and t + 1 < len(rewards)
        nxt = values[t + 1] if shifted else next_values[t]
        delta = rewards[t] + gamma * (1 - ends[t]) * nxt - values[t]
        running = delta + decay * (1 - term[t]) * (1 - cuts[t]) * running
        advantages[t] = running
    return advantages, advantages - values if wrong == "minus" else advantages + values


MUTANTS.flags("gae_advantages", _gae)


def _a2c(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0, *, wrong=""):
    """actor_critic_loss with the mistake ``wrong`` names.

    Mistakes:
        sign: forget the minus sign
        half: halve the squared error (vf_coef = 0.5 already does)
        ent_sign: add the entropy bonus instead of subtracting it
        no_vf: forget vf_coef
        adv_grad: forget to detach the advantages
        ret_grad: forget to detach the returns
        returns_weight: weight the log-probabilities by the returns instead of the
            advantages
    """
    adv = returns if wrong == "returns_weight" else advantages
    adv = adv if wrong == "adv_grad" else adv.detach()
    ret = returns if wrong == "ret_grad" else returns.detach()
    policy = (1.0 if wrong == "sign" else -1.0) * (adv * log_probs).mean()
    value = ((values - ret) ** 2).mean() * (0.5 if wrong == "half" else 1.0)
    ent = entropy.mean()
    vf = 1.0 if wrong == "no_vf" else vf_coef
    loss = policy + vf * value + (1.0 if wrong == "ent_sign" else -1.0) * ent_coef * ent
    return {"loss": loss, "policy": policy, "value": value, "entropy": ent}


MUTANTS.flags("actor_critic_loss", _a2c)
