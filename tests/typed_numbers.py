"""Find numerals typed into page prose: the check that keeps measured numbers rendered.

A measured number on a page must come from a record (``--8<--`` of a rendered file), never from
the author's keyboard. This module strips from a page everything that is not prose (code
blocks, inline code, maths, includes, link targets, HTML tags) and reports every numeral that
is left, unless it is part of a name (``A3``, ``GPT-2``, ``CartPole-v1``, ``4x4``) or matches
one of the short, explained patterns in ``ALLOWED`` (settings, definitions, citations,
versions). ``typed_numbers_allowlist.toml`` lists the few remaining constants page by page,
each with the reason it is not a measurement.

``typed_numbers_baseline.json`` is the inventory of numerals typed before this check existed
and not yet reviewed, counted per page: most are settings and worked examples, some are stale
measurements. The test fails on any numeral beyond it, so the inventory can only shrink. After
rendering or rewording a page's numbers, shrink it with
``uv run python tests/typed_numbers.py --write-baseline`` and review the diff: it must only
remove entries.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ALLOWLIST = Path(__file__).with_name("typed_numbers_allowlist.toml")
BASELINE = Path(__file__).with_name("typed_numbers_baseline.json")
DOCS = Path(__file__).resolve().parents[1] / "docs"

# A numeral as prose writes it: an optional sign or ±, digits with thousands separators
# (1,000 or 1 000), a decimal part, and a k/M suffix ("200k steps").
NUMBER = re.compile(
    r"(?<![\w.@#/\\-])[±+−-]?\d{1,3}(?:[, \u202f]\d{3})+(?:\.\d+)?[kKM]?(?![\w])"
    r"|(?<![\w.@#/\\-])[±+−-]?\d+(?:\.\d+)?[kKM]?(?![\w])"
)

# Patterns whose numerals are not measurements. Each is matched against the stripped prose;
# a numeral inside a match is allowed. Keep this list short and every entry explained.
ALLOWED: dict[str, str] = {
    # a defined symbol set to a value, as in "γ = 0.99" or "ε = 0.1" (a setting, not a result)
    "definition": r"(?<![\w])(?:[A-Za-zα-ωΑ-Ω]|[α-ωΑ-Ω]\w*)\s*[=≤≥<>]\s*[+−-]?\d[\d.]*",
    # which seeds ran: "seeds 0–4", "seed 3", "seeds 0, 1, 2"
    "seeds": r"\b[Ss]eeds?\s+\d+(?:\s*(?:[–-]|,|and|or)\s*\d+)*",
    # citations: "(2024)", "Smith et al., 2024", "in 2026", "September 2026", "ICML 1999"
    "year": r"(?:\(|\bet al\.,?\s|,\s|\bin\s|(?:January|February|March|April|May|June|July"
    r"|August|September|October|November|December)\s|[A-Z]{3,}\*?\s)(?:19[5-9]\d|20[0-3]\d)\b",
    # numbered things: "Ex. 3.5", "Figure 2.4", "Chapter 13", "Exercise 1", "step 3", "line 5"
    "numbering": r"(?:§|\b(?:Ex\.|Example|Exercises?|Figs?\.|Figures?|Chapter|[Ss]ection|Table|Eq\.|"
    r"[Ee]quation|[Ll]ines?|[Ss]teps?|[Ss]tages?|[Pp]art|[Aa]ppendix|[Pp]\.|[Pp]ages?|PR|#))\s*\(?"
    r"\d+(?:\.\d+)*(?:\s*(?:[–-]|,|and|or)\s*\d+(?:\.\d+)*)*",
    # software versions: "TRL 1.16", "Python 3.11", "macOS 14", "Material 9"
    "version": r"\b(?:TRL|Python|Gymnasium|SB3|Stable-Baselines3|MkDocs|Material|macOS|torch|"
    r"PyTorch|JAX|jax|transformers|Zensical|Ray|NumPy|numpy|uv|CUDA|Playwright|Chromium|Debian|"
    r"Ubuntu|KaTeX|trl|version|v)\s*\d+(?:\.\d+)*(?:\s*(?:or|and|to)\s*\d+(?:\.\d+)*)?",
    # library defaults quoted as settings: "(default 8)", "defaults to 0.05"
    "default": r"\bdefaults?(?:\s+(?:is|of|to))?\s*[+−-]?\d[\d.]*",
    # a whole number as part of a compound adjective, naming a thing: "100-episode mean", "2-layer"
    "compound": r"(?<![\d.,])\d{1,3}-[a-z]+",
    # a size written with a multiplication sign: "a 4×6 gridworld"
    "size": r"(?<![\d.])\d+\s*×\s*\d+(?![\d.])",
    # the reading-time estimate every page opens with (an estimate, not a measurement)
    "reading time": r"\b\d+\s+minutes\s+to\s+read\b",
}
_ALLOWED = re.compile("|".join(f"(?:{p})" for p in ALLOWED.values()))

_FENCE = re.compile(r"^([ \t]*)(```|~~~)[^\n]*\n.*?^\1\2[ \t]*$", re.M | re.S)
_STRIP = [
    re.compile(r"^[ \t]*--8<--.*$", re.M),  # rendered includes
    re.compile(r"\$\$.*?\$\$", re.S),  # display maths
    re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$"),  # inline maths
    re.compile(r"\\\(.*?\\\)", re.S),
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"),  # link and image targets
    re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M),  # reference-style link definitions
    re.compile(r"<[^>\n]+>"),  # HTML tags and autolinks
    re.compile(r"https?://\S+"),  # bare URLs
    re.compile(r"^[ \t]*(?:\d+\.|[-*+])[ \t]+", re.M),  # list markers "1. "
    re.compile(r"^#{1,6}[ \t]+(?:[A-E]\d\b|\d+(?:\.\d+)*\.?(?=\s))", re.M),  # "## 3." "# A3 ·"
]


@dataclass(frozen=True)
class Flag:
    """One numeral typed into prose."""

    page: str  # path relative to docs/
    line: int
    number: str
    context: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.number!r} in {self.context!r}"


def prose(text: str) -> str:
    """The page with everything that is not prose blanked out, line numbers kept."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match[0])

    text = _FENCE.sub(blank, text)
    for pattern in _STRIP:
        text = pattern.sub(blank, text)
    return text


def allowlist(path: Path = ALLOWLIST) -> dict[str, list[str]]:
    """Page -> phrases whose numerals are allowed there (each phrase is matched literally)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {page: [entry["text"] for entry in entries] for page, entries in data.items()}


def typed_numbers(text: str, page: str = "", allowed: list[str] = ()) -> list[Flag]:
    """Every numeral of ``text``'s prose outside the allowed patterns and phrases."""
    flags, clean = [], prose(text)
    spans = [m.span() for m in _ALLOWED.finditer(clean)]
    spans += [m.span() for phrase in allowed for m in re.finditer(re.escape(phrase), clean)]
    for m in NUMBER.finditer(clean):
        if any(a <= m.start() and m.end() <= b for a, b in spans):
            continue
        line = clean.count("\n", 0, m.start()) + 1
        context = text.splitlines()[line - 1].strip()
        flags.append(Flag(page, line, m[0].strip(), context[:120]))
    return flags


def flags_in(docs: Path, path: Path = ALLOWLIST) -> list[Flag]:
    """The typed numerals of every page under ``docs``."""
    allowed = allowlist(path) if path.is_file() else {}
    found = []
    for page in sorted(docs.rglob("*.md")):
        rel = page.relative_to(docs).as_posix()
        found += typed_numbers(page.read_text(encoding="utf-8"), rel, allowed.get(rel, []))
    return found


def baseline(path: Path = BASELINE) -> dict[str, dict[str, int]]:
    """Page -> numeral -> how many times it was typed there before the check existed."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def beyond_baseline(flags: list[Flag], known: dict[str, dict[str, int]]) -> list[Flag]:
    """The flags a page has beyond its inventory: numerals typed since, or more often."""
    seen: Counter[tuple[str, str]] = Counter()
    new = []
    for flag in flags:
        seen[flag.page, flag.number] += 1
        if seen[flag.page, flag.number] > known.get(flag.page, {}).get(flag.number, 0):
            new.append(flag)
    return new


def write_baseline(flags: list[Flag], path: Path = BASELINE) -> None:
    """Write the inventory of today's flags (review the diff: it should only shrink)."""
    counts: dict[str, Counter[str]] = {}
    for flag in flags:
        counts.setdefault(flag.page, Counter())[flag.number] += 1
    data = {page: dict(sorted(c.items())) for page, c in sorted(counts.items())}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":  # print every flag, or --write-baseline
    found = flags_in(DOCS)
    if "--write-baseline" in sys.argv:
        write_baseline(found)
    for flag in found if "--all" in sys.argv else beyond_baseline(found, baseline()):
        print(flag)
    print(
        f"{len(found)} numerals typed in page prose, {len(beyond_baseline(found, baseline()))} beyond the baseline"
    )
