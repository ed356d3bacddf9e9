"""Lesson C0 in JAX: CartPole written in JAX and REINFORCE trained on many seeds at once.

The algorithm is the one of ``c0_policy_gradients_reinforce`` (same network, same
reward-to-go, same baseline, same loss, same Adam), but the environment is a pure JAX
function too. A whole training run then becomes one compiled program: ``lax.scan`` over
the 500 steps of an episode, ``vmap`` over the episodes of a batch, ``lax.scan`` over the
updates, and ``vmap`` over seeds, so five seeds train in one call. The ablation that shows
what makes REINFORCE stable is run here, ten seeds per variant. The race against the
PyTorch version is in ``c0_policy_gradients_reinforce_speed``.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from snippets import c0_policy_gradients_reinforce as reinforce
from snippets import common, curves
from snippets.c0_policy_gradients_reinforce import advantages_from_returns

# --8<-- [end:imports]

Params = dict[str, jax.Array]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config(reinforce.Hyperparameters):
    """The PyTorch lesson's hyperparameters, two settings of the compiled loop, and the seeds."""

    max_steps: common.PosInt = 500  # CartPole-v1's time limit: every scanned episode's length
    parallel_episodes: bool = True  # vmap a batch's episodes (False: one after another)
    seeds: common.PosInt = 5  # seeds trained together in one vmapped call: seed, seed+1, ...


# --8<-- [end:config]


# --8<-- [start:cartpole]
class CartPole(NamedTuple):
    """Gymnasium CartPole-v1's constants (classic_control/cartpole.py)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02  # seconds per step
    theta_threshold: float = 12 * 2 * np.pi / 360
    x_threshold: float = 2.4


CARTPOLE = CartPole()


def cartpole_reset(key: jax.Array) -> jax.Array:
    """Initial state (x, x_dot, theta, theta_dot), each uniform in [-0.05, 0.05]."""
    return jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)


def cartpole_step(
    state: jax.Array, action: jax.Array, p: CartPole = CARTPOLE
) -> tuple[jax.Array, jax.Array]:
    """One explicit-Euler step of the cart-pole equations of motion, as in Gymnasium.

    Args:
        state: ``(x, x_dot, theta, theta_dot)``.
        action: 0 pushes the cart left, 1 pushes it right.
        p: Physical constants.

    Returns:
        ``(next_state, terminated)``: terminated is True once the pole leans past 12
        degrees or the cart leaves [-2.4, 2.4]. The reward is +1 for every step taken.
    """
    x, x_dot, theta, theta_dot = state
    force = jnp.where(action == 1, p.force_mag, -p.force_mag)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    total_mass = p.masspole + p.masscart
    polemass_length = p.masspole * p.length
    temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
    theta_acc = (p.gravity * sin - cos * temp) / (
        p.length * (4.0 / 3.0 - p.masspole * cos**2 / total_mass)
    )
    x_acc = temp - polemass_length * theta_acc * cos / total_mass
    next_state = jnp.stack(
        [
            x + p.tau * x_dot,
            x_dot + p.tau * x_acc,
            theta + p.tau * theta_dot,
            theta_dot + p.tau * theta_acc,
        ]
    )
    x, theta = next_state[0], next_state[2]
    terminated = (jnp.abs(x) > p.x_threshold) | (jnp.abs(theta) > p.theta_threshold)
    return next_state, terminated


# --8<-- [end:cartpole]


# --8<-- [start:policy]
def init_policy(key: jax.Array, obs_dim: int = 4, n_actions: int = 2, hidden: int = 32) -> Params:
    """Initialise the same network as the PyTorch lesson (``nn.Linear``'s uniform init).

    Weights are stored ``(in, out)`` so that a layer is ``x @ w + b``.
    """
    k1, k2, k3, k4 = jax.random.split(key, 4)

    def uniform(k: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
        bound = 1.0 / np.sqrt(fan_in)
        return jax.random.uniform(k, shape, minval=-bound, maxval=bound)

    return {
        "w1": uniform(k1, (obs_dim, hidden), obs_dim),
        "b1": uniform(k2, (hidden,), obs_dim),
        "w2": 0.01 * uniform(k3, (hidden, n_actions), hidden),  # start near-uniform
        "b2": jnp.zeros((n_actions,)),
    }


def policy_logits(params: Params, obs: jax.Array) -> jax.Array:
    """Action logits for observations of shape ``(..., obs_dim)``."""
    return jnp.tanh(obs @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


# --8<-- [end:policy]


# --8<-- [start:rollout]
class Episode(NamedTuple):
    """One episode padded to ``max_steps``: arrays of shape ``(max_steps, ...)``."""

    obs: jax.Array
    actions: jax.Array
    mask: jax.Array  # 1.0 while the episode runs (CartPole's reward), then 0.0


def play_episode(params: Params, key: jax.Array, max_steps: int = 500) -> Episode:
    """Play one episode as a ``lax.scan`` over ``max_steps`` steps.

    A compiled loop needs a fixed length, so the scan always runs ``max_steps`` steps;
    after termination the state is frozen and ``mask`` is 0, which removes those steps
    from the returns and the loss.
    """
    reset_key, noise_key = jax.random.split(key)
    # Gumbel-max trick, as in the PyTorch version: argmax(logits + g) samples softmax(logits).
    noise = jax.random.gumbel(noise_key, (max_steps, 2))  # CartPole has 2 actions

    def step(carry: tuple, g: jax.Array) -> tuple[tuple, tuple]:
        state, alive = carry
        action = jnp.argmax(policy_logits(params, state) + g)
        next_state, terminated = cartpole_step(state, action)
        mask = alive.astype(jnp.float32)
        state = jnp.where(alive & ~terminated, next_state, state)
        return (state, alive & ~terminated), (carry[0], action, mask)

    init = (cartpole_reset(reset_key), jnp.array(True))
    _, (obs, actions, mask) = jax.lax.scan(step, init, noise)
    return Episode(obs, actions, mask)


# --8<-- [end:rollout]


# --8<-- [start:returns]
def discounted_returns(rewards: jax.Array, gamma: float) -> jax.Array:
    """Reward-to-go ``G_t = R_{t+1} + gamma G_{t+1}`` along the last axis (a reverse scan).

    ``rewards[..., t]`` is ``R_{t+1}``; padding carries zero reward, so it changes nothing.
    """

    def back(running: jax.Array, r: jax.Array) -> tuple[jax.Array, jax.Array]:
        running = r + gamma * running
        return running, running

    rewards_t = jnp.moveaxis(rewards, -1, 0)
    _, returns = jax.lax.scan(back, jnp.zeros(rewards_t.shape[1:]), rewards_t, reverse=True)
    return jnp.moveaxis(returns, 0, -1)


# --8<-- [end:returns]


# --8<-- [start:loss]
def reinforce_loss(
    params: Params,
    obs: jax.Array,
    actions: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    entropy_coef: float = 0.0,
) -> jax.Array:
    """The same surrogate loss as the PyTorch lesson, as a function of the parameters."""
    log_probs = jax.nn.log_softmax(policy_logits(params, obs), axis=-1)
    taken = jnp.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
    entropy = -(jnp.exp(log_probs) * log_probs).sum(-1)
    n = mask.sum()
    pg_term = -(taken * jax.lax.stop_gradient(advantages) * mask).sum() / n
    return pg_term - entropy_coef * (entropy * mask).sum() / n


# --8<-- [end:loss]


# --8<-- [start:adam]
class AdamState(NamedTuple):
    """First and second moment estimates and the step count."""

    mu: Params
    nu: Params
    count: jax.Array


def adam_init(params: Params) -> AdamState:
    """Zero moments, like ``torch.optim.Adam`` at construction."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    return AdamState(zeros, zeros, jnp.array(0))


def adam_step(
    params: Params, grads: Params, state: AdamState, lr: float
) -> tuple[Params, AdamState]:
    """One Adam step (the defaults of ``torch.optim.Adam``: betas 0.9, 0.999, eps 1e-8)."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    count = state.count + 1
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g**2, state.nu, grads)
    mu_hat = jax.tree.map(lambda m: m / (1 - b1**count), mu)
    nu_hat = jax.tree.map(lambda v: v / (1 - b2**count), nu)
    params = jax.tree.map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + eps), params, mu_hat, nu_hat)
    return params, AdamState(mu, nu, count)


# --8<-- [end:adam]


# --8<-- [start:train]
def train_one_seed(key: jax.Array, cfg: Config) -> jax.Array:
    """A whole REINFORCE run as one pure function; returns every episode's return.

    Args:
        key: The run's PRNG key (network initialisation and all sampling).
        cfg: Hyperparameters (static: they fix the shapes of the compiled program).

    Returns:
        Episode returns, shape ``(n_updates * batch_episodes,)``, in the order played.
    """
    init_key, key = jax.random.split(key)
    params = init_policy(init_key, hidden=cfg.hidden)

    def update(carry: tuple, update_key: jax.Array) -> tuple[tuple, jax.Array]:
        params, opt_state = carry
        keys = jax.random.split(update_key, cfg.batch_episodes)
        if cfg.parallel_episodes:  # the batch's episodes side by side, as one vector program
            batch = jax.vmap(play_episode, in_axes=(None, 0, None))(params, keys, cfg.max_steps)
        else:  # one after another, as the PyTorch lesson plays them
            batch = jax.lax.map(lambda k: play_episode(params, k, cfg.max_steps), keys)
        returns = discounted_returns(batch.mask, cfg.gamma)  # CartPole: reward = mask
        adv = advantages_from_returns(returns, batch.mask, cfg.baseline, cfg.normalize)
        grads = jax.grad(reinforce_loss)(
            params, batch.obs, batch.actions, adv, batch.mask, cfg.entropy_coef
        )
        params, opt_state = adam_step(params, grads, opt_state, cfg.learning_rate)
        return (params, opt_state), batch.mask.sum(-1)

    n_updates = cfg.episodes // cfg.batch_episodes
    _, returns = jax.lax.scan(update, (params, adam_init(params)), jax.random.split(key, n_updates))
    return returns.reshape(-1)


def train_many_seeds(seeds: jax.Array, cfg: Config) -> jax.Array:
    """Train one independent run per seed, all at once: ``vmap`` over the seed's key.

    Returns:
        Episode returns, shape ``(n_seeds, episodes)``.
    """
    keys = jax.vmap(jax.random.key)(seeds)
    return jax.vmap(train_one_seed, in_axes=(0, None))(keys, cfg)


train_many_seeds_jit = jax.jit(train_many_seeds, static_argnums=1)


# --8<-- [end:train]


# --8<-- [start:ablation]
ABLATION: dict[str, dict[str, Any]] = {
    "vanilla: 1 episode per step, no baseline": {"batch_episodes": 1, "baseline": False},
    "+ 5 episodes per step": {"baseline": False},
    "+ leave-one-out baseline (the lesson's default)": {},
    "default + entropy bonus 0.01": {"entropy_coef": 0.01},
}


def run_ablation(seeds: list[int], cfg: Config) -> dict[str, np.ndarray]:
    """Train every variant of :data:`ABLATION` on the same seeds (one vmapped call each).

    Returns:
        Variant name -> episode returns of shape ``(n_seeds, episodes)``.
    """
    return {
        name: np.asarray(train_many_seeds_jit(jnp.asarray(seeds), replace(cfg, **changes)))
        for name, changes in ABLATION.items()
    }


def ablation_summary(returns: np.ndarray) -> dict[str, Any]:
    """Seeds that reached 475, the median episode they did, and how many ended there."""
    hits = [curves.first_solved(r) for r in returns]
    reached = [h for h in hits if h is not None]
    final = returns[:, -curves.SOLVED_WINDOW :].mean(axis=1)
    return {
        "seeds": len(returns),
        "solved": len(reached),
        "median_solved_at": float(np.median(reached)) if reached else None,
        "solved_at_end": int(sum(final >= curves.SOLVED_RETURN)),
        "median_final_mean_return": float(np.median(final)),
    }


# --8<-- [end:ablation]


# --8<-- [start:plot]
def plot_ablation(results: dict[str, np.ndarray], path: str) -> str:
    """Median and interquartile band of the 100-episode mean return, one line per variant."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, returns in results.items():
        means = np.array([curves.moving_average(r, curves.SOLVED_WINDOW) for r in returns])
        q25, med, q75 = np.percentile(means, [25, 50, 75], axis=0)
        s = ablation_summary(returns)
        label = (
            f"{name}\n  solved {s['solved']}/{s['seeds']}, still at the end {s['solved_at_end']}"
        )
        line = ax.plot(med, label=label)[0]
        ax.fill_between(np.arange(len(med)), q25, q75, color=line.get_color(), alpha=0.15)
    ax.axhline(curves.SOLVED_RETURN, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("episode")
    ax.set_ylabel("100-episode mean return (median, IQR)")
    seeds = len(next(iter(results.values())))
    ax.set_title(f"What makes REINFORCE stable on CartPole ({seeds} seeds each, JAX)")
    ax.set_ylim(0, 520)
    ax.legend(loc="lower right", fontsize=8)
    return common.save_figure(fig, path)


# --8<-- [end:plot]


def summarise(returns: np.ndarray, seeds: list[int], cfg: Config) -> dict[str, Any]:
    """The JSON line: per seed, when the 100-episode mean first reached 475 and where it ended."""
    per_seed = [
        {"seed": seed, **reinforce.seed_summary(r)} for seed, r in zip(seeds, returns, strict=True)
    ]
    summary = reinforce.seeds_summary(per_seed)
    return {"episodes": cfg.episodes, **summary, "runs": per_seed, "config": asdict(cfg)}


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Train REINFORCE in JAX on several seeds at once, and optionally the ablation."""
    ablation = "train the ablation; save its figure"
    parser = reinforce.command_line(Config, __doc__, __spec__, {"episodes": 20}, ablation=ablation)
    cfg, args = common.parse_config(parser, argv)
    if cfg.episodes % cfg.batch_episodes:
        parser.error(
            f"argument --episodes: must be a multiple of {cfg.batch_episodes}, got {cfg.episodes}"
        )
    seeds = [args.seed + k for k in range(cfg.seeds)]
    with common.Stopwatch() as watch:  # compilation included
        returns = np.asarray(train_many_seeds_jit(jnp.asarray(seeds), cfg))
    metrics = summarise(returns, seeds, cfg) | {"seconds": watch.seconds}
    if args.ablation:
        ablation = run_ablation(seeds, cfg)
        plot_ablation(ablation, args.ablation)
        metrics["ablation"] = {name: ablation_summary(r) for name, r in ablation.items()}
    if args.curve:  # CartPole pays +1 per step: the returns are the episode lengths
        x, y = curves.mean_episode_curve(returns, returns)
        curves.write_curve(args.curve, x, y, label="REINFORCE (JAX, C0)")
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
