import json
import re
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from typing import Literal

import numpy as np
import pytest
import torch

from snippets import common


def test_pick_device_honours_preference_and_environment(monkeypatch):
    assert common.pick_device("cpu").type == "cpu"
    monkeypatch.setenv(common.DEVICE_ENV_VAR, "cpu")
    assert common.pick_device().type == "cpu"
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert common.pick_device("auto").type == expected


def test_pick_device_rejects_unknown_or_absent_devices():
    with pytest.raises(ValueError, match="device must be one of"):
        common.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            common.pick_device("cuda")


def test_same_seed_same_numbers_everywhere():
    draws = []
    for _ in range(2):
        rng = common.seed_everything(7)
        draws.append((rng.random(3).tolist(), np.random.rand(), torch.rand(2).tolist()))
    assert draws[0] == draws[1]
    assert common.seed_everything(8).random() != common.seed_everything(7).random()


def test_make_env_is_reproducible():
    first = [common.make_env("CartPole-v1", seed=3).reset()[0] for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    a = common.make_env("CartPole-v1", seed=3)
    b = common.make_env("CartPole-v1", seed=3)
    assert [a.action_space.sample() for _ in range(10)] == [
        b.action_space.sample() for _ in range(10)
    ]


@dataclass(frozen=True)
class Demo:
    """A Config with one field of each kind of flag."""

    episodes: common.PosInt = 10  # episodes to run
    lr: common.PosFloat = 0.1  # step size
    gamma: common.Prob | None = None  # discount; None: the world's own
    how: Literal["a", "b"] = "a"  # which way
    epsilons: tuple[common.Prob, ...] = (0.0, 0.1)  # the agents' ε
    methods: tuple[Literal["grpo", "best-of-n"], ...] = ("grpo",)  # which to run
    shape: tuple[int, int] = (4, 6)  # fixed length: no flag


def demo_parser() -> common.LessonParser:
    return common.config_parser(Demo, "Demo lesson.\n\nMore.", prog="demo", quick={"episodes": 2})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("--episodes 0", "argument --episodes: must be >= 1, got 0"),
        ("--episodes x", "argument --episodes: must be an integer, got 'x'"),
        ("--seed -1", "argument --seed: must be >= 0, got -1"),
        ("--gamma 1.5", "argument --gamma: must be in [0, 1], got 1.5"),
        ("--lr -0.1", "argument --lr: must be > 0, got -0.1"),
        ("--epsilons 0.1 1.5", "argument --epsilons: must be in [0, 1], got 1.5"),
        ("--epsilons 0.1,x", "argument --epsilons: must be a number, got 'x'"),
        ("--epsilons 0.1,,0.2", "argument --epsilons: has an empty item in '0.1,,0.2'"),
        ("--epsilons", "argument --epsilons: expected at least one argument"),
        ("--methods grpo,ppo", "argument --methods: must be one of grpo, best-of-n, got 'ppo'"),
        ("--shape 2", "unrecognized arguments: --shape 2"),
    ],
)
def test_a_bad_flag_is_one_line_naming_the_flag_and_what_it_allows(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        common.parse_config(demo_parser(), argv.split())
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("demo: error: ") and message in line and line.endswith("(see --help)")


def test_flags_come_from_the_config_with_the_quick_preset_below_the_command_line():
    parse = demo_parser()
    assert common.parse_config(parse, [])[0] == Demo()
    config, args = common.parse_config(parse, ["--quick", "--gamma", "0.5", "--how", "b"])
    assert config == Demo(episodes=2, gamma=0.5, how="b") and args.seed == 0 and args.quick
    assert common.parse_config(parse, ["--quick", "--episodes", "7"])[0].episodes == 7


def test_the_command_comes_from_the_module_spec_and_output_flags_from_data():
    spec = ModuleSpec("snippets.some_lesson.__main__", None)  # a package run with python -m
    outputs = {"plot": "save the figure", "save_dir": ("DIR", "save the model in DIR")}
    parser = common.config_parser(Demo, "Demo lesson.", spec, outputs=outputs)
    assert parser.prog == "python -m snippets.some_lesson"
    _, args = common.parse_config(parser, ["--plot", "f.png"])
    assert args.plot == "f.png" and args.save_dir is None
    help_text = parser.format_help()
    assert re.search(r"--plot PATH +save the figure", help_text) and "--save-dir DIR" in help_text
    assert "outputs (each written only when given)" in help_text


def test_a_list_flag_takes_commas_or_spaces_and_gives_a_tuple():
    parse = demo_parser()
    for argv in (
        ["--epsilons", "0", "0.5", "1"],
        ["--epsilons", "0,0.5,1"],
        ["--epsilons", "0,0.5", "1"],
    ):
        assert common.parse_config(parse, argv)[0].epsilons == (0.0, 0.5, 1.0)
    config, _ = common.parse_config(parse, ["--methods", "best-of-n,grpo"])
    assert config.methods == ("best-of-n", "grpo")
    help_text = parse.format_help()
    assert "--epsilons FLOAT [FLOAT ...]" in help_text and "--shape" not in help_text


def test_emit_metrics_prints_one_rounded_json_line(capsys):
    out = common.emit_metrics({"a": np.float32(0.123456), "b": np.int64(3), "c": [1.0 / 3]})
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and json.loads(line) == out == {"a": 0.1235, "b": 3, "c": [0.3333]}


def test_progress_yields_everything_and_can_be_silenced(monkeypatch, capsys):
    monkeypatch.setenv("RL_COURSE_PROGRESS", "0")
    assert list(common.progress(range(5), desc="x")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""


def test_stopwatch_and_figure_saving(tmp_path):
    import matplotlib.pyplot as plt

    common.use_course_style()
    with common.Stopwatch() as clock:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        path = common.save_figure(fig, tmp_path / "sub" / "f.png")
    assert (
        clock.seconds > 0
        and (tmp_path / "sub" / "f.png").stat().st_size > 1000
        and path.endswith("f.png")
    )
