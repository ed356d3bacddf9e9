"""Regenerate every measured number and every figure the lesson pages show.

A page never types a measured number. The commands the pages quote are listed once, as
``[[lesson.run]]`` tables in ``lessons.toml``; this package runs them as a reader would, each in
its own process (writing its figures), and keeps the JSON line each printed in
``results/runs/<run>.json``. This package is the one place where Markdown is made from a run:
small renderers, one module ``views_<idea>.py`` per chapter or kind of page (each with a
``VIEWS`` dict, found by that file name), turn those records, the JSON files the runs write
and the benchmark's ``results/benchmark.json`` into the Markdown the pages include
(``results/runs/<view>.md``). ``tests/test_regenerate.py`` re-renders every view and fails on
any difference. A view whose records do not exist yet is not written.

    uv run python -m snippets.regenerate                 # every run, figure and table
    uv run python -m snippets.regenerate --lesson B1     # one lesson's runs, then all tables
    uv run python -m snippets.regenerate --render        # re-render the tables, run nothing
    uv run python -m snippets.regenerate --list          # the commands, and what they write
"""

# --8<-- [start:imports]
from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snippets import benchmark, common, manifest
from snippets.regenerate.helpers import View

# --8<-- [end:imports]

ROOT = Path(__file__).resolve().parents[2]
RUNS_DIR = ROOT / "results" / "runs"
FIGURES_DIR = ROOT / "docs" / "assets" / "figures"
BENCHMARK_JSON = ROOT / "results" / "benchmark.json"


# --8<-- [start:runs]
@dataclass(frozen=True)
class Run:
    """One command a page quotes: ``python -m snippets.<module> <args>``.

    In ``args``, ``{figures}`` stands for the figures folder (``docs/assets/figures``) and
    ``{tmp}`` for a scratch folder shared by all runs of one invocation, so that one run can
    read a file another wrote (C1's comparison curve comes from C0's run).
    """

    name: str  # the record is results/runs/<name>.json
    lesson: str  # page stem, e.g. "B1_tabular_q_learning"
    module: str
    args: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()  # files the run writes into {figures}
    keep: tuple[str, ...] = ()  # JSON files the run writes into {tmp}, kept in the record

    def argv(self, figures: Path, tmp: Path) -> list[str]:
        """The arguments with the folders filled in."""
        return [a.replace("{figures}", str(figures)).replace("{tmp}", str(tmp)) for a in self.args]

    def command(self) -> str:
        """The command as a reader types it from the repository root."""
        shown = self.argv(Path("docs/assets/figures"), Path("/tmp/rl-course"))
        return " ".join(["uv run python -m", f"snippets.{self.module}", *shown])


def runs_from_manifest() -> dict[str, Run]:
    """Every ``[[lesson.run]]`` of ``lessons.toml``, by name, in course order."""
    found = {}
    for lesson in manifest.lessons():
        for entry in lesson.runs:
            args = tuple(entry.get("args", ()))
            figures = entry.get("figures") or [
                a.removeprefix("{figures}/") for a in args if a.startswith("{figures}/")
            ]
            module = entry.get("module", lesson.modules[0].name)
            keep = tuple(entry.get("keep", ()))
            found[entry["name"]] = Run(
                entry["name"], lesson.stem, module, args, tuple(figures), keep
            )
    return found


RUNS: dict[str, Run] = runs_from_manifest()
# --8<-- [end:runs]


# --8<-- [start:record]
def run_and_record(run: Run, figures: Path, tmp: Path) -> dict:
    """Run one command in a fresh process and return its record: what it printed, and where.

    Raises:
        RuntimeError: If the command fails.
    """
    cmd = [sys.executable, "-m", f"snippets.{run.module}", *run.argv(figures, tmp)]
    env = {**os.environ, "RL_COURSE_PROGRESS": "0", "WANDB_MODE": "disabled"}
    load = os.getloadavg()[0]  # how busy the machine was: it explains the wall times
    with common.Stopwatch() as clock:
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{run.command()} failed:\n{result.stderr[-2000:]}")
    kept = {
        Path(k).stem: json.loads(Path(k.replace("{tmp}", str(tmp))).read_text()) for k in run.keep
    }
    return {
        "run": run.name,
        "command": run.command(),
        "date": dt.date.today().isoformat(),
        "machine": benchmark.machine_description(),
        "load_average": round(load, 1),
        "wall_seconds": round(clock.seconds, 1),
        "metrics": json.loads(result.stdout.strip().splitlines()[-1]),
        "files": kept,
    }


# --8<-- [end:record]


# --8<-- [start:registry]
def collect_views() -> dict[str, View]:
    """Every ``VIEWS`` of the ``views_*.py`` modules here, in the order of their file names.

    The names follow the course (``views_a`` ... ``views_e``, then ``views_results``), so
    a new lesson's views are a new ``views_<stem>.py`` (``views_d4``) and nothing else.
    """
    found: dict[str, View] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("views_"):
            found |= importlib.import_module(f"{__name__}.{info.name}").VIEWS
    return found


VIEWS: dict[str, View] = collect_views()


def draw_d3_frontier(results: dict, path: Path) -> Path | None:
    """D3's frontier figure over the benchmarked seeds; nothing until D3's entries exist."""
    if "d3-grpo" not in results["lessons"]:
        return None
    from snippets.d3_grpo_rloo_and_dpo import report

    return Path(report.plot_frontier(report.runs_from_benchmark(results), path))


# Figures drawn from results/benchmark.json alone, no run needed: file -> drawer (None: not yet)
BENCHMARK_FIGURES: dict[str, Callable[[dict, Path], Path | None]] = {
    "results_cartpole_curves.png": benchmark.plot_curves,
    "d3_frontier.png": draw_d3_frontier,
}
# --8<-- [end:registry]


# --8<-- [start:render]
def load_source(
    source: str, runs_dir: Path = RUNS_DIR, bench: Path = BENCHMARK_JSON
) -> dict | tuple[str, dict]:
    """A run's record, ``(name, entry)`` of the benchmark, or a JSON file a run wrote."""
    if source.startswith("benchmark:"):
        name = source.removeprefix("benchmark:")
        return name, json.loads(bench.read_text())["lessons"][name]
    if source.startswith("file:"):
        return json.loads(source_file(source, runs_dir).read_text())
    return json.loads((runs_dir / f"{source}.json").read_text())


def source_file(source: str, runs_dir: Path = RUNS_DIR) -> Path:
    """Where a ``file:`` source is: in the repository whose ``results/runs`` is ``runs_dir``."""
    return runs_dir.resolve().parent.parent / source.removeprefix("file:")


def missing_sources(
    name: str, runs_dir: Path = RUNS_DIR, bench: Path = BENCHMARK_JSON
) -> list[str]:
    """The sources of a view that do not exist yet (see ``View`` for the kinds)."""
    entries = json.loads(bench.read_text())["lessons"] if bench.is_file() else {}

    def exists(source: str) -> bool:
        if source.startswith("benchmark:"):
            return source.removeprefix("benchmark:") in entries
        if source.startswith("file:"):
            return source_file(source, runs_dir).is_file()
        return (runs_dir / f"{source}.json").is_file()

    return [source for source in VIEWS[name].sources if not exists(source)]


def render_view(name: str, runs_dir: Path = RUNS_DIR, bench: Path = BENCHMARK_JSON) -> str:
    """The Markdown of one view, from the records alone."""
    view = VIEWS[name]
    return view.render(*(load_source(s, runs_dir, bench) for s in view.sources))


def render_all(runs_dir: Path = RUNS_DIR, bench: Path = BENCHMARK_JSON) -> list[str]:
    """Write every view whose sources all exist; return the names written."""
    written = []
    for name in VIEWS:
        if not missing_sources(name, runs_dir, bench):
            (runs_dir / f"{name}.md").write_text(render_view(name, runs_dir, bench))
            written.append(name)
    return written


def run_all(chosen: list[Run], out: Path, figures: Path) -> tuple[list[str], list[str]]:
    """Run each command in order, writing its record; a failure is reported, not fatal."""
    out.mkdir(parents=True, exist_ok=True)
    done, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:  # shared: a later run may read an earlier file
        for run in common.progress(chosen, desc="runs"):
            try:
                record = run_and_record(run, figures, Path(tmp))
            except RuntimeError as error:
                print(error, file=sys.stderr)
                failed.append(run.name)
                continue
            (out / f"{run.name}.json").write_text(json.dumps(record, indent=1) + "\n")
            done.append(run.name)
    return done, failed


def draw_benchmark_figures(figures: Path, bench: Path = BENCHMARK_JSON) -> list[str]:
    """Draw every figure that needs only the benchmark's results; return the names drawn."""
    results = json.loads(bench.read_text())
    return [name for name, draw in BENCHMARK_FIGURES.items() if draw(results, figures / name)]


# --8<-- [end:render]
