# %% [markdown]
# # Lab: watching the Bellman iterations converge
#
# This notebook runs the code of lesson [A3](../../A_foundations/A3_mdp_and_bellman/) and
# looks at something the page only states: how fast iterative policy evaluation and value
# iteration close in on their fixed points, and how that speed depends on the discount.
# Every function used here is imported from `snippets/a3_mdp_and_bellman.py`, the module
# the tests check against Sutton & Barto.

# %%
import matplotlib.pyplot as plt
import numpy as np

from snippets import a3_mdp_and_bellman as a3
from snippets import common

common.use_course_style()

# %% [markdown]
# ## Distance to the fixed point, sweep by sweep
#
# We apply the Bellman operators by hand for 300 sweeps and record the largest error
# against the exact answer (the linear solve for the random policy, and value iteration
# run to 1e-12 for the optimal values).


# %%
def error_curve(mdp, target, policy=None, sweeps=300):
    """Max error after each sweep: policy evaluation if a policy is given, else value iteration."""
    v = np.zeros(mdp.n_states)
    errors = []
    for _ in range(sweeps):
        q = a3.q_values(mdp, v)
        backup = (policy * q).sum(axis=1) if policy is not None else q.max(axis=1)
        v = np.where(mdp.terminal, 0.0, backup)
        errors.append(np.max(np.abs(v - target)))
    return np.array(errors)


fig, ax = plt.subplots()
for gamma in (0.5, 0.9, 0.99):
    mdp = a3.sutton_barto_5x5(gamma)
    pi = a3.uniform_policy(mdp)
    v_pi = a3.evaluate_policy_exact(mdp, pi)
    ax.semilogy(error_curve(mdp, v_pi, policy=pi), label=f"evaluation, gamma={gamma}")
    v_star, _ = a3.value_iteration(mdp, tol=1e-12)
    ax.semilogy(error_curve(mdp, v_star), "--", label=f"value iteration, gamma={gamma}")
ax.set_xlabel("sweep")
ax.set_ylabel("max |v_k - v|")
ax.set_ylim(1e-12, 1e3)
ax.legend(ncol=2, fontsize=8)
ax.set_title("Both iterations are gamma-contractions")
plt.show()

# %% [markdown]
# The straight lines on a log axis are the contraction at work: the error shrinks by a
# factor of about gamma per sweep. With gamma = 0.99 a hundred sweeps buy only one digit,
# which is why long-horizon problems are slow to solve and why later lessons use
# discounts like 0.99 with care.
#
# ## The optimal values and policy
#
# The same figure as on the lesson page, drawn by the tested plotting function.

# %%
mdp = a3.sutton_barto_5x5()
v_star, sweeps = a3.value_iteration(mdp)
panel = (f"v* after {sweeps} sweeps", v_star, a3.greedy_policy(mdp, v_star))
fig = a3.plot_values_and_policy(mdp, [panel])
plt.show()
