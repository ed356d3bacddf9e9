"""The tables of chapters C, D and E: policy gradients, RLHF, reward hacking and the capstone.

Each ``view_*`` function turns committed records into the Markdown a page includes; ``VIEWS``
names, for each file ``results/runs/<view>.md``, the records it is rendered from. D1's and
D3's renderers import their lesson's code only when called (D3's brings in PyTorch).
"""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from snippets.regenerate.helpers import (
    View,
    from_benchmark,
    from_benchmarks,
    json_line,
    num,
    pct,
    provenance,
    table,
)

# --8<-- [end:imports]


# --8<-- [start:views-c]
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
    same = ("The two JAX runs returned exactly the same episode returns: one computation, laid "
            "out two ways. " if m.get("jax_runs_identical") else "The two JAX runs draw the same "
            "random numbers, but their returns are not identical: the two layouts round floats "
            "differently, and training amplifies the smallest difference. ")  # fmt: skip
    text = (f"{m['episodes']} episodes per seed, seeds {m['seeds'][0]}–{m['seeds'][-1]}. {same}"
            "CPU time counts what each run costs whatever else the machine is doing; on an idle "
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


# --8<-- [end:views-c]


# --8<-- [start:views-d]
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


def view_d3(d3: dict) -> str:
    """D3: what each method bought and cost in the default run, and the printed line."""
    from snippets.d3_grpo_rloo_and_dpo import methods, report

    cost = report.cost_table(d3["metrics"], methods.NEEDS)
    return cost + "\n" + json_line(d3) + "\n" + provenance(d3)


def view_d3_rlvr(rlvr: dict) -> str:
    """D3: pass@k before and after GRPO on the addition checker."""
    from snippets.d3_grpo_rloo_and_dpo import report

    return report.rlvr_text(rlvr["metrics"]) + "\n" + provenance(rlvr)


def view_d3_rlvr_seeds(*entries: tuple[str, dict]) -> str:
    """D3: RLVR at every benchmarked seed, the held-back seeds in their own rows."""
    from snippets import benchmark
    from snippets.d3_grpo_rloo_and_dpo import rlvr

    labels = {"d3-rlvr": "benchmark", "d3-rlvr-heldout": "held back"}
    rows = {labels[n]: (e, benchmark.LESSONS[n].target) for n, e in entries}
    met = "; ".join(f"{labels[n]}: {e['summary']['met']} of {e['summary']['seeds']} seeds meet "
                    "the target" for n, e in entries)  # fmt: skip
    return rlvr.seeds_table(rows) + f"\n{met}.\n\n" + from_benchmarks(*entries)


def view_d3_rlvr_fixed(fixed: dict, shuffled: dict, heldout: tuple[str, dict]) -> str:
    """D3: seed 13 after a fixed pretraining budget, its no-information control, and the band."""
    from snippets.d3_grpo_rloo_and_dpo import rlvr

    m = fixed["metrics"]
    band = next(r["metrics"] for r in heldout[1]["runs"] if r["seed"] == m["seed"])
    rows = {f"seed {m['seed']}, fixed budget": m,
            "the same start, rewards shuffled (control)": shuffled["metrics"],
            f"seed {m['seed']}, pretrained to the band": band}  # fmt: skip
    return (rlvr.history_table(rows) + "\n" + provenance(fixed) + "\n" + provenance(shuffled)
            + "\n" + from_benchmarks(heldout))  # fmt: skip


def view_d3_best_of_n(bon: dict) -> str:
    """D3: best-of-n's KL bound beside the KL measured by sampling, seed 0."""
    from snippets.d3_grpo_rloo_and_dpo import report

    return report.best_of_n_kl_table(bon["metrics"]["best_of_n"]) + "\n" + provenance(bon)


def view_d3_dpo(entry: tuple[str, dict]) -> str:
    """D3: DPO's seeds at the default β, and how a seed that misses its target ends."""
    from snippets import benchmark
    from snippets.d3_grpo_rloo_and_dpo import methods, report

    name, e = entry
    target = benchmark.lessons_from_manifest()[name].target
    return (
        report.dpo_seeds_text(e, methods.Config().dpo_beta, target) + "\n" + from_benchmark(e, name)
    )


def view_d3_length(*runs: dict) -> str:
    """D3: the completion lengths GRPO's three loss aggregations lead to (β = 0, seed 0)."""
    rows = []
    for run in runs:
        m, aggregation = run["metrics"], run["command"].split("--aggregation ")[1].split()[0]
        lengths = m["lengths_grpo"]
        rows.append([f"`{aggregation}`", num(lengths[0], ".1f"), num(lengths[-1], ".1f"),
                     f"{m['gold_gain_std_grpo']:+.2f}", num(m["kl_grpo"], ".2f")])  # fmt: skip
    head = ["aggregation", "mean completion length, first trace point", "... last point",
            "gold gain (std)", "KL (nats)"]  # fmt: skip
    others = " and ".join(f"`{r[0]}`" for r in rows[1:])
    return (table(head, rows) + "\n" + provenance(runs[0])
            + f"\n*The other rows: the same command with --aggregation {others}.*\n")  # fmt: skip


def view_d3_seeds(*entries: tuple[str, dict]) -> str:
    """D3: each method's final gold gain and KL over the benchmarked seeds, PPO from D2's entry."""
    from snippets.d3_grpo_rloo_and_dpo import report

    (_, d2), (_, grpo), (_, rloo), (_, dpo) = entries
    rows = {
        "PPO (D2)": (d2, "gold_gain_std_kl", "kl_after_kl"),
        "GRPO": (grpo, "gold_gain_std_grpo", "kl_grpo"),
        "RLOO": (rloo, "gold_gain_std_rloo", "kl_rloo"),
        "DPO": (dpo, "gold_gain_std_dpo", "kl_dpo"),
    }
    return report.seeds_table(rows) + "\n" + from_benchmarks(*entries)


D3_KL_ESTIMATORS = {  # exact.py's estimators, as the page names them
    "k1": "$k_1 = \\log \\pi_\\theta/\\pi_{\\text{ref}}$ per token, as a loss",
    "k2": "$k_2 = \\tfrac12 (\\log r)^2$ per token, as a loss",
    "k3": "$k_3 = r - 1 - \\log r$ per token, as a loss",
    "ratio_k3": "$\\rho\\, k_3$ per token, as a loss (TRL's default)",
    "k1_reward": "$\\sum_t k_1$ as a reward, score function",
}


def view_d3_kl(kl: dict) -> str:
    """D3: each KL estimator's exact expected value and expected gradient, by enumeration."""
    m = kl["metrics"]
    cat, seq = m["categorical"], m["sequence"]

    def err(x: float) -> str:  # the record keeps 4 decimals: below that, exact
        return "0" if abs(x) < 5e-5 else num(x, ".3f")

    rows = []
    for kind, label in D3_KL_ESTIMATORS.items():
        c, s = cat["estimators"][kind], seq["estimators"][kind]
        rows.append([label, num(c["value"], ".3f"), err(c["error_reverse"]),
                     err(c["error_forward"]), err(s["error_reverse"]),
                     num(s["cosine_reverse"], ".3f"), err(s["error_forward"])])  # fmt: skip
    head = ["estimator ($r = \\pi_{\\text{ref}}/\\pi_\\theta$)",
            f"one categorical: expected value (KL = {cat['kl']:.3f})",
            "... gradient error to ∇KL(π‖ref)", "... to ∇KL(ref‖π)",
            "sequences: gradient error to ∇KL(π‖ref)", "... cosine with it",
            "... error to ∇KL(ref‖π)"]  # fmt: skip
    where = (f"*Exact sums over the {m['categories']} outcomes of one categorical and the "
             f"{m['vocab'] ** m['length']} sequences of a tabular policy (vocabulary {m['vocab']}, "
             f"length {m['length']}), logits drawn with seed {m['seed']}. Gradient error: "
             "‖E[∇] − ∇KL‖ / ‖∇KL‖.*\n")  # fmt: skip
    return table(head, rows) + "\n" + where + "\n" + provenance(kl)


def draw_d3_frontier(results: dict, path: Path) -> Path | None:
    """D3's frontier figure over the benchmarked seeds; nothing until D3's entries exist."""
    if "d3-grpo" not in results["lessons"]:
        return None
    from snippets.d3_grpo_rloo_and_dpo import report

    return Path(report.plot_frontier(report.runs_from_benchmark(results), path))


# --8<-- [end:views-d]


# --8<-- [start:views-e]
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


def view_e0_sweep(sweep: dict) -> str:
    """E0: the learning-rate x seed sweep, one row per learning rate."""
    m = sweep["metrics"]
    rows = [[f"{lr:g}", f"{num(med, '.1f')} [{num(lo, '.1f')}, {num(hi, '.1f')}]",
             ", ".join(num(s, ".0f") for s in scores)]
            for lr, med, lo, hi, scores in zip(m["learning_rates"], m["median"], m["q25"],
                                               m["q75"], m["score"], strict=True)]  # fmt: skip
    head = ["learning rate", "median [IQR] over seeds",
            f"seeds {m['seeds'][0]}-{m['seeds'][-1]}, one by one"]  # fmt: skip
    text = (f"Score: the mean return of the last {m.get('last', 50)} of {m['episodes']} episodes. "
            f"Best median: learning rate {m['best_lr']:g} ({num(m['best_median'], '.1f')}); "
            f"failed trials: {m['failed_trials']}.\n\n")  # fmt: skip
    return text + table(head, rows) + "\n" + provenance(sweep)


# --8<-- [end:views-e]


# --8<-- [start:registry]
VIEWS: dict[str, View] = {
    "c0": View(("c0",), view_c0_seeds),
    "c0-speed": View(("c0-speed",), view_c0_speed),
    "c0-ablation": View(("c0-ablation",), view_c0_ablation),
    "c1-seeds": View(("benchmark:c1",), view_c1_seeds),
    "c1-against-c0": View(("c1", "c0"), view_c1_against_c0),
    "d1": View(("d1",), view_d1),
    "d3": View(("d3",), view_d3),
    "d3-best-of-n": View(("d3-best-of-n",), view_d3_best_of_n),
    "d3-dpo-seeds": View(("benchmark:d3-dpo",), view_d3_dpo),
    "d3-rlvr": View(("d3-rlvr",), view_d3_rlvr),
    "d3-kl": View(("d3-kl",), view_d3_kl),
    "d3-rlvr-seeds": View(("benchmark:d3-rlvr", "benchmark:d3-rlvr-heldout"), view_d3_rlvr_seeds),
    "d3-rlvr-fixed": View(
        ("d3-rlvr-fixed", "d3-rlvr-fixed-shuffled", "benchmark:d3-rlvr-heldout"),
        view_d3_rlvr_fixed,
    ),
    "d3-length": View(("d3-length-grpo", "d3-length-dapo", "d3-length-dr_grpo"), view_d3_length),
    "d3-seeds": View(
        ("benchmark:d2", "benchmark:d3-grpo", "benchmark:d3-rloo", "benchmark:d3-dpo"),
        view_d3_seeds,
    ),
    "e1-grid": View(("e1",), view_e1_grid),
    "e1-bon": View(("e1",), view_e1_bon),
    "e1": View(("e1",), lambda e1: json_line(e1) + "\n" + provenance(e1)),
    "e2": View(("e2",), view_e2),
    "e0-sweep": View(("e0-sweep",), view_e0_sweep),
}
# --8<-- [end:registry]
