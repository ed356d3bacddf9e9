"""Tests for lesson C3: Gaussian policies, normalisation, PPO and SAC on Pendulum-v1.

The maths is checked exactly against torch.distributions, SAC's losses against SB3's own on
one replay batch; the two learners get short, seeded runs with thresholds well above a random
policy (about -1200). About 40 s on one quiet core.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from snippets import c3_continuous_actions_ppo_sac as c3

PPO_24K_THRESHOLD = -900.0  # seed 0 measured -443 (2026-11-30); random play scores about -1200


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_gaussian_log_prob_and_entropy_match_the_formula_and_torch():
    assert c3.gaussian_log_prob(
        torch.zeros(1), torch.zeros(1), torch.zeros(1)
    ).item() == pytest.approx(-0.5 * math.log(2 * math.pi))
    gen = torch.Generator().manual_seed(0)
    mean, log_std = torch.randn(5, 3, generator=gen), torch.randn(3, generator=gen)
    action = torch.randn(5, 3, generator=gen)
    ours = c3.gaussian_log_prob(action, mean, log_std)
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(ours, normal.log_prob(action).sum(-1))
    torch.testing.assert_close(c3.gaussian_entropy(log_std), normal.entropy()[0].sum())


def test_tanh_squashing_subtracts_the_log_derivative():
    gen = torch.Generator().manual_seed(1)
    mean, log_std, u = (
        torch.randn(4, 2, generator=gen),
        torch.randn(2, generator=gen),
        torch.randn(4, 2, generator=gen),
    )
    squashed = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform()]
    )
    expected = squashed.log_prob(torch.tanh(u)).sum(-1)
    torch.testing.assert_close(
        c3.squashed_log_prob(u, mean, log_std), expected, atol=1e-4, rtol=1e-4
    )


def test_running_norm_merges_batches_into_the_statistics_of_all_the_data():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(300, 2)).astype(np.float32)
    norm = c3.RunningNorm(2)
    for chunk in np.split(data, [7, 100, 250]):
        norm.update(torch.as_tensor(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-4)
    standardised = norm(torch.as_tensor(data)).numpy()
    np.testing.assert_allclose(standardised.std(0), 1.0, rtol=1e-4)


def test_reward_scaler_divides_by_the_std_of_the_discounted_return():
    scaler = c3.RewardScaler(n_envs=1, gamma=0.5)
    rewards = np.ones((3, 1))
    dones = np.array([[False], [False], [True]])
    scaled = scaler(rewards, dones)
    returns = np.array([1.0, 1.5, 1.75])  # G <- 0.5 G + 1, restarted after the done
    np.testing.assert_allclose(scaled, rewards / returns.std(), rtol=1e-3)
    assert scaler.returns[0] == 0.0


def test_gaussian_agent_uses_one_sigma_everywhere_and_clips_greedy_actions():
    agent = c3.GaussianAgent(3, np.array([-2.0]), np.array([2.0]), log_std_init=-0.5)
    obs = torch.randn(6, 3)
    dist = agent.dist(obs)
    torch.testing.assert_close(dist.stddev, torch.full((6, 1), math.exp(-0.5)))
    action = dist.sample()
    torch.testing.assert_close(
        dist.log_prob(action), c3.gaussian_log_prob(action, dist.mean, agent.log_std)
    )
    with torch.no_grad():
        agent.actor[-1].bias.fill_(5.0)  # a mean far outside the torque range
    assert np.all(agent.greedy(obs.numpy()) == 2.0)


def test_gaussian_ppo_improves_on_random_within_24k_steps():
    cfg = replace(c3.Config(), ppo_timesteps=24_000, eval_every=8_000, final_eval_episodes=10)
    agent, result = c3.train_ppo(cfg, seed=0)
    assert result.eval_steps == [8_000, 16_000, 24_000]
    assert result.kept_eval >= PPO_24K_THRESHOLD  # random: about -1200
    assert agent.norm.count.item() == pytest.approx(24_000, abs=1)  # every observation, once


def test_sac_is_scored_on_fresh_episodes_with_the_kept_weights():
    cfg = replace(
        c3.Config(), algo="sac", sac_timesteps=400, eval_every=2_000, final_eval_episodes=5
    )
    model, result = c3.train_sac(cfg, seed=0)
    assert result.eval_steps == [200, 400]
    assert result.kept_step == result.eval_steps[int(np.argmax(result.eval_returns))]
    envs = c3.c2.make_envs(cfg.env_id, cfg.final_eval_episodes)  # the same fresh episodes
    rescored = c3.c2.evaluate(lambda o: model.predict(o, deterministic=True)[0], envs, seed=20_000)
    assert rescored.mean() == pytest.approx(result.kept_eval)  # the model holds the kept weights


def test_sac_critic_target_takes_the_smaller_critic_adds_the_entropy_bonus_and_stops_at_an_end():
    y = c3.sac_critic_target(
        rewards=torch.tensor([1.0, 2.0]),
        terminated=torch.tensor([0.0, 1.0]),
        next_q=torch.tensor([[3.0, 5.0], [4.0, 0.0]]),
        next_log_prob=torch.tensor([-1.0, 7.0]),
        alpha=0.5,
        gamma=0.9,
    )
    # 1 + 0.9 * (min(3, 5) - 0.5 * -1); the terminated transition keeps its reward only
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.9 * 3.5, 2.0]))


def test_sac_temperature_gradient_is_the_entropy_minus_its_target():
    log_alpha = torch.zeros(1, requires_grad=True)
    log_prob = torch.tensor([0.5, 1.5])  # entropy estimate -1.0, below a target of -0.5
    c3.sac_temperature_loss(log_alpha, log_prob, target_entropy=-0.5).backward()
    assert log_alpha.grad.item() == pytest.approx(-1.0 - (-0.5))  # negative: alpha goes up


def test_sac_losses_match_stable_baselines3_on_one_replay_batch():
    """Our four functions on the very tensors SB3's ``SAC.train`` uses for one gradient step."""
    from stable_baselines3 import SAC

    model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=0, device="cpu")
    model.learn(total_timesteps=200)  # 100 gradient steps: alpha and the networks have moved
    actor, critic, critic_target = (
        copy.deepcopy(m) for m in (model.actor, model.critic, model.critic_target)
    )
    log_alpha = model.log_ent_coef.detach().clone().requires_grad_(True)
    rng_states = torch.get_rng_state(), np.random.get_state()
    model.train(gradient_steps=1, batch_size=256)
    logged = model.logger.name_to_value
    sb3 = {k: logged[f"train/{k}"] for k in ("ent_coef_loss", "critic_loss", "actor_loss")}
    torch.set_rng_state(rng_states[0])  # replay: the same batch, the same action noise
    np.random.set_state(rng_states[1])
    batch = model.replay_buffer.sample(256)

    def sample(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action, sb3_log_prob = actor.action_log_prob(obs)
        mean, log_std, _ = actor.get_action_dist_params(obs)
        log_prob = c3.squashed_log_prob(actor.action_dist.gaussian_actions, mean, log_std)
        torch.testing.assert_close(log_prob, sb3_log_prob, rtol=0, atol=1e-5)
        return action, log_prob

    action, log_prob = sample(batch.observations)
    alpha = log_alpha.detach().exp()  # SB3 reads alpha before its own step on it
    ours = {"ent_coef_loss": c3.sac_temperature_loss(log_alpha, log_prob, model.target_entropy)}
    with torch.no_grad():
        next_action, next_log_prob = sample(batch.next_observations)
        next_q = torch.cat(critic_target(batch.next_observations, next_action), dim=1)
    target = c3.sac_critic_target(
        batch.rewards[:, 0], batch.dones[:, 0], next_q, next_log_prob, alpha, model.gamma
    )
    q = torch.cat(critic(batch.observations, batch.actions), dim=1)
    ours["critic_loss"] = c3.sac_critic_loss(q, target)
    q_pi = torch.cat(model.critic(batch.observations, action), dim=1)  # after the critic's step
    ours["actor_loss"] = c3.sac_actor_loss(log_prob, q_pi, alpha)
    assert alpha.item() != pytest.approx(1.0, abs=0.01)  # not the initial alpha any more
    for name, value in ours.items():
        assert value.item() == pytest.approx(sb3[name], rel=1e-6, abs=1e-6), name


def test_cli_quick_prints_one_json_line(tmp_path, capsys):
    args = "--quick --ppo-timesteps 2000 --eval-every 2000 --plot".split()
    metrics = c3.main([*args, str(tmp_path / "run.png")])
    assert (tmp_path / "run.png").stat().st_size > 10_000
    assert metrics["algo"] == "ppo" and metrics["eval_steps"] == [2_000]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics


def test_the_benchmark_figure_run_scores_a_random_torque_near_minus_1200_as_committed(tmp_path):
    metrics = c3.from_benchmark(str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    committed = json.loads((c3.BENCHMARK_JSON.parent / "runs" / "c3-benchmark.json").read_text())
    assert metrics["random_seeds"] == committed["metrics"]["random_seeds"] == [0, 1, 2, 3, 4]
    assert metrics["random_returns"] == pytest.approx(
        committed["metrics"]["random_returns"], abs=1e-3
    )
    assert -1300 < float(np.median(metrics["random_returns"])) < -1100


@pytest.mark.parametrize(
    "argv",
    [
        "--algo dqn",
        "--algo td3",
        "--gamma 1.5",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("c3_continuous_actions_ppo_sac", argv)
