"""Lesson D1: reward modelling: preference pairs, the Bradley-Terry model and its loss.

A reward model turns "people preferred answer A to answer B" into a number per answer.
The Bradley-Terry model says P(A preferred to B) = sigmoid(r(A) - r(B)); fitting r by
maximum likelihood is a logistic regression on score differences. The same loss and the
same reward-model wrapper train D2's reward model on generated text.
"""

# --8<-- [start:imports]
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snippets import common

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass(frozen=True)
class Config:
    """Settings of the lesson's toy experiment: simulated annotators compare answers."""

    n_answers: common.PosInt = 12  # answers, with hidden qualities spread evenly over [-2, 2]
    n_pairs: common.PosInt = 4000  # comparisons collected per noise level
    heldout_pairs: common.PosInt = 4000  # fresh comparisons the fitted model is scored on
    temperatures: tuple[common.PosFloat, ...] = (0.5, 1.0, 2.0)  # annotator noise (higher: noisier)
    steps: common.PosInt = 300  # gradient steps of the Bradley-Terry fit
    lr: common.PosFloat = 0.1  # Adam step size of the fit
    threads: common.PosInt = 1  # torch CPU threads: tiny tensors, extra threads only add overhead


# --8<-- [end:config]


# --8<-- [start:bradley-terry]
def preference_probability(reward_a: torch.Tensor, reward_b: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry: the probability that answer A is preferred to answer B.

    P(A > B) = exp(r_A) / (exp(r_A) + exp(r_B)) = sigmoid(r_A - r_B). Only the
    difference of rewards matters: adding a constant to every reward changes nothing.
    """
    return torch.sigmoid(reward_a - reward_b)


# --8<-- [start:bradley-terry-loss]
def bradley_terry_loss(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the observed preferences under Bradley-Terry.

    loss = -mean(log sigmoid(r_chosen - r_rejected)). It is binary cross-entropy with
    the label "chosen wins" and the logit r_chosen - r_rejected; ``logsigmoid`` keeps it
    finite when the difference is large and negative.

    Args:
        reward_chosen: rewards of the preferred answers, shape (N,).
        reward_rejected: rewards of the other answer of each pair, shape (N,).

    Returns:
        The scalar loss: log(2) = 0.693 when the rewards are equal, 0 when the chosen
        answers win by a wide margin.
    """
    return -F.logsigmoid(reward_chosen - reward_rejected).mean()


# --8<-- [end:bradley-terry-loss]
def pairwise_accuracy(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> float:
    """Share of pairs in which the chosen answer gets the strictly higher reward."""
    return float((reward_chosen > reward_rejected).float().mean())


# --8<-- [end:bradley-terry]


# --8<-- [start:reward-model]
# --8<-- [start:last-token]
def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real (non-padding) token of each row.

    Works for left and right padding: it is the largest position whose mask is 1.
    """
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask * positions).argmax(dim=1)


# --8<-- [end:last-token]
def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions 0, 1, 2, ... counted over real tokens only (padding gets 0).

    With left padding the first real token must still sit at position 0, exactly as
    ``generate`` numbers it; every forward pass in chapter D uses this helper.
    """
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


class RewardModel(nn.Module):
    """A transformer backbone with a scalar head read at the last real token.

    The backbone is any ``transformers`` base model that returns ``last_hidden_state``
    (for D2: the GPT-2 body of the fine-tuned language model, as in InstructGPT,
    where the reward model starts from the SFT model with its LM head removed).
    """

    def __init__(self, backbone: nn.Module, hidden_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.head.weight, std=1.0 / (hidden_size + 1) ** 0.5)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return one reward per sequence, shape (batch,)."""
        hidden = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
        ).last_hidden_state
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        return self.head(hidden[rows, last_token_index(attention_mask)]).squeeze(-1)


# --8<-- [end:reward-model]


# --8<-- [start:annotators]
def sample_pairs(
    n_answers: int, n_pairs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_pairs`` pairs ``(i, j)`` of two different answers, uniformly."""
    i = rng.integers(0, n_answers, size=n_pairs)
    j = (i + rng.integers(1, n_answers, size=n_pairs)) % n_answers  # a different answer
    return i, j


def label_pairs(
    quality: np.ndarray, i: np.ndarray, j: np.ndarray, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """One simulated annotator's verdicts: True where it prefers answer i to answer j.

    It prefers i with probability sigmoid((q_i - q_j) / temperature): a Bradley-Terry
    labeller whose noise grows with ``temperature``. Near-ties are coin flips, clear
    differences are almost always right.
    """
    p_i_wins = 1.0 / (1.0 + np.exp(-(quality[i] - quality[j]) / temperature))
    return rng.random(len(i)) < p_i_wins


def simulate_comparisons(
    quality: np.ndarray, n_pairs: int, temperature: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated annotators compare random pairs of answers, one verdict per pair.

    Args:
        quality: hidden quality of each answer, shape (n,).
        n_pairs: number of comparisons.
        temperature: annotator noise, > 0.
        rng: NumPy generator.

    Returns:
        ``(chosen, rejected)``: answer indices, shape (n_pairs,) each.
    """
    i, j = sample_pairs(len(quality), n_pairs, rng)
    i_wins = label_pairs(quality, i, j, temperature, rng)
    return np.where(i_wins, i, j), np.where(i_wins, j, i)


def fit_bradley_terry(
    chosen: np.ndarray, rejected: np.ndarray, n_answers: int, steps: int, lr: float
) -> np.ndarray:
    """Fit one reward per answer by minimising the Bradley-Terry loss with Adam.

    This is a reward model whose "network" is a lookup table; D2 replaces the table
    by a transformer and keeps the loss.

    Returns:
        The fitted rewards, shifted to mean 0 (Bradley-Terry cannot see a constant shift).
    """
    rewards = torch.zeros(n_answers, requires_grad=True)
    optimizer = torch.optim.Adam([rewards], lr=lr)
    chosen_t, rejected_t = torch.as_tensor(chosen), torch.as_tensor(rejected)
    for _ in range(steps):
        loss = bradley_terry_loss(rewards[chosen_t], rewards[rejected_t])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    fitted = rewards.detach().numpy()
    return fitted - fitted.mean()


# --8<-- [end:annotators]


# --8<-- [start:experiment]
def noise_experiment(config: Config, seed: int) -> list[dict[str, Any]]:
    """Fit Bradley-Terry rewards from annotators of growing noise, then score the fit.

    Theory: with annotator temperature T the maximum-likelihood rewards approach q / T
    (plus a constant), so the fitted scale shrinks as the noise grows while the ranking
    survives. Each result reports the least-squares slope of fitted on true rewards
    (about 1 / T), the rank correlation, and the three accuracies of :func:`accuracy_ceiling`
    on fresh pairs.

    Returns:
        One dict per temperature with ``temperature``, ``slope``, ``rank_correlation``,
        ``agreement`` (share of training labels that agree with the hidden quality),
        the keys of :func:`accuracy_ceiling`, ``quality`` and ``fitted``.
    """
    rng = common.seed_everything(seed)
    quality = np.linspace(-2.0, 2.0, config.n_answers)
    quality = quality - quality.mean()
    results = []
    for temperature in config.temperatures:
        chosen, rejected = simulate_comparisons(quality, config.n_pairs, temperature, rng)
        fitted = fit_bradley_terry(chosen, rejected, config.n_answers, config.steps, config.lr)
        slope = float(np.dot(quality, fitted) / np.dot(quality, quality))
        ranks_true = np.argsort(np.argsort(quality))
        ranks_fit = np.argsort(np.argsort(fitted))
        heldout = accuracy_ceiling(quality, fitted, config.heldout_pairs, temperature, rng)
        results.append(
            {
                "temperature": temperature,
                "slope": slope,
                "rank_correlation": float(np.corrcoef(ranks_true, ranks_fit)[0, 1]),
                "agreement": float(np.mean(quality[chosen] > quality[rejected])),
                **heldout,
                "quality": quality,
                "fitted": fitted,
            }
        )
    return results


# --8<-- [end:experiment]


# --8<-- [start:ceiling]
def accuracy_ceiling(
    quality: np.ndarray,
    fitted: np.ndarray,
    n_pairs: int,
    temperature: float,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Score the fitted rewards on fresh pairs that two independent annotators label.

    Returns:
        ``model_accuracy``: how often the fitted reward model agrees with one annotator's
        label (what "held-out accuracy" measures in practice); ``truth_accuracy``: how
        often a model that knows the hidden quality agrees with that label, the best any
        model can do; ``inter_annotator``: how often the two annotators agree.
    """
    i, j = sample_pairs(len(quality), n_pairs, rng)
    first = label_pairs(quality, i, j, temperature, rng)
    second = label_pairs(quality, i, j, temperature, rng)
    return {
        "model_accuracy": float(np.mean((fitted[i] > fitted[j]) == first)),
        "truth_accuracy": float(np.mean((quality[i] > quality[j]) == first)),
        "inter_annotator": float(np.mean(first == second)),
    }


def ceiling_from_agreement(agreement: float) -> float:
    """The best accuracy against single labels that an inter-annotator agreement allows.

    If every comparison is labelled correctly with the same probability p, two annotators
    agree with probability a = p^2 + (1 - p)^2, so p = (1 + sqrt(2a - 1)) / 2. When some
    comparisons are harder than others the best accuracy is lower (Jensen), but never
    below a itself: for p in [1/2, 1], p^2 + (1 - p)^2 <= p.
    """
    return (1.0 + np.sqrt(max(2.0 * agreement - 1.0, 0.0))) / 2.0


# --8<-- [end:ceiling]


# --8<-- [start:plot]
def plot_experiment(results: list[dict[str, Any]]) -> Any:
    """Three panels: the Bradley-Terry curve, fitted against true rewards, and the accuracies."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    diff = np.linspace(-6, 6, 200)
    left.plot(diff, 1 / (1 + np.exp(-diff)), color="C0")
    left.axhline(0.5, color="grey", lw=0.8)
    left.axvline(0.0, color="grey", lw=0.8)
    left.set_xlabel("reward difference $r_A - r_B$")
    left.set_ylabel("P(A preferred to B)")
    left.set_title("Bradley-Terry: a sigmoid of the difference")
    for k, result in enumerate(results):
        t = result["temperature"]
        middle.scatter(result["quality"], result["fitted"], color=f"C{k + 1}", s=18)
        middle.plot(
            result["quality"],
            result["quality"] / t,
            color=f"C{k + 1}",
            lw=1,
            label=f"annotator T={t:g}: slope {result['slope']:.2f} (theory {1 / t:.2f})",
        )
    middle.set_xlabel("hidden quality q")
    middle.set_ylabel("fitted reward (mean 0)")
    middle.set_title("Noisier labels: same ranking, smaller scale")
    middle.legend(fontsize=8)
    bars = [
        ("model_accuracy", "fitted model vs one label"),
        ("truth_accuracy", "hidden quality vs one label"),
        ("inter_annotator", "annotator vs annotator"),
    ]
    x = np.arange(len(results))
    for k, (key, label) in enumerate(bars):
        right.bar(x + (k - 1) * 0.27, [r[key] for r in results], 0.27, label=label)
    right.set_xticks(x, [f"T={r['temperature']:g}" for r in results])
    right.set_ylim(0.5, 1.0)
    right.set_ylabel("agreement on held-out pairs")
    right.set_title("A reward model can beat annotator agreement")
    right.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


# --8<-- [end:plot]


# --8<-- [start:main]
def command_line() -> argparse.ArgumentParser:
    """The command's parser: Config's flags and the figure."""
    quick = {"n_pairs": 500, "heldout_pairs": 500, "steps": 100}
    outputs = {"plot": "save the figure as a PNG"}
    return common.config_parser(
        Config, __doc__, __spec__, quick=quick, aliases={"n_pairs": "--pairs"}, outputs=outputs
    )


def main(argv: list[str] | None = None) -> dict:
    """Fit Bradley-Terry rewards from simulated annotators and print what they recover."""
    cfg, args = common.parse_config(command_line(), argv)
    torch.set_num_threads(cfg.threads)
    with common.Stopwatch() as clock:
        results = noise_experiment(cfg, args.seed)
    if args.plot:
        common.save_figure(plot_experiment(results), args.plot)

    def per_t(key: str) -> dict[str, float]:
        return {f"T={r['temperature']:g}": r[key] for r in results}

    return common.emit_metrics(
        {
            "pairs": cfg.n_pairs,
            "slopes": per_t("slope"),
            "rank_correlations": per_t("rank_correlation"),
            "label_agreement": per_t("agreement"),
            "model_accuracy": per_t("model_accuracy"),
            "truth_accuracy": per_t("truth_accuracy"),
            "inter_annotator": per_t("inter_annotator"),
            "seconds": clock.seconds,
        }
    )


if __name__ == "__main__":
    main()
# --8<-- [end:main]
