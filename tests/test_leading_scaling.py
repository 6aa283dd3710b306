"""Terms leading under one scaling, computed directly, against the full result.

`leading_coefficients` follows only pairings that can still reach the top
face of the Newton polygon in the direction of the scaling.  It is checked
against the full enumeration filtered by `leading_terms`, against the brute
force over pairings for single diagrams, and, at the vertices of free
evolution, against SPEC section 5.1 at orders the Pareto-front mode does not
reach in reasonable time.
"""

from fractions import Fraction
from functools import cache
from math import factorial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pairings import all_pairings
from strategies import diagrams

from feynflow.asymptotics import leading_terms
from feynflow.errors import ParameterError
from feynflow.expansion import leading_coefficients, loss_coefficients
from feynflow.wick import face_counts, linear_bound, wick_counts

#: Cases whose full polynomials take a few seconds in all.
CASES = [
    (2, True, "identity", 5),
    (2, False, "identity", 5),
    (3, False, "identity", 3),
    (3, True, "identity", 3),
    (4, True, "identity", 2),
    (3, False, "zero", 4),
    (3, True, "zero", 4),
    (4, False, "zero", 3),
    (3, True, "d(1,2) + 1/2*d(1,2,3)", 2),
]

fractions = st.fractions(min_value=Fraction(1, 4), max_value=4, max_denominator=6)
alphas = st.tuples(
    fractions, fractions, st.fractions(min_value=-2, max_value=2, max_denominator=6)
)


@cache
def full(nu, symmetric, target, order):
    return loss_coefficients(nu, order, symmetric=symmetric, target=target)


def leading_part(poly, alpha):
    return {(t.q, t.n, t.sigma_power): t.coeff for t in leading_terms(poly, alpha)}


def as_terms(poly):
    return {m: Fraction(int(c.p), int(c.q)) for m, c in poly.terms() if c}


@pytest.mark.parametrize("case", CASES, ids=str)
@settings(max_examples=8, deadline=None)
@given(alpha=alphas)
def test_equals_the_leading_terms_of_the_full_polynomials(case, alpha):
    nu, symmetric, target, order = case
    got = leading_coefficients(nu, order, alpha, symmetric=symmetric, target=target)
    for s, poly in enumerate(full(*case)):
        assert as_terms(got[s]) == leading_part(poly, alpha), (s, alpha)


@pytest.mark.parametrize(
    "alpha", [(1, 1, 0), (2, 1, Fraction(-1, 2)), (1, 3, Fraction(-2, 3))]
)
def test_falls_back_exactly_where_terms_could_cancel(alpha):
    # Mixed signs (no cut is safe) and the merger recursion of SYM nu = 4.
    for nu, symmetric, target, order in [
        (3, True, "d(1,2) - d(1,2,3)", 2),
        (4, True, "zero", 3),
    ]:
        got = leading_coefficients(nu, order, alpha, symmetric=symmetric, target=target)
        for s, poly in enumerate(full(nu, symmetric, target, order)):
            assert as_terms(got[s]) == leading_part(poly, alpha)


@settings(max_examples=150, deadline=None)
@given(
    diagram=diagrams(max_nodes=3, max_edges=8, colours=2),
    weights=st.tuples(st.integers(1, 6), st.integers(1, 6)),
)
def test_face_counts_and_bound_agree_with_the_brute_force(diagram, weights):
    graph = (diagram.n_h, diagram.n_p, list(diagram.edges))
    brute = all_pairings(*graph)
    wq, wn = weights
    if not brute:
        assert face_counts(diagram, weights) == {}
        return
    best = max(wq * q + wn * n for q, n in brute)
    assert face_counts(diagram, weights) == {
        (q, n): c for (q, n), c in brute.items() if wq * q + wn * n == best
    }
    assert linear_bound(*graph, weights) >= best


def test_face_counts_are_the_top_of_wick_counts_on_merged_diagrams():
    from feynflow.expansion import loss_diagrams

    for diagram in loss_diagrams(3, 2, symmetric=False):
        counts = wick_counts(diagram)
        if not counts:
            assert face_counts(diagram, (1, 1)) == {}
            continue
        for weights in [(1, 1), (1, 2), (5, 1)]:
            best = max(weights[0] * q + weights[1] * n for q, n in counts)
            assert face_counts(diagram, weights) == {
                m: c
                for m, c in counts.items()
                if weights[0] * m[0] + weights[1] * m[1] == best
            }


def double_factorial(k):
    return 1 if k <= 0 else k * double_factorial(k - 2)


def spec_vertex(nu, symmetric, face, s):
    """SPEC 5.1: the term of Y_s at point A or B, as ((q, n, 2l), coeff)."""
    # Y_s = E[L(0)] * d^s/dx^s of the closed form, x = rate * t / T.
    sigma_power = 2 * nu + 2 * (nu - 1) * s
    if face == "A" or symmetric:
        c = (2 * nu if symmetric else 2) * (nu - 1)
        if face == "A":
            start, q, n = Fraction(1, 2), nu + (nu - 1) * s, 1
        else:
            c *= double_factorial(nu - 1)
            start = Fraction(double_factorial(nu - 1), 2)
            q, n = nu // 2 + (nu // 2 - 1) * s, 2 + s
        rising = Fraction(1)
        for k in range(s):
            rising *= Fraction(nu, nu - 1) + k
        return (q, n, sigma_power), start * (-c) ** s * rising
    return (nu, 1 + s, sigma_power), Fraction(1, 2) * (-2 * nu) ** s


@pytest.mark.slow
@pytest.mark.parametrize(
    "nu, symmetric, face, order",
    # ASYM nu = 3, 4 to order 6 and 5 are checked through their derivations
    # in test_solutions.py.
    [(3, True, "A", 7), (2, False, "B", 9), (2, True, "B", 9)],
)
def test_free_vertices_equal_spec_beyond_the_pareto_mode(nu, symmetric, face, order):
    alpha = (order + 3, 1, 0) if face == "A" else (1, nu * (order + 1) + 1, 0)
    got = leading_coefficients(nu, order, alpha, symmetric=symmetric, target="zero")
    for s in range(order + 1):
        monomial, coeff = spec_vertex(nu, symmetric, face, s)
        assert as_terms(got[s]) == {monomial: coeff}, s
    # SPEC's flower recurrence s C_s = 4 (1 + (nu-1) s) C_{s-1} (ASYM; 4 nu in
    # SYM) at point A, on C_s = (-2)^s Y_s / (Y_0 s!).
    if face == "A":
        values = [next(iter(as_terms(got[s]).values())) for s in range(order + 1)]
        counts = [
            (-2) ** s * v / (values[0] * factorial(s)) for s, v in enumerate(values)
        ]
        factor = 4 * nu if symmetric else 4
        for s in range(1, order + 1):
            assert s * counts[s] == factor * (1 + (nu - 1) * s) * counts[s - 1]


@pytest.mark.parametrize(
    "alpha, message",
    [
        ((0, 1, 0), "alpha_p"),
        ((1, -1, 0), "alpha_H"),
        ((1, 1), "exactly 3"),
        ((1, "1/0", 0), "rational"),
        ((1, 0.5, 0), "exact rational"),
    ],
)
def test_bad_scalings_are_refused(alpha, message):
    with pytest.raises(ParameterError, match=message):
        leading_coefficients(2, 1, alpha)


def test_bad_weights_are_refused():
    from feynflow.diagrams import d_diagram

    for weights in [(0, 1), (1, 2.0), (1,), "ab"]:
        with pytest.raises(ParameterError, match="weights"):
            face_counts(d_diagram(2), weights)
