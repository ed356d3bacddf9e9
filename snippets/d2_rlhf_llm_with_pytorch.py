"""Lesson D2: RLHF for a language model with PyTorch: pretraining, reward model, PPO.

A complete, laptop-sized InstructGPT pipeline. A tiny GPT-2 learns to write short movie
reviews from a synthetic corpus (the stand-in for pretraining + SFT); a hidden "gold"
rater compares pairs of its reviews, with noise, and a reward model learns those
preferences with the Bradley-Terry loss (lesson D1); PPO then fine-tunes the policy
against the reward model with a per-token KL penalty to a frozen reference copy. The same
PPO run with the penalty switched off shows reward hacking.
"""

# --8<-- [start:imports]
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)

from snippets import common
from snippets.c2_proximal_policy_optimization_ppo import clipped_surrogate_loss, clipped_value_loss
from snippets.d1_reward_modeling_concepts import (
    RewardModel,
    bradley_terry_loss,
    pairwise_accuracy,
    position_ids_from_mask,
)

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Every setting of the pipeline. ``quick_config`` shrinks the budgets for smoke tests."""

    # policy: a GPT-2 with 2 layers of width 64 (about 100k parameters)
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    max_new_tokens: int = 16
    # stage 1: pretraining / SFT on the synthetic corpus
    pretrain_steps: int = 500
    pretrain_batch: int = 64
    pretrain_lr: float = 3e-3
    # stage 2: preference pairs and reward model
    preference_prompts: int = 4096  # two completions each; 1/8 held out
    label_temperature: float = 1.0  # the gold rater's Bradley-Terry noise
    rm_epochs: int = 2
    rm_batch: int = 32  # pairs per step
    rm_lr: float = 1e-3
    # stage 3: PPO
    ppo_iterations: int = 60
    rollout_batch: int = 64  # prompts per iteration
    ppo_epochs: int = 4
    minibatch: int = 32
    lr: float = 3e-4
    clip_coef: float = 0.2
    value_clip: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    temperature: float = 1.0
    init_kl_coef: float = 0.1  # beta; 0 switches the KL penalty off
    kl_target: float = 4.0  # nats per completion the adaptive controller aims for
    kl_horizon: int = 2000
    max_grad_norm: float = 1.0
    eval_prompts: int = 256


def quick_config() -> Config:
    """Budgets small enough for a smoke test (seconds, not minutes)."""
    return replace(
        Config(),
        pretrain_steps=120,
        preference_prompts=384,
        rm_epochs=1,
        ppo_iterations=6,
        rollout_batch=32,
        ppo_epochs=2,
        eval_prompts=64,
    )


def hub_model_config() -> Config:
    """Starting settings for a pretrained hub model such as GPT-2 (124M parameters).

    Fine-tuning a real model needs learning rates 100x smaller than our tiny one (TRL's
    GPT-2 examples use 1.41e-5 for PPO). These values are a starting point: they have not
    been tuned here, where there is no GPU and no network.
    """
    return replace(
        Config(), pretrain_steps=200, pretrain_lr=5e-5, rm_lr=1e-5, lr=1.41e-5, minibatch=16
    )


# --8<-- [end:config]


# --8<-- [start:corpus]
NOUNS = ("movie", "film", "plot", "acting", "ending", "cast", "music", "story", "script", "pacing")
ADVERBS = ("very", "really", "quite")
ADJECTIVES = {  # word -> how much the hidden rater likes it
    "brilliant": 2, "wonderful": 2, "great": 2, "good": 1, "fun": 1, "charming": 1,
    "clever": 1, "fine": 0, "long": 0, "simple": 0, "dull": -1, "slow": -1, "bad": -1,
    "boring": -1, "awful": -2, "terrible": -2, "dreadful": -2,
}  # fmt: skip
VERBS = {"loved": 2, "enjoyed": 1, "liked": 1, "watched": 0, "disliked": -1, "hated": -2}
SENTIMENT = {**ADJECTIVES, **VERBS}
# Sentence templates: N noun, A adjective, D adverb, V verb; anything else is literal.
TEMPLATES = (
    ("the", "N", "was", "A", "."),
    ("the", "N", "was", "D", "A", "."),
    ("the", "N", "was", "A", "and", "the", "N", "was", "A", "."),
    ("the", "N", "was", "A", "but", "the", "N", "was", "A", "."),
    ("i", "V", "the", "N", "."),
    ("i", "V", "this", "N", "."),
    ("overall", "it", "was", "A", "."),
)
SLOTS = {"N": NOUNS, "D": ADVERBS, "A": tuple(ADJECTIVES), "V": tuple(VERBS)}
MAX_REVIEW_WORDS = 15


def _sentiment_word(pool: dict[str, int], mood: float, rng: np.random.Generator) -> str:
    """Pick a word whose sign follows the review's mood (in [-1, 1]) most of the time."""
    if rng.random() < 0.15:
        sign = 0
    else:
        sign = 1 if rng.random() < (1 + mood) / 2 else -1
    options = [w for w, v in pool.items() if np.sign(v) == sign]
    return options[rng.integers(len(options))]


def sample_review(rng: np.random.Generator) -> list[str]:
    """One review of one or two sentences, as a list of words ending with ".".

    A mood drawn per review makes most of its sentiment words agree, like real reviews.
    """
    mood = rng.uniform(-1.0, 1.0)
    words: list[str] = []
    n_sentences = 1 + int(rng.random() < 0.5)
    for _ in range(n_sentences):
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        if words and len(words) + len(template) > MAX_REVIEW_WORDS:
            break
        for slot in template:
            if slot in ("A", "V"):
                words.append(_sentiment_word(ADJECTIVES if slot == "A" else VERBS, mood, rng))
            elif slot in SLOTS:
                words.append(SLOTS[slot][rng.integers(len(SLOTS[slot]))])
            else:
                words.append(slot)
    return words


def sample_prompts(rng: np.random.Generator, n: int) -> list[str]:
    """Prompts are the first 1-3 words of fresh reviews ("the acting", "i loved", ...)."""
    return [" ".join(sample_review(rng)[: rng.integers(1, 4)]) for _ in range(n)]


# --8<-- [end:corpus]


# --8<-- [start:tokenizer]
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the corpus vocabulary, built in code.

    The pad token is distinct from EOS: if they were the same, masking padding would
    also hide the EOS the policy must learn to emit. Padding goes on the left, so in a
    batch of prompts every prompt ends at the same column and generation continues
    from there.
    """
    words = sorted({w for t in TEMPLATES for w in t if w not in SLOTS} | set(NOUNS))
    words += sorted(set(ADVERBS) | set(ADJECTIVES) | set(VERBS))
    vocab = {token: i for i, token in enumerate([PAD, EOS, UNK, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # join words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
    )


# --8<-- [end:tokenizer]


# --8<-- [start:policy]
def disable_dropout(model: nn.Module) -> None:
    """Set every dropout probability to 0.

    PPO compares log-probabilities computed at rollout time with ones recomputed during
    the update; dropout would make them differ even before any parameter moved.
    """
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def load_policy_and_tokenizer(
    name: str, config: Config, device: Any = "cpu"
) -> tuple[nn.Module, PreTrainedTokenizerFast]:
    """The policy language model and its tokenizer.

    Args:
        name: ``"tiny"`` builds a small GPT-2 from a ``GPT2Config`` (no download);
            anything else (``"gpt2"``, or a folder written by ``save_pretrained``) goes
            through ``from_pretrained``, which needs the internet for a hub name.
        config: sizes of the tiny model.
        device: where to put the model.

    Returns:
        ``(model, tokenizer)`` with left padding, a pad token distinct from EOS, and
        dropout switched off.
    """
    if name == "tiny":
        tokenizer = build_tokenizer()
        gpt2_config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=64,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = GPT2LMHeadModel(gpt2_config)
    else:
        tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(name)
        if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
            tokenizer.add_special_tokens({"pad_token": PAD})  # GPT-2 ships without one
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "left"
    disable_dropout(model)
    return model.to(device), tokenizer


class PolicyWithValueHead(nn.Module):
    """The policy LM plus a value head on the same trunk (as in TRL's ``...WithValueHead``).

    One forward pass gives next-token logits and V(s_t), the value of the prefix that
    ends at each position. The value head starts at zero so it does not disturb the
    pretrained trunk through the shared gradient at the start.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.value_head = nn.Linear(lm.config.hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, values)`` of shapes (B, T, vocab) and (B, T)."""
        logits, hidden = lm_forward(self.lm, input_ids, attention_mask)
        return logits, self.value_head(hidden).squeeze(-1)


def lm_forward(
    lm: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and last hidden states, with positions counted from the first real token."""
    hidden = lm.base_model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
    ).last_hidden_state
    return lm.get_output_embeddings()(hidden), hidden


# --8<-- [end:policy]


# --8<-- [start:pretrain]
def pretrain(
    lm: nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    config: Config,
    rng: np.random.Generator,
) -> list[float]:
    """Next-token training on freshly sampled reviews: the pretraining + SFT stand-in.

    Each review ends with EOS so the model learns to stop. Padding positions get no loss.

    Returns:
        The loss of every step.
    """
    device = next(lm.parameters()).device
    optimizer = torch.optim.AdamW(lm.parameters(), lr=config.pretrain_lr, weight_decay=0.01)
    warmup = max(1, config.pretrain_steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(1.0, s / config.pretrain_steps)))
        ),
    )
    lm.train()
    losses = []
    for _ in common.progress(range(config.pretrain_steps), desc="pretraining"):
        texts = [
            " ".join(sample_review(rng)) + f" {tokenizer.eos_token}"
            for _ in range(config.pretrain_batch)
        ]
        batch = tokenizer(texts, padding=True, return_tensors="pt").to(device)
        logits, _ = lm_forward(lm, batch["input_ids"], batch["attention_mask"])
        targets = batch["input_ids"][:, 1:].masked_fill(batch["attention_mask"][:, 1:] == 0, -100)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    lm.eval()
    return losses


# --8<-- [end:pretrain]


# --8<-- [start:gold]
VALID_BIGRAMS: frozenset[tuple[str, str]] = frozenset(
    (a, b)
    for template in TEMPLATES
    for x, y in zip(("<s>", *template), (*template, "</s>"), strict=True)
    for a in SLOTS.get(x, (x,))
    for b in SLOTS.get(y, (y,))
) | frozenset((".", t[0]) for t in TEMPLATES)  # a second sentence may follow a first


def gold_score(words: list[str], finished: bool) -> float:
    """The hidden rater: what a person would think of a review. PPO never sees it.

    It likes positive words (each distinct word counts once), and punishes what a
    reader hates: word salad (each word pair the grammar never produces: -2), repeated
    content words (-1 each) and reviews that never end (-2).
    """
    sentiment = sum(SENTIMENT.get(w, 0) for w in set(words))
    pairs = zip(("<s>", *words), (*words, "</s>") if finished else words, strict=False)
    broken = sum((a, b) not in VALID_BIGRAMS for a, b in pairs)
    content = [w for w in words if w in SENTIMENT or w in NOUNS]
    repeats = len(content) - len(set(content))
    return float(sentiment - 2 * broken - repeats - 2 * (not finished))


def is_grammatical(words: list[str], finished: bool) -> bool:
    """True if every word pair, including start and end, is one the grammar produces."""
    ends = (*words, "</s>") if finished else (*words, "<unfinished>")
    return all(p in VALID_BIGRAMS for p in zip(("<s>", *words), ends, strict=True))


# --8<-- [end:gold]


# --8<-- [start:generate]
@dataclass
class Rollout:
    """A batch of sampled completions.

    Attributes:
        input_ids: prompt (left-padded) followed by the completion, shape (B, P + R).
        attention_mask: 1 on real tokens: prompt tokens and completion tokens up to and
            including the first EOS.
        prompt_length: P, the width of the padded prompt block.
        response_mask: the completion part of ``attention_mask``, shape (B, R).
        finished: whether each completion emitted EOS, shape (B,).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    prompt_length: int
    response_mask: torch.Tensor
    finished: torch.Tensor


@torch.no_grad()
def generate(
    lm: nn.Module, tokenizer: PreTrainedTokenizerFast, prompts: list[str], config: Config
) -> Rollout:
    """Sample one completion per prompt with plain temperature sampling.

    ``top_k=0`` and ``top_p=1`` keep the whole distribution, so the log-probabilities
    PPO recomputes (softmax of logits / temperature) are the ones we sampled from.
    """
    device = next(lm.parameters()).device
    batch = tokenizer(prompts, padding=True, return_tensors="pt").to(device)
    generation = GenerationConfig(
        do_sample=True,
        temperature=config.temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=config.max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    sequences = lm.generate(**batch, generation_config=generation)
    prompt_length = batch["input_ids"].shape[1]
    response = sequences[:, prompt_length:]
    is_eos = response == tokenizer.eos_token_id
    # keep tokens up to and including the first EOS; everything after it is padding
    after_eos = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    response_mask = (~after_eos).long()
    return Rollout(
        input_ids=sequences,
        attention_mask=torch.cat([batch["attention_mask"], response_mask], dim=1),
        prompt_length=prompt_length,
        response_mask=response_mask,
        finished=is_eos.any(dim=1),
    )


def rollout_words(tokenizer: PreTrainedTokenizerFast, rollout: Rollout) -> list[list[str]]:
    """Prompt + completion of each row as words (special tokens dropped)."""
    ids = (rollout.input_ids * rollout.attention_mask).tolist()
    return [tokenizer.decode(row, skip_special_tokens=True).split() for row in ids]


def text_quality(tokenizer: PreTrainedTokenizerFast, rollout: Rollout) -> dict[str, Any]:
    """Gold scores and grammaticality of a rollout: what the hidden rater would say."""
    words = rollout_words(tokenizer, rollout)
    finished = rollout.finished.tolist()
    return {
        "gold": np.array([gold_score(w, f) for w, f in zip(words, finished, strict=True)]),
        "grammatical": float(
            np.mean([is_grammatical(w, f) for w, f in zip(words, finished, strict=True)])
        ),
        "words": words,
    }


# --8<-- [end:generate]


# --8<-- [start:logprobs]
def response_logprobs(
    logits: torch.Tensor, input_ids: torch.Tensor, prompt_length: int, temperature: float
) -> torch.Tensor:
    """Log-probabilities of the completion tokens under the temperature-scaled policy.

    The logits at position t predict the token at position t + 1, so completion token
    ``input_ids[:, P + i]`` is scored by ``logits[:, P + i - 1]``. Dividing by the
    sampling temperature makes these the probabilities the tokens were drawn with.

    Returns:
        Shape (B, R): one log-probability per completion token.
    """
    scaled = logits[:, prompt_length - 1 : -1] / temperature
    tokens = input_ids[:, prompt_length:]
    return torch.log_softmax(scaled, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask`` is 1."""
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``x`` to mean 0, standard deviation 1 over the masked positions."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


# --8<-- [end:logprobs]


# --8<-- [start:kl]
def kl_per_token(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k1"
) -> torch.Tensor:
    """Per-token estimates of KL(pi || pi_ref) from the sampled tokens' log-probs.

    ``k1 = log pi - log pi_ref`` is unbiased but single samples can be negative;
    ``k3 = (r - 1) - log r`` with ``r = pi_ref / pi`` is also unbiased and never negative
    (Schulman, "Approximating KL divergence", 2020). The penalty in the reward uses k1,
    as InstructGPT and TRL do.
    """
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kind must be 'k1' or 'k3', got {kind!r}")


def exact_kl_per_token(
    logits: torch.Tensor, ref_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(pi(.|s_t) || pi_ref(.|s_t)) summed over the whole vocabulary, at every position.

    With a small vocabulary this is cheap, exact for each prefix and never negative;
    we log its sum over the completion as "KL" (it has far less noise than k1).
    """
    logp = torch.log_softmax(logits / temperature, dim=-1)
    ref_logp = torch.log_softmax(ref_logits / temperature, dim=-1)
    return (logp.exp() * (logp - ref_logp)).sum(dim=-1)


class AdaptiveKLController:
    """Ziegler et al. (2019): nudge beta so the measured KL tracks a target.

    beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon), where n is the
    number of completions since the last update.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int) -> None:
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, kl: float, n_steps: int) -> None:
        """Move beta after a batch whose mean completion KL was ``kl``."""
        error = float(np.clip(kl / self.target - 1.0, -0.2, 0.2))
        self.value *= 1.0 + error * n_steps / self.horizon


# --8<-- [end:kl]


# --8<-- [start:rewards]
def compute_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> torch.Tensor:
    """Per-token rewards: -beta * KL estimate on every token, plus the score on the last.

    Args:
        scores: reward-model score of each completion, shape (B,).
        logprobs: policy log-probs of the completion tokens, shape (B, R).
        ref_logprobs: the frozen reference's log-probs of the same tokens.
        mask: 1 on real completion tokens, shape (B, R).
        kl_coef: beta.

    Returns:
        Shape (B, R), zero on padding.
    """
    rewards = -kl_coef * kl_per_token(logprobs, ref_logprobs, "k1") * mask
    last = mask.sum(dim=1).long() - 1  # completions start at column 0 and are contiguous
    rows = torch.arange(len(scores), device=scores.device)
    rewards[rows, last] += scores
    return rewards


# --8<-- [end:rewards]


# --8<-- [start:gae]
def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the completion tokens.

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = delta_t + gamma lambda A_{t+1}.
    The value after the last real token is 0: the episode (the completion) has ended.

    Returns:
        ``(advantages, returns)`` with returns = advantages + values (the value targets).
    """
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, advantages + values


# --8<-- [end:gae]


# --8<-- [start:preferences]
@dataclass
class PreferenceData:
    """Pairs of token sequences (prompt + completion, no padding) and the rater's choice."""

    chosen: list[list[int]] = field(default_factory=list)
    rejected: list[list[int]] = field(default_factory=list)
    gold_margin: list[float] = field(default_factory=list)  # gold(chosen) - gold(rejected)


def collect_preferences(
    lm: nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    config: Config,
    rng: np.random.Generator,
    n_prompts: int,
) -> PreferenceData:
    """Two sampled completions per prompt, labelled by the noisy gold rater.

    The rater prefers A with probability sigmoid((gold(A) - gold(B)) / T): a
    Bradley-Terry labeller (lesson D1) with ``T = config.label_temperature``, so close
    calls are often labelled the "wrong" way and ties are coin flips.
    """
    data = PreferenceData()
    for start in common.progress(range(0, n_prompts, 64), desc="preference pairs"):
        prompts = sample_prompts(rng, min(64, n_prompts - start))
        a = generate(lm, tokenizer, prompts, config)
        b = generate(lm, tokenizer, prompts, config)
        gold_a, gold_b = text_quality(tokenizer, a)["gold"], text_quality(tokenizer, b)["gold"]
        p_a = 1.0 / (1.0 + np.exp(-(gold_a - gold_b) / config.label_temperature))
        a_wins = rng.random(len(prompts)) < p_a
        for i in range(len(prompts)):
            seq_a = a.input_ids[i][a.attention_mask[i] == 1].tolist()
            seq_b = b.input_ids[i][b.attention_mask[i] == 1].tolist()
            (win, lose, margin) = (seq_a, seq_b, 1) if a_wins[i] else (seq_b, seq_a, -1)
            data.chosen.append(win)
            data.rejected.append(lose)
            data.gold_margin.append(margin * float(gold_a[i] - gold_b[i]))
    return data


def left_pad(
    sequences: list[list[int]], pad_id: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token lists into (ids, attention_mask), padding on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, width - len(s) :] = 1
    return ids.to(device), mask.to(device)


# --8<-- [end:preferences]


# --8<-- [start:reward-model]
def train_reward_model(
    reward_model: RewardModel, data: PreferenceData, pad_id: int, config: Config
) -> list[float]:
    """Fit the reward model to the preference pairs with the Bradley-Terry loss.

    Chosen and rejected sequences go through the model in one batch, as in most RLHF
    code bases, so both see the same parameters at every step.

    Returns:
        The loss of every step.
    """
    device = next(reward_model.parameters()).device
    optimizer = torch.optim.AdamW(reward_model.parameters(), lr=config.rm_lr, weight_decay=0.01)
    n = len(data.chosen)
    batches = [
        b.tolist()
        for _ in range(config.rm_epochs)
        for b in torch.randperm(n).split(config.rm_batch)
    ]
    losses = []
    reward_model.train()
    for idx in common.progress(batches, desc="reward model"):
        pairs = [data.chosen[i] for i in idx] + [data.rejected[i] for i in idx]
        rewards = reward_model(*left_pad(pairs, pad_id, device))
        loss = bradley_terry_loss(rewards[: len(idx)], rewards[len(idx) :])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    reward_model.eval()
    return losses


@torch.no_grad()
def gold_agreement(reward_model: RewardModel, data: PreferenceData, pad_id: int) -> float:
    """Held-out pairwise accuracy against the noiseless gold preference (ties skipped).

    For each pair we ask: does the reward model rank the two completions the way the
    hidden rater's true scores do? That is the accuracy a perfect reward model reaches
    even though its training labels were noisy.
    """
    device = next(reward_model.parameters()).device
    keep = [i for i, m in enumerate(data.gold_margin) if m != 0]
    better = [data.chosen[i] if data.gold_margin[i] > 0 else data.rejected[i] for i in keep]
    worse = [data.rejected[i] if data.gold_margin[i] > 0 else data.chosen[i] for i in keep]
    r_better = reward_model(*left_pad(better, pad_id, device))
    r_worse = reward_model(*left_pad(worse, pad_id, device))
    return pairwise_accuracy(r_better, r_worse)


@torch.no_grad()
def normalize_reward_model(reward_model: RewardModel, rollout: Rollout) -> None:
    """Fold a shift and scale into the head so SFT samples score mean 0, std 1.

    Bradley-Terry fixes only differences of rewards, so the offset is arbitrary; the
    normalisation (Ziegler et al. 2019) makes the score scale, and so beta, meaningful.
    """
    scores = reward_model(rollout.input_ids, rollout.attention_mask)
    mean, std = scores.mean(), scores.std().clamp_min(1e-6)
    reward_model.head.weight /= std
    reward_model.head.bias.sub_(mean).div_(std)


# --8<-- [end:reward-model]


# --8<-- [start:score-rollout]
@torch.no_grad()
def score_rollout(
    policy: PolicyWithValueHead,
    ref_lm: nn.Module,
    reward_model: RewardModel,
    rollout: Rollout,
    temperature: float,
) -> dict[str, torch.Tensor]:
    """Everything PPO needs from a rollout, computed once, without gradients.

    Returns:
        ``logprobs`` and ``ref_logprobs`` of the completion tokens, ``values`` V(s_t) of the
        prefix before each token, ``scores`` from the reward model, and for the logs the
        exact per-completion ``kl`` and per-token ``entropy``.
    """
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logits, values = policy(ids, attn)
    ref_logits, _ = lm_forward(ref_lm, ids, attn)
    step_logits, step_ref_logits = logits[:, p - 1 : -1], ref_logits[:, p - 1 : -1]
    logp = torch.log_softmax(step_logits / temperature, dim=-1)
    kl = exact_kl_per_token(step_logits, step_ref_logits, temperature) * rollout.response_mask
    return {
        "logprobs": response_logprobs(logits, ids, p, temperature),
        "ref_logprobs": response_logprobs(ref_logits, ids, p, temperature),
        "values": values[:, p - 1 : -1],
        "scores": reward_model(ids, attn),
        "kl": kl.sum(dim=1),
        "entropy": -(logp.exp() * logp).sum(dim=-1),
    }


# --8<-- [end:score-rollout]


# --8<-- [start:ppo-update]
def ppo_update(
    policy: PolicyWithValueHead,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    old: dict[str, torch.Tensor],
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: Config,
) -> dict[str, float]:
    """Several epochs of minibatch steps on the clipped losses of lesson C2.

    Returns:
        Mean clip fraction and value loss over all minibatch steps.
    """
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    mask = rollout.response_mask.float()
    clip_fractions, value_losses = [], []
    for _ in range(config.ppo_epochs):
        for mb in torch.randperm(len(ids)).split(config.minibatch):
            logits, values = policy(ids[mb], attn[mb])
            logprobs = response_logprobs(logits, ids[mb], p, config.temperature)
            pg_loss, clip_fraction = clipped_surrogate_loss(
                logprobs, old["logprobs"][mb], advantages[mb], config.clip_coef, mask[mb]
            )
            vf_loss = clipped_value_loss(
                values[:, p - 1 : -1], old["values"][mb], returns[mb], config.value_clip, mask[mb]
            )
            loss = pg_loss + config.vf_coef * vf_loss
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            clip_fractions.append(clip_fraction.item())
            value_losses.append(vf_loss.item())
    return {
        "clip_fraction": float(np.mean(clip_fractions)),
        "value_loss": float(np.mean(value_losses)),
    }


# --8<-- [end:ppo-update]


# --8<-- [start:ppo-step]
def ppo_step(
    policy: PolicyWithValueHead,
    ref_lm: nn.Module,
    reward_model: RewardModel,
    tokenizer: PreTrainedTokenizerFast,
    prompts: list[str],
    optimizer: torch.optim.Optimizer,
    kl_ctl: AdaptiveKLController,
    config: Config,
) -> dict[str, float]:
    """One PPO iteration: sample, score, turn scores into advantages, update, adapt beta.

    Returns:
        The iteration's statistics (reward-model score, gold score, KL, entropy, ...).
    """
    rollout = generate(policy.lm, tokenizer, prompts, config)
    old = score_rollout(policy, ref_lm, reward_model, rollout, config.temperature)
    mask = rollout.response_mask.float()
    rewards = compute_rewards(
        old["scores"], old["logprobs"], old["ref_logprobs"], mask, kl_ctl.value
    )
    advantages, returns = compute_gae(rewards, old["values"], mask, config.gamma, config.lam)
    advantages = masked_whiten(advantages, mask)
    update = ppo_update(policy, optimizer, rollout, old, advantages, returns, config)
    # the controller sees the k1 estimate summed over each completion, as in TRL
    kl_k1 = (kl_per_token(old["logprobs"], old["ref_logprobs"]) * mask).sum(dim=1).mean().item()
    kl_coef = kl_ctl.value
    kl_ctl.update(kl_k1, n_steps=len(prompts))
    quality = text_quality(tokenizer, rollout)
    return {
        "rm_score": old["scores"].mean().item(),
        "gold_score": float(quality["gold"].mean()),
        "kl": old["kl"].mean().item(),
        "kl_k1": kl_k1,
        "entropy": masked_mean(old["entropy"], mask).item(),
        "kl_coef": kl_coef,
        "length": mask.sum(dim=1).mean().item(),
        "grammatical": quality["grammatical"],
        **update,
    }


# --8<-- [end:ppo-step]


# --8<-- [start:ppo-train]
def train_ppo(
    sft_lm: nn.Module,
    reward_model: RewardModel,
    tokenizer: PreTrainedTokenizerFast,
    config: Config,
    seed: int,
    desc: str = "PPO",
) -> tuple[PolicyWithValueHead, dict[str, list[float]]]:
    """Fine-tune a copy of the SFT model with PPO; a frozen copy is the reference.

    Returns:
        ``(policy, logs)``: the trained policy and, per statistic, one value per iteration.
    """
    rng = common.seed_everything(seed)
    ref_lm = copy.deepcopy(sft_lm).eval().requires_grad_(False)
    policy = PolicyWithValueHead(copy.deepcopy(sft_lm)).to(next(sft_lm.parameters()).device)
    policy.eval()  # dropout is off anyway; eval() makes the intent explicit
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    kl_ctl = AdaptiveKLController(config.init_kl_coef, config.kl_target, config.kl_horizon)
    logs: dict[str, list[float]] = {}
    for _ in common.progress(range(config.ppo_iterations), desc=desc):
        prompts = sample_prompts(rng, config.rollout_batch)
        stats = ppo_step(
            policy, ref_lm, reward_model, tokenizer, prompts, optimizer, kl_ctl, config
        )
        for key, value in stats.items():
            logs.setdefault(key, []).append(value)
    return policy, logs


# --8<-- [end:ppo-train]


# --8<-- [start:evaluate]
@torch.no_grad()
def evaluate(
    lm: nn.Module,
    ref_lm: nn.Module,
    reward_model: RewardModel,
    tokenizer: PreTrainedTokenizerFast,
    prompts: list[str],
    config: Config,
) -> dict[str, Any]:
    """Sample once per prompt; report gold and reward-model scores and the KL to the reference."""
    rollout = generate(lm, tokenizer, prompts, config)
    ids, attn, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    logits, _ = lm_forward(lm, ids, attn)
    ref_logits, _ = lm_forward(ref_lm, ids, attn)
    kl = exact_kl_per_token(logits[:, p - 1 : -1], ref_logits[:, p - 1 : -1], config.temperature)
    quality = text_quality(tokenizer, rollout)
    return {
        "gold_mean": float(quality["gold"].mean()),
        "gold_std": float(quality["gold"].std()),
        "rm_score": reward_model(ids, attn).mean().item(),
        "kl": (kl * rollout.response_mask).sum(dim=1).mean().item(),
        "grammatical": quality["grammatical"],
        "samples": [
            f"{prompt} | {' '.join(w[len(prompt.split()) :])}"
            for prompt, w in zip(prompts, quality["words"], strict=True)
        ],
    }


# --8<-- [end:evaluate]


# --8<-- [start:pipeline]
def run_pipeline(
    config: Config, seed: int = 0, model: str = "tiny", device: Any = "cpu", kl_off_run: bool = True
) -> dict[str, Any]:
    """The three InstructGPT stages end to end, plus the KL-off comparison run.

    Returns:
        A dict of metrics, PPO logs per run (``logs``), evaluation results (``evals``) and
        the stage losses, ready for plotting.
    """
    rng = common.seed_everything(seed)
    out: dict[str, Any] = {"config": asdict(config), "seed": seed, "model": model}
    # Stage 1: pretraining + SFT stand-in.
    lm, tokenizer = load_policy_and_tokenizer(model, config, device)
    with common.Stopwatch() as clock:
        out["pretrain_losses"] = pretrain(lm, tokenizer, config, rng)
    out["seconds_pretrain"] = clock.seconds
    # Stage 2: preference pairs from the SFT model, and a reward model initialised from it.
    with common.Stopwatch() as clock:
        data = collect_preferences(lm, tokenizer, config, rng, config.preference_prompts)
        n_test = len(data.chosen) // 8
        test = PreferenceData(
            data.chosen[:n_test], data.rejected[:n_test], data.gold_margin[:n_test]
        )
        train = PreferenceData(
            data.chosen[n_test:], data.rejected[n_test:], data.gold_margin[n_test:]
        )
        reward_model = RewardModel(copy.deepcopy(lm.base_model), lm.config.hidden_size).to(device)
        out["rm_losses"] = train_reward_model(reward_model, train, tokenizer.pad_token_id, config)
        out["rm_accuracy"] = gold_agreement(reward_model, test, tokenizer.pad_token_id)
        out["label_agreement"] = float(np.mean([m > 0 for m in train.gold_margin if m != 0]))
        out["tie_fraction"] = float(np.mean([m == 0 for m in data.gold_margin]))
        normalize_reward_model(
            reward_model, generate(lm, tokenizer, sample_prompts(rng, 512), config)
        )
        reward_model.requires_grad_(False)
    out["seconds_reward_model"] = clock.seconds
    # Stage 3: PPO with the KL penalty, then (for comparison) without it.
    eval_prompts = sample_prompts(np.random.default_rng(seed + 10_000), config.eval_prompts)
    out["evals"] = {"sft": evaluate(lm, lm, reward_model, tokenizer, eval_prompts, config)}
    out["logs"] = {}
    runs = (
        {"kl": config, "no_kl": replace(config, init_kl_coef=0.0)} if kl_off_run else {"kl": config}
    )
    for name, run_config in runs.items():
        with common.Stopwatch() as clock:
            policy, out["logs"][name] = train_ppo(
                lm, reward_model, tokenizer, run_config, seed, desc=f"PPO ({name})"
            )
        out[f"seconds_ppo_{name}"] = clock.seconds
        common.seed_everything(seed + 20_000)  # same sampling noise for every evaluation
        out["evals"][name] = evaluate(policy.lm, lm, reward_model, tokenizer, eval_prompts, config)
    out["tokenizer"], out["sft_lm"], out["reward_model"] = tokenizer, lm, reward_model
    return out


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers the targets are about, from a ``run_pipeline`` result."""
    sft = result["evals"]["sft"]
    metrics: dict[str, Any] = {
        "rm_accuracy": result["rm_accuracy"],
        "label_agreement": result["label_agreement"],
        "sft_grammatical": sft["grammatical"],
        "gold_before": sft["gold_mean"],
        "gold_std_before": sft["gold_std"],
    }
    for name in ("kl", "no_kl"):
        if name in result["evals"]:
            ev = result["evals"][name]
            metrics[f"gold_after_{name}"] = ev["gold_mean"]
            metrics[f"gold_gain_std_{name}"] = (ev["gold_mean"] - sft["gold_mean"]) / max(
                sft["gold_std"], 1e-8
            )
            metrics[f"rm_score_after_{name}"] = ev["rm_score"]
            metrics[f"kl_after_{name}"] = ev["kl"]
            metrics[f"grammatical_after_{name}"] = ev["grammatical"]
    return metrics


# --8<-- [end:pipeline]


# --8<-- [start:plots]
def plot_reward_hacking(logs: dict[str, dict[str, list[float]]]) -> Any:
    """Reward-model score, gold score and KL per PPO iteration, one line per run."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    labels = {"kl": "with KL penalty", "no_kl": "KL penalty off"}
    panels = (
        ("rm_score", "reward-model score (proxy)"),
        ("gold_score", "gold score (hidden rater)"),
        ("kl", "KL to reference (nats)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for k, (name, log) in enumerate(logs.items()):
            ax.plot(log[key], color=f"C{k}", label=labels.get(name, name))
        ax.set_title(title)
        ax.set_xlabel("PPO iteration")
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_diagnostics(log: dict[str, list[float]]) -> Any:
    """The health metrics of one PPO run: entropy, clip fraction, beta, length, grammaticality."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    keys = (
        ("entropy", "entropy per token (nats)"),
        ("clip_fraction", "clip fraction"),
        ("kl_coef", "KL coefficient beta"),
        ("grammatical", "share of grammatical reviews"),
    )
    fig, axes = plt.subplots(1, len(keys), figsize=(13, 3.2))
    for ax, (key, title) in zip(axes, keys, strict=True):
        ax.plot(log[key], color="C0")
        ax.set_title(title)
        ax.set_xlabel("PPO iteration")
    fig.tight_layout()
    return fig


# --8<-- [end:plots]


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Run the pipeline and print the headline metrics as one JSON line."""
    parser = common.lesson_parser(__doc__, prog="python -m snippets.d2_rlhf_llm_with_pytorch")
    parser.add_argument(
        "--model",
        default="tiny",
        help="'tiny' (built in code) or a from_pretrained name/folder such as gpt2",
    )
    parser.add_argument(
        "--ppo-iterations",
        type=common.positive_int,
        default=None,
        help=f"PPO iterations per run (default {Config.ppo_iterations})",
    )
    parser.add_argument(
        "--pretrain-steps",
        type=common.positive_int,
        default=None,
        help=f"pretraining steps (default {Config.pretrain_steps})",
    )
    parser.add_argument(
        "--kl-coef",
        type=common.float_in_range(0.0, 10.0),
        default=None,
        help=f"initial beta in [0, 10] (default {Config.init_kl_coef})",
    )
    parser.add_argument(
        "--no-kl-off-run",
        action="store_true",
        help="skip the comparison run without the KL penalty",
    )
    parser.add_argument(
        "--threads",
        type=common.positive_int,
        default=1,
        help="torch CPU threads (default 1: fastest for this tiny model)",
    )
    parser.add_argument(
        "--device",
        choices=common.DEVICE_CHOICES,
        default="auto",
        help="torch device (default: CUDA, then MPS, then CPU)",
    )
    parser.add_argument(
        "--plot", metavar="PATH", help="save the side-by-side reward-hacking figure as a PNG"
    )
    parser.add_argument(
        "--plot-diagnostics", metavar="PATH", help="save the KL run's health metrics as a PNG"
    )
    parser.add_argument(
        "--save-logs", metavar="PATH", help="write metrics, logs and sample completions as JSON"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = hub_model_config() if args.model != "tiny" else Config()
    if args.quick:
        config = replace(
            quick_config(), **{k: getattr(config, k) for k in ("pretrain_lr", "rm_lr", "lr")}
        )
    overrides = {
        "ppo_iterations": args.ppo_iterations,
        "pretrain_steps": args.pretrain_steps,
        "init_kl_coef": args.kl_coef,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    try:
        device = common.pick_device(args.device)
    except ValueError as err:  # e.g. --device cuda on a machine without a GPU
        parser.error(f"argument --device: {err}")
    cpu_start = time.process_time()
    with common.Stopwatch() as clock:
        result = run_pipeline(
            config, args.seed, args.model, device, kl_off_run=not args.no_kl_off_run
        )
    cpu_seconds = time.process_time() - cpu_start
    if args.plot:
        common.save_figure(plot_reward_hacking(result["logs"]), args.plot)
    if args.plot_diagnostics:
        common.save_figure(plot_diagnostics(result["logs"]["kl"]), args.plot_diagnostics)
    for name, ev in result["evals"].items():
        print(f"--- samples: {name} ---")
        print("\n".join(ev["samples"][:6]))
    metrics = {
        **headline(result),
        "device": str(device),
        "threads": args.threads,
        "seconds": clock.seconds,
        "cpu_seconds": cpu_seconds,
    }
    if args.save_logs:
        keep = {k: v for k, v in result.items() if k not in ("tokenizer", "sft_lm", "reward_model")}
        text = json.dumps({**keep, "metrics": metrics})
        with open(args.save_logs, "w") as f:  # floats rounded to 5 digits to keep the file small
            json.dump(json.loads(text, parse_float=lambda x: round(float(x), 5)), f)
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
# --8<-- [end:main]
