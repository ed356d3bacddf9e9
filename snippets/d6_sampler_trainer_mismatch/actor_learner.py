"""Lesson D6, the asynchronous actor–learner: rollout workers on Ray, a learner that corrects for them.

The same GRPO as D4, on its sums, built the way large RL systems for language models are
built. Rollout workers are Ray actors: each holds the weights it was last sent, samples a
scored batch with them, and returns it tagged with their version and with the log-probs it
sampled with. The learner takes batches as they arrive, measures each one's staleness (its
version minus the batch's), drops those older than a bound, weights the rest with TRL's
importance-sampling correction, and broadcasts its weights every few steps. A worker that
dies is replaced by a new one holding the current weights; the learner's state never moves.

The command pretrains once, then trains twice from that start with the same budget of
learner steps: asynchronously on Ray, and with the synchronous loop (sample, then learn, in
this process). It prints the staleness the system produced, sampled tokens per second, and
held-out pass@1 along both runs. ``--address HOST:PORT`` runs the workers on a Ray cluster.
"""

# --8<-- [start:imports]
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import torch

from snippets import common, curves
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import rlvr
from snippets.d4_grpo_in_practice import train as d4
from snippets.d6_sampler_trainer_mismatch.correction import Mode, is_weights

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config(d4.Config):
    """D4's task and loop (GRPO's loss) with section 2's defaults, and the actor–learner's."""

    workers: common.PosInt = 2  # rollout workers: Ray actors of one CPU each
    broadcast_every: common.PosInt = 1  # learner steps between two weight broadcasts
    max_staleness: common.NonNegInt = 4  # drop a batch more than this many versions old
    correct: bool = True  # weight each token's loss by TRL's importance weight
    is_mode: Mode = "sequence_mask"  # the correction: TRL's vllm_importance_sampling_mode
    is_clip_min: common.NonNegFloat = 0.0  # its C_min (0: TRL's None, no floor)
    is_clip_max: common.PosFloat = 3.0  # its C_max (TRL's default)
    eval_every: common.PosInt = 5  # learner steps between two snapshots scored on pass@1
    baseline: bool = True  # also train with the synchronous loop, same start and budget
    kill_worker_at_step: common.NonNegInt = 0  # test hook: kill worker 0 after this step
    address: str = ""  # join this Ray cluster, HOST:PORT or auto (default: a local Ray)
    cpus: common.PosInt = 2  # CPUs of the local Ray (ignored with --address)
    # D4's fields, with section 2's defaults: one-digit sums, one optimiser step per batch
    digits: common.PosInt = 1  # digits per operand
    band_check_every: common.PosInt = 25  # pretraining steps between two checks
    steps: common.PosInt = 40  # learner steps, one optimiser step each
    prompts_per_step: common.PosInt = 16  # problems per batch
    epochs: common.PosInt = 1  # passes over each batch ...
    minibatches: common.PosInt = 1  # ... in this many optimiser steps each
    max_new_tokens: common.PosInt = 4  # completion length limit (answers need at most 3)
    heldout_problems: common.PosInt = 64  # held-out problems for pass@1


# D4's fields that do not act here (other losses' options, the KL, pass@k, collapse marks)
SKIP = (
    "variant epsilon_high gspo_epsilon gspo_epsilon_high cispo_cap beta dynamic_sampling "
    "max_refill overlong overlong_cache collapse_fraction no_signal_share eval_problems "
    "eval_samples"
).split()
QUICK = {"band_max_steps": 100, "steps": 6, "eval_every": 3, "heldout_problems": 32}
OUTPUTS = {"plot": "save the staleness and learning-curve figure (PNG)"}


# --8<-- [end:config]


# --8<-- [start:worker]
@dataclass
class Batch:
    """What a worker sends back: a scored batch, its sampler log-probs, and their version."""

    rollout: d2.Rollout
    rewards: torch.Tensor
    sampler_logps: torch.Tensor  # log μ of each completion token: the sampler's own numbers
    version: int  # the learner version of the weights that sampled it
    worker: int
    incarnation: int  # 0 for the first actor of this worker slot, 1 for its replacement ...
    tokens: int  # completion tokens sampled


class RolloutWorker:
    """A sampler that holds the weights it last received and samples scored batches with them.

    A plain class: ``ray.remote`` turns it into an actor for the asynchronous run, and the
    synchronous loop uses it in-process, so both sample with the same code.
    """

    def __init__(self, cfg: Config, seed: int, worker: int, incarnation: int = 0) -> None:
        torch.set_num_threads(1)  # one CPU per actor; a 100k-parameter model needs no more
        torch.manual_seed(seed * 1_000 + worker * 10 + incarnation)  # generate's randomness
        self.cfg, self.worker, self.incarnation = cfg, worker, incarnation
        self.rng = np.random.default_rng([seed, worker, incarnation])  # its own problems
        self.tokenizer = rlvr.build_tokenizer()
        self.lm = rlvr.build_model(cfg, self.tokenizer).eval()
        self.how = d4.recipe("grpo", cfg)
        self.version = -1

    def set_weights(self, version: int, weights: dict[str, torch.Tensor]) -> int:
        """Load the learner's weights of ``version``; batches sampled from now on carry it."""
        self.lm.load_state_dict(weights)
        self.version = version
        return version

    def held(self) -> tuple[int, int, str]:
        """``(incarnation, version, node)``: which actor, the weights it holds, where it runs."""
        return self.incarnation, self.version, ray.get_runtime_context().get_node_id()[:8]

    @torch.no_grad()
    def sample(self) -> Batch:
        """D4's ``collect`` with the weights held, plus the log-probs they gave each token."""
        rollout, rewards, _, _ = d4.collect(self.lm, self.tokenizer, self.rng, self.cfg, self.how)
        ids, p = rollout.input_ids, rollout.prompt_length
        logits = d2.lm_forward(self.lm, ids, rollout.attention_mask)[0]
        logps = d2.response_logprobs(logits, ids, p, self.cfg.temperature)
        tokens = int(rollout.response_mask.sum())
        return Batch(rollout, rewards, logps, self.version, self.worker, self.incarnation, tokens)


# --8<-- [end:worker]


# --8<-- [start:learner]
def correction_weight(
    trainer_logps: torch.Tensor, sampler_logps: torch.Tensor, mask: torch.Tensor, cfg: Config
) -> torch.Tensor:
    """TRL's importance-sampling weight of ``cfg.is_mode`` (all ones when not ``cfg.correct``)."""
    if not cfg.correct:
        return torch.ones_like(trainer_logps)
    return is_weights(
        trainer_logps, sampler_logps, mask, cfg.is_mode, cfg.is_clip_min, cfg.is_clip_max
    )


class Learner:
    """The trainer: the weights, the optimiser, the version, and the correction of each batch."""

    def __init__(self, lm: torch.nn.Module, cfg: Config, seed: int) -> None:
        self.lm, self.cfg = lm, cfg
        self.how = d4.recipe("grpo", cfg)
        self.optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
        self.rng = np.random.default_rng([seed, 7])  # minibatch order
        self.version = 0  # learner steps taken: the version of the current weights

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of the current weights (what a broadcast or a snapshot holds)."""
        return {k: v.detach().clone() for k, v in self.lm.state_dict().items()}

    def learn(self, batch: Batch) -> dict[str, float]:
        """One learner step on ``batch``: D4's update, each token's loss weighted.

        ``π_old`` is the learner's recomputation when the batch arrives (as in TRL); the weight
        ``π_old/μ`` corrects for everything that separates the sampler from the learner.
        """
        r, mask = batch.rollout, batch.rollout.response_mask.float()
        with torch.no_grad():
            logits = d2.lm_forward(self.lm, r.input_ids, r.attention_mask)[0]
            old = d2.response_logprobs(logits, r.input_ids, r.prompt_length, self.cfg.temperature)
        weight = correction_weight(old, batch.sampler_logps, mask, self.cfg)
        d4.update(
            self.lm, self.optimizer, r, batch.rewards, self.cfg, self.how, self.rng, weight=weight
        )
        self.version += 1
        real = (
            mask.bool() if weight.shape == mask.shape else torch.ones_like(weight, dtype=torch.bool)
        )
        return {
            "reward": batch.rewards.mean().item(),
            "log_ratio_max": ((old - batch.sampler_logps) * mask).abs().max().item(),
            "weight_deviation": (weight[real] - 1.0).abs().max().item(),
            "weight_zero": (weight[real] == 0.0).float().mean().item(),
        }


# --8<-- [end:learner]


# --8<-- [start:async]
def run_async(learner: Learner, cfg: Config, seed: int) -> dict:
    """Train on batches from ``cfg.workers`` Ray actors as they arrive; Ray must be running.

    Each worker always has one ``sample`` call in flight: as soon as its batch arrives it
    starts the next one, with the weights it holds, while the learner learns. A broadcast is
    one ``ray.put`` of the weights and one ``set_weights`` call per worker, queued behind the
    sample it is running. A worker that died is replaced by a new actor with the weights of
    the last broadcast.
    """
    remote = ray.remote(num_cpus=1, max_restarts=0)(RolloutWorker)
    sent = (learner.version, ray.put(learner.weights()))  # the last broadcast: version, ref
    clock, log, events = time.perf_counter(), [], {"dropped": 0, "replaced": 0, "tokens": 0}

    def spawn(slot: int, incarnation: int):  # noqa: ANN202 - a Ray actor handle
        actor = remote.remote(cfg, seed, slot, incarnation)
        actor.set_weights.remote(*sent)
        return actor

    workers = [spawn(slot, 0) for slot in range(cfg.workers)]
    pending = {actor.sample.remote(): slot for slot, actor in enumerate(workers)}
    lives = [0] * cfg.workers
    snapshots, waited, first = [(0, 0.0, learner.weights())], 0.0, None
    bar = common.progress_bar("asynchronous learner", cfg.steps)
    while learner.version < cfg.steps:
        started = time.perf_counter()
        [ref], _ = ray.wait(list(pending), num_returns=1)
        waited += time.perf_counter() - started
        slot = pending.pop(ref)
        try:
            batch = ray.get(ref)
        except ray.exceptions.RayActorError:  # the worker died: a new one, current weights
            if events["replaced"] >= 3 * cfg.workers:
                raise
            lives[slot] += 1
            workers[slot] = spawn(slot, lives[slot])
            events["replaced"] += 1
            pending[workers[slot].sample.remote()] = slot
            continue
        pending[workers[slot].sample.remote()] = slot  # it samples on while we learn
        if first is None:
            first, events["first"] = time.perf_counter(), batch.tokens
        events["tokens"] += batch.tokens
        staleness = learner.version - batch.version
        if staleness > cfg.max_staleness:  # too old to correct: drop it, as async GRPO does
            events["dropped"] += 1
            continue
        stats = learner.learn(batch)
        log.append(
            stats | {"staleness": staleness, "version": batch.version, "life": batch.incarnation}
        )
        if learner.version % cfg.broadcast_every == 0:
            sent = (learner.version, ray.put(learner.weights()))  # one copy for all workers
            for actor in workers:
                actor.set_weights.remote(*sent)
        if learner.version == cfg.kill_worker_at_step:
            ray.kill(workers[0])
        if learner.version % cfg.eval_every == 0 or learner.version == cfg.steps:
            snapshots.append((learner.version, time.perf_counter() - clock, learner.weights()))
        bar.update()
    bar.close()
    result = finish(log, snapshots, events, clock, first) | {"learner_wait": waited, "held": []}
    for actor in workers:  # what each worker holds now (waits for a replacement to start)
        try:
            result["held"].append(ray.get(actor.held.remote()))
        except ray.exceptions.RayActorError:  # killed at the last step: not replaced yet
            result["held"].append((-1, -1, ""))
        ray.kill(actor)
    return result


# --8<-- [end:async]


# --8<-- [start:sync]
def run_sync(learner: Learner, cfg: Config, seed: int) -> dict:
    """The synchronous loop with the same budget: sample with the current weights, then learn."""
    worker = RolloutWorker(cfg, seed, 0)
    clock, log, events = time.perf_counter(), [], {"dropped": 0, "replaced": 0, "tokens": 0}
    snapshots, first = [(0, 0.0, learner.weights())], None
    for _ in common.progress(range(cfg.steps), desc="synchronous learner"):
        worker.set_weights(learner.version, learner.weights())
        batch = worker.sample()
        if first is None:
            first, events["first"] = time.perf_counter(), batch.tokens
        events["tokens"] += batch.tokens
        log.append(learner.learn(batch) | {"staleness": 0, "version": batch.version, "life": 0})
        if learner.version % cfg.eval_every == 0 or learner.version == cfg.steps:
            snapshots.append((learner.version, time.perf_counter() - clock, learner.weights()))
    return finish(log, snapshots, events, clock, first) | {"learner_wait": 0.0}


def finish(log: list[dict], snapshots: list, events: dict, clock: float, first: float) -> dict:
    """A run's record; tokens per second count from the first batch on (after start-up)."""
    end = time.perf_counter()
    staleness = np.array([s["staleness"] for s in log])
    return {
        "log": log,
        "snapshots": snapshots,
        "seconds": end - clock,
        "startup": first - clock,
        "tokens": events["tokens"],
        "tokens_per_second": (events["tokens"] - events["first"]) / max(end - first, 1e-9),
        "staleness": {int(k): int((staleness == k).sum()) for k in np.unique(staleness)},
        "dropped": events["dropped"],
        "replaced": events["replaced"],
    }


# --8<-- [end:sync]


# --8<-- [start:run]
def connect(cfg: Config) -> bool:
    """Start a local Ray (or join ``cfg.address``) unless one is running; True if we started it."""
    if ray.is_initialized():
        return False
    where = {"address": cfg.address} if cfg.address else {"num_cpus": cfg.cpus}
    ray.init(**where, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    return True


def pass_at_1_curve(lm, tokenizer, run: dict, heldout: np.ndarray, cfg: Config, seed: int) -> list:
    """Held-out pass@1 of every snapshot, each with the same sampling noise (scored after the run)."""
    scores = []
    for step, seconds, weights in run.pop("snapshots"):
        lm.load_state_dict(weights)
        torch.manual_seed(seed + 3)
        scores.append(
            (step, seconds, rlvr.sample_and_check(lm, tokenizer, heldout, cfg)[1].mean().item())
        )
    return scores


def run(cfg: Config, seed: int) -> dict:
    """Pretrain to D3's band, then train from there asynchronously and (``baseline``) synchronously."""
    rng = common.seed_everything(seed)
    tokenizer = rlvr.build_tokenizer()
    lm = rlvr.build_model(cfg, tokenizer)
    draw = lambda offset, n: rlvr.sample_problems(  # noqa: E731 - D4's held-out sets
        np.random.default_rng(seed + offset * curves.EVAL_SEED_OFFSET), n, cfg.digits, cfg.terms
    )
    checks = rlvr.pretrain(lm, tokenizer, cfg, rng, draw(2, cfg.band_problems))
    heldout, start = (
        draw(3, cfg.heldout_problems),
        {k: v.clone() for k, v in lm.state_dict().items()},
    )
    loops = {"async": run_async} | ({"sync": run_sync} if cfg.baseline else {})
    runs, started = {}, connect(cfg)
    try:
        for name, loop in loops.items():
            lm.load_state_dict(start)
            runs[name] = loop(Learner(lm, cfg, seed), cfg, seed)
            runs[name]["pass_at_1"] = pass_at_1_curve(lm, tokenizer, runs[name], heldout, cfg, seed)
        runs["nodes"] = len([n for n in ray.nodes() if n["Alive"]])
    finally:
        if started:
            ray.shutdown()
    return runs | {"pretrain_steps_used": checks[-1][0] if checks else cfg.pretrain_steps}


def headline(result: dict) -> dict:
    """The flat numbers: per loop its seconds, tokens/s, staleness counts and pass@1 curve."""
    out = {"nodes": result["nodes"], "pretrain_steps_used": result["pretrain_steps_used"]}
    out["worker_nodes"] = sorted({node for *_, node in result["async"]["held"]})
    for name in ("async", "sync"):
        if name not in result:
            continue
        r, stale = result[name], [s for s in result[name]["log"] if s["staleness"] > 0]
        out[name] = {
            key: r[key]
            for key in ("seconds", "startup", "tokens", "tokens_per_second", "learner_wait")
        } | {
            "staleness": r["staleness"],
            "dropped": r["dropped"],
            "replaced": r["replaced"],
            "weight_zero": float(np.mean([s["weight_zero"] for s in r["log"]])),
            "log_ratio_max_stale": max((s["log_ratio_max"] for s in stale), default=0.0),
            "pass_at_1": [[step, seconds, p] for step, seconds, p in r["pass_at_1"]],
            "final_pass_at_1": r["pass_at_1"][-1][2],
        }
    return out


# --8<-- [end:run]


# --8<-- [start:plot]
def plot(result: dict, path: str | Path) -> str:
    """Staleness counts of the asynchronous run, and pass@1 against learner steps and seconds.

    The seconds start at each run's first batch: the actors' start-up is reported apart.
    """
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 3.6))
    counts = result["async"]["staleness"]
    ax0.bar(list(counts), list(counts.values()), color="C1")
    ax0.set(title="staleness of the batches learned from", xlabel="learner version − batch version")
    for name in ("async", "sync"):
        if name in result:
            steps, seconds, p = np.array(result[name]["pass_at_1"]).T
            ax1.plot(steps, p, marker="o", lw=1.2, label=name)
            ax2.plot(np.maximum(seconds - result[name]["startup"], 0), p, marker="o", lw=1.2)
    ax1.set(title="held-out pass@1", xlabel="learner step")
    ax2.set(title="held-out pass@1", xlabel="wall-clock seconds after the first batch")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


# --8<-- [end:plot]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Pretrain, train asynchronously on Ray and synchronously, and print one JSON line."""
    parser = common.config_parser(
        Config, __doc__, __spec__, quick=QUICK, skip=SKIP, outputs=OUTPUTS
    )
    cfg, args = common.parse_config(parser, argv)
    if cfg.kill_worker_at_step >= cfg.steps:
        parser.error("argument --kill-worker-at-step: must be below --steps (0: never)")
    if cfg.is_clip_min >= cfg.is_clip_max:
        parser.error("argument --is-clip-min: must be below --is-clip-max")
    torch.set_num_threads(1)  # a 100k-parameter model: one thread is fastest
    result = run(cfg, args.seed)
    if args.plot:
        plot(result, args.plot)
    return common.emit_metrics(headline(result) | {"seed": args.seed})


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
