"""Lesson D5, token-in, token-out: multi-turn rollouts that keep the ids the model sampled.

A trajectory is the task's ids, then the model's ids and the environment's ids turn by turn,
concatenated as they come, with a mask that is 1 on the tokens the model sampled (actions)
and 0 on the others (the task and the observations). The trainer scores exactly these ids.

Decoding a trajectory to text and encoding it again does not give the same ids with a BPE
tokenizer: the sampler may produce a non-canonical split of a word, and BPE merges across the
boundary between a turn and an observation (``>`` then ``<`` becomes ``><``). The trainer
would then score tokens the sampler never produced. :func:`retokenize` and
:func:`first_drift` make that visible.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import PreTrainedTokenizerFast

from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d5_agents_and_tools.env import CalcEnv

# --8<-- [end:imports]


# --8<-- [start:drift]
def retokenize(tokenizer: PreTrainedTokenizerFast, ids: list[int]) -> list[int]:
    """Text -> ids -> text -> ids: what a pipeline that keeps only text gives the trainer."""
    return tokenizer(tokenizer.decode(ids), add_special_tokens=False)["input_ids"]


# --8<-- [end:drift]


# --8<-- [start:first-drift]
def first_drift(sampled: list[int], retokenized: list[int]) -> int | None:
    """The first position where two id lists differ, or None if they are equal.

    Where one list is the other cut short, the drift is where the shorter one ends.
    """
    for position, (a, b) in enumerate(zip(sampled, retokenized, strict=False)):
        if a != b:
            return position
    return None if len(sampled) == len(retokenized) else min(len(sampled), len(retokenized))


# --8<-- [end:first-drift]


# --8<-- [start:trajectory]
@dataclass
class Trajectory:
    """One episode, token in and token out.

    Attributes:
        ids: the task's ids, then each turn's sampled ids and the observation's ids.
        action_mask: 1 where ``ids`` holds a token the model sampled, 0 elsewhere.
        sampled_logprobs: the log-probability of each sampled token when it was sampled
            (0.0 at the other positions), what ``old_logprobs`` are in the GRPO loss.
        reward: the environment's reward at the end.
        terminated, truncated: Gymnasium's two ways to end.
        kinds: what each turn was (``"call"``, ``"answer"`` or ``"malformed"``).
        valid_turns: per turn, whether it was a call the calculator could evaluate.
        valid_calls: the calls the calculator could evaluate.
        imitations: turns in which the model itself wrote ``<result>``, as if it were the tool.
    """

    ids: list[int]
    action_mask: list[int]
    sampled_logprobs: list[float]
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    kinds: list[str] = field(default_factory=list)
    valid_turns: list[bool] = field(default_factory=list)
    valid_calls: int = 0
    imitations: int = 0

    def extend(self, ids: list[int], sampled: bool, logprobs: list[float] | None = None) -> None:
        """Append a turn's sampled ids (mask 1) or an observation's ids (mask 0)."""
        self.ids += ids
        self.action_mask += [int(sampled)] * len(ids)
        self.sampled_logprobs += logprobs if logprobs is not None else [0.0] * len(ids)

    @property
    def done(self) -> bool:
        """Whether the episode has ended."""
        return self.terminated or self.truncated


# --8<-- [end:trajectory]


# --8<-- [start:sample-turn]
def turn_over(tokenizer: PreTrainedTokenizerFast, turn: list[int]) -> bool:
    """A turn ends with the end-of-turn token or with a closed tool call."""
    return turn[-1] == tokenizer.eos_token_id or "</calc>" in tokenizer.decode(turn)


@torch.no_grad()
def sample_turns(
    lm: nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    prefixes: list[list[int]],
    max_tokens: int,
    temperature: float,
    generator: torch.Generator,
) -> tuple[list[list[int]], list[list[float]]]:
    """Sample one turn for each prefix, token by token, from the full softmax at ``temperature``.

    The left-padded prefixes go through the model once; then each new token is fed with the
    key/value cache, at the position that follows its row's last real token (positions count
    real tokens only, as in D2 and in :func:`token_logprobs`). Rows whose turn is over keep
    drawing tokens that are thrown away, so the cache stays one rectangle.

    Returns:
        The sampled ids of each turn and the log-probability each was drawn with.
    """
    turns: list[list[int]] = [[] for _ in prefixes]
    logprobs: list[list[float]] = [[] for _ in prefixes]
    active = set(range(len(prefixes)))
    ids, mask = d2.left_pad(prefixes, tokenizer.pad_token_id, "cpu")
    positions = d2.position_ids_from_mask(mask)
    output = lm(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
    for _ in range(max_tokens):
        dist = torch.log_softmax(output.logits[:, -1] / temperature, dim=-1)
        tokens = torch.multinomial(dist.exp(), 1, generator=generator)
        chosen = dist.gather(1, tokens).squeeze(1)
        for i in sorted(active):
            turns[i].append(int(tokens[i]))
            logprobs[i].append(float(chosen[i]))
        active = {i for i in active if not turn_over(tokenizer, turns[i])}
        if not active:
            break
        mask = torch.cat([mask, torch.ones_like(tokens)], dim=1)
        positions = positions[:, -1:] + 1
        output = lm(
            input_ids=tokens,
            attention_mask=mask,
            position_ids=positions,
            cache=output.cache,
            use_cache=True,
        )
    return turns, logprobs


# --8<-- [end:sample-turn]


# --8<-- [start:rollout]
def rollout(
    lm: nn.Module,
    envs: list[CalcEnv],
    seeds: list[int],
    max_turn_tokens: int = 16,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[Trajectory]:
    """Run one episode in each environment, all turns batched, token in and token out.

    The sampled ids go into the trajectory as they are, then into ``env.step``; the ids the
    environment returns are appended after them. Nothing is decoded and re-encoded.
    """
    tokenizer = envs[0].tokenizer
    generator = generator or torch.Generator().manual_seed(seeds[0])
    trajectories = []
    for env, seed in zip(envs, seeds, strict=True):
        ids, _ = env.reset(seed=seed)
        trajectories.append(Trajectory([], [], []))
        trajectories[-1].extend(ids, sampled=False)
    while active := [i for i, t in enumerate(trajectories) if not t.done]:
        prefixes = [trajectories[i].ids for i in active]
        turns, logprobs = sample_turns(
            lm, tokenizer, prefixes, max_turn_tokens, temperature, generator
        )
        for i, turn, turn_logprobs in zip(active, turns, logprobs, strict=True):
            trajectory = trajectories[i]
            trajectory.extend(turn, sampled=True, logprobs=turn_logprobs)
            observation, reward, terminated, truncated, info = envs[i].step(turn)
            trajectory.extend(observation, sampled=False)
            trajectory.reward += reward
            trajectory.terminated, trajectory.truncated = terminated, truncated
            trajectory.kinds.append(info["kind"])
            trajectory.valid_turns.append(info["valid"])
            trajectory.valid_calls = envs[i].valid_calls
            trajectory.imitations += "<result>" in info["action"]
    return trajectories


# --8<-- [end:rollout]


# --8<-- [start:batch]
@dataclass
class Batch:
    """Trajectories stacked for the trainer, right-padded, shifted for next-token scoring.

    Attributes:
        ids: ``(B, T)`` token ids.
        attention_mask: ``(B, T)``, 1 on real tokens.
        action_mask: ``(B, T - 1)``, 1 where the token ``ids[:, t + 1]`` was sampled.
        old_logprobs: ``(B, T - 1)``, the sampler's log-probabilities at those positions.
        rewards: ``(B,)``.
        call_scores: ``(B, T - 1)``, on the tokens of each turn that was not an answer: 1 if
            it was a call the calculator evaluated, else 0; NaN elsewhere (per-turn credit).
    """

    ids: torch.Tensor
    attention_mask: torch.Tensor
    action_mask: torch.Tensor
    old_logprobs: torch.Tensor
    rewards: torch.Tensor
    call_scores: torch.Tensor


def call_scores(trajectory: Trajectory) -> list[float]:
    """Per token: 1.0 in a valid call's turn, 0.0 in another non-answer turn, NaN elsewhere."""
    scores, turn = [], -1
    for position, sampled in enumerate(trajectory.action_mask):
        turn += sampled and (position == 0 or not trajectory.action_mask[position - 1])
        recorded = turn < len(trajectory.kinds)  # a hand-made trajectory may record no turns
        scored = sampled and recorded and trajectory.kinds[turn] != "answer"
        scores.append(float(trajectory.valid_turns[turn]) if scored else float("nan"))
    return scores


# --8<-- [end:batch]


# --8<-- [start:action-mask]
def shifted_action_mask(masks: list[list[int]]) -> torch.Tensor:
    """The trainer's action mask, ``(B, T - 1)``: 1 at ``t`` where ``ids[t + 1]`` was sampled.

    Args:
        masks: each trajectory's ``action_mask`` (unpadded), 1 on the ids the model sampled
            and 0 on the task's and the observations' ids.

    Returns:
        The masks right-padded with 0 to the longest, ``T``, then shifted by one: column
        ``t`` goes with the log-probability at position ``t``, which scores the token at
        ``t + 1``.
    """
    padded = torch.zeros(len(masks), max(len(m) for m in masks), dtype=torch.long)
    for row, mask in enumerate(masks):
        padded[row, : len(mask)] = torch.tensor(mask, dtype=torch.long)
    return padded[:, 1:]


# --8<-- [end:action-mask]


# --8<-- [start:collate]
def collate(trajectories: list[Trajectory], pad_id: int) -> Batch:
    """Stack trajectories with right padding; the masks and log-probabilities shift by one."""
    width = max(len(t.ids) for t in trajectories)
    ids = torch.full((len(trajectories), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    old = torch.zeros(ids.shape)
    scores = torch.full(ids.shape, float("nan"))
    for row, t in enumerate(trajectories):
        n = len(t.ids)
        ids[row, :n] = torch.tensor(t.ids)
        attention[row, :n] = 1
        old[row, :n] = torch.tensor(t.sampled_logprobs)
        scores[row, :n] = torch.tensor(call_scores(t))
    action = shifted_action_mask([t.action_mask for t in trajectories])
    rewards = torch.tensor([t.reward for t in trajectories])
    return Batch(ids, attention, action, old[:, 1:], rewards, scores[:, 1:])


def token_logprobs(lm: nn.Module, batch: Batch, temperature: float = 1.0) -> torch.Tensor:
    """The log-probability log π(ids[t + 1] | ids[:t + 1]) at every position, ``(B, T - 1)``, with grad.

    It reads ``batch.ids`` only: the trainer has no tokenizer, so it cannot re-encode.
    """
    logits, _ = d2.lm_forward(lm, batch.ids, batch.attention_mask)
    dist = torch.log_softmax(logits[:, :-1] / temperature, dim=-1)
    return dist.gather(-1, batch.ids[:, 1:, None]).squeeze(-1)


# --8<-- [end:collate]
