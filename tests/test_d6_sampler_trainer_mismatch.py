"""Lesson D6: TRL's importance-sampling weights, and the exact bias of each correction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pytest
import torch
from conftest import completion_logps, flat_grad, run_main, torch_threads, trl_grpo_trainer
from test_d4_grpo_in_practice import TRL_SETTINGS

from snippets.d3_grpo_rloo_and_dpo import exact as d3_exact
from snippets.d4_grpo_in_practice import exact as d4_exact
from snippets.d4_grpo_in_practice import variants
from snippets.d6_sampler_trainer_mismatch import correction, exact


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small tensors: a second torch thread only adds contention."""
    with torch_threads(1):
        yield


SMALL = exact.Config(vocab=3, length=3, top_p=0.7, batches=50)  # 27 sequences a prompt
LN = math.log

# ---------------------------------------------------------------- TRL's weights, by hand

# log π_θ − log μ of 2 completions of 3 tokens; the second's last token is padding
TRAINER = torch.tensor([[LN(2.0), LN(4.0), LN(0.5)], [LN(0.1), 0.0, LN(3.0)]], dtype=torch.float64)
SAMPLER = torch.zeros_like(TRAINER)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
BY_HAND = {  # (mode, C_min, C_max) -> the weight; padding's ratio is 1, sequences multiply
    ("token_truncate", 0.2, 3.0): [[2.0, 3.0, 0.5], [0.2, 1.0, 1.0]],
    ("token_mask", 0.2, 3.0): [[2.0, 0.0, 0.5], [0.0, 1.0, 1.0]],
    ("token_truncate", None, 3.0): [[2.0, 3.0, 0.5], [0.1, 1.0, 1.0]],
    ("sequence_truncate", 0.2, 3.0): [[3.0], [0.2]],  # ratios 2·4·0.5 = 4 and 0.1·1 = 0.1
    ("sequence_mask", 0.2, 3.0): [[0.0], [0.0]],
    ("sequence_mask", None, 3.0): [[0.0], [0.1]],  # TRL's default mode and band
    ("sequence_mask", 0.2, None): [[4.0], [0.0]],
}


@pytest.mark.parametrize(("mode", "low", "high"), list(BY_HAND))
def test_is_weights_are_trls_clamped_or_masked_ratios_computed_by_hand(mode, low, high) -> None:
    found = correction.is_weights(TRAINER, SAMPLER, MASK, mode, low, high)
    want = torch.tensor(BY_HAND[mode, low, high], dtype=torch.float64)
    assert found.shape == want.shape and (found - want).abs().max().item() < 1e-12


def test_a_missing_sampler_logprob_gives_ratio_1_and_sequence_modes_sum_not_average() -> None:
    sampler = SAMPLER.clone()
    sampler[0, 0] = math.nan  # vLLM gave no logprob: TRL zeroes that token's log-ratio
    token = correction.is_weights(TRAINER, sampler, MASK, "token_truncate", None, 100.0)
    assert token[0].tolist() == pytest.approx([1.0, 4.0, 0.5])
    seq = correction.is_weights(TRAINER, SAMPLER, MASK, "sequence_truncate", None, 100.0)
    gspo = torch.exp(variants.sequence_log_ratio(TRAINER, SAMPLER, MASK))  # GSPO's: the mean
    assert seq.flatten().tolist() == pytest.approx([4.0, 0.1])
    assert gspo.flatten().tolist() == pytest.approx([4.0 ** (1 / 3), 0.1**0.5])


# ---------------------------------------------------------------- the same loss as TRL's


@pytest.fixture(scope="module")
def is_batch(tiny_model_dir: str) -> dict[str, torch.Tensor]:
    """8 completions of 6 tokens (2 groups of 4), their padding, and a sampler's log-prob gap."""
    from transformers import AutoConfig

    g = torch.Generator().manual_seed(2)
    vocab = AutoConfig.from_pretrained(tiny_model_dir).vocab_size
    ids = torch.randint(3, vocab, (8, 9), generator=g)
    mask = (torch.arange(6) < torch.tensor([6, 2, 4, 1, 5, 6, 3, 2])[:, None]).long()
    gap = 0.4 * torch.randn(8, 6, generator=g)  # log π_θ − log μ of each sampled token
    rewards = torch.tensor([1.0, 0, 0, 1, 0, 0, 1, 0])
    return {"ids": ids, "mask": mask, "gap": gap, "rewards": rewards}


def loss_gaps(trainer: object, b: dict, variant: str, mode: str) -> tuple[float, float, float]:
    """Our corrected loss against TRL's ``_compute_loss`` with the same ratio injected.

    Returns:
        ``(loss gap, largest gradient gap, how much the weight moved TRL's loss)``.
    """
    model, s = (
        trainer.model.eval(),
        variants.LossSettings(variant, beta=0.1, **TRL_SETTINGS[variant][0]),
    )
    with torch.no_grad():
        fresh = completion_logps(model, b["ids"], 3)
    old, ref = fresh - 0.3 * b["gap"], fresh + 0.2 * b["gap"]  # π_old a little off: the clip acts
    weight = correction.is_weights(fresh, fresh - b["gap"], b["mask"], mode, 0.5, 2.0)
    adv = variants.advantages(variant, b["rewards"], 4)
    inputs = {
        "prompt_ids": b["ids"][:, :3],
        "prompt_mask": torch.ones(8, 3, dtype=torch.long),
        "completion_ids": b["ids"][:, 3:],
        "completion_mask": b["mask"],
        "advantages": adv,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": b["mask"].sum(),
    }
    trainer.use_vllm = False  # TRL without the correction ...
    plain = trainer._compute_loss(model, inputs).item()
    trainer.use_vllm = True  # ... and with it: the seam is the ratio vLLM's logprobs give
    theirs = trainer._compute_loss(model, inputs | {"importance_sampling_ratio": weight})
    logps = completion_logps(model, b["ids"], 3)
    ours = correction.corrected_loss(s, logps, old, adv, b["mask"], weight, ref)
    grad_gap = (flat_grad(ours, model) - flat_grad(theirs, model)).abs().max().item()
    return abs(ours.item() - theirs.item()), grad_gap, abs(theirs.item() - plain)


@pytest.mark.parametrize("variant", ["grpo", "dapo", "gspo"])
def test_corrected_loss_and_gradient_equal_trls_with_the_ratio_injected(
    is_batch: dict, tiny_model_dir: str, tmp_path: str, variant: str
) -> None:
    config = {"output_dir": str(tmp_path), "max_completion_length": 6, "beta": 0.1}
    trainer = trl_grpo_trainer(tiny_model_dir, 8, **(config | TRL_SETTINGS[variant][1]))
    assert trainer.vllm_importance_sampling_correction  # TRL's default
    for mode in correction.MODES:
        loss_gap, grad_gap, moved = loss_gaps(trainer, is_batch, variant, mode)
        assert loss_gap < 1e-5 and grad_gap < 1e-5 and moved > 1e-4, mode


# ---------------------------------------------------------------- exact bias


@pytest.fixture(scope="module")
def testbed() -> tuple[torch.Tensor, torch.Tensor, dict]:
    """SMALL's five prompts: logits, rewards and every mismatch's (sampler, trainer)."""
    logits = d4_exact.draw_logits(d4_exact.Config(3, 3, 0.5), 0, 5)
    rewards = d4_exact.pass_fail(3, 3)
    return logits, rewards, exact.mismatches(SMALL, logits, rewards)


def bias(sampler, trainer, rewards, spec) -> float:
    """The relative error of a correction's expected gradient against the true one."""
    grad = exact.expected_gradients(sampler, trainer, rewards, 3, spec)
    return d3_exact.relative_error(grad, exact.true_gradient(trainer, rewards, 3))


def test_with_no_mismatch_every_correction_is_the_on_policy_gradient(testbed) -> None:
    logits, rewards, _ = testbed
    for spec in correction.corrections(0.5, 2.0).values():
        assert bias(logits, logits, rewards, spec) < exact.EXACT


@pytest.mark.parametrize("case", ["stale_1", "stale_16", "bf16", "temperature"])
def test_sequence_is_is_unbiased_under_any_mismatch_with_full_support(testbed, case) -> None:
    _, rewards, cases = testbed
    sampler, trainer = cases[case]
    none = bias(sampler, trainer, rewards, None)
    assert none > 1e-4  # the uncorrected gradient is biased ...
    assert (
        bias(sampler, trainer, rewards, ("sequence_truncate", 0.0, math.inf)) < exact.EXACT
    )  # ... IS is not
    assert (
        bias(sampler, trainer, rewards, ("sequence_truncate", 0.0, 1e12)) < exact.EXACT
    )  # nor C -> inf


def test_trls_default_sequence_mask_is_exact_until_it_masks_then_it_is_biased(testbed) -> None:
    _, rewards, cases = testbed
    spec = ("sequence_mask", 0.0, 3.0)  # TRL's default mode and C_max
    masked = {}
    for case in ("stale_1", "stale_4", "stale_16", "bf16", "temperature"):
        masked[case] = exact.distance(*cases[case], 3, (0.0, 3.0))["masked_mass"]
        error = bias(*cases[case], rewards, spec)
        assert error < exact.EXACT if masked[case] == 0 else error > 0.01, case
    assert masked["stale_1"] == 0 < masked["stale_16"]


def test_token_level_is_corrects_each_token_but_not_its_prefix_and_stays_biased(testbed) -> None:
    _, rewards, cases = testbed
    sampler, trainer = cases["stale_16"]
    token = bias(sampler, trainer, rewards, ("token_truncate", 0.0, math.inf))
    assert token == pytest.approx(
        bias(sampler, trainer, rewards, ("token_truncate", 0.0, 1e12)), abs=1e-12
    )
    assert 0.01 < token < bias(sampler, trainer, rewards, None)


def test_top_p_leaves_a_bias_that_no_weight_removes_the_unseen_sequences_share(testbed) -> None:
    _, rewards, cases = testbed
    sampler, trainer = cases["top_p"]
    assert exact.distance(sampler, trainer, 3, (0.0, 3.0))["unseen_mass"] > 0.05
    for spec in correction.corrections(0.0, math.inf).values():
        assert bias(sampler, trainer, rewards, spec) > 0.05
    for s, t, r in zip(sampler, trainer, rewards, strict=True):  # IS recovers the seen part only
        theta = t.detach().requires_grad_()
        mu = d4_exact.token_logprobs(s, 3).sum(-1).exp()
        seen, prob = mu > 0, d4_exact.token_logprobs(theta, 3).sum(-1).exp()
        baseline = (mu * r).sum()
        (seen_part,) = torch.autograd.grad((prob * (r - baseline))[seen].sum(), theta)
        found = exact.expected_gradient(s, t, r, 3, ("sequence_truncate", 0.0, math.inf))
        assert (found - seen_part).abs().max().item() < 1e-12


def test_nucleus_keeps_the_fewest_tokens_whose_mass_reaches_top_p() -> None:
    logits = torch.tensor([0.15, 0.5, 0.05, 0.3], dtype=torch.float64).log()
    assert exact.nucleus(logits, 0.75).isfinite().tolist() == [False, True, False, True]
    assert exact.nucleus(logits, 0.85).isfinite().tolist() == [True, True, False, True]
    assert exact.nucleus(logits, 1.0).isfinite().all()


def test_nucleus_keeps_the_same_tokens_as_transformers_top_p_warper() -> None:
    from transformers import TopPLogitsWarper

    logits = torch.randn(200, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for top_p in (0.5, 0.9, 0.95):
        theirs = TopPLogitsWarper(top_p)(torch.zeros(200, 1, dtype=torch.long), logits.clone())
        assert torch.equal(exact.nucleus(logits, top_p).isfinite(), theirs.isfinite())


def test_a_sampled_gradient_is_the_autograd_gradient_of_its_weighted_surrogate(testbed) -> None:
    _, rewards, cases = testbed
    sampler, trainer = cases["stale_4"][0][0], cases["stale_4"][1][0]
    picked = torch.tensor([[3, 3, 17], [0, 26, 5]])
    spec = ("token_truncate", 0.0, 1.5)
    found = exact.sampled_gradients(sampler, trainer, rewards[0], 3, spec, picked)
    theta = trainer.detach().requires_grad_()
    logp = d4_exact.token_logprobs(theta, 3)
    mu_logp = d4_exact.token_logprobs(sampler, 3)
    w = correction.is_weights(logp.detach(), mu_logp, torch.ones_like(logp), *spec)
    adv = rewards[0] - (mu_logp.sum(-1).exp() * rewards[0]).sum()
    for batch, rows in zip(found, picked, strict=True):
        (want,) = torch.autograd.grad(
            (w * adv[:, None] * logp)[rows].sum() / 3, theta, retain_graph=True
        )
        assert (batch - want).abs().max().item() < 1e-12


def test_capping_the_sequence_ratio_trades_bias_for_variance(testbed) -> None:
    _, rewards, cases = testbed
    cfg = dataclasses.replace(SMALL, caps=(1.0, 3.0, 1e6), batches=400)
    tradeoff = exact.cap_tradeoff(cfg, *cases["stale_16"], rewards, seed=0)["sequence_truncate"]
    assert (
        tradeoff["bias2"][0] > tradeoff["bias2"][1] > tradeoff["bias2"][2]
        and tradeoff["bias2"][2] < 1e-20
    )
    assert tradeoff["variance"][0] < tradeoff["variance"][2]


def test_exact_quick_command_prints_the_bias_table_and_draws_the_figure(capsys, tmp_path) -> None:
    figure = tmp_path / "tradeoff.png"
    metrics = run_main(exact.main, "--quick", "--plot", str(figure), capsys=capsys)
    assert set(metrics["bias"]) == {
        "stale_1",
        "stale_4",
        "stale_16",
        "bf16",
        "temperature",
        "top_p",
    }
    assert metrics["bias"]["stale_16"]["corrections"]["sequence_is"]["relative_error"] < exact.EXACT
    assert metrics["tradeoff"]["case"] == "stale_16" and figure.stat().st_size > 10_000


def test_exact_refuses_bad_input(assert_rejects) -> None:
    assert_rejects("d6_sampler_trainer_mismatch.exact", "--top-p 0")
    assert_rejects("d6_sampler_trainer_mismatch.exact", "--length 2")
    assert_rejects("d6_sampler_trainer_mismatch.exact", "--stale-steps 0,4")
    assert_rejects("d6_sampler_trainer_mismatch.exact", "--clip-min 3 --clip-max 2", "below")


# ---- training with a stale or bf16 sampler (train.py)

import copy  # noqa: E402 - this block's own imports

import numpy as np  # noqa: E402

from snippets import d2_rlhf_llm_with_pytorch as d2  # noqa: E402
from snippets.d3_grpo_rloo_and_dpo import rlvr  # noqa: E402
from snippets.d4_grpo_in_practice import train as d4_train  # noqa: E402
from snippets.d6_sampler_trainer_mismatch import train  # noqa: E402

TINY = train.Config(prompts_per_step=4, group_size=4, heldout_problems=8)


@pytest.fixture(scope="module")
def model_and_tokenizer() -> tuple[torch.nn.Module, object]:
    """A freshly initialised tiny GPT-2 of the sums task (no pretraining needed here)."""
    tokenizer = rlvr.build_tokenizer()
    torch.manual_seed(0)
    return rlvr.build_model(TINY, tokenizer), tokenizer


def test_a_stale_sampler_holds_exactly_the_trainers_weights_of_k_steps_ago(
    model_and_tokenizer,
) -> None:
    lm = copy.deepcopy(model_and_tokenizer[0])
    sampler = train.Sampler(lm, train.arm_of("stale2"))
    seen = [{k: v.clone() for k, v in lm.state_dict().items()}]  # θ_0, θ_1, ...
    for t in range(1, 6):
        with torch.no_grad():
            for p in lm.parameters():
                p.add_(0.01 * t)  # an "optimiser step"
        sampler.push(lm)
        seen.append({k: v.clone() for k, v in lm.state_dict().items()})
        lagged = seen[max(0, t - 2)]
        assert sampler.staleness == min(t, 2)
        assert all(torch.equal(v, lagged[k]) for k, v in sampler.model.state_dict().items())


def test_a_bf16_samplers_log_ratios_are_bf16_sized_and_update_applies_the_weight(
    model_and_tokenizer,
) -> None:
    lm, tokenizer = model_and_tokenizer
    lm = copy.deepcopy(lm)
    cfg = dataclasses.replace(TINY, is_mode="token_truncate", is_clip_max=1.002)
    sampler = train.Sampler(lm, train.arm_of("bf16_is"))
    assert next(sampler.model.parameters()).dtype == torch.bfloat16
    how = d4_train.recipe("grpo", cfg)
    rng = np.random.default_rng(0)
    rollout, *_ = d4_train.collect(sampler.model, tokenizer, rng, cfg, how)
    seen = train.compare(lm, sampler.model, rollout, cfg)
    assert 1e-4 < seen["log_ratio_max"] < 0.05 and 0 < seen["kl"] < 1e-4, seen  # bf16's 2^-8
    assert 0 < seen["masked"] < 1 and (seen["weight"] <= 1.002).all()  # the cap clips some
    exact32 = train.compare(lm, train.Sampler(lm, train.arm_of("stale0")).model, rollout, cfg)
    assert exact32["log_ratio_max"] == 0 and (exact32["weight"] == 1).all()
    rewards = (torch.arange(len(rollout.finished)) % 3 == 0).float()
    # D4's update with the weight takes the SGD step of correction.corrected_loss's gradient
    stepped = copy.deepcopy(lm)
    opt = torch.optim.SGD(stepped.parameters(), lr=0.5)
    d4_train.update(stepped, opt, rollout, rewards, cfg, how, rng, weight=seen["weight"])
    by_hand = copy.deepcopy(lm)
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logps = d2.response_logprobs(d2.lm_forward(by_hand, ids, attn)[0], ids, p, 1.0)
    adv = variants.advantages("grpo", rewards, cfg.group_size)
    mask = rollout.response_mask.float()
    loss = correction.corrected_loss(how.loss, logps, logps.detach(), adv, mask, seen["weight"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(by_hand.parameters(), 1.0)
    unweighted = copy.deepcopy(lm)
    plain_opt = torch.optim.SGD(unweighted.parameters(), lr=0.5)
    d4_train.update(unweighted, plain_opt, rollout, rewards, cfg, how, rng)
    params = zip(stepped.parameters(), by_hand.parameters(), lm.parameters(), strict=True)
    assert all(torch.allclose(a, c - 0.5 * b.grad, atol=1e-6) for a, b, c in params)
    moved = torch.nn.utils.parameters_to_vector(stepped.parameters()) - (
        torch.nn.utils.parameters_to_vector(unweighted.parameters())
    )
    assert moved.abs().max() > 1e-6  # the weight changed the step


@pytest.fixture(scope="module")
def short_d6_run() -> dict:
    """Seed 0 pretrained to the band, then 12 steps of three arms from that start."""
    cfg = train.Config(steps=12, arm=("stale0", "stale0_is", "stale8_is"), eval_samples=8)
    with torch_threads(1):
        return train.run(cfg, seed=0) | {"cfg": cfg}


def test_at_k0_the_corrected_arm_is_the_uncorrected_arm_exactly(short_d6_run: dict) -> None:
    plain, fixed = (short_d6_run["arms"][n]["history"] for n in ("stale0", "stale0_is"))
    assert plain == fixed  # every logged number, bit for bit: the weight is exactly 1
    assert set(plain["masked"]) == {0.0} and set(plain["kl"]) == {0.0}
    assert set(plain["staleness"]) == {0}


def test_twelve_steps_raise_pass_at_1_and_a_stale_sampler_lags_and_is_masked(
    short_d6_run: dict,
) -> None:
    before = short_d6_run["pass_at_k_before"][1]
    assert short_d6_run["arms"]["stale0"]["pass_at_k"][1] - before >= 0.05
    stale = short_d6_run["arms"]["stale8_is"]["history"]
    assert stale["staleness"] == [min(t, 8) for t in range(12)]
    assert stale["kl"][0] == 0 and min(stale["kl"][9:]) > 1e-3


def test_quick_command_prints_each_arms_gain_and_draws_the_curves(capsys, tmp_path) -> None:
    figure = tmp_path / "curves.png"
    arms = "stale0,stale2_is,bf16"
    metrics = run_main(train.main, "--quick", "--arm", arms, "--plot", str(figure), capsys=capsys)
    assert metrics["mean_staleness_stale2_is"] == pytest.approx(1.0)  # lags 0, 1, 2
    assert metrics["mean_staleness_bf16"] == 0 and len(metrics["kl_curve_bf16"]) == 3
    assert {f"pass_at_1_gain_{a}" for a in ("stale0", "stale2_is", "bf16")} <= set(metrics)
    assert figure.stat().st_size > 10_000


def test_train_refuses_bad_input(assert_rejects) -> None:
    assert_rejects("d6_sampler_trainer_mismatch.train", "--arm stale3")
    assert_rejects("d6_sampler_trainer_mismatch.train", "--arm stale0,stale0", "twice")
    assert_rejects("d6_sampler_trainer_mismatch.train", "--is-mode sequence")
    assert_rejects("d6_sampler_trainer_mismatch.train", "--is-clip-min 3 --is-clip-max 2", "below")
    assert_rejects("d6_sampler_trainer_mismatch.train", "--variant dapo")  # D4's, not D6's
    assert_rejects("d6_sampler_trainer_mismatch.train", "--epochs 2")  # K counts single steps


# ---- the asynchronous actor–learner on Ray (actor_learner.py)

from snippets.d6_sampler_trainer_mismatch import actor_learner  # noqa: E402

# Two tiny workers; pretrained for 100 fixed steps, enough for some right answers (~10 %), so
# that groups disagree and the learner's weights move (all-wrong groups have no gradient).
TINY_ASYNC = actor_learner.Config(
    n_layer=1,
    n_embd=32,
    pretrain="fixed",
    pretrain_steps=100,
    pretrain_batch=64,
    pretrain_lr=1e-2,
    prompts_per_step=8,
    group_size=4,
    steps=8,
    eval_every=4,
    heldout_problems=8,
    workers=2,
    kill_worker_at_step=3,
)


@pytest.fixture(scope="module")
def async_run(local_ray) -> tuple[actor_learner.Learner, dict]:
    """One asynchronous run with two workers, worker 0 killed after step 3 (one Ray start)."""
    cfg = TINY_ASYNC
    with torch_threads(1):
        rng = np.random.default_rng(0)
        torch.manual_seed(0)
        tokenizer = rlvr.build_tokenizer()
        lm = rlvr.build_model(cfg, tokenizer)
        rlvr.pretrain(lm, tokenizer, cfg, rng, check_problems=None)
        learner = actor_learner.Learner(lm, cfg, seed=0)
        return learner, actor_learner.run_async(learner, cfg, seed=0)


def test_async_learner_records_each_batchs_staleness_and_some_are_stale(async_run) -> None:
    _, result = async_run
    log, cfg = result["log"], TINY_ASYNC
    staleness = [s["staleness"] for s in log]
    assert len(log) == cfg.steps and sum(result["staleness"].values()) == cfg.steps
    assert all(0 <= s <= cfg.max_staleness for s in staleness)
    # the first batch is fresh; the other worker's first batch (version 0) arrives after step 1
    assert staleness[0] == 0 and max(staleness) >= 1, staleness
    assert result["tokens"] > 0 and result["tokens_per_second"] > 0


def test_async_correction_weights_stale_batches_and_leaves_fresh_ones_at_1(async_run) -> None:
    _, result = async_run
    fresh = [s for s in result["log"] if s["staleness"] == 0]
    stale = [s for s in result["log"] if s["staleness"] > 0]
    # same weights in the worker and the learner: the same log-probs, weight 1
    assert fresh and all(s["log_ratio_max"] < 1e-5 and s["weight_deviation"] < 1e-5 for s in fresh)
    # a stale batch differs where the learner moved since (a step whose groups all agreed has
    # no gradient and moves nothing), and wherever the log-probs differ the weight is not 1
    assert any(s["log_ratio_max"] > 1e-3 for s in stale), stale
    assert all(s["weight_deviation"] > 1e-6 for s in stale if s["log_ratio_max"] > 1e-4)


def test_actor_learner_correction_weight_is_trls_and_1_without_correction() -> None:
    trainer, sampler = TRAINER.float(), SAMPLER.float()
    cfg = dataclasses.replace(TINY_ASYNC, is_mode="token_truncate", is_clip_min=0.2)
    weight = actor_learner.correction_weight(trainer, sampler, MASK, cfg)
    assert torch.allclose(weight, torch.tensor(BY_HAND[("token_truncate", 0.2, 3.0)]))
    off = actor_learner.correction_weight(
        trainer, sampler, MASK, actor_learner.Config(correct=False)
    )
    assert torch.equal(off, torch.ones_like(trainer))


def test_async_killed_worker_is_replaced_and_the_learner_carries_on(async_run) -> None:
    learner, result = async_run
    cfg = TINY_ASYNC
    assert result["replaced"] == 1
    # the replacement (incarnation 1) started with the weights of a broadcast after the kill
    (life, version, _), *_ = result["held"]
    assert life == 1 and version >= cfg.kill_worker_at_step
    # the learner never restarted: every step taken once, Adam's step count never reset
    assert learner.version == cfg.steps
    adam_steps = {int(s["step"]) for s in learner.optimizer.state.values()}
    assert adam_steps == {cfg.steps * cfg.epochs * cfg.minibatches}
    assert all(s["life"] in (0, 1) for s in result["log"])


def test_sync_loop_is_never_stale_and_weights_every_batch_1() -> None:
    cfg = dataclasses.replace(TINY_ASYNC, steps=2, pretrain_steps=1)
    with torch_threads(1):
        tokenizer = rlvr.build_tokenizer()
        learner = actor_learner.Learner(rlvr.build_model(cfg, tokenizer), cfg, seed=0)
        result = actor_learner.run_sync(learner, cfg, seed=0)
    assert result["staleness"] == {0: cfg.steps} and learner.version == cfg.steps
    assert all(s["weight_deviation"] < 1e-5 for s in result["log"])


def test_actor_learner_refuses_bad_input(assert_rejects) -> None:
    assert_rejects("d6_sampler_trainer_mismatch.actor_learner", "--workers 0")
    assert_rejects("d6_sampler_trainer_mismatch.actor_learner", "--steps 5 --kill-worker-at-step 5")
    assert_rejects("d6_sampler_trainer_mismatch.actor_learner", "--is-mode sequence")
    assert_rejects(
        "d6_sampler_trainer_mismatch.actor_learner", "--is-clip-min 3 --is-clip-max 2", "below"
    )
