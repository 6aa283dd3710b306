"""How far exact enumeration of the loss coefficients gets in a fixed time.

Run ``python benchmarks/bench_enumeration.py`` (about ten to fifteen minutes)
or ``python benchmarks/bench_enumeration.py --quick`` (10 s per case).  Each
case runs ``loss_coefficients`` with a time limit in a fresh interpreter, so
that no memoised average from another case helps it, and records the highest
order completed within the budget, the time of every order and the peak
resident memory of the process.  The speed-up over the plain reference
enumeration (`feynflow.reference`) is measured with both in one process, the
fast engine's memo cleared before every timed run:

* at ASYM ``nu = 4``, order 2;
* per case, at the highest order the reference completes within its budget.

Results are printed as markdown tables.  ``--cases`` picks cases by name
(``sym2``, ``asym4``, ``sym2-leading``, ...); ``--list`` shows the names.
``--jobs N`` gives every case a pool of ``N`` worker processes (the
``executor=`` of `feynflow.loss_coefficients`); its peak memory is then that
of the largest process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field

# (name, nu, symmetric, leading, order asked for, floor, goal): the floors and
# goals are the orders to reach within 60 s; goal None means none was set.
CASES = [
    ("sym2", 2, True, False, 60, 30, 40),
    ("asym2", 2, False, False, 30, 12, 14),
    ("sym3", 3, True, False, 15, 6, 7),
    ("asym3", 3, False, False, 15, 6, 7),
    ("sym4", 4, True, False, 12, 5, 6),
    ("asym4", 4, False, False, 12, 4, 6),
    ("sym2-leading", 2, True, True, 200, 40, None),
    ("asym3-leading", 3, False, True, 25, 10, None),
    ("sym4-leading", 4, True, True, 200, 10, None),
]

# Seconds a child may run past its time limit before it is killed; an order
# finished after the budget does not count anyway.
GRACE = 10.0

_ENUMERATION_CHILD = """
import json, resource, sys, time
from feynflow import loss_coefficients
from feynflow.errors import TimeLimitError

nu, symmetric, leading, order, budget, jobs = json.loads(sys.argv[1])
start = last = time.perf_counter()
pool = None
if jobs > 1:
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(jobs)


def progress(s, order):
    global last
    now = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if pool is not None:
        # The largest worker (live workers are not counted by RUSAGE_CHILDREN).
        for process in list(pool._processes.values()):
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        rss = max(rss, int(line.split()[1]))
    record = {"order": s, "elapsed": now - start, "order_time": now - last}
    print(json.dumps(dict(record, maxrss_kb=rss)), flush=True)
    last = now


try:
    loss_coefficients(
        nu, order, symmetric=symmetric, leading=leading,
        time_limit=budget, progress=progress, executor=pool,
    )
    print(json.dumps({"stopped": "done"}), flush=True)
except TimeLimitError:
    print(json.dumps({"stopped": "time limit"}), flush=True)
finally:
    if pool is not None:
        for process in list(pool._processes.values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
"""

_SPEEDUP_CHILD = """
import json, signal, sys, time
from feynflow import loss_coefficients
from feynflow.reference import reference_loss_coefficients
from feynflow.wick import clear_wick_cache

nu, symmetric, order, budget, repeats = json.loads(sys.argv[1])


class OutOfTime(Exception):
    pass


def alarm(signum, frame):
    raise OutOfTime


# Reference: the given order, or the highest one it completes within the
# budget.  A single diagram's pairings can outlast any time check inside the
# reference, so an alarm signal interrupts it.
reached = {}
reference = None
start = time.perf_counter()


def progress(s, _):
    reached[s] = time.perf_counter() - start


if order is None:
    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        reference_loss_coefficients(nu, 1000, symmetric, progress=progress)
    except OutOfTime:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
else:
    reference = reference_loss_coefficients(nu, order, symmetric, progress=progress)
if not reached:
    print(json.dumps({"reference_order": None}))
    sys.exit(0)
top = max(reached)

# Warm the imports and nauty once, then time the fast engine from a cleared
# memo at the same order.
loss_coefficients(nu, 0, symmetric=symmetric)
times = []
for _ in range(repeats):
    clear_wick_cache()
    begin = time.perf_counter()
    fast = loss_coefficients(nu, top, symmetric=symmetric)
    times.append(time.perf_counter() - begin)
print(json.dumps({
    "reference_order": top,
    "reference_time": reached[top],
    "fast_times": times,
    "equal": None if reference is None else reference == fast,
}))
"""


@dataclass
class Run:
    """What one time-limited child run reported."""

    orders: list[dict] = field(default_factory=list)
    stopped: str = "killed"
    peak_kb: int = 0
    budget: float = 0.0

    def reached(self) -> dict | None:
        """The last order completed within the budget, if any."""
        inside = [o for o in self.orders if o["elapsed"] <= self.budget]
        return inside[-1] if inside else None


def _fresh_env() -> dict[str, str]:
    # A private, empty coefficient cache: nothing computed earlier is reused.
    env = dict(os.environ)
    env["FEYNFLOW_CACHE"] = os.path.join(
        tempfile.mkdtemp(prefix="feynflow-bench-"), "coefficients.sqlite"
    )
    return env


def run_enumeration(
    nu: int, symmetric: bool, leading: bool, order: int, budget, jobs: int = 1
):
    """Run one case in a fresh interpreter and collect its progress records."""
    run = Run(budget=budget)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _ENUMERATION_CHILD,
            json.dumps([nu, symmetric, leading, order, budget, jobs]),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=_fresh_env(),
    )

    def read() -> None:
        for line in child.stdout:
            record = json.loads(line)
            if "stopped" in record:
                run.stopped = record["stopped"]
            else:
                run.orders.append(record)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(budget + GRACE)
    if reader.is_alive():
        child.kill()
        reader.join()
    # wait4 gives this child's own resource usage, even after a kill.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    run.peak_kb = usage.ru_maxrss
    return run


def run_speedup(nu: int, symmetric: bool, order: int | None, budget: float):
    """Reference and fast engine timed in one fresh interpreter."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _SPEEDUP_CHILD,
            json.dumps([nu, symmetric, order, budget, 5]),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=_fresh_env(),
        timeout=3 * budget + 600,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _load() -> str:
    # Other processes on the machine slow every case down; say how busy it was.
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def _name(nu: int, symmetric: bool) -> str:
    return f"{'SYM' if symmetric else 'ASYM'} `nu = {nu}`"


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value >= 0.01 else f"{value * 1000:.2g} ms"


def _memory(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def print_enumeration_table(results, budget: float, leading: bool) -> None:
    title = "Leading-only mode" if leading else "Full enumeration"
    print(f"\n### {title}, identity target, {budget:g} s per case\n")
    print(
        f"| case | order reached in {budget:g} s | floor | goal | "
        "time of that order (cumulative) | peak memory |"
    )
    print("|---|---|---|---|---|---|")
    for case, run in results:
        _, nu, symmetric, _, _, floor, goal = case
        last = run.reached()
        reached = "none" if last is None else str(last["order"])
        when = (
            "-"
            if last is None
            else f"{_seconds(last['order_time'])} ({_seconds(last['elapsed'])})"
        )
        print(
            f"| {_name(nu, symmetric)} | {reached} | {floor} | {goal or '-'} | "
            f"{when} | {_memory(run.peak_kb)} |"
        )
    print()
    for case, run in results:
        times = ", ".join(
            f"{o['order']}: {_seconds(o['order_time'])}" for o in run.orders
        )
        floor = case[5]
        at_floor = [o for o in run.orders if o["order"] == floor]
        when = (
            f"order {floor} done at {_seconds(at_floor[0]['elapsed'])}"
            if at_floor
            else f"order {floor} not done"
        )
        print(f"* {case[0]} ({run.stopped}; {when}), seconds per order: {times}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s per case")
    parser.add_argument(
        "--cases", help="comma-separated case names (default: all); see --list"
    )
    parser.add_argument("--list", action="store_true", help="list case names")
    parser.add_argument(
        "--reference-budget",
        type=float,
        help="seconds for the reference per case (default 30, 10 with --quick)",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the speed-up measurements"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes per case (default 1: the enumeration in one process)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: need at least 1")
    if args.list:
        print("\n".join(case[0] for case in CASES))
        return
    names = [case[0] for case in CASES]
    wanted = names if not args.cases else args.cases.split(",")
    unknown = [name for name in wanted if name not in names]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; known: {', '.join(names)}")
    budget = 10.0 if args.quick else 60.0
    reference_budget = args.reference_budget or (10.0 if args.quick else 30.0)
    selected = [case for case in CASES if case[0] in wanted]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {_load()}")
    if args.jobs > 1:
        print(f"{args.jobs} worker processes per case; peak memory of the largest")

    results = []
    for case in selected:
        _, nu, symmetric, leading, order, _, _ = case
        run = run_enumeration(nu, symmetric, leading, order, budget, args.jobs)
        results.append((case, run))
        last = run.reached()
        print(
            f"{case[0]}: order {None if last is None else last['order']}, "
            f"peak {_memory(run.peak_kb)}",
            file=sys.stderr,
            flush=True,
        )
    for leading in (False, True):
        chosen = [(c, r) for c, r in results if c[3] == leading]
        if chosen:
            print_enumeration_table(chosen, budget, leading)

    if args.no_reference:
        print(f"\nafter the runs: {_load()}")
        return
    print("\n### Speed-up over the plain reference enumeration\n")
    print(
        "Both in one process; fast engine: median of 5 runs, memo cleared; "
        "equal: exact agreement, checked here at the fixed order (the tests "
        "check the others).\n"
    )
    print("| case | order | reference | fast engine | speed-up | equal |")
    print("|---|---|---|---|---|---|")
    rows = [(4, False, 2)] + [(c[1], c[2], None) for c in selected if not c[3]]
    for nu, symmetric, order in rows:
        result = run_speedup(nu, symmetric, order, reference_budget)
        if result["reference_order"] is None:
            print(f"| {_name(nu, symmetric)} | none | - | - | - | - |")
            continue
        fast = statistics.median(result["fast_times"])
        label = (
            "(fixed order)"
            if order is not None
            else f"(highest within {reference_budget:g} s)"
        )
        print(
            f"| {_name(nu, symmetric)} {label} | {result['reference_order']} | "
            f"{_seconds(result['reference_time'])} | {_seconds(fast)} | "
            f"{result['reference_time'] / fast:.0f}x | "
            f"{'-' if result['equal'] is None else result['equal']} |",
            flush=True,
        )

    print(f"\nafter the runs: {_load()}")


if __name__ == "__main__":
    main()
