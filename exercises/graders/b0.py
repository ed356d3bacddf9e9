"""Graders for lesson B0: UCB action selection and the incremental average."""

from __future__ import annotations

import numpy as np

from exercises.grading import Checker, exercise


@exercise("UCB action selection")
def grade_ucb_actions(f, check: Checker) -> None:
    """Untried arms first, the exact bonus over 60 close runs, c = 0, random tie-breaking.

    Todo:
        add the exploration bonus to q (infinite for untried arms) and take the argmax.
    """
    rng = np.random.default_rng(0)
    check.expect(
        "an arm never pulled is pulled first",
        """N(a) = 0 gives an infinite bonus (np.where(counts > 0, ..., np.inf)), so an untried arm
        beats any estimate.""",
        "chosen arm",
        lambda: f(np.array([[5.0, 0.0, 1.0]]), np.array([[3, 0, 2]]), 6, 2.0, rng),
        [1],
    )
    check.expect(
        "the bonus c * sqrt(ln t / N(a)) decides",
        """Scores Q(a) + c sqrt(ln t / N(a)) are 0 + 0.5 sqrt(ln 5 / 1) = 0.634 and 0.5 + 0.5
        sqrt(ln 5 / 4) = 0.817: check the c, the square root and the natural log of t.""",
        "chosen arm",
        lambda: f(np.array([[0.0, 0.5]]), np.array([[1, 4]]), 5, 0.5, rng),
        [1],
    )
    cases = np.random.default_rng(7)  # 60 runs of close calls: only the exact formula gets all
    q, counts = cases.uniform(0.0, 1.0, (60, 4)), cases.integers(1, 12, (60, 4))
    check.expect(
        "60 runs of 4 arms, t = 30, c = 0.7: the exact scores decide",
        """Each run picks argmax_a Q(a) + c sqrt(ln t / N(a)), with np.log (the natural log), the
        square root over ln t / N(a) and c outside it; the estimates are close, so a wrong
        bonus picks another arm in some runs.""",
        "chosen arms",
        lambda: f(q.copy(), counts.copy(), 30, 0.7, rng),
        np.argmax(q + 0.7 * np.sqrt(np.log(30) / counts), axis=1),
    )
    q = np.array([[0.2, 0.9, 0.1], [0.7, 0.0, 0.3]])
    check.expect(
        "c = 0 is greedy, one arm per run",
        "With c = 0 the bonus vanishes: each run (row) picks its largest Q; the result has shape (runs,).",
        "chosen arms",
        lambda: f(q, np.full((2, 3), 5), 15, 0.0, rng),
        [1, 0],
    )
    with check.case(
        "ties are broken at random",
        "np.argmax always returns the first of tied arms; use argmax_random_ties(q + bonus, rng).",
    ):
        picks = {
            int(f(np.array([[1.0, 1.0]]), np.array([[2, 2]]), 4, 1.0, rng)[0]) for _ in range(50)
        }
        check.true(
            "both tied arms get picked over 50 calls", picks == {0, 1}, f"picked only {picks}"
        )


@exercise("the incremental average")
def grade_update_estimates(f, check: Checker) -> None:
    """Sample averages over two pulls, then a constant step size.

    Todo:
        count each pull, then move Q(a) towards the reward by 1/N(a) or by step_size.
    """
    with check.case(
        "two pulls in each of two runs, sample averages",
        """Count the pull first (N <- N + 1), then Q <- Q + (R - Q) / N, for arm actions[i] of run
        i, in place: the function returns nothing.""",
    ):
        q, counts = np.zeros((2, 3)), np.zeros((2, 3), dtype=np.int64)
        f(q, counts, np.array([0, 2]), np.array([1.0, 4.0]))
        check.close("q after one pull", q, [[1.0, 0, 0], [0, 0, 4.0]])
        check.close("counts after one pull", counts, [[1, 0, 0], [0, 0, 1]])
        f(q, counts, np.array([0, 2]), np.array([3.0, 0.0]))
        # (1 + 3) / 2 = 2 and (4 + 0) / 2 = 2
        check.close("q after two pulls", q, [[2.0, 0, 0], [0, 0, 2.0]])
    with check.case(
        "constant step size 0.1",
        "With step_size = alpha the update is Q <- Q + alpha (R - Q), whatever N is; N still counts.",
    ):
        q, counts = np.array([[2.0, 0.0]]), np.array([[3, 0]])
        f(q, counts, np.array([0]), np.array([12.0]), step_size=0.1)
        # 2 + 0.1 * (12 - 2) = 3
        check.close("q", q, [[3.0, 0.0]])
        check.close("counts", counts, [[4, 0]])
