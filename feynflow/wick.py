"""Gaussian (Wick) averages of diagrams as exact polynomials in p, H, sigma.

With all weights i.i.d. ``N(0, sigma^2)``, the average of a product of
weights is a sum over *pairings*: perfect matchings of the edges into pairs of
equal colour.  A pair ``(k, i, m), (k', i', m)`` forces ``k = k'`` and
``i = i'``, i.e. it *contracts* the two H-nodes and the two p-nodes.  A pairing
of a diagram with ``2l`` edges that leaves ``q`` distinct p-nodes and ``n``
distinct H-nodes contributes ``p^q H^n sigma^(2l)``.
"""

from __future__ import annotations

import threading
from fractions import Fraction

import pynauty
import sympy

from feynflow.diagrams import (
    Diagram,
    DiagramSum,
    Edge,
    _canonical_labelling,
    canonical_form,
)
from feynflow.errors import ParameterError
from feynflow.symbols import POLY_GENS

__all__ = ["wick_expectation", "wick_counts", "clear_wick_cache", "PHPolynomial"]

#: A polynomial in p and H with integer coefficients: ``{(q, n): coefficient}``.
PHPolynomial = dict[tuple[int, int], int]

# Averages of canonical graphs without isolated nodes, keyed by
# (n_h, n_p, edges).  The same graphs recur across diagrams and orders, so the
# table is shared by every call in the process.
_memo: dict[tuple, PHPolynomial] = {}
_memo_lock = threading.Lock()


def clear_wick_cache() -> None:
    """Forget the memoised averages of intermediate graphs."""
    with _memo_lock:
        _memo.clear()


def _graph_value(n_h: int, n_p: int, edges: list[Edge]) -> PHPolynomial:
    """Average (divided by sigma^(2l)) of any graph, as a p, H polynomial.

    Nodes without edges are never contracted again, so they only contribute
    a factor ``p`` or ``H`` each; the rest is averaged as one state.  The
    state is not split into connected components: a pairing may join edges
    of different components, so averages of components do not multiply.
    """
    used_h = sorted({h for h, _, _ in edges})
    used_p = sorted({i for _, i, _ in edges})
    isolated = (n_p - len(used_p), n_h - len(used_h))
    if not edges:
        return {isolated: 1}
    h_map = {h: k for k, h in enumerate(used_h)}
    p_map = {i: k for k, i in enumerate(used_p)}
    relabelled = [(h_map[h], p_map[i], c) for h, i, c in edges]
    canonical, _ = canonical_form(len(used_h), len(used_p), relabelled)
    value = _state_value((len(used_h), len(used_p), canonical))
    if isolated == (0, 0):
        return value
    q0, n0 = isolated
    return {(q + q0, n + n0): c for (q, n), c in value.items()}


def _state_value(key: tuple[int, int, tuple[Edge, ...]]) -> PHPolynomial:
    """Average of a canonical graph with at least one edge and no isolated node.

    Pairs one edge ``e`` with each partner of its colour, contracts, and
    recurses.  Partners in one orbit of the stabiliser of ``e`` give
    isomorphic remainders, so one partner per orbit is followed and weighted
    by the orbit's size.
    """
    cached = _memo.get(key)
    if cached is not None:
        return cached
    n_h, n_p, edges = key

    counts: dict[int, int] = {}
    for _, _, colour in edges:
        counts[colour] = counts.get(colour, 0) + 1
    if any(count % 2 for count in counts.values()):
        value: PHPolynomial = {}
    else:
        # The colour with the fewest edges gives the fewest branches.
        colour = min(counts, key=lambda c: (counts[c], c))
        first = next(k for k, edge in enumerate(edges) if edge[2] == colour)
        h_e, i_e, _ = edges[first]
        graph = _canonical_labelling(n_h, n_p, edges, (), singled_out=first)
        orbit_of = pynauty.autgrp(graph)[3]
        offset = n_h + n_p
        orbit_size: dict[int, int] = {}
        representative: dict[int, int] = {}
        for k, edge in enumerate(edges):
            if k != first and edge[2] == colour:
                orbit = orbit_of[offset + k]
                orbit_size[orbit] = orbit_size.get(orbit, 0) + 1
                representative.setdefault(orbit, k)
        value = {}
        for orbit, partner in representative.items():
            h_f, i_f, _ = edges[partner]
            rest = [
                (h_e if h == h_f else h, i_e if i == i_f else i, c)
                for k, (h, i, c) in enumerate(edges)
                if k != first and k != partner
            ]
            # Contracting removes node h_f (if distinct from h_e); the graph
            # keeps n_h - 1 H-nodes after renumbering the ones above it.
            new_h = n_h - (h_f != h_e)
            new_p = n_p - (i_f != i_e)
            rest = [
                (h - (h_f != h_e and h > h_f), i - (i_f != i_e and i > i_f), c)
                for h, i, c in rest
            ]
            branch = _graph_value(new_h, new_p, rest)
            weight = orbit_size[orbit]
            for monomial, coeff in branch.items():
                value[monomial] = value.get(monomial, 0) + weight * coeff
        value = {k: c for k, c in value.items() if c}
    with _memo_lock:
        _memo[key] = value
    return value


def _contract_targets(diagram: Diagram) -> tuple[int, int, tuple[Edge, ...]]:
    """Identify the p-nodes of every target hyper-edge (a Kronecker delta)."""
    if not diagram.targets:
        return diagram.n_h, diagram.n_p, diagram.edges
    parent = list(range(diagram.n_p))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for nodes in diagram.targets:
        for i in nodes[1:]:
            parent[find(i)] = find(nodes[0])
    roots = sorted({find(i) for i in range(diagram.n_p)})
    label = {root: k for k, root in enumerate(roots)}
    edges = tuple((h, label[find(i)], c) for h, i, c in diagram.edges)
    return diagram.n_h, len(roots), edges


def wick_counts(diagram: Diagram) -> PHPolynomial:
    """Number of pairings of ``diagram`` leaving each ``(q, n)``.

    Returns ``{(q, n): count}``: ``count`` pairings of the edges leave ``q``
    distinct p-nodes and ``n`` distinct H-nodes.  The Gaussian average is
    ``sum count * p^q H^n sigma^(2l)``.

    Examples
    --------
    >>> from feynflow.diagrams import d_diagram
    >>> sorted(wick_counts(d_diagram(2, symmetric=True)).items())
    [((1, 1), 1), ((1, 2), 1), ((2, 1), 1)]
    """
    if not isinstance(diagram, Diagram):
        raise ParameterError(f"{diagram!r} is not a Diagram")
    return dict(_graph_value(*_contract_targets(diagram)))


def wick_expectation(diagram: Diagram | DiagramSum) -> sympy.Poly:
    """Gaussian average of a diagram or of a sum of diagrams.

    Every weight is i.i.d. ``N(0, sigma^2)``.  The average is the sum over all
    pairings of equal-colour edges; a pairing leaving ``q`` p-nodes and ``n``
    H-nodes in a diagram of ``2l`` edges contributes ``p^q H^n sigma^(2l)``.

    Parameters
    ----------
    diagram : Diagram or DiagramSum

    Returns
    -------
    sympy.Poly
        In the generators ``(p, H, sigma)`` over the rationals.

    Raises
    ------
    ParameterError
        If ``diagram`` is neither a `Diagram` nor a `DiagramSum`.

    Examples
    --------
    >>> from feynflow.diagrams import d_diagram
    >>> wick_expectation(d_diagram(2, symmetric=True)).as_expr()
    H**2*p*sigma**4 + H*p**2*sigma**4 + H*p*sigma**4
    >>> wick_expectation(d_diagram(3, symmetric=False)).as_expr()
    H*p**3*sigma**6

    Notes
    -----
    The average is computed by pairing one edge of the rarest colour with
    every partner, contracting, and recursing on the canonical form of what is
    left (nodes left without edges only count as factors ``p`` or ``H``);
    partners equivalent under the stabiliser of the first edge are followed
    once.  Averages of intermediate graphs are memoised for the life of the
    process (see `clear_wick_cache`).  A disjoint union is *not* averaged
    factor by factor: pairings may join its parts when they share a colour.

    References
    ----------
    .. [1] L. Isserlis, "On a formula for the product-moment coefficient of
       any order of a normal frequency distribution in any number of
       variables", Biometrika 12 (1918) 134-139.
    .. [2] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 2.
    """
    if isinstance(diagram, Diagram):
        terms = {diagram: Fraction(1)}
    elif isinstance(diagram, DiagramSum):
        terms = dict(diagram.items())
    else:
        raise ParameterError(f"{diagram!r} is neither a Diagram nor a DiagramSum")
    total: dict[tuple[int, int, int], Fraction] = {}
    for d, coeff in terms.items():
        for (q, n), count in wick_counts(d).items():
            key = (q, n, d.n_edges)
            total[key] = total.get(key, Fraction(0)) + coeff * count
    return ph_sigma_poly(total)


def ph_sigma_poly(terms: dict[tuple[int, int, int], Fraction]) -> sympy.Poly:
    """Build a rational ``sympy.Poly`` in ``(p, H, sigma)`` from exponent keys."""
    data = {
        k: sympy.Rational(c.numerator, c.denominator) for k, c in terms.items() if c
    }
    return sympy.Poly.from_dict(data or {(0, 0, 0): 0}, *POLY_GENS, domain="QQ")
