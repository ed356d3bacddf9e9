"""Mutants of lesson D2: wrong log-probabilities, KL estimates, shaped rewards and GAE."""

from __future__ import annotations

import torch

from exercises.mutants import Mutants

MUTANTS = Mutants()


def _score(logits, tokens):
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


@MUTANTS.add(
    "response_logprobs",
    "score each token with the logits at its own position (an off-by-one: they predict the next token)",
)
def _lp_own_position(logits, input_ids, prompt_length, temperature):
    return _score(logits[:, prompt_length:] / temperature, input_ids[:, prompt_length:])


@MUTANTS.add("response_logprobs", "forget the temperature (divide the logits by it)")
def _lp_no_temperature(logits, input_ids, prompt_length, temperature):
    return _score(logits[:, prompt_length - 1 : -1], input_ids[:, prompt_length:])


@MUTANTS.add("response_logprobs", "multiply the logits by the temperature instead of dividing")
def _lp_times_temperature(logits, input_ids, prompt_length, temperature):
    return _score(logits[:, prompt_length - 1 : -1] * temperature, input_ids[:, prompt_length:])


@MUTANTS.add(
    "response_logprobs", "divide the log-probabilities by the temperature, after the log_softmax"
)
def _lp_temperature_after(logits, input_ids, prompt_length, temperature):
    return _score(logits[:, prompt_length - 1 : -1], input_ids[:, prompt_length:]) / temperature


@MUTANTS.add("response_logprobs", "take probabilities (softmax) instead of log-probabilities")
def _lp_probs(logits, input_ids, prompt_length, temperature):
    return _score(
        logits[:, prompt_length - 1 : -1] / temperature, input_ids[:, prompt_length:]
    ).exp()


@MUTANTS.add("response_logprobs", "start one token early, scoring the last prompt token too")
def _lp_early(logits, input_ids, prompt_length, temperature):
    return _score(
        logits[:, prompt_length - 2 : -1] / temperature, input_ids[:, prompt_length - 1 :]
    )


@MUTANTS.add("kl_per_token", "subtract the other way round")
def _kl_swapped(logprobs, ref_logprobs, kind="k1"):
    log_ratio = ref_logprobs - logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(kind)


@MUTANTS.add("kl_per_token", "take r = pi / pi_ref instead of pi_ref / pi")
def _kl_k3_ratio(logprobs, ref_logprobs, kind="k1"):
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(log_ratio) - log_ratio
    raise ValueError(kind)


@MUTANTS.add("kl_per_token", "return k1 for any other kind instead of raising ValueError")
def _kl_no_error(logprobs, ref_logprobs, kind="k1"):
    log_ratio = logprobs - ref_logprobs
    return torch.expm1(-log_ratio) + log_ratio if kind == "k3" else log_ratio


@MUTANTS.add("kl_per_token", "use half the squared log-ratio (that is k2) for k3")
def _kl_k2(logprobs, ref_logprobs, kind="k1"):
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return 0.5 * log_ratio**2
    raise ValueError(kind)


@MUTANTS.add("kl_per_token", "take |log pi - log pi_ref| for k1, to keep it non-negative")
def _kl_abs(logprobs, ref_logprobs, kind="k1"):
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio.abs()
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(kind)


def _shaped(
    scores, logprobs, ref_logprobs, mask, kl_coef, *, where="last", mask_kl=True, sign=-1.0
):
    """compute_rewards with the mistakes switched on by keyword flags."""
    penalty = sign * kl_coef * (logprobs - ref_logprobs)
    rewards = penalty * mask if mask_kl else penalty.clone()
    rows = torch.arange(len(scores))
    lengths = mask.sum(dim=1).long()
    column = {
        "last": lengths - 1,
        "column": torch.full_like(lengths, mask.shape[1] - 1),
        "first": torch.zeros_like(lengths),
        "past": lengths,
    }[where]
    rewards[rows, column] += scores
    return rewards


@MUTANTS.add("compute_rewards", "add the score on the last column instead of the last real token")
def _cr_last_column(scores, logprobs, ref_logprobs, mask, kl_coef):
    return _shaped(scores, logprobs, ref_logprobs, mask, kl_coef, where="column")


@MUTANTS.add("compute_rewards", "leave the KL penalty on the padded tokens")
def _cr_kl_on_padding(scores, logprobs, ref_logprobs, mask, kl_coef):
    return _shaped(scores, logprobs, ref_logprobs, mask, kl_coef, mask_kl=False)


@MUTANTS.add("compute_rewards", "add the KL term instead of subtracting it")
def _cr_kl_sign(scores, logprobs, ref_logprobs, mask, kl_coef):
    return _shaped(scores, logprobs, ref_logprobs, mask, kl_coef, sign=1.0)


@MUTANTS.add("compute_rewards", "add the score on the first token")
def _cr_first(scores, logprobs, ref_logprobs, mask, kl_coef):
    return _shaped(scores, logprobs, ref_logprobs, mask, kl_coef, where="first")


@MUTANTS.add("compute_rewards", "add the score at index mask.sum(), one past the last real token")
def _cr_past(scores, logprobs, ref_logprobs, mask, kl_coef):
    return _shaped(scores, logprobs, ref_logprobs, mask, kl_coef, where="past")


@MUTANTS.add("compute_rewards", "add the score to every real token")
def _cr_every_token(scores, logprobs, ref_logprobs, mask, kl_coef):
    return -kl_coef * (logprobs - ref_logprobs) * mask + scores[:, None] * mask


def _gae(
    rewards,
    values,
    mask,
    gamma,
    lam,
    *,
    decay_gamma=True,
    use_lam=True,
    mask_values=True,
    forwards=False,
    mask_running=True,
):
    """compute_gae with the mistakes switched on by keyword flags."""
    values = values * mask if mask_values else values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    length = rewards.shape[1]
    steps = range(length) if forwards else reversed(range(length))
    for t in steps:
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        decay = (gamma if decay_gamma else 1.0) * (lam if use_lam else 1.0)
        running = delta + decay * running
        running = running * mask[:, t] if mask_running else running
        advantages[:, t] = running
    return advantages, advantages + values


@MUTANTS.add("compute_gae", "forget gamma in the recursion")
def _gae_no_gamma(rewards, values, mask, gamma, lam):
    return _gae(rewards, values, mask, gamma, lam, decay_gamma=False)


@MUTANTS.add("compute_gae", "bootstrap from the padded token's value")
def _gae_padded_value(rewards, values, mask, gamma, lam):
    return _gae(rewards, values, mask, gamma, lam, mask_values=False)


@MUTANTS.add("compute_gae", "forget lambda in the recursion")
def _gae_no_lam(rewards, values, mask, gamma, lam):
    return _gae(rewards, values, mask, gamma, lam, use_lam=False)


@MUTANTS.add("compute_gae", "run the recursion forwards in time")
def _gae_forwards(rewards, values, mask, gamma, lam):
    return _gae(rewards, values, mask, gamma, lam, forwards=True)


@MUTANTS.add("compute_gae", "leave the advantages on padding (no mask in the recursion)")
def _gae_padding(rewards, values, mask, gamma, lam):
    return _gae(rewards, values, mask, gamma, lam, mask_running=False)
