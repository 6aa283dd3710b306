"""Wick averages against listing every pairing and against known moments."""

import pytest
import sympy
from hypothesis import given, settings
from pairings import all_pairings
from strategies import diagrams

from feynflow import H, ParameterError, p, sigma
from feynflow.diagrams import Diagram, d_diagram, r_diagram
from feynflow.wick import class_bound, pareto_front, wick_counts, wick_expectation


@settings(max_examples=150, deadline=None)
@given(diagrams(max_nodes=4, max_edges=8, colours=2))
def test_wick_matches_listing_every_pairing(diagram):
    expected = all_pairings(diagram.n_h, diagram.n_p, diagram.edges)
    assert wick_counts(diagram) == expected


def test_asym_d_average_is_p_to_the_nu_h_sigma_to_the_2nu():
    for nu in range(2, 7):
        expected = p**nu * H * sigma ** (2 * nu)
        assert wick_expectation(d_diagram(nu, False)).as_expr() == expected


def test_sym_d4_average():
    expected = (p**2 * H + p * H**2 + p * H) * sigma**4
    assert wick_expectation(d_diagram(2, True)).as_expr() == sympy.expand(expected)


def test_sym_d6_average_is_a_chi_square_moment():
    # sum f^2 = sum_{k,k'} G[k,k']^3 with G = U U^T; only k = k' survives and
    # G[k,k]/sigma^2 is chi-square with p degrees of freedom, whose third
    # moment is p (p + 2) (p + 4).  The value p^3 + 5 p^2 + 9 p printed in
    # SPEC section 2 disagrees with this (both give 15 at p = 1).
    expected = p * (p + 2) * (p + 4) * H * sigma**6
    assert wick_expectation(d_diagram(3, True)).as_expr() == sympy.expand(expected)


def test_r_average_counts_pairings_of_one_node():
    # SYM: all nu edges of R_nu pair freely, (nu - 1)!! ways; ASYM: zero.
    assert wick_expectation(r_diagram(4, True)).as_expr() == 3 * p * H * sigma**4
    assert wick_expectation(r_diagram(3, True)).is_zero
    assert wick_expectation(r_diagram(4, False)).is_zero


@settings(max_examples=60, deadline=None)
@given(diagrams(max_edges=4, colours=1), diagrams(max_edges=4, colours=1))
def test_average_of_disjoint_union_with_no_shared_colour_is_the_product(a, b):
    # Shift b onto colours of its own: its weights are then independent of
    # a's, so the average of the union factorises.
    b = Diagram(b.n_h, b.n_p, [(h, i, c + 1) for h, i, c in b.edges])
    union = Diagram(
        a.n_h + b.n_h,
        a.n_p + b.n_p,
        list(a.edges) + [(h + a.n_h, i + a.n_p, c) for h, i, c in b.edges],
    )
    product = wick_expectation(a) * wick_expectation(b)
    assert wick_expectation(union) == product


def test_average_of_disjoint_union_sharing_a_colour_is_not_the_product():
    # E[(sum u^2)^2] = (pH)^2 sigma^4 + 2 p H sigma^4: pairings join the parts.
    loop = Diagram(1, 1, [(0, 0, 1), (0, 0, 1)])
    union = Diagram(2, 2, [(0, 0, 1), (0, 0, 1), (1, 1, 1), (1, 1, 1)])
    difference = wick_expectation(union) - wick_expectation(loop) ** 2
    assert difference.as_expr() == 2 * p * H * sigma**4


def test_wick_refuses_non_diagrams():
    with pytest.raises(ParameterError, match="neither a Diagram"):
        wick_expectation("D4")


@settings(max_examples=100, deadline=None)
@given(diagrams(max_nodes=4, max_edges=8, colours=2))
def test_class_bound_holds_every_pairing_even_with_nodes_without_edges(diagram):
    # Add a p-node and an H-node without edges: they stay classes of their own.
    padded = (diagram.n_h + 1, diagram.n_p + 1, diagram.edges)
    bound = class_bound(*padded)
    for q, n in all_pairings(*padded):
        assert any(q <= bq and n <= bn for bq, bn in bound), (q, n, bound)


@settings(max_examples=150, deadline=None)
@given(diagrams(max_nodes=4, max_edges=10, colours=3))
def test_pruned_recursion_keeps_exactly_the_pareto_front_of_every_pairing(diagram):
    # Leading mode of `loss_coefficients` runs this recursion for SYM nu = 2
    # and `leading_coefficients` a face version of it; the front is taken
    # here from listing every pairing.
    expected = all_pairings(diagram.n_h, diagram.n_p, diagram.edges)
    assert wick_counts(diagram, leading=True) == pareto_front(expected)


def test_wick_graph_counts_of_a_plain_graph_and_bad_edges():
    from feynflow.errors import ParameterError
    from feynflow.wick import wick_graph_counts

    # A 3-fold parallel bundle has no pairing; a 4-fold one has 3, all onto
    # one H-node and one p-node; leading mode keeps the same single point.
    assert wick_graph_counts(1, 1, [(0, 0, 1)] * 3) == {}
    assert wick_graph_counts(1, 1, [(0, 0, 1)] * 4) == {(1, 1): 3}
    assert wick_graph_counts(1, 1, [(0, 0, 1)] * 4, leading=True) == {(1, 1): 3}
    with pytest.raises(ParameterError, match="colour 0"):
        wick_graph_counts(1, 1, [(0, 0, 0), (0, 0, 0)])
    with pytest.raises(ParameterError, match="outside"):
        wick_graph_counts(1, 1, [(0, 3, 1), (0, 0, 1)])
