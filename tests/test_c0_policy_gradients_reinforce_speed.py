"""Tests for lesson C0's race: JAX against PyTorch on the same seeds and episodes."""

from __future__ import annotations

import json

import jax
import pytest

from snippets import c0_policy_gradients_reinforce_speed as speed


@pytest.fixture(autouse=True, scope="module")
def _fast_compiles():
    """Compile with XLA's optimisations off: these tests check what is timed, not speed."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def test_quick_race_times_pytorch_and_both_jax_runs_on_the_same_episodes(tmp_path, capsys) -> None:
    plot = tmp_path / "race.png"
    metrics = speed.main(["--quick", "--seeds", "2", "--plot", str(plot)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics
    assert list(metrics["runs"]) == ["PyTorch", "JAX, like for like", "JAX, vmapped"]
    for name in ("like_for_like", "vmapped"):
        run = metrics["runs"][f"JAX, {name.replace('_', ' ')}"]
        assert run["compile_cpu_seconds"] > 0 and run["cpu_seconds"] > 0
        torch_cpu = metrics["runs"]["PyTorch"]["cpu_seconds"]
        assert metrics[f"cpu_speedup_{name}"] == pytest.approx(
            torch_cpu / run["cpu_seconds"], rel=0.01
        )
    # "Like for like" changes how the work is laid out, not the work: same keys, same episodes.
    assert metrics["jax_runs_identical"] is True
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv",
    [
        "--episodes 7",
        "--race fast",
        "--seeds 0",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("c0_policy_gradients_reinforce_speed", argv)
