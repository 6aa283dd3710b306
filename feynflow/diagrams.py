"""Diagrams of the loss expansion, their canonical forms, sums and merging.

A *diagram* is a bipartite multigraph with two kinds of nodes and coloured
edges.  An *H-node* stands for a summed rank index ``k = 1..H``, a *p-node* for
a summed target index ``i = 1..p``, and an edge ``(k, i, m)`` for the weight
``u[m][k][i]``.  The diagram's polynomial is the sum, over every assignment of
indices to its nodes, of the product of its edge weights.  A *target
hyper-edge* on a set of p-nodes stands for a Kronecker delta forcing their
indices to be equal.

References
----------
.. [1] D. Yarotsky, E. Golikov, M. Gusev, "Gradient Flow Through Diagram
   Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
   arXiv:2602.04548.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction

import pynauty

from feynflow import _compiled
from feynflow.errors import ParameterError

__all__ = [
    "Diagram",
    "DiagramSum",
    "d_diagram",
    "r_diagram",
    "merge",
    "check_nu",
    "MAX_NU",
    "canonical_form",
    "class_labels",
    "edge_links",
]

Edge = tuple[int, int, int]
Scalar = int | Fraction


#: Largest tensor order accepted: ``D_{2 nu}`` alone has ``(2 nu - 1)!!``
#: pairings, so far larger orders could only exhaust memory or time.
MAX_NU = 64


def check_nu(nu: object) -> int:
    """Return ``nu`` if it is an integer from 2 to `MAX_NU`, else raise."""
    if isinstance(nu, bool) or not isinstance(nu, numbers.Integral):
        raise ParameterError(f"nu={nu!r} is not an integer; nu must be >= 2")
    if nu < 2:
        raise ParameterError(f"nu={nu} is not allowed; nu must be an integer >= 2")
    if nu > MAX_NU:
        raise ParameterError(
            f"nu={nu} is not allowed; nu must be between 2 and {MAX_NU}"
        )
    return int(nu)


def class_labels(size: int, links: Iterable[tuple[int, int]]) -> list[int]:
    """Label ``0..size-1`` by the class each falls in when ``links`` are joined.

    Two elements get the same label exactly when a chain of links connects
    them (a union-find with path halving).

    Examples
    --------
    >>> class_labels(5, [(0, 3), (3, 4)])
    [4, 1, 2, 4, 4]
    """
    parent = list(range(size))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_a] = root_b
    return [find(x) for x in range(size)]


def edge_links(n_h: int, edges: Iterable[Edge]) -> Iterator[tuple[int, int]]:
    """Links ``(h, n_h + i)`` joining the endpoints of every edge ``(h, i, c)``."""
    return ((h, n_h + i) for h, i, _ in edges)


def _canonical_labelling(
    n_h: int,
    n_p: int,
    edges: tuple[Edge, ...],
    targets: tuple[tuple[int, ...], ...],
    singled_out: int | None = None,
) -> pynauty.Graph:
    """Return the nauty graph encoding a diagram.

    Each edge becomes a vertex of its own, joined to its two endpoints, so that
    multi-edges and colours are ordinary vertex colours for nauty.  Cells are
    ordered H-nodes, p-nodes, edges by colour, target hyper-edges; the edge
    ``singled_out`` (an index into ``edges``) gets a cell of its own.
    """
    first_edge = n_h + n_p
    first_target = first_edge + len(edges)
    adjacency: dict[int, list[int]] = {}
    by_colour: dict[int, set[int]] = {}
    for index, (h, i, colour) in enumerate(edges):
        vertex = first_edge + index
        adjacency[vertex] = [h, n_h + i]
        if index != singled_out:
            by_colour.setdefault(colour, set()).add(vertex)
    for index, nodes in enumerate(targets):
        adjacency[first_target + index] = [n_h + i for i in nodes]
    cells = [set(range(n_h)), set(range(n_h, first_edge))]
    cells += [by_colour[colour] for colour in sorted(by_colour)]
    if singled_out is not None:
        cells.append({first_edge + singled_out})
    cells.append(set(range(first_target, first_target + len(targets))))
    cells = [cell for cell in cells if cell]
    # The data above is well formed by construction, so the graph is filled in
    # directly: pynauty's own setters re-check every vertex, which costs more
    # than nauty itself on graphs of this size.
    graph = pynauty.Graph.__new__(pynauty.Graph)
    graph.number_of_vertices = first_target + len(targets)
    graph.directed = False
    graph._adjacency_dict = adjacency
    graph._vertex_coloring = cells if len(cells) > 1 else []
    return graph


def _bundle_graph(
    n_h: int, n_p: int, edges, singled: tuple[int, int] | None = None
) -> tuple[pynauty.Graph, tuple, dict[tuple[int, int], int]]:
    """The nauty graph of a graph with its parallel edges bundled.

    Each *bundle* (the edges joining one H-node to one p-node) becomes one
    vertex, joined to its two endpoints and coloured by the colours of its
    edges, so multi-edges cost nauty nothing.  Cells are ordered H-nodes,
    p-nodes, then bundles by colour signature; the bundle at ``singled`` (a
    pair ``(h, i)``) gets a cell of its own.  Returns the graph, the cell
    sizes (which, with nauty's certificate, identify the isomorphism class)
    and the vertex of each bundle.
    """
    colours_of: dict[tuple[int, int], list[int]] = {}
    for h, i, colour in edges:
        colours_of.setdefault((h, i), []).append(colour)
    by_signature: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for pair, colours in colours_of.items():
        if pair != singled:
            colours.sort()
            by_signature.setdefault(tuple(colours), []).append(pair)
    vertex = n_h + n_p
    vertex_of: dict[tuple[int, int], int] = {}
    adjacency: dict[int, list[int]] = {}
    cells = [set(range(n_h)), set(range(n_h, vertex))]
    shape = []
    for signature in sorted(by_signature):
        members = by_signature[signature]
        cells.append(set(range(vertex, vertex + len(members))))
        shape.append((signature, len(members)))
        for h, i in members:
            vertex_of[(h, i)] = vertex
            adjacency[vertex] = [h, n_h + i]
            vertex += 1
    if singled is not None:
        h, i = singled
        vertex_of[singled] = vertex
        adjacency[vertex] = [h, n_h + i]
        cells.append({vertex})
        vertex += 1
    graph = pynauty.Graph.__new__(pynauty.Graph)
    graph.number_of_vertices = vertex
    graph.directed = False
    graph._adjacency_dict = adjacency
    graph._vertex_coloring = cells
    return graph, (n_h, n_p, tuple(shape)), vertex_of


def graph_key(n_h: int, n_p: int, edges) -> tuple:
    """A hashable key equal for two graphs exactly when they are isomorphic.

    Isomorphisms map H-nodes to H-nodes and p-nodes to p-nodes and keep
    colours and multiplicities of edges, as for `Diagram`; nodes without
    edges count.  Cheaper than `canonical_form`, which also relabels.

    Examples
    --------
    >>> a = graph_key(2, 1, [(0, 0, 1), (1, 0, 2)])
    >>> a == graph_key(2, 1, [(1, 0, 1), (0, 0, 2)])
    True
    >>> a == graph_key(2, 1, [(0, 0, 1), (0, 0, 2)])
    False
    """
    if _compiled.fast is not None:
        try:
            key = _compiled.fast.state_key(n_h, n_p, edges)
        except OverflowError:  # colours above its range
            key = None
        if key is not None:
            return key
    # The edge-vertex graph of `_canonical_labelling`, built in one pass.
    first = n_h + n_p
    if not first:
        return 0, 0, (), b""
    adjacency = {first + k: [h, n_h + i] for k, (h, i, _) in enumerate(edges)}
    by_colour: dict[int, set[int]] = {}
    for vertex, (_, _, colour) in enumerate(edges, first):
        members = by_colour.get(colour)
        if members is None:
            by_colour[colour] = {vertex}
        else:
            members.add(vertex)
    colours = sorted(by_colour)
    cells = [set(range(n_h)), set(range(n_h, first))]
    cells += [by_colour[colour] for colour in colours]
    graph = pynauty.Graph.__new__(pynauty.Graph)
    graph.number_of_vertices = first + len(edges)
    graph.directed = False
    graph._adjacency_dict = adjacency
    graph._vertex_coloring = [cell for cell in cells if cell]
    shape = tuple((colour, len(by_colour[colour])) for colour in colours)
    return n_h, n_p, shape, pynauty.certificate(graph)


def canonical_form(
    n_h: int,
    n_p: int,
    edges: Iterable[Edge],
    targets: Iterable[tuple[int, ...]] = (),
) -> tuple[tuple[Edge, ...], tuple[tuple[int, ...], ...]]:
    """Relabel a diagram's nodes canonically; return its sorted edges and targets.

    Two diagrams with the same numbers of H- and p-nodes are isomorphic exactly
    when their canonical forms are equal.  The labelling comes from nauty [1]_
    through pynauty.

    References
    ----------
    .. [1] B. D. McKay, A. Piperno, "Practical graph isomorphism, II",
       J. Symbolic Comput. 60 (2014) 94-112.
    """
    edges, targets = tuple(edges), tuple(targets)
    if n_h + n_p == 0:
        return (), ()
    graph = _canonical_labelling(n_h, n_p, edges, targets)
    position = [0] * (n_h + n_p)
    for new, old in enumerate(pynauty.canon_label(graph)[: n_h + n_p]):
        position[old] = new
    h_label = position[:n_h]
    p_label = [position[n_h + i] - n_h for i in range(n_p)]
    return (
        tuple(sorted((h_label[h], p_label[i], c) for h, i, c in edges)),
        tuple(sorted(tuple(sorted(p_label[i] for i in t)) for t in targets)),
    )


class Diagram:
    """A diagram: H-nodes, p-nodes, coloured edges and target hyper-edges.

    Diagrams are immutable values kept in a canonical form, so isomorphic
    diagrams (bijections of H-nodes and of p-nodes that preserve edges with
    their colours and multiplicities) compare and hash equal.

    Parameters
    ----------
    n_h, n_p : int
        Numbers of H-nodes and p-nodes, labelled ``0..n_h-1`` and ``0..n_p-1``.
    edges : iterable of (h, i, colour)
        One triple per edge; repeated triples are parallel edges.  Colours are
        positive integers (``1..nu``; a symmetric model uses colour 1 only).
    targets : iterable of tuples of p-nodes, optional
        Target hyper-edges, each a Kronecker delta on the indices of its
        p-nodes.

    Examples
    --------
    >>> from feynflow.diagrams import Diagram
    >>> a = Diagram(2, 1, [(0, 0, 1), (1, 0, 1)])
    >>> b = Diagram(2, 1, [(1, 0, 1), (0, 0, 1)])
    >>> a == b
    True
    >>> a
    Diagram(n_h=2, n_p=1, edges=[(0, 0, 1), (1, 0, 1)])
    """

    __slots__ = ("n_h", "n_p", "edges", "targets", "_hash", "_orbits")

    n_h: int
    n_p: int
    edges: tuple[Edge, ...]
    targets: tuple[tuple[int, ...], ...]

    def __init__(
        self,
        n_h: int,
        n_p: int,
        edges: Iterable[Edge],
        targets: Iterable[Iterable[int]] = (),
    ) -> None:
        n_h, n_p = _check_count("n_h", n_h), _check_count("n_p", n_p)
        edges = tuple(_check_edge(edge, n_h, n_p) for edge in edges)
        targets = tuple(_check_target(nodes, n_p) for nodes in targets)
        self._set_canonical(n_h, n_p, edges, targets)

    @classmethod
    def _from_raw(
        cls,
        n_h: int,
        n_p: int,
        edges: tuple[Edge, ...],
        targets: tuple[tuple[int, ...], ...] = (),
    ) -> Diagram:
        """Canonicalise already-validated data (no argument checks)."""
        diagram = cls.__new__(cls)
        diagram._set_canonical(n_h, n_p, edges, targets)
        return diagram

    def _set_canonical(self, n_h, n_p, edges, targets) -> None:
        edges, targets = canonical_form(n_h, n_p, edges, targets)
        object.__setattr__(self, "n_h", n_h)
        object.__setattr__(self, "n_p", n_p)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "_hash", hash((n_h, n_p, edges, targets)))
        object.__setattr__(self, "_orbits", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Diagram is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagram):
            return NotImplemented
        return (
            self._hash == other._hash
            and self.n_h == other.n_h
            and self.n_p == other.n_p
            and self.edges == other.edges
            and self.targets == other.targets
        )

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Diagram) -> bool:
        return self.sort_key() < other.sort_key()

    def sort_key(self) -> tuple:
        """A total order on diagrams, for deterministic output."""
        return (len(self.edges), self.n_h, self.n_p, self.edges, self.targets)

    def __repr__(self) -> str:
        text = f"Diagram(n_h={self.n_h}, n_p={self.n_p}, edges={list(self.edges)}"
        if self.targets:
            text += f", targets={list(self.targets)}"
        return text + ")"

    def __getstate__(self) -> tuple:
        return (self.n_h, self.n_p, self.edges, self.targets)

    def __setstate__(self, state: tuple) -> None:
        n_h, n_p, edges, targets = state
        for name, value in zip(("n_h", "n_p", "edges", "targets"), state, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_hash", hash((n_h, n_p, edges, targets)))
        object.__setattr__(self, "_orbits", None)

    # -- arithmetic: a diagram is also the one-term sum ``1 * diagram`` ------

    def __add__(self, other: object) -> DiagramSum:
        return DiagramSum.from_diagram(self) + other

    __radd__ = __add__

    def __sub__(self, other: object) -> DiagramSum:
        return DiagramSum.from_diagram(self) - other

    def __rsub__(self, other: object) -> DiagramSum:
        return other - DiagramSum.from_diagram(self)

    def __neg__(self) -> DiagramSum:
        return -DiagramSum.from_diagram(self)

    def __mul__(self, scalar: object) -> DiagramSum:
        return DiagramSum.from_diagram(self) * scalar

    __rmul__ = __mul__

    # -- structure ----------------------------------------------------------

    @property
    def n_edges(self) -> int:
        """Number of edges (the total degree of the diagram's polynomial)."""
        return len(self.edges)

    @property
    def colours(self) -> tuple[int, ...]:
        """The colours used by the edges, sorted."""
        return tuple(sorted({c for _, _, c in self.edges}))

    def colour_counts(self) -> dict[int, int]:
        """Number of edges of each colour."""
        counts: dict[int, int] = {}
        for _, _, colour in self.edges:
            counts[colour] = counts.get(colour, 0) + 1
        return counts

    def edge_orbits(self) -> tuple[tuple[int, int], ...]:
        """Orbits of the edges under the diagram's automorphism group.

        Returns
        -------
        tuple of (edge index, orbit size)
            One representative per orbit, as an index into `edges`.
        """
        if self._orbits is None:
            graph = _canonical_labelling(self.n_h, self.n_p, self.edges, self.targets)
            orbit_of = pynauty.autgrp(graph)[3]
            first = self.n_h + self.n_p
            sizes: dict[int, list[int]] = {}
            for index in range(len(self.edges)):
                sizes.setdefault(orbit_of[first + index], []).append(index)
            orbits = tuple((members[0], len(members)) for members in sizes.values())
            object.__setattr__(self, "_orbits", orbits)
        return self._orbits

    def is_connected(self) -> bool:
        """Whether every node can be reached from every other one."""
        return len(self.components()) <= 1

    def components(self) -> list[Diagram]:
        """The connected components, each as a diagram of its own."""
        n = self.n_h + self.n_p
        links = list(edge_links(self.n_h, self.edges))
        links += [
            (self.n_h + nodes[0], self.n_h + i)
            for nodes in self.targets
            for i in nodes[1:]
        ]
        label = class_labels(n, links)
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for node in range(n):
            kind = 0 if node < self.n_h else 1
            groups.setdefault(label[node], ([], []))[kind].append(node)
        parts = []
        for hs, ps in groups.values():
            h_map = {h: k for k, h in enumerate(hs)}
            p_map = {node - self.n_h: k for k, node in enumerate(ps)}
            edges = tuple(
                (h_map[h], p_map[i], c) for h, i, c in self.edges if h in h_map
            )
            targets = tuple(
                tuple(p_map[i] for i in t) for t in self.targets if t[0] in p_map
            )
            parts.append(Diagram._from_raw(len(hs), len(ps), edges, targets))
        return sorted(parts)

    def relabelled(self, h_order: Iterable[int], p_order: Iterable[int]) -> Diagram:
        """The same diagram with H-node ``h`` renamed ``h_order[h]`` (and p)."""
        h_order, p_order = list(h_order), list(p_order)
        if sorted(h_order) != list(range(self.n_h)) or sorted(p_order) != list(
            range(self.n_p)
        ):
            raise ParameterError("relabelling must be a permutation of the nodes")
        edges = [(h_order[h], p_order[i], c) for h, i, c in self.edges]
        targets = [[p_order[i] for i in t] for t in self.targets]
        return Diagram(self.n_h, self.n_p, edges, targets)

    def to_networkx(self):
        """Return a ``networkx.MultiGraph`` for drawing.

        H-nodes are named ``("H", k)`` and p-nodes ``("p", i)``, with node
        attribute ``kind`` (``"H"`` or ``"p"``); each edge has attribute
        ``colour``.  Target hyper-edges become nodes ``("F", j)`` of kind
        ``"target"`` joined to their p-nodes.

        Examples
        --------
        >>> g = d_diagram(2, symmetric=False).to_networkx()
        >>> g.number_of_nodes(), g.number_of_edges()
        (4, 4)
        """
        import networkx as nx

        graph = nx.MultiGraph()
        graph.add_nodes_from((("H", k), {"kind": "H"}) for k in range(self.n_h))
        graph.add_nodes_from((("p", i), {"kind": "p"}) for i in range(self.n_p))
        for h, i, colour in self.edges:
            graph.add_edge(("H", h), ("p", i), colour=colour)
        for j, nodes in enumerate(self.targets):
            graph.add_node(("F", j), kind="target")
            for i in nodes:
                graph.add_edge(("F", j), ("p", i), colour=0)
        return graph


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}={value!r} is not an integer; must be >= 0")
    if value < 0:
        raise ParameterError(f"{name}={value} is negative; must be >= 0")
    return int(value)


def _check_edge(edge: object, n_h: int, n_p: int) -> Edge:
    try:
        h, i, colour = edge  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ParameterError(f"edge {edge!r} is not a triple (h, i, colour)") from None
    if not all(isinstance(x, numbers.Integral) for x in (h, i, colour)):
        raise ParameterError(f"edge {edge!r} must hold three integers")
    if not (0 <= h < n_h and 0 <= i < n_p):
        raise ParameterError(
            f"edge {edge!r} names a node outside 0..{n_h - 1} (H) or 0..{n_p - 1} (p)"
        )
    if colour < 1:
        raise ParameterError(f"edge {edge!r} has colour {colour}; colours are >= 1")
    return (int(h), int(i), int(colour))


def _check_target(nodes: Iterable[int], n_p: int) -> tuple[int, ...]:
    nodes = tuple(nodes)
    if not nodes or not all(
        isinstance(i, numbers.Integral) and 0 <= i < n_p for i in nodes
    ):
        raise ParameterError(
            f"target hyper-edge {nodes!r} must list p-nodes in 0..{n_p - 1}"
        )
    return tuple(int(i) for i in nodes)


def d_diagram(nu: int, symmetric: bool = True) -> Diagram:
    """The diagram ``D_{2 nu}`` of ``sum f^2``.

    Two H-nodes and ``nu`` p-nodes; p-node ``m`` is joined to both H-nodes by
    an edge of colour ``m`` (colour 1 throughout in the symmetric model).

    Examples
    --------
    >>> d_diagram(2, symmetric=False)
    Diagram(n_h=2, n_p=2, edges=[(0, 0, 2), (0, 1, 1), (1, 0, 2), (1, 1, 1)])
    """
    nu = check_nu(nu)
    edges = []
    for m in range(nu):
        colour = 1 if symmetric else m + 1
        edges += [(0, m, colour), (1, m, colour)]
    return Diagram(2, nu, edges)


def r_diagram(nu: int, symmetric: bool = True) -> Diagram:
    """The diagram ``R_nu`` of ``sum f F`` for the identity target.

    One H-node and one p-node joined by ``nu`` edges of colours ``1..nu``
    (all colour 1 in the symmetric model).

    Examples
    --------
    >>> r_diagram(3, symmetric=True)
    Diagram(n_h=1, n_p=1, edges=[(0, 0, 1), (0, 0, 1), (0, 0, 1)])
    """
    nu = check_nu(nu)
    return Diagram(1, 1, [(0, 0, 1 if symmetric else m + 1) for m in range(nu)])


def _as_fraction(value: object) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Rational) and not isinstance(value, bool):
        return Fraction(value.numerator, value.denominator)
    if hasattr(value, "is_Rational") and value.is_Rational:  # sympy Rational
        return Fraction(int(value.p), int(value.q))
    raise ParameterError(
        f"coefficient {value!r} is not an exact rational; use int or Fraction"
    )


class DiagramSum(Mapping):
    """A linear combination of diagrams with exact rational coefficients.

    Equal (isomorphic) diagrams are combined and zero terms dropped.  Sums
    support ``+``, ``-``, multiplication by a rational, and `merge`.

    Examples
    --------
    >>> from fractions import Fraction
    >>> d, r = d_diagram(2), r_diagram(2)
    >>> a = Fraction(1, 2) * d - r
    >>> len(a), a[d], a[r]
    (2, Fraction(1, 2), Fraction(-1, 1))
    >>> (a - a) == DiagramSum()
    True
    """

    __slots__ = ("_terms",)

    def __init__(self, terms: Mapping[Diagram, object] | None = None) -> None:
        combined: dict[Diagram, Fraction] = {}
        for diagram, coeff in (terms or {}).items():
            if not isinstance(diagram, Diagram):
                raise ParameterError(f"{diagram!r} is not a Diagram")
            value = combined.get(diagram, Fraction(0)) + _as_fraction(coeff)
            combined[diagram] = value
        self._terms = {d: c for d, c in combined.items() if c}

    @classmethod
    def from_diagram(cls, diagram: Diagram, coeff: Scalar = 1) -> DiagramSum:
        """The one-term sum ``coeff * diagram``."""
        return cls({diagram: coeff})

    @classmethod
    def _trusted(cls, terms: dict[Diagram, Fraction]) -> DiagramSum:
        result = cls.__new__(cls)
        result._terms = {d: c for d, c in terms.items() if c}
        return result

    def __getitem__(self, diagram: Diagram) -> Fraction:
        return self._terms[diagram]

    def __iter__(self) -> Iterator[Diagram]:
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)

    def sorted_items(self) -> list[tuple[Diagram, Fraction]]:
        """The terms ``(diagram, coefficient)`` in the order of `Diagram.sort_key`."""
        return sorted(self._terms.items(), key=lambda term: term[0].sort_key())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Diagram):
            other = DiagramSum.from_diagram(other)
        if not isinstance(other, DiagramSum):
            return NotImplemented
        return self._terms == other._terms

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not self._terms:
            return "DiagramSum({})"
        parts = [f"{c}*{d!r}" for d, c in self.sorted_items()]
        return "DiagramSum(" + " + ".join(parts) + ")"

    def _coerce(self, other: object) -> DiagramSum:
        if isinstance(other, DiagramSum):
            return other
        if isinstance(other, Diagram):
            return DiagramSum.from_diagram(other)
        if isinstance(other, numbers.Number) and other == 0:
            return DiagramSum()
        raise ParameterError(f"cannot add {other!r} to a DiagramSum")

    def __add__(self, other: object) -> DiagramSum:
        other = self._coerce(other)
        terms = dict(self._terms)
        for diagram, coeff in other._terms.items():
            terms[diagram] = terms.get(diagram, Fraction(0)) + coeff
        return DiagramSum._trusted(terms)

    __radd__ = __add__

    def __neg__(self) -> DiagramSum:
        return DiagramSum._trusted({d: -c for d, c in self._terms.items()})

    def __sub__(self, other: object) -> DiagramSum:
        return self + (-self._coerce(other))

    def __rsub__(self, other: object) -> DiagramSum:
        return self._coerce(other) - self

    def __mul__(self, scalar: object) -> DiagramSum:
        if isinstance(scalar, (Diagram, DiagramSum)):
            raise ParameterError("use merge(a, b) to combine two diagram sums")
        factor = _as_fraction(scalar)
        return DiagramSum._trusted({d: c * factor for d, c in self._terms.items()})

    __rmul__ = __mul__

    @property
    def n_edges(self) -> set[int]:
        """The edge counts of the diagrams present."""
        return {d.n_edges for d in self._terms}


def _raw_mergers(a: Diagram, b: Diagram) -> Iterator[tuple]:
    """Merge two diagrams; yield ``(n_h, n_p, edges, targets, multiplicity)``.

    Edges in one automorphism orbit give isomorphic results, so one
    representative per orbit pair is merged and counted by the orbit sizes.
    The results are not canonical.
    """
    orbits_b = b.edge_orbits()
    n_h, n_p = a.n_h + b.n_h - 1, a.n_p + b.n_p - 1
    for index_a, size_a in a.edge_orbits():
        h_a, i_a, colour = a.edges[index_a]
        kept_a = a.edges[:index_a] + a.edges[index_a + 1 :]
        for index_b, size_b in orbits_b:
            h_b, i_b, colour_b = b.edges[index_b]
            if colour_b != colour:
                continue
            # Nodes of b go after those of a, except the deleted edge's
            # endpoints, which become those of a's deleted edge.
            h_map = [h_a if h == h_b else a.n_h + h - (h > h_b) for h in range(b.n_h)]
            p_map = [i_a if i == i_b else a.n_p + i - (i > i_b) for i in range(b.n_p)]
            edges = kept_a + tuple(
                (h_map[h], p_map[i], c)
                for k, (h, i, c) in enumerate(b.edges)
                if k != index_b
            )
            targets = a.targets + tuple(tuple(p_map[i] for i in t) for t in b.targets)
            yield n_h, n_p, edges, targets, size_a * size_b


def merge(a: Diagram | DiagramSum, b: Diagram | DiagramSum) -> DiagramSum:
    """Merge two diagrams or diagram sums: ``a * b = sum_u (da/du)(db/du)``.

    On graphs: pick an edge of ``a`` and an edge of ``b`` of the same colour,
    delete both, and identify their H-endpoints with each other and their
    p-endpoints with each other; sum over all such choices.  Sums are merged
    bilinearly.

    Parameters
    ----------
    a, b : Diagram or DiagramSum

    Returns
    -------
    DiagramSum

    Examples
    --------
    Merging ``R_2`` with itself in the symmetric model: two choices of edge on
    each side, each giving the 2-cycle again.

    >>> r = r_diagram(2)
    >>> merge(r, r) == 4 * r
    True

    Notes
    -----
    A pair of diagrams with ``e_c`` and ``e'_c`` edges of colour ``c`` gives
    ``sum_c e_c e'_c`` merged diagrams counted with multiplicity.  Each pair of
    edge orbits costs one canonical labelling by nauty.

    References
    ----------
    .. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 2.
    """
    a_sum = DiagramSum.from_diagram(a) if isinstance(a, Diagram) else a
    b_sum = DiagramSum.from_diagram(b) if isinstance(b, Diagram) else b
    for value in (a_sum, b_sum):
        if not isinstance(value, DiagramSum):
            raise ParameterError(f"merge needs diagrams or diagram sums, not {value!r}")
    # Mergers are first combined by isomorphism class (`graph_key`) and only
    # one diagram per class is put in canonical form.
    # Coefficients are summed as integer numerators per denominator, which
    # is much faster than adding Fractions one by one.
    classes: dict[tuple, tuple[tuple, dict[int, int]]] = {}
    for diagram_a, coeff_a in a_sum.items():
        for diagram_b, coeff_b in b_sum.items():
            coeff = coeff_a * coeff_b
            numerator, denominator = coeff.numerator, coeff.denominator
            for n_h, n_p, edges, targets, count in _raw_mergers(diagram_a, diagram_b):
                key = (
                    graph_key(n_h, n_p, edges)
                    if not targets
                    else canonical_form(n_h, n_p, edges, targets)
                )
                entry = classes.get(key)
                if entry is None:
                    classes[key] = entry = ((n_h, n_p, edges, targets), {})
                sums = entry[1]
                sums[denominator] = sums.get(denominator, 0) + numerator * count
    terms: dict[Diagram, Fraction] = {}
    for raw, sums in classes.values():
        merged = Diagram._from_raw(*raw)
        total = sum(Fraction(n, d) for d, n in sums.items())
        terms[merged] = terms.get(merged, Fraction(0)) + total
    return DiagramSum._trusted(terms)
