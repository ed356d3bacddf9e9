"""Lesson D2: RLHF for a language model with PyTorch: pretraining, reward model, PPO.

A complete, laptop-sized InstructGPT pipeline in five modules, read in this order:

- ``config``: every hyperparameter, one frozen dataclass;
- ``world``: the review corpus, its tokenizer and the hidden gold rater;
- ``policy``: the GPT-2 policy, sampling and the log-probabilities of a completion;
- ``ppo``: per-token rewards, GAE over tokens, the clipped update, the PPO loop;
- ``pipeline``: pretraining, preference pairs, the reward model, evaluation, all stages;

plus ``report`` (figures and the JSON record) and ``__main__`` (the command line:
``python -m snippets.d2_rlhf_llm_with_pytorch``). This file only re-exports every public name
of the modules but ``__main__``, so ``from snippets import d2_rlhf_llm_with_pytorch as d2;
d2.generate(...)`` works.
"""

from __future__ import annotations

from snippets import common
from snippets.d1_reward_modeling_concepts import RewardModel, position_ids_from_mask
from snippets.d2_rlhf_llm_with_pytorch.config import HUB_MODEL, QUICK, Config
from snippets.d2_rlhf_llm_with_pytorch.pipeline import (
    PreferenceData,
    build_reward_model,
    collect_preferences,
    evaluate,
    gold_agreement,
    headline,
    left_pad,
    next_token_step,
    normalize_reward_model,
    preference_loss,
    pretrain,
    run_pipeline,
    split_preferences,
    train_reward_model,
)
from snippets.d2_rlhf_llm_with_pytorch.policy import (
    PolicyWithValueHead,
    Rollout,
    disable_dropout,
    generate,
    lm_forward,
    load_policy_and_tokenizer,
    response_logprobs,
    rollout_words,
    text_quality,
)
from snippets.d2_rlhf_llm_with_pytorch.ppo import (
    AdaptiveKLController,
    compute_gae,
    compute_rewards,
    exact_kl_per_token,
    kl_per_token,
    masked_mean,
    masked_whiten,
    ppo_step,
    ppo_update,
    score_rollout,
    train_ppo,
)
from snippets.d2_rlhf_llm_with_pytorch.report import (
    NOT_SAVED,
    plot_diagnostics,
    plot_reward_hacking,
    save_run,
)
from snippets.d2_rlhf_llm_with_pytorch.world import (
    ADJECTIVES,
    ADVERBS,
    EOS,
    MAX_REVIEW_WORDS,
    NOUNS,
    PAD,
    SENTIMENT,
    SLOTS,
    TEMPLATES,
    UNK,
    VALID_BIGRAMS,
    VERBS,
    build_tokenizer,
    gold_score,
    is_grammatical,
    sample_prompts,
    sample_review,
)

__all__ = [  # every public name of the lesson's modules, but __main__'s
    "ADJECTIVES",
    "NOT_SAVED",
    "ADVERBS",
    "EOS",
    "HUB_MODEL",
    "MAX_REVIEW_WORDS",
    "NOUNS",
    "PAD",
    "QUICK",
    "SENTIMENT",
    "SLOTS",
    "TEMPLATES",
    "UNK",
    "VALID_BIGRAMS",
    "VERBS",
    "AdaptiveKLController",
    "build_reward_model",
    "build_tokenizer",
    "collect_preferences",
    "common",
    "compute_gae",
    "compute_rewards",
    "Config",
    "disable_dropout",
    "evaluate",
    "exact_kl_per_token",
    "generate",
    "gold_agreement",
    "gold_score",
    "headline",
    "is_grammatical",
    "kl_per_token",
    "left_pad",
    "next_token_step",
    "lm_forward",
    "load_policy_and_tokenizer",
    "masked_mean",
    "masked_whiten",
    "normalize_reward_model",
    "PolicyWithValueHead",
    "position_ids_from_mask",
    "ppo_step",
    "ppo_update",
    "PreferenceData",
    "preference_loss",
    "plot_diagnostics",
    "plot_reward_hacking",
    "pretrain",
    "response_logprobs",
    "RewardModel",
    "Rollout",
    "rollout_words",
    "run_pipeline",
    "sample_prompts",
    "sample_review",
    "save_run",
    "score_rollout",
    "split_preferences",
    "text_quality",
    "train_ppo",
    "train_reward_model",
]
