"""Benchmark: run every hands-on lesson over several seeds and record what it achieves.

Each lesson runs exactly as a reader runs it, ``python -m snippets.<lesson> --seed S``, in
its own process; the benchmark reads the JSON line the lesson prints last. It writes the raw
numbers to ``results/benchmark.json`` and the learning-curve figure to
``docs/assets/figures/results_cartpole_curves.png``; ``python -m snippets.regenerate --render``
then renders the tables the pages include from that JSON and nothing else. Running one lesson
updates only that lesson's entry, so lessons can be benchmarked one at a time.

The lesson x seed grid runs one task after another, or with ``--ray`` as Ray tasks on every
core (``--address`` joins a cluster). Either way a failed run is retried once and finished
runs are kept as they come in.
"""

# --8<-- [start:imports]
from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from snippets import common, curves, manifest

# --8<-- [end:imports]

ROOT = Path(__file__).resolve().parents[1]


# --8<-- [start:lessons]
@dataclass(frozen=True)
class Lesson:
    """How to benchmark one lesson: which number to read and what it must reach."""

    module: str  # snippets.<module>
    metric: str  # key of the lesson's final JSON line; "/" walks into nested objects and lists
    check: str  # ">=", "<=" or "~" (within `tolerance` of `target`)
    target: float
    target_text: str  # the target in words, as the results table shows it
    reference: str  # the published or computed anchor
    args: tuple[str, ...] = ()  # extra arguments for the default run
    curve: bool = False  # the lesson can write a learning curve with --curve PATH
    tolerance: float = 0.0
    also: tuple[tuple[str, str, float], ...] = ()  # further (metric, check, bound) to meet
    vectorised: bool = False  # trains every seed in one process (--seeds N): run it once
    seeds: tuple[int, ...] = ()  # always these seeds, whatever --seed/--seeds say (held-back seeds)

    def value(self, metrics: dict, metric: str | None = None) -> float:
        """Read this lesson's metric (or another one) out of one run's JSON line."""
        node = metrics
        for key in (metric or self.metric).split("/"):
            node = node[int(key)] if isinstance(node, list) else node[key]
        return float(node)

    def met(self, metrics: dict) -> bool:
        """Whether one run meets the target and every further condition."""
        value = self.value(metrics)
        ok = (
            abs(value - self.target) <= self.tolerance
            if self.check == "~"
            else _holds(value, self.check, self.target)
        )
        return ok and all(_holds(self.value(metrics, m), c, b) for m, c, b in self.also)


def _holds(value: float, check: str, bound: float) -> bool:
    return value >= bound if check == ">=" else value <= bound


def lessons_from_manifest() -> dict[str, Lesson]:
    """Every benchmark entry of ``lessons.toml``, by name (``"b1-8x8"``)."""
    found = {}
    for lesson in manifest.lessons():
        for entry in lesson.benchmark:
            fields = {k: v for k, v in entry.items() if k != "name"}
            fields.setdefault("module", lesson.modules[0].name)
            fields["args"] = tuple(fields.get("args", ()))
            fields["also"] = tuple(tuple(condition) for condition in fields.get("also", ()))
            fields["seeds"] = tuple(fields.get("seeds", ()))
            found[entry["name"]] = Lesson(**fields)
    return found


LESSONS: dict[str, Lesson] = lessons_from_manifest()


@dataclass(frozen=True)
class Config:
    """What a benchmark run measures and where it writes (paths relative to the repository)."""

    seeds: common.PosInt = 5  # seeds per lesson: seed, seed + 1, ... (a vectorised lesson: one run)
    out: str = "results"  # folder for benchmark.json
    figure: str = "docs/assets/figures/results_cartpole_curves.png"  # the learning-curve figure
    ray: bool = False  # run the lesson x seed grid as Ray tasks (default: one run after another)
    address: str = ""  # join this Ray cluster, HOST:PORT or auto (implies --ray; default: local)


# --8<-- [end:lessons]


# --8<-- [start:run]
@dataclass(frozen=True)
class Task:
    """One cell of the lesson x seed grid: one fresh process running one lesson's command."""

    module: str
    args: tuple[str, ...]
    curve: bool
    seed: int
    quick: bool
    seeds: int  # > 1 for a vectorised lesson, which trains seeds seed..seed+seeds-1 at once

    @property
    def key(self) -> str:
        """The task as text: how the partial-results file finds a run finished earlier."""
        return json.dumps(asdict(self), sort_keys=True)


def tasks_for(name: str, first_seed: int, seeds: int, quick: bool = False) -> list[Task]:
    """The runs one benchmark entry needs: one per seed, or one for a vectorised lesson.

    Entries with the same command (D3's three methods, trained in one process per seed)
    get equal tasks, so a grid runs each of them once. An entry that names its ``seeds``
    runs exactly those.
    """
    lesson = LESSONS[name]
    if lesson.vectorised:
        return [Task(lesson.module, lesson.args, lesson.curve, first_seed, quick, seeds)]
    chosen = lesson.seeds or range(first_seed, first_seed + seeds)
    return [Task(lesson.module, lesson.args, lesson.curve, seed, quick, 1) for seed in chosen]


def run_task(task: Task, env: dict[str, str | None] | None = None) -> dict:
    """Run one task in a fresh process; return its metrics, wall time and learning curve.

    ``env`` sets (or, with ``None``, unsets) variables of the lesson's process: a Ray
    worker passes the driver's thread settings, so a run gives the same numbers wherever
    it runs.

    Raises:
        RuntimeError: If the lesson exits with an error.
    """
    with tempfile.TemporaryDirectory() as tmp:
        curve_path = Path(tmp) / "curve.json"
        cmd = [
            sys.executable,
            "-m",
            f"snippets.{task.module}",
            "--seed",
            str(task.seed),
            *task.args,
        ]
        if task.seeds > 1:
            cmd += ["--seeds", str(task.seeds)]
        if task.quick:
            cmd.append("--quick")
        if task.curve:
            cmd += ["--curve", str(curve_path)]
        variables = {**os.environ, "RL_COURSE_PROGRESS": "0", "WANDB_MODE": "disabled"}
        for name, value in (env or {}).items():
            if value is None:
                variables.pop(name, None)
            else:
                variables[name] = value
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=variables)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed: {result.stderr.strip()[-2000:]}")
        metrics = json.loads(result.stdout.strip().splitlines()[-1])
        curve = curves.read_curve(curve_path) if task.curve and curve_path.exists() else None
    return {
        "seed": task.seed,
        "wall_seconds": round(seconds, 1),
        "metrics": metrics,
        "curve": curve,
    }


# --8<-- [end:run]


# --8<-- [start:executors]
Finished = Iterator[tuple[Task, dict | None]]  # each task once, with its run (None: failed twice)


def _failed(task: Task, error: Exception, attempt: int) -> None:
    """Report a failed run on stderr in one line; the grid goes on."""
    last = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    again = "retrying once" if attempt == 1 else "giving up on this run"
    print(f"benchmark: {task.module} seed {task.seed} failed ({last}); {again}", file=sys.stderr)


def run_sequentially(tasks: list[Task]) -> Finished:
    """Run the tasks one after another in this process's machine, each retried once."""
    for task in tasks:
        for attempt in (1, 2):
            try:
                yield task, run_task(task)
                break
            except RuntimeError as error:
                _failed(task, error, attempt)
        else:
            yield task, None


def _on_ray_node(task: Task, env: dict[str, str | None]) -> dict:
    """A Ray task: run one lesson where Ray placed it, and say on which node."""
    import ray

    return run_task(task, env) | {"node": ray.get_runtime_context().get_node_id()[:8]}


def run_on_ray(tasks: list[Task], address: str = "") -> Finished:
    """Run the tasks as Ray tasks, one CPU each, yielding runs as they finish.

    With no ``address`` Ray starts locally on every core; ``HOST:PORT`` or ``auto`` joins a
    running cluster. Started from ``uv run``, Ray ships this folder and the locked
    environment to every worker node, so a node needs only uv and the package index.
    """
    import ray

    started = not ray.is_initialized()  # else use the connection the caller opened
    if started:
        ray.init(
            address=address or None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    remote = ray.remote(num_cpus=1, max_retries=0)(_on_ray_node)
    # Ray sets OMP_NUM_THREADS=1 in its workers; the lesson gets the driver's setting instead.
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    pending = {remote.remote(task, env): (task, 1) for task in tasks}
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            task, attempt = pending.pop(ref)
            try:
                yield task, ray.get(ref)
            except ray.exceptions.RayError as error:
                _failed(task, error, attempt)
                if attempt == 1:
                    pending[remote.remote(task, env)] = (task, 2)
                else:
                    yield task, None
    finally:
        if started:
            ray.shutdown()


# --8<-- [end:executors]


# --8<-- [start:grid]
def run_grid(
    names: list[str],
    first_seed: int,
    seeds: int,
    quick: bool,
    out: Path,
    finished: Callable[[list[Task]], Finished],
) -> None:
    """Run every lesson x seed task, saving each lesson's entry as soon as its runs are in.

    Every finished run is also appended to ``benchmark.partial.jsonl``: an interrupted
    benchmark keeps it, and the next one with the same settings starts where that stopped.
    """
    plan = {name: tasks_for(name, first_seed, seeds, quick) for name in names}
    partial_file = out / "benchmark.partial.jsonl"
    lines = partial_file.read_text().splitlines() if partial_file.exists() else []
    runs = {row["key"]: row["run"] for row in map(json.loads, lines)}
    todo = list(dict.fromkeys(t for tasks in plan.values() for t in tasks if t.key not in runs))
    failed: set[str] = set()
    saved: set[str] = set()
    save_ready(out, plan, runs, failed, saved)  # lessons an interrupted benchmark finished
    out.mkdir(parents=True, exist_ok=True)
    for task, run in common.progress(finished(todo) if todo else [], "runs", total=len(todo)):
        if run is None:
            failed.add(task.key)
        else:
            runs[task.key] = run
            with partial_file.open("a") as file:
                file.write(json.dumps({"key": task.key, "run": run}) + "\n")
        save_ready(out, plan, runs, failed, saved)
    partial_file.unlink(missing_ok=True)


def save_ready(
    out: Path, plan: dict[str, list[Task]], runs: dict[str, dict], failed: set[str], saved: set[str]
) -> None:
    """Save the entry of every lesson whose tasks have all finished, once."""
    for name, tasks in plan.items():
        if name in saved or any(t.key not in runs and t.key not in failed for t in tasks):
            continue
        saved.add(name)
        ok = [runs[t.key] for t in tasks if t.key in runs]
        lost = [t.seed for t in tasks if t.key not in runs]
        if ok:
            save_entry(out, name, entry(name, ok, tasks[0].seeds, tasks[0].quick, lost))
        else:
            print(f"benchmark: no run of {name} finished; nothing saved", file=sys.stderr)


def entry(name: str, runs: list[dict], seeds_per_run: int, quick: bool, lost: list[int]) -> dict:
    """One lesson's entry in ``benchmark.json``: its target, the machine, the runs, a summary."""
    lesson = LESSONS[name]
    return {
        "module": lesson.module,
        "metric": lesson.metric,
        "target_text": lesson.target_text,
        "reference": lesson.reference,
        "args": list(lesson.args) + (["--quick"] if quick else []),
        "seeds_per_run": seeds_per_run,
        "date": dt.date.today().isoformat(),
        "machine": machine_description(),
        "summary": summarise(lesson, runs) | ({"failed_seeds": lost} if lost else {}),
        "runs": runs,
    }


def summarise(lesson: Lesson, runs: list[dict]) -> dict:
    """Median, interquartile range and how many seeds met the target."""
    walls = np.array([run["wall_seconds"] for run in runs], dtype=float)
    summary = _quartiles([lesson.value(run["metrics"]) for run in runs])
    summary |= {
        "met": int(sum(lesson.met(run["metrics"]) for run in runs)),
        "seeds": len(runs),
        "median_wall_seconds": round(float(np.median(walls)), 1),
    }
    if lesson.also:
        summary["also"] = {
            m: _quartiles([lesson.value(run["metrics"], m) for run in runs])
            for m, _, _ in lesson.also
        }
    return summary


def _quartiles(values: list[float]) -> dict:
    q25, median, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {
        "median": round(float(median), 4),
        "q25": round(float(q25), 4),
        "q75": round(float(q75), 4),
    }


# --8<-- [end:grid]


# --8<-- [start:report]
def machine_description() -> dict:
    """The facts a reader needs to compare their numbers with ours."""
    versions = {}
    for package in ("torch", "jax", "gymnasium", "stable-baselines3", "transformers", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            versions[package] = "absent"
    return {
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


def lesson_label(name: str) -> str:
    """``"b1-8x8"`` -> ``"B1 (8x8)"``: the lesson, then the variant."""
    lesson, _, variant = name.partition("-")
    return f"{lesson.upper()} ({variant})" if variant else lesson.upper()


def plot_curves(results: dict, path: Path) -> Path | None:
    """Median and interquartile band of every lesson that recorded learning curves."""
    import matplotlib.pyplot as plt

    curved = {n: e for n, e in results["lessons"].items() if any(r["curve"] for r in e["runs"])}
    if not curved:
        return None
    common.use_course_style()
    fig, ax = plt.subplots()
    for name, entry in sorted(curved.items()):
        seed_curves = [r["curve"] for r in entry["runs"] if r["curve"]]
        grid = np.linspace(0, min(max(c["x"]) for c in seed_curves), 100)
        ys = np.array([np.interp(grid, c["x"], c["y"]) for c in seed_curves])
        q25, median, q75 = np.percentile(ys, [25, 50, 75], axis=0)
        label = f"{lesson_label(name)} {seed_curves[0].get('label', '')} ({len(seed_curves)} seeds)"
        ax.plot(grid, median, label=label)
        ax.fill_between(grid, q25, q75, alpha=0.2)
    solved = curves.SOLVED_RETURN
    ax.axhline(solved, color="grey", ls="--", lw=1, label=f"solved ({solved:g})")
    ax.set_xlabel(seed_curves[0].get("x_label", "environment steps"))
    ax.set_ylabel("return")
    ax.set_title("CartPole-v1: median and interquartile range over seeds")
    ax.legend(loc="center right")
    return Path(common.save_figure(fig, path))


def save_entry(out: Path, name: str, entry: dict) -> dict:
    """Put one lesson's entry into ``benchmark.json``; return all results."""
    json_path = out / "benchmark.json"
    # Re-read just before writing: benchmarks of other lessons may run at the same time.
    results = json.loads(json_path.read_text()) if json_path.exists() else {"lessons": {}}
    results["lessons"][name] = entry
    out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    return results


# --8<-- [end:report]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Benchmark the chosen lessons and update the results files."""
    parser = common.config_parser(Config, __doc__, __spec__)
    parser.add_argument(
        "--lesson",
        action="append",
        choices=sorted(LESSONS),
        help="lesson to run (repeatable; default: every lesson)",
    )
    cfg, args = common.parse_config(parser, argv)
    names = args.lesson or sorted(LESSONS)
    out = ROOT / cfg.out  # an absolute path stays as it is
    use_ray = cfg.ray or bool(cfg.address)
    finished = partial(run_on_ray, address=cfg.address) if use_ray else run_sequentially
    run_grid(names, args.seed, cfg.seeds, args.quick, out, finished)
    results = json.loads((out / "benchmark.json").read_text())
    plot_curves(results, ROOT / cfg.figure)
    summaries = {n: results["lessons"][n]["summary"] for n in names if n in results["lessons"]}
    return common.emit_metrics(summaries | {"out": str(out), "ray": use_ray})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
