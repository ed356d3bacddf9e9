"""Lesson C0: policy gradients and REINFORCE from scratch in PyTorch, on CartPole-v1.

The policy is a small network that outputs action probabilities. REINFORCE plays whole
episodes with it, scores every action by the discounted reward that followed it (minus a
baseline), and nudges the log-probability of each action in proportion to that score.
The page derives why this follows the gradient of the expected return; this module is
the code each step of the derivation maps to.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Hyperparameters of REINFORCE on CartPole-v1 (the defaults are the benchmarked ones)."""

    env_id: str = "CartPole-v1"
    episodes: int = 1000  # total budget of episodes
    batch_episodes: int = 5  # episodes per gradient step: more = less noise, fewer steps
    gamma: float = 0.99  # discount of the reward-to-go
    learning_rate: float = 1e-2  # Adam step size
    hidden: int = 32  # width of the policy's one hidden layer
    baseline: bool = True  # subtract the leave-one-out, per-time-step baseline
    normalize: bool = True  # scale advantages to unit standard deviation
    entropy_coef: float = 0.0  # weight of the entropy bonus (0: off, see the ablation)
    solved_return: float = 475.0  # CartPole-v1 counts as solved at a 100-episode mean >= 475
    window: int = 100  # episodes in the moving average that decides "solved"


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
    """Play one episode with actions sampled from the policy.

    Args:
        env: A Gymnasium environment with a discrete action space.
        policy: The policy network (no gradient is recorded while playing).
        rng: Source of the action samples.
        seed: Passed to ``env.reset`` (``None`` continues the env's own sequence).

    Returns:
        ``(observations, actions, rewards)`` as arrays of length T (the episode length).
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
    """Reward-to-go of one episode: ``G_t = r_t + gamma * r_{t+1} + gamma^2 * r_{t+2} + ...``.

    Computed backwards in one pass with ``G_t = r_t + gamma * G_{t+1}``. The episode is
    assumed to end after the last reward (nothing is bootstrapped).

    Args:
        rewards: The rewards r_0 ... r_{T-1} of one episode.
        gamma: Discount factor in [0, 1].

    Returns:
        A float64 array of the same length holding G_0 ... G_{T-1}.
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
    adv = returns * mask
    if baseline:
        # lead[i, j, t] = G_it - G_jt: episode i's lead over episode j (j still running at t)
        lead = (returns[:, None, :] - returns[None, :, :]) * mask[None, :, :]
        others = mask.sum(axis=0, keepdims=True) - mask  # other episodes running at t
        mean_lead = lead.sum(axis=1) / np.maximum(others, 1)  # = G_it - mean of the others
        adv = np.where(others > 0, mean_lead, returns) * mask
    if normalize:
        n = mask.sum()
        mean = adv.sum() / n
        std = np.sqrt((((adv - mean) * mask) ** 2).sum() / n)
        adv = adv / (std + 1e-8)
    return adv


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

    ``loss = -mean_t[ A_t * log pi(a_t|s_t) ] - entropy_coef * mean_t[ H(pi(.|s_t)) ]``,
    the mean running over the real (unmasked) steps of all episodes in the batch.
    The loss value itself means nothing; only its gradient does.

    Args:
        logits: Policy logits, shape ``(N, T, n_actions)``.
        actions: Actions taken, shape ``(N, T)`` (any integer on padding).
        advantages: Weights A_t, shape ``(N, T)``; treated as constants.
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
    """One REINFORCE step on a batch of finished episodes.

    Args:
        policy: The policy network to improve.
        optimizer: Its optimizer (Adam).
        episodes: ``(observations, actions, rewards)`` per episode, from :func:`play_episode`.
        cfg: Hyperparameters (gamma, baseline, normalize, entropy_coef).

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
        A dict with ``returns`` (one per episode), ``lengths`` (same, in steps),
        ``solved_at`` (first episode at which the 100-episode mean reached
        ``cfg.solved_return``, or ``None``) and the trained ``policy``.
    """
    rng = common.seed_everything(seed)
    env = common.make_env(cfg.env_id, seed)
    policy = Policy(env.observation_space.shape[0], env.action_space.n, cfg.hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    episode_returns: list[float] = []
    episode_lengths: list[int] = []
    batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    solved_at = None
    loop = range(cfg.episodes)
    if show_progress:
        loop = common.progress(loop, desc=f"REINFORCE seed {seed}", total=cfg.episodes)
    for episode in loop:
        batch.append(play_episode(env, policy, rng))
        episode_returns.append(float(batch[-1][2].sum()))
        episode_lengths.append(len(batch[-1][1]))
        if len(batch) == cfg.batch_episodes:
            update_policy(policy, optimizer, batch, cfg)
            batch = []
        recent = episode_returns[-cfg.window :]
        if solved_at is None and len(recent) == cfg.window and np.mean(recent) >= cfg.solved_return:
            solved_at = episode + 1
    env.close()
    return {
        "returns": episode_returns,
        "lengths": episode_lengths,
        "solved_at": solved_at,
        "policy": policy,
    }


# --8<-- [end:train]


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    v = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def best_mean_return(returns: Sequence[float], window: int) -> float:
    """Highest ``window``-episode mean reached (over full windows when there are enough)."""
    ma = moving_average(returns, window)
    return float(ma[window - 1 :].max() if len(ma) >= window else ma.max())


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


def write_curve(path: str, runs: Sequence[dict], label: str) -> str:
    """Write the mean learning curve over seeds as JSON for the results page.

    x is environment steps (cumulative, averaged over seeds at each episode); y is the
    100-episode moving average of the return, averaged over seeds.
    """
    steps = np.mean([np.cumsum(r["lengths"]) for r in runs], axis=0)
    curve = np.mean([moving_average(r["returns"], 100) for r in runs], axis=0)
    data = {
        "x_label": "environment steps",
        "x": [round(float(s), 1) for s in steps],
        "y": [round(float(c), 2) for c in curve],
        "label": label,
    }
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


# --8<-- [start:plot]
def plot_runs(runs: Sequence[dict], cfg: Config, path: str, seeds: Sequence[int]) -> str:
    """Plot each seed's episode returns (faint) and their 100-episode moving averages."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for seed, run in zip(seeds, runs, strict=True):
        line = ax.plot(moving_average(run["returns"], cfg.window), label=f"seed {seed}")[0]
        ax.plot(run["returns"], color=line.get_color(), alpha=0.15, linewidth=0.8)
    ax.axhline(cfg.solved_return, color="black", linestyle="--", linewidth=1, label="solved (475)")
    ax.set_xlabel("episode")
    ax.set_ylabel("return (faint: per episode; bold: 100-episode mean)")
    ax.set_title(f"REINFORCE on {cfg.env_id} (PyTorch)")
    ax.set_ylim(0, 520)
    ax.legend(loc="lower right", fontsize=8, ncols=2)
    return common.save_figure(fig, path)


# --8<-- [end:plot]


def main(argv: list[str] | None = None) -> dict:
    """Train REINFORCE on CartPole-v1 for one or several seeds and print the metrics."""
    parser = common.lesson_parser(__doc__, prog="python -m snippets.c0_policy_gradients_reinforce")
    parser.add_argument(
        "--episodes", type=common.positive_int, default=Config.episodes,
        help=f"training episodes per seed (default {Config.episodes})",
    )
    parser.add_argument(
        "--seeds", type=common.positive_int, default=1,
        help="number of seeds to train, seed, seed+1, ... (default 1)",
    )
    parser.add_argument(
        "--lr", type=common.positive_float, default=Config.learning_rate,
        help=f"Adam learning rate (default {Config.learning_rate})",
    )
    parser.add_argument(
        "--gamma", type=common.float_in_range(0, 1), default=Config.gamma,
        help=f"discount factor in [0, 1] (default {Config.gamma})",
    )
    parser.add_argument(
        "--batch-episodes", type=common.positive_int, default=Config.batch_episodes,
        help=f"episodes per gradient step (default {Config.batch_episodes})",
    )
    parser.add_argument(
        "--entropy-coef", type=common.float_in_range(0, 1), default=Config.entropy_coef,
        help=f"entropy bonus weight in [0, 1] (default {Config.entropy_coef})",
    )
    parser.add_argument("--no-baseline", action="store_true", help="turn the baseline off")
    parser.add_argument("--plot", metavar="PATH", help="save the learning-curve figure here")
    parser.add_argument("--curve", metavar="PATH", help="write the mean learning curve as JSON")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # a tiny network: one thread is fastest and fair to neighbours
    cfg = replace(
        Config(),
        episodes=30 if args.quick else args.episodes,
        learning_rate=args.lr,
        gamma=args.gamma,
        batch_episodes=args.batch_episodes,
        entropy_coef=args.entropy_coef,
        baseline=not args.no_baseline,
    )
    seeds = [args.seed + k for k in range(args.seeds)]
    runs = []
    with common.Stopwatch() as watch:
        for seed in seeds:
            runs.append(train(cfg, seed))
    if args.plot:
        plot_runs(runs, cfg, args.plot, seeds)
    if args.curve:
        write_curve(args.curve, runs, label="REINFORCE (PyTorch, C0)")
    per_seed = [
        {
            "seed": seed,
            "solved_at": run["solved_at"],
            "best_mean_return": best_mean_return(run["returns"], cfg.window),
            "final_mean_return": float(np.mean(run["returns"][-cfg.window :])),
        }
        for seed, run in zip(seeds, runs, strict=True)
    ]
    return common.emit_metrics(
        {
            "episodes": cfg.episodes,
            "seeds_solved": sum(r["solved_at"] is not None for r in per_seed),
            "best_mean_return": float(np.mean([r["best_mean_return"] for r in per_seed])),
            "final_mean_return": float(np.mean([r["final_mean_return"] for r in per_seed])),
            "seconds": watch.seconds,
            "runs": per_seed,
            "config": {k: v for k, v in asdict(cfg).items() if k != "env_id"},
        }
    )


if __name__ == "__main__":
    main()
