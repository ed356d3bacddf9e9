"""Lesson C2: PPO from scratch on CartPole-v1, beside Stable-Baselines3's PPO with the same settings.

One file in the spirit of CleanRL: Gymnasium vector environments, an actor and a critic, a
rollout, GAE (lesson C1's function), and PPO's epochs of minibatch updates with the clipped
losses of ``snippets.c2_proximal_policy_optimization_ppo`` (the ones D2 trains a language
model with). ``--impl sb3`` trains SB3's ``PPO`` with the same settings and the same
evaluation, so the two can be compared seed for seed.
"""

# Six dense calls below carry `# fmt: skip`: laid out one argument a line, this module would
# pass the 500-line cap (tests/test_caps.py).
# --8<-- [start:imports]
from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from snippets import common, curves
from snippets.c1_actor_critic_methods_a2c import gae_advantages
from snippets.c2_proximal_policy_optimization_ppo import clipped_surrogate_loss, clipped_value_loss

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """PPO's settings: RL Zoo's tuned CartPole-v1 values (rl-baselines3-zoo, hyperparams/ppo.yml)."""

    env_id: str = "CartPole-v1"
    total_timesteps: common.PosInt = 100_000  # environment steps, summed over the parallel envs
    n_envs: common.PosInt = 8  # parallel environments
    n_steps: common.PosInt = 32  # steps per env per rollout: 8 x 32 = 256 transitions
    batch_size: common.PosInt = 256  # minibatch size (here the whole rollout)
    n_epochs: common.PosInt = 20  # passes over each rollout: PPO's reuse of data
    gamma: common.Prob = 0.98  # discount
    gae_lambda: common.Prob = 0.8  # GAE's lambda
    learning_rate: common.PosFloat = 1e-3  # Adam's step size at the start
    anneal_lr: bool = True  # shrink the learning rate linearly to 0 over the budget
    clip_coef: common.PosFloat = 0.2  # epsilon: the ratio's clip range [1 - eps, 1 + eps]
    anneal_clip: bool = True  # shrink epsilon linearly to 0 over the budget, like the rate
    value_clip: common.NonNegFloat = 0.0  # clip V's move per rollout; 0 = off (SB3's default)
    vf_coef: common.NonNegFloat = 1.0  # weight of the value loss (1.0 here = SB3's 0.5)
    ent_coef: common.NonNegFloat = 0.0  # weight of the entropy bonus
    max_grad_norm: common.PosFloat = 0.5  # clip the gradient's global norm
    normalize_advantage: bool = True  # standardise advantages within each minibatch
    impl: Literal["scratch", "sb3"] = "scratch"  # whose PPO: this file's or Stable-Baselines3's
    eval_every: common.PosInt = 5_000  # environment steps between greedy evaluations
    eval_episodes: common.PosInt = 10  # episodes per evaluation (they pick the kept agent)
    final_eval_episodes: common.PosInt = 20  # fresh episodes that score the kept and final agents
    solved_at: float = 475.0  # CartPole-v1's "solved" threshold


# --8<-- [end:config]


# --8<-- [start:vec-env]
def make_envs(env_id: str, n_envs: int, **kwargs: object) -> gym.vector.VectorEnv:
    """``n_envs`` copies of the environment in one process, reset in the *same* step.

    Gymnasium 1.x resets a finished sub-environment on the *next* call to ``step`` by
    default; that call returns the reset observation with reward 0, a transition that never
    happened and that a training loop would have to mask. ``SAME_STEP`` resets inside the
    step that ended the episode instead: every transition we store is real, the returned
    observation is already the next episode's first one, and the true last observation is
    in ``info["final_obs"]``, which we need to bootstrap a truncated episode.
    """
    envs = gym.make_vec(
        env_id,
        num_envs=n_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        **kwargs,
    )
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)  # info["episode"]["r"] at ends


# --8<-- [end:vec-env]


# --8<-- [start:network]
def layer(n_in: int, n_out: int, gain: float) -> nn.Linear:
    """A linear layer with orthogonal weights and zero bias (SB3's and CleanRL's init)."""
    linear = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(linear.weight, gain)
    nn.init.zeros_(linear.bias)
    return linear


def mlp(n_in: int, n_out: int, out_gain: float, hidden: int = 64) -> nn.Sequential:
    """Two tanh hidden layers of ``hidden`` units: SB3's default ``MlpPolicy`` network."""
    return nn.Sequential(
        layer(n_in, hidden, math.sqrt(2)), nn.Tanh(),
        layer(hidden, hidden, math.sqrt(2)), nn.Tanh(),
        layer(hidden, n_out, out_gain),
    )  # fmt: skip


# --8<-- [end:network]


# --8<-- [start:agent]
class Agent(nn.Module):
    """Actor and critic as two separate networks; the actor's logits define pi(a|s)."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.actor = mlp(obs_dim, n_actions, out_gain=0.01)  # near-uniform policy at first
        self.critic = mlp(obs_dim, 1, out_gain=1.0)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        """pi(.|s) for a batch of observations."""
        return torch.distributions.Categorical(logits=self.actor(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) for a batch of observations, shape (batch,)."""
        return self.critic(obs).squeeze(-1)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The most likely action in each state (for evaluation)."""
        return self.dist(torch.as_tensor(obs, dtype=torch.float32)).mode.numpy()


# --8<-- [end:agent]


# --8<-- [start:rollout]
@dataclass
class Rollout:
    """``n_steps`` transitions from each of ``n_envs`` environments, time first."""

    obs: torch.Tensor  # s_t, (T, N, obs_dim)
    actions: torch.Tensor  # a_t, (T, N) or (T, N, act_dim)
    logprobs: torch.Tensor  # log pi_old(a_t|s_t), (T, N)
    values: np.ndarray  # V_old(s_t), (T, N)
    next_values: np.ndarray  # V_old(s_{t+1}), of the true next state even after a reset
    rewards: np.ndarray  # R_{t+1}
    terminated: np.ndarray  # s_{t+1} is terminal: nothing to bootstrap from
    truncated: np.ndarray  # a time limit cut the episode: bootstrap from V(s_{t+1})
    episodes: list[tuple[int, float]] = field(default_factory=list)  # (t, return) at ends


@torch.no_grad()
def collect_rollout(
    envs: gym.vector.VectorEnv, agent: nn.Module, obs: np.ndarray, n_steps: int
) -> tuple[Rollout, np.ndarray]:
    """Run the current policy for ``n_steps`` steps in every env; return the data and last obs."""
    steps: dict[str, list] = {k: [] for k in Rollout.__dataclass_fields__ if k != "episodes"}
    episodes = []
    for t in range(n_steps):
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        dist = agent.dist(obs_t)
        action = dist.sample()
        next_obs, reward, terminated, truncated, info = envs.step(action.numpy())
        true_next = next_obs.copy()  # SAME_STEP: where an episode ended, next_obs is a reset
        for i in np.flatnonzero(terminated | truncated):
            true_next[i] = info["final_obs"][i]
            episodes.append((t, float(info["episode"]["r"][i])))
        next_value = agent.value(torch.as_tensor(true_next, dtype=torch.float32))
        for key, value in (
            ("obs", obs_t), ("actions", action), ("logprobs", dist.log_prob(action)),
            ("values", agent.value(obs_t).numpy()), ("next_values", next_value.numpy()),
            ("rewards", reward), ("terminated", terminated), ("truncated", truncated),
        ):  # fmt: skip
            steps[key].append(value)
        obs = next_obs
    stacked = {
        k: torch.stack(v) if torch.is_tensor(v[0]) else np.stack(v) for k, v in steps.items()
    }
    return Rollout(**stacked, episodes=episodes), obs


# --8<-- [end:rollout]


# --8<-- [start:update]
def ppo_update(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    advantages: np.ndarray,
    returns: np.ndarray,
    cfg: Config,
    clip_coef: float,
) -> dict[str, float]:
    """``n_epochs`` passes of minibatch SGD on PPO's loss over one rollout.

    Returns:
        Means over all minibatches of the policy and value losses, entropy, the share of
        clipped ratios and the approximate KL(pi_old || pi_new).
    """
    n = rollout.logprobs.numel()
    obs = rollout.obs.reshape(n, -1)
    actions = rollout.actions.reshape(n, *rollout.actions.shape[2:])
    old_logprobs, old_values = (
        rollout.logprobs.reshape(n),
        torch.as_tensor(rollout.values).reshape(n),
    )
    adv_all = torch.as_tensor(advantages, dtype=torch.float32).reshape(n)
    ret_all = torch.as_tensor(returns, dtype=torch.float32).reshape(n)
    stats: dict[str, list[float]] = {k: [] for k in ("policy", "value", "entropy", "clip", "kl")}
    for _ in range(cfg.n_epochs):
        for idx in torch.randperm(n).split(cfg.batch_size):
            dist = agent.dist(obs[idx])
            logprobs, entropy = dist.log_prob(actions[idx]), dist.entropy().mean()
            adv = adv_all[idx]
            if cfg.normalize_advantage and len(idx) > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            policy_loss, clip_fraction = clipped_surrogate_loss(
                logprobs, old_logprobs[idx], adv, clip_coef
            )
            value_loss = clipped_value_loss(
                agent.value(obs[idx]), old_values[idx], ret_all[idx], cfg.value_clip or math.inf
            )
            loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()
            with torch.no_grad():  # k3 estimator of KL(old || new), as CleanRL and SB3 log it
                log_ratio = logprobs - old_logprobs[idx]
                kl = (log_ratio.exp() - 1 - log_ratio).mean()
            for key, value in zip(
                stats, (policy_loss, value_loss, entropy, clip_fraction, kl), strict=True
            ):
                stats[key].append(value.item())
    return {key: float(np.mean(values)) for key, values in stats.items()}


# --8<-- [end:update]


# --8<-- [start:evaluate]
def evaluate(
    act: Callable[[np.ndarray], np.ndarray], envs: gym.vector.VectorEnv, seed: int | None = None
) -> np.ndarray:
    """Play one episode in each sub-environment with ``act`` and return the episode returns.

    ``seed`` resets the envs to a known set of start states (the fresh episodes that score
    an agent); ``None`` continues their random sequence (a new set for every evaluation).
    """
    obs, _ = envs.reset(seed=seed)
    returns, done = np.zeros(envs.num_envs), np.zeros(envs.num_envs, dtype=bool)
    while not done.all():
        obs, reward, terminated, truncated, _ = envs.step(act(obs))
        returns += np.where(done, 0.0, reward)  # ignore the episodes that start after the first
        done |= terminated | truncated
    return returns


@dataclass
class RunResult:
    """What one training run measured."""

    seed: int
    eval_steps: list[int] = field(default_factory=list)  # env steps at each evaluation
    eval_returns: list[float] = field(default_factory=list)  # mean greedy return there
    episode_steps: list[int] = field(default_factory=list)  # when a training episode ended
    episode_returns: list[float] = field(default_factory=list)  # its return (sampled actions)
    updates: list[dict[str, float]] = field(default_factory=list)  # ppo_update's stats per rollout
    kept_step: int = 0  # the evaluation whose weights the lesson keeps (its best)
    kept_eval: float = 0.0  # the kept weights on fresh episodes
    final_eval: float = 0.0  # the last weights on the same fresh episodes
    seconds: float = 0.0

    def log_episodes(self, rollout: Rollout, step: int, n_envs: int) -> None:
        """Record the training episodes that ended in a rollout begun at env step ``step``."""
        for t, episode_return in rollout.episodes:
            self.episode_steps.append(step + (t + 1) * n_envs)
            self.episode_returns.append(episode_return)


class Keeper:
    """Evaluate every ``cfg.eval_every`` steps and keep a copy of the best weights so far."""

    def __init__(self, cfg: Config, seed: int, result: RunResult) -> None:
        self.cfg, self.result, self.next_eval = cfg, result, cfg.eval_every
        self.envs = make_envs(cfg.env_id, cfg.eval_episodes)
        self.envs.reset(seed=seed + curves.EVAL_SEED_OFFSET)  # never training's episodes
        self.best, self.state = -math.inf, None

    def __call__(self, step: int, act: Callable, module: nn.Module) -> None:
        """Evaluate if ``step`` has reached the next evaluation point."""
        if step < self.next_eval:
            return
        self.next_eval += self.cfg.eval_every
        mean = float(evaluate(act, self.envs).mean())
        self.result.eval_steps.append(step)
        self.result.eval_returns.append(mean)
        if mean > self.best:  # ties keep the earlier weights
            self.best, self.result.kept_step = mean, step
            self.state = copy.deepcopy(module.state_dict())

    def score(self, act: Callable, module: nn.Module, seed: int) -> None:
        """Score the final weights, then the kept ones, on the same fresh episodes."""
        envs = make_envs(self.cfg.env_id, self.cfg.final_eval_episodes)
        fresh = seed + curves.TEST_SEED_OFFSET  # episodes not even the selection has seen
        self.result.final_eval = float(evaluate(act, envs, seed=fresh).mean())
        if self.state is not None:
            module.load_state_dict(self.state)
        self.result.kept_eval = float(evaluate(act, envs, seed=fresh).mean())


# --8<-- [end:evaluate]


# --8<-- [start:train]
def schedule(cfg: Config, progress_remaining: float) -> tuple[float, float]:
    """Learning rate and clip range, each annealed linearly to 0 if the config says so."""
    lr = cfg.learning_rate * (progress_remaining if cfg.anneal_lr else 1.0)
    return lr, cfg.clip_coef * (progress_remaining if cfg.anneal_clip else 1.0)


def learn(
    agent: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout, cfg: Config,
    progress_remaining: float,
) -> dict[str, float]:  # fmt: skip
    """Learn from one rollout: anneal, estimate advantages, update; returns ppo_update's stats."""
    lr, clip_coef = schedule(cfg, progress_remaining)
    for group in optimizer.param_groups:
        group["lr"] = lr
    advantages, returns = gae_advantages(
        rollout.rewards, rollout.values, rollout.next_values,
        rollout.terminated, rollout.truncated, cfg.gamma, cfg.gae_lambda,
    )  # fmt: skip
    return ppo_update(agent, optimizer, rollout, advantages, returns, cfg, clip_coef)


def train(cfg: Config, seed: int) -> tuple[Agent, RunResult]:
    """PPO from scratch: collect, estimate advantages, update for several epochs, repeat."""
    common.seed_everything(seed)
    envs = make_envs(cfg.env_id, cfg.n_envs)
    agent = Agent(envs.single_observation_space.shape[0], envs.single_action_space.n)
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    result = RunResult(seed=seed)
    keeper = Keeper(cfg, seed, result)
    obs, _ = envs.reset(seed=seed)
    step = 0
    with common.Stopwatch() as clock:
        while step < cfg.total_timesteps:
            rollout, obs = collect_rollout(envs, agent, obs, cfg.n_steps)
            result.log_episodes(rollout, step, cfg.n_envs)
            step += cfg.n_steps * cfg.n_envs
            progress_remaining = max(0.0, 1.0 - step / cfg.total_timesteps)
            result.updates.append(learn(agent, optimizer, rollout, cfg, progress_remaining))
            keeper(step, agent.greedy, agent)
    result.seconds = clock.seconds
    keeper.score(agent.greedy, agent, seed)
    return agent, result


# --8<-- [end:train]


# --8<-- [start:sb3]
def train_sb3(cfg: Config, seed: int) -> tuple[object, RunResult]:
    """The same run with Stable-Baselines3's PPO: same settings, same evaluation and scoring."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    common.seed_everything(seed)
    result = RunResult(seed=seed)
    keeper = Keeper(cfg, seed, result)

    class Track(BaseCallback):  # log training episodes; evaluate after each update, as we do
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    result.episode_steps.append(self.num_timesteps)
                    result.episode_returns.append(float(info["episode"]["r"]))
            return True

        def _on_rollout_start(self) -> None:  # SB3 has just finished train() on the last one
            keeper(self.num_timesteps, act, self.model.policy)

        def _on_training_end(self) -> None:
            keeper(self.num_timesteps, act, self.model.policy)

    model = PPO(
        "MlpPolicy",  # two separate 64-64 tanh MLPs, orthogonal init: our Agent
        make_vec_env(cfg.env_id, n_envs=cfg.n_envs, seed=seed),
        n_steps=cfg.n_steps, batch_size=cfg.batch_size, n_epochs=cfg.n_epochs,
        gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
        learning_rate=lambda p: schedule(cfg, p)[0], clip_range=lambda p: schedule(cfg, p)[1],
        clip_range_vf=cfg.value_clip or None, normalize_advantage=cfg.normalize_advantage,
        vf_coef=cfg.vf_coef / 2,  # SB3's value loss is the plain MSE, ours has a 1/2
        ent_coef=cfg.ent_coef, max_grad_norm=cfg.max_grad_norm, seed=seed, device="cpu",
    )  # fmt: skip

    def act(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    with common.Stopwatch() as clock:
        model.learn(total_timesteps=cfg.total_timesteps, callback=Track())
    result.seconds = clock.seconds
    keeper.score(act, model.policy, seed)
    return model, result


# --8<-- [end:sb3]


def moving_average(result: RunResult, window: int = 50, points: int = 100) -> dict:
    """The mean return of the last ``window`` training episodes at ``points`` step counts."""
    steps, returns = np.asarray(result.episode_steps), np.asarray(result.episode_returns)
    grid = np.linspace(steps[0], steps[-1], points).astype(int)
    y = [float(returns[steps <= x][-window:].mean()) for x in grid]
    return {"x": grid.tolist(), "y": y}


def plot_run(result: RunResult, cfg: Config, path: str) -> str:
    """Three panels of one run: returns, the clip fraction and the approximate KL per update."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.6))
    curve = moving_average(result)
    axes[0].plot(
        result.episode_steps, result.episode_returns, alpha=0.25, lw=0.7, label="training episode"
    )
    axes[0].plot(curve["x"], curve["y"], lw=2, label="mean of the last 50")
    axes[0].plot(result.eval_steps, result.eval_returns, "o", ms=4, label="greedy evaluation")
    axes[0].axhline(cfg.solved_at, color="grey", ls="--", lw=1)
    axes[0].set(
        xlabel="environment steps", ylabel="return", title=f"PPO ({cfg.impl}) on {cfg.env_id}"
    )
    axes[0].legend(fontsize=8)
    x = np.arange(1, len(result.updates) + 1) * cfg.n_steps * cfg.n_envs
    for ax, key, title in (
        (axes[1], "clip", "share of clipped ratios"),
        (axes[2], "kl", "approx. KL(old || new)"),
    ):
        ax.plot(x, [u[key] for u in result.updates], lw=1)
        ax.set(xlabel="environment steps", title=title)
    return common.save_figure(fig, path)


def write_curve(result: RunResult, cfg: Config, path: str) -> None:
    """The training curve as JSON, for the benchmark's CartPole figure."""
    label = "PPO from scratch" if cfg.impl == "scratch" else "PPO (SB3), same settings"
    with open(path, "w") as f:
        json.dump({"x_label": "environment steps", "label": label, **moving_average(result)}, f)


def summary(result: RunResult, cfg: Config) -> dict:
    """The run's headline numbers: the kept and final agents' scores, and the evaluations."""
    solved = [
        s for s, r in zip(result.eval_steps, result.eval_returns, strict=True) if r >= cfg.solved_at
    ]
    return {
        "impl": cfg.impl, "timesteps": cfg.total_timesteps,
        "kept_mean_return": result.kept_eval, "kept_step": result.kept_step,
        "final_mean_return": result.final_eval, "best_eval": max(result.eval_returns, default=0.0),
        "first_solved_step": solved[0] if solved else None, "eval_steps": result.eval_steps,
        "eval_returns": result.eval_returns, "seconds": result.seconds,
        "updates": len(result.updates), "config": asdict(cfg),
    }  # fmt: skip


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Train PPO (ours or SB3's) on CartPole-v1 and print the kept and final agents' scores."""
    quick = {"total_timesteps": 8_192, "eval_every": 4_096, "final_eval_episodes": 5}
    outputs = {
        "plot": "save returns, clip share and KL (PNG)",
        "curve": "write the training curve as JSON",
    }
    aliases = {"total_timesteps": "--timesteps"}
    parser = common.config_parser(
        Config, __doc__, __spec__, quick=quick, aliases=aliases, outputs=outputs
    )
    cfg, args = common.parse_config(parser, argv)
    torch.set_num_threads(1)  # 64-unit MLPs: one thread is fastest and leaves cores free
    cpu = time.process_time()
    _, result = (train if cfg.impl == "scratch" else train_sb3)(cfg, args.seed)
    cpu = time.process_time() - cpu  # CPU time: a fairer clock than wall time on a busy machine
    if args.plot:
        plot_run(result, cfg, args.plot)
    if args.curve:
        write_curve(result, cfg, args.curve)
    return common.emit_metrics(summary(result, cfg) | {"seed": args.seed, "cpu_seconds": cpu})


# --8<-- [end:main]


if __name__ == "__main__":
    main()
