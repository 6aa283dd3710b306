"""Tests of recurrences, the recurrence guesser, characteristics and series."""

from fractions import Fraction
from math import comb, factorial

import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from feynflow.errors import ParameterError
from feynflow.summation import (
    FirstOrderPDE,
    Recurrence,
    euler_operator,
    guess_recurrence,
    index_symbols,
    solve_by_characteristics,
    taylor_coefficients,
)

x, y, z, a = sympy.symbols("x y z a")


def catalan(n):
    return comb(2 * n, n) // (n + 1)


def narayana(m, n):
    return comb(m, n) * comb(m, n - 1) // m if m > 0 and n > 0 else 0


def test_euler_operator_multiplies_monomials_by_the_polynomial():
    n1, n2 = index_symbols(2)
    result = euler_operator(n1**2 - 3 * n2 + 1, (n1, n2), x**3 * y**5, (x, y))
    assert sympy.expand(result - (9 - 15 + 1) * x**3 * y**5) == 0


def test_catalan_recurrence_is_found_and_its_pde_holds_for_the_gf():
    data = {(n,): catalan(n) for n in range(20)}
    recurrence = guess_recurrence(data)
    assert recurrence.check(data).agrees
    # An independent range the guesser never saw.
    fresh = {(n,): catalan(n) for n in range(20, 40)}
    assert recurrence.check({**data, **fresh}).positions > 35
    assert recurrence.check({**data, **fresh}).agrees
    gf = (1 - sympy.sqrt(1 - 4 * x)) / (2 * x)
    assert sympy.simplify(recurrence.apply(gf, (x,))) == 0


def test_binomial_recurrence_pde_is_solved_by_the_binomial_gf():
    n1, n2 = index_symbols(2)
    pascal = Recurrence({(0, 0): n1, (-1, 0): -(n1 + 1), (-1, -1): -(n1 + 1)})
    data = {(i, j): comb(i, j) for i in range(12) for j in range(12)}
    assert pascal.check(data).agrees
    pde = pascal.to_first_order_pde((x, y))
    solution = solve_by_characteristics(pde, sympy.Integer(1))
    assert solution.verified
    assert sympy.simplify(solution.closed_form - 1 / (1 - x * (1 + y))) == 0
    guessed = guess_recurrence(data)
    assert guessed.check(
        {(i, j): comb(i, j) for i in range(25) for j in range(25)}
    ).agrees


def test_narayana_recurrence_is_found_and_holds_for_the_narayana_gf():
    data = {(m, n): narayana(m, n) for m in range(14) for n in range(14)}
    recurrence = guess_recurrence(data)
    bigger = {(m, n): narayana(m, n) for m in range(24) for n in range(24)}
    assert recurrence.check(bigger).agrees
    gf = (1 - x * (y + 1) - sympy.sqrt(1 - 2 * x * (y + 1) + x**2 * (y - 1) ** 2)) / (
        2 * x
    )
    assert sympy.simplify(recurrence.apply(gf, (x, y))) == 0


def test_check_reports_a_corrupted_value():
    (n,) = index_symbols(1)
    recurrence = Recurrence({(0,): n, (-1,): -(n + 1)})  # C_n = 1
    data = {(k,): 1 for k in range(10)}
    assert recurrence.check(data).agrees
    data[(4,)] = 2
    assert set(recurrence.check(data).failures) == {(4,), (5,)}


def test_generate_reproduces_factorial_over_power():
    (n,) = index_symbols(1)
    recurrence = Recurrence({(0,): n, (-1,): -3})  # n C_n = 3 C_{n-1}
    values = recurrence.generate({(0,): 1}, (8,))
    assert values == {(k,): Fraction(3**k, factorial(k)) for k in range(9)}


def test_guesser_refuses_data_without_a_small_recurrence():
    data = {(k,): v for k, v in enumerate([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7])}
    with pytest.raises(ParameterError):
        guess_recurrence(data, max_degree=1)


def test_spec_nu2_recurrence_is_recovered_and_solved_by_characteristics():
    # M from the recurrence of SPEC 5.3, an independent source of data.
    M = {(0, 0): Fraction(-1), (0, 1): Fraction(1, 2)}
    for s in range(1, 14):
        for j in range(s + 2):
            M[(s, j)] = -4 * (j + 1) * M.get((s - 1, j), 0) + 4 * j * M.get(
                (s - 1, j - 1), 0
            )
    data = {
        (s, j): M.get((s, j), 0) / factorial(s) for s in range(14) for j in range(15)
    }
    recurrence = guess_recurrence(data, forward=0)
    pde = recurrence.to_first_order_pde((x, z))
    solution = solve_by_characteristics(pde, z / 2 - 1)
    assert solution.verified
    e = sympy.exp(-4 * x)
    q = 1 - z * (1 - e)
    spec_f = e * ((e * z / 2) / q**2 - 1 / q)
    assert sympy.simplify(solution.closed_form - spec_f) == 0


def test_characteristics_transport_initial_data_along_curves():
    pde = FirstOrderPDE((x, y), (sympy.Integer(1), y), sympy.Integer(1))
    solution = solve_by_characteristics(pde, y**2)
    assert solution.closed_form == y**2 * sympy.exp(-x)
    assert solution.first_integrals == (y * sympy.exp(-x),)


def test_characteristics_in_three_variables():
    pde = FirstOrderPDE((x, y, z), (sympy.Integer(1), y, 2 * z), sympy.Integer(0))
    solution = solve_by_characteristics(pde, y + z)
    assert (
        sympy.simplify(
            solution.closed_form - (y * sympy.exp(-x) + z * sympy.exp(-2 * x))
        )
        == 0
    )


def test_characteristics_with_a_source_term():
    # A positive rate avoids sympy's Piecewise for the case y = 0.
    rate = sympy.Symbol("y", positive=True)
    pde = FirstOrderPDE(
        (x, rate), (sympy.Integer(1), sympy.Integer(0)), rate, sympy.Integer(1)
    )
    solution = solve_by_characteristics(pde, sympy.Integer(0))
    assert solution.verified
    expected = (sympy.exp(x * rate) - 1) / rate
    assert sympy.simplify(solution.closed_form - expected) == 0


def test_power_law_without_complex_branch_factors():
    pde = FirstOrderPDE((x,), (1 - 12 * x,), sympy.Integer(16))
    solution = solve_by_characteristics(pde, sympy.Integer(1))
    assert solution.closed_form == (1 - 12 * x) ** sympy.Rational(-4, 3)


def test_no_closed_form_is_reported_and_numerics_solve_the_pde():
    # dy/dx = x + y^3 is an Abel equation without elementary solution.
    pde = FirstOrderPDE((x, y), (sympy.Integer(1), x + y**3), y)
    solution = solve_by_characteristics(pde, y)
    assert solution.closed_form is None
    assert solution.reason
    # The numerical solution satisfies the PDE (central differences).
    step = 1e-4
    point = (0.4, 0.3)
    h = solution.evaluate
    h_x = (h((point[0] + step, point[1])) - h((point[0] - step, point[1]))) / (2 * step)
    h_y = (h((point[0], point[1] + step)) - h((point[0], point[1] - step))) / (2 * step)
    residual = h_x + (0.4 + 0.3**3) * h_y - 0.3 * h(point)
    assert abs(residual) < 1e-6


def test_numerical_evaluation_matches_a_closed_form():
    pde = FirstOrderPDE((x, z), (sympy.Integer(1), 4 * z * (1 - z)), 4 * (z - 1))
    solution = solve_by_characteristics(pde, z / 2 - 1)
    exact = float(solution.closed_form.subs({x: 0.3, z: 0.2}))
    assert abs(solution.evaluate((0.3, 0.2)) - exact) < 1e-10


@pytest.mark.parametrize(
    "expr",
    [
        sympy.exp(a * x) / (1 - x) ** 2,
        sympy.sqrt(1 + a * x) * sympy.log(1 - x),
        (1 + 3 * x) ** sympy.Rational(-4, 3) * sympy.exp(x**2),
        (sympy.exp(x) - 1 - x) / x**2,
    ],
)
def test_taylor_coefficients_match_sympy_series(expr):
    ours = taylor_coefficients(expr, x, 7)
    reference = sympy.series(expr, x, 0, 8).removeO()
    for k, c in enumerate(ours):
        assert sympy.simplify(c - reference.coeff(x, k)) == 0


def test_taylor_coefficients_of_catalan_gf():
    gf = (1 - sympy.sqrt(1 - 4 * x)) / (2 * x)
    assert taylor_coefficients(gf, x, 15) == [catalan(n) for n in range(16)]


def test_recurrence_rejects_mismatched_shifts():
    with pytest.raises(ParameterError):
        Recurrence({(0,): 1, (-1, 0): 2})


@settings(max_examples=6, deadline=None)
@given(
    a=st.integers(min_value=-6, max_value=6).filter(bool),
    b=st.integers(min_value=-6, max_value=6),
)
def test_first_order_sequences_round_trip_through_guess_pde_and_characteristics(a, b):
    # s C_s = (a + b s) C_{s-1}: the closed form is a power or an exponential.
    # A sequence that stops (a + b k = 0 for some k) fits many recurrences, so
    # the guesser rightly refuses it as ambiguous; it is not a round trip.
    assume(all(a + b * k != 0 for k in range(1, 12)))
    s = sympy.Symbol("s", integer=True)
    values = [Fraction(1)]
    for k in range(1, 12):
        values.append(values[-1] * (a + b * k) / k)
    data = {(k,): v for k, v in enumerate(values)}
    recurrence = guess_recurrence(data, indices=(s,), forward=0)
    solution = solve_by_characteristics(
        recurrence.to_first_order_pde((x,)), sympy.Integer(1)
    )
    assert solution.verified
    coefficients = taylor_coefficients(solution.closed_form, x, 11)
    assert [sympy.Rational(v.numerator, v.denominator) for v in values] == coefficients


def test_guesser_refuses_a_sequence_that_stops_as_ambiguous():
    # 1, 0, 0, ... satisfies s C_s = (1 - s) C_{s-1} and many other recurrences.
    s = sympy.Symbol("s", integer=True)
    data = {(k,): Fraction(int(k == 0)) for k in range(12)}
    with pytest.raises(ParameterError):
        guess_recurrence(data, indices=(s,), forward=0)
