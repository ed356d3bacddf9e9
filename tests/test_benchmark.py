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


def test_every_committed_summary_is_the_summary_of_its_runs():
    # the table the results page includes is rendered from this JSON: tests/test_regenerate.py
    json_path = ROOT / "results" / "benchmark.json"
    results = json.loads(json_path.read_text())
    for name, entry in results["lessons"].items():
        lesson = benchmark.LESSONS[name]
        values = [lesson.value(run["metrics"]) for run in entry["runs"]]
        assert entry["summary"] == benchmark.summarise(lesson, entry["runs"]), name
        assert len(values) == entry["summary"]["seeds"]


def test_cli_runs_a_lesson_and_writes_json_only(tmp_path: Path):
    result = run_module(
        "benchmark",
        "--lesson",
        "a3",
        "--seeds",
        "2",
        "--quick",
        "--out",
        str(tmp_path),
        "--figure",
        str(tmp_path / "curves.png"),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["a3"]["met"] == 2
    written = json.loads((tmp_path / "benchmark.json").read_text())
    runs = written["lessons"]["a3"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    assert runs[0]["metrics"]["v_star_cell_0_1"] == pytest.approx(24.4, abs=0.05)
    assert [p.name for p in tmp_path.iterdir()] == ["benchmark.json"]  # A3 draws no curve


# The grid: sequential or on Ray, a failed run is retried once and finished runs are kept.
QUICK_PAIR = ["a3", "b1-4x4"]


def numbers(out: Path) -> dict:
    """Every run's metrics by lesson and seed, without the timings (which no seed fixes)."""
    lessons = json.loads((out / "benchmark.json").read_text())["lessons"]
    return {
        name: [
            (r["seed"], {k: v for k, v in r["metrics"].items() if "seconds" not in k})
            for r in e["runs"]
        ]
        for name, e in lessons.items()
    }


def test_ray_and_sequential_grids_give_the_same_numbers_for_the_same_seeds(tmp_path, local_ray):
    for name, finished in (("seq", benchmark.run_sequentially), ("ray", benchmark.run_on_ray)):
        benchmark.run_grid(QUICK_PAIR, 0, 2, True, tmp_path / name, finished)
    on_ray = numbers(tmp_path / "ray")
    assert on_ray == numbers(tmp_path / "seq")
    assert sorted(on_ray) == QUICK_PAIR and [s for s, _ in on_ray["a3"]] == [0, 1]
    runs = json.loads((tmp_path / "ray" / "benchmark.json").read_text())["lessons"]["a3"]["runs"]
    assert all(len(run["node"]) == 8 for run in runs)  # each run says which Ray node ran it
    assert not (tmp_path / "ray" / "benchmark.partial.jsonl").exists()


def test_a_failing_ray_task_is_retried_once_and_the_others_still_finish(local_ray, capsys):
    good = benchmark.tasks_for("a3", 0, 1, quick=True)[0]
    bad = benchmark.Task("no_such_lesson", (), False, 0, True, 1)
    finished = list(benchmark.run_on_ray([bad, good]))
    assert [(task, run is None) for task, run in finished if task == bad] == [(bad, True)]
    assert [run["metrics"]["v_star_cell_0_1"] for task, run in finished if task == good] == [
        pytest.approx(24.4, abs=0.05)
    ]
    err = capsys.readouterr().err
    assert "no_such_lesson seed 0 failed" in err
    assert "retrying once" in err and "giving up on this run" in err


def test_an_interrupted_grid_keeps_its_runs_and_the_next_one_starts_where_it_stopped(tmp_path):
    calls = []

    def interrupted(tasks):
        for task, run in benchmark.run_sequentially(tasks):
            calls.append(task.seed)
            yield task, run
            if len(calls) == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        benchmark.run_grid(["a3"], 0, 3, True, tmp_path, interrupted)
    assert len((tmp_path / "benchmark.partial.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "benchmark.json").exists()  # a3 is not complete: no entry yet
    calls.clear()
    benchmark.run_grid(["a3"], 0, 3, True, tmp_path, interrupted)
    assert calls == [2]  # only the missing seed ran
    assert [s for s, _ in numbers(tmp_path)["a3"]] == [0, 1, 2]
    assert not (tmp_path / "benchmark.partial.jsonl").exists()


def test_a_run_failing_twice_is_reported_and_the_entry_keeps_the_other_seeds(tmp_path, monkeypatch):
    real = benchmark.run_task

    def flaky(task, env=None):
        if task.seed == 1:
            raise RuntimeError("boom")
        return real(task, env)

    monkeypatch.setattr(benchmark, "run_task", flaky)
    benchmark.run_grid(["a3"], 0, 3, True, tmp_path, benchmark.run_sequentially)
    entry = json.loads((tmp_path / "benchmark.json").read_text())["lessons"]["a3"]
    assert [r["seed"] for r in entry["runs"]] == [0, 2]
    assert entry["summary"]["failed_seeds"] == [1] and entry["summary"]["seeds"] == 2


@pytest.mark.parametrize(
    "argv",
    [
        "--seeds 0",
        "--lesson z9",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("benchmark", argv)
