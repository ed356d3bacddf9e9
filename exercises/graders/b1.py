"""Graders for lesson B1: the Q-learning update, TD(0) prediction and epsilon-greedy."""

from __future__ import annotations

import numpy as np

from exercises.graders.tiny_env import TinyEnv
from exercises.grading import Checker, exercise


@exercise("the Q-learning update, terminal vs not")
def grade_q_update(f, check: Checker) -> None:
    """A bootstrapped step, one whose action is not the best in s', one that ends the episode.

    Todo:
        compute the TD target, update q[state, action] in place, return the TD error.
    """
    q = np.zeros((3, 2))
    q[0] = [0.2, 0.4]
    q[2] = [0.5, 1.0]
    with check.case(
        "a step that does not end the episode",
        """The target bootstraps from the best action of the NEXT state: r + gamma * max_a' Q(s',
        a'); then Q(s, a) += alpha * (target - Q(s, a)).""",
    ):
        # target = 0 + 0.9 * 1.0 = 0.9; TD error = 0.9 - 0.4 = 0.5; Q(0, 1) = 0.4 + 0.5 * 0.5
        td = f(q, 0, 1, 0.0, 2, False, 0.5, 0.9)
        check.close("Q(0, 1) after the update", q[0, 1], 0.65)
        check.close("the returned TD error", td, 0.5)
    with check.case(
        "a negative reward, and the action taken is not the best in s'",
        """The target takes the MAX over the next state's actions, whichever action was taken
        here: -1 + 0.9 * max(0.5, 1.0) = -0.1, TD error -0.1 - 0.2 = -0.3, Q(0, 0) = 0.2 + 0.5 *
        (-0.3) = 0.05.""",
    ):
        td = f(q, 0, 0, -1.0, 2, False, 0.5, 0.9)
        check.close("Q(0, 0) after the update", q[0, 0], 0.05)
        check.close("the returned TD error", td, -0.3)
    with check.case(
        "a step that terminates the episode",
        """When the step terminated the episode nothing follows: the target is the reward alone,
        with no gamma * max Q(s') term.""",
    ):
        # target = 1; TD error = 1 - 0 = 1; Q(1, 0) = 0 + 0.5 * 1
        td = f(q, 1, 0, 1.0, 2, True, 0.5, 0.9)
        check.close("Q(1, 0) after the update", q[1, 0], 0.5)
        check.close("the returned TD error", td, 1.0)


@exercise("TD(0) prediction")
def grade_td0_prediction(f, check: Checker) -> None:
    """A loop that terminates, one cut by a time limit, and two stochastic policy tables.

    Todo:
        play the episodes and apply the TD(0) update after every step.
    """
    rng = np.random.default_rng(0)
    # leaving 1 pays +1 and ends the episode, landing in state 0
    env = TinyEnv(next_state=[[1], [0]], reward=[[0.0], [1.0]], ends=[[False], [True]])
    # episode 1: V0 = 0, V1 = 0.5; episode 2: V0 = 0.5 * 0.9 * 0.5 = 0.225, V1 = 0.75
    check.expect(
        "two episodes of 0 -> 1 -> end, alpha = 0.5, gamma = 0.9",
        """After each step V(s) += alpha (r + gamma V(s') - V(s)) with V(s') taken as 0 when the
        step terminated the episode (here the episode ends in state 0, whose V is not 0).""",
        "V",
        lambda: f(env, np.array([0, 0]), 2, 0.5, 0.9, rng),
        [0.225, 0.75],
    )
    env = TinyEnv(next_state=[[1], [0]], reward=[[1.0], [1.0]], ends=[[False], [False]], limit=3)
    # V0 = 0.5; V1 = 0.5 * (1 + 0.9 * 0.5) = 0.725; V0 = 0.5 + 0.5 * (1 + 0.9 * 0.725 - 0.5)
    check.expect(
        "one episode cut by a 3-step time limit, +1 per step",
        """A time limit is not an ending: on a truncated step still bootstrap from V(s'); only stop
        the loop there.""",
        "V",
        lambda: f(env, np.array([0, 0]), 1, 0.5, 0.9, rng),
        [1.07625, 0.725],
    )
    env = TinyEnv(
        next_state=[[1, 1], [1, 1]], reward=[[0.0, 1.0], [0.0, 0.0]], ends=[[True, True]] * 2
    )
    check.expect(
        "a policy given as an (S, A) table of probabilities",
        "With a 2-D policy draw the action: rng.choice(len(policy[s]), p=policy[s]).",
        "V",
        lambda: f(env, np.array([[0.0, 1.0], [0.5, 0.5]]), 1, 0.5, 0.9, rng),
        [0.5, 0.0],
    )
    env = TinyEnv(
        next_state=[[1, 1], [1, 1]], reward=[[1.0, 0.0], [0.0, 0.0]], ends=[[True, True]] * 2
    )
    check.expect(
        "a stochastic policy (0.3, 0.7) over 2000 one-step episodes, alpha = 0.01",
        """Sample each action with the policy's probabilities (rng.choice(..., p=policy[s])), not
        the most likely one: action 0 pays 1 and is drawn 30% of the time, so V(0) settles near
        0.3 (within 0.1: it is a noisy average).""",
        "V",
        lambda: f(env, np.array([[0.3, 0.7], [0.5, 0.5]]), 2000, 0.01, 0.9, rng),
        [0.3, 0.0],
        atol=0.1,
    )


@exercise("epsilon-greedy action choice")
def grade_epsilon_greedy(f, check: Checker) -> None:
    """Greedy picks, random tie-breaking, full exploration, and the share of exploring picks.

    Todo:
        explore with probability epsilon, otherwise pick a best action.
    """
    rng = np.random.default_rng(0)
    best = np.array([0.0, 2.0, 1.0, -1.0])
    with check.case(
        "epsilon = 0 is greedy", "With epsilon = 0 always return an action of largest value."
    ):
        picks = {f(best, 0.0, rng) for _ in range(20)}
        check.true("every pick is action 1", picks == {1}, f"picked {sorted(picks)}")
    with check.case(
        "epsilon = 0 with two best actions",
        """Break ties at random: np.argmax always returns the first; choose among
        np.flatnonzero(q_row == q_row.max()) with rng.""",
    ):
        picks = {f(np.array([0.0, 2.0, 2.0, 1.0]), 0.0, rng) for _ in range(100)}
        check.true(
            "both tied actions 1 and 2 get picked, nothing else",
            picks == {1, 2},
            f"picked {sorted(picks)}",
        )
    with check.case(
        "epsilon = 1 explores uniformly",
        "Exploring draws from ALL actions (rng.integers(len(q_row))), the greedy one included.",
    ):
        picks = [f(best, 1.0, rng) for _ in range(800)]
        check.true(
            "all four actions get picked",
            set(picks) == {0, 1, 2, 3},
            f"picked {sorted(set(picks))}",
        )
        check.close(
            "share of picks of the greedy action 1 (800 picks)",
            np.mean(np.array(picks) == 1),
            0.25,
            atol=0.06,
        )
    with check.case(
        "epsilon = 0.2",
        """Explore with probability epsilon (rng.random() < epsilon); a uniform pick is greedy 1
        time in 4, so 0.2 * 3/4 = 0.15 of the picks are not the best action.""",
    ):
        picks = np.array([f(best, 0.2, rng) for _ in range(2000)])
        check.close(
            "share of non-greedy picks (2000 picks)",
            np.mean(picks != 1),
            0.15,
            atol=0.03,
        )
