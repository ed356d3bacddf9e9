"""Tests for lesson C0 (PyTorch): reward-to-go, the policy gradient theorem, learning, CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from snippets import c0_policy_gradients_reinforce as c0
from snippets import curves

torch.set_num_threads(1)


def test_discounted_returns_match_hand_computation() -> None:
    # gamma = 0.5: G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75
    np.testing.assert_allclose(c0.discounted_returns([1.0, 2.0, 3.0], 0.5), [2.75, 3.5, 3.0])
    # gamma = 1: plain suffix sums; gamma = 0: the reward itself
    np.testing.assert_allclose(c0.discounted_returns([1, 1, 1, 1], 1.0), [4, 3, 2, 1])
    np.testing.assert_allclose(c0.discounted_returns([5, 6], 0.0), [5, 6])
    # CartPole, 500 steps of +1 with gamma 0.99: G_0 = (1 - 0.99**500) / 0.01
    g = c0.discounted_returns(np.ones(500), 0.99)
    assert g[0] == pytest.approx((1 - 0.99**500) / 0.01)
    assert c0.discounted_returns([], 0.9).shape == (0,)


def _bandit_gradients(theta: list[float], rewards: list[float], baseline: float):
    """Exact gradient of J = sum_a pi(a) r(a), and the gradient of the surrogate loss
    with every action enumerated and weighted by its probability (its exact expectation).
    """
    r = torch.tensor(rewards)
    t_exact = torch.tensor(theta, requires_grad=True)
    expected_return = (torch.softmax(t_exact, -1) * r).sum()
    (grad_exact,) = torch.autograd.grad(expected_return, t_exact)

    t_sur = torch.tensor(theta, requires_grad=True)
    probs = torch.softmax(t_sur, -1).detach()
    logits = t_sur.expand(1, 2, 2)  # one "episode" of two one-step entries: a = 0 and a = 1
    actions = torch.tensor([[0, 1]])
    # mask = pi(a) turns the loss's mean over steps into the expectation over actions
    loss = c0.reinforce_loss(logits, actions, (r - baseline)[None], probs[None])
    (grad_sur,) = torch.autograd.grad(loss, t_sur)
    return grad_exact, -grad_sur  # the loss is minimised, so its gradient is minus ascent


@pytest.mark.parametrize("theta", [[0.0, 0.0], [1.5, -0.5], [-2.0, 0.7]])
def test_surrogate_gradient_equals_exact_policy_gradient_on_two_armed_bandit(theta) -> None:
    rewards = [1.0, 0.2]
    grad_exact, grad_sur = _bandit_gradients(theta, rewards, baseline=0.0)
    # closed form for a softmax policy: dJ/dtheta_k = pi_k (r_k - J)
    pi = torch.softmax(torch.tensor(theta), -1)
    closed = pi * (torch.tensor(rewards) - (pi * torch.tensor(rewards)).sum())
    np.testing.assert_allclose(grad_exact.numpy(), closed.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_sur.numpy(), grad_exact.numpy(), rtol=1e-6, atol=1e-7)


def test_baseline_leaves_expected_gradient_unchanged() -> None:
    theta, rewards = [0.3, -1.1], [1.0, 0.2]
    grad_exact, _ = _bandit_gradients(theta, rewards, 0.0)
    for b in (-3.0, 0.5, 10.0):
        _, grad_b = _bandit_gradients(theta, rewards, b)
        np.testing.assert_allclose(grad_b.numpy(), grad_exact.numpy(), rtol=1e-5, atol=1e-6)


def test_sampled_reinforce_gradient_is_unbiased_and_baseline_cuts_variance() -> None:
    theta, rewards = torch.tensor([0.4, -0.4]), torch.tensor([1.0, 0.2])
    grad_exact, _ = _bandit_gradients(theta.tolist(), rewards.tolist(), 0.0)
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(theta, -1)
    single = {}
    for b in (0.0, float((probs * rewards).sum())):  # no baseline, then b = J
        grads = []
        for _ in range(400):  # 400 estimates, each from a batch of 50 one-step episodes
            t = theta.clone().requires_grad_(True)
            a = torch.multinomial(probs, 50, replacement=True, generator=gen)[None]
            loss = c0.reinforce_loss(t.expand(1, 50, 2), a, rewards[a] - b, torch.ones(1, 50))
            grads.append(-torch.autograd.grad(loss, t)[0])
        g = torch.stack(grads)
        np.testing.assert_allclose(g.mean(0).numpy(), grad_exact.numpy(), atol=0.01)
        single[b] = g.var(0).sum()
    no_baseline, with_baseline = single.values()
    assert with_baseline < 0.5 * no_baseline


def test_leave_one_out_baseline_by_hand() -> None:
    returns, mask = c0.pad_episodes(
        [np.array([3.0, 2.0, 1.0]), np.array([1.0]), np.array([2.0, 1.0])]
    )
    adv = c0.advantages_from_returns(returns, mask, baseline=True, normalize=False)
    # t=0: others of ep0 are (1, 2) -> b = 1.5; of ep1: (3, 2) -> 2.5; of ep2: (3, 1) -> 2
    # t=1: ep0 vs ep2 only (ep1 ended); t=2: ep0 alone -> baseline 0
    expected = np.array([[1.5, 1.0, 1.0], [-1.5, 0.0, 0.0], [0.0, -1.0, 0.0]])
    np.testing.assert_allclose(adv, expected)
    normed = c0.advantages_from_returns(returns, mask, baseline=True, normalize=True)
    real = normed[mask == 1]
    assert real.std() == pytest.approx(1.0, abs=0.01 + abs(real.mean()))
    assert np.all(normed[mask == 0] == 0)


def test_all_episodes_at_the_time_limit_give_zero_advantage() -> None:
    # A solved batch leaves the policy alone: this is what keeps a solved run solved.
    returns, mask = c0.pad_episodes([c0.discounted_returns(np.ones(500), 0.99)] * 5)
    adv = c0.advantages_from_returns(returns, mask)
    assert np.abs(adv).max() == 0.0


def test_same_seed_gives_same_run() -> None:
    cfg = replace(c0.Config(), episodes=10)
    a = c0.train(cfg, seed=3, show_progress=False)
    b = c0.train(cfg, seed=3, show_progress=False)
    assert a["returns"] == b["returns"]


def test_seeded_short_run_clearly_improves_return() -> None:
    cfg = replace(c0.Config(), episodes=150)
    run = c0.train(cfg, seed=0, show_progress=False)
    first, last = np.mean(run["returns"][:25]), np.mean(run["returns"][-25:])
    assert first < 40
    assert last > 2.5 * first
    assert c0.evaluate(run["policy"], "CartPole-v1", episodes=3, seed=100) > 2 * first


def test_cli_quick_run_prints_metrics_and_writes_curve(tmp_path, capsys) -> None:
    curve = tmp_path / "curve.json"
    metrics = c0.main(["--quick", "--seeds", "2", "--curve", str(curve)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert metrics["episodes"] == 30 and [r["seed"] for r in metrics["runs"]] == [0, 1]
    assert metrics["seeds_solved"] == 0 and metrics["runs"][0]["solved_at"] is None
    data = curves.read_curve(curve)
    assert data["x_label"] == "environment steps" and len(data["x"]) == 30
    assert data["x"][-1] == np.mean([r["steps"] for r in metrics["runs"]])


@pytest.mark.parametrize(
    "argv",
    [
        "--episodes 0",
        "--gamma 1.5",
        "--lr -1",
        "--seeds 0",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("c0_policy_gradients_reinforce", argv)
