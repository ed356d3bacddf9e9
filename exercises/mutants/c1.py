"""Mutants of lesson C1: wrong n-step returns, GAE recursions and A2C losses."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _nstep(
    rewards,
    next_values,
    terminated,
    truncated,
    gamma,
    n,
    *,
    cross_cut=False,
    cut_ends=False,
    end_bootstrap=True,
    honour_terminal=True,
    short_power=False,
    extra=0,
):
    """n_step_returns with the mistakes switched on by keyword flags."""
    T = len(rewards)
    returns = np.zeros(T)
    for t in range(T):
        g, discount = 0.0, 1.0
        last = min(t + n + extra, T) - 1
        for k in range(t, last + 1):
            g += discount * rewards[k]
            if not short_power:
                discount *= gamma
            if (terminated[k] and honour_terminal) or (truncated[k] and cut_ends):
                break
            if (truncated[k] and not cross_cut) or k == last:
                if k < T - 1 or end_bootstrap or k < last:
                    g += discount * next_values[k]
                break
            if short_power:
                discount *= gamma
        returns[t] = g
    return returns


@MUTANTS.add("n_step_returns", "run the sum across the time-limit cut into the next episode")
def _n_cross_cut(rewards, next_values, terminated, truncated, gamma, n):
    return _nstep(rewards, next_values, terminated, truncated, gamma, n, cross_cut=True)


@MUTANTS.add("n_step_returns", "treat the time-limit cut as a termination (no bootstrap there)")
def _n_cut_ends(rewards, next_values, terminated, truncated, gamma, n):
    return _nstep(rewards, next_values, terminated, truncated, gamma, n, cut_ends=True)


@MUTANTS.add("n_step_returns", "forget to bootstrap at the end of the rollout")
def _n_no_end_bootstrap(rewards, next_values, terminated, truncated, gamma, n):
    return _nstep(rewards, next_values, terminated, truncated, gamma, n, end_bootstrap=False)


@MUTANTS.add("n_step_returns", "bootstrap through the terminal state")
def _n_through_terminal(rewards, next_values, terminated, truncated, gamma, n):
    cut = np.maximum(terminated, truncated)
    return _nstep(rewards, next_values, terminated, cut, gamma, n, honour_terminal=False)


@MUTANTS.add("n_step_returns", "discount the bootstrap value by gamma^(k-1), one power too few")
def _n_short_power(rewards, next_values, terminated, truncated, gamma, n):
    return _nstep(rewards, next_values, terminated, truncated, gamma, n, short_power=True)


@MUTANTS.add("n_step_returns", "sum n + 1 rewards before bootstrapping (off by one)")
def _n_extra(rewards, next_values, terminated, truncated, gamma, n):
    return _nstep(rewards, next_values, terminated, truncated, gamma, n, extra=1)


def _gae(
    rewards,
    values,
    next_values,
    terminated,
    truncated,
    gamma,
    lam,
    *,
    stop_at_cut=True,
    cut_ends=False,
    honour_terminal=True,
    recursion_gamma=True,
    use_values=False,
    plus=True,
):
    """gae_advantages with the mistakes switched on by keyword flags."""
    rewards, values, next_values = (
        np.asarray(x, dtype=np.float64) for x in (rewards, values, next_values)
    )
    term = np.asarray(terminated, dtype=np.float64)
    trunc = np.asarray(truncated, dtype=np.float64)
    ends = (term if honour_terminal else 0 * term) + (trunc if cut_ends else 0 * trunc)
    cuts = trunc if stop_at_cut else 0 * trunc
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        nxt = values[t + 1] if use_values and t + 1 < len(rewards) else next_values[t]
        delta = rewards[t] + gamma * (1 - ends[t]) * nxt - values[t]
        decay = (gamma if recursion_gamma else 1.0) * lam
        running = delta + decay * (1 - term[t]) * (1 - cuts[t]) * running
        advantages[t] = running
    return advantages, advantages + values if plus else advantages - values


@MUTANTS.add("gae_advantages", "let the recursion run across the cut into the next episode")
def _gae_across_cut(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam, stop_at_cut=False)


@MUTANTS.add("gae_advantages", "treat the cut as a termination (no bootstrap in its delta)")
def _gae_cut_ends(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam, cut_ends=True)


@MUTANTS.add("gae_advantages", "bootstrap through the terminal state")
def _gae_through_terminal(rewards, values, next_values, terminated, truncated, gamma, lam):
    cut = np.maximum(np.asarray(terminated), np.asarray(truncated))
    return _gae(rewards, values, next_values, 0 * cut, cut, gamma, lam)


@MUTANTS.add("gae_advantages", "forget gamma in the recursion (decay by lambda alone)")
def _gae_no_gamma(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(
        rewards, values, next_values, terminated, truncated, gamma, lam, recursion_gamma=False
    )


@MUTANTS.add(
    "gae_advantages",
    "take V(S_{t+1}) from values[t + 1], which at a cut is the next episode's first state",
)
def _gae_values_shift(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam, use_values=True)


@MUTANTS.add("gae_advantages", "return advantages - values as the returns")
def _gae_minus(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam, plus=False)


def _a2c(
    log_probs,
    entropy,
    values,
    advantages,
    returns,
    vf_coef=0.5,
    ent_coef=0.0,
    *,
    sign=-1.0,
    half=False,
    ent_sign=-1.0,
    use_vf=True,
    detach_adv=True,
    detach_ret=True,
):
    """actor_critic_loss with the mistakes switched on by keyword flags."""
    adv = advantages.detach() if detach_adv else advantages
    ret = returns.detach() if detach_ret else returns
    policy = sign * (adv * log_probs).mean()
    value = ((values - ret) ** 2).mean() * (0.5 if half else 1.0)
    ent = entropy.mean()
    loss = policy + (vf_coef if use_vf else 1.0) * value + ent_sign * ent_coef * ent
    return {"loss": loss, "policy": policy, "value": value, "entropy": ent}


@MUTANTS.add("actor_critic_loss", "forget the minus sign")
def _a2c_sign(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(log_probs, entropy, values, advantages, returns, vf_coef, ent_coef, sign=1.0)


@MUTANTS.add("actor_critic_loss", "halve the squared error (vf_coef = 0.5 already does)")
def _a2c_half(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(log_probs, entropy, values, advantages, returns, vf_coef, ent_coef, half=True)


@MUTANTS.add("actor_critic_loss", "add the entropy bonus instead of subtracting it")
def _a2c_ent_sign(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(log_probs, entropy, values, advantages, returns, vf_coef, ent_coef, ent_sign=1.0)


@MUTANTS.add("actor_critic_loss", "forget vf_coef")
def _a2c_no_vf(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(log_probs, entropy, values, advantages, returns, vf_coef, ent_coef, use_vf=False)


@MUTANTS.add("actor_critic_loss", "forget to detach the advantages")
def _a2c_adv_grad(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(
        log_probs, entropy, values, advantages, returns, vf_coef, ent_coef, detach_adv=False
    )


@MUTANTS.add("actor_critic_loss", "forget to detach the returns")
def _a2c_ret_grad(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(
        log_probs, entropy, values, advantages, returns, vf_coef, ent_coef, detach_ret=False
    )


@MUTANTS.add(
    "actor_critic_loss", "weight the log-probabilities by the returns instead of the advantages"
)
def _a2c_returns_weight(log_probs, entropy, values, advantages, returns, vf_coef=0.5, ent_coef=0.0):
    return _a2c(log_probs, entropy, values, returns, returns, vf_coef, ent_coef)
