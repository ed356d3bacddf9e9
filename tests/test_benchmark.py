import json
from pathlib import Path

import pytest
from conftest import ROOT, run_module

from snippets import benchmark


def fake_runs(values):
    return [
        {"seed": i, "wall_seconds": 1.0 + i, "metrics": {"m": v}, "curve": None}
        for i, v in enumerate(values)
    ]


def test_summary_counts_seeds_meeting_the_target_and_takes_quartiles():
    lesson = benchmark.Lesson("x", "m", ">=", 475.0, "≥ 475", "ref")
    s = benchmark.summarise(lesson, fake_runs([500, 480, 100, 475, 499]))
    assert s["met"] == 4 and s["seeds"] == 5
    assert s["median"] == 480 and s["q25"] == 475 and s["q75"] == 499
    assert s["median_wall_seconds"] == 3.0
    lower = benchmark.Lesson("x", "m", "<=", 6.0, "≤ 6", "ref")
    assert benchmark.summarise(lower, fake_runs([5.0, 7.0]))["met"] == 1
    near = benchmark.Lesson("x", "m", "~", 1.0, "≈ 1", "ref", tolerance=0.1)
    assert benchmark.summarise(near, fake_runs([0.95, 1.2, 1.05]))["met"] == 2


def test_a_run_meets_the_target_only_if_every_further_condition_holds():
    # D2's target: gold up >= 1 std *at* KL <= 6 nats; a big gain bought with KL 9 fails.
    lesson = benchmark.Lesson("x", "gain", ">=", 1.0, "", "", also=(("kl", "<=", 6.0),))
    runs = [
        {"seed": 0, "wall_seconds": 1.0, "metrics": {"gain": 1.4, "kl": 4.0}, "curve": None},
        {"seed": 1, "wall_seconds": 1.0, "metrics": {"gain": 2.5, "kl": 9.0}, "curve": None},
        {"seed": 2, "wall_seconds": 1.0, "metrics": {"gain": 0.5, "kl": 2.0}, "curve": None},
    ]
    s = benchmark.summarise(lesson, runs)
    assert s["met"] == 1
    assert s["also"]["kl"] == {"median": 4.0, "q25": 3.0, "q75": 6.5}


def test_metric_paths_walk_into_nested_json():
    lesson = benchmark.Lesson("x", "final/UCB c=2", ">=", 1.0, "", "")
    assert lesson.value({"final": {"UCB c=2": 1.5}}) == 1.5
    assert benchmark.Lesson("x", "best/0", ">=", 1.0, "", "").value({"best": [3, 4]}) == 3.0


def test_results_page_table_is_exactly_the_committed_json():
    json_path = ROOT / "results" / "benchmark.json"
    results = json.loads(json_path.read_text())
    assert (ROOT / "results" / "table.md").read_text() == benchmark.render_table(results)
    assert '--8<-- "results/table.md"' in (ROOT / "docs" / "results.md").read_text()
    for name, entry in results["lessons"].items():
        lesson = benchmark.LESSONS[name]
        values = [lesson.value(run["metrics"]) for run in entry["runs"]]
        assert entry["summary"] == benchmark.summarise(lesson, entry["runs"]), name
        assert len(values) == entry["summary"]["seeds"]


def test_cli_runs_a_lesson_and_writes_json_and_table(tmp_path: Path):
    result = run_module("benchmark", "--lesson", "a3", "--seeds", "2", "--quick", "--out", str(tmp_path),
                        "--figure", str(tmp_path / "curves.png"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["a3"]["met"] == 2
    written = json.loads((tmp_path / "benchmark.json").read_text())
    runs = written["lessons"]["a3"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    assert runs[0]["metrics"]["v_star_cell_0_1"] == pytest.approx(24.4, abs=0.05)
    assert (tmp_path / "table.md").read_text() == benchmark.render_table(written)
