import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import run_main

from snippets import a2_rl_ecosystem_overview as a2

# ---------------------------------------------------------------- Gymnasium


def test_same_seed_gives_the_same_random_episode():
    first = a2.run_random_episode("CartPole-v1", seed=7)
    second = a2.run_random_episode("CartPole-v1", seed=7)
    assert first == second  # same return, length and ending, not just similar
    assert first.total_reward == first.length  # CartPole pays +1 per step survived
    lengths = {a2.run_random_episode("CartPole-v1", seed=s).length for s in range(10)}
    assert len(lengths) > 1  # and the seed really matters


def test_step_returns_the_five_tuple_and_reset_returns_obs_and_info():
    env = gym.make("CartPole-v1")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and isinstance(info, dict)
    step = env.step(env.action_space.sample())
    assert len(step) == 5
    obs, reward, terminated, truncated, info = step
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float) and reward == 1.0
    assert type(terminated) is bool and type(truncated) is bool
    assert isinstance(info, dict)
    env.close()


def test_time_limit_truncates_instead_of_terminating():
    episode = a2.run_random_episode("CartPole-v1", seed=0, max_episode_steps=5)
    assert episode == a2.Episode(total_reward=5.0, length=5, terminated=False, truncated=True)
    assert a2.describe_env("CartPole-v1")["max_episode_steps"] == 500


def test_frozenlake_episodes_end_in_a_hole_or_at_the_goal():
    episodes = [a2.run_random_episode("FrozenLake-v1", seed=s) for s in range(300)]
    assert {e.total_reward for e in episodes} == {0.0, 1.0}  # the goal pays 1, all else 0
    assert all(e.terminated or (e.truncated and e.length == 100) for e in episodes)
    assert all(e.terminated for e in episodes if e.total_reward == 1.0)


def test_td_target_bootstraps_through_truncation_but_not_termination():
    reward = np.array([1.0, 1.0])
    next_value = np.array([10.0, 10.0])
    terminated = np.array([False, True])  # first: time limit hit (truncated); second: pole fell
    np.testing.assert_allclose(a2.td_target(reward, next_value, terminated, 0.9), [10.0, 1.0])


def test_vector_env_seeds_sub_environment_i_with_seed_plus_i():
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync")
    obs, _ = envs.reset(seed=5)
    for i in range(3):
        single_obs, _ = gym.make("CartPole-v1").reset(seed=5 + i)
        np.testing.assert_array_equal(obs[i], single_obs)
    envs.close()


def test_vector_rollout_accounts_for_every_step():
    rollout = a2.random_vector_rollout("CartPole-v1", num_envs=4, num_steps=100, seed=0)
    assert rollout.transitions + rollout.reset_steps == 4 * 100
    # Each finished episode costs one reset step, unless it ended on the very last step.
    assert 0 <= len(rollout.episode_lengths) - rollout.reset_steps <= 4
    assert rollout.episode_returns == [float(n) for n in rollout.episode_lengths]
    assert sum(rollout.episode_lengths) <= rollout.transitions
    assert rollout == a2.random_vector_rollout("CartPole-v1", num_envs=4, num_steps=100, seed=0)


# ---------------------------------------------------------------- Stable-Baselines3


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    return a2.train_agent("CartPole-v1", timesteps=256, seed=0)


def test_training_runs_exactly_the_requested_timesteps(trained):
    assert trained.num_timesteps == 256  # two rollouts of n_steps = 128


def test_timesteps_round_up_to_whole_rollouts():
    cfg = a2.Config(n_steps=64, batch_size=32)
    model = a2.train_agent("CartPole-v1", timesteps=130, seed=0, cfg=cfg)
    assert model.num_timesteps == 192  # 3 rollouts of 64 steps: the first multiple >= 130


def test_same_seed_gives_identical_parameters(trained):
    again = a2.train_agent("CartPole-v1", timesteps=256, seed=0).policy.state_dict()
    weights = trained.policy.state_dict()
    assert weights.keys() == again.keys()
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    untrained = a2.make_agent("CartPole-v1", seed=0).policy.state_dict()
    assert not all(torch.equal(weights[k], untrained[k]) for k in weights)  # training moved them
    other_seed = a2.make_agent("CartPole-v1", seed=1).policy.state_dict()
    assert not all(torch.equal(untrained[k], other_seed[k]) for k in weights)


def test_save_load_round_trip_gives_identical_actions(trained, tmp_path):
    loaded = a2.save_and_reload(trained, tmp_path / "ppo_cartpole.zip")
    assert (tmp_path / "ppo_cartpole.zip").stat().st_size > 10_000
    assert loaded is not trained and loaded.num_timesteps == trained.num_timesteps
    obs = np.random.default_rng(0).normal(scale=[1.0, 1.0, 0.1, 1.0], size=(500, 4))
    actions, _ = trained.predict(obs.astype(np.float32), deterministic=True)
    loaded_actions, _ = loaded.predict(obs.astype(np.float32), deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    assert len(set(actions.tolist())) == 2  # the check covers both actions


def test_ppo_beats_random_play_after_256_steps(trained):
    returns = a2.evaluate(trained, "CartPole-v1", episodes=10, seed=0)
    baseline = a2.random_returns("CartPole-v1", episodes=10, seed=0)  # same 10 start states
    assert baseline.mean() < 40  # random play: measured 21.0
    assert returns.mean() >= 60  # greedy policy after two rollouts: measured 89.7


# ---------------------------------------------------------------- the command


def test_quick_cli_prints_metrics_plot_and_tensorboard_logs(tmp_path, capsys):
    plot, logs = tmp_path / "a2.png", tmp_path / "tb"
    args = ["--quick", "--plot", str(plot), "--tensorboard", str(logs)]
    metrics = run_main(a2.main, *args, capsys=capsys)
    assert metrics["timesteps"] == 512 and metrics["env_id"] == "CartPole-v1"
    assert metrics["random_episode_return"] == a2.run_random_episode("CartPole-v1", 0).total_reward
    for key in ("random_mean_return", "trained_mean_return", "train_seconds", "seconds"):
        assert key in metrics
    assert plot.stat().st_size > 10_000
    assert list(logs.rglob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ("--timesteps 0", ""),
        ("--algo dqn", ""),
        ("--env-id CartPol-v1", "Did you mean: `CartPole`?"),
        ("--env-id Blackjack-v1", ""),
        ("--env-id Taxi-v3", "Taxi-v4"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(
    assert_rejects, argv: str, expected: str
) -> None:
    assert_rejects("a2_rl_ecosystem_overview", argv, expected)
