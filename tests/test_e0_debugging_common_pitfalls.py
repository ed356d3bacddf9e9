import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import ROOT, run_module

from snippets import curves
from snippets import e0_debugging_common_pitfalls as e0
from snippets.e0_debugging_common_pitfalls import (
    autoreset,
    base,
    learning_rate,
    logprob_shift,
    normalisation,
    reading_curves,
    reward_scale,
    seeding,
    target_network,
    tracking,
    truncation,
)
from snippets.e0_debugging_common_pitfalls.__main__ import main as e0_main

CFG = base.Config()
SMALL = replace(CFG, truncation_episodes=2, grad_batches=16, bandit_runs=400, bandit_steps=200)
RESULTS = ROOT / "results" / e0.RESULTS_NAME


# ---- 1. truncation ---------------------------------------------------------------------
def test_truncation_as_termination_biases_td_values_and_the_fix_recovers_1_over_1_minus_gamma():
    broken = truncation.truncation_broken(SMALL, seed=0)
    fixed = truncation.truncation_fixed(SMALL, seed=0)
    assert broken.true_value == pytest.approx(100.0)
    assert fixed.value == pytest.approx(100.0, abs=1.5)
    assert broken.value < 90.0  # about 84: every state near the time limit looks doomed


def test_the_controller_only_ever_times_out():
    data = truncation.controller_transitions(2, seed=3)
    assert not data["term"].any() and data["trunc"].sum() == 2
    assert len(data["reward"]) == 1000  # two full 500-step episodes


# ---- 2. return normalisation ------------------------------------------------------------
def test_raw_returns_make_reinforce_gradients_much_noisier_than_normalised_returns():
    broken = normalisation.normalisation_broken(SMALL, seed=0)
    fixed = normalisation.normalisation_fixed(SMALL, seed=0)
    assert fixed.snr > 2.5 * broken.snr
    assert np.median(fixed.cosines) > np.median(broken.cosines)


def test_normalised_returns_have_zero_mean_and_unit_std_over_valid_steps():
    returns = np.array([[3.0, 5.0], [2.0, 4.0], [1.0, 0.0]])
    mask = np.array([[True, True], [True, True], [True, False]])
    w = normalisation.normalised_returns(returns, mask)
    assert w[mask].mean() == pytest.approx(0.0, abs=1e-12)
    assert w[mask].std() == pytest.approx(1.0, abs=1e-6)


def test_returns_to_go_match_a_hand_computation_and_stop_where_episodes_end():
    rewards = np.array([[1.0], [1.0], [1.0]])
    np.testing.assert_allclose(base.returns_to_go(rewards, 0.5)[:, 0], [1.75, 1.5, 1.0])
    ends = np.array([[False], [True], [False]])  # an episode ends after the second step
    np.testing.assert_allclose(base.returns_to_go(rewards, 0.5, ends)[:, 0], [1.5, 1.0, 1.0])


# ---- 3. learning rate ---------------------------------------------------------------------
def test_a_too_high_learning_rate_collapses_entropy_and_settles_on_worse_arms():
    broken = learning_rate.learning_rate_broken(SMALL, seed=0)
    fixed = learning_rate.learning_rate_fixed(SMALL, seed=0)
    collapsed = learning_rate.entropy_collapsed
    assert collapsed(broken.entropy) and not collapsed(fixed.entropy)
    assert fixed.expected_reward[-1] > broken.expected_reward[-1] + 0.1
    assert fixed.best_arm_share > broken.best_arm_share + 0.2


# ---- 4. target network --------------------------------------------------------------------
def expected_td_matrix(replay: np.ndarray, gamma: float) -> np.ndarray:
    """A = Phi^T D (Phi - gamma P Phi): expected TD moves w by -lr * A w (reward 0)."""
    phi, nxt = target_network.LOOP_FEATURES, target_network.LOOP_NEXT
    return phi.T @ np.diag(replay) @ (phi - gamma * phi[nxt])


def test_skewed_replay_makes_online_td_unstable_for_every_step_size():
    eig_skewed = np.linalg.eigvals(expected_td_matrix(target_network.SKEWED_REPLAY, CFG.q_gamma))
    eig_mixed = np.linalg.eigvals(expected_td_matrix(target_network.ON_POLICY_REPLAY, CFG.q_gamma))
    assert eig_skewed.real.min() < 0  # some direction grows whatever the learning rate
    assert eig_mixed.real.min() > 0  # on-policy data: TD is stable (Tsitsiklis & Van Roy)


def test_target_network_iteration_is_a_contraction_on_the_same_data():
    phi, nxt = target_network.LOOP_FEATURES, target_network.LOOP_NEXT
    d = np.diag(target_network.SKEWED_REPLAY)
    # a fully fitted regression onto frozen targets maps w_target -> gamma * M w_target
    m = np.linalg.solve(phi.T @ d @ phi, phi.T @ d @ phi[nxt])
    assert np.abs(np.linalg.eigvals(CFG.q_gamma * m)).max() < 0.9


def test_td_without_target_network_diverges_and_with_one_converges_to_zero():
    outcome = target_network.PITFALL.run(CFG, seed=0)
    assert outcome.broken.final > 1e6
    assert outcome.fixed.final < 0.3 and outcome.reference.final < 1e-6  # mixed buffer


# ---- 5. seeding -------------------------------------------------------------------------------
def test_unseeded_runs_differ_and_seeded_runs_repeat_exactly():
    outcome = seeding.PITFALL.run(CFG, seed=0)
    assert not outcome.broken.reproducible and outcome.fixed.reproducible
    assert seeding.seeding_fixed(CFG, 0) != seeding.seeding_fixed(CFG, 1)  # the seed matters


def test_seeded_run_still_varies_from_episode_to_episode():
    returns = seeding.seeding_fixed(replace(CFG, seeding_episodes=8), seed=0)
    assert len(set(returns)) > 1  # seeding only the first reset keeps episodes different


# ---- 6. reward scale -------------------------------------------------------------------------
def test_large_rewards_stall_an_adam_critic_and_normalising_them_fixes_it():
    cfg = replace(CFG, critic_steps=150)
    broken = reward_scale.reward_scale_broken(cfg, seed=0)
    fixed = reward_scale.reward_scale_fixed(cfg, seed=0)
    assert broken < 0.1
    assert fixed > 0.3


# ---- 7. RLHF log-prob shift ---------------------------------------------------------------
def test_shifted_logprobs_disagree_with_sampling_and_aligned_ones_match():
    broken = logprob_shift.logprob_broken(CFG, seed=0)
    fixed = logprob_shift.logprob_fixed(CFG, seed=0)
    assert fixed.max_abs_error < 1e-5
    assert broken.max_abs_error > 1.0
    assert fixed.recomputed.shape == (CFG.sequences, CFG.sequence_length)


# ---- 8. vector-env autoreset ---------------------------------------------------------------
def test_gymnasium_vector_cartpole_resets_on_the_step_after_an_episode_ends():
    import gymnasium as gym

    env = base.make_vector_cartpole(2)
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    env.reset(seed=0)
    for _ in range(200):  # push right until copy 0's pole falls
        obs, reward, terminated, truncated, _ = env.step(np.ones(2, dtype=np.int64))
        if terminated[0]:
            break
    assert terminated[0] and reward[0] == 1.0  # the last real step still pays +1
    assert abs(obs[0, 2]) > autoreset.FAILURE_ANGLE  # its observation: the fallen pole
    obs, reward, terminated, truncated, _ = env.step(np.zeros(2, dtype=np.int64))
    assert reward[0] == 0.0 and not terminated[0] and not truncated[0]  # the reset step
    assert np.abs(obs[0]).max() <= 0.05  # a fresh start: every coordinate in [-0.05, 0.05]


def test_unmasked_reset_steps_teach_that_a_fallen_pole_is_worth_a_fresh_start():
    outcome = autoreset.PITFALL.run(CFG, seed=0)
    broken = outcome.broken
    reset = broken.reward == 0
    assert 0.03 < broken.reset_share < 0.06  # one reset row per ~20-step random episode
    assert (np.abs(broken.angle[reset]) > autoreset.FAILURE_ANGLE).all()
    # reward 0 and "not done": each reset row's target is gamma times the next row's, the
    # first state of a new episode; the last row of the rollout has no next row
    t, i = np.nonzero(reset[:-1])
    np.testing.assert_allclose(broken.target[t, i], CFG.gamma * broken.target[t + 1, i])
    numbers = autoreset.PITFALL.numbers(outcome)
    assert numbers["reset_target"] > 5 * numbers["leaning_target"]  # fallen "beats" leaning
    assert numbers["reset_advantage"] > 2 * numbers["real_advantage"]
    assert numbers["fixed"] == 0.0


def test_the_autoreset_mask_drops_exactly_the_reset_steps_and_changes_no_other_target():
    outcome = autoreset.PITFALL.run(replace(CFG, autoreset_steps=64), seed=1)
    broken, fixed = outcome.broken, outcome.fixed
    np.testing.assert_array_equal(fixed.trained, broken.reward != 0)
    np.testing.assert_array_equal(fixed.target[fixed.trained], broken.target[fixed.trained])


def test_same_step_autoreset_mode_has_no_reset_steps_and_keeps_the_final_observation():
    import gymnasium as gym

    env = gym.make_vec(
        "CartPole-v1",
        num_envs=4,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    env.reset(seed=0)
    rng, endings = np.random.default_rng(0), 0
    for _ in range(100):
        obs, reward, terminated, truncated, info = env.step(rng.integers(0, 2, 4))
        assert (reward == 1.0).all()  # every step is a real step
        ended = terminated | truncated
        if ended.any():
            endings += ended.sum()
            final = np.stack(info["final_obs"][ended])
            assert (np.abs(final[:, 2]) > autoreset.FAILURE_ANGLE).all()  # the fallen pole
            assert np.abs(obs[ended]).max() <= 0.05  # obs is already the next episode's start
    assert endings > 5


# ---- the atlas ------------------------------------------------------------------------------
def test_the_atlas_is_one_record_per_pitfall_module_in_page_order():
    names = [p.name for p in e0.PITFALLS]
    assert names == [
        "truncation",
        "normalisation",
        "learning-rate",
        "target-network",
        "seeding",
        "reward-scale",
        "logprob-shift",
        "autoreset",
    ]
    assert e0.BY_NAME["autoreset"] is autoreset.PITFALL


def test_the_committed_run_shows_every_symptom_and_every_fix():
    # `python -m snippets.e0_debugging_common_pitfalls --results results` writes the JSON;
    # tests/test_regenerate.py renders the page's numbers from it again
    metrics = json.loads(RESULTS.with_suffix(".json").read_text())
    for pitfall in e0.PITFALLS:  # the committed run shows every symptom and every fix
        broken, fixed = metrics[pitfall.name]["broken"], metrics[pitfall.name]["fixed"]
        assert broken != fixed, pitfall.name


def test_write_results_writes_the_json_it_was_given_and_nothing_else(tmp_path):
    metrics = json.loads(RESULTS.with_suffix(".json").read_text())
    written = e0.write_results(metrics, tmp_path)
    assert json.loads(written.read_text()) == metrics
    assert written.read_text() == RESULTS.with_suffix(".json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == [f"{e0.RESULTS_NAME}.json"]


# ---- reading curves -----------------------------------------------------------------------
def test_ema_matches_hand_values_and_has_no_warm_up_dip():
    ema = reading_curves.ema
    np.testing.assert_allclose(ema(np.full(5, 7.0), 0.9), 7.0)  # bias correction: no warm-up dip
    np.testing.assert_allclose(ema(np.array([1.0, 3.0]), 0.0), [1.0, 3.0])
    np.testing.assert_allclose(ema(np.array([0.0, 10.0]), 0.5), [0.0, 5.0 / 0.75])


def test_seed_band_and_bootstrap_interval():
    curves = np.array([[0, 0], [1, 2], [2, 4], [3, 6], [4, 8]], dtype=float)
    median, q25, q75 = reading_curves.seed_band(curves)
    np.testing.assert_allclose(median, [2, 4])
    np.testing.assert_allclose(q25, [1, 2])
    np.testing.assert_allclose(q75, [3, 6])
    lo, hi = reading_curves.bootstrap_ci(np.array([470.0, 480, 490, 500, 500]), seed=0)
    assert lo < 488 < hi and hi <= 500


def test_cem_baseline_solves_cartpole_in_a_few_hundred_episodes():
    curve = reading_curves.cem_cartpole(replace(CFG, cem_iterations=12), seed=0)
    assert len(curve) == 12 * CFG.cem_population
    assert curves.first_solved(curve) is not None


def test_tensorboard_tracking_writes_readable_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tracking.track_curve(np.array([1.0, 2.0, 3.0]), "tensorboard", tmp_path, "run")
    events = EventAccumulator(logdir)
    events.Reload()
    values = [e.value for e in events.Scalars("charts/episodic_return")]
    assert values == [1.0, 2.0, 3.0]


def test_wandb_tracking_runs_offline_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tracking.track_curve(np.array([1.0, 2.0]), "wandb", tmp_path, "run")
    assert str(tmp_path) in run_dir
    assert list(tmp_path.rglob("*.wandb")), "no offline run file was written"


def test_unknown_tracking_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        tracking.track_curve(np.array([1.0]), "mlflow", tmp_path, "run")


# ---- the command ------------------------------------------------------------------------------
def test_quick_run_prints_every_symptom_as_json_and_writes_the_same_numbers(tmp_path, capsys):
    returned = e0_main(["--quick", "--results", str(tmp_path)])  # torch is already imported
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics == returned
    assert json.loads((tmp_path / f"{e0.RESULTS_NAME}.json").read_text()) == metrics
    assert list(metrics)[: len(e0.PITFALLS)] == [p.name for p in e0.PITFALLS]
    assert metrics["seeding"]["broken"] is False and metrics["seeding"]["fixed"] is True
    assert metrics["truncation"]["broken"] < metrics["truncation"]["fixed"]
    assert metrics["autoreset"]["broken"] > 0 and metrics["autoreset"]["fixed"] == 0
    assert len(metrics["cem"]["solved_at_episode"]) == 2
    assert [p.name for p in tmp_path.iterdir()] == [f"{e0.RESULTS_NAME}.json"]  # JSON only


def test_results_need_every_pitfall(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        e0_main(["--quick", "--pitfall", "seeding", "--results", str(tmp_path)])
    assert exit_info.value.code == 2 and "--results" in capsys.readouterr().err


def test_python_dash_m_runs_the_package():
    result = run_module(
        "e0_debugging_common_pitfalls",
        "--quick",
        "--pitfall",
        "autoreset",
        "--seeds",
        "1",
        "--iterations",
        "1",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(metrics) == ["autoreset", "cem", "seconds", "cpu_seconds"]
    assert metrics["autoreset"]["broken"] > 0 == metrics["autoreset"]["fixed"]


# ---- the learning-rate sweep on Ray Tune ----------------------------------------------------
def test_a_2x2_tune_sweep_scores_every_trial_as_c0_would_for_that_seed(local_ray, capsys):
    from snippets import c0_policy_gradients_reinforce as c0
    from snippets.e0_debugging_common_pitfalls import sweep

    metrics = sweep.main(["--quick"])  # 2 rates x 2 seeds, 20 episodes each
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert metrics["learning_rates"] == [0.003, 0.03] and metrics["seeds"] == [0, 1]
    assert metrics["failed_trials"] == 0
    # Same seed, same numbers: the trial for (0.03, seed 1) is C0's own run.
    cfg = c0.Config(episodes=20, learning_rate=0.03)
    returns = c0.train(cfg, 1, show_progress=False)["returns"]
    assert metrics["score"][1][1] == pytest.approx(np.mean(returns[-10:]), abs=1e-4)
    assert len({s for row in metrics["score"] for s in row}) == 4  # every trial its own run


@pytest.mark.parametrize(
    "argv",
    [
        "--seeds 0",
        "--pitfall typo",
        "--iterations x",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("e0_debugging_common_pitfalls", argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ("--seeds 0", ""),
        ("--learning-rates 0.01,-1", "'-1' is not a positive number"),
    ],
)
def test_sweep_refuses_bad_input_the_same_way(assert_rejects, argv: str, expected: str) -> None:
    assert_rejects("e0_debugging_common_pitfalls.sweep", argv, expected)
