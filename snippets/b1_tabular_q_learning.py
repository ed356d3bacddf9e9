"""Lesson B1: value iteration and tabular Q-learning on FrozenLake.

First dynamic programming on the environment's own model (``env.unwrapped.P``): value
iteration gives the best possible success rate within the episode's step limit. Then the
agent forgets the model and learns a Q-table from experience on the real Gymnasium
environment with Q-learning and a decaying ε, and we compare it with that optimum.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Annotated, Literal

import gymnasium as gym
import numpy as np

from snippets import a3_mdp_and_bellman as a3
from snippets import common, curves

# --8<-- [end:imports]


# --8<-- [start:config]
Share = Annotated[float, common.Range(0, 1, low_open=True)]  # a share of training, in (0, 1]


@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run (slippery FrozenLake)."""

    map_name: Literal["4x4", "8x8"] = "4x4"  # FrozenLake-v1 (4x4) or FrozenLake8x8-v1 (8x8)
    episodes: common.NonNegInt = 0  # training episodes; 0: the map's own (5000 or 10000)
    alpha: common.PosFloat = 0.2  # step size at the start of training, decaying linearly ...
    alpha_end: common.NonNegFloat = 0.01  # ... to this step size at the last episode
    gamma: common.Prob = 0.99  # discount used for learning
    epsilon_start: common.Prob = 1.0  # exploration rate at the start, decaying linearly ...
    epsilon_end: common.Prob = 0.01  # ... to this rate ...
    decay_fraction: Share = 0.5  # ... over this share of the episodes
    eval_episodes: common.PosInt = 1000  # greedy evaluation episodes on the real environment
    checkpoints: common.PosInt = 50  # points on the learning curve


MAPS = {  # map name -> (Gymnasium id, default training episodes)
    "4x4": ("FrozenLake-v1", 5000),
    "8x8": ("FrozenLake8x8-v1", 10_000),
}
ACTION_NAMES = ("left", "down", "right", "up")  # FrozenLake's action numbering


# --8<-- [end:config]


# --8<-- [start:model]
def frozenlake_mdp(env: gym.Env, gamma: float = 1.0) -> a3.MDP:
    """Turn FrozenLake's transition lists into the arrays of lesson A3.

    ``env.unwrapped.P[s][a]`` is a list of ``(probability, next_state, reward, terminated)``.
    On slippery ice each action goes the intended way or either perpendicular way, 1/3 each.
    The only reward is +1 for stepping onto the goal; holes and the goal end the episode.

    Returns:
        An ``a3.MDP`` with P (S, A, S), expected rewards R (S, A) and the terminal mask.
    """
    table = env.unwrapped.P
    n_states, n_actions = len(table), len(table[0])
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    terminal = np.zeros(n_states, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s_next, reward, terminated in table[s][a]:
                P[s, a, s_next] += prob
                R[s, a] += prob * reward
                terminal[s_next] |= terminated
    shape = env.unwrapped.desc.shape
    return a3.MDP(P=P, R=R, gamma=gamma, terminal=terminal, shape=(int(shape[0]), int(shape[1])))


# --8<-- [end:model]


# --8<-- [start:value-iteration]
def finite_horizon_values(
    mdp: a3.MDP, horizon: int, policy: np.ndarray | None = None
) -> np.ndarray:
    """Apply ``horizon`` Bellman backups to v = 0: optimal ones, or for a fixed policy.

    With gamma = 1 and reward 1 only at the goal, the value after k backups is exactly the
    probability of reaching the goal within k steps: the success rate under a step limit.

    Args:
        mdp: the model (use gamma = 1 for success probabilities).
        horizon: number of backups, the step limit.
        policy: None for the max over actions (value iteration), or one action per state.

    Returns:
        v_k, shape (S,).
    """
    v = np.zeros(mdp.n_states)
    for _ in range(horizon):
        q = a3.q_values(mdp, v)
        backup = q.max(axis=1) if policy is None else q[np.arange(mdp.n_states), policy]
        v = np.where(mdp.terminal, 0.0, backup)
    return v


def optimal_policy(mdp: a3.MDP) -> np.ndarray:
    """Run value iteration to convergence (A3) and return the greedy action of each state."""
    v_star, _ = a3.value_iteration(mdp, tol=1e-12)
    return a3.q_values(mdp, v_star).argmax(axis=1)


# --8<-- [end:value-iteration]


# --8<-- [start:td0]
def td0_prediction(
    env: gym.Env,
    policy: np.ndarray,
    episodes: int,
    alpha: float,
    gamma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """TD(0): learn v_pi from experience, one sampled Bellman backup per step.

    After each transition (s, r, s'), move V(s) a step alpha towards r + gamma V(s'),
    with V(s') = 0 if s' ended the episode. A time-limit cut is not an ending: there
    we still bootstrap from V(s').

    Args:
        env: a FrozenLake environment (any discrete Gymnasium env works).
        policy: one action per state, or an (S, A) table of probabilities.
        episodes: episodes to learn from.
        alpha: constant step size.
        gamma: discount.
        rng: draws the actions of a stochastic policy.
    """
    v = np.zeros(env.observation_space.n)
    for _ in range(episodes):
        state, _ = env.reset()
        done = False
        while not done:
            if policy.ndim == 1:
                action = int(policy[state])
            else:
                action = int(rng.choice(len(policy[state]), p=policy[state]))
            next_state, reward, terminated, truncated, _ = env.step(action)
            target = reward + (0.0 if terminated else gamma * v[next_state])
            v[state] += alpha * (target - v[state])
            state, done = next_state, terminated or truncated
    return v


# --8<-- [end:td0]


# --8<-- [start:q-update]
def q_update(
    q: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> float:
    """One Q-learning step, in place: Q(s,a) += alpha (r + gamma max_a' Q(s',a') - Q(s,a)).

    Returns:
        The TD error (target minus old estimate).
    """
    target = reward if terminated else reward + gamma * q[next_state].max()
    td_error = target - q[state, action]
    q[state, action] += alpha * td_error
    return float(td_error)


# --8<-- [end:q-update]


# --8<-- [start:epsilon-greedy]
def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """A random action with probability ε, otherwise a best one (ties broken at random)."""
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    best = np.flatnonzero(q_row == q_row.max())
    return int(best[0]) if len(best) == 1 else int(rng.choice(best))


# --8<-- [end:epsilon-greedy]


# --8<-- [start:q-learning]
@dataclass
class History:
    """What training recorded: the learning curve and the share of successful episodes."""

    episodes: list[int] = field(default_factory=list)  # checkpoint positions
    greedy_success: list[float] = field(default_factory=list)  # exact, of argmax Q
    train_success: list[float] = field(default_factory=list)  # ε-greedy, since last point
    steps: int = 0


def q_learning(
    env: gym.Env, cfg: Config, episodes: int, seed: int, mdp: a3.MDP | None = None
) -> tuple[np.ndarray, History]:
    """Learn a Q-table from experience on ``env`` (the real Gymnasium environment).

    Args:
        env: FrozenLake, created with a seed (``common.make_env``).
        cfg: step sizes, discount and ε schedule.
        episodes: training episodes.
        seed: seeds the agent's own randomness (exploration and ties).
        mdp: if given, the model is used only to *score* the greedy policy at checkpoints
            (exact success probability); the agent never reads it.

    Returns:
        ``(Q, history)``.
    """
    rng = np.random.default_rng(seed)
    q = np.zeros((env.observation_space.n, env.action_space.n))
    horizon = env.spec.max_episode_steps
    history = History()
    every = max(1, episodes // cfg.checkpoints)
    epsilon_at = curves.linear_schedule(cfg.epsilon_start, cfg.epsilon_end, cfg.decay_fraction)
    alpha_at = curves.linear_schedule(cfg.alpha, cfg.alpha_end)
    wins = 0
    for episode in common.progress(range(episodes), desc="Q-learning"):
        remaining = 1.0 - episode / episodes  # progress_remaining: 1 at the start, 0 at the end
        epsilon, alpha = epsilon_at(remaining), alpha_at(remaining)
        state, _ = env.reset()
        done = False
        while not done:
            action = epsilon_greedy(q[state], epsilon, rng)
            next_state, reward, terminated, truncated, _ = env.step(action)
            q_update(q, state, action, reward, next_state, terminated, alpha, cfg.gamma)
            state, done = next_state, terminated or truncated
            history.steps += 1
        wins += reward > 0
        if mdp is not None and (episode + 1) % every == 0:
            success = finite_horizon_values(mdp, horizon, q.argmax(axis=1))[0]
            history.episodes.append(episode + 1)
            history.greedy_success.append(float(success))
            history.train_success.append(wins / every)
            wins = 0
    return q, history


# --8<-- [end:q-learning]


# --8<-- [start:evaluate]
def evaluate_greedy(env: gym.Env, q: np.ndarray, episodes: int, seed: int) -> float:
    """Success rate of the greedy policy argmax_a Q(s, a) over ``episodes`` real episodes."""
    policy = q.argmax(axis=1)
    wins = 0
    env.reset(seed=seed)
    for _ in range(episodes):
        state, _ = env.reset()
        done = False
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(policy[state]))
            done = terminated or truncated
        wins += reward > 0
    return wins / episodes


# --8<-- [end:evaluate]


# --8<-- [start:plot]
ARROWS = {0: (-0.3, 0.0), 1: (0.0, 0.3), 2: (0.3, 0.0), 3: (0.0, -0.3)}  # (dx, d_row)


def plot_q_table(ax: object, env: gym.Env, q: np.ndarray, title: str) -> None:
    """Heat map of max_a Q(s, a) with an arrow for the greedy action of every open cell."""
    desc = env.unwrapped.desc.astype(str)
    rows, cols = desc.shape
    image = ax.imshow(q.max(axis=1).reshape(rows, cols), cmap="viridis", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="max Q(s, a)")
    ax.set(title=title, xticks=[], yticks=[])
    ax.grid(False)
    for s, action in enumerate(q.argmax(axis=1)):
        r, c = divmod(s, cols)
        if desc[r, c] in "HG":  # holes and goal: no action to show
            ax.text(c, r, desc[r, c], ha="center", va="center", color="white", weight="bold")
            continue
        dx, dr = ARROWS[int(action)]
        ax.arrow(
            c - dx / 2,
            r - dr / 2,
            dx,
            dr,
            head_width=0.15,
            color="white",
            length_includes_head=True,
        )


def plot_training(env: gym.Env, q: np.ndarray, history: History, optimum: float) -> object:
    """Two panels: the learned Q-table, and the learning curve against the optimal line."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, (ax_q, ax_c) = plt.subplots(1, 2, figsize=(11.5, 4.2), layout="constrained")
    plot_q_table(ax_q, env, q, "Greedy policy on max Q")
    ax_c.plot(
        history.episodes,
        history.train_success,
        color="0.6",
        lw=1,
        label="training episodes (ε-greedy)",
    )
    ax_c.plot(history.episodes, history.greedy_success, label="greedy policy (exact)")
    ax_c.axhline(
        optimum, color="k", ls="--", lw=1, label=f"optimum within the step limit ({optimum:.3f})"
    )
    ax_c.set(xlabel="training episode", ylabel="success rate", ylim=(0, 1), title="Learning curve")
    ax_c.legend(loc="lower right")
    return fig


# --8<-- [end:plot]


# --8<-- [start:main]
def solve_with_the_model(mdp: a3.MDP, horizon: int) -> dict[str, float]:
    """What dynamic programming on the model says: the best success rates there are."""
    best_policy = optimal_policy(mdp)
    return {
        "optimal_success_within_limit": finite_horizon_values(mdp, horizon)[0],
        "optimal_success_no_limit": finite_horizon_values(mdp, 10_000)[0],  # 10k steps: no limit
        "value_iteration_policy_success": finite_horizon_values(mdp, horizon, best_policy)[0],
    }


def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags and the figure."""
    quick = {"episodes": 300, "eval_episodes": 100}
    outputs = {"plot": "save Q-table and learning curve as PNG"}
    aliases = {"map_name": "--map"}
    return common.config_parser(
        Config, __doc__, __spec__, quick=quick, aliases=aliases, outputs=outputs
    )


def main(argv: list[str] | None = None) -> dict:
    """Solve FrozenLake by value iteration, then learn it with Q-learning; print JSON."""
    cfg, args = common.parse_config(command_line(), argv)
    env_id, default_episodes = MAPS[cfg.map_name]
    episodes = cfg.episodes or default_episodes
    env = common.make_env(env_id, seed=args.seed)
    mdp = frozenlake_mdp(env)  # gamma = 1: values are success probabilities
    exact = solve_with_the_model(mdp, env.spec.max_episode_steps)

    cpu_start = time.process_time()  # CPU seconds: honest timing on a busy machine too
    with common.Stopwatch() as clock:
        q, history = q_learning(env, cfg, episodes, args.seed, mdp=mdp)
    train_cpu = time.process_time() - cpu_start
    greedy_exact = finite_horizon_values(mdp, env.spec.max_episode_steps, q.argmax(axis=1))[0]
    if args.plot:
        figure = plot_training(env, q, history, exact["optimal_success_within_limit"])
        common.save_figure(figure, args.plot)
    return common.emit_metrics(
        {
            "map": cfg.map_name,
            **exact,
            "episodes": episodes,
            "train_steps": history.steps,
            "train_seconds": clock.seconds,
            "train_cpu_seconds": train_cpu,
            "greedy_success_eval": evaluate_greedy(env, q, cfg.eval_episodes, seed=args.seed + 1),
            "eval_episodes": cfg.eval_episodes,
            "greedy_success_exact": greedy_exact,
        }
    )


if __name__ == "__main__":
    main()
# --8<-- [end:main]
