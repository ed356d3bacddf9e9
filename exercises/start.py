"""``python -m exercises start b1``: write a lesson's exercise file from the lesson's own code.

Each function is copied from the lesson, from its ``def`` line to the end of its docstring,
exactly as the lesson has it; the body becomes the exercise's TODO line and a ``raise
NotImplementedError``. The imports are the lesson module's own, those that the signatures
and the lesson's solutions use. The file is the reader's: git ignores it, and ``start``
never writes over it unless told to with ``--force``.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from pathlib import Path
from types import ModuleType

from exercises import exercises
from exercises.grading import HERE, LESSONS, Exercise
from snippets import manifest

HEADER = '''"""Exercises for lesson {title}.

Write the lesson's {functions}; each below has the lesson's signature and docstring:

{listing}

Replace each body, then check your work with

    uv run python -m exercises check {lesson}

The lesson's own code is the solution (collapsed under "Exercises" on the lesson's page).
`uv run python -m exercises start {lesson}` wrote this file for you to edit; git ignores it,
and `start` never writes over it again unless you add --force.
"""

from __future__ import annotations
'''
NOQA = "  # noqa: F401 (yours to use)"


def page_title(lesson: str) -> str:
    """The lesson page's title, e.g. ``B1 · Tabular Q-learning on FrozenLake``."""
    entry = next(e for e in manifest.lessons() if e.lower == LESSONS[lesson])
    first = (manifest.ROOT / "docs" / entry.page).read_text(encoding="utf-8").splitlines()[0]
    return first.removeprefix("# ").strip()


def parse(function: object) -> tuple[str, ast.FunctionDef]:
    """The dedented source of ``function`` and its syntax tree."""
    source = textwrap.dedent(inspect.getsource(inspect.unwrap(function)))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef), source[:80]
    return source, node


def stub(ex: Exercise) -> str:
    """The lesson's ``def`` through its docstring, then the TODO and ``NotImplementedError``.

    Raises:
        ValueError: If the lesson's function has no docstring.
    """
    source, node = parse(ex.solution())
    if ast.get_docstring(node) is None:
        raise ValueError(f"{ex.id}: the lesson's function has no docstring to copy")
    head = source.splitlines()[node.lineno - 1 : node.body[0].end_lineno]
    body = [f"    # TODO: {ex.todo}", f'    raise NotImplementedError("{ex.function}")']
    return "\n".join(head + body)


def bindings(module: ModuleType) -> dict[str, str]:
    """Each top-level name of ``module`` -> the import line that brings it into a stub.

    Names the module imports keep its import; names it defines are imported from it.
    """
    found: dict[str, str] = {}
    tree = ast.parse(inspect.getsource(module))
    statements = [*tree.body]
    statements += [s for node in tree.body if isinstance(node, ast.If) for s in node.body]
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                alias_part = f" as {alias.asname}" if alias.asname else ""
                found[alias.asname or alias.name.split(".")[0]] = f"import {alias.name}{alias_part}"
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                alias_part = f" as {alias.asname}" if alias.asname else ""
                found[alias.asname or alias.name] = (
                    f"from {node.module} import {alias.name}{alias_part}"
                )
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            found.setdefault(node.name, f"from {module.__name__} import {node.name}")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (t.id for t in targets if isinstance(t, ast.Name)):
                found.setdefault(name, f"from {module.__name__} import {name}")
    return found


def names(node: ast.AST) -> set[str]:
    """Every name that ``node`` reads."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def signature_names(node: ast.FunctionDef) -> set[str]:
    """The names a ``def`` line reads: annotations and default values."""
    parts = [node.args, node.returns] if node.returns else [node.args]
    return set().union(*(names(part) for part in parts))


def imports(selected: list[Exercise]) -> str:
    """Import lines for the stubs: what their signatures and the lesson's solutions use.

    Lines that only the solutions need are marked ``noqa: F401`` (the reader will use them).
    """
    own = {ex.function for ex in selected}
    wanted: dict[str, dict[str, bool]] = {}  # "from m import" -> name -> in a signature?
    for ex in selected:
        function = inspect.unwrap(ex.solution())
        _, node = parse(function)
        known = bindings(sys.modules[function.__module__])
        for name in sorted((names(node) & known.keys()) - own):
            line = known[name]
            head, imported = line.split(" import ") if line.startswith("from") else (line, "")
            signed = wanted.setdefault(head, {})
            signed[imported] = signed.get(imported, False) or name in signature_names(node)
    groups: dict[int, list[str]] = {}
    for head, signed in wanted.items():
        top = head.split()[1].split(".")[0]
        group = 0 if top in sys.stdlib_module_names else 2 if top == "snippets" else 1
        line = f"{head} import {', '.join(sorted(signed))}" if head.startswith("from") else head
        groups.setdefault(group, []).append(line + ("" if all(signed.values()) else NOQA))
    blocks = [sorted(groups[g], key=lambda s: (s.startswith("from"), s)) for g in sorted(groups)]
    return "\n\n".join("\n".join(block) for block in blocks)


def source(lesson: str) -> str:
    """The whole exercise file of ``lesson``: header, imports and one stub per exercise."""
    selected = exercises(lesson)
    count = "function" if len(selected) == 1 else f"{len(selected)} functions"
    width = max(len(ex.function) for ex in selected)
    header = HEADER.format(
        title=page_title(lesson),
        functions=count,
        listing="\n".join(f"    {ex.function:{width}}  {ex.title}" for ex in selected),
        lesson=lesson,
    )
    stubs = "\n\n\n".join(stub(ex) for ex in selected)
    return f"{header}\n{imports(selected)}\n\n\n{stubs}\n"


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def start(lesson: str, folder: Path = HERE, force: bool = False) -> bool:
    """Write ``<folder>/<stem>.py`` for ``lesson``; False (and a note) if it exists already."""
    path = folder / f"{LESSONS[lesson]}.py"
    if path.exists() and not force:
        print(f"{shown(path)} exists already; kept as it is (--force writes a fresh copy over it)")
        return False
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(source(lesson), encoding="utf-8")
    into = "" if folder == HERE else f" --dir {shown(folder)}"
    print(f"wrote {shown(path)}: fill in its functions, then run ", end="")
    print(f"uv run python -m exercises check {lesson}{into}")
    return True
