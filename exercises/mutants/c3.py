"""Mutants of lesson C3: wrong Gaussian and tanh-squashed log-densities."""

from __future__ import annotations

import math

import torch

from exercises.mutants import Mutants
from snippets.c3_continuous_actions_ppo_sac import gaussian_log_prob

MUTANTS = Mutants()
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@MUTANTS.add("gaussian_log_prob", "leave out the -log sigma term")
def _g_no_log_sigma(action, mean, log_std):
    z = (action - mean) / log_std.exp()
    return (-0.5 * z**2 - HALF_LOG_2PI).sum(-1)


@MUTANTS.add("gaussian_log_prob", "divide the squared error by sigma, not sigma^2")
def _g_sigma_not_squared(action, mean, log_std):
    return (-0.5 * (action - mean) ** 2 / log_std.exp() - log_std - HALF_LOG_2PI).sum(-1)


@MUTANTS.add("gaussian_log_prob", "use the variance's log, 2 log sigma, as the normaliser")
def _g_two_log_sigma(action, mean, log_std):
    z = (action - mean) / log_std.exp()
    return (-0.5 * z**2 - 2 * log_std - HALF_LOG_2PI).sum(-1)


@MUTANTS.add("gaussian_log_prob", "average over the dimensions instead of summing")
def _g_mean(action, mean, log_std):
    z = (action - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - HALF_LOG_2PI).mean(-1)


@MUTANTS.add("gaussian_log_prob", "use log_std as the standard deviation itself")
def _g_log_std_as_std(action, mean, log_std):
    z = (action - mean) / log_std
    return (-0.5 * z**2 - torch.log(log_std) - HALF_LOG_2PI).sum(-1)


@MUTANTS.add("gaussian_log_prob", "sum over every axis, the batch included")
def _g_sum_all(action, mean, log_std):
    z = (action - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - HALF_LOG_2PI).sum()


@MUTANTS.add("gaussian_log_prob", "use log(2 pi) instead of log(2 pi) / 2")
def _g_full_log_2pi(action, mean, log_std):
    z = (action - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - 2 * HALF_LOG_2PI).sum(-1)


def _jacobian(u):
    return torch.log(1 - torch.tanh(u) ** 2 + 1e-6)


@MUTANTS.add("squashed_log_prob", "add the log-derivative instead of subtracting it")
def _s_add(u, mean, log_std):
    return gaussian_log_prob(u, mean, log_std) + _jacobian(u).sum(-1)


@MUTANTS.add("squashed_log_prob", "leave out the change of variables")
def _s_none(u, mean, log_std):
    return gaussian_log_prob(u, mean, log_std)


@MUTANTS.add(
    "squashed_log_prob", "average the Jacobian correction over the dimensions instead of summing"
)
def _s_mean_jacobian(u, mean, log_std):
    return gaussian_log_prob(u, mean, log_std) - _jacobian(u).mean(-1)


@MUTANTS.add(
    "squashed_log_prob", "evaluate the correction at u, log(1 - u^2), instead of at tanh(u)"
)
def _s_at_u(u, mean, log_std):
    return gaussian_log_prob(u, mean, log_std) - torch.log(1 - u**2 + 1e-6).sum(-1)


@MUTANTS.add("squashed_log_prob", "use log(1 - tanh(u)) without the square")
def _s_no_square(u, mean, log_std):
    return gaussian_log_prob(u, mean, log_std) - torch.log(1 - torch.tanh(u) + 1e-6).sum(-1)


@MUTANTS.add("squashed_log_prob", "take the Gaussian density of tanh(u) instead of u")
def _s_density_of_a(u, mean, log_std):
    return gaussian_log_prob(torch.tanh(u), mean, log_std) - _jacobian(u).sum(-1)
