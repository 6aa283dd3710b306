"""Delta-polynomial and modular-addition targets against independent computations."""

import itertools
import random
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import brute_force_coefficients, brute_force_tensor_coefficients
from sympy.matrices.normalforms import smith_normal_form

from feynflow import H, ParameterError, loss_coefficients, p, sigma
from feynflow.diagrams import Diagram, d_diagram, merge
from feynflow.expansion import check_target, pareto_optimal
from feynflow.targets import (
    MAX_DEPTH,
    MAX_TEXT_LENGTH,
    congruence_solutions,
    half_norm_squared,
    modadd_coefficients,
    parse_target,
    smith_invariants,
)
from feynflow.wick import wick_expectation


def _at(poly, p_value, h_value):
    values = sympy.Poly(poly.as_expr().subs({p: p_value, H: h_value}), sigma)
    return {m[0]: c for m, c in values.terms() if c}


def _rational(brute):
    return {d: sympy.Rational(c.numerator, c.denominator) for d, c in brute.items()}


# -- the target syntax --------------------------------------------------------


def _tensor_by_hand(text_terms, nu, p_value):
    """``F`` from a list of (weight, [blocks of 1-based positions])."""
    tensor = {}
    for index in itertools.product(range(p_value), repeat=nu):
        tensor[index] = sum(
            (
                Fraction(w)
                for w, blocks in text_terms
                if all(len({index[m - 1] for m in block}) == 1 for block in blocks)
            ),
            Fraction(0),
        )
    return tensor


@pytest.mark.parametrize(
    "text, nu, by_hand",
    [
        ("d(1,2)*d(2,3) + 1/2*d(1,3)", 3, [(1, [(1, 2, 3)]), ("1/2", [(1, 3)])]),
        ("identity", 4, [(1, [(1, 2, 3, 4)])]),
        ("zero", 3, []),
        ("1", 2, [(1, [])]),
        ("2*(d(1,2) - 1) + 2", 3, [(2, [(1, 2)])]),
        ("-d(1,2) + -1/3", 2, [(-1, [(1, 2)]), ("-1/3", [])]),
        ("delta(1, 2, 3)/4 - (d(1,2))", 3, [("1/4", [(1, 2, 3)]), (-1, [(1, 2)])]),
        ("d(1,2)*d(3,4) - d(1,2)*d(1,2)", 4, [(1, [(1, 2), (3, 4)]), (-1, [(1, 2)])]),
    ],
)
def test_parsed_target_is_the_tensor_written(text, nu, by_hand):
    target = parse_target(text, nu)
    for p_value in (2, 3):
        expected = _tensor_by_hand(
            [(Fraction(w), blocks) for w, blocks in by_hand], nu, p_value
        )
        for index, value in expected.items():
            assert target.value(index) == value, (text, index)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.fractions(min_value=-3, max_value=3, max_denominator=4),
            st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), max_size=3),
        ),
        max_size=4,
    )
)
def test_canonical_name_parses_back_to_the_same_tensor(terms):
    text = " + ".join(
        f"({w})" + "".join(f"*d({a},{b})" for a, b in deltas) for w, deltas in terms
    )
    target = parse_target(text or "zero", 3)
    again = parse_target(target.name, 3)
    assert again == target
    for index in itertools.product(range(3), repeat=3):
        expected = sum(
            (
                Fraction(w)
                for w, deltas in terms
                if all(index[a - 1] == index[b - 1] for a, b in deltas)
            ),
            Fraction(0),
        )
        assert target.value(index) == expected


def test_equal_tensors_get_the_names_identity_and_zero():
    assert check_target("d(1,2)*d(2,3)", nu=3) == "identity"
    assert check_target("d(1,3) - d(3,1)", nu=3) == "zero"
    assert check_target("d(1,2)", nu=2) == "identity"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os').system('true')", "unknown name '__import__'"),
        ("import os", "unknown name 'import'"),
        ("lambda: 1", "unknown name 'lambda'"),
        ("d(1,2)**2", "column 8"),
        ("d(1,4)", "position 4"),
        ("d(0,1)", "position 0"),
        ("d(1)", "at least two positions"),
        ("d(1,2) + ", "ends where a factor"),
        ("1/0", "division by zero"),
        ("d(1,2); rm", "';'"),
        ("x", "unknown name 'x'"),
        ("modadd + 1", "modadd"),
        ("", "empty"),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "nested deeper"),
        ("-" * (MAX_DEPTH + 5) + "1", "nested deeper"),
        ("1" * 40, "digits"),
        ("d(1,2)+" * (MAX_TEXT_LENGTH // 7 + 1) + "1", "longer than"),
        ("d(1,2)\n+ 1\u00b2", "'\u00b2'"),
    ],
)
def test_hostile_or_malformed_targets_are_refused_in_one_line(text, fragment):
    with pytest.raises(ParameterError) as info:
        parse_target(text, 3)
    message = str(info.value)
    assert fragment in message, message
    assert "\n" not in message and len(message) < 200


def test_deep_but_allowed_nesting_parses():
    depth = MAX_DEPTH - 1
    assert parse_target("(" * depth + "d(1,2)" + ")" * depth, 3).name == "d(1,2)"


# -- delta targets against the brute force -------------------------------------

SMALL = [(1, 1), (1, 2), (2, 1), (2, 2)]

# (nu, symmetric, target, (p, H) sizes, highest order): every (p, H) <= 2 at
# orders up to 3 (nu = 2, 3) or 2 (nu = 4), and p or H = 3 where quick.
DELTA_CASES = [
    (2, True, "1 + 1/3*d(1,2)", SMALL + [(3, 2), (2, 3)], 3),
    (2, False, "1 - d(1,2)", SMALL + [(3, 1)], 3),
    (3, True, "d(1,2)", SMALL + [(3, 1), (3, 2)], 3),
    (3, False, "d(1,2) - 1/2*d(1,2,3) + 2", SMALL, 2),
    (3, True, "d(1,2)*d(2,3) + 1/2*d(1,3)", SMALL + [(3, 1)], 3),
    (3, True, "d(1,3) + d(2,3)", SMALL, 3),
    (3, False, "1", SMALL, 3),
    (4, True, "d(1,2)*d(3,4)", SMALL, 2),
    (4, False, "d(1,2) - d(3,4)", [(1, 2), (2, 1)], 2),
]


@pytest.mark.parametrize("nu, symmetric, text, sizes, order", DELTA_CASES)
def test_delta_targets_match_brute_force_without_diagrams(
    nu, symmetric, text, sizes, order
):
    target = parse_target(text, nu)
    coefficients = loss_coefficients(nu, order, symmetric=symmetric, target=text)
    for p_value, h_value in sizes:
        brute = brute_force_tensor_coefficients(
            nu, p_value, h_value, order, symmetric, target.value
        )
        for s in range(order + 1):
            assert _at(coefficients[s], p_value, h_value) == _rational(brute[s]), (
                s,
                p_value,
                h_value,
            )


@pytest.mark.parametrize("nu", [2, 3, 4])
@pytest.mark.parametrize("text", ["d(1,2)", "2*identity - d(1,2) + 1"])
def test_half_norm_squared_is_half_the_sum_of_squares(nu, text):
    target = parse_target(text, nu)
    constant = half_norm_squared(target, nu)
    for p_value in (1, 2, 3):
        expected = (
            sum(
                target.value(index) ** 2
                for index in itertools.product(range(p_value), repeat=nu)
            )
            / 2
        )
        assert sum(c * p_value**q for q, c in constant.items()) == expected


@pytest.mark.parametrize("symmetric", [True, False])
def test_named_targets_keep_their_exact_results(symmetric):
    # The spellings below are the same tensors as the names, built from deltas.
    assert loss_coefficients(3, 2, symmetric, "d(1,2)*d(2,3)") == loss_coefficients(
        3, 2, symmetric, "identity"
    )
    assert loss_coefficients(3, 2, symmetric, "d(1,2) - d(2,1)") == (
        loss_coefficients(3, 2, symmetric, "zero")
    )
    brute = brute_force_coefficients(3, 2, 1, 2, symmetric, "identity")
    ident = loss_coefficients(3, 2, symmetric, "identity")
    assert [_at(y, 2, 1) for y in ident] == [_rational(b) for b in brute]


def test_hyper_edge_form_of_r_gives_the_same_average_as_contracted_form():
    """R_F with delta hyper-edges, averaged through the Wick engine's contraction
    of targets, equals the loss coefficients built from contracted R_F."""
    nu, text = 3, "d(1,2) + 1/2"
    half_d = Fraction(1, 2) * d_diagram(nu)
    edges = [(0, m, 1) for m in range(nu)]
    hyper = Diagram(1, nu, edges, [(0, 1)]) + Fraction(1, 2) * Diagram(1, nu, edges)
    generator = half_d - hyper
    power = generator
    expected = loss_coefficients(nu, 2, target=text)
    for s in range(3):
        if s:
            power = merge(power, generator)
        value = (-1) ** s * wick_expectation(power).as_expr()
        if s == 0:
            constant = half_norm_squared(text, nu)
            value += sum(c * p**q for q, c in constant.items())
        assert sympy.expand(value - expected[s].as_expr()) == 0


@pytest.mark.parametrize(
    "nu, text, order",
    [
        (3, "d(1,2) - 1/2*d(1,2,3)", 3),  # mixed signs
        (3, "d(1,2) + 3", 3),  # free indices
        (4, "d(1,2)*d(3,4) + 2*identity", 2),  # pruned enumeration
    ],
)
def test_leading_terms_are_the_pareto_terms_of_the_full_coefficients(nu, text, order):
    full = loss_coefficients(nu, order, target=text)
    leading = loss_coefficients(nu, order, target=text, leading=True)
    for y_full, y_leading in zip(full, leading, strict=True):
        # The pure-target constant of Y_0 (no sigma) is filtered like the
        # rest: its terms with the highest power of p stay.
        terms = dict(y_full.terms())
        keep = pareto_optimal(terms)
        expected = {k: c for k, c in terms.items() if k in keep}
        assert dict(y_leading.terms()) == expected


# -- Smith normal form and congruences -----------------------------------------


def test_smith_invariants_match_sympy():
    rng = random.Random(7)
    for _ in range(200):
        rows = [
            [rng.randint(-6, 6) for _ in range(rng.randint(1, 5))]
            for _ in range(rng.randint(1, 4))
        ]
        width = max(len(r) for r in rows)
        rows = [r + [0] * (width - len(r)) for r in rows]
        d = smith_normal_form(sympy.Matrix(rows), domain=sympy.ZZ)
        expected = [abs(d[i, i]) for i in range(min(d.shape)) if d[i, i] != 0]
        assert smith_invariants(rows) == expected


def test_congruence_solutions_match_enumeration():
    rng = random.Random(11)
    for _ in range(100):
        n_vars = rng.randint(1, 3)
        rows = [
            [rng.randint(-3, 3) for _ in range(n_vars)]
            for _ in range(rng.randint(1, 3))
        ]
        for modulus in (1, 2, 3, 4, 6):
            count = sum(
                all(
                    sum(c * x for c, x in zip(row, xs, strict=True)) % modulus == 0
                    for row in rows
                )
                for xs in itertools.product(range(modulus), repeat=n_vars)
            )
            assert congruence_solutions(n_vars, rows, modulus) == count


# -- modular addition ----------------------------------------------------------


@pytest.mark.parametrize("symmetric", [True, False])
def test_modadd_for_nu_2_is_the_identity_target(symmetric):
    assert modadd_coefficients(2, 3, symmetric).coefficients == loss_coefficients(
        2, 3, symmetric
    )
    assert loss_coefficients(2, 2, symmetric, "modadd") == loss_coefficients(
        2, 2, symmetric
    )


MODADD_CASES = [
    (3, True, [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (4, 1)], 2),
    (3, False, [(1, 2), (2, 1), (2, 2), (3, 1), (3, 2)], 2),
    (4, True, [(2, 1), (3, 1)], 2),
    (3, True, [(2, 1)], 3),
]


@pytest.mark.parametrize("nu, symmetric, sizes, order", MODADD_CASES)
def test_modadd_at_given_p_matches_brute_force(nu, symmetric, sizes, order):
    target = parse_target("modadd", nu)
    generic = modadd_coefficients(nu, order, symmetric)
    for p_value, h_value in sizes:
        exact = modadd_coefficients(nu, order, symmetric, p_value=p_value)
        brute = brute_force_tensor_coefficients(
            nu,
            p_value,
            h_value,
            order,
            symmetric,
            lambda index, p_value=p_value: target.value(index, p_value),
        )
        for s in range(order + 1):
            assert exact.coefficients[s].degree(p) <= 0
            assert _at(exact.coefficients[s], p_value, h_value) == _rational(brute[s])
            # The polynomial in p is promised only for p divisible by none of
            # the stated primes.
            if all(p_value % prime for prime in generic.exceptional_primes):
                assert _at(generic.coefficients[s], p_value, h_value) == _rational(
                    brute[s]
                )


def test_modadd_polynomial_fails_exactly_at_a_stated_prime():
    generic = modadd_coefficients(3, 1, True)
    assert generic.exceptional_primes == (2,)
    exact = modadd_coefficients(3, 1, True, p_value=2)
    at_two = [
        sympy.Poly(y.as_expr().subs(p, 2), H, sigma) for y in generic.coefficients
    ]
    assert [sympy.Poly(y.as_expr(), H, sigma) for y in exact.coefficients] != at_two


def test_modadd_refuses_bad_p_value():
    with pytest.raises(ParameterError, match="p_value=0"):
        modadd_coefficients(3, 1, p_value=0)


def test_products_expanding_beyond_the_term_limit_are_refused():
    factors = [f"(1+d({a},{b}))" for a in range(1, 9) for b in range(a + 1, 9)]
    with pytest.raises(ParameterError, match="more than 500 products"):
        parse_target("*".join(factors[:20]), 8)
