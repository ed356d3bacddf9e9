"""Tests for lesson B3: the replay buffer and TD target by hand, then SB3's DQN for real."""

import glob
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_main

from snippets import b3_deep_q_networks_dqn as b3
from snippets import curves

# A seconds-long training run used by several tests (trained once per module).
# 4000 env steps: 1000 random warm-up steps, then 11 bursts of 128 gradient steps.
SHORT = replace(b3.DQNConfig(), total_timesteps=4_000, eval_freq=2_000, eval_episodes=5)
# A uniformly random policy scores about 22 on CartPole-v1; a threshold of 150 (7x that,
# 30 % of the maximum 500) cannot be reached by luck, yet 4000 steps are enough for this seed
# to clear it: the test checks a policy that clearly learned, not just a run that finished.
LEARNED_THRESHOLD = 150.0


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    tb_dir = tmp_path_factory.mktemp("tb")
    result = b3.train(SHORT, seed=0, tensorboard_log=str(tb_dir))
    return result, tb_dir


def test_replay_buffer_overwrites_the_oldest_transition_when_full():
    buf = b3.ReplayBuffer(capacity=3, obs_dim=2)
    for t in range(5):  # transitions 0..4; 0 and 1 must be gone
        buf.add(
            np.full(2, t),
            action=t % 2,
            reward=float(t),
            next_obs=np.full(2, t + 1),
            terminated=t == 4,
        )
    assert buf.size == 3 and buf.pos == 2
    assert sorted(buf.rewards[:, 0]) == [2.0, 3.0, 4.0]
    assert (
        buf.dones[buf.rewards[:, 0] == 4.0] == 1.0
    )  # the terminal flag travels with its transition
    np.testing.assert_array_equal(buf.next_observations[buf.rewards[:, 0] == 3.0], [[4.0, 4.0]])


def test_replay_buffer_samples_uniformly_and_reproducibly():
    buf = b3.ReplayBuffer(capacity=100, obs_dim=1)
    for t in range(10):
        buf.add(np.array([t]), 0, float(t), np.array([t + 1]), False)
    a = buf.sample(20_000, np.random.default_rng(1))
    b = buf.sample(20_000, np.random.default_rng(1))
    torch.testing.assert_close(a.rewards, b.rewards)
    assert a.observations.shape == (20_000, 1) and a.actions.dtype == torch.int64
    counts = np.bincount(a.rewards[:, 0].int().numpy(), minlength=10)
    assert counts.min() > 1_800 and counts.max() < 2_200  # each of the 10 about 2000 times
    torch.testing.assert_close(a.next_observations, a.observations + 1)  # rows stay aligned


def test_td_target_matches_hand_computation():
    rewards = torch.tensor([[1.0], [1.0], [0.5]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    next_q = torch.tensor([[1.0, 3.0], [2.0, 0.0], [-1.0, -2.0]])
    y = b3.td_target(rewards, dones, next_q, gamma=0.9)
    # 1 + 0.9 * max(1, 3);  terminal: just r;  0.5 + 0.9 * max(-1, -2)
    torch.testing.assert_close(y, torch.tensor([[3.7], [1.0], [-0.4]]))
    assert not y.requires_grad


def test_dqn_loss_is_zero_when_q_already_equals_its_target():
    # With gamma = 0 the target is r; a network that outputs r for the action taken has loss 0.
    net = torch.nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[2.0], [5.0]]))  # Q(s, 0) = 2 s, Q(s, 1) = 5 s
    obs = torch.tensor([[1.0], [2.0]])
    batch = b3.Batch(
        obs, torch.tensor([[0], [1]]), obs, torch.zeros(2, 1), torch.tensor([[2.0], [10.0]])
    )
    assert b3.dqn_loss(net, net, batch, gamma=0.0).item() == pytest.approx(0.0)


def test_our_loss_is_exactly_the_loss_sb3_minimises(short_run):
    """Same minibatch, same networks: our hand-written loss equals SB3's logged train/loss."""
    model = short_run[0].final
    np.random.seed(123)  # SB3's buffer samples with NumPy's global generator
    batch = model.replay_buffer.sample(256)
    ours = b3.dqn_loss(model.q_net, model.q_net_target, b3.Batch(*batch[:5]), model.gamma).item()
    np.random.seed(123)
    model.train(gradient_steps=1, batch_size=256)  # one SB3 update on the same batch
    assert model.logger.name_to_value["train/loss"] == pytest.approx(ours, rel=1e-6)


def test_epsilon_schedule_matches_sb3(short_run):
    model, config = short_run[0].final, SHORT
    for step in (0, 100, 320, 640, 1_000, 3_999):
        sb3_eps = model.exploration_schedule(1.0 - step / config.total_timesteps)
        assert b3.epsilon_at(step, config) == pytest.approx(sb3_eps)


def test_seeded_short_run_clearly_learns(short_run):
    result = short_run[0]
    mean, _ = b3.evaluate(result.kept, SHORT, seed=curves.TEST_SEED_OFFSET, n_episodes=10)
    assert mean >= LEARNED_THRESHOLD
    assert result.curve.steps == [2_000, 4_000]


def test_save_and_load_round_trip_gives_the_same_agent(short_run, tmp_path):
    model = short_run[0].kept
    loaded = b3.save_and_reload(model, tmp_path / "dqn_cartpole.zip")
    assert loaded is not model and (tmp_path / "dqn_cartpole.zip").exists()
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(64, 4)), dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.q_net(obs), model.q_net(obs))
    assert loaded.gamma == model.gamma and loaded.batch_size == model.batch_size
    assert b3.evaluate(loaded, SHORT, 7, 3) == b3.evaluate(model, SHORT, 7, 3)


def test_tensorboard_logs_hold_training_and_eval_scalars(short_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run_dir,) = short_run[1].iterdir()  # one subfolder per run: dqn_seed0_1
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "rollout/ep_rew_mean",
        "eval/mean_reward",
        "rollout/exploration_rate",
    } <= tags
    assert len(events.Scalars("eval/mean_reward")) == 2


def _wandb_records(path: str):
    """Decode a .wandb file: a LevelDB-style log of 32 KiB blocks holding protobuf Records."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""  # 7-byte file header, then 7-byte chunk headers (crc, length, type)
    while pos + 7 <= len(data):
        if 32_768 - pos % 32_768 < 7:  # block tail too short for a header is padding
            pos += 32_768 - pos % 32_768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: a whole record is ready
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_quick_run_writes_every_output_and_its_wandb_record_holds_sb3_metrics(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    paths = {
        flag: tmp_path / name
        for flag, name in [
            ("--plot", "b3.png"),
            ("--curve", "curve.json"),
            ("--save", "agent.zip"),
            ("--gif", "ep.gif"),
        ]
    }
    args = [str(x) for kv in paths.items() for x in kv]
    metrics = run_main(b3.main, "--quick", "--wandb", "--timesteps", "1500", *args, capsys=capsys)
    assert metrics["timesteps"] == 1500
    assert {"kept_mean_return", "final_mean_return", "seconds_per_seed"} <= metrics.keys()
    assert all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    curve = json.loads(paths["--curve"].read_text())
    assert curve["x_label"] == "environment steps" and len(curve["x"]) == len(curve["y"]) > 0
    assert paths["--gif"].stat().st_size < 1_000_000
    (run_file,) = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    logged = set()
    for record in _wandb_records(run_file):
        if record.WhichOneof("record_type") == "history":
            logged |= {item.key or "/".join(item.nested_key) for item in record.history.item}
    assert {"train/loss", "rollout/ep_rew_mean", "rollout/exploration_rate"} <= logged


def test_flags_come_from_the_config_and_win_over_the_preset():
    config, args = b3.parse(["--preset", "zoo", "--batch-size", "32", "--timesteps", "5000"])
    assert config.batch_size == 32  # given on the command line
    assert config.final_learning_rate == 2.3e-3  # from the zoo preset
    assert config.total_timesteps == 5000 and config.seeds == 1 and config.net_arch == (256, 256)
    wider, _ = b3.parse(["--net-arch", "64", "64", "--seeds", "3"])
    assert wider.net_arch == (64, 64) and wider.seeds == 3
    quick, _ = b3.parse(["--quick", "--target-update-interval", "1"])
    assert (quick.total_timesteps, quick.eval_freq, quick.target_update_interval) == (
        3_000,
        1_500,
        1,
    )
    assert b3.parse([])[0] == b3.DQNConfig()


@pytest.mark.parametrize(
    "argv",
    [
        "--timesteps -5",
        "--exploration-final-eps 1.5",
        "--learning-rate 0",
        "--exploration-fraction 0",
        "--seeds 0",
        "--net-arch 64,0",
        "--net-arch ,",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects, argv: str) -> None:
    assert_rejects("b3_deep_q_networks_dqn", argv)
