"""What every command of the manifest does the same way, derived from ``lessons.toml``.

Every module that defines ``main`` answers ``--help`` and refuses ``--seed -1`` like any bad
input: exit status 2, nothing on stdout, and one line on stderr that names the flag. Its own
bad inputs live in its own test file (``tests/test_<stem>.py``, calling the ``assert_rejects``
fixture of ``conftest.py``); this file only checks that every command has some. In-process:
the same parser and exit path as ``python -m snippets.<module>``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT, load_main

from snippets import manifest


def modules_with_main(root: Path = ROOT) -> list[str]:
    """Every module of the manifest that defines ``main`` (a package: in ``__main__``)."""
    found = []
    for module in manifest.all_modules():
        if module.name.endswith(".__main__"):  # the package's command: listed as the package
            continue
        path = root / "snippets" / module.name.replace(".", "/")
        files = (
            [path / "__init__.py", path / "__main__.py"]
            if path.is_dir()
            else [path.with_suffix(".py")]
        )
        if any(
            f.is_file() and re.search(r"^def main\(", f.read_text(encoding="utf-8"), re.M)
            for f in files
        ):
            found.append(module.name)
    return found


def rejected_in(test_file: Path) -> set[str]:
    """The modules a test file calls ``assert_rejects`` on (named literally)."""
    if not test_file.is_file():
        return set()
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(test_file.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "assert_rejects"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def own_test_file(module: str, root: Path = ROOT) -> Path:
    """Where a command's own tests live: ``tests/test_<module or package>.py``."""
    return root / "tests" / f"test_{module.split('.')[0]}.py"


COMMANDS = modules_with_main()


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_has_bad_input_cases_in_its_own_test_file(module: str) -> None:
    assert module in rejected_in(own_test_file(module)), (
        f"{own_test_file(module).relative_to(ROOT)} has no assert_rejects({module!r}, ...) case"
    )


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_refuses_a_negative_seed(module: str, assert_rejects) -> None:
    assert_rejects(module, "--seed -1")


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_answers_help_on_stdout(module: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_main(module)(["--help"])
    assert exit_info.value.code in (0, None)
    captured = capsys.readouterr()
    assert captured.out.startswith("usage:") and "--seed" in captured.out and not captured.err
