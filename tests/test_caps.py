"""The README's caps, held by a test: a snippets module is at most 500 lines, a ``main`` 30.

A module that outgrows 500 lines becomes a package (D2, D3 and E0 did); a ``main`` longer
than 30 lines (its signature and docstring included) hands its plumbing to a named function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

MODULES = sorted((ROOT / "snippets").rglob("*.py"))
MAX_MODULE_LINES = 500
MAX_MAIN_LINES = 30


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def main_lines(source: str) -> list[int]:
    """The length in lines of every function called ``main`` in ``source``."""
    return [
        node.end_lineno - node.lineno + 1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
    ]


def test_main_lines_counts_from_def_to_the_last_line() -> None:
    source = 'def main():\n    """Doc."""\n' + "    x = 1\n" * 29 + "\n\ndef other():\n    pass\n"
    assert main_lines(source) == [31]


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_a_module_is_at_most_500_lines_and_its_main_at_most_30(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name(path)} has {lines} lines: make it a package"
    assert all(n <= MAX_MAIN_LINES for n in main_lines(source)), (
        f"{name(path)}: main is {main_lines(source)} lines; move its plumbing to a function"
    )
