"""MkDocs hook: the navigation and the API pages come from the course manifest.

``lessons.toml`` lists every lesson once (read by ``snippets/manifest.py``). From it this
hook builds the ``nav`` (chapters, results, labs, API reference) and one generated API page
per snippets module (``api/<module>.md`` holding ``::: snippets.<module>``), so adding a
lesson never means editing mkdocs.yml or writing an API stub by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from snippets import manifest  # noqa: E402 - needs the path above


def build_nav() -> list:
    """The site's navigation, in course order."""
    chapters: dict[str, list[str]] = {}
    for lesson in manifest.lessons():
        chapters.setdefault(lesson.chapter, []).append(lesson.page)
    labs = [f"labs/{lesson.lower}.py" for lesson in manifest.lessons() if lesson.lab]
    api = [f"api/{module.name}.md" for module in manifest.all_modules()]
    return [
        {"Home": "index.md"},
        {"Notation": "notation.md"},
        *({title: pages} for title, pages in chapters.items()),
        {"Results": "results.md"},
        {"Labs": ["labs/index.md", *labs]},
        {"API reference": ["api/index.md", *api]},
    ]


def api_page(module: manifest.Module) -> str:
    """The Markdown of one module's API page."""
    intro = f"{module.intro}\n\n" if module.intro else ""
    return f"# {module.title} (API)\n\n{intro}::: snippets.{module.name}\n"


def on_config(config):  # noqa: D103 - MkDocs hook signature
    config["nav"] = build_nav()
    return config


def on_files(files, config):  # noqa: D103 - MkDocs hook signature
    for module in manifest.all_modules():
        files.append(File.generated(config, f"api/{module.name}.md", content=api_page(module)))
    return files
