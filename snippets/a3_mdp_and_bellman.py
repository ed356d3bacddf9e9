"""Lesson A3: Markov decision processes and the Bellman equations on a gridworld.

A finite MDP is two arrays, P[s, a, s'] and R[s, a]. With them the Bellman expectation
equation is a linear system we can solve exactly, or iterate to its fixed point; the
Bellman optimality equation gives value iteration and, from its solution, the optimal policy.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

import numpy as np

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's default run."""

    world: Literal["5x5", "4x4"] = "5x5"  # Sutton & Barto Fig. 3.2 (5x5) or Example 4.1 (4x4)
    gamma: common.Prob | None = None  # discount; None: the book's (0.9 for 5x5, 1.0 for 4x4)
    tol: common.PosFloat = 1e-10  # stop iterating when no value moves more than this


# --8<-- [end:config]


# --8<-- [start:mdp]
ACTIONS = ("up", "right", "down", "left")
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])  # (row, column) step of each action


@dataclass(frozen=True)
class MDP:
    """A finite MDP stored as arrays.

    Attributes:
        P: transition probabilities, shape (S, A, S); ``P[s, a].sum() == 1``.
        R: expected immediate reward for taking action a in state s, shape (S, A).
        gamma: discount factor in [0, 1].
        terminal: boolean mask of terminal states, shape (S,); their value is 0.
        shape: (rows, columns) of the grid, for plotting.
    """

    P: np.ndarray
    R: np.ndarray
    gamma: float
    terminal: np.ndarray
    shape: tuple[int, int]

    @property
    def n_states(self) -> int:
        """Number of states S."""
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        """Number of actions A."""
        return self.P.shape[1]


# --8<-- [end:mdp]


# --8<-- [start:gridworlds]
def gridworld(
    shape: tuple[int, int],
    gamma: float,
    step_reward: float = 0.0,
    off_grid_reward: float = -1.0,
    jumps: dict[tuple[int, int], tuple[tuple[int, int], float]] | None = None,
    terminals: tuple[tuple[int, int], ...] = (),
) -> MDP:
    """Build a deterministic gridworld MDP.

    Args:
        shape: (rows, columns).
        gamma: discount factor.
        step_reward: reward of an ordinary move.
        off_grid_reward: reward of bumping into the edge (the agent stays put).
        jumps: special cells: ``{cell: (destination, reward)}``, taken by every action.
        terminals: cells that end the episode (absorbing, value 0).

    Returns:
        The MDP, states numbered row by row (``s = row * columns + column``).
    """
    rows, cols = shape
    n = rows * cols
    P = np.zeros((n, 4, n))
    R = np.zeros((n, 4))
    terminal = np.zeros(n, dtype=bool)
    for r, c in terminals:
        terminal[r * cols + c] = True
    for s in range(n):
        r, c = divmod(s, cols)
        for a, (dr, dc) in enumerate(MOVES):
            if terminal[s]:
                P[s, a, s] = 1.0  # absorbing, no reward
                continue
            if jumps and (r, c) in jumps:
                (nr, nc), reward = jumps[(r, c)]
            elif 0 <= r + dr < rows and 0 <= c + dc < cols:
                (nr, nc), reward = (r + dr, c + dc), step_reward
            else:
                (nr, nc), reward = (r, c), off_grid_reward
            P[s, a, nr * cols + nc] = 1.0
            R[s, a] = reward
    return MDP(P=P, R=R, gamma=gamma, terminal=terminal, shape=shape)


def sutton_barto_5x5(gamma: float = 0.9) -> MDP:
    """The 5x5 gridworld of Sutton & Barto, Example 3.5 (Fig. 3.2).

    From A = (0, 1) every action jumps to A' = (4, 1) with reward +10; from B = (0, 3)
    to B' = (2, 3) with +5. Bumping into the edge costs -1; other moves are free.
    """
    return gridworld((5, 5), gamma, jumps={(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)})


def sutton_barto_4x4(gamma: float = 1.0) -> MDP:
    """The 4x4 gridworld of Sutton & Barto, Example 4.1.

    Two terminal corners; every move costs -1, including bumping into the edge.
    """
    return gridworld(
        (4, 4), gamma, step_reward=-1.0, off_grid_reward=-1.0, terminals=((0, 0), (3, 3))
    )


# --8<-- [end:gridworlds]


# --8<-- [start:policy]
def uniform_policy(mdp: MDP) -> np.ndarray:
    """The equiprobable random policy: pi[s, a] = 1 / A."""
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def policy_dynamics(mdp: MDP, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the MDP over the policy's action choice.

    Returns:
        ``(P_pi, r_pi)``: P_pi[s, s'] = sum_a pi(a|s) P(s'|s, a) and
        r_pi[s] = sum_a pi(a|s) R(s, a).
    """
    P_pi = np.einsum("sa,sat->st", policy, mdp.P)
    r_pi = np.einsum("sa,sa->s", policy, mdp.R)
    return P_pi, r_pi


# --8<-- [end:policy]


# --8<-- [start:exact-evaluation]
def evaluate_policy_exact(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    """Solve the Bellman expectation equation v = r_pi + gamma P_pi v as a linear system.

    Terminal states are fixed at 0 and left out of the solve, which keeps the system
    non-singular even for gamma = 1 (as long as the policy reaches a terminal state).

    Returns:
        v_pi, shape (S,).
    """
    P_pi, r_pi = policy_dynamics(mdp, policy)
    live = ~mdp.terminal
    A = np.eye(live.sum()) - mdp.gamma * P_pi[np.ix_(live, live)]
    v = np.zeros(mdp.n_states)
    v[live] = np.linalg.solve(A, r_pi[live])
    return v


# --8<-- [end:exact-evaluation]


# --8<-- [start:iterative-evaluation]
def evaluate_policy_iterative(
    mdp: MDP, policy: np.ndarray, tol: float = 1e-10, max_sweeps: int = 100_000
) -> tuple[np.ndarray, int]:
    """Iterative policy evaluation: apply v <- r_pi + gamma P_pi v until it stops moving.

    Returns:
        ``(v_pi, sweeps)``: the values and how many full sweeps it took.
    """
    P_pi, r_pi = policy_dynamics(mdp, policy)
    v = np.zeros(mdp.n_states)
    for sweep in range(1, max_sweeps + 1):
        v_new = np.where(mdp.terminal, 0.0, r_pi + mdp.gamma * P_pi @ v)
        if np.max(np.abs(v_new - v)) < tol:
            return v_new, sweep
        v = v_new
    raise RuntimeError(f"policy evaluation did not converge in {max_sweeps} sweeps")


# --8<-- [end:iterative-evaluation]


# --8<-- [start:value-iteration]
# --8<-- [start:bellman-backup]
def q_values(mdp: MDP, v: np.ndarray) -> np.ndarray:
    """One-step lookahead: q[s, a] = R(s, a) + gamma sum_s' P(s'|s, a) v(s')."""
    return mdp.R + mdp.gamma * mdp.P @ v


# --8<-- [end:bellman-backup]
# --8<-- [start:value-iteration-loop]
def value_iteration(
    mdp: MDP, tol: float = 1e-10, max_sweeps: int = 100_000
) -> tuple[np.ndarray, int]:
    """Solve the Bellman optimality equation v*(s) = max_a q(s, a) by fixed-point iteration.

    Returns:
        ``(v_star, sweeps)``.
    """
    v = np.zeros(mdp.n_states)
    for sweep in range(1, max_sweeps + 1):
        v_new = np.where(mdp.terminal, 0.0, q_values(mdp, v).max(axis=1))
        if np.max(np.abs(v_new - v)) < tol:
            return v_new, sweep
        v = v_new
    raise RuntimeError(f"value iteration did not converge in {max_sweeps} sweeps")


# --8<-- [end:value-iteration-loop]
# --8<-- [end:value-iteration]


# --8<-- [start:greedy]
def greedy_policy(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    """The policy that is greedy with respect to v, splitting ties evenly.

    Returns:
        pi, shape (S, A), each row a probability distribution over the best actions.
    """
    q = q_values(mdp, v)
    best = np.isclose(q, q.max(axis=1, keepdims=True), atol=atol)
    return best / best.sum(axis=1, keepdims=True)


# --8<-- [end:greedy]


# --8<-- [start:plot]
ARROWS = {0: (0.0, 0.3), 1: (0.3, 0.0), 2: (0.0, -0.3), 3: (-0.3, 0.0)}  # (dx, dy) per action


def plot_values_and_policy(
    mdp: MDP, panels: list[tuple[str, np.ndarray, np.ndarray | None]]
) -> object:
    """Draw value heat maps, one panel per ``(title, v, policy or None)``, with greedy arrows.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    rows, cols = mdp.shape
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    for ax, (title, v, policy) in zip(axes[0], panels, strict=True):
        grid = v.reshape(rows, cols)
        ax.imshow(grid, cmap="viridis")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for s in range(mdp.n_states):
            r, c = divmod(s, cols)
            ax.text(c, r + 0.28, f"{v[s]:.1f}", ha="center", va="center", color="white", fontsize=9)
            if policy is None or mdp.terminal[s]:
                continue
            for a in np.flatnonzero(policy[s] > 0):
                dx, dy = ARROWS[a]
                ax.arrow(
                    c, r - 0.08, dx, -dy, head_width=0.12, color="white", length_includes_head=True
                )
    return fig


# --8<-- [end:plot]


# --8<-- [start:main]
WORLDS = {"5x5": (sutton_barto_5x5, 0.9), "4x4": (sutton_barto_4x4, 1.0)}


def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags and the figure."""
    outputs = {"plot": "save the value/policy figure as a PNG"}
    return common.config_parser(Config, __doc__, __spec__, outputs=outputs)


def main(argv: list[str] | None = None) -> dict:
    """Solve the chosen gridworld three ways and print the headline values as JSON."""
    parser = command_line()
    cfg, args = common.parse_config(parser, argv)
    build, book_gamma = WORLDS[cfg.world]
    gamma = book_gamma if cfg.gamma is None else cfg.gamma
    if gamma == 1.0 and not build().terminal.any():
        parser.error(f"argument --gamma: must be < 1 for the {cfg.world} world (it never ends)")

    with common.Stopwatch() as clock:
        mdp = build(gamma)
        v_exact = evaluate_policy_exact(mdp, uniform_policy(mdp))
        v_iter, eval_sweeps = evaluate_policy_iterative(mdp, uniform_policy(mdp), tol=cfg.tol)
        v_star, vi_sweeps = value_iteration(mdp, tol=cfg.tol)
    if args.plot:
        optimal = ("optimal $v_*$ and $\\pi_*$", v_star, greedy_policy(mdp, v_star))
        fig = plot_values_and_policy(mdp, [("random policy $v_\\pi$", v_exact, None), optimal])
        common.save_figure(fig, args.plot)
    metrics = {
        "world": cfg.world,
        "gamma": gamma,
        "v_random_cell_0_1": v_exact[1],  # A in the 5x5 world, a corner's neighbour in 4x4
        "v_star_cell_0_1": v_star[1],
        "max_abs_exact_vs_iterative": float(np.max(np.abs(v_exact - v_iter))),
        "evaluation_sweeps": eval_sweeps,
        "value_iteration_sweeps": vi_sweeps,
        "seconds": clock.seconds,
    }
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
