"""Shared pytest setup: quiet progress bars, headless plots, offline W&B, one site build."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]

# Set before any lesson module is imported.
os.environ.setdefault("RL_COURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
# Under `uv run`, Ray packs the repository for its workers at every ray.init (seconds): the
# tests' workers are processes on this machine, in this environment, so they need no copy.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
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


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run a block with ``n`` torch threads (None: as it is), then restore the count it found."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    if n is not None:
        import torch

        torch.set_num_threads(n)
    try:
        yield
    finally:
        if threads is not None:
            sys.modules["torch"].set_num_threads(threads)


def run_main(main: Callable[[list[str]], dict], *args: str, capsys: pytest.CaptureFixture) -> dict:
    """Run a lesson's ``main(args)`` in this process; return the JSON line it printed last.

    In-process, a command-line test skips a fresh interpreter importing torch again (seconds
    each). The printed line must be the metrics ``main`` returns, and a ``main`` that sets
    torch's thread count (the tiny-model lessons use one) leaves it as it found it.
    """
    with torch_threads():
        metrics = main(list(args))
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads(json.dumps(metrics)), "the last line printed is not the metrics"
    return printed


def load_main(module: str) -> Callable[[list[str]], dict]:
    """``snippets.<module>.main``; a package may define it in its ``__main__``."""
    found = getattr(importlib.import_module(f"snippets.{module}"), "main", None)
    return found or importlib.import_module(f"snippets.{module}.__main__").main


def rejects(module: str, argv: str, expected: str, capsys: pytest.CaptureFixture) -> None:
    """``python -m snippets.<module> argv`` refuses it: exit 2, one line naming the flag.

    In-process (the same parser and exit path as the command). Nothing may reach stdout and
    no warning may be raised (on a terminal it would be a second line); the one stderr line
    names the first argument and contains ``expected`` (the flag when empty).
    """
    args = argv.split()
    with warnings.catch_warnings(record=True) as caught, pytest.raises(SystemExit) as exit_info:
        warnings.simplefilter("always")
        load_main(module)(args)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and not caught, [str(w.message) for w in caught]
    assert len(lines) == 1 and args[0] in lines[0] and (expected or args[0]) in lines[0], lines


@pytest.fixture
def assert_rejects(capsys: pytest.CaptureFixture) -> Callable[..., None]:
    """``assert_rejects(module, "--flag value", expected="")``: see ``rejects``.

    Every command's bad-input cases live in its own test file and call this, with the module
    named literally (``tests/test_cli.py`` checks that every command of the manifest has some).
    """
    return lambda module, argv, expected="": rejects(module, argv, expected, capsys)


# Set above for the lesson tests; a reader's shell has none of them.
TEST_ONLY_ENV = ("RL_COURSE_PROGRESS", "MPLBACKEND", "SITE_URL")


def reader_env() -> dict[str, str]:
    """os.environ without the variables this file sets for the lesson tests (see built_site)."""
    return {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}


# The cold site build executes every lab, which takes minutes; most lesson tests keep torch to
# one thread, so one core idles while they run. The build therefore starts in the background as
# soon as the tests are collected, and the tests that read the built site run last.
_BUILD: dict[str, object] = {}


def _wants_the_site(item: pytest.Item) -> bool:
    return "built_site" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    late = [item for item in items if _wants_the_site(item)]
    items[:] = [item for item in items if not _wants_the_site(item)] + late


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the build when a selected test needs it (after -k and -m have deselected)."""
    wanted = any(_wants_the_site(item) for item in session.items)
    if not wanted or session.config.option.collectonly or os.environ.get("RL_COURSE_BUILT_SITE"):
        return
    site = Path(tempfile.mkdtemp(prefix="rl-course-site-"))
    log = (site.parent / f"{site.name}.log").open("w")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    # The environment a reader builds in: without the settings this file gives the lesson
    # tests (a quiet RL_COURSE_PROGRESS, a headless MPLBACKEND), which must not hide what a
    # reader's build puts into the labs. Tests serve the site at the root of a local port.
    process = subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=reader_env()
    )
    _BUILD.update(site=site, log=log, process=process)


def pytest_sessionfinish() -> None:
    if (process := _BUILD.get("process")) is not None and process.poll() is None:
        process.kill()  # a run stopped early (-x, Ctrl-C) leaves no build behind
    if (site := _BUILD.get("site")) is not None:
        _BUILD["log"].close()
        Path(_BUILD["log"].name).unlink(missing_ok=True)
        shutil.rmtree(site, ignore_errors=True)


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The whole site, built once per test session with ``mkdocs build --strict``.

    The build started in the background when the tests were collected; this waits for it.
    ``RL_COURSE_BUILT_SITE=/path`` reuses a site you built yourself (handy while working on
    the browser test); CI never sets it.
    """
    if prebuilt := os.environ.get("RL_COURSE_BUILT_SITE"):
        return Path(prebuilt)
    process, log = _BUILD["process"], _BUILD["log"]
    try:
        process.wait(timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("mkdocs build --strict took more than 15 minutes")
    log.close()
    if process.returncode != 0:
        output = Path(log.name).read_text()
        pytest.fail(f"mkdocs build --strict failed:\n{output[-12000:]}")
    return _BUILD["site"]


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


def d2_tiny():
    """D2 at test scale: the configuration D2's learning tests use, and D3's world is built on."""
    from dataclasses import replace

    from snippets import d2_rlhf_llm_with_pytorch as d2

    return replace(
        d2.Config(),
        pretrain_steps=150,
        preference_prompts=1024,
        test_fraction=0.2,
        label_temperature=0.5,  # a less noisy rater than the lesson's, to learn from fewer pairs
        rm_epochs=3,
        ppo_iterations=8,
        rollout_batch=32,
        ppo_epochs=4,
        minibatch=16,
        lr=1e-3,  # a larger step than the lesson's, so that 8 iterations show progress
    )


@pytest.fixture(scope="session")
def d2_sft():
    """D2's stage 1 at test scale, once for D2's tests and D3's: a briefly pretrained policy."""
    from snippets import common
    from snippets import d2_rlhf_llm_with_pytorch as d2

    with torch_threads(1):  # as the lesson's command runs it: the same numbers in any order
        rng = common.seed_everything(0)
        lm, tokenizer = d2.load_policy_and_tokenizer("tiny", d2_tiny())
        losses = d2.pretrain(lm, tokenizer, d2_tiny(), rng)
    return lm, tokenizer, losses


@pytest.fixture(scope="session")
def d2_reward_model(d2_sft):
    """D2's stage 2 exactly as the pipeline runs it, on the test-scale configuration."""
    from snippets import common
    from snippets import d2_rlhf_llm_with_pytorch as d2

    lm, tokenizer, _ = d2_sft
    with torch_threads(1):
        rm, stats = d2.build_reward_model(lm, tokenizer, d2_tiny(), common.seed_everything(1))
    return rm, stats


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for every test that needs it (starting Ray takes several seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


# ------------------------------------------- a tiny causal LM that TRL's trainers load (D3, D4)
@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """D2's tiny GPT-2, saved where TRL's trainers can load it by folder name."""
    import torch

    from snippets import d2_rlhf_llm_with_pytorch as d2

    torch.manual_seed(0)
    model, tokenizer = d2.load_policy_and_tokenizer("tiny", d2.Config())
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def trl_grpo_trainer(model_dir: str, completions: int, **config: object) -> object:
    """TRL's GRPOTrainer on the tiny model: ``completions`` per batch in groups of 4, float32 on
    the CPU, no reward (the cross-checks feed ``_compute_loss`` their own batch)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = GRPOConfig(
            use_cpu=True,
            bf16=False,
            per_device_train_batch_size=completions,
            num_generations=4,
            report_to="none",
            disable_tqdm=True,
            **config,
        )
        return GRPOTrainer(
            model=model_dir,
            reward_funcs=lambda completions, **_: [0.0] * len(completions),
            args=args,
            train_dataset=Dataset.from_dict({"prompt": ["the movie was"] * completions}),
        )


def completion_logps(model: torch.nn.Module, ids: torch.Tensor, start: int) -> torch.Tensor:
    """log π of tokens ``ids[:, start:]``, each predicted from the tokens before it."""
    import torch

    logits = model(input_ids=ids).logits[:, start - 1 : -1]
    return torch.log_softmax(logits, -1).gather(-1, ids[:, start:, None]).squeeze(-1)


def flat_grad(loss: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """The gradient of ``loss`` for every trainable parameter of ``model``, as one vector."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    return torch.cat([g.flatten() for g in grads])
