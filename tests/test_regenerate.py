"""The numbers on the pages are exactly what the committed records render to.

This is the one staleness test of the course: every Markdown file a page includes from
``results/`` is a view of ``snippets/regenerate/``, rendered again here from its records.
"""

import ast
import importlib
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, run_main

from snippets import regenerate
from snippets.regenerate import views_c
from snippets.regenerate.__main__ import main as regenerate_main

DOCS = ROOT / "docs"
INCLUDED = re.compile(r'^\s*--8<--\s+"results/(?P<path>[^":]+\.md)(?::(?P<section>[\w-]+))?"', re.M)
SECTION = re.compile(r"\[start:([\w-]+)\]")


def includes() -> list[tuple[str, str, str | None]]:
    """Every ``(page, path under results/, section)`` a page includes from ``results/``."""
    return [
        (str(page.relative_to(DOCS)), m["path"], m["section"])
        for page in sorted(DOCS.rglob("*.md"))
        for m in INCLUDED.finditer(page.read_text())
    ]


def included_views() -> set[str]:
    return {path.removeprefix("runs/").removesuffix(".md") for _, path, _ in includes()}


def test_every_markdown_file_a_page_includes_from_results_is_a_view_and_its_sections_exist():
    for page, path, section in includes():
        assert path.startswith("runs/"), f"{page} includes results/{path}, which no view writes"
        name = path.removeprefix("runs/").removesuffix(".md")
        assert name in regenerate.VIEWS, f"{page} includes results/{path}, which no view writes"
        if section:
            text = (regenerate.RUNS_DIR / f"{name}.md").read_text()
            assert section in SECTION.findall(text), f"{page}: no section {section} in {path}"


def test_every_section_a_view_renders_is_included_on_a_page():
    shown = {(path, section) for _, path, section in includes() if section}
    for name in included_views():
        for section in SECTION.findall((regenerate.RUNS_DIR / f"{name}.md").read_text()):
            assert (f"runs/{name}.md", section) in shown, f"results/runs/{name}.md:{section}"


@pytest.mark.parametrize("view", sorted(included_views()))
def test_every_table_a_page_includes_renders_exactly_from_its_committed_records(view):
    assert view in regenerate.VIEWS, f"a page includes results/runs/{view}.md, which no view writes"
    missing = regenerate.missing_sources(view)
    assert not missing, (
        f"results/runs/{view}.md cannot be rendered: {missing} do not exist yet (run records: "
        "`uv run python -m snippets.regenerate --run NAME`; benchmark entries: "
        "`uv run python -m snippets.benchmark --lesson NAME`)"
    )
    committed = (regenerate.RUNS_DIR / f"{view}.md").read_text()
    assert committed == regenerate.render_view(view), (
        f"results/runs/{view}.md differs from its records: run "
        "`uv run python -m snippets.regenerate --render` (or rerun the lesson's command)"
    )


def test_every_record_was_made_by_the_command_the_manifest_lists():
    for path in sorted(regenerate.RUNS_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        assert record["run"] == path.stem
        assert record["command"] == regenerate.RUNS[path.stem].command(), path.name


def test_every_figure_a_page_shows_is_written_by_a_listed_command():
    written = {f for run in regenerate.RUNS.values() for f in run.figures}
    written |= set(regenerate.BENCHMARK_FIGURES)
    shown = set()
    for page in DOCS.rglob("*.md"):
        shown |= set(re.findall(r"assets/figures/([\w.-]+)", page.read_text()))
    drawn_by_hand = {name for name in shown if name.endswith(".svg")}  # diagrams, not data
    assert shown - drawn_by_hand <= written, sorted(shown - drawn_by_hand - written)


def test_a_view_shows_new_numbers_when_its_record_changes(tmp_path: Path):
    record = json.loads((regenerate.RUNS_DIR / "d1.json").read_text())
    record["metrics"]["inter_annotator"]["T=1"] = 0.5
    (tmp_path / "d1.json").write_text(json.dumps(record))
    assert "50.0 %" in regenerate.render_view("d1", tmp_path)
    assert regenerate.render_view("d1", tmp_path) != regenerate.render_view("d1")


def test_cli_runs_one_command_into_a_temporary_folder(tmp_path: Path, capsys):
    args = [
        "--run",
        "a3-4x4",
        "--out",
        str(tmp_path / "runs"),
        "--figures",
        str(tmp_path / "figures"),
    ]
    assert run_main(regenerate_main, *args, capsys=capsys)["ran"] == ["a3-4x4"]
    record = json.loads((tmp_path / "runs" / "a3-4x4.json").read_text())
    assert record["metrics"]["v_random_cell_0_1"] == pytest.approx(-14.0, abs=0.05)  # Ex. 4.1
    assert record["command"].endswith("--plot docs/assets/figures/a3_gridworld_4x4.png")
    assert (tmp_path / "figures" / "a3_gridworld_4x4.png").stat().st_size > 10_000


# Hand-built D3 records: what each D3 table must say, line by line.
MACHINE = {"platform": "Linux x86_64", "cpus": 2}
D3_METRICS = {
    "gold_gain_std_grpo": 1.234,
    "kl_grpo": 4.5,
    "seconds_grpo": 61.4,
    "tokens_generated_grpo": 123456,
    "model_state_mb_grpo": 12.34,
    "gold_gain_std_dpo": -0.05,
    "kl_dpo": 0.123,
    "seconds_dpo": 9.6,
    "tokens_generated_dpo": 0,
    "model_state_mb_dpo": 8.0,
    "best_of_n": [{"n": 4, "gold_gain_std": 0.8, "kl": 0.91}],
}
RLVR_METRICS = {
    "pass_at_k_before": {"1": 0.22, "8": 0.87},
    "pass_at_k_after": {"1": 0.62, "8": 0.9},
    "pass_at_1_before": 0.2234,
    "pass_at_1_after": 0.6166,
    "pass_at_1_gain": 0.3932,
    "seconds_grpo": 150.4,
    "seconds_pretrain": 40.6,
}


def record(name: str, metrics: dict) -> dict:
    return {
        "run": name,
        "command": f"uv run python -m snippets.x --{name}",
        "date": "2026-12-01",
        "machine": MACHINE,
        "load_average": 1.5,
        "wall_seconds": 300.2,
        "metrics": metrics,
        "files": {},
    }


def entry(date: str, gain_key: str, kl_key: str, gains: list, kls: list, met: int) -> dict:
    runs = [
        {"seed": s, "metrics": {gain_key: g, kl_key: k}, "curve": None}
        for s, (g, k) in enumerate(zip(gains, kls, strict=True))
    ]
    return {
        "date": date,
        "machine": MACHINE,
        "target_text": f"{gain_key} target",
        "runs": runs,
        "summary": {"met": met, "seeds": len(runs)},
    }


def write_d3_sources(folder: Path) -> Path:
    """D3's two run records in ``folder``, and a benchmark.json holding D2 and D3's entries."""
    (folder / "d3.json").write_text(json.dumps(record("d3", D3_METRICS)))
    (folder / "d3-rlvr.json").write_text(json.dumps(record("d3-rlvr", RLVR_METRICS)))
    lessons = {
        "d2": entry(
            "2026-11-26", "gold_gain_std_kl", "kl_after_kl", [1.0, 1.6, 1.2], [4.0, 4.2, 4.6], 3
        ),
        "d3-grpo": entry(
            "2026-12-01", "gold_gain_std_grpo", "kl_grpo", [1.0, 1.2, 1.6], [4.0, 4.2, 4.6], 2
        ),
        "d3-rloo": entry(
            "2026-12-01", "gold_gain_std_rloo", "kl_rloo", [0.5, 1.0, 1.5], [5.0, 6.0, 7.0], 1
        ),
        "d3-dpo": entry(
            "2026-12-01", "gold_gain_std_dpo", "kl_dpo", [0.2, 0.4, 0.8], [0.5, 1.0, 1.5], 0
        ),
    }
    (folder / "benchmark.json").write_text(json.dumps({"lessons": lessons}))
    return folder / "benchmark.json"


def test_d3_tables_say_exactly_what_the_hand_built_records_hold(tmp_path: Path):
    bench = write_d3_sources(tmp_path)
    assert regenerate.render_view("d3", tmp_path, bench).splitlines() == [
        "| method | gold gain (std) | KL (nats) | wall time | tokens generated | model state "
        "| value head | reward model | reference | sampling during training |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| GRPO | +1.23 | 4.50 | 61 s | 123,456 | 12.3 MB | no | yes | yes | yes |",
        "| DPO | -0.05 | 0.12 | 10 s | 0 | 8.0 MB | no | no | yes | no |",
        "",
        "Best-of-n from the SFT model, same prompts, at its KL bound: n = 4: +0.80 at ≤ 0.91 nats.",
        "",
        "```text",
        json.dumps(D3_METRICS),
        "```",
        "",
        "*Measured 2026-12-01 on Linux x86_64 (2 CPUs, load average 1.5 at the start; 300.2 s of "
        "wall time) by `uv run python -m snippets.x --d3`.*",
    ]
    assert regenerate.render_view("d3-rlvr", tmp_path, bench).splitlines() == [
        "pass@1 went from 22.3% to 61.7% (+39.3 points) after 150 s of GRPO (pretraining took 41 s).",
        "",
        "| k | 1 | 8 |",
        "|---|---|---|",
        "| pretrained | 22% | 87% |",
        "| after GRPO | 62% | 90% |",
        "",
        "*Measured 2026-12-01 on Linux x86_64 (2 CPUs, load average 1.5 at the start; 300.2 s of "
        "wall time) by `uv run python -m snippets.x --d3-rlvr`.*",
    ]
    assert regenerate.render_view("d3-seeds", tmp_path, bench).splitlines() == [
        "| method | target | gold gain (std), median [IQR] | KL (nats), median [IQR] | seeds meeting target |",
        "|---|---|---|---|---|",
        "| PPO (D2) | gold_gain_std_kl target | +1.20 [+1.10, +1.40] | 4.20 [4.10, 4.40] | 3 / 3 |",
        "| GRPO | gold_gain_std_grpo target | +1.20 [+1.10, +1.40] | 4.20 [4.10, 4.40] | 2 / 3 |",
        "| RLOO | gold_gain_std_rloo target | +1.00 [+0.75, +1.25] | 6.00 [5.50, 6.50] | 1 / 3 |",
        "| DPO | gold_gain_std_dpo target | +0.40 [+0.30, +0.60] | 1.00 [0.75, 1.25] | 0 / 3 |",
        "",
        "*From `results/benchmark.json`: `uv run python -m snippets.benchmark --lesson d2 "
        "--lesson d3-grpo --lesson d3-rloo --lesson d3-dpo`; d2: seeds 0, 1, 2, run 2026-11-26 on "
        "Linux x86_64 (2 CPUs); d3-grpo, d3-rloo, d3-dpo: seeds 0, 1, 2, run 2026-12-01 on "
        "Linux x86_64 (2 CPUs).*",
    ]


def test_render_all_skips_views_whose_runs_or_benchmark_entries_do_not_exist(tmp_path: Path):
    bench = write_d3_sources(tmp_path)
    assert regenerate.render_all(tmp_path, bench) == ["d3", "d3-dpo-seeds", "d3-rlvr", "d3-seeds"]
    results = json.loads(bench.read_text())
    del results["lessons"]["d3-rloo"]
    bench.write_text(json.dumps(results))
    (tmp_path / "d3-rlvr.json").unlink()
    assert regenerate.missing_sources("d3-seeds", tmp_path, bench) == ["benchmark:d3-rloo"]
    assert regenerate.render_all(tmp_path, bench) == ["d3", "d3-dpo-seeds"]


def test_d3_frontier_is_drawn_from_the_benchmark_only_once_d3_entries_exist(tmp_path: Path):
    bench = write_d3_sources(tmp_path)
    results = json.loads(bench.read_text())
    for run in results["lessons"]["d3-grpo"]["runs"]:
        run["metrics"] |= {
            "trace_grpo": [[0.0, 0.0], [2.0, 0.6], [4.0, 1.1]],
            "trace_dpo": [[0.0, 0.0], [0.5, 0.3]],
            "best_of_n": [
                {"n": 1, "kl": 0.0, "gold_gain_std": 0.0},
                {"n": 4, "kl": 0.9, "gold_gain_std": 0.8},
            ],
        }
    bench.write_text(json.dumps(results))
    assert regenerate.draw_benchmark_figures(tmp_path / "figures", bench) == ["d3_frontier.png"]
    assert (tmp_path / "figures" / "d3_frontier.png").stat().st_size > 10_000
    del results["lessons"]["d3-grpo"]
    bench.write_text(json.dumps(results))
    assert regenerate.draw_benchmark_figures(tmp_path / "later", bench) == []


def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects) -> None:
    assert_rejects("regenerate", "--run no-such-run")


def test_views_are_collected_from_every_views_module_in_file_name_order():
    modules = sorted(p.stem for p in (ROOT / "snippets" / "regenerate").glob("views_*.py"))
    assert modules[0] == "views_a" and modules[-1] == "views_results"  # the course, then results
    found = [importlib.import_module(f"snippets.regenerate.{m}").VIEWS for m in modules]
    assert list(regenerate.VIEWS) == [name for views in found for name in views]
    names = list(regenerate.VIEWS)
    assert names.index("a2") < names.index("b0-testbed") < names.index("c0") < names.index("d1")


# Markdown made from a run is made in snippets/regenerate/ and nowhere else.
MARKDOWN = re.compile(r"^\|[ -]|<!--")  # a table row or its rule, or an HTML comment


def markdown_writers(path: Path) -> list[int]:
    """Lines of a module with a string that starts a Markdown table row or a section marker."""
    strings = (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant))
    return [n.lineno for n in strings if isinstance(n.value, str) and MARKDOWN.search(n.value)]


def test_only_the_regenerate_package_renders_markdown_from_runs():
    outside = {
        str(p.relative_to(ROOT)): lines
        for p in sorted((ROOT / "snippets").rglob("*.py"))
        if "regenerate" not in p.parts and (lines := markdown_writers(p))
    }
    assert outside == {}
    assert markdown_writers(ROOT / "snippets" / "regenerate" / "helpers.py")  # the check sees them


def test_no_command_a_page_quotes_writes_markdown():
    # Markdown made from runs is written only as results/runs/<view>.md, by the views
    assert sorted(p.name for p in (ROOT / "results").glob("*.md")) == []
    written = {p.stem for p in regenerate.RUNS_DIR.glob("*.md")}
    assert written <= set(regenerate.VIEWS), written - set(regenerate.VIEWS)
    for run in regenerate.RUNS.values():
        assert "--report" not in run.args and not any(a.endswith(".md") for a in run.args), run


# C2's tables: PPO's variants over seeds, and what "relapse" counts.
def c2_entry(kept: list[float], final: list[float], solved: list[int | None]) -> dict:
    evals = [500.0, 300.0, 500.0]  # solved, unlearned once, relearned: 1 relapse of 2
    runs = [
        {
            "metrics": {
                "kept_mean_return": k,
                "final_mean_return": f,
                "first_solved_step": s,
                "cpu_seconds": 30.0,
                "eval_returns": evals,
            }
        }
        for k, f, s in zip(kept, final, solved, strict=True)
    ]
    return {"runs": runs}


def test_relapses_count_evaluations_below_the_bar_after_the_first_solve():
    assert views_c.relapses([100.0, 480.0, 300.0, 500.0, 474.9]) == (2, 3)
    assert views_c.relapses([100.0, 200.0]) == (0, 0)


def test_c2_variants_table_counts_kept_and_final_agents_per_seed():
    entry = c2_entry(
        [500, 500, 480, 470, 500], [500, 300, 500, 200, 500], [10_240, 20_480, None, 40_960, 15_360]
    )
    text = views_c.view_c2_variants(("c2", entry))
    row = text.splitlines()[2]
    assert row.startswith(
        "| from scratch (this page) | 500 [480, 500] | 500 [300, 500] | 4 / 5 | 3 / 5 "
    )
    assert "4 seeds, at 10k–41k steps | 5 of 10 |" in row and "| 30 [30, 30] s |" in row
