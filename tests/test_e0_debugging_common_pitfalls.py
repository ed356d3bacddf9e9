import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import run_module

from snippets import e0_debugging_common_pitfalls as e0

CFG = e0.Config()
SMALL = replace(CFG, truncation_episodes=2, grad_batches=16, bandit_runs=400, bandit_steps=200)


# ---- 1. truncation ---------------------------------------------------------------------
def test_truncation_as_termination_biases_td_values_and_the_fix_recovers_1_over_1_minus_gamma():
    broken = e0.truncation_broken(SMALL, seed=0)
    fixed = e0.truncation_fixed(SMALL, seed=0)
    assert broken.true_value == pytest.approx(100.0)
    assert fixed.value == pytest.approx(100.0, abs=1.5)
    assert broken.value < 90.0  # about 84: every state near the time limit looks doomed


def test_the_controller_only_ever_times_out():
    data = e0.controller_transitions(2, seed=3)
    assert not data["term"].any() and data["trunc"].sum() == 2
    assert len(data["reward"]) == 1000  # two full 500-step episodes


# ---- 2. return normalisation ------------------------------------------------------------
def test_raw_returns_make_reinforce_gradients_much_noisier_than_normalised_returns():
    broken = e0.normalisation_broken(SMALL, seed=0)
    fixed = e0.normalisation_fixed(SMALL, seed=0)
    assert fixed.snr > 2.5 * broken.snr
    assert np.median(fixed.cosines) > np.median(broken.cosines)


def test_normalised_returns_have_zero_mean_and_unit_std_over_valid_steps():
    returns = np.array([[3.0, 5.0], [2.0, 4.0], [1.0, 0.0]])
    mask = np.array([[True, True], [True, True], [True, False]])
    w = e0.normalised_returns(returns, mask)
    assert w[mask].mean() == pytest.approx(0.0, abs=1e-12)
    assert w[mask].std() == pytest.approx(1.0, abs=1e-6)


def test_returns_to_go_match_a_hand_computation():
    rewards = np.array([[1.0], [1.0], [1.0]])
    np.testing.assert_allclose(e0.returns_to_go(rewards, 0.5)[:, 0], [1.75, 1.5, 1.0])


# ---- 3. learning rate ---------------------------------------------------------------------
def test_a_too_high_learning_rate_collapses_entropy_and_settles_on_worse_arms():
    broken = e0.learning_rate_broken(SMALL, seed=0)
    fixed = e0.learning_rate_fixed(SMALL, seed=0)
    assert e0.entropy_collapsed(broken.entropy) and not e0.entropy_collapsed(fixed.entropy)
    assert fixed.expected_reward[-1] > broken.expected_reward[-1] + 0.1
    assert fixed.best_arm_share > broken.best_arm_share + 0.2


# ---- 4. target network --------------------------------------------------------------------
def expected_td_matrix(replay: np.ndarray, gamma: float) -> np.ndarray:
    """A = Phi^T D (Phi - gamma P Phi): expected TD moves w by -lr * A w (reward 0)."""
    phi, nxt = e0.LOOP_FEATURES, e0.LOOP_NEXT
    return phi.T @ np.diag(replay) @ (phi - gamma * phi[nxt])


def test_skewed_replay_makes_online_td_unstable_for_every_step_size():
    eig_skewed = np.linalg.eigvals(expected_td_matrix(e0.SKEWED_REPLAY, CFG.q_gamma))
    eig_mixed = np.linalg.eigvals(expected_td_matrix(e0.ON_POLICY_REPLAY, CFG.q_gamma))
    assert eig_skewed.real.min() < 0  # some direction grows whatever the learning rate
    assert eig_mixed.real.min() > 0  # on-policy data: TD is stable (Tsitsiklis & Van Roy)


def test_target_network_iteration_is_a_contraction_on_the_same_data():
    phi, nxt, d = e0.LOOP_FEATURES, e0.LOOP_NEXT, np.diag(e0.SKEWED_REPLAY)
    # a fully fitted regression onto frozen targets maps w_target -> gamma * M w_target
    m = np.linalg.solve(phi.T @ d @ phi, phi.T @ d @ phi[nxt])
    assert np.abs(np.linalg.eigvals(CFG.q_gamma * m)).max() < 0.9


def test_td_without_target_network_diverges_and_with_one_converges_to_zero():
    broken = e0.target_network_broken(CFG, seed=0)
    fixed = e0.target_network_fixed(CFG, seed=0)
    mixed = e0.linear_td_on_replay(e0.ON_POLICY_REPLAY, None, CFG, seed=0)
    assert broken.final > 1e6
    assert fixed.final < 0.3 and mixed.final < 1e-6


# ---- 5. seeding -------------------------------------------------------------------------------
def test_unseeded_runs_differ_and_seeded_runs_repeat_exactly():
    assert not e0.run_twice(e0.seeding_broken, CFG, seed=0).reproducible
    assert e0.run_twice(e0.seeding_fixed, CFG, seed=0).reproducible
    assert e0.seeding_fixed(CFG, 0) != e0.seeding_fixed(CFG, 1)  # the seed matters


def test_seeded_run_still_varies_from_episode_to_episode():
    returns = e0.seeding_fixed(replace(CFG, seeding_episodes=8), seed=0)
    assert len(set(returns)) > 1  # seeding only the first reset keeps episodes different


# ---- 6. reward scale -------------------------------------------------------------------------
def test_large_rewards_stall_an_adam_critic_and_normalising_them_fixes_it():
    cfg = replace(CFG, critic_steps=150)
    broken = e0.reward_scale_broken(cfg, seed=0)
    fixed = e0.reward_scale_fixed(cfg, seed=0)
    assert broken < 0.1
    assert fixed > 0.3


# ---- 7. RLHF log-prob shift ---------------------------------------------------------------
def test_shifted_logprobs_disagree_with_sampling_and_aligned_ones_match():
    broken = e0.logprob_broken(CFG, seed=0)
    fixed = e0.logprob_fixed(CFG, seed=0)
    assert fixed.max_abs_error < 1e-5
    assert broken.max_abs_error > 1.0
    assert fixed.recomputed.shape == (CFG.sequences, CFG.sequence_length)


# ---- reading curves -----------------------------------------------------------------------
def test_moving_average_and_ema_match_hand_values():
    np.testing.assert_allclose(e0.moving_average(np.array([1, 2, 3, 4]), 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(e0.ema(np.full(5, 7.0), 0.9), 7.0)  # bias correction: no warm-up dip
    np.testing.assert_allclose(e0.ema(np.array([1.0, 3.0]), 0.0), [1.0, 3.0])
    np.testing.assert_allclose(e0.ema(np.array([0.0, 10.0]), 0.5), [0.0, 5.0 / 0.75])


def test_seed_band_and_bootstrap_interval():
    curves = np.array([[0, 0], [1, 2], [2, 4], [3, 6], [4, 8]], dtype=float)
    median, q25, q75 = e0.seed_band(curves)
    np.testing.assert_allclose(median, [2, 4])
    np.testing.assert_allclose(q25, [1, 2])
    np.testing.assert_allclose(q75, [3, 6])
    lo, hi = e0.bootstrap_ci(np.array([470.0, 480, 490, 500, 500]), seed=0)
    assert lo < 488 < hi and hi <= 500


def test_first_solved_uses_the_mean_of_the_last_100_episodes():
    returns = np.concatenate([np.full(100, 400.0), np.full(100, 500.0)])
    # the window ending at episode k > 100 holds k - 100 returns of 500: mean 400 + (k - 100)
    assert e0.first_solved(returns) == 175
    assert e0.first_solved(np.full(99, 500.0)) is None
    assert e0.first_solved(np.full(300, 474.0)) is None


def test_cem_baseline_solves_cartpole_in_a_few_hundred_episodes():
    curve = e0.cem_cartpole(replace(CFG, cem_iterations=12), seed=0)
    assert len(curve) == 12 * CFG.cem_population
    assert e0.first_solved(curve) is not None


def test_tensorboard_tracking_writes_readable_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = e0.track_curve(np.array([1.0, 2.0, 3.0]), "tensorboard", tmp_path, "run")
    events = EventAccumulator(logdir)
    events.Reload()
    values = [e.value for e in events.Scalars("charts/episodic_return")]
    assert values == [1.0, 2.0, 3.0]


def test_wandb_tracking_runs_offline_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = e0.track_curve(np.array([1.0, 2.0]), "wandb", tmp_path, "run")
    assert str(tmp_path) in run_dir
    assert list(tmp_path.rglob("*.wandb")), "no offline run file was written"


def test_unknown_tracking_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        e0.track_curve(np.array([1.0]), "mlflow", tmp_path, "run")


# ---- the command ------------------------------------------------------------------------------
def test_quick_run_prints_every_symptom_as_json(capsys):
    returned = e0.main(["--quick"])  # in-process: torch is already imported by the tests above
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics == returned
    for name in e0.PITFALLS:
        key = name.replace("-", "_")
        assert f"{key}_broken" in metrics and f"{key}_fixed" in metrics
    assert metrics["seeding_broken"] is False and metrics["seeding_fixed"] is True
    assert metrics["truncation_broken"] < metrics["truncation_fixed"]
    assert len(metrics["cem_solved_at_episode"]) == 2


def test_command_line_quick_run_of_one_pitfall():
    result = run_module("e0_debugging_common_pitfalls", "--quick", "--pitfall", "target-network")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["target_network_broken"] > 1e6 > metrics["target_network_fixed"]
    assert "seconds" in metrics


@pytest.mark.parametrize(
    ("args", "name"),
    [(["--seeds", "0"], "--seeds"), (["--pitfall", "typo"], "--pitfall"),
     (["--iterations", "x"], "--iterations")],
)  # fmt: skip
def test_bad_arguments_give_one_line_errors(args, name):
    result = run_module("e0_debugging_common_pitfalls", *args)
    assert result.returncode == 2
    assert name in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
