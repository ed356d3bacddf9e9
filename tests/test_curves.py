"""Tests for the shared learning-curve helpers: exact values worked out by hand."""

import json

import numpy as np
import pytest

from snippets import curves


def test_moving_average_uses_fewer_values_at_the_start():
    np.testing.assert_array_equal(
        curves.moving_average([1, 2, 3, 4, 5], 2), [1.0, 1.5, 2.5, 3.5, 4.5]
    )
    np.testing.assert_array_equal(curves.moving_average([3, 6, 9], 5), [3.0, 4.5, 6.0])
    assert curves.moving_average([], 3).shape == (0,)


def test_best_mean_return_counts_only_full_windows_when_there_are_any():
    # Window 2: the full-window means are 5, 3, 8; the lone first value 10 does not count.
    assert curves.best_mean_return([10, 0, 6, 0, 16], window=2) == 8.0
    # Fewer episodes than the window: the best partial mean.
    assert curves.best_mean_return([2, 4], window=3) == 3.0


def test_first_solved_is_the_first_full_window_at_the_threshold():
    returns = [400.0] + [500.0] * 100
    # Window 100 ending at episode 100: 400 + 99 * 500 = 49_900, mean 499; at 101 all 500.
    assert curves.first_solved(returns) == 100
    assert curves.first_solved(returns, threshold=499.5) == 101
    assert curves.first_solved([500.0] * 99) is None  # never a full window
    assert curves.first_solved([1, 3, 5, 7], threshold=4, window=2) == 3  # means 2, 4, 6
    # 100 episodes of exactly 475 reach 475: exact sums, no rounding below the line.
    assert curves.first_solved([475.0] * 100) == 100


def test_solved_constants_are_gymnasiums_cartpole_threshold():
    import gymnasium as gym

    assert curves.SOLVED_RETURN == gym.spec("CartPole-v1").reward_threshold == 475.0
    assert curves.SOLVED_WINDOW == 100
    assert 0 < curves.EVAL_SEED_OFFSET < curves.TEST_SEED_OFFSET


def test_mean_episode_curve_averages_steps_and_moving_means_over_seeds():
    x, y = curves.mean_episode_curve(
        returns=[[10, 20, 30], [30, 40, 50]], lengths=[[10, 20, 30], [30, 40, 50]], window=2
    )
    np.testing.assert_array_equal(x, [20.0, 50.0, 90.0])  # cumulative steps, averaged
    np.testing.assert_array_equal(y, [20.0, 25.0, 35.0])  # (10+30)/2, (15+35)/2, (25+45)/2


def test_moving_average_at_steps_reads_the_episodes_ended_by_each_step():
    # Episodes end at steps 10, 20, 40, 80 with returns 1, 2, 3, 4; read at 10, 33, 56, 80.
    x, y = curves.moving_average_at_steps([10, 20, 40, 80], [1, 2, 3, 4], window=2, points=4)
    np.testing.assert_array_equal(x, [10, 33, 56, 80])
    np.testing.assert_array_equal(y, [1.0, 1.5, 2.5, 3.5])


def test_linear_schedule_follows_progress_remaining_then_holds():
    lr = curves.linear_schedule(1.0, 0.0)
    assert [lr(p) for p in (1.0, 0.75, 0.5, 0.0)] == [1.0, 0.75, 0.5, 0.0]
    eps = curves.linear_schedule(1.0, 0.1, end_fraction=0.5)
    assert eps(1.0) == 1.0
    assert eps(0.75) == pytest.approx(0.55)  # halfway through the decay
    assert eps(0.5) == pytest.approx(0.1) and eps(0.2) == 0.1 and eps(0.0) == 0.1


def test_linear_schedule_is_sb3s_linear_schedule():
    from stable_baselines3.common.utils import LinearSchedule

    ours, sb3 = curves.linear_schedule(1.0, 0.04, 0.16), LinearSchedule(1.0, 0.04, 0.16)
    for remaining in np.linspace(1.0, 0.0, 101):
        assert ours(remaining) == pytest.approx(sb3(remaining), rel=1e-12)


def test_a_decay_to_zero_is_exactly_start_times_progress_remaining():
    # SB3 lessons used ``lambda p: p * start`` before; the shared schedule gives the same bits.
    lr = curves.linear_schedule(7e-4, 0.0)
    assert all(lr(p) == p * 7e-4 for p in np.linspace(1.0, 0.0, 1001))


def test_curve_files_round_trip_rounded(tmp_path):
    path = curves.write_curve(tmp_path / "sub" / "c.json", [0, 1.26, 2], [1.005, 2.0, 3.3333], "x")
    assert json.loads(open(path).read()) == {
        "x_label": "environment steps",
        "x": [0.0, 1.3, 2.0],
        "y": [1.0, 2.0, 3.33],
        "label": "x",
    }
    assert curves.read_curve(path)["y"] == [1.0, 2.0, 3.33]


def test_curve_files_refuse_mismatched_or_foreign_data(tmp_path):
    with pytest.raises(ValueError, match="as many x as y"):
        curves.write_curve(tmp_path / "c.json", [1, 2], [1], "x")
    (tmp_path / "other.json").write_text(json.dumps({"x": [1], "y": [2]}))
    with pytest.raises(ValueError, match="not a learning curve"):
        curves.read_curve(tmp_path / "other.json")
