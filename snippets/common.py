"""Shared helpers for every lesson: device choice, seeding, plotting style and the CLI skeleton.

Every lesson module imports from here instead of repeating these few lines, so a fix
lands everywhere at once. Heavy libraries (torch, JAX, Gymnasium, matplotlib) are imported
inside the functions that need them, so a NumPy-only lesson starts in a fraction of a second.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn, TypeVar

import numpy as np

# --8<-- [end:imports]

T = TypeVar("T")

# --8<-- [start:device]
DEVICE_ENV_VAR = "RL_COURSE_DEVICE"
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(preference: str | None = None) -> Any:
    """Choose the torch device: CUDA, then Apple's MPS, then the CPU.

    Args:
        preference: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``. ``None`` reads the
            ``RL_COURSE_DEVICE`` environment variable and falls back to ``"auto"``.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: If the preference is unknown or names a device this machine lacks.
    """
    import torch

    choice = (preference or os.environ.get(DEVICE_ENV_VAR) or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    has_mps = torch.backends.mps.is_available()
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU")
    if choice == "mps" and not has_mps:
        raise ValueError("device 'mps' was asked for but this is not an Apple-Silicon Mac")
    return torch.device(choice)


# --8<-- [end:device]


# --8<-- [start:seeding]
def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if it is installed) torch; return a NumPy generator.

    Lessons draw their own randomness from the returned generator (or from a
    ``torch.Generator`` / JAX key built from the same seed) rather than from global state,
    and seed Gymnasium through ``env.reset(seed=seed)``. Seeding the globals as well
    covers libraries that use them internally, such as Stable-Baselines3.

    Args:
        seed: Any non-negative integer.

    Returns:
        ``np.random.default_rng(seed)``.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def jax_key(seed: int) -> Any:
    """Return a JAX PRNG key for ``seed`` (JAX has no global random state to seed)."""
    import jax

    return jax.random.key(seed)


def make_env(env_id: str, seed: int, **kwargs: Any) -> Any:
    """Create a Gymnasium environment whose first ``reset`` and action space are seeded.

    Args:
        env_id: A registered id such as ``"CartPole-v1"``.
        seed: Seed for ``reset`` and for ``action_space.sample()``.
        **kwargs: Passed to ``gymnasium.make`` (for example ``is_slippery=True``).

    Returns:
        The environment, already reset once with ``seed`` so later plain ``reset()``
        calls continue a reproducible sequence.
    """
    import gymnasium as gym

    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


# --8<-- [end:seeding]


# --8<-- [start:plotting]
COURSE_STYLE: dict[str, Any] = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.frameon": False,
    "savefig.bbox": "tight",
}


def use_course_style() -> None:
    """Apply the course's matplotlib style (headless backend unless one is already chosen)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    matplotlib.rcParams.update(COURSE_STYLE)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> str:
    """Save a matplotlib figure, creating the folder if needed, and close it.

    Returns:
        The path written, as a string.
    """
    import matplotlib.pyplot as plt

    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# --8<-- [end:plotting]


# --8<-- [start:cli]
class LessonParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, naming the bad argument.

    Every lesson starts from :func:`lesson_parser`, so every command has ``--help``,
    ``--seed`` and ``--quick`` and reports bad input the same way.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: <message>`` on one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def lesson_parser(doc: str | None, prog: str) -> LessonParser:
    """Build the parser every lesson's ``main`` starts from.

    Args:
        doc: The module docstring; its first line becomes the description.
        prog: The command, for example ``"python -m snippets.a3_mdp_and_bellman"``.

    Returns:
        A parser with ``--seed`` and ``--quick`` already added.
    """
    description = (doc or "").strip().splitlines()[0] if doc else None
    parser = LessonParser(prog=prog, description=description)
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--quick", action="store_true", help="a seconds-long run with a small budget (smoke test)"
    )
    return parser


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """Argparse type: an integer >= 1 (budgets such as ``--episodes``)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """Argparse type: an integer >= 0 (seeds)."""
    return _int_at_least(text, 0)


def float_in_range(low: float, high: float) -> Any:
    """Argparse type factory: a float in ``[low, high]`` (for example ε in [0, 1]).

    Returns:
        A function argparse calls on the argument's text.
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a number in [{low:g}, {high:g}], got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {value:g}")
        return value

    return parse


def positive_float(text: str) -> float:
    """Argparse type: a float > 0 (learning rates, temperatures)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value:g}")
    return value


def progress(
    iterable: Iterable[T], desc: str, total: int | None = None, **kwargs: Any
) -> Iterator[T]:
    """Wrap a loop in a tqdm progress bar on stderr (stdout stays clean for the JSON line).

    Set ``RL_COURSE_PROGRESS=0`` to silence the bars, as the tests do.
    """
    from tqdm.auto import tqdm

    disable = os.environ.get("RL_COURSE_PROGRESS", "1") == "0"
    yield from tqdm(
        iterable, desc=desc, total=total, file=sys.stderr, disable=disable, leave=False, **kwargs
    )


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def emit_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Print the headline metrics as one JSON object: the last line every lesson prints.

    Floats are rounded to 4 decimals so the line stays readable.

    Returns:
        The rounded metrics (what was printed).
    """
    rounded = _rounded(metrics)
    print(json.dumps(rounded), flush=True)
    return rounded


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds``: wall time of a block."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# --8<-- [end:cli]
