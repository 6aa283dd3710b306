"""The plain reference enumeration against the fast engine and the brute force."""

import ast
import pathlib

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import brute_force_coefficients
from pairings import all_pairings

import feynflow.reference
from feynflow import H, ParameterError, TimeLimitError, loss_coefficients, p, sigma
from feynflow.reference import reference_loss_coefficients, reference_pairing_counts

# (nu, symmetric, target, order): orders chosen so that the reference, which
# lists every pairing, takes at most a few seconds (SYM nu = 4 at order 1 has
# single-colour diagrams of 14 edges, 13!! pairings each).
CASES = [
    pytest.param(
        nu, symmetric, target, order, marks=[pytest.mark.slow] if nu == 4 else []
    )
    for target in ("identity", "zero")
    for nu, symmetric, order in (
        (2, True, 3),
        (2, False, 3),
        (3, True, 1),
        (3, False, 2),
        (4, True, 1),
        (4, False, 2),
    )
]

# Sizes at which the diagram-free brute force is cheap for every case above.
SIZES = [(1, 1), (1, 2), (2, 1), (2, 2)]


def _at(poly, p_value, h_value):
    """``{sigma exponent: coefficient}`` of ``poly`` at the given ``p, H``."""
    values = sympy.Poly(poly.as_expr().subs({p: p_value, H: h_value}), sigma)
    return {m[0]: c for m, c in values.terms() if c}


@pytest.mark.parametrize("nu, symmetric, target, order", CASES)
def test_reference_equals_fast_engine_and_brute_force(nu, symmetric, target, order):
    reference = reference_loss_coefficients(nu, order, symmetric, target)
    fast = loss_coefficients(nu, order, symmetric=symmetric, target=target)
    assert len(reference) == order + 1
    for s in range(order + 1):
        assert reference[s].gens == (p, H, sigma)
        assert reference[s].get_domain() == sympy.QQ
        assert reference[s] == fast[s], s

    for p_value, h_value in SIZES:
        brute = brute_force_coefficients(nu, p_value, h_value, order, symmetric, target)
        for s in range(order + 1):
            expected = {
                d: sympy.Rational(c.numerator, c.denominator)
                for d, c in brute[s].items()
            }
            assert _at(reference[s], p_value, h_value) == expected, (s, p_value)


def test_reference_matches_spec_values_for_sym_nu2_at_p_h_2():
    s_ = sigma
    expected = [
        1 - 4 * s_**2 + 10 * s_**4,
        -16 * s_**2 + 160 * s_**4 - 576 * s_**6,
        -64 * s_**2 + 1600 * s_**4 - 16128 * s_**6 + 63744 * s_**8,
    ]
    got = reference_loss_coefficients(2, 2)
    for poly, want in zip(got, expected, strict=True):
        assert sympy.expand(poly.as_expr().subs({p: 2, H: 2}) - want) == 0


def _d_edges(nu, symmetric):
    return [(h, m, 1 if symmetric else m + 1) for m in range(nu) for h in (0, 1)]


@pytest.mark.parametrize(
    "nu, symmetric, expected",
    [
        (2, True, {(2, 1): 1, (1, 2): 1, (1, 1): 1}),
        # Only k = k' survives in sum_{k,k'} (sum_i u_ki u_k'i)^3, and the
        # chi-square moment E[(sum_i u_i^2)^3] is p (p + 2) (p + 4) sigma^6
        # (SPEC section 2 prints p^3 + 5 p^2 + 9 p; see README).
        (3, True, {(3, 1): 1, (2, 1): 6, (1, 1): 8}),
        (2, False, {(2, 1): 1}),
        (3, False, {(3, 1): 1}),
        (4, False, {(4, 1): 1}),
    ],
)
def test_pairings_of_d_match_spec_averages(nu, symmetric, expected):
    # SPEC section 2: E[D_4] in SYM, E[D_{2nu}] = p^nu H in ASYM.
    assert reference_pairing_counts(2, nu, _d_edges(nu, symmetric)) == expected


def test_odd_colour_count_has_no_pairing():
    assert reference_pairing_counts(1, 1, [(0, 0, 1), (0, 0, 1), (0, 0, 2)]) == {}


@st.composite
def small_diagrams(draw):
    n_h = draw(st.integers(1, 3))
    n_p = draw(st.integers(1, 3))
    edge = st.tuples(
        st.integers(0, n_h - 1), st.integers(0, n_p - 1), st.integers(1, 2)
    )
    return n_h, n_p, draw(st.lists(edge, max_size=8))


@settings(max_examples=60, deadline=None)
@given(small_diagrams())
def test_pairing_counts_match_leaf_union_find(diagram):
    # tests/pairings.py merges the classes only once a pairing is complete.
    n_h, n_p, edges = diagram
    assert reference_pairing_counts(n_h, n_p, edges) == all_pairings(n_h, n_p, edges)


@settings(max_examples=60, deadline=None)
@given(small_diagrams())
def test_total_pairings_is_product_of_double_factorials(diagram):
    n_h, n_p, edges = diagram
    per_colour: dict[int, int] = {}
    for _, _, colour in edges:
        per_colour[colour] = per_colour.get(colour, 0) + 1
    expected = 1
    for count in per_colour.values():
        expected *= sympy.factorial2(count - 1) if count % 2 == 0 else 0
    assert sum(reference_pairing_counts(n_h, n_p, edges).values()) == expected


def test_reference_is_independent_of_the_fast_engine():
    # It must not share the diagram or averaging code it is meant to check.
    tree = ast.parse(pathlib.Path(feynflow.reference.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    feynflow_modules = {name for name in imported if name.startswith("feynflow")}
    assert feynflow_modules == {
        "feynflow.errors",
        "feynflow.expansion",
        "feynflow.symbols",
    }
    expansion_names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "feynflow.expansion"
        for alias in node.names
    }
    assert expansion_names <= {"check_nu", "check_order", "check_target"}


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"nu": 1, "order": 2}, "nu=1"),
        ({"nu": 2, "order": -1}, "order=-1"),
        ({"nu": 2, "order": 2, "target": "ones"}, "target='ones'"),
    ],
)
def test_bad_parameters_raise_one_line_parameter_errors(kwargs, fragment):
    with pytest.raises(ParameterError) as info:
        reference_loss_coefficients(**kwargs)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_time_limit_stops_the_reference():
    with pytest.raises(TimeLimitError, match="time limit"):
        reference_loss_coefficients(4, 3, symmetric=True, time_limit=0.2)


def test_progress_reports_every_order():
    seen = []
    reference_loss_coefficients(2, 2, progress=lambda s, order: seen.append((s, order)))
    assert seen == [(0, 2), (1, 2), (2, 2)]
