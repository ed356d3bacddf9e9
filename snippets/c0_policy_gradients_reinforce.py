"""Lesson C0: policy gradients and REINFORCE from scratch in PyTorch, on CartPole-v1.

The policy is a small network that outputs action probabilities. REINFORCE plays whole
episodes with it, scores every action by the discounted reward that followed it (minus a
baseline), and nudges the log-probability of each action in proportion to that score.
The page derives why this follows the gradient of the expected return; this module is
the code each step of the derivation maps to.
"""

# --8<-- [start:imports]
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.machinery import ModuleSpec

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from snippets import common, curves

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Hyperparameters:
    """REINFORCE's settings, shared by this lesson and its JAX version (the benchmarked ones)."""

    episodes: common.PosInt = 1000  # episodes per seed (JAX: a multiple of batch_episodes)
    batch_episodes: common.PosInt = 5  # episodes per gradient step: less noise, fewer steps
    gamma: common.Prob = 0.99  # discount of the reward-to-go
    learning_rate: common.PosFloat = 1e-2  # Adam step size
    hidden: common.PosInt = 32  # width of the policy's one hidden layer
    baseline: bool = True  # subtract the leave-one-out, per-time-step baseline
    normalize: bool = True  # scale advantages to unit standard deviation
    entropy_coef: common.NonNegFloat = 0.0  # weight of the entropy bonus (0: off)


@dataclass(frozen=True)
class Config(Hyperparameters):
    """Hyperparameters of REINFORCE in PyTorch, and the environment it trains on."""

    env_id: str = "CartPole-v1"  # a Gymnasium environment with discrete actions
    seeds: common.PosInt = 1  # runs to train, one after another: seeds seed, seed+1, ...


# --8<-- [end:config]


# --8<-- [start:policy]
class Policy(nn.Module):
    """A categorical policy pi_theta(a|s): observation -> one logit per action."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, n_actions)
        )
        # A near-zero last layer starts the policy uniform: every action equally likely.
        with torch.no_grad():
            self.net[-1].weight.mul_(0.01)
            self.net[-1].bias.zero_()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Return the action logits, shape ``(..., n_actions)``."""
        return self.net(obs)


# --8<-- [end:policy]


# --8<-- [start:rollout]
def play_episode(
    env: gym.Env, policy: Policy, rng: np.random.Generator, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Play one episode with actions sampled from the policy (no gradient recorded).

    Returns:
        ``(observations, actions, rewards)``, arrays of length T: ``S_t``, ``A_t`` and
        ``R_{t+1}``, the reward that followed ``A_t``, for t = 0 ... T-1.
    """
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards = [], [], []
    done = False
    while not done:
        with torch.no_grad():
            logits = policy(torch.as_tensor(obs, dtype=torch.float32))
        # Gumbel-max trick: argmax(logits + Gumbel noise) is a sample from softmax(logits).
        action = int(np.argmax(logits.numpy() + rng.gumbel(size=logits.shape)))
        observations.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        done = terminated or truncated
    return np.array(observations, np.float32), np.array(actions), np.array(rewards, np.float32)


# --8<-- [end:rollout]


# --8<-- [start:returns]
def discounted_returns(rewards: Sequence[float] | np.ndarray, gamma: float) -> np.ndarray:
    """Reward-to-go of one episode: ``G_t = R_{t+1} + gamma R_{t+2} + gamma^2 R_{t+3} + ...``.

    Computed backwards in one pass with ``G_t = R_{t+1} + gamma G_{t+1}``; the episode ends
    after the last reward (nothing is bootstrapped).

    Args:
        rewards: ``R_1 ... R_T`` of one episode (``rewards[t]`` followed action ``A_t``).
        gamma: Discount factor in [0, 1].

    Returns:
        A float64 array of the same length holding ``G_0 ... G_{T-1}``.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    returns = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


# --8<-- [end:returns]


# --8<-- [start:baseline]
def pad_episodes(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-episode arrays of different lengths into ``(N, T_max)`` plus a 0/1 mask."""
    t_max = max(len(a) for a in arrays)
    padded = np.zeros((len(arrays), t_max), dtype=np.float64)
    mask = np.zeros((len(arrays), t_max), dtype=np.float64)
    for i, a in enumerate(arrays):
        padded[i, : len(a)] = a
        mask[i, : len(a)] = 1.0
    return padded, mask


# --8<-- [start:advantages]
def advantages_from_returns(
    returns: np.ndarray, mask: np.ndarray, baseline: bool = True, normalize: bool = True
) -> np.ndarray:
    """Turn padded reward-to-go ``(N, T)`` into the per-step weights of the policy gradient.

    The baseline for episode i at time t is the mean reward-to-go of the *other* episodes
    in the batch that were still running at time t (leave-one-out; 0 if none was). It
    does not depend on episode i's actions, so subtracting it leaves the gradient
    unbiased; it depends on t, which is part of the state in a time-limited task, so it
    tracks how much return is still to come. It is computed as the mean of pairwise
    differences G_it - G_jt, which are exactly zero for equal returns: when every episode
    reaches the time limit, every advantage is exactly 0 and the policy is left alone.

    Args:
        returns: Reward-to-go, shape ``(N, T)``, zero where ``mask`` is zero.
        mask: 1 where the step exists, 0 for padding.
        baseline: Subtract the leave-one-out baseline.
        normalize: Divide by the standard deviation over the real steps (the scale of
            returns changes a lot during training; this keeps the step size steady).

    Returns:
        Advantages of shape ``(N, T)``, zero on padding.
    """
    xp = returns.__array_namespace__()  # NumPy here, jax.numpy when the JAX lesson calls it
    adv = returns * mask
    if baseline:
        # lead[i, j, t] = G_it - G_jt: episode i's lead over episode j (j still running at t)
        lead = (returns[:, None, :] - returns[None, :, :]) * mask[None, :, :]
        others = mask.sum(axis=0, keepdims=True) - mask  # other episodes running at t
        mean_lead = lead.sum(axis=1) / xp.maximum(others, 1)  # = G_it - mean of the others
        adv = xp.where(others > 0, mean_lead, returns) * mask
    if normalize:
        n = mask.sum()
        mean = adv.sum() / n
        std = xp.sqrt((((adv - mean) * mask) ** 2).sum() / n)
        adv = adv / (std + 1e-8)
    return adv


# --8<-- [end:advantages]
# --8<-- [end:baseline]


# --8<-- [start:loss]
def reinforce_loss(
    logits: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    entropy_coef: float = 0.0,
) -> torch.Tensor:
    """The REINFORCE surrogate loss: its gradient is minus the policy-gradient estimate.

    ``loss = -mean_t[ Adv_t log pi(A_t|S_t) ] - entropy_coef mean_t[ H(pi(.|S_t)) ]`` over
    the real (unmasked) steps of the batch. Its value means nothing; its gradient does.

    Args:
        logits: Policy logits, shape ``(N, T, n_actions)``.
        actions: Actions taken, shape ``(N, T)`` (any integer on padding).
        advantages: The weights, shape ``(N, T)``; treated as constants.
        mask: 1 for real steps, 0 for padding, shape ``(N, T)``.
        entropy_coef: Weight of the entropy bonus (0 turns it off).

    Returns:
        The scalar loss.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    taken = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    n = mask.sum()
    pg_term = -(taken * advantages.detach() * mask).sum() / n
    return pg_term - entropy_coef * (entropy * mask).sum() / n


# --8<-- [end:loss]


# --8<-- [start:update]
def update_policy(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    episodes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    cfg: Config,
) -> float:
    """One REINFORCE step on a batch of finished episodes from :func:`play_episode`.

    Returns:
        The loss value (for logging only).
    """
    returns, mask = pad_episodes([discounted_returns(r, cfg.gamma) for _, _, r in episodes])
    adv = advantages_from_returns(returns, mask, cfg.baseline, cfg.normalize)
    obs_dim = episodes[0][0].shape[1]
    obs = np.zeros((*mask.shape, obs_dim), dtype=np.float32)
    acts = np.zeros(mask.shape, dtype=np.int64)
    for i, (o, a, _) in enumerate(episodes):
        obs[i, : len(a)] = o
        acts[i, : len(a)] = a
    logits = policy(torch.from_numpy(obs))  # one forward pass for the whole batch
    loss = reinforce_loss(
        logits,
        torch.from_numpy(acts),
        torch.as_tensor(adv, dtype=torch.float32),
        torch.as_tensor(mask, dtype=torch.float32),
        cfg.entropy_coef,
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


# --8<-- [end:update]


# --8<-- [start:train]
def train(cfg: Config, seed: int, show_progress: bool = True) -> dict:
    """Train REINFORCE on ``cfg.env_id`` for ``cfg.episodes`` episodes.

    Args:
        cfg: Hyperparameters.
        seed: Seeds torch (network initialisation), the action sampler and the env.
        show_progress: Show a progress bar over episodes.

    Returns:
        ``returns`` and ``lengths`` (one per episode), the training's wall and CPU
        ``seconds`` and ``cpu_seconds``, and the trained ``policy``.
    """
    rng = common.seed_everything(seed)
    env = common.make_env(cfg.env_id, seed)
    policy = Policy(env.observation_space.shape[0], env.action_space.n, cfg.hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    returns, lengths, batch = [], [], []
    loop = range(cfg.episodes)
    if show_progress:
        loop = common.progress(loop, desc=f"REINFORCE seed {seed}", total=cfg.episodes)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in loop:
        batch.append(play_episode(env, policy, rng))
        returns.append(float(batch[-1][2].sum()))
        lengths.append(len(batch[-1][1]))
        if len(batch) == cfg.batch_episodes:  # a leftover partial batch is never used
            update_policy(policy, optimizer, batch, cfg)
            batch = []
    env.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "returns": returns,
        "lengths": lengths,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "policy": policy,
    }


# --8<-- [end:train]


def evaluate(policy: Policy, env_id: str, episodes: int, seed: int) -> float:
    """Mean return of the greedy policy (most likely action) over ``episodes`` episodes."""
    env = gym.make(env_id)
    total = 0.0
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        done = False
        while not done:
            with torch.no_grad():
                action = int(policy(torch.as_tensor(obs)).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


# --8<-- [start:plot]
def plot_runs(runs: Sequence[dict], cfg: Config, path: str, seeds: Sequence[int]) -> str:
    """Plot each seed's episode returns (faint) and their 100-episode moving averages."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for seed, run in zip(seeds, runs, strict=True):
        mean = curves.moving_average(run["returns"], curves.SOLVED_WINDOW)
        line = ax.plot(mean, label=f"seed {seed}")[0]
        ax.plot(run["returns"], color=line.get_color(), alpha=0.15, linewidth=0.8)
    solved = f"solved ({curves.SOLVED_RETURN:g})"
    ax.axhline(curves.SOLVED_RETURN, color="black", ls="--", lw=1, label=solved)
    ax.set_xlabel("episode")
    ax.set_ylabel("return (faint: per episode; bold: 100-episode mean)")
    ax.set_title(f"REINFORCE on {cfg.env_id} (PyTorch)")
    ax.set_ylim(0, 520)
    ax.legend(loc="lower right", fontsize=8, ncols=2)
    return common.save_figure(fig, path)


# --8<-- [end:plot]


def seed_summary(returns: Sequence[float]) -> dict:
    """One seed's run: when its 100-episode mean first reached 475, its best and its last."""
    return {
        "solved_at": curves.first_solved(returns),
        "best_mean_return": curves.best_mean_return(returns),
        "final_mean_return": float(np.mean(returns[-curves.SOLVED_WINDOW :])),
    }


def seeds_summary(per_seed: Sequence[dict]) -> dict:
    """Over the seeds' :func:`seed_summary`: how many reached 475, mean best and final means."""
    return {
        "seeds_solved": sum(r["solved_at"] is not None for r in per_seed),
        "best_mean_return": float(np.mean([r["best_mean_return"] for r in per_seed])),
        "final_mean_return": float(np.mean([r["final_mean_return"] for r in per_seed])),
    }


def summarise(runs: Sequence[dict], seeds: Sequence[int], cfg: Config) -> dict:
    """The JSON line: per seed, when the 100-episode mean first reached 475 and where it ended."""
    per_seed = [
        {
            "seed": seed,
            **seed_summary(run["returns"]),
            "steps": int(sum(run["lengths"])),
            "seconds": run["seconds"],
            "cpu_seconds": run["cpu_seconds"],
        }
        for seed, run in zip(seeds, runs, strict=True)
    ]
    return {
        "episodes": cfg.episodes,
        **seeds_summary(per_seed),
        "seconds": float(sum(r["seconds"] for r in per_seed)),
        "runs": per_seed,
        "config": {k: v for k, v in asdict(cfg).items() if k != "env_id"},
    }


# --8<-- [start:main]
def command_line(
    config_cls: type, doc: str | None, spec: ModuleSpec | None, quick: dict, **outputs: str
) -> common.LessonParser:
    """The flags of both C0 commands: the Config's (``--lr`` for short), ``--curve`` and ``outputs``."""
    outputs = {"curve": "write the mean learning curve as JSON", **outputs}
    aliases = {"learning_rate": "--lr"}
    return common.config_parser(
        config_cls, doc, spec, quick=quick, aliases=aliases, outputs=outputs
    )


def main(argv: list[str] | None = None) -> dict:
    """Train REINFORCE on CartPole-v1 for one or several seeds and print the metrics."""
    plot = "save the learning-curve figure here"
    parser = command_line(Config, __doc__, __spec__, {"episodes": 30}, plot=plot)
    cfg, args = common.parse_config(parser, argv)
    torch.set_num_threads(1)  # a tiny network: one thread is fastest and fair to neighbours
    seeds = [args.seed + k for k in range(cfg.seeds)]
    runs = [train(cfg, seed) for seed in seeds]
    if args.plot:
        plot_runs(runs, cfg, args.plot, seeds)
    if args.curve:
        x, y = curves.mean_episode_curve([r["returns"] for r in runs], [r["lengths"] for r in runs])
        curves.write_curve(args.curve, x, y, label="REINFORCE (PyTorch, C0)")
    return common.emit_metrics(summarise(runs, seeds, cfg))


if __name__ == "__main__":
    main()
# --8<-- [end:main]
