"""Lesson B2: Monte Carlo prediction, first-visit and every-visit, on Blackjack and a gridworld.

Monte Carlo methods estimate a value by averaging the returns that actually followed each
visit to a state: no model, no bootstrapping, only complete episodes. We reproduce the
Blackjack value surfaces of Sutton & Barto (Fig. 5.1) and watch MC estimates on the 4x4
gridworld of lesson A3 converge to the exact values of its linear solve.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from snippets import a3_mdp_and_bellman as a3
from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run."""

    gym_episodes: common.PosInt = 10_000  # Blackjack episodes on Gymnasium's own environment
    replica_episodes: common.PosInt = 500_000  # episodes on the vectorised replica (Fig. 5.1)
    state_episodes: common.PosInt = 200_000  # episodes started from (13, usable ace, dealer 2)
    grid_episodes: common.PosInt = 3000  # episodes per run on the 4x4 gridworld
    grid_runs: common.PosInt = 10  # independent runs averaged in the RMSE curve
    checkpoints: common.PosInt = 40  # points on the RMSE curve (log-spaced)


# --8<-- [end:config]


# --8<-- [start:episode]
def run_episode(
    env: gym.Env, policy: Callable[[object], int], encode: Callable[[object], int] = int
) -> tuple[list[int], list[float]]:
    """Play one episode and return what MC needs: states S_0..S_{T-1}, rewards R_1..R_T.

    Args:
        env: any Gymnasium environment with hashable observations.
        policy: maps an observation to an action.
        encode: maps an observation to a state index (identity for Discrete spaces).
    """
    states, rewards = [], []
    obs, _ = env.reset()
    done = False
    while not done:
        action = policy(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        states.append(encode(obs))
        rewards.append(float(reward))
        obs, done = next_obs, terminated or truncated
    return states, rewards


# --8<-- [end:episode]


# --8<-- [start:mc-update]
def mc_update(
    v: np.ndarray,
    n: np.ndarray,
    states: list[int],
    rewards: list[float],
    gamma: float,
    first_visit: bool = True,
) -> None:
    """Fold one episode into the running averages, in place.

    Walk the episode backwards accumulating the return G_t = R_{t+1} + gamma G_{t+1}; at a
    counted visit of state s, N(s) += 1 and V(s) += (G_t - V(s)) / N(s): the incremental
    form of "V(s) is the mean of the returns seen from s".

    Args:
        v: value estimates, shape (S,).
        n: visit counts, shape (S,).
        states: S_0 .. S_{T-1}.
        rewards: R_1 .. R_T (rewards[t] follows states[t]).
        gamma: discount.
        first_visit: count only the first visit to each state in the episode (else every).
    """
    first_time = {}
    for t, s in enumerate(states):
        first_time.setdefault(s, t)
    g = 0.0
    for t in range(len(states) - 1, -1, -1):
        g = rewards[t] + gamma * g
        s = states[t]
        if first_visit and first_time[s] != t:
            continue
        n[s] += 1
        v[s] += (g - v[s]) / n[s]


# --8<-- [end:mc-update]


# --8<-- [start:blackjack]
PLAYER_SUMS, DEALER_CARDS = 32, 11  # observation ranges of Blackjack-v1 (sum 0..31, card 1..10)
HIT, STICK = 1, 0


def blackjack_index(obs: tuple[int, int, int]) -> int:
    """Number the observation (player sum, dealer's showing card, usable ace) as one integer."""
    player_sum, dealer_card, usable_ace = obs
    return (int(player_sum) * DEALER_CARDS + int(dealer_card)) * 2 + int(usable_ace)


def stick_on_20(obs: tuple[int, int, int]) -> int:
    """Sutton & Barto's example policy: stick on 20 or 21, otherwise hit."""
    return STICK if obs[0] >= 20 else HIT


def value_grid(v: np.ndarray) -> np.ndarray:
    """Reshape flat values to [player sum, dealer card, usable ace] for plotting."""
    return v.reshape(PLAYER_SUMS, DEALER_CARDS, 2)


# --8<-- [end:blackjack]


# --8<-- [start:mc-prediction]
def mc_prediction(
    env: gym.Env,
    policy: Callable[[object], int],
    episodes: int,
    n_states: int,
    encode: Callable[[object], int] = int,
    gamma: float = 1.0,
    first_visit: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo prediction of v_pi from ``episodes`` complete episodes on ``env``.

    Returns:
        ``(V, N)``: the value estimates and how many returns each one averages.
    """
    v, n = np.zeros(n_states), np.zeros(n_states, dtype=np.int64)
    for _ in common.progress(range(episodes), desc="MC episodes"):
        states, rewards = run_episode(env, policy, encode)
        mc_update(v, n, states, rewards, gamma, first_visit)
    return v, n


# --8<-- [end:mc-prediction]


# --8<-- [start:replica]
MAX_CARDS = 22  # nobody can hold more: 21 points of aces and a bust card


def draw_cards(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Cards from an infinite deck, as Blackjack-v1 draws them: 1 (ace) to 10, faces = 10."""
    return np.minimum(rng.integers(1, 14, size=shape), 10).astype(np.int8)


def _hand(raw: np.ndarray, has_ace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    usable = has_ace & (raw + 10 <= 21)  # an ace counts 11 if that does not bust
    return raw + 10 * usable, usable


def _natural(cards: np.ndarray) -> np.ndarray:
    return (cards[:, :2] == 1).any(axis=1) & (cards[:, :2] == 10).any(axis=1)


def play_blackjack(
    player_cards: np.ndarray, dealer_cards: np.ndarray, policy_table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Play many Blackjack-v1 games (``sab=True`` rules) at once with NumPy.

    Row i uses the cards ``player_cards[i]`` and ``dealer_cards[i]`` in order: the player's
    first two, then one per hit; the dealer's first two (the first is shown), then one per
    draw while the dealer's total is below 17.

    Args:
        player_cards: shape (N, MAX_CARDS), values 1..10.
        dealer_cards: shape (N, MAX_CARDS).
        policy_table: action for each [player sum, dealer card, usable ace].

    Returns:
        ``(states, rewards)``: the visited state indices, shape (N, MAX_CARDS - 1), padded
        with -1 after the episode ends, and the final reward of each game.
    """
    n = len(player_cards)
    rows = np.arange(n)
    raw = player_cards[:, 0].astype(np.int64) + player_cards[:, 1]
    ace = (player_cards[:, 0] == 1) | (player_cards[:, 1] == 1)
    shown = dealer_cards[:, 0].astype(np.int64)
    states = np.full((n, MAX_CARDS - 1), -1, dtype=np.int64)
    rewards = np.zeros(n)
    playing, stuck = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    hits = np.zeros(n, dtype=np.int64)
    for step in range(MAX_CARDS - 2):
        total, usable = _hand(raw, ace)
        states[playing, step] = ((total * DEALER_CARDS + shown) * 2 + usable)[playing]
        hit = playing & (policy_table[total, shown, usable.astype(int)] == HIT)
        stuck |= playing & ~hit
        card = player_cards[rows, step + 2]
        raw = np.where(hit, raw + card, raw)
        ace |= hit & (card == 1)
        hits += hit
        bust = hit & (raw > 21)
        rewards[bust] = -1.0
        playing = hit & ~bust
        if not playing.any():
            break
    player_total, _ = _hand(raw, ace)
    d_raw = dealer_cards[:, 0].astype(np.int64) + dealer_cards[:, 1]
    d_ace = (dealer_cards[:, 0] == 1) | (dealer_cards[:, 1] == 1)
    for k in range(2, MAX_CARDS):
        draws = stuck & (_hand(d_raw, d_ace)[0] < 17)
        if not draws.any():
            break
        d_raw = np.where(draws, d_raw + dealer_cards[:, k], d_raw)
        d_ace |= draws & (dealer_cards[:, k] == 1)
    dealer_total = _hand(d_raw, d_ace)[0]
    dealer_score = np.where(dealer_total > 21, 0, dealer_total)
    outcome = np.sign(player_total - dealer_score).astype(float)
    natural = _natural(player_cards) & (hits == 0)  # ace + ten as the whole hand
    outcome = np.where(natural & ~_natural(dealer_cards), 1.0, outcome)  # S&B: a natural wins
    rewards[stuck] = outcome[stuck]
    return states, rewards


def policy_table_of(policy: Callable[[tuple[int, int, int]], int]) -> np.ndarray:
    """Tabulate a Blackjack policy function over every observation."""
    table = np.zeros((PLAYER_SUMS, DEALER_CARDS, 2), dtype=np.int64)
    for s in range(PLAYER_SUMS):
        for d in range(DEALER_CARDS):
            for u in range(2):
                table[s, d, u] = policy((s, d, u))
    return table


# --8<-- [end:replica]


# --8<-- [start:replica-mc]
def mc_prediction_replica(
    episodes: int,
    rng: np.random.Generator,
    policy_table: np.ndarray,
    start: tuple[tuple[int, int], int] | None = None,
    batch: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """MC prediction on the vectorised replica: the same average of returns, in batches.

    In Blackjack every reward but the last is 0 and gamma = 1, so the return from every
    visited state is the final reward, and no state repeats within a game (first-visit
    and every-visit coincide). The average of returns per state is two ``bincount`` calls.

    Args:
        episodes: games to play.
        rng: the card source.
        policy_table: action per [player sum, dealer card, usable ace].
        start: optional ((player card 1, player card 2), dealer's shown card) that every
            game starts from, to estimate that one state precisely (a fixed start state).
        batch: games simulated per NumPy call.

    Returns:
        ``(V, N)`` over all ``PLAYER_SUMS * DEALER_CARDS * 2`` state indices.
    """
    size = PLAYER_SUMS * DEALER_CARDS * 2
    total, count = np.zeros(size), np.zeros(size, dtype=np.int64)
    for begin in range(0, episodes, batch):
        m = min(batch, episodes - begin)
        player, dealer = draw_cards((m, MAX_CARDS), rng), draw_cards((m, MAX_CARDS), rng)
        if start is not None:
            (player[:, 0], player[:, 1]), dealer[:, 0] = start
        states, rewards = play_blackjack(player, dealer, policy_table)
        visited = states >= 0
        returns = np.broadcast_to(rewards[:, None], states.shape)
        total += np.bincount(states[visited], weights=returns[visited], minlength=size)
        count += np.bincount(states[visited], minlength=size)
    v = np.divide(total, count, out=np.zeros(size), where=count > 0)
    return v, count


# --8<-- [end:replica-mc]


# --8<-- [start:gridworld-env]
class GridworldEnv(gym.Env):
    """An A3 MDP as a Gymnasium environment: the agent sees samples, never P or R.

    Each episode starts in a uniformly random non-terminal state, so every state's value
    gets estimated (Sutton & Barto's "exploring starts" randomise the first action too).
    """

    def __init__(self, mdp: a3.MDP, max_steps: int = 10_000):
        self.mdp = mdp
        self.max_steps = max_steps
        self.observation_space = gym.spaces.Discrete(mdp.n_states)
        self.action_space = gym.spaces.Discrete(mdp.n_actions)
        self._starts = np.flatnonzero(~mdp.terminal)
        self._cumulative = np.cumsum(mdp.P, axis=2)  # to sample s' ~ P[s, a] with one uniform

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start in a random non-terminal state."""
        super().reset(seed=seed)
        self.state = int(self.np_random.choice(self._starts))
        self.steps = 0
        return self.state, {}

    def step(self, action: int):
        """Sample the next state from P[s, a] and pay R[s, a]."""
        s = self.state
        reward = float(self.mdp.R[s, action])
        u = self.np_random.random()
        self.state = min(
            int(np.searchsorted(self._cumulative[s, action], u, side="right")),
            self.mdp.n_states - 1,
        )
        self.steps += 1
        terminated = bool(self.mdp.terminal[self.state])
        return self.state, reward, terminated, self.steps >= self.max_steps, {}


# --8<-- [end:gridworld-env]


# --8<-- [start:gridworld-mc]
def gridworld_rmse_curve(
    episodes: int, seed: int, runs: int = 1, checkpoints: int = 40
) -> dict[str, np.ndarray]:
    """First- and every-visit MC for the random policy on A3's 4x4 world, scored by RMSE.

    Both estimators see the same episodes; at log-spaced checkpoints we compare them with
    the exact values from the linear solve of lesson A3. With ``runs`` > 1 the squared
    errors are averaged over independent runs before the square root.

    Returns:
        ``{"episodes": ..., "first_visit": rmse, "every_visit": rmse}`` arrays.
    """
    mdp = a3.sutton_barto_4x4()
    v_exact = a3.evaluate_policy_exact(mdp, a3.uniform_policy(mdp))
    live = ~mdp.terminal
    marks = np.unique(np.geomspace(10, episodes, checkpoints).astype(int))
    keys = ("first_visit", "every_visit")
    squared_error = {key: np.zeros(len(marks)) for key in keys}
    for run in range(runs):
        env = GridworldEnv(mdp)
        env.reset(seed=seed + run)
        rng = np.random.default_rng(seed + run)

        def policy(_obs: int, rng: np.random.Generator = rng) -> int:  # random policy
            return int(rng.integers(mdp.n_actions))

        estimates = {
            key: (np.zeros(mdp.n_states), np.zeros(mdp.n_states, dtype=np.int64)) for key in keys
        }
        mark = 0
        for episode in range(1, episodes + 1):
            states, rewards = run_episode(env, policy)
            for key, (v, n) in estimates.items():
                mc_update(v, n, states, rewards, mdp.gamma, first_visit=key == "first_visit")
            if episode == marks[mark]:
                for key, (v, _) in estimates.items():
                    squared_error[key][mark] += np.mean((v[live] - v_exact[live]) ** 2) / runs
                mark += 1
    return {"episodes": marks, **{key: np.sqrt(squared_error[key]) for key in keys}}


# --8<-- [end:gridworld-mc]


# --8<-- [start:plot]
def plot_blackjack_surfaces(panels: list[tuple[str, np.ndarray]]) -> object:
    """Sutton & Barto Fig. 5.1: v(player sum 12-21, dealer card 1-10), usable ace or not."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig = plt.figure(figsize=(5 * len(panels), 8.5))
    dealer, player = np.meshgrid(np.arange(1, 11), np.arange(12, 22))
    for col, (title, v) in enumerate(panels):
        grid = value_grid(v)
        for row, usable in enumerate((1, 0)):
            ax = fig.add_subplot(2, len(panels), row * len(panels) + col + 1, projection="3d")
            z = grid[12:22, 1:11, usable]
            ax.plot_surface(
                dealer, player, z, cmap="viridis", vmin=-1, vmax=1, linewidth=0.2, edgecolor="k"
            )
            ax.set(zlim=(-1, 1), xlabel="dealer showing", ylabel="player sum", zlabel="value")
            ax.set_title(f"{title}\n{'usable ace' if usable else 'no usable ace'}", fontsize=10)
            ax.view_init(elev=25, azim=-130)
    return fig


def plot_rmse(curve: dict[str, np.ndarray]) -> object:
    """RMSE against the exact values, log-log, with a 1/sqrt(n) guide."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    common.use_course_style()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = curve["episodes"]
    ax.loglog(x, curve["first_visit"], label="first-visit MC")
    ax.loglog(x, curve["every_visit"], label="every-visit MC")
    guide = curve["first_visit"][0] * np.sqrt(x[0] / x)
    ax.loglog(x, guide, "k:", lw=1, label=r"$\propto 1/\sqrt{n}$")
    ax.set(xlabel="episodes", ylabel="RMSE vs exact $v_\\pi$", title="4x4 gridworld, random policy")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend()
    return fig


# --8<-- [end:plot]


# --8<-- [start:main]
def blackjack_values(cfg: Config, seed: int) -> tuple[list[tuple[str, np.ndarray]], dict]:
    """Fig. 5.1 twice (Gymnasium's environment, then the replica) and Example 5.4's state.

    Returns:
        The value tables as ``(title, v)`` panels for the figure, and the headline numbers.
    """
    env = common.make_env("Blackjack-v1", seed=seed, sab=True)
    size = PLAYER_SUMS * DEALER_CARDS * 2
    with common.Stopwatch() as gym_clock:
        v_gym, _ = mc_prediction(env, stick_on_20, cfg.gym_episodes, size, encode=blackjack_index)
    table = policy_table_of(stick_on_20)
    rng = np.random.default_rng(seed)
    with common.Stopwatch() as replica_clock:
        v_replica, _ = mc_prediction_replica(cfg.replica_episodes, rng, table)
    v_state, n_state = mc_prediction_replica(cfg.state_episodes, rng, table, start=((1, 2), 2))
    state = blackjack_index((13, 2, 1))
    panels = [
        (f"{cfg.gym_episodes:,} episodes (Gymnasium)", v_gym),
        (f"{cfg.replica_episodes:,} episodes (replica)", v_replica),
    ]
    return panels, {
        "v_13_usable_ace_dealer_2": v_state[state],
        "v_13_usable_ace_dealer_2_returns": n_state[state],
        "blackjack_gym_episodes": cfg.gym_episodes,
        "blackjack_gym_seconds": gym_clock.seconds,
        "blackjack_replica_episodes": cfg.replica_episodes,
        "blackjack_replica_seconds": replica_clock.seconds,
        "v_20_no_ace_dealer_10_replica": v_replica[blackjack_index((20, 10, 0))],
    }


QUICK = {
    "gym_episodes": 1000,
    "replica_episodes": 20_000,
    "state_episodes": 50_000,
    "grid_episodes": 300,
    "grid_runs": 1,
}  # --quick: a seconds-long run


def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags and the figures."""
    outputs = {
        "plot": "save the Blackjack surfaces as a PNG",
        "rmse_plot": "save the gridworld RMSE curve",
    }
    return common.config_parser(Config, __doc__, __spec__, quick=QUICK, outputs=outputs)


def main(argv: list[str] | None = None) -> dict:
    """Blackjack value surfaces and the gridworld convergence check; print JSON."""
    cfg, args = common.parse_config(command_line(), argv)
    panels, metrics = blackjack_values(cfg, args.seed)
    cpu_start = time.process_time()  # CPU seconds: honest timing on a busy machine too
    with common.Stopwatch() as grid_clock:
        curve = gridworld_rmse_curve(cfg.grid_episodes, args.seed, cfg.grid_runs, cfg.checkpoints)
    grid_cpu = time.process_time() - cpu_start
    if args.plot:
        common.save_figure(plot_blackjack_surfaces(panels), args.plot)
    if args.rmse_plot:
        common.save_figure(plot_rmse(curve), args.rmse_plot)
    return common.emit_metrics(
        {
            **metrics,
            "grid_episodes": cfg.grid_episodes,
            "grid_runs": cfg.grid_runs,
            "grid_rmse_first_visit": curve["first_visit"][-1],
            "grid_rmse_every_visit": curve["every_visit"][-1],
            "grid_seconds": grid_clock.seconds,
            "grid_cpu_seconds": grid_cpu,
        }
    )


if __name__ == "__main__":
    main()
# --8<-- [end:main]
