"""Lesson C3: continuous actions: a Gaussian policy for PPO from scratch, and SAC, on Pendulum-v1.

CartPole has two actions; a robot joint has a torque. This module swaps lesson C2's
categorical policy for a Gaussian one with a state-independent log standard deviation,
adds observation and reward normalisation, and trains it with C2's own rollout and PPO
update on Pendulum-v1. ``--algo sac`` trains Stable-Baselines3's SAC, an off-policy method
with a replay buffer, on the same task and scores it the same way; SAC's losses are also
written out as small functions, which the tests check against SB3's on one replay batch.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from snippets import c2_proximal_policy_optimization_ppo_cartpole as c2
from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of both runs on Pendulum-v1 (PPO's follow RL Zoo's, without gSDE)."""

    env_id: str = "Pendulum-v1"
    algo: Literal["ppo", "sac"] = "ppo"  # Gaussian PPO from scratch, or SB3's SAC
    ppo_timesteps: common.PosInt = 200_000  # PPO's budget of environment steps
    sac_timesteps: common.PosInt = 20_000  # SAC's budget: a tenth of PPO's
    n_envs: common.PosInt = 4  # parallel environments for PPO
    n_steps: common.PosInt = 500  # steps per env per rollout: 4 x 500 = 2000 transitions
    batch_size: common.PosInt = 64  # PPO's minibatch size
    n_epochs: common.PosInt = 10  # passes over each rollout
    gamma: common.Prob = 0.9  # a short horizon: swinging up takes about 100 steps
    gae_lambda: common.Prob = 0.95  # GAE's lambda
    learning_rate: common.PosFloat = 1e-3  # Adam's step size (PPO and SAC)
    anneal_lr: bool = False  # shrink PPO's learning rate linearly to 0
    clip_coef: common.PosFloat = 0.2  # PPO's epsilon
    anneal_clip: bool = False  # shrink epsilon linearly to 0
    value_clip: common.NonNegFloat = 0.0  # clip V's move per rollout; 0 = off
    vf_coef: common.NonNegFloat = 1.0  # weight of C2's value loss (which has a 1/2)
    ent_coef: common.NonNegFloat = 0.0  # weight of the entropy bonus
    max_grad_norm: common.PosFloat = 0.5  # clip the gradient's global norm
    normalize_advantage: bool = True  # standardise advantages within each minibatch
    log_std_init: float = 0.0  # log sigma at the start: sigma = 1 on a torque range of +-2
    normalize_obs: bool = True  # standardise observations with running statistics
    normalize_reward: bool = True  # divide rewards by the running std of the return
    eval_every: common.PosInt = 10_000  # env steps between greedy evaluations (SAC: a tenth)
    eval_episodes: common.PosInt = 10  # episodes per evaluation (they pick the kept agent)
    final_eval_episodes: common.PosInt = 20  # fresh episodes that score the kept and final agents


# --8<-- [end:config]


# --8<-- [start:gaussian]
# --8<-- [start:gaussian-log-prob]
def gaussian_log_prob(
    action: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> torch.Tensor:
    """Log-density of N(a; mu, diag(sigma^2)), summed over the action's dimensions (last axis)."""
    z = (action - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


# --8<-- [end:gaussian-log-prob]
def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of that Gaussian: it depends on sigma only, not on the mean or the state."""
    return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


# --8<-- [start:squashed-log-prob]
def squashed_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of a = tanh(u) with u ~ N(mean, sigma^2), as SAC samples its actions.

    Change of variables: p(a) = p(u) / |da/du| and da/du = 1 - tanh(u)^2, per dimension.
    """
    return gaussian_log_prob(u, mean, log_std) - torch.log(1 - torch.tanh(u) ** 2 + 1e-6).sum(-1)


# --8<-- [end:squashed-log-prob]
# --8<-- [end:gaussian]


# --8<-- [start:normalise]
class RunningNorm(nn.Module):
    """Running mean and variance of a stream of vectors; ``forward`` standardises and clips.

    The statistics are buffers, so they are saved with the agent's weights: an agent is
    only meaningful together with the normalisation it was trained with.
    """

    def __init__(self, dim: int, clip: float = 10.0) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge the statistics of a batch ``x`` of shape (n, dim) (Chan et al.'s formula)."""
        n, batch_mean, batch_var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var.copy_(
            (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        )
        self.count.fill_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / std, clipped to [-clip, clip]."""
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


class RewardScaler:
    """Divide rewards by the running std of the discounted return (SB3's ``VecNormalize``)."""

    def __init__(self, n_envs: int, gamma: float) -> None:
        self.gamma, self.returns, self.stats = gamma, np.zeros(n_envs), RunningNorm(1)

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scale a rollout's rewards, shape (T, n_envs); ``dones`` restart the running return."""
        seen = []
        for t in range(len(rewards)):
            self.returns = self.returns * self.gamma + rewards[t]
            seen.append(self.returns.copy())
            self.returns[dones[t]] = 0.0
        self.stats.update(torch.as_tensor(np.concatenate(seen), dtype=torch.float32)[:, None])
        return np.clip(rewards / math.sqrt(self.stats.var.item() + 1e-8), -10, 10)


# --8<-- [end:normalise]


# --8<-- [start:agent]
class GaussianAgent(nn.Module):
    """C2's two networks, with a Gaussian head: the actor outputs the mean, log sigma is free."""

    def __init__(
        self, obs_dim: int, low: np.ndarray, high: np.ndarray, log_std_init: float
    ) -> None:
        super().__init__()
        self.norm = RunningNorm(obs_dim)
        self.actor = c2.mlp(obs_dim, len(low), out_gain=0.01)
        self.critic = c2.mlp(obs_dim, 1, out_gain=1.0)
        self.log_std = nn.Parameter(
            torch.full((len(low),), log_std_init)
        )  # the same in every state
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def dist(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        """pi(.|s) = N(mean(s), diag(sigma^2)); log_prob and entropy sum over dimensions."""
        mean = self.actor(self.norm(obs))
        return torch.distributions.Independent(
            torch.distributions.Normal(mean, self.log_std.exp()), 1
        )

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) for a batch of observations, shape (batch,)."""
        return self.critic(self.norm(obs)).squeeze(-1)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The mean action, clipped to the action bounds (for evaluation)."""
        mean = self.dist(torch.as_tensor(obs, dtype=torch.float32)).mean
        return torch.clamp(mean, self.low, self.high).numpy()


def make_envs(env_id: str, n_envs: int) -> gym.vector.VectorEnv:
    """C2's vector envs, clipping each action to the bounds the environment accepts.

    The agent stores and learns from the unclipped sample, whose log-probability it knows.
    """
    return gym.wrappers.vector.ClipAction(c2.make_envs(env_id, n_envs))


# --8<-- [end:agent]


# --8<-- [start:train-ppo]
def train_ppo(cfg: Config, seed: int) -> tuple[GaussianAgent, c2.RunResult]:
    """C2's PPO loop with a Gaussian agent and the two normalisations (marked "new")."""
    common.seed_everything(seed)
    envs = make_envs(cfg.env_id, cfg.n_envs)
    space = envs.single_action_space
    agent = GaussianAgent(
        envs.single_observation_space.shape[0], space.low, space.high, cfg.log_std_init
    )
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    result = c2.RunResult(seed=seed)
    keeper = c2.Keeper(cfg, seed, result)
    scaler = RewardScaler(cfg.n_envs, cfg.gamma)  # new
    obs, _ = envs.reset(seed=seed)
    step = 0
    with common.Stopwatch() as clock:
        while step < cfg.ppo_timesteps:
            rollout, obs = c2.collect_rollout(envs, agent, obs, cfg.n_steps)
            result.log_episodes(rollout, step, cfg.n_envs)
            step += cfg.n_steps * cfg.n_envs
            if cfg.normalize_reward:  # new: rewards of order 1 for the critic
                rollout.rewards = scaler(rollout.rewards, rollout.terminated | rollout.truncated)
            progress_remaining = max(0.0, 1.0 - step / cfg.ppo_timesteps)
            result.updates.append(c2.learn(agent, optimizer, rollout, cfg, progress_remaining))
            if cfg.normalize_obs:  # new: after the update, so pi_old and the update saw one scale
                agent.norm.update(rollout.obs.reshape(-1, rollout.obs.shape[-1]))
            keeper(step, agent.greedy, agent)
    result.seconds = clock.seconds
    keeper.score(agent.greedy, agent, seed)
    return agent, result


# --8<-- [end:train-ppo]


# --8<-- [start:train-sac]
def train_sac(cfg: Config, seed: int) -> tuple[object, c2.RunResult]:
    """SB3's SAC with RL Zoo's Pendulum settings, evaluated and scored as PPO is."""
    from dataclasses import replace

    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    common.seed_everything(seed)
    result = c2.RunResult(seed=seed)
    keeper = c2.Keeper(replace(cfg, eval_every=cfg.eval_every // 10), seed, result)
    model = SAC(
        "MlpPolicy",
        make_vec_env(cfg.env_id, n_envs=1, seed=seed),
        learning_rate=cfg.learning_rate,
        seed=seed,
        device="cpu",
    )

    def act(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]  # tanh(mean), scaled to [-2, 2]

    class Track(BaseCallback):  # log training episodes, evaluate on the keeper's schedule
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    result.episode_steps.append(self.num_timesteps)
                    result.episode_returns.append(float(info["episode"]["r"]))
            keeper(self.num_timesteps, act, self.model.policy)
            return True

    with common.Stopwatch() as clock:
        model.learn(total_timesteps=cfg.sac_timesteps, callback=Track())
    result.seconds = clock.seconds
    keeper.score(act, model.policy, seed)
    return model, result


# --8<-- [end:train-sac]


# --8<-- [start:sac-losses]
def sac_critic_target(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    next_q: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: float | torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """The soft TD target y = r + gamma (1 - terminated) (min_j Q'_j(s', a') - alpha log pi(a'|s')).

    ``rewards``, ``terminated`` (1.0 at a real end, never at a time limit) and ``next_log_prob``
    have shape (batch,); ``next_q`` holds each target critic's Q'_j(s', a'), shape (batch,
    n_critics), where a' is a fresh sample of the current policy, not a replayed action.
    """
    with torch.no_grad():
        soft_value = next_q.min(dim=-1).values - alpha * next_log_prob  # V(s') with its bonus
        return rewards + gamma * (1.0 - terminated) * soft_value


def sac_critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Half the sum over critics of each one's mean squared error: q (batch, n_critics), target (batch,)."""
    return 0.5 * ((q - target[:, None]) ** 2).mean(dim=0).sum()


def sac_actor_loss(
    log_prob: torch.Tensor, q: torch.Tensor, alpha: float | torch.Tensor
) -> torch.Tensor:
    """Mean of alpha log pi(a|s) - min_j Q_j(s, a), with a ~ pi(.|s) reparameterised.

    ``log_prob`` (batch,) and ``q`` (batch, n_critics) both depend on the actor's weights
    through the sampled action, so the gradient reaches the actor through the critics.
    """
    return (alpha * log_prob - q.min(dim=-1).values).mean()


def sac_temperature_loss(
    log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """-log(alpha) (log pi(a|s) + target entropy), averaged; only log(alpha) gets a gradient.

    Its gradient, -(mean log pi + target entropy), is the policy's entropy minus the target:
    descending it raises alpha when the entropy is below the target, lowers it above.
    """
    return -(log_alpha * (log_prob + target_entropy).detach()).mean()


# --8<-- [end:sac-losses]


def policy_grid(act: Callable, points: int = 61) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The greedy torque on a grid of angles (0 = upright) and angular velocities."""
    theta, theta_dot = np.meshgrid(np.linspace(-np.pi, np.pi, points), np.linspace(-8, 8, points))
    obs = np.stack([np.cos(theta), np.sin(theta), theta_dot], axis=-1).reshape(-1, 3)
    return theta, theta_dot, np.asarray(act(obs.astype(np.float32))).reshape(theta.shape)


def greedy_trajectory(act: Callable, env_id: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(angle, angular velocity) along one greedy episode from a seeded start."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    states, done = [obs], False
    while not done:
        obs, _, terminated, truncated, _ = env.step(np.asarray(act(obs[None]))[0])
        states.append(obs)
        done = terminated or truncated
    states = np.array(states)
    return np.arctan2(states[:, 1], states[:, 0]), states[:, 2]


def plot_run(act: Callable, result: c2.RunResult, cfg: Config, path: str) -> str:
    """Left: greedy return against steps. Right: the learned torque map and one greedy episode."""
    common.use_course_style()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.0))
    left.plot(result.eval_steps, result.eval_returns, marker=".")
    left.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
    left.set(
        xlabel="environment steps",
        ylabel="greedy return (mean of 10 episodes)",
        title=f"{cfg.algo.upper()} on {cfg.env_id}, seed {result.seed}",
    )
    theta, theta_dot, torque = policy_grid(act)
    image = right.pcolormesh(theta, theta_dot, torque, cmap="coolwarm", vmin=-2, vmax=2)
    angle, velocity = greedy_trajectory(act, cfg.env_id, seed=result.seed + 30_000)
    right.plot(angle, velocity, ".", color="black", ms=2.5, label="one greedy episode")
    right.set(
        xlabel="angle θ (0 = upright, ±π = hanging)",
        ylabel="angular velocity θ̇",
        title="the kept policy: torque a(θ, θ̇)",
    )
    right.legend(loc="upper right", fontsize=8)
    fig.colorbar(image, ax=right, label="torque")
    return common.save_figure(fig, path)


# --8<-- [start:report]
BENCHMARK = {"c3-ppo": "Gaussian PPO (ours)", "c3-sac": "SAC (SB3)"}  # lessons.toml entries
BENCHMARK_JSON = Path(__file__).resolve().parents[1] / "results" / "benchmark.json"


def plot_benchmark(path: str, *entries: tuple[str, dict]) -> str:
    """Both algorithms' greedy return against environment steps: median and IQR over seeds."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for name, entry in entries:
        runs = [run["metrics"] for run in entry["runs"]]
        x = runs[0]["eval_steps"]
        q25, median, q75 = np.percentile([m["eval_returns"] for m in runs], [25, 50, 75], axis=0)
        ax.plot(x, median, marker=".", label=f"{BENCHMARK[name]}, median of {len(runs)} seeds")
        ax.fill_between(x, q25, q75, alpha=0.2)
    ax.axhline(-200, color="grey", ls="--", lw=1, label="−200 (SAC's target)")
    ax.axhline(-300, color="grey", ls=":", lw=1, label="−300 (PPO's target)")
    ax.set(
        xscale="log",
        xlabel="environment steps (log scale)",
        ylabel="greedy return",
        title="Pendulum-v1: median and interquartile range over seeds",
    )
    ax.legend(loc="lower right", fontsize=8)
    return common.save_figure(fig, path)


def random_returns(env_id: str, seeds: list[int], episodes: int) -> list[float]:
    """A uniformly random torque, scored on each seed's fresh episodes as the agents are."""
    envs = c2.make_envs(env_id, episodes)  # unclipped: ClipAction's space has no bounds
    low, high = envs.single_action_space.low, envs.single_action_space.high
    scores = []
    for seed in seeds:
        rng = np.random.default_rng(seed)

        def act(obs: np.ndarray, rng: np.random.Generator = rng) -> np.ndarray:
            return rng.uniform(low, high, size=(len(obs), len(low))).astype(np.float32)

        fresh = seed + c2.curves.TEST_SEED_OFFSET  # the episodes Keeper.score uses
        scores.append(float(c2.evaluate(act, envs, seed=fresh).mean()))
    return scores


def from_benchmark(figure: str) -> dict:
    """Draw both algorithms' curves from ``results/benchmark.json`` and score a random torque.

    The random torque is played on the benchmark's seeds and on the same fresh episodes that
    score each seed's agents, so the page can set the agents' returns against it; nothing is
    trained.
    """
    lessons = json.loads(BENCHMARK_JSON.read_text())["lessons"]
    entries = [(name, lessons[name]) for name in BENCHMARK if name in lessons]
    plot_benchmark(figure, *entries)
    cfg = entries[0][1]["runs"][0]["metrics"]["config"]
    seeds = [run["seed"] for run in entries[0][1]["runs"]]
    scores = random_returns(cfg["env_id"], seeds, cfg["final_eval_episodes"])
    return {
        "figure": figure,
        "entries": [name for name, _ in entries],
        "random_seeds": seeds,
        "random_episodes": cfg["final_eval_episodes"],
        "random_returns": scores,
    }


# --8<-- [end:report]


def summary(model: object, result: c2.RunResult, cfg: Config) -> dict:
    """The run's headline numbers: the kept and final agents' scores, and the evaluations."""
    return {
        "algo": cfg.algo,
        "kept_mean_return": result.kept_eval,
        "kept_step": result.kept_step,
        "final_mean_return": result.final_eval,
        "eval_steps": result.eval_steps,
        "eval_returns": result.eval_returns,
        "seconds": result.seconds,
        "config": asdict(cfg),
        "log_std": model.log_std.tolist() if cfg.algo == "ppo" else None,
    }


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Train Gaussian PPO or SAC on Pendulum-v1 and print the kept and final agents' scores."""
    quick = {"ppo_timesteps": 8_000, "sac_timesteps": 1_000, "eval_every": 4_000}
    plot = "save the learning curve and policy map"
    benchmark = "train nothing: draw the benchmark's curves here, score a random torque"
    outputs = {"plot": plot, "benchmark_figure": benchmark}
    parser = common.config_parser(Config, __doc__, __spec__, quick=quick, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    if args.benchmark_figure:
        return common.emit_metrics(from_benchmark(args.benchmark_figure))
    torch.set_num_threads(1)  # small MLPs: one thread is fastest and leaves cores free
    cpu = time.process_time()
    model, result = (train_ppo if cfg.algo == "ppo" else train_sac)(cfg, args.seed)
    cpu = time.process_time() - cpu  # CPU time: a fairer clock than wall time on a busy machine
    if args.plot:
        act = (
            model.greedy if cfg.algo == "ppo" else lambda o: model.predict(o, deterministic=True)[0]
        )
        plot_run(act, result, cfg, args.plot)
    return common.emit_metrics(
        summary(model, result, cfg) | {"seed": args.seed, "cpu_seconds": cpu}
    )


# --8<-- [end:main]


if __name__ == "__main__":
    main()
