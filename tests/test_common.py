import json

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


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (common.positive_int, "0", "must be an integer >= 1, got 0"),
        (common.positive_int, "x", "must be an integer >= 1, got 'x'"),
        (common.non_negative_int, "-1", "must be an integer >= 0, got -1"),
        (common.float_in_range(0, 1), "1.5", "must be in [0, 1], got 1.5"),
        (common.positive_float, "-0.1", "must be a number > 0, got -0.1"),
    ],
)
def test_argument_types_explain_the_allowed_range(parse, text, message):
    with pytest.raises(Exception, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(text)


def test_parser_errors_are_one_line_and_exit_2(capsys):
    parser = common.lesson_parser("Demo lesson.\n\nMore.", prog="demo")
    parser.add_argument("--episodes", type=common.positive_int, default=10)
    assert parser.parse_args([]).seed == 0 and parser.parse_args(["--quick"]).quick
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--episodes", "-3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["demo: error: argument --episodes: must be an integer >= 1, got -3 (see --help)"]


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
