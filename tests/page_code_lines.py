"""Count the lines of code each page shows expanded, after its snippet includes are expanded.

A page should show the story's code and fold the plumbing (command line, argument parsing,
plotting) into collapsed ``??? note`` blocks. This counts, for every page under ``docs/``,
the lines inside code fences once every ``--8<--`` include is replaced by the lines it pulls
in, split into lines a reader sees without clicking (expanded) and lines inside a collapsed
``???`` block (folded). ``text`` fences (algorithm boxes, printed output, maps) are counted
apart from code.

    uv run python tests/page_code_lines.py            # a table of every page
    uv run python tests/page_code_lines.py --max 250  # exit 1 if a page shows more
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"\s*$')
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<name>[\w-]+)\]")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>```+|~~~+)(?P<lang>[\w+-]*)")
BLOCK = re.compile(r"^(?P<indent>\s*)(?P<kind>\?\?\?\+?|!!!|===)\s")


def included_lines(path: str, section: str | None) -> list[str]:
    """The lines an include pulls in: a whole file, or one section without its markers."""
    if not (ROOT / path).is_file():  # a page mid-edit; the site test reports it
        return []
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    if section is None:
        return [line for line in lines if not MARKER.search(line)]
    out, inside = [], False
    for line in lines:
        if (m := MARKER.search(line)) and m["name"] == section:
            inside = m["kind"] == "start"
            continue
        if inside and not MARKER.search(line):
            out.append(line)
    return out


@dataclass
class Count:
    """Lines of one page: code shown expanded, code folded, and ``text`` fences."""

    expanded: int = 0
    folded: int = 0
    text: int = 0


def count_page(page: Path) -> Count:
    """Walk a page's fences, expanding includes, and note whether each sits in a ``???`` block."""
    count = Count()
    blocks: list[tuple[int, bool]] = []  # (indent of the block's opening line, collapsed)
    fence: tuple[int, str, str] | None = None  # (indent, ticks, language) while inside one
    for line in page.read_text(encoding="utf-8").splitlines():
        indent = len(line) - len(line.lstrip())
        if fence is None:
            if line.strip():
                while blocks and indent <= blocks[-1][0]:
                    blocks.pop()
            if m := BLOCK.match(line):
                blocks.append((len(m["indent"]), m["kind"] == "???"))
            elif m := FENCE.match(line):
                fence = (len(m["indent"]), m["ticks"], m["lang"].lower())
            continue
        if line.strip().startswith(fence[1]) and indent <= fence[0] + 3:
            fence = None
            continue
        n = len(included_lines(m["path"], m["section"])) if (m := INCLUDE.match(line)) else 1
        if fence[2] == "text":
            count.text += n
        elif any(collapsed for _, collapsed in blocks):
            count.folded += n
        else:
            count.expanded += n
    return count


def main(argv: list[str] | None = None) -> int:
    """Print one row per page; with ``--max N`` return 1 if any page shows more than N lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=None, help="fail above this many lines")
    args = parser.parse_args(argv)
    over = []
    print(f"{'page':58} {'expanded':>8} {'folded':>7} {'text':>5}")
    for page in sorted(DOCS.rglob("*.md")):
        c = count_page(page)
        name = page.relative_to(DOCS).as_posix()
        print(f"{name:58} {c.expanded:8d} {c.folded:7d} {c.text:5d}")
        if args.max is not None and c.expanded > args.max:
            over.append(name)
    if over:
        print(f"over {args.max} lines expanded: {', '.join(over)}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
