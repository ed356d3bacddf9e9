# %% [markdown]
# # Lab: how noisy is a policy gradient?
#
# Lesson [C0](../../C_policy_gradients/C0_policy_gradients_reinforce/) claims that a
# baseline leaves the policy gradient's *mean* alone and shrinks its *variance*. Here we
# measure both on CartPole with the lesson's own code: we fix one policy, estimate its
# gradient many times from fresh batches of episodes, and look at how much the estimates
# scatter with and without the leave-one-out baseline. Then we run a short training.
# Everything is imported from `snippets/c0_policy_gradients_reinforce.py`.

# %%
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import c0_policy_gradients_reinforce as c0
from snippets import common, curves

common.use_course_style()
torch.set_num_threads(1)

# %% [markdown]
# ## A policy worth measuring
#
# At initialisation the policy is uniform and episodes last about 20 steps. We train for
# 40 episodes first so that the policy has started to learn and episode lengths vary.

# %%
cfg = replace(c0.Config(), episodes=40)
run = c0.train(cfg, seed=0, show_progress=False)
policy = run["policy"]
print("mean return of the last 20 training episodes:", np.mean(run["returns"][-20:]))

# %% [markdown]
# ## Many gradient estimates of the same policy
#
# `gradient_estimate` does what `update_policy` does up to `loss.backward()`: play a batch
# of five episodes, turn the returns into weights, and return the gradient, flattened. We
# switch off normalisation here so that the two variants are on the same scale (dividing
# by the standard deviation would hide exactly the thing we want to see).

# %%
env = common.make_env("CartPole-v1", seed=1)
rng = np.random.default_rng(1)


def gradient_estimate(baseline: bool) -> np.ndarray:
    episodes = [c0.play_episode(env, policy, rng) for _ in range(5)]
    returns, mask = c0.pad_episodes([c0.discounted_returns(r, 0.99) for _, _, r in episodes])
    adv = c0.advantages_from_returns(returns, mask, baseline=baseline, normalize=False)
    obs = np.zeros((*mask.shape, 4), np.float32)
    acts = np.zeros(mask.shape, np.int64)
    for i, (o, a, _) in enumerate(episodes):
        obs[i, : len(a)], acts[i, : len(a)] = o, a
    policy.zero_grad()
    loss = c0.reinforce_loss(
        policy(torch.from_numpy(obs)),
        torch.from_numpy(acts),
        torch.tensor(adv, dtype=torch.float32),
        torch.tensor(mask, dtype=torch.float32),
    )
    loss.backward()
    return -torch.cat([p.grad.flatten() for p in policy.parameters()]).numpy()


estimates = {
    name: np.array([gradient_estimate(b) for _ in range(25)])
    for name, b in [("no baseline", False), ("leave-one-out baseline", True)]
}
for name, g in estimates.items():
    print(f"{name:>24}: total variance over all parameters = {g.var(0).sum():.2f}")
ratio = estimates["no baseline"].var(0).sum() / estimates["leave-one-out baseline"].var(0).sum()
print(f"the baseline divides the variance by {ratio:.1f}")

# %% [markdown]
# Both variants estimate the same gradient: the baseline cannot move the mean (the page
# proves it, and the bandit test checks it exactly). What it changes is how far one
# estimate lands from that mean. Here is one coordinate of the 25 estimates each: the
# gradient with respect to the output bias of "push right", the policy's overall lean.

# %%
fig, ax = plt.subplots()
bins = np.linspace(
    min(g[:, -1].min() for g in estimates.values()),
    max(g[:, -1].max() for g in estimates.values()),
    16,
)
for name, g in estimates.items():
    ax.hist(g[:, -1], bins=bins, alpha=0.6, label=name)
ax.axvline(0, color="black", linewidth=0.8)
ax.set_xlabel("d(objective) / d(bias of 'push right')")
ax.set_ylabel("number of estimates")
ax.set_title("25 gradient estimates, each from a batch of 5 episodes")
ax.legend()
plt.show()

# %% [markdown]
# Estimates on opposite sides of zero disagree about which way to push: a step taken
# from one of them undoes a step taken from another. Fewer of those is what "lower
# variance" buys: the same progress from fewer episodes, and fewer steps in a bad
# direction.
#
# ## A short training run
#
# The lesson's full run takes 1000 episodes per seed; 120 are enough to see learning
# start. The faint line is each episode's return, the bold one the 20-episode mean.

# %%
short = c0.train(replace(c0.Config(), episodes=120), seed=0, show_progress=False)
fig, ax = plt.subplots()
ax.plot(short["returns"], alpha=0.3, label="episode return")
ax.plot(curves.moving_average(short["returns"], 20), label="20-episode mean")
ax.set_xlabel("episode")
ax.set_ylabel("return")
ax.legend()
plt.show()

# %% [markdown]
# Try it yourself: rerun the last cell with `replace(c0.Config(), episodes=120,
# baseline=False)` and with `batch_episodes=1`, and compare with the ablation figure on
# the lesson page.
