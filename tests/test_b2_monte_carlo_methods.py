import json

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_module

from snippets import a3_mdp_and_bellman as a3
from snippets import b2_monte_carlo_methods as b2

STICK_ON_20 = b2.policy_table_of(b2.stick_on_20)


def test_first_visit_and_every_visit_averages_by_hand():
    # states 0, 1, 0, 2 with rewards 1, 0, 2, 3 and gamma = 1: returns 6, 5, 5, 3
    states, rewards = [0, 1, 0, 2], [1.0, 0.0, 2.0, 3.0]
    v, n = np.zeros(3), np.zeros(3, dtype=np.int64)
    b2.mc_update(v, n, states, rewards, gamma=1.0, first_visit=True)
    np.testing.assert_allclose(v, [6.0, 5.0, 3.0])
    assert n.tolist() == [1, 1, 1]
    v, n = np.zeros(3), np.zeros(3, dtype=np.int64)
    b2.mc_update(v, n, states, rewards, gamma=1.0, first_visit=False)
    np.testing.assert_allclose(v, [5.5, 5.0, 3.0])
    assert n.tolist() == [2, 1, 1]


def test_discounted_returns_and_incremental_mean_over_episodes():
    v, n = np.zeros(2), np.zeros(2, dtype=np.int64)
    b2.mc_update(v, n, [0, 1], [0.0, 1.0], gamma=0.5)  # G_0 = 0.5
    b2.mc_update(v, n, [0], [2.0], gamma=0.5)  # G_0 = 2
    assert v[0] == pytest.approx((0.5 + 2.0) / 2) and n[0] == 2


RANDOM_TABLE = np.random.default_rng(7).integers(2, size=STICK_ON_20.shape)


@pytest.mark.parametrize("table", [STICK_ON_20, RANDOM_TABLE], ids=["stick_on_20", "random"])
def test_replica_replays_gymnasium_blackjack_exactly(table):
    """Give the NumPy replica the cards Gymnasium dealt: same states, same rewards."""
    env = gym.make("Blackjack-v1", sab=True)
    env.reset(seed=0)

    def policy(obs):
        return int(table[obs])

    games = 600
    player = np.zeros((games, b2.MAX_CARDS), dtype=np.int8)
    dealer = np.zeros((games, b2.MAX_CARDS), dtype=np.int8)
    expected = []
    for i in range(games):
        states, rewards = b2.run_episode(env, policy, b2.blackjack_index)
        hands = env.unwrapped
        player[i, : len(hands.player)] = hands.player
        dealer[i, : len(hands.dealer)] = hands.dealer
        expected.append((states, rewards[-1]))
    rep_states, rep_rewards = b2.play_blackjack(player, dealer, table)
    for i, (states, reward) in enumerate(expected):
        assert rep_states[i][rep_states[i] >= 0].tolist() == states
        assert rep_rewards[i] == reward
    assert {r for _, r in expected} == {-1.0, 0.0, 1.0}  # wins, draws and losses all covered


def test_state_13_usable_ace_dealer_2_matches_sutton_barto_example_5_4():
    rng = np.random.default_rng(0)
    v, n = b2.mc_prediction_replica(200_000, rng, STICK_ON_20, start=((1, 2), 2))
    state = b2.blackjack_index((13, 2, 1))
    assert n[state] == 200_000
    assert v[state] == pytest.approx(-0.27726, abs=0.02)


def test_mc_prediction_on_gymnasium_blackjack_learns_the_shape_of_fig_5_1():
    env = gym.make("Blackjack-v1", sab=True)
    env.reset(seed=1)
    size = b2.PLAYER_SUMS * b2.DEALER_CARDS * 2
    v, n = b2.mc_prediction(env, b2.stick_on_20, 2000, size, encode=b2.blackjack_index)
    grid, counts = b2.value_grid(v), b2.value_grid(n)
    mean = lambda sums: np.average(grid[sums, 1:, 0], weights=counts[sums, 1:, 0])  # noqa: E731
    assert mean(slice(20, 22)) > 0.4  # sticking on 20 or 21 mostly wins
    assert mean(slice(12, 20)) < -0.4  # hitting to 20 mostly busts


def test_replica_values_agree_with_the_vectorised_and_the_loop_average():
    rng = np.random.default_rng(2)
    player, dealer = (
        b2.draw_cards((500, b2.MAX_CARDS), rng),
        b2.draw_cards((500, b2.MAX_CARDS), rng),
    )
    states, rewards = b2.play_blackjack(player, dealer, STICK_ON_20)
    size = b2.PLAYER_SUMS * b2.DEALER_CARDS * 2
    v, n = np.zeros(size), np.zeros(size, dtype=np.int64)
    for row, reward in zip(states, rewards, strict=True):
        visited = row[row >= 0].tolist()
        b2.mc_update(v, n, visited, [0.0] * (len(visited) - 1) + [reward], gamma=1.0)
    v_batch, n_batch = b2.mc_prediction_replica(500, np.random.default_rng(2), STICK_ON_20)
    np.testing.assert_array_equal(n, n_batch)
    np.testing.assert_allclose(v, v_batch, atol=1e-12)


def test_gridworld_env_samples_the_a3_model():
    mdp = a3.sutton_barto_4x4()
    env = b2.GridworldEnv(mdp)
    state, _ = env.reset(seed=0)
    assert not mdp.terminal[state]
    env.state = 5  # cell (1, 1); action 0 is "up" in A3's numbering
    next_state, reward, terminated, truncated, _ = env.step(0)
    assert (next_state, reward, terminated, truncated) == (1, -1.0, False, False)
    env.state = 1
    assert env.step(3)[:3] == (0, -1.0, True)  # left from (0, 1) reaches the terminal corner


def test_mc_on_the_a3_gridworld_converges_to_the_linear_solve():
    curve = b2.gridworld_rmse_curve(episodes=2000, seed=0, runs=1)
    for key in ("first_visit", "every_visit"):
        rmse = curve[key]
        assert rmse[-1] < 1.0  # values range from -14 to -22
        assert rmse[-1] < rmse[0] / 4  # and it got there by falling


def test_cli_quick_prints_metrics_json():
    result = run_module("b2_monte_carlo_methods", "--quick")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["v_13_usable_ace_dealer_2"] == pytest.approx(-0.27726, abs=0.03)
    assert {"grid_rmse_first_visit", "grid_rmse_every_visit"} <= set(metrics)


@pytest.mark.parametrize(
    "argv",
    [
        "--gym-episodes 0",
        "--grid-episodes -1",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("b2_monte_carlo_methods", argv)
