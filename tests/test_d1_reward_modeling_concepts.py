import math

import numpy as np
import pytest
import torch
from conftest import run_main
from transformers import GPT2Config, GPT2Model

from snippets import d1_reward_modeling_concepts as d1


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only adds overhead
    yield
    torch.set_num_threads(threads)


def test_bradley_terry_loss_is_log_2_when_rewards_tie():
    r = torch.tensor([0.3, -1.2, 5.0])
    assert d1.bradley_terry_loss(r, r).item() == pytest.approx(math.log(2))


def test_bradley_terry_loss_matches_hand_computed_values():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    # -log sigmoid(2) = log(1 + e^-2); -log sigmoid(-1) = log(1 + e)
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2
    assert d1.bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, rel=1e-6)


def test_bradley_terry_loss_stays_finite_for_huge_margins():
    loss = d1.bradley_terry_loss(torch.tensor([-100.0]), torch.tensor([0.0]))
    assert loss.item() == pytest.approx(100.0)
    assert d1.bradley_terry_loss(torch.tensor([100.0]), torch.tensor([0.0])).item() < 1e-30


def test_gradient_raises_chosen_and_lowers_rejected_reward():
    chosen = torch.tensor([0.5, -1.0], requires_grad=True)
    rejected = torch.tensor([0.0, 0.0], requires_grad=True)
    d1.bradley_terry_loss(chosen, rejected).backward()
    # d loss / d r_chosen = -(1 - sigmoid(diff)) / N < 0: gradient descent raises r_chosen
    expected = -(1 - torch.sigmoid(torch.tensor([0.5, -1.0]))) / 2
    torch.testing.assert_close(chosen.grad, expected)
    torch.testing.assert_close(rejected.grad, -expected)
    assert (chosen.grad < 0).all() and (rejected.grad > 0).all()
    # a pair the model already gets badly wrong pulls harder than one it gets right
    assert abs(chosen.grad[1]) > abs(chosen.grad[0])


def test_preference_probability_is_symmetric_and_shift_invariant():
    a, b = torch.tensor([1.5]), torch.tensor([-0.5])
    p = d1.preference_probability(a, b)
    assert p.item() == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert (p + d1.preference_probability(b, a)).item() == pytest.approx(1.0)
    assert d1.preference_probability(a + 7, b + 7).item() == pytest.approx(p.item())


def test_pairwise_accuracy_counts_strict_wins():
    chosen, rejected = torch.tensor([1.0, 2.0, 0.0, 3.0]), torch.tensor([0.0, 3.0, 0.0, 1.0])
    assert d1.pairwise_accuracy(chosen, rejected) == 0.5


def test_last_token_index_handles_left_and_right_padding():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]])
    assert d1.last_token_index(mask).tolist() == [3, 2, 3]
    assert d1.position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1], [0, 1, 2, 2], [0, 1, 2, 3]]


def test_reward_model_score_does_not_depend_on_padding():
    torch.manual_seed(0)
    backbone = GPT2Model(GPT2Config(vocab_size=20, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    model = d1.RewardModel(backbone, 16).eval()
    ids = torch.tensor([[5, 6, 7]])
    alone = model(ids, torch.ones_like(ids))
    left = model(torch.tensor([[0, 0, 5, 6, 7]]), torch.tensor([[0, 0, 1, 1, 1]]))
    right = model(torch.tensor([[5, 6, 7, 0, 0]]), torch.tensor([[1, 1, 1, 0, 0]]))
    torch.testing.assert_close(left, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(right, alone, atol=1e-5, rtol=1e-5)


def test_annotators_follow_bradley_terry_probabilities():
    rng = np.random.default_rng(0)
    chosen, rejected = d1.simulate_comparisons(np.array([1.0, 0.0]), 20_000, 1.0, rng)
    assert (chosen != rejected).all()
    # P(answer 0 preferred) = sigmoid(1) = 0.731
    assert np.mean(chosen == 0) == pytest.approx(1 / (1 + math.exp(-1)), abs=0.01)


@pytest.fixture(scope="module")
def experiment():
    return d1.noise_experiment(d1.Config(n_pairs=3000, heldout_pairs=3000), seed=0)


def test_fitted_rewards_recover_quality_divided_by_annotator_temperature(experiment):
    results = experiment
    for result in results:
        assert result["slope"] == pytest.approx(1 / result["temperature"], rel=0.15)
        assert result["rank_correlation"] > 0.95
    agreements = [r["agreement"] for r in results]
    assert agreements == sorted(agreements, reverse=True)  # noisier annotators disagree more


def test_two_annotators_agree_less_often_than_each_agrees_with_the_truth():
    # per comparison, a label is right with probability p >= 1/2; two labels agree with
    # probability p^2 + (1 - p)^2, which is never above p
    p = np.linspace(0.5, 1.0, 101)
    agreement = p**2 + (1 - p) ** 2
    assert (agreement <= p + 1e-12).all()
    assert agreement[0] == pytest.approx(0.5) and agreement[-1] == pytest.approx(1.0)
    # the ceiling formula inverts it: InstructGPT's 73 % agreement allows 84 % accuracy
    ceilings = [d1.ceiling_from_agreement(a) for a in agreement]
    np.testing.assert_allclose(ceilings, p, atol=1e-12)
    assert d1.ceiling_from_agreement(0.73) == pytest.approx(0.8391, abs=1e-4)


def test_reward_model_accuracy_exceeds_inter_annotator_agreement(experiment):
    for r in experiment:
        # the fit ranks the answers perfectly, so it agrees with a fresh label exactly as often
        # as the hidden quality does: the true ceiling, well above annotator-annotator agreement
        assert r["model_accuracy"] == pytest.approx(r["truth_accuracy"], abs=0.01)
        assert r["model_accuracy"] > r["inter_annotator"] + 0.04
        assert r["model_accuracy"] <= d1.ceiling_from_agreement(r["inter_annotator"]) + 0.02


def test_cli_quick_prints_metrics(capsys):
    metrics = run_main(d1.main, "--quick", capsys=capsys)
    expected = {
        "slopes",
        "rank_correlations",
        "label_agreement",
        "model_accuracy",
        "truth_accuracy",
        "inter_annotator",
        "seconds",
    }
    assert expected <= metrics.keys()
    assert metrics["pairs"] == 500  # the --quick preset


@pytest.mark.parametrize(
    "argv",
    ["--pairs 0", "--threads 0", "--temperatures 0.5,-1", "--temperatures 0.5,,1"],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("d1_reward_modeling_concepts", argv)
