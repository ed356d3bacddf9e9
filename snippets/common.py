"""Shared helpers for every lesson: device choice, seeding, plotting style and the CLI skeleton.

Every lesson module imports from here instead of repeating these few lines, so a fix
lands everywhere at once. Heavy libraries (torch, JAX, Gymnasium, matplotlib) are imported
inside the functions that need them, so a NumPy-only lesson starts in a fraction of a second.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
import dataclasses
import importlib.machinery
import inspect
import json
import os
import random
import re
import sys
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal, NoReturn, TypeVar

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
    """Seed Python, NumPy and torch; return a NumPy generator.

    Lessons draw their own randomness from the returned generator (or from a
    ``torch.Generator`` / JAX key built from the same seed) rather than from global state,
    and seed Gymnasium through ``env.reset(seed=seed)``. Seeding the globals as well
    covers libraries that use them internally, such as Stable-Baselines3.

    Args:
        seed: Any non-negative integer.

    Returns:
        ``np.random.default_rng(seed)``.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


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


def lesson_parser(doc: str | None, prog: str | None) -> LessonParser:
    """Build the parser every lesson's ``main`` starts from.

    Args:
        doc: The module docstring; its first line becomes the description.
        prog: The command, for example ``"python -m snippets.a3_mdp_and_bellman"``.

    Returns:
        A parser with ``--seed`` and ``--quick`` already added.
    """
    description = (doc or "").strip().splitlines()[0] if doc else None
    parser = LessonParser(prog=prog, description=description)
    seed = _parse_value(int, Range(0), "--seed")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--quick", action="store_true", help="a seconds-long run with a small budget (smoke test)"
    )
    return parser


def progress(
    iterable: Iterable[T], desc: str, total: int | None = None, **kwargs: Any
) -> Iterator[T]:
    """Wrap a loop in a tqdm progress bar on stderr (stdout stays clean for the JSON line).

    The bar shows only where stderr is a terminal: a notebook kernel, a pipe or a log file
    gets no carriage-return residue. ``RL_COURSE_PROGRESS=0`` silences it everywhere (the
    tests do), ``RL_COURSE_PROGRESS=1`` shows it everywhere.
    """
    yield from progress_bar(desc, total, iterable, **kwargs)


def progress_bar(desc: str, total: int | None, iterable: Iterable | None = None, **kwargs: Any):
    """The tqdm bar behind :func:`progress`; without ``iterable``, advance it with ``update()``."""
    from tqdm import tqdm

    setting = os.environ.get("RL_COURSE_PROGRESS", "")
    if setting in ("0", "1"):
        disable = setting == "0"
    else:
        isatty = getattr(sys.stderr, "isatty", None)
        disable = not (callable(isatty) and isatty())
    return tqdm(
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


# --8<-- [start:config-cli]
@dataclasses.dataclass(frozen=True)
class Range:
    """The allowed values of a numeric Config field, for ``Annotated[...]`` types below."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be strictly greater than ``low``

    def check(self, value: float) -> str | None:
        """Return why ``value`` is out of range, or ``None`` if it is allowed."""
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and value > self.high
        return f"must be {self.describe()}, got {value:g}" if below or above else None

    def describe(self) -> str:
        """The range in words: ``">= 1"``, ``"in [0, 1]"``, ``"> 0"``."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"<= {self.high:g}" if self.high is not None else "a number"


# The types a Config field declares; the type says what the command line accepts.
PosInt = Annotated[int, Range(1)]  # budgets, sizes: episodes, timesteps, batch size
NonNegInt = Annotated[int, Range(0)]  # seeds, counts that may be zero
PosFloat = Annotated[float, Range(0, low_open=True)]  # learning rates, temperatures
NonNegFloat = Annotated[float, Range(0)]  # coefficients that may be switched off
Prob = Annotated[float, Range(0, 1)]  # probabilities, discounts, fractions, λ


def _help_comments(cls: type) -> dict[str, str]:
    """Read each field's trailing ``# comment`` in the class source: it becomes the help.

    A Config that extends another dataclass also reads its bases' sources (bases first).
    """
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):  # every class but ``object``
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):  # pragma: no cover - classes defined in a REPL
            continue
        found = re.finditer(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+?)\s*$", source, re.M)
        helps |= {m[1]: m[2] for m in found}
    return helps


def _unwrap(kind: Any) -> tuple[Any, Range | None]:
    """A field's type without ``| None`` and ``Annotated[...]``, and its Range if it has one."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(kind) if a is not type(None)]
        kind = rest[0] if len(rest) == 1 else kind  # ``X | None``: the flag reads an X
    if typing.get_origin(kind) is Annotated:
        kind, *extras = typing.get_args(kind)
        return kind, next((e for e in extras if isinstance(e, Range)), None)
    return kind, None


def _allowed(kind: Any, bounds: Range | None) -> str:
    """What a value may be, in words: ``"in [0, 1]"``, ``"one of a, b"``, or ``""``."""
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(kind)))
    return bounds.describe() if bounds else ""


def _parse_value(kind: Any, bounds: Range | None, flag: str) -> Callable[[str], Any]:
    """The argparse ``type=`` for one value: convert the text, then check the range or choices."""

    def parse(text: str) -> Any:
        if typing.get_origin(kind) is Literal:
            if text not in typing.get_args(kind):
                raise argparse.ArgumentTypeError(f"must be {_allowed(kind, None)}, got {text!r}")
            return text
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from None
        if bounds is not None and (why := bounds.check(value)):
            raise argparse.ArgumentTypeError(why)
        return value

    parse.__name__ = flag  # argparse names the type in some messages
    return parse


def _parse_list(item: Callable[[str], Any], allowed: str) -> Callable[[str], list[Any]]:
    """The argparse ``type=`` for one word of a list flag: ``"a,b"`` is two items, each checked."""

    def parse(text: str) -> list[Any]:
        items = [piece.strip() for piece in text.split(",")]
        if not all(items):
            each = f", each {allowed}," if allowed else ""
            raise argparse.ArgumentTypeError(
                f"has an empty item in {text!r}: separate items{each} by commas or spaces"
            )
        return [item(piece) for piece in items]

    parse.__name__ = item.__name__
    return parse


class _TupleAction(argparse.Action):
    """Store a list flag's items as one tuple: ``--x 1,2 3`` gives ``(1, 2, 3)``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, tuple(item for word in values for item in word))


def _flag_options(kind: Any, bounds: Range | None, default: Any, text: str, flag: str) -> dict:
    """How argparse reads one Config field (``type``, ``choices`` ...); empty: no flag."""
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction, "help": f"{text} (default: {default})"}
    if typing.get_origin(kind) is Literal:
        return {"choices": typing.get_args(kind), "help": f"{text} (default: {default})"}
    if kind in (int, float, str):
        where = f"; {bounds.describe()}" if bounds else ""
        return {
            "type": _parse_value(kind, bounds, flag),
            "metavar": kind.__name__.upper(),
            "help": f"{text} (default: {default}{where})",
        }
    item, *rest = typing.get_args(kind) or (None,)
    if typing.get_origin(kind) is not tuple or rest != [Ellipsis]:
        return {}  # fixed-length tuples, nested configs ...: no flag
    item, item_bounds = _unwrap(item)
    if not _flag_options(item, item_bounds, None, "", flag).keys() & {"type", "choices"}:
        return {}  # a tuple of bools, or of tuples
    allowed = _allowed(item, item_bounds)
    return {
        "type": _parse_list(_parse_value(item, item_bounds, flag), allowed),
        "nargs": "+",
        "action": _TupleAction,
        "metavar": item.__name__.upper() if item in (int, float, str) else "CHOICE",
        "help": f"{text} (default: {','.join(map(str, default))}; each {allowed or 'any'}; "
        "separate by commas or spaces)",
    }


def command_of(prog: str | importlib.machinery.ModuleSpec | None) -> str | None:
    """The command a parser names: ``prog`` itself, or ``python -m <module>`` for a module's spec.

    Under ``python -m`` a module's ``__name__`` is ``"__main__"`` but ``__spec__.name`` is its
    real name; a package's ``__main__`` stands for the package.
    """
    if isinstance(prog, importlib.machinery.ModuleSpec):
        return f"python -m {prog.name.removesuffix('.__main__')}"
    return prog  # a string, or None for a script run by path: argparse names the file


def config_parser(
    config_cls: type,
    doc: str | None,
    prog: str | importlib.machinery.ModuleSpec | None,
    *,
    quick: Mapping[str, Any] | None = None,
    aliases: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
    outputs: Mapping[str, str | tuple[str, str]] | None = None,
) -> LessonParser:
    """A lesson's parser with one flag per field of its frozen Config dataclass.

    The flag is the field name with dashes (``eval_episodes`` -> ``--eval-episodes``); its
    type, default and allowed range come from the field's annotation (``PosInt``, ``Prob``,
    ``bool``, ``Literal[...]``, ``X | None``, ``tuple[X, ...]`` ...) and its help from the
    comment after the field. A ``tuple[X, ...]`` field reads a list, its items separated by
    commas or spaces (``--methods grpo,dpo`` or ``--epsilons 0 0.1``), and checks each item
    as an X. Fields of other types (fixed-length tuples, nested configs) get no flag.

    Args:
        config_cls: The lesson's ``Config`` dataclass.
        doc: The module docstring (first line becomes the description).
        prog: The module's ``__spec__`` (the command becomes ``python -m <module>``), or the
            command itself as a string.
        quick: The ``--quick`` preset: field overrides for a seconds-long run.
        aliases: Extra, shorter flag names: ``{"total_timesteps": "--timesteps"}``.
        skip: Field names to leave off the command line.
        outputs: The files a run writes only when asked, name -> help:
            ``{"plot": "save the figure"}`` gives ``--plot PATH``; a ``(metavar, help)`` pair
            names another placeholder (``{"save": ("DIR", "save the model in DIR")}``).

    Returns:
        A parser with ``--seed`` (unless Config has a ``seed`` field), ``--quick``, the
        Config flags and the output flags; read it back with :func:`parse_config`.
    """
    parser = lesson_parser(doc, command_of(prog))
    parser.set_defaults(_config_cls=config_cls, _quick=dict(quick or {}))
    if quick:  # say what --quick changes
        preset = ", ".join(f"{k}={v}" for k, v in quick.items())
        next(a for a in parser._actions if a.dest == "quick").help = f"a seconds-long run: {preset}"
    hints = typing.get_type_hints(config_cls, include_extras=True)
    helps = _help_comments(config_cls)
    group = parser.add_argument_group("settings (the lesson's Config)")
    for f in dataclasses.fields(config_cls):
        if f.name in skip or f.name == "seed" or not f.init:
            continue
        names = [f"--{f.name.replace('_', '-')}"]
        if aliases and f.name in aliases:
            names.append(aliases[f.name])
        text = helps.get(f.name, f.name.replace("_", " "))
        kind, bounds = _unwrap(hints[f.name])
        if options := _flag_options(kind, bounds, f.default, text, names[0]):
            group.add_argument(*names, dest=f.name, default=argparse.SUPPRESS, **options)
    files = parser.add_argument_group("outputs (each written only when given)")
    for name, text in (outputs or {}).items():
        metavar, text = text if isinstance(text, tuple) else ("PATH", text)
        files.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar=metavar, help=text)
    return parser


def parse_config(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> tuple[Any, argparse.Namespace]:
    """Parse ``argv`` into the lesson's Config and the remaining arguments.

    Precedence: the Config's defaults, then the ``--quick`` preset if asked for, then every
    flag given on the command line.

    Returns:
        ``(config, args)``; ``args`` holds ``seed``, ``quick`` and any extra flags the
        lesson added itself (``--plot`` ...).
    """
    args = parser.parse_args(argv)
    config_cls = args._config_cls
    names = {f.name for f in dataclasses.fields(config_cls)}
    given = {k: v for k, v in vars(args).items() if k in names}
    preset = args._quick if args.quick else {}
    config = config_cls(**{**preset, **given})
    if "seed" in names:
        config = dataclasses.replace(config, seed=args.seed)
    return config, args


def config_kwargs(config: Any, names: str) -> dict[str, Any]:
    """Config fields as keyword arguments, for a library that takes them under the same names.

    ``config_kwargs(cfg, "gamma n_steps")`` is ``{"gamma": cfg.gamma, "n_steps": cfg.n_steps}``.
    """
    return {name: getattr(config, name) for name in names.split()}


# --8<-- [end:config-cli]
