import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import d2_tiny, run_main, torch_threads
from transformers import GenerationConfig

from snippets import common
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d2_rlhf_llm_with_pytorch.__main__ import main as d2_main
from snippets.d2_rlhf_llm_with_pytorch.__main__ import settings
from snippets.regenerate import views_d

TINY = d2_tiny()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def sft(d2_sft):
    """A briefly pretrained tiny policy, shared by the learning tests (and D3's)."""
    return d2_sft


@pytest.fixture(scope="module")
def reward_model(d2_reward_model):
    """Stage 2 exactly as the pipeline runs it, on the tiny configuration."""
    return d2_reward_model


# --- corpus, tokenizer and the hidden rater ---------------------------------------------


def test_tokenizer_pads_on_the_left_with_a_pad_distinct_from_eos():
    tokenizer = d2.build_tokenizer()
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    batch = tokenizer(["the movie was", "i"], padding=True)
    assert batch["input_ids"][1][:2] == [tokenizer.pad_token_id] * 2
    assert batch["attention_mask"] == [[1, 1, 1], [0, 0, 1]]
    text = "the acting was great . <eos>"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert (
        tokenizer.unk_token_id
        not in tokenizer(" ".join(d2.sample_review(np.random.default_rng(0))))["input_ids"]
    )


def test_corpus_reviews_are_grammatical_and_scored_by_their_sentiment():
    rng = np.random.default_rng(0)
    for _ in range(500):
        words = d2.sample_review(rng)
        assert d2.is_grammatical(words, finished=True)
        assert len(words) <= d2.MAX_REVIEW_WORDS
        content = [w for w in words if w in d2.SENTIMENT or w in d2.NOUNS]
        if len(set(content)) == len(content):  # no repeated word: gold is the plain sum
            assert d2.gold_score(words, True) == sum(d2.SENTIMENT.get(w, 0) for w in words)


def test_gold_score_punishes_word_salad_repetition_and_no_ending():
    good = "the acting was great .".split()
    assert d2.gold_score(good, True) == 2
    assert d2.gold_score(good, False) == 2 - 2  # never emitted EOS
    # "great great": one bigram the grammar never makes (-2), one repeat (-1), counted once (+2)
    assert d2.gold_score("the acting was great great .".split(), True) == 2 - 2 - 1
    assert not d2.is_grammatical("the acting was great great .".split(), True)
    # grammatical, but "great" counts once and the repeat costs 1
    assert d2.gold_score("the acting was great and the plot was great .".split(), True) == 2 - 1


# --- the mechanics of PPO for text -------------------------------------------------------


def test_response_logprobs_are_the_sampling_probabilities_under_left_padding():
    torch.manual_seed(0)
    lm, tokenizer = d2.load_policy_and_tokenizer("tiny", TINY)
    prompts = ["the", "i loved this", "overall it"]  # different lengths: real left padding
    batch = tokenizer(prompts, padding=True, return_tensors="pt")
    gen = lm.generate(
        **batch,
        generation_config=GenerationConfig(
            do_sample=True,
            temperature=0.7,
            top_k=0,
            top_p=1.0,
            max_new_tokens=6,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        ),
    )
    ids, p = gen.sequences, batch["input_ids"].shape[1]
    is_eos = ids[:, p:] == tokenizer.eos_token_id
    response_mask = ((is_eos.cumsum(1) - is_eos.long()) == 0).long()  # up to the first EOS
    mask = torch.cat([batch["attention_mask"], response_mask], dim=1)
    logits, _ = d2.lm_forward(lm, ids, mask)
    ours = d2.response_logprobs(logits, ids, p, temperature=0.7)
    # what generate sampled from: log-softmax of its processed (temperature-scaled) scores
    sampled = torch.stack(
        [
            torch.log_softmax(s, -1).gather(-1, ids[:, p + i, None])[:, 0]
            for i, s in enumerate(gen.scores)
        ],
        dim=1,
    )
    real = response_mask.bool()
    torch.testing.assert_close(ours[real], sampled[real], atol=1e-4, rtol=1e-4)
    # the same numbers from each row alone, without any padding
    for row in range(len(prompts)):
        alone_ids = ids[row][mask[row] == 1].unsqueeze(0)
        n_prompt = int(batch["attention_mask"][row].sum())
        alone, _ = d2.lm_forward(lm, alone_ids, torch.ones_like(alone_ids))
        torch.testing.assert_close(
            d2.response_logprobs(alone, alone_ids, n_prompt, 0.7)[0],
            ours[row][real[row]],
            atol=1e-4,
            rtol=1e-4,
        )
    # an off-by-one slice scores each token with the prediction for the next one
    shifted = torch.log_softmax(logits[:, p:] / 0.7, -1).gather(-1, ids[:, p:, None])[..., 0]
    assert not torch.allclose(shifted[:, :-1], sampled[:, :-1], atol=1e-2)


def test_kl_estimators_are_nonnegative_and_zero_for_identical_policies():
    gen = torch.Generator().manual_seed(0)
    logits, ref_logits = torch.randn(4, 7, 30, generator=gen), torch.randn(4, 7, 30, generator=gen)
    assert (d2.exact_kl_per_token(logits, ref_logits, 1.0) >= 0).all()
    assert d2.exact_kl_per_token(logits, logits, 0.7).abs().max() < 1e-6
    logp, ref_logp = torch.log_softmax(logits, -1), torch.log_softmax(ref_logits, -1)
    tokens = torch.distributions.Categorical(logits=logits).sample()
    lp, ref_lp = (
        logp.gather(-1, tokens[..., None])[..., 0],
        ref_logp.gather(-1, tokens[..., None])[..., 0],
    )
    assert (d2.kl_per_token(lp, ref_lp, "k3") >= 0).all()
    assert d2.kl_per_token(lp, lp, "k1").abs().max() == 0
    assert d2.kl_per_token(lp, lp, "k3").abs().max() == 0
    # both sample estimators are unbiased: averaged over many samples they match the exact KL
    many = torch.distributions.Categorical(logits=logits[0, 0]).sample(
        (200_000,),
    )
    k1 = d2.kl_per_token(logp[0, 0][many], ref_logp[0, 0][many], "k1").mean()
    k3 = d2.kl_per_token(logp[0, 0][many], ref_logp[0, 0][many], "k3").mean()
    exact = d2.exact_kl_per_token(logits[0, 0], ref_logits[0, 0], 1.0)
    assert k1.item() == pytest.approx(exact.item(), rel=0.05)
    assert k3.item() == pytest.approx(exact.item(), rel=0.05)


def test_adaptive_kl_controller_raises_beta_above_target_and_lowers_it_below():
    ctl = d2.AdaptiveKLController(0.1, target=4.0, horizon=1000)
    ctl.update(kl=8.0, n_steps=100)  # error clipped to +0.2
    assert ctl.value == pytest.approx(0.1 * 1.02)
    ctl = d2.AdaptiveKLController(0.1, target=4.0, horizon=1000)
    ctl.update(kl=3.6, n_steps=100)  # error -0.1
    assert ctl.value == pytest.approx(0.1 * 0.99)


def test_rewards_put_the_score_on_the_last_real_token():
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    logp = torch.tensor([[-1.0, -1.0, -1.0], [-2.0, -9.0, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-1.0, 0.0, 0.0]])
    rewards = d2.compute_rewards(torch.tensor([3.0, -1.0]), logp, ref, mask, kl_coef=0.1)
    expected = torch.tensor([[-0.05, 0.0, 3.0 + 0.05], [-1.0 + 0.1, 0.0, 0.0]])
    torch.testing.assert_close(rewards, expected)


def test_gae_matches_hand_computation_and_stops_at_the_end():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4, 9.0]])  # 9.0 sits on padding and must be ignored
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    adv, returns = d2.compute_gae(rewards, values, mask, gamma=1.0, lam=1.0)
    # lambda = 1: advantage = (sum of future rewards) - V(s_t)
    torch.testing.assert_close(adv, torch.tensor([[0.5, 0.8, 0.6, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    adv0, _ = d2.compute_gae(rewards, values, mask, gamma=1.0, lam=0.0)
    torch.testing.assert_close(adv0, torch.tensor([[-0.3, 0.2, 0.6, 0.0]]))  # one-step TD errors


def test_masked_whiten_uses_only_real_tokens():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(
        d2.masked_whiten(x, mask), torch.tensor([[-1.0, 1.0, 0.0]]), atol=1e-4, rtol=0
    )


def test_save_pretrained_round_trip_goes_through_the_same_loader(tmp_path):
    torch.manual_seed(0)
    lm, tokenizer = d2.load_policy_and_tokenizer("tiny", TINY)
    lm.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lm2, tokenizer2 = d2.load_policy_and_tokenizer(str(tmp_path), TINY)
    assert tokenizer2.padding_side == "left"
    assert tokenizer2.pad_token_id == tokenizer.pad_token_id != tokenizer2.eos_token_id
    assert len(tokenizer2) == len(tokenizer)
    batch = tokenizer2(["the movie was", "i"], padding=True, return_tensors="pt")
    torch.testing.assert_close(
        d2.lm_forward(lm2, batch["input_ids"], batch["attention_mask"])[0],
        d2.lm_forward(lm, batch["input_ids"], batch["attention_mask"])[0],
    )


# --- learning checks on a tiny configuration ---------------------------------------------


def test_pretraining_teaches_the_grammar(sft):
    lm, tokenizer, losses = sft
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    common.seed_everything(0)
    rollout = d2.generate(lm, tokenizer, d2.sample_prompts(np.random.default_rng(5), 64), TINY)
    words = d2.rollout_words(tokenizer, rollout)
    grammatical = np.mean(
        [d2.is_grammatical(w, bool(f)) for w, f in zip(words, rollout.finished, strict=True)]
    )
    assert grammatical > 0.6


def test_split_preferences_holds_out_the_first_pairs():
    data = d2.PreferenceData([[i] for i in range(10)], [[-i] for i in range(10)], list(range(10)))
    rest, held_out = d2.split_preferences(data, 0.3)
    assert held_out.chosen == [[0], [1], [2]] and held_out.gold_margin == [0, 1, 2]
    assert rest.rejected == [[-i] for i in range(3, 10)] and rest.gold_margin == list(range(3, 10))


def test_reward_model_training_keeps_the_weights_with_the_lowest_validation_loss(sft):
    lm, tokenizer, _ = sft
    rng = np.random.default_rng(0)

    def pairs(n: int) -> d2.PreferenceData:  # positive reviews preferred to negative ones
        reviews = [d2.sample_review(rng) for _ in range(4 * n)]
        ids = [tokenizer(" ".join(r))["input_ids"] for r in reviews]
        gold = [d2.gold_score(r, True) for r in reviews]
        good = [i for i, g in zip(ids, gold, strict=True) if g > 0][:n]
        bad = [i for i, g in zip(ids, gold, strict=True) if g < 0][:n]
        return d2.PreferenceData(good, bad, [1.0] * n)

    train, valid = pairs(96), pairs(48)
    torch.manual_seed(0)
    rm = d2.RewardModel(copy.deepcopy(lm.base_model), lm.config.hidden_size)
    start = d2.preference_loss(rm, valid, tokenizer.pad_token_id)
    config = replace(TINY, rm_epochs=2, rm_batch=16, rm_lr=3e-3, rm_checks_per_epoch=3)
    log = d2.train_reward_model(rm, train, valid, tokenizer.pad_token_id, config)
    assert len(log["losses"]) == 12 and log["valid_steps"] == [2, 4, 6, 8, 10, 12]
    kept = d2.preference_loss(rm, valid, tokenizer.pad_token_id)
    assert kept == pytest.approx(min(start, *log["valid_losses"]), abs=1e-6)
    assert kept < start  # it learned something, and kept it
    assert log["best_step"] == 2 * (1 + int(np.argmin(log["valid_losses"])))


def test_reward_model_agrees_with_the_hidden_rater_on_held_out_pairs(reward_model):
    _, stats = reward_model
    # ~165 held-out pairs (no ties) on a 150-step policy; the lesson's default run reaches >= 0.9
    assert stats["test_pairs"] > 120
    assert stats["rm_accuracy"] >= 0.8
    assert 0 < stats["rm_best_step"] <= len(stats["rm_losses"])
    assert len(stats["train_pairs"].chosen) == 1024 - 204 - 102  # minus test and validation


def test_short_seeded_ppo_run_raises_the_reward_model_score(sft, reward_model):
    lm, tokenizer, _ = sft
    rm, _ = reward_model
    frozen = lm.state_dict()["lm_head.weight"].clone()
    prompts = d2.sample_prompts(np.random.default_rng(7), 128)
    common.seed_everything(3)
    before = d2.evaluate(lm, lm, rm, tokenizer, prompts, TINY)
    policy, logs = d2.train_ppo(lm, rm, tokenizer, TINY, seed=0)
    common.seed_everything(3)
    after = d2.evaluate(policy.lm, lm, rm, tokenizer, prompts, TINY)
    assert after["rm_score"] > before["rm_score"] + 0.4
    assert before["kl"] == pytest.approx(0.0, abs=1e-5) and 0 < after["kl"] < 10
    assert all(k >= 0 for k in logs["kl"]) and 0 <= max(logs["clip_fraction"]) < 0.5
    torch.testing.assert_close(lm.state_dict()["lm_head.weight"], frozen)  # the reference stays put


def test_cli_quick_prints_the_headline_metrics_and_its_record_renders(tmp_path, capsys):
    record = tmp_path / "run.json"
    metrics = run_main(d2_main, "--quick", "--save-logs", str(record), capsys=capsys)
    line = json.dumps(metrics)
    expected = {"rm_accuracy", "gold_before", "gold_std_before", "gold_gain_std_kl"}
    assert expected | {"kl_after_kl", "kl_after_no_kl", "seconds"} <= metrics.keys()
    assert metrics["device"] == "cpu" and metrics["threads"] == 1  # the tiny model's defaults
    run = json.loads(record.read_text())
    assert (
        run["metrics"] == metrics
        and len(run["logs"]["kl"]["rm_score"]) == d2.QUICK["ppo_iterations"]
    )
    numbers = views_d.d2_sections(run, seeds=[])
    assert line in numbers["run-output"]  # the page shows the line exactly as printed


def test_the_tiny_model_defaults_to_the_cpu_and_gpt2_to_an_accelerator(monkeypatch):
    monkeypatch.delenv(common.DEVICE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert settings([])[2].type == "cpu"
    assert settings(["--model", "gpt2"])[2].type == "cuda"
    assert settings(["--model", "gpt2", "--device", "cpu"])[2].type == "cpu"
    monkeypatch.setenv(common.DEVICE_ENV_VAR, "cuda")  # asking through the environment
    assert settings([])[2].type == "cuda"


def test_hub_model_preset_sits_under_quick_and_the_flags_given():
    config, _, _ = settings(["--model", "gpt2", "--lr", "0.01", "--device", "cpu"])
    assert config.lr == 0.01 and config.rm_lr == d2.HUB_MODEL["rm_lr"]
    assert config.pretrain_steps == d2.HUB_MODEL["pretrain_steps"]
    config, _, _ = settings(["--model", "gpt2", "--quick", "--device", "cpu"])
    assert config.pretrain_steps == d2.QUICK["pretrain_steps"]
    assert config.pretrain_lr == d2.HUB_MODEL["pretrain_lr"]
    assert settings(["--kl-coef", "0.3"])[0].init_kl_coef == 0.3  # the old flag still works


def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects) -> None:
    assert_rejects("d2_rlhf_llm_with_pytorch", "--kl-coef -1")
