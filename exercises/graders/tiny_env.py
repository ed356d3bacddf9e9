"""A deterministic toy environment for the graders of B1 and B2."""

from __future__ import annotations

import gymnasium as gym


class TinyEnv(gym.Env):
    """A deterministic environment given by tables, with an optional time limit.

    From state s, action a leads to ``next_state[s][a]`` paying ``reward[s][a]``; the step
    terminates the episode if ``ends[s][a]``, and is cut (truncated) after ``limit`` steps.
    Stepping again after the episode ended raises, as a reminder to stop there.
    """

    def __init__(self, next_state, reward, ends, limit: int = 100) -> None:
        self.next_state, self.reward, self.ends, self.limit = next_state, reward, ends, limit
        self.observation_space = gym.spaces.Discrete(len(next_state))
        self.action_space = gym.spaces.Discrete(len(next_state[0]))
        self.over = True

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start in state 0."""
        self.state, self.steps, self.over = 0, 0, False
        return 0, {}

    def step(self, action):
        """Follow the tables."""
        if self.over:
            raise RuntimeError("step() after the episode ended: stop at terminated or truncated")
        s, a = self.state, int(action)
        self.state, self.steps = self.next_state[s][a], self.steps + 1
        terminated = bool(self.ends[s][a])
        truncated = not terminated and self.steps >= self.limit
        self.over = terminated or truncated
        return self.state, float(self.reward[s][a]), terminated, truncated, {}
