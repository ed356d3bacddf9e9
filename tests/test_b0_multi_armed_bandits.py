import json

import numpy as np
import pytest
from conftest import run_module

from snippets import b0_multi_armed_bandits as b0

# Expected values at step 1000 of the 10-armed testbed (2000 runs), computed with many
# runs; Sutton & Barto Figs. 2.2 and 2.4 show the same curves.
REFERENCE = {
    "greedy": (1.02, 35.0),
    "eps=0.01": (1.30, 59.0),
    "eps=0.1": (1.37, 80.0),
    "UCB c=2": (1.49, 85.0),
}


@pytest.fixture(scope="module")
def testbed() -> dict[str, b0.BanditResult]:
    agents = b0.default_agents((0.0, 0.01, 0.1), 2.0)
    results = b0.run_testbed(agents, runs=2000, steps=1000, arms=10, seed=0)
    return {res.agent.name: res for res in results}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_testbed_matches_reference_reward_and_optimal_action(testbed, name):
    reward, optimal_pct = REFERENCE[name]
    res = testbed[name]
    assert res.average_reward[-1] == pytest.approx(reward, abs=0.05)
    assert 100 * res.optimal_action[-1] == pytest.approx(optimal_pct, abs=3.0)


def test_ucb_regret_grows_slower_than_epsilon_greedy_on_the_testbed(testbed):
    ucb, eps = testbed["UCB c=2"].cumulative_regret, testbed["eps=0.1"].cumulative_regret
    assert ucb[-1] < eps[-1]
    # regret added over the last 500 steps: UCB's per-step regret has shrunk, ε-greedy's
    # stays near ε * (average gap), which does not shrink
    assert ucb[-1] - ucb[499] < 0.6 * (eps[-1] - eps[499])


def test_ucb1_regret_stays_under_the_auer_bound_on_a_bernoulli_bandit():
    means = (0.9, 0.8, 0.7, 0.6, 0.5)
    regret, bound = b0.run_ucb1_bernoulli(means, runs=200, steps=3000, seed=0)
    assert (regret <= bound).all()
    assert regret[-1] > 20  # it is a real measurement, not a trivially zero regret
    # the bound itself: 8 ln n sum(1/gap) + (1 + pi^2/3) sum(gaps)
    gaps = np.array([0.1, 0.2, 0.3, 0.4])
    expected = 8 * np.log(3000) * np.sum(1 / gaps) + (1 + np.pi**2 / 3) * gaps.sum()
    assert bound[-1] == pytest.approx(expected)


def test_incremental_update_equals_the_sample_mean():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=50)
    q, counts = np.zeros((1, 3)), np.zeros((1, 3), dtype=np.int64)
    for r in rewards:
        b0.update_estimates(q, counts, np.array([2]), np.array([r]))
    assert q[0, 2] == pytest.approx(rewards.mean())
    assert counts[0].tolist() == [0, 0, 50]


def test_constant_step_size_gives_recency_weighted_average():
    q, counts = np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64)
    for r in (1.0, 2.0):
        b0.update_estimates(q, counts, np.array([0]), np.array([r]), step_size=0.5)
    assert q[0, 0] == pytest.approx(0.5 * 2.0 + 0.25 * 1.0)


def test_ties_are_broken_uniformly_at_random():
    rng = np.random.default_rng(0)
    values = np.tile([1.0, 3.0, 3.0, 0.0, 3.0], (30_000, 1))
    picks = np.bincount(b0.argmax_random_ties(values, rng), minlength=5) / 30_000
    np.testing.assert_allclose(picks, [0, 1 / 3, 1 / 3, 0, 1 / 3], atol=0.015)


def test_ucb_tries_every_arm_once_first():
    rng = np.random.default_rng(0)
    q_true = np.tile(np.linspace(0, 1, 6), (4, 1))
    res = b0.run_agent(b0.Agent("ucb", ucb_c=2.0), q_true, steps=6, rng=rng)
    # after 6 pulls with one untried arm always winning, every arm was pulled exactly once:
    # the regret is then the sum of all gaps, in every run
    assert res.cumulative_regret[-1] == pytest.approx(np.sum(1 - np.linspace(0, 1, 6)))


def test_same_seed_gives_same_numbers():
    agents = [b0.Agent("eps", epsilon=0.1)]
    a = b0.run_testbed(agents, runs=50, steps=100, arms=10, seed=3)[0]
    b = b0.run_testbed(agents, runs=50, steps=100, arms=10, seed=3)[0]
    np.testing.assert_array_equal(a.average_reward, b.average_reward)


def test_cli_quick_prints_metrics_json():
    result = run_module("b0_multi_armed_bandits", "--quick")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(metrics["final_reward"]) == set(REFERENCE)
    assert metrics["ucb1_bernoulli_regret"] < metrics["ucb1_bound"]
    assert metrics["final_optimal_pct"]["UCB c=2"] > metrics["final_optimal_pct"]["greedy"]


@pytest.mark.parametrize(
    "argv",
    [
        "--epsilons 0.1 1.5",
        "--epsilons 0.1,1.5",
        "--epsilons 0.1,x",
        "--epsilons ,",
        "--epsilons",
        "--bernoulli-means 0.9,2",
        "--runs -3",
        "--ucb-c 0",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("b0_multi_armed_bandits", argv)
