"""Lesson C2: the PPO losses (clipped surrogate and clipped value loss), shared with D2.

These few lines are the heart of PPO. Chapter D's RLHF trainer imports them from here,
so the course writes them exactly once. The module also draws the clipped objective
(``--plot``) and, for the chapter's comparison table, trains Stable-Baselines3's PPO on
CartPole-v1 with lesson C1's evaluation harness (``--ppo-timesteps``); both import their
extra libraries lazily, so importing the losses costs only torch.
"""

# --8<-- [start:imports]
from __future__ import annotations

import torch

# --8<-- [end:imports]


# --8<-- [start:clipped-surrogate]
def clipped_surrogate_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate objective, as a loss to minimise.

    With ratio r = exp(new - old), the objective per sample is
    min(r A, clip(r, 1 - eps, 1 + eps) A); the loss is its negative mean.

    Args:
        new_logprobs: log pi_theta(a|s) under the policy being optimised (requires grad).
        old_logprobs: log pi_old(a|s) recorded when the data was collected.
        advantages: advantage estimates, same shape.
        clip_coef: eps, how far the ratio may move from 1 before the gradient stops.
        mask: optional 0/1 tensor of the same shape (for padded tokens in D2).

    Returns:
        ``(loss, clip_fraction)``: the scalar loss and the share of samples whose ratio
        was clipped (a health metric: near 0 means tiny steps, above ~0.3 too large).
    """
    ratio = torch.exp(new_logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    objective = torch.minimum(unclipped, clipped)
    was_clipped = ((ratio - 1.0).abs() > clip_coef).float()
    if mask is None:
        return -objective.mean(), was_clipped.mean()
    denom = mask.sum().clamp_min(1.0)
    return -(objective * mask).sum() / denom, (was_clipped * mask).sum() / denom


# --8<-- [end:clipped-surrogate]


# --8<-- [start:clipped-value]
def clipped_value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_coef: float = 0.2,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's clipped value loss: 0.5 * max((V - R)^2, (V_clip - R)^2).

    The new value prediction may move at most ``clip_coef`` away from the prediction made
    at collection time, mirroring the policy clip.

    Args:
        new_values: V_theta(s) from the network being optimised.
        old_values: V(s) recorded at collection time.
        returns: regression targets (advantages + old values).
        clip_coef: largest allowed move of the value prediction.
        mask: optional 0/1 tensor of the same shape.

    Returns:
        The scalar loss.
    """
    clipped_values = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    loss = 0.5 * torch.maximum((new_values - returns) ** 2, (clipped_values - returns) ** 2)
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


# --8<-- [end:clipped-value]


# --8<-- [start:objective-figure]
def clipped_objective_and_gradient(
    ratios: torch.Tensor, advantage: float, clip_coef: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's per-sample objective and its derivative in the ratio, one ratio at a time.

    Uses :func:`clipped_surrogate_loss` itself (with old log-prob 0, so the ratio is
    ``exp(new_logprob)``), so the figure shows the function that D2 trains with.

    Returns:
        ``(objective, d objective / d ratio)``, each with the shape of ``ratios``.
    """
    objective, gradient = [], []
    for r in ratios.tolist():
        new_logprob = torch.tensor([r]).log().requires_grad_(True)
        loss, _ = clipped_surrogate_loss(new_logprob, torch.zeros(1), torch.tensor([advantage]), clip_coef)
        (d_logprob,) = torch.autograd.grad(-loss, new_logprob)
        objective.append(-loss.item())
        gradient.append(d_logprob.item() / r)  # chain rule: d/dr = d/dlogr * dlogr/dr
    return torch.tensor(objective), torch.tensor(gradient)


def plot_clipped_objective(path: str, clip_coef: float = 0.2) -> str:
    """Draw L^CLIP against the ratio for A = +1 and A = -1 and mark where the gradient is 0."""
    from snippets import common

    common.use_course_style()
    import matplotlib.pyplot as plt

    ratios = torch.linspace(0.3, 1.7, 281)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6), sharex=True)
    for ax, adv in zip(axes, (1.0, -1.0), strict=True):
        objective, gradient = clipped_objective_and_gradient(ratios, adv, clip_coef)
        ax.plot(ratios, ratios * adv, color="grey", ls=":", label="unclipped  r·A")
        ax.plot(ratios, objective, lw=2.2, label="PPO  min(r·A, clip(r)·A)")
        flat = gradient.abs() < 1e-9
        low, high = ax.get_ylim()
        ax.fill_between(ratios, low, high, where=flat.numpy(), color="tab:orange", alpha=0.15,
                        label="gradient is zero")
        ax.set_ylim(low, high)
        for edge in (1 - clip_coef, 1 + clip_coef):
            ax.axvline(edge, color="black", lw=0.8, ls="--")
        sign = "> 0" if adv > 0 else "< 0"
        ax.set(title=f"advantage A {sign}", xlabel="probability ratio r = π_new / π_old")
        ax.legend(fontsize=8, loc="upper left" if adv > 0 else "lower left")
    axes[0].set_ylabel("objective (maximised)")
    return common.save_figure(fig, path)


# --8<-- [end:objective-figure]


# --8<-- [start:ppo-run]
def ppo_cartpole_hyperparameters() -> dict:
    """RL Zoo's tuned PPO settings for CartPole-v1 (rl-baselines3-zoo, hyperparams/ppo.yml)."""
    return {
        "n_steps": 32,  # per env, 8 envs: 256 transitions per rollout
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,  # each rollout is reused 20 times: PPO's whole point
        "ent_coef": 0.0,
        "learning_rate": lambda progress_remaining: 1e-3 * progress_remaining,
        "clip_range": lambda progress_remaining: 0.2 * progress_remaining,
    }


def train_ppo_cartpole(seed: int, timesteps: int = 100_000, eval_every: int = 10_000) -> dict:
    """Train SB3's PPO on CartPole-v1 with lesson C1's evaluation harness.

    Returns:
        The C1 ``RunResult`` fields as a dict (evaluation curve, first solved step, ...).
    """
    from dataclasses import asdict, replace

    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy

    from snippets import c1_actor_critic_methods_a2c as c1
    from snippets import common

    cfg = replace(c1.Config(), total_timesteps=timesteps, eval_every=eval_every)
    common.seed_everything(seed)
    envs = c1.make_envs(cfg.env_id, cfg.n_envs, seed)
    eval_envs = c1.make_envs(cfg.env_id, cfg.eval_episodes, seed + 10_000)
    model = PPO("MlpPolicy", envs, seed=seed, device="cpu", **ppo_cartpole_hyperparameters())
    result = c1.RunResult(seed=seed)
    with common.Stopwatch() as clock:
        model.learn(total_timesteps=timesteps, callback=c1.LearningCurve(eval_envs, cfg, result))
    result.seconds = clock.seconds
    result.final_eval = float(evaluate_policy(model, eval_envs, cfg.final_eval_episodes, deterministic=True)[0])
    return asdict(result)


# --8<-- [end:ppo-run]


def main(argv: list[str] | None = None) -> dict:
    """Draw the clipped objective; optionally train SB3 PPO on CartPole for the comparison."""
    import numpy as np

    from snippets import common

    parser = common.lesson_parser(__doc__, prog="python -m snippets.c2_proximal_policy_optimization_ppo")
    parser.add_argument("--clip-coef", type=common.float_in_range(0, 1), default=0.2,
                        help="PPO's epsilon in [0, 1] (default 0.2)")
    parser.add_argument("--plot", metavar="PATH", help="save the clipped-objective figure here")
    parser.add_argument("--ppo-timesteps", type=common.positive_int, default=0,
                        help="also train SB3 PPO on CartPole-v1 for this many steps per seed")
    parser.add_argument("--seeds", type=common.positive_int, default=1,
                        help="seeds for the PPO run: seed..seed+N-1 (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    ratios = torch.tensor([0.5, 1.0, 1.5])
    metrics: dict = {"clip_coef": args.clip_coef, "ratios": ratios.tolist()}
    for adv, key in ((1.0, "a_pos"), (-1.0, "a_neg")):
        obj, grad = clipped_objective_and_gradient(ratios, adv, args.clip_coef)
        metrics[f"objective_{key}"] = obj.tolist()
        metrics[f"gradient_{key}"] = grad.tolist()
    if args.plot:
        plot_clipped_objective(args.plot, args.clip_coef)
    timesteps = 10_000 if args.quick and args.ppo_timesteps else args.ppo_timesteps
    if timesteps:
        seeds = range(args.seed, args.seed + args.seeds)
        runs = [train_ppo_cartpole(s, timesteps) for s in common.progress(seeds, "PPO seeds", args.seeds)]
        solved = [r["first_solved_step"] for r in runs]
        metrics.update({
            "ppo_timesteps": timesteps,
            "ppo_seeds": list(seeds),
            "ppo_solved_seeds": sum(s is not None for s in solved),
            "ppo_first_solved_step": solved,
            "ppo_final_eval": [r["final_eval"] for r in runs],
            "ppo_mean_final_eval": float(np.mean([r["final_eval"] for r in runs])),
            "ppo_seconds": float(sum(r["seconds"] for r in runs)),
        })
    return common.emit_metrics(metrics)


if __name__ == "__main__":
    main()
