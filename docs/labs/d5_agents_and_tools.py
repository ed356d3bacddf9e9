# %% [markdown]
# # Lab: a multi-turn episode, token by token
#
# This notebook opens up lesson [D5](../../D_rlhf/D5_agents_and_tools/). It plays one
# episode of the calculator environment by hand, shows where decoding and re-encoding would
# change the ids, draws which tokens the loss may touch, and computes the per-turn credit of
# a small group. Then it plots the training curves of the page's run from its record (the
# run takes minutes; the lab takes seconds). Everything is imported from
# `snippets/d5_agents_and_tools/`, the code the tests check.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch

from snippets import common
from snippets.d5_agents_and_tools import env as tool_env
from snippets.d5_agents_and_tools import report, rollout, train

common.use_course_style()
torch.set_num_threads(1)  # a tiny model: one thread is the fastest on a laptop CPU

# %% [markdown]
# ## 1. One episode, played by the script that writes the demonstrations
#
# `reset` gives the task's ids; each `step` takes the ids of one turn and returns the
# observation's ids. The trajectory is their concatenation, with a mask that says which ids
# the policy wrote.

# %%
cfg = tool_env.EnvConfig()
tokenizer = tool_env.build_tokenizer(0, cfg)
env = tool_env.CalcEnv(tokenizer, cfg)
episode = train.demonstration(env, seed=3, style="correct", rng=np.random.default_rng(0))
print(tokenizer.decode(episode.ids))
print("kinds:", episode.kinds, " reward:", episode.reward, " terminated:", episode.terminated)

# %% [markdown]
# ## 2. Which tokens are actions
#
# Each square is one token: dark where the model wrote it (the loss counts it), light where
# the task or the calculator wrote it (the loss must not).

# %%
pieces = [tokenizer.decode([i]).replace("\n", "⏎") for i in episode.ids]
fig, ax = plt.subplots(figsize=(min(0.42 * len(pieces), 16), 1.4))
ax.imshow([episode.action_mask], cmap="Blues", vmin=-0.3, vmax=1.3, aspect="auto")
ax.set_xticks(range(len(pieces)), pieces, rotation=90, fontsize=8)
ax.set_yticks([])
ax.set_title("action mask: 1 = sampled by the policy, 0 = task or tool output")
plt.show()

# %% [markdown]
# ## 3. Retokenisation drift
#
# Decode the whole trajectory to text and encode it again: the ids change where a turn meets
# an observation, so a trainer that re-encodes scores tokens the sampler never produced.

# %%
again = rollout.retokenize(tokenizer, episode.ids)
at = rollout.first_drift(episode.ids, again)
print(
    f"{len(episode.ids)} ids sampled/observed, {len(again)} after re-encoding; first drift at {at}"
)
print("sampled   :", [tokenizer.decode([i]) for i in episode.ids[at - 2 : at + 3]])
print("re-encoded:", [tokenizer.decode([i]) for i in again[at - 2 : at + 3]])

# %% [markdown]
# ## 4. Per-turn credit, turn by turn
#
# Four scripted episodes of one task: one correct, two with a broken call, one direct guess.
# GRPO's trajectory advantage gives every token of an episode the same number; the
# `turn_reward` arm adds a credit that separates a call the calculator ran from one it
# refused, in the turn that made it (answer turns get none).

# %%
group = [
    train.demonstration(env, seed=5, style=style, rng=np.random.default_rng(i))
    for i, style in enumerate(["correct", "malformed", "malformed", "direct"])
]
batch = rollout.collate(group, tokenizer.pad_token_id)
advantages = train.losses.group_advantages(batch.rewards, group_size=4)
credit = train.turn_credit(batch, group_size=4)
for row, t in enumerate(group):
    per_turn = torch.unique_consecutive(credit[row][batch.action_mask[row] > 0])
    print(
        f"{' + '.join(t.kinds):22s} reward {t.reward:.0f}  advantage {advantages[row]:+.2f}"
        f"  turn credit {', '.join(f'{x:+.2f}' for x in per_turn.tolist())}"
    )

# %% [markdown]
# ## 5. The page's run, from its record
#
# The lesson's command writes every step of every arm to `docs/assets/figures/d5_run.json`.

# %%
record = json.loads(report.RECORD.read_text())
report.history_figure(record, "the page's run (seed 0)")
plt.show()
