# %% [markdown]
# # Lab: Gaussian policies, clipping against squashing, and a short PPO run on Pendulum
#
# This notebook runs the code of lesson
# [C3](../../C_policy_gradients/C3_continuous_actions_ppo_sac/). It draws what the page
# states: a Gaussian policy's log-probability and entropy as functions of sigma, what
# clipping and tanh squashing do to the actions near a bound, what normalisation does to
# Pendulum's observations and rewards, and a short run of the lesson's Gaussian PPO with
# the torque map it learns. Every function comes from
# `snippets/c3_continuous_actions_ppo_sac.py`, the module the tests check.

# %%
from dataclasses import replace

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import c3_continuous_actions_ppo_sac as c3
from snippets import common

common.use_course_style()
torch.set_num_threads(1)

# %% [markdown]
# ## The Gaussian policy's two numbers
#
# For one action dimension, log pi(a|s) = -((a - mu)/sigma)^2 / 2 - log sigma - log(2 pi)/2.
# Left: the log-probability of actions around the mean for three sigmas; a narrow policy
# rewards hitting the mean and punishes missing it hard. Right: the entropy,
# log sigma + log(2 pi e)/2, is a straight line in log sigma and does not depend on the
# mean or the state: an entropy bonus simply pushes log sigma up.

# %%
actions = torch.linspace(-3, 3, 301)[:, None]
fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 3.8))
for log_std in (-1.0, 0.0, 0.5):
    logp = c3.gaussian_log_prob(actions, torch.zeros(1), torch.tensor([log_std]))
    left.plot(actions[:, 0], logp, label=f"log σ = {log_std:g}")
left.set(xlabel="action a (mean 0)", ylabel="log π(a|s)", ylim=(-8, 1), title="log-probability")
left.legend()
grid = torch.linspace(-2, 1, 50)
right.plot(grid, [c3.gaussian_entropy(torch.tensor([g])).item() for g in grid])
right.set(xlabel="log σ", ylabel="entropy (nats)", title="entropy of N(μ, σ²)")
plt.show()

# %% [markdown]
# ## Clipping or squashing?
#
# Pendulum accepts torques in [-2, 2]. Suppose the policy's mean has moved to 1.5 (near
# the bound) with sigma = 1. PPO here samples from the Gaussian and clips the sample
# before the environment sees it; a squashed policy (SAC) sends 2 tanh(u / 2). Clipping
# piles about a third of the probability onto the bound itself; squashing never reaches
# it, and needs the change-of-variables term of `squashed_log_prob` to get the
# log-probability right.

# %%
torch.manual_seed(0)
u = torch.distributions.Normal(1.5, 1.0).sample((20_000,))
fig, ax = plt.subplots()
ax.hist(torch.clamp(u, -2, 2), bins=80, alpha=0.6, label="clip(u, -2, 2): PPO here")
ax.hist(2 * torch.tanh(u / 2), bins=80, alpha=0.6, label="2 tanh(u / 2): squashed")
ax.set(xlabel="torque sent to the environment", ylabel="samples", title="u ~ N(1.5, 1)")
ax.legend()
plt.show()
print(f"share of clipped samples exactly at the bound: {(u > 2).float().mean():.2f}")

# %% [markdown]
# ## Normalisation
#
# Pendulum's observation is (cos θ, sin θ, angular velocity): the first two live in
# [-1, 1], the third in [-8, 8]. Its reward is -(θ² + 0.1 θ̇² + 0.001 a²), between about
# -16 and 0 per step. `RunningNorm` standardises the observations with running statistics;
# `RewardScaler` divides each reward by the running standard deviation of the discounted
# return, so that the critic's targets are of order 1 whatever the reward's units.

# %%
env = gym.make_vec("Pendulum-v1", num_envs=4, vectorization_mode="sync")
obs, _ = env.reset(seed=0)
observations, rewards, dones = [], [], []
rng = np.random.default_rng(0)
for _ in range(1000):
    obs, reward, terminated, truncated, _ = env.step(rng.uniform(-2, 2, size=(4, 1)))
    observations.append(obs)
    rewards.append(reward)
    dones.append(terminated | truncated)
observations = torch.as_tensor(np.concatenate(observations), dtype=torch.float32)
norm = c3.RunningNorm(3)
norm.update(observations)
scaled = c3.RewardScaler(4, gamma=0.9)(np.array(rewards), np.array(dones))
print("observation std, raw:       ", observations.std(0).numpy().round(2))
print("observation std, normalised:", norm(observations).std(0).numpy().round(2))
print(f"reward std, raw {np.std(rewards):.2f}; scaled {np.std(scaled):.2f}")

# %% [markdown]
# ## A short PPO run
#
# 30k steps of the lesson's Gaussian PPO (the default run takes 200k): enough for the
# pendulum to start swinging up. Left, the greedy return of 10 evaluation episodes;
# right, the torque the kept policy applies at each angle and angular velocity, and the
# states of one greedy episode. Compare with the page's figures of the full runs.

# %%
cfg = replace(c3.Config(), ppo_timesteps=30_000, eval_every=6_000, final_eval_episodes=10)
agent, result = c3.train_ppo(cfg, seed=0)
fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.0))
left.plot(result.eval_steps, result.eval_returns, marker="o")
left.set(xlabel="environment steps", ylabel="greedy return", title="Gaussian PPO on Pendulum-v1")
theta, theta_dot, torque = c3.policy_grid(agent.greedy)
image = right.pcolormesh(theta, theta_dot, torque, cmap="coolwarm", vmin=-2, vmax=2)
angle, velocity = c3.greedy_trajectory(agent.greedy, cfg.env_id, seed=30_000)
right.plot(angle, velocity, ".", color="black", ms=2.5)
right.set(
    xlabel="angle θ (0 = upright)", ylabel="angular velocity", title="torque of the kept policy"
)
fig.colorbar(image, ax=right)
plt.show()
print(
    f"kept agent {result.kept_eval:.0f}, final agent {result.final_eval:.0f}; "
    f"sigma now {agent.log_std.exp().item():.2f} (it started at 1)"
)

# %% [markdown]
# To take this further: set `normalize_reward=False` in the `replace(...)` call and rerun,
# or give the policy an entropy bonus (`ent_coef=0.01`) and watch sigma at the end.
