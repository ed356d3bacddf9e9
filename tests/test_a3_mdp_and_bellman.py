import json
import math

import numpy as np
import pytest
from conftest import run_module

from snippets import a3_mdp_and_bellman as a3

# Sutton & Barto (2nd ed.), Figure 3.2 (random policy) and Figure 3.5 (optimal), gamma = 0.9.
BOOK_RANDOM_5X5 = np.array(
    [
        [3.3, 8.8, 4.4, 5.3, 1.5],
        [1.5, 3.0, 2.3, 1.9, 0.5],
        [0.1, 0.7, 0.7, 0.4, -0.4],
        [-1.0, -0.4, -0.4, -0.6, -1.2],
        [-1.9, -1.3, -1.2, -1.4, -2.0],
    ]
)
BOOK_OPTIMAL_5X5 = np.array(
    [
        [22.0, 24.4, 22.0, 19.4, 17.5],
        [19.8, 22.0, 19.8, 17.8, 16.0],
        [17.8, 19.8, 17.8, 16.0, 14.4],
        [16.0, 17.8, 16.0, 14.4, 13.0],
        [14.4, 16.0, 14.4, 13.0, 11.7],
    ]
)
# Example 4.1, Figure 4.1 (k = infinity): random policy on the 4x4 world, gamma = 1.
BOOK_RANDOM_4X4 = np.array(
    [
        [0, -14, -20, -22],
        [-14, -18, -20, -20],
        [-20, -20, -18, -14],
        [-22, -20, -14, 0],
    ]
)


def test_transition_rows_are_distributions():
    for mdp in (a3.sutton_barto_5x5(), a3.sutton_barto_4x4()):
        np.testing.assert_allclose(mdp.P.sum(axis=2), 1.0)
        assert (mdp.P >= 0).all()


def test_gridworld_special_moves_follow_the_book():
    mdp = a3.sutton_barto_5x5()
    a_state, a_prime = 1, 4 * 5 + 1
    assert (mdp.P[a_state, :, a_prime] == 1).all() and (mdp.R[a_state] == 10).all()
    corner, up, left = 0, 0, 3
    assert mdp.P[corner, up, corner] == 1 and mdp.R[corner, up] == -1
    assert mdp.R[corner, left] == -1


def test_random_policy_matches_sutton_barto_fig_3_2():
    mdp = a3.sutton_barto_5x5()
    v = a3.evaluate_policy_exact(mdp, a3.uniform_policy(mdp))
    assert v[1] == pytest.approx(8.8, abs=0.05)  # v(A)
    np.testing.assert_allclose(v.reshape(5, 5), BOOK_RANDOM_5X5, atol=0.05)


def test_value_iteration_matches_sutton_barto_fig_3_5():
    mdp = a3.sutton_barto_5x5()
    v_star, _ = a3.value_iteration(mdp)
    assert v_star[1] == pytest.approx(24.4, abs=0.05)  # v*(A)
    np.testing.assert_allclose(v_star.reshape(5, 5), BOOK_OPTIMAL_5X5, atol=0.05)


def test_random_policy_on_4x4_matches_example_4_1():
    mdp = a3.sutton_barto_4x4()
    v = a3.evaluate_policy_exact(mdp, a3.uniform_policy(mdp))
    np.testing.assert_allclose(v.reshape(4, 4), BOOK_RANDOM_4X4, atol=0.05)
    assert {round(x) for x in v} == {0, -14, -18, -20, -22}


def test_iterative_evaluation_reaches_the_linear_solve():
    mdp = a3.sutton_barto_5x5()
    pi = a3.uniform_policy(mdp)
    v_iter, sweeps = a3.evaluate_policy_iterative(mdp, pi, tol=1e-12)
    np.testing.assert_allclose(v_iter, a3.evaluate_policy_exact(mdp, pi), atol=1e-9)
    assert sweeps > 10  # it really iterated


def test_optimal_values_satisfy_the_bellman_optimality_equation():
    mdp = a3.sutton_barto_5x5()
    v_star, _ = a3.value_iteration(mdp)
    np.testing.assert_allclose(a3.q_values(mdp, v_star).max(axis=1), v_star, atol=1e-8)
    # The greedy policy's own value equals v*: extracting the policy loses nothing.
    pi_star = a3.greedy_policy(mdp, v_star)
    np.testing.assert_allclose(a3.evaluate_policy_exact(mdp, pi_star), v_star, atol=1e-6)
    np.testing.assert_allclose(pi_star.sum(axis=1), 1.0)


def test_optimal_policy_at_a_jumps_and_beats_random_everywhere():
    mdp = a3.sutton_barto_5x5()
    v_star, _ = a3.value_iteration(mdp)
    v_random = a3.evaluate_policy_exact(mdp, a3.uniform_policy(mdp))
    assert (v_star >= v_random - 1e-9).all()
    pi_star = a3.greedy_policy(mdp, v_star)
    np.testing.assert_allclose(pi_star[1], 0.25)  # at A every action jumps: all tie


def test_cli_prints_book_values_within_the_contraction_bound_on_sweeps(tmp_path):
    plot = tmp_path / "v.png"
    result = run_module("a3_mdp_and_bellman", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["v_random_cell_0_1"] == pytest.approx(8.8, abs=0.05)
    assert metrics["v_star_cell_0_1"] == pytest.approx(24.4, abs=0.05)
    # Each sweep is a gamma-contraction: |v_k - v_(k-1)| <= 0.9^(k-1) |v_1 - v_0| = 0.9^(k-1) 10,
    # so with tol 1e-10 both iterations stop by sweep 242. Sweeps, unlike seconds, cannot flake.
    bound = math.floor(math.log(1e-10 / 10) / math.log(0.9)) + 2
    assert bound == 242
    assert metrics["value_iteration_sweeps"] <= bound and metrics["evaluation_sweeps"] <= bound
    assert plot.stat().st_size > 10_000


def test_main_in_process_on_4x4():
    metrics = a3.main(["--world", "4x4"])
    assert metrics["v_random_cell_0_1"] == pytest.approx(-14, abs=0.05)
    assert metrics["max_abs_exact_vs_iterative"] < 1e-6


@pytest.mark.parametrize(
    "argv",
    [
        "--gamma 1.5",
        "--gamma x",
        "--tol -1",
        "--world 3x3",
        "--gamma 1",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("a3_mdp_and_bellman", argv)
