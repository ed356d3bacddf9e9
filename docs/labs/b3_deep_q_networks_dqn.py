# %% [markdown]
# # Lab: DQN on CartPole, in a few seconds
#
# This notebook runs the lesson's code from `snippets/b3_deep_q_networks_dqn.py` on a budget
# small enough to execute every time the site is built (about 10 seconds on a laptop CPU).
# It does four things:
#
# 1. computes a TD target by hand with the lesson's `td_target`, so you can check it on paper;
# 2. trains Stable-Baselines3's DQN for 2,500 environment steps and plots the periodic
#    evaluation return;
# 3. compares what the trained Q-network *predicts* along one episode with the discounted
#    return the agent *actually collects* from each step, which is what a Q-value claims to be;
# 4. draws the five seeds of the full 100,000-step run that the results page benchmarks.

# %%
import json
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import b3_deep_q_networks_dqn as b3
from snippets import common

common.use_course_style()

# %% [markdown]
# ## 1. A TD target you can check by hand
#
# Two transitions, gamma = 0.99. The first is an ordinary step: reward 1 and a next state
# whose target-network Q-values are (40, 45), so the target is 1 + 0.99 * 45 = 45.55.
# The second ends the episode (the pole fell): nothing follows, so the target is just the reward.

# %%
y = b3.td_target(
    rewards=torch.tensor([[1.0], [1.0]]),
    dones=torch.tensor([[0.0], [1.0]]),
    next_q_target=torch.tensor([[40.0, 45.0], [40.0, 45.0]]),
    gamma=0.99,
)
print(y.squeeze(1).tolist())

# %% [markdown]
# ## 2. A short training run
#
# Same settings as the lesson, with only 2,500 steps and an evaluation every 500 steps.
# The first 1,000 steps are random (`learning_starts`), so nothing can improve before then.

# %%
config = replace(b3.DQNConfig(), total_timesteps=2_500, eval_freq=500, eval_episodes=3)
result = b3.train(config, seed=0)
print(f"trained in {result.seconds:.1f} s; eval returns {result.curve.returns}")

fig, ax = plt.subplots()
ax.plot(result.curve.steps, result.curve.returns, marker="o")
ax.axvline(config.learning_starts, color="grey", ls=":", label="learning starts")
ax.set(
    xlabel="environment steps", ylabel="greedy eval return", title="DQN on CartPole-v1, 2.5k steps"
)
ax.legend()
plt.show()

# %% [markdown]
# ## 3. What the Q-network believes versus what happens
#
# Q(s, a) is meant to be the expected discounted return from s after taking a. Run one greedy
# episode, record max_a Q(s_t, a) at each step, and compare it with the discounted return
# actually collected from step t on. With gamma = 0.99 the largest possible value is
# 1 / (1 - 0.99) = 100, reached only by an episode that never ends. Near the end of an episode
# that the pole ends, the true return drops towards 1; a young network rarely sees that coming.

# %%
env = common.make_env(config.env_id, seed=123)
obs, _ = env.reset(seed=123)
predicted, rewards, done = [], [], False
while not done:
    with torch.no_grad():
        q = result.kept.q_net(torch.as_tensor(obs, dtype=torch.float32)[None])
    predicted.append(float(q.max()))
    obs, reward, terminated, truncated, _ = env.step(int(q.argmax()))
    rewards.append(float(reward))
    done = terminated or truncated
actual = np.zeros(len(rewards))
running = 0.0
for t in reversed(range(len(rewards))):
    running = rewards[t] + config.gamma * running
    actual[t] = running

fig, ax = plt.subplots()
ax.plot(predicted, label="predicted  max_a Q(s_t, a)")
ax.plot(actual, label="actual discounted return from t")
ax.axhline(1 / (1 - config.gamma), color="grey", ls=":", label="1 / (1 - gamma) = 100")
ax.set(
    xlabel="time step t in the episode",
    ylabel="value",
    title=f"one greedy episode ({len(rewards)} steps)",
)
ax.legend()
plt.show()

# %% [markdown]
# What to notice:
#
# - In the middle of a long episode the two curves should be of the same size; how close
#   they are depends on how well trained the agent is.
# - If the episode ends because the pole falls, the actual return collapses in the last
#   few dozen steps while the prediction usually stays high: the network overestimates
#   states it has rarely seen fail. If the episode instead reaches the 500-step time limit,
#   the "actual" curve drops only because we stopped counting, and the network is right
#   not to follow it (the lesson's page explains why time-limit cuts are not terminal).
#
# Try it: raise `total_timesteps` to 20,000 (about a minute) and rerun; the agent usually
# reaches 500 and the prediction settles close to 100 * (1 - 0.99^(steps left)).

# %% [markdown]
# ## 4. Five seeds of the full run
#
# The results page's benchmark (`uv run python -m snippets.benchmark --lesson b3`) trains the
# lesson's default 100k-step run on seeds 0 to 4 and keeps every periodic evaluation in
# `results/benchmark.json`. Drawn one line per seed, with a star at the checkpoint the lesson
# keeps, they show how much of DQN's story is the seed.

# %%
repo = Path(b3.__file__).resolve().parents[1]
entry = json.loads((repo / "results" / "benchmark.json").read_text())["lessons"]["b3"]
curves = []
for run in entry["runs"]:
    seed_metrics = run["metrics"]["per_seed"][0]
    curves.append({**seed_metrics, "steps": run["curve"]["x"], "returns": run["curve"]["y"]})
    print(
        f"seed {run['seed']}: kept {seed_metrics['kept_mean_return']:.1f} "
        f"(from step {seed_metrics['kept_from_step']:,}), final {seed_metrics['final_mean_return']:.1f}"
    )
fig = b3.plot_eval_curves(curves, "DQN on CartPole-v1, lesson settings, 5 seeds (star: kept)")
plt.show()
