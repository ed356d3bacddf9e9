"""Tests for lesson C2's PPO from scratch on CartPole-v1 (and SB3's PPO with the same settings).

About 20 s on one quiet core: two short training runs and a few exact checks of the rollout.
"""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from snippets import c2_proximal_policy_optimization_ppo_cartpole as ppo


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _rollout_with_short_episodes(n_steps: int = 20):
    torch.manual_seed(0)
    envs = ppo.make_envs("CartPole-v1", 4, max_episode_steps=5)  # every episode is cut at 5 steps
    agent = ppo.Agent(4, 2)
    obs, _ = envs.reset(seed=0)
    rollout, _ = ppo.collect_rollout(envs, agent, obs, n_steps)
    return agent, rollout


def test_same_step_autoreset_stores_no_fake_transition():
    # Gymnasium's default (next-step) autoreset would return one extra transition per episode
    # end, with reward 0 from the reset state. CartPole pays +1 for every real step.
    _, rollout = _rollout_with_short_episodes()
    assert np.all(rollout.rewards == 1.0)
    assert rollout.truncated.sum() + rollout.terminated.sum() >= 4 * 3  # episodes did end
    assert len(rollout.episodes) == int((rollout.truncated | rollout.terminated).sum())


def test_next_value_at_an_episode_end_is_the_value_of_the_true_last_state():
    agent, rollout = _rollout_with_short_episodes()
    cartpole = gym.make("CartPole-v1").unwrapped
    cartpole.reset(seed=0)
    ends = np.argwhere(rollout.truncated)
    assert len(ends) > 0
    for t, i in ends:
        cartpole.state = rollout.obs[t, i].double().numpy()  # replay the step that ended it
        last_obs, *_ = cartpole.step(int(rollout.actions[t, i]))
        expected = agent.value(torch.as_tensor(last_obs, dtype=torch.float32)[None]).item()
        assert rollout.next_values[t, i] == pytest.approx(expected, abs=1e-4)
        if t + 1 < len(rollout.values):  # the stored next obs is the new episode's first
            assert rollout.next_values[t, i] != pytest.approx(rollout.values[t + 1, i], abs=1e-4)
    inside = ~(rollout.truncated | rollout.terminated)[:-1]
    np.testing.assert_allclose(
        rollout.next_values[:-1][inside], rollout.values[1:][inside], atol=1e-6
    )


def test_first_minibatch_of_an_update_is_unclipped_and_at_zero_kl():
    agent, rollout = _rollout_with_short_episodes()
    advantages = np.random.default_rng(0).normal(size=rollout.rewards.shape)
    cfg = replace(ppo.Config(), n_epochs=1, batch_size=rollout.rewards.size)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    stats = ppo.ppo_update(agent, optimizer, rollout, advantages, advantages, cfg, clip_coef=0.2)
    assert stats["clip"] == 0.0 and abs(stats["kl"]) < 1e-7


def test_schedule_anneals_both_or_keeps_the_clip_constant():
    cfg = ppo.Config()
    assert ppo.schedule(cfg, 0.25) == pytest.approx((2.5e-4, 0.05))
    assert ppo.schedule(replace(cfg, anneal_clip=False), 0.25) == pytest.approx((2.5e-4, 0.2))


def test_ppo_from_scratch_learns_cartpole_in_16k_steps():
    cfg = replace(ppo.Config(), total_timesteps=16_384, eval_every=4_096, final_eval_episodes=10)
    _, result = ppo.train(cfg, seed=0)
    assert result.kept_eval >= 300  # a random policy scores about 22
    assert len(result.updates) == 64 and result.eval_steps[-1] == 16_384


def test_sb3_ppo_with_the_same_settings_learns_too():
    cfg = replace(ppo.Config(), total_timesteps=16_384, eval_every=4_096, final_eval_episodes=10)
    _, result = ppo.train_sb3(cfg, seed=0)
    assert result.kept_eval >= 300
    assert result.eval_steps == [4096, 8192, 12288, 16384]


def test_cli_quick_prints_one_json_line(tmp_path, capsys):
    metrics = ppo.main(["--quick", "--no-anneal-clip", "--plot", str(tmp_path / "run.png")])
    assert (tmp_path / "run.png").stat().st_size > 10_000
    assert metrics["timesteps"] == 8_192 and metrics["config"]["anneal_clip"] is False
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics


@pytest.mark.parametrize(
    "argv",
    [
        "--timesteps 0",
        "--gamma 2",
        "--clip-coef 0",
        "--impl cleanrl",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("c2_proximal_policy_optimization_ppo_cartpole", argv)
