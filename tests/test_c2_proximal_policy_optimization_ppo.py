"""Tests for lesson C2: PPO's clipped surrogate and clipped value loss (shared with D2)."""

from __future__ import annotations

import json

import pytest
import torch

from snippets import c2_proximal_policy_optimization_ppo as c2

EPS = 0.2


def _grad_wrt_logprob(
    ratios: list[float], advantages: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss gradient with respect to the new log-probabilities (old log-probs are 0)."""
    new = torch.tensor(ratios).log().requires_grad_(True)
    loss, clip_fraction = c2.clipped_surrogate_loss(
        new, torch.zeros(len(ratios)), torch.tensor(advantages), EPS
    )
    loss.backward()
    return new.grad, clip_fraction


def test_surrogate_gradient_is_zero_above_the_clip_for_positive_advantages():
    ratios = [1.25, 1.5, 3.0]  # the policy already made these good actions much likelier
    grad, clip_fraction = _grad_wrt_logprob(ratios, [1.0, 2.0, 0.5])
    assert torch.equal(grad, torch.zeros(3))
    assert clip_fraction.item() == 1.0


def test_surrogate_gradient_is_zero_below_the_clip_for_negative_advantages():
    grad, _ = _grad_wrt_logprob([0.75, 0.5, 0.1], [-1.0, -2.0, -0.5])
    assert torch.equal(grad, torch.zeros(3))


def test_surrogate_keeps_the_gradient_on_the_side_clipping_does_not_apply():
    # A > 0 but the ratio fell below 1 - eps, or A < 0 and it rose above 1 + eps: the min
    # picks the unclipped term, so the update still pulls the policy back.
    ratios, advantages = [0.5, 1.5], [1.0, -1.0]
    grad, clip_fraction = _grad_wrt_logprob(ratios, advantages)
    # d/dlogp of -(r A)/B is -r A / B
    expected = torch.tensor([-(0.5 * 1.0) / 2, -(1.5 * -1.0) / 2])
    torch.testing.assert_close(grad, expected)
    assert clip_fraction.item() == 1.0  # counted as "clipped" although the gradient flows


def test_surrogate_gradient_at_ratio_one_equals_vanilla_policy_gradient():
    torch.manual_seed(0)
    policy = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    obs, actions, advantages = torch.randn(32, 4), torch.randint(0, 3, (32,)), torch.randn(32)

    def grads(loss_fn):
        policy.zero_grad()
        logp = torch.distributions.Categorical(logits=policy(obs)).log_prob(actions)
        loss_fn(logp).backward()
        return [p.grad.clone() for p in policy.parameters()]

    ppo = grads(lambda logp: c2.clipped_surrogate_loss(logp, logp.detach(), advantages, EPS)[0])
    vanilla = grads(lambda logp: -(advantages * logp).mean())
    for g_ppo, g_pg in zip(ppo, vanilla, strict=True):
        torch.testing.assert_close(g_ppo, g_pg)


def test_surrogate_loss_value_and_mask():
    new = torch.tensor([1.5, 0.5, 1.0, 2.0]).log()
    adv = torch.tensor([1.0, 1.0, -2.0, 3.0])
    # per-sample objective: min(1.5, 1.2)=1.2, min(0.5, 0.8)=0.5, -2.0, min(6, 3.6)=3.6
    loss, clip_fraction = c2.clipped_surrogate_loss(new, torch.zeros(4), adv, EPS)
    assert loss.item() == pytest.approx(-(1.2 + 0.5 - 2.0 + 3.6) / 4)
    assert clip_fraction.item() == pytest.approx(3 / 4)
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0])  # the last "token" is padding
    masked, masked_fraction = c2.clipped_surrogate_loss(new, torch.zeros(4), adv, EPS, mask)
    assert masked.item() == pytest.approx(-(1.2 + 0.5 - 2.0) / 3)
    assert masked_fraction.item() == pytest.approx(2 / 3)


def _value_loss_and_grad(new: float, old: float = 0.0, ret: float = 1.0) -> tuple[float, float]:
    v = torch.tensor([new], requires_grad=True)
    loss = c2.clipped_value_loss(v, torch.tensor([old]), torch.tensor([ret]), EPS)
    loss.backward()
    return loss.item(), v.grad.item()


def test_clipped_value_loss_inside_the_clip_is_half_squared_error():
    loss, grad = _value_loss_and_grad(0.1)
    assert loss == pytest.approx(0.5 * 0.9**2)
    assert grad == pytest.approx(0.1 - 1.0)


def test_clipped_value_loss_stops_a_value_that_jumped_towards_the_target():
    # V moved 0 -> 0.5 towards the return 1: the clipped prediction 0.2 is worse, the
    # max picks it, and it does not depend on V: no gradient, loss of the clipped value.
    loss, grad = _value_loss_and_grad(0.5)
    assert loss == pytest.approx(0.5 * 0.8**2)
    assert grad == 0.0


def test_clipped_value_loss_still_pulls_back_a_value_that_moved_away():
    loss, grad = _value_loss_and_grad(-0.5)  # moved away from the target: unclipped is worse
    assert loss == pytest.approx(0.5 * 1.5**2)
    assert grad == pytest.approx(-0.5 - 1.0)


def test_objective_curve_matches_the_definition():
    ratios = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5])
    for adv in (1.0, -1.0):
        obj, grad = c2.clipped_objective_and_gradient(ratios, adv, EPS)
        expected = torch.minimum(ratios * adv, ratios.clamp(1 - EPS, 1 + EPS) * adv)
        torch.testing.assert_close(obj, expected)
        inside = (ratios - 1).abs() <= EPS
        torch.testing.assert_close(grad[inside], torch.full((int(inside.sum()),), adv))


def test_cli_draws_the_figure_and_prints_metrics(tmp_path, capsys):
    path = tmp_path / "clip.png"
    metrics = c2.main(["--plot", str(path)])
    assert path.stat().st_size > 10_000
    assert metrics["gradient_a_pos"] == [1.0, 1.0, 0.0]
    assert metrics["gradient_a_neg"] == [0.0, -1.0, -1.0]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == metrics


def test_bad_input_exits_2_with_one_line_naming_the_flag(assert_rejects) -> None:
    assert_rejects("c2_proximal_policy_optimization_ppo", "--clip-coef 1.5")
