# %% [markdown]
# # Lab: diagnostics of a GRPO run, step by step
#
# This notebook opens up the practice half of lesson [D4](../../D_rlhf/D4_grpo_in_practice/).
# It looks at the harder task's checker, at what DAPO's dynamic sampling and overlong
# shaping do to one batch of rewards, and then trains two variants for a few steps from the
# same start, plotting the diagnostics the lesson logs at every step. To stay within
# seconds it uses one-digit sums (`digits=1`), which pretrain in a few dozen steps; the
# lesson's command uses three-digit sums. Everything is imported from
# `snippets/d4_grpo_in_practice/` and D3's `rlvr`, the code the tests check.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import common
from snippets.d3_grpo_rloo_and_dpo import rlvr
from snippets.d4_grpo_in_practice import train, variants

common.use_course_style()
torch.set_num_threads(1)  # the model is tiny: one thread is the fastest on a laptop CPU

# %% [markdown]
# ## 1. The task and its checker
#
# Three-digit sums, one token per digit. The checker accepts exactly the digits of the sum
# followed by end-of-sequence; a dropped carry, a leading zero or an answer that never
# stops all score 0.

# %%
rng = np.random.default_rng(0)
for row in rlvr.sample_problems(rng, 3, digits=3, terms=2):
    right = list(str(row.sum()))
    slip = list(str(rlvr.plausible_wrong_answer(row, rng)))
    print(
        f"{rlvr.prompt_text(row):18s} right {''.join(right):>5s} -> {rlvr.check(row, right, True)}"
        f"   slip {''.join(slip):>5s} -> {rlvr.check(row, slip, True)}"
    )

# %% [markdown]
# ## 2. One batch through DAPO's two sampling-side tricks
#
# Six groups of four rewards. Dynamic sampling keeps the groups whose rewards differ (the
# others have advantage 0 and teach nothing); the overlong penalty lowers the reward of
# answers that run into the length limit, on a ramp of `cache` tokens.

# %%
rewards = torch.tensor([1.0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1])
keep = variants.dynamic_sampling_keep(rewards, group_size=4)
print("groups kept:", keep.tolist(), f"-> zero-std share {1 - keep.float().mean():.2f}")
lengths = torch.arange(1, 10)
penalty = variants.overlong_penalty(lengths, max_len=7, cache=2)
plt.figure(figsize=(5, 2.6))
plt.step(lengths.numpy(), penalty.numpy(), where="mid")
plt.xlabel("completion length (tokens)")
plt.ylabel("added to the reward")
plt.title("DAPO's soft overlong penalty, max_len 7, cache 2")
plt.show()

# %% [markdown]
# ## 3. Two variants from the same start, every diagnostic at every step
#
# Pretrain to D3's band on one-digit sums, then train GRPO and DAPO (clip-higher, dynamic
# sampling, overlong shaping) for 15 steps each, with the same random stream. Each step
# takes `epochs x minibatches` optimiser steps on its batch, so ratios move and the clip
# fractions are not zero.

# %%
cfg = train.Config(
    **train.ONE_DIGIT, steps=15, variant=("grpo", "dapo"), eval_problems=40, eval_samples=16
)
result = train.run(cfg, seed=0)
keys = ("pass_at_1", "entropy", "zero_std", "clip_low", "clip_high", "groups_sampled")
fig, axes = plt.subplots(2, 3, figsize=(12, 5.5))
for ax, key in zip(axes.flat, keys, strict=True):
    for name, arm in result["arms"].items():
        ax.plot(np.arange(1, cfg.steps + 1), arm["history"][key], label=name)
    ax.set_title(key.replace("_", " "))
    ax.set_xlabel("RL step")
axes.flat[0].legend()
fig.tight_layout()
plt.show()
for name, arm in result["arms"].items():
    print(
        f"{name}: pass@1 {result['pass_at_k_before'][1]:.1%} -> {arm['pass_at_k'][1]:.1%}, "
        f"pass@16 {result['pass_at_k_before'][16]:.1%} -> {arm['pass_at_k'][16]:.1%}, "
        f"{arm['seconds']:.0f} s"
    )

# %% [markdown]
# DAPO samples more groups per step than GRPO whenever some groups agree: the cost of
# dynamic sampling is generation, not gradient steps. Its zero-std line is the share of the
# *first* draw, before the refill, so the two arms can be compared.
