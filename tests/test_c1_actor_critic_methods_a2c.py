"""Tests for lesson C1: n-step returns and GAE by hand, the A2C loss, and a real A2C run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

from snippets import c1_actor_critic_methods_a2c as c1
from snippets import curves

# One environment, four steps. The episode is cut by a time limit after step 1, a new one
# starts at step 2, and the rollout stops after step 3 (bootstrap from V(s_4) = 6).
REWARDS = np.array([1.0, 1.0, 1.0, 1.0])
VALUES = np.array([2.0, 3.0, 1.0, 4.0])  # V(s_t)
NEXT_VALUES = np.array([3.0, 5.0, 4.0, 6.0])  # V(s_{t+1}); 5.0 is V(final obs of episode 1)
NO = np.array([0, 0, 0, 0])
AT_1 = np.array([0, 1, 0, 0])


def test_gae_matches_hand_computation_with_truncation():
    # deltas: 1+.9*3-2=1.7, 1+.9*5-3=2.5, 1+.9*4-1=3.6, 1+.9*6-4=2.4 ; gamma*lambda = 0.45
    adv, ret = c1.gae_advantages(REWARDS, VALUES, NEXT_VALUES, NO, AT_1, gamma=0.9, lam=0.5)
    expected = [1.7 + 0.45 * 2.5, 2.5, 3.6 + 0.45 * 2.4, 2.4]  # recursion stops after step 1
    np.testing.assert_allclose(adv, expected)
    np.testing.assert_allclose(ret, np.array(expected) + VALUES)


def test_gae_terminated_does_not_bootstrap_but_truncated_does():
    adv_term, _ = c1.gae_advantages(REWARDS, VALUES, NEXT_VALUES, AT_1, NO, gamma=0.9, lam=0.5)
    adv_trunc, _ = c1.gae_advantages(REWARDS, VALUES, NEXT_VALUES, NO, AT_1, gamma=0.9, lam=0.5)
    assert adv_term[1] == pytest.approx(1.0 - 3.0)  # the pole fell: nothing after r_1
    assert adv_term[0] == pytest.approx(1.7 + 0.45 * (1.0 - 3.0))
    assert adv_trunc[1] == pytest.approx(1.0 + 0.9 * 5.0 - 3.0)  # time limit: V(final obs) counts
    np.testing.assert_allclose(adv_term[2:], adv_trunc[2:])  # the next episode is unaffected


def test_n_step_returns_match_hand_computation():
    g2 = c1.n_step_returns(REWARDS, NEXT_VALUES, NO, AT_1, gamma=0.9, n=2)
    np.testing.assert_allclose(
        g2, [1 + 0.9 + 0.81 * 5, 1 + 0.9 * 5, 1 + 0.9 + 0.81 * 6, 1 + 0.9 * 6]
    )
    g1 = c1.n_step_returns(REWARDS, NEXT_VALUES, NO, AT_1, gamma=0.9, n=1)
    np.testing.assert_allclose(g1, REWARDS + 0.9 * NEXT_VALUES)
    g2_term = c1.n_step_returns(REWARDS, NEXT_VALUES, AT_1, NO, gamma=0.9, n=2)
    np.testing.assert_allclose(g2_term[:2], [1 + 0.9 * 1, 1.0])


def _random_rollout(rng, T=12, n_envs=1):
    rewards = rng.normal(size=(T, n_envs))
    values = rng.normal(size=(T + 1, n_envs))
    terminated = rng.random((T, n_envs)) < 0.15
    truncated = (rng.random((T, n_envs)) < 0.15) & ~terminated
    done = terminated | truncated
    final_obs_values = rng.normal(size=(T, n_envs))  # V(final obs) where an episode ended
    next_values = np.where(done, final_obs_values, values[1:])
    return rewards, values[:-1], next_values, terminated, truncated, values[-1]


def test_gae_lambda_limits_are_td_error_and_rollout_return():
    r, v, nv, term, trunc = (x[:, 0] for x in _random_rollout(np.random.default_rng(1))[:5])
    adv0, _ = c1.gae_advantages(r, v, nv, term, trunc, gamma=0.95, lam=0.0)
    np.testing.assert_allclose(adv0, r + 0.95 * (1 - term) * nv - v)
    _, ret1 = c1.gae_advantages(r, v, nv, term, trunc, gamma=0.95, lam=1.0)
    np.testing.assert_allclose(ret1, c1.n_step_returns(r, nv, term, trunc, gamma=0.95, n=len(r)))


def test_gae_is_the_lambda_weighted_average_of_n_step_advantages():
    rng = np.random.default_rng(2)
    r, v, nv, term, trunc = (x[:, 0] for x in _random_rollout(rng)[:5])
    gamma, lam, T = 0.9, 0.7, len(r)
    adv, _ = c1.gae_advantages(r, v, nv, term, trunc, gamma, lam)
    n_step_adv = {n: c1.n_step_returns(r, nv, term, trunc, gamma, n) - v for n in range(1, T + 1)}
    for t in range(T):
        ends = [k for k in range(t, T) if term[k] or trunc[k]]
        horizon = (ends[0] if ends else T - 1) - t + 1  # steps until the episode or rollout ends
        weights = [(1 - lam) * lam ** (n - 1) for n in range(1, horizon)] + [lam ** (horizon - 1)]
        mixed = sum(
            w * n_step_adv[n][t] for n, w in zip(range(1, horizon + 1), weights, strict=True)
        )
        assert adv[t] == pytest.approx(mixed)


def test_gae_matches_stable_baselines3_rollout_buffer():
    rng = np.random.default_rng(3)
    T, n_envs, gamma, lam = 16, 3, 0.97, 0.9
    r, v, nv, term, trunc, last_v = _random_rollout(rng, T, n_envs)
    ours, our_returns = c1.gae_advantages(r, v, nv, term, trunc, gamma, lam)

    buf = RolloutBuffer(T, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), "cpu", lam, gamma, n_envs)
    episode_start = np.ones(n_envs)
    for t in range(T):
        # SB3's way of handling a time limit: fold gamma * V(final obs) into the reward.
        reward = r[t] + gamma * trunc[t] * nv[t]
        buf.add(
            np.zeros((n_envs, 1)),
            np.zeros((n_envs, 1)),
            reward,
            episode_start,
            torch.tensor(v[t]),
            torch.zeros(n_envs),
        )
        episode_start = (term[t] | trunc[t]).astype(float)
    buf.compute_returns_and_advantage(torch.tensor(last_v), dones=term[-1] | trunc[-1])
    np.testing.assert_allclose(ours, buf.advantages, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(our_returns, buf.returns, rtol=1e-5, atol=1e-5)


def test_actor_critic_loss_gradients_are_the_textbook_ones():
    torch.manual_seed(0)
    logits = torch.randn(5, 3, requires_grad=True)
    values = torch.randn(5, requires_grad=True)
    actions = torch.tensor([0, 2, 1, 1, 0])
    advantages = torch.randn(5, requires_grad=True)  # must be treated as a constant
    returns = torch.randn(5)
    dist = torch.distributions.Categorical(logits=logits)
    out = c1.actor_critic_loss(
        dist.log_prob(actions),
        dist.entropy(),
        values,
        advantages,
        returns,
        vf_coef=0.5,
        ent_coef=0.0,
    )
    out["loss"].backward()
    probs = torch.softmax(logits, -1).detach()
    onehot = torch.nn.functional.one_hot(actions, 3).float()
    # d/dz of -A log softmax(z)_a is -A (onehot(a) - pi), averaged over the batch
    expected = -(advantages.detach()[:, None] * (onehot - probs)) / 5
    torch.testing.assert_close(logits.grad, expected)
    torch.testing.assert_close(values.grad, 0.5 * 2 * (values.detach() - returns) / 5)
    assert advantages.grad is None


def test_entropy_bonus_pushes_the_policy_towards_uniform():
    logits = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    dist = torch.distributions.Categorical(logits=logits)
    zeros = torch.zeros(1)
    out = c1.actor_critic_loss(
        dist.log_prob(torch.tensor([0])), dist.entropy(), zeros, zeros, zeros, ent_coef=0.1
    )
    out["loss"].backward()
    stepped = logits.detach() - 1.0 * logits.grad
    before = dist.entropy().item()
    after = torch.distributions.Categorical(logits=stepped).entropy().item()
    assert after > before


def test_kept_agent_is_the_best_evaluation_rescored_on_the_same_fresh_episodes():
    cfg = c1.Config(total_timesteps=2_000, eval_every=500, eval_episodes=3, final_eval_episodes=4)
    model, result = c1.train_a2c(cfg, seed=1)
    best = int(np.argmax(result.eval_returns))  # the first of equal bests, as the callback keeps
    assert result.best_eval == result.eval_returns[best]
    assert result.kept_from_step == result.eval_steps[best]
    # The returned model holds the kept weights; scoring it again plays the same fresh episodes.
    assert c1.score(model, cfg, seed=1) == result.kept_mean_return
    assert len(result.eval_steps) == 4 and result.eval_steps[0] == 504  # 8 envs: multiples of 8


def test_seeded_quick_cli_run_clearly_learns_and_writes_curve_plot_and_runs(tmp_path, capsys):
    curve, plot, runs = tmp_path / "curve.json", tmp_path / "fig.png", tmp_path / "runs.json"
    metrics = c1.main(
        ["--quick", "--curve", str(curve), "--plot", str(plot), "--save-runs", str(runs)]
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert metrics["timesteps"] == 20_000 and metrics["seeds"] == [0]
    # Learning: a random policy balances about 20 steps; after 20k steps (500 updates) seed 0's
    # kept and final greedy policies last far longer on fresh episodes, and so do the training
    # episodes.
    assert metrics["kept_mean_return"][0] > 150 and metrics["final_mean_return"][0] > 150, metrics
    saved = json.loads(runs.read_text())["runs"][0]
    assert np.mean(saved["episode_returns"][:20]) < 40
    assert np.mean(saved["episode_returns"][-20:]) > 100
    data = curves.read_curve(curve)
    assert data["x_label"] == "environment steps"
    assert len(data["x"]) == len(data["y"]) > 10 and data["x"][-1] <= 20_000
    assert plot.stat().st_size > 10_000
    # the saved runs redraw the figure (with an overlay) and reproduce the metrics, no training
    replot = tmp_path / "replot.png"
    again = c1.main(
        ["--load-runs", str(runs), "--compare-curve", str(curve), "--plot", str(replot)]
    )
    assert again == metrics
    assert replot.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv",
    [
        "--timesteps 0",
        "--ent-coef 2",
        "--lr -1",
        "--seeds 0",
        "--compare-curve /no/such.json",
        "--load-runs /no/such.json",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("c1_actor_critic_methods_a2c", argv)
