"""Speed of the gradient-flow simulator (feynflow.simulation).

Measures, and prints as a markdown table:

* SYM nu = 2, p = 512, H = 1024, 2000 Euler steps, one seed (goal: < 60 s);
* SYM nu = 4, p = 64, H = 1024, 1000 Euler steps, one seed (goal: < 60 s);
* time per step, Gram matrices (a run of ``simulate``) against one
  loss-and-gradient evaluation of the dense ``p^nu`` reference, SYM nu = 4,
  p = 24, H = 576 (goal: >= 20x faster).

Run with ``python benchmarks/bench_simulation.py``; ``--quick`` runs a tenth of
the steps and extrapolates.  Timings depend on the BLAS threads available: on
a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` is often faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from feynflow.simulation import dense_loss_and_gradient, initial_weights, simulate


def time_run(nu: int, p: int, H: int, steps: int, sigma: float, T: float) -> float:
    """Wall-clock seconds of one seed of ``steps`` Euler steps."""
    start = time.perf_counter()
    result = simulate(
        nu=nu,
        symmetric=True,
        p=p,
        H=H,
        sigma=sigma,
        T=T,
        t_max=steps * 1e-3,
        steps=steps,
        seeds=1,
    )
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(result.loss_mean)), "the benchmark run diverged"
    return elapsed


def time_evaluation(function, weights, repeats: int) -> float:
    """Best-of-three mean seconds of ``function(weights)``."""
    function(weights)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            function(weights)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the steps, extrapolated"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"numpy {np.__version__}, OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print()
    print("| run | steps | time (s) | goal |")
    print("|---|---|---|---|")

    # Natural scales of the runs (not essential for speed): sigma^2 = 1/p and
    # T = 1 for nu = 2; E[L(0)] of order 1 for nu = 4.
    steps = 2000 // scale
    elapsed = time_run(2, 512, 1024, steps, sigma=(1 / 512) ** 0.5, T=1.0) * scale
    print(f"| SYM nu=2, p=512, H=1024, Euler | 2000 | {elapsed:.1f} | < 60 |")

    steps = 1000 // scale
    elapsed = time_run(4, 64, 1024, steps, sigma=0.05, T=1.0) * scale
    print(f"| SYM nu=4, p=64, H=1024, Euler | 1000 | {elapsed:.1f} | < 60 |")

    # Per step of the flow: a whole Euler run divided by its steps, against
    # one dense loss-and-gradient evaluation (a dense step costs at least that).
    steps = 200
    gram = time_run(4, 24, 576, steps, sigma=0.1, T=1.0) / (steps + 1)
    weights = initial_weights(4, True, 24, 576, 0.1, seed=0)
    dense = time_evaluation(lambda w: dense_loss_and_gradient(w, 4, True), weights, 2)
    print()
    print("| SYM nu=4, p=24, H=576 | seconds per step |")
    print("|---|---|")
    print(f"| Gram matrices (simulate) | {gram:.4f} |")
    print(f"| dense p^nu reference | {dense:.4f} |")
    print(f"| speed-up (goal >= 20) | {dense / gram:.0f}x |")


if __name__ == "__main__":
    main()
