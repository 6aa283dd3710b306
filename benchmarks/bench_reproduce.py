"""Wall time of ``feynflow reproduce --quick`` with a cold and a warm cache.

Runs the command twice in fresh processes against a new, empty cache file
(``FEYNFLOW_CACHE``): the first run computes everything, the second finds the
coefficients, derivations, simulations and theory curves in the cache.
Prints both times, their ratio, and the per-stage seconds of each run.

Usage: ``python benchmarks/bench_reproduce.py [--full] [--jobs N]``
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time


def run_once(folder: pathlib.Path, name: str, extra: list[str], env: dict) -> dict:
    out = folder / name
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "feynflow", "reproduce", "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    return {
        "seconds": seconds,
        "exit": completed.returncode,
        "stages": summary.get("stage_seconds", {}),
        "statuses": [c["status"] for c in summary["claims"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full run")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    extra = [] if args.full else ["--quick"]
    extra += ["--jobs", str(args.jobs)]
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        env = dict(os.environ, FEYNFLOW_CACHE=str(folder / "cache.sqlite"))
        cold = run_once(folder, "cold", extra, env)
        warm = run_once(folder, "warm", extra, env)
    print(f"reproduce {' '.join(extra)} on {os.cpu_count()} cores")
    print("| run | seconds | exit status |")
    print("|---|---|---|")
    print(f"| cold cache | {cold['seconds']:.1f} | {cold['exit']} |")
    print(f"| warm cache | {warm['seconds']:.1f} | {warm['exit']} |")
    print(f"speed-up: {cold['seconds'] / warm['seconds']:.1f}x")
    print("stages (cold):", cold["stages"])
    print("stages (warm):", warm["stages"])
    print("same statuses:", cold["statuses"] == warm["statuses"])


if __name__ == "__main__":
    main()
