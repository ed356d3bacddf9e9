"""E0 at scale: how sensitive is REINFORCE to its learning rate? A learning rate x seed sweep.

Each trial is C0's REINFORCE on CartPole with one Adam step size and one seed; Ray Tune runs
the grid, one CPU per trial, on every core of this machine or on a cluster:

    uv run python -m snippets.e0_debugging_common_pitfalls.sweep --plot /tmp/e0_lr_sweep.png
    uv run python -m snippets.e0_debugging_common_pitfalls.sweep --address auto   # a cluster
"""

# --8<-- [start:imports]
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
import torch
from ray import tune

from snippets import c0_policy_gradients_reinforce as c0
from snippets import common

# --8<-- [end:imports]


# --8<-- [start:sweep-config]
@dataclass(frozen=True)
class Config:
    """The grid: step sizes x seeds, each trial a short REINFORCE run on CartPole-v1."""

    learning_rates: str = "0.001,0.003,0.01,0.03,0.1,0.3,1"  # Adam step sizes, comma-separated
    seeds: common.PosInt = 5  # seeds per step size: seed, seed + 1, ...
    episodes: common.PosInt = 300  # episodes per trial (C0 trains for 1000)
    last: common.PosInt = 50  # a trial's score: mean return of its last `last` episodes
    address: str = ""  # join this Ray cluster, HOST:PORT or auto (default: local, every core)


# --8<-- [end:sweep-config]


# --8<-- [start:trial]
def trial(config: dict[str, Any]) -> None:
    """One Tune trial: train REINFORCE with ``config["lr"]`` and ``config["seed"]``, report."""
    torch.set_num_threads(1)  # as C0's command does: one thread is fastest for a tiny network
    cfg = c0.Config(episodes=config["episodes"], learning_rate=config["lr"])
    returns = c0.train(cfg, config["seed"], show_progress=False)["returns"]
    tune.report({"score": float(np.mean(returns[-config["last"] :])), "episodes": len(returns)})


# --8<-- [end:trial]


# --8<-- [start:sweep]
def learning_rates(cfg: Config) -> list[float]:
    """The step sizes of ``cfg.learning_rates``.

    Raises:
        ValueError: If one is not a positive number.
    """
    rates = []
    for text in cfg.learning_rates.split(","):
        try:
            rates.append(float(text))
        except ValueError:
            rates.append(float("nan"))
        if not rates[-1] > 0:
            raise ValueError(f"{text!r} is not a positive number (e.g. 0.001,0.01)")
    return rates


def sweep(cfg: Config, first_seed: int = 0) -> dict[str, Any]:
    """Run every (learning rate, seed) trial with Ray Tune; return the grid of scores.

    Returns:
        ``learning_rates``, ``seeds`` and ``score[i][j]`` for rate i and seed j.
    """
    rates = learning_rates(cfg)
    seeds = list(range(first_seed, first_seed + cfg.seeds))
    started = not ray.is_initialized()  # else use the connection the caller opened
    if started:
        ray.init(
            address=cfg.address or None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    space = {
        "lr": tune.grid_search(rates),
        "seed": tune.grid_search(seeds),
        "episodes": cfg.episodes,
        "last": cfg.last,
    }
    bar = TrialBar(len(rates) * len(seeds))
    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            tune.with_resources(trial, {"cpu": 1}),
            param_space=space,
            tune_config=tune.TuneConfig(reuse_actors=True),  # one process per CPU, not per trial
            run_config=tune.RunConfig(storage_path=storage, verbose=0, callbacks=[bar]),
        )
        with contextlib.redirect_stdout(io.StringIO()):  # Tune's banner names a temporary folder
            results = tuner.fit()
    bar.bar.close()
    if started:
        ray.shutdown()
    score = np.full((len(rates), len(seeds)), np.nan)
    for result in results:
        if result.error is None:
            score[rates.index(result.config["lr"]), seeds.index(result.config["seed"])] = (
                result.metrics["score"]
            )
    return {"learning_rates": rates, "seeds": seeds, "score": score.tolist()}


def summarise(grid: dict[str, Any]) -> dict[str, Any]:
    """Median and interquartile range over seeds for each rate, and the best rate by median."""
    score = np.asarray(grid["score"], dtype=float)
    q25, median, q75 = np.nanpercentile(score, [25, 50, 75], axis=1)
    best = int(np.nanargmax(median))
    return {
        "median": median.tolist(),
        "q25": q25.tolist(),
        "q75": q75.tolist(),
        "best_lr": grid["learning_rates"][best],
        "best_median": float(median[best]),
        "failed_trials": int(np.isnan(score).sum()),
    }


# --8<-- [end:sweep]


# --8<-- [start:sweep-plot]
class TrialBar(tune.Callback):
    """A progress bar over trials that ticks as each one ends."""

    def __init__(self, total: int) -> None:
        self.bar = common.progress_bar("trials", total)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Tick when a trial finishes."""
        self.bar.update()

    on_trial_error = on_trial_complete


def plot(grid: dict[str, Any], path: str) -> str:
    """Left: every trial's score (rate x seed). Right: median and IQR over seeds per rate."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    score, rates, summary = np.asarray(grid["score"]), grid["learning_rates"], summarise(grid)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    image = ax1.imshow(score, cmap="viridis", vmin=0, vmax=500, aspect="auto")
    for (i, j), value in np.ndenumerate(score):
        ax1.text(
            j,
            i,
            f"{value:.0f}",
            ha="center",
            va="center",
            color="white" if value < 250 else "black",
            fontsize=8,
        )
    ax1.set(
        xticks=range(len(grid["seeds"])),
        xticklabels=grid["seeds"],
        xlabel="seed",
        yticks=range(len(rates)),
        yticklabels=[f"{r:g}" for r in rates],
        ylabel="learning rate",
        title="Score of every trial",
    )
    ax1.grid(False)
    fig.colorbar(image, ax=ax1, label="score")
    ax2.plot(rates, summary["median"], "o-", label="median over seeds")
    ax2.fill_between(rates, summary["q25"], summary["q75"], alpha=0.25, label="interquartile range")
    ax2.set(
        xscale="log",
        xlabel="learning rate",
        ylabel="score (mean return, last episodes)",
        title="REINFORCE on CartPole-v1",
        ylim=(0, 510),
    )
    ax2.legend(loc="upper left")
    return common.save_figure(fig, path)


# --8<-- [end:sweep-plot]


# --8<-- [start:sweep-main]
def main(argv: list[str] | None = None) -> dict:
    """Sweep, optionally plot, and print the grid and its summary as one JSON line."""
    quick = {"learning_rates": "0.003,0.03", "seeds": 2, "episodes": 20, "last": 10}
    outputs = {"plot": "write the figure here"}
    parser = common.config_parser(Config, __doc__, __spec__, quick=quick, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    try:
        learning_rates(cfg)
    except ValueError as error:
        parser.error(f"argument --learning-rates: {error}")
    grid = sweep(cfg, args.seed)
    if args.plot:
        plot(grid, args.plot)
    return common.emit_metrics(
        grid | summarise(grid) | {"episodes": cfg.episodes, "last": cfg.last}
    )


if __name__ == "__main__":
    main()
# --8<-- [end:sweep-main]
