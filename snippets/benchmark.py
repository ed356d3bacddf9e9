"""Benchmark: run every hands-on lesson over several seeds and record what it achieves.

Each lesson runs exactly as a reader runs it, ``python -m snippets.<lesson> --seed S``, in
its own process; the benchmark reads the JSON line the lesson prints last. It writes the raw
numbers to ``results/benchmark.json``, the table the results page includes to
``results/table.md`` (rendered from that JSON and nothing else) and the learning-curve
figure to ``docs/assets/figures/results_cartpole_curves.png``. Running one lesson updates only
that lesson's entry, so lessons can be benchmarked one at a time.
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
from dataclasses import dataclass
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
            found[entry["name"]] = Lesson(**fields)
    return found


LESSONS: dict[str, Lesson] = lessons_from_manifest()


@dataclass(frozen=True)
class Config:
    """What a benchmark run measures and where it writes (paths relative to the repository)."""

    seeds: common.PosInt = 5  # seeds per lesson: seed, seed + 1, ... (a vectorised lesson: one run)
    out: str = "results"  # folder for benchmark.json and table.md
    figure: str = "docs/assets/figures/results_cartpole_curves.png"  # the learning-curve figure


# --8<-- [end:lessons]


# --8<-- [start:run]
_RUNS: dict[tuple, dict] = {}  # entries with the same command share one run (D3's methods)


def run_lesson(lesson: Lesson, seed: int, quick: bool = False, seeds: int = 1) -> dict:
    """Run one lesson once in a fresh process and return its metrics, wall time and curve.

    ``seeds`` > 1 is for vectorised lessons, which train seeds ``seed..seed+seeds-1`` at once.
    Entries whose command is the same (module and arguments) share a run, so D3's three
    methods, trained in one process per seed, are measured once.

    Raises:
        RuntimeError: If the lesson exits with an error.
    """
    key = (lesson.module, lesson.args, lesson.curve, seed, quick, seeds)
    if key not in _RUNS:
        _RUNS[key] = _run_once(lesson, seed, quick, seeds)
    return _RUNS[key]


def _run_once(lesson: Lesson, seed: int, quick: bool, seeds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        curve_path = Path(tmp) / "curve.json"
        cmd = [sys.executable, "-m", f"snippets.{lesson.module}", "--seed", str(seed), *lesson.args]
        if seeds > 1:
            cmd += ["--seeds", str(seeds)]
        if quick:
            cmd.append("--quick")
        if lesson.curve:
            cmd += ["--curve", str(curve_path)]
        start = time.perf_counter()
        env = {**os.environ, "RL_COURSE_PROGRESS": "0", "WANDB_MODE": "disabled"}
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
        metrics = json.loads(result.stdout.strip().splitlines()[-1])
        curve = curves.read_curve(curve_path) if lesson.curve and curve_path.exists() else None
    return {"seed": seed, "wall_seconds": round(seconds, 1), "metrics": metrics, "curve": curve}


def measure(name: str, first_seed: int, seeds: int, quick: bool = False) -> dict:
    """Run one lesson over ``seeds`` seeds; return its entry for ``benchmark.json``."""
    lesson = LESSONS[name]
    if lesson.vectorised:
        runs = [run_lesson(lesson, first_seed, quick=quick, seeds=seeds)]
    else:
        todo = common.progress(range(seeds), desc=name, total=seeds)
        runs = [run_lesson(lesson, first_seed + k, quick=quick) for k in todo]
    return {
        "module": lesson.module,
        "metric": lesson.metric,
        "target_text": lesson.target_text,
        "reference": lesson.reference,
        "args": list(lesson.args) + (["--quick"] if quick else []),
        "seeds_per_run": seeds if lesson.vectorised else 1,
        "date": dt.date.today().isoformat(),
        "machine": machine_description(),
        "summary": summarise(lesson, runs),
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


# --8<-- [end:run]


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


def _label(name: str) -> str:
    """``"b1-8x8"`` -> ``"B1 (8x8)"``: the lesson, then the variant."""
    lesson, _, variant = name.partition("-")
    return f"{lesson.upper()} ({variant})" if variant else lesson.upper()


def render_table(results: dict) -> str:
    """The Markdown table the results page includes, built from the JSON alone.

    Below it, one line per machine and date says where the numbers come from.
    """
    lines = [
        "| lesson | metric | target | reference | median [IQR] over seeds | seeds meeting target | wall time per seed (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    where: dict[str, list[str]] = {}
    for name in sorted(results["lessons"]):
        entry = results["lessons"][name]
        s = entry["summary"]
        value = f"{s['median']:g} [{s['q25']:g}, {s['q75']:g}]"
        for metric, q in s.get("also", {}).items():
            value += f"; `{metric}` {q['median']:g} [{q['q25']:g}, {q['q75']:g}]"
        met = f"{s['met']} / {s['seeds']}"
        if entry.get("seeds_per_run", 1) > 1:
            met += f" run ({entry['seeds_per_run']} seeds in it)"
        lines.append(
            f"| {_label(name)} `{entry['module']}` | `{entry['metric']}` | {entry['target_text']} "
            f"| {entry['reference']} | {value} | {met} | {s['median_wall_seconds']:g} s |"
        )
        m = entry["machine"]
        versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        key = (
            f"{entry['date']}: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, {versions}"
        )
        where.setdefault(key, []).append(_label(name))
    lines.append("")
    lines += [f"- **Run on {key}**: {', '.join(names)}." for key, names in where.items()]
    return "\n".join(lines) + "\n"


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
        label = f"{_label(name)} {seed_curves[0].get('label', '')} ({len(seed_curves)} seeds)"
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
    """Put one lesson's entry into ``benchmark.json``, re-render ``table.md``; return all results."""
    json_path = out / "benchmark.json"
    # Re-read just before writing: benchmarks of other lessons may run at the same time.
    results = json.loads(json_path.read_text()) if json_path.exists() else {"lessons": {}}
    results["lessons"][name] = entry
    out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    (out / "table.md").write_text(render_table(results))
    return results


# --8<-- [end:report]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Benchmark the chosen lessons and update the results files."""
    parser = common.config_parser(Config, __doc__, prog="python -m snippets.benchmark")
    parser.add_argument(
        "--lesson",
        action="append",
        choices=sorted(LESSONS),
        help="lesson to run (repeatable; default: every lesson)",
    )
    cfg, args = common.parse_config(parser, argv)
    names = args.lesson or sorted(LESSONS)
    out = ROOT / cfg.out  # an absolute path stays as it is
    for name in names:
        results = save_entry(out, name, measure(name, args.seed, cfg.seeds, args.quick))
    plot_curves(results, ROOT / cfg.figure)
    summaries = {name: results["lessons"][name]["summary"] for name in names}
    return common.emit_metrics(summaries | {"out": str(out)})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
