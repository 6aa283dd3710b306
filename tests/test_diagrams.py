"""Diagrams: canonical forms, sums and merging."""

import re
from fractions import Fraction

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import diagrams

from feynflow import ParameterError
from feynflow.diagrams import (
    Diagram,
    DiagramSum,
    d_diagram,
    graph_key,
    merge,
    r_diagram,
)
from feynflow.wick import _state_key, wick_expectation


@given(diagrams(), st.randoms(use_true_random=False))
def test_relabelled_diagrams_have_equal_canonical_forms(diagram, rng):
    h_order = list(range(diagram.n_h))
    p_order = list(range(diagram.n_p))
    rng.shuffle(h_order)
    rng.shuffle(p_order)
    other = diagram.relabelled(h_order, p_order)
    assert other == diagram
    assert hash(other) == hash(diagram)
    assert wick_expectation(other) == wick_expectation(diagram)


def test_canonical_form_separates_colours_kinds_and_multiplicities():
    one_colour = Diagram(1, 2, [(0, 0, 1), (0, 1, 1)])
    two_colours = Diagram(1, 2, [(0, 0, 1), (0, 1, 2)])
    swapped_kinds = Diagram(2, 1, [(0, 0, 1), (1, 0, 1)])
    double_edge = Diagram(1, 2, [(0, 0, 1), (0, 0, 1)])
    distinct = {one_colour, two_colours, swapped_kinds, double_edge}
    assert len(distinct) == 4


def test_d_and_r_diagrams_have_the_shapes_of_their_polynomials():
    for nu in (2, 3, 5):
        d_sym, d_asym = d_diagram(nu, True), d_diagram(nu, False)
        assert (d_sym.n_h, d_sym.n_p, d_sym.n_edges) == (2, nu, 2 * nu)
        assert d_asym.colour_counts() == {m: 2 for m in range(1, nu + 1)}
        assert d_sym.colour_counts() == {1: 2 * nu}
        r_asym = r_diagram(nu, False)
        assert (r_asym.n_h, r_asym.n_p) == (1, 1)
        assert r_asym.colours == tuple(range(1, nu + 1))


@settings(max_examples=40, deadline=None)
@given(diagrams(max_edges=4), diagrams(max_edges=4), diagrams(max_edges=4))
def test_merge_is_bilinear(a, b, c):
    two, third = Fraction(2), Fraction(1, 3)
    left = merge(two * a + third * b, c)
    right = two * merge(a, c) + third * merge(b, c)
    assert left == right
    assert merge(c, a - b) == merge(c, a) - merge(c, b)


@settings(max_examples=40, deadline=None)
@given(diagrams(max_edges=5), diagrams(max_edges=5))
def test_merge_is_symmetric(a, b):
    assert merge(a, b) == merge(b, a)


@settings(max_examples=40, deadline=None)
@given(diagrams(max_edges=5), diagrams(max_edges=5))
def test_merge_count_is_sum_over_colours_of_edge_count_products(a, b):
    counts_a, counts_b = a.colour_counts(), b.colour_counts()
    expected = sum(counts_a[c] * counts_b.get(c, 0) for c in counts_a)
    assert sum(merge(a, b).values()) == expected


def test_merge_deletes_edges_and_identifies_endpoints():
    # R_2 (SYM) merged with D_4 (SYM): every choice gives the 4-cycle again,
    # 2 * 4 choices in all.
    r, d = r_diagram(2), d_diagram(2)
    assert merge(r, d) == 8 * d
    # Two single edges of different colours cannot be merged.
    e1, e2 = Diagram(1, 1, [(0, 0, 1)]), Diagram(1, 1, [(0, 0, 2)])
    assert merge(e1, e2) == DiagramSum()


def test_sums_combine_equal_diagrams_and_drop_zeros():
    d = d_diagram(2)
    total = d + d.relabelled([1, 0], [1, 0]) - 2 * d
    assert total == DiagramSum()
    assert len(Fraction(1, 2) * d + d) == 1


def test_diagram_is_immutable_and_exports_to_networkx():
    d = d_diagram(3, symmetric=False)
    with pytest.raises(AttributeError):
        d.n_h = 5
    graph = d.to_networkx()
    assert isinstance(graph, nx.MultiGraph)
    kinds = nx.get_node_attributes(graph, "kind")
    assert sorted(kinds.values()) == ["H", "H", "p", "p", "p"]
    assert sorted(c for _, _, c in graph.edges(data="colour")) == [1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((-1, 1, []), "n_h=-1"),
        ((1, 1, [(0, 2, 1)]), "edge (0, 2, 1)"),
        ((1, 1, [(0, 0, 0)]), "colour 0"),
        ((1, 1, [(0, 0)]), "not a triple"),
        ((1.5, 1, []), "n_h=1.5"),
    ],
)
def test_bad_diagrams_are_refused_with_a_named_value(args, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        Diagram(*args)


@pytest.mark.parametrize("nu", [1, 0, -3, 2.5, "2", True])
def test_bad_nu_is_refused(nu):
    with pytest.raises(ParameterError, match="nu"):
        d_diagram(nu)


def _networkx_isomorphic(a: Diagram, b: Diagram) -> bool:
    """Isomorphism decided by networkx's VF2, independently of nauty."""

    def same_colours(bundle_a, bundle_b):
        # Parallel edges must match as multisets of colours.
        return sorted(e["colour"] for e in bundle_a.values()) == sorted(
            e["colour"] for e in bundle_b.values()
        )

    return nx.is_isomorphic(
        a.to_networkx(),
        b.to_networkx(),
        node_match=lambda x, y: x["kind"] == y["kind"],
        edge_match=same_colours,
    )


@settings(max_examples=300, deadline=None)
@given(
    diagrams(max_nodes=3, max_edges=6, colours=2),
    diagrams(max_nodes=3, max_edges=6, colours=2),
    st.randoms(use_true_random=False),
)
def test_graph_keys_decide_isomorphism_like_networkx(a, b, rng):
    # Compare raw edge lists in shuffled labellings, not canonical ones.
    h_order, p_order = list(range(b.n_h)), list(range(b.n_p))
    rng.shuffle(h_order)
    rng.shuffle(p_order)
    raw_b = [(h_order[h], p_order[i], c) for h, i, c in b.edges]
    isomorphic = a.n_h == b.n_h and a.n_p == b.n_p and _networkx_isomorphic(a, b)
    assert (graph_key(a.n_h, a.n_p, a.edges) == graph_key(b.n_h, b.n_p, raw_b)) == (
        isomorphic
    )
    assert (
        _state_key(a.n_h, a.n_p, list(a.edges)) == _state_key(b.n_h, b.n_p, raw_b)
    ) == isomorphic
    assert (a == b) == isomorphic
    # And every relabelling of a graph keeps its keys.
    assert graph_key(b.n_h, b.n_p, raw_b) == graph_key(b.n_h, b.n_p, b.edges)
    assert _state_key(b.n_h, b.n_p, raw_b) == _state_key(b.n_h, b.n_p, list(b.edges))


def test_graph_keys_tell_apart_graphs_equal_up_to_multiplicity_or_kind():
    # Same certificate shape traps: a double edge against two single edges,
    # and H- against p-nodes of the same degrees.
    double = [(0, 0, 1), (0, 0, 1), (1, 1, 1), (1, 1, 1)]
    crossed = [(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 1)]
    assert graph_key(2, 2, double) != graph_key(2, 2, crossed)
    assert _state_key(2, 2, double) != _state_key(2, 2, crossed)
    star_h = [(0, 0, 1), (0, 1, 1)]
    star_p = [(0, 0, 1), (1, 0, 1)]
    assert graph_key(1, 2, star_h) != graph_key(2, 1, star_p)
    assert _state_key(1, 2, star_h) != _state_key(2, 1, star_p)
