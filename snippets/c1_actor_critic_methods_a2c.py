"""Lesson C1: actor-critic methods and A2C (advantages, GAE, Stable-Baselines3 on CartPole-v1).

REINFORCE with a baseline already has two networks' worth of ideas in it: a policy (the
actor) and a value estimate (the critic). Actor-critic methods let the critic do more than
centre the return: it bootstraps, so the agent learns from a few steps of experience
instead of whole episodes. This module computes n-step returns and GAE advantages from
scratch, writes A2C's three-term loss, and trains Stable-Baselines3's A2C on CartPole-v1
with parallel (vectorised) environments.
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run (SB3 A2C on CartPole-v1)."""

    env_id: str = "CartPole-v1"
    total_timesteps: int = 200_000  # environment steps, summed over all parallel envs
    n_envs: int = 8  # parallel environments (RL Zoo's setting for CartPole)
    n_steps: int = 5  # steps per env per update: each update sees n_envs * n_steps transitions
    gamma: float = 0.99
    gae_lambda: float = 1.0  # 1.0: plain n-step returns, as in the original A2C
    learning_rate: float = 7e-4  # RMSprop, SB3's default for A2C
    linear_lr_decay: bool = True  # anneal the learning rate to 0 at total_timesteps
    ent_coef: float = 0.0  # weight of the entropy bonus
    vf_coef: float = 0.5  # weight of the critic's loss
    max_grad_norm: float = 0.5
    eval_every: int = 10_000  # environment steps between evaluations
    eval_episodes: int = 10  # greedy (deterministic) episodes per evaluation
    final_eval_episodes: int = 20  # episodes for the final agent's score
    solved_at: float = 475.0  # CartPole-v1's "solved" threshold


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

    G_t^(n) = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1} + gamma^k V(s_{t+k}),
    with k = n, or fewer steps when the episode or the rollout ends first.

    Args:
        rewards: r_t, shape (T,).
        next_values: V(s_{t+1}), the critic's value of the state each step led to, shape (T,).
            When step t ended the episode this is the value of the *final* observation
            (Gymnasium's vector envs report it separately, since they reset at once).
        terminated: 1 where s_{t+1} is terminal (the pole fell): nothing follows, V = 0.
        truncated: 1 where the episode was cut by a time limit: the future exists, so we
            bootstrap from V(s_{t+1}), but the sum must not run into the next episode.
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
            if truncated[k] or k == min(t + n, T) - 1:  # cut here: bootstrap from V(s_{k+1})
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

    delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma lam (1 - terminated_t)(1 - truncated_t) A_{t+1}

    Works on shape (T,) or (T, n_envs): time is the first axis.

    Args:
        rewards: r_t.
        values: V(s_t), the critic's estimate of the state each step started from.
        next_values: V(s_{t+1}); at an episode end, the value of the final observation.
        terminated: 1 where the episode really ended (no bootstrap).
        truncated: 1 where a time limit cut it (bootstrap, but stop the recursion).
        gamma: discount factor.
        lam: lambda in [0, 1]; 0 gives the one-step TD error, 1 the n-step
            (rollout-length) return minus V(s_t).

    Returns:
        ``(advantages, returns)``, where returns = advantages + values is the critic's
        regression target (the lambda-return).
    """
    rewards, values, next_values = (np.asarray(x, dtype=np.float64) for x in (rewards, values, next_values))
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
        log_probs: log pi(a_t|s_t) of the actions taken (requires grad).
        entropy: entropy of pi(.|s_t) at each state (requires grad).
        values: the critic's V(s_t) (requires grad).
        advantages: A_t, treated as constants (no gradient flows into them).
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
    first_solved_step: int | None = None  # first evaluation with mean >= solved_at
    best_eval: float = 0.0
    final_eval: float = 0.0  # the final agent, over final_eval_episodes
    seconds: float = 0.0


class LearningCurve(BaseCallback):
    """Evaluate the greedy policy every ``eval_every`` steps; log training episodes.

    Keeps a copy of the best policy's weights, as SB3's ``EvalCallback`` saves a
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
                self.model, self.eval_env, n_eval_episodes=self.cfg.eval_episodes, deterministic=True
            )
            self.result.eval_steps.append(self.num_timesteps)
            self.result.eval_returns.append(float(mean))
            if mean > self.result.best_eval or self.best_state is None:
                self.result.best_eval = float(mean)
                self.best_state = copy.deepcopy(self.model.policy.state_dict())
            if mean >= self.cfg.solved_at and self.result.first_solved_step is None:
                self.result.first_solved_step = self.num_timesteps
        return True


# --8<-- [end:curve-callback]


# --8<-- [start:train]
def linear_schedule(start: float) -> Callable[[float], float]:
    """SB3 schedules get progress_remaining, going from 1 (start) to 0 (end of training)."""
    return lambda progress_remaining: progress_remaining * start


def train_a2c(cfg: Config, seed: int) -> tuple[A2C, RunResult]:
    """Train SB3's A2C with ``cfg`` and return the final model and its learning curve."""
    common.seed_everything(seed)
    envs = make_envs(cfg.env_id, cfg.n_envs, seed)
    eval_envs = make_envs(cfg.env_id, min(cfg.eval_episodes, 10), seed + 10_000)
    lr = linear_schedule(cfg.learning_rate) if cfg.linear_lr_decay else cfg.learning_rate
    model = A2C(
        "MlpPolicy",  # actor and critic: two 64-64 tanh MLPs on the 4 CartPole numbers
        envs,
        learning_rate=lr,
        n_steps=cfg.n_steps,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        seed=seed,
        device="cpu",  # small MLPs: the CPU beats a GPU here
    )
    result = RunResult(seed=seed)
    callback = LearningCurve(eval_envs, cfg, result)
    with common.Stopwatch() as clock:
        model.learn(total_timesteps=cfg.total_timesteps, callback=callback)
    result.seconds = clock.seconds
    final, _ = evaluate_policy(model, eval_envs, n_eval_episodes=cfg.final_eval_episodes, deterministic=True)
    result.final_eval = float(final)
    envs.close()
    eval_envs.close()
    return model, result


# --8<-- [end:train]


def moving_average_curve(
    steps: Sequence[int], returns: Sequence[float], window: int = 100, points: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Mean return of the last ``window`` episodes, sampled at ``points`` step counts."""
    steps_arr, returns_arr = np.asarray(steps), np.asarray(returns, dtype=float)
    grid = np.linspace(steps_arr[0], steps_arr[-1], points).astype(int)
    means = []
    for x in grid:
        done = returns_arr[steps_arr <= x]
        means.append(done[-window:].mean())
    return grid, np.asarray(means)


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
        left.plot(r.eval_steps, r.eval_returns, marker=".", label=f"seed {r.seed}")
    left.set(title="A2C: greedy evaluation return", xlabel="environment steps", ylabel="return")
    curves = [moving_average_curve(r.episode_steps, r.episode_returns) for r in results]
    grid = curves[0][0]
    ys = np.array([np.interp(grid, x, y) for x, y in curves])
    seeds = f"{len(results)} seed" + ("s" if len(results) > 1 else "")
    right.plot(grid, ys.mean(0), label=f"A2C, {cfg.n_envs} envs (mean of {seeds})")
    if len(results) > 1:
        right.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2, label="A2C, min to max over seeds")
    for curve in compare:
        right.plot(curve["x"], curve["y"], label=curve.get("label", "other"))
    right.set(title="Training return (mean of the last 100 episodes)", xlabel="environment steps")
    for ax in (left, right):
        ax.axhline(cfg.solved_at, color="grey", ls="--", lw=1, label=f"solved ({cfg.solved_at:g})")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.set_ylim(0, 520)
        ax.legend(fontsize=8, loc="lower right")
    return common.save_figure(fig, path)


def write_curve(results: Sequence[RunResult], path: str | os.PathLike[str], label: str) -> str:
    """Write the mean training curve as JSON {"x_label", "x", "y", "label"} (for overlays)."""
    curves = [moving_average_curve(r.episode_steps, r.episode_returns) for r in results]
    grid = curves[0][0]
    y = np.mean([np.interp(grid, x, yy) for x, yy in curves], axis=0)
    payload = {
        "x_label": "environment steps",
        "x": [int(v) for v in grid],
        "y": [round(float(v), 2) for v in y],
        "label": label,
    }
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f)
    return path



def main(argv: list[str] | None = None) -> dict:
    """Train A2C on CartPole-v1 over one or more seeds and print the metrics as JSON."""
    parser = common.lesson_parser(__doc__, prog="python -m snippets.c1_actor_critic_methods_a2c")
    parser.add_argument("--timesteps", type=common.positive_int, help="env steps per seed (default 200000)")
    parser.add_argument("--seeds", type=common.positive_int, default=1, help="train N seeds: seed..seed+N-1 (default 1)")
    parser.add_argument("--n-envs", type=common.positive_int, help="parallel environments (default 8)")
    parser.add_argument("--lr", type=common.positive_float, help="learning rate (default 7e-4)")
    parser.add_argument("--ent-coef", type=common.float_in_range(0, 1), help="entropy bonus weight in [0, 1] (default 0)")
    parser.add_argument("--gae-lambda", type=common.float_in_range(0, 1), help="GAE lambda in [0, 1] (default 1)")
    parser.add_argument("--constant-lr", action="store_true", help="do not anneal the learning rate")
    parser.add_argument("--eval-every", type=common.positive_int, help="env steps between evaluations (default 10000)")
    parser.add_argument("--plot", metavar="PATH", help="save the learning-curve figure here")
    parser.add_argument("--curve", metavar="PATH", help="write the mean training curve as JSON")
    parser.add_argument(
        "--compare-curve", metavar="PATH", action="append", default=[],
        help="overlay a curve JSON (e.g. from C0's --curve) on the plot; repeatable",
    )
    parser.add_argument("--save-runs", metavar="PATH", help="save every seed's results as JSON")
    parser.add_argument(
        "--load-runs", metavar="PATH", help="skip training: plot and report runs saved by --save-runs"
    )
    args = parser.parse_args(argv)
    for flag, paths in (("--compare-curve", args.compare_curve), ("--load-runs", [args.load_runs])):
        for p in paths:
            if p is not None and not os.path.isfile(p):
                parser.error(f"argument {flag}: no such file {p!r}")

    cfg = Config()
    if args.quick:
        cfg = replace(cfg, total_timesteps=20_000, eval_every=5_000, eval_episodes=5, final_eval_episodes=5)
    overrides = {
        "total_timesteps": args.timesteps, "n_envs": args.n_envs, "learning_rate": args.lr,
        "ent_coef": args.ent_coef, "gae_lambda": args.gae_lambda, "eval_every": args.eval_every,
    }
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if args.constant_lr:
        cfg = replace(cfg, linear_lr_decay=False)
    torch.set_num_threads(1)  # tiny networks: one thread is fastest and leaves cores free

    if args.load_runs:
        with open(args.load_runs) as f:
            saved = json.load(f)
        cfg = Config(**saved["config"])
        results = [RunResult(**run) for run in saved["runs"]]
    else:
        seeds = common.progress(range(args.seed, args.seed + args.seeds), desc="seeds", total=args.seeds)
        results = [train_a2c(cfg, seed)[1] for seed in seeds]
    if args.save_runs:
        os.makedirs(os.path.dirname(args.save_runs) or ".", exist_ok=True)
        with open(args.save_runs, "w") as f:
            json.dump({"config": asdict(cfg), "runs": [asdict(r) for r in results]}, f)
    if args.plot:
        compare = []
        for p in args.compare_curve:
            with open(p) as f:
                compare.append(json.load(f))
        plot_results(results, cfg, args.plot, compare)
    if args.curve:
        write_curve(results, args.curve, label=f"A2C (SB3), {cfg.n_envs} envs")
    solved = [r.first_solved_step for r in results]
    return common.emit_metrics({
        "timesteps": cfg.total_timesteps,
        "seeds": [r.seed for r in results],
        "solved_seeds": sum(s is not None for s in solved),
        "first_solved_step": solved,
        "best_eval": [r.best_eval for r in results],
        "final_eval": [r.final_eval for r in results],
        "mean_final_eval": float(np.mean([r.final_eval for r in results])),
        "seconds": float(sum(r.seconds for r in results)),
    })


if __name__ == "__main__":
    main()
