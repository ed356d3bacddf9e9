import os
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_main

from snippets import e2_further_learning_capstone_idea as e2

CFG = e2.Config()


def test_settings_follow_the_rl_zoo_acrobot_entry():
    # rl-baselines3-zoo hyperparams/ppo.yml, Acrobot-v1 (we use 8 envs instead of 16)
    assert (CFG.n_steps, CFG.gae_lambda, CFG.gamma, CFG.n_epochs, CFG.ent_coef) == (
        256,
        0.94,
        0.99,
        4,
        0.0,
    )


def test_target_is_gymnasiums_reward_threshold():
    spec = gym.spec(CFG.env_id)
    assert spec.reward_threshold == CFG.target_return == -100.0
    assert spec.max_episode_steps == 500  # so the worst possible return is -500


def test_verdict_is_done_exactly_at_the_target():
    assert e2.Verdict(-100.0, 5.0, 50, -100.0).done
    assert not e2.Verdict(-100.01, 5.0, 50, -100.0).done


@pytest.fixture(scope="module")
def small_run():
    """The provided check, at a small budget: 3 x 10,240 steps of PPO, on one torch thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the command does: same numbers, and faster for a tiny MLP
    try:
        cfg = replace(CFG, total_timesteps=30_720, curve_episodes=5, eval_episodes=10)
        yield cfg, e2.train(cfg, seed=0, show_progress=False)
    finally:
        torch.set_num_threads(threads)


def test_ppo_learns_to_swing_up_within_a_small_budget(small_run):
    cfg, run = small_run
    assert run.steps == [10_240, 20_480, 30_720]
    verdict = e2.definition_of_done(run.model, cfg)
    assert verdict.episodes == 10
    assert verdict.mean_return > -200.0  # a random policy scores -500; this run got -98.7


def test_evaluation_is_reproducible_and_survives_a_save_load_round_trip(small_run, tmp_path):
    cfg, run = small_run
    first = e2.evaluate(run.model, cfg, episodes=3, seed=123)
    np.testing.assert_array_equal(first, e2.evaluate(run.model, cfg, episodes=3, seed=123))
    e2.save_model(run.model, tmp_path)
    reloaded = e2.load_model(tmp_path)
    np.testing.assert_array_equal(first, e2.evaluate(reloaded, cfg, episodes=3, seed=123))


@pytest.mark.skipif(
    not os.environ.get("CAPSTONE_RUN"), reason="set CAPSTONE_RUN=<folder given to --save>"
)
def test_your_capstone_model_meets_the_definition_of_done():
    """The reader's check: CAPSTONE_RUN=runs/capstone uv run pytest tests/test_e2_... -k done."""
    verdict = e2.definition_of_done(e2.load_model(os.environ["CAPSTONE_RUN"]), CFG)
    assert verdict.episodes == 50
    assert verdict.done, f"mean return {verdict.mean_return:.1f} < target {verdict.target:g}"


def test_quick_run_trains_saves_and_prints_the_verdict(tmp_path, capsys):
    args = ["--quick", "--save", str(tmp_path), "--plot", str(tmp_path / "curve.png")]
    metrics = run_main(e2.main, *args, capsys=capsys)
    assert {"mean_return", "done", "target", "timesteps", "seconds"} <= set(metrics)
    assert metrics["timesteps"] == 4096 and metrics["target"] == -100.0
    assert (tmp_path / "ppo_acrobot.zip").is_file() and (tmp_path / "curve.png").is_file()


@pytest.mark.parametrize(
    "argv",
    [
        "--timesteps 0",
        "--eval-episodes x",
        "--check /nonexistent-capstone",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("e2_further_learning_capstone_idea", argv)
