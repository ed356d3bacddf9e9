"""Mutants of lesson B3: wrong DQN targets and losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exercises.mutants import Mutants
from snippets.b3_deep_q_networks_dqn import td_target

MUTANTS = Mutants()


@MUTANTS.add("td_target", "bootstrap through the terminal state (forget the done mask)")
def _y_no_mask(rewards, dones, next_q_target, gamma):
    with torch.no_grad():
        return rewards + gamma * next_q_target.max(dim=1, keepdim=True).values


@MUTANTS.add("td_target", "average over actions instead of taking the max")
def _y_mean(rewards, dones, next_q_target, gamma):
    with torch.no_grad():
        return rewards + gamma * (1 - dones) * next_q_target.mean(dim=1, keepdim=True)


@MUTANTS.add("td_target", "let the gradient flow into the target (no torch.no_grad or .detach())")
def _y_with_grad(rewards, dones, next_q_target, gamma):
    return rewards + gamma * (1 - dones) * next_q_target.max(dim=1, keepdim=True).values


@MUTANTS.add("td_target", "multiply by done instead of (1 - done)")
def _y_done_flipped(rewards, dones, next_q_target, gamma):
    with torch.no_grad():
        return rewards + gamma * dones * next_q_target.max(dim=1, keepdim=True).values


@MUTANTS.add("td_target", "forget the discount gamma")
def _y_no_gamma(rewards, dones, next_q_target, gamma):
    with torch.no_grad():
        return rewards + (1 - dones) * next_q_target.max(dim=1, keepdim=True).values


@MUTANTS.add("td_target", "drop keepdim, so the (B,) max broadcasts against the (B, 1) rewards")
def _y_no_keepdim(rewards, dones, next_q_target, gamma):
    with torch.no_grad():
        return rewards + gamma * (1 - dones) * next_q_target.max(dim=1).values


@MUTANTS.add("dqn_loss", "compute the target with q_net instead of the target network")
def _loss_online_target(q_net, q_target, batch, gamma):
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())
    y = (
        batch.rewards
        + gamma * (1 - batch.dones) * q_net(batch.next_observations).max(1, keepdim=True).values
    )
    return F.smooth_l1_loss(q_taken, y)


@MUTANTS.add("dqn_loss", "take max_a Q(s, a) instead of the Q of the action taken")
def _loss_max_q(q_net, q_target, batch, gamma):
    q_best = q_net(batch.observations).max(1, keepdim=True).values
    y = td_target(batch.rewards, batch.dones, q_target(batch.next_observations), gamma)
    return F.smooth_l1_loss(q_best, y)


@MUTANTS.add("dqn_loss", "bootstrap through the terminal state")
def _loss_no_mask(q_net, q_target, batch, gamma):
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())
    y = td_target(
        batch.rewards, torch.zeros_like(batch.dones), q_target(batch.next_observations), gamma
    )
    return F.smooth_l1_loss(q_taken, y)


@MUTANTS.add("dqn_loss", "use the squared error instead of Huber (smooth L1)")
def _loss_mse(q_net, q_target, batch, gamma):
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())
    y = td_target(batch.rewards, batch.dones, q_target(batch.next_observations), gamma)
    return F.mse_loss(q_taken, y)


@MUTANTS.add("dqn_loss", "evaluate the target network on s instead of s'")
def _loss_target_on_s(q_net, q_target, batch, gamma):
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())
    y = td_target(batch.rewards, batch.dones, q_target(batch.observations), gamma)
    return F.smooth_l1_loss(q_taken, y)


@MUTANTS.add("dqn_loss", "sum the Huber loss over the batch instead of averaging")
def _loss_sum(q_net, q_target, batch, gamma):
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())
    y = td_target(batch.rewards, batch.dones, q_target(batch.next_observations), gamma)
    return F.smooth_l1_loss(q_taken, y, reduction="sum")


@MUTANTS.add("dqn_loss", "use q_net, detached, for the target (no target network)")
def _loss_detached_online(q_net, q_target, batch, gamma):
    q_taken = q_net(batch.observations).gather(1, batch.actions.long())
    y = td_target(batch.rewards, batch.dones, q_net(batch.next_observations), gamma)
    return F.smooth_l1_loss(q_taken, y)
