# %% [markdown]
# # Lab: inside the mini RLHF pipeline
#
# This notebook opens up lesson [D2](../../D_rlhf/D2_rlhf_llm_with_pytorch/). It first runs
# a few pieces live — the tokenizer with left padding, a short pretraining run, the hidden
# rater — and then loads the per-iteration logs that the default pipeline wrote
# (`--save-logs`) to look at every health metric of the two PPO runs, with and without the
# KL penalty. Everything is imported from the package `snippets/d2_rlhf_llm_with_pytorch/`,
# the code the tests check. It runs in seconds on a laptop CPU, most of it importing torch.

# %%
import json
import warnings
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

# transformers imports tqdm.auto, which warns in a notebook without ipywidgets; we draw no bars
warnings.filterwarnings("ignore", message="IProgress not found")

from snippets import common  # noqa: E402
from snippets import d2_rlhf_llm_with_pytorch as d2  # noqa: E402
from snippets.d2_rlhf_llm_with_pytorch import report  # noqa: E402

common.use_course_style()
torch.set_num_threads(1)  # the model is tiny: one thread is the fastest on a laptop CPU

# %% [markdown]
# ## 1. Left padding, positions and the pad token
#
# Three prompts of different lengths become one tensor. The pad token (id 0) is not the
# end-of-sequence token (id 1), padding sits on the left so that every prompt ends in the
# last column, and positions are counted from each prompt's first real token: exactly what
# `generate` does, and what every forward pass of the lesson uses.

# %%
config = d2.Config()
rng = common.seed_everything(0)
lm, tokenizer = d2.load_policy_and_tokenizer("tiny", config)
batch = tokenizer(["the acting", "i loved this", "overall"], padding=True, return_tensors="pt")
for ids, positions in zip(
    batch["input_ids"], d2.position_ids_from_mask(batch["attention_mask"]), strict=True
):
    print(f"{str(tokenizer.convert_ids_to_tokens(ids.tolist())):45} positions {positions.tolist()}")
print("pad id", tokenizer.pad_token_id, "| eos id", tokenizer.eos_token_id)

# %% [markdown]
# ## 2. A short pretraining run, and what the hidden rater thinks
#
# Eighty steps on batches of 32 reviews (the lesson uses 500 steps of 64) teach the model
# which word follows which; whole sentences take longer. The gold rater scores each sample:
# positive words count once each, broken word pairs cost 2, repeated words 1, and a review
# that never ends 2.

# %%
losses = d2.pretrain(lm, tokenizer, replace(config, pretrain_steps=80, pretrain_batch=32), rng)
rollout = d2.generate(lm, tokenizer, d2.sample_prompts(rng, 128), config)
quality = d2.text_quality(tokenizer, rollout)
print(
    f"loss {losses[0]:.2f} -> {losses[-1]:.2f}",
    f"grammatical samples: {quality['grammatical']:.0%}",
)
for words, gold in list(zip(quality["words"], quality["gold"], strict=True))[:8]:
    print(f"gold {gold:+.0f}  {' '.join(words)}")

fig, (ax_loss, ax_gold) = plt.subplots(1, 2, figsize=(10, 3.4))
ax_loss.plot(losses)
ax_loss.set(title="pretraining loss", xlabel="step", ylabel="cross-entropy (nats/token)")
ax_gold.hist(quality["gold"], bins=np.arange(-8.5, 8.5), color="C1")
ax_gold.set(title="gold score of 128 samples", xlabel="gold score", ylabel="count")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The reward model's training, and the checkpoint it kept
#
# `python -m snippets.d2_rlhf_llm_with_pytorch --save-logs docs/assets/figures/d2_default_run.json`
# wrote the numbers from here on (minutes: too long to rerun at every site build). The
# reward model's training loss is noisy, because its labels are; the loss on the validation
# pairs, measured a few times per epoch, decides which weights are kept.

# %%
run = json.loads(report.RUN_JSON.read_text())
losses = run["rm_losses"]
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(np.arange(1, len(losses) + 1), losses, color="C0", alpha=0.35, label="training batch")
ax.plot(run["rm_valid_steps"], run["rm_valid_losses"], "o-", color="C1", label="validation pairs")
ax.axvline(run["rm_best_step"], color="C2", ls="--", label="kept")
ax.set(title="reward model: Bradley-Terry loss", xlabel="step", ylabel="loss")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The default run's logs, metric by metric
#
# The first row is what you optimise and what you want; the second row is what you watch
# to know whether the run is healthy.

# %%
panels = [
    ("rm_score", "reward-model score"),
    ("gold_score", "gold score (hidden)"),
    ("kl", "KL to reference (nats)"),
    ("grammatical", "grammatical share"),
    ("entropy", "entropy (nats/token)"),
    ("clip_fraction", "clip fraction"),
    ("kl_coef", "KL coefficient beta"),
    ("length", "completion length (tokens)"),
]
labels = {"kl": "with KL penalty", "no_kl": "KL penalty off"}
fig, axes = plt.subplots(2, 4, figsize=(13, 6))
for ax, (key, title) in zip(axes.flat, panels, strict=True):
    for name, log in run["logs"].items():
        ax.plot(log[key], label=labels[name])
    ax.set(title=title, xlabel="PPO iteration")
axes[0, 0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Without the penalty the share of grammatical reviews drops to zero and the completions
# grow towards the 16-token limit: the policy has found a region where the reward model
# keeps paying and the rater does not. Its entropy first rises while it leaves the SFT model's
# distribution, then falls as it settles on repeating one word. With the penalty, beta
# falls while the KL is below the controller's 4-nat target and rises once it overshoots.
#
# ## 5. Gold score against distance from the start
#
# Gao et al. (2022) plot the gold reward against the square root of the KL from the initial
# policy. The same picture from our two runs: the penalised run stays at small KL, where
# proxy and gold rise together; the unpenalised run walks far away, and the gold score
# turns down while the proxy keeps rising.

# %%
fig, (ax_gold, ax_proxy) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, log in run["logs"].items():
    distance = np.sqrt(np.maximum(log["kl"], 0.0))
    ax_gold.plot(distance, log["gold_score"], "o-", ms=3, label=labels[name])
    ax_proxy.plot(distance, log["rm_score"], "o-", ms=3, label=labels[name])
ax_gold.set(title="gold score", xlabel="sqrt(KL) from the SFT model", ylabel="mean score")
ax_proxy.set(title="reward-model score", xlabel="sqrt(KL) from the SFT model")
ax_gold.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Before and after
#
# The same evaluation prompts (before the bar) completed by the SFT model and by the two
# PPO policies.

# %%
for name in ("sft", "kl", "no_kl"):
    ev = run["evals"][name]
    print(f"--- {name}: gold {ev['gold_mean']:+.2f}, KL {ev['kl']:.1f} nats,", end=" ")
    print(f"grammatical {ev['grammatical']:.0%}")
    print("\n".join(ev["samples"][:5]))

# %% [markdown]
# ## Try it
#
# - Rerun section 2 with 300 steps of 64 reviews: how much does the grammatical share improve?
# - Run the pipeline with a different `--kl-coef` (for example 0.02 or 0.5) and `--save-logs`,
#   then point sections 3 to 6 at your file: where does the gold score peak as beta shrinks?
