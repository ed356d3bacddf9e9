"""Tests for lesson C0's race: JAX against PyTorch on the same seeds and episodes."""

from __future__ import annotations

import json
from dataclasses import replace

import jax
import numpy as np
import pytest

from snippets import c0_policy_gradients_reinforce_speed as speed


@pytest.fixture(autouse=True, scope="module")
def _fast_compiles():
    """Compile with XLA's optimisations off: these tests check what is timed, not speed."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def test_quick_race_times_pytorch_and_both_jax_runs(tmp_path, capsys) -> None:
    plot = tmp_path / "race.png"
    metrics = speed.main(["--quick", "--seeds", "2", "--plot", str(plot)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert list(metrics["runs"]) == ["PyTorch", "JAX, like for like", "JAX, vmapped"]
    for name in ("like_for_like", "vmapped"):
        run = metrics["runs"][f"JAX, {name.replace('_', ' ')}"]
        assert run["compile_seconds"] > 0 and run["seconds"] > 0
        torch_seconds = metrics["runs"]["PyTorch"]["seconds"]
        assert metrics[f"speedup_{name}"] == pytest.approx(torch_seconds / run["seconds"], rel=1e-3)
    assert plot.stat().st_size > 10_000


def test_one_seed_per_call_without_vmap_learns_exactly_as_the_vmapped_run() -> None:
    # "Like for like" changes how the work is laid out, not the work: same keys, same episodes.
    cfg = speed.c0j.Config(episodes=10, max_steps=60)
    sequential = speed.time_jax([3, 4], replace(cfg, parallel_episodes=False), vmap_seeds=False)
    vmapped = speed.time_jax([3, 4], cfg, vmap_seeds=True)
    assert sequential["returns"].shape == vmapped["returns"].shape == (2, 10)
    np.testing.assert_array_equal(sequential["returns"], vmapped["returns"])
