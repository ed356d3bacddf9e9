"""Tests for lesson C0 in JAX: CartPole dynamics vs Gymnasium, losses vs PyTorch, learning."""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from snippets import c0_policy_gradients_reinforce as c0
from snippets import c0_policy_gradients_reinforce_jax as c0j
from snippets import curves

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="module")
def _fast_compiles():
    """Compile with XLA's optimisations off: these tests check numbers, not speed.

    A training run's program takes ~12 CPU-seconds to compile optimised and ~4 without.
    """
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def test_jax_cartpole_matches_gymnasium_state_by_state_for_1000_random_steps() -> None:
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    step = jax.jit(c0j.cartpole_step)
    obs, _ = env.reset(seed=0)
    state = jnp.asarray(env.unwrapped.state, dtype=jnp.float32)
    terminations = 0
    for _ in range(1000):
        action = int(rng.integers(2))
        obs, _, terminated, truncated, _ = env.step(action)
        state, jax_terminated = step(state, jnp.asarray(action))
        np.testing.assert_allclose(np.asarray(state), obs, rtol=0, atol=1e-5)
        assert bool(jax_terminated) == terminated
        if terminated or truncated:  # re-sync: copy the fresh Gymnasium state into JAX
            terminations += terminated
            env.reset()
            state = jnp.asarray(env.unwrapped.state, dtype=jnp.float32)
    assert terminations > 20  # random play ends an episode every ~20 steps


def test_jax_reset_draws_states_in_gymnasium_range() -> None:
    reset_many = jax.jit(jax.vmap(c0j.cartpole_reset))
    states = reset_many(jax.random.split(jax.random.key(0), 1000))
    assert float(states.min()) >= -0.05 and float(states.max()) <= 0.05
    assert float(jnp.abs(states).mean()) == pytest.approx(0.025, abs=0.003)


def _torch_to_jax(policy: c0.Policy) -> dict:
    first, last = policy.net[0], policy.net[2]
    return {
        "w1": jnp.asarray(first.weight.detach().numpy().T),
        "b1": jnp.asarray(first.bias.detach().numpy()),
        "w2": jnp.asarray(last.weight.detach().numpy().T),
        "b2": jnp.asarray(last.bias.detach().numpy()),
    }


def test_torch_and_jax_losses_and_gradients_agree_on_the_same_trajectories() -> None:
    torch.manual_seed(0)
    policy = c0.Policy(4, 2, hidden=16)
    with torch.no_grad():  # a non-uniform policy, so the comparison is not trivial
        policy.net[2].weight.normal_(0, 0.5)
    env = gym.make("CartPole-v1")
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    episodes = [c0.play_episode(env, policy, rng) for _ in range(4)]

    # PyTorch side: the lesson's own pipeline, pieces taken from update_policy
    returns, mask = c0.pad_episodes([c0.discounted_returns(r, 0.99) for _, _, r in episodes])
    adv = c0.advantages_from_returns(returns, mask)
    obs = np.zeros((*mask.shape, 4), np.float32)
    acts = np.zeros(mask.shape, np.int64)
    for i, (o, a, _) in enumerate(episodes):
        obs[i, : len(a)], acts[i, : len(a)] = o, a
    t_loss = c0.reinforce_loss(
        policy(torch.from_numpy(obs)),
        torch.from_numpy(acts),
        torch.tensor(adv, dtype=torch.float32),
        torch.tensor(mask, dtype=torch.float32),
        0.01,
    )
    t_loss.backward()

    # JAX side: same parameters, same trajectories, its own returns/baseline/loss
    params = _torch_to_jax(policy)
    j_mask = jnp.asarray(mask, jnp.float32)
    j_returns = jax.jit(c0j.discounted_returns)(j_mask, 0.99)  # CartPole: reward = 1 per step
    np.testing.assert_allclose(np.asarray(j_returns), returns, rtol=1e-5)
    j_adv = jax.jit(c0j.advantages_from_returns)(j_returns, j_mask)
    np.testing.assert_allclose(np.asarray(j_adv), adv, atol=1e-4)
    args = (jnp.asarray(obs), jnp.asarray(acts), j_adv, j_mask, 0.01)
    j_loss, j_grads = jax.jit(jax.value_and_grad(c0j.reinforce_loss))(params, *args)
    assert float(j_loss) == pytest.approx(t_loss.item(), abs=1e-5)
    np.testing.assert_allclose(
        np.asarray(j_grads["w1"]), policy.net[0].weight.grad.numpy().T, atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(j_grads["b2"]), policy.net[2].bias.grad.numpy(), atol=1e-5
    )


def test_jax_and_torch_configs_share_their_defaults() -> None:
    t, j = c0.Config(), c0j.Config()
    for name in (
        "episodes",
        "batch_episodes",
        "gamma",
        "learning_rate",
        "hidden",
        "baseline",
        "normalize",
        "entropy_coef",
    ):
        assert getattr(t, name) == getattr(j, name), name


def test_handwritten_adam_matches_torch_adam() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 2, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    params = {"w": jnp.asarray(w.detach().numpy())}
    state = c0j.adam_init(params)
    adam = jax.jit(c0j.adam_step)
    for k in range(5):
        g = np.full((3, 2), 0.3 * (k + 1), np.float32) * np.arange(6, dtype=np.float32).reshape(
            3, 2
        )
        opt.zero_grad()
        w.grad = torch.from_numpy(g.copy())
        opt.step()
        params, state = adam(params, {"w": jnp.asarray(g)}, state, 0.05)
    np.testing.assert_allclose(np.asarray(params["w"]), w.detach().numpy(), atol=1e-5)


def test_masked_rollout_stops_counting_at_termination() -> None:
    params = c0j.init_policy(jax.random.key(0), hidden=8)
    ep = jax.jit(c0j.play_episode, static_argnums=2)(params, jax.random.key(1), 100)
    mask = np.asarray(ep.mask)
    length = int(mask.sum())
    assert 5 < length < 100  # a random policy falls within a few dozen steps
    assert np.all(mask[:length] == 1) and np.all(mask[length:] == 0)
    # the last real step is the one that terminated: replay it with the dynamics
    _, term = c0j.cartpole_step(ep.obs[length - 1], ep.actions[length - 1])
    assert bool(term)


def test_vmapped_seeded_short_run_clearly_improves_return() -> None:
    cfg = replace(c0j.Config(), episodes=200, max_steps=200)
    returns = np.asarray(c0j.train_many_seeds_jit(jnp.arange(2), cfg))
    assert returns.shape == (2, 200)
    again = np.asarray(c0j.train_many_seeds_jit(jnp.arange(2), cfg))
    np.testing.assert_array_equal(returns, again)  # same seeds, same numbers
    first, last = returns[:, :25].mean(), returns[:, -25:].mean()
    assert first < 40
    assert last > 3 * first


def test_cli_quick_run_prints_metrics_and_writes_curve(tmp_path, capsys) -> None:
    curve = tmp_path / "curve.json"
    metrics = c0j.main(["--quick", "--seeds", "2", "--curve", str(curve)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert metrics["episodes"] == 20 and [r["seed"] for r in metrics["runs"]] == [0, 1]
    assert metrics["seeds_solved"] == 0 and 8 < metrics["best_mean_return"] < 60
    assert curves.read_curve(curve)["x_label"] == "environment steps"


def test_ablation_summary_counts_by_hand() -> None:
    # 100-episode mean of "climbs" at episode e >= 100 is 400 + (e - 100): 475 at e = 175.
    climbs = np.concatenate([np.full(100, 400.0), np.full(100, 500.0)])
    falls = np.concatenate([np.full(100, 500.0), np.full(100, 0.0)])  # 475 at 100, ends at 0
    never = np.full(200, 300.0)
    s = c0j.ablation_summary(np.stack([climbs, falls, never]))
    assert s == {
        "seeds": 3,
        "solved": 2,
        "median_solved_at": 137.5,  # episodes 175 and 100
        "solved_at_end": 1,  # only "climbs" is still at 500 over its last 100 episodes
        "median_final_mean_return": 300.0,  # of 500, 0 and 300
    }


@pytest.mark.parametrize(
    "argv",
    [
        "--episodes 7",
        "--seeds 0",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("c0_policy_gradients_reinforce_jax", argv)
