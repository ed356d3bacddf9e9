"""Lesson D5, the bridge to TRL: GRPOTrainer with ``environment_factory`` and the calculator.

TRL 1.16 trains a tool-using model with ``GRPOTrainer(environment_factory=...)``: one
environment instance per rollout, its public methods offered to the model as tools, the
tool-calling loop run by the trainer, and the tool results kept out of the loss by a
``tool_mask``. This program gives it D5's calculator (``env.calculate``) as the tool ``calc``,
the tiny Qwen2 and byte-level BPE tokenizer of D3's bridge (``trl_tiny``) with Qwen2.5's chat
template, and a few seconds of supervised fine-tuning on correct tool-calling conversations,
so that the model's first completions already contain well-formed calls. It records how many
calls the environments executed and checks, on the batches the loss saw, that the tool
results' tokens had loss mask 0.
"""

# --8<-- [start:imports]
from __future__ import annotations

import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import trl_grpo, trl_tiny
from snippets.d5_agents_and_tools import env as tool_env
from snippets.d5_agents_and_tools.rollout import Trajectory

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """The bridge's settings, each mapped to its GRPOConfig name in ``grpo_args``."""

    max_steps: common.PosInt = 10  # optimiser steps (GRPOConfig.max_steps)
    tasks_per_step: common.PosInt = 4  # tasks per step; the batch is this times G
    group_size: Annotated[int, common.Range(2)] = 4  # G (GRPOConfig.num_generations)
    lr: common.PosFloat = 1e-4  # Adam learning rate (GRPOConfig.learning_rate)
    temperature: common.PosFloat = 1.0  # sampling temperature
    max_completion_length: common.PosInt = 128  # tokens per completion, tool results included
    max_tool_calls: common.PosInt = 3  # tool-calling turns (max_tool_calling_iterations)
    demonstrations: common.PosInt = 512  # correct tool-calling conversations for the SFT
    sft_steps: common.PosInt = 300  # SFT steps before GRPO
    sft_batch: common.PosInt = 16  # chats per SFT step
    sft_lr: common.PosFloat = 1e-2  # AdamW learning rate of the SFT
    vocab_size: Annotated[int, common.Range(300)] = 600  # the BPE tokenizer's vocabulary
    context: Annotated[int, common.Range(256)] = 512  # the model's max_position_embeddings
    output_dir: str = ""  # where TRL writes; empty: a temporary folder


# --8<-- [end:config]


# --8<-- [start:environment]
class CalculatorEnv:
    """D5's calculator under TRL's environment contract; TRL makes one per rollout.

    Before each rollout TRL calls ``reset(**row)`` with the dataset row and appends the text
    it returns to the user's message. Every public method other than ``reset`` and
    ``get_reward`` is a tool: TRL describes it to the model from its signature and docstring
    (the chat template renders that description into the system prompt) and calls it with the
    arguments the model wrote. An exception becomes the reply ``{'error': '<message>'}``.
    """

    def __init__(self, cfg: tool_env.EnvConfig, ledger: list[tuple[str, str]]) -> None:
        self.cfg = cfg
        self.ledger = ledger  # every call of every instance: (expression, reply)
        self.task: tool_env.Task | None = None
        self.calls = 0

    def reset(self, seed: int, **_: Any) -> str:
        """Draw this row's task (seeded) and return its text, e.g. ``Q:37*48``."""
        self.task = tool_env.sample_task(np.random.default_rng(seed), self.cfg)
        self.calls = 0
        return self.task.text.strip()

    def calc(self, expression: str) -> str:
        """Evaluate an integer expression exactly, one operation (+, - or *) per call.

        Args:
            expression: The expression, e.g. "37*48".

        Returns:
            The exact value.
        """
        self.calls += 1  # str(): the model may write a number where the schema says string
        try:
            reply = str(tool_env.calculate(str(expression), self.cfg.max_operations))
        except tool_env.CalcError as error:
            self.ledger.append((str(expression), f"error: {error}"))
            raise
        self.ledger.append((str(expression), reply))
        return reply


def exact_answer(
    completions: list[list[dict[str, Any]]], environments: list[CalculatorEnv], **_: Any
) -> list[float]:
    """TRL reward function: 1.0 where the last turn reads ``A:<n>`` with the exact answer.

    TRL passes each rollout's environment as ``environments``. The answer is text in the
    model's last turn, which no tool sees, so the check is a reward function rather than
    the environment's ``get_reward()`` (TRL calls that with no argument).
    """
    rewards = []
    for completion, environment in zip(completions, environments, strict=True):
        found = tool_env.ANSWER.match(completion[-1]["content"].strip())
        rewards.append(float(found is not None and int(found[1]) == environment.task.answer))
    return rewards


# --8<-- [end:environment]


# --8<-- [start:demonstrations]
def solution_messages(task: tool_env.Task) -> list[dict[str, Any]]:
    """A correct episode as chat messages: one ``calc`` call per operation, then ``A:<n>``."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": task.text.strip()}]
    for expression in task.calls:
        call = {"name": "calc", "arguments": {"expression": expression}}
        messages += [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": call}],
            },
            {"role": "tool", "name": "calc", "content": str(tool_env.calculate(expression))},
        ]
    return [*messages, {"role": "assistant", "content": tool_env.answer_text(task.answer)}]


def rendered_turns(
    tokenizer: PreTrainedTokenizerFast, messages: list[dict[str, Any]], tools: list[Any]
) -> Trajectory:
    """``messages`` as the ids TRL's tool loop builds: prompt, turn, tool reply, turn, ...

    Each assistant turn up to its ``<|im_end|>`` is an action (mask 1); everything the template
    puts between two turns (the tool's reply and the next ``<|im_start|>assistant``) is an
    observation (mask 0), as in TRL's ``tool_mask``. The pieces meet at a special token or
    after a newline, where the tokenizer splits the text anyway, so encoding them one by one
    gives the ids of the whole text.
    """

    def render(k: int, more: bool) -> str:
        return tokenizer.apply_chat_template(
            messages[:k], tools=tools, tokenize=False, add_generation_prompt=more
        )

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    shown = render(1, True)
    trajectory, pending = Trajectory([], [], []), shown
    for k, message in enumerate(messages[1:], start=2):
        full = render(k, message["role"] == "tool")
        assert full.startswith(shown), "the chat template is not prefix-preserving"
        new, shown = full[len(shown) :], full
        if message["role"] == "assistant":
            action, rest = new.split(trl_tiny.IM_END, 1)
            trajectory.extend(encode(pending), sampled=False)
            trajectory.extend(encode(action + trl_tiny.IM_END), sampled=True)
            trajectory.kinds.append("call" if message.get("tool_calls") else "answer")
            trajectory.valid_turns.append(bool(message.get("tool_calls")))
            pending = rest
        else:
            pending += new
    return trajectory


# --8<-- [end:demonstrations]


# --8<-- [start:sft]
def sft(
    lm: torch.nn.Module, demos: list[Trajectory], pad_id: int, cfg: Config, rng: np.random.Generator
) -> list[float]:
    """D5's SFT (cross-entropy on the turns' tokens only), with the shared head computed once.

    Every demonstration starts with the same ids: the system prompt with the tool's
    description, most of each sequence. Each step runs that head through the model once,
    repeats its keys and values for the batch, and runs the rest of every sequence after
    it: the logits of the whole sequences, for a fraction of the work.

    Returns:
        The loss of every step.
    """
    columns = zip(*(d.ids for d in demos), strict=False)  # up to the shortest
    shared = next(i for i, ids in enumerate(columns) if len(set(ids)) > 1)
    head = torch.tensor([demos[0].ids[:shared]])
    optimizer = torch.optim.AdamW(lm.parameters(), lr=cfg.sft_lr, weight_decay=0.0)
    lm.train()
    history = []
    for _ in common.progress(range(cfg.sft_steps), desc="SFT on tool-calling chats"):
        rows = [demos[i] for i in rng.integers(0, len(demos), size=cfg.sft_batch)]
        width = max(len(d.ids) for d in rows) - shared
        ids = torch.full((len(rows), width), pad_id)
        turns = torch.zeros((len(rows), width))
        attention = torch.zeros((len(rows), shared + width), dtype=torch.long)
        for row, d in enumerate(rows):  # right padding
            ids[row, : len(d.ids) - shared] = torch.tensor(d.ids[shared:])
            turns[row, : len(d.ids) - shared] = torch.tensor(d.action_mask[shared:]).float()
            attention[row, : len(d.ids)] = 1
        cache = lm(input_ids=head, use_cache=True).cache
        cache.batch_repeat_interleave(len(rows))
        positions = torch.arange(shared, shared + width).expand(len(rows), -1)
        output = lm(input_ids=ids, attention_mask=attention, position_ids=positions, cache=cache)
        logprobs = torch.log_softmax(output.logits[:, :-1], -1).gather(-1, ids[:, 1:, None])
        loss = -(logprobs.squeeze(-1) * turns[:, 1:]).sum() / turns[:, 1:].sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    lm.eval()
    return history


# --8<-- [end:sft]


# --8<-- [start:model]
def build_tool_model(folder: str | Path, cfg: Config, seed: int) -> tuple[str, list[float]]:
    """Tokenizer, tiny Qwen2 and SFT on correct tool-calling chats; saved to ``folder``.

    Returns:
        The folder (for TRL's ``model=``) and the SFT losses.
    """
    rng = common.seed_everything(seed)
    env_cfg = tool_env.EnvConfig()
    tools = [CalculatorEnv(env_cfg, []).calc]  # a bound method, as TRL lists it
    chats = [
        solution_messages(tool_env.sample_task(rng, env_cfg)) for _ in range(cfg.demonstrations)
    ]
    probe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    probe.chat_template = trl_tiny.CHAT_TEMPLATE  # render the corpus as training will see it
    corpus = probe.apply_chat_template(chats, tools=tools, tokenize=False)
    tokenizer = trl_tiny.train_tokenizer(corpus, cfg.vocab_size)
    tokenizer.add_tokens(["<tool_call>", "</tool_call>"])  # single tokens in Qwen2.5 too
    lm = trl_tiny.build_model(tokenizer)
    # The tool prompt takes most of the 256 positions D3's tiny model declares, and TRL
    # drops a tool reply that would reach max_position_embeddings: declare more.
    lm.config.max_position_embeddings = cfg.context
    demos = [rendered_turns(tokenizer, chat, tools) for chat in chats]
    losses = sft(lm, demos, tokenizer.pad_token_id, cfg, rng)
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder), losses


# --8<-- [end:model]


# --8<-- [start:trainer]
def grpo_args(cfg: Config, device: torch.device, output_dir: str, seed: int) -> Any:
    """Our settings under TRL's names: one generation batch per optimiser step, on-policy."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=output_dir,
        max_steps=cfg.max_steps,
        seed=seed,
        per_device_train_batch_size=cfg.tasks_per_step * cfg.group_size,
        num_generations=cfg.group_size,
        learning_rate=cfg.lr,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        max_tool_calling_iterations=cfg.max_tool_calls,
        beta=0.0,
        loss_type="dapo",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        **trl_grpo.precision_args(device),
    )


def record_loss_inputs(trainer: Any) -> list[dict[str, torch.Tensor]]:
    """Make ``trainer`` keep the completions and masks of every batch its loss sees.

    Returns:
        The list that ``trainer._compute_loss`` now appends each batch to.
    """
    batches: list[dict[str, torch.Tensor]] = []
    compute_loss = trainer._compute_loss

    def recording(model: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        names = ("completion_ids", "completion_mask", "tool_mask")
        batches.append({k: inputs[k].detach().cpu() for k in names if k in inputs})
        return compute_loss(model, inputs)

    trainer._compute_loss = recording
    return batches


# --8<-- [end:trainer]


# --8<-- [start:check]
def tool_reply_positions(ids: list[int], tokenizer: PreTrainedTokenizerFast) -> list[bool]:
    """Which of a completion's tokens the tool loop inserted, found from the ids alone.

    After every ``<|im_end|>`` that is not the last token, TRL appends the tool's reply
    rendered by the chat template, up to and including the next ``<|im_start|>assistant``
    header; the model's next turn starts after it.
    """
    header = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    marks = [False] * len(ids)
    for i, token in enumerate(ids[:-1]):
        if token != tokenizer.eos_token_id:
            continue
        for j in range(i + 1, len(ids) - len(header) + 1):
            if ids[j : j + len(header)] == header:
                marks[i + 1 : j + len(header)] = [True] * (j + len(header) - i - 1)
                break
    return marks


def mask_report(batches: list[dict[str, torch.Tensor]], tokenizer: PreTrainedTokenizerFast) -> dict:
    """Compare, token by token, the loss mask TRL used with the tool replies found in the ids.

    TRL's ``_compute_loss`` weighs a completion token by ``completion_mask * tool_mask``.

    Returns:
        Counts of tool-reply tokens, of those in the loss (0 when masked), of the model's
        tokens in the loss, and one decoded completion that contains a tool reply.
    """
    counts = {"tool_reply_tokens": 0, "tool_reply_tokens_in_loss": 0, "action_tokens_in_loss": 0}
    example = ""
    for batch in batches:
        loss_mask = batch["completion_mask"] * batch.get("tool_mask", 1)
        for ids, real, used in zip(
            batch["completion_ids"], batch["completion_mask"], loss_mask, strict=True
        ):
            ids, used = ids[real > 0].tolist(), used[real > 0].bool().tolist()
            reply = tool_reply_positions(ids, tokenizer)
            counts["tool_reply_tokens"] += sum(reply)
            counts["tool_reply_tokens_in_loss"] += sum(
                r and u for r, u in zip(reply, used, strict=True)
            )
            counts["action_tokens_in_loss"] += sum(
                u and not r for r, u in zip(reply, used, strict=True)
            )
            example = example or (tokenizer.decode(ids) if any(reply) else "")
    return counts | {"example": example}


# --8<-- [end:check]


# --8<-- [start:run]
def run(cfg: Config, seed: int, folder: str) -> dict[str, Any]:
    """SFT the tiny model, train it with GRPOTrainer and the calculator, and report the calls."""
    from trl import GRPOTrainer

    with common.Stopwatch() as sft_clock:
        model, sft_losses = build_tool_model(folder, cfg, seed)
    rng, env_cfg, ledger = np.random.default_rng(seed + 1), tool_env.EnvConfig(), []
    seeds = rng.integers(0, 2**31, size=cfg.max_steps * cfg.tasks_per_step).tolist()
    dataset = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": ""}], "seed": s} for s in seeds]
    )
    device = common.pick_device()
    args = grpo_args(cfg, device, cfg.output_dir or folder, seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=exact_answer,
            args=args,
            train_dataset=dataset,
            environment_factory=lambda: CalculatorEnv(env_cfg, ledger),
        )
    batches = record_loss_inputs(trainer)
    with common.Stopwatch() as clock:
        trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    return {
        "steps": trainer.state.global_step,
        "tool_calls": len(ledger),
        "tool_errors": sum(reply.startswith("error") for _, reply in ledger),
        "calls_per_step": [e["tools/call_frequency"] for e in logs],
        "failures_per_call": [e["tools/failure_frequency"] for e in logs],
        "reward": [e["reward"] for e in logs],
        **mask_report(batches, trainer.processing_class),
        "experimental": [str(w.message) for w in caught if "experimental" in str(w.message)],
        "sft_loss": [sft_losses[0], sft_losses[-1]],
        "device": device.type,
        "seconds_sft": sft_clock.seconds,
        "seconds_train": clock.seconds,
    }


# --8<-- [end:run]


# --8<-- [start:main]
QUICK = {"max_steps": 2, "demonstrations": 256, "sft_steps": 120}


def main(argv: list[str] | None = None) -> dict:
    """Run GRPO with TRL and the calculator tool; print the calls and the mask check as JSON."""
    parser = common.config_parser(Config, __doc__, __spec__, quick=QUICK)
    cfg, args = common.parse_config(parser, argv)
    warnings.filterwarnings("ignore", module="trl|transformers|accelerate")
    torch.set_num_threads(1)  # a 100k-parameter model: one thread is fastest
    with tempfile.TemporaryDirectory() as folder:
        result = run(cfg, args.seed, folder)
    return common.emit_metrics(result | {"seed": args.seed})


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
