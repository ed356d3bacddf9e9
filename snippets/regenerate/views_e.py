"""The tables of chapter E: the pitfall atlas (E0), reward hacking (E1) and the capstone (E2).

Each ``view_*`` function turns committed records into the Markdown a page includes; ``VIEWS``
names, for each file ``results/runs/<view>.md``, the records it is rendered from. E0's
renderer imports the atlas only when called (it brings in PyTorch).
"""

# --8<-- [start:imports]
from __future__ import annotations

from snippets import curves
from snippets.regenerate.helpers import View, json_line, num, provenance, sections, table

# --8<-- [end:imports]


# --8<-- [start:e0]
E0_JSON = "file:results/e0_debugging_common_pitfalls.json"  # the default run's --results


def view_e0(metrics: dict) -> str:
    """E0: each pitfall's sentence, the atlas table, the CEM seeds and the run's time."""
    from snippets.e0_debugging_common_pitfalls.atlas import PITFALLS

    parts = {p.name: p.notice.format(**metrics[p.name]) for p in PITFALLS}
    rows = []
    for p in PITFALLS:
        broken, fixed = (p.symptom.show(metrics[p.name][k]) for k in ("broken", "fixed"))
        rows.append([p.name, p.symptom.measured, broken, fixed])
    parts["atlas"] = table(["pitfall", "symptom measured", "broken", "fixed"], rows).rstrip("\n")
    parts["curves"] = e0_curves_sentence(metrics["cem"])
    secs, cpu = metrics["seconds"], metrics["cpu_seconds"]
    parts["run"] = f"{secs:.0f} s of wall time ({cpu:.0f} s of CPU time)"
    return sections(parts, "`results/e0_debugging_common_pitfalls.json`")


def e0_curves_sentence(cem: dict) -> str:
    """When each CEM seed met the 100-episode criterion, in words."""
    solved = [s for s in cem["solved_at_episode"] if s is not None]
    n = len(cem["solved_at_episode"])
    if not solved:
        return f"None of the {n} seeds meets the {curves.SOLVED_WINDOW}-episode criterion here."
    return (
        f"The {n} seeds (middle) cross {curves.SOLVED_RETURN:g} at different times: "
        f"{len(solved)} of {n} meet the {curves.SOLVED_WINDOW}-episode criterion, after "
        f"{min(solved)} to {max(solved)} episodes."
    )


def view_e0_sweep(sweep: dict) -> str:
    """E0: the learning-rate x seed sweep, one row per learning rate."""
    m = sweep["metrics"]
    rows = [
        [
            f"{lr:g}",
            f"{num(med, '.1f')} [{num(lo, '.1f')}, {num(hi, '.1f')}]",
            ", ".join(num(s, ".0f") for s in scores),
        ]
        for lr, med, lo, hi, scores in zip(
            m["learning_rates"], m["median"], m["q25"], m["q75"], m["score"], strict=True
        )
    ]
    head = [
        "learning rate",
        "median [IQR] over seeds",
        f"seeds {m['seeds'][0]}-{m['seeds'][-1]}, one by one",
    ]
    text = (
        f"Score: the mean return of the last {m.get('last', 50)} of {m['episodes']} episodes. "
        f"Best median: learning rate {m['best_lr']:g} ({num(m['best_median'], '.1f')}); "
        f"failed trials: {m['failed_trials']}.\n\n"
    )
    return text + table(head, rows) + "\n" + provenance(sweep)


# --8<-- [end:e0]


# --8<-- [start:e1-e2]
def view_e1_grid(e1: dict) -> str:
    """E1: the three greedy agents of the gridworld."""
    m = e1["metrics"]
    rows = [
        [
            name,
            "yes" if m[f"{name}_reached_goal"] else "**no**",
            str(m[f"{name}_steps"]),
            str(m[f"{name}_checkpoint_visits"]),
            f"{m[f'{name}_true_return']:g}",
        ]
        for name in ("true", "proxy", "shaped")
    ]
    head = [
        "reward the agent optimised",
        "reaches the goal",
        "steps",
        "bonuses collected",
        "true return",
    ]
    return table(head, rows)


def view_e1_bon(e1: dict) -> str:
    """E1: best-of-n, in one sentence."""
    m = e1["metrics"]
    n_max = max(int(k.removeprefix("bon_gold_at_n")) for k in m if k.startswith("bon_gold_at_n"))
    bon = (
        f"Best-of-$n$: the gold score is {num(m['bon_gold_at_n1'], '.2f')} at $n = 1$, peaks at "
        f"{num(m['bon_gold_peak'], '.2f')} at $n = {m['bon_gold_peak_n']}$ and falls to "
        f"{num(m[f'bon_gold_at_n{n_max}'], '.2f')} at $n = {n_max}$, where the proxy score has "
        f"climbed to {num(m[f'bon_proxy_at_n{n_max}'], '.2f')}.\n"
    )
    return bon


def view_e2(e2: dict) -> str:
    """E2: the capstone's reference run against its definition of done, and its curve."""
    m = e2["metrics"]
    chunk = m["timesteps"] // len(m["curve"])  # one evaluation after each chunk of training
    points = [(chunk * (k + 1), y) for k, y in enumerate(m["curve"])]
    first = next((x for x, y in points if y >= m["target"]), None)
    text = (
        f"The definition of done is **{'met' if m['done'] else 'not met'}**: a mean return of "
        f"{num(m['mean_return'], '.1f')} ± {m['std_return']:.1f} over {m['episodes']} evaluation "
        f"episodes, against a target of {num(m['target'], 'g')}, after {m['timesteps']:,} "
        f"environment steps. The curve (10 greedy episodes after every {chunk:,} steps) first "
        f"reaches the target after {first or 0:,} steps; its points read "
        + ", ".join(f"{num(y, 'g')} at {x:,}" for x, y in points)
        + ".\n"
    )
    return text + "\n" + json_line(e2) + "\n" + provenance(e2)


# --8<-- [end:e1-e2]


# --8<-- [start:registry]
VIEWS: dict[str, View] = {
    "e0": View((E0_JSON,), view_e0),
    "e0-sweep": View(("e0-sweep",), view_e0_sweep),
    "e1-grid": View(("e1",), view_e1_grid),
    "e1-bon": View(("e1",), view_e1_bon),
    "e1": View(("e1",), lambda e1: json_line(e1) + "\n" + provenance(e1)),
    "e2": View(("e2",), view_e2),
}
# --8<-- [end:registry]
