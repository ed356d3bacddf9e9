"""Mutants of lesson A3: wrong Bellman backups, solves, sweeps and greedy policies."""

from __future__ import annotations

import numpy as np

from exercises.mutants import Mutants
from snippets.a3_mdp_and_bellman import MDP, policy_dynamics, q_values

MUTANTS = Mutants()


@MUTANTS.add("q_values", "forget the discount gamma")
def _q_no_gamma(mdp: MDP, v: np.ndarray) -> np.ndarray:
    return mdp.R + mdp.P @ v


@MUTANTS.add("q_values", "use v of the current state s instead of the next state s'")
def _q_current_state(mdp: MDP, v: np.ndarray) -> np.ndarray:
    return mdp.R + mdp.gamma * v[:, None]


@MUTANTS.add("q_values", "average v over all states instead of weighting it by P(s'|s, a)")
def _q_mean_v(mdp: MDP, v: np.ndarray) -> np.ndarray:
    return mdp.R + mdp.gamma * v.mean()


@MUTANTS.add("q_values", "misplace the brackets: gamma (R + P v) discounts the reward too")
def _q_brackets(mdp: MDP, v: np.ndarray) -> np.ndarray:
    return mdp.gamma * (mdp.R + mdp.P @ v)


@MUTANTS.add("q_values", "weight by P(s|s', a), the transition table transposed")
def _q_transposed(mdp: MDP, v: np.ndarray) -> np.ndarray:
    return mdp.R + mdp.gamma * np.einsum("tas,t->sa", mdp.P, v)


@MUTANTS.add("evaluate_policy_exact", "forget the discount")
def _eval_no_gamma(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    P_pi, r_pi = policy_dynamics(mdp, policy)
    live = ~mdp.terminal
    v = np.zeros(mdp.n_states)
    v[live] = np.linalg.solve(np.eye(live.sum()) - P_pi[np.ix_(live, live)], r_pi[live])
    return v


@MUTANTS.add("evaluate_policy_exact", "keep the terminal states in the linear system")
def _eval_keep_terminal(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    P_pi, r_pi = policy_dynamics(mdp, policy)
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi, r_pi)


@MUTANTS.add("evaluate_policy_exact", "average R over the actions instead of weighting it by pi")
def _eval_mean_reward(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    P_pi, _ = policy_dynamics(mdp, policy)
    live = ~mdp.terminal
    A = np.eye(live.sum()) - mdp.gamma * P_pi[np.ix_(live, live)]
    v = np.zeros(mdp.n_states)
    v[live] = np.linalg.solve(A, mdp.R.mean(axis=1)[live])
    return v


@MUTANTS.add("evaluate_policy_exact", "use P_pi transposed (P_pi[s', s] for P_pi[s, s'])")
def _eval_transposed(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    P_pi, r_pi = policy_dynamics(mdp, policy)
    live = ~mdp.terminal
    A = np.eye(live.sum()) - mdp.gamma * P_pi[np.ix_(live, live)].T
    v = np.zeros(mdp.n_states)
    v[live] = np.linalg.solve(A, r_pi[live])
    return v


@MUTANTS.add(
    "evaluate_policy_exact", "return r_pi + gamma P_pi r_pi, one backup instead of the solve"
)
def _eval_one_backup(mdp: MDP, policy: np.ndarray) -> np.ndarray:
    P_pi, r_pi = policy_dynamics(mdp, policy)
    return np.where(mdp.terminal, 0.0, r_pi + mdp.gamma * P_pi @ np.where(mdp.terminal, 0.0, r_pi))


def _vi(mdp: MDP, tol: float = 1e-10, max_sweeps: int = 100_000, *, wrong: str = ""):
    """value_iteration with the mistake ``wrong`` names.

    Mistakes:
        mean: average over actions (that evaluates the random policy)
        terminal: let the terminal state keep a value
        no_abs: test convergence without abs, so a value that falls stops the loop
        count_from_zero: count the sweeps from 0 (one too few)
        min: take the min over actions instead of the max
        fixed_tol: ignore tol (always stop at 1e-10)
        no_limit: ignore max_sweeps (loop until the values settle)
    """
    tol = 1e-10 if wrong == "fixed_tol" else tol
    max_sweeps = 100_000 if wrong == "no_limit" else max_sweeps
    first = 0 if wrong == "count_from_zero" else 1
    v = np.zeros(mdp.n_states)
    for sweep in range(first, max_sweeps + first):
        q = q_values(mdp, v)
        v_new = {"mean": q.mean, "min": q.min}.get(wrong, q.max)(axis=1)
        if wrong != "terminal":
            v_new = np.where(mdp.terminal, 0.0, v_new)
        change = v_new - v if wrong == "no_abs" else np.abs(v_new - v)
        if np.max(change) < tol:
            return v_new, sweep
        v = v_new
    raise RuntimeError(f"value iteration did not converge in {max_sweeps} sweeps")


MUTANTS.flags("value_iteration", _vi)


def _split(best: np.ndarray) -> np.ndarray:
    return best / best.sum(axis=1, keepdims=True)


@MUTANTS.add("greedy_policy", "take np.argmax, which picks the first of tied actions")
def _greedy_argmax(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    q = q_values(mdp, v)
    return np.eye(mdp.n_actions)[q.argmax(axis=1)]


@MUTANTS.add("greedy_policy", "mark the ties but forget to normalise the rows")
def _greedy_unnormalised(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    q = q_values(mdp, v)
    return np.isclose(q, q.max(axis=1, keepdims=True), atol=atol).astype(float)


@MUTANTS.add("greedy_policy", "compare with ==, so floating-point noise breaks a tie")
def _greedy_exact(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    q = q_values(mdp, v)
    return _split(q == q.max(axis=1, keepdims=True))


@MUTANTS.add("greedy_policy", "ignore atol (np.isclose's default tolerance)")
def _greedy_fixed_atol(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    q = q_values(mdp, v)
    return _split(np.isclose(q, q.max(axis=1, keepdims=True)))


@MUTANTS.add("greedy_policy", "rank actions by P v alone, leaving out the reward R")
def _greedy_no_reward(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    q = mdp.gamma * mdp.P @ v
    return _split(np.isclose(q, q.max(axis=1, keepdims=True), atol=atol))


@MUTANTS.add("greedy_policy", "mark the worst actions (the min) instead of the best")
def _greedy_min(mdp: MDP, v: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    q = q_values(mdp, v)
    return _split(np.isclose(q, q.min(axis=1, keepdims=True), atol=atol))
