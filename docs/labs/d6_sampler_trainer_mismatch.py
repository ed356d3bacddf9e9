# %% [markdown]
# # Lab: a sampler that is not the trainer, and what each correction does
#
# This notebook opens up the exact half of lesson
# [D6](../../D_rlhf/D6_sampler_trainer_mismatch/). It computes TRL's importance-sampling
# weights on one small batch, then, on the quick testbed (vocabulary 3, length 3: 27
# sequences per prompt), measures exactly how biased the policy gradient is when the sampler
# is stale, in bf16, at another temperature or top-p, with and without each correction.
# Last, it sweeps the cap $C$ of truncated IS and plots bias against variance. Everything is
# imported from `snippets/d6_sampler_trainer_mismatch/`, the code the tests check.

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import torch

from snippets import common
from snippets.d4_grpo_in_practice import exact as d4_exact
from snippets.d6_sampler_trainer_mismatch import correction, exact

common.use_course_style()
torch.set_num_threads(1)  # many small tensor ops: one thread is the fastest

# %% [markdown]
# ## 1. TRL's four weights on one batch
#
# Two completions of three tokens; the second one's last token is padding. The numbers are
# $\log \pi_\theta - \log \mu$ per token. Token modes keep one weight per token; sequence
# modes **sum** the log-ratios (the ratio of whole sequences), then clamp (`*_truncate`) or
# zero (`*_mask`) what leaves $[C_{\min}, C_{\max}]$.

# %%
gap = torch.tensor([[math.log(2.0), math.log(4.0), math.log(0.5)], [math.log(0.1), 0.0, 0.0]])
mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
for mode in correction.MODES:
    w = correction.is_weights(gap, torch.zeros_like(gap), mask, mode, 0.2, 3.0)
    print(f"{mode:18s}", [[round(x, 3) for x in row] for row in w.tolist()])

# %% [markdown]
# ## 2. The exact bias of every correction
#
# The quick configuration of the lesson's command. Each cell is the relative error
# $\lVert \mathbb{E}[\hat g] - \nabla J \rVert / \lVert \nabla J \rVert$ of the expected
# gradient when the tokens come from the sampler; 0 means unbiased.

# %%
cfg = exact.Config(vocab=3, length=3, batches=50)
found = exact.mismatch_tables(cfg, seed=0)
fixes = list(correction.corrections(cfg.clip_min, cfg.clip_max))
print(f"{'sampler':12s}" + "".join(f"{f:>18s}" for f in fixes))
for case, row in found["bias"].items():
    errors = [row["corrections"][f]["relative_error"] for f in fixes]
    print(f"{case:12s}" + "".join(f"{e:18.4f}" for e in errors))

# %% [markdown]
# Sequence-level IS (and TRL's sequence modes while nothing is clamped or masked) removes the
# bias whenever the sampler can draw every sequence; token-level IS only shrinks it. Top-p
# is the exception: the sequences it never draws are missing from every estimate, and no
# weight can bring them back.
#
# ## 3. The cap trades bias for variance
#
# On the stalest case: bias² is exact, the variance is sampled from batches of 64 sequences
# per prompt, both relative to $\lVert \nabla J \rVert^2$.

# %%
t = found["tradeoff"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, mode in zip(axes, ("token_truncate", "sequence_truncate"), strict=True):
    for key in ("bias2", "variance", "mse"):
        ax.loglog(t["caps"], [max(v, 1e-6) for v in t[mode][key]], "o-", label=key)
    ax.set(xlabel="cap C", title=f"{mode} ({t['case']})")
axes[0].set_ylabel("relative to ‖∇J‖²")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. A bigger batch moves the best cap
#
# The bias does not depend on the batch; the variance falls as one over it. So the cap with
# the smallest mean squared error moves towards "no cap" as the batch grows.

# %%
logits = d4_exact.draw_logits(d4_exact.Config(cfg.vocab, cfg.length, cfg.scale), 0, 5)
rewards = d4_exact.pass_fail(cfg.vocab, cfg.length)
sampler, trainer = exact.mismatches(cfg, logits, rewards)[t["case"]]
for batch in (16, 256):
    sweep = exact.cap_tradeoff(dataclasses.replace(cfg, batch=batch), sampler, trainer, rewards, 0)
    for mode in ("token_truncate", "sequence_truncate"):
        best = min(zip(sweep[mode]["mse"], sweep["caps"], strict=True))[1]
        print(f"batch {batch:3d}, {mode:17s}: smallest MSE at", "no cap" if best > 1e5 else best)
