# %% [markdown]
# # Lab: optimism, ε and c on the 10-armed testbed
#
# This notebook runs the code of lesson B0 (`snippets/b0_multi_armed_bandits.py`) on two
# questions the page leaves as exercises: can a *greedy* agent explore if it starts out
# optimistic, and how sensitive are ε-greedy and UCB to their one parameter? Everything is
# vectorised over runs, so each experiment takes about a second.

# %%
import matplotlib.pyplot as plt
import numpy as np

from snippets import b0_multi_armed_bandits as b0
from snippets import common

common.use_course_style()

# %% [markdown]
# ## Optimistic initial values (Sutton & Barto, Figure 2.3)
#
# Start every estimate at Q = 5, far above any arm's true mean, and act greedily with a
# constant step size of 0.1. Every pull then disappoints, so the agent moves on to an arm it has
# not yet been disappointed by: exploration without any randomness in the choice.

# %%
agents = [
    b0.Agent("optimistic greedy, Q1 = 5", initial_value=5.0, step_size=0.1),
    b0.Agent("realistic ε = 0.1, Q1 = 0", epsilon=0.1, step_size=0.1),
]
results = b0.run_testbed(agents, runs=500, steps=1000, arms=10, seed=0)

fig, ax = plt.subplots()
for res in results:
    ax.plot(100 * res.optimal_action, lw=1, label=res.agent.name)
ax.set(xlabel="step", ylabel="% optimal action", ylim=(0, 100))
ax.legend()
plt.show()
for res in results:
    print(
        f"{res.agent.name}: {100 * res.optimal_action[-100:].mean():.1f} % optimal, last 100 steps"
    )

# %% [markdown]
# The optimistic agent is worse for the first few dozen steps (it is busy being disappointed
# by every arm in turn) and clearly better afterwards, because once its estimates have come down
# it stops exploring entirely, while ε-greedy keeps wasting one pull in ten. The trick only
# works at the start: it is no help if the best arm changes later.
#
# ## A parameter study (Sutton & Barto, Figure 2.6)
#
# The average reward over the first 1000 steps, as a function of each method's parameter on a
# log axis. We use 200 runs per point to keep the notebook quick, so expect some noise.

# %%
epsilons = [1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4]
cs = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4]
eps_agents = [b0.Agent(f"eps={e:g}", epsilon=e) for e in epsilons]
ucb_agents = [b0.Agent(f"c={c:g}", ucb_c=c) for c in cs]
eps_scores = [r.average_reward.mean() for r in b0.run_testbed(eps_agents, 200, 1000, 10, 1)]
ucb_scores = [r.average_reward.mean() for r in b0.run_testbed(ucb_agents, 200, 1000, 10, 1)]

fig, ax = plt.subplots()
ax.semilogx(epsilons, eps_scores, "o-", base=2, label="ε-greedy (parameter ε)")
ax.semilogx(cs, ucb_scores, "s-", base=2, label="UCB (parameter c)")
ax.set(xlabel="parameter value", ylabel="average reward, steps 1-1000")
ax.legend()
plt.show()
print("best ε:", epsilons[int(np.argmax(eps_scores))], " best c:", cs[int(np.argmax(ucb_scores))])

# %% [markdown]
# Both curves are inverted U's: too little exploration locks onto a wrong arm, too much wastes
# pulls. UCB's peak is higher (about 1.5 near c = 1, against about 1.33 for ε near 1/16) and
# broader, which is the practical argument for it on stationary problems. Things to try: rerun with `steps=10_000` and watch the best ε move down (the long run
# rewards smaller ε), or replace the Gaussian testbed with Bernoulli arms via
# `b0.run_agent(..., rewards="bernoulli")`.
