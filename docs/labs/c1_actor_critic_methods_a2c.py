# %% [markdown]
# # Lab: how GAE spreads credit, and a first A2C run
#
# This notebook runs the code of lesson
# [C1](../../C_policy_gradients/C1_actor_critic_methods_a2c/). It looks at two things the
# page states: how the lambda of GAE decides how far back a reward reaches, and what the
# `terminated` / `truncated` distinction does to the advantages. Then it trains
# Stable-Baselines3's A2C for a few thousand steps. Every function comes from
# `snippets/c1_actor_critic_methods_a2c.py`, the module the tests check by hand.

# %%
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import c1_actor_critic_methods_a2c as c1
from snippets import common, curves

common.use_course_style()
torch.set_num_threads(1)

# %% [markdown]
# ## One late reward, four lambdas
#
# A 30-step episode pays nothing until its last step, which pays +10 and ends it
# (`terminated`). The critic knows nothing yet: V = 0 everywhere. With lambda = 0 the
# advantage is the one-step TD error, so only the last step hears about the reward; with
# lambda = 1 every step gets the discounted reward. In between, the credit fades by
# gamma * lambda per step.

# %%
T, gamma = 30, 0.99
rewards = np.zeros(T)
rewards[-1] = 10.0
zeros = np.zeros(T)
terminated = np.zeros(T)
terminated[-1] = 1

fig, ax = plt.subplots()
for lam in (0.0, 0.5, 0.9, 1.0):
    adv, _ = c1.gae_advantages(rewards, zeros, zeros, terminated, zeros, gamma, lam)
    ax.plot(adv, marker=".", label=f"lambda = {lam}")
ax.set(xlabel="time step t", ylabel="advantage A_t", title="GAE: how far back a reward reaches")
ax.legend()
plt.show()

# %% [markdown]
# With a critic that is still zero, small lambda gives the early steps no learning
# signal at all: bootstrapping only helps once V has learned something. That is the bias
# side of the bias-variance trade: a low lambda trusts the critic, a high one trusts the
# sampled rewards.
#
# ## Terminated or truncated?
#
# Now a trained critic says every CartPole state is worth about 1 / (1 - gamma) = 100
# (the pole stays up, +1 per step). An episode reaches the 500-step time limit. If we
# call that a *termination*, the last step's target is just its reward, 1, and its
# advantage is about -99: the agent is punished for surviving. Calling it a
# *truncation* bootstraps from the value of the final state, and the advantage is 0.

# %%
T = 10
rewards, values = np.ones(T), np.full(T, 100.0)
end = np.zeros(T)
end[-1] = 1
as_terminated, _ = c1.gae_advantages(rewards, values, values, end, zeros[:T], 0.99, 0.95)
as_truncated, _ = c1.gae_advantages(rewards, values, values, zeros[:T], end, 0.99, 0.95)
print("last 3 advantages, treated as terminated:", np.round(as_terminated[-3:], 2))
print("last 3 advantages, treated as truncated: ", np.round(as_truncated[-3:], 2))

# %% [markdown]
# ## A short A2C run
#
# The lesson's default run takes 200k environment steps; here 12k steps (a few seconds)
# show the start of learning. The learning rate is kept constant: the default anneals it to
# zero over the budget, which in a run this short would stop learning almost at once.
# The faint line is each finished training episode's return, the bold one the mean of the
# last 20 episodes.

# %%
cfg = replace(
    c1.Config(),
    total_timesteps=12_000,
    linear_lr_decay=False,
    eval_every=6_000,
    eval_episodes=5,
    final_eval_episodes=5,
)
model, result = c1.train_a2c(cfg, seed=0)
steps, returns = np.array(result.episode_steps), np.array(result.episode_returns)
smooth = curves.moving_average(returns, 20)  # fewer episodes in the first 19 means

fig, ax = plt.subplots()
ax.plot(steps, returns, alpha=0.25, lw=0.8)
ax.plot(steps, smooth, lw=2, label="mean of last 20 episodes")
ax.plot(result.eval_steps, result.eval_returns, "o", label="greedy evaluation")
ax.set(
    xlabel="environment steps (8 envs together)",
    ylabel="episode return",
    title=f"A2C on CartPole-v1, {len(returns)} episodes",
)
ax.legend()
plt.show()
print(f"final agent on {cfg.final_eval_episodes} fresh episodes: {result.final_mean_return:.0f}")
print(f"kept agent (evaluation at step {result.kept_from_step}): {result.kept_mean_return:.0f}")

# %% [markdown]
# Each gradient step here used 8 envs x 5 steps = 40 transitions, so 12k steps were 300
# updates; REINFORCE in lesson C0 makes one update per batch of whole episodes. To take
# this further, rerun with `total_timesteps=200_000` (a couple of minutes) or change
# `gae_lambda` and `n_envs` in the `replace(...)` call and compare the curves.
