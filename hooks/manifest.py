"""MkDocs hook: the navigation, the API pages, the labs index and the path come from the manifest.

``lessons.toml`` lists every lesson once (read by ``snippets/manifest.py``). From it this
hook builds the ``nav`` (chapters, results, labs, API reference), one generated API page
per snippets module (``api/<module>.md`` holding ``::: snippets.<module>``), the table of
labs on ``labs/index.md`` and the day-by-day path on the home page (each fills the page's
``<!-- manifest:labs -->`` or ``<!-- manifest:path -->`` line), so adding a lesson never
means editing mkdocs.yml, an index page or an API stub by hand.
"""

from __future__ import annotations

import re
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


def lab_title(lab: Path) -> str:
    """A lab's title: its first heading (``# # Lab: ...`` in jupytext), without "Lab:"."""
    for line in lab.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            title = line.removeprefix("# # ").removeprefix("Lab: ").strip()
            return title[:1].upper() + title[1:]
    raise ValueError(f"{lab} has no '# # ' heading")


def labs_table(docs: Path) -> str:
    """The labs index's table: every lab of the manifest, linked to its lesson."""
    rows = [
        f"| [{lab_title(docs / 'labs' / f'{lesson.lower}.py')}]({lesson.lower}.py) "
        f"| [{lesson.stem[:2]}](../{lesson.page}) |"
        for lesson in manifest.lessons()
        if lesson.lab
    ]
    return "\n".join(["| lab | lesson |", "|---|---|", *rows])


def path_table() -> str:
    """The home page's day-by-day path: each day's lessons, links and times."""
    rows = ["| day | lessons | time |", "|---|---|---|"]
    for number, day in enumerate(manifest.days(), start=1):
        lessons = [lesson for lesson in manifest.lessons() if lesson.day == number]
        links = [f"[{lesson.stem[:2]} {lesson.label}]({lesson.page})" for lesson in lessons]
        times = " · ".join(lesson.time for lesson in lessons if lesson.time)
        cells = " · ".join(links + ([day.also] if day.also else []))
        rows.append(f"| **{number} — {day.title}** | {cells} | {times} |")
    return "\n".join(rows)


PLACEHOLDER = re.compile(r"^<!-- manifest:(labs|path) -->$", re.M)


def fill(markdown: str, docs: Path) -> str:
    """A page's Markdown with its ``<!-- manifest:labs|path -->`` lines made from the manifest."""
    tables = {"labs": lambda: labs_table(docs), "path": path_table}
    return PLACEHOLDER.sub(lambda m: tables[m.group(1)](), markdown)


def api_page(module: manifest.Module) -> str:
    """The Markdown of one module's API page."""
    intro = f"{module.intro}\n\n" if module.intro else ""
    return f"# {module.title} (API)\n\n{intro}::: snippets.{module.name}\n"


def on_config(config):  # noqa: D103 - MkDocs hook signature
    config["nav"] = build_nav()
    return config


def on_page_markdown(markdown, page, config, files):  # noqa: D103 - MkDocs hook signature
    return fill(markdown, Path(config["docs_dir"]))


def on_files(files, config):  # noqa: D103 - MkDocs hook signature
    for module in manifest.all_modules():
        files.append(File.generated(config, f"api/{module.name}.md", content=api_page(module)))
    return files
