"""Shared pytest setup: quiet progress bars, headless plots, offline W&B, one site build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Set before any lesson module is imported.
os.environ.setdefault("RL_COURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


def run_module(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m snippets.<module> args...`` from the repo root, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", f"snippets.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RL_COURSE_PROGRESS": "0"},
    )


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the whole site once per test session with ``mkdocs build --strict``.

    ``RL_COURSE_BUILT_SITE=/path`` reuses a site you built yourself (handy while working on
    the browser test); CI never sets it.
    """
    if prebuilt := os.environ.get("RL_COURSE_BUILT_SITE"):
        return Path(prebuilt)
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        # Tests serve the site at the root of a local port, whatever the published URL is.
        env={k: v for k, v in os.environ.items() if k != "SITE_URL"},
    )
    if result.returncode != 0:
        pytest.fail(
            f"mkdocs build --strict failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return site
