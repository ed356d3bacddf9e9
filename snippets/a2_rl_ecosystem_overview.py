"""Lesson A2: the RL ecosystem in practice: a seeded Gymnasium episode and a small SB3 agent.

Gymnasium defines the interface every environment in this course speaks: ``reset(seed=...)``
and a ``step`` that returns ``(obs, reward, terminated, truncated, info)``. Stable-Baselines3
trains agents against that interface. This module runs one reproducible random episode,
steps a vector of environments, and trains, evaluates, saves and reloads a PPO agent.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run."""

    env_id: str = "CartPole-v1"  # any Gymnasium id with Box or Discrete spaces
    algo: Literal["ppo", "a2c"] = "ppo"  # the SB3 algorithm to train
    timesteps: common.PosInt = 20_000  # training steps
    n_steps: common.PosInt = 128  # PPO: steps per rollout, then updates
    batch_size: common.PosInt = 64  # PPO: minibatch size
    n_epochs: common.PosInt = 4  # PPO: passes over each rollout
    random_episodes: common.PosInt = 100  # episodes of the random baseline
    eval_episodes: common.PosInt = 20  # episodes that score the trained agent
    torch_threads: common.PosInt = 1  # small MLPs run fastest on one thread


# --8<-- [end:config]


# --8<-- [start:spaces]
def describe_env(env_id: str) -> dict[str, Any]:
    """What an agent needs to know about an environment before it can act in it.

    Returns:
        The observation and action spaces (as text), the step limit that turns into
        ``truncated=True``, and the return at which the task counts as solved.
    """
    env = gym.make(env_id)
    info = {
        "observation_space": str(env.observation_space),
        "action_space": str(env.action_space),
        "max_episode_steps": env.spec.max_episode_steps,
        "reward_threshold": env.spec.reward_threshold,
    }
    env.close()
    return info


# --8<-- [end:spaces]


# --8<-- [start:random-episode]
@dataclass(frozen=True)
class Episode:
    """Summary of one finished episode."""

    total_reward: float  # the undiscounted return
    length: int  # number of env.step calls
    terminated: bool  # a terminal state of the MDP (pole fell, goal, ...)
    truncated: bool  # stopped from outside the MDP (a time limit)


def run_random_episode(env_id: str, seed: int, **make_kwargs: Any) -> Episode:
    """Play one episode with uniformly random actions, reproducibly.

    Args:
        env_id: A registered id such as ``"CartPole-v1"``.
        seed: Seeds both the environment (through ``reset``) and the action sampler.
        **make_kwargs: Passed to ``gym.make``, e.g. ``max_episode_steps=10``.

    Returns:
        The episode's return, length and how it ended.
    """
    env = gym.make(env_id, **make_kwargs)
    obs, info = env.reset(seed=seed)  # seeds the environment's generator
    env.action_space.seed(seed)  # the action sampler has its own
    total_reward, length = 0.0, 0
    while True:
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        total_reward += float(reward)
        length += 1
        if terminated or truncated:
            break
    env.close()
    return Episode(total_reward, length, bool(terminated), bool(truncated))


# --8<-- [end:random-episode]


# --8<-- [start:bootstrap]
def td_target(
    reward: np.ndarray, next_value: np.ndarray, terminated: np.ndarray, gamma: float
) -> np.ndarray:
    """One-step bootstrapped target r + gamma * V(s'), cut off only at a true terminal state.

    A truncated episode did not end in the MDP: the state after the time limit still has a
    future, so its value is kept. Passing ``terminated or truncated`` here instead is the
    classic bug that Gymnasium's two flags exist to prevent.
    """
    return reward + gamma * next_value * (1.0 - terminated.astype(float))


# --8<-- [end:bootstrap]


# --8<-- [start:vector-env]
@dataclass(frozen=True)
class VectorRollout:
    """Episodes finished while stepping a vector environment, and the step accounting."""

    episode_returns: list[float]
    episode_lengths: list[int]
    transitions: int  # steps that were real moves in some episode
    reset_steps: int  # steps a sub-environment spent being reset (next-step autoreset)


def random_vector_rollout(env_id: str, num_envs: int, num_steps: int, seed: int) -> VectorRollout:
    """Step ``num_envs`` copies of an environment together with random actions.

    Gymnasium's vector environments reset a finished sub-environment automatically, by
    default on the *next* call to ``step``: that call ignores the sub-environment's action
    and returns its first observation with reward 0. Training code must not count it as a
    transition.
    """
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    envs.reset(seed=seed)  # sub-environment i is seeded with seed + i
    envs.action_space.seed(seed)
    returns, lengths = np.zeros(num_envs), np.zeros(num_envs, dtype=int)
    autoreset = np.zeros(num_envs, dtype=bool)
    finished_returns: list[float] = []
    finished_lengths: list[int] = []
    transitions = reset_steps = 0
    for _ in range(num_steps):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        real = ~autoreset  # envs that ended last step were only reset now
        transitions += int(real.sum())
        reset_steps += int(autoreset.sum())
        returns[real] += reward[real]
        lengths[real] += 1
        for i in np.flatnonzero((terminated | truncated) & real):
            finished_returns.append(float(returns[i]))
            finished_lengths.append(int(lengths[i]))
            returns[i], lengths[i] = 0.0, 0
        autoreset = terminated | truncated
    envs.close()
    return VectorRollout(finished_returns, finished_lengths, transitions, reset_steps)


# --8<-- [end:vector-env]


# --8<-- [start:train]
ALGORITHMS = ("ppo", "a2c")


def make_agent(
    env_id: str,
    seed: int,
    algo: str = Config.algo,
    cfg: Config | None = None,
    tensorboard_log: str | None = None,
) -> Any:
    """Build an untrained Stable-Baselines3 agent with a small MLP policy.

    Args:
        env_id: Environment to train on; SB3 wraps it in a one-environment ``DummyVecEnv``.
        seed: Seeds Python, NumPy, torch, the environment and the action space.
        algo: ``"ppo"`` or ``"a2c"``: same interface, different update rule (chapter C).
        cfg: Rollout and minibatch sizes for PPO (default ``Config()``).
        tensorboard_log: Folder for TensorBoard event files, or ``None`` for no logging.

    Returns:
        A ``stable_baselines3.PPO`` or ``A2C`` model on the CPU.
    """
    import torch
    from stable_baselines3 import A2C, PPO  # imports torch (seconds): only here

    cfg = cfg or Config()
    torch.set_num_threads(cfg.torch_threads)
    env = gym.make(env_id)
    common_kwargs = dict(seed=seed, device="cpu", verbose=0, tensorboard_log=tensorboard_log)
    if algo == "ppo":
        settings = common.config_kwargs(cfg, "n_steps batch_size n_epochs")  # SB3's names
        return PPO("MlpPolicy", env, **settings, **common_kwargs)
    if algo == "a2c":
        return A2C("MlpPolicy", env, **common_kwargs)
    raise ValueError(f"algo must be one of {ALGORITHMS}, got {algo!r}")


def train_agent(env_id: str, timesteps: int, seed: int, **options: Any) -> Any:
    """Build an agent with :func:`make_agent` and train it for (at least) ``timesteps`` steps.

    ``options`` are ``make_agent``'s own (``algo``, ``cfg``, ``tensorboard_log``). On-policy
    algorithms learn from whole rollouts of ``n_steps`` steps, so the count is rounded up to a
    multiple of it: ``model.num_timesteps`` says how many were taken.
    """
    model = make_agent(env_id, seed, **options)
    model.learn(total_timesteps=timesteps, callback=_progress_callback(timesteps))
    return model


# --8<-- [end:train]


def _progress_callback(total: int) -> Any:
    """An SB3 callback that advances the course's progress bar once per environment step."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Progress(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.ticks = iter(common.progress(range(total), desc="training", total=total))

        def _on_step(self) -> bool:
            next(self.ticks, None)
            return True

    return Progress()


# --8<-- [start:evaluate]
# --8<-- [start:greedy-evaluate]
def evaluate(model: Any, env_id: str, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes with the greedy (deterministic) policy.

    Episode ``i`` starts from ``reset(seed=seed + i)``, so two agents evaluated with the
    same seed face exactly the same start states.
    """
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action, _state = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.array(returns)


# --8<-- [end:greedy-evaluate]


def random_returns(env_id: str, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` random-action episodes: the baseline any agent must beat."""
    episodes_played = [run_random_episode(env_id, seed + i) for i in range(episodes)]
    return np.array([episode.total_reward for episode in episodes_played])


# --8<-- [end:evaluate]


# --8<-- [start:save-load]
def save_and_reload(model: Any, path: str | Path) -> Any:
    """Save a model to one zip file and load it back (on the CPU) as a fresh object.

    The zip holds the network weights, the optimizer state and the hyperparameters, not the
    environment: pass ``env=`` to ``load`` to continue training.
    """
    model.save(path)
    return type(model).load(path, device="cpu")


# --8<-- [end:save-load]


# --8<-- [start:plot]
def plot_returns(
    random: np.ndarray, trained: np.ndarray, title: str, solved_return: float | None = None
) -> Any:
    """Histogram of episode returns: random actions against the trained agent.

    Each histogram shows the share of its own episodes, so runs with different episode
    counts compare directly.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, ax = plt.subplots()
    low = min(float(random.min()), float(trained.min()), 0.0)
    high = max(float(random.max()), float(trained.max()), solved_return or 0.0)
    bins = np.linspace(low, high + 0.02 * (high - low) + 1.0, 41)
    for returns, label in ((random, "random actions"), (trained, "trained agent")):
        weights = np.full(len(returns), 1.0 / len(returns))
        label = f"{label}: mean {returns.mean():.1f} over {len(returns)} episodes"
        ax.hist(returns, bins=bins, weights=weights, alpha=0.7, label=label)
    if solved_return is not None:
        label = f"solved ({solved_return:g})"
        ax.axvline(solved_return, color="black", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel("episode return")
    ax.set_ylabel("share of episodes")
    ax.set_title(title)
    ax.legend(loc="upper center")
    return fig


# --8<-- [end:plot]


# --8<-- [start:check-env-id]
def env_id_problem(env_id: str) -> str | None:
    """Why ``env_id`` cannot be used by this lesson, in one line, or ``None`` if it can."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the error below says it in one line
            env = gym.make(env_id)
    except (gym.error.DeprecatedEnv, gym.error.DependencyNotInstalled) as error:
        return " ".join(str(error).split())  # e.g. "Please use Taxi-v4", "install Box2D"
    except gym.error.Error as error:  # an id Gymnasium does not know
        hint = "try CartPole-v1, Acrobot-v1, MountainCar-v0 or Pendulum-v1"
        return " ".join(f"{error} ({hint})".split())
    supported = (gym.spaces.Box, gym.spaces.Discrete)
    spaces = {"observation": env.observation_space, "action": env.action_space}
    env.close()
    for name, space in spaces.items():
        if not isinstance(space, supported):
            kind = type(space).__name__
            return f"{env_id} has a {kind} {name} space; this lesson needs Box or Discrete"
    return None


# --8<-- [end:check-env-id]


# --8<-- [start:main]
def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags and where to write the figure and the logs."""
    quick = {"timesteps": 512, "random_episodes": 20, "eval_episodes": 5}
    outputs = {
        "tensorboard": ("DIR", "write TensorBoard logs to DIR"),
        "plot": "save the return histogram as a PNG",
    }
    return common.config_parser(Config, __doc__, __spec__, quick=quick, outputs=outputs)


def main(argv: list[str] | None = None) -> dict:
    """Run a seeded random episode, train an agent, and compare it with random play."""
    cfg, args = common.parse_config(parser := command_line(), argv)
    if problem := env_id_problem(cfg.env_id):
        parser.error(f"argument --env-id: {problem}")
    importlib.import_module("stable_baselines3")  # import before the training clock starts
    with common.Stopwatch() as total_clock:
        first = run_random_episode(cfg.env_id, args.seed)
        baseline = random_returns(cfg.env_id, cfg.random_episodes, seed=args.seed)
        with common.Stopwatch() as train_clock:
            options = {"algo": cfg.algo, "cfg": cfg, "tensorboard_log": args.tensorboard}
            model = train_agent(cfg.env_id, cfg.timesteps, args.seed, **options)
        trained = evaluate(model, cfg.env_id, cfg.eval_episodes, seed=args.seed)
    if args.plot:
        title = f"{cfg.env_id}: {cfg.algo.upper()} after {model.num_timesteps} steps"
        solved = describe_env(cfg.env_id)["reward_threshold"]
        common.save_figure(plot_returns(baseline, trained, title, solved), args.plot)
    metrics = {
        "env_id": cfg.env_id,
        "algo": cfg.algo,
        "seed": args.seed,
        "random_episode_return": first.total_reward,
        "random_episode_length": first.length,
        "random_mean_return": baseline.mean(),
        "trained_mean_return": trained.mean(),
        "timesteps": model.num_timesteps,
        "train_seconds": train_clock.seconds,
        "seconds": total_clock.seconds,
    }
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
