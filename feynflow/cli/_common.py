"""Arguments and output helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import re
import signal
import sys
import time
from fractions import Fraction

from feynflow.errors import TimeLimitError

__all__ = [
    "add_scenario_arguments",
    "positive_int",
    "nonnegative_int",
    "fraction",
    "scenario_name",
    "print_json",
    "show_progress",
    "order_progress",
    "poly_terms",
    "add_time_limit_argument",
    "positive_float",
    "writing_clock",
    "memory_ceiling",
    "nu_argument",
    "jobs_argument",
    "worker_pool",
    "stop_pool",
]


def _integer_at_least(text: str, minimum: int, name: str = "") -> int:
    """Parse an integer ``>= minimum`` for argparse; ``name`` prefixes errors."""
    label = f"{name}=" if name else ""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{label}{text!r} is not an integer; an integer >= {minimum} is required"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(
            f"{label}{value} is not allowed; must be >= {minimum}"
        )
    return value


def positive_int(text: str) -> int:
    """Parse an integer >= 1 for argparse."""
    return _integer_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """Parse an integer >= 0 for argparse."""
    return _integer_at_least(text, 0)


def fraction(text: str) -> Fraction:
    """Parse an exact rational such as ``3``, ``-1/2`` or ``0.25``."""
    # Exponents such as 1e-99999 would build numbers of 100000 digits.
    if len(text) > 40 or re.search(r"[eE][+-]?\d{3,}", text):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is too long or too large; use a fraction like -1/2 "
            "with at most 40 characters"
        )
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rational number; use an integer or a fraction like -1/2"
        ) from None


def accept_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let arguments such as ``-1/2``, ``-.5`` or ``-inf`` be values, not options.

    argparse takes only plain negative numbers for values; the rest would
    end in "expected 3 arguments" instead of a message about the value.
    """
    parser._negative_number_matcher = re.compile(r"^-(?:[\d.]|(?i:inf|nan))")


def nu_argument(text: str) -> int:
    """Parse the tensor order ``nu`` (an integer from 2 to `MAX_NU`)."""
    from feynflow.diagrams import MAX_NU

    value = _integer_at_least(text, 2, name="nu")
    if value > MAX_NU:
        raise argparse.ArgumentTypeError(
            f"nu={value} is not allowed; nu must be between 2 and {MAX_NU}"
        )
    return value


#: Most local worker processes ``--jobs`` accepts.
MAX_JOBS = 4 * (os.cpu_count() or 1)


def jobs_argument(text: str) -> int:
    """Parse ``--jobs``: an integer from 1 to `MAX_JOBS` (four per core)."""
    value = _integer_at_least(text, 1)
    if value > MAX_JOBS:
        raise argparse.ArgumentTypeError(
            f"{value} is not allowed; use 1 to {MAX_JOBS} (four per core)"
        )
    return value


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The pool was started with Ctrl-C blocked (see `worker_pool`); a Ctrl-C
    # that came meanwhile is dropped here, now that it is ignored.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def worker_pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
    """Local worker processes that leave Ctrl-C to the main process.

    Ctrl-C reaches every process of the terminal's process group.  The
    workers are started at once, with Ctrl-C blocked while they fork, so
    that none receives it before it ignores it (a KeyboardInterrupt in a
    fork hook is printed and lost), and so that `stop_pool` knows them all.
    """
    pool = concurrent.futures.ProcessPoolExecutor(jobs, initializer=_ignore_interrupts)
    try:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pool.submit(int).result()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    except BaseException:
        # Ctrl-C may still arrive (through another thread) while the workers
        # start: they must not outlive the command.
        stop_pool(pool)
        raise
    return pool


#: Seconds `stop_pool` waits for a pool's reader thread to end.
READER_WAIT = 5.0
#: Pools whose result reader could not be stopped (see `stop_pool`).
stuck_pools: list[concurrent.futures.ProcessPoolExecutor] = []


def stop_pool(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Shut a pool down at once, ending tasks still running (after Ctrl-C).

    A worker ended while it was sending a result leaves the pool's reader
    thread waiting for the rest of the message for ever, and the interpreter
    waits for that thread at exit; such a pool is recorded in `stuck_pools`
    so that the command line can exit without waiting.
    """
    processes = list(getattr(pool, "_processes", {}).values())
    reader = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
    if reader is not None:
        reader.join(timeout=READER_WAIT)
        if reader.is_alive():
            stuck_pools.append(pool)


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--nu N`` and the required choice ``--sym`` / ``--asym``."""
    parser.add_argument(
        "--nu", type=nu_argument, required=True, help="tensor order (>= 2)"
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--sym",
        dest="symmetric",
        action="store_true",
        help="symmetric scenario: one weight matrix for every colour",
    )
    group.add_argument(
        "--asym",
        dest="symmetric",
        action="store_false",
        help="asymmetric scenario: nu independent weight matrices",
    )


def scenario_name(symmetric: bool) -> str:
    """Return ``"sym"`` or ``"asym"``."""
    return "sym" if symmetric else "asym"


def print_json(data: object) -> None:
    """Print ``data`` as JSON on stdout."""
    json.dump(data, sys.stdout, indent=None)
    sys.stdout.write("\n")


@contextlib.contextmanager
def order_progress(total: int, desc: str = "orders"):
    """A progress callback ``(s, order)`` for a terminal, else None.

    The bar counts finished orders on stderr and only when it is a terminal;
    it is closed however the block ends.
    """
    if not show_progress():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="order", leave=False)
    try:
        yield lambda s, order: bar.update(1)
    finally:
        bar.close()


def show_progress() -> bool:
    """Whether a progress bar belongs on stderr (only on a terminal)."""
    return sys.stderr.isatty()


def poly_terms(poly) -> list[dict]:
    """JSON terms of a polynomial in ``(p, H, sigma)``.

    One dict per monomial ``coeff * p^p * H^H * sigma^sigma``, ``coeff`` an
    exact rational written as a string; zero terms are omitted.
    """
    terms = []
    for (q, n, power), coeff in poly.terms():
        if coeff != 0:
            terms.append({"p": q, "H": n, "sigma": power, "coeff": str(coeff)})
    return terms


def add_time_limit_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--time-limit SECONDS`` (stop with exit status 3 when exceeded)."""
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly (exit status 3) after this many seconds",
    )


def writing_clock(time_limit: float | None):
    """A check that ``--time-limit``, counted from now, still holds.

    Commands call it while they turn a finished computation into text, which
    for hundreds of orders takes as long as the computation: the limit
    covers the whole command, not only the enumeration.
    """
    end = None if time_limit is None else time.monotonic() + time_limit

    def check() -> None:
        if end is not None and time.monotonic() > end:
            raise TimeLimitError(
                f"time limit of {time_limit:g} s reached while writing the result"
            )

    return check


def _proc_bytes(path: str, field: str) -> int | None:
    """The ``field:`` line of a ``/proc`` file (in kB there), in bytes."""
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _available_memory() -> int | None:
    """Bytes of memory the kernel could give now (Linux), else None."""
    return _proc_bytes("/proc/meminfo", "MemAvailable")


def _address_space() -> int | None:
    """Bytes of address space this process uses now (Linux), else None."""
    return _proc_bytes("/proc/self/status", "VmSize")


@contextlib.contextmanager
def memory_ceiling():
    """Turn running out of memory into `MemoryError`, not a kill by the kernel.

    While the block runs, this process (and every worker it starts) may map
    no more than it uses now plus what the kernel reports available, so an
    order too large for the machine ends with a one-line error.  Nothing is
    changed where that cannot be measured (no ``/proc``) or where a lower
    limit is already set.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    available, used = _available_memory(), _address_space()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = None if available is None or used is None else used + available
    if ceiling is not None and hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if ceiling is None or (soft != resource.RLIM_INFINITY and soft <= ceiling):
        yield
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def positive_float(text: str) -> float:
    """Parse a finite number > 0 for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; a positive number is required"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text} is not allowed; must be a finite number > 0"
        )
    return value


def checked_target(text: str, nu: int):
    """`feynflow.expansion.check_target` for the ``--target`` option.

    Errors name the option: ``--target 'd(1,9)': position 9 ...``.
    """
    from feynflow.errors import ParameterError
    from feynflow.expansion import check_target

    try:
        return check_target(text, nu)
    except ParameterError as exc:
        message = str(exc)
        if message.startswith("target="):
            message = "--target " + message[len("target=") :]
        raise ParameterError(message) from None


def check_plot_path(path: str | None) -> None:
    """Refuse a ``--plot`` path that cannot name an image file, before any work."""
    from feynflow.errors import ParameterError

    if path is None:
        return
    if os.path.isdir(path):
        raise ParameterError(
            f"--plot {path!r} is a directory; give a file name such as "
            f"{os.path.join(path, 'polygon.png')!r}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ParameterError(f"--plot {path!r}: folder {folder!r} does not exist")
