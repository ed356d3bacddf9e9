"""The tables of chapter C: REINFORCE (C0), A2C (C1), PPO (C2) and continuous actions (C3).

Each ``view_*`` function turns committed records into the Markdown a page includes; ``VIEWS``
names, for each file ``results/runs/<view>.md``, the records it is rendered from.
"""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable

from snippets.regenerate.helpers import (
    View,
    captioned,
    from_benchmark,
    median_iqr,
    provenance,
    seed_metrics,
    table,
)

# --8<-- [end:imports]


# --8<-- [start:c0-c1]
def view_c0_seeds(c0: dict) -> str:
    """C0: every seed of the PyTorch run against the target."""
    m, n = c0["metrics"], len(c0["metrics"]["runs"])
    rows = [
        [
            str(r["seed"]),
            str(r["solved_at"] or "never"),
            f"{r['final_mean_return']:.1f}",
            f"{r['steps']:,}",
            f"{r['seconds']:.0f} s ({r['cpu_seconds']:.0f} s)",
        ]
        for r in m["runs"]
    ]
    head = [
        "seed",
        "100-episode mean first ≥ 475 at episode",
        "mean return, last 100 episodes",
        "environment steps",
        "training time, wall (CPU)",
    ]
    still = sum(r["final_mean_return"] >= 475 for r in m["runs"])
    text = (
        f"**{m['seeds_solved']} of {n}** seeds reach a 100-episode mean of 475 within "
        f"{m['episodes']} episodes (the target asks for 4 of 5); {still} of {n} are still at or "
        "above it over their last 100 episodes.\n"
    )
    return captioned(head, rows, text, c0)


def view_c0_speed(race: dict) -> str:
    """C0: JAX against PyTorch, like for like and vmapped, with the speed-ups."""
    m, runs = race["metrics"], race["metrics"]["runs"]
    n, keys = len(m["seeds"]), {"JAX, like for like": "like_for_like", "JAX, vmapped": "vmapped"}
    what = {
        "PyTorch": f"{n} seeds one after another; a Python loop steps Gymnasium and calls "
        "the network at every step",
        "JAX, like for like": f"{n} calls of one seed each, no "
        "`vmap`: a batch's 5 episodes one after another",
        "JAX, vmapped": f"one call: `vmap` over the {n} seeds and over each batch's 5 episodes",
    }

    def cells(cell: Callable[[str, dict], str]) -> list[str]:
        return [cell(name, run) for name, run in runs.items()]

    def ratio(prefix: str, suffix: str = "") -> Callable[[str, dict], str]:
        return lambda name, _: f"{m[prefix + keys[name] + suffix]:.1f}×" if name in keys else "—"

    rows = [
        ["what runs", *cells(lambda name, _: what[name])],
        ["training, CPU time", *cells(lambda _, r: f"{r['cpu_seconds']:.1f} s")],
        ["training, wall time", *cells(lambda _, r: f"{r['seconds']:.1f} s")],
        [
            "**speed-up over PyTorch, CPU time**",
            *cells(lambda name, r: f"**{ratio('cpu_speedup_')(name, r)}**"),
        ],
        ["speed-up, wall time", *cells(ratio("speedup_"))],
        [
            "JAX compilation, CPU (wall)",
            *cells(
                lambda name, r: (
                    f"{r['compile_cpu_seconds']:.1f} s ({r['compile_seconds']:.1f} s)"
                    if name in keys
                    else "—"
                )
            ),
        ],
        ["speed-up counting compilation, CPU", *cells(ratio("cpu_speedup_", "_with_compile"))],
        ["seeds reaching 475", *cells(lambda _, r: f"{r['seeds_solved']} / {n}")],
    ]
    same = (
        "The two JAX runs returned exactly the same episode returns: one computation, laid "
        "out two ways. "
        if m.get("jax_runs_identical")
        else "The two JAX runs draw the same "
        "random numbers, but their returns are not identical: the two layouts round floats "
        "differently, and training amplifies the smallest difference. "
    )
    text = (
        f"{m['episodes']} episodes per seed, seeds {m['seeds'][0]}–{m['seeds'][-1]}. {same}"
        "CPU time counts what each run costs whatever else the machine is doing; on an idle "
        "core it equals wall time.\n"
    )
    return table(["", *runs], rows) + "\n" + text + "\n" + provenance(race)


def view_c0_ablation(ablation: dict) -> str:
    """C0: the ablation, one row per variant."""
    rows = [
        [
            name,
            f"{s['solved']} / {s['seeds']}",
            "—" if s["median_solved_at"] is None else f"{s['median_solved_at']:g}",
            f"{s['solved_at_end']} / {s['seeds']}",
            f"{s['median_final_mean_return']:.1f}",
        ]
        for name, s in ablation["metrics"]["ablation"].items()
    ]
    head = [
        "variant",
        "seeds reaching 475",
        "median episode reaching 475",
        "seeds still ≥ 475 over the last 100 episodes",
        "median return, last 100 episodes",
    ]
    return table(head, rows) + "\n" + provenance(ablation)


def view_c1_seeds(entry: tuple[str, dict]) -> str:
    """C1: the kept and the final agent of every benchmarked seed."""
    name, e = entry
    rows, ms = [], [run["metrics"] for run in e["runs"]]
    for m in ms:
        first, trained = m["first_solved_step"][0], m["train_solved_step"][0]
        rows.append(
            [
                str(m["seeds"][0]),
                "never" if first is None else f"{first / 1000:g}k",
                f"{m['best_eval'][0]:g} at {m['kept_from_step'][0] / 1000:g}k",
                f"**{m['kept_mean_return'][0]:.1f}**",
                f"{m['final_mean_return'][0]:.1f}",
                "never" if trained is None else f"{trained / 1000:.0f}k",
                f"{m['cpu_seconds'][0]:.0f} s",
            ]
        )
    head = [
        "seed",
        "first greedy evaluation ≥ 475",
        "best evaluation (kept)",
        "kept agent, 20 fresh episodes",
        "final agent, same episodes",
        "training 100-episode mean first ≥ 475",
        "CPU time",
    ]
    finals = [m["final_mean_return"][0] for m in ms]
    text = (
        f"The target, a kept agent scoring at least 475 on fresh episodes in 4 of 5 seeds "
        f"within 200k steps, is met by **{e['summary']['met']} of {e['summary']['seeds']}** "
        f"seeds; {sum(f >= 475 for f in finals)} of {len(finals)} final agents score 475 or "
        f"more (their mean: {sum(finals) / len(finals):.1f}).\n"
    )
    return table(head, rows) + "\n" + text + "\n" + from_benchmark(e, name)


def view_c1_against_c0(c1: dict, c0: dict) -> str:
    """C1: when A2C's and REINFORCE's training curves first reach 475, in environment steps."""
    steps = sorted(s for s in c1["metrics"]["train_solved_step"] if s is not None)
    curve = c0["files"]["reinforce"]
    reinforce = next((x for x, y in zip(curve["x"], curve["y"], strict=True) if y >= 475), None)
    a2c = f"{steps[0] / 1000:.0f}k and {steps[-1] / 1000:.0f}k" if steps else "never"
    at = "never" if reinforce is None else f"at about {reinforce / 1000:.0f}k environment steps"
    text = (
        f"REINFORCE's mean curve (five seeds) first reaches 475 {at}; A2C's seeds between {a2c} "
        f"({len(steps)} of {len(c1['metrics']['seeds'])} get there within "
        f"{c1['metrics']['timesteps'] / 1000:.0f}k).\n"
    )
    return text + "\n" + provenance(c1)


# --8<-- [end:c0-c1]


# --8<-- [start:c2]
C2_COMPARED = {"c0": "REINFORCE (C0)", "c1": "A2C, SB3 (C1)", "c2": "PPO from scratch (C2)"}
C2_VARIANTS = {
    "c2": "from scratch (this page)",
    "c2-sb3": "Stable-Baselines3, same settings",
    "c2-constant-clip": "from scratch, clip fixed at 0.2",
    "c2-no-clip": "from scratch, no clip (ε = 100)",
}


def view_c2_compared(*entries: tuple[str, dict]) -> str:
    """C2: REINFORCE, A2C and PPO, each lesson's benchmark headline against its own target."""
    head = [
        "method",
        "what the benchmark measures",
        "median [IQR] over seeds",
        "seeds meeting the target",
        "wall time per seed (median)",
    ]
    rows = []
    for name, e in entries:
        s = e["summary"]
        rows.append(
            [
                C2_COMPARED[name],
                e["target_text"],
                f"{s['median']:g} [{s['q25']:g}, {s['q75']:g}]",
                f"{s['met']} / {s['seeds']}",
                f"{s['median_wall_seconds']:g} s",
            ]
        )
    return table(head, rows)


def relapses(evals: list[float], solved: float = 475.0) -> tuple[int, int]:
    """Evaluations below ``solved`` after the first one at or above it, and how many came after.

    A policy that has solved CartPole and then scores less has unlearned: this counts it.
    """
    first = next((i for i, r in enumerate(evals) if r >= solved), len(evals))
    after = evals[first + 1 :]
    return sum(r < solved for r in after), len(after)


def view_c2_variants(*entries: tuple[str, dict]) -> str:
    """C2: PPO from scratch, SB3's PPO and the ablations: kept and final agents over seeds."""
    head = [
        "PPO on CartPole-v1, 100k steps",
        "kept agent, median [IQR]",
        "final agent, median [IQR]",
        "seeds: kept ≥ 475",
        "seeds: final ≥ 475",
        "first evaluation ≥ 475",
        "later evaluations < 475",
        "CPU time per seed",
    ]
    rows = []
    for name, e in entries:
        runs = seed_metrics(e)
        kept = [m["kept_mean_return"] for m in runs]
        final = [m["final_mean_return"] for m in runs]
        solved = sorted(m["first_solved_step"] for m in runs if m["first_solved_step"] is not None)
        when = f"{len(solved)} seeds, at {solved[0] / 1000:.0f}k–{solved[-1] / 1000:.0f}k steps"
        dips, after = (
            sum(x) for x in zip(*(relapses(m["eval_returns"]) for m in runs), strict=True)
        )
        rows.append(
            [
                C2_VARIANTS[name],
                median_iqr(kept),
                median_iqr(final),
                f"{sum(k >= 475 for k in kept)} / {len(runs)}",
                f"{sum(f >= 475 for f in final)} / {len(runs)}",
                when if solved else "never",
                f"{dips} of {after}",
                f"{median_iqr([m['cpu_seconds'] for m in runs])} s",
            ]
        )
    return table(head, rows)


# --8<-- [end:c2]


# --8<-- [start:c3]
C3_NAMES = {"c3-ppo": "Gaussian PPO (ours)", "c3-sac": "SAC (SB3)"}  # lessons.toml entries


def view_c3_pendulum(ppo: tuple[str, dict], sac: tuple[str, dict], scale: dict) -> str:
    """C3: both algorithms over the benchmark's seeds, and a random torque for scale."""
    head = [
        "Pendulum-v1",
        "target",
        "kept agent, median [IQR]",
        "final agent, median [IQR]",
        "seeds meeting the target",
        "kept agent of each seed",
        "CPU time per seed",
        "wall time per seed",
    ]
    rows = []
    for name, e in (ppo, sac):
        runs = seed_metrics(e)
        kept = [m["kept_mean_return"] for m in runs]
        rows.append(
            [
                C3_NAMES[name],
                e["target_text"],
                median_iqr(kept),
                median_iqr([m["final_mean_return"] for m in runs]),
                f"{e['summary']['met']} / {len(runs)}",
                ", ".join(f"{k:.0f}" for k in kept),
                f"{median_iqr([m['cpu_seconds'] for m in runs])} s",
                f"{median_iqr([r['wall_seconds'] for r in e['runs']])} s",
            ]
        )
    m = scale["metrics"]
    seeds = m["random_seeds"]
    return table(head, rows) + (
        f"\nFor scale: a uniformly random torque scores {median_iqr(m['random_returns'])} (median "
        f"[IQR] over seeds {seeds[0]}–{seeds[-1]}, each the mean of the same "
        f"{m['random_episodes']} fresh episodes that score that seed's agents).\n"
    )


# --8<-- [end:c3]


# --8<-- [start:registry]
VIEWS: dict[str, View] = {
    "c0": View(("c0",), view_c0_seeds),
    "c0-speed": View(("c0-speed",), view_c0_speed),
    "c0-ablation": View(("c0-ablation",), view_c0_ablation),
    "c1-seeds": View(("benchmark:c1",), view_c1_seeds),
    "c1-against-c0": View(("c1", "c0"), view_c1_against_c0),
    "c2-ppo": View(tuple(f"benchmark:{n}" for n in C2_VARIANTS), view_c2_variants),
    "c2-compared": View(tuple(f"benchmark:{n}" for n in C2_COMPARED), view_c2_compared),
    "c3-pendulum": View(("benchmark:c3-ppo", "benchmark:c3-sac", "c3-benchmark"), view_c3_pendulum),
}
# --8<-- [end:registry]
