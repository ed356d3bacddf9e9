"""Graders for lesson D2: completion log-probabilities, KL estimates, KL-shaped rewards, GAE."""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise


def toy_logits() -> torch.Tensor:
    """One sequence of 4 positions over a 3-token vocabulary, with easy softmaxes.

    Position 1 gives probabilities (1/4, 1/2, 1/4), position 2 (0.6, 0.2, 0.2) and position 3
    (0.1, 0.1, 0.8); position 0 is uniform.
    """
    ln = math.log
    return torch.tensor(
        [[[0.0, 0.0, 0.0], [0.0, ln(2), 0.0], [ln(3), 0.0, 0.0], [0.0, 0.0, ln(8)]]],
        dtype=torch.float64,
    )


@exercise("log-probabilities of the completion")
def grade_response_logprobs(f, check: Checker) -> None:
    """A 2-token prompt and a 2-token completion, at temperature 1 and 2.

    Todo:
        score each completion token with the logits that predicted it.
    """
    ids = torch.tensor([[2, 2, 1, 0]])  # prompt (2, 2), completion (1, 0)
    check.expect(
        "prompt of 2 tokens, completion (1, 0), temperature 1",
        """The logits at position t predict the token at t + 1: token 1 at position 2 is scored by
        position 1 (p = 1/2), token 0 at position 3 by position 2 (p = 0.6).""",
        "log-probabilities",
        lambda: f(toy_logits(), ids, 2, 1.0),
        [[math.log(0.5), math.log(0.6)]],
    )
    with check.case(
        "the same tokens sampled at temperature 2",
        """Divide the logits by the temperature before log_softmax: the tokens were drawn from
        softmax(logits / T), so p = sqrt(2) / (2 + sqrt(2)) and sqrt(3) / (sqrt(3) + 2).""",
    ):
        lp = f(toy_logits(), ids, 2, 2.0)
        expected = [
            [
                math.log(math.sqrt(2) / (2 + math.sqrt(2))),
                math.log(math.sqrt(3) / (math.sqrt(3) + 2)),
            ]
        ]
        check.close(
            "log-probabilities",
            lp,
            expected,
        )


@exercise("per-token KL estimates k1 and k3")
def grade_kl_per_token(f, check: Checker) -> None:
    """k1 and k3 on three tokens, and an unknown kind.

    Todo:
        return the k1 or the k3 estimate per token.
    """
    logprobs, ref = torch.tensor([-1.0, -0.5, -2.0]), torch.tensor([-1.2, -0.5, -1.0])
    check.expect(
        "k1 for log pi = (-1, -0.5, -2), log pi_ref = (-1.2, -0.5, -1)",
        "k1 = log pi - log pi_ref, the policy minus the reference, token by token.",
        "k1",
        lambda: f(logprobs, ref, "k1"),
        [0.2, 0.0, -1.0],
        atol=1e-6,
    )
    check.expect(
        "k3 for the same tokens",
        "k3 = (r - 1) - log r with r = pi_ref / pi = exp(-(log pi - log pi_ref)): never negative.",
        "k3",
        lambda: f(logprobs, ref, "k3"),
        [math.exp(-0.2) - 1 + 0.2, 0.0, math.e - 2],
        atol=1e-6,
    )
    with check.case("an unknown kind", "Any kind other than 'k1' or 'k3' raises ValueError."):
        check.raises(ValueError, "kind='k2' raises ValueError", lambda: f(logprobs, ref, "k2"))


@exercise("per-token KL reward shaping")
def grade_compute_rewards(f, check: Checker) -> None:
    """Two completions, the second with a padded last token.

    Todo:
        a KL penalty on every real token plus the score on the last real token.
    """
    logprobs = torch.tensor([[-1.0, -0.5, -2.0], [-1.0, -1.0, -3.0]])
    ref = torch.tensor([[-1.2, -0.5, -1.0], [-1.5, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    # row 1: -0.1 * (0.2, 0, -1) + (0, 0, 2);  row 2: -0.1 * (0.5, 0) + (0, -1), padding 0
    check.expect(
        "beta = 0.1, scores 2 and -1, the second completion 2 tokens long",
        """Every real token gets -beta * (log pi - log pi_ref); the reward model's score is added on
        the LAST REAL token (index mask.sum() - 1), and padding gets 0.""",
        "rewards",
        lambda: f(torch.tensor([2.0, -1.0]), logprobs, ref, mask, 0.1),
        [[-0.02, 0.0, 2.1], [-0.05, -1.0, 0.0]],
    )
    check.expect(
        "beta = 0: the score alone",
        "With kl_coef = 0 the only reward is each completion's score, on its last real token.",
        "rewards",
        lambda: f(torch.tensor([2.0, -1.0]), logprobs, ref, mask, 0.0),
        [[0.0, 0.0, 2.0], [0.0, -1.0, 0.0]],
    )


@exercise("GAE over completion tokens")
def grade_compute_gae(f, check: Checker) -> None:
    """A three-token completion with gamma < 1, then one with a padded token.

    Todo:
        GAE backwards over the completion tokens, stopping at the end of each completion.
    """
    with check.case(
        "three tokens, reward 1 on the last, gamma = 0.9, lambda = 0.95",
        """Backwards: the value after the last token is 0; delta_t = r_t + gamma V(t+1) - V(t) =
        0.04, 0.12, 0.2 and A_t = delta_t + gamma lambda A_{t+1}.""",
    ):
        rewards, values = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.6, 0.8]])
        adv, returns = f(rewards, values, torch.ones(1, 3), 0.9, 0.95)
        a1 = 0.12 + 0.855 * 0.2
        check.close(
            "advantages",
            adv,
            [[0.04 + 0.855 * a1, a1, 0.2]],
            atol=1e-6,
        )
        check.close(
            "returns (advantages + values)",
            returns,
            [[0.54 + 0.855 * a1, 0.6 + a1, 1.0]],
            atol=1e-6,
        )
    with check.case(
        "a completion that ends one token early (padding has value 9 and a stray reward 5)",
        """Zero the values on padding first (values * mask): after the last real token nothing
        follows, so it bootstraps from 0; mask the running advantage too ((delta + gamma lambda
        A_{t+1}) * mask_t), so padded positions get advantage 0 whatever they hold.""",
    ):
        rewards, values = torch.tensor([[0.0, 1.0, 5.0]]), torch.tensor([[0.5, 0.7, 9.0]])
        adv, returns = f(rewards, values, torch.tensor([[1.0, 1.0, 0.0]]), 1.0, 1.0)
        check.close(
            "advantages",
            adv,
            [[0.5, 0.3, 0.0]],
            atol=1e-6,
        )
        check.close("returns", returns, [[1.0, 1.0, 0.0]], atol=1e-6)
