"""Exact Pareto fronts of SYM with odd nu, checked against the conjecture.

Run: ``python benchmarks/sym_odd_fronts.py [SECONDS] [NU ...]`` (default 600 s
per nu, nu = 3 and 5).  For every order the leading-only enumeration finishes
within the budget, prints its time and whether its Pareto terms (exponents,
and the coefficient at A) agree with
``feynflow.asymptotics.conjectured_front``, then the vertex table.
"""

import sys
import time

from feynflow import loss_coefficients
from feynflow.asymptotics import compare_with_conjecture, pareto_terms
from feynflow.errors import TimeLimitError


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    nus = [int(x) for x in sys.argv[2:]] or [3, 5]
    for nu in nus:
        start = time.perf_counter()
        # Each order is recomputed from scratch, so the cumulative time is
        # about the sum over orders; the last order dominates it.
        coefficients = []
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
                break
            elapsed = time.perf_counter() - start
            terms = pareto_terms(coefficients[order], nu, order)
            status = compare_with_conjecture(terms, nu, order)
            print(
                f"nu={nu} s={order}: {len(terms)} Pareto terms, conjecture "
                f"{status}, cumulative {elapsed:.1f} s",
                flush=True,
            )
        print(f"nu={nu}: highest order reached {len(coefficients) - 1}")


if __name__ == "__main__":
    main()
