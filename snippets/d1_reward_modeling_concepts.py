"""Lesson D1: reward modelling: preference pairs, the Bradley-Terry model and its loss.

A reward model turns "people preferred answer A to answer B" into a number per answer.
The Bradley-Terry model says P(A preferred to B) = sigmoid(r(A) - r(B)); fitting r by
maximum likelihood is a logistic regression on score differences. The same loss and the
same reward-model wrapper train D2's reward model on generated text.
"""

# --8<-- [start:imports]
from __future__ import annotations

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

    n_answers: int = 12  # answers with a hidden quality q in [-2, 2]
    n_pairs: int = 4000  # comparisons collected
    temperatures: tuple[float, ...] = (0.5, 1.0, 2.0)  # annotator noise (higher = noisier)
    steps: int = 300  # gradient steps of the Bradley-Terry fit
    lr: float = 0.1


# --8<-- [end:config]


# --8<-- [start:bradley-terry]
def preference_probability(reward_a: torch.Tensor, reward_b: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry: the probability that answer A is preferred to answer B.

    P(A > B) = exp(r_A) / (exp(r_A) + exp(r_B)) = sigmoid(r_A - r_B). Only the
    difference of rewards matters: adding a constant to every reward changes nothing.
    """
    return torch.sigmoid(reward_a - reward_b)


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


def pairwise_accuracy(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> float:
    """Share of pairs in which the chosen answer gets the strictly higher reward."""
    return float((reward_chosen > reward_rejected).float().mean())


# --8<-- [end:bradley-terry]


# --8<-- [start:reward-model]
def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real (non-padding) token of each row.

    Works for left and right padding: it is the largest position whose mask is 1.
    """
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask * positions).argmax(dim=1)


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
def simulate_comparisons(
    quality: np.ndarray, n_pairs: int, temperature: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated annotators compare random pairs of answers.

    Each annotator prefers answer i to answer j with probability
    sigmoid((q_i - q_j) / temperature): a Bradley-Terry labeller whose noise grows with
    ``temperature``. Near-ties are coin flips, clear differences are almost always right.

    Args:
        quality: hidden quality of each answer, shape (n,).
        n_pairs: number of comparisons.
        temperature: annotator noise, > 0.
        rng: NumPy generator.

    Returns:
        ``(chosen, rejected)``: answer indices, shape (n_pairs,) each.
    """
    n = len(quality)
    i = rng.integers(0, n, size=n_pairs)
    j = (i + rng.integers(1, n, size=n_pairs)) % n  # a different answer
    p_i_wins = 1.0 / (1.0 + np.exp(-(quality[i] - quality[j]) / temperature))
    i_wins = rng.random(n_pairs) < p_i_wins
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
    """Fit Bradley-Terry rewards from annotators of growing noise.

    Theory: with annotator temperature T the maximum-likelihood rewards approach q / T
    (plus a constant), so the fitted scale shrinks as the noise grows while the ranking
    survives. Each result reports the least-squares slope of fitted on true rewards
    (about 1 / T) and the rank correlation.

    Returns:
        One dict per temperature with ``temperature``, ``slope``, ``rank_correlation``,
        ``agreement`` (share of labels that agree with the hidden quality), ``quality``
        and ``fitted``.
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
        results.append(
            {
                "temperature": temperature,
                "slope": slope,
                "rank_correlation": float(np.corrcoef(ranks_true, ranks_fit)[0, 1]),
                "agreement": float(np.mean(quality[chosen] > quality[rejected])),
                "quality": quality,
                "fitted": fitted,
            }
        )
    return results


# --8<-- [end:experiment]


def plot_experiment(results: list[dict[str, Any]]) -> Any:
    """Two panels: the Bradley-Terry curve, and fitted against true rewards per noise level."""
    import matplotlib.pyplot as plt

    common.use_course_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    diff = np.linspace(-6, 6, 200)
    left.plot(diff, 1 / (1 + np.exp(-diff)), color="C0")
    left.axhline(0.5, color="grey", lw=0.8)
    left.axvline(0.0, color="grey", lw=0.8)
    left.set_xlabel("reward difference $r_A - r_B$")
    left.set_ylabel("P(A preferred to B)")
    left.set_title("Bradley-Terry: a sigmoid of the difference")
    for k, result in enumerate(results):
        t = result["temperature"]
        right.scatter(result["quality"], result["fitted"], color=f"C{k + 1}", s=18)
        right.plot(
            result["quality"],
            result["quality"] / t,
            color=f"C{k + 1}",
            lw=1,
            label=f"annotator T={t:g}: slope {result['slope']:.2f} (theory {1 / t:.2f})",
        )
    right.set_xlabel("hidden quality q")
    right.set_ylabel("fitted reward (mean 0)")
    right.set_title("Noisier labels: same ranking, smaller scale")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --8<-- [start:main]
def main(argv: list[str] | None = None) -> dict:
    """Fit Bradley-Terry rewards from simulated annotators and print the recovered scales."""
    parser = common.lesson_parser(__doc__, prog="python -m snippets.d1_reward_modeling_concepts")
    parser.add_argument(
        "--pairs",
        type=common.positive_int,
        default=Config.n_pairs,
        help="comparisons per noise level",
    )
    parser.add_argument("--plot", metavar="PATH", help="save the figure as a PNG")
    parser.add_argument(
        "--threads", type=common.positive_int, default=1, help="torch CPU threads (default 1)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)  # tiny tensors: extra threads only add overhead
    config = Config(n_pairs=500 if args.quick else args.pairs, steps=100 if args.quick else 300)
    with common.Stopwatch() as clock:
        results = noise_experiment(config, args.seed)
    if args.plot:
        common.save_figure(plot_experiment(results), args.plot)
    return common.emit_metrics(
        {
            "pairs": config.n_pairs,
            "slopes": {f"T={r['temperature']:g}": r["slope"] for r in results},
            "rank_correlations": {
                f"T={r['temperature']:g}": r["rank_correlation"] for r in results
            },
            "label_agreement": {f"T={r['temperature']:g}": r["agreement"] for r in results},
            "seconds": clock.seconds,
        }
    )


if __name__ == "__main__":
    main()
# --8<-- [end:main]
