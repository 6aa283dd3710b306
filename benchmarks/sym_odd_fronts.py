"""Exact Pareto fronts of SYM with odd nu, checked against the conjecture.

Run: ``python benchmarks/sym_odd_fronts.py [SECONDS]`` (default 600 s per
case).  Two kinds of check, each printing one line per order finished within
the budget with its cumulative time:

* whole fronts (every ``s_D``) from ``loss_coefficients(..., leading=True)``,
  for nu = 3 and 5;
* single columns ``s_D <= m`` to higher orders: a diagram's number of ``D``
  copies never decreases under merging, so the merge powers can be cut to
  diagrams with at most ``m`` copies at every step (nu = 3 with m = 1, 2;
  nu = 5 with m = 1).

Each front is compared with ``feynflow.asymptotics.conjectured_front``
(exponents, and the coefficient at A for whole fronts).
"""

import sys
import time

from feynflow import loss_coefficients
from feynflow.asymptotics import (
    compare_with_conjecture,
    conjectured_front,
    pareto_terms,
)
from feynflow.diagrams import DiagramSum, merge
from feynflow.errors import TimeLimitError
from feynflow.expansion import step_generator
from feynflow.wick import pareto_front, wick_counts


def whole_fronts(nu: int, budget: float) -> None:
    start = time.perf_counter()
    # Each order is recomputed from scratch, so the cumulative time is about
    # the sum over orders; the last order dominates it.
    for order in range(40):
        try:
            coefficients = loss_coefficients(
                nu,
                order,
                symmetric=True,
                leading=True,
                time_limit=max(budget - (time.perf_counter() - start), 1e-3),
            )
        except TimeLimitError:
            return
        terms = pareto_terms(coefficients[order], nu, order)
        status = compare_with_conjecture(terms, nu, order)
        print(
            f"nu={nu} s={order}: {len(terms)} Pareto terms, conjecture {status}, "
            f"cumulative {time.perf_counter() - start:.1f} s",
            flush=True,
        )


def columns(nu: int, most_d: int, budget: float) -> None:
    generator = step_generator(nu, True, "identity")
    power = generator
    start = time.perf_counter()
    for copies in range(1, 60):  # power = A^{*copies}, Y_s with s = copies - 1
        s = copies - 1
        if copies > 1:
            power = merge(power, generator)

        def s_D(diagram, copies=copies):
            return (diagram.n_edges - nu * copies + 2 * (copies - 1)) // nu

        power = DiagramSum({d: c for d, c in power.items() if s_D(d) <= most_d})
        found: dict[int, dict] = {}
        for diagram, coeff in power.items():
            column = found.setdefault(s_D(diagram), {})
            for key, count in wick_counts(diagram, leading=True).items():
                column[key] = column.get(key, 0) + coeff * count
        fronts = {
            column: sorted(pareto_front({k: v for k, v in c.items() if v}))
            for column, c in found.items()
        }
        got = {column: front for column, front in fronts.items() if front}
        expected: dict[int, list] = {}
        for term in conjectured_front(nu, s):
            if term.s_D <= most_d:
                expected.setdefault(term.s_D, []).append((term.q, term.n))
        expected = {column: sorted(points) for column, points in expected.items()}
        status = "agrees" if got == expected else f"disagrees: {got} vs {expected}"
        elapsed = time.perf_counter() - start
        print(
            f"nu={nu} s_D<={most_d} s={s}: conjecture {status}, "
            f"cumulative {elapsed:.1f} s",
            flush=True,
        )
        if elapsed > budget:
            return


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    for nu in (3, 5):
        whole_fronts(nu, budget)
    for nu, most_d in ((3, 1), (3, 2), (5, 1)):
        columns(nu, most_d, budget)


if __name__ == "__main__":
    main()
