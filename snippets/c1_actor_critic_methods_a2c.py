"""Lesson C1: actor-critic methods and A2C (advantages, GAE, Stable-Baselines3 on CartPole-v1).

REINFORCE with a baseline already has two networks' worth of ideas in it: a policy (the
actor) and a value estimate (the critic). Actor-critic methods let the critic do more than
centre the return: it bootstraps, so the agent learns from a few steps of experience
instead of whole episodes. This module computes n-step returns and GAE advantages from
scratch, writes A2C's three-term loss, and trains Stable-Baselines3's A2C on CartPole-v1
with parallel (vectorised) environments. Like SB3's ``EvalCallback`` it keeps the weights
of the best periodic evaluation, then scores that kept agent and the final one on fresh
episodes that neither training nor the choice of checkpoint has seen.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import copy
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from snippets import common, curves

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run (SB3 A2C on CartPole-v1)."""

    env_id: str = "CartPole-v1"  # a Gymnasium environment with discrete actions
    total_timesteps: common.PosInt = 200_000  # environment steps, summed over all parallel envs
    n_envs: common.PosInt = 8  # parallel environments (RL Zoo's setting for CartPole)
    n_steps: common.PosInt = 5  # steps per env per update: an update sees n_envs * n_steps
    gamma: common.Prob = 0.99  # discount factor
    gae_lambda: common.Prob = 1.0  # GAE's lambda; 1.0: plain n-step returns, as in A2C
    learning_rate: common.PosFloat = 7e-4  # RMSprop step size, SB3's default for A2C
    linear_lr_decay: bool = True  # anneal the learning rate to 0 at total_timesteps
    ent_coef: common.Prob = 0.0  # weight of the entropy bonus
    vf_coef: common.NonNegFloat = 0.5  # weight of the critic's loss
    max_grad_norm: common.PosFloat = 0.5  # clip the gradient's global norm to this
    eval_every: common.PosInt = 10_000  # environment steps between greedy evaluations
    eval_episodes: common.PosInt = 10  # greedy episodes per evaluation (they pick the kept agent)
    final_eval_episodes: common.PosInt = (
        20  # fresh greedy episodes that score kept and final agents
    )
    solved_return: common.PosFloat = curves.SOLVED_RETURN  # CartPole-v1's "solved" mean return
    seeds: common.PosInt = 1  # runs to train, one after another: seeds seed, seed+1, ...


# --8<-- [end:config]


# --8<-- [start:n-step]
def n_step_returns(
    rewards: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    n: int,
) -> np.ndarray:
    """n-step returns G_t^(n) for every step of one rollout from one environment.

    G_t^(n) = R_{t+1} + gamma R_{t+2} + ... + gamma^(k-1) R_{t+k} + gamma^k V(S_{t+k}),
    with k = n, or fewer steps when the episode or the rollout ends first.

    Args:
        rewards: R_{t+1}, the reward that followed action A_t, shape (T,).
        next_values: V(S_{t+1}), the critic's value of the state each step led to, shape (T,).
            When step t ended the episode this is the value of the *final* observation
            (Gymnasium's vector envs report it separately, since they reset at once).
        terminated: 1 where S_{t+1} is terminal (the pole fell): nothing follows, V = 0.
        truncated: 1 where the episode was cut by a time limit: the future exists, so we
            bootstrap from V(S_{t+1}), but the sum must not run into the next episode.
        gamma: discount factor.
        n: how many rewards to sum before bootstrapping (n >= 1).

    Returns:
        G^(n), shape (T,).
    """
    T = len(rewards)
    returns = np.zeros(T)
    for t in range(T):
        g, discount = 0.0, 1.0
        for k in range(t, min(t + n, T)):
            g += discount * rewards[k]
            discount *= gamma
            if terminated[k]:  # true end: no bootstrap
                break
            if truncated[k] or k == min(t + n, T) - 1:  # cut here: bootstrap from V(S_{k+1})
                g += discount * next_values[k]
                break
        returns[t] = g
    return returns


# --8<-- [end:n-step]


# --8<-- [start:gae]
def gae_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al., 2016) over one rollout.

    delta_t = R_{t+1} + gamma (1 - terminated_t) V(S_{t+1}) - V(S_t)
    adv_t   = delta_t + gamma lam (1 - terminated_t)(1 - truncated_t) adv_{t+1}

    Works on shape (T,) or (T, n_envs): time is the first axis.

    Args:
        rewards: R_{t+1}, the reward that followed action A_t.
        values: V(S_t), the critic's estimate of the state each step started from.
        next_values: V(S_{t+1}); at an episode end, the value of the final observation.
        terminated: 1 where the episode really ended (no bootstrap).
        truncated: 1 where a time limit cut it (bootstrap, but stop the recursion).
        gamma: discount factor.
        lam: lambda in [0, 1]; 0 gives the one-step TD error, 1 the n-step
            (rollout-length) return minus V(S_t).

    Returns:
        ``(advantages, returns)``, where returns = advantages + values is the critic's
        regression target (the lambda-return).
    """
    rewards, values, next_values = (
        np.asarray(x, dtype=np.float64) for x in (rewards, values, next_values)
    )
    not_terminal = 1.0 - np.asarray(terminated, dtype=np.float64)
    continues = not_terminal * (1.0 - np.asarray(truncated, dtype=np.float64))
    advantages = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * not_terminal[t] * next_values[t] - values[t]
        running = delta + gamma * lam * continues[t] * running
        advantages[t] = running
    return advantages, advantages + values


# --8<-- [end:gae]


# --8<-- [start:loss]
def actor_critic_loss(
    log_probs: torch.Tensor,
    entropy: torch.Tensor,
    values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    vf_coef: float = 0.5,
    ent_coef: float = 0.0,
) -> dict[str, torch.Tensor]:
    """A2C's loss: policy gradient + vf_coef * critic regression - ent_coef * entropy.

    Args:
        log_probs: log pi(A_t|S_t) of the actions taken (requires grad).
        entropy: entropy of pi(.|S_t) at each state (requires grad).
        values: the critic's V(S_t) (requires grad).
        advantages: the advantage estimates, treated as constants (no gradient flows into them).
        returns: the critic's targets, constants.
        vf_coef: weight of the value loss.
        ent_coef: weight of the entropy bonus.

    Returns:
        A dict with ``loss`` (what ``backward`` is called on) and its three parts.
    """
    policy_loss = -(advantages.detach() * log_probs).mean()
    value_loss = torch.nn.functional.mse_loss(values, returns.detach())
    entropy_bonus = entropy.mean()
    loss = policy_loss + vf_coef * value_loss - ent_coef * entropy_bonus
    return {"loss": loss, "policy": policy_loss, "value": value_loss, "entropy": entropy_bonus}


# --8<-- [end:loss]


# --8<-- [start:vec-env]
def make_envs(env_id: str, n_envs: int, seed: int) -> VecEnv:
    """``n_envs`` copies of the environment stepped in lock-step (one process, a loop).

    ``step(actions)`` takes one action per copy and returns arrays of n_envs
    observations and rewards. A copy whose episode ends is reset at once: the observation
    returned is the *new* episode's first one, and the last observation of the finished
    episode is in ``infos[i]["terminal_observation"]`` (with ``infos[i]["TimeLimit.truncated"]``
    saying whether a time limit cut it). Each copy is wrapped in a ``Monitor`` that
    reports finished episodes' returns in ``infos[i]["episode"]``.
    """
    return make_vec_env(env_id, n_envs=n_envs, seed=seed)


# --8<-- [end:vec-env]


# --8<-- [start:curve-callback]
@dataclass
class RunResult:
    """What one training run measured."""

    seed: int
    eval_steps: list[int] = field(default_factory=list)  # env steps at each evaluation
    eval_returns: list[float] = field(default_factory=list)  # mean greedy return there
    episode_steps: list[int] = field(default_factory=list)  # env steps when each episode ended
    episode_returns: list[float] = field(default_factory=list)  # its (stochastic-policy) return
    first_solved_step: int | None = None  # first evaluation with mean >= solved_return
    best_eval: float = 0.0  # the best evaluation: it chose the kept agent, so it flatters it
    kept_from_step: int = 0  # the step of that evaluation
    kept_mean_return: float = 0.0  # the kept agent on final_eval_episodes fresh episodes
    final_mean_return: float = 0.0  # the final agent on the same fresh episodes
    seconds: float = 0.0  # wall time of training, evaluations included
    cpu_seconds: float = 0.0


class LearningCurve(BaseCallback):
    """Evaluate the greedy policy every ``eval_every`` steps; log training episodes.

    Keeps a copy of the best evaluation's weights, as SB3's ``EvalCallback`` saves a
    ``best_model``.
    """

    def __init__(self, eval_env: VecEnv, cfg: Config, result: RunResult) -> None:
        super().__init__()
        self.eval_env, self.cfg, self.result = eval_env, cfg, result
        self.next_eval = cfg.eval_every
        self.best_state: dict[str, torch.Tensor] | None = None

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.result.episode_steps.append(self.num_timesteps)
                self.result.episode_returns.append(float(info["episode"]["r"]))
        if self.num_timesteps >= self.next_eval:
            self.next_eval += self.cfg.eval_every
            mean, _ = evaluate_policy(
                self.model,
                self.eval_env,
                n_eval_episodes=self.cfg.eval_episodes,
                deterministic=True,
            )
            self.result.eval_steps.append(self.num_timesteps)
            self.result.eval_returns.append(float(mean))
            if mean > self.result.best_eval or self.best_state is None:
                self.result.best_eval, self.result.kept_from_step = float(mean), self.num_timesteps
                self.best_state = copy.deepcopy(self.model.policy.state_dict())
            if mean >= self.cfg.solved_return and self.result.first_solved_step is None:
                self.result.first_solved_step = self.num_timesteps
        return True


# --8<-- [end:curve-callback]


# --8<-- [start:train]
def train_a2c(cfg: Config, seed: int) -> tuple[A2C, RunResult]:
    """Train SB3's A2C with ``cfg``; score the final and the kept agent on fresh episodes.

    Returns:
        The model, holding the kept (best-evaluation) weights, and what the run measured.
    """
    common.seed_everything(seed)
    envs = make_envs(cfg.env_id, cfg.n_envs, seed)
    eval_envs = make_envs(cfg.env_id, min(cfg.eval_episodes, 10), seed + curves.EVAL_SEED_OFFSET)
    lr = (
        curves.linear_schedule(cfg.learning_rate, 0.0) if cfg.linear_lr_decay else cfg.learning_rate
    )
    model = A2C(
        "MlpPolicy",  # actor and critic: two 64-64 tanh MLPs on the 4 CartPole numbers
        envs,
        learning_rate=lr,
        **common.config_kwargs(cfg, "n_steps gamma gae_lambda ent_coef vf_coef max_grad_norm"),
        seed=seed,
        device="cpu",  # small MLPs: the CPU beats a GPU here
    )
    result = RunResult(seed=seed)
    callback = LearningCurve(eval_envs, cfg, result)
    cpu_start = time.process_time()
    with common.Stopwatch() as clock:
        model.learn(total_timesteps=cfg.total_timesteps, callback=callback)
    result.seconds, result.cpu_seconds = clock.seconds, time.process_time() - cpu_start
    result.final_mean_return = score(model, cfg, seed)
    if callback.best_state is not None:  # None: no evaluation ran, the final agent is kept
        model.policy.load_state_dict(callback.best_state)
    result.kept_mean_return = score(model, cfg, seed)
    envs.close()
    eval_envs.close()
    return model, result


def score(model: A2C, cfg: Config, seed: int) -> float:
    """Mean greedy return on fresh episodes: the same ones for every model of this seed."""
    test_envs = make_envs(
        cfg.env_id, min(cfg.final_eval_episodes, 10), seed + curves.TEST_SEED_OFFSET
    )
    mean, _ = evaluate_policy(
        model, test_envs, n_eval_episodes=cfg.final_eval_episodes, deterministic=True
    )
    test_envs.close()
    return float(mean)


# --8<-- [end:train]


def training_curves(results: Sequence[RunResult]) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's last-100-episode training return, read on the first seed's step grid.

    Returns:
        ``(steps, returns)`` with ``returns`` of shape ``(n_seeds, len(steps))``.
    """
    per_seed = [curves.moving_average_at_steps(r.episode_steps, r.episode_returns) for r in results]
    grid = per_seed[0][0]
    return grid, np.array([np.interp(grid, x, y) for x, y in per_seed])


# --8<-- [start:plot]
def plot_results(
    results: Sequence[RunResult],
    cfg: Config,
    path: str | os.PathLike[str],
    compare: Sequence[dict[str, Any]] = (),
) -> str:
    """Two panels: greedy evaluation per seed, and training return against other curves."""
    common.use_course_style()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.0), sharey=True)
    for r in results:
        line = left.plot(r.eval_steps, r.eval_returns, marker=".", label=f"seed {r.seed}")[0]
        left.plot(r.kept_from_step, r.best_eval, "*", ms=12, color=line.get_color())
    left.set(
        title="A2C: greedy evaluation (star: kept)", xlabel="environment steps", ylabel="return"
    )
    grid, ys = training_curves(results)
    seeds = f"{len(results)} seed" + ("s" if len(results) > 1 else "")
    right.plot(grid, ys.mean(0), label=f"A2C, {cfg.n_envs} envs (mean of {seeds})")
    if len(results) > 1:
        right.fill_between(
            grid, ys.min(0), ys.max(0), alpha=0.2, label="A2C, min to max over seeds"
        )
    for curve in compare:
        right.plot(curve["x"], curve["y"], label=curve.get("label", "other"))
    right.set(title="Training return (mean of the last 100 episodes)", xlabel="environment steps")
    for ax in (left, right):
        solved = f"solved ({cfg.solved_return:g})"
        ax.axhline(cfg.solved_return, color="grey", ls="--", lw=1, label=solved)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.set_ylim(0, 520)
        ax.legend(fontsize=8, loc="lower right")
    return common.save_figure(fig, path)


# --8<-- [end:plot]


# --8<-- [start:main]
def summary(results: Sequence[RunResult], cfg: Config) -> dict[str, Any]:
    """The JSON line: per seed, the kept and the final agent, and when each curve reached 475."""

    def train_solved_step(r: RunResult) -> int | None:
        episode = curves.first_solved(r.episode_returns, cfg.solved_return)
        return None if episode is None else r.episode_steps[episode - 1]

    kept = [r.kept_mean_return for r in results]
    final = [r.final_mean_return for r in results]
    return {
        "timesteps": cfg.total_timesteps,
        "seeds": [r.seed for r in results],
        "kept_agent": "best periodic-eval checkpoint, scored on fresh episodes",
        "kept_mean_return": kept,
        "final_mean_return": final,
        "seeds_kept_at_least_475": sum(k >= cfg.solved_return for k in kept),
        "seeds_final_at_least_475": sum(f >= cfg.solved_return for f in final),
        "best_eval": [r.best_eval for r in results],
        "kept_from_step": [r.kept_from_step for r in results],
        "first_solved_step": [r.first_solved_step for r in results],
        "train_solved_step": [train_solved_step(r) for r in results],
        "seconds": [r.seconds for r in results],
        "cpu_seconds": [r.cpu_seconds for r in results],
    }


def save_runs(path: str, cfg: Config, results: Sequence[RunResult]) -> None:
    """Save the settings and every seed's results, so that plots can be redrawn."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump({"config": asdict(cfg), "runs": [asdict(r) for r in results]}, f)


def load_runs(path: str) -> tuple[Config, list[RunResult]]:
    """Read back what :func:`save_runs` wrote."""
    with open(path) as f:
        saved = json.load(f)
    return Config(**saved["config"]), [RunResult(**run) for run in saved["runs"]]


def existing_file(path: str) -> str:
    """An argparse type: the path of a file that exists."""
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"no such file {path!r}")
    return path


QUICK = {
    "total_timesteps": 20_000,
    "eval_every": 5_000,
    "eval_episodes": 5,
    "final_eval_episodes": 5,
}


def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags, seeds, and the curves to save, load or overlay."""
    outputs = {
        "plot": "save the learning-curve figure here",
        "curve": "write the mean training curve as JSON",
        "save_runs": "save every seed's results as JSON",
    }
    aliases = {"total_timesteps": "--timesteps", "learning_rate": "--lr"}
    parser = common.config_parser(
        Config, __doc__, __spec__, quick=QUICK, aliases=aliases, outputs=outputs
    )
    parser.add_argument(
        "--compare-curve",
        metavar="PATH",
        action="append",
        default=[],
        type=existing_file,
        help="overlay a curve JSON (e.g. from C0's --curve) on the plot; repeatable",
    )
    parser.add_argument(
        "--load-runs",
        metavar="PATH",
        type=existing_file,
        help="skip training: plot and report runs saved by --save-runs",
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Train A2C on CartPole-v1 over one or more seeds and print the metrics as JSON."""
    cfg, args = common.parse_config(command_line(), argv)
    torch.set_num_threads(1)  # tiny networks: one thread is fastest and leaves cores free
    if args.load_runs:
        cfg, results = load_runs(args.load_runs)
    else:
        seeds = range(args.seed, args.seed + cfg.seeds)
        results = [
            train_a2c(cfg, s)[1] for s in common.progress(seeds, desc="seeds", total=cfg.seeds)
        ]
    if args.save_runs:
        save_runs(args.save_runs, cfg, results)
    if args.plot:
        plot_results(results, cfg, args.plot, [curves.read_curve(p) for p in args.compare_curve])
    if args.curve:
        grid, ys = training_curves(results)
        curves.write_curve(args.curve, grid, ys.mean(0), f"A2C (SB3), {cfg.n_envs} envs")
    return common.emit_metrics(summary(results, cfg))


if __name__ == "__main__":
    main()
# --8<-- [end:main]
