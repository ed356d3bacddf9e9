"""Shared pytest setup: quiet progress bars, headless plots, offline W&B, one site build."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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
# SB3 makes an (empty) log folder per learn() under /tmp unless told where: one for the session.
os.environ.setdefault("SB3_LOGDIR", tempfile.mkdtemp(prefix="rl-course-sb3-"))


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


# Set above for the lesson tests; a reader's shell has none of them.
TEST_ONLY_ENV = ("RL_COURSE_PROGRESS", "MPLBACKEND", "SITE_URL")


def reader_env() -> dict[str, str]:
    """os.environ without the variables this file sets for the lesson tests (see built_site)."""
    return {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}


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
        # The environment a reader builds in: without the settings this file gives the lesson
        # tests (a quiet RL_COURSE_PROGRESS, a headless MPLBACKEND), which must not hide what
        # a reader's build puts into the labs. Tests serve the site at the root of a local
        # port, whatever the published URL is.
        env=reader_env(),
    )
    if result.returncode != 0:
        pytest.fail(
            f"mkdocs build --strict failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return site


# Where the suite's time goes: the course budgets each chapter's share of `uv run pytest`,
# so every run ends with the seconds per chapter (setup, call and teardown of its tests).
_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    stem = Path(report.nodeid.split("::")[0]).stem.removeprefix("test_")
    chapter = stem[0].upper() if stem[:1] in "abcde" and stem[1:2].isdigit() else stem
    _SECONDS[chapter] = _SECONDS.get(chapter, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's hook
    if _SECONDS:
        shares = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(_SECONDS.items()))
        terminalreporter.write_line(f"seconds per chapter (and shared tests): {shares}")


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for every test that needs it (starting Ray takes several seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
