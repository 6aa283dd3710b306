"""Gaussian (Wick) averages of diagrams as exact polynomials in p, H, sigma.

With all weights i.i.d. ``N(0, sigma^2)``, the average of a product of
weights is a sum over *pairings*: perfect matchings of the edges into pairs of
equal colour.  A pair ``(k, i, m), (k', i', m)`` forces ``k = k'`` and
``i = i'``, i.e. it *contracts* the two H-nodes and the two p-nodes.  A pairing
of a diagram with ``2l`` edges that leaves ``q`` distinct p-nodes and ``n``
distinct H-nodes contributes ``p^q H^n sigma^(2l)``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from fractions import Fraction

import pynauty
import sympy
from sympy.polys.polyclasses import DMP

from feynflow import _compiled
from feynflow.diagrams import (
    Diagram,
    DiagramSum,
    Edge,
    _bundle_graph,
    _check_count,
    _check_edge,
    class_labels,
    edge_links,
)
from feynflow.errors import (
    Interrupted,
    ParameterError,
    TimeLimitError,
    interrupt_requested,
)
from feynflow.symbols import POLY_GENS

__all__ = [
    "wick_expectation",
    "wick_counts",
    "wick_graph_counts",
    "clear_wick_cache",
    "pareto_front",
    "deadline",
    "check_deadline",
    "partner_orbits",
    "class_bound",
    "diagram_bound",
    "strictly_dominated",
    "face_counts",
    "linear_bound",
    "PHPolynomial",
]

# The compiled inner loop, or None (see `feynflow._compiled`).
_fast = _compiled.fast

#: A polynomial in p and H with integer coefficients: ``{(q, n): coefficient}``.
PHPolynomial = dict[tuple[int, int], int]

# Averages of canonical graphs without isolated nodes, keyed by
# (n_h, n_p, edges).  The same graphs recur across diagrams and orders, so the
# table is shared by every call in the process.
_memo: dict[tuple, PHPolynomial] = {}
# Pareto fronts of the same graphs, for the leading-only mode.
_leading_memo: dict[tuple, PHPolynomial] = {}
# Top faces ``(best, counts)`` under integer weights, keyed by (weights, key).
_face_memo: dict[tuple, tuple[int | None, PHPolynomial]] = {}
_memo_lock = threading.Lock()

# Monotonic time after which averaging stops (see `deadline`); only states
# finished before it are memoised, so the tables stay exact.
_deadline: float | None = None


def check_deadline() -> None:
    """Raise `TimeLimitError` if the time set by `deadline` has passed.

    Raises `Interrupted` instead once an interruption has been requested
    (`feynflow.errors.request_interrupt`).
    """
    if interrupt_requested():
        raise Interrupted("interrupted")
    if _deadline is not None and time.monotonic() > _deadline:
        raise TimeLimitError("time limit reached")


@contextlib.contextmanager
def deadline(end: float | None):
    """Raise `TimeLimitError` from averages still running at ``end``.

    ``end`` is a `time.monotonic` value; ``None`` sets no limit.
    """
    global _deadline
    previous = _deadline
    if end is not None:
        _deadline = end if previous is None else min(previous, end)
    try:
        yield
    finally:
        _deadline = previous


def clear_wick_cache() -> None:
    """Forget the memoised averages of intermediate graphs."""
    with _memo_lock:
        _memo.clear()
        _leading_memo.clear()
        _face_memo.clear()


def _number_by_size(groups: dict, kind: str, first: int, cells, shape) -> dict:
    """Number the members of ``groups`` (label -> members) from ``first`` on.

    Members with one label (a twin-class size, or the colours of a bundle)
    are consecutive and form one nauty cell, in the order of the sorted
    labels; ``cells`` and ``shape`` get one entry per label.  Returns the
    vertex of each member.
    """
    vertex_of = {}
    vertex = first
    for label in sorted(groups):
        start = vertex
        for member in groups[label]:
            vertex_of[member] = vertex
            vertex += 1
        cells.append(range(start, vertex))
        shape.append((kind, label, vertex - start))
    return vertex_of


def _state_key(n_h: int, n_p: int, edges) -> tuple | bytes:
    """A key equal for two graphs exactly when they are isomorphic.

    The compiled canonical form of `_feynflow_speedups` when it is at hand
    and cheap for the graph (it says so by the graph's refined classes alone,
    so isomorphic graphs always get the same kind of key), else
    `_nauty_key`.
    """
    if _fast is not None:
        try:
            key = _fast.state_key(n_h, n_p, edges)
        except OverflowError:  # colours above its range
            key = None
        if key is not None:
            return key
    return _nauty_key(n_h, n_p, edges)


def _nauty_key(n_h: int, n_p: int, edges) -> tuple:
    """Isomorphism class of a graph, as nauty's certificate of a smaller graph.

    Parallel edges are bundled (see `feynflow.diagrams._bundle_graph`), and
    *twins* are merged: p-nodes with the same bundles to the same H-nodes
    (such as the ``nu`` p-nodes of a ``D``) become one vertex whose cell
    records how many they are, and so do H-nodes with the same bundles to the
    same p-nodes.  Twins are interchangeable, so two graphs are isomorphic
    exactly when these quotients are (all bundles between two twin classes
    are alike); and nauty, which would otherwise search through every
    permutation of the twins, gets a graph without that symmetry.
    """
    # Counting equal edges first (in C) leaves one step per bundle colour.
    colours_of: dict[tuple[int, int], tuple[int, ...]] = {}
    for (h, i, colour), count in sorted(Counter(edges).items()):
        colours_of[h, i] = colours_of.get((h, i), ()) + (colour,) * count
    p_bundles: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    for (h, i), colours in colours_of.items():
        p_bundles.setdefault(i, []).append((h, colours))
    # p-twin classes, numbered 0, 1, ... in order of first appearance.
    p_class: dict[tuple, int] = {}
    p_size: list[int] = []
    h_bundles: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    for bundles in p_bundles.values():
        bundles.sort()
        signature = tuple(bundles)
        index = p_class.get(signature)
        if index is None:
            p_class[signature] = index = len(p_size)
            p_size.append(0)
            for h, colours in bundles:
                h_bundles.setdefault(h, []).append((index, colours))
        p_size[index] += 1
    # H-twin classes over the p-twin classes.
    h_class: dict[tuple, int] = {}
    for bundles in h_bundles.values():
        signature = tuple(bundles)
        h_class[signature] = h_class.get(signature, 0) + 1
    cells: list[range] = []
    shape: list[tuple] = [(n_h, n_p)]
    p_groups: dict[int, list[int]] = {}
    for index, size in enumerate(p_size):
        p_groups.setdefault(size, []).append(index)
    p_vertex = _number_by_size(p_groups, "p", 0, cells, shape)
    h_groups: dict[int, list[tuple]] = {}
    for signature, size in h_class.items():
        h_groups.setdefault(size, []).append(signature)
    h_vertex = _number_by_size(h_groups, "H", len(p_vertex), cells, shape)
    # One vertex per bundle between twin classes, in one cell per colours.
    ends: list[list[int]] = []
    by_colours: dict[tuple[int, ...], list[int]] = {}
    for signature, vertex in h_vertex.items():
        for index, colours in signature:
            by_colours.setdefault(colours, []).append(len(ends))
            ends.append([vertex, p_vertex[index]])
    first = len(p_vertex) + len(h_vertex)
    bundle_vertex = _number_by_size(by_colours, "bundle", first, cells, shape)
    adjacency = {vertex: ends[k] for k, vertex in bundle_vertex.items()}
    vertex = first + len(ends)
    graph = pynauty.Graph.__new__(pynauty.Graph)
    graph.number_of_vertices = vertex
    graph.directed = False
    graph._adjacency_dict = adjacency
    graph._vertex_coloring = cells
    return tuple(shape), pynauty.certificate(graph)


def _compact(
    n_h: int, n_p: int, edges
) -> tuple[tuple[int, int], tuple[int, int, list[Edge]] | None]:
    """Drop nodes without edges; return their counts and the relabelled rest.

    Nodes without edges are never contracted again, so they only contribute
    a factor ``p`` or ``H`` each.  The rest is kept whole: it is not split
    into connected components, because a pairing may join edges of different
    components, so averages of components do not multiply.
    """
    used_h = sorted({h for h, _, _ in edges})
    used_p = sorted({i for _, i, _ in edges})
    isolated = (n_p - len(used_p), n_h - len(used_h))
    if not edges:
        return isolated, None
    if len(used_h) < n_h or used_h[-1] != len(used_h) - 1:
        h_map = {h: k for k, h in enumerate(used_h)}
        edges = [(h_map[h], i, c) for h, i, c in edges]
    if len(used_p) < n_p or used_p[-1] != len(used_p) - 1:
        p_map = {i: k for k, i in enumerate(used_p)}
        edges = [(h, p_map[i], c) for h, i, c in edges]
    return isolated, (len(used_h), len(used_p), list(edges))


def _add_python(total: PHPolynomial, part: PHPolynomial, weight: int, dq, dn) -> None:
    """``total[(q + dq, n + dn)] += weight * c`` for every ``(q, n): c`` of ``part``."""
    for (q, n), c in part.items():
        monomial = (q + dq, n + dn)
        total[monomial] = total.get(monomial, 0) + weight * c


_add_into = _add_python if _fast is None else _fast.add_into


def _shift(value: PHPolynomial, offset: tuple[int, int]) -> PHPolynomial:
    if offset == (0, 0):
        return value
    q0, n0 = offset
    return {(q + q0, n + n0): c for (q, n), c in value.items()}


def _graph_value(
    n_h: int, n_p: int, edges: list[Edge], leading: bool = False
) -> PHPolynomial:
    """Average (divided by sigma^(2l)) of any graph, as a p, H polynomial.

    With ``leading``, only the Pareto-optimal monomials are returned.
    """
    if not leading and _fast is not None:
        try:
            return _fast.average((n_h, n_p, edges), _memo, _state_step, check_deadline)
        except OverflowError:  # colours above the compiled loop's range
            pass
    isolated, state = _compact(n_h, n_p, edges)
    if state is None:
        return {isolated: 1}
    return _shift(_state_value(*state, leading), isolated)


def _class_average(graph) -> PHPolynomial:
    """`_graph_value` of a graph given as a compiled canonical form or a triple.

    ``graph`` is ``(n_h, n_p, edges)`` or, with the compiled loop, a
    canonical form (bytes) of `_feynflow_speedups.state_key`.  The value of
    a graph given by its canonical form (a class of a level of merged
    diagrams, met once) is not memoised; those of its parts are.
    """
    if isinstance(graph, bytes):
        return _fast.average(graph, _memo, _state_step, check_deadline, False)
    return _graph_value(*graph)


def pareto_front(value: PHPolynomial) -> PHPolynomial:
    """The monomials ``(q, n)`` of ``value`` not dominated by another one."""
    return {
        (q, n): c
        for (q, n), c in value.items()
        if not any(q2 >= q and n2 >= n and (q2, n2) != (q, n) for (q2, n2) in value)
    }


def _count_components(n_h: int, n_p: int, edges) -> int:
    """Number of connected components; a node without edges is one of its own."""
    if _fast is not None:
        try:
            return _fast.components(n_h, n_p, edges)
        except OverflowError:
            pass
    parent = list(range(n_h + n_p))
    count = n_h + n_p
    for h, i in {(h, i) for h, i, _ in edges}:
        a, b = h, n_h + i
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a != b:
            parent[a] = b
            count -= 1
    return count


def _class_total(n_h: int, n_p: int, edges) -> int:
    """At most ``min(E/2 + c, n_h + n_p)`` classes remain (see `class_bound`)."""
    return min(len(edges) // 2 + _count_components(n_h, n_p, edges), n_h + n_p)


def class_bound(n_h: int, n_p: int, edges) -> list[tuple[int, int]]:
    """Maximal ``(q, n)`` that a pairing of a graph could leave, as a staircase.

    Every pairing leaves at most ``n_p`` p-classes and ``n_h`` H-classes, and
    at most ``E/2 + c`` classes in all for ``E`` edges in ``c`` connected
    components: the contracted graph has ``E/2`` distinct edges and at most
    ``c`` components, so it has at most ``E/2 + c`` nodes.
    """
    total = _class_total(n_h, n_p, edges)
    return [(q, total - q) for q in range(max(0, total - n_h), min(n_p, total) + 1)]


def strictly_dominated(points, found) -> bool:
    """Whether every point of ``points`` is below some other point of ``found``.

    ``(q, n)`` is below ``(q2, n2)`` when ``q2 >= q``, ``n2 >= n`` and the two
    differ.

    Examples
    --------
    >>> strictly_dominated([(1, 2), (2, 1)], {(2, 2)})
    True
    >>> strictly_dominated([(2, 2)], {(2, 2)})
    False
    """
    return all(
        any(q2 >= q and n2 >= n and (q2, n2) != (q, n) for (q2, n2) in found)
        for q, n in points
    )


def _split(n_h: int, n_p: int, edges) -> list[tuple[int, int, list[Edge]]]:
    """The connected components of a graph without isolated nodes."""
    label = class_labels(n_h + n_p, edge_links(n_h, edges))
    groups: dict[int, list[Edge]] = {}
    for edge in edges:
        groups.setdefault(label[edge[0]], []).append(edge)
    if len(groups) == 1:
        return [(n_h, n_p, edges)]
    parts = []
    for group in groups.values():
        _, part = _compact(n_h, n_p, group)
        parts.append(part)
    return parts


def _factorised_front(n_h: int, n_p: int, edges) -> PHPolynomial | None:
    """Pareto front of a disconnected graph from the fronts of its components.

    Pairings inside the components reach the Minkowski sum of the components'
    fronts.  A pairing joining two components leaves at most ``E/2 + c - 1``
    classes (see `class_bound`); when every such ``(q, n)`` lies strictly
    below a point of that sum, no joining pairing reaches the front and the
    sum's front, with products of counts, is exact.  Otherwise (and for
    connected graphs) return None.
    """
    if _count_components(n_h, n_p, edges) == 1:
        return None
    parts = _split(n_h, n_p, edges)
    combined: PHPolynomial = {(0, 0): 1}
    for part in parts:
        front = _state_value(*part, True)
        if not front:
            # This part has no pairing of its own, so every pairing joins it
            # to another part: no Minkowski sum to compare with.
            return None
        product: PHPolynomial = {}
        for (q1, n1), c1 in combined.items():
            for (q2, n2), c2 in front.items():
                key = (q1 + q2, n1 + n2)
                product[key] = product.get(key, 0) + c1 * c2
        combined = pareto_front(product)
    joined = min(len(edges) // 2 + len(parts) - 1, n_h + n_p)
    joined_bound = [
        (q, joined - q) for q in range(max(0, joined - n_h), min(n_p, joined) + 1)
    ]
    if strictly_dominated(joined_bound, combined):
        return combined
    return None


def partner_orbits(graph, offset: int, edges, first: int) -> list[tuple[int, int]]:
    """Partners of edge ``first`` up to the automorphisms that fix it.

    ``graph`` is the nauty graph of the edges with ``first`` singled out and
    edge ``k`` at vertex ``offset + k``.  Returns one ``(partner, orbit size)``
    per orbit of same-colour partners: pairing ``first`` with partners of one
    orbit leaves isomorphic remainders.
    """
    orbit_of = pynauty.autgrp(graph)[3]
    colour = edges[first][2]
    size: dict[int, int] = {}
    representative: dict[int, int] = {}
    for k, edge in enumerate(edges):
        if k != first and edge[2] == colour:
            orbit = orbit_of[offset + k]
            size[orbit] = size.get(orbit, 0) + 1
            representative.setdefault(orbit, k)
    return [(representative[orbit], size[orbit]) for orbit in representative]


def _bundle_partners(n_h, n_p, edges, first):
    """Partners of edge ``first``, one per orbit of the stabiliser of its bundle.

    Parallel edges of one colour are interchangeable, so fixing ``first`` is
    fixing its bundle, and a partner is determined, up to the automorphisms
    that fix that bundle, by the orbit of its own bundle.  Returns
    ``(h, i, weight)`` per orbit: the partner's endpoints and the number of
    partners in the orbit.
    """
    h_e, i_e, colour = edges[first]
    graph, _, vertex_of = _bundle_graph(n_h, n_p, edges, singled=(h_e, i_e))
    orbit_of = pynauty.autgrp(graph)[3]
    count: dict[tuple[int, int], int] = {}
    for h, i, c in edges:
        if c == colour:
            count[(h, i)] = count.get((h, i), 0) + 1
    count[(h_e, i_e)] -= 1
    weight: dict[int, int] = {}
    representative: dict[int, tuple[int, int]] = {}
    for pair, k in count.items():
        if k:
            orbit = orbit_of[vertex_of[pair]]
            weight[orbit] = weight.get(orbit, 0) + k
            representative.setdefault(orbit, pair)
    return [(*representative[orbit], weight[orbit]) for orbit in representative]


def _contract(n_h, n_p, edges, first, h_f, i_f):
    """Pair edge ``first`` with an edge of its colour at ``(h_f, i_f)``.

    Deletes both edges, identifies their H-endpoints and their p-endpoints,
    and drops a node left without edges.  Returns the numbers ``(q, n)`` of
    dropped p- and H-nodes and the rest ``(n_h, n_p, edges)``, numbered
    without gaps.
    """
    h_e, i_e, colour = edges[first]
    rest = list(edges)
    del rest[first]
    rest.remove((h_f, i_f, colour))
    degree_h = degree_p = 0
    for h, i, _ in rest:
        if h in (h_e, h_f):
            degree_h += 1
        if i in (i_e, i_f):
            degree_p += 1
    # Node numbers: h_f joins h_e, and the joined node goes when it has no
    # edges left; the numbers above a removed node shift down by one.
    h_of = list(range(n_h))
    h_of[h_f] = h_e
    gone_h = sorted({h_f} - {h_e} | (set() if degree_h else {h_e}))
    i_of = list(range(n_p))
    i_of[i_f] = i_e
    gone_p = sorted({i_f} - {i_e} | (set() if degree_p else {i_e}))
    if gone_h:
        h_of = [h - sum(1 for g in gone_h if g < h) for h in h_of]
    if gone_p:
        i_of = [i - sum(1 for g in gone_p if g < i) for i in i_of]
    rest = [(h_of[h], i_of[i], c) for h, i, c in rest]
    isolated = (int(not degree_p), int(not degree_h))
    return isolated, (n_h - len(gone_h), n_p - len(gone_p), rest)


def _first_edge(n_h: int, n_p: int, edges, counts: dict[int, int]) -> int:
    """The edge to pair first: of the rarest colour, at a node of least degree.

    The rarest colour gives the fewest branches, and the node of least degree
    is soon left without edges, so states shrink fast.  ``counts`` holds the
    number of edges of each colour.
    """
    degree_h = [0] * n_h
    degree_p = [0] * n_p
    for h, i, _ in edges:
        degree_h[h] += 1
        degree_p[i] += 1
    return min(
        range(len(edges)),
        key=lambda k: (
            counts[edges[k][2]],
            min(degree_h[edges[k][0]], degree_p[edges[k][1]]),
            k,
        ),
    )


def _pick_first(n_h: int, n_p: int, edges) -> int:
    """`_first_edge` of a graph, or -1 when a colour has an odd number of edges."""
    if _fast is not None:
        try:
            return _fast.first_edge(n_h, n_p, edges)
        except OverflowError:
            pass
    counts: dict[int, int] = {}
    for _, _, colour in edges:
        counts[colour] = counts.get(colour, 0) + 1
    if any(count % 2 for count in counts.values()):
        return -1
    return _first_edge(n_h, n_p, edges, counts)


def _branches(n_h: int, n_p: int, edges, first: int) -> list[tuple]:
    """Every pairing of edge ``first``, as ``(weight, isolated, state, key)``.

    ``weight`` pairings leave ``isolated = (q, n)`` nodes without edges and a
    remainder isomorphic to ``state = (n_h, n_p, edges)``, whose `_state_key`
    is ``key`` (None when not computed yet).  In Python, partners are taken
    one per orbit of the stabiliser of the first edge (`_bundle_partners`);
    the compiled loop instead contracts with every partner bundle and groups
    the remainders by their canonical forms, which is cheaper there than
    finding orbits, except for graphs too symmetric for its canonical form
    (it then says so, and the orbits are used).
    """
    if _fast is not None:
        try:
            found = _fast.branches(n_h, n_p, edges, first)
        except OverflowError:
            found = None
        if found is not None:
            return [
                (weight, (q, n), (n_h2, n_p2, rest), key)
                for weight, q, n, n_h2, n_p2, rest, key in found
            ]
    return [
        (weight, *_contract(n_h, n_p, edges, first, h_f, i_f), None)
        for h_f, i_f, weight in _bundle_partners(n_h, n_p, edges, first)
    ]


def _follow(value: PHPolynomial, weight, isolated, state, child, leading) -> None:
    """Add ``weight`` times the average of one branch (see `_branches`) to ``value``."""
    if state[2]:
        _add_into(value, _state_value(*state, leading, child), weight, *isolated)
    else:
        value[isolated] = value.get(isolated, 0) + weight


def _state_value(n_h: int, n_p: int, edges, leading: bool, key=None) -> PHPolynomial:
    """Average of a graph with at least one edge and no node without edges.

    Pairs one edge ``e`` with each partner of its colour, contracts, and
    recurses.  Partners in one orbit of the stabiliser of ``e`` give
    isomorphic remainders, so one partner per orbit is followed and weighted
    by the orbit's size.  Values are memoised under the isomorphism class of
    the graph (see `_state_key`).
    With ``leading``, only the Pareto front of the state is kept, and a
    partner is skipped when `class_bound` shows that all it can reach lies
    strictly below monomials already found.
    """
    if not leading and _fast is not None:
        try:
            return _fast.average((n_h, n_p, edges), _memo, _state_step, check_deadline)
        except OverflowError:
            pass
    return _state_step(n_h, n_p, edges, leading, key)


def _state_step(n_h: int, n_p: int, edges, leading: bool = False, key=None):
    """One level of `_state_value`: pair the first edge, recurse on the rest.

    The compiled recursion calls it for graphs too symmetric for its own
    canonical form; partners are then grouped by nauty's orbits.
    """
    memo = _leading_memo if leading else _memo
    if key is None:
        key = _state_key(n_h, n_p, edges)
    cached = memo.get(key)
    if cached is not None:
        return cached
    check_deadline()

    if leading:
        value = _factorised_front(n_h, n_p, edges)
        if value is not None:
            with _memo_lock:
                memo[key] = value
            return value

    first = _pick_first(n_h, n_p, edges)
    if first < 0:
        with _memo_lock:
            memo[key] = {}
        return {}
    branches = _branches(n_h, n_p, edges, first)

    value: PHPolynomial = {}
    if leading:
        bounded = []
        for weight, isolated, state, child in branches:
            if state[2]:
                bound = [
                    (q + isolated[0], n + isolated[1]) for q, n in class_bound(*state)
                ]
            else:
                bound = [isolated]
            bounded.append(
                (max(q + n for q, n in bound), bound, weight, isolated, state, child)
            )
        # Follow the most promising partners first, so that later ones are
        # more often cut off by what they have found.
        bounded.sort(key=lambda item: -item[0])
        for _, bound, *branch in bounded:
            if value and strictly_dominated(bound, value):
                continue
            _follow(value, *branch, True)
        value = pareto_front(value)
    else:
        for branch in branches:
            _follow(value, *branch, False)
    value = {k: c for k, c in value.items() if c}
    with _memo_lock:
        memo[key] = value
    return value


def _compact_bound(n_h: int, n_p: int, edges, weights: tuple[int, int]) -> int:
    """`linear_bound` of a graph with edges and no node without edges.

    A pairing of ``E`` edges leaves
    classes that each keep at least one of the ``E/2`` contracted edges, so
    ``q, n <= E/2``, and ``q + n <= E/2 + c`` for ``c`` components (see
    `class_bound`).  A class has even degree in every colour, so nodes of
    odd degree in some colour (odd nodes) are never alone: at most
    ``even + odd/2`` classes of each kind.  There is at least one H-class,
    and when every p-node carries a single colour (ASYM) p-nodes of
    different colours are never identified, so there are at least as many
    p-classes as colours.  The bound maximises the weighted sum over these
    constraints.
    """
    wq, wn = weights
    half = len(edges) // 2
    total = _class_total(n_h, n_p, edges)
    parity_p = [0] * n_p
    parity_h = [0] * n_h
    colours_at: list[set[int]] = [set() for _ in range(n_p)]
    for h, i, colour in edges:
        bit = 1 << colour
        parity_p[i] ^= bit
        parity_h[h] ^= bit
        colours_at[i].add(colour)
    odd_p = sum(1 for x in parity_p if x)
    odd_h = sum(1 for x in parity_h if x)
    if all(len(c) == 1 for c in colours_at):
        least_q = len({colour for _, _, colour in edges})
    else:
        least_q = 1
    most_q = min(n_p - odd_p + odd_p // 2, half, total - 1)
    most_n = min(n_h - odd_h + odd_h // 2, half, total - least_q)
    if wq >= wn:
        return wq * most_q + wn * min(most_n, total - most_q)
    return wn * most_n + wq * min(most_q, total - most_n)


def _state_face(
    n_h: int, n_p: int, edges, weights: tuple[int, int], state_key=None
) -> tuple[int | None, PHPolynomial]:
    """Pairings of a graph maximising ``wq*q + wn*n``: the maximum and counts.

    The recursion of `_state_value`, keeping only the monomials of largest
    weighted degree.  Counts are positive, so the top face of a sum is the
    sum of the top faces of the branches reaching its maximum, and a branch
    whose bound (see `linear_bound`) lies below a maximum already found is
    skipped.
    Returns ``(None, {})`` when the graph has no pairing.
    """
    key = (weights, _state_key(n_h, n_p, edges) if state_key is None else state_key)
    cached = _face_memo.get(key)
    if cached is not None:
        return cached
    check_deadline()
    first = _pick_first(n_h, n_p, edges)
    if first < 0:
        with _memo_lock:
            _face_memo[key] = (None, {})
        return None, {}
    wq, wn = weights
    branches = []
    for weight, isolated, state, child in _branches(n_h, n_p, edges, first):
        shift = wq * isolated[0] + wn * isolated[1]
        bound = shift + (_compact_bound(*state, weights) if state[2] else 0)
        branches.append((bound, shift, weight, isolated, state, child))
    branches.sort(key=lambda branch: -branch[0])
    best: int | None = None
    value: PHPolynomial = {}
    for bound, shift, weight, isolated, state, child in branches:
        if best is not None and bound < best:
            break
        if state[2]:
            top, counts_below = _state_face(*state, weights, child)
            if top is None:
                continue
            top += shift
        else:
            top, counts_below = shift, {(0, 0): 1}
        if best is None or top > best:
            best, value = top, {}
        if top == best:
            _add_into(value, counts_below, weight, *isolated)
    result = (best, value)
    with _memo_lock:
        _face_memo[key] = result
    return result


def _contract_targets(diagram: Diagram) -> tuple[int, int, tuple[Edge, ...]]:
    """Identify the p-nodes of every target hyper-edge (a Kronecker delta)."""
    if not diagram.targets:
        return diagram.n_h, diagram.n_p, diagram.edges
    joined = class_labels(
        diagram.n_p, ((nodes[0], i) for nodes in diagram.targets for i in nodes[1:])
    )
    roots = sorted(set(joined))
    label = {root: k for k, root in enumerate(roots)}
    edges = tuple((h, label[joined[i]], c) for h, i, c in diagram.edges)
    return diagram.n_h, len(roots), edges


def diagram_bound(diagram: Diagram) -> list[tuple[int, int]]:
    """`class_bound` of a diagram whose target hyper-edges are contracted."""
    return class_bound(*_contract_targets(diagram))


def wick_counts(diagram: Diagram, leading: bool = False) -> PHPolynomial:
    """Number of pairings of ``diagram`` leaving each ``(q, n)``.

    Returns ``{(q, n): count}``: ``count`` pairings of the edges leave ``q``
    distinct p-nodes and ``n`` distinct H-nodes.  The Gaussian average is
    ``sum count * p^q H^n sigma^(2l)``.  With ``leading``, only the
    Pareto-optimal ``(q, n)`` (not dominated componentwise by another one
    present) are returned, with their exact counts.

    Examples
    --------
    >>> from feynflow.diagrams import d_diagram
    >>> sorted(wick_counts(d_diagram(2, symmetric=True)).items())
    [((1, 1), 1), ((1, 2), 1), ((2, 1), 1)]
    """
    if not isinstance(diagram, Diagram):
        raise ParameterError(f"{diagram!r} is not a Diagram")
    return dict(_graph_value(*_contract_targets(diagram), leading=leading))


def wick_graph_counts(n_h: int, n_p: int, edges, leading: bool = False) -> PHPolynomial:
    """`wick_counts` of a plain graph ``(n_h, n_p, edges)`` without targets.

    Examples
    --------
    The symmetric ``D_4`` as a plain graph:

    >>> d4 = [(0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
    >>> sorted(wick_graph_counts(2, 2, d4).items())
    [((1, 1), 1), ((1, 2), 1), ((2, 1), 1)]
    """
    n_h, n_p = _check_count("n_h", n_h), _check_count("n_p", n_p)
    edges = [_check_edge(edge, n_h, n_p) for edge in edges]
    return dict(_graph_value(n_h, n_p, edges, leading=leading))


def face_counts(diagram: Diagram, weights: tuple[int, int]) -> PHPolynomial:
    """Pairings of ``diagram`` whose ``(q, n)`` maximise ``wq*q + wn*n``.

    Returns ``{(q, n): count}`` for the monomials of the average on the top
    face of its Newton polygon in the direction ``weights = (wq, wn)``
    (positive integers), with exact counts; empty if the diagram has no
    pairing.  Equal to the terms of `wick_counts` of largest weighted degree,
    found without the others.

    Examples
    --------
    >>> from feynflow.diagrams import d_diagram
    >>> face_counts(d_diagram(2, symmetric=True), (2, 1))
    {(2, 1): 1}
    >>> sorted(face_counts(d_diagram(2, symmetric=True), (1, 1)).items())
    [((1, 2), 1), ((2, 1), 1)]
    """
    if not isinstance(diagram, Diagram):
        raise ParameterError(f"{diagram!r} is not a Diagram")
    return _face_of(*_contract_targets(diagram), _check_weights(weights))[1]


def _check_graph(n_h, n_p, edges) -> list[Edge]:
    """Refuse node counts and edges that do not describe a graph."""
    n_h, n_p = _check_count("n_h", n_h), _check_count("n_p", n_p)
    return [_check_edge(edge, n_h, n_p) for edge in edges]


def _check_weights(weights) -> tuple[int, int]:
    try:
        wq, wn = weights
    except (TypeError, ValueError):
        raise ParameterError(f"weights={weights!r} is not a pair (wq, wn)") from None
    if not all(
        isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in (wq, wn)
    ):
        raise ParameterError(
            f"weights={weights!r} is not allowed; use two positive integers"
        )
    return wq, wn


def _face_of(n_h, n_p, edges, weights) -> tuple[int | None, PHPolynomial]:
    """`_state_face` of any graph, nodes without edges included."""
    isolated, state = _compact(n_h, n_p, edges)
    offset = weights[0] * isolated[0] + weights[1] * isolated[1]
    if state is None:
        return offset, {isolated: 1}
    top, value = _state_face(*state, weights)
    if top is None:
        return None, {}
    return top + offset, _shift(value, isolated)


def linear_bound(n_h: int, n_p: int, edges, weights: tuple[int, int]) -> int:
    """Upper bound on ``wq*q + wn*n`` over the pairings of a graph.

    ``weights = (wq, wn)`` are positive integers.  Nodes without edges count
    once each.  Among the rest, a pairing of ``E`` edges leaves classes that
    each keep at least one of the ``E/2`` contracted edges, so
    ``q, n <= E/2``, and ``q + n <= E/2 + c`` for ``c`` components (see
    `class_bound`).  A class has even degree in every colour, so nodes of
    odd degree in some colour are never alone: at most ``even + odd/2``
    classes of each kind.  There is at least one H-class, and when every
    p-node carries a single colour (ASYM) p-nodes of different colours are
    never identified, so there are at least as many p-classes as colours.
    The bound maximises the weighted sum under these constraints.

    Examples
    --------
    >>> linear_bound(1, 1, [(0, 0, 1), (0, 0, 1)], (1, 1))
    2
    >>> linear_bound(2, 1, [(0, 0, 1), (1, 0, 1)], (1, 5))
    6
    """
    weights = _check_weights(weights)
    return _graph_bound(n_h, n_p, _check_graph(n_h, n_p, edges), weights)


def _graph_bound(n_h, n_p, edges, weights) -> int:
    """`linear_bound` of a graph known to be valid, nodes without edges included."""
    isolated, state = _compact(n_h, n_p, edges)
    offset = weights[0] * isolated[0] + weights[1] * isolated[1]
    return offset if state is None else offset + _compact_bound(*state, weights)


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
    partners that leave isomorphic remainders are followed once (found as
    orbits of the stabiliser of the first edge, or, in the compiled inner
    loop of `feynflow._compiled`, by equal canonical forms).  Averages of
    intermediate graphs are memoised for the life of the process (see
    `clear_wick_cache`).  A disjoint union is *not* averaged
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
    # Built from domain elements directly: converting every coefficient
    # through sympy.Rational costs more than the averages of small orders.
    data = {k: sympy.QQ(c.numerator, c.denominator) for k, c in terms.items() if c}
    return sympy.Poly.new(DMP.from_dict(data, len(POLY_GENS) - 1, sympy.QQ), *POLY_GENS)
