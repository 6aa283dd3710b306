"""Exact coefficients ``Y_s`` of the time expansion of the expected loss.

With ``A = 1/2 D_{2nu} - R_nu`` (identity target) or ``A = 1/2 D_{2nu}`` (zero
target) and left-nested merge powers ``A^{*(s+1)} = A^{*s} * A``,

    Y_s = T^s E[d^s L/dt^s (0)] = (-1)^s E[A^{*(s+1)}] + [s = 0] ||F||^2 / 2,

so that ``E[L(t)] ~ sum_s Y_s (t/T)^s / s!``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import gc
import logging
import math
import numbers
import os
import sys
import time
from collections.abc import Callable
from fractions import Fraction

import sympy

from feynflow import _compiled
from feynflow.diagrams import (
    Diagram,
    DiagramSum,
    check_nu,
    d_diagram,
    merge,
    r_diagram,
)
from feynflow.errors import ParameterError, TimeLimitError
from feynflow.mergers import iter_merger_fronts, merger_fronts_applies
from feynflow.symbols import POLY_GENS
from feynflow.targets import (
    Target,
    half_norm_squared,
    modadd_coefficients,
    parse_target,
    r_diagrams,
)
from feynflow.wick import (
    _class_average,
    _contract_targets,
    _face_of,
    _graph_bound,
    _nauty_key,
    check_deadline,
    class_bound,
    deadline,
    diagram_bound,
    ph_sigma_poly,
    strictly_dominated,
    wick_counts,
    wick_graph_counts,
)

__all__ = [
    "TARGETS",
    "loss_coefficients",
    "leading_coefficients",
    "loss_diagrams",
    "step_generator",
    "check_order",
    "check_symmetric",
    "check_target",
    "pareto_optimal",
]

logger = logging.getLogger(__name__)

#: Targets understood by `loss_coefficients` by name; with ``nu`` known, any
#: text of the target syntax of `feynflow.targets` (deltas, ``modadd``) too.
TARGETS = ("identity", "zero")


def check_target(target: object, nu: int | None = None) -> str | Target:
    """Return a known target, or raise `ParameterError`.

    ``"identity"`` and ``"zero"`` are returned as they are.  With ``nu``
    given, any other text is parsed by `feynflow.targets.parse_target`; a
    target equal to the identity or zero is returned by that name, others as
    a `feynflow.targets.Target`.

    Examples
    --------
    >>> check_target("d(1,2)*d(2,3)", nu=3)
    'identity'
    >>> check_target("d(1,2)", nu=3).name
    'd(1,2)'
    """
    if isinstance(target, str) and target in TARGETS:
        return target
    if nu is None:
        raise ParameterError(
            f"target={target!r} is not known; allowed: {', '.join(TARGETS)}"
        )
    parsed = parse_target(target, nu)
    if parsed.name in TARGETS:
        return parsed.name
    return parsed


def check_symmetric(symmetric: object) -> bool:
    """Validate the scenario flag: True (SYM) or False (ASYM)."""
    if isinstance(symmetric, str) or symmetric not in (True, False):
        raise ParameterError(
            f"symmetric={symmetric!r} is not allowed; use True (SYM) or False (ASYM)"
        )
    return bool(symmetric)


def check_order(order: object) -> int:
    """Return ``order`` if it is an integer >= 0, else raise `ParameterError`."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ParameterError(
            f"order={order!r} is not an integer; order must be an integer >= 0"
        )
    if order < 0:
        raise ParameterError(f"order={order} is negative; order must be >= 0")
    return int(order)


def step_generator(nu: int, symmetric: bool = True, target: str | Target = "identity"):
    """The combination ``A`` with ``d/dt G = -(1/T) G * A`` for any diagram ``G``.

    ``A = 1/2 D_{2nu} - R_nu`` for the identity target, ``1/2 D_{2nu}`` for the
    zero target (free evolution), ``1/2 D_{2nu} - sum_j w_j R_{F_j}`` for a
    delta target ``sum_j w_j F_j`` (see `feynflow.targets.r_diagrams`).

    Examples
    --------
    >>> a = step_generator(2, symmetric=True)
    >>> sorted(a.values())
    [Fraction(-1, 1), Fraction(1, 2)]
    """
    nu = check_nu(nu)
    target = check_target(target, nu)
    half_d = Fraction(1, 2) * d_diagram(nu, symmetric)
    if target == "zero":
        return half_d
    if isinstance(target, Target):
        return half_d - r_diagrams(target, symmetric)
    return half_d - r_diagram(nu, symmetric)


def loss_diagrams(
    nu: int, s: int, symmetric: bool = True, target: str = "identity"
) -> DiagramSum:
    """The merge power ``A^{*(s+1)}``, whose average gives ``Y_s``.

    Examples
    --------
    In the symmetric ``nu = 2`` model every diagram is a cycle; ``A^{*2}``
    holds the cycles with 2, 4 and 6 edges.

    >>> sorted(d.n_edges for d in loss_diagrams(2, 1))
    [2, 4, 6]
    """
    s = check_order(s)
    power = generator = step_generator(nu, symmetric, target)
    for _ in range(s):
        power = merge(power, generator)
    return power


def pareto_optimal(keys):
    """The keys ``(q, n, 2l)`` not dominated at equal ``2l``.

    ``(q, n)`` is dominated when another key with the same ``2l`` has
    componentwise ``>=`` exponents, one of them strictly.

    Examples
    --------
    >>> sorted(pareto_optimal([(2, 1, 4), (1, 2, 4), (1, 1, 4), (0, 0, 2)]))
    [(0, 0, 2), (1, 2, 4), (2, 1, 4)]
    """
    keys = set(keys)
    return {
        (q, n, l)
        for q, n, l in keys
        if not any(
            l2 == l and q2 >= q and n2 >= n and (q2, n2) != (q, n)
            for q2, n2, l2 in keys
        )
    }


_MERGE_BATCH = 500


def _merge_chunk(
    items: list[tuple[Diagram, Fraction]], generator: DiagramSum
) -> dict[Diagram, Fraction]:
    """Merge one slice of a level with ``A`` (a task of a parallel run)."""
    merged: dict[Diagram, Fraction] = {}
    # Batches share the work of combining isomorphic mergers (see `merge`)
    # and keep time-limit checks frequent.
    for start in range(0, len(items), _MERGE_BATCH):
        batch = DiagramSum._trusted(dict(items[start : start + _MERGE_BATCH]))
        _add_into(merged, dict(merge(batch, generator).items()))
        check_deadline()
    return merged


def _average_chunk(
    items: list[tuple[Diagram, Fraction]], sign: int, leading: bool
) -> dict[tuple[int, int, int], Fraction]:
    """Signed Wick averages of one slice of a level, as exponent terms.

    In leading mode a diagram is skipped when every ``(q, n)`` it could reach
    lies strictly below monomials already found at its sigma power; every
    diagram with one sigma power carries one sign, so found monomials never
    cancel.
    """
    # Sums are kept as integer numerators per denominator (fast), and turned
    # into Fractions once at the end.
    sums: dict[tuple[int, int, int], dict[int, int]] = {}
    found: dict[int, set[tuple[int, int]]] = {}
    for diagram, coeff in items:
        if leading:
            seen = found.setdefault(diagram.n_edges, set())
            if seen and strictly_dominated(diagram_bound(diagram), seen):
                continue
        numerator, denominator = sign * coeff.numerator, coeff.denominator
        for (q, n), count in wick_counts(diagram, leading=leading).items():
            per_denominator = sums.setdefault((q, n, diagram.n_edges), {})
            per_denominator[denominator] = (
                per_denominator.get(denominator, 0) + numerator * count
            )
            if leading:
                seen.add((q, n))
    return {
        key: sum((Fraction(n, d) for d, n in part.items()), Fraction(0))
        for key, part in sums.items()
    }


def _face_chunk(
    items: list[tuple[Diagram, Fraction]], sign: int, weights: tuple[int, int, int]
) -> tuple[int | None, dict[tuple[int, int, int], Fraction]]:
    """Terms of one slice of a level with the largest weighted exponent.

    ``weights = (wq, wn, wl)`` weigh ``q``, ``n`` and the sigma power.
    Diagrams are taken in decreasing order of their bound
    (`feynflow.wick.linear_bound`), and the
    rest is skipped once the bound falls below the best exponent found.
    Monomials with one sigma power all carry one sign, so none cancel.
    """
    wq, wn, wl = weights
    ranked = []
    for diagram, coeff in items:
        graph = _contract_targets(diagram)
        bound = _graph_bound(*graph, (wq, wn)) + wl * diagram.n_edges
        ranked.append((bound, graph, diagram.n_edges, coeff))
    ranked.sort(key=lambda item: -item[0])
    best: int | None = None
    sums: dict[tuple[int, int, int], Fraction] = {}
    for bound, graph, n_edges, coeff in ranked:
        if best is not None and bound < best:
            break
        top, counts = _face_of(*graph, (wq, wn))
        if top is None:
            continue
        top += wl * n_edges
        if best is None or top > best:
            best, sums = top, {}
        if top == best:
            signed = sign * coeff
            for (q, n), count in counts.items():
                key = (q, n, n_edges)
                sums[key] = sums.get(key, Fraction(0)) + signed * count
    return best, sums


# The compiled loop's levels.  A class of diagrams is kept under its compiled
# canonical form (bytes, which also stand for the graph) or, for graphs too
# symmetric for that form, under ("nauty", key) with the graph as a triple
# (n_h, n_p, edges).  No Diagram objects are built: that saves a nauty
# labelling per class.  Classes with equal forms are isomorphic, so a level
# holds each isomorphism class once, up to the rare symmetric classes whose
# two kinds of key never meet (harmless: terms of one class simply add up).
# Coefficients are integers over one denominator per level: the generator's
# common denominator to the power s + 1.


def _gc_paused(function):
    """Run ``function`` with the cyclic garbage collector paused.

    The memo tables of the averages hold millions of dicts without cycles,
    and every collection would scan them all again; pausing saves more than
    a tenth of a long run.  The collector's state is restored afterwards.
    """

    @functools.wraps(function)
    def paused(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


def _keyed_generator(generator: DiagramSum) -> tuple[list, int] | None:
    """``A`` for the compiled loop, or None when it cannot take it.

    Returns ``([(graph, numerator, edge orbits)], denominator)``.
    """
    if _compiled.fast is None:
        return None
    items = generator.sorted_items()
    denominator = math.lcm(*(coeff.denominator for _, coeff in items))
    terms = []
    for diagram, coeff in items:
        if diagram.targets or any(c > 64 for _, _, c in diagram.edges):
            return None
        graph = (diagram.n_h, diagram.n_p, diagram.edges)
        numerator = coeff.numerator * (denominator // coeff.denominator)
        terms.append((graph, numerator, diagram.edge_orbits()))
    return terms, denominator


@_gc_paused
def _merge_keyed_chunk(items: list, generator: list) -> dict:
    """Merge one slice of a level of classes with ``A`` (see `_keyed_generator`).

    ``items`` holds ``(graph, numerator)``; returns ``{key: [graph, numerator]}``
    over the next level's denominator.
    """
    fast = _compiled.fast
    merged: dict = {}
    for count, (graph, numerator) in enumerate(items):
        if count % 256 == 0:
            check_deadline()
        own = None
        if not isinstance(graph, bytes):
            # A class too symmetric for the compiled form (a cycle, say): it
            # has few edge orbits, and one merger per orbit pair is enough.
            diagram = Diagram._from_raw(*graph)
            graph = (diagram.n_h, diagram.n_p, diagram.edges)
            own = diagram.edge_orbits()
        for term, term_numerator, orbits in generator:
            weight = numerator * term_numerator
            classes, rest = fast.mergers(graph, term, orbits, own)
            for key, multiplicity in classes.items():
                entry = merged.get(key)
                if entry is None:
                    merged[key] = [key, weight * multiplicity]
                else:
                    entry[1] += weight * multiplicity
            for n_h, n_p, edges, multiplicity in rest:
                key = ("nauty", _nauty_key(n_h, n_p, edges))
                entry = merged.get(key)
                if entry is None:
                    merged[key] = [(n_h, n_p, tuple(edges)), weight * multiplicity]
                else:
                    entry[1] += weight * multiplicity
    return merged


def _add_classes(total: dict, part: dict) -> None:
    for key, (graph, numerator) in part.items():
        entry = total.get(key)
        if entry is None:
            total[key] = [graph, numerator]
        else:
            entry[1] += numerator


def _level_items(level: dict) -> list:
    """The classes of a level with nonzero coefficients, in a fixed order."""
    keys = sorted(
        (k for k, entry in level.items() if entry[1]),
        key=lambda k: (0, k) if isinstance(k, bytes) else (1, repr(k)),
    )
    return [tuple(level[k]) for k in keys]


def _class_graph(graph) -> tuple:
    """The triple ``(n_h, n_p, edges)`` of a class of a keyed level, for leading mode.

    The leading-mode recursion pairs the lowest-numbered of its candidate
    first edges, so the labelling decides how soon it reaches Pareto points
    and how much it cuts.  Measured: graphs of one colour (SYM) do best
    relabelled as a `Diagram` (nauty's canonical form; SYM ``nu = 6`` order
    4: 13 s, against 25 s as read back from the compiled form), graphs of
    several colours (ASYM) as read back with their edges sorted (ASYM
    ``nu = 3`` order 5: 5 s, against 10 s relabelled).
    """
    if isinstance(graph, bytes):
        graph = _compiled.fast.graph_of(graph)
    n_h, n_p, edges = graph
    if len({c for _, _, c in edges}) == 1:
        diagram = Diagram._from_raw(n_h, n_p, tuple(edges))
        return diagram.n_h, diagram.n_p, diagram.edges
    return n_h, n_p, sorted(edges)


def _class_edges(graph) -> int:
    if isinstance(graph, bytes):
        # The third word of a compiled canonical form is the edge count.
        return int.from_bytes(graph[8:12], sys.byteorder)
    return len(graph[2])


@_gc_paused
def _average_keyed_chunk(
    items: list, sign: int, leading: bool, denominator: int = 1
) -> dict[tuple[int, int, int], Fraction]:
    """`_average_chunk` for a slice ``[(graph, numerator)]`` of a keyed level."""
    add_into = _compiled.fast.add_into
    sums: dict[int, dict[tuple[int, int], int]] = {}
    for count, (graph, numerator) in enumerate(items):
        if count % 64 == 0:
            # The compiled recursion checks the time only every few hundred
            # new intermediate graphs, which warm classes seldom reach.
            check_deadline()
        n_edges = _class_edges(graph)
        total = sums.get(n_edges)
        if total is None:
            sums[n_edges] = total = {}
        if leading:
            raw = _class_graph(graph)
            # `total` holds every monomial found at this sigma power, and
            # one sigma power carries one sign: found ones never cancel.
            if total and strictly_dominated(class_bound(*raw), total):
                continue
            counts = wick_graph_counts(*raw, leading=True)
        else:
            counts = _class_average(graph)
        add_into(total, counts, numerator, 0, 0)
    return {
        (q, n, n_edges): Fraction(sign * value, denominator)
        for n_edges, total in sums.items()
        for (q, n), value in total.items()
        if value
    }


def _chunks(items: list, pieces: int) -> list[list]:
    """Split ``items`` into about ``pieces`` slices of similar cost."""
    if pieces <= 1 or len(items) <= 1:
        return [items]
    # Deal round-robin so that large and small diagrams mix in every slice.
    return [items[k::pieces] for k in range(min(pieces, len(items)))]


def _add_into(total: dict, part: dict) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value


def _run_tasks(executor, function, chunks, extra, check_time, end=None) -> list:
    """Run ``function(chunk, *extra)`` for every chunk, serially or in parallel.

    A serial run also stops averages still running at the monotonic time
    ``end``; a parallel one checks the time while it waits for its tasks.
    """
    if executor is None:
        results = []
        with deadline(end):
            for chunk in chunks:
                results.append(function(chunk, *extra))
                check_time()
        return results
    futures = [executor.submit(function, chunk, *extra) for chunk in chunks]
    try:
        results = []
        for future in futures:
            while True:
                try:
                    results.append(future.result(timeout=0.5))
                    break
                except concurrent.futures.TimeoutError:
                    check_deadline()
                    check_time()
        return results
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def _checked_executor(executor):
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise ParameterError(
            f"executor={executor!r} is not a concurrent.futures.Executor"
        )
    return executor


def _check_time_limit(time_limit: object) -> None:
    if time_limit is not None and (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, numbers.Real)
        or not time_limit > 0
        or time_limit == float("inf")
    ):
        raise ParameterError(
            f"time_limit={time_limit!r} is not allowed; use a finite number of "
            "seconds > 0, or None for no limit"
        )


@contextlib.contextmanager
def _stopped_after(time_limit: float | None, done: list):
    """Say, when the time limit stops a run, how many orders it finished."""
    try:
        yield
    except TimeLimitError:
        reached = f"after order {len(done) - 1}" if done else "before order 0"
        raise TimeLimitError(
            f"time limit of {time_limit:g} s reached {reached}"
        ) from None


def _clock(time_limit: float | None, order: int):
    """The monotonic end of a run and a function raising once it has passed."""
    deadline_at = None if time_limit is None else time.monotonic() + time_limit

    def check_time() -> None:
        if deadline_at is not None and time.monotonic() > deadline_at:
            raise TimeLimitError(
                f"time limit of {time_limit} s reached before order {order}"
            )

    return deadline_at, check_time


def _stored_orders(store, key_of, order: int, progress) -> list[sympy.Poly]:
    """The leading run of orders ``0..order`` found in ``store``.

    ``key_of(s)`` gives the cache key of order ``s``; keys are made one at a
    time, so a huge ``order`` costs nothing before the first missing one.
    When every order is found, all of them report progress.
    """
    stored: list[sympy.Poly] = []
    for s in range(order + 1):
        found = store.get(key_of(s), decode=_decode_one_order)
        if found is None:
            break
        stored.append(found[0])
    if len(stored) == order + 1 and progress is not None:
        for s in range(order + 1):
            progress(s, order)
    return stored


def _powers(generator, order, executor, check_time, deadline_at):
    """Yield ``(s, A^{*(s+1)})`` for ``s = 0..order``, merging in tasks."""
    workers = getattr(executor, "_max_workers", None) or 4
    pieces = 1 if executor is None else 4 * workers
    power = generator
    for s in range(order + 1):
        if s:
            merged: dict[Diagram, Fraction] = {}
            chunks = _chunks(list(power.items()), pieces)
            for part in _run_tasks(
                executor, _merge_chunk, chunks, (generator,), check_time, deadline_at
            ):
                _add_into(merged, part)
            power = DiagramSum._trusted(merged)
        check_time()
        yield s, power, pieces


def _keyed_powers(generator, order, executor, check_time, deadline_at):
    """`_powers` on the compiled loop's levels.

    Yields ``(s, [(graph, numerator)], denominator, pieces)``.
    """
    workers = getattr(executor, "_max_workers", None) or 4
    pieces = 1 if executor is None else 4 * workers
    terms, step_denominator = _keyed_generator(generator)
    level: dict = {}
    for graph, numerator, _ in terms:
        key = _compiled.fast.state_key(*graph)
        if key is None:
            key = ("nauty", _nauty_key(*graph))
        else:
            graph = key
        _add_classes(level, {key: (graph, numerator)})
    denominator = step_denominator
    for s in range(order + 1):
        if s:
            merged: dict = {}
            chunks = _chunks(_level_items(level), pieces)
            for part in _run_tasks(
                executor, _merge_keyed_chunk, chunks, (terms,), check_time, deadline_at
            ):
                _add_classes(merged, part)
            level = merged
            denominator *= step_denominator
        check_time()
        yield s, _level_items(level), denominator, pieces


def _cache_key(nu, symmetric, target, leading, s, weights=None) -> dict:
    key = {
        "quantity": "loss_coefficient",
        "nu": nu,
        "scenario": "sym" if symmetric else "asym",
        "target": str(target),
        "leading": bool(leading),
        "s": s,
    }
    if weights is not None:
        key["alpha"] = ",".join(map(str, weights))
    return key


def _decode_one_order(data) -> list[sympy.Poly]:
    """Decode a stored order; refuse anything but one polynomial in (p, H, sigma)."""
    from feynflow.cache import decode_coefficients

    polys = decode_coefficients(data)
    if len(polys) != 1 or polys[0].gens != POLY_GENS:
        raise ValueError("a stored order must be one polynomial in p, H, sigma")
    return polys


def _open_cache(cache):
    """Turn the ``cache`` argument of `loss_coefficients` into a cache object."""
    from feynflow.cache import NullCache, open_cache

    if cache is None or cache is False:
        return NullCache()
    if cache is True:
        return open_cache()
    if isinstance(cache, (str, os.PathLike)):
        return open_cache(cache)
    if hasattr(cache, "get") and hasattr(cache, "put"):
        return cache
    raise ParameterError(
        f"cache={cache!r} is not understood; use True, False, a path or a "
        "CoefficientCache"
    )


def loss_coefficients(
    nu: int,
    order: int,
    symmetric: bool = True,
    target: str = "identity",
    leading: bool = False,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: concurrent.futures.Executor | None = None,
    cache=None,
) -> list[sympy.Poly]:
    """Exact coefficients ``[Y_0, ..., Y_order]`` of the expected loss.

    ``E[L(t)] ~ sum_s Y_s (t/T)^s / s!`` where ``Y_s = T^s E[d^s L/dt^s]`` at
    ``t = 0``, for the rank-``H`` CP model of order ``nu`` fitted by gradient
    flow ``du/dt = -(1/T) dL/du`` from i.i.d. ``N(0, sigma^2)`` weights.

    Parameters
    ----------
    nu : int
        Tensor order, ``>= 2``.
    order : int
        Highest ``s`` wanted, ``>= 0``.
    symmetric : bool
        One weight matrix for every colour (SYM) or ``nu`` independent ones
        (ASYM).
    target : str or Target
        ``"identity"`` (``F[i] = 1`` on the diagonal), ``"zero"`` (free
        evolution), ``"modadd"`` (modular addition, polynomials valid for the
        primes stated by `feynflow.targets.modadd_coefficients`) or a
        polynomial in deltas such as ``"d(1,2) + 1/2*d(1,2,3)"`` (syntax in
        `feynflow.targets`).
    leading : bool
        Keep only the Pareto-optimal terms of each ``Y_s``, and of the
        pure-target constant ``||F||^2 / 2`` of ``Y_0`` its terms with the
        highest power of ``p`` (``p/2`` for the identity target).  They
        equal the corresponding terms of the full polynomial, and are found
        with far less work (see Notes).
    time_limit : float, optional
        Seconds after which `TimeLimitError` is raised.
    progress : callable, optional
        Called as ``progress(s, order)`` after each order is done.
    executor : concurrent.futures.Executor, optional
        Runs the merges and averages of each order as independent tasks, for
        instance a ``ProcessPoolExecutor`` or the executor of a
        ``dask.distributed.Client``.  The result does not depend on it.
    cache : bool, path or CoefficientCache, optional
        Where to keep and look up computed coefficients: ``True`` for the
        default file of `feynflow.cache.default_cache_path`, a path, or a
        cache object; ``None`` or ``False`` (default) for none.

    Returns
    -------
    list of sympy.Poly
        Polynomials in ``(p, H, sigma)`` with rational coefficients.

    Raises
    ------
    ParameterError
        For ``nu < 2``, a negative or non-integer ``order`` or an unknown
        target.
    TimeLimitError
        When ``time_limit`` runs out; orders finished before are kept in the
        cache.

    Examples
    --------
    >>> from feynflow import loss_coefficients, p, H
    >>> y = loss_coefficients(2, 1, symmetric=True)
    >>> y[0].as_expr()
    H**2*p*sigma**4/2 + H*p**2*sigma**4/2 + H*p*sigma**4/2 - H*p*sigma**2 + p/2
    >>> y[1].as_expr().subs({p: 2, H: 2})
    -576*sigma**6 + 160*sigma**4 - 16*sigma**2

    Notes
    -----
    Each order merges the previous power with ``A``, combining isomorphic
    diagrams by their canonical forms, then averages every class with the
    memoised pairing recursion of `feynflow.wick.wick_expectation`.  With the
    compiled inner loop (`feynflow._compiled`), merges and averages run in C
    and each class is kept as its compiled canonical form; without it,
    classes are `Diagram` objects in nauty's canonical form.  Leading mode
    takes one of three routes.  The symmetric model with even ``nu >= 4``
    (identity or zero target) needs no enumeration at all: its optimal
    pairings are counted by inserting each new copy into the optimal
    pairings of the previous order (`feynflow.mergers`).  The symmetric
    ``nu = 2`` model, and every scenario without the compiled loop, average
    with a recursion that keeps Pareto fronts only and cuts every branch
    whose class bound (`feynflow.wick.class_bound`) lies strictly below what
    was found (order 40 of SYM ``nu = 2`` in seconds).  Elsewhere the
    compiled recursion averages every pairing, which is faster than
    pruning, and the Pareto terms are kept.

    References
    ----------
    .. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 2.
    """
    nu, order = check_nu(nu), check_order(order)
    symmetric = check_symmetric(symmetric)
    if leading not in (True, False):
        raise ParameterError(f"leading={leading!r} is not allowed; use True or False")
    leading = bool(leading)
    target = check_target(target, nu)
    _check_time_limit(time_limit)
    if isinstance(target, Target) and target.kind == "modadd":
        return modadd_coefficients(
            nu,
            order,
            symmetric,
            leading=leading,
            time_limit=time_limit,
            progress=progress,
        ).coefficients
    # Pruning by class bounds assumes that monomials found never cancel, which
    # holds when every R_{F_j} enters with the same sign, and that no p-node
    # is left without edges (class_bound ignores such nodes), which holds
    # when no F_j has a free index: only then has every p-node degree >= 2.
    prune = leading and (
        not isinstance(target, Target)
        or (target.same_sign and not target.has_free_index)
    )
    _checked_executor(executor)
    deadline_at, check_time = _clock(time_limit, order)
    logger.info("averaging with the %s", _compiled.engine())

    from feynflow.cache import encode_coefficients

    store = _open_cache(cache)
    stored = _stored_orders(
        store,
        lambda s: _cache_key(nu, symmetric, target, leading, s),
        order,
        progress,
    )
    if len(stored) == order + 1:
        return stored

    coefficients: list[sympy.Poly] = []

    def finish_order(s: int, terms: dict) -> None:
        # Each order is stored as soon as it is done, so an interrupted run
        # keeps what it computed.
        poly = ph_sigma_poly(terms)
        coefficients.append(poly)
        if s >= len(stored) and store.enabled:
            store.put(
                _cache_key(nu, symmetric, target, leading, s),
                encode_coefficients([poly]),
            )
        if progress is not None:
            progress(s, order)

    def compute() -> None:
        if leading and merger_fronts_applies(nu, symmetric, target):
            with deadline(deadline_at):
                for s, terms in enumerate(iter_merger_fronts(nu, order, target)):
                    if s >= len(stored):
                        check_time()
                    if s == 0:
                        _add_target_constant(terms, target, nu, leading)
                    finish_order(s, terms)
            return

        generator = step_generator(nu, symmetric, target)
        if _keyed_generator(generator) is not None:
            levels = _keyed_powers(generator, order, executor, check_time, deadline_at)
            average = _average_keyed_chunk
            # The compiled recursion averages every pairing two to three times
            # faster than the pruned one (in Python) keeps the fronts, except
            # for the symmetric nu = 2 model, whose cycles the pruning cuts
            # short; the Pareto filter below makes the results equal.
            pruned = prune and symmetric and nu == 2
        else:
            pruned = prune
            levels = (
                (s, power.sorted_items(), None, pieces)
                for s, power, pieces in _powers(
                    generator, order, executor, check_time, deadline_at
                )
            )
            average = _average_chunk
        for s, items, denominator, pieces in levels:
            if s < len(stored):
                # Cached: the merges go on (later orders need them), no averages.
                coefficients.append(stored[s])
                if progress is not None:
                    progress(s, order)
                continue
            sign = -1 if s % 2 else 1
            terms: dict[tuple[int, int, int], Fraction] = {}
            chunks = _chunks(items, pieces)
            extra = (
                (sign, pruned) if denominator is None else (sign, pruned, denominator)
            )
            for part in _run_tasks(
                executor, average, chunks, extra, check_time, deadline_at
            ):
                _add_into(terms, part)
            terms = {k: c for k, c in terms.items() if c}
            if leading:
                keep = pareto_optimal(terms)
                terms = {k: c for k, c in terms.items() if k in keep}
            if s == 0:
                _add_target_constant(terms, target, nu, leading)
            logger.info("order %d: %d diagram classes", s, len(items))
            finish_order(s, terms)

    with _stopped_after(time_limit, coefficients):
        compute()
    return coefficients


def _add_target_constant(terms: dict, target, nu: int, leading: bool) -> None:
    """Add ``||F||^2 / 2`` to the terms of ``Y_0``; in leading mode its Pareto part.

    The constant is the only part of ``Y_0`` without ``sigma``, so its
    Pareto-optimal monomials are those of the largest power of ``p``.
    """
    constant = {
        (q, 0, 0): terms.get((q, 0, 0), Fraction(0)) + half
        for q, half in half_norm_squared(target, nu).items()
    }
    constant = {key: value for key, value in constant.items() if value}
    if leading:
        keep = pareto_optimal(constant)
        constant = {key: value for key, value in constant.items() if key in keep}
    terms.update(constant)


def leading_coefficients(
    nu: int,
    order: int,
    alpha,
    symmetric: bool = True,
    target: str = "identity",
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: concurrent.futures.Executor | None = None,
    cache=None,
) -> list[sympy.Poly]:
    """The terms of ``Y_0, ..., Y_order`` that lead under one scaling.

    Under ``p ~ a^alpha_p``, ``H ~ a^alpha_H``, ``sigma ~ a^alpha_sigma``
    (``a -> infinity``) the monomial ``p^q H^n sigma^(2l)`` grows like
    ``a^(alpha_p q + alpha_H n + 2 alpha_sigma l)``.  Returned for each ``s``
    are the monomials of ``Y_s`` with the largest exponent (all of them when
    several tie: a face of the Pareto polygon), with their exact
    coefficients: the same as
    ``feynflow.asymptotics.leading_terms(loss_coefficients(...)[s], alpha)``,
    so the pure-target constant of ``Y_0`` is left out.

    Only that face is computed: pairings and diagrams whose bound (see
    `feynflow.wick.linear_bound`) lies below the best exponent found are
    never followed, which is much sharper than keeping whole Pareto fronts:
    free evolution of ASYM ``nu = 3`` at point A (``target="zero"``) takes
    about 20 s to order 6, against about 8 minutes through the fronts of
    `loss_coefficients` in leading mode (``benchmarks/bench_solutions.py``).

    Parameters
    ----------
    nu, order, symmetric, target, time_limit, progress, executor, cache
        As for `loss_coefficients`.
    alpha : sequence of three exact rationals
        ``(alpha_p, alpha_H, alpha_sigma)`` with ``alpha_p, alpha_H > 0``;
        strings like ``"-1/2"`` are accepted.

    Returns
    -------
    list of sympy.Poly
        Polynomials in ``(p, H, sigma)``; zero where ``Y_s`` has no term
        with ``sigma``.

    Raises
    ------
    ParameterError
        For a bad ``alpha`` and as for `loss_coefficients`.
    TimeLimitError
        When ``time_limit`` runs out.

    Examples
    --------
    >>> from feynflow.expansion import leading_coefficients
    >>> y = leading_coefficients(3, 2, (2, 1, 0), symmetric=False, target="zero")
    >>> [c.as_expr() for c in y]
    [H*p**3*sigma**6/2, -3*H*p**5*sigma**10, 30*H*p**7*sigma**14]
    """
    from feynflow.asymptotics import _check_alpha, leading_terms

    exact = _check_alpha(alpha)
    nu, order = check_nu(nu), check_order(order)
    symmetric = check_symmetric(symmetric)
    target = check_target(target, nu)
    _check_time_limit(time_limit)
    # Exponents are compared exactly as integers: the smallest integer
    # multiple of alpha (the result is the same for every positive multiple).
    scale = math.lcm(*(value.denominator for value in exact))
    weights = tuple(int(value * scale) for value in exact)
    common = math.gcd(*weights)
    weights = tuple(w // common for w in weights)
    # Exactness of the cut needs what the pruning of leading mode needs:
    # monomials never cancel and every p-node has edges (see there).
    direct = not isinstance(target, Target) or (
        target.kind != "modadd" and target.same_sign and not target.has_free_index
    )
    if not direct or merger_fronts_applies(nu, symmetric, target):
        # Every leading term is Pareto-optimal: filter the exact fronts.
        fronts = loss_coefficients(
            nu,
            order,
            symmetric=symmetric,
            target=target,
            leading=True,
            time_limit=time_limit,
            progress=progress,
            executor=executor,
            cache=cache,
        )
        return [_face_poly(leading_terms(poly, exact)) for poly in fronts]
    _checked_executor(executor)
    deadline_at, check_time = _clock(time_limit, order)

    from feynflow.cache import encode_coefficients

    store = _open_cache(cache)

    def key_of(s: int) -> dict:
        return _cache_key(nu, symmetric, target, True, s, weights)

    found = _stored_orders(store, key_of, order, progress)
    if len(found) == order + 1:
        return found
    stored = len(found)
    coefficients: list[sympy.Poly] = []
    generator = step_generator(nu, symmetric, target)
    with _stopped_after(time_limit, coefficients):
        for s, power, pieces in _powers(
            generator, order, executor, check_time, deadline_at
        ):
            if s < stored:
                coefficients.append(found[s])
                if progress is not None:
                    progress(s, order)
                continue
            sign = -1 if s % 2 else 1
            best = None
            terms: dict[tuple[int, int, int], Fraction] = {}
            chunks = _chunks(power.sorted_items(), pieces)
            for top, part in _run_tasks(
                executor, _face_chunk, chunks, (sign, weights), check_time, deadline_at
            ):
                if top is None or (best is not None and top < best):
                    continue
                if best is None or top > best:
                    best, terms = top, {}
                _add_into(terms, part)
            poly = ph_sigma_poly({k: c for k, c in terms.items() if c})
            coefficients.append(poly)
            store.put(key_of(s), encode_coefficients([poly]))
            if progress is not None:
                progress(s, order)
    return coefficients


def _face_poly(terms) -> sympy.Poly:
    """A ``sympy.Poly`` of `feynflow.asymptotics.ParetoTerm` objects."""
    return ph_sigma_poly({(t.q, t.n, t.sigma_power): Fraction(t.coeff) for t in terms})
