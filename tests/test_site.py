"""The literate guarantee: the site shows exactly the code the tests run, and builds strictly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typed_numbers
from conftest import ROOT

from snippets import manifest

DOCS = ROOT / "docs"
SNIPPETS = ROOT / "snippets"
TESTS = ROOT / "tests"

LESSONS = manifest.lessons()


def module_file(name: str) -> Path:
    """``b1_x`` -> snippets/b1_x.py; a package ``d2_x`` -> its __init__; ``d2_x.world`` -> d2_x/world.py."""
    path = SNIPPETS.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"\s*$')
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<name>[\w-]+)\]")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def modules() -> list[Path]:
    """Every module under snippets/ (package files included), but not snippets/__init__.py."""
    return sorted(p for p in SNIPPETS.rglob("*.py") if p != SNIPPETS / "__init__.py")


def dotted(path: Path) -> str:
    """snippets/d2_x/world.py -> "d2_x.world"; snippets/d2_x/__init__.py -> "d2_x"."""
    parts = path.relative_to(SNIPPETS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def includes() -> list[tuple[Path, str, str | None]]:
    found = []
    for page in pages():
        for line in page.read_text(encoding="utf-8").splitlines():
            if match := INCLUDE.match(line):
                found.append((page, match["path"], match["section"]))
    return found


def sections(path: Path) -> set[str]:
    names = {
        m["name"] for m in MARKER.finditer(path.read_text(encoding="utf-8")) if m["kind"] == "start"
    }
    return names


def test_strict_build_succeeds(built_site: Path) -> None:
    assert (built_site / "index.html").is_file()
    assert (built_site / "sitemap.xml").is_file()
    assert (built_site / "search" / "search_index.json").is_file()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_every_manifest_lesson_has_its_page_modules_tests_and_lab(lesson: manifest.Lesson) -> None:
    assert (DOCS / lesson.page).is_file(), f"missing page docs/{lesson.page}"
    for module in lesson.modules:
        assert module_file(module.name).is_file(), f"missing module for {module.name}"
        top = module.name.split(".")[0]
        assert (TESTS / f"test_{top}.py").is_file(), f"missing tests/test_{top}.py"
    if lesson.kind == "hands-on":
        assert lesson.modules and lesson.lab, (
            f"{lesson.stem} is hands-on: it needs a module and a lab"
        )
    lab = DOCS / "labs" / f"{lesson.lower}.py"
    assert lab.is_file() == lesson.lab, (
        f"lab = {lesson.lab} in lessons.toml but {lab} exists: {lab.is_file()}"
    )


def test_the_manifest_lists_every_page_lab_and_module_on_disk() -> None:
    pages_listed = {lesson.page for lesson in LESSONS}
    chapter_pages = {p.relative_to(DOCS).as_posix() for p in DOCS.glob("[A-Z]_*/*.md")}
    assert chapter_pages == pages_listed, chapter_pages ^ pages_listed
    labs_listed = {lesson.lower for lesson in LESSONS if lesson.lab}
    assert {p.stem for p in (DOCS / "labs").glob("*.py")} == labs_listed
    listed = {m.name for m in manifest.all_modules()}
    assert {dotted(p) for p in modules()} == listed, {dotted(p) for p in modules()} ^ listed


def test_the_nav_and_api_pages_come_from_the_manifest(built_site: Path) -> None:
    for module in manifest.all_modules():
        html = (built_site / "api" / module.name / "index.html").read_text(encoding="utf-8")
        assert f"snippets.{module.name}" in html
    for lesson in LESSONS:
        page = built_site / lesson.folder / lesson.stem / "index.html"
        assert page.is_file(), page


def test_no_control_characters_in_pages_or_code() -> None:
    # A "\b" or "\t" typed into a Python string that writes Markdown turns "\bar\theta" into
    # a backspace and a tab, which KaTeX silently refuses to typeset.
    files = [*DOCS.rglob("*.md"), *DOCS.rglob("*.py"), *SNIPPETS.glob("*.py"), *TESTS.glob("*.py")]
    bad = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"[\x00-\x08\x0b-\x1f]", line)
    ]
    assert not bad, bad


@pytest.mark.parametrize("module", modules(), ids=dotted)
def test_every_module_is_shown_on_a_page_and_has_a_test_module(module: Path) -> None:
    rel = module.relative_to(ROOT).as_posix()
    assert any(path == rel for _, path, _ in includes()), f"no page includes {rel}"
    assert (TESTS / f"test_{dotted(module).split('.')[0]}.py").is_file()


@pytest.mark.parametrize("module", modules(), ids=dotted)
def test_every_section_marker_is_balanced_and_shown_on_some_page(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    starts = [m["name"] for m in MARKER.finditer(text) if m["kind"] == "start"]
    ends = [m["name"] for m in MARKER.finditer(text) if m["kind"] == "end"]
    assert sorted(starts) == sorted(ends), "unbalanced section markers"
    assert len(set(starts)) == len(starts), "a section name is used twice"
    rel = module.relative_to(ROOT).as_posix()
    shown = {section for _, path, section in includes() if path == rel}
    if None in shown:  # the whole file is included
        return
    missing = set(starts) - shown
    assert not missing, f"sections of {rel} no page includes: {sorted(missing)}"


def test_every_include_names_an_existing_file_and_section() -> None:
    problems = []
    for page, path, section in includes():
        target = ROOT / path
        if not target.is_file():
            problems.append(f"{page.relative_to(ROOT)}: no file {path}")
        elif section and section not in sections(target):
            problems.append(f"{page.relative_to(ROOT)}: no section {section!r} in {path}")
    assert not problems, "\n".join(problems)


def test_no_hand_typed_python_on_any_page() -> None:
    offenders = []
    for page in pages():
        for fence in FENCE.finditer(page.read_text(encoding="utf-8")):
            if fence["lang"].lower() not in {"python", "py", "python3", "pycon"}:
                continue
            lines = [line for line in fence["body"].splitlines() if line.strip()]
            if not lines or not all(INCLUDE.match(line) for line in lines):
                offenders.append(f"{page.relative_to(ROOT)}: {fence['body'][:60]!r}")
    assert not offenders, "Python must come from snippets/ includes:\n" + "\n".join(offenders)


# `python - <<'EOF'`, `python3 - <<EOF`, `python <<EOF`: Python typed into a shell block.
HEREDOC_PYTHON = re.compile(r"\bpython(?:3(?:\.\d+)?)?(?:\s+-)?\s*<<")


def test_no_python_hidden_in_a_shell_heredoc_on_any_page() -> None:
    planted = ["uv run python - <<'EOF'", "python3 - <<EOF", "python <<EOF", "python3.11 -<<EOF"]
    assert all(HEREDOC_PYTHON.search(line) for line in planted)
    assert not HEREDOC_PYTHON.search("uv run python -m snippets.b1_tabular_q_learning --quick")
    offenders = [
        f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
        for page in pages()
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if HEREDOC_PYTHON.search(line)
    ]
    assert not offenders, "Python must be a snippets/ module the tests run:\n" + "\n".join(
        offenders
    )


def test_setup_sh_is_shown_on_the_a0_page() -> None:
    shown = {path for page, path, _ in includes() if page.name == "A0_environment_setup.md"}
    assert "setup.sh" in shown


def test_every_lab_imports_its_lesson_module() -> None:
    for lab in sorted((DOCS / "labs").glob("*.py")):
        assert f"snippets import {lab.stem}" in lab.read_text(encoding="utf-8") or (
            f"snippets.{lab.stem}" in lab.read_text(encoding="utf-8")
        ), f"{lab.name} does not import snippets.{lab.stem}"


def test_every_figure_a_page_shows_exists() -> None:
    missing = []
    for page in pages():
        for src in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", page.read_text(encoding="utf-8")):
            if (
                not src.startswith(("http://", "https://"))
                and not (page.parent / src).resolve().is_file()
            ):
                missing.append(f"{page.relative_to(ROOT)}: {src}")
    assert not missing, missing


def test_built_pages_load_nothing_from_other_hosts(built_site: Path) -> None:
    # Tags that make the browser fetch something; <link rel="canonical"> only names the page.
    tag = re.compile(r"<(script|link|img|iframe|source)\b([^>]*)>", re.I)
    url = re.compile(r'\b(?:src|href)="((?:https?:)?//[^"]*)"', re.I)
    offenders = []
    for page in built_site.rglob("*.html"):
        for match in tag.finditer(page.read_text(encoding="utf-8")):
            attrs = match[2]
            if 'rel="canonical"' in attrs or not (found := url.search(attrs)):
                continue
            offenders.append(f"{page.relative_to(built_site).as_posix()}: {found[1]}")
    assert not offenders, offenders[:10]
    css = "\n".join(p.read_text(encoding="utf-8") for p in built_site.rglob("*.css"))
    assert "fonts.googleapis" not in css and "@import url(http" not in css


def test_labs_offer_an_executed_page_and_a_notebook_download(built_site: Path) -> None:
    for lab in sorted((DOCS / "labs").glob("*.py")):
        folder = built_site / "labs" / lab.stem
        html = (folder / "index.html").read_text(encoding="utf-8")
        assert f'href="{lab.stem}.ipynb"' in html
        assert (folder / f"{lab.stem}.ipynb").is_file()
        assert "data:image/png" in html, f"{lab.name} produced no figure"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_code_is_ruff_clean(command: list[str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            *command,
            "snippets",
            "tests",
            "hooks",
            "docs/labs",
            "exercises",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


# ------------------------------------------- no measured number typed into a page by hand
TYPED_MEASUREMENTS = [  # each was typed by hand on a page, and several had gone stale
    "seed 3 keeps an early checkpoint that scores 420.8.",
    "The final networks are at 500 in only 2 of 5 seeds.",
    "random ≈ −1200; near-solved ≈ −150 to −200",
    "Its 6.5 minutes per seed include 20 periodic evaluations.",
    "B0's figure moves by about ±0.04 between seeds",
    "a perfect policy scores within about ±0.014 of its true success probability",
    "a probe here: 22 % → 62 % in 150 s",
    "returns between −16 … −100",
    "the policy drifted 3.5 nats from the reference",
]


@pytest.mark.parametrize("sentence", TYPED_MEASUREMENTS)
def test_the_typed_number_check_flags_each_hand_typed_measurement(sentence: str) -> None:
    assert typed_numbers.typed_numbers(sentence), sentence


def test_the_typed_number_check_lets_definitions_citations_names_and_versions_pass() -> None:
    prose = (
        "With γ = 0.99 and ε = 0.1 over seeds 0–4 (Sutton & Barto, 2018; Ex. 3.5), TRL 1.16 on "
        "Python 3.11 trains GPT-2 on CartPole-v1 and the 4x4 map of A3; a 100-episode mean; "
        "`420.8` in code, $v = 24.4$ in maths, [a link](https://x.org/2024/1.5), about a minute."
        '\n\n```text\n420.8\n```\n\n--8<-- "results/table.md"\n\n## 3. A heading\n# B3 · DQN\n'
    )
    assert typed_numbers.typed_numbers(prose) == []


def test_the_typed_number_check_fails_on_a_number_planted_in_a_page(tmp_path: Path) -> None:
    page = tmp_path / "results.md"
    text = (DOCS / "results.md").read_text(encoding="utf-8")
    page.write_text(
        text + "\nSeed 3's kept agent scored 420.8, the others 500.\n", encoding="utf-8"
    )
    found = typed_numbers.flags_in(tmp_path)
    new = typed_numbers.beyond_baseline(found, typed_numbers.baseline())
    assert [f.number for f in new] == ["420.8", "500"], new


def test_no_measured_number_is_typed_into_page_prose() -> None:
    # Render it from a record (regenerate's views), reword it, or, for a definition or a
    # constant, add the phrase to tests/typed_numbers_allowlist.toml with the reason.
    found = typed_numbers.flags_in(DOCS)
    new = typed_numbers.beyond_baseline(found, typed_numbers.baseline())
    assert not new, "numerals typed into page prose:\n" + "\n".join(map(str, new))
    cleaned = {"results.md", "E_practice/E1_ethical_considerations_rl.md"}
    assert not cleaned & set(typed_numbers.baseline()), "these pages must stay clean"


def test_the_results_page_leads_with_the_measured_table_and_keeps_the_machinery_below() -> None:
    text = (DOCS / "results.md").read_text(encoding="utf-8")
    table, machinery = (
        text.find('--8<-- "results/runs/benchmark.md"'),
        text.find("snippets/benchmark.py"),
    )
    figure = text.find("![")
    assert 0 < table < figure < machinery, "the table and figures come before the code"


def test_the_typed_number_check_reads_headings_after_their_numbering() -> None:
    assert [f.number for f in typed_numbers.typed_numbers("## 2. Seed 3 scored 420.8\n")] == [
        "420.8"
    ]
