"""Lesson D3, verifiable rewards: GRPO on two-digit addition with an exact checker.

No reward model and no preferences: a program checks the answer. The tiny GPT-2 is
pretrained on sums of which only some are right (its "web data" is noisy), until its
held-out pass@1 lies in a band, so it starts with partial skill: the right answer is among
its samples, but not always on top. GRPO with the checker as the reward then raises pass@1. pass@k for large k shows what it did
not do: the model does not solve problems that none of its samples solved before.
"""

# --8<-- [start:imports]
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from snippets import common, curves
from snippets import d2_rlhf_llm_with_pytorch as d2
from snippets.d3_grpo_rloo_and_dpo import losses, report

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class RLVRConfig:
    """Settings of the addition task and its GRPO run."""

    digits: common.PosInt = 2  # operands have this many digits
    terms: Annotated[int, common.Range(2)] = 2  # operands per sum (D4 asks for harder sums)
    correct_fraction: common.Prob = 0.35  # share of right answers in the pretraining data
    pretrain: Literal["band", "fixed"] = "band"  # until pass@1 is in the band, or fixed steps
    pretrain_steps: common.PosInt = 400  # "fixed": exactly this many next-token steps
    band_low: common.Prob = 0.15  # "band": stop once held-out pass@1 is at least this ...
    band_high: common.Prob = 0.40  # ... and at most this (partial skill, not full skill)
    band_check_every: common.PosInt = 50  # "band": pretraining steps between two checks
    band_max_steps: common.PosInt = 2000  # "band": never pretrain longer than this
    band_problems: common.PosInt = 256  # "band": problems of the check (not the eval set)
    pretrain_batch: common.PosInt = 128  # sums per pretraining step
    pretrain_lr: common.PosFloat = 3e-3  # AdamW learning rate for pretraining
    grpo_steps: common.PosInt = 200  # GRPO iterations
    reward: Literal["check", "shuffled"] = "check"  # "shuffled": permuted over the batch (control)
    prompts_per_step: common.PosInt = 32  # problems per iteration
    group_size: Annotated[int, common.Range(2)] = 8  # G: samples per problem
    lr: common.PosFloat = 1e-3  # Adam learning rate for GRPO
    epsilon: common.Prob = 0.2  # clip range of the ratio
    beta: common.NonNegFloat = 0.0  # KL weight (TRL's default: 0)
    aggregation: Literal["grpo", "dapo", "dr_grpo"] = "dapo"  # how token losses are averaged
    temperature: common.PosFloat = 1.0  # sampling temperature
    eval_problems: common.PosInt = 200  # held-out problems for pass@k
    eval_samples: common.PosInt = 64  # samples per problem: pass@k for k up to this
    n_layer: common.PosInt = 2  # GPT-2 layers
    n_embd: common.PosInt = 64  # GPT-2 width

    @property
    def max_new_tokens(self) -> int:
        """The longest answer's digits, plus EOS."""
        return len(str(self.terms * (10**self.digits - 1))) + 1


# --8<-- [end:config]


# --8<-- [start:task]
PAD, EOS, UNK = d2.PAD, d2.EOS, d2.UNK
VOCAB = [PAD, EOS, UNK, *"0123456789", "+", "="]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """One token per digit or sign; words are separated by spaces ("4 7 + 3 5 =")."""
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )


def sample_problems(rng: np.random.Generator, n: int, digits: int, terms: int = 2) -> np.ndarray:
    """``n`` sums of ``terms`` operands, each with exactly ``digits`` digits; shape (n, terms)."""
    return rng.integers(10 ** (digits - 1), 10**digits, size=(n, terms))


def prompt_text(row: np.ndarray) -> str:
    """``[47, 35]`` -> ``"4 7 + 3 5 ="``: one token per digit or sign."""
    return " + ".join(" ".join(str(int(x))) for x in row) + " ="


def plausible_wrong_answer(row: np.ndarray, rng: np.random.Generator) -> int:
    """A mistake a careless adder makes: a dropped carry, or an answer off by one or ten.

    The dropped carry adds the last operand to the sum of the others digit by digit.
    """
    total, head, last = int(row.sum()), int(row[:-1].sum()), int(row[-1])
    width = len(str(max(head, last)))
    pairs = zip(f"{head:0{width}d}", f"{last:0{width}d}", strict=True)
    no_carry = int("".join(str((int(x) + int(y)) % 10) for x, y in pairs))
    for candidate in rng.permutation([no_carry, total + 1, total - 1, total + 10, total - 10]):
        if candidate != total and candidate >= 0:
            return int(candidate)
    return total + 1  # pragma: no cover - the list always holds a wrong answer


def check(row: np.ndarray, words: list[str], finished: bool) -> float:
    """The verifier: 1.0 if the completion is exactly the digits of the sum, then EOS."""
    return float(finished and "".join(words) == str(int(row.sum())))


# --8<-- [end:task]


# --8<-- [start:model]
def build_model(cfg: RLVRConfig, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    """A tiny GPT-2 built from a config in code (no download)."""
    # No pad_token_id here: padding only follows EOS, where a causal model never looks back, and
    # generate gets it from D2's GenerationConfig; set here, it makes transformers warn falsely.
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=32,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=4,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    d2.disable_dropout(model)
    return model


def pretrain_step(
    lm: GPT2LMHeadModel,
    tokenizer: PreTrainedTokenizerFast,
    optimizer: torch.optim.Optimizer,
    cfg: RLVRConfig,
    rng: np.random.Generator,
) -> float:
    """One supervised next-token step on sums that are right only ``correct_fraction`` of the time.

    Only the answer tokens (and EOS) carry loss, as in SFT on prompt/answer pairs.

    Returns:
        The step's loss.
    """
    problems = sample_problems(rng, cfg.pretrain_batch, cfg.digits, cfg.terms)
    right = rng.random(len(problems)) < cfg.correct_fraction
    answers = [
        int(row.sum()) if ok else plausible_wrong_answer(row, rng)
        for row, ok in zip(problems, right, strict=True)
    ]
    prompts = [prompt_text(row) for row in problems]
    texts = [f"{p} {' '.join(str(s))} {EOS}" for p, s in zip(prompts, answers, strict=True)]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    n_prompt = len(prompts[0].split())  # every prompt has the same number of tokens
    answer_len = batch["attention_mask"].sum(1) - n_prompt
    width = batch["input_ids"].shape[1]
    is_answer = torch.arange(width)[None] >= (width - answer_len)[:, None]
    labels = batch["input_ids"].masked_fill(~is_answer, -100)
    ids, attn = batch["input_ids"], batch["attention_mask"]
    return d2.next_token_step(lm, optimizer, ids, attn, labels)


def pretrain(
    lm: GPT2LMHeadModel,
    tokenizer: PreTrainedTokenizerFast,
    cfg: RLVRConfig,
    rng: np.random.Generator,
    check_problems: np.ndarray,
) -> list[tuple[int, float]]:
    """Pretrain to partial skill: a fixed number of steps, or until pass@1 is in the band.

    With ``pretrain="fixed"`` the model takes ``pretrain_steps`` steps, however far that
    gets it; where it lands depends on the seed. With ``"band"`` it checks the pass@1 of one
    sample per problem on ``check_problems`` every ``band_check_every`` steps, and stops at
    the first check inside ``[band_low, band_high]`` (or after ``band_max_steps``).

    Returns:
        (step, pass@1) at every check of the band; none with ``"fixed"``.
    """
    optimizer = torch.optim.AdamW(lm.parameters(), lr=cfg.pretrain_lr, weight_decay=0.01)
    fixed = cfg.pretrain == "fixed"
    steps = cfg.pretrain_steps if fixed else cfg.band_max_steps
    checks = []
    for step in common.progress(range(1, steps + 1), desc="pretraining on noisy sums"):
        lm.train()
        pretrain_step(lm, tokenizer, optimizer, cfg, rng)
        if not fixed and step % cfg.band_check_every == 0:
            lm.eval()
            _, rewards = sample_and_check(lm, tokenizer, check_problems, cfg)
            checks.append((step, rewards.mean().item()))
            if cfg.band_low <= checks[-1][1] <= cfg.band_high:
                break
    lm.eval()
    return checks


# --8<-- [end:model]


# --8<-- [start:sample-and-check]
@torch.no_grad()
def sample_and_check(
    lm: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, problems: np.ndarray, cfg: RLVRConfig
) -> tuple[d2.Rollout, torch.Tensor]:
    """One sampled answer per row of ``problems``, and the checker's reward for each."""
    rollout = d2.generate(lm, tokenizer, [prompt_text(row) for row in problems], cfg)
    answers = rollout.input_ids[:, rollout.prompt_length :] * rollout.response_mask
    words = [tokenizer.decode(ids, skip_special_tokens=True).split() for ids in answers.tolist()]
    rewards = [
        check(row, w, f)
        for row, w, f in zip(problems, words, rollout.finished.tolist(), strict=True)
    ]
    return rollout, torch.tensor(rewards)


# --8<-- [end:sample-and-check]


# --8<-- [start:grpo-step]
def grpo_step(
    lm: GPT2LMHeadModel,
    ref_lm: GPT2LMHeadModel | None,
    tokenizer: PreTrainedTokenizerFast,
    optimizer: torch.optim.Optimizer,
    problems: np.ndarray,
    cfg: RLVRConfig,
) -> dict[str, float]:
    """One GRPO iteration: G samples per problem, group advantages, one gradient step.

    The samples come from the current policy and are used once, so the ratio is 1 and the
    clip never binds: this is the on-policy case of the loss, with no epochs or minibatches.

    Returns:
        The mean reward (pass rate of the samples), the loss's statistics, the share of
        groups whose G rewards are all equal (all right or all wrong: advantage 0, no
        gradient) and the policy's mean per-token entropy on its samples (nats).
    """
    repeated = np.repeat(problems, cfg.group_size, axis=0)  # groups sit next to each other
    rollout, rewards = sample_and_check(lm, tokenizer, repeated, cfg)
    if cfg.reward == "shuffled":  # the same rewards on the wrong samples: the control
        rewards = rewards[torch.randperm(len(rewards))]
    advantages = losses.group_advantages(rewards, cfg.group_size)
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logits, _ = d2.lm_forward(lm, ids, attn)
    logprobs = d2.response_logprobs(logits, ids, p, cfg.temperature)
    with torch.no_grad():
        dist = torch.log_softmax(logits[:, p - 1 : -1] / cfg.temperature, dim=-1)
        token_entropy = -(dist.exp() * dist).sum(-1)
        mask = rollout.response_mask.float()
        entropy = (token_entropy * mask).sum() / mask.sum()
    grouped = rewards.view(-1, cfg.group_size)
    ref_logprobs = None
    if cfg.beta > 0 and ref_lm is not None:
        with torch.no_grad():
            ref_logprobs = d2.response_logprobs(
                d2.lm_forward(ref_lm, ids, attn)[0], ids, p, cfg.temperature
            )
    loss, stats = losses.grpo_loss(
        logprobs,
        logprobs.detach(),
        advantages,
        rollout.response_mask.float(),
        ref_logprobs=ref_logprobs,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        how=cfg.aggregation,
        max_len=cfg.max_new_tokens,
    )
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
    optimizer.step()
    return {
        "reward": rewards.mean().item(),
        "loss": loss.item(),
        **stats,
        "all_right": (grouped.min(1).values == 1).float().mean().item(),
        "all_wrong": (grouped.max(1).values == 0).float().mean().item(),
        "entropy": entropy.item(),
    }


# --8<-- [end:grpo-step]


# --8<-- [start:pass-at-k]
def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021)'s unbiased estimate of P(at least one of k samples is right).

    From ``n`` samples of which ``c`` are right: ``1 - C(n - c, k) / C(n, k)``.
    """
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_curve(
    lm: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, problems: np.ndarray, cfg: RLVRConfig
) -> dict[int, float]:
    """pass@k for k = 1, 2, 4, ... up to ``eval_samples``, averaged over ``problems``."""
    n = cfg.eval_samples
    correct = np.zeros(len(problems), dtype=int)
    for start in range(0, len(problems), max(1, 1024 // n)):
        chunk = problems[start : start + max(1, 1024 // n)]
        _, rewards = sample_and_check(lm, tokenizer, np.repeat(chunk, n, axis=0), cfg)
        correct[start : start + len(chunk)] = rewards.view(len(chunk), n).sum(1).numpy()
    ks = [2**i for i in range(int(math.log2(n)) + 1)]
    return {k: float(np.mean([pass_at_k(n, int(c), k) for c in correct])) for k in ks}


# --8<-- [end:pass-at-k]


# --8<-- [start:run]
HISTORY = ("reward", "all_right", "all_wrong", "entropy")  # logged at every GRPO step


def run_rlvr(cfg: RLVRConfig, seed: int) -> dict:
    """Pretrain to partial skill, measure pass@k, train with GRPO, measure again.

    Returns:
        pass@k before and after, the pretraining checks, the GRPO history (mean reward,
        share of all-right and all-wrong groups, entropy per step) and timings.
    """
    rng = common.seed_everything(seed)
    tokenizer = build_tokenizer()
    lm = build_model(cfg, tokenizer)
    check_problems = sample_problems(
        np.random.default_rng(seed + 2 * curves.EVAL_SEED_OFFSET),
        cfg.band_problems,
        cfg.digits,
        cfg.terms,
    )
    with common.Stopwatch() as pretraining:
        checks = pretrain(lm, tokenizer, cfg, rng, check_problems)
    held_out = sample_problems(
        np.random.default_rng(seed + curves.EVAL_SEED_OFFSET),
        cfg.eval_problems,
        cfg.digits,
        cfg.terms,
    )
    before = pass_at_k_curve(lm, tokenizer, held_out, cfg)
    ref_lm = build_model(cfg, tokenizer)
    ref_lm.load_state_dict(lm.state_dict())
    optimizer = torch.optim.Adam(lm.parameters(), lr=cfg.lr)
    history: dict[str, list[float]] = {key: [] for key in HISTORY}
    with common.Stopwatch() as training:
        for _ in common.progress(range(cfg.grpo_steps), desc="GRPO on the checker"):
            problems = sample_problems(rng, cfg.prompts_per_step, cfg.digits, cfg.terms)
            stats = grpo_step(lm, ref_lm.requires_grad_(False), tokenizer, optimizer, problems, cfg)
            for key in HISTORY:
                history[key].append(stats[key])
    after = pass_at_k_curve(lm, tokenizer, held_out, cfg)
    return {
        "pass_at_1_before": before[1],
        "pass_at_1_after": after[1],
        "pass_at_k_before": before,
        "pass_at_k_after": after,
        "train_reward": history["reward"],
        "history": history,
        "pretrain_checks": checks,
        "pretrain_steps_used": checks[-1][0] if checks else cfg.pretrain_steps,
        "seconds_pretrain": pretraining.seconds,
        "seconds_grpo": training.seconds,
    }


# --8<-- [end:run]


# --8<-- [start:main]
QUICK = {"band_max_steps": 150, "grpo_steps": 10, "eval_problems": 40, "eval_samples": 16}
EMITTED = (
    "pass_at_1_before",
    "pass_at_1_after",
    "pass_at_k_before",
    "pass_at_k_after",
    "pretrain_steps_used",
    "pretrain_checks",
    "history",
    "seconds_pretrain",
    "seconds_grpo",
)  # the keys of the JSON line (with the gain and the seed)


def main(argv: list[str] | None = None) -> dict:
    """Pretrain, train with GRPO on the checker, and print pass@1 before and after as JSON."""
    outputs = {
        "plot": "save the pass@k figure (PNG)",
        "plot_history": "save the GRPO history (PNG)",
    }
    parser = common.config_parser(RLVRConfig, __doc__, __spec__, quick=QUICK, outputs=outputs)
    cfg, args = common.parse_config(parser, argv)
    torch.set_num_threads(1)  # a 100k-parameter model: one thread is fastest
    result = run_rlvr(cfg, args.seed)
    if args.plot:
        report.plot_pass_at_k(result, args.plot)
    if args.plot_history:
        steps = result["pretrain_steps_used"]
        title = f"seed {args.seed}, {steps} pretraining steps"
        report.plot_history(result, args.plot_history, title)
    gain = result["pass_at_1_after"] - result["pass_at_1_before"]
    return common.emit_metrics(
        {k: result[k] for k in EMITTED} | {"pass_at_1_gain": gain, "seed": args.seed}
    )


if __name__ == "__main__":
    main(sys.argv[1:])
# --8<-- [end:main]
