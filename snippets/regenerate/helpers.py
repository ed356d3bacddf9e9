"""The Markdown pieces every view is built from: a table, the provenance line, number formats.

A view is a Markdown file the pages include (``results/runs/<view>.md``), rendered from
committed records alone; ``View`` names those records and the function that renders them.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

# --8<-- [end:imports]


# --8<-- [start:view]
@dataclass(frozen=True)
class View:
    """A Markdown file the pages include, and the records it is rendered from."""

    sources: tuple[str, ...]  # run names, or "benchmark:<entry>" for the benchmark's records
    render: Callable[..., str]


# --8<-- [end:view]


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


def from_benchmarks(*entries: tuple[str, dict]) -> str:
    """One line under a table built from several benchmark entries: the command, where and when.

    Entries measured with the same seeds on the same day and machine share one clause.
    """
    clauses: dict[str, list[str]] = {}
    for name, e in entries:
        seeds = ", ".join(str(r["seed"]) for r in e["runs"])
        where = f"{e['machine']['platform']} ({e['machine']['cpus']} CPUs)"
        clauses.setdefault(f"seeds {seeds}, run {e['date']} on {where}", []).append(name)
    lessons = " ".join(f"--lesson {name}" for name, _ in entries)
    said = [c if len(clauses) == 1 else f"{', '.join(names)}: {c}" for c, names in clauses.items()]
    return (
        f"*From `results/benchmark.json`: `uv run python -m snippets.benchmark {lessons}`; "
        f"{'; '.join(said)}.*\n"
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
