"""MkDocs hook for the labs (executed jupytext notebooks under docs/labs/).

1. mkdocs-jupyter caches each executed notebook by the notebook's own text. Our labs
   import ``snippets/`` and some read the benchmark's ``results/``, so a change there must
   re-execute them: we fold a hash of those files into the cache folder's name.
2. Readers want a notebook to download, not a jupytext script: after the build we write
   ``<lab>.ipynb`` next to the ``<lab>.py`` source that mkdocs-jupyter copies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jupytext


def on_config(config):  # noqa: D103 - MkDocs hook signature
    root = Path(config["config_file_path"]).parent
    digest = hashlib.sha256()
    for path in sorted([*(root / "snippets").rglob("*.py"), *(root / "results").glob("*.json")]):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    plugin = config["plugins"]["mkdocs-jupyter"]
    plugin.config["cache_dir"] = str(root / ".cache" / "mkdocs-jupyter" / digest.hexdigest()[:16])
    return config


def on_post_build(config):  # noqa: D103 - MkDocs hook signature
    docs = Path(config["docs_dir"])
    site = Path(config["site_dir"])
    for lab in sorted((docs / "labs").glob("*.py")):
        target = site / "labs" / lab.stem / f"{lab.stem}.ipynb"
        if target.parent.is_dir():
            jupytext.write(jupytext.read(lab), target, fmt="ipynb")
