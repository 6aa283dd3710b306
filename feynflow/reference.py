"""A straightforward reference computation of the loss coefficients ``Y_s``.

This module recomputes what `feynflow.loss_coefficients` computes, the plain
way and on purpose independently of the fast engine: no canonical forms, no
automorphisms, no memoised averages.  It serves two roles: an independent
check of the fast engine in the tests, and the baseline against which the fast
engine's speed-up is measured (``benchmarks/bench_enumeration.py``).

A diagram here is a plain triple ``(n_h, n_p, edges)``: the numbers of H-nodes
and p-nodes and the sorted tuple of its edges ``(h, i, colour)``.  Two diagrams
are combined only when these triples are identical, so isomorphic diagrams
with different node labels stay separate terms.

References
----------
.. [1] D. Yarotsky, E. Golikov, M. Gusev, "Gradient Flow Through Diagram
   Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
   arXiv:2602.04548.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from fractions import Fraction

import sympy

from feynflow.errors import TimeLimitError
from feynflow.expansion import check_nu, check_order, check_target
from feynflow.symbols import POLY_GENS

__all__ = ["reference_loss_coefficients", "reference_pairing_counts"]

logger = logging.getLogger(__name__)

Edge = tuple[int, int, int]
#: ``(n_h, n_p, sorted edges)``; equal triples are the same term, nothing more.
PlainDiagram = tuple[int, int, tuple[Edge, ...]]


def _plain(n_h: int, n_p: int, edges: list[Edge]) -> PlainDiagram:
    return (n_h, n_p, tuple(sorted(edges)))


def _step_generator(
    nu: int, symmetric: bool, target: str
) -> dict[PlainDiagram, Fraction]:
    """``A = 1/2 D_{2nu} - R_nu`` (identity target) or ``1/2 D_{2nu}`` (zero)."""
    colours = [1 if symmetric else m + 1 for m in range(nu)]
    d_edges = [(h, m, colour) for m, colour in enumerate(colours) for h in (0, 1)]
    generator = {_plain(2, nu, d_edges): Fraction(1, 2)}
    if target == "identity":
        generator[_plain(1, 1, [(0, 0, colour) for colour in colours])] = Fraction(-1)
    return generator


def _merge_pair(a: PlainDiagram, b: PlainDiagram) -> list[PlainDiagram]:
    """Every merger of ``a`` with ``b``, one list entry per pair of edges.

    The nodes of ``b`` are numbered after those of ``a``, except the endpoints
    of ``b``'s deleted edge, which become the endpoints of ``a``'s.
    """
    n_h_a, n_p_a, edges_a = a
    n_h_b, n_p_b, edges_b = b
    merged = []
    for index_a, (h_a, i_a, colour) in enumerate(edges_a):
        kept_a = list(edges_a[:index_a] + edges_a[index_a + 1 :])
        for index_b, (h_b, i_b, colour_b) in enumerate(edges_b):
            if colour_b != colour:
                continue
            h_map = [h_a if h == h_b else n_h_a + h - (h > h_b) for h in range(n_h_b)]
            p_map = [i_a if i == i_b else n_p_a + i - (i > i_b) for i in range(n_p_b)]
            kept_b = [
                (h_map[h], p_map[i], c)
                for k, (h, i, c) in enumerate(edges_b)
                if k != index_b
            ]
            merged.append(_plain(n_h_a + n_h_b - 1, n_p_a + n_p_b - 1, kept_a + kept_b))
    return merged


def _merge(
    left: dict[PlainDiagram, Fraction],
    right: dict[PlainDiagram, Fraction],
    check_time: Callable[[], None],
) -> dict[PlainDiagram, Fraction]:
    """Bilinear merger of two linear combinations of plain diagrams."""
    terms: dict[PlainDiagram, Fraction] = {}
    for a, coeff_a in left.items():
        for b, coeff_b in right.items():
            coeff = coeff_a * coeff_b
            for merged in _merge_pair(a, b):
                terms[merged] = terms.get(merged, Fraction(0)) + coeff
        check_time()
    return {d: c for d, c in terms.items() if c}


def _root(parent: list[int], x: int) -> int:
    while parent[x] != x:
        x = parent[x]
    return x


def reference_pairing_counts(
    n_h: int, n_p: int, edges: tuple[Edge, ...] | list[Edge]
) -> dict[tuple[int, int], int]:
    """Count the pairings of a diagram's edges by listing every one of them.

    A *pairing* is a perfect matching of the edges into pairs of equal colour;
    each pair identifies the H-endpoints of its two edges and their p-endpoints.

    Parameters
    ----------
    n_h, n_p : int
        Numbers of H-nodes and p-nodes (nodes without edges count too).
    edges : sequence of (h, i, colour)

    Returns
    -------
    dict
        ``{(q, n): count}``: ``count`` pairings leave ``q`` distinct p-nodes
        and ``n`` distinct H-nodes.  Empty when some colour has an odd number
        of edges.

    Examples
    --------
    The symmetric ``D_4`` (a 4-cycle) has three pairings:

    >>> d4 = [(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 1)]
    >>> sorted(reference_pairing_counts(2, 2, d4).items())
    [((1, 1), 1), ((1, 2), 1), ((2, 1), 1)]

    Notes
    -----
    The first unpaired edge is paired with every later unpaired edge of its
    colour, and the node classes are tracked by union-find.  Nothing is
    memoised: a diagram with ``2 k_c`` edges of colour ``c`` costs
    ``prod_c (2 k_c - 1)!!`` leaves.
    """
    edges = tuple(edges)
    colour_counts: dict[int, int] = {}
    for _, _, colour in edges:
        colour_counts[colour] = colour_counts.get(colour, 0) + 1
    counts: dict[tuple[int, int], int] = {}
    if any(k % 2 for k in colour_counts.values()):
        return counts

    # h_parent and p_parent are union-find forests over the H- and p-nodes;
    # every root is one node of the contracted diagram.
    def extend(unpaired: tuple[int, ...], h_parent: list[int], p_parent: list[int]):
        if not unpaired:
            q = sum(1 for i in range(n_p) if p_parent[i] == i)
            n = sum(1 for h in range(n_h) if h_parent[h] == h)
            counts[(q, n)] = counts.get((q, n), 0) + 1
            return
        first, rest = unpaired[0], unpaired[1:]
        h_first, i_first, colour = edges[first]
        for k, partner in enumerate(rest):
            h_partner, i_partner, colour_partner = edges[partner]
            if colour_partner != colour:
                continue
            h_next, p_next = h_parent.copy(), p_parent.copy()
            h_next[_root(h_next, h_first)] = _root(h_next, h_partner)
            p_next[_root(p_next, i_first)] = _root(p_next, i_partner)
            extend(rest[:k] + rest[k + 1 :], h_next, p_next)

    extend(tuple(range(len(edges))), list(range(n_h)), list(range(n_p)))
    return counts


def reference_loss_coefficients(
    nu: int,
    order: int,
    symmetric: bool = True,
    target: str = "identity",
    *,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[sympy.Poly]:
    """Exact ``[Y_0, ..., Y_order]`` by plain enumeration (the baseline).

    Same result and conventions as `feynflow.loss_coefficients`:
    ``E[L(t)] ~ sum_s Y_s (t/T)^s / s!`` with
    ``Y_s = (-1)^s E[A^{*(s+1)}] + [s = 0] ||F||^2 / 2``.  Every merger of
    every pair of equal-colour edges is materialised, only identical edge lists
    are combined, and every pairing of every diagram is listed.  It is meant to
    be slow and obviously right, not fast.

    Parameters
    ----------
    nu : int
        Tensor order, ``>= 2``.
    order : int
        Highest ``s`` wanted, ``>= 0``.
    symmetric : bool
        One weight matrix for every colour (SYM) or ``nu`` of them (ASYM).
    target : {"identity", "zero"}
        ``F[i] = 1`` on the diagonal, or ``F = 0`` (free evolution).
    time_limit : float, optional
        Seconds after which `TimeLimitError` is raised.
    progress : callable, optional
        Called as ``progress(s, order)`` after each order is done.

    Returns
    -------
    list of sympy.Poly
        Polynomials in ``(p, H, sigma)`` over the rationals.

    Raises
    ------
    ParameterError
        For ``nu < 2``, a negative or non-integer ``order`` or an unknown
        target.
    TimeLimitError
        When ``time_limit`` runs out.

    Examples
    --------
    SPEC's values for SYM ``nu = 2`` at ``p = H = 2``:

    >>> from feynflow import H, p
    >>> y = reference_loss_coefficients(2, 1)
    >>> y[0].as_expr().subs({p: 2, H: 2})
    10*sigma**4 - 4*sigma**2 + 1
    >>> y[1].as_expr().subs({p: 2, H: 2})
    -576*sigma**6 + 160*sigma**4 - 16*sigma**2

    Notes
    -----
    The number of materialised diagrams grows like the product of the edge
    counts merged so far, and the pairings of a diagram with ``2l`` edges like
    ``(2l - 1)!!``, so the cost is factorial in the order: within a minute it
    reaches about order 3 or 4.  See `reference_pairing_counts`.

    References
    ----------
    .. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 2.
    """
    nu, order, target = check_nu(nu), check_order(order), check_target(target)
    deadline = None if time_limit is None else time.monotonic() + time_limit

    def check_time() -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeLimitError(
                f"time limit of {time_limit} s reached before order {order}"
            )

    generator = _step_generator(nu, symmetric, target)
    power = generator
    coefficients = []
    for s in range(order + 1):
        if s:
            power = _merge(power, generator, check_time)
        sign = -1 if s % 2 else 1

        # Keys (q, n, 2l) stand for p^q H^n sigma^(2l).
        terms: dict[tuple[int, int, int], Fraction] = {}
        for (n_h, n_p, edges), coeff in power.items():
            for (q, n), count in reference_pairing_counts(n_h, n_p, edges).items():
                key = (q, n, len(edges))
                terms[key] = terms.get(key, Fraction(0)) + sign * coeff * count
            check_time()
        if s == 0 and target == "identity":
            terms[(1, 0, 0)] = terms.get((1, 0, 0), Fraction(0)) + Fraction(1, 2)

        data = {
            key: sympy.Rational(c.numerator, c.denominator)
            for key, c in terms.items()
            if c
        }
        coefficients.append(
            sympy.Poly.from_dict(data or {(0, 0, 0): 0}, *POLY_GENS, domain="QQ")
        )
        logger.info("reference order %d: %d plain diagrams", s, len(power))
        if progress is not None:
            progress(s, order)
    return coefficients
