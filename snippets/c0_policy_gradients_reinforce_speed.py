"""Lesson C0, timed: REINFORCE in JAX against the same REINFORCE in PyTorch, side by side.

Both train on CartPole-v1 for the same number of episodes per seed, in one process on one
machine, and every timing leaves out JAX's one-off compilation (reported beside it). Two
comparisons answer two questions:

- **like for like**: one seed per call and no ``vmap`` at all (a batch's episodes are played
  one after another, as PyTorch plays them). What does compiling the whole loop, the
  environment included, buy over a Python loop that calls PyTorch and Gymnasium each step?
- **vmapped**: every seed in one call, ``vmap`` over seeds and over a batch's episodes, the
  JAX lesson's default, against PyTorch training the seeds one after another. What does
  vectorising on top of compiling buy, when there are several seeds to train?
"""

# --8<-- [start:imports]
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import torch

from snippets import c0_policy_gradients_reinforce as c0
from snippets import c0_policy_gradients_reinforce_jax as c0j
from snippets import common, curves

# --8<-- [end:imports]


@dataclass(frozen=True)
class Config:
    """What to race: the seeds, the budget per seed and which JAX runs to time against PyTorch."""

    episodes: common.PosInt = 1000  # episodes per seed for both, a multiple of 5
    race: Literal["both", "like-for-like", "vmapped"] = "both"  # which JAX runs to time
    seeds: common.PosInt = 5  # seeds to train in each framework: seed, seed+1, ...


# --8<-- [start:timing]
def time_jax(seeds: list[int], cfg: c0j.Config, vmap_seeds: bool) -> dict[str, Any]:
    """Compile, then run, JAX training; time the two apart.

    JAX dispatches work asynchronously, so the clock stops only once the result is ready
    (``block_until_ready``); compilation happens once, in ``lower(...).compile()``.

    Args:
        seeds: The seeds to train.
        cfg: The JAX lesson's settings (``parallel_episodes`` decides the batch's vmap).
        vmap_seeds: True: one call trains every seed (``vmap``). False: one call per seed.

    Returns:
        ``returns`` (n_seeds, episodes), and the wall-clock ``seconds`` and ``cpu_seconds``
        (CPU time of all this process's threads) of the runs and of the compilation.
    """
    if vmap_seeds:
        train, inputs = c0j.train_many_seeds, [jnp.asarray(seeds)]
    else:
        train, inputs = c0j.train_one_seed, [jax.random.key(s) for s in seeds]
    cpu_start = time.process_time()
    with common.Stopwatch() as compile_watch:
        compiled = jax.jit(train, static_argnums=1).lower(inputs[0], cfg).compile()
    cpu_compiled = time.process_time()
    with common.Stopwatch() as run_watch:
        returns = [np.asarray(compiled(x).block_until_ready()) for x in inputs]
    return {
        "returns": np.concatenate(returns) if vmap_seeds else np.stack(returns),
        "compile_seconds": compile_watch.seconds,
        "compile_cpu_seconds": cpu_compiled - cpu_start,
        "seconds": run_watch.seconds,
        "cpu_seconds": time.process_time() - cpu_compiled,
    }


def time_torch(seeds: list[int], episodes: int) -> dict[str, Any]:
    """Train the PyTorch lesson's REINFORCE on the same seeds and budget, one after another."""
    torch.set_num_threads(1)
    cfg = replace(c0.Config(), episodes=episodes)
    # The first optimizer imports part of torch.compile: pay that outside the timed region.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    cpu_start = time.process_time()
    with common.Stopwatch() as watch:
        runs = [c0.train(cfg, seed, show_progress=False) for seed in seeds]
    return {
        "returns": np.array([r["returns"] for r in runs]),
        "seconds": watch.seconds,
        "cpu_seconds": time.process_time() - cpu_start,
    }


# --8<-- [end:timing]


def race(seeds: list[int], cfg: Config) -> dict[str, dict[str, Any]]:
    """Time PyTorch, then the JAX runs ``cfg.race`` asks for, on the same seeds and budget."""
    jax_cfg = replace(c0j.Config(), episodes=cfg.episodes)
    runs = {"PyTorch": time_torch(seeds, cfg.episodes)}
    if cfg.race in ("both", "like-for-like"):
        one_by_one = replace(jax_cfg, parallel_episodes=False)
        runs["JAX, like for like"] = time_jax(seeds, one_by_one, vmap_seeds=False)
    if cfg.race in ("both", "vmapped"):
        runs["JAX, vmapped"] = time_jax(seeds, jax_cfg, vmap_seeds=True)
    return runs


def summarise(runs: dict[str, dict[str, Any]], seeds: list[int], cfg: Config) -> dict[str, Any]:
    """The JSON line: every run's times and seeds solved, and the speed-ups over PyTorch."""
    torch_run = runs["PyTorch"]
    metrics: dict[str, Any] = {"episodes": cfg.episodes, "seeds": seeds, "runs": {}}
    for name, run in runs.items():
        solved = sum(curves.first_solved(r) is not None for r in run["returns"])
        metrics["runs"][name] = {k: v for k, v in run.items() if k != "returns"}
        metrics["runs"][name]["seeds_solved"] = solved
    if len(runs) == 3:  # two layouts of the same computation: do they play the same episodes?
        same = np.array_equal(
            runs["JAX, like for like"]["returns"], runs["JAX, vmapped"]["returns"]
        )
        metrics["jax_runs_identical"] = bool(same)
    for name, key in (("JAX, like for like", "like_for_like"), ("JAX, vmapped", "vmapped")):
        if name in runs:
            run = runs[name]
            metrics[f"speedup_{key}"] = torch_run["seconds"] / run["seconds"]
            metrics[f"cpu_speedup_{key}"] = torch_run["cpu_seconds"] / run["cpu_seconds"]
            with_compile = run["cpu_seconds"] + run["compile_cpu_seconds"]
            metrics[f"cpu_speedup_{key}_with_compile"] = torch_run["cpu_seconds"] / with_compile
    return metrics


COLORS = ("tab:blue", "tab:orange", "tab:green")  # PyTorch, JAX like for like, JAX vmapped


def plot_race(runs: dict[str, dict[str, Any]], path: str) -> str:
    """Left: every seed's learning curve in both frameworks. Right: the CPU time of each."""
    common.use_course_style()
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[3, 2])
    for (name, run), color, ls in zip(runs.items(), COLORS, ("-", "-", ":"), strict=False):
        for k, r in enumerate(run["returns"]):
            mean = curves.moving_average(r, curves.SOLVED_WINDOW)
            ax.plot(mean, color=color, ls=ls, lw=1, alpha=0.8, label=name if k == 0 else None)
    ax.axhline(curves.SOLVED_RETURN, color="black", ls="--", lw=1)
    ax.set(xlabel="episode", ylabel="100-episode mean return", ylim=(0, 520))
    ax.set_title("Same algorithm: every seed's learning curve")
    ax.legend(loc="lower right", fontsize=8)
    names = [n.replace(", ", "\n") for n in runs]
    train = np.array([run["cpu_seconds"] for run in runs.values()])
    compile_ = np.array([run.get("compile_cpu_seconds", 0.0) for run in runs.values()])
    bars = bx.bar(names, train, color=COLORS[: len(runs)])
    bx.bar(names, compile_, bottom=train, color="lightgrey", label="+ JAX compilation (once)")
    bx.bar_label(bars, labels=[f"{t:.3g} s" for t in train], padding=2, fontsize=8)
    bx.set_yscale("log")
    bx.set_ylim(train.min() / 4, (train + compile_).max() * 3)
    bx.set(ylabel="CPU time of training, log scale (s)")
    episodes, seeds = next(iter(runs.values()))["returns"].shape[::-1]
    bx.set_title(f"{seeds} seed{'s' * (seeds > 1)} x {episodes} episodes")
    bx.legend(loc="upper right", fontsize=8)
    return common.save_figure(fig, path)


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Race JAX against PyTorch on the same seeds and episodes; print the speed-ups."""
    outputs = {"plot": "save the curves-and-times figure here"}
    parser = common.config_parser(
        Config, __doc__, __spec__, quick={"episodes": 10}, outputs=outputs
    )
    cfg, args = common.parse_config(parser, argv)
    if cfg.episodes % c0j.Config.batch_episodes:
        parser.error(f"argument --episodes: must be a multiple of 5, got {cfg.episodes}")
    seeds = [args.seed + k for k in range(cfg.seeds)]
    runs = race(seeds, cfg)
    if args.plot:
        plot_race(runs, args.plot)
    return common.emit_metrics(summarise(runs, seeds, cfg))


if __name__ == "__main__":
    main()
# --8<-- [end:main]
