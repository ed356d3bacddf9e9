# %% [markdown]
# # Lab: Q-learning on FrozenLake, seed by seed
#
# This notebook runs the code of lesson B1 (`snippets/b1_tabular_q_learning.py`). One training
# run is an anecdote; here we train three seeds on the slippery 4x4 lake for 2000 episodes each
# (a few seconds in all), compare their learning curves with the optimum from value iteration,
# and check whether they end with the same Q-table.

# %%
import matplotlib.pyplot as plt
import numpy as np

from snippets import b1_tabular_q_learning as b1
from snippets import common

common.use_course_style()

env = common.make_env("FrozenLake-v1", seed=0)
mdp = b1.frozenlake_mdp(env)  # gamma = 1: values are success probabilities
optimum = b1.finite_horizon_values(mdp, horizon=100)[0]
print(f"best success within 100 steps: {optimum:.4f}")

# %% [markdown]
# ## Three seeds
#
# Each run gets its own environment seed and agent seed. The model is passed in only to score
# the greedy policy exactly at 50 checkpoints.

# %%
runs = {}
for seed in (0, 1, 2):
    env = common.make_env("FrozenLake-v1", seed=seed)
    runs[seed] = b1.q_learning(env, b1.Config(), episodes=2000, seed=seed, mdp=mdp)

fig, ax = plt.subplots()
for seed, (_q, history) in runs.items():
    ax.plot(history.episodes, history.greedy_success, label=f"seed {seed}")
ax.axhline(optimum, color="k", ls="--", lw=1, label="optimum within 100 steps")
ax.set(xlabel="training episode", ylabel="exact success of greedy policy", ylim=(0, 1))
ax.legend()
plt.show()

# %% [markdown]
# The curves differ in *when* they find the good policy and agree on *where* they end. The
# dips are greedy actions flipping between near-tied values while the step size is still
# large.
#
# ## Do the seeds learn the same table?

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for ax, (seed, (q, _)) in zip(axes, runs.items(), strict=True):
    b1.plot_q_table(ax, env, q, f"seed {seed}")
plt.show()

policies = np.array([q.argmax(axis=1) for q, _ in runs.values()])
open_cells = ~mdp.terminal
agree = (policies[:, open_cells] == policies[0, open_cells]).all(axis=0).mean()
print(f"share of open cells where all three greedy actions agree: {agree:.0%}")
for seed, (q, _) in runs.items():
    exact = b1.finite_horizon_values(mdp, 100, q.argmax(axis=1))[0]
    print(f"seed {seed}: exact success {exact:.4f}, max Q at start {q[0].max():.3f}")

# %% [markdown]
# Where the greedy actions differ, the two actions are close to equally good; the exact success
# rates show how little it matters. Note also that max Q at the start cell is *not* the success
# rate: it is the discounted (gamma = 0.99) return of the greedy policy without a step limit,
# estimated from noisy samples. Try `episodes=500` to see a run that has not converged, or the
# 8x8 map (`FrozenLake8x8-v1`, horizon 200) with 10 000 episodes if you have half a minute.
