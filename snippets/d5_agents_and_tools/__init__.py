"""Lesson D5: agents and tools, multi-turn RL for a tiny language model on a CPU.

Read the modules in this order:

- ``env``: arithmetic tasks, a calculator tool, Gymnasium-like ``reset``/``step`` on token ids;
- ``rollout``: token-in, token-out multi-turn rollouts, the action mask, retokenisation drift;
- ``train``: imperfect demonstrations, SFT, and D3's GRPO loss over whole trajectories;
- ``experiment``: one SFT model per seed, then each arm (mask, no mask, per-turn credit);

plus ``report`` (figures, the run's record), ``__main__`` (the command line:
``python -m snippets.d5_agents_and_tools``) and ``trl_env`` (the same environment in TRL's
``GRPOTrainer``, a command of its own).
"""

# --8<-- [start:package]
from snippets.d5_agents_and_tools.env import CalcEnv, EnvConfig, calculate
from snippets.d5_agents_and_tools.experiment import Config, run
from snippets.d5_agents_and_tools.rollout import Trajectory, collate, first_drift
from snippets.d5_agents_and_tools.train import grpo_step, trajectory_grpo_loss, turn_credit

__all__ = [
    "CalcEnv",
    "Config",
    "EnvConfig",
    "Trajectory",
    "calculate",
    "collate",
    "first_drift",
    "grpo_step",
    "run",
    "trajectory_grpo_loss",
    "turn_credit",
]
# --8<-- [end:package]
