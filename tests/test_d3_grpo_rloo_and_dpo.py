from __future__ import annotations

import math
import os
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import d2_tiny

from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import losses, methods, rlvr


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> None:
    torch.set_num_threads(1)  # ~100k-parameter models: a second thread only adds contention


# ---------------------------------------------------------------- the maths, by hand
def test_group_advantages_centre_and_scale_each_group_by_its_own_std() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    adv = losses.group_advantages(rewards, group_size=4)
    std = math.sqrt(1 / 3)  # Bessel-corrected std of (1, 0, 0, 1)
    expected = 0.5 / (std + losses.STD_EPS)
    assert adv[:4].tolist() == pytest.approx([expected, -expected, -expected, expected], abs=1e-6)
    assert adv[4:].tolist() == [0.0] * 4  # a group that agrees teaches nothing
    unscaled = losses.group_advantages(rewards, group_size=4, scale="none")
    assert unscaled[:4].tolist() == [0.5, -0.5, -0.5, 0.5]


def test_rloo_baseline_leaves_each_sample_out_of_its_own_mean() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    adv = losses.rloo_advantages(rewards, group_size=4)
    # sample 0: 1 - (0 + 0 + 1) / 3 = 2/3; sample 1: 0 - (1 + 0 + 1) / 3 = -2/3
    assert adv.tolist() == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    grpo_unscaled = losses.group_advantages(rewards, 4, scale="none")
    assert torch.allclose(adv, grpo_unscaled * 4 / 3)  # G / (G - 1) times the centred reward


def test_k3_kl_matches_its_formula_and_is_never_negative() -> None:
    p, q = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    assert losses.k3_kl(p, q).item() == pytest.approx(0.5 + math.log(2) - 1)
    logps = torch.log(torch.rand(1000, generator=torch.Generator().manual_seed(0)))
    ref = torch.log(torch.rand(1000, generator=torch.Generator().manual_seed(1)))
    assert (losses.k3_kl(logps, ref) >= 0).all()
    assert losses.k3_kl(p, p).item() == 0.0


def test_the_three_aggregations_weigh_tokens_of_long_and_short_completions_differently() -> None:
    mask = torch.tensor([[1.0, 0, 0, 0], [1, 1, 1, 0]])  # a 1-token and a 3-token completion
    per_token = {}
    for how in ("grpo", "dapo", "dr_grpo"):
        weights, denominator = losses.token_weights(mask, how, max_len=4)
        per_token[how] = (weights[0, 0] / denominator, weights[1, 0] / denominator)
    assert per_token["grpo"] == pytest.approx((1 / 2, 1 / 6))  # 1/G · 1/|o_i|
    assert per_token["dapo"] == pytest.approx((1 / 4, 1 / 4))  # 1/Σ|o_i|
    assert per_token["dr_grpo"] == pytest.approx((1 / 8, 1 / 8))  # 1/(L·G)


def test_grpo_loss_at_ratio_one_is_minus_the_aggregated_advantage() -> None:
    mask = torch.tensor([[1.0, 0, 0, 0], [1, 1, 1, 0]])
    logps = torch.zeros(2, 4)
    adv = torch.tensor([1.0, -1.0])
    expected = {"grpo": 0.0, "dapo": -(1 - 3) / 4, "dr_grpo": -(1 - 3) / 8}
    for how, value in expected.items():
        loss, stats = losses.grpo_loss(logps, logps, adv, mask, how=how, max_len=4)
        assert loss.item() == pytest.approx(value, abs=1e-6)
        assert stats["clip_fraction"] == 0.0


def test_grpo_loss_clips_the_ratio_like_c2() -> None:
    mask = torch.ones(1, 1)
    new, old = torch.tensor([[math.log(1.5)]]), torch.zeros(1, 1)
    loss, stats = losses.grpo_loss(new, old, torch.tensor([1.0]), mask, epsilon=0.2)
    assert loss.item() == pytest.approx(-1.2)  # min(1.5·1, 1.2·1)
    assert stats["clip_fraction"] == 1.0
    with pytest.raises(ValueError, match="ref_logprobs"):
        losses.grpo_loss(new, old, torch.tensor([1.0]), mask, beta=0.1)


def test_dpo_loss_is_bradley_terry_on_the_implicit_reward() -> None:
    zero = torch.zeros(1)
    loss, chosen, rejected = losses.dpo_loss(zero + 1, zero - 1, zero, zero, beta=0.5)
    assert loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))))  # -log σ(0.5·2)
    assert chosen.item() == 0.5 and rejected.item() == -0.5


# ---------------------------------------------------------------- the same numbers as TRL
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    model, tokenizer = d2.load_policy_and_tokenizer("tiny", d2.Config())
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _completion_logps(model: torch.nn.Module, ids: torch.Tensor, start: int) -> torch.Tensor:
    """log π of tokens ids[:, start:], each predicted from the tokens before it."""
    logits = model(input_ids=ids).logits[:, start - 1 : -1]
    return torch.log_softmax(logits, -1).gather(-1, ids[:, start:, None]).squeeze(-1)


@pytest.mark.parametrize("how", ["grpo", "dapo", "dr_grpo"])
def test_our_grpo_loss_equals_trls_to_1e_5(tiny_model_dir: str, how: str) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    warnings.filterwarnings("ignore")
    args = GRPOConfig(
        output_dir=os.path.join(tiny_model_dir, "grpo"), use_cpu=True, bf16=False,
        per_device_train_batch_size=4, num_generations=4, max_completion_length=6, beta=0.04,
        loss_type=how, use_bias_correction_kl=False, report_to="none", disable_tqdm=True,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=tiny_model_dir, reward_funcs=lambda completions, **_: [0.0] * len(completions),
        args=args, train_dataset=Dataset.from_dict({"prompt": ["the movie was"] * 4}),
    )  # fmt: skip
    g = torch.Generator().manual_seed(1)
    vocab = trainer.model.config.vocab_size
    prompt = torch.randint(3, vocab, (4, 3), generator=g)
    completion = torch.randint(3, vocab, (4, 6), generator=g)
    mask = torch.tensor(
        [[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0]]
    )
    advantages = torch.tensor([1.0, -0.5, 0.3, -0.8])
    model = trainer.model.eval()
    with torch.no_grad():
        for p in model.parameters():  # move the policy away from the reference
            p.add_(0.01 * torch.randn(p.shape, generator=g))
        ids = torch.cat([prompt, completion], 1)
        ref = _completion_logps(trainer.ref_model, ids, 3)
        old = _completion_logps(model, ids, 3) - 0.1 * torch.rand(4, 6, generator=g)
        inputs = {
            "prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
            "completion_mask": mask, "advantages": advantages, "old_per_token_logps": old,
            "ref_per_token_logps": ref, "num_items_in_batch": mask.sum(),
        }  # fmt: skip
        theirs = trainer._compute_loss(model, inputs)
        ours, _ = losses.grpo_loss(
            _completion_logps(model, ids, 3), old, advantages, mask,
            ref_logprobs=ref, beta=0.04, epsilon=0.2, how=how, max_len=6,
        )  # fmt: skip
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-5)


def test_our_dpo_loss_equals_trls_to_1e_5(tiny_model_dir: str) -> None:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    warnings.filterwarnings("ignore")
    pairs = {"prompt": ["the movie was"] * 2, "chosen": ["great ."] * 2, "rejected": ["bad ."] * 2}
    args = DPOConfig(
        output_dir=os.path.join(tiny_model_dir, "dpo"), use_cpu=True, bf16=False, beta=0.1,
        per_device_train_batch_size=2, report_to="none", disable_tqdm=True,
    )  # fmt: skip
    trainer = DPOTrainer(model=tiny_model_dir, args=args, train_dataset=Dataset.from_dict(pairs))
    g = torch.Generator().manual_seed(2)
    vocab = trainer.model.config.vocab_size
    prompt = torch.randint(3, vocab, (2, 3), generator=g).repeat(2, 1)  # chosen rows, then rejected
    completion = torch.randint(3, vocab, (4, 5), generator=g)
    ids = torch.cat([prompt, completion], 1)
    completion_mask = torch.cat(
        [torch.zeros(4, 3, dtype=torch.long), torch.ones(4, 5, dtype=torch.long)], 1
    )
    model = trainer.model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
        inputs = {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "completion_mask": completion_mask,
        }
        theirs = trainer._compute_loss(model, inputs, return_outputs=False)
        policy = _completion_logps(model, ids, 3).sum(1)
        ref = _completion_logps(trainer.ref_model, ids, 3).sum(1)
        ours, _, _ = losses.dpo_loss(policy[:2], policy[2:], ref[:2], ref[2:], beta=0.1)
    assert ours.item() == pytest.approx(float(theirs), abs=1e-5)


# ---------------------------------------------------------------- verifiable rewards
def test_the_checker_accepts_exactly_the_sum_followed_by_eos() -> None:
    assert rlvr.check(47, 35, ["8", "2"], finished=True) == 1.0
    assert rlvr.check(47, 35, ["8", "2"], finished=False) == 0.0  # never stopped
    assert rlvr.check(47, 35, ["7", "2"], finished=True) == 0.0  # the dropped carry
    assert rlvr.check(99, 99, ["1", "9", "8"], finished=True) == 1.0


def test_plausible_wrong_answers_are_always_wrong() -> None:
    rng = np.random.default_rng(0)
    for a, b in rlvr.sample_problems(rng, 500, digits=2):
        wrong = rlvr.plausible_wrong_answer(int(a), int(b), rng)
        assert wrong != a + b and wrong >= 0


def test_pass_at_k_is_chens_unbiased_estimator() -> None:
    assert rlvr.pass_at_k(n=4, c=1, k=1) == pytest.approx(0.25)
    assert rlvr.pass_at_k(n=4, c=1, k=2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert rlvr.pass_at_k(n=4, c=0, k=4) == 0.0
    assert rlvr.pass_at_k(n=4, c=2, k=3) == 1.0  # only two wrong samples: any 3 hold a right one


@pytest.mark.slow
def test_grpo_on_the_checker_raises_pass_at_1_by_ten_points() -> None:
    cfg = rlvr.RLVRConfig(grpo_steps=80, eval_problems=100, eval_samples=8)
    result = rlvr.run_rlvr(cfg, seed=7)
    assert result["pass_at_1_after"] - result["pass_at_1_before"] >= 0.10, result


def test_a_group_of_one_is_refused_with_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        rlvr.main(["--group-size", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--group-size" in err and ">= 2" in err


# ---------------------------------------------------------------- the methods in D2's world
@pytest.fixture(scope="module")
def small_world(d2_sft, d2_reward_model) -> methods.World:
    """D2's world at test scale, built on the policy and reward model D2's tests train."""
    torch.set_num_threads(1)
    (lm, tokenizer, _), (reward_model, stats) = d2_sft, d2_reward_model
    config = replace(d2_tiny(), eval_prompts=128)
    return methods.world_from(lm, tokenizer, reward_model, stats["train_pairs"], config, seed=0)


SHORT = replace(methods.Config(), iterations=20, eval_every=20, dpo_epochs=1)


@pytest.mark.slow
def test_grpo_raises_the_reward_model_score_it_optimises_at_a_small_kl(
    small_world: methods.World,
) -> None:
    # Gold gains at this scale depend on how good a small reward model is; the benchmark checks
    # them at full scale over five seeds. Here: the policy climbs the reward it is given.
    result = methods.run_method(small_world, "grpo", SHORT, seed=11)
    final = result["final"]
    climbed = final["rm_score"] - small_world.before["rm_score"]  # from about -0.07
    assert climbed >= 0.5 and final["kl"] <= 3.0, result["points"]
    assert result["tokens_generated"] > 0 and not result["value_head"]


@pytest.mark.slow
def test_dpo_learns_to_rank_its_pairs_without_sampling(small_world: methods.World) -> None:
    pairs, pad = small_world.pairs, small_world.tokenizer.pad_token_id
    lm, points = methods.train_dpo(small_world, SHORT, seed=11)
    both = pairs.chosen[:256] + pairs.rejected[:256]
    with torch.no_grad():
        margin = methods.sequence_logps(lm, both, pad) - methods.sequence_logps(
            small_world.sft_lm, both, pad
        )
    assert (
        margin[:256] > margin[256:]
    ).float().mean() >= 0.6  # its implicit reward ranks the pairs
    assert points[-1]["kl"] < 3.0


def test_best_of_n_costs_exactly_log_n_minus_n_minus_1_over_n_nats(
    small_world: methods.World,
) -> None:
    one, four = (
        methods.best_of_n(small_world, 1, seed=11),
        methods.best_of_n(small_world, 4, seed=11),
    )
    assert one["kl"] == 0.0 and four["kl"] == pytest.approx(math.log(4) - 3 / 4)
