# %% [markdown]
# # Lab: PPO from scratch, and what the clip does inside one update
#
# This notebook runs the code of lesson
# [C2](../../C_policy_gradients/C2_proximal_policy_optimization_ppo/). It looks at three
# things the page states: what Gymnasium's two autoreset modes put in a rollout at an
# episode end, how far 20 epochs on one batch move the policy with and without the clip,
# and a short training run of PPO from scratch. Every function comes from
# `snippets/c2_proximal_policy_optimization_ppo_cartpole.py` and the losses of
# `snippets/c2_proximal_policy_optimization_ppo.py`, the modules the tests check.

# %%
import copy
from dataclasses import replace

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import c2_proximal_policy_optimization_ppo_cartpole as ppo
from snippets import common
from snippets.c1_actor_critic_methods_a2c import gae_advantages

common.use_course_style()
torch.set_num_threads(1)

# %% [markdown]
# ## Two autoreset modes, one episode boundary
#
# Every CartPole episode is cut at 3 steps here, and one environment takes 8 steps. In
# Gymnasium's default mode (`NEXT_STEP`) the call after an episode end only resets: it
# returns the new first observation with reward 0, whatever the action. In `SAME_STEP`,
# the mode the lesson chooses, the reset happens inside the step that ended the episode.

# %%
for mode in (gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP):
    envs = gym.make_vec(
        "CartPole-v1",
        num_envs=1,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": mode},
        max_episode_steps=3,
    )
    envs.reset(seed=0)
    rewards, ends = [], []
    for _ in range(8):
        _, reward, terminated, truncated, _ = envs.step(np.array([0]))
        rewards.append(float(reward[0]))
        ends.append("end" if terminated[0] or truncated[0] else "")
    print(f"{mode.name:9s} rewards {rewards}")
    print(f"{'':9s} episode {ends}")

# %% [markdown]
# In `NEXT_STEP` mode every fourth reward is a 0 that belongs to no transition: stored
# as-is, the agent would learn that the step after a time limit is worth nothing. Lesson
# E0 shows the damage; the lesson's rollout avoids it by choosing `SAME_STEP` and reading
# the true last observation from `info["final_obs"]`.
#
# ## Twenty epochs on one batch: with and without the clip
#
# One rollout of 8 x 32 = 256 transitions from a fresh agent, then PPO's update, 20 epochs
# on that batch, once with the clip at 0.2 and once with no clip (epsilon = 100). Before the
# update every ratio pi_new / pi_old is 1; afterwards it tells how far the policy moved on
# each of those 256 states and actions.

# %%
cfg = replace(ppo.Config(), anneal_clip=False)
torch.manual_seed(0)
envs = ppo.make_envs(cfg.env_id, cfg.n_envs)
agent = ppo.Agent(4, 2)
obs, _ = envs.reset(seed=0)
rollout, _ = ppo.collect_rollout(envs, agent, obs, cfg.n_steps)
advantages, returns = gae_advantages(
    rollout.rewards,
    rollout.values,
    rollout.next_values,
    rollout.terminated,
    rollout.truncated,
    cfg.gamma,
    cfg.gae_lambda,
)

fig, ax = plt.subplots()
for clip_coef in (0.2, 100.0):
    torch.manual_seed(1)
    trained = copy.deepcopy(agent)
    optimizer = torch.optim.Adam(trained.parameters(), lr=cfg.learning_rate, eps=1e-5)
    stats = ppo.ppo_update(trained, optimizer, rollout, advantages, returns, cfg, clip_coef)
    with torch.no_grad():
        new = trained.dist(rollout.obs).log_prob(rollout.actions)
    ratios = (new - rollout.logprobs).exp().flatten().numpy()
    ax.hist(
        ratios,
        bins=60,
        range=(0.3, 1.7),
        alpha=0.6,
        label=f"ε = {clip_coef:g}: KL {stats['kl']:.3f}, {np.mean(np.abs(ratios - 1) > 0.2):.0%} outside [0.8, 1.2]",
    )
for edge in (0.8, 1.2):
    ax.axvline(edge, color="black", ls="--", lw=0.8)
ax.set(
    xlabel="ratio π_new(a|s) / π_old(a|s) after 20 epochs",
    ylabel="transitions",
    title="One batch, 20 epochs of PPO updates",
)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The clip does not stop every ratio at the edge: the ratios of other samples move
# because they share the same weights, so some end up outside [0.8, 1.2] anyway. But
# without the clip nothing holds back the samples that already moved, and the policy
# drifts much further from the one that collected the data: the "KL" in the legend is the
# mean over the epochs of the estimated KL(pi_old || pi_new).
#
# ## A short training run
#
# 16k environment steps (64 rollouts) with the lesson's settings, learning rate and clip
# annealed over this shorter budget. The faint line is each training episode's return
# (sampled actions), the dots the greedy evaluations; on the right, the share of clipped
# ratios per update falls with the clip range and the learning rate.

# %%
short = replace(ppo.Config(), total_timesteps=16_384, eval_every=4_096, final_eval_episodes=10)
agent, result = ppo.train(short, seed=0)
steps = np.arange(1, len(result.updates) + 1) * short.n_steps * short.n_envs

fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.0))
left.plot(result.episode_steps, result.episode_returns, alpha=0.3, lw=0.8, label="training episode")
left.plot(result.eval_steps, result.eval_returns, "o", label="greedy evaluation")
left.set(xlabel="environment steps", ylabel="return", title="PPO from scratch on CartPole-v1")
left.legend()
right.plot(steps, [u["clip"] for u in result.updates], label="share of clipped ratios")
right.plot(steps, [u["kl"] for u in result.updates], label="approx. KL(old || new)")
right.set(xlabel="environment steps", title="per update")
right.legend()
plt.show()
print(
    f"kept agent: {result.kept_eval:.1f}, final agent: {result.final_eval:.1f} "
    f"(mean return over {short.final_eval_episodes} fresh episodes)"
)

# %% [markdown]
# To take this further, rerun the training with `total_timesteps=100_000` (the lesson's
# default, about a minute) or with `anneal_clip=False` in the `replace(...)` call, and
# compare the right-hand panel.
