"""Leading terms of free evolution by merging optimal pairings.

For the symmetric model of even order ``nu >= 4`` with the zero target, every
Pareto-optimal pairing of a merged diagram ``G * D`` is a *merger* of optimal
pairings of ``G`` and of ``D``: the two deleted edges ``e`` (of ``G``) and
``e'`` (of ``D``) had partners ``f`` and ``f'``, and the pairing of ``G * D``
pairs ``f`` with ``f'`` and keeps every other pair [1]_.  Such a pairing leaves
``q_G + q_D - 1`` p-classes and ``n_G + n_D - 1`` H-classes, whichever edges
were merged, so the Pareto fronts of all orders follow from those of ``D`` by
a recursion on ``(q, n)`` alone, with no diagram enumerated.

The recursion is not exact in other scenarios (odd ``nu``, the asymmetric
model, or targets whose ``R_nu`` has pairings of its own); the tests check it
against the full enumeration at every order both reach.

References
----------
.. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 5.
"""

from __future__ import annotations

from fractions import Fraction

from feynflow.diagrams import check_nu, d_diagram
from feynflow.errors import ParameterError
from feynflow.wick import pareto_front, wick_counts

__all__ = ["merger_fronts_applies", "free_merger_fronts"]


def merger_fronts_applies(nu: int, symmetric: bool, target: str) -> bool:
    """Whether `free_merger_fronts` gives exact leading terms for a scenario."""
    return symmetric and target == "zero" and nu >= 4 and nu % 2 == 0


def free_merger_fronts(
    nu: int, order: int
) -> list[dict[tuple[int, int, int], Fraction]]:
    """Pareto-optimal terms of ``Y_0..Y_order``: free SYM evolution, even ``nu``.

    Parameters
    ----------
    nu : int
        Even tensor order, ``>= 4``.
    order : int
        Highest ``s``.

    Returns
    -------
    list of dict
        ``{(q, n, 2l): coefficient}`` for each ``s``: the coefficient of
        ``p^q H^n sigma^(2l)`` in ``Y_s``.

    Raises
    ------
    ParameterError
        If ``nu`` is odd or below 4.

    Examples
    --------
    The front of ``Y_1`` for ``nu = 4``, from ``n = 1`` (point ``A``) to
    ``n = s + 2`` (point ``B``):

    >>> fronts = free_merger_fronts(4, 1)
    >>> for (q, n, edges), coeff in sorted(fronts[1].items()):
    ...     print(f"{coeff} * p^{q} H^{n} sigma^{edges}")
    -144 * p^3 H^3 sigma^14
    -96 * p^5 H^2 sigma^14
    -16 * p^7 H^1 sigma^14

    Notes
    -----
    Runs in ``O(order^2)`` operations on integers: order 40 takes
    milliseconds.
    """
    return list(iter_free_merger_fronts(nu, order))


def iter_free_merger_fronts(nu: int, order: int):
    """`free_merger_fronts` one order at a time; ``nu`` is checked at once."""
    nu = check_nu(nu)
    if nu % 2 or nu < 4:
        raise ParameterError(
            f"nu={nu} is not allowed here; merger fronts need an even nu >= 4"
        )
    return _merger_levels(nu, order)


def _merger_levels(nu: int, order: int):
    d = d_diagram(nu, symmetric=True)
    d_front = pareto_front(wick_counts(d))
    d_edges = d.n_edges

    # level: {(q, n): signed weight} of E[A^{*(s+1)}] restricted to its front;
    # every diagram of one level has 2 nu + s (2 nu - 2) edges.
    level = {key: Fraction(count, 2) for key, count in d_front.items()}
    edges = d_edges
    yield {(q, n, edges): c for (q, n), c in level.items()}
    for s in range(1, order + 1):
        following: dict[tuple[int, int], Fraction] = {}
        for (q1, n1), weight in level.items():
            for (q2, n2), count in d_front.items():
                key = (q1 + q2 - 1, n1 + n2 - 1)
                # The merged edge of G (edges choices), of D (d_edges), and
                # the factor 1/2 of A = D/2.
                gain = weight * count * edges * d_edges / 2
                following[key] = following.get(key, Fraction(0)) + gain
        level = pareto_front({k: c for k, c in following.items() if c})
        edges += d_edges - 2
        sign = -1 if s % 2 else 1
        yield {(q, n, edges): sign * c for (q, n), c in level.items()}
