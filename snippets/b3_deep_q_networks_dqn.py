"""Lesson B3: Deep Q-Networks (DQN) with Stable-Baselines3 on CartPole-v1.

A neural network replaces the Q-table. Two tricks make that trainable: a replay buffer
(learn from shuffled old transitions, not the last few correlated ones) and a target
network (a frozen copy that supplies the TD target). We write both by hand, check that
our loss is exactly the one Stable-Baselines3 computes, then train SB3's ``DQN``,
evaluate it, save and reload it, and log to TensorBoard or Weights & Biases.
"""

# --8<-- [start:imports]
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from snippets import common, curves

# --8<-- [end:imports]


# --8<-- [start:config]
Share = Annotated[float, common.Range(0, 1, low_open=True)]  # a share of training, in (0, 1]


@dataclass(frozen=True)
class DQNConfig:
    """Every setting of one DQN run on CartPole-v1 (the page explains each one)."""

    env_id: str = "CartPole-v1"  # the Gymnasium environment
    total_timesteps: common.PosInt = 100_000  # environment steps of training
    # The Q-network and how fast it learns
    net_arch: tuple[common.PosInt, ...] = (256, 256)  # hidden layers of the MLP state -> Q(s, .)
    learning_rate: common.PosFloat = 2.3e-3  # Adam step size at the start ...
    final_learning_rate: common.NonNegFloat = 0.0  # ... decayed linearly to this by the last step
    max_grad_norm: common.PosFloat = 10.0  # clip the gradient's global norm (SB3 default)
    # The replay buffer and the updates drawn from it
    buffer_size: common.PosInt = 100_000  # transitions kept; >= total_timesteps keeps every one
    learning_starts: common.NonNegInt = 1_000  # random-policy steps before the first update
    batch_size: common.PosInt = 128  # transitions per gradient step
    train_freq: common.PosInt = 256  # collect this many env steps, then ...
    gradient_steps: common.PosInt = 128  # ... do this many gradient steps
    # The TD target
    gamma: common.Prob = 0.99  # discount: the horizon is about 1 / (1 - gamma) = 100 steps
    target_update_interval: common.PosInt = 10  # env steps between target-network copies
    # Exploration: epsilon decays linearly from 1 to its final value
    exploration_fraction: Share = 0.16  # share of total_timesteps spent decaying epsilon
    exploration_final_eps: common.Prob = 0.04  # epsilon afterwards
    # Periodic evaluation, which picks the checkpoint the lesson keeps
    eval_freq: common.PosInt = 5_000  # env steps between evaluations
    eval_episodes: common.PosInt = 10  # greedy episodes per periodic evaluation
    final_eval_episodes: common.PosInt = 20  # fresh greedy episodes that score the kept agent
    threads: common.PosInt = 1  # torch CPU threads (a 256-wide MLP is fastest on one)
    seeds: common.PosInt = 1  # runs to train, with seeds seed, seed+1, ...


# RL Baselines3 Zoo's tuned CartPole-v1 settings (hyperparams/dqn.yml) differ from ours in two.
RL_ZOO = {"final_learning_rate": 2.3e-3, "batch_size": 64}
PRESETS = {"lesson": {}, "zoo": RL_ZOO}  # --preset: the settings a run starts from
TITLES = {"lesson": "lesson settings", "zoo": "RL Zoo settings"}
# --8<-- [end:config]


# --8<-- [start:replay-buffer]
class Batch(NamedTuple):
    """A minibatch of transitions; the field names match SB3's ``ReplayBufferSamples``."""

    observations: torch.Tensor  # (B, obs_dim) states s
    actions: torch.Tensor  # (B, 1) actions a, as integers
    next_observations: torch.Tensor  # (B, obs_dim) next states s'
    dones: torch.Tensor  # (B, 1) 1.0 if s' is terminal (NOT if the time limit cut the episode)
    rewards: torch.Tensor  # (B, 1) rewards r


class ReplayBuffer:
    """A fixed-size ring buffer of transitions with uniform sampling.

    When it is full, each new transition overwrites the oldest one.
    """

    def __init__(self, capacity: int, obs_dim: int) -> None:
        self.capacity = capacity
        self.observations = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_observations = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, 1), dtype=np.int64)
        self.rewards = np.zeros((capacity, 1), dtype=np.float32)
        self.dones = np.zeros((capacity, 1), dtype=np.float32)
        self.pos = 0  # where the next transition goes
        self.size = 0  # how many slots hold data

    def add(
        self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool
    ) -> None:
        """Store one transition (s, a, r, s', terminated)."""
        i = self.pos
        self.observations[i], self.next_observations[i] = obs, next_obs
        self.actions[i], self.rewards[i], self.dones[i] = action, reward, float(terminated)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Draw ``batch_size`` stored transitions uniformly, with replacement."""
        idx = rng.integers(0, self.size, size=batch_size)
        fields = (self.observations, self.actions, self.next_observations, self.dones, self.rewards)
        return Batch(*(torch.as_tensor(a[idx]) for a in fields))


# --8<-- [end:replay-buffer]


# --8<-- [start:td-target]
# --8<-- [start:dqn-target]
def td_target(
    rewards: torch.Tensor, dones: torch.Tensor, next_q_target: torch.Tensor, gamma: float
) -> torch.Tensor:
    """The one-step TD target y = r + gamma * (1 - done) * max_a' Q_target(s', a').

    Args:
        rewards: (B, 1) rewards.
        dones: (B, 1) 1.0 where s' is terminal: nothing follows, so the target is just r.
        next_q_target: (B, n_actions) Q-values of s' from the *target* network.
        gamma: discount factor.

    Returns:
        (B, 1) targets, with no gradient attached.
    """
    with torch.no_grad():
        best_next = next_q_target.max(dim=1, keepdim=True).values
        return rewards + gamma * (1.0 - dones) * best_next


# --8<-- [end:dqn-target]
# --8<-- [start:dqn-loss]
def dqn_loss(
    q_net: torch.nn.Module, q_target: torch.nn.Module, batch: Batch, gamma: float
) -> torch.Tensor:
    """DQN's loss on a minibatch: Huber(Q(s, a), y) with y from the target network."""
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())  # Q(s, a) for the a taken
    y = td_target(batch.rewards, batch.dones, q_target(batch.next_observations), gamma)
    return F.smooth_l1_loss(q_taken, y)  # Huber: squared error near 0, absolute error beyond 1


# --8<-- [end:dqn-loss]
# --8<-- [end:td-target]


# --8<-- [start:epsilon]
def epsilon_at(step: int, config: DQNConfig) -> float:
    """Exploration rate after ``step`` env steps: linear from 1.0, then flat."""
    decay = curves.linear_schedule(1.0, config.exploration_final_eps, config.exploration_fraction)
    return decay(1.0 - step / config.total_timesteps)  # SB3 counts progress *remaining*


# --8<-- [end:epsilon]


# --8<-- [start:make-model]
# The DQNConfig fields SB3's DQN takes under the same names.
SB3_SETTINGS = """buffer_size learning_starts batch_size gamma train_freq gradient_steps
target_update_interval exploration_fraction exploration_final_eps max_grad_norm"""


def make_model(config: DQNConfig, seed: int, tensorboard_log: str | None = None) -> DQN:
    """Build SB3's DQN for ``config``, seeded, on the CPU."""
    env = Monitor(gym.make(config.env_id))  # Monitor records episode returns for the logs
    return DQN(
        "MlpPolicy",
        env,
        learning_rate=curves.linear_schedule(config.learning_rate, config.final_learning_rate),
        **common.config_kwargs(config, SB3_SETTINGS),
        policy_kwargs={"net_arch": list(config.net_arch)},
        tensorboard_log=tensorboard_log,
        seed=seed,
        device="cpu",  # a small MLP is faster on the CPU than shuttling tiny batches to a GPU
        verbose=0,
    )


# --8<-- [end:make-model]


# --8<-- [start:evaluate]
def make_eval_env(config: DQNConfig, seed: int) -> DummyVecEnv:
    """A seeded, Monitor-wrapped evaluation env (separate from the training env)."""
    env = DummyVecEnv([lambda: Monitor(gym.make(config.env_id))])
    env.seed(seed)  # the next reset() uses this seed
    return env


def evaluate(model: DQN, config: DQNConfig, seed: int, n_episodes: int) -> tuple[float, float]:
    """Mean and std of the return of the greedy policy over ``n_episodes`` episodes."""
    env = make_eval_env(config, seed)
    mean, std = evaluate_policy(model, env, n_eval_episodes=n_episodes, deterministic=True)
    env.close()
    return float(mean), float(std)


# --8<-- [end:evaluate]


# --8<-- [start:callbacks]
class ProgressBar(BaseCallback):
    """A progress bar over environment steps (silenced by RL_COURSE_PROGRESS=0)."""

    def _on_training_start(self) -> None:
        total = self.locals["total_timesteps"]
        self.bar = common.progress(range(total), desc="DQN env steps", total=total)

    def _on_step(self) -> bool:
        next(self.bar, None)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


class EvalCurve(BaseCallback):
    """Runs after each periodic evaluation and records (env steps, mean eval return)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []
        self.returns: list[float] = []

    def _on_step(self) -> bool:
        self.steps.append(self.num_timesteps)
        self.returns.append(float(self.parent.last_mean_reward))  # type: ignore[union-attr]
        return True


# --8<-- [end:callbacks]


# --8<-- [start:train]
@dataclass
class RunResult:
    """What one training run leaves behind."""

    final: DQN  # the agent after the last training step
    kept: DQN  # the best checkpoint by periodic evaluation (the agent the lesson keeps)
    curve: EvalCurve  # periodic evaluation returns
    best_step: int  # env step at which the kept checkpoint was saved
    seconds: float  # wall time of learn(), periodic evaluations included
    cpu_seconds: float  # CPU time of this process during learn() (robust to a busy machine)


def train(
    config: DQNConfig,
    seed: int,
    tensorboard_log: str | None = None,
    callbacks: tuple[BaseCallback, ...] = (),
) -> RunResult:
    """Train SB3's DQN for ``config.total_timesteps`` and keep the best evaluated checkpoint."""
    torch.set_num_threads(config.threads)
    common.seed_everything(seed)
    model = make_model(config, seed, tensorboard_log)
    curve = EvalCurve()
    with tempfile.TemporaryDirectory() as ckpt_dir:
        evaluator = EvalCallback(
            make_eval_env(config, seed + curves.EVAL_SEED_OFFSET),  # not the final test's episodes
            eval_freq=config.eval_freq,
            n_eval_episodes=config.eval_episodes,
            deterministic=True,
            best_model_save_path=ckpt_dir,  # saves best_model.zip on every new best mean
            callback_after_eval=curve,
            verbose=0,
        )
        cpu_start = time.process_time()
        with common.Stopwatch() as clock:
            model.learn(
                config.total_timesteps,
                callback=CallbackList([evaluator, ProgressBar(), *callbacks]),
                tb_log_name=f"dqn_seed{seed}",
            )
        cpu_seconds = time.process_time() - cpu_start
        best_path = Path(ckpt_dir) / "best_model.zip"
        kept = DQN.load(best_path, device="cpu") if best_path.exists() else model
    best_step = (
        curve.steps[int(np.argmax(curve.returns))] if curve.returns else config.total_timesteps
    )
    return RunResult(model, kept, curve, best_step, clock.seconds, cpu_seconds)


# --8<-- [end:train]


# --8<-- [start:save-load]
def save_and_reload(model: DQN, path: str | os.PathLike[str]) -> DQN:
    """Save a trained agent to a .zip file and load it back as a fresh object."""
    model.save(path)  # network weights, optimizer state and hyperparameters, no replay buffer
    return DQN.load(path, device="cpu")


# --8<-- [end:save-load]


# --8<-- [start:wandb]
def start_wandb(
    config: DQNConfig, seed: int, project: str = "rl-course-b3"
) -> tuple[Any, BaseCallback]:
    """Start a W&B run and return it with SB3's ``WandbCallback``.

    With ``sync_tensorboard=True`` W&B copies every scalar SB3 writes to TensorBoard, so
    the model must be built with a ``tensorboard_log`` folder. Without an API key (and
    without ``WANDB_MODE`` set) the run is recorded offline: upload it later with
    ``wandb sync <run dir>``. No key is ever asked for.
    """
    import wandb
    from wandb.integration.sb3 import WandbCallback

    has_key = bool(os.environ.get("WANDB_API_KEY"))
    mode = os.environ.get("WANDB_MODE") or ("online" if has_key else "offline")
    run = wandb.init(
        project=project,
        name=f"dqn-cartpole-seed{seed}",
        config={**asdict(config), "seed": seed},
        sync_tensorboard=True,
        mode=mode,
        reinit="finish_previous",
    )
    return run, WandbCallback(verbose=0)


# --8<-- [end:wandb]


# --8<-- [start:plot]
def plot_eval_curves(
    runs: list[dict[str, Any]], title: str, threshold: float = curves.SOLVED_RETURN
) -> Any:
    """Periodic greedy eval return against env steps, one line per seed.

    Args:
        runs: one dict per seed with keys ``seed``, ``steps``, ``returns`` and ``kept_from_step``
            (the checkpoint the lesson keeps, marked with a star).
        title: the panel title.
        threshold: the "solved" line.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for run in runs:
        label = f"seed {run['seed']}"
        (line,) = ax.plot(run["steps"], run["returns"], "o-", ms=3, lw=1.2, label=label)
        if run["kept_from_step"] in run["steps"]:  # star the checkpoint the lesson keeps
            best = run["steps"].index(run["kept_from_step"])
            ax.plot(run["kept_from_step"], run["returns"][best], "*", ms=12, color=line.get_color())
    ax.axhline(threshold, color="black", ls="--", lw=0.8, label=f"solved ({threshold:g})")
    ax.set(title=title, xlabel="environment steps", ylim=(0, 520))
    ax.set_ylabel("greedy eval return (10 episodes)")
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    return fig


def save_gif(
    model: DQN, config: DQNConfig, seed: int, path: str, every: int = 4, width: int = 240
) -> int:
    """Render one greedy episode offline (rgb_array) into a small animated GIF.

    Returns:
        The episode's return.
    """
    from PIL import Image

    env = gym.make(config.env_id, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    frames, total, done, t = [], 0.0, False, 0
    while not done:
        if t % every == 0:
            img = Image.fromarray(env.render())
            frames.append(img.resize((width, width * img.height // img.width)).quantize(colors=16))
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(int(action))
        total, done, t = total + float(reward), terminated or truncated, t + 1
    env.close()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=40 * every, loop=0, optimize=True
    )
    return int(total)


# --8<-- [end:plot]


# --8<-- [start:main]
def run_seed(
    config: DQNConfig, seed: int, tensorboard: str | None = None, wandb: bool = False
) -> tuple[dict[str, Any], RunResult]:
    """Train one seed (logged to W&B if asked), then score both agents on fresh episodes."""
    run, callbacks = None, ()
    if wandb:
        run, wandb_callback = start_wandb(config, seed)
        tensorboard = tensorboard or os.path.join(run.dir, "tensorboard")
        callbacks = (wandb_callback,)
    result = train(config, seed, tensorboard, callbacks)
    test_seed = seed + curves.TEST_SEED_OFFSET  # never seen by the checkpoint selection
    kept_mean, kept_std = evaluate(result.kept, config, test_seed, config.final_eval_episodes)
    final_mean, _ = evaluate(result.final, config, test_seed, config.final_eval_episodes)
    if run is not None:
        run.summary.update({"kept_mean_return": kept_mean, "final_mean_return": final_mean})
        run.finish()
    scores = {"seed": seed, "kept_mean_return": kept_mean, "kept_std_return": kept_std}
    scores |= {"kept_from_step": result.best_step, "final_mean_return": final_mean}
    return scores | {"seconds": result.seconds, "cpu_seconds": result.cpu_seconds}, result


def summary(per_seed: list[dict[str, Any]], config: DQNConfig, preset: str) -> dict[str, Any]:
    """The JSON line: a list over seeds, or the number itself when there is one seed."""
    keys = ("kept_mean_return", "final_mean_return", "seconds")
    kept, final, seconds = ([r[k] for r in per_seed] for k in keys)
    pick = (lambda xs: xs[0]) if len(per_seed) == 1 else (lambda xs: xs)
    out = {"preset": preset, "timesteps": config.total_timesteps}
    out |= {"kept_agent": "best periodic-eval checkpoint", "kept_mean_return": pick(kept)}
    out["final_mean_return"] = pick(final)
    out["seeds_kept_at_least_475"] = sum(k >= curves.SOLVED_RETURN for k in kept)
    out["seeds_final_at_least_475"] = sum(f >= curves.SOLVED_RETURN for f in final)
    return out | {"seconds_per_seed": pick(seconds), "per_seed": per_seed}


def write_mean_curve(results: list[RunResult], path: str, label: str) -> str:
    """Write the periodic-evaluation return, averaged over seeds, as a curve file."""
    length = min(len(r.curve.steps) for r in results)
    mean = np.mean([r.curve.returns[:length] for r in results], axis=0)
    return curves.write_curve(path, results[0].curve.steps[:length], mean, label)


QUICK = {"total_timesteps": 3_000, "eval_freq": 1_500, "eval_episodes": 3, "final_eval_episodes": 5}


def parse(argv: list[str] | None = None) -> tuple[DQNConfig, Any]:
    """Read the command line: a flag per ``DQNConfig`` field, the preset, seeds and outputs.

    Returns:
        ``(config, args)``: the preset's settings, except where a flag set the same field.
    """
    outputs = {
        "save": "save the kept agent (first seed) as a .zip",
        "plot": "save the eval-return-vs-steps figure (PNG)",
        "curve": "write the mean eval curve as JSON",
        "gif": "render one greedy episode of the kept agent",
        "tensorboard": ("DIR", "write TensorBoard logs under DIR"),
    }
    aliases = {"total_timesteps": "--timesteps"}
    parser = common.config_parser(
        DQNConfig, __doc__, __spec__, quick=QUICK, aliases=aliases, outputs=outputs
    )
    start = "start from these settings; flags you give win (default lesson)"
    parser.add_argument("--preset", choices=sorted(PRESETS), default="lesson", help=start)
    parser.add_argument("--wandb", action="store_true", help="log to W&B (offline without a key)")
    config, args = common.parse_config(parser, argv)
    preset = {k: v for k, v in PRESETS[args.preset].items() if k not in vars(args)}
    return replace(config, **preset), args


def main(argv: list[str] | None = None) -> dict:
    """Train DQN on CartPole-v1 for one or more seeds and print the scores as JSON."""
    config, args = parse(argv)
    seeds = range(args.seed, args.seed + config.seeds)
    per_seed, results = [], []
    for seed in common.progress(seeds, desc="seeds", total=config.seeds):
        scores, result = run_seed(config, seed, args.tensorboard, args.wandb)
        per_seed.append(scores)
        results.append(result)
    if args.save:
        save_and_reload(results[0].kept, args.save)
    if args.gif:
        save_gif(results[0].kept, config, args.seed + curves.TEST_SEED_OFFSET, args.gif)
    if args.plot:
        runs = [
            s | {"steps": r.curve.steps, "returns": r.curve.returns}
            for s, r in zip(per_seed, results, strict=True)
        ]
        title = f"DQN on CartPole-v1, {TITLES[args.preset]} (star: kept checkpoint)"
        common.save_figure(plot_eval_curves(runs, title), args.plot)
    if args.curve:
        label = f"DQN (SB3), {args.preset} settings"
        label += f", mean of {config.seeds} seeds" if config.seeds > 1 else ""
        write_mean_curve(results, args.curve, label)
    return common.emit_metrics(summary(per_seed, config, args.preset))


if __name__ == "__main__":
    main()
# --8<-- [end:main]
