"""Graders for lesson A3: the Bellman backup, exact evaluation, value iteration, greedy policy."""

from __future__ import annotations

import numpy as np

from exercises.grading import Checker, exercise
from snippets.a3_mdp_and_bellman import MDP


def two_state_mdp(gamma: float) -> MDP:
    """Two states, two actions. From 0: a0 stays (+1), a1 goes to 0 or 1 half-half (0).

    From 1: a0 stays (+2), a1 goes to 0 (-1). Nothing terminates.
    """
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0
    P[0, 1] = [0.5, 0.5]
    P[1, 0, 1] = 1.0
    P[1, 1, 0] = 1.0
    R = np.array([[1.0, 0.0], [2.0, -1.0]])
    return MDP(P=P, R=R, gamma=gamma, terminal=np.zeros(2, dtype=bool), shape=(1, 2))


def corridor(gamma: float, step_reward: float = -1.0, terminal_reward: float = 0.0) -> MDP:
    """States 0, 1 and the terminal 2; a0 moves right, a1 stays. Every move pays step_reward.

    ``terminal_reward`` is what the (absorbing) terminal state would pay if anyone let it:
    a terminal state's value is 0 whatever its row of R says.
    """
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[1, 0, 2] = 1.0  # right
    P[0, 1, 0] = P[1, 1, 1] = 1.0  # stay
    P[2, :, 2] = 1.0  # absorbing
    R = np.full((3, 2), step_reward)
    R[2] = terminal_reward
    return MDP(P=P, R=R, gamma=gamma, terminal=np.array([False, False, True]), shape=(1, 3))


def shortcut(terminal_reward: float = 0.0) -> MDP:
    """States 0, 1 and the terminal 2, gamma = 0.9.

    a0 ("walk"): 0 -> 1 paying 0, 1 -> 2 paying +1. a1 ("jump"): straight to 2 paying 0.5.
    """
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[1, 0, 2] = P[0, 1, 2] = P[1, 1, 2] = 1.0
    P[2, :, 2] = 1.0
    R = np.array([[0.0, 0.5], [1.0, 0.5], [terminal_reward, terminal_reward]])
    return MDP(P=P, R=R, gamma=0.9, terminal=np.array([False, False, True]), shape=(1, 3))


@exercise("the Bellman backup q(s, a)")
def grade_q_values(f, check: Checker) -> None:
    """Check R + gamma P v on a two-state MDP, with gamma = 0, and on three states.

    Todo:
        the one-step lookahead for every (s, a) at once (one line of NumPy).
    """
    # q(0,0) = 1 + 0.5*4 = 3; q(0,1) = 0 + 0.5*(0.5*4 + 0.5*2) = 1.5
    # q(1,0) = 2 + 0.5*2 = 3;  q(1,1) = -1 + 0.5*4 = 1
    check.expect(
        "two states, gamma = 0.5, v = (4, 2)",
        "q(s, a) = R(s, a) + gamma * sum over s' of P(s'|s, a) v(s'): mdp.R + mdp.gamma * mdp.P @ v.",
        "q",
        lambda: f(two_state_mdp(0.5), np.array([4.0, 2.0])),
        [[3.0, 1.5], [3.0, 1.0]],
    )
    # q(0,0) = 0 + 0.9 * (-2) = -1.8; q(0,1) = 0.5 + 0.9 * 3 = 3.2; q(1,0) = 1 + 2.7 = 3.7
    # q(1,1) = 0.5 + 2.7 = 3.2; the terminal state 2 leads to itself: 0 + 2.7
    check.expect(
        "three states, gamma = 0.9, v = (1, -2, 3)",
        """P(s'|s, a) picks the NEXT state: q(0, walk) looks at v(1), q(0, jump) and both actions
        of state 1 at v(2). Check the axes of mdp.P (s, a, s') and that gamma multiplies only
        the future.""",
        "q",
        lambda: f(shortcut(), np.array([1.0, -2.0, 3.0])),
        [[-1.8, 3.2], [3.7, 3.2], [2.7, 2.7]],
    )
    check.expect(
        "gamma = 0",
        "With gamma = 0 nothing of the future counts: q = R.",
        "q",
        lambda: f(two_state_mdp(0.0), np.array([4.0, 2.0])),
        [[1.0, 0.0], [2.0, -1.0]],
    )


@exercise("exact policy evaluation (a linear solve)")
def grade_evaluate_policy_exact(f, check: Checker) -> None:
    """v_pi of a corridor (gamma = 1 and 0.5) and of a stochastic policy on walk-or-jump.

    Todo:
        build P_pi and r_pi, then solve the linear system for the non-terminal states.
    """
    # v1 = -1 + 0.5 v1 + 0.5 * 0 -> v1 = -2;  v0 = -1 + 0.5 v0 + 0.5 v1 -> v0 = -4
    check.expect(
        "random policy on a corridor, gamma = 1",
        """Solve v = r_pi + gamma P_pi v for the non-terminal states only; the terminal state is
        fixed at 0 (keeping it in the system makes I - P_pi singular when gamma = 1).""",
        "v_pi",
        lambda: f(corridor(1.0), np.full((3, 2), 0.5)),
        [-4.0, -2.0, 0.0],
    )
    # v1 = -1;  v0 = -1 + 0.5 * (-1) = -1.5
    check.expect(
        "always move right, gamma = 0.5",
        "The discount multiplies P_pi: (I - gamma P_pi) v = r_pi.",
        "v_pi",
        lambda: f(corridor(0.5), np.array([[1.0, 0.0]] * 3)),
        [-1.5, -1.0, 0.0],
    )
    # r_pi = (0.25 * 0 + 0.75 * 0.5, 0.5 * 1 + 0.5 * 0.5) = (0.375, 0.75); v1 = 0.75 (then the end)
    # v0 = 0.375 + 0.9 * 0.25 * v1 = 0.54375; the terminal state stays 0 although its R is 1
    check.expect(
        "a stochastic policy on walk-or-jump, gamma = 0.9, a terminal row of R = 1",
        """r_pi(s) = sum_a pi(a|s) R(s, a) and P_pi(s, s') = sum_a pi(a|s) P(s'|s, a), weighted by
        the policy; solve only for the non-terminal states (np.ix_(live, live)): the terminal
        state's value is 0 whatever its row of R says.""",
        "v_pi",
        lambda: f(shortcut(terminal_reward=1.0), np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])),
        [0.54375, 0.75, 0.0],
    )


@exercise("value iteration")
def grade_value_iteration(f, check: Checker) -> None:
    """v* and the sweep count: a terminal row of R, negative rewards, tol and max_sweeps.

    Todo:
        sweep max_a q(s, a) until no value moves more than tol; return (v, sweeps).
    """
    with check.case(
        "walk or jump, gamma = 0.9",
        "v(s) <- max over a of q(s, a), from v = 0, until nothing moves; the max, not the mean.",
    ):
        # v*(1) = max(1 + 0, 0.5) = 1;  v*(0) = max(0 + 0.9 * 1, 0.5) = 0.9
        out = f(shortcut())
        check.true("it returns (v, sweeps)", isinstance(out, tuple) and len(out) == 2)
        v, sweeps = out
        check.close("v*", v, [0.9, 1.0, 0.0])
        # sweep 1: (0.5, 1, 0); sweep 2: (0.9, 1, 0); sweep 3 changes nothing and stops
        check.close("sweeps (the sweep that found nothing moving, counting from 1)", sweeps, 3)
    with check.case(
        "a terminal state whose row of R is not 0",
        """A terminal state's value is 0 by definition (MDP.terminal): set it to 0 after every sweep
        (np.where(mdp.terminal, 0.0, ...)), whatever P and R say for it.""",
    ):
        v, _ = f(shortcut(terminal_reward=1.0))
        # left to itself the terminal state would be worth 1 / (1 - 0.9) = 10
        check.close("v*", v, [0.9, 1.0, 0.0])
    with check.case(
        "negative rewards: a corridor paying -1 per step, gamma = 0.9",
        """Values fall below their start at 0 here: stop when np.max(np.abs(v_new - v)) < tol, the
        size of the change whatever its sign.""",
    ):
        # sweep 1: (-1, -1, 0); sweep 2: (-1.9, -1, 0); sweep 3 changes nothing
        v, sweeps = f(corridor(0.9))
        check.close("v*", v, [-1.9, -1.0, 0.0])
        check.close("sweeps", sweeps, 3)
    with check.case(
        "tol = 0.1 on the two-state MDP, gamma = 0.5",
        """Stop at the first sweep whose largest change is below tol: the values come closer to
        v* = (2, 4) by half each sweep, v = (2 - 2^(1-k), 4 - 2^(2-k)) after sweep k, and the
        change 2^(2-k) first drops below 0.1 at k = 6.""",
    ):
        v, sweeps = f(two_state_mdp(0.5), tol=0.1)
        check.close("v", v, [2 - 2**-5, 4 - 2**-4])
        check.close("sweeps", sweeps, 6)
    with check.case(
        "max_sweeps = 3 is too few for tol = 1e-10",
        "After max_sweeps sweeps without convergence raise RuntimeError (see the docstring).",
    ):
        check.raises(
            RuntimeError,
            "max_sweeps=3 raises RuntimeError",
            lambda: f(two_state_mdp(0.5), tol=1e-10, max_sweeps=3),
        )


@exercise("the greedy policy, ties split evenly")
def grade_greedy_policy(f, check: Checker) -> None:
    """Greedy policy from v*: a tie, a tie up to noise, and ties within atol = 0.1.

    Todo:
        mark the best actions of each row (within atol) and split the probability among them.
    """
    # q(0) = (0.9, 0.5), q(1) = (1, 0.5), q(2) = (0, 0): a tie
    check.expect(
        "greedy with respect to v* = (0.9, 1, 0)",
        """Compute q from v, mark every action within atol of its row's max, and divide each row by
        its number of marks, so tied actions share the probability.""",
        "pi",
        lambda: f(shortcut(), np.array([0.9, 1.0, 0.0])),
        [[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]],
    )
    one_state = MDP(
        P=np.ones((1, 3, 1)),
        R=np.array([[1.0, 1.0 + 1e-12, 0.5]]),
        gamma=0.0,
        terminal=np.zeros(1, dtype=bool),
        shape=(1, 1),
    )
    check.expect(
        "a tie up to floating-point noise",
        """Compare with a tolerance (np.isclose(q, q.max(axis=1, keepdims=True), atol=atol)): values
        computed two ways differ in the last bits.""",
        "pi",
        lambda: f(one_state, np.zeros(1)),
        [[0.5, 0.5, 0.0]],
    )
    near = MDP(
        P=np.ones((1, 3, 1)),
        R=np.array([[1.0, 0.95, 0.5]]),
        gamma=0.0,
        terminal=np.zeros(1, dtype=bool),
        shape=(1, 1),
    )
    check.expect(
        "atol = 0.1: values 1 and 0.95 count as tied",
        "Pass atol on to np.isclose: every action within atol of the row's max is a best one.",
        "pi",
        lambda: f(near, np.zeros(1), atol=0.1),
        [[0.5, 0.5, 0.0]],
    )
