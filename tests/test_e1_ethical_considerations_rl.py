import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import run_module

from snippets import a3_mdp_and_bellman as a3
from snippets import e1_ethical_considerations_rl as e1

CFG = e1.Config()


def test_proxy_reward_only_adds_the_bonus_on_entering_the_checkpoint():
    truth, proxy = e1.true_task(CFG), e1.proxy_task(CFG)
    extra = proxy.R - truth.R
    c = e1.cell(CFG, CFG.checkpoint)
    np.testing.assert_allclose(extra, CFG.bonus * truth.P[:, :, c])
    assert extra.sum() == pytest.approx(4 * CFG.bonus)  # four neighbours can step onto C


def test_optimal_policy_of_the_true_task_walks_the_shortest_path():
    episode = e1.rollout(CFG, e1.solve(e1.true_task(CFG))[1])
    assert episode.reached_goal and len(episode.path) - 1 == 3 + 5  # Manhattan distance
    v, _ = e1.solve(e1.true_task(CFG))
    start = e1.cell(CFG, CFG.start)
    assert v[start] == pytest.approx(CFG.goal_reward * CFG.gamma**7)


def test_proxy_optimal_policy_farms_the_bonus_and_never_reaches_the_goal():
    episode = e1.rollout(CFG, e1.solve(e1.proxy_task(CFG))[1])
    assert not episode.reached_goal and episode.true_return == 0.0
    assert episode.checkpoint_visits >= CFG.max_steps // 2 - 1
    assert episode.proxy_return > CFG.goal_reward  # by its own measure the agent does great


@pytest.mark.parametrize("gamma", [0.9, 0.95, 0.99])
def test_looping_beats_the_goal_exactly_when_the_bonus_stream_is_worth_more(gamma):
    # next to C, 5 steps from G: loop b / (1 - gamma^2) against the goal's 10 gamma^4
    tipping = (1 - gamma**2) * CFG.goal_reward * gamma**4
    for bonus, reaches in ((tipping * 0.99, True), (tipping * 1.01, False)):
        cfg = replace(CFG, gamma=gamma, bonus=bonus)
        assert e1.rollout(cfg, e1.solve(e1.proxy_task(cfg))[1]).reached_goal == reaches
    assert (1 - 0.95**2) * 10 * 0.95**4 == pytest.approx(0.794, abs=5e-4)  # the page's number


def test_potential_based_shaping_shifts_q_by_minus_phi_and_keeps_the_optimal_policy():
    phi = e1.checkpoint_potential(CFG)
    truth, shaped = e1.true_task(CFG), e1.shaped_task(CFG, phi)
    v_true, _ = a3.value_iteration(truth)
    v_shaped, _ = a3.value_iteration(shaped)
    q_true, q_shaped = a3.q_values(truth, v_true), a3.q_values(shaped, v_shaped)
    live = ~truth.terminal
    np.testing.assert_allclose(q_shaped[live], (q_true - phi[:, None])[live], atol=1e-8)
    np.testing.assert_array_equal(
        a3.greedy_policy(truth, v_true), a3.greedy_policy(shaped, v_shaped)
    )
    episode = e1.rollout(CFG, e1.solve(shaped)[1])
    assert episode.reached_goal and len(episode.path) - 1 == 8


def test_a_round_trip_through_the_checkpoint_loses_reward_under_shaping():
    phi = e1.checkpoint_potential(CFG)
    shaped = e1.shaped_task(CFG, phi)
    c = e1.cell(CFG, CFG.checkpoint)
    below, up, down = e1.cell(CFG, (3, 1)), 0, 2  # from (3, 1) up onto C, then back down
    round_trip = shaped.R[below, up] + CFG.gamma * shaped.R[c, down]
    assert round_trip == pytest.approx(0.0, abs=1e-12)  # discounted: the shaping telescopes
    assert shaped.R[below, up] + shaped.R[c, down] < 0  # undiscounted: gamma*b - b < 0


def test_best_of_n_kl_matches_the_closed_form():
    result = e1.best_of_n(replace(CFG, trials=50, max_n=8), seed=0)
    np.testing.assert_array_equal(result.n, [1, 2, 4, 8])
    np.testing.assert_allclose(
        result.kl, [0.0, np.log(2) - 0.5, np.log(4) - 0.75, np.log(8) - 7 / 8]
    )


def test_the_derivation_best_of_n_ratio_n_u_to_the_n_minus_1_gives_the_closed_form():
    # The page's derivation: U = F(y) is the largest of n uniforms under best-of-n, and
    # KL = E[log(n U^(n-1))]. Sampled, it matches log n - (n-1)/n, the value best_of_n reports.
    rng = np.random.default_rng(0)
    result = e1.best_of_n(replace(CFG, trials=50, max_n=16), seed=0)
    for n, kl in zip(result.n, result.kl, strict=True):
        u = rng.random((200_000, n)).max(axis=1)
        assert np.mean(np.log(n) + (n - 1) * np.log(u)) == pytest.approx(kl, abs=0.01)


def test_ties_push_best_of_n_below_the_bound():
    # A completion of probability 1/2 ranked on top: best-of-n returns it with probability
    # 1 - 2^-n, and the exact KL stays below log 2 while the bound grows like log n.
    p, n = np.array([0.25, 0.25, 0.5]), 16
    f = np.cumsum(p)
    p_n = f**n - (f - p) ** n
    exact = float((p_n * np.log(p_n / p)).sum())
    assert exact < np.log(2) < np.log(n) - (n - 1) / n


def test_best_of_n_proxy_climbs_while_gold_rises_then_falls():
    result = e1.best_of_n(replace(CFG, trials=500), seed=0)
    assert np.all(np.diff(result.proxy) > 0)  # more optimisation, higher proxy, always
    peak = int(result.gold.argmax())
    assert 0 < peak < len(result.n) - 1  # an interior optimum
    assert result.gold[peak] > result.gold[0] + 0.3
    assert result.gold[-1] < result.gold[0] - 2.0  # pushed hard, worse than no optimisation
    assert result.length[-1] > 3 * result.length[0]  # the hack: very long answers


def test_quick_run_prints_the_headline_numbers(tmp_path):
    plot, bon = tmp_path / "grid.png", tmp_path / "bon.png"
    result = run_module(
        "e1_ethical_considerations_rl", "--quick", "--plot", str(plot), "--plot-bon", str(bon)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["true_reached_goal"] and metrics["shaped_reached_goal"]
    assert not metrics["proxy_reached_goal"]
    assert metrics["bon_gold_peak"] > metrics["bon_gold_at_n1024"]
    assert plot.stat().st_size > 10_000 and bon.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv",
    [
        "--gamma 1.5",
        "--bonus -1",
        "--trials 0",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("e1_ethical_considerations_rl", argv)
