"""Lesson E2: a capstone you can run, PPO (Stable-Baselines3) on Acrobot-v1 to a stated return.

Definition of done: the trained policy's mean return over 50 evaluation episodes
(deterministic actions, seeds the training never saw) is at least -100, Gymnasium's
reward threshold for Acrobot-v1. ``--save DIR`` keeps the model; ``--check DIR`` grades a
saved model against the definition of done without training.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snippets import a2_rl_ecosystem_overview as a2
from snippets import common, curves

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """PPO settings: RL Zoo's Acrobot-v1 entry (hyperparams/ppo.yml), with 8 envs, not 16."""

    env_id: str = "Acrobot-v1"  # the Gymnasium environment
    total_timesteps: common.PosInt = 100_000  # environment steps of training
    n_envs: common.PosInt = 8  # environments stepped side by side
    n_steps: common.PosInt = 256  # per env, so 2048 transitions per update
    batch_size: common.PosInt = 64  # minibatch size
    n_epochs: common.PosInt = 4  # passes over each rollout
    gamma: common.Prob = 0.99  # discount factor
    gae_lambda: common.Prob = 0.94  # GAE's lambda
    ent_coef: common.NonNegFloat = 0.0  # entropy bonus weight
    learning_rate: common.PosFloat = 3e-4  # Adam step size
    eval_every: common.PosInt = 10_240  # environment steps between evaluations on the curve
    curve_episodes: common.PosInt = 10  # evaluation episodes per point of the curve
    eval_episodes: common.PosInt = 50  # evaluation episodes for the definition of done
    target_return: float = -100.0  # gymnasium.spec("Acrobot-v1").reward_threshold


# --8<-- [end:config]


# --8<-- [start:make-model]
def make_model(cfg: Config, seed: int) -> Any:
    """A PPO agent with SB3's default MLP policy on ``n_envs`` copies of the environment."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    common.seed_everything(seed)
    env = make_vec_env(cfg.env_id, n_envs=cfg.n_envs, seed=seed)
    names = "n_steps batch_size n_epochs gamma gae_lambda ent_coef learning_rate"  # SB3's names
    settings = common.config_kwargs(cfg, names)
    return PPO("MlpPolicy", env, **settings, seed=seed, device="cpu", verbose=0)


# --8<-- [end:make-model]


# --8<-- [start:evaluate]
def evaluate(model: Any, cfg: Config, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes, episode i reset with seed ``seed + i``.

    The loop is A2's :func:`~snippets.a2_rl_ecosystem_overview.evaluate`, on ``cfg.env_id``.
    """
    return a2.evaluate(model, cfg.env_id, episodes, seed)


# --8<-- [end:evaluate]


# --8<-- [start:train]
@dataclass
class Run:
    """A trained model and its learning curve (mean evaluation return vs environment steps)."""

    model: Any
    steps: list[int] = field(default_factory=list)
    curve: list[float] = field(default_factory=list)


# Evaluation episodes use fixed seeds, the same for every training seed and every reader,
# far from any seed used for training: the curve's from here, the graded ones from DONE_SEED.
CURVE_SEED = curves.EVAL_SEED_OFFSET
DONE_SEED = curves.EVAL_SEED_OFFSET + 1_000  # 1,000 on: none of the curve's episodes


def train(cfg: Config, seed: int, show_progress: bool = True) -> Run:
    """Train in chunks of ``eval_every`` steps, evaluating greedily after each chunk."""
    run = Run(make_model(cfg, seed))
    chunks = max(1, round(cfg.total_timesteps / cfg.eval_every))
    steps = common.progress(range(chunks), desc="PPO Acrobot") if show_progress else range(chunks)
    for _ in steps:
        run.model.learn(cfg.eval_every, reset_num_timesteps=False)
        run.steps.append(int(run.model.num_timesteps))
        run.curve.append(float(evaluate(run.model, cfg, cfg.curve_episodes, CURVE_SEED).mean()))
    return run


# --8<-- [end:train]


# --8<-- [start:done]
@dataclass(frozen=True)
class Verdict:
    """The definition of done, applied to a set of evaluation returns."""

    mean_return: float
    std_return: float
    episodes: int
    target: float

    @property
    def done(self) -> bool:
        """True when the mean evaluation return reaches the target."""
        return self.mean_return >= self.target


def definition_of_done(model: Any, cfg: Config) -> Verdict:
    """Grade a model: mean return of ``eval_episodes`` greedy episodes on unseen seeds."""
    returns = evaluate(model, cfg, cfg.eval_episodes, seed=DONE_SEED)
    return Verdict(float(returns.mean()), float(returns.std()), len(returns), cfg.target_return)


def save_model(model: Any, folder: str | os.PathLike[str]) -> str:
    """Save the model as ``<folder>/ppo_acrobot.zip`` (the file ``--check`` reads)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(os.fspath(folder), "ppo_acrobot.zip")
    model.save(path)
    return path


def load_model(folder: str | os.PathLike[str]) -> Any:
    """Load a model written by :func:`save_model`."""
    from stable_baselines3 import PPO

    return PPO.load(os.path.join(os.fspath(folder), "ppo_acrobot.zip"), device="cpu")


# --8<-- [end:done]


# --8<-- [start:plot]
def plot_curve(run: Run, cfg: Config, path: str) -> str:
    """The learning curve with the target line."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, ax = plt.subplots()
    ax.plot(run.steps, run.curve, "o-", label=f"mean of {cfg.curve_episodes} greedy episodes")
    ax.axhline(cfg.target_return, color="k", ls="--", lw=1, label=f"target {cfg.target_return:g}")
    ax.set(
        xlabel="environment steps",
        ylabel="evaluation return",
        title=f"PPO on {cfg.env_id}",
        ylim=(-510, 0),
    )
    ax.legend(loc="lower right")
    return common.save_figure(fig, path)


# --8<-- [end:plot]


# --8<-- [start:main]
def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags and where to save the agent and the figure."""
    quick = {"total_timesteps": 4096, "eval_every": 2048, "curve_episodes": 2, "eval_episodes": 3}
    outputs = {
        "save": ("DIR", "save the trained model in DIR"),
        "plot": "save the learning curve as a PNG",
    }
    aliases = {"total_timesteps": "--timesteps"}
    parser = common.config_parser(
        Config, __doc__, __spec__, quick=quick, aliases=aliases, outputs=outputs
    )
    parser.add_argument("--check", metavar="DIR", help="grade the model saved in DIR; no training")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Train PPO on Acrobot-v1 (or grade a saved model) and print the verdict as JSON."""
    parser = command_line()
    cfg, args = common.parse_config(parser, argv)
    if args.check and not os.path.isfile(os.path.join(args.check, "ppo_acrobot.zip")):
        parser.error(f"argument --check: no ppo_acrobot.zip in {args.check!r}")
    import torch

    torch.set_num_threads(1)  # a 64-unit MLP: one thread is fastest, and leaves a core free
    with common.Stopwatch() as clock:
        run = None if args.check else train(cfg, args.seed)
        model = load_model(args.check) if args.check else run.model
        verdict = definition_of_done(model, cfg)
    if args.save and run is not None:
        save_model(model, args.save)
    if args.plot and run is not None:
        plot_curve(run, cfg, args.plot)
    return common.emit_metrics(
        {
            "mean_return": verdict.mean_return,
            "std_return": verdict.std_return,
            "episodes": verdict.episodes,
            "target": verdict.target,
            "done": verdict.done,
            "timesteps": 0 if run is None else run.steps[-1],
            "curve": [] if run is None else run.curve,
            "seconds": clock.seconds,
        }
    )


if __name__ == "__main__":
    main()
# --8<-- [end:main]
