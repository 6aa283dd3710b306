"""Pareto terms of the symmetric model with even ``nu >= 4``, without diagrams.

For the symmetric model of even order ``nu >= 4`` (identity or zero target)
every Pareto-optimal pairing of ``A^{*(s+1)}`` is obtained from one of
``A^{*s}`` by *inserting* the newest copy of ``D_{2nu}`` or ``R_nu`` in one
of a few ways that depend only on how many Wick pairs the older pairing has
between each H-class and p-class.  Counting those pairs is enough to count
every optimal pairing of every order: no diagram is enumerated.

The glued picture
-----------------
A term of ``E[A^{*(s+1)}]`` is a set of ``s + 1`` copies of ``D`` and ``R``
(in time order) and a perfect matching of all their edges into pairs of one
colour: the ``s`` merges (copy ``j + 1`` is merged into one edge of the
earlier copies) and the Wick pairs.  Identifying the endpoints of every pair
gives the classes; the term is ``p^q H^n sigma^(2 * Wick pairs)``.  A pair is
*marked* when it is a merge: the newest copy has exactly one marked pair, to
an older copy, and later copies never break a marked pair.

Removing the newest copy
------------------------
Call ``Phi = 2 q + nu n``; at order ``s`` with ``s_D`` copies of ``D`` it is
at most ``2 + nu + 2 (nu - 1) s_D``, and the Pareto terms are exactly those
reaching it [1]_.  Remove the newest ``D`` and join the outside partners of
its edges along its strands ``(a, x_m) - (b, x_m)`` (a *shortcut*).  Counting
classes shows that ``Phi`` drops by at most ``2 (nu - 1)``, with equality
only in three cases, where ``D`` was inserted into an optimal pairing as

* a *melon*: one strand carries a broken Wick pair, the ``nu - 1`` others
  pair with themselves (``q`` grows by ``nu - 1``);
* a *split*: two strands, joined at ``b``, carry a broken pair whose ends
  both meet ``a``; the other strands pair off in twos at ``a`` and at ``b``,
  so that ``b`` is a new H-class (``q`` grows by ``nu/2 - 1``, ``n`` by 1);
* a *cut*: two strands carry two broken pairs that separated an H-class.
  This never happens: every two pairs cutting an H-class include a marked
  one, which holds for one copy and is kept by every insertion.

Removing the newest ``R`` and re-pairing the ``2j`` edges it met leaves
``Phi`` at least as large, with equality exactly when those ``j`` pairs lie
in one H-class and one p-class.  So an ``R`` is inserted into ``j`` Wick
pairs of one such *entry* (``1 <= j <= nu/2``), its other edges pairing with
each other; the entry grows by ``nu/2 - 1`` pairs.

A melon or a split may break any Wick pair and adds ``nu - 1`` entries of
one pair; an insertion of ``R`` needs ``j`` pairs of one entry.  So the
multiset of entry sizes is all the recursion keeps, and the number of copies
of ``D`` and of splits give ``q = 1 + (nu - 1) s_D - (nu/2) k`` and
``n = 1 + k`` (``k`` splits, counting a first ``D`` whose H-nodes stay
apart).

References
----------
.. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, sections 3
   and 5.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterator
from fractions import Fraction

from feynflow.diagrams import check_nu
from feynflow.errors import ParameterError
from feynflow.wick import check_deadline, deadline

__all__ = [
    "merger_fronts_applies",
    "merger_fronts",
    "free_merger_fronts",
    "iter_merger_fronts",
]

#: Targets the recursion covers.
MERGER_TARGETS = ("identity", "zero")


def merger_fronts_applies(nu: object, symmetric: object, target: object) -> bool:
    """Whether `merger_fronts` gives the exact Pareto terms of a scenario.

    Arguments of the wrong type are not covered (False), never an error.
    """
    return (
        symmetric is True
        and isinstance(target, str)
        and target in MERGER_TARGETS
        and isinstance(nu, numbers.Integral)
        and not isinstance(nu, bool)
        and nu >= 4
        and nu % 2 == 0
    )


def merger_fronts(
    nu: int, order: int, target: str = "identity", time_limit: float | None = None
) -> list[dict[tuple[int, int, int], Fraction]]:
    """Pareto-optimal terms of ``Y_0..Y_order``: symmetric model, even ``nu``.

    Parameters
    ----------
    nu : int
        Even tensor order, ``>= 4``.
    order : int
        Highest ``s``.
    target : {"identity", "zero"}
        The target (zero: free evolution).
    time_limit : float, optional
        Seconds after which `TimeLimitError` is raised (the work grows
        faster than exponentially with ``order``: order 30 of ``nu = 4``
        takes seconds, order 40 most of a minute).

    Returns
    -------
    list of dict
        ``{(q, n, 2l): coefficient}`` for each ``s``: the coefficient of
        ``p^q H^n sigma^(2l)`` in ``Y_s``, for every Pareto-optimal term.
        The constant ``||F||^2 / 2`` of ``Y_0`` is not included.

    Raises
    ------
    ParameterError
        If ``nu`` is odd or below 4, or the target is not covered.
    TimeLimitError
        When ``time_limit`` runs out.

    Examples
    --------
    The front of ``Y_1`` for ``nu = 4`` and the identity target: one
    monomial per number ``n`` of H-classes at each power of ``sigma``:

    >>> fronts = merger_fronts(4, 1)
    >>> for (q, n, edges), coeff in sorted(fronts[1].items()):
    ...     print(f"{coeff} * p^{q} H^{n} sigma^{edges}")
    -240 * p^1 H^1 sigma^6
    288 * p^2 H^2 sigma^10
    -144 * p^3 H^3 sigma^14
    96 * p^4 H^1 sigma^10
    -96 * p^5 H^2 sigma^14
    -16 * p^7 H^1 sigma^14

    Notes
    -----
    The recursion keeps one table per multiset of entry sizes; their number
    grows slowly (119 at order 10 and 7916 at order 26 for
    ``nu = 4``), and each costs a few integer operations per entry.
    """
    return list(iter_merger_fronts(nu, order, target, time_limit))


def free_merger_fronts(
    nu: int, order: int, time_limit: float | None = None
) -> list[dict[tuple[int, int, int], Fraction]]:
    """`merger_fronts` of free evolution (zero target).

    Examples
    --------
    >>> fronts = free_merger_fronts(4, 1)
    >>> for (q, n, edges), coeff in sorted(fronts[1].items()):
    ...     print(f"{coeff} * p^{q} H^{n} sigma^{edges}")
    -144 * p^3 H^3 sigma^14
    -96 * p^5 H^2 sigma^14
    -16 * p^7 H^1 sigma^14
    """
    return merger_fronts(nu, order, target="zero", time_limit=time_limit)


def iter_merger_fronts(
    nu: int, order: int, target: str = "identity", time_limit: float | None = None
) -> Iterator[dict[tuple[int, int, int], Fraction]]:
    """`merger_fronts` one order at a time; arguments are checked at once.

    ``time_limit`` counts from this call, and only the work of the
    recursion is stopped by it, not the caller's work between orders.
    """
    if (
        isinstance(nu, numbers.Integral)
        and not isinstance(nu, bool)
        and (nu % 2 or nu < 4)
    ):
        raise ParameterError(
            f"nu={nu} is not allowed here; merger fronts need an even nu >= 4"
        )
    nu = check_nu(nu)
    # expansion imports this module: its checks are imported when called.
    from feynflow.expansion import _check_time_limit, check_order

    order = check_order(order)
    if not (isinstance(target, str) and target in MERGER_TARGETS):
        raise ParameterError(
            f"target={target!r} is not allowed here; merger fronts cover "
            f"{' and '.join(MERGER_TARGETS)}"
        )
    _check_time_limit(time_limit)
    levels = _merger_levels(nu, order, target == "identity")
    if time_limit is None:
        return levels
    return _limited(levels, time.monotonic() + time_limit, time_limit)


def _limited(levels: Iterator, end: float, time_limit: float) -> Iterator:
    """``levels``, each computed under the deadline ``end``."""
    from feynflow.expansion import _stopped_after

    done: list = []
    with _stopped_after(time_limit, done):
        while True:
            with deadline(end):
                front = next(levels, None)
            if front is None:
                return
            done.append(None)
            yield front


def _double_factorial(k: int) -> int:
    """``k!!``, with ``(-1)!! = 0!! = 1``."""
    return math.prod(range(k, 0, -2))


def _merger_levels(nu: int, order: int, with_r: bool):
    half = nu // 2
    # Glued pairings of one insertion: a melon chooses its strand, its
    # orientation and which of its two outside pairs is the merge; a split
    # chooses the H-node meeting both ends, the ordered pair of strands of
    # the chain, how the other strands pair off and the merge.
    melon = 4 * nu
    split = 4 * nu * (nu - 1) * _double_factorial(nu - 3)
    # An R meeting j broken pairs: which of its edges meet the 2j ends, how
    # its other edges pair, and which of the 2j pairs is the merge; each
    # result arises from (2j - 1)!! re-pairings of those ends.
    r_ways = {
        j: math.comb(nu, 2 * j)
        * _double_factorial(2 * j)
        * _double_factorial(nu - 2 * j - 1)
        * 2
        * j
        for j in range(1, half + 1)
    }

    # level: {entry sizes (sorted tuple): {k: count}}.  An entry is an
    # (H-class, p-class) holding Wick pairs; k counts the splits; counts are
    # signed integers carrying 2^(s_D) times the weights 1/2 of the copies
    # of D, and s_D follows from the number of entries, 1 + (nu - 1) s_D.
    level: dict[tuple[int, ...], dict[int, int]] = {
        # D alone: every strand paired with itself (one H-class), or its
        # H-nodes apart with strands paired off in twos at both.
        (1,) * nu: {0: 1, 1: _double_factorial(nu - 1)},
    }
    if with_r:
        # R alone: any pairing of its edges, all in one entry.
        level[(half,)] = {0: -_double_factorial(nu - 1)}
    for s in range(order + 1):
        if s:
            level = _next_level(level, nu, melon, split, r_ways if with_r else {})
        yield _front_of_level(level, nu, s)


def _next_level(level, nu, melon, split, r_ways):
    half = nu // 2
    following: dict[tuple[int, ...], dict[int, int]] = {}

    def add(entries, k, value):
        table = following.setdefault(entries, {})
        table[k] = table.get(k, 0) + value

    for visited, (entries, counts) in enumerate(level.items()):
        if visited % 4096 == 0:
            # A late order visits hundreds of thousands of tables.
            check_deadline()
        pairs = sum(entries)
        grown = tuple(sorted(entries + (1,) * (nu - 1)))
        for k, count in counts.items():
            add(grown, k, count * pairs * melon)
            add(grown, k + 1, count * pairs * split)
        for position, size in enumerate(entries):
            if position and entries[position - 1] == size:
                continue
            alike = entries.count(size)
            rest = list(entries)
            rest.remove(size)
            after = tuple(sorted([*rest, size + half - 1]))
            for j, ways in r_ways.items():
                if j > size:
                    break
                factor = -alike * math.comb(size, j) * ways
                for k, count in counts.items():
                    add(after, k, count * factor)
    return {
        entries: {k: c for k, c in counts.items() if c}
        for entries, counts in following.items()
        if any(counts.values())
    }


def _front_of_level(level, nu: int, s: int) -> dict[tuple[int, int, int], Fraction]:
    half = nu // 2
    sign = -1 if s % 2 else 1
    front: dict[tuple[int, int, int], Fraction] = {}
    for entries, counts in level.items():
        s_d = (len(entries) - 1) // (nu - 1)
        edges = 2 * nu * s_d + nu * (s + 1 - s_d) - 2 * s
        for k, count in counts.items():
            key = (1 + (nu - 1) * s_d - half * k, 1 + k, edges)
            front[key] = front.get(key, 0) + Fraction(sign * count, 2**s_d)
    return {key: value for key, value in front.items() if value}
