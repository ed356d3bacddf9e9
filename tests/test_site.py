"""The literate guarantee: the site shows exactly the code the tests run, and builds strictly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

DOCS = ROOT / "docs"
SNIPPETS = ROOT / "snippets"
TESTS = ROOT / "tests"

# The seed curriculum (shared/seed/curriculum.md): every file becomes a page, every .py
# lesson also a tested module with the same stem in lower case.
CURRICULUM = {
    "A_foundations": ["A0_environment_setup.sh", "A1_introduction_to_rl_concepts.md",
                      "A2_rl_ecosystem_overview.md", "A3_mdp_and_bellman.py"],
    "B_core_algorithms": ["B0_multi_armed_bandits.py", "B1_tabular_q_learning.py",
                          "B2_monte_carlo_methods.py", "B3_deep_q_networks_dqn.py"],
    "C_policy_gradients": ["C0_policy_gradients_reinforce.py", "C1_actor_critic_methods_a2c.py",
                           "C2_proximal_policy_optimization_ppo.md"],
    "D_rlhf": ["D0_introduction_to_rlhf.md", "D1_reward_modeling_concepts.md",
               "D2_rlhf_llm_with_pytorch.py"],
    "E_practice": ["E0_debugging_common_pitfalls.md", "E1_ethical_considerations_rl.md",
                   "E2_further_learning_capstone_idea.md"],
}  # fmt: skip

INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"\s*$')
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<name>[\w-]+)\]")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def modules() -> list[Path]:
    return sorted(p for p in SNIPPETS.glob("*.py") if p.name != "__init__.py")


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


@pytest.mark.parametrize("chapter", sorted(CURRICULUM))
def test_every_curriculum_file_is_a_page_and_every_py_lesson_a_tested_module(chapter: str) -> None:
    for name in CURRICULUM[chapter]:
        stem, suffix = name.rsplit(".", 1)
        assert (DOCS / chapter / f"{stem}.md").is_file(), f"missing page for {name}"
        if suffix == "py":
            lower = stem.lower()
            assert (SNIPPETS / f"{lower}.py").is_file(), f"missing module for {name}"
            assert (TESTS / f"test_{lower}.py").is_file(), f"missing tests for {name}"
            assert (DOCS / "labs" / f"{lower}.py").is_file(), f"missing lab for {name}"


def test_no_control_characters_in_pages_or_code() -> None:
    # A "\b" or "\t" typed into a Python string that writes Markdown turns "\bar\theta" into
    # a backspace and a tab, which KaTeX silently refuses to typeset.
    files = [*DOCS.rglob("*.md"), *DOCS.rglob("*.py"), *SNIPPETS.glob("*.py"), *TESTS.glob("*.py")]
    bad = [f"{p.relative_to(ROOT)}:{n}" for p in files
           for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if re.search(r"[\x00-\x08\x0b-\x1f]", line)]  # fmt: skip
    assert not bad, bad


def test_no_placeholder_is_left() -> None:
    leftovers = [p for p in DOCS.rglob("*") if p.is_file() and p.suffix in {".md", ".py"}
                 and "PLACEHOLDER-PAGE" in p.read_text(encoding="utf-8")]  # fmt: skip
    assert not leftovers, leftovers


@pytest.mark.parametrize("module", modules(), ids=lambda p: p.stem)
def test_every_module_has_a_page_an_api_page_and_a_test_module(module: Path) -> None:
    rel = module.relative_to(ROOT).as_posix()
    assert any(path == rel for _, path, _ in includes()), f"no page includes {rel}"
    api = DOCS / "api" / f"{module.stem}.md"
    assert api.is_file() and f"::: snippets.{module.stem}" in api.read_text(encoding="utf-8")
    assert (TESTS / f"test_{module.stem}.py").is_file()


@pytest.mark.parametrize("module", modules(), ids=lambda p: p.stem)
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


def test_code_is_ruff_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "snippets", "tests", "hooks", "docs/labs"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
