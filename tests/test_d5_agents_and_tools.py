"""D5: the calculator environment, token-in/token-out rollouts, masking, the arms, the bridge."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import run_main, torch_threads

from snippets.d5_agents_and_tools import __main__ as d5_main
from snippets.d5_agents_and_tools import env as tool_env
from snippets.d5_agents_and_tools import experiment, rollout, train

CFG = tool_env.EnvConfig()


@pytest.fixture(scope="module")
def tokenizer():
    """The environment's BPE tokenizer, trained on its transcripts (well under a second)."""
    return tool_env.build_tokenizer(0, CFG)


def _env(tokenizer, **changes) -> tool_env.CalcEnv:
    return tool_env.CalcEnv(tokenizer, tool_env.EnvConfig(**changes))


def _text(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids)


# ---------------------------------------------------------------- the calculator
def test_calculator_is_exact_with_precedence_and_parentheses() -> None:
    assert tool_env.calculate("2+3*4") == 14
    assert tool_env.calculate("(2+3)*4") == 20
    assert tool_env.calculate("10-3-2") == 5
    assert tool_env.calculate(" 9876 * 5432 ") == 53646432
    assert tool_env.calculate("123456789*987654321") == 121932631112635269  # beyond float's 2^53


@pytest.mark.parametrize(
    "expression", ["", "1+", "(1+2", "1+2)", "2**3", "__import__('os')", "1/2", "3 4", "1.5*2"]
)
def test_calculator_refuses_what_it_cannot_parse_instead_of_evaluating_it(expression: str) -> None:
    with pytest.raises(tool_env.CalcError):
        tool_env.calculate(expression)


def test_calculator_does_one_operation_per_call_so_a_times_b_plus_c_needs_two_calls() -> None:
    task = tool_env.Task(374, 48, 1250)
    with pytest.raises(tool_env.CalcError, match="at most 1 operation"):
        tool_env.calculate("374*48+1250", max_operations=1)
    first, second = task.calls
    assert tool_env.calculate(first, 1) == 17952
    assert second == "17952+1250"  # the second call uses the first call's result
    assert tool_env.calculate(second, 1) == task.answer == 19202


def test_tasks_mix_one_and_two_call_problems_with_numbers_of_the_configured_size() -> None:
    rng = np.random.default_rng(0)
    tasks = [tool_env.sample_task(rng, CFG) for _ in range(400)]
    two_step = [t for t in tasks if t.c is not None]
    assert 0.4 < len(two_step) / len(tasks) < 0.6
    assert all(10 <= t.a < 100 and 10 <= t.b < 100 for t in tasks)
    assert all(1000 <= t.c < 10000 for t in two_step)


# ---------------------------------------------------------------- the environment
def test_reset_returns_the_task_as_ids_and_the_same_seed_gives_the_same_task(tokenizer) -> None:
    env = _env(tokenizer)
    ids, info = env.reset(seed=7)
    assert _text(tokenizer, ids) == info["text"] == info["task"].text
    assert env.reset(seed=7)[1]["task"] == info["task"]
    assert env.reset(seed=8)[1]["task"] != info["task"]


def test_step_runs_the_call_appends_the_result_and_checks_the_final_answer_exactly(
    tokenizer,
) -> None:
    env = _env(tokenizer)
    env.reset(task=tool_env.Task(37, 48, 1000))
    encode = env.encode
    observation, reward, terminated, truncated, info = env.step(encode("<calc>37*48</calc>"))
    assert _text(tokenizer, observation) == "<result>1776</result>\n"
    assert (reward, terminated, truncated, info["kind"]) == (0.0, False, False, "call")
    eot = [tokenizer.eos_token_id]
    assert env.step(encode("A:2777") + eot)[1:3] == (0.0, True)  # off by one: no reward
    env.reset(task=tool_env.Task(37, 48, 1000))
    observation, reward, terminated, truncated, _ = env.step(encode("A:2776") + eot)
    assert (observation, reward, terminated, truncated) == ([], 1.0, True, False)


def test_a_malformed_turn_costs_a_turn_and_the_turn_limit_is_truncation(tokenizer) -> None:
    env = _env(tokenizer, max_turns=2)
    env.reset(task=tool_env.Task(37, 48))
    observation, _, terminated, truncated, info = env.step(env.encode("calc>37*48</calc>"))
    assert info["kind"] == "malformed" and (terminated, truncated) == (False, False)
    assert _text(tokenizer, observation).startswith("<result>error:")
    observation, reward, terminated, truncated, _ = env.step(env.encode("<calc>37*48*1</calc>"))
    assert "at most 1 operation" in _text(tokenizer, observation)
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert (env.calls, env.valid_calls) == (1, 0)


# ---------------------------------------------------------------- token in, token out
def test_first_drift_is_the_first_differing_position_or_none() -> None:
    assert rollout.first_drift([1, 2, 3], [1, 2, 3]) is None
    assert rollout.first_drift([1, 2, 3], [1, 5, 3]) == 1
    assert rollout.first_drift([1, 2, 3], [1, 2]) == 2


def test_retokenizing_a_trajectory_merges_across_the_turn_boundary(tokenizer) -> None:
    """The call ends with ``>``, the observation starts with ``<``: re-encoded, they fuse."""
    demo = train.demonstration(_env(tokenizer), 3, "correct", np.random.default_rng(0))
    again = rollout.retokenize(tokenizer, demo.ids)
    position = rollout.first_drift(demo.ids, again)
    first_observation = demo.action_mask.index(0, demo.action_mask.index(1))
    assert position == first_observation - 1  # the last token of the first call
    assert tokenizer.decode(demo.ids[position : position + 2]) == "><"
    assert tokenizer.decode([again[position]]) == "><"  # one token the sampler never produced
    assert len(again) < len(demo.ids)
    assert tokenizer.decode(again) == tokenizer.decode(demo.ids)  # the text is the same


def test_a_non_canonical_sampled_split_is_lost_when_text_is_re_encoded(tokenizer) -> None:
    """The sampler may spell 17952 digit by digit; BPE re-encodes it with its merges."""
    digit_by_digit = [tokenizer.convert_tokens_to_ids(d) for d in "17952"]
    again = rollout.retokenize(tokenizer, digit_by_digit)
    assert tokenizer.decode(again) == "17952" and len(again) < 5
    assert rollout.first_drift(digit_by_digit, again) is not None


@pytest.fixture(scope="module")
def sampled(tokenizer):
    """Eight episodes of a random tiny Qwen2, with every id the environment was handed."""
    with torch_threads(1):
        _, lm = train.policy_tokenizer_model(0, CFG)
        envs = [_env(tokenizer, max_turns=2) for _ in range(8)]
        handed: list[list[list[int]]] = [[] for _ in envs]
        for env, log in zip(envs, handed, strict=True):
            step = env.step
            env.step = lambda ids, step=step, log=log: (log.append(list(ids)), step(ids))[1]
        trajectories = rollout.rollout(lm, envs, list(range(8)), max_turn_tokens=6)
    return lm, trajectories, handed


def test_the_trainer_scores_exactly_the_ids_the_model_sampled(sampled) -> None:
    lm, trajectories, handed = sampled
    for trajectory, turns in zip(trajectories, handed, strict=True):
        actions = [i for i, m in zip(trajectory.ids, trajectory.action_mask, strict=True) if m]
        assert actions == [token for turn in turns for token in turn]
    batch = rollout.collate(trajectories, pad_id=0)
    with torch_threads(1), torch.no_grad():
        rescored = rollout.token_logprobs(lm, batch)
    mask = batch.action_mask.bool()
    assert torch.allclose(rescored[mask], batch.old_logprobs[mask], atol=1e-5)


def test_rollouts_encode_only_environment_text_never_a_sampled_turn(tokenizer, monkeypatch) -> None:
    encoded: list[str] = []
    original = type(tokenizer).__call__

    def spy(self, text, *args, **kwargs):
        encoded.append(text)
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", spy)
    with torch_threads(1):
        _, lm = train.policy_tokenizer_model(1, CFG)
        rollout.rollout(lm, [_env(tokenizer, max_turns=2) for _ in range(4)], [0, 1, 2, 3], 4)
    assert encoded and all(t.startswith(("Q:", "<result>")) for t in encoded)


def test_collate_shifts_the_action_mask_to_the_positions_that_predict_actions() -> None:
    a = rollout.Trajectory([5, 6, 7, 8], [0, 1, 0, 1], [0.0, -1.0, 0.0, -2.0])
    b = rollout.Trajectory([5, 6], [0, 1], [0.0, -3.0])
    batch = rollout.collate([a, b], pad_id=0)
    assert batch.ids.tolist() == [[5, 6, 7, 8], [5, 6, 0, 0]]
    assert batch.action_mask.tolist() == [[1, 0, 1], [1, 0, 0]]
    assert batch.old_logprobs.tolist() == [[-1.0, 0.0, -2.0], [-3.0, 0.0, 0.0]]


# ---------------------------------------------------------------- loss masking
def _hand_batch() -> rollout.Batch:
    """Two trajectories of one group: task, action, observation, action (and padding)."""
    a = rollout.Trajectory([1, 2, 3, 4, 5, 6], [0, 1, 1, 0, 0, 1], [0.0, -1, -1, 0, 0, -1])
    b = rollout.Trajectory([1, 2, 3, 4, 5], [0, 1, 0, 0, 1], [0.0, -1, 0, 0, -1])
    a.reward, b.reward = 1.0, 0.0
    return rollout.collate([a, b], pad_id=0)


def test_observation_tokens_get_exactly_zero_gradient_hand_computed() -> None:
    """G = 2, rewards (1, 0): A = ±0.5 / (std + 1e-4) with std = √0.5; dapo divides by 5 actions.

    On-policy the ratio is 1, so ∂loss/∂log π = -A / 5 on an action and 0 elsewhere.
    """
    batch = _hand_batch()
    logprobs = batch.old_logprobs.clone().requires_grad_(True)
    ref = batch.old_logprobs - 0.3  # a KL term too: it must not reach observations either
    cfg = train.TrainConfig(beta=0.1)
    loss, _ = train.trajectory_grpo_loss(logprobs, batch, 2, cfg, ref_logprobs=ref)
    loss.backward()
    advantage = 0.5 / (math.sqrt(0.5) + 1e-4)
    # d/dx [(e^(q-x) - (q-x) - 1) e^(x-old)] at x = old is (1 - e^(q-x)) + k3 = x - q = 0.3
    kl_grad = 0.1 * 0.3 / 5
    mask = batch.action_mask.float()
    expected = torch.tensor([[-advantage], [advantage]]) / 5 * mask + kl_grad * mask
    assert torch.allclose(logprobs.grad, expected, atol=1e-6)
    assert logprobs.grad[mask == 0].abs().max() == 0.0


def test_without_the_mask_observations_receive_gradient_as_if_the_model_had_written_them() -> None:
    batch = _hand_batch()
    logprobs = batch.old_logprobs.clone().requires_grad_(True)
    cfg = train.TrainConfig(mask_observations=False)
    train.trajectory_grpo_loss(logprobs, batch, 2, cfg)[0].backward()
    counted = train.loss_mask(batch, mask_observations=False)
    assert counted.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]  # not the task, not padding
    observation = (counted > 0) & (batch.action_mask == 0)
    assert (logprobs.grad[observation] != 0).all()


# ---------------------------------------------------------------- demonstrations and SFT
def test_demonstrations_are_imperfect_and_keep_the_environments_observation_ids(tokenizer) -> None:
    cfg = train.TrainConfig(demonstrations=300)
    demos = train.demonstrations(_env(tokenizer), cfg, np.random.default_rng(0))
    summary = train.summarize(demos)
    assert 0.2 < summary["success"] < 0.4  # correct calls (30 %) succeed, guesses fail
    assert 0.6 < summary["call_validity"] < 0.95  # the malformed calls are counted as calls
    assert summary["malformed_turns"] > 0.05
    demo = next(d for d in demos if d.kinds[0] == "call" and d.reward == 1.0)
    call_end = demo.action_mask.index(0, demo.action_mask.index(1))
    observation_end = demo.action_mask.index(1, call_end)
    expression = tool_env.CALL.search(tokenizer.decode(demo.ids)).group(1)
    result = tool_env.result_text(tool_env.calculate(expression))
    assert (
        demo.ids[call_end:observation_end]
        == tokenizer(result, add_special_tokens=False)["input_ids"]
    )


def test_a_short_sft_on_demonstrations_makes_the_model_write_valid_calls(tokenizer) -> None:
    """A random model never closes a call; 60 SFT steps (and 10 annealing) on a mix heavy in
    calls teach the format."""
    with torch_threads(1):
        _, lm = train.policy_tokenizer_model(0, CFG)
        rng = np.random.default_rng(0)
        cfg = train.TrainConfig(
            demonstrations=400,
            correct_share=0.6,
            direct_share=0.2,
            sft_steps=60,
            sft_anneal_steps=10,
            sft_batch=16,
            sft_lr=1e-2,
        )
        demos = train.demonstrations(_env(tokenizer), cfg, rng)
        losses = train.sft(lm, demos, tokenizer.pad_token_id, cfg, rng)
        envs = [_env(tokenizer) for _ in range(16)]
        after = train.summarize(rollout.rollout(lm, envs, list(range(100, 116))))
    assert len(losses) == 60 + 10  # without a check: sft_steps, then the annealing steps
    assert losses[-1] < losses[0] / 2
    assert after["calls_per_task"] > 0.3 and after["call_validity"] > 0.3


def test_a_grpo_step_plays_each_task_g_times_and_all_failing_groups_leave_the_model_unchanged(
    tokenizer,
) -> None:
    """A random model never answers right: every group's rewards are 0, so every advantage is."""
    cfg = train.TrainConfig(group_size=4, max_turn_tokens=4)
    with torch_threads(1):
        _, lm = train.policy_tokenizer_model(2, CFG)
        before = [p.detach().clone() for p in lm.parameters()]
        optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
        envs = [_env(tokenizer, max_turns=2) for _ in range(8)]
        stats = train.grpo_step(
            lm, optimizer, envs, [11, 12], cfg, torch.Generator().manual_seed(0)
        )
    assert [e.task for e in envs[:4]] == [envs[0].task] * 4 != [envs[4].task] * 4
    assert stats["success"] == 0.0 and stats["loss"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, lm.parameters(), strict=True))


def test_summary_counts_calls_validity_endings_and_imitated_tool_output() -> None:
    a = rollout.Trajectory([], [], [], reward=1.0, terminated=True, valid_calls=2)
    a.kinds = ["call", "call", "answer"]
    b = rollout.Trajectory([], [], [], truncated=True, valid_calls=0, imitations=1)
    b.kinds = ["malformed", "call"]
    summary = train.summarize([a, b])
    assert summary == {
        "success": 0.5,
        "call_validity": 2 / 3,
        "calls_per_task": 1.5,
        "truncated": 0.5,
        "malformed_turns": 0.5,
        "imitated_results": 0.5,
    }


# ---------------------------------------------------------------- per-turn credit and the arms
def _turn_batch() -> rollout.Batch:
    """One group of two, both failing: a valid call then an answer; a malformed turn then a bad call."""
    a = rollout.Trajectory([9, 1, 2, 7, 3], [0, 1, 1, 0, 1], [0.0, -1, -1, 0, -1])
    a.kinds, a.valid_turns = ["call", "answer"], [True, False]
    b = rollout.Trajectory([9, 4, 7, 1, 2, 7], [0, 1, 0, 1, 1, 0], [0.0, -1, 0, -1, -1, 0])
    b.kinds, b.valid_turns = ["malformed", "call"], [False, False]
    return rollout.collate([a, b], pad_id=0)


def test_turn_credit_rewards_a_valid_call_in_its_own_turn_only_hand_computed() -> None:
    """Scores 1, 1 (a's call) and 0, 0, 0 (b's two turns): the group's mean is 2/5."""
    batch = _turn_batch()
    nan = float("nan")
    assert torch.equal(
        batch.call_scores.nan_to_num(-1.0),
        torch.tensor([[1.0, 1, nan, nan, nan], [0, nan, 0, 0, nan]]).nan_to_num(-1.0),
    )
    expected = torch.tensor([[0.6, 0.6, 0, 0, 0], [-0.4, 0, -0.4, -0.4, 0]])
    assert torch.allclose(train.turn_credit(batch, 2), expected, atol=1e-7)


def test_with_equal_final_rewards_only_the_turn_credit_moves_the_policy_hand_computed() -> None:
    """Both episodes fail, so the trajectory advantage is 0; dapo divides by the 6 actions."""
    batch = _turn_batch()
    logprobs = batch.old_logprobs.clone().requires_grad_(True)
    cfg = train.TrainConfig(turn_bonus=0.5)
    train.trajectory_grpo_loss(logprobs, batch, 2, cfg)[0].backward()
    expected = -0.5 * train.turn_credit(batch, 2) / 6 * batch.action_mask
    assert torch.allclose(logprobs.grad, expected, atol=1e-7)
    plain = batch.old_logprobs.clone().requires_grad_(True)
    loss, _ = train.trajectory_grpo_loss(plain, batch, 2, train.TrainConfig())
    assert loss.item() == 0.0  # without the credit, a group that all fails teaches nothing


def test_the_arms_differ_only_in_the_mask_and_the_turn_credit() -> None:
    cfg = experiment.Config(bonus=0.3)
    arms = {arm: experiment.arm_config(cfg, arm) for arm in ("mask", "no_mask", "turn_reward")}
    assert [(a.mask_observations, a.turn_bonus) for a in arms.values()] == [
        (True, 0.0),
        (False, 0.0),
        (True, 0.3),
    ]
    assert experiment.env_config(cfg) == tool_env.EnvConfig()


def test_tool_only_tokens_are_the_calculators_words_not_digits_or_call_tags(tokenizer) -> None:
    ids = experiment.observation_only_ids(tokenizer)
    pieces = [tokenizer.decode([i]) for i in ids]
    assert pieces and not any(ch.isdigit() for piece in pieces for ch in piece)
    assert "result" in "".join(pieces)
    call = tokenizer(tool_env.call_text("12*34") + "A:5", add_special_tokens=False)["input_ids"]
    assert not ids & set(call)


def test_per_turn_credit_teaches_valid_calls_in_a_few_steps_and_spams_them() -> None:
    """Seed 0, a short SFT, six GRPO steps: the local credit needs no success to act on."""
    cfg = experiment.Config(
        hidden=64,
        sft_steps=60,
        sft_min_success=0.0,
        sft_anneal_steps=0,
        sft_batch=16,
        sft_lr=1e-2,
        demonstrations=400,
        steps=6,
        eval_tasks=32,
        arm=("turn_reward",),
        tasks_per_step=4,
    )
    with torch_threads(1):
        result = experiment.run(cfg, seed=0)
    before, after = result["before"], result["arms"]["turn_reward"]["after"]
    assert after["call_validity"] >= before["call_validity"] + 0.1
    assert after["calls_per_task"] >= before["calls_per_task"] + 0.5  # more calls than needed


def test_the_quick_command_prints_every_arms_figures(capsys, tmp_path) -> None:
    record = tmp_path / "run.json"
    metrics = run_main(d5_main.main, "--quick", "--record", str(record), capsys=capsys)
    for arm in ("mask", "no_mask", "turn_reward"):
        assert 0.0 <= metrics[f"success_after_{arm}"] <= 1.0
        assert f"success_gain_{arm}" in metrics
    saved = json.loads(record.read_text())
    assert len(saved["transcripts_before"]) == 4 and saved["transcripts_before"][0].startswith("Q:")


def test_bad_settings_are_refused_with_one_line(assert_rejects) -> None:
    assert_rejects("d5_agents_and_tools", "--arm ppo")
    assert_rejects("d5_agents_and_tools", "--arm mask,mask")
    assert_rejects("d5_agents_and_tools", "--two-step-share 1.5")
    assert_rejects("d5_agents_and_tools", "--steps 0")
    assert_rejects("d5_agents_and_tools", "--threads 0")


# ---------------------------------------------------------------- the TRL bridge (trl_env.py)
# TRL 1.16's GRPOTrainer(environment_factory=...) with the calculator as the tool `calc`, on D3's
# tiny Qwen2 and a BPE tokenizer trained here, after a short SFT on tool-calling chats.
def test_trl_environment_resets_to_a_seeded_task_and_logs_every_calc_call() -> None:
    from transformers.utils import get_json_schema

    from snippets.d5_agents_and_tools import trl_env

    ledger: list[tuple[str, str]] = []
    env = trl_env.CalculatorEnv(CFG, ledger)
    text = env.reset(seed=3, prompt=[{"role": "user", "content": ""}])  # TRL passes the row
    assert text == env.task.text.strip() and text.startswith("Q:")
    assert trl_env.CalculatorEnv(CFG, []).reset(seed=3) == text  # same seed, same task
    first = env.task.calls[0]
    assert env.calc(first) == str(tool_env.calculate(first))
    with pytest.raises(tool_env.CalcError):  # TRL turns it into {"error": ...} for the model
        env.calc("1+2*3")
    assert env.calls == 2
    assert ledger == [(first, str(tool_env.calculate(first))), ("1+2*3", ledger[1][1])]
    assert ledger[1][1] == "error: at most 1 operation per call"
    schema = get_json_schema(env.calc)["function"]  # what TRL shows the model
    assert schema["name"] == "calc" and schema["parameters"]["required"] == ["expression"]
    assert schema["parameters"]["properties"]["expression"]["type"] == "string"


def test_trl_exact_answer_reward_reads_the_last_turn_against_each_rollouts_task() -> None:
    from snippets.d5_agents_and_tools import trl_env

    envs = [trl_env.CalculatorEnv(CFG, []) for _ in range(4)]
    for env in envs:
        env.reset(seed=0)
    answer = envs[0].task.answer
    said = [f"A:{answer}", f"A:{answer + 1}", f"{answer}", f"A:{answer} "]
    completions = [[{"role": "assistant", "content": text}] for text in said]
    assert trl_env.exact_answer(completions, envs) == [1.0, 0.0, 0.0, 1.0]


def _tool_tokenizer():
    from snippets.d3_grpo_rloo_and_dpo import trl_tiny

    tokenizer = trl_tiny.train_tokenizer(['{"name": "calc", "arguments": {"expression"'], 300)
    tokenizer.add_tokens(["<tool_call>", "</tool_call>"])
    return tokenizer


def test_trl_rendered_chat_has_the_ids_of_the_whole_text_and_masks_all_but_the_turns() -> None:
    from trl.chat_template_utils import add_response_schema, parse_response

    from snippets.d5_agents_and_tools import trl_env

    tokenizer, tools = _tool_tokenizer(), [trl_env.CalculatorEnv(CFG, []).calc]
    chat = trl_env.solution_messages(tool_env.Task(37, 48, 1250))
    turns = trl_env.rendered_turns(tokenizer, chat, tools)
    whole = tokenizer.apply_chat_template(chat, tools=tools, tokenize=False).removesuffix("\n")
    assert turns.ids == tokenizer(whole, add_special_tokens=False)["input_ids"]
    assert turns.kinds == ["call", "call", "answer"]
    actions = tokenizer.decode([i for i, m in zip(turns.ids, turns.action_mask, strict=True) if m])
    head = '<tool_call>\n{"name": "calc", "arguments": {"expression": '
    call = head + '"%s"}}\n</tool_call><|im_end|>'
    assert actions == call % "37*48" + call % "1776+1250" + "A:3026<|im_end|>"
    # TRL's parser reads the first turn back as the call; a broken one as plain text
    add_response_schema(tokenizer)
    start = turns.action_mask.index(1)
    end = turns.ids.index(tokenizer.eos_token_id, start) + 1
    parsed = parse_response(tokenizer, turns.ids[start:end], turns.ids[:start], tools)
    function = parsed["tool_calls"][0]["function"]
    assert function == {"name": "calc", "arguments": {"expression": "37*48"}}
    text = (call % "37*48").replace("}}", "}")  # one brace short: not JSON
    broken = tokenizer(text, add_special_tokens=False)["input_ids"]
    parsed = parse_response(tokenizer, broken, turns.ids[:start], tools)
    assert parsed == {"role": "assistant", "content": text.removesuffix("<|im_end|>")}  # no call


def test_trl_refuses_tools_with_a_hand_written_chat_template_but_knows_qwen2_5s() -> None:
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    tokenizer = _tool_tokenizer()
    assert supports_tool_calling(tokenizer)
    add_response_schema(tokenizer)  # Qwen2.5's template: TRL knows how to parse its calls
    tokenizer.chat_template = (  # renders calls and results, but TRL does not know it
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
        "{% for c in m.get('tool_calls', []) %}{{ c['function'] | tojson }}{% endfor %}\n{% endfor %}"
    )
    assert supports_tool_calling(tokenizer)
    refusal = "Unrecognized chat template, failed to add response schema"
    with pytest.raises(ValueError, match=refusal):
        add_response_schema(tokenizer)  # what GRPOTrainer(tools=...) calls first


def test_trl_sft_with_the_shared_head_cached_has_the_loss_of_the_whole_sequences() -> None:
    from snippets.d5_agents_and_tools import trl_env

    tokenizer, tools = _tool_tokenizer(), [trl_env.CalculatorEnv(CFG, []).calc]
    rng = np.random.default_rng(0)
    chats = [trl_env.solution_messages(tool_env.sample_task(rng, CFG)) for _ in range(4)]
    demos = [trl_env.rendered_turns(tokenizer, chat, tools) for chat in chats]
    with torch_threads(1):
        _assert_cached_sft_loss_is_the_whole_sequences_loss(tokenizer, demos)


def _assert_cached_sft_loss_is_the_whole_sequences_loss(tokenizer, demos) -> None:
    from snippets.d3_grpo_rloo_and_dpo import trl_tiny
    from snippets.d5_agents_and_tools import trl_env

    torch.manual_seed(0)
    lm = trl_tiny.build_model(tokenizer)
    lm.config.max_position_embeddings = 1024
    cfg = trl_env.Config(sft_steps=1, sft_batch=3)
    rows = [demos[i] for i in np.random.default_rng(1).integers(0, 4, size=3)]
    width = max(len(d.ids) for d in rows)
    ids = torch.full((3, width), tokenizer.pad_token_id)
    turns, attention = torch.zeros((3, width)), torch.zeros((3, width), dtype=torch.long)
    for row, d in enumerate(rows):
        ids[row, : len(d.ids)], attention[row, : len(d.ids)] = torch.tensor(d.ids), 1
        turns[row, : len(d.ids)] = torch.tensor(d.action_mask).float()
    with torch.no_grad():
        logits = lm(input_ids=ids, attention_mask=attention).logits[:, :-1]
    logprobs = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    whole = -(logprobs * turns[:, 1:]).sum() / turns[:, 1:].sum()
    cached = trl_env.sft(lm, demos, tokenizer.pad_token_id, cfg, np.random.default_rng(1))
    assert cached[0] == pytest.approx(whole.item(), abs=1e-5)


def test_trl_grpo_trainer_executes_a_calc_tool_call_and_masks_its_output(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from snippets import common
    from snippets.d5_agents_and_tools import trl_env

    monkeypatch.setenv(common.DEVICE_ENV_VAR, "cpu")
    out = run_main(trl_env.main, "--quick", capsys=capsys)  # SFT, then 2 GRPO steps on the CPU
    assert (out["steps"], out["device"]) == (2, "cpu")
    batch = trl_env.Config().tasks_per_step * trl_env.Config().group_size
    assert out["tool_calls"] >= 1  # calls executed by our environments; TRL counted the same
    assert out["tool_calls"] == round(batch * sum(out["calls_per_step"]))
    assert out["tool_reply_tokens"] > 0 and "<tool_response>" in out["example"]
    assert out["tool_reply_tokens_in_loss"] == 0  # the tool's replies had loss mask 0 ...
    assert out["action_tokens_in_loss"] > 0  # ... the model's own tokens 1
    assert out["experimental"] == [
        "You are using 'environment_factory', which is an experimental feature. This API may "
        "change or be removed at any time without prior notice. Silence this warning by setting "
        "environment variable TRL_EXPERIMENTAL_SILENCE=1."
    ]


def test_trl_env_refuses_bad_input_the_same_way(assert_rejects) -> None:
    assert_rejects("d5_agents_and_tools.trl_env", "--group-size 1")
    assert_rejects("d5_agents_and_tools.trl_env", "--context 128")
    assert_rejects("d5_agents_and_tools.trl_env", "--max-tool-calls 0")
