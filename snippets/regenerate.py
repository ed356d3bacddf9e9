"""Regenerate every measured number and every figure the lesson pages show.

A page never types a measured number. The commands the pages quote are listed once, as
``[[lesson.run]]`` tables in ``lessons.toml``; this module runs them as a reader would, each in
its own process (writing its figures), and keeps the JSON line each printed in
``results/runs/<run>.json``. Small renderers turn those records and the benchmark's
``results/benchmark.json`` into the Markdown the pages include (``results/runs/<view>.md``);
``tests/test_regenerate.py`` re-renders every view and fails on any difference.

    uv run python -m snippets.regenerate                 # every run, figure and table
    uv run python -m snippets.regenerate --lesson B1     # one lesson's runs, then all tables
    uv run python -m snippets.regenerate --render        # re-render the tables, run nothing
    uv run python -m snippets.regenerate --list          # the commands, and what they write
"""

# --8<-- [start:imports]
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snippets import benchmark, common, manifest

# --8<-- [end:imports]

ROOT = Path(__file__).resolve().parents[1]
RUNS_DIR = ROOT / "results" / "runs"
FIGURES_DIR = ROOT / "docs" / "assets" / "figures"
BENCHMARK_JSON = ROOT / "results" / "benchmark.json"
BENCHMARK_FIGURE = "results_cartpole_curves.png"  # drawn from benchmark.json, no run needed


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
            found[entry["name"]] = Run(
                name=entry["name"], lesson=lesson.stem,
                module=entry.get("module", lesson.modules[0].name), args=args,
                figures=tuple(figures), keep=tuple(entry.get("keep", ())),
            )  # fmt: skip
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


# --8<-- [start:render-helpers]
def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def provenance(record: dict) -> str:
    """One line under a table: when, where and by which command its numbers were measured."""
    m = record["machine"]
    return (
        f"*Measured {record['date']} on {m['platform']} ({m['cpus']} CPUs, load average "
        f"{record['load_average']:g} at the start; {record['wall_seconds']:g} s of wall time) "
        f"by `{record['command']}`.*\n"
    )


def from_benchmark(entry: dict, name: str) -> str:
    """The line under a table built from the benchmark's records."""
    seeds = ", ".join(str(r["seed"]) for r in entry["runs"])
    return (
        f"*From `results/benchmark.json`: `uv run python -m snippets.benchmark --lesson {name}`, "
        f"seeds {seeds}, run {entry['date']} on {entry['machine']['platform']} "
        f"({entry['machine']['cpus']} CPUs).*\n"
    )


def json_line(record: dict) -> str:
    """The JSON line the command printed, as a code block."""
    return f"```text\n{json.dumps(record['metrics'])}\n```\n"


def pct(x: float) -> str:
    """0.7931 -> "79.3 %"."""
    return f"{100 * x:.1f} %"


def num(x: float, spec: str = ".4f") -> str:
    """A number with a typographic minus sign, as the prose writes them."""
    return format(x, spec).replace("-", "−")


def agent(name: str) -> str:
    """B0's agent names as the page writes them: ``eps=0.1`` -> ``ε = 0.1``."""
    return name.replace("eps=", "ε = ").replace("UCB c=", "UCB, c = ")


# --8<-- [end:render-helpers]


# --8<-- [start:views]
def view_a2(a2: dict) -> str:
    """A2: random play against the trained agent, and the printed line."""
    m = a2["metrics"]
    rows = [
        ["one seeded random episode", f"{m['random_episode_length']} steps, return {m['random_episode_return']:g}"],
        ["random play, mean return", f"{m['random_mean_return']:.2f}"],
        [f"{m['algo'].upper()} after {m['timesteps']:,} steps, greedy, mean return", f"{m['trained_mean_return']:.2f}"],
        ["training time (wall)", f"{m['train_seconds']:.0f} s"],
    ]  # fmt: skip
    return table(["", m["env_id"]], rows) + "\n" + json_line(a2) + "\n" + provenance(a2)


def view_a3(*records: dict) -> str:
    """A3: both gridworlds solved three ways."""
    rows = [
        [r["metrics"]["world"], f"{r['metrics']['gamma']:g}",
         num(r["metrics"]["v_random_cell_0_1"]), num(r["metrics"]["v_star_cell_0_1"]),
         f"{r['metrics']['max_abs_exact_vs_iterative']:.1e}",
         str(r["metrics"]["evaluation_sweeps"]), str(r["metrics"]["value_iteration_sweeps"]),
         f"{r['metrics']['seconds']:.3f} s"]
        for r in records
    ]  # fmt: skip
    header = ["world", "γ", "$v_\\pi$ of cell (0, 1), random policy", "$v_*$ of cell (0, 1)",
              "exact − iterative (max)", "evaluation sweeps", "value-iteration sweeps", "time"]  # fmt: skip
    return table(header, rows) + "\n" + "\n".join(provenance(r) for r in records)


B0_REFERENCE = {  # Sutton & Barto Figs. 2.2 and 2.4, expected values at step 1000
    "greedy": "1.02 / 35 %", "eps=0.01": "1.30 / 59 %", "eps=0.1": "1.37 / 80 %",
    "UCB c=2": "1.49 / 85 %",
}  # fmt: skip


def view_b0_testbed(b0: dict) -> str:
    """B0: every agent's reward and share of optimal pulls at the last step of the testbed."""
    m = b0["metrics"]
    rows = [[agent(name), f"{reward:.2f}", f"{m['final_optimal_pct'][name]:.1f} %", B0_REFERENCE.get(name, "")]
            for name, reward in m["final_reward"].items()]  # fmt: skip
    best = f"{m['best_possible_reward']:.2f}"
    rows.append(["best possible ($\\mathbb{E}\\max_a q_*(a)$)", best, "100 %", "1.54"])
    head = ["agent", "average reward", "% optimal action", "reference (expected value)"]
    timing = (
        f"The whole testbed ({len(m['final_reward'])} agents × {m['runs']:,} runs × {m['steps']:,} "
        f"steps) took **{m['testbed_cpu_seconds']:.1f} s of CPU time** ({m['testbed_seconds']:.1f} s "
        "of wall time).\n"
    )
    intro = f"At step {m['steps']:,}, seed 0:\n\n"
    return intro + table(head, rows) + "\n" + timing + "\n" + provenance(b0)


def view_b0_regret(b0: dict) -> str:
    """B0: cumulative regret at the end of the long experiment."""
    m = b0["metrics"]
    rows = [[agent(name), f"{regret:.0f}"] for name, regret in m["final_regret"].items()]
    rows.append(["UCB1 on the Bernoulli bandit (means 0.9, 0.8, 0.7, 0.6, 0.5)",
                 f"{m['ucb1_bernoulli_regret']:.0f}, bound {m['ucb1_bound']:.0f}"])  # fmt: skip
    head = ["agent", f"cumulative regret after {m['regret_steps']:,} steps"]
    return table(head, rows) + "\n" + provenance(b0)


def view_b1_model(*records: dict) -> str:
    """B1: what dynamic programming on FrozenLake's own model says."""
    rows = [[r["metrics"]["map"], f"{r['metrics']['optimal_success_within_limit']:.3f}",
             f"{r['metrics']['optimal_success_no_limit']:.3f}",
             f"{r['metrics']['value_iteration_policy_success']:.3f}"] for r in records]  # fmt: skip
    head = ["map", "best success within the step limit", "best success, no limit",
            "converged greedy policy, within the limit"]  # fmt: skip
    return table(head, rows)


def view_b1_runs(*records: dict) -> str:
    """B1: the Q-learning agent of each map, scored two ways."""
    rows = [
        [r["metrics"]["map"], f"{r['metrics']['episodes']:,} ({r['metrics']['train_steps'] / 1000:.0f} k)",
         f"{r['metrics']['train_seconds']:.1f} s wall, {r['metrics']['train_cpu_seconds']:.1f} s CPU",
         f"**{r['metrics']['greedy_success_eval']:.3f}**", f"{r['metrics']['greedy_success_exact']:.3f}",
         f"{r['metrics']['optimal_success_within_limit']:.3f}"]
        for r in records
    ]  # fmt: skip
    evals = records[0]["metrics"]["eval_episodes"]
    head = ["map", "episodes (steps)", "training time", f"greedy success, {evals:,} episodes",
            "exact success of the greedy policy", "optimum within the limit"]  # fmt: skip
    return table(head, rows) + "\n" + "\n".join(provenance(r) for r in records)


def view_b1_seeds(*entries: dict) -> str:
    """B1: every benchmarked seed of both maps."""
    rows = []
    for _, entry in entries:
        for run in entry["runs"]:
            m = run["metrics"]
            rows.append([m["map"], str(run["seed"]), f"{m['greedy_success_eval']:.3f}",
                         f"{m['greedy_success_exact']:.3f}", f"{m['train_cpu_seconds']:.1f} s"])  # fmt: skip
    head = ["map", "seed", "greedy success, 1000 episodes", "exact success", "training CPU time"]
    return table(head, rows) + "\n" + "\n".join(from_benchmark(e, n) for n, e in entries)


def view_b2(b2: dict) -> str:
    """B2: each part of the lesson's run."""
    m = b2["metrics"]
    per_game = 1000 * m["blackjack_gym_seconds"] / m["blackjack_gym_episodes"]
    rows = [
        ["Blackjack, Gymnasium env, readable MC loop", f"{m['blackjack_gym_episodes']:,}",
         f"{m['blackjack_gym_seconds']:.1f} s ({per_game:.2f} ms a game)", "left column of the figure"],
        ["Blackjack, NumPy replica", f"{m['blackjack_replica_episodes']:,}",
         f"{m['blackjack_replica_seconds']:.1f} s",
         f"right column; v(20, no ace, dealer 10) = {m['v_20_no_ace_dealer_10_replica']:.3f}"],
        ["Example 5.4 state, every game starting there", f"{m['v_13_usable_ace_dealer_2_returns']:,}",
         "(replica)", f"{num(m['v_13_usable_ace_dealer_2'])} (book: −0.27726)"],
        ["4x4 gridworld, first / every visit", f"{m['grid_runs']} × {m['grid_episodes']:,}",
         f"{m['grid_seconds']:.1f} s ({m['grid_cpu_seconds']:.1f} s CPU)",
         f"RMSE {m['grid_rmse_first_visit']:.2f} / {m['grid_rmse_every_visit']:.2f}"],
    ]  # fmt: skip
    return table(["part", "episodes", "wall time", "result"], rows) + "\n" + provenance(b2)


def view_b2_state(b2: dict) -> str:
    """B2: the value of Example 5.4's state and its standard error."""
    m = b2["metrics"]
    n = m["v_13_usable_ace_dealer_2_returns"]
    se = ((1 - m["v_13_usable_ace_dealer_2"] ** 2) / n) ** 0.5  # returns in {-1, 0, 1}
    rows = [
        [f"estimate from {n:,} games starting at (13, usable ace, dealer 2)", f"**{num(m['v_13_usable_ace_dealer_2'])}**"],
        ["Sutton & Barto, Example 5.4", "−0.27726"],
        ["standard error of the estimate (at most $\\sqrt{(1 - v^2)/n}$)", f"{se:.4f}"],
    ]  # fmt: skip
    return table(["quantity", "value"], rows)


def view_b3_seeds(entry: tuple[str, dict]) -> str:
    """B3: the kept and the final agent of every benchmarked seed."""
    name, e = entry
    rows, notes = [], []
    for run in e["runs"]:
        r = run["metrics"]["per_seed"][0]
        kept = f"{r['kept_mean_return']:.1f}"
        rows.append([str(r["seed"]), f"**{kept}**" if r["kept_mean_return"] >= 475 else kept,
                     f"{r['kept_from_step']:,}", f"{r['final_mean_return']:.1f}",
                     f"{r['seconds']:.0f} s ({r['cpu_seconds']:.0f} s)"])  # fmt: skip
        if r["kept_mean_return"] < 475 and run["curve"]:
            best = run["curve"]["y"][run["curve"]["x"].index(r["kept_from_step"])]
            notes.append(f"seed {r['seed']} kept its checkpoint from step {r['kept_from_step']:,}, "
                         f"whose 10-episode evaluation read {best:g}, and that agent scores "
                         f"{r['kept_mean_return']:.1f} on fresh episodes")  # fmt: skip
    finals = sum(run["metrics"]["per_seed"][0]["final_mean_return"] >= 475 for run in e["runs"])
    s = e["summary"]
    head = ["seed", "kept agent (20 fresh episodes)", "saved at step",
            "final agent (same 20 episodes)", "wall time (CPU)"]  # fmt: skip
    text = (f"The target, a kept agent at 475 or more in at least 4 of 5 seeds within 100k steps, "
            f"is met by **{s['met']} of {s['seeds']}** seeds; "
            f"{finals} of {s['seeds']} final networks are still at 475 or more.")  # fmt: skip
    if notes:
        text += " Below it, " + "; ".join(notes) + "."
    return table(head, rows) + "\n" + text + "\n\n" + from_benchmark(e, name)


def view_b3_zoo(zoo: dict) -> str:
    """B3: one seed with the RL Zoo's settings, and what its periodic evaluations read."""
    m = zoo["metrics"]
    r = m["per_seed"][0]
    curve = zoo["files"]["b3-zoo-curve"]
    row = [f"RL Zoo settings, seed {r['seed']}", f"{m['timesteps']:,} steps",
           f"**{r['kept_mean_return']:.1f}** (checkpoint at {r['kept_from_step']:,})",
           f"**{r['final_mean_return']:.1f}**"]  # fmt: skip
    head = ["run", "budget", "kept agent (20 fresh episodes)", "final agent"]
    evals = ", ".join(f"{y:g}" for y in curve["y"])
    every = int(curve["x"][1] - curve["x"][0])
    return (table(head, [row]) + f"\nIts periodic evaluations (10 greedy episodes every {every:,} "
            f"steps) read, in order: {evals}.\n\n" + provenance(zoo))  # fmt: skip


def view_d1(d1: dict) -> str:
    """D1: what Bradley-Terry recovers from annotators of three noise levels."""
    from snippets.d1_reward_modeling_concepts import ceiling_from_agreement

    m = d1["metrics"]
    rows = []
    for t, slope in m["slopes"].items():
        temp = float(t.removeprefix("T="))
        rows.append([f"{temp:g}", f"{slope:.2f} ({1 / temp:.2f})", f"{m['rank_correlations'][t]:.2f}",
                     pct(m["label_agreement"][t]), pct(m["model_accuracy"][t]), pct(m["truth_accuracy"][t]),
                     pct(m["inter_annotator"][t]), pct(ceiling_from_agreement(m["inter_annotator"][t]))])  # fmt: skip
    head = ["$T$", "slope (theory $1/T$)", "rank corr.", "training labels matching the quality",
            "fitted model vs a fresh label", "hidden quality vs a fresh label",
            "annotator vs annotator", "ceiling if all pairs were equally hard"]  # fmt: skip
    return (f"{m['pairs']:,} comparisons per noise level, seed 0:\n\n" + table(head, rows)
            + "\n" + provenance(d1))  # fmt: skip


def view_e1_grid(e1: dict) -> str:
    """E1: the three greedy agents of the gridworld."""
    m = e1["metrics"]
    rows = [[name, "yes" if m[f"{name}_reached_goal"] else "**no**", str(m[f"{name}_steps"]),
             str(m[f"{name}_checkpoint_visits"]), f"{m[f'{name}_true_return']:g}"]
            for name in ("true", "proxy", "shaped")]  # fmt: skip
    head = ["reward the agent optimised", "reaches the goal", "steps", "bonuses collected",
            "true return"]  # fmt: skip
    return table(head, rows)


def view_e1_bon(e1: dict) -> str:
    """E1: best-of-n, in one sentence."""
    m = e1["metrics"]
    n_max = max(int(k.removeprefix("bon_gold_at_n")) for k in m if k.startswith("bon_gold_at_n"))
    bon = (f"Best-of-$n$: the gold score is {num(m['bon_gold_at_n1'], '.2f')} at $n = 1$, peaks at "
           f"{num(m['bon_gold_peak'], '.2f')} at $n = {m['bon_gold_peak_n']}$ and falls to "
           f"{num(m[f'bon_gold_at_n{n_max}'], '.2f')} at $n = {n_max}$, where the proxy score has "
           f"climbed to {num(m[f'bon_proxy_at_n{n_max}'], '.2f')}.\n")  # fmt: skip
    return bon


def view_e2(e2: dict) -> str:
    """E2: the capstone's reference run against its definition of done, and its curve."""
    m = e2["metrics"]
    chunk = m["timesteps"] // len(m["curve"])  # one evaluation after each chunk of training
    points = [(chunk * (k + 1), y) for k, y in enumerate(m["curve"])]
    first = next((x for x, y in points if y >= m["target"]), None)
    text = (f"The definition of done is **{'met' if m['done'] else 'not met'}**: a mean return of "
            f"{num(m['mean_return'], '.1f')} ± {m['std_return']:.1f} over {m['episodes']} evaluation "
            f"episodes, against a target of {num(m['target'], 'g')}, after {m['timesteps']:,} "
            f"environment steps. The curve (10 greedy episodes after every {chunk:,} steps) first "
            f"reaches the target after {first or 0:,} steps; its points read "
            + ", ".join(f"{num(y, 'g')} at {x:,}" for x, y in points) + ".\n")  # fmt: skip
    return text + "\n" + json_line(e2) + "\n" + provenance(e2)


def view_c0_seeds(c0: dict) -> str:
    """C0: every seed of the PyTorch run against the target."""
    m, n = c0["metrics"], len(c0["metrics"]["runs"])
    rows = [[str(r["seed"]), str(r["solved_at"] or "never"), f"{r['final_mean_return']:.1f}",
             f"{r['steps']:,}", f"{r['seconds']:.0f} s ({r['cpu_seconds']:.0f} s)"]
            for r in m["runs"]]  # fmt: skip
    head = ["seed", "100-episode mean first ≥ 475 at episode", "mean return, last 100 episodes",
            "environment steps", "training time, wall (CPU)"]  # fmt: skip
    still = sum(r["final_mean_return"] >= 475 for r in m["runs"])
    text = (f"**{m['seeds_solved']} of {n}** seeds reach a 100-episode mean of 475 within "
            f"{m['episodes']} episodes (the target asks for 4 of 5); {still} of {n} are still at or "
            "above it over their last 100 episodes.\n")  # fmt: skip
    return table(head, rows) + "\n" + text + "\n" + provenance(c0)


def view_c0_speed(race: dict) -> str:
    """C0: JAX against PyTorch, like for like and vmapped, with the speed-ups."""
    m, runs = race["metrics"], race["metrics"]["runs"]
    n, keys = len(m["seeds"]), {"JAX, like for like": "like_for_like", "JAX, vmapped": "vmapped"}
    what = {"PyTorch": f"{n} seeds one after another; a Python loop steps Gymnasium and calls "
            "the network at every step", "JAX, like for like": f"{n} calls of one seed each, no "
            "`vmap`: a batch's 5 episodes one after another", "JAX, vmapped": f"one call: `vmap` "
            f"over the {n} seeds and over each batch's 5 episodes"}  # fmt: skip

    def cells(cell: Callable[[str, dict], str]) -> list[str]:
        return [cell(name, run) for name, run in runs.items()]

    def ratio(prefix: str, suffix: str = "") -> Callable[[str, dict], str]:
        return lambda name, _: f"{m[prefix + keys[name] + suffix]:.1f}×" if name in keys else "—"

    rows = [
        ["what runs", *cells(lambda name, _: what[name])],
        ["training, CPU time", *cells(lambda _, r: f"{r['cpu_seconds']:.1f} s")],
        ["training, wall time", *cells(lambda _, r: f"{r['seconds']:.1f} s")],
        ["**speed-up over PyTorch, CPU time**", *cells(lambda name, r: f"**{ratio('cpu_speedup_')(name, r)}**")],
        ["speed-up, wall time", *cells(ratio("speedup_"))],
        ["JAX compilation, CPU (wall)", *cells(lambda name, r: f"{r['compile_cpu_seconds']:.1f} s "
                                               f"({r['compile_seconds']:.1f} s)" if name in keys else "—")],
        ["speed-up counting compilation, CPU", *cells(ratio("cpu_speedup_", "_with_compile"))],
        ["seeds reaching 475", *cells(lambda _, r: f"{r['seeds_solved']} / {n}")],
    ]  # fmt: skip
    same = m.get("jax_runs_identical")
    text = (f"{m['episodes']} episodes per seed, seeds {m['seeds'][0]}–{m['seeds'][-1]}. "
            + ("The two JAX runs returned exactly the same episode returns: one computation, laid "
               "out two ways. " if same else "")
            + "CPU time counts what each run costs whatever else the machine is doing; on an idle "
            "core it equals wall time.\n")  # fmt: skip
    return table(["", *runs], rows) + "\n" + text + "\n" + provenance(race)


def view_c0_ablation(ablation: dict) -> str:
    """C0: the ablation, one row per variant."""
    rows = [[name, f"{s['solved']} / {s['seeds']}",
             "—" if s["median_solved_at"] is None else f"{s['median_solved_at']:g}",
             f"{s['solved_at_end']} / {s['seeds']}", f"{s['median_final_mean_return']:.1f}"]
            for name, s in ablation["metrics"]["ablation"].items()]  # fmt: skip
    head = ["variant", "seeds reaching 475", "median episode reaching 475",
            "seeds still ≥ 475 over the last 100 episodes", "median return, last 100 episodes"]  # fmt: skip
    return table(head, rows) + "\n" + provenance(ablation)


def view_c1_seeds(entry: tuple[str, dict]) -> str:
    """C1: the kept and the final agent of every benchmarked seed."""
    name, e = entry
    rows, ms = [], [run["metrics"] for run in e["runs"]]
    for m in ms:
        first, trained = m["first_solved_step"][0], m["train_solved_step"][0]
        rows.append([str(m["seeds"][0]), "never" if first is None else f"{first / 1000:g}k",
                     f"{m['best_eval'][0]:g} at {m['kept_from_step'][0] / 1000:g}k",
                     f"**{m['kept_mean_return'][0]:.1f}**", f"{m['final_mean_return'][0]:.1f}",
                     "never" if trained is None else f"{trained / 1000:.0f}k",
                     f"{m['cpu_seconds'][0]:.0f} s"])  # fmt: skip
    head = ["seed", "first greedy evaluation ≥ 475", "best evaluation (kept)",
            "kept agent, 20 fresh episodes", "final agent, same episodes",
            "training 100-episode mean first ≥ 475", "CPU time"]  # fmt: skip
    finals = [m["final_mean_return"][0] for m in ms]
    text = (f"The target, a kept agent scoring at least 475 on fresh episodes in 4 of 5 seeds "
            f"within 200k steps, is met by **{e['summary']['met']} of {e['summary']['seeds']}** "
            f"seeds; {sum(f >= 475 for f in finals)} of {len(finals)} final agents score 475 or "
            f"more (their mean: {sum(finals) / len(finals):.1f}).\n")  # fmt: skip
    return table(head, rows) + "\n" + text + "\n" + from_benchmark(e, name)


def view_c1_against_c0(c1: dict, c0: dict) -> str:
    """C1: when A2C's and REINFORCE's training curves first reach 475, in environment steps."""
    steps = sorted(s for s in c1["metrics"]["train_solved_step"] if s is not None)
    curve = c0["files"]["reinforce"]
    reinforce = next((x for x, y in zip(curve["x"], curve["y"], strict=True) if y >= 475), None)
    a2c = f"{steps[0] / 1000:.0f}k and {steps[-1] / 1000:.0f}k" if steps else "never"
    at = "never" if reinforce is None else f"at about {reinforce / 1000:.0f}k environment steps"
    text = (f"REINFORCE's mean curve (five seeds) first reaches 475 {at}; A2C's seeds between {a2c} "
            f"({len(steps)} of {len(c1['metrics']['seeds'])} get there within "
            f"{c1['metrics']['timesteps'] / 1000:.0f}k).\n")  # fmt: skip
    return text + "\n" + provenance(c1)


@dataclass(frozen=True)
class View:
    """A Markdown file the pages include, and the records it is rendered from."""

    sources: tuple[str, ...]  # run names, or "benchmark:<entry>" for the benchmark's records
    render: Callable[..., str]


VIEWS: dict[str, View] = {
    "a2": View(("a2",), view_a2),
    "a3": View(("a3-5x5", "a3-4x4"), view_a3),
    "b0-testbed": View(("b0",), view_b0_testbed),
    "b0-regret": View(("b0",), view_b0_regret),
    "b1-model": View(("b1-4x4", "b1-8x8"), view_b1_model),
    "b1-runs": View(("b1-4x4", "b1-8x8"), view_b1_runs),
    "b1-seeds": View(("benchmark:b1-4x4", "benchmark:b1-8x8"), view_b1_seeds),
    "b2": View(("b2",), view_b2),
    "b2-state": View(("b2",), view_b2_state),
    "b3-seeds": View(("benchmark:b3",), view_b3_seeds),
    "b3-zoo": View(("b3-zoo",), view_b3_zoo),
    "d1": View(("d1",), view_d1),
    "e1-grid": View(("e1",), view_e1_grid),
    "e1-bon": View(("e1",), view_e1_bon),
    "e1": View(("e1",), lambda e1: json_line(e1) + "\n" + provenance(e1)),
    "e2": View(("e2",), view_e2),
    "c0": View(("c0",), view_c0_seeds),
    "c0-speed": View(("c0-speed",), view_c0_speed),
    "c0-ablation": View(("c0-ablation",), view_c0_ablation),
    "c1-seeds": View(("benchmark:c1",), view_c1_seeds),
    "c1-against-c0": View(("c1", "c0"), view_c1_against_c0),
}
# --8<-- [end:views]


# --8<-- [start:render]
def load_source(source: str, runs_dir: Path = RUNS_DIR) -> dict | tuple[str, dict]:
    """A run's committed record, or ``(name, entry)`` of the benchmark's results."""
    if source.startswith("benchmark:"):
        name = source.removeprefix("benchmark:")
        return name, json.loads(BENCHMARK_JSON.read_text())["lessons"][name]
    return json.loads((runs_dir / f"{source}.json").read_text())


def render_view(name: str, runs_dir: Path = RUNS_DIR) -> str:
    """The Markdown of one view, from the records alone."""
    view = VIEWS[name]
    return view.render(*(load_source(s, runs_dir) for s in view.sources))


def render_all(runs_dir: Path = RUNS_DIR) -> list[str]:
    """Write every view whose records all exist; return the names written."""
    written = []
    for name, view in VIEWS.items():
        runs = [s for s in view.sources if not s.startswith("benchmark:")]
        if all((runs_dir / f"{s}.json").is_file() for s in runs):
            (runs_dir / f"{name}.md").write_text(render_view(name, runs_dir))
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


# --8<-- [end:render]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Run the chosen commands, keep their records, redraw the figures, re-render the tables."""
    parser = common.lesson_parser(__doc__, prog="python -m snippets.regenerate")
    parser.add_argument("--lesson", action="append", help="runs of this lesson only (e.g. B1)")
    parser.add_argument("--run", action="append", choices=sorted(RUNS), help="this run only")
    parser.add_argument("--render", action="store_true", help="re-render the tables only")
    parser.add_argument("--list", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--out", type=Path, default=RUNS_DIR, help="folder for the records")
    parser.add_argument("--figures", type=Path, default=FIGURES_DIR, help="folder for figures")
    args = parser.parse_args(argv)
    chosen = [r for r in RUNS.values() if (not args.lesson and not args.run)
              or r.name in (args.run or ()) or r.lesson[:2] in [x.upper() for x in args.lesson or ()]]  # fmt: skip
    if args.list:
        for run in chosen:
            print(f"{run.name}: {run.command()}  ->  {', '.join(run.figures) or 'numbers only'}")
        return common.emit_metrics({"runs": [r.name for r in chosen]})
    done, failed = ([], []) if args.render else run_all(chosen, args.out, args.figures)
    if not args.render and not args.lesson and not args.run:  # everything: the benchmark's too
        benchmark.plot_curves(
            json.loads(BENCHMARK_JSON.read_text()), args.figures / BENCHMARK_FIGURE
        )
    rendered = render_all(args.out)
    return common.emit_metrics({"ran": done, "failed": failed, "rendered": rendered})


if __name__ == "__main__":
    main()
# --8<-- [end:main]
