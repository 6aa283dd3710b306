"""Time exact loss coefficients for the core speed floor.

Run ``python benchmarks/bench_core.py``.  Each case runs in a fresh process so
that no memoised average from another case helps it.
"""

from __future__ import annotations

import json
import subprocess
import sys

CASES = [
    # (nu, symmetric, order, floor in seconds)
    (2, True, 4, 10.0),
    (3, False, 3, 10.0),
]

_CHILD = """
import json, sys, time
from feynflow import loss_coefficients
nu, symmetric, order = json.loads(sys.argv[1])
start = time.perf_counter()
loss_coefficients(nu, order, symmetric=symmetric)
print(time.perf_counter() - start)
"""


def time_case(nu: int, symmetric: bool, order: int) -> float:
    """Seconds for ``loss_coefficients(nu, order)`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([nu, symmetric, order])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out)


def main() -> None:
    print("| case | order | seconds | floor |")
    print("|---|---|---|---|")
    for nu, symmetric, order, floor in CASES:
        seconds = time_case(nu, symmetric, order)
        name = f"{'SYM' if symmetric else 'ASYM'} nu = {nu}"
        print(f"| {name} | {order} | {seconds:.2f} | < {floor:g} |")


if __name__ == "__main__":
    main()
