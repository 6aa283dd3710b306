"""Speed of the gradient-flow simulator (feynflow.simulation).

Measures, and prints as a markdown table:

* SYM nu = 2, p = 512, H = 1024, 2000 Euler steps, one seed (goal: < 60 s);
* SYM nu = 4, p = 64, H = 1024, 1000 Euler steps, one seed (goal: < 60 s);
* time per step, Gram matrices (a run of ``simulate``) against one
  loss-and-gradient evaluation of the dense ``p^nu`` reference, SYM nu = 4,
  p = 24, H = 576 (goal: >= 20x faster).

Run with ``python benchmarks/bench_simulation.py``; ``--quick`` runs a tenth of
the steps and extrapolates.  Timings depend on the BLAS threads available: on
a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` is often faster,
and the CPU time of the process is a better measure than the wall clock.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from feynflow.simulation import dense_loss_and_gradient, initial_weights, simulate


def time_run(
    nu: int, p: int, H: int, steps: int, sigma: float, T: float
) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one seed of ``steps`` Euler steps."""
    start, start_cpu = time.perf_counter(), time.process_time()
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
    elapsed = time.perf_counter() - start, time.process_time() - start_cpu
    assert np.all(np.isfinite(result.loss_mean)), "the benchmark run diverged"
    return elapsed


def time_evaluation(function, weights, repeats: int) -> tuple[float, float]:
    """Best-of-three mean wall-clock and CPU seconds of ``function(weights)``."""
    function(weights)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            function(weights)
        best = min(best, (time.perf_counter() - start) / repeats)
        best_cpu = min(best_cpu, (time.process_time() - start_cpu) / repeats)
    return best, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the steps, extrapolated"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}, "
        f"numpy {np.__version__}, OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print("# CPU time is the time used by this process (all its threads).")
    print()
    print("| run | steps | wall (s) | CPU (s) | goal (s) |")
    print("|---|---|---|---|---|")

    # Natural scales of the runs (not essential for speed): sigma^2 = 1/p and
    # T = 1 for nu = 2; a slowly moving flow for nu = 4.
    steps = 2000 // scale
    wall, cpu = time_run(2, 512, 1024, steps, sigma=(1 / 512) ** 0.5, T=1.0)
    print(
        f"| SYM nu=2, p=512, H=1024, Euler | 2000 | {wall * scale:.1f} "
        f"| {cpu * scale:.1f} | < 60 |"
    )
    steps = 1000 // scale
    wall, cpu = time_run(4, 64, 1024, steps, sigma=0.05, T=1.0)
    print(
        f"| SYM nu=4, p=64, H=1024, Euler | 1000 | {wall * scale:.1f} "
        f"| {cpu * scale:.1f} | < 60 |"
    )

    # Per step of the flow: a whole Euler run divided by its steps, against
    # one dense loss-and-gradient evaluation (a dense step costs at least that).
    steps = 200
    gram = [value / (steps + 1) for value in time_run(4, 24, 576, steps, 0.1, 1.0)]
    weights = initial_weights(4, True, 24, 576, 0.1, seed=0)
    dense = time_evaluation(lambda w: dense_loss_and_gradient(w, 4, True), weights, 2)
    print()
    print("| SYM nu=4, p=24, H=576, per step | wall (s) | CPU (s) |")
    print("|---|---|---|")
    print(f"| Gram matrices (simulate) | {gram[0]:.4f} | {gram[1]:.4f} |")
    print(f"| dense p^nu reference | {dense[0]:.4f} | {dense[1]:.4f} |")
    print(
        f"| speed-up (goal >= 20) | {dense[0] / gram[0]:.0f}x "
        f"| {dense[1] / gram[1]:.0f}x |"
    )


if __name__ == "__main__":
    main()
