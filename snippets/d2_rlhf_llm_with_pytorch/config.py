"""Lesson D2, settings: every hyperparameter of the pipeline in one frozen dataclass.

The command line has one flag per field (``--pretrain-steps``, ``--init-kl-coef`` ...), with
the field's comment as its help; ``QUICK`` is the ``--quick`` preset and ``HUB_MODEL`` the
starting point for a pretrained hub model such as GPT-2.
"""

# --8<-- [start:imports]
from __future__ import annotations

from dataclasses import dataclass

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Every setting of the pipeline, stage by stage."""

    # the policy: a GPT-2 with 2 layers of width 64 (about 100k parameters)
    n_layer: common.PosInt = 2  # transformer blocks of the tiny policy
    n_embd: common.PosInt = 64  # width of the tiny policy
    n_head: common.PosInt = 4  # attention heads of the tiny policy
    max_new_tokens: common.PosInt = 16  # longest completion, in tokens
    # stage 1: pretraining / SFT on the synthetic corpus
    pretrain_steps: common.PosInt = 500  # next-token training steps
    pretrain_batch: common.PosInt = 64  # reviews per pretraining step
    pretrain_lr: common.PosFloat = 3e-3  # peak learning rate of pretraining (cosine decay)
    # stage 2: preference pairs and the reward model
    preference_prompts: common.PosInt = 8192  # prompts, two completions each
    test_fraction: common.Prob = 0.125  # share of the pairs held out to score the reward model
    valid_fraction: common.Prob = (
        0.125  # share of the rest that picks the reward model's checkpoint
    )
    label_temperature: common.PosFloat = 1.0  # the gold rater's Bradley-Terry noise
    rm_epochs: common.PosInt = 3  # passes over the training pairs
    rm_checks_per_epoch: common.PosInt = 4  # validation checks per epoch (the best is kept)
    rm_batch: common.PosInt = 32  # pairs per reward-model step
    rm_lr: common.PosFloat = 1e-3  # peak learning rate of the reward model (linear decay to 0)
    # stage 3: PPO
    ppo_iterations: common.PosInt = 60  # sample-score-update rounds per PPO run
    rollout_batch: common.PosInt = 64  # prompts per PPO iteration
    ppo_epochs: common.PosInt = 4  # passes over each rollout batch
    minibatch: common.PosInt = 32  # completions per gradient step
    lr: common.PosFloat = 3e-4  # learning rate of the policy and value head
    clip_coef: common.PosFloat = 0.2  # PPO's ratio clip epsilon
    value_clip: common.PosFloat = 0.2  # how far a value prediction may move per update
    vf_coef: common.NonNegFloat = 0.1  # weight of the value loss
    gamma: common.Prob = 1.0  # discount over the tokens of a completion
    lam: common.Prob = 0.95  # GAE lambda
    temperature: common.PosFloat = 1.0  # sampling temperature (also in the log-probs)
    init_kl_coef: common.NonNegFloat = 0.1  # beta at the start; 0 switches the KL penalty off
    kl_target: common.PosFloat = 4.0  # nats per completion the adaptive controller aims for
    kl_horizon: common.PosInt = 2000  # completions over which beta adapts
    max_grad_norm: common.PosFloat = 1.0  # gradient-norm clip of the PPO update
    eval_prompts: common.PosInt = 256  # fixed prompts the before/after evaluation samples
    # the run
    kl_off_run: bool = True  # also run PPO with the KL penalty off (reward hacking)
    threads: common.PosInt = 1  # torch CPU threads (one is fastest for the tiny model)


# --8<-- [end:config]


# --8<-- [start:presets]
QUICK = {  # --quick: every stage, small budgets, seconds after the imports
    "pretrain_steps": 120,
    "preference_prompts": 384,
    "rm_epochs": 1,
    "ppo_iterations": 6,
    "rollout_batch": 32,
    "ppo_epochs": 2,
    "eval_prompts": 64,
}

# Fine-tuning a pretrained 124M-parameter model needs learning rates about 100x smaller than
# our tiny one (1.41e-5 is the PPO rate of TRL's old GPT-2 examples). A starting point, not
# tuned here: this course is built without a GPU or a network.
HUB_MODEL = {
    "pretrain_steps": 200,
    "pretrain_lr": 5e-5,
    "rm_lr": 1e-5,
    "lr": 1.41e-5,
    "minibatch": 16,
}


# --8<-- [end:presets]
