"""Wall-clock times of the derivations of closed forms and of the ascent curve.

Run ``python benchmarks/bench_solutions.py [--free-orders K ...] [--cache PATH]``;
prints one line per derivation with the orders enumerated, whether the series
check agreed, and the time taken (enumeration included).

The free cases (points A and B of ASYM ``nu = 3, 4``, point A of SYM
``nu = 3``, and SYM ``nu = 4``) are derived at each order ``K`` given (default
4 and 6).  Every derivation starts from empty tables of intermediate averages,
so its time is that of a fresh process.  ``--skip-free-asym4`` leaves out
ASYM ``nu = 4``, whose order 6 takes a few minutes per point.
"""

from __future__ import annotations

import argparse
import time

from feynflow.solutions import derive, predict_ascent
from feynflow.wick import clear_wick_cache


def timed(label: str, function) -> None:
    clear_wick_cache()
    start = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - start
    check = getattr(result, "series_check", None)
    detail = f"orders 0..{check.orders}, agrees={check.agrees}" if check else ""
    print(f"{label:<42} {elapsed:8.2f} s  {detail}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--free-orders", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--max-nu2-order", type=int, default=20)
    parser.add_argument("--cache", help="coefficient cache shared by derivations")
    parser.add_argument("--skip-free-asym4", action="store_true")
    args = parser.parse_args()
    free_cases = [
        ("free-under", 3, False),
        ("free-over", 3, False),
        ("free-under", 3, True),
        ("free-under", 4, False),
        ("free-over", 4, False),
        ("free-under", 4, True),
        ("free-over", 4, True),
        ("free-general", 4, True),
    ]
    if args.skip_free_asym4:
        free_cases = [c for c in free_cases if c[1:] != (4, False)]
    for order in args.free_orders:
        for case, nu, symmetric in free_cases:
            scenario = "sym" if symmetric else "asym"
            timed(
                f"{case} nu={nu} {scenario} order {order}",
                lambda case=case, nu=nu, symmetric=symmetric, order=order: derive(
                    case, nu=nu, symmetric=symmetric, order=order, cache=args.cache
                ),
            )
    for order in (8, 12, 16, args.max_nu2_order):
        timed(
            f"nu2 order {order}",
            lambda order=order: derive("nu2", nu=2, symmetric=True, order=order),
        )
    timed("ntk nu=3 asym order 4", lambda: derive("ntk", nu=3, symmetric=False))
    timed("ascent curve p=64 H=64 sigma=0.06", lambda: predict_ascent(64, 64, 0.06))


if __name__ == "__main__":
    main()
