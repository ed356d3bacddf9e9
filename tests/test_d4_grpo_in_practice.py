"""D4: exact gradients of every estimator, the loss variants against TRL, and RLVR in practice."""

from __future__ import annotations

import math
import types
from collections.abc import Callable

import numpy as np
import pytest
import torch
from conftest import completion_logps, flat_grad, run_main, torch_threads, trl_grpo_trainer

from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import losses as d3_losses
from snippets.d3_grpo_rloo_and_dpo import rlvr
from snippets.d4_grpo_in_practice import exact, train, variants

# ---------------------------------------------------------------- the exact testbed
SMALL = exact.Config(vocab=3, length=3, groups=100, group_sizes=(2, 32))


def _small_testbed(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Five tabular policies (27 sequences each) and their pass/fail rewards."""
    logits = exact.draw_logits(SMALL, seed, len(exact.WINDOWS) + 2)
    return logits, exact.pass_fail(SMALL.vocab, SMALL.length)


def test_token_logprobs_are_d3s_sequence_logprobs_in_one_gather() -> None:
    logits, _ = _small_testbed()
    d3 = exact.d3_exact.sequence_logprobs(logits[0], 3)
    assert torch.allclose(exact.token_logprobs(logits[0], 3), d3, rtol=0, atol=1e-14)


def test_group_expectation_over_the_binomial_count_equals_enumerating_every_group() -> None:
    """8 sequences, G = 3: all 512 groups, advantages from D3's own functions on each group."""
    cfg = exact.Config(vocab=2, length=3)
    logits = exact.draw_logits(cfg, 3, 1)[0]
    reward = exact.pass_fail(2, 3)[1]  # at least two zeros: 4 of the 8 sequences pass
    G, n = 3, 8
    groups = torch.cartesian_prod(*[torch.arange(n)] * G)  # (512, G)
    r = reward[groups]
    for estimator in exact.ESTIMATORS:
        theta = logits.detach().requires_grad_()
        logp = exact.token_logprobs(theta, 3).sum(dim=-1)
        prob = logp.exp().detach()
        p = (prob * reward).sum()
        a = {
            "reinforce": r,
            "baseline": r - p,
            "rloo": d3_losses.rloo_advantages(r.flatten(), G).view(-1, G),
            "grpo": d3_losses.group_advantages(r.flatten(), G).view(-1, G),
            "dr_grpo": d3_losses.group_advantages(r.flatten(), G, "none").view(-1, G),
        }[estimator]
        weight = prob[groups].prod(dim=1)  # P(group) = Π_i P(y_i), held fixed
        (brute,) = torch.autograd.grad((weight[:, None] * a * logp[groups]).sum() / G, theta)
        found = exact.expected_gradient(logits, reward, 3, estimator, G)
        assert torch.allclose(found, brute, rtol=0, atol=1e-12), estimator


def test_reinforce_baseline_and_rloo_expected_gradients_equal_the_true_gradient() -> None:
    logits, rewards = _small_testbed()
    for lg, r in zip(logits, rewards, strict=False):
        _, true = exact.pass_rate_and_gradient(lg, r, 3)
        for estimator in ("reinforce", "baseline", "rloo"):
            for G in (2, 5, 16):
                grad = exact.expected_gradient(lg, r, 3, estimator, G)
                assert torch.allclose(grad, true, rtol=0, atol=1e-10), (estimator, G)


def test_grpo_expected_gradient_is_the_closed_form_weight_times_each_prompts_gradient() -> None:
    logits, rewards = _small_testbed()
    for lg, r in zip(logits, rewards, strict=False):
        p, true = exact.pass_rate_and_gradient(lg, r, 3)
        for G in (2, 4, 8, 32):
            grad = exact.expected_gradient(lg, r, 3, "grpo", G)
            assert torch.allclose(grad, exact.grpo_weight(p, G) * true, rtol=0, atol=1e-10)


def test_dr_grpo_expected_gradient_is_g_minus_one_over_g_times_the_true_gradient() -> None:
    logits, rewards = _small_testbed()
    for lg, r in zip(logits, rewards, strict=False):
        _, true = exact.pass_rate_and_gradient(lg, r, 3)
        for G in (2, 4, 8):
            grad = exact.expected_gradient(lg, r, 3, "dr_grpo", G)
            assert torch.allclose(grad, (G - 1) / G * true, rtol=0, atol=1e-10)


def test_grpo_weight_at_g2_is_a_constant_and_tends_to_one_over_sigma_as_g_grows() -> None:
    for p in (0.05, 0.3, 0.5, 0.9):
        # G = 2: a split group is (1, 0), std sqrt(1/2): GRPO is Dr. GRPO times sqrt(2)
        assert exact.grpo_weight(p, 2, eps=0.0) == pytest.approx(math.sqrt(0.5), abs=1e-12)
        scaled = [exact.grpo_weight(p, G) * math.sqrt(p * (1 - p)) for G in (4, 16, 64, 256)]
        assert scaled == sorted(scaled) and 0.98 < scaled[-1] < 1.0


def test_std_normalisation_reweights_prompts_towards_pass_rates_near_zero_or_one() -> None:
    logits, rewards = _small_testbed()
    with torch_threads(1):
        table = exact.advantage_table(logits[:5], rewards, 3, 16)
    p, w = table["pass_rates"], table["estimators"]["grpo"]["weights"]
    middle = min(range(5), key=lambda i: abs(p[i] - 0.5))
    extreme = max(range(5), key=lambda i: abs(p[i] - 0.5))
    assert w[extreme] > 1.2 * w[middle]  # the nearly-always-right or -wrong prompt weighs more
    assert table["estimators"]["grpo"]["cosine"] < 1 - 1e-4  # a different direction
    for unbiased in ("reinforce", "baseline", "rloo"):
        assert table["estimators"][unbiased]["relative_error"] < 1e-10
    dr = table["estimators"]["dr_grpo"]
    assert dr["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert dr["norm_ratio"] == pytest.approx(15 / 16, abs=1e-12)


def test_kl_table_verdicts_per_token_and_per_sequence() -> None:
    logits, _ = _small_testbed()
    terms = exact.kl_table(logits[-2], logits[-1], 3)["terms"]
    verdicts = {name: (row["token"], row["sequence"]) for name, row in terms.items()}
    assert verdicts["k3-loss"] == ("forward", "neither")  # GRPO's k3 without TRL's ratio
    assert verdicts["k3-loss-ratio"] == ("reverse", "neither")  # TRL's default
    assert verdicts["k2-loss"] == ("reverse", "neither")
    assert verdicts["k1-loss"] == ("zero", "zero")
    assert verdicts["k1-reward"] == ("neither", "reverse")
    assert [n for n, v in verdicts.items() if v[1] == "reverse"] == ["k1-reward", "k1-reward-ratio"]
    assert not [n for n, v in verdicts.items() if v[1] == "forward"]
    for kind in exact.KINDS:  # in the reward the ratio is detached: it changes nothing
        plain, ratio = terms[f"{kind}-reward"], terms[f"{kind}-reward-ratio"]
        assert plain["error_sequence_reverse"] == ratio["error_sequence_reverse"]


def test_k3_loss_gradient_is_the_forward_next_token_kl_gradient() -> None:
    logits, _ = _small_testbed()
    grad = exact.k3_loss_gradient(logits[-2], logits[-1], 3)
    forward = exact.token_kl_gradient(logits[-2], logits[-1], 3, "forward")
    assert torch.allclose(grad, forward, rtol=0, atol=1e-12)


def test_score_kernel_is_the_inner_product_of_the_autograd_scores() -> None:
    logits, _ = _small_testbed()
    picked = torch.tensor([[0, 1, 9, 26], [5, 5, 13, 2]])
    theta = logits[0].detach().requires_grad_()
    logp = exact.token_logprobs(theta, 3).sum(dim=-1)
    scores = torch.stack(
        [torch.autograd.grad(logp[i], theta, retain_graph=True)[0].flatten() for i in range(27)]
    )
    want = torch.stack([scores[g] @ scores[g].T for g in picked])
    assert torch.allclose(exact.score_kernel(logits[0], picked, 3), want, rtol=0, atol=1e-12)


def test_every_estimators_variance_at_g32_is_below_its_variance_at_g2() -> None:
    logits, rewards = _small_testbed()
    with torch_threads(1):  # thousands of tiny tensor ops: one thread is faster
        found = exact.variance_by_group_size(SMALL, logits[:5], rewards, seed=0)
    for estimator, row in found["estimators"].items():  # GRPO's weights grow with G: not / 16
        assert row["variance"][1] < row["variance"][0] / (2 if estimator == "grpo" else 8)
    rloo, dr = found["estimators"]["rloo"], found["estimators"]["dr_grpo"]
    assert rloo["relative"] == pytest.approx(dr["relative"], rel=1e-9)  # the same, rescaled


def test_exact_quick_command_prints_the_three_tables_and_draws_the_figure(capsys, tmp_path) -> None:
    figure = tmp_path / "variance.png"
    metrics = run_main(exact.main, "--quick", "--plot", str(figure), capsys=capsys)
    assert set(metrics) >= {"advantages", "kl", "variance", "grpo_weight"}
    assert metrics["kl"]["terms"]["k3-loss"]["token"] == "forward"
    assert figure.stat().st_size > 10_000


def test_exact_refuses_bad_input(assert_rejects) -> None:
    assert_rejects("d4_grpo_in_practice.exact", "--length 2")
    assert_rejects("d4_grpo_in_practice.exact", "--vocab 7")
    assert_rejects("d4_grpo_in_practice.exact", "--group-sizes 1,4")


# ---------------------------------------------------------------- the loss variants against TRL
LN = math.log
# Two completions: o_1 (2 tokens, A = +1) and o_2 (1 token, A = -1). Token ratios π_θ/π_old:
# o_1: 1.5 and 1.0, o_2: 0.5. The policy's token probabilities 0.6, 0.5 | 0.25 are the old
# ones 0.4, 0.5 | 0.5 times those ratios.
HAND_MASK = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
HAND_OLD = torch.tensor([[LN(0.4), LN(0.5)], [LN(0.5), 0.0]])
HAND_ADV = torch.tensor([1.0, -1.0])


def _hand_logps() -> torch.Tensor:
    return torch.tensor([[LN(0.6), LN(0.5)], [LN(0.25), 0.0]], requires_grad=True)


def _hand(s: variants.LossSettings, logps: torch.Tensor | None = None) -> tuple:
    logps = _hand_logps() if logps is None else logps
    loss, stats = variants.variant_loss(s, logps, HAND_OLD, HAND_ADV, HAND_MASK)
    (grad,) = torch.autograd.grad(loss, logps)
    return loss.item(), (grad * HAND_MASK).flatten().tolist(), stats  # o_1's 2, o_2's 1 and pad


def test_grpo_loss_clips_each_token_and_averages_per_completion_then_over_completions() -> None:
    loss, grad, stats = _hand(variants.LossSettings("grpo", epsilon=0.2))
    # o_1: -min(1.5, 1.2) = -1.2 and -1.0, mean -1.1; o_2: -min(-0.5, -0.8) = 0.8; mean -0.15
    assert loss == pytest.approx(-0.15)
    # only o_1's second token is unclipped: d/dlogp of -(1/2)(1/2) r A at r = 1 is -1/4
    assert grad == pytest.approx([0.0, -0.25, 0.0, 0.0])
    assert stats == pytest.approx({"clip_low_frac": 1 / 3, "clip_high_frac": 1 / 3})


def test_dapo_loss_clips_higher_and_averages_over_every_token_of_the_batch() -> None:
    loss, grad, stats = _hand(variants.LossSettings("dapo", epsilon=0.2, epsilon_high=0.28))
    # o_1: -min(1.5, 1.28) = -1.28 and -1.0; o_2: 0.8; one mean over 3 tokens
    assert loss == pytest.approx((-1.28 - 1.0 + 0.8) / 3)
    assert grad == pytest.approx([0.0, -1 / 3, 0.0, 0.0])
    assert stats == pytest.approx({"clip_low_frac": 1 / 3, "clip_high_frac": 1 / 3})
    # without clip-higher o_1's first token stops at 1.2, as in GRPO
    assert _hand(variants.LossSettings("dapo"))[0] == pytest.approx((-1.2 - 1.0 + 0.8) / 3)


def test_dr_grpo_loss_divides_by_a_constant_and_does_not_scale_the_advantage() -> None:
    loss, grad, _ = _hand(variants.LossSettings("dr_grpo", max_len=4))
    # the same token losses as GRPO (-1.2, -1.0, 0.8), summed, over L G = 4 * 2
    assert loss == pytest.approx(-1.4 / 8)
    assert grad == pytest.approx([0.0, -1 / 8, 0.0, 0.0])
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert variants.advantages("dr_grpo", rewards, 4).tolist() == [0.75, -0.25, -0.25, -0.25]
    scaled = variants.advantages("grpo", rewards, 4)  # std of (1, 0, 0, 0) is 1/2
    assert scaled.tolist() == pytest.approx(
        [0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001]
    )


def test_gspo_loss_clips_one_geometric_mean_ratio_per_completion_and_spreads_its_gradient() -> None:
    logps = torch.tensor([[LN(0.4 * 1.21), LN(0.5)], [LN(0.25), 0.0]], requires_grad=True)
    loss, grad, stats = _hand(variants.LossSettings("gspo", epsilon=0.2), logps)
    # o_1: s = (1.21 * 1.0)^(1/2) = 1.1, unclipped: -1.1; o_2: s = 0.5, clipped to 0.8: +0.8
    assert loss == pytest.approx((-1.1 + 0.8) / 2)
    # ds/dlogp_t = s / |o_1| for both tokens of o_1: -(1/2) * 1.1 / 2 = -0.275 each
    assert grad == pytest.approx([-0.275, -0.275, 0.0, 0.0])
    assert stats == pytest.approx({"clip_low_frac": 1 / 2, "clip_high_frac": 0.0})  # per completion
    per_token = _hand(variants.LossSettings("grpo", epsilon=0.2), logps.detach().requires_grad_())
    assert per_token[1] == pytest.approx([0.0, -0.25, 0.0, 0.0])  # GRPO clips token 1 (1.21)


def test_gspo_token_ratio_with_its_stop_gradient_gives_the_gspo_loss_and_gradient() -> None:
    torch.manual_seed(0)
    logps = torch.randn(3, 4).requires_grad_()
    old, adv = logps.detach() + 0.3 * torch.randn(3, 4), torch.tensor([1.0, -1.0, 0.5])
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    ratio = variants.gspo_token_ratio(logps, old, mask)
    sequence = variants.sequence_log_ratio(logps, old, mask).exp()
    assert torch.allclose(ratio * mask, sequence.expand(3, 4) * mask)  # the same value ...
    per_token = variants.clipped_token_loss(ratio, adv[:, None], low=0.1, high=0.1)
    weights, denominator = d3_losses.token_weights(mask, "grpo")
    token_form = (per_token * weights).sum() / denominator
    s = variants.LossSettings("gspo", epsilon=0.1)
    gspo, _ = variants.variant_loss(s, logps, old, adv, mask)
    assert token_form.item() == pytest.approx(gspo.item())
    (theirs,), (ours,) = torch.autograd.grad(token_form, logps), torch.autograd.grad(gspo, logps)
    assert torch.allclose(theirs * mask, ours * mask, atol=1e-7)  # ... and the same gradient


def test_cispo_loss_caps_a_stop_gradient_weight_so_a_clipped_token_still_teaches() -> None:
    loss, grad, stats = _hand(variants.LossSettings("cispo", epsilon_high=1.2))
    # weights min(r, 1.2) = 1.2, 1.0 | 0.5 on -A log π, one mean over 3 tokens
    expected = -(1.2 * LN(0.6) + 1.0 * LN(0.5) - 0.5 * LN(0.25)) / 3
    assert loss == pytest.approx(expected)
    assert grad == pytest.approx([-1.2 / 3, -1 / 3, 0.5 / 3, 0.0])  # -w A / 3, none is 0
    assert stats == pytest.approx({"clip_low_frac": 0.0, "clip_high_frac": 1 / 3})
    with pytest.raises(ValueError, match="epsilon_high"):
        variants.LossSettings("cispo")  # TRL's default would cap every weight at ε = 0.2


def test_beta_adds_the_ratio_corrected_k3_of_each_token_to_the_loss() -> None:
    logps = torch.tensor([[LN(0.5)]], requires_grad=True)
    ref, old, mask = torch.tensor([[LN(0.25)]]), torch.tensor([[LN(0.5)]]), torch.ones(1, 1)
    s = variants.LossSettings("grpo", beta=0.5)
    loss, stats = variants.variant_loss(s, logps, old, torch.zeros(1), mask, ref_logps=ref)
    k3 = 0.5 + LN(2) - 1  # exp(q - p) - (q - p) - 1 at p = log 0.5, q = log 0.25; ratio 1
    assert loss.item() == pytest.approx(0.5 * k3) and stats["kl"] == pytest.approx(k3)
    with pytest.raises(ValueError, match="ref_logps"):
        variants.variant_loss(s, logps, old, torch.zeros(1), mask)


def test_dynamic_sampling_keeps_exactly_the_groups_that_can_move_the_loss() -> None:
    rewards = torch.tensor(
        [1.0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.2, 0.3, 0.2, 0.2]
    )
    keep = variants.dynamic_sampling_keep(rewards, group_size=4)
    assert keep.dtype == torch.bool and keep.tolist() == [False, True, False, False, True]
    # TRL logs the share it would drop as frac_reward_zero_std: here 3 of 5 groups
    assert 1 - keep.float().mean().item() == pytest.approx(0.6)
    # groups are contiguous: the same rewards in groups of 2 are (1,1) (1,1) (0,1) (0,0) ...
    halves = variants.dynamic_sampling_keep(rewards, group_size=2).tolist()
    assert halves == [False, False, True, False, False, False, False, False, True, False]
    adv = variants.advantages("grpo", rewards, 4).view(5, 4)
    assert (adv[~keep] == 0).all() and (adv[keep] != 0).any(dim=1).all()  # dropped: no signal


def test_overlong_penalty_ramps_from_0_to_minus_1_over_the_cache_like_trls() -> None:
    from trl.rewards import get_soft_overlong_punishment

    lengths = torch.tensor([10, 80, 85, 90, 100, 101, 130])
    penalty = variants.overlong_penalty(lengths, max_len=100, cache=20)
    assert penalty.tolist() == [0.0, 0.0, -0.25, -0.5, -1.0, -1.0, -1.0]
    theirs = get_soft_overlong_punishment(100, 20)([[0] * n for n in lengths.tolist()])
    assert penalty.tolist() == pytest.approx(theirs)
    no_ramp = variants.overlong_penalty(lengths, max_len=100, cache=0)
    assert no_ramp.tolist() == get_soft_overlong_punishment(100, 0)(
        [[0] * n for n in lengths.tolist()]
    )
    masked = variants.mask_truncated(torch.ones(2, 3), torch.tensor([True, False]))
    assert masked.tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]


# "The loss is 0": a linear softmax policy over 5 tokens; 2 groups of 4 completions of <= 4 tokens.
def _tiny_policy_batch(rewards: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor, ...]:
    torch.manual_seed(0)
    policy = torch.nn.Linear(3, 5)
    states = torch.randn(len(rewards), 4, 3)  # 4 token positions per completion
    actions = torch.randint(0, 5, (len(rewards), 4))
    mask = torch.ones(len(rewards), 4)
    mask[1, 2:] = 0  # completions of different lengths
    mask[5, 1:] = 0
    return policy, states, actions, mask


def _policy_logps(
    policy: torch.nn.Module, states: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    return torch.log_softmax(policy(states), -1).gather(-1, actions[..., None]).squeeze(-1)


@pytest.mark.parametrize("variant", ["grpo", "gspo"])
def test_on_policy_at_beta_0_the_loss_is_0_by_construction_but_its_gradient_is_not(
    variant: str,
) -> None:
    rewards = torch.tensor([1.0, 0, 0, 1, 0, 0, 0, 1])
    policy, states, actions, mask = _tiny_policy_batch(rewards)
    logps = _policy_logps(policy, states, actions)
    adv = variants.advantages(variant, rewards, 4)
    loss, _ = variants.variant_loss(
        variants.LossSettings(variant), logps, logps.detach(), adv, mask
    )
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    assert abs(loss.item()) < 1e-6  # -mean_i A_i, and the A_i of a group sum to 0
    assert max(g.abs().max().item() for g in grads) > 1e-2  # the gradient of -A_i log π is not 0


def test_dapos_on_policy_loss_is_minus_the_length_weighted_mean_advantage() -> None:
    rewards = torch.tensor([1.0, 0, 0, 1, 0, 0, 0, 1])
    policy, states, actions, mask = _tiny_policy_batch(rewards)
    logps = _policy_logps(policy, states, actions)
    adv = variants.advantages("dapo", rewards, 4)
    s = variants.LossSettings("dapo", epsilon_high=0.28)
    loss, _ = variants.variant_loss(s, logps, logps.detach(), adv, mask)
    lengths = mask.sum(1)
    assert loss.item() == pytest.approx(-(lengths * adv).sum().item() / lengths.sum().item())
    assert abs(loss.item()) > 1e-2  # not 0: the short completion 1 is wrong, 5 too


def test_the_pages_zero_loss_example_has_a_zero_value_but_a_gradient_until_groups_agree() -> None:
    found = variants.zero_loss_example()
    assert abs(found["on-policy"][0]) < 1e-6 and found["on-policy"][1] > 0.1
    assert found["agreed"] == (0.0, 0.0)


@pytest.mark.parametrize("variant", variants.VARIANTS)
def test_a_loss_that_is_exactly_0_with_a_zero_gradient_means_every_group_agreed(
    variant: str,
) -> None:
    rewards = torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 0])  # one group all right, one all wrong
    assert not variants.dynamic_sampling_keep(rewards, 4).any()
    policy, states, actions, mask = _tiny_policy_batch(rewards)
    logps = _policy_logps(policy, states, actions)
    old = logps.detach() + 0.3 * torch.randn(logps.shape)  # even off-policy
    s = variants.LossSettings(variant, epsilon_high=5.0 if variant == "cispo" else None)
    loss, _ = variants.variant_loss(s, logps, old, variants.advantages(variant, rewards, 4), mask)
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    assert loss.item() == 0.0 and all((g == 0).all() for g in grads)


# ---- the same loss and gradient as TRL 1.16's GRPOTrainer._compute_loss, for each variant
TRL_SETTINGS = {  # our settings -> the GRPOConfig arguments that select the same loss in TRL
    "grpo": ({}, {"loss_type": "grpo"}),
    "dapo": ({"epsilon_high": 0.28}, {"loss_type": "dapo", "epsilon_high": 0.28}),
    "dr_grpo": (
        {"max_len": 8},
        {"loss_type": "dr_grpo", "max_completion_length": 8, "scale_rewards": "none"},
    ),
    "gspo": ({}, {"loss_type": "grpo", "importance_sampling_level": "sequence"}),
    "cispo": ({"epsilon_high": 5.0}, {"loss_type": "cispo", "epsilon_high": 5.0}),
}
TRL_STATS = {"clip_low_frac": "clip_ratio/low_mean", "clip_high_frac": "clip_ratio/high_mean"}


def test_trls_defaults_are_the_ones_the_loss_variants_table_names(
    tiny_model_dir: str, tmp_path: str
) -> None:
    from dataclasses import fields

    from trl import GRPOConfig

    defaults = {f.name: f.default for f in fields(GRPOConfig)}
    assert defaults["loss_type"] == "dapo" and defaults["importance_sampling_level"] == "token"
    assert (defaults["epsilon"], defaults["epsilon_high"], defaults["beta"]) == (0.2, None, 0.0)
    assert defaults["scale_rewards"] == "group" and defaults["use_bias_correction_kl"] is True
    assert defaults["mask_truncated_completions"] is False
    trainer = trl_grpo_trainer(tiny_model_dir, 8, output_dir=str(tmp_path), loss_type="cispo")
    assert trainer.epsilon_high == 0.2  # CISPO's cap, left unset: every weight capped at 0.2


@pytest.fixture(scope="module")
def trl_batch(tiny_model_dir: str) -> dict[str, torch.Tensor]:
    """One batch of 8 completions (2 groups of 4) of the tiny GPT-2, and the perturbation."""
    from transformers import AutoModelForCausalLM

    g = torch.Generator().manual_seed(1)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    vocab = reference.config.vocab_size
    prompt, completion = (
        torch.randint(3, vocab, (8, 3), generator=g),
        torch.randint(3, vocab, (8, 6), generator=g),
    )
    lengths = torch.tensor([6, 2, 4, 1, 5, 6, 3, 2])
    mask = (torch.arange(6) < lengths[:, None]).long()
    ids = torch.cat([prompt, completion], 1)
    with torch.no_grad():
        ref = completion_logps(reference, ids, 3)
    shifts = {
        name: 0.05 * torch.randn(p.shape, generator=g) for name, p in reference.named_parameters()
    }
    noise = 0.3 * torch.randn(8, 1, generator=g) + 0.2 * torch.randn(8, 6, generator=g)
    noise[0, 0] = 2.0  # one token far off-policy: its ratio e^2 > 5 meets CISPO's cap
    rewards = torch.tensor([1.0, 0, 0, 1, 0, 0, 1, 0])
    return {
        "prompt": prompt,
        "completion": completion,
        "mask": mask,
        "ids": ids,
        "ref": ref,
        "shifts": shifts,
        "noise": noise,
        "rewards": rewards,
    }


def trl_comparison(b: dict, model_dir: str, out: str, variant: str, beta: float) -> list[dict]:
    """Our loss and TRL's on batch ``b``, stale then fresh: their gaps, our stats and TRL's."""
    ours_kw, theirs_kw = TRL_SETTINGS[variant]
    s = variants.LossSettings(variant, beta=beta, **ours_kw)
    config = {"output_dir": out, "max_completion_length": 6, "beta": beta, "epsilon": 0.2}
    trainer = trl_grpo_trainer(model_dir, 8, **(config | theirs_kw))
    model = trainer.model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # move the policy away from the reference
            p.add_(b["shifts"][name])
        fresh = completion_logps(model, b["ids"], 3)  # every ratio exactly 1 ...
    adv, found = variants.advantages(variant, b["rewards"], 4), []
    for old in (fresh - b["noise"], fresh):  # ... or samples some steps old
        inputs = {
            "prompt_ids": b["prompt"],
            "prompt_mask": torch.ones_like(b["prompt"]),
            "completion_ids": b["completion"],
            "completion_mask": b["mask"],
            "advantages": adv,
            "old_per_token_logps": old,
            "ref_per_token_logps": b["ref"],
            "num_items_in_batch": b["mask"].sum(),
        }
        trainer._metrics["eval"].clear()
        theirs = trainer._compute_loss(model, inputs)
        theirs_grad = flat_grad(theirs, model)
        logged = {k: v[-1] for k, v in trainer._metrics["eval"].items()}
        loss, stats = variants.variant_loss(
            s, completion_logps(model, b["ids"], 3), old, adv, b["mask"], ref_logps=b["ref"]
        )
        found.append(
            {
                "loss_gap": abs(loss.item() - theirs.item()),
                "grad_gap": (flat_grad(loss, model) - theirs_grad).abs().max().item(),
                "grad_size": theirs_grad.abs().max().item(),
                "stats": stats,
                "logged": logged,
            }
        )
    return found


@pytest.mark.parametrize("beta", [0.0, 0.5])
@pytest.mark.parametrize("variant", variants.VARIANTS)
def test_each_variants_loss_gradient_and_clip_fractions_equal_trls(
    trl_batch: dict, tiny_model_dir: str, tmp_path: str, variant: str, beta: float
) -> None:
    with torch_threads(1):  # a 100k-parameter model: a second thread only adds contention
        stale, fresh = trl_comparison(trl_batch, tiny_model_dir, str(tmp_path), variant, beta)
    for found in (stale, fresh):
        assert found["loss_gap"] < 1e-5 and found["grad_gap"] < 1e-5 and found["grad_size"] > 1e-3
        stats, logged = found["stats"], found["logged"]
        if variant == "cispo":
            assert stats["clip_high_frac"] == pytest.approx(logged["cispo_clip_ratio"])
        else:
            ours = {k: stats[k] for k in TRL_STATS}
            assert ours == pytest.approx({k: logged[v] for k, v in TRL_STATS.items()})
        if beta > 0:
            assert stats["kl"] == pytest.approx(logged["kl"], abs=1e-6)
    clipped = [f["stats"]["clip_low_frac"] + f["stats"]["clip_high_frac"] for f in (stale, fresh)]
    assert clipped[0] > 0 and clipped[1] == 0.0  # the stale batch reaches the clip (or the cap)


# ---------------------------------------------------------------- training on three-digit sums


def test_the_checker_accepts_exactly_the_digits_of_the_sum_then_eos() -> None:
    row = np.array([471, 358])
    assert rlvr.prompt_text(row) == "4 7 1 + 3 5 8 ="
    assert rlvr.check(row, ["8", "2", "9"], finished=True) == 1.0
    assert rlvr.check(row, ["8", "2", "9"], finished=False) == 0.0  # never stopped
    assert rlvr.check(row, ["7", "2", "9"], finished=True) == 0.0  # the dropped carry
    assert rlvr.check(row, ["0", "8", "2", "9"], finished=True) == 0.0  # a leading zero
    assert rlvr.check(np.array([999, 999]), ["1", "9", "9", "8"], finished=True) == 1.0
    assert rlvr.check(np.array([47, 35, 18]), ["1", "0", "0"], finished=True) == 1.0


def test_pretraining_answers_are_plausible_and_never_right_when_meant_to_be_wrong() -> None:
    rng = np.random.default_rng(0)
    problems = rlvr.sample_problems(rng, 500, terms=2, digits=3)
    assert problems.shape == (500, 2) and problems.min() >= 100 and problems.max() <= 999
    wrong = [rlvr.plausible_wrong_answer(row, rng) for row in problems]
    assert all(w != row.sum() and w >= 0 for w, row in zip(wrong, problems, strict=True))
    # 195 + 107 = 302: without carries 292, or off by one or by ten
    slips = {
        rlvr.plausible_wrong_answer(np.array([195, 107]), np.random.default_rng(s))
        for s in range(40)
    }
    assert slips == {292, 301, 303, 312}


def test_each_arm_trains_the_loss_it_names_and_only_dapo_samples_more() -> None:
    cfg = train.Config()
    assert train.recipe("grpo", cfg).loss == variants.LossSettings("grpo", 0.2, None, 0.0, 7)
    dapo = train.recipe("dapo", cfg)
    assert dapo.loss.high == 0.28 and dapo.dynamic_sampling and dapo.overlong == "shape"
    alone = train.recipe("clip_higher", cfg)
    assert alone.loss == dapo.loss and not alone.dynamic_sampling and alone.overlong == "none"
    assert train.recipe("gspo", cfg).loss.high == cfg.gspo_epsilon_high
    assert train.recipe("cispo", cfg).loss.high == cfg.cispo_cap
    assert train.recipe("dr_grpo", cfg).loss.max_len == cfg.max_new_tokens


def test_collapse_is_the_first_step_where_smoothed_entropy_falls_below_its_share() -> None:
    entropy = [1.0] * 10 + [0.1] * 10
    # 5-step means: below 0.25 once four of the five steps are 0.1 (mean 0.28 -> 0.1 ...)
    assert train.collapse_step(entropy, fraction=0.25) == 15
    assert train.collapse_step([1.0] * 20, fraction=0.25) is None
    zero_std = [0.5] * 6 + [1.0] * 6  # the 5-step mean is 0.9 over steps 6-10, 1.0 from 11
    assert train.no_signal_step(zero_std, share=0.85) == 10
    assert train.no_signal_step(zero_std, share=0.95) == 11
    assert train.no_signal_step([0.5] * 12, share=0.9) is None


@pytest.fixture(scope="module")
def short_run() -> dict:
    """One-digit sums (fast to pretrain), two arms of 12 steps from the same start."""
    cfg = train.Config(
        **train.ONE_DIGIT,
        steps=12,
        variant=("grpo", "dapo"),
        eval_problems=100,
        eval_samples=8,
    )
    with torch_threads(1):
        return train.run(cfg, seed=0) | {"cfg": cfg}


def test_twelve_grpo_steps_from_the_band_raise_pass_at_1_by_five_points(short_run: dict) -> None:
    cfg, checks = short_run["cfg"], short_run["pretrain_checks"]
    assert cfg.band_low <= checks[-1][1] <= cfg.band_high, checks
    gain = short_run["arms"]["grpo"]["pass_at_k"][1] - short_run["pass_at_k_before"][1]
    assert gain >= 0.05, short_run["arms"]["grpo"]["pass_at_k"]


def test_every_diagnostic_is_logged_at_every_step_within_its_range(short_run: dict) -> None:
    cfg = short_run["cfg"]
    for name, arm in short_run["arms"].items():
        h = arm["history"]
        assert set(h) == set(train.HISTORY) and all(len(v) == cfg.steps for v in h.values())
        for key in ("reward", "pass_at_1", "zero_std", "clip_low", "clip_high", "truncated"):
            assert all(0.0 <= x <= 1.0 for x in h[key]), (name, key, h[key])
        assert all(0.0 < x <= math.log(len(rlvr.VOCAB)) for x in h["entropy"])
        assert all(1.0 <= x <= cfg.max_new_tokens for x in h["length"])
        assert max(h["clip_low"]) + max(h["clip_high"]) > 0  # several steps per batch: it binds
    grpo, dapo = short_run["arms"]["grpo"]["history"], short_run["arms"]["dapo"]["history"]
    assert all(g == cfg.prompts_per_step for g in grpo["groups_sampled"])
    assert all(g >= cfg.prompts_per_step for g in dapo["groups_sampled"])  # refills
    assert grpo["zero_std"][0] == dapo["zero_std"][0]  # the same start, the same first batch
    assert sorted(arm["pass_at_k"]) == [1, 2, 4, 8]


def _scripted_sampler(batches: list[list[float]], widths: list[int]) -> Callable:
    """A stand-in for ``rlvr.sample_and_check``: round r returns ``batches[r]`` as rewards.

    Row ``i`` of round ``r`` carries the token ``10 r + i`` first, so the test can see which
    completions were kept; rounds have different widths, as ``generate`` stops early.
    """
    calls = iter(range(len(batches)))

    def sample(lm, tokenizer, problems, cfg):  # noqa: ANN001, ANN202 - the same signature
        r = next(calls)
        n, width = len(batches[r]), widths[r]
        ids = torch.zeros(n, 2 + width, dtype=torch.long)
        ids[:, 0] = 10 * r + torch.arange(n)
        ones = torch.ones(n, width, dtype=torch.long)
        rollout = d2.Rollout(ids, torch.ones_like(ids), 2, ones, torch.ones(n, dtype=torch.bool))
        return rollout, torch.tensor(batches[r])

    return sample


def test_dynamic_sampling_refills_the_batch_with_groups_whose_rewards_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = train.Config(prompts_per_step=3, group_size=2, max_refill=3)
    pad = types.SimpleNamespace(pad_token_id=0)
    rounds = [[1.0, 1, 0, 1, 0, 0], [1.0, 0, 1, 1, 0, 1]]  # groups (1,1) (0,1) (0,0) | ...
    monkeypatch.setattr(rlvr, "sample_and_check", _scripted_sampler(rounds, [5, 4]))
    rollout, rewards, zero_std, sampled = train.collect(
        None, pad, np.random.default_rng(0), cfg, train.recipe("dapo", cfg)
    )
    assert rollout.input_ids[:, 0].tolist() == [2, 3, 10, 11, 14, 15]  # 1 group, then 2 more
    assert rewards.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0, 1.0] and sampled == 6
    assert zero_std == pytest.approx(2 / 3)  # of the first round: what GRPO would train on
    assert rollout.response_mask.shape == (6, 5) and rollout.response_mask[2:, 4].sum() == 0
    monkeypatch.setattr(rlvr, "sample_and_check", _scripted_sampler(rounds, [5, 4]))
    _, plain, _, sampled = train.collect(
        None, pad, np.random.default_rng(0), cfg, train.recipe("grpo", cfg)
    )
    assert plain.tolist() == rounds[0] and sampled == 3  # GRPO keeps the batch as drawn
    agreed = [[1.0, 1, 0, 0, 1, 1]] * 4  # every group agrees in every round
    monkeypatch.setattr(rlvr, "sample_and_check", _scripted_sampler(agreed, [5] * 4))
    _, kept, zero_std, sampled = train.collect(
        None, pad, np.random.default_rng(0), cfg, train.recipe("dapo", cfg)
    )
    assert kept.tolist() == agreed[0] and zero_std == 1.0 and sampled == 12  # gave up: no signal


def test_bad_settings_are_refused_with_one_line(assert_rejects: Callable) -> None:
    assert_rejects("d4_grpo_in_practice", "--variant ppo")
    assert_rejects("d4_grpo_in_practice", "--variant grpo,grpo")
    assert_rejects("d4_grpo_in_practice", "--terms 1")
    assert_rejects("d4_grpo_in_practice", "--group-size 1")
    assert_rejects("d4_grpo_in_practice", "--epsilon 1.5")
    assert_rejects("d4_grpo_in_practice", "--overlong cut")
