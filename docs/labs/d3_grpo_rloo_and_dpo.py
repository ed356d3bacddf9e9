# %% [markdown]
# # Lab: group baselines, token weights and a checker
#
# This notebook opens up lesson [D3](../../D_rlhf/D3_grpo_rloo_and_dpo/). It computes the
# GRPO and RLOO advantages of one group, measures how the three loss aggregations weigh
# tokens on completions the D2 model really samples, and runs a short verifiable-reward
# experiment on two-digit addition. Everything is imported from
# `snippets/d3_grpo_rloo_and_dpo/`, the package the tests check. It runs in well under a
# minute on a laptop CPU.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import common
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import losses, rlvr

common.use_course_style()
torch.set_num_threads(1)  # the models are tiny: one thread is the fastest on a laptop CPU

# %% [markdown]
# ## 1. One group, two baselines
#
# Eight completions of one prompt with the rewards below. GRPO centres them on the group's
# mean and divides by its std; RLOO subtracts the mean of the *other* seven. The two differ
# by the std and by a factor $G/(G-1)$; their signs always agree.

# %%
rewards = torch.tensor([2.4, -0.6, 0.8, 4.0, -2.2, 0.8, 1.8, -1.0])
grpo = losses.group_advantages(rewards, group_size=8)
rloo = losses.rloo_advantages(rewards, group_size=8)
for r, g, o in zip(rewards.tolist(), grpo.tolist(), rloo.tolist(), strict=True):
    print(f"reward {r:+.2f}   GRPO {g:+.3f}   RLOO {o:+.3f}")

# %% [markdown]
# ## 2. How each aggregation weighs a token, on real completion lengths
#
# We sample 256 completions from a freshly pretrained D2 model (a short pretraining run)
# and compute the weight each aggregation gives one token of each completion. GRPO's
# per-sequence mean gives tokens of short completions more weight; DAPO and Dr. GRPO give
# every token the same weight, whatever the length.

# %%
config = d2.Config(pretrain_steps=150)
rng = common.seed_everything(0)
lm, tokenizer = d2.load_policy_and_tokenizer("tiny", config)
d2.pretrain(lm, tokenizer, config, rng)
rollout = d2.generate(lm, tokenizer, d2.sample_prompts(rng, 256), config)
mask = rollout.response_mask.float()
lengths = mask.sum(1)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
left.hist(lengths.numpy(), bins=np.arange(0.5, config.max_new_tokens + 1.5), color="grey")
left.set_xlabel("completion length (tokens)")
left.set_ylabel("completions")
left.set_title("What the SFT model samples")
for how in ("grpo", "dapo", "dr_grpo"):
    weights, denominator = losses.token_weights(mask, how, max_len=config.max_new_tokens)
    per_token = (weights.max(dim=1).values / denominator).numpy()  # any real token
    order = np.argsort(lengths.numpy())
    right.plot(lengths.numpy()[order], per_token[order], "o-", ms=3, label=how)
right.set_xlabel("completion length (tokens)")
right.set_ylabel("weight of one token in the loss")
right.set_title("One token's share of the gradient")
right.legend()
plt.show()

# %% [markdown]
# Under GRPO a token of a 3-token completion counts about five times as much as a token of
# a 16-token one. For a completion with a negative advantage, that means a long one is
# punished less per token than a short one: the length bias Dr. GRPO removes.
#
# ## 3. A checker as the reward
#
# A shortened version of the lesson's RLVR run: pretrain on noisy sums, measure pass@k,
# train 100 GRPO rounds with the checker as the only reward, measure again.

# %%
cfg = rlvr.RLVRConfig(grpo_steps=100, eval_problems=100, eval_samples=16)
result = rlvr.run_rlvr(cfg, seed=0)
ks = [int(k) for k in result["pass_at_k_before"]]
plt.plot(ks, list(result["pass_at_k_before"].values()), "o-", label="pretrained")
plt.plot(ks, list(result["pass_at_k_after"].values()), "o-", label="after 100 GRPO rounds")
plt.xscale("log", base=2)
plt.xlabel("k")
plt.ylabel("pass@k")
plt.ylim(0, 1.02)
plt.legend()
plt.show()
print(
    f"pass@1 {result['pass_at_1_before']:.1%} -> {result['pass_at_1_after']:.1%} "
    f"in {result['seconds_grpo']:.0f} s of GRPO"
)
