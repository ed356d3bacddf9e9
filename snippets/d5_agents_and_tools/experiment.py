"""Lesson D5, the experiment: one SFT model per seed, then each arm's GRPO from that same start.

The arms differ in one thing each. ``mask`` is the lesson's method: GRPO over whole
trajectories, the loss on the model's own tokens only. ``no_mask`` is the ablation: the tool's
output counts as if the model had written it. ``turn_reward`` adds a per-turn credit for each
call the calculator could run, on the tokens of that turn alone (turn structure), to the
trajectory's advantage. Every arm is measured on the same held-out tasks, before and after.
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from snippets import common, curves
from snippets.d5_agents_and_tools import env as tool_env
from snippets.d5_agents_and_tools import train
from snippets.d5_agents_and_tools.rollout import Trajectory, rollout

# --8<-- [end:imports]

# --8<-- [start:config]
Arm = Literal["mask", "no_mask", "turn_reward"]


@dataclass(frozen=True)
class Config(tool_env.EnvConfig, train.TrainConfig):
    """The tasks, the demonstrations and SFT, and the GRPO run of each arm."""

    arm: tuple[Arm, ...] = ("mask", "no_mask", "turn_reward")  # arms, each from the same SFT model
    hidden: common.PosInt = 128  # width of the tiny Qwen2 (2 layers)
    steps: common.PosInt = 60  # GRPO steps per arm
    bonus: common.NonNegFloat = 0.5  # λ of the turn_reward arm
    eval_tasks: common.PosInt = 128  # held-out tasks before and after
    transcripts: common.NonNegInt = 4  # held-out episodes shown before and after
    threads: common.PosInt = 2  # torch CPU threads: two nearly halve the SFT's time


def env_config(cfg: Config) -> tool_env.EnvConfig:
    """The environment's part of the settings."""
    names = [f.name for f in dataclasses.fields(tool_env.EnvConfig)]
    return tool_env.EnvConfig(**{name: getattr(cfg, name) for name in names})


def arm_config(cfg: Config, arm: Arm) -> Config:
    """The settings of one arm: only the mask and the per-turn credit change."""
    return dataclasses.replace(
        cfg,
        mask_observations=arm != "no_mask",
        turn_bonus=cfg.bonus if arm == "turn_reward" else 0.0,
    )


# --8<-- [end:config]


# --8<-- [start:measure]
def observation_only_ids(tokenizer: PreTrainedTokenizerFast) -> set[int]:
    """Token ids of the tool's own text that a well-behaved turn never writes.

    ``<result>``, ``</result>`` and the words of the error messages: writing them is
    imitating the calculator.
    """
    env_text = tool_env.result_text("error: no call and no answer") + tool_env.result_text(1)
    turn_text = tool_env.call_text("12*34") + tool_env.answer_text(1234)
    ids = lambda text: set(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    digits = {i for i in ids(env_text) if any(c.isdigit() for c in tokenizer.decode([i]))}
    return ids(env_text) - ids(turn_text) - digits


def measure(
    lm: nn.Module, tokenizer: PreTrainedTokenizerFast, cfg: Config, seed: int, offset: int = 1
) -> tuple[dict[str, float], list[Trajectory]]:
    """Held-out figures of ``lm`` (success, call validity, calls per task, ...) and its episodes.

    The tasks are seeds ``offset * EVAL_SEED_OFFSET + i``: never a training task (those are
    below ``EVAL_SEED_OFFSET``); the SFT's check uses another set (``offset=2``).
    """
    envs = [tool_env.CalcEnv(tokenizer, env_config(cfg)) for _ in range(cfg.eval_tasks)]
    seeds = [offset * curves.EVAL_SEED_OFFSET + i for i in range(cfg.eval_tasks)]
    generator = torch.Generator().manual_seed(seed)
    episodes = rollout(lm, envs, seeds, cfg.max_turn_tokens, cfg.temperature, generator)
    imitating = observation_only_ids(tokenizer)
    actions = [i for t in episodes for i, m in zip(t.ids, t.action_mask, strict=True) if m]
    share = float(np.mean([i in imitating for i in actions])) if actions else 0.0
    return train.summarize(episodes) | {"tool_token_share": share}, episodes


# --8<-- [end:measure]


# --8<-- [start:run]
def train_arm(lm: nn.Module, envs: list, cfg: Config, seed: int) -> dict[str, list[float]]:
    """``cfg.steps`` GRPO steps; every arm draws the same training tasks in the same order."""
    rng = np.random.default_rng(seed + 1)
    generator = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
    history: dict[str, list[float]] = {}
    for _ in common.progress(range(cfg.steps), desc="GRPO over whole episodes"):
        tasks = rng.integers(0, curves.EVAL_SEED_OFFSET, cfg.tasks_per_step).tolist()
        stats = train.grpo_step(lm, optimizer, envs, tasks, cfg, generator)
        for key, value in stats.items():
            history.setdefault(key, []).append(value)
    return history


def run(cfg: Config, seed: int) -> dict:
    """SFT on imperfect demonstrations, measure, then train and measure each arm from there."""
    tokenizer, lm = train.policy_tokenizer_model(seed, env_config(cfg), cfg.hidden)
    rng = np.random.default_rng(seed)
    demos = train.demonstrations(tool_env.CalcEnv(tokenizer, env_config(cfg)), cfg, rng)
    check = lambda: measure(lm, tokenizer, cfg, seed, offset=2)[0]["success"]  # noqa: E731
    with common.Stopwatch() as sft_clock:
        sft_loss = train.sft(lm, demos, tokenizer.pad_token_id, cfg, rng, check)
    before, episodes = measure(lm, tokenizer, cfg, seed)
    shown = lambda ts: [tokenizer.decode(t.ids) for t in ts[: cfg.transcripts]]  # noqa: E731
    result = {"sft_loss": sft_loss, "sft_seconds": sft_clock.seconds, "before": before}
    result |= {"demonstrations": train.summarize(demos), "transcripts_before": shown(episodes)}
    envs = [
        tool_env.CalcEnv(tokenizer, env_config(cfg))
        for _ in range(cfg.tasks_per_step * cfg.group_size)
    ]
    result["arms"] = {}
    for arm in cfg.arm:
        policy = copy.deepcopy(lm)
        with common.Stopwatch() as clock:
            history = train_arm(policy, envs, arm_config(cfg, arm), seed)
        after, episodes = measure(policy, tokenizer, cfg, seed)
        result["arms"][arm] = {"history": history, "after": after, "seconds": clock.seconds}
        result["arms"][arm]["transcripts"] = shown(episodes)
    return result


def headline(result: dict) -> dict:
    """The flat numbers of a run: before, and per arm after and the success gain."""
    out = {f"{key}_before": value for key, value in result["before"].items()}
    for arm, a in result["arms"].items():
        out |= {f"{key}_after_{arm}": value for key, value in a["after"].items()}
        out[f"success_gain_{arm}"] = a["after"]["success"] - result["before"]["success"]
        out[f"seconds_{arm}"] = a["seconds"]
    return out | {"sft_steps_used": len(result["sft_loss"]), "sft_seconds": result["sft_seconds"]}


# --8<-- [end:run]
