"""Lesson D5, training: SFT on imperfect demonstrations, then GRPO over whole trajectories.

The demonstrations are episodes played by a script in the real environment, token in and
token out, so their observations are the environment's own ids. They are imperfect on
purpose: some solve the task with correct calls, some answer at once (a guess, usually wrong),
some write a malformed call. The SFT model therefore calls the tool only some of the time,
and RL has something to learn: when to call, how, and what to do with the result.

The GRPO loss is D3's, on every token of the trajectory, with one advantage per trajectory;
its mask is the action mask, so observation tokens get no gradient and no KL.
"""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from snippets import common
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import losses, trl_tiny
from snippets.d5_agents_and_tools import env as tool_env
from snippets.d5_agents_and_tools.rollout import (
    Batch,
    Trajectory,
    collate,
    rollout,
    token_logprobs,
)

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class TrainConfig:
    """Settings of the demonstrations, the SFT and one GRPO step."""

    correct_share: common.Prob = 0.3  # demonstrations that call the tool correctly
    direct_share: common.Prob = 0.5  # ... that answer at once (a guess); the rest are malformed
    demonstrations: common.PosInt = 2000  # scripted episodes for SFT
    sft_steps: common.PosInt = 1000  # SFT steps, at least ...
    sft_min_success: common.Prob = 0.1  # ... then on until held-out success reaches this ...
    sft_check_every: common.PosInt = 250  # ... checked every this many steps ...
    sft_max_steps: common.PosInt = 3000  # ... but never more steps than this ...
    sft_anneal_steps: common.NonNegInt = 500  # ... then this many more, the rate falling to 0
    sft_batch: common.PosInt = 32  # episodes per SFT step
    sft_lr: common.PosFloat = 3e-3  # AdamW learning rate of the SFT
    group_size: common.PosInt = 8  # G: episodes per task in GRPO
    temperature: common.PosFloat = 1.0  # sampling temperature
    epsilon: common.Prob = 0.2  # clip range of the ratio
    beta: common.NonNegFloat = 0.0  # KL weight
    mask_observations: bool = True  # False: the ablation, observations count as actions
    turn_bonus: common.NonNegFloat = 0.0  # per-turn credit λ for a call the calculator ran
    tasks_per_step: common.PosInt = 8  # tasks per GRPO step (each played G times)
    max_turn_tokens: common.PosInt = 16  # tokens the model may write in one turn
    lr: common.PosFloat = 1e-3  # Adam learning rate of GRPO


# --8<-- [end:config]


# --8<-- [start:demonstrations]
def guess(task: tool_env.Task, rng: np.random.Generator) -> int:
    """A direct answer without the tool: the exact answer with one digit changed."""
    digits = list(str(task.answer))
    position = int(rng.integers(len(digits)))
    digits[position] = str((int(digits[position]) + int(rng.integers(1, 10))) % 10)
    return int("".join(digits)) if digits[0] != "0" or len(digits) == 1 else task.answer + 1


def malformed(expression: str, rng: np.random.Generator) -> str:
    """A broken call: a wrong opening tag, a missing operand, or too many operations at once.

    Each ends with ``</calc>``, so the turn ends where a rollout's would.
    """
    broken = [
        f"calc>{expression}</calc>",
        f"<calc>{expression}*</calc>",
        f"<calc>({expression})*1</calc>",
    ]
    return broken[int(rng.integers(len(broken)))]


def demonstration(
    env: tool_env.CalcEnv, seed: int, style: str, rng: np.random.Generator
) -> Trajectory:
    """Play one scripted episode in ``env``: ``"correct"``, ``"direct"`` or ``"malformed"``.

    The script's turns are encoded one by one and the environment's observations are kept as
    ids, exactly as a rollout would build them.
    """
    ids, info = env.reset(seed=seed)
    task = info["task"]
    trajectory = Trajectory([], [], [])
    trajectory.extend(ids, sampled=False)
    if style == "correct":
        actions = [call for call, _ in tool_env.solution_turns(task)]
    elif style == "direct":
        actions = [tool_env.answer_text(guess(task, rng)) + tool_env.EOT]
    else:
        actions = [
            malformed(task.calls[0], rng),
            tool_env.answer_text(guess(task, rng)) + tool_env.EOT,
        ]
    for action in actions:
        action_ids = (
            env.encode(action)
            if not action.endswith(tool_env.EOT)
            else (env.encode(action.removesuffix(tool_env.EOT)) + [env.tokenizer.eos_token_id])
        )
        trajectory.extend(action_ids, sampled=True)
        observation, reward, terminated, truncated, step_info = env.step(action_ids)
        trajectory.extend(observation, sampled=False)
        trajectory.reward += reward
        trajectory.terminated, trajectory.truncated = terminated, truncated
        trajectory.kinds.append(step_info["kind"])
        trajectory.valid_turns.append(step_info["valid"])
        trajectory.valid_calls = env.valid_calls
        if trajectory.done:
            break
    return trajectory


def demonstrations(
    env: tool_env.CalcEnv, cfg: TrainConfig, rng: np.random.Generator
) -> list[Trajectory]:
    """``cfg.demonstrations`` scripted episodes in the mix of styles the config sets."""
    shares = [cfg.correct_share, cfg.direct_share, 1.0 - cfg.correct_share - cfg.direct_share]
    styles = rng.choice(["correct", "direct", "malformed"], size=cfg.demonstrations, p=shares)
    seeds = rng.integers(0, 2**31, size=cfg.demonstrations)
    return [demonstration(env, int(s), str(k), rng) for s, k in zip(seeds, styles, strict=True)]


# --8<-- [end:demonstrations]


# --8<-- [start:sft]
def sft(
    lm: nn.Module,
    demos: list[Trajectory],
    pad_id: int,
    cfg: TrainConfig,
    rng: np.random.Generator,
    success: Callable[[], float] | None = None,
) -> list[float]:
    """Next-token cross-entropy on the demonstrations' action tokens only.

    The same action mask as in RL: the model learns to write turns, not to predict the
    calculator's output. Copying numbers from the task and the results into calls and
    answers appears abruptly, after a number of steps that depends on the seed; so, given a
    ``success`` check (held-out success of the model as it is), the SFT goes on past
    ``sft_steps`` until that success reaches ``sft_min_success`` (D3's band rule, one-sided).
    Then ``sft_anneal_steps`` more steps lower the learning rate linearly to zero, so the SFT
    ends on a settled model, not in the middle of large steps.

    Returns:
        The loss of every step.
    """
    optimizer = torch.optim.AdamW(lm.parameters(), lr=cfg.sft_lr, weight_decay=0.0)
    lm.train()
    history: list[float] = []
    steps = max(cfg.sft_steps, cfg.sft_max_steps if success else 0)
    for _ in common.progress(range(steps), desc="SFT on demonstrations"):
        history.append(_sft_step(lm, optimizer, demos, pad_id, cfg, rng))
        past = len(history) - cfg.sft_steps
        if past >= 0 and past % cfg.sft_check_every == 0:
            if success is None or _checked(lm, success) >= cfg.sft_min_success:
                break
    # Copying has appeared (or the cap was reached): now let the rate fall to zero.
    schedule = torch.linspace(cfg.sft_lr, 0.0, cfg.sft_anneal_steps + 1)[:-1].tolist()
    for lr in common.progress(schedule, desc="SFT, annealing"):
        optimizer.param_groups[0]["lr"] = lr
        history.append(_sft_step(lm, optimizer, demos, pad_id, cfg, rng))
    lm.eval()
    return history


def _sft_step(
    lm: nn.Module,
    optimizer: torch.optim.Optimizer,
    demos: list[Trajectory],
    pad_id: int,
    cfg: TrainConfig,
    rng: np.random.Generator,
) -> float:
    """One SFT step on a batch of demonstrations drawn with replacement; returns its loss."""
    rows = rng.integers(0, len(demos), size=cfg.sft_batch)
    batch = collate([demos[i] for i in rows], pad_id)
    logprobs = token_logprobs(lm, batch)
    mask = batch.action_mask.float()
    loss = -(logprobs * mask).sum() / mask.sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _checked(lm: nn.Module, success: Callable[[], float]) -> float:
    """Run a check with the model in eval mode, then go back to training."""
    lm.eval()
    value = success()
    lm.train()
    return value


# --8<-- [end:sft]


# --8<-- [start:loss]
def loss_mask(batch: Batch, mask_observations: bool = True) -> torch.Tensor:
    """The tokens the policy loss and the KL count.

    The actions; or, in the ablation, every token after the task, observations included.
    """
    if mask_observations:
        return batch.action_mask.float()
    after_task = batch.action_mask.cumsum(dim=1) > 0  # from the first sampled token on
    return (after_task & (batch.attention_mask[:, 1:] > 0)).float()


def turn_credit(batch: Batch, group_size: int) -> torch.Tensor:
    """Per-turn credit: each turn's call score minus its group's mean score, on that turn only.

    A turn that was not an answer scores 1 if the calculator ran its call, else 0
    (``batch.call_scores``); its tokens get the score minus the mean over the group's scored
    tokens. Answer turns and observations get 0. Unlike the final reward, this credit is local:
    a valid call is rewarded in the turn that made it, whatever the episode's outcome.
    """
    scores = batch.call_scores.view(-1, group_size, batch.call_scores.shape[1])
    scored = ~scores.isnan()
    mean = scores.nan_to_num().sum((1, 2), keepdim=True) / scored.sum((1, 2), keepdim=True).clamp(
        min=1
    )
    return torch.where(scored, scores - mean, 0.0).view_as(batch.call_scores)


def trajectory_grpo_loss(
    logprobs: torch.Tensor,
    batch: Batch,
    group_size: int,
    cfg: TrainConfig,
    ref_logprobs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """D3's GRPO loss over whole trajectories: one reward, one advantage for every token.

    Args:
        logprobs: log π_θ at every position, ``(B, T - 1)`` (:func:`token_logprobs`).
        batch: the trajectories, ``group_size`` per task, groups contiguous.
        group_size: G.
        cfg: ``epsilon``, ``beta`` and ``mask_observations``.
        ref_logprobs: log π_ref at every position, for ``beta > 0``.

    Returns:
        ``(loss, stats)`` as :func:`losses.grpo_loss`.
    """
    advantages = losses.group_advantages(batch.rewards, group_size)
    if cfg.turn_bonus > 0:
        advantages = advantages[:, None] + cfg.turn_bonus * turn_credit(batch, group_size)
    mask = loss_mask(batch, cfg.mask_observations)
    old = torch.where(batch.action_mask > 0, batch.old_logprobs, logprobs.detach())
    return losses.grpo_loss(
        logprobs,
        old,
        advantages,
        mask,
        ref_logprobs=ref_logprobs,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        how="dapo",
    )


# --8<-- [end:loss]


# --8<-- [start:grpo-step]
def grpo_step(
    lm: nn.Module,
    optimizer: torch.optim.Optimizer,
    envs: list[tool_env.CalcEnv],
    task_seeds: list[int],
    cfg: TrainConfig,
    generator: torch.Generator,
    ref_lm: nn.Module | None = None,
) -> dict[str, float]:
    """One GRPO iteration over whole episodes: G episodes per task, one gradient step.

    ``envs`` holds ``len(task_seeds) * G`` environments; resetting the G of a group with the
    same seed gives them the same task. The samples are fresh, so the ratio is 1 (on-policy).

    Returns:
        The episodes' :func:`summarize` figures, the loss and its statistics.
    """
    seeds = [seed for seed in task_seeds for _ in range(cfg.group_size)]
    trajectories = rollout(lm, envs, seeds, cfg.max_turn_tokens, cfg.temperature, generator)
    batch = collate(trajectories, envs[0].tokenizer.pad_token_id)
    lm.train()
    logprobs = token_logprobs(lm, batch, cfg.temperature)
    ref_logprobs = None
    if cfg.beta > 0 and ref_lm is not None:
        with torch.no_grad():
            ref_logprobs = token_logprobs(ref_lm, batch, cfg.temperature)
    loss, stats = trajectory_grpo_loss(logprobs, batch, cfg.group_size, cfg, ref_logprobs)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
    optimizer.step()
    lm.eval()
    return summarize(trajectories) | stats | {"loss": loss.item()}


# --8<-- [end:grpo-step]


# --8<-- [start:summary]
def summarize(trajectories: list[Trajectory]) -> dict[str, float]:
    """Success rate, valid calls per call, calls per episode, and how episodes ended.

    ``imitated_results`` counts, per episode, the turns in which the model wrote ``<result>``
    itself: what a policy trained on the tool's output (no mask) may learn to do.
    """
    calls = sum(t.kinds.count("call") for t in trajectories)
    return {
        "success": float(np.mean([t.reward for t in trajectories])),
        "call_validity": sum(t.valid_calls for t in trajectories) / max(calls, 1),
        "calls_per_task": calls / len(trajectories),
        "truncated": float(np.mean([t.truncated for t in trajectories])),
        "malformed_turns": sum(t.kinds.count("malformed") for t in trajectories)
        / len(trajectories),
        "imitated_results": sum(t.imitations for t in trajectories) / len(trajectories),
    }


def policy_tokenizer_model(
    seed: int, env_cfg: tool_env.EnvConfig, hidden: int = 64
) -> tuple[PreTrainedTokenizerFast, nn.Module]:
    """The env's BPE tokenizer and D3's tiny Qwen2, dropout off, seeded."""
    common.seed_everything(seed)
    tokenizer = tool_env.build_tokenizer(seed, env_cfg)
    lm = trl_tiny.build_model(tokenizer, hidden=hidden)
    d2.disable_dropout(lm)
    return tokenizer, lm


# --8<-- [end:summary]
