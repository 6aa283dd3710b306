"""Measure the persistent coefficient cache: lookups, writes, concurrent writers.

Run ``python benchmarks/bench_cache.py``.  Everything happens in a temporary
directory; the user's cache is not touched.  The stored values are realistic:
lists of polynomials in ``p, H, sigma`` with many terms and large rational
coefficients, in the form :func:`feynflow.cache.encode_coefficients` writes.
"""

from __future__ import annotations

import pathlib
import random
import subprocess
import sys
import tempfile
import time

import sympy

from feynflow.cache import CoefficientCache, decode_coefficients, encode_coefficients
from feynflow.symbols import H, p, sigma

ENTRIES = 2000
WRITERS = 2
PER_WRITER = 1000

_WRITER = """
import sys
from feynflow.cache import CoefficientCache
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with CoefficientCache(path) as cache:
    for n in range(count):
        cache.put({"writer": name, "n": n}, ["x" * 2000, n])
"""


def sample_coefficients(order: int, terms: int, seed: int) -> list[sympy.Poly]:
    """``order + 1`` polynomials of ``terms`` terms with 30-digit coefficients."""
    rng = random.Random(seed)
    polys = []
    for _ in range(order + 1):
        coefficients = {
            (rng.randrange(12), rng.randrange(12), 2 * rng.randrange(12)): (
                sympy.Rational(
                    rng.randrange(-(10**30), 10**30), rng.randrange(1, 10**6)
                )
            )
            for _ in range(terms)
        }
        polys.append(sympy.Poly.from_dict(coefficients, p, H, sigma, domain="QQ"))
    return polys


def per_call(seconds: float, calls: int) -> str:
    return f"{seconds / calls * 1e6:9.1f} us"


def main() -> None:
    folder = pathlib.Path(tempfile.mkdtemp(prefix="feynflow-bench-cache-"))
    path = folder / "coefficients.sqlite"
    value = encode_coefficients(sample_coefficients(order=6, terms=40, seed=1))
    value_bytes = len(str(value))
    print(f"value: 7 polynomials x 40 terms, about {value_bytes} bytes of JSON")

    start = time.perf_counter()
    with CoefficientCache(path) as cache:
        cache.put({"n": -1}, value)
    print(f"create file + first put: {(time.perf_counter() - start) * 1e3:.1f} ms")

    with CoefficientCache(path) as cache:
        start = time.perf_counter()
        for n in range(ENTRIES):
            cache.put({"nu": 2, "order": 6, "n": n}, value)
        print(
            f"put (one transaction each), {ENTRIES}x:",
            per_call(time.perf_counter() - start, ENTRIES),
        )

        start = time.perf_counter()
        for n in range(ENTRIES):
            assert cache.get({"nu": 2, "order": 6, "n": n}) is not None
        print(
            f"get hit (JSON only), {ENTRIES}x:    ",
            per_call(time.perf_counter() - start, ENTRIES),
        )

        start = time.perf_counter()
        for n in range(ENTRIES):
            assert cache.get({"nu": 2, "order": 7, "n": n}) is None
        print(
            f"get miss, {ENTRIES}x:               ",
            per_call(time.perf_counter() - start, ENTRIES),
        )

        calls = 200
        start = time.perf_counter()
        for n in range(calls):
            cache.get({"nu": 2, "order": 6, "n": n}, decode=decode_coefficients)
        print(
            f"get hit + decode to sympy, {calls}x:",
            per_call(time.perf_counter() - start, calls),
        )

        start = time.perf_counter()
        report = cache.info()
        print(
            f"info: {report['entries']} entries, {report['bytes']} bytes, "
            f"{(time.perf_counter() - start) * 1e3:.1f} ms"
        )

    start = time.perf_counter()
    with CoefficientCache(path) as cache:
        cache.get({"n": -1})
    print(
        f"open existing file + first get: {(time.perf_counter() - start) * 1e3:.1f} ms"
    )

    concurrent = folder / "concurrent.sqlite"
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(concurrent), f"w{i}", str(PER_WRITER)]
        )
        for i in range(WRITERS)
    ]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - start
    with CoefficientCache(concurrent) as cache:
        stored = cache.info()["entries"]
    print(
        f"{WRITERS} processes x {PER_WRITER} puts at once: {elapsed:.2f} s "
        f"(with interpreter start-up), {stored} of {WRITERS * PER_WRITER} entries "
        "present"
    )

    start = time.perf_counter()
    with CoefficientCache(path) as cache:
        removed = cache.clear()
    print(f"clear: {removed} entries in {(time.perf_counter() - start) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
