"""Every grader is proven: the file `start` writes fails it and the lesson's own function passes.

Also: `start` copies each lesson function's signature and docstring exactly and never writes
over the reader's work, `check` says to start first where there is no file yet, the reader's
files are git-ignored, every hands-on lesson has an exercise, each page offers its exercises
with the commands and the included solution, and the hints name a few classic bugs.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

from exercises import exercises
from exercises.__main__ import main
from exercises.grading import LESSONS, Exercise, grade
from exercises.mutants import HERE as MUTANTS_DIR
from exercises.mutants import mutants
from snippets import manifest

torch.set_num_threads(1)

ALL = exercises()
# every lesson with code to write, whatever lessons.toml calls it
BRIEF = {"a3", "b0", "b1", "b2", "b3", "c0", "c1", "c2", "c3", "d1", "d2", "d3"}


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where `start all` wrote every lesson's exercise file, as a reader would."""
    folder = tmp_path_factory.mktemp("started")
    assert main(["start", "all", "--dir", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_the_started_stub_fails_its_grader(ex: Exercise, started: Path) -> None:
    result = grade(ex, ex.stub(started))
    assert result.status == "todo", result.report
    assert "NotImplementedError" in result.report


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_the_lessons_own_function_passes_its_grader(ex: Exercise) -> None:
    result = grade(ex, ex.solution())
    assert result.done, f"{ex.id}: {result.report}"
    assert result.passed >= 2, "a grader needs at least two cases"


def lesson_head(function) -> list[str]:
    """The lesson's own lines of ``function`` from ``def`` to the line that closes its docstring."""
    lines, _ = inspect.getsourcelines(inspect.unwrap(function))
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
    opened = next(i for i in range(start, len(lines)) if '"""' in lines[i])
    closed = opened if lines[opened].count('"""') == 2 else opened + 1
    while '"""' not in lines[closed]:
        closed += 1
    return [line.rstrip("\n") for line in lines[start : closed + 1]]


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_start_copies_the_lesson_signature_and_docstring_exactly(
    ex: Exercise, started: Path
) -> None:
    text = ex.path(started).read_text(encoding="utf-8").splitlines()
    head = lesson_head(ex.solution())
    at = text.index(head[0])
    assert text[at : at + len(head)] == head
    assert text[at + len(head)] == f"    # TODO: {ex.todo}"
    assert text[at + len(head) + 1] == f'    raise NotImplementedError("{ex.function}")'
    stub, solution = ex.stub(started), ex.solution()
    assert str(inspect.signature(stub)) == str(inspect.signature(solution))
    assert inspect.getdoc(stub) == inspect.getdoc(inspect.unwrap(solution))


def test_start_writes_a_header_with_the_check_command(started: Path) -> None:
    text = (started / "b1_tabular_q_learning.py").read_text(encoding="utf-8")
    assert text.startswith('"""Exercises for lesson B1 · Tabular Q-learning on FrozenLake.')
    assert "uv run python -m exercises check b1\n" in text
    for ex in exercises("b1"):
        assert re.search(rf"^    {ex.function} +{re.escape(ex.title)}$", text, re.M), ex.id


def test_start_never_writes_over_the_readers_file(tmp_path: Path, capsys) -> None:
    assert main(["start", "b1", "--into", str(tmp_path)]) == 0
    path = tmp_path / "b1_tabular_q_learning.py"
    path.write_text("def q_update(*args):\n    return 0.0\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["start", "b1", "--into", str(tmp_path)]) == 1
    assert "exists already" in capsys.readouterr().out
    assert path.read_text(encoding="utf-8") == "def q_update(*args):\n    return 0.0\n"
    assert main(["start", "b1", "--into", str(tmp_path), "--force"]) == 0
    assert 'raise NotImplementedError("q_update")' in path.read_text(encoding="utf-8")


def test_check_says_in_one_line_to_start_a_lesson_first(tmp_path: Path, capsys) -> None:
    assert main(["check", "b1", "--dir", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("[not started] b1: run `uv run python -m exercises start b1 --dir")


def test_check_all_prints_a_table_on_a_fresh_clone(tmp_path: Path, capsys) -> None:
    assert main(["check", "all", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["exercise", "status", "detail"]
    for ex in ALL:
        start = f"start {ex.lesson}"
        assert re.search(rf"^{re.escape(ex.id)}\s+not started\s+run .*{start}", out, re.M), ex.id
    assert f"0 of {len(ALL)} done" in out


def test_check_all_prints_a_table_and_fails_while_stubs_remain(started: Path, capsys) -> None:
    assert main(["check", "all", "--dir", str(started)]) == 1
    out = capsys.readouterr().out
    for ex in ALL:
        assert re.search(rf"^{re.escape(ex.id)}\s+not done", out, re.M), ex.id
    assert f"0 of {len(ALL)} done" in out


def test_check_one_lesson_against_the_solutions_passes(capsys) -> None:
    assert main(["check", "b1", "--solution"]) == 0
    assert "[done] b1.q_update" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown lesson 'z9'"):
        main(["check", "z9"])
    assert main(["list"]) == 0
    assert "exercises/b1_tabular_q_learning.py" in capsys.readouterr().out


@pytest.mark.parametrize("lesson", sorted({ex.lesson for ex in ALL}))
def test_the_started_file_imports_all_the_lessons_solutions_need(
    lesson: str, tmp_path: Path, capsys
) -> None:
    assert main(["start", lesson, "--dir", str(tmp_path)]) == 0
    path = tmp_path / f"{LESSONS[lesson]}.py"
    solved = [inspect.getsource(inspect.unwrap(ex.solution())) for ex in exercises(lesson)]
    path.write_text("\n\n".join([path.read_text(encoding="utf-8"), *solved]), encoding="utf-8")
    capsys.readouterr()
    assert main(["check", lesson, "--dir", str(tmp_path)]) == 0, capsys.readouterr().out


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_readers_files_are_git_ignored_and_the_graders_are_not(tmp_path: Path) -> None:
    ours = ["exercises/grading.py", "exercises/start.py", "exercises/__main__.py"]
    ours += [f"exercises/graders/{lesson}.py" for lesson in LESSONS]
    ours += [f"exercises/mutants/{path.name}" for path in MUTANTS_DIR.glob("*.py")]
    readers = [f"exercises/{stem}.py" for stem in LESSONS.values()]
    # our .gitignore in a fresh repository, so the check holds in a copy that is no git
    # checkout (the canary's) and ignores whatever repository the tree sits in
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *ours, *readers],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(ignored) == sorted(readers)


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_each_solution_section_is_exactly_the_lesson_function(ex: Exercise) -> None:
    source = ROOT / "snippets" / f"{ex.stem}.py"
    files = [source] if source.is_file() else sorted((ROOT / "snippets" / ex.stem).glob("*.py"))
    found = [f for f in files if f"[start:{ex.section}]" in f.read_text(encoding="utf-8")]
    assert len(found) == 1, f"section {ex.section!r} is in {len(found)} files of {ex.stem}"
    shown, inside = [], False
    for line in found[0].read_text(encoding="utf-8").splitlines():
        if f"[start:{ex.section}]" in line or f"[end:{ex.section}]" in line:
            inside = "[start:" in line
        elif inside and "--8<--" not in line:
            shown.append(line)
    defs = [line for line in shown if re.match(r"(def|class) ", line)]
    assert defs and defs[0].startswith(f"def {ex.function}("), defs
    assert len(defs) == 1, f"section {ex.section!r} holds more than {ex.function}: {defs}"


def test_twenty_exercises_and_one_for_every_hands_on_lesson() -> None:
    assert len(ALL) >= 20
    assert len({ex.id for ex in ALL}) == len(ALL)
    hands_on = {
        lesson.stem[:2].lower() for lesson in manifest.lessons() if lesson.kind == "hands-on"
    }
    assert hands_on | BRIEF <= {ex.lesson for ex in ALL}


@pytest.mark.parametrize("lesson", sorted({ex.lesson for ex in ALL}))
def test_each_page_offers_its_exercises_with_commands_hint_and_included_solution(
    lesson: str,
) -> None:
    stem = LESSONS[lesson]
    page = next(entry.page for entry in manifest.lessons() if entry.lower == stem)
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    exercises_part = text[text.index("## Exercises") :]
    assert f"uv run python -m exercises start {lesson}" in exercises_part
    assert f"exercises/{stem}.py" in exercises_part
    assert f"uv run python -m exercises check {lesson}" in exercises_part
    for ex in (ex for ex in ALL if ex.lesson == lesson):
        assert f"`{ex.function}`" in exercises_part, ex.id
        include = re.compile(rf'--8<-- "snippets/{stem}(/\w+)?\.py:{ex.section}"')
        assert include.search(exercises_part), f"{ex.id}: no solution include of {ex.section}"
    assert exercises_part.count('??? tip "Hint') >= 1
    assert exercises_part.count('??? success "Solution') >= 1


def by_id(name: str) -> Exercise:
    return next(ex for ex in ALL if ex.id == name)


def q_update_bootstrapping_through_the_end(
    q, state, action, reward, next_state, terminated, alpha, gamma
):
    target = reward + gamma * q[next_state].max()  # the bug: ignores `terminated`
    td = target - q[state, action]
    q[state, action] += alpha * td
    return float(td)


def discounted_returns_shifted(rewards, gamma):
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        out[t] = gamma * running  # the bug: G_t leaves out the reward that follows step t
        running = rewards[t] + gamma * running
    return out


def response_logprobs_without_temperature(logits, input_ids, prompt_length, temperature):
    scaled = logits[:, prompt_length - 1 : -1]  # the bug: forgets to divide by the temperature
    tokens = input_ids[:, prompt_length:]
    return torch.log_softmax(scaled, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def gae_running_across_the_cut(rewards, values, next_values, terminated, truncated, gamma, lam):
    rewards = np.asarray(rewards, dtype=np.float64)
    not_terminal = 1.0 - np.asarray(terminated, dtype=np.float64)
    advantages, running = np.zeros_like(rewards), np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * not_terminal[t] * next_values[t] - values[t]
        running = delta + gamma * lam * not_terminal[t] * running  # the bug: ignores truncated
        advantages[t] = running
    return advantages, advantages + values


def surrogate_with_max(new_logprobs, old_logprobs, advantages, clip_coef=0.2, mask=None):
    ratio = torch.exp(new_logprobs - old_logprobs)
    clipped = torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages
    objective = torch.maximum(ratio * advantages, clipped)  # the bug: optimistic max
    mask = torch.ones_like(ratio) if mask is None else mask
    clipped_share = ((ratio - 1).abs() > clip_coef).float()
    return -(objective * mask).sum() / mask.sum(), (clipped_share * mask).sum() / mask.sum()


def rewards_on_the_last_column(scores, logprobs, ref_logprobs, mask, kl_coef):
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask
    rewards[:, -1] += scores  # the bug: the last column is padding for short completions
    return rewards


@pytest.mark.parametrize(
    ("name", "buggy", "named"),
    [
        ("b1.q_update", q_update_bootstrapping_through_the_end, "bootstrap through the terminal"),
        ("c0.discounted_returns", discounted_returns_shifted, "off-by-one"),
        ("d2.response_logprobs", response_logprobs_without_temperature, "temperature"),
        ("c1.gae_advantages", gae_running_across_the_cut, "across the cut"),
        ("c2.clipped_surrogate_loss", surrogate_with_max, "instead of the pessimistic min"),
        ("d2.compute_rewards", rewards_on_the_last_column, "last column instead of the last real"),
    ],
)
def test_a_classic_bug_is_caught_and_named(name, buggy, named) -> None:
    result = grade(by_id(name), buggy)
    assert result.status == "wrong"
    assert "expected" in result.report and "actual" in result.report
    assert named in result.report, result.report


def q_values_without_gamma_at_one_half(mdp, v):
    gamma = 1.0 if mdp.gamma == 0.5 else mdp.gamma  # wrong on the first case only
    return mdp.R + gamma * mdp.P @ v


def test_a_mistake_is_named_only_when_it_matches_on_every_case() -> None:
    # the first case alone gives exactly the "forget the discount gamma" numbers ...
    result = grade(by_id("a3.q_values"), q_values_without_gamma_at_one_half)
    assert result.status == "wrong"
    assert "expected" in result.report and "actual" in result.report
    # ... but the later cases do not, so no cause is named: only what the numbers show
    assert "That is exactly what you get" not in result.report, result.report
    assert "entries differ" in result.report, result.report


MUTANTS = [
    pytest.param(ex, wrong, mistake, id=f"{ex.id}:{wrong.__name__.lstrip('_')}")
    for ex in ALL
    for wrong, mistake in mutants(ex.lesson).get(ex.function, [])
]


@pytest.mark.parametrize("ex", ALL, ids=lambda ex: ex.id)
def test_every_exercise_has_at_least_four_mutants_with_distinct_mistakes(ex: Exercise) -> None:
    known = mutants(ex.lesson).get(ex.function, [])
    assert len(known) >= 4, f"{ex.id} has {len(known)} mutants"
    assert len({mistake for _, mistake in known}) >= 4


def test_mutant_files_are_found_by_lesson_id_and_name_real_exercises() -> None:
    files = sorted(p.stem for p in MUTANTS_DIR.glob("*.py") if p.stem != "__init__")
    assert files == sorted({ex.lesson for ex in ALL})
    for lesson in files:
        functions = {ex.function for ex in exercises(lesson)}
        assert set(mutants(lesson)) <= functions, f"{lesson}: {set(mutants(lesson)) - functions}"


@pytest.mark.parametrize(("ex", "wrong", "mistake"), MUTANTS)
def test_every_mutant_is_caught_and_named_for_its_own_mistake(ex, wrong, mistake) -> None:
    result = grade(ex, wrong)
    assert result.status == "wrong", f"{ex.id}: the mutant that would {mistake} is graded done"
    assert f"That is exactly what you get if you {mistake}." in result.report, result.report
    others = {text for _, text in mutants(ex.lesson)[ex.function]} - {mistake}
    assert not [text for text in others if text in result.report], result.report
