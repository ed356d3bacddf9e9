from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from snippets import benchmark, manifest


def test_lessons_come_in_course_order_with_unique_stems() -> None:
    stems = [lesson.stem for lesson in manifest.lessons()]
    assert stems == sorted(stems), "lessons.toml lists lessons out of course order"
    assert len(set(stems)) == len(stems)
    assert stems[0] == "A0_environment_setup"


def test_every_benchmark_entry_names_a_module_of_its_lesson() -> None:
    for lesson in manifest.lessons():
        names = {m.name for m in lesson.modules}
        for entry in lesson.benchmark:
            assert benchmark.LESSONS[entry["name"]].module in names


def test_the_benchmark_list_is_exactly_the_manifest_entries() -> None:
    from_manifest = [e["name"] for lesson in manifest.lessons() for e in lesson.benchmark]
    assert sorted(benchmark.LESSONS) == sorted(from_manifest)
    assert len(set(from_manifest)) == len(from_manifest)


def test_a_bad_kind_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    text = (ROOT / "lessons.toml").read_text(encoding="utf-8")
    bad = tmp_path / "lessons.toml"
    bad.write_text(text.replace('kind = "reading"', 'kind = "lecture"', 1), encoding="utf-8")
    monkeypatch.setattr(manifest, "MANIFEST", bad)
    manifest.lessons.cache_clear()
    try:
        with pytest.raises(ValueError, match="bad kind"):
            manifest.lessons()
    finally:
        manifest.lessons.cache_clear()


@pytest.fixture
def read_manifest(monkeypatch: pytest.MonkeyPatch):
    """``read_manifest(path)`` points the manifest at another lessons.toml, for this test."""
    caches = (manifest.lessons, manifest.days, manifest.support_modules)

    def point_at(path: Path) -> None:
        monkeypatch.setattr(manifest, "MANIFEST", path)
        for cached in caches:
            cached.cache_clear()

    yield point_at
    for cached in caches:
        cached.cache_clear()


def test_a_lesson_without_a_day_on_the_path_is_refused(read_manifest, tmp_path):
    text = (ROOT / "lessons.toml").read_text(encoding="utf-8")
    bad = tmp_path / "lessons.toml"
    bad.write_text(text.replace("day = 2\n", "", 1), encoding="utf-8")
    read_manifest(bad)
    with pytest.raises(ValueError, match="'B1_tabular_q_learning' needs a day"):
        manifest.lessons()


THROWAWAY_ENTRY = """
[[lesson]]
stem = "E9_throwaway_lesson"
kind = "hands-on"
day = 5
label = "a throwaway"
time = "5 min"
lab = true
modules = [{ name = "e9_throwaway_lesson", title = "A throwaway lesson" }]
"""
THROWAWAY_FILES = {  # the lesson's files, each the least its rule asks for
    "snippets/e9_throwaway_lesson.py": '"""E9."""\n\n\ndef main(argv=None):\n    """Run."""\n',
    "docs/E_practice/E9_throwaway_lesson.md": "# E9 · A throwaway lesson\n",
    "docs/labs/e9_throwaway_lesson.py": "# %% [markdown]\n# # Lab: a throwaway experiment\n",
    "tests/test_e9_throwaway_lesson.py": (
        "def test_bad_input(assert_rejects):\n"
        '    assert_rejects("e9_throwaway_lesson", "--steps 0")\n'
    ),
    "exercises/graders/e9.py": '"""Graders for E9."""\n',
}


def load_hook():
    """hooks/manifest.py, the MkDocs hook, as a module (it reads snippets.manifest)."""
    spec = importlib.util.spec_from_file_location("manifest_hook", ROOT / "hooks" / "manifest.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def test_a_throwaway_lesson_needs_only_its_files_and_one_manifest_entry(
    read_manifest, monkeypatch, tmp_path
):
    """In a copy: a new lesson shows up everywhere the course lists lessons, with no other edit."""
    import test_cli
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    from exercises import grading

    # The copy: the manifest and what the hook and the tests read (index pages, labs, modules,
    # graders) ...
    copied = ["lessons.toml", "docs/index.md", "docs/labs/index.md"]
    for folder in ("docs/labs", "snippets", "exercises/graders"):
        copied += [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py")]
    for name in copied:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tmp_path / name)
    # ... then the lesson: its files and one entry in the manifest.
    for name, text in THROWAWAY_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    with (tmp_path / "lessons.toml").open("a", encoding="utf-8") as toml:
        toml.write(THROWAWAY_ENTRY)
    read_manifest(tmp_path / "lessons.toml")
    monkeypatch.setattr(grading, "GRADERS", tmp_path / "exercises" / "graders")

    hook, docs = load_hook(), tmp_path / "docs"
    config = MkDocsConfig()
    config.load_dict({"site_name": "copy", "docs_dir": str(docs), "site_dir": str(tmp_path / "s")})
    assert config.validate() == ([], [])
    config.plugins._current_plugin = None  # as while MkDocs runs a hook

    assert manifest.lessons()[-1].stem == "E9_throwaway_lesson"  # the site test's list
    nav = hook.on_config(config)["nav"]
    chapter_e = next(section for section in nav if "E · Practice" in section)["E · Practice"]
    assert chapter_e[-1] == "E_practice/E9_throwaway_lesson.md"
    assert "labs/e9_throwaway_lesson.py" in next(s for s in nav if "Labs" in s)["Labs"]
    api = next(s for s in nav if "API reference" in s)["API reference"]
    assert "api/e9_throwaway_lesson.md" in api

    files = hook.on_files(Files([]), config)
    page = files.get_file_from_path("api/e9_throwaway_lesson.md")
    assert page.content_string == "# A throwaway lesson (API)\n\n::: snippets.e9_throwaway_lesson\n"

    home = (docs / "index.md").read_text(encoding="utf-8")
    path = hook.on_page_markdown(home, None, config, files).splitlines()
    day_5 = next(line for line in path if line.startswith("| **5 — practice**"))
    assert "[E9 a throwaway](E_practice/E9_throwaway_lesson.md)" in day_5
    assert day_5.endswith("30 min + capstone · 5 min |")
    labs = hook.on_page_markdown((docs / "labs" / "index.md").read_text(), None, config, files)
    assert labs.splitlines()[-1] == (
        "| [A throwaway experiment](e9_throwaway_lesson.py) "
        "| [E9](../E_practice/E9_throwaway_lesson.md) |"
    )

    commands = test_cli.modules_with_main(tmp_path)
    assert sorted(commands) == sorted([*test_cli.COMMANDS, "e9_throwaway_lesson"])
    assert "e9_throwaway_lesson" in test_cli.rejected_in(
        test_cli.own_test_file("e9_throwaway_lesson", tmp_path)
    )
    assert list(grading.lessons_with_graders())[-1:] == ["e9"]

    # No other edit: every copied file but the manifest is as it is in the repository.
    for name in copied[1:]:
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), name
