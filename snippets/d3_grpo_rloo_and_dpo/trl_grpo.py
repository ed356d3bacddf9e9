"""Lesson D3, the bridge to TRL: GRPO on addition with TRL's GRPOTrainer and an exact checker.

The same run as ``rlvr``, in the library you will use on a real model: chat prompts that ask
for a sum, a checker that reads the last number of the model's free-text answer, and TRL's
``GRPOConfig`` filled from our settings. ``--model Qwen/Qwen2.5-0.5B-Instruct`` (or any local
folder) trains a real chat model; without ``--model`` the program builds a tiny Qwen2 offline
(``trl_tiny``) and trains that, which is what the test suite runs.
"""

# --8<-- [start:imports]
from __future__ import annotations

import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from datasets import Dataset

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import rlvr, trl_tiny

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Our D3 settings, each mapped to its GRPOConfig name in ``grpo_args``."""

    model: str = ""  # a hub id or a local folder; empty: build the tiny offline model
    max_steps: common.PosInt = 20  # optimiser steps (GRPOConfig.max_steps)
    prompts_per_step: common.PosInt = 4  # problems per step; the batch is this times G
    group_size: Annotated[int, common.Range(2)] = 8  # G (GRPOConfig.num_generations)
    beta: common.NonNegFloat = 0.0  # KL weight (GRPOConfig.beta)
    epsilon: common.Prob = 0.2  # clip range of the ratio (GRPOConfig.epsilon)
    aggregation: Literal["grpo", "dapo", "dr_grpo"] = "dapo"  # GRPOConfig.loss_type
    lr: common.PosFloat = 1e-6  # Adam learning rate (GRPOConfig.learning_rate)
    temperature: common.PosFloat = 1.0  # sampling temperature
    max_completion_length: common.PosInt = 64  # tokens per answer, at most
    digits: common.PosInt = 2  # operands have this many digits
    problems: common.PosInt = 256  # size of the prompt dataset
    sft_steps: common.PosInt = 100  # tiny model only: fine-tuning steps before GRPO
    output_dir: str = ""  # where TRL writes; empty: a temporary folder


# --8<-- [end:config]


# --8<-- [start:task]
def addition_prompts(
    n: int, digits: int, seed: int
) -> tuple[list[list[dict[str, str]]], list[int]]:
    """``n`` chat prompts asking for a sum (operands from ``rlvr.sample_problems``), and the sums."""
    problems = rlvr.sample_problems(np.random.default_rng(seed), n, digits)
    prompts = [
        [{"role": "user", "content": f"What is {a} + {b}? Reply with the number."}]
        for a, b in problems
    ]
    return prompts, [int(a + b) for a, b in problems]


def last_number(text: str) -> int | None:
    """The last integer in a free-text answer: ``"7 + 5 = 12."`` -> 12; ``None`` if none."""
    numbers = re.findall(r"-?\d+", text.replace(",", ""))
    return int(numbers[-1]) if numbers else None


def addition_reward(completions: list[Any], answer: list[int], **_: Any) -> list[float]:
    """TRL reward function: 1.0 where the answer's last number is the sum, else 0.0.

    TRL passes the dataset's other columns (here ``answer``) by name. A conversational
    completion is a list of messages; a plain one is a string.
    """
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(last_number(t) == s) for t, s in zip(texts, answer, strict=True)]


# --8<-- [end:task]


# --8<-- [start:precision]
def precision_args(device: torch.device) -> dict[str, Any]:
    """GRPOConfig's device and precision settings for ``device``.

    TRL's configs default to ``bf16 = not fp16``, i.e. bf16 on: an error on a machine without
    a bf16 GPU unless ``use_cpu=True``, and bf16 autocast on Apple's MPS. We say it instead:
    float32 weights everywhere, bf16 autocast only on a CUDA GPU that supports it.
    """
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return {
        "bf16": bf16,
        "fp16": False,
        "use_cpu": device.type == "cpu",
        "model_init_kwargs": {"dtype": "float32"},
    }


# --8<-- [end:precision]


# --8<-- [start:trainer]
def grpo_args(cfg: Config, device: torch.device, output_dir: str, seed: int) -> Any:
    """Our settings under TRL's names: one generation batch per optimiser step, on-policy."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=output_dir,
        max_steps=cfg.max_steps,
        seed=seed,
        per_device_train_batch_size=cfg.prompts_per_step * cfg.group_size,
        num_generations=cfg.group_size,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        loss_type=cfg.aggregation,
        learning_rate=cfg.lr,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        **precision_args(device),
    )


# --8<-- [end:trainer]


# --8<-- [start:run]
def run(cfg: Config, seed: int, folder: str) -> dict[str, Any]:
    """Build (or name) the model, train it with TRL's GRPOTrainer, and report what moved.

    Returns:
        Per step: mean reward and the fraction of groups whose rewards all agree (no
        gradient from them) and TRL's seconds; the fraction of weights that changed; the
        device and precision; the seconds of the whole training.
    """
    from trl import GRPOTrainer

    prompts, sums = addition_prompts(cfg.problems, cfg.digits, seed)
    model = cfg.model or trl_tiny.build_tiny_chat_model(
        folder, prompts, [str(s) for s in sums], cfg.sft_steps, seed
    )
    device = common.pick_device()
    args = grpo_args(cfg, device, cfg.output_dir or folder, seed)
    dataset = Dataset.from_list(
        [{"prompt": p, "answer": s} for p, s in zip(prompts, sums, strict=True)]
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=addition_reward, args=args, train_dataset=dataset
    )
    before = {n: p.detach().float().cpu().clone() for n, p in trainer.model.named_parameters()}
    with common.Stopwatch() as clock:
        trainer.train()
    after = dict(trainer.model.named_parameters())
    moved = sum((after[n].detach().float().cpu() != p).sum().item() for n, p in before.items())
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    return {
        "reward": [e["reward"] for e in logs],
        "frac_reward_zero_std": [e["frac_reward_zero_std"] for e in logs],
        "weights_changed": moved / sum(p.numel() for p in before.values()),
        "steps": trainer.state.global_step,
        "step_seconds": [e["step_time"] for e in logs],
        "device": device.type,
        "bf16": args.bf16,
        "seconds_train": clock.seconds,
    }


# --8<-- [end:run]


# --8<-- [start:main]
QUICK = {"max_steps": 2, "digits": 1, "problems": 64, "max_completion_length": 16, "lr": 1e-4}


def main(argv: list[str] | None = None) -> dict:
    """Run GRPO with TRL on the addition prompts and print per-step reward as one JSON line."""
    parser = common.config_parser(Config, __doc__, __spec__, quick=QUICK)
    cfg, args = common.parse_config(parser, argv)
    warnings.filterwarnings("ignore", module="trl|transformers|accelerate")
    if not cfg.model:
        torch.set_num_threads(1)  # a 100k-parameter model: one thread is fastest
    with tempfile.TemporaryDirectory() as folder:
        result = run(cfg, args.seed, folder)
    return common.emit_metrics(result | {"model": cfg.model or "tiny", "seed": args.seed})


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
