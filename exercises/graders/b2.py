"""Graders for lesson B2: recording an episode and the Monte Carlo update."""

from __future__ import annotations

import numpy as np

from exercises.graders.tiny_env import TinyEnv
from exercises.grading import Checker, exercise


def cycle(limit: int = 100, ends: bool = True) -> TinyEnv:
    """0 -> 1 -> 2 -> back to 0; leaving state s pays s + 1; leaving 2 ends the episode if ``ends``."""
    return TinyEnv(
        next_state=[[1], [2], [0]],
        reward=[[1.0], [2.0], [3.0]],
        ends=[[False], [False], [ends]],
        limit=limit,
    )


@exercise("recording S_t and R_{t+1}")
def grade_run_episode(f, check: Checker) -> None:
    """A three-step episode, one cut by a time limit, and the encode argument.

    Todo:
        play one episode and collect the states and the rewards that follow them.
    """
    with check.case(
        "0 -> 1 -> 2 -> end, leaving s pays s + 1",
        """states[t] is the state S_t the agent acted in and rewards[t] the reward R_{t+1} that
        followed that action: append obs (not next_obs) and the reward of the same step; both
        lists have one entry per step, T in all.""",
    ):
        states, rewards = f(cycle(), lambda obs: 0)
        check.close(
            "states",
            states,
            [0, 1, 2],
        )
        check.close("rewards", rewards, [1.0, 2.0, 3.0])
    with check.case(
        "an episode cut by a 2-step time limit",
        "Stop at terminated OR truncated: a time limit ends the episode too.",
    ):
        states, rewards = f(cycle(limit=2, ends=False), lambda obs: 0)
        check.close("states", states, [0, 1])
        check.close("rewards", rewards, [1.0, 2.0])
    check.expect(
        "states numbered by encode",
        "Store encode(obs), the state index, not the raw observation.",
        "states",
        lambda: f(cycle(), lambda obs: 0, lambda obs: 10 + obs)[0],
        [10, 11, 12],
    )


@exercise("first-visit and every-visit MC")
def grade_mc_update(f, check: Checker) -> None:
    """One episode that revisits a state, both ways; then discounting and the running mean.

    Todo:
        accumulate the returns backwards and update the running averages in place.
    """
    states, rewards = [0, 1, 0, 2], [1.0, 0.0, 2.0, 3.0]  # gamma = 1: returns 6, 5, 5, 3
    with check.case(
        "first visit: states 0, 1, 0, 2, rewards 1, 0, 2, 3, gamma = 1",
        """Walking backwards, G = rewards[t] + gamma * G gives G_0..G_3 = 6, 5, 5, 3. First-visit
        counts only the earliest visit of a state (t = 0 for state 0, not t = 2).""",
    ):
        v, n = np.zeros(3), np.zeros(3, dtype=np.int64)
        f(v, n, states, rewards, 1.0, first_visit=True)
        check.close(
            "V",
            v,
            [6.0, 5.0, 3.0],
        )
        check.close("N", n, [1, 1, 1])
    with check.case(
        "every visit, same episode",
        "Every-visit counts each visit: state 0 averages G_0 = 6 and G_2 = 5.",
    ):
        v, n = np.zeros(3), np.zeros(3, dtype=np.int64)
        f(v, n, states, rewards, 1.0, first_visit=False)
        check.close("V", v, [5.5, 5.0, 3.0])
        check.close("N", n, [2, 1, 1])
    with check.case(
        "gamma = 0.5, then a second episode",
        "G_t = R_{t+1} + gamma G_{t+1}; V(s) is the running mean: V += (G - V) / N after N += 1.",
    ):
        v, n = np.zeros(2), np.zeros(2, dtype=np.int64)
        f(v, n, [0, 1], [0.0, 1.0], 0.5)  # G_0 = 0 + 0.5 * 1 = 0.5, G_1 = 1
        check.close("V after the first episode", v, [0.5, 1.0])
        f(v, n, [0], [2.0], 0.5)  # G_0 = 2: V(0) = (0.5 + 2) / 2
        check.close(
            "V after the second episode",
            v,
            [1.25, 1.0],
        )
        check.close("N", n, [2, 1])
