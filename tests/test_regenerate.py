"""The numbers on the pages are exactly what the committed records render to (fast: < 1 s)."""

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, run_module

from snippets import regenerate

DOCS = ROOT / "docs"
INCLUDED = re.compile(r'^\s*--8<--\s+"results/runs/(?P<name>[\w-]+)\.md"\s*$', re.M)


def included_views() -> set[str]:
    return {m["name"] for page in DOCS.rglob("*.md") for m in INCLUDED.finditer(page.read_text())}


@pytest.mark.parametrize("view", sorted(included_views()))
def test_every_table_a_page_includes_renders_exactly_from_its_committed_records(view):
    assert view in regenerate.VIEWS, f"a page includes results/runs/{view}.md, which no view writes"
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
    written.add(regenerate.BENCHMARK_FIGURE)
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


def test_cli_runs_one_command_into_a_temporary_folder(tmp_path: Path):
    result = run_module("regenerate", "--run", "a3-4x4", "--out", str(tmp_path / "runs"),
                        "--figures", str(tmp_path / "figures"))  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["ran"] == ["a3-4x4"]
    record = json.loads((tmp_path / "runs" / "a3-4x4.json").read_text())
    assert record["metrics"]["v_random_cell_0_1"] == pytest.approx(-14.0, abs=0.05)  # Ex. 4.1
    assert record["command"].endswith("--plot docs/assets/figures/a3_gridworld_4x4.png")
    assert (tmp_path / "figures" / "a3_gridworld_4x4.png").stat().st_size > 10_000
