# %% [markdown]
# # Lab: one Blackjack state, two ways to sample it
#
# This notebook uses the vectorised Blackjack replica of lesson B2
# (`snippets/b2_monte_carlo_methods.py`, checked card for card against Gymnasium by the tests)
# to estimate the value of a single state, player 13 with a usable ace against a dealer's 2,
# under the stick-on-20 policy. Sutton & Barto report -0.27726 (Example 5.4). We compare
# ordinary games, where the state turns up by chance, with games that all start in it, and look
# at the error bars.

# %%
import matplotlib.pyplot as plt
import numpy as np

from snippets import b2_monte_carlo_methods as b2
from snippets import common

common.use_course_style()

TABLE = b2.policy_table_of(b2.stick_on_20)
STATE = b2.blackjack_index((13, 2, 1))  # (player sum, dealer card, usable ace)
BOOK = -0.27726


def returns_ordinary(games, rng):
    """Returns that followed the state in ordinary games (those that passed through it)."""
    player = b2.draw_cards((games, b2.MAX_CARDS), rng)
    dealer = b2.draw_cards((games, b2.MAX_CARDS), rng)
    states, rewards = b2.play_blackjack(player, dealer, TABLE)
    return rewards[(states == STATE).any(axis=1)]


def returns_fixed_start(games, rng):
    """Returns of games that all start in the state: ace + 2 against a dealer's 2."""
    player = b2.draw_cards((games, b2.MAX_CARDS), rng)
    dealer = b2.draw_cards((games, b2.MAX_CARDS), rng)
    player[:, 0], player[:, 1], dealer[:, 0] = 1, 2, 2
    return b2.play_blackjack(player, dealer, TABLE)[1]


# %% [markdown]
# ## Estimates with one-standard-error bars
#
# The standard error of a mean of n returns is their standard deviation over the square root of
# n. The only difference between the two samplers is n: how many of the games visit the state.

# %%
rng = np.random.default_rng(0)
sizes = [3_000, 10_000, 30_000, 100_000]
fig, ax = plt.subplots()
for name, sampler, marker in (
    ("ordinary starts", returns_ordinary, "o"),
    ("fixed start", returns_fixed_start, "s"),
):
    means, errors, counts = [], [], []
    for games in sizes:
        r = sampler(games, rng)
        means.append(r.mean() if len(r) else np.nan)
        errors.append(r.std() / np.sqrt(len(r)) if len(r) > 1 else np.nan)
        counts.append(len(r))
    ax.errorbar(sizes, means, yerr=errors, marker=marker, capsize=3, label=name)
    print(f"{name:15s} returns used: {counts}, last estimate {means[-1]:.4f} ± {errors[-1]:.4f}")
ax.axhline(BOOK, color="k", ls="--", lw=1, label="Sutton & Barto: -0.27726")
ax.set(xscale="log", xlabel="games played", ylabel="estimated value", ylim=(-1.0, 0.5))
ax.legend()
plt.show()

# %% [markdown]
# With ordinary starts only about one game in a thousand passes through the state, so even
# 100 000 games leave an error bar of roughly ±0.1; when every game starts there, every game
# counts and the bar is thirty times narrower. Choosing where episodes start is also the idea
# behind *exploring starts* (Sutton & Barto, section 5.3), which draw the first state and action
# at random so that Monte Carlo *control* gets estimates for every state-action pair, not just
# the ones the current policy happens to visit. The catch is the same: you must be able to put
# the environment into any state you like, which a simulator allows and the real world rarely
# does.
#
# Things to try: change the policy to stick on 17 (`lambda obs: b2.STICK if obs[0] >= 17 else
# b2.HIT`) and see how the value of this state changes, or pick a state of your own with
# `b2.blackjack_index`.
