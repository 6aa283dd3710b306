"""Orders reached for delta-polynomial and modular-addition targets.

Run: ``python benchmarks/bench_targets.py [SECONDS]`` (default 60).  For each
case prints the cumulative time after every order finished within the
budget, full coefficients (not leading-only).
"""

import sys
import time

from feynflow import loss_coefficients
from feynflow.errors import TimeLimitError
from feynflow.targets import modadd_coefficients
from feynflow.wick import clear_wick_cache

CASES = [
    ("identity", 3, True, None),
    ("d(1,2)", 3, True, None),
    ("d(1,2) - 1/2*d(1,2,3) + 2", 3, True, None),
    ("d(1,2) + d(3,4)", 4, False, None),
    ("modadd", 3, True, None),
    ("modadd", 3, True, 2),
    ("modadd", 3, False, None),
    ("modadd", 4, True, None),
]


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    for target, nu, symmetric, p_value in CASES:
        clear_wick_cache()
        start = time.perf_counter()
        times: list[str] = []

        def progress(s: int, order: int, times=times, start=start) -> None:
            times.append(f"s={s}: {time.perf_counter() - start:.1f}s")

        try:
            if p_value is None:
                loss_coefficients(
                    nu,
                    30,
                    symmetric=symmetric,
                    target=target,
                    time_limit=budget,
                    progress=progress,
                )
            else:
                modadd_coefficients(
                    nu,
                    30,
                    symmetric,
                    p_value=p_value,
                    time_limit=budget,
                    progress=progress,
                )
        except TimeLimitError:
            pass
        scenario = "SYM" if symmetric else "ASYM"
        at = "" if p_value is None else f" at p={p_value}"
        print(f"{target!r} nu={nu} {scenario}{at}: " + ", ".join(times), flush=True)


if __name__ == "__main__":
    main()
