"""Lesson E0: debugging RL, an atlas of common pitfalls you can run, and how to read curves.

Each pitfall is a pair of functions, ``<name>_broken`` and ``<name>_fixed``, with the same
signature: they run the same small experiment, differ in the one or two lines that matter,
and return the number that shows the symptom. The tests assert that the symptom appears
with the bug and disappears with the fix.
"""

# --8<-- [start:imports]
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of every experiment on the page (all small: the whole atlas runs in seconds)."""

    gamma: float = 0.99
    # 1. truncation: TD(0) evaluation of a CartPole controller that never falls
    truncation_episodes: int = 4
    td_iterations: int = 1500
    td_lr: float = 0.5
    # 2. return normalisation: REINFORCE gradient estimates from batches of episodes
    grad_batches: int = 32
    grad_batch_size: int = 16
    # 3. learning rate: a softmax policy on a 5-armed bandit (one-step REINFORCE)
    bandit_runs: int = 1000
    bandit_steps: int = 300
    lr: float = 0.1
    lr_too_high: float = 5.0
    # 4. target network: linear TD on a replay buffer of a 3-state loop
    q_gamma: float = 0.9
    q_steps: int = 2000
    q_lr: float = 0.1
    q_batch: int = 32
    target_every: int = 100
    # 5. seeding: random-policy CartPole episodes
    seeding_episodes: int = 5
    # 6. reward scale: fitting a critic with Adam
    reward_scale: float = 100.0
    critic_steps: int = 200
    critic_lr: float = 1e-2
    # 7. RLHF: log-probs of sampled tokens in a toy causal language model
    vocab: int = 12
    sequence_length: int = 16
    sequences: int = 64
    # reading learning curves: cross-entropy method on a linear CartPole policy
    cem_iterations: int = 20
    cem_population: int = 16
    cem_noise: float = 0.02
    seeds: int = 5


# --8<-- [end:config]


# --8<-- [start:rollout]
def make_vector_cartpole(n_envs: int) -> Any:
    """``n_envs`` CartPole-v1 copies stepped together by NumPy (Gymnasium's vector entry point)."""
    import gymnasium as gym

    return gym.make_vec("CartPole-v1", num_envs=n_envs, vectorization_mode="vector_entry_point")


def rollout_vector(
    env: Any, act: Callable[[np.ndarray], np.ndarray], seed: int
) -> dict[str, np.ndarray]:
    """Play exactly one episode in every copy of a vector env.

    A copy that has finished keeps being stepped (Gymnasium resets it automatically), but
    its steps are masked out.

    Args:
        env: a Gymnasium vector env.
        act: maps a batch of observations (N, obs_dim) to a batch of actions (N,).
        seed: seed for ``env.reset``.

    Returns:
        ``obs`` (T, N, obs_dim), ``actions`` (T, N), ``rewards`` (T, N) and ``mask`` (T, N),
        where ``mask[t, i]`` is True while episode i is still running at step t.
    """
    obs, _ = env.reset(seed=seed)
    alive = np.ones(env.num_envs, dtype=bool)
    out: dict[str, list[np.ndarray]] = {"obs": [], "actions": [], "rewards": [], "mask": []}
    while alive.any():
        actions = act(obs)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        for key, value in (("obs", obs), ("actions", actions), ("mask", alive.copy())):
            out[key].append(value)
        out["rewards"].append(np.where(alive, rewards, 0.0))
        alive &= ~(terminated | truncated)
        obs = next_obs
    return {key: np.asarray(value) for key, value in out.items()}


def returns_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return from each step to the end of its episode; rewards has shape (T, N)."""
    out = np.zeros_like(rewards, dtype=float)
    running = np.zeros(rewards.shape[1:])
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


# --8<-- [end:rollout]


# ----------------------------------------------------------------------------------------
# Pitfall 1: treating a time limit as a real ending
# ----------------------------------------------------------------------------------------
# --8<-- [start:truncation-setup]
@dataclass
class ValueEstimate:
    """Result of a TD evaluation: the mean predicted value per iteration and at the end."""

    curve: np.ndarray
    value: float
    true_value: float


def balancing_controller(obs: np.ndarray) -> int:
    """A hand-written CartPole policy that never drops the pole: every episode times out."""
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0)


def controller_transitions(episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Transitions (s, r, s', terminated, truncated) of the controller on CartPole-v1."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "reward", "next_obs", "term", "trunc")}
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        while True:
            next_obs, reward, terminated, truncated, _ = env.step(balancing_controller(obs))
            for key, value in zip(rows, (obs, reward, next_obs, terminated, truncated), strict=True):
                rows[key].append(value)
            obs = next_obs
            if terminated or truncated:
                break
    return {key: np.asarray(value) for key, value in rows.items()}


def cartpole_features(obs: np.ndarray) -> np.ndarray:
    """Linear-regression features [1, s, s^2] of CartPole observations (no clock in them)."""
    return np.column_stack([np.ones(len(obs)), obs, obs**2])


def batch_td_evaluation(
    data: dict[str, np.ndarray], stop_bootstrap: np.ndarray, cfg: Config
) -> ValueEstimate:
    """Semi-gradient TD(0) on a fixed batch of transitions with a linear value function.

    ``stop_bootstrap`` marks the transitions whose target is the reward alone.
    """
    phi, phi_next = cartpole_features(data["obs"]), cartpole_features(data["next_obs"])
    w = np.zeros(phi.shape[1])
    curve = []
    for _ in range(cfg.td_iterations):
        target = data["reward"] + cfg.gamma * (1.0 - stop_bootstrap) * (phi_next @ w)
        w += cfg.td_lr * phi.T @ (target - phi @ w) / len(phi)
        curve.append((phi @ w).mean())
    # The controller never fails and earns +1 a step: the value of the never-ending task
    # it is solving is 1 + gamma + gamma^2 + ... = 1 / (1 - gamma).
    return ValueEstimate(np.array(curve), curve[-1], 1.0 / (1.0 - cfg.gamma))


# --8<-- [end:truncation-setup]


# --8<-- [start:truncation-broken]
def truncation_broken(cfg: Config, seed: int) -> ValueEstimate:
    """TD evaluation that stops bootstrapping at the 500-step time limit (the bug)."""
    data = controller_transitions(cfg.truncation_episodes, seed)
    done = data["term"] | data["trunc"]  # BUG: a time-out is treated like the pole falling
    return batch_td_evaluation(data, done.astype(float), cfg)


# --8<-- [end:truncation-broken]


# --8<-- [start:truncation-fixed]
def truncation_fixed(cfg: Config, seed: int) -> ValueEstimate:
    """TD evaluation that bootstraps through time-outs and stops only on real endings."""
    data = controller_transitions(cfg.truncation_episodes, seed)
    done = data["term"]  # FIX: only `terminated` ends the return; `truncated` bootstraps
    return batch_td_evaluation(data, done.astype(float), cfg)


# --8<-- [end:truncation-fixed]


# ----------------------------------------------------------------------------------------
# Pitfall 2: raw returns as REINFORCE weights
# ----------------------------------------------------------------------------------------
# --8<-- [start:normalisation-setup]
@dataclass
class GradientStats:
    """Agreement of REINFORCE gradient estimates from independent batches of episodes.

    Attributes:
        snr: signal-to-noise ratio ``|mean g|^2 / mean |g - mean g|^2`` over batches.
        cosines: cosine of each batch's gradient with the mean gradient.
    """

    snr: float
    cosines: np.ndarray


# A half-trained linear softmax policy: logits = obs @ THETA, episodes last ~200 steps.
THETA = np.array([[-0.3, 0.3], [-0.6, 0.6], [-3.0, 3.0], [-1.5, 1.5]])


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable for large logits."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def reinforce_gradients(
    weight_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], cfg: Config, seed: int
) -> GradientStats:
    """Estimate grad J for THETA from ``grad_batches`` batches and measure how they agree.

    The gradient of sum_t w_t log pi(a_t|s_t) for a linear softmax policy is
    sum_t s_t (onehot(a_t) - pi(.|s_t)) w_t, averaged over the episodes of a batch.

    Args:
        weight_fn: maps (returns_to_go, mask) of one batch to the per-step weights w_t.
        cfg: settings (``gamma``, ``grad_batches``, ``grad_batch_size``).
        seed: seed of the environments and of the action sampling.
    """
    rng = np.random.default_rng(seed)
    n = cfg.grad_batches * cfg.grad_batch_size
    env = make_vector_cartpole(n)

    def act(obs: np.ndarray) -> np.ndarray:
        return (rng.random(len(obs)) < softmax(obs @ THETA)[:, 1]).astype(np.int64)

    ep = rollout_vector(env, act, seed)
    env.close()
    returns = returns_to_go(ep["rewards"], cfg.gamma)
    score = np.eye(2)[ep["actions"]] - softmax(ep["obs"] @ THETA)  # d log pi / d logits
    grads = []
    for b in range(cfg.grad_batches):
        cols = slice(b * cfg.grad_batch_size, (b + 1) * cfg.grad_batch_size)
        w = weight_fn(returns[:, cols], ep["mask"][:, cols]) * ep["mask"][:, cols]
        g = np.einsum("tni,tna,tn->ia", ep["obs"][:, cols], score[:, cols], w)
        grads.append(g.ravel() / cfg.grad_batch_size)
    grads = np.array(grads)
    mean = grads.mean(axis=0)
    noise = ((grads - mean) ** 2).sum(axis=1).mean()
    cosines = grads @ mean / (np.linalg.norm(grads, axis=1) * np.linalg.norm(mean))
    return GradientStats(float(mean @ mean / noise), cosines)


# --8<-- [end:normalisation-setup]


# --8<-- [start:normalisation-broken]
def raw_returns(returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The bug: weight each log-prob by its raw return-to-go (all positive on CartPole)."""
    return returns


def normalisation_broken(cfg: Config, seed: int) -> GradientStats:
    """REINFORCE gradients weighted by raw returns."""
    return reinforce_gradients(raw_returns, cfg, seed)


# --8<-- [end:normalisation-broken]


# --8<-- [start:normalisation-fixed]
def normalised_returns(returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The fix: subtract the batch mean (a baseline) and divide by the batch std."""
    valid = returns[mask]
    return (returns - valid.mean()) / (valid.std() + 1e-8)


def normalisation_fixed(cfg: Config, seed: int) -> GradientStats:
    """REINFORCE gradients weighted by returns normalised over the batch."""
    return reinforce_gradients(normalised_returns, cfg, seed)


# --8<-- [end:normalisation-fixed]


# ----------------------------------------------------------------------------------------
# Pitfall 3: a learning rate that collapses the policy
# ----------------------------------------------------------------------------------------
# --8<-- [start:learning-rate-setup]
@dataclass
class BanditRun:
    """Averages over many independent runs of a softmax policy on a bandit.

    Attributes:
        entropy: mean policy entropy (nats) after each step.
        expected_reward: mean of sum_a pi(a) mu_a after each step (best possible: 1.0).
        best_arm_share: share of runs whose most likely arm is the best one at the end.
    """

    entropy: np.ndarray
    expected_reward: np.ndarray
    best_arm_share: float


ARM_MEANS = np.linspace(0.0, 1.0, 5)  # five arms, the last one best; reward noise std 1


def gradient_bandit(lr: float, cfg: Config, seed: int) -> BanditRun:
    """The gradient-bandit algorithm (Sutton & Barto 2.8): REINFORCE on one-step episodes.

    Preferences H are the policy's logits; after pulling arm a and seeing reward r,
    H += lr * (r - baseline) * (onehot(a) - pi). All runs advance together as arrays.
    """
    rng = np.random.default_rng(seed)
    runs, k = cfg.bandit_runs, len(ARM_MEANS)
    prefs, baseline = np.zeros((runs, k)), np.zeros(runs)
    entropy, expected = [], []
    for t in range(cfg.bandit_steps):
        pi = softmax(prefs)
        arm = (pi.cumsum(axis=1) > rng.random((runs, 1))).argmax(axis=1)
        reward = ARM_MEANS[arm] + rng.normal(0.0, 1.0, runs)
        baseline += (reward - baseline) / (t + 1)
        prefs += lr * (reward - baseline)[:, None] * (np.eye(k)[arm] - pi)
        pi = softmax(prefs)
        entropy.append(-(pi * np.log(pi + 1e-12)).sum(axis=1).mean())
        expected.append((pi @ ARM_MEANS).mean())
    best = float((prefs.argmax(axis=1) == k - 1).mean())
    return BanditRun(np.array(entropy), np.array(expected), best)


# --8<-- [end:learning-rate-setup]


# --8<-- [start:learning-rate-broken]
def learning_rate_broken(cfg: Config, seed: int) -> BanditRun:
    """A step size so large that one noisy reward moves the logits by several nats."""
    return gradient_bandit(cfg.lr_too_high, cfg, seed)


# --8<-- [end:learning-rate-broken]


# --8<-- [start:learning-rate-fixed]
def learning_rate_fixed(cfg: Config, seed: int) -> BanditRun:
    """A step size fifty times smaller: the policy stays curious long enough to find the best arm."""
    return gradient_bandit(cfg.lr, cfg, seed)


def entropy_collapsed(entropy: np.ndarray, floor: float = 0.1, within: int = 50) -> bool:
    """The alarm to log in every policy-gradient run: entropy near 0 almost at once."""
    return bool(entropy[:within].min() < floor)


# --8<-- [end:learning-rate-fixed]


# ----------------------------------------------------------------------------------------
# Pitfall 4: bootstrapping from the weights being updated (no target network)
# ----------------------------------------------------------------------------------------
# --8<-- [start:target-network-setup]
# A loop of three states 0 -> 1 -> 2 -> 0 with reward 0 everywhere, so the true values are 0.
# Two features per state: updating state 0 also moves states 1 and 2 (generalisation).
LOOP_FEATURES = np.array([[1.0, 0.0], [2.0, 1.0], [1.0, 1.0]])
LOOP_NEXT = np.array([1, 2, 0])
SKEWED_REPLAY = np.array([9.0, 1.0, 1.0]) / 11  # the buffer holds mostly state-0 transitions
ON_POLICY_REPLAY = np.ones(3) / 3  # a well-mixed buffer: each state as often as it is visited


@dataclass
class TDRun:
    """Largest absolute value estimate |V(s)| after each update (the truth is 0)."""

    max_abs_value: np.ndarray

    @property
    def final(self) -> float:
        """The last recorded max |V(s)|."""
        return float(self.max_abs_value[-1])


def linear_td_on_replay(
    replay: np.ndarray, target_every: int | None, cfg: Config, seed: int
) -> TDRun:
    """Minibatch semi-gradient TD(0) with linear features, sampling transitions from a buffer.

    This is DQN's update with one action per state (so the max over actions disappears)
    and a linear "network" V(s) = phi(s) @ w.

    Args:
        replay: probability of each state's transition in the replay buffer.
        target_every: copy w into the target weights every this many updates; ``None``
            bootstraps from w itself (no target network).
        cfg: settings (``q_gamma``, ``q_steps``, ``q_lr``, ``q_batch``).
        seed: seed of the minibatch sampling.
    """
    rng = np.random.default_rng(seed)
    w = np.ones(2)
    w_target = w.copy()
    history = []
    for step in range(cfg.q_steps):
        if target_every is not None and step % target_every == 0:
            w_target = w.copy()
        bootstrap = w if target_every is None else w_target
        s = rng.choice(3, size=cfg.q_batch, p=replay)
        td_error = 0.0 + cfg.q_gamma * LOOP_FEATURES[LOOP_NEXT[s]] @ bootstrap - LOOP_FEATURES[s] @ w
        w = w + cfg.q_lr * (LOOP_FEATURES[s] * td_error[:, None]).mean(axis=0)
        history.append(np.abs(LOOP_FEATURES @ w).max())
        if history[-1] > 1e12:  # diverged: stop before overflowing
            break
    return TDRun(np.array(history))


# --8<-- [end:target-network-setup]


# --8<-- [start:target-network-broken]
def target_network_broken(cfg: Config, seed: int) -> TDRun:
    """No target network, and a replay buffer dominated by one part of the state space."""
    return linear_td_on_replay(SKEWED_REPLAY, target_every=None, cfg=cfg, seed=seed)


# --8<-- [end:target-network-broken]


# --8<-- [start:target-network-fixed]
def target_network_fixed(cfg: Config, seed: int) -> TDRun:
    """The same data and features, bootstrapping from a copy refreshed every 100 updates."""
    return linear_td_on_replay(SKEWED_REPLAY, target_every=cfg.target_every, cfg=cfg, seed=seed)


# --8<-- [end:target-network-fixed]


# ----------------------------------------------------------------------------------------
# Pitfall 5: unseeded environments
# ----------------------------------------------------------------------------------------
# --8<-- [start:seeding-setup]
def random_episode_return(env: Any, obs: np.ndarray, rng: np.random.Generator) -> float:
    """Play one episode with uniformly random actions from ``obs``; return its length."""
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
        total += float(reward)
        if terminated or truncated:
            return total


# --8<-- [end:seeding-setup]


# --8<-- [start:seeding-broken]
def seeding_broken(cfg: Config, seed: int) -> list[float]:
    """Random-policy returns where ``seed`` is accepted but never reaches the randomness."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng()  # BUG: fresh OS entropy on every call
    returns = []
    for _ in range(cfg.seeding_episodes):
        obs, _ = env.reset()  # BUG: the first reset draws its seed from the OS too
        returns.append(random_episode_return(env, obs, rng))
    return returns


# --8<-- [end:seeding-broken]


# --8<-- [start:seeding-fixed]
def seeding_fixed(cfg: Config, seed: int) -> list[float]:
    """Seed the first reset and the agent's generator; later resets continue the sequence."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    returns = []
    for episode in range(cfg.seeding_episodes):
        obs, _ = env.reset(seed=seed) if episode == 0 else env.reset()
        returns.append(random_episode_return(env, obs, rng))
    return returns


@dataclass
class Repeat:
    """The same experiment run twice with the same seed."""

    first: list[float]
    second: list[float]

    @property
    def reproducible(self) -> bool:
        """The check every experiment should pass: same seed, same numbers."""
        return self.first == self.second


def run_twice(run: Callable[[Config, int], list[float]], cfg: Config, seed: int) -> Repeat:
    """Run ``run(cfg, seed)`` twice and keep both results."""
    return Repeat(run(cfg, seed), run(cfg, seed))


# --8<-- [end:seeding-fixed]


# ----------------------------------------------------------------------------------------
# Pitfall 6: reward scale
# ----------------------------------------------------------------------------------------
# --8<-- [start:reward-scale-setup]
def random_policy_returns(cfg: Config, seed: int, episodes: int = 32) -> tuple[Any, np.ndarray]:
    """States of random-policy CartPole episodes and their discounted returns-to-go."""
    rng = np.random.default_rng(seed)
    env = make_vector_cartpole(episodes)
    ep = rollout_vector(env, lambda obs: rng.integers(0, 2, len(obs)), seed)
    env.close()
    returns = returns_to_go(ep["rewards"], cfg.gamma)
    return ep["obs"][ep["mask"]], returns[ep["mask"]]


def fit_critic(states: np.ndarray, targets: np.ndarray, cfg: Config, seed: int) -> float:
    """Regress a small MLP critic on the targets with Adam; return the explained variance.

    Explained variance 1 - Var(target - prediction) / Var(target) does not depend on the
    scale of the targets, so it compares fits at different reward scales fairly.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a net this small runs fastest on one thread
    try:
        return _fit_critic(states, targets, cfg, seed)
    finally:
        torch.set_num_threads(threads)


def _fit_critic(states: np.ndarray, targets: np.ndarray, cfg: Config, seed: int) -> float:
    import torch

    torch.manual_seed(seed)
    x = torch.as_tensor(states, dtype=torch.float32)
    y = torch.as_tensor(targets, dtype=torch.float32)
    critic = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
    )
    opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr)
    for _ in range(cfg.critic_steps):
        loss = ((critic(x).squeeze(-1) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        residual = y - critic(x).squeeze(-1)
    return float(1.0 - residual.var() / y.var())


# --8<-- [end:reward-scale-setup]


# --8<-- [start:reward-scale-broken]
def reward_scale_broken(cfg: Config, seed: int) -> float:
    """Rewards 100 times larger (points, cents, ...) fed to the critic as they are."""
    states, returns = random_policy_returns(cfg, seed)
    return fit_critic(states, cfg.reward_scale * returns, cfg, seed)


# --8<-- [end:reward-scale-broken]


# --8<-- [start:reward-scale-fixed]
def reward_scale_fixed(cfg: Config, seed: int) -> float:
    """The same rewards divided by the spread of the returns before the critic sees them."""
    states, returns = random_policy_returns(cfg, seed)
    scaled = cfg.reward_scale * returns
    return fit_critic(states, scaled / (scaled.std() + 1e-8), cfg, seed)


# --8<-- [end:reward-scale-fixed]


# ----------------------------------------------------------------------------------------
# Pitfall 7: RLHF log-probs shifted by one token
# ----------------------------------------------------------------------------------------
# --8<-- [start:logprob-setup]
@dataclass
class LogprobCheck:
    """Log-probs recorded while sampling vs recomputed from one forward pass."""

    recorded: np.ndarray
    recomputed: np.ndarray
    max_abs_error: float = field(init=False)

    def __post_init__(self) -> None:
        self.max_abs_error = float(np.abs(self.recorded - self.recomputed).max())


def toy_language_model(vocab: int, seed: int) -> Any:
    """A bigram causal LM: ``model(tokens)[:, t]`` are the logits of token t + 1.

    Hugging Face causal LMs follow the same convention; large random weights make the
    next-token distributions peaked, so a misalignment is easy to see.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Embedding(vocab, vocab)
    with torch.no_grad():
        model.weight.copy_(3.0 * torch.randn(vocab, vocab, generator=generator))
    return model


def sample_with_logprobs(model: Any, cfg: Config, seed: int) -> tuple[Any, Any]:
    """Sample sequences token by token, recording log pi(token) at sampling time.

    Returns:
        ``(tokens, logprobs)``: tokens (B, L + 1) starting with a random prompt token;
        logprobs (B, L), the log-probability of tokens[:, 1:] when they were drawn.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, cfg.vocab, (cfg.sequences, 1), generator=generator)
    recorded = []
    with torch.no_grad():
        for _ in range(cfg.sequence_length):
            logp = torch.log_softmax(model(tokens)[:, -1], dim=-1)
            nxt = torch.multinomial(logp.exp(), 1, generator=generator)
            recorded.append(logp.gather(-1, nxt))
            tokens = torch.cat([tokens, nxt], dim=1)
    return tokens, torch.cat(recorded, dim=1)


def check_logprobs(
    logprob_fn: Callable[[Any, Any], Any], cfg: Config, seed: int
) -> LogprobCheck:
    """Recompute the sampled tokens' log-probs with ``logprob_fn`` and compare."""
    import torch

    model = toy_language_model(cfg.vocab, seed)
    tokens, recorded = sample_with_logprobs(model, cfg, seed)
    with torch.no_grad():
        recomputed = logprob_fn(model(tokens), tokens)
    return LogprobCheck(recorded.numpy(), recomputed.numpy())


# --8<-- [end:logprob-setup]


# --8<-- [start:logprob-broken]
def token_logprobs_broken(logits: Any, tokens: Any) -> Any:
    """The bug: the shapes line up, but position t's logits score token t, not t + 1."""
    import torch

    logp = torch.log_softmax(logits[:, 1:], dim=-1)
    return logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


def logprob_broken(cfg: Config, seed: int) -> LogprobCheck:
    """Recompute sampled log-probs with the misaligned gather."""
    return check_logprobs(token_logprobs_broken, cfg, seed)


# --8<-- [end:logprob-broken]


# --8<-- [start:logprob-fixed]
def token_logprobs_fixed(logits: Any, tokens: Any) -> Any:
    """The fix: logits at position t predict token t + 1, so drop the last logits row."""
    import torch

    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    return logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


def logprob_fixed(cfg: Config, seed: int) -> LogprobCheck:
    """Recompute sampled log-probs with the correctly shifted gather."""
    return check_logprobs(token_logprobs_fixed, cfg, seed)


# --8<-- [end:logprob-fixed]


# --8<-- [start:atlas]
PITFALLS: dict[str, tuple[Callable[[Config, int], Any], Callable[[Config, int], Any]]] = {
    "truncation": (truncation_broken, truncation_fixed),
    "normalisation": (normalisation_broken, normalisation_fixed),
    "learning-rate": (learning_rate_broken, learning_rate_fixed),
    "target-network": (target_network_broken, target_network_fixed),
    "seeding": (
        lambda cfg, seed: run_twice(seeding_broken, cfg, seed),
        lambda cfg, seed: run_twice(seeding_fixed, cfg, seed),
    ),
    "reward-scale": (reward_scale_broken, reward_scale_fixed),
    "logprob-shift": (logprob_broken, logprob_fixed),
}


def symptom(name: str, result: Any) -> float | bool:
    """The one number (or flag) per pitfall that the tests and the JSON line report."""
    if name == "truncation":
        return result.value  # should be 1 / (1 - gamma) = 100
    if name == "normalisation":
        return result.snr  # higher is better
    if name == "learning-rate":
        return result.expected_reward[-1]  # best possible 1.0
    if name == "target-network":
        return result.final  # should go to 0
    if name == "seeding":
        return result.reproducible  # should be True
    if name == "reward-scale":
        return result  # explained variance, 1.0 is a perfect fit
    if name == "logprob-shift":
        return result.max_abs_error  # should be ~1e-7
    raise ValueError(f"unknown pitfall {name!r}")


# --8<-- [end:atlas]


# ----------------------------------------------------------------------------------------
# Reading learning curves
# ----------------------------------------------------------------------------------------
# --8<-- [start:cem]
def cem_cartpole(cfg: Config, seed: int) -> np.ndarray:
    """Cross-entropy method on a linear CartPole policy: a random-search baseline.

    The policy pushes right when obs @ w > 0. Each iteration samples ``cem_population``
    weight vectors w around a mean, plays one episode with each (in one vector env), and
    moves the mean and spread to the best quarter; a little extra spread keeps it from
    collapsing. A deep-RL agent that cannot beat this on a new task deserves suspicion.

    Returns:
        The return of every episode played, in order (the raw learning curve).
    """
    rng = np.random.default_rng(seed)
    n = cfg.cem_population
    env = make_vector_cartpole(n)
    mean, std = np.zeros(4), np.ones(4)
    curve = []
    for it in range(cfg.cem_iterations):
        weights = mean + std * rng.standard_normal((n, 4))

        def act(obs: np.ndarray, weights: np.ndarray = weights) -> np.ndarray:
            return ((obs * weights).sum(axis=1) > 0).astype(np.int64)

        returns = rollout_vector(env, act, seed * 100_003 + it)["rewards"].sum(axis=0)
        elite = weights[np.argsort(returns)[-n // 4 :]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + cfg.cem_noise
        curve.extend(returns)
    env.close()
    return np.array(curve)


# --8<-- [end:cem]


# --8<-- [start:curves]
def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` points (fewer at the start); same length as y."""
    c = np.cumsum(np.insert(np.asarray(y, dtype=float), 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def ema(y: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing slider: exponential moving average with bias correction."""
    out, last = np.empty(len(y)), 0.0
    for i, value in enumerate(y):
        last = weight * last + (1 - weight) * value
        out[i] = last / (1 - weight ** (i + 1))
    return out


def seed_band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and interquartile range across seeds; curves has shape (seeds, points)."""
    q25, median, q75 = np.percentile(curves, [25, 50, 75], axis=0)
    return median, q25, q75


def bootstrap_ci(
    values: np.ndarray, seed: int, level: float = 0.95, resamples: int = 10_000
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean over seeds."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    means = rng.choice(values, size=(resamples, len(values))).mean(axis=1)
    return tuple(np.percentile(means, [50 * (1 - level), 50 * (1 + level)]))


def first_solved(returns: np.ndarray, threshold: float = 475.0, window: int = 100) -> int | None:
    """First episode at which the mean of the last ``window`` episodes reaches ``threshold``.

    That is the classic definition of "solved" for CartPole-v1 (threshold 475, Gymnasium's
    ``spec.reward_threshold``). Returns the 1-based episode count, or None.
    """
    returns = np.asarray(returns, dtype=float)
    if len(returns) < window:
        return None
    means = np.convolve(returns, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(means >= threshold)
    return int(hits[0] + window) if len(hits) else None


# --8<-- [end:curves]


# --8<-- [start:tracking]
def track_curve(
    returns: np.ndarray, backend: str, logdir: str | os.PathLike[str], run_name: str
) -> str:
    """Log a learning curve to TensorBoard or Weights & Biases; return where it went.

    W&B is never asked to go online here: without ``WANDB_MODE`` it records offline
    (upload later with ``wandb sync``), so no API key is needed.

    Args:
        returns: one value per episode.
        backend: ``"tensorboard"`` or ``"wandb"``.
        logdir: folder for the event files or the offline W&B run.
        run_name: name of the run in the dashboard.
    """
    logdir = os.fspath(logdir)
    if backend == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=os.path.join(logdir, run_name))
        for episode, value in enumerate(returns):
            writer.add_scalar("charts/episodic_return", float(value), episode)
        writer.close()
        return writer.log_dir
    if backend == "wandb":
        import wandb

        run = wandb.init(
            project="rl-course-e0",
            name=run_name,
            dir=logdir,
            mode=os.environ.get("WANDB_MODE", "offline"),
            reinit="finish_previous",
        )
        for episode, value in enumerate(returns):
            run.log({"charts/episodic_return": float(value)}, step=episode)
        run.finish()
        return run.dir
    raise ValueError(f"backend must be 'tensorboard' or 'wandb', got {backend!r}")


# --8<-- [end:tracking]


# --8<-- [start:plot]
def plot_atlas(
    results: dict[str, tuple[Any, Any]], cfg: Config, folder: str, seed: int = 0
) -> list[str]:
    """One figure per pitfall, broken next to fixed; returns the paths written."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    paths = []
    red, blue = "tab:red", "tab:blue"

    def save(fig: Any, name: str) -> None:
        paths.append(common.save_figure(fig, os.path.join(folder, f"e0_{name}.png")))

    if "truncation" in results:
        bad, good = results["truncation"]
        fig, ax = plt.subplots()
        ax.plot(bad.curve, color=red, label="broken: done = terminated or truncated")
        ax.plot(good.curve, color=blue, label="fixed: done = terminated")
        ax.axhline(good.true_value, color="k", ls="--", lw=1, label="true value 1/(1-γ)")
        ax.set(xlabel="TD iteration", ylabel="mean predicted V(s)",
               title="Truncation is not termination")  # fmt: skip
        ax.legend()
        save(fig, "truncation")
    if "normalisation" in results:
        bad, good = results["normalisation"]
        fig, ax = plt.subplots()
        bins = np.linspace(-1, 1, 41)
        ax.hist(bad.cosines, bins=bins, color=red, alpha=0.6, label=f"raw returns (SNR {bad.snr:.2f})")
        ax.hist(good.cosines, bins=bins, color=blue, alpha=0.6,
                label=f"normalised returns (SNR {good.snr:.2f})")  # fmt: skip
        ax.set(xlabel="cosine(batch gradient, mean gradient)", ylabel="batches",
               title="REINFORCE gradient agreement across batches")  # fmt: skip
        ax.legend(loc="upper left")
        save(fig, "normalisation")
    if "learning-rate" in results:
        bad, good = results["learning-rate"]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        for run, color, lr in ((bad, red, cfg.lr_too_high), (good, blue, cfg.lr)):
            ax1.plot(run.entropy, color=color, label=f"lr = {lr:g}")
            ax2.plot(run.expected_reward, color=color, label=f"lr = {lr:g}")
        ax1.set(xlabel="step", ylabel="policy entropy (nats)", title="Entropy")
        ax2.axhline(ARM_MEANS.max(), color="k", ls="--", lw=1, label="best arm")
        ax2.set(xlabel="step", ylabel="expected reward", title="Expected reward")
        ax1.legend()
        ax2.legend()
        save(fig, "learning_rate")
    if "target-network" in results:
        bad, good = results["target-network"]
        mixed = linear_td_on_replay(ON_POLICY_REPLAY, None, cfg, seed)
        fig, ax = plt.subplots()
        ax.semilogy(bad.max_abs_value, color=red, label="no target network, skewed replay")
        ax.semilogy(good.max_abs_value, color=blue, label="target network (sync every 100)")
        ax.semilogy(mixed.max_abs_value, color="tab:green", ls=":",
                    label="no target network, well-mixed replay")  # fmt: skip
        ax.set(xlabel="update", ylabel="max |V(s)|  (truth: 0)", title="Bootstrapping on replay")
        ax.legend()
        save(fig, "target_network")
    if "seeding" in results:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
        for ax, name, run in zip(axes, ("broken", "fixed"), results["seeding"], strict=True):
            ax.plot(run.first, marker="o", label="run 1")
            ax.plot(run.second, marker="x", ls="--", label="run 2, same seed")
            ax.set(xlabel="episode", title=f"{name}: reproducible = {run.reproducible}")
            ax.legend()
        axes[0].set_ylabel("random-policy return")
        save(fig, "seeding")
    if "reward-scale" in results:
        bad, good = results["reward-scale"]
        states, returns = random_policy_returns(cfg, seed)
        reference = fit_critic(states, returns, cfg, seed)
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        labels = ["rewards ×1", "rewards ×100", "rewards ×100, normalised"]
        bars = ax.bar(labels, [reference, bad, good], color=["0.6", red, blue])
        ax.bar_label(bars, fmt="%.2f")
        ax.set(ylabel=f"explained variance, {cfg.critic_steps} Adam steps", ylim=(min(0, bad) - 0.05, 1),
               title="Critic fit vs reward scale")  # fmt: skip
        save(fig, "reward_scale")
    if "logprob-shift" in results:
        bad, good = results["logprob-shift"]
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.scatter(bad.recorded.ravel(), bad.recomputed.ravel(), s=6, color=red, alpha=0.5,
                   label=f"shifted gather (max error {bad.max_abs_error:.1f} nats)")  # fmt: skip
        ax.scatter(good.recorded.ravel(), good.recomputed.ravel(), s=6, color=blue,
                   label=f"correct gather (max error {good.max_abs_error:.1g})")  # fmt: skip
        ax.set(xlabel="log-prob recorded while sampling", ylabel="log-prob from forward pass",
               title="Sampling vs training log-probs")  # fmt: skip
        ax.legend(loc="lower right")
        save(fig, "logprob_shift")
    return paths


def plot_learning_curves(curves: np.ndarray, folder: str) -> str:
    """Raw, smoothed and banded learning curves of several seeds, with the solved line."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    episodes = np.arange(1, curves.shape[1] + 1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    axes[0].plot(episodes, curves[0], lw=0.8, color="0.6", label="raw (seed 0)")
    axes[0].plot(episodes, ema(curves[0], 0.9), label="EMA 0.9 (TensorBoard)")
    axes[0].plot(episodes, moving_average(curves[0], 100), label="mean of last 100")
    axes[0].set_title("One seed: raw vs smoothed")
    for seed, curve in enumerate(curves):
        axes[1].plot(episodes, moving_average(curve, 20), lw=1, label=f"seed {seed}")
    axes[1].set_title("Every seed (mean of last 20)")
    median, q25, q75 = seed_band(np.array([moving_average(c, 20) for c in curves]))
    axes[2].fill_between(episodes, q25, q75, alpha=0.3, label="interquartile range")
    axes[2].plot(episodes, median, label=f"median of {len(curves)} seeds")
    axes[2].set_title("Summary: median and IQR band")
    for ax in axes:
        ax.axhline(475, color="k", ls="--", lw=1)
        ax.set_xlabel("episode")
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("episode return (475 = solved)")
    return common.save_figure(fig, os.path.join(folder, "e0_learning_curves.png"))


# --8<-- [end:plot]


# --8<-- [start:main]
def run_atlas(cfg: Config, names: list[str], seed: int) -> dict[str, tuple[Any, Any]]:
    """Run the broken and the fixed version of each named pitfall."""
    results = {}
    for name in common.progress(names, desc="pitfalls"):
        broken, fixed = PITFALLS[name]
        results[name] = (broken(cfg, seed), fixed(cfg, seed))
    return results


def main(argv: list[str] | None = None) -> dict:
    """Run the atlas (every pitfall broken and fixed) and the learning-curve demo."""
    parser = common.lesson_parser(__doc__, prog="python -m snippets.e0_debugging_common_pitfalls")
    parser.add_argument(
        "--pitfall", choices=["all", *PITFALLS], default="all", help="run one pitfall only"
    )
    parser.add_argument(
        "--seeds", type=common.positive_int, default=Config.seeds,
        help=f"seeds for the learning-curve demo (default {Config.seeds})",
    )  # fmt: skip
    parser.add_argument(
        "--iterations", type=common.positive_int, default=Config.cem_iterations,
        help=f"CEM iterations per seed in the learning-curve demo (default {Config.cem_iterations})",
    )  # fmt: skip
    parser.add_argument("--plot-dir", metavar="DIR", help="write the e0_*.png figures here")
    parser.add_argument(
        "--track", choices=["none", "tensorboard", "wandb"], default="none",
        help="also log the learning curves (W&B runs offline unless WANDB_MODE says otherwise)",
    )  # fmt: skip
    parser.add_argument("--logdir", default="runs/e0", help="folder for --track (default runs/e0)")
    args = parser.parse_args(argv)
    cfg = Config(seeds=args.seeds, cem_iterations=args.iterations)
    if args.quick:
        cfg = replace(
            cfg, truncation_episodes=1, td_iterations=800, grad_batches=8, bandit_runs=300,
            bandit_steps=150, q_steps=600, critic_steps=150, sequences=16,
            cem_iterations=min(cfg.cem_iterations, 4), seeds=min(cfg.seeds, 2),
        )  # fmt: skip
    names = list(PITFALLS) if args.pitfall == "all" else [args.pitfall]

    with common.Stopwatch() as clock:
        results = run_atlas(cfg, names, args.seed)
        metrics: dict[str, Any] = {}
        for name, (bad, good) in results.items():
            key = name.replace("-", "_")
            metrics[f"{key}_broken"] = symptom(name, bad)
            metrics[f"{key}_fixed"] = symptom(name, good)
        seeds = range(args.seed, args.seed + cfg.seeds)
        curves = np.array([cem_cartpole(cfg, s) for s in common.progress(seeds, desc="CEM seeds")])
        solved = [first_solved(c) for c in curves]
    metrics["cem_final_100_episode_means"] = [float(c[-100:].mean()) for c in curves]
    metrics["cem_solved_at_episode"] = solved
    metrics["seconds"] = clock.seconds

    if args.plot_dir:
        plot_atlas(results, cfg, args.plot_dir, args.seed)
        plot_learning_curves(curves, args.plot_dir)
    if args.track != "none":
        for s, curve in zip(seeds, curves, strict=True):
            track_curve(curve, args.track, args.logdir, run_name=f"cem-seed{s}")
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
