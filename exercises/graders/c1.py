"""Graders for lesson C1: n-step returns, GAE and the A2C loss."""

from __future__ import annotations

import numpy as np
import torch

from exercises.grading import Checker, exercise

# One environment, four steps (the lesson's test rollout): an episode ends after step 1 (a
# time-limit cut or a real termination, depending on the case), a new one starts at step 2,
# and the rollout stops after step 3, bootstrapping from V(s_4) = 6.
REWARDS = np.array([1.0, 1.0, 1.0, 1.0])
VALUES = np.array([2.0, 3.0, 1.0, 4.0])  # V(s_t)
NEXT_VALUES = np.array([3.0, 5.0, 4.0, 6.0])  # V(s_{t+1}); 5.0 is V(final observation of episode 1)
NO = np.array([0, 0, 0, 0])
AT_1 = np.array([0, 1, 0, 0])


@exercise("n-step returns, terminated vs truncated")
def grade_n_step_returns(f, check: Checker) -> None:
    """Check n = 2 across a time-limit cut, across a termination, and n = 1.

    Todo:
        sum up to n discounted rewards from each t, then bootstrap where the docstring says.
    """
    check.expect(
        "n = 2, gamma = 0.9, the episode is cut by a time limit after step 1",
        """Sum at most n rewards, stopping at the cut (the next episode's rewards are not yours),
        and bootstrap from next_values of the last step summed: G_0 = 1 + 0.9 * 1 + 0.81 * 5, G_1
        = 1 + 0.9 * 5.""",
        "G",
        lambda: f(REWARDS, NEXT_VALUES, NO, AT_1, 0.9, 2),
        [5.95, 5.5, 6.76, 6.4],
    )
    check.expect(
        "n = 2, the pole fell at step 1 (terminated)",
        "After a termination nothing follows: stop summing and add no value, so G_1 = r_1 = 1.",
        "G",
        lambda: f(REWARDS, NEXT_VALUES, AT_1, NO, 0.9, 2),
        [1.9, 1.0, 6.76, 6.4],
    )
    check.expect(
        "n = 1 is the one-step TD target",
        "With n = 1, G_t = r_t + gamma V(s_{t+1}) unless terminated.",
        "G",
        lambda: f(REWARDS, NEXT_VALUES, NO, AT_1, 0.9, 1),
        [3.7, 5.5, 4.6, 6.4],
    )


@exercise("generalised advantage estimation")
def grade_gae_advantages(f, check: Checker) -> None:
    """GAE across a time-limit cut, across a termination, and on (T, n_envs) arrays.

    Todo:
        one backward pass for delta_t and A_t; return (advantages, advantages + values).
    """
    with check.case(
        "gamma = 0.9, lambda = 0.5, a time-limit cut after step 1",
        """delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t) = 1.7, 2.5, 3.6, 2.4; going
        backwards A_t = delta_t + gamma lambda A_{t+1}, but the recursion stops at the cut
        (truncated) while its delta still bootstraps.""",
    ):
        adv, ret = f(REWARDS, VALUES, NEXT_VALUES, NO, AT_1, 0.9, 0.5)
        expected = [1.7 + 0.45 * 2.5, 2.5, 3.6 + 0.45 * 2.4, 2.4]
        check.close(
            "advantages",
            adv,
            expected,
        )
        check.close("returns (advantages + values)", ret, np.array(expected) + VALUES)
    check.expect(
        "the pole fell at step 1 (terminated)",
        "A termination zeroes the bootstrap in delta_1 = r_1 - V(s_1) = -2 and stops the recursion.",
        "advantages",
        lambda: f(REWARDS, VALUES, NEXT_VALUES, AT_1, NO, 0.9, 0.5)[0],
        [0.8, -2.0, 4.68, 2.4],
    )
    both = [np.stack([x, x], axis=1) for x in (REWARDS, VALUES, NEXT_VALUES)]
    ends, cuts = np.stack([NO, AT_1], axis=1), np.stack([AT_1, NO], axis=1)
    check.expect(
        "two environments side by side, shape (T, 2)",
        """Time is the first axis; the other axis holds environments: keep the running advantage as
        a vector (np.zeros_like(rewards[0])).""",
        "advantages",
        lambda: f(*both, ends, cuts, 0.9, 0.5)[0],
        [[2.825, 0.8], [2.5, -2.0], [4.68, 4.68], [2.4, 2.4]],
    )


@exercise("the A2C loss")
def grade_actor_critic_loss(f, check: Checker) -> None:
    """The four numbers of the loss dict, then which tensors receive gradients.

    Todo:
        combine the three losses and return them in a dict.
    """

    def inputs() -> list[torch.Tensor]:
        log_probs = torch.tensor([-1.0, -2.0], requires_grad=True)
        entropy = torch.tensor([0.5, 0.7], requires_grad=True)
        values = torch.tensor([1.0, 2.0], requires_grad=True)
        advantages = torch.tensor([2.0, 1.0], requires_grad=True)
        returns = torch.tensor([0.0, 4.0], requires_grad=True)
        return [log_probs, entropy, values, advantages, returns]

    with check.case(
        "two steps, vf_coef = 0.25, ent_coef = 0.1",
        """policy = -mean(A log pi) = 2; value = mean((V - R)^2) = 2.5; entropy = mean(H) = 0.6;
        loss = policy + vf_coef * value - ent_coef * entropy = 2 + 0.625 - 0.06 = 2.565.""",
    ):
        out = f(*inputs(), vf_coef=0.25, ent_coef=0.1)
        check.true(
            "it returns a dict with loss, policy, value, entropy",
            isinstance(out, dict) and {"loss", "policy", "value", "entropy"} <= set(out),
        )
        check.close("policy", out["policy"], 2.0)
        check.close(
            "value",
            out["value"],
            2.5,
        )
        check.close("entropy", out["entropy"], 0.6)
        check.close(
            "loss",
            out["loss"],
            2.565,
        )
    with check.case(
        "advantages and returns are constants",
        "Detach advantages and returns: gradients flow into log_probs, entropy and values only.",
    ):
        log_probs, entropy, values, advantages, returns = inputs()
        f(log_probs, entropy, values, advantages, returns, vf_coef=0.25, ent_coef=0.1)[
            "loss"
        ].backward()
        check.no_grad("no gradient reaches the advantages", advantages)
        check.no_grad("no gradient reaches the returns", returns)
        # d loss / d log pi = -A / 2; d loss / d V = 0.25 * 2 (V - R) / 2
        check.close("log_probs.grad", log_probs.grad, [-1.0, -0.5])
        check.close("values.grad", values.grad, [0.25, -0.5])
