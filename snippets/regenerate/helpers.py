"""The Markdown pieces every view is built from: a table, sections, provenance, number formats.

A view is a Markdown file the pages include (``results/runs/<view>.md``), rendered from
committed records alone; ``View`` names those records and the function that renders them.
"""

# --8<-- [start:imports]
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# --8<-- [end:imports]


# --8<-- [start:view]
@dataclass(frozen=True)
class View:
    """A Markdown file the pages include, and the records it is rendered from.

    A source is a run's name (its record ``results/runs/<run>.json``), ``"benchmark:<entry>"``
    (one entry of ``results/benchmark.json``, passed as ``(name, entry)``) or ``"file:<path>"``
    (a JSON file a command writes, such as ``results/benchmark.json`` itself, relative to the
    repository root).
    """

    sources: tuple[str, ...]
    render: Callable[..., str]


# --8<-- [end:view]


# --8<-- [start:render-helpers]
def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def captioned(header: list[str], rows: list[list[str]], caption: str, record: dict) -> str:
    """A Markdown table, the line that says what it was computed on, and its provenance."""
    return table(header, rows) + "\n" + caption + "\n" + provenance(record)


def section(name: str, body: str) -> str:
    """A named section of a Markdown file, which a page includes as ``"file.md:name"``."""
    marker = "--8<--"  # written in two pieces so that this file has no section of that name
    return f"<!-- {marker} [start:{name}] -->\n{body}\n<!-- {marker} [end:{name}] -->\n"


def sections(parts: dict[str, str], sources: str) -> str:
    """A Markdown file of named sections, under a line saying where it comes from."""
    head = f"<!-- Rendered by `python -m snippets.regenerate` from {sources}; do not edit. -->\n"
    return "\n".join([head, *(section(name, body) for name, body in parts.items())])


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


def text_block(lines: list[str]) -> str:
    """Lines shown as they are, in a ``text`` code block."""
    return "\n".join(["```text", *lines, "```"])


def pct(x: float, digits: int = 1) -> str:
    """0.7931 -> "79.3 %"."""
    return f"{100 * x:.{digits}f} %"


def num(x: float, spec: str = ".4f") -> str:
    """A number with a typographic minus sign, as the prose writes them."""
    return format(x, spec).replace("-", "−")


def median_iqr(values: list[float], fmt: str = "{:.0f}") -> str:
    """``"median [q25, q75]"`` of the values: how the course reports a number over seeds."""
    q25, median, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return f"{fmt.format(median)} [{fmt.format(q25)}, {fmt.format(q75)}]"


def seed_metrics(entry: dict) -> list[dict]:
    """What each seed's run of a benchmark entry measured (its JSON line)."""
    return [run["metrics"] for run in entry["runs"]]


# --8<-- [end:render-helpers]
