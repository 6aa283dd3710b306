"""How far the exact enumeration reaches, and whether its Pareto fronts agree
with the theorem, within a time budget per scenario.

Run: ``python benchmarks/pareto_fronts.py [SECONDS]`` (default 60).  Prints
one line per scenario: the highest order finished, the time it took, and the
theorem comparison of every order reached.  The enumeration is the one
``feynflow pareto`` runs: leading-only mode, one process, identity target.
"""

import contextlib
import sys
import time

from feynflow import loss_coefficients
from feynflow.asymptotics import compare_with_theorem, pareto_terms
from feynflow.errors import TimeLimitError

SCENARIOS = [
    (2, True),
    (4, True),
    (6, True),
    (3, True),
    (2, False),
    (3, False),
    (4, False),
    (5, False),
]


def reach(nu: int, symmetric: bool, budget: float) -> tuple[int, float, list[str]]:
    """Highest order finished within ``budget`` seconds, its time, statuses."""
    finished: list[tuple[int, float]] = []
    start = time.perf_counter()

    def progress(s: int, order: int) -> None:
        finished.append((s, time.perf_counter() - start))

    with contextlib.suppress(TimeLimitError):
        loss_coefficients(
            nu,
            200,
            symmetric=symmetric,
            leading=True,
            time_limit=budget,
            progress=progress,
        )
    top = finished[-1][0]
    coefficients = loss_coefficients(nu, top, symmetric=symmetric, leading=True)
    statuses = [
        compare_with_theorem(pareto_terms(y, nu, s), nu, s, symmetric).status
        for s, y in enumerate(coefficients)
    ]
    return top, finished[-1][1], statuses


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    print(f"budget {budget:g} s per scenario")
    print("scenario  nu  highest order  seconds  theorem")
    for nu, symmetric in SCENARIOS:
        top, seconds, statuses = reach(nu, symmetric, budget)
        summary = ", ".join(sorted(set(statuses)))
        name = "SYM " if symmetric else "ASYM"
        print(f"{name:8}  {nu:2}  {top:13}  {seconds:7.1f}  {summary}")


if __name__ == "__main__":
    main()
