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


def _kl(logprobs, ref_logprobs, kind="k1", *, wrong=""):
    """kl_per_token with the mistake ``wrong`` names.

    Mistakes:
        swapped: subtract the other way round
        k3_ratio: take r = pi / pi_ref instead of pi_ref / pi
        no_error: return k1 for any other kind instead of raising ValueError
        k2: use half the squared log-ratio (that is k2) for k3
        abs: take |log pi - log pi_ref| for k1, to keep it non-negative
    """
    log_ratio = ref_logprobs - logprobs if wrong == "swapped" else logprobs - ref_logprobs
    if kind == "k3" and wrong == "k2":
        return 0.5 * log_ratio**2
    if kind == "k3" and wrong == "k3_ratio":
        return torch.expm1(log_ratio) - log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    if kind == "k1" or wrong == "no_error":
        return log_ratio.abs() if wrong == "abs" else log_ratio
    raise ValueError(kind)


MUTANTS.flags("kl_per_token", _kl)


def _cr(scores, logprobs, ref_logprobs, mask, kl_coef, *, wrong=""):
    """compute_rewards with the mistake ``wrong`` names.

    Mistakes:
        last_column: add the score on the last column instead of the last real token
        kl_on_padding: leave the KL penalty on the padded tokens
        kl_sign: add the KL term instead of subtracting it
        first: add the score on the first token
        past: add the score at index mask.sum(), one past the last real token
    """
    penalty = (1.0 if wrong == "kl_sign" else -1.0) * kl_coef * (logprobs - ref_logprobs)
    rewards = penalty.clone() if wrong == "kl_on_padding" else penalty * mask
    lengths = mask.sum(dim=1).long()
    column = {
        "last_column": torch.full_like(lengths, mask.shape[1] - 1),
        "first": torch.zeros_like(lengths),
        "past": lengths,
    }.get(wrong, lengths - 1)
    rewards[torch.arange(len(scores)), column] += scores
    return rewards


MUTANTS.flags("compute_rewards", _cr)


@MUTANTS.add("compute_rewards", "add the score to every real token")
def _cr_every_token(scores, logprobs, ref_logprobs, mask, kl_coef):
    return -kl_coef * (logprobs - ref_logprobs) * mask + scores[:, None] * mask


def _gae(rewards, values, mask, gamma, lam, *, wrong=""):
    """compute_gae with the mistake ``wrong`` names.

    Mistakes:
        no_gamma: forget gamma in the recursion
        padded_value: bootstrap from the padded token's value
        no_lam: forget lambda in the recursion
        forwards: run the recursion forwards in time
        padding: leave the advantages on padding (no mask in the recursion)
    """
    values = values if wrong == "padded_value" else values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    length = rewards.shape[1]
    decay = (1.0 if wrong == "no_gamma" else gamma) * (1.0 if wrong == "no_lam" else lam)
    for t in range(length) if wrong == "forwards" else reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + decay * running
        if wrong != "padding":
            running = running * mask[:, t]
        advantages[:, t] = running
    return advantages, advantages + values


MUTANTS.flags("compute_gae", _gae)
