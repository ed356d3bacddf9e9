"""Graders for lesson D4: the loss variants' building blocks (and the exact testbed's).

Each part of the lesson adds its graders under its own heading below.
"""

from __future__ import annotations

import math

import torch

from exercises.grading import Checker, exercise

# ---------------------------------------------------------------- the loss variants (variants.py)
# Three prompts, four completions each: all right, one right, all wrong.
FILTER_REWARDS = torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0])


@exercise("dynamic sampling's group filter")
def grade_dynamic_sampling_keep(f, check: Checker) -> None:
    """Binary rewards in groups of four and of two, then rewards that are not 0 or 1.

    Todo:
        one flag per group: True where the group's rewards are not all equal.
    """
    with check.case(
        "rewards (1, 1, 1, 1), (0, 0, 0, 1), (0, 0, 0, 0), G = 4",
        """A group whose rewards all agree has advantage 0 for every completion: it teaches
        nothing, whether all right or all wrong. Keep only the second group; return a bool
        tensor with one entry per group.""",
    ):
        keep = f(FILTER_REWARDS.clone(), 4)
        check.close("keep", keep, [0.0, 1.0, 0.0])
        check.true("keep is a bool tensor", torch.is_tensor(keep) and keep.dtype == torch.bool)
    check.expect(
        "the same rewards in groups of two",
        """Groups are contiguous: rewards.view(-1, G) has one row per prompt, here (1, 1),
        (1, 1), (0, 0), (0, 1), (0, 0), (0, 0). Only the fourth pair differs.""",
        "keep",
        lambda: f(FILTER_REWARDS.clone(), 2),
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    )
    check.expect(
        "rewards (0.5, 0.5, 0.5, 0.5) and (0.2, 0.3, 0.2, 0.2), G = 4",
        """Rewards need not be 0 or 1 (a partial credit, a length penalty). A group of equal
        rewards is dropped whatever their value; counting successes only works for 0/1
        rewards.""",
        "keep",
        lambda: f(torch.tensor([0.5, 0.5, 0.5, 0.5, 0.2, 0.3, 0.2, 0.2]), 4),
        [0.0, 1.0],
    )


@exercise("GSPO's sequence ratio")
def grade_sequence_log_ratio(f, check: Checker) -> None:
    """Two completions by hand (one padded), the gradient, and an empty completion.

    Todo:
        the mean over each completion's own tokens of log π_θ - log π_old, shape (completions, 1).
    """
    ln = math.log
    old = torch.tensor([[ln(0.4), ln(0.5)], [ln(0.5), ln(0.3)]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # o_2 has one token and one pad

    def logps() -> torch.Tensor:  # ratios 1.21, 1.0 | 0.5 and a pad whose "ratio" is e^5
        new = torch.tensor([[ln(0.4 * 1.21), ln(0.5)], [ln(0.25), ln(0.3) + 5.0]])
        return new.requires_grad_()

    check.expect(
        "token ratios (1.21, 1.0) and (0.5, pad), mask (1, 1) and (1, 0)",
        """The mean of a completion's token log-ratios over its own tokens: (log 1.21 + 0) / 2
        = log 1.1 for o_1 and log 0.5 for o_2, whose padding must not count. One column:
        shape (completions, 1), so that it broadcasts over the tokens.""",
        "log-ratio",
        lambda: f(logps(), old, mask),
        [[ln(1.1)], [ln(0.5)]],
    )
    with check.case(
        "the gradient of the sequence ratio exp(log-ratio)",
        """s_i = exp(mean log-ratio) depends on θ through every token of o_i: ds_i/dlog π_t =
        s_i / |o_i|, so 1.1 / 2 = 0.55 for both tokens of o_1, 0.5 for o_2's token and 0 for
        its pad. Do not detach anything.""",
    ):
        new = logps()
        out = f(new, old, mask)
        check.true("the result carries a gradient", out.requires_grad)
        out.exp().sum().backward()
        check.close("d(sum of s_i) / d(log π)", new.grad, [[0.55, 0.55], [0.5, 0.0]])
    check.expect(
        "a completion with no tokens (mask all 0)",
        """An empty completion (masked out, e.g. a truncated answer) has log-ratio 0, not NaN:
        divide by the number of tokens clamped to at least 1.""",
        "log-ratio",
        lambda: f(logps(), old, torch.tensor([[1.0, 1.0], [0.0, 0.0]])),
        [[ln(1.1)], [0.0]],
    )


# ---------------------------------------------------------------- the exact testbed (exact.py)
def _k3_policies(vocab: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random tabular policy and reference (float64), as the exact testbed draws them."""
    from snippets.d3_grpo_rloo_and_dpo.exact import num_prefixes

    g = torch.Generator().manual_seed(seed)
    shape = (num_prefixes(vocab, length), vocab)
    return tuple(torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(2))


@exercise("the k3-in-loss gradient")
def grade_k3_loss_gradient(f, check: Checker) -> None:
    """One categorical by hand, then sequences against the exact testbed's true KL gradients.

    Todo:
        weigh each sequence's summed k3 by its probability P_θ(y), detached, and differentiate.
    """
    from snippets.d4_grpo_in_practice import exact  # the testbed: the true gradients

    ref = torch.tensor([[math.log(0.5), math.log(0.25), math.log(0.25)]], dtype=torch.float64)
    check.expect(
        "one token: π_θ uniform over 3, π_ref = (1/2, 1/4, 1/4), length 1",
        """For one categorical, E[∇_z k3] = Σ_y π(y)(1 − r(y))(e_y − π) = π − π_ref: here
        (1/3 − 1/2, 1/3 − 1/4, 1/3 − 1/4). That is the gradient of the FORWARD KL(π_ref‖π_θ).
        Weigh by π_θ(y) detached: a drawn token does not move with θ.""",
        "expected gradient",
        lambda: f(torch.zeros(1, 3, dtype=torch.float64), ref, 1),
        [[-1 / 6, 1 / 12, 1 / 12]],
        atol=1e-9,
    )
    logits, ref_logits = _k3_policies(2, 3, seed=4)
    check.expect(
        "8 sequences (vocabulary 2, length 3), random policy and reference",
        """Sum k3 over each sequence's tokens, weigh by P_θ(y) = Π_t π_θ(y_t|y_<t) (detached) and
        differentiate. Per token, with the prefixes held fixed, this is the gradient of the
        forward next-token KLs: exact.token_kl_gradient(logits, ref_logits, 3, "forward").""",
        "expected gradient",
        lambda: f(logits, ref_logits, 3),
        exact.token_kl_gradient(logits, ref_logits, 3, "forward"),
        atol=1e-9,
    )
    logits, ref_logits = _k3_policies(3, 2, seed=5)
    check.expect(
        "9 sequences (vocabulary 3, length 2), another policy and reference",
        """The same identity on a wider vocabulary; the answer has the shape of the logits,
        one row per prefix (D3's row order: the empty prefix, then each prefix of length 1).""",
        "expected gradient",
        lambda: f(logits, ref_logits, 2),
        exact.token_kl_gradient(logits, ref_logits, 2, "forward"),
        atol=1e-9,
    )
    check.expect(
        "the policy equals the reference",
        "Then r = 1 at every token, k3 = 0 and its gradient 1 − r = 0 everywhere.",
        "expected gradient",
        lambda: f(logits, logits.clone(), 2),
        torch.zeros_like(logits),
        atol=1e-12,
    )
