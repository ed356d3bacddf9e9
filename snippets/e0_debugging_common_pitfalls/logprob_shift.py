"""E0 pitfall 7: RLHF log-probs shifted by one token."""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snippets.e0_debugging_common_pitfalls.base import Config, finish_figure, new_figure
from snippets.e0_debugging_common_pitfalls.record import Experiment, Outcome, Pitfall, Symptom

# --8<-- [end:imports]


# --8<-- [start:logprob-setup]
@dataclass
class LogprobCheck:
    """Log-probs recorded while sampling vs recomputed from one forward pass."""

    recorded: np.ndarray
    recomputed: np.ndarray
    max_abs_error: float = field(init=False)

    def __post_init__(self) -> None:
        self.max_abs_error = float(np.abs(self.recorded - self.recomputed).max())


def toy_language_model(vocab: int, seed: int) -> Any:
    """A bigram causal LM: ``model(tokens)[:, t]`` are the logits of token t + 1.

    Hugging Face causal LMs follow the same convention; large random weights make the
    next-token distributions peaked, so a misalignment is easy to see.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Embedding(vocab, vocab)
    with torch.no_grad():
        model.weight.copy_(3.0 * torch.randn(vocab, vocab, generator=generator))
    return model


def sample_with_logprobs(model: Any, cfg: Config, seed: int) -> tuple[Any, Any]:
    """Sample sequences token by token, recording log pi(token) at sampling time.

    Returns:
        ``(tokens, logprobs)``: tokens (B, L + 1) starting with a random prompt token;
        logprobs (B, L), the log-probability of tokens[:, 1:] when they were drawn.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, cfg.vocab, (cfg.sequences, 1), generator=generator)
    recorded = []
    with torch.no_grad():
        for _ in range(cfg.sequence_length):
            logp = torch.log_softmax(model(tokens)[:, -1], dim=-1)
            nxt = torch.multinomial(logp.exp(), 1, generator=generator)
            recorded.append(logp.gather(-1, nxt))
            tokens = torch.cat([tokens, nxt], dim=1)
    return tokens, torch.cat(recorded, dim=1)


def check_logprobs(logprob_fn: Callable[[Any, Any], Any], cfg: Config, seed: int) -> LogprobCheck:
    """Recompute the sampled tokens' log-probs with ``logprob_fn`` and compare."""
    import torch

    model = toy_language_model(cfg.vocab, seed)
    tokens, recorded = sample_with_logprobs(model, cfg, seed)
    with torch.no_grad():
        recomputed = logprob_fn(model(tokens), tokens)
    return LogprobCheck(recorded.numpy(), recomputed.numpy())


# --8<-- [end:logprob-setup]


# --8<-- [start:logprob-broken]
def token_logprobs_broken(logits: Any, tokens: Any) -> Any:
    """The bug: the shapes line up, but position t's logits score token t, not t + 1."""
    import torch

    logp = torch.log_softmax(logits[:, 1:], dim=-1)
    return logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


def logprob_broken(cfg: Config, seed: int) -> LogprobCheck:
    """Recompute sampled log-probs with the misaligned gather."""
    return check_logprobs(token_logprobs_broken, cfg, seed)


# --8<-- [end:logprob-broken]


# --8<-- [start:logprob-fixed]
def token_logprobs_fixed(logits: Any, tokens: Any) -> Any:
    """The fix: logits at position t predict token t + 1, so drop the last logits row."""
    import torch

    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    return logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


def logprob_fixed(cfg: Config, seed: int) -> LogprobCheck:
    """Recompute sampled log-probs with the correctly shifted gather."""
    return check_logprobs(token_logprobs_fixed, cfg, seed)


# --8<-- [end:logprob-fixed]


# --8<-- [start:logprob-record]
def figure(outcome: Outcome, cfg: Config) -> Any:
    """Recorded against recomputed log-probs: on the diagonal when the gather is right."""
    bad, good = outcome.broken, outcome.fixed
    fig, ax = new_figure(figsize=(5.5, 5))
    ax.scatter(
        bad.recorded.ravel(),
        bad.recomputed.ravel(),
        s=6,
        color="tab:red",
        alpha=0.5,
        label=f"shifted gather (max error {bad.max_abs_error:.1f} nats)",
    )
    ax.scatter(
        good.recorded.ravel(),
        good.recomputed.ravel(),
        s=6,
        color="tab:blue",
        label=f"correct gather (max error {good.max_abs_error:.1g})",
    )
    labels = {"xlabel": "log-prob recorded while sampling", "ylabel": "log-prob from forward pass"}
    return finish_figure(fig, ax, "lower right", title="Sampling vs training log-probs", **labels)


PITFALL = Pitfall(
    name="logprob-shift",
    experiment=Experiment(logprob_broken, logprob_fixed),
    symptom=Symptom(
        "max \\|recorded − recomputed\\| (nats)", lambda result: result.max_abs_error, "{:.3g}"
    ),
    figure=figure,
    notice=(
        "The correct gather reproduces the sampler's log-probs (largest difference "
        "{fixed:.1g} nats; up to about $10^{{-6}}$ is normal on a GPU or with another batch "
        "shape); the shifted one is off by up to {broken:.1f} nats."
    ),
)
# --8<-- [end:logprob-record]
