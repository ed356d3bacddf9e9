from __future__ import annotations

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
