"""Tests of the derived closed forms and of the gradient-ascent predictions.

The derivations find their recurrences from enumerated coefficients; these
tests compare the end points with the formulas printed in SPEC section 5,
written out here independently of the code.
"""

import random
from fractions import Fraction
from math import factorial, prod

import mpmath
import numpy as np
import pytest
import sympy

from feynflow.errors import ParameterError
from feynflow.solutions import (
    ascent_F,
    ascent_threshold,
    check_case,
    derive,
    derive_free,
    derive_ntk,
    derive_nu2,
    hadamard_by_residues,
    narayana_generating_function,
    ntk_kernel_moments,
    predict_ascent,
    theory_loss,
)
from feynflow.symbols import H, T, p, sigma, t

RNG = random.Random(2026)


def double_factorial(n):
    return prod(range(n, 0, -2))


def assert_equal_at_random_points(left, right, points=5):
    for _ in range(points):
        values = {
            p: RNG.randint(2, 40),
            H: RNG.randint(1, 60),
            sigma: sympy.Rational(RNG.randint(1, 30), 100),
            T: sympy.Rational(RNG.randint(1, 20), 4),
            t: sympy.Rational(RNG.randint(0, 40), 40),
        }
        a = sympy.N(left.subs(values), 30)
        b = sympy.N(right.subs(values), 30)
        assert abs(a - b) <= 1e-10 * max(1, abs(b))


def spec_free_under(nu, symmetric):
    c = 2 * nu if symmetric else 2
    start = p**nu * H * sigma ** (2 * nu) / 2
    rate = c * (nu - 1) * p ** (nu - 1) * sigma ** (2 * (nu - 1)) * t / T
    return start * (1 + rate) ** sympy.Rational(-nu, nu - 1)


def spec_free_over(nu, symmetric):
    if not symmetric:
        start = p**nu * H * sigma ** (2 * nu) / 2
        return start * sympy.exp(-2 * nu * sigma ** (2 * (nu - 1)) * H * t / T)
    start = double_factorial(nu - 1) * p ** (nu // 2) * H**2 * sigma ** (2 * nu) / 2
    rate = (
        2
        * nu
        * double_factorial(nu - 1)
        * (nu - 1)
        * p ** (nu // 2 - 1)
        * H
        * sigma ** (2 * (nu - 1))
        * t
        / T
    )
    return start * (1 + rate) ** sympy.Rational(-nu, nu - 1)


@pytest.mark.parametrize(
    "nu, symmetric", [(2, False), (3, False), (2, True), (4, True)]
)
def test_free_under_matches_spec_and_the_enumerated_series(nu, symmetric):
    derivation = derive_free(nu, symmetric, "under", order=4)
    assert derivation.series_check.agrees
    assert derivation.series_check.orders == 4
    assert sympy.simplify(derivation.loss - spec_free_under(nu, symmetric)) == 0


@pytest.mark.parametrize(
    "nu, symmetric", [(2, False), (3, False), (2, True), (4, True)]
)
def test_free_over_matches_spec_and_the_enumerated_series(nu, symmetric):
    derivation = derive_free(nu, symmetric, "over", order=4)
    assert derivation.series_check.agrees
    assert_equal_at_random_points(derivation.loss, spec_free_over(nu, symmetric))


@pytest.mark.parametrize("nu, symmetric", [(2, False), (3, False), (2, True)])
def test_point_a_counts_follow_the_spec_flower_recurrence(nu, symmetric):
    # SPEC: s C_s = 4 (1 + (nu-1) s) C_{s-1} (4 nu in SYM); the derivation
    # normalises to c_s = a_s / (a_0 s!) = (-1/2)^s C_s.
    factor = 4 * nu if symmetric else 4
    counts = [Fraction(1)]
    for s in range(1, 5):
        counts.append(counts[-1] * factor * (1 + (nu - 1) * s) / s)
    derivation = derive_free(nu, symmetric, "under", order=4)
    for s in range(5):
        assert derivation.data[(s,)] == Fraction(-1, 2) ** s * counts[s]
    # The recurrence found on five orders is SPEC's: it holds far beyond.
    for s in range(5, 30):
        counts.append(counts[-1] * factor * (1 + (nu - 1) * s) / s)
    spec_data = {(s,): Fraction(-1, 2) ** s * c for s, c in enumerate(counts)}
    assert derivation.recurrence.check(spec_data).agrees


@pytest.mark.slow
@pytest.mark.parametrize(
    "face, nu, symmetric, order",
    [
        ("under", 3, False, 6),
        ("over", 3, False, 6),
        ("under", 3, True, 6),
        ("under", 4, False, 5),
        ("over", 4, False, 5),
    ],
)
def test_free_vertices_derive_spec_from_six_orders(face, nu, symmetric, order):
    # The recurrence is found on data with three spare equations (order 6),
    # and the series check covers every enumerated order.
    derivation = derive_free(nu, symmetric, face, order=order)
    assert derivation.series_check.agrees
    assert derivation.series_check.orders == order
    spec = spec_free_under if face == "under" else spec_free_over
    assert_equal_at_random_points(derivation.loss, spec(nu, symmetric))


def test_free_segment_sym_nu4_matches_spec_formula_and_recurrence():
    nu = 4
    derivation = derive_free(nu, True, "general", order=4)
    assert derivation.series_check.agrees
    theta = 1 + double_factorial(nu - 1) * H / p ** (nu // 2)
    spec = (
        p**nu
        * H
        * sigma ** (2 * nu)
        * theta
        / 2
        * (
            1
            + 2
            * nu
            * (nu - 1)
            * theta
            * p ** (nu - 1)
            * sigma ** (2 * (nu - 1))
            * t
            / T
        )
        ** sympy.Rational(-nu, nu - 1)
    )
    assert_equal_at_random_points(derivation.loss, spec)
    # C_{n,s} of SPEC 5.1, generated independently; c_(s,j) = (-1/2)^s C/s!.
    C = {(1, 0): 1, (2, 0): double_factorial(nu - 1)}
    for s in range(1, 5):
        for n in range(1, s + 3):
            C[(n, s)] = (
                2
                * nu
                * (2 * (nu - 1) * s + 2)
                * (
                    double_factorial(nu - 1) * C.get((n - 1, s - 1), 0)
                    + C.get((n, s - 1), 0)
                )
            )
    for (s, j), value in derivation.data.items():
        expected = Fraction(-1, 2) ** s * C.get((j + 1, s), 0) / factorial(s)
        assert value == expected
    for s in range(5, 16):
        for n in range(1, s + 3):
            C[(n, s)] = (
                2
                * nu
                * (2 * (nu - 1) * s + 2)
                * (
                    double_factorial(nu - 1) * C.get((n - 1, s - 1), 0)
                    + C.get((n, s - 1), 0)
                )
            )
    spec_data = {
        (s, j): Fraction(-1, 2) ** s * C.get((j + 1, s), 0) / factorial(s)
        for s in range(16)
        for j in range(17)
    }
    check = derivation.recurrence.check(spec_data)
    assert check.agrees and check.positions > 150


def spec_psi(x, y, z):
    w = sympy.Symbol("w")
    h = narayana_generating_function(w, y)
    e = sympy.exp(-4 * x)
    argument = z * (1 - e)
    return e * ((z * e / 2) * sympy.diff(h, w).subs(w, argument) - h.subs(w, argument))


def test_nu2_recurrence_is_the_spec_recurrence_and_psi_is_spec_psi():
    derivation = derive_nu2(order=6)
    assert derivation.series_check.agrees
    # The SPEC recurrence for M, turned into one for M / s!, generates data
    # that the found recurrence must satisfy far beyond the enumerated range.
    M = {(0, 0): Fraction(-1), (0, 1): Fraction(1, 2)}
    for s in range(1, 25):
        for j in range(s + 2):
            M[(s, j)] = -4 * (j + 1) * M.get((s - 1, j), 0) + 4 * j * M.get(
                (s - 1, j - 1), 0
            )
    data = {
        (s, j): M.get((s, j), 0) / factorial(s) for s in range(25) for j in range(26)
    }
    check = derivation.recurrence.check(data)
    assert check.agrees and check.positions > 300
    x, y, z = sympy.symbols("x y z")
    Psi = derivation.extra["Psi"]
    for _ in range(6):
        point = {
            x: RNG.uniform(-0.3, 0.3),
            y: RNG.uniform(0.1, 4),
            z: RNG.uniform(0.01, 0.2),
        }
        with mpmath.workdps(40):
            ours = sympy.N(Psi.subs(point), 40)
            spec = sympy.N(spec_psi(x, y, z).subs(point), 40)
        assert abs(ours - spec) < 1e-10 * max(1, abs(spec))


def test_nu2_hadamard_product_has_spec_shape_for_any_series():
    # Residues taken with h abstract: Psi = e^(-4x) [(z e^(-4x)/2) h'(w) - h(w)]
    # with w = z (1 - e^(-4x)); checked by substituting a test function.
    derivation = derive_nu2(order=4)
    x, z, w = sympy.symbols("x z w")
    test_function = sympy.Lambda(w, sympy.exp(3 * w) + w**2 / (1 - w))
    ours = derivation.extra["Psi_abstract"].replace(sympy.Function("h"), test_function)
    e = sympy.exp(-4 * x)
    argument = z * (1 - e)
    spec = e * (
        (z * e / 2) * sympy.diff(test_function(w), w).subs(w, argument)
        - test_function(argument)
    )
    assert sympy.simplify(ours.doit() - spec) == 0


@pytest.mark.slow
def test_nu2_closed_form_series_matches_twenty_orders():
    derivation = derive_nu2(order=20)
    assert derivation.series_check.orders == 20
    assert derivation.series_check.agrees


@pytest.mark.parametrize("p_value, H_value", [(10, 4), (4, 10), (16, 64), (64, 16)])
def test_nu2_long_time_limit_is_max_of_p_minus_h_over_two(p_value, H_value):
    late = theory_loss(
        "nu2", nu=2, symmetric=True, p=p_value, H=H_value, sigma=0.2, T=1.0, t=[40.0]
    )
    assert abs(late[0] - max((p_value - H_value) / 2, 0)) < 1e-9


def test_nu2_theory_loss_at_zero_is_the_leading_initial_loss():
    value = theory_loss("nu2", nu=2, symmetric=True, p=10, H=4, sigma=0.3, T=2.0, t=[0])
    expected = 10 / 2 - 10 * 4 * 0.09 + (100 * 4 + 10 * 16) * 0.3**4 / 2
    assert value.shape == (1,)
    assert abs(value[0] - expected) < 1e-12


@pytest.mark.parametrize("nu", [2, 3])
def test_ntk_loss_decays_at_rate_two_nu(nu):
    derivation = derive_ntk(nu, order=4)
    assert derivation.series_check.agrees
    expected = (
        (p + p**nu * H * sigma ** (2 * nu))
        / 2
        * sympy.exp(-2 * nu * H * sigma ** (2 * nu - 2) * t / T)
    )
    assert sympy.simplify(derivation.loss - expected) == 0


@pytest.mark.parametrize("nu", [2, 3])
def test_ntk_kernel_moments_match_monte_carlo(nu):
    moments = ntk_kernel_moments(nu)
    rng = np.random.default_rng(7)
    H_value, s, samples = 50, 0.7, 4000
    # Diagonal kernel entry: sum over k and colours m of prod_{m' != m} u^2.
    u = rng.normal(0, s, size=(samples, H_value, nu)) ** 2
    total = u.prod(axis=2)[..., None] / u
    diagonal = total.sum(axis=2).sum(axis=1)
    values = {H: H_value, sigma: s}
    mean = float(moments["mean_diagonal"].subs(values))
    variance = float(moments["variance_diagonal"].subs(values))
    assert abs(diagonal.mean() - mean) < 4 * np.sqrt(variance / samples)
    assert abs(diagonal.var() / variance - 1) < 0.15
    assert sympy.limit(moments["relative_fluctuation"], H, sympy.oo) == 0


@pytest.mark.parametrize(
    "case, nu, symmetric",
    [
        ("free-general", 3, True),
        ("free-general", 2, True),
        ("free-general", 4, False),
        ("ntk", 2, True),
        ("nu2", 4, True),
        ("free-over", 3, True),
        ("unknown", 2, True),
    ],
)
def test_unsupported_combinations_are_refused_in_one_line(case, nu, symmetric):
    with pytest.raises(ParameterError) as info:
        check_case(case, nu, symmetric)
    assert "\n" not in str(info.value)
    assert "free-under" in str(info.value)


def test_derive_dispatches_to_the_case():
    derivation = derive("free-under", nu=2, symmetric=False, order=4)
    assert derivation.case == "free-under"
    assert derivation.scenario == "asym"
    parsed = sympy.sympify(
        derivation.to_dict()["loss"],
        locals={"p": p, "H": H, "sigma": sigma, "t": t, "T": T},
    )
    assert sympy.simplify(parsed - derivation.loss) == 0


def test_theory_loss_evaluates_the_derived_closed_form():
    times = np.linspace(0, 2, 7)
    values = theory_loss(
        "free-under", nu=3, symmetric=False, p=8, H=5, sigma=0.4, T=3.0, t=times
    )
    spec = spec_free_under(3, False)
    for time, value in zip(times, values, strict=True):
        point = {p: 8, H: 5, sigma: sympy.Rational(2, 5), T: 3, t: sympy.Float(time)}
        assert abs(value - float(spec.subs(point))) < 1e-12 * max(1, abs(value))


def test_hadamard_product_by_residues_of_a_double_pole():
    zeta, z, a = sympy.symbols("zeta z a")
    # sum n a^(n-1) zeta^n  (.)  sum 2^n z^n = sum n a^(n-1) 2^n z^n.
    result = hadamard_by_residues(zeta / (1 - a * zeta) ** 2, zeta, 1 / (1 - 2 * z), z)
    assert sympy.simplify(result - 2 * z / (1 - 2 * a * z) ** 2) == 0


# ---------------------------------------------------------------- ascent


@pytest.mark.parametrize("a", [-1e-4, -0.01, -0.0625, -0.3, -1.0, -7.5, -40.0])
def test_ascent_F_erfc_form_equals_the_integral(a):
    closed = ascent_F(a, method="erfc", dps=30)
    integral = ascent_F(a, method="integral", dps=30)
    assert abs(closed - integral) < 1e-12 * abs(integral)


def test_ascent_F_refuses_positive_argument():
    with pytest.raises(ParameterError):
        ascent_F(0.1)


def test_threshold_agrees_with_an_independent_quadrature():
    from scipy.integrate import quad

    def F(a):
        return quad(
            lambda u: np.exp(4 * a * u**2 - u) * u, 0, np.inf, epsabs=0, epsrel=1e-13
        )[0]

    cube = quad(lambda a: F(a) ** 3, -np.inf, 0, epsrel=1e-11, limit=200)[0]
    theta = 1.75
    assert abs(ascent_threshold(theta) - 1 / (16 * theta * cube)) < 1e-8


def test_ascent_starts_at_the_leading_initial_loss():
    from feynflow import loss_coefficients

    p_value, H_value, s = 64, 256, 0.03
    prediction = predict_ascent(p_value, H_value, s)
    y0 = loss_coefficients(4, 0, symmetric=True, leading=True)[0]
    expected = float(y0.as_expr().subs({p: p_value, H: H_value, sigma: s}))
    assert prediction.tau[0] == 0
    assert abs(prediction.loss[0] - expected) < 1e-9 * expected


def test_low_noise_loss_returns_to_half_p():
    p_value = 64
    prediction = predict_ascent(p_value, 64, 0.02, t_min=-1e5)
    assert prediction.regime == "low-noise"
    assert prediction.tau_crit is None
    assert abs(prediction.loss[-1] - p_value / 2) < 1e-6
    # g ~ -c / tau^2 far out: tau^2 g tends to a negative constant.
    tail = prediction.g[-20:] * prediction.tau[-20:] ** 2
    assert np.all(tail < 0)
    assert np.ptp(tail) < 1e-2 * abs(tail.mean())


def test_high_noise_blow_up_exponent_is_minus_four_thirds():
    prediction = predict_ascent(64, 64, 0.06)
    assert prediction.regime == "high-noise"
    assert prediction.tau_crit < 0
    gap = prediction.tau - prediction.tau_crit
    near = (gap > 0) & (gap < 1e-4 * abs(prediction.tau_crit))
    assert near.sum() > 20
    slope = np.polyfit(np.log(gap[near]), np.log(prediction.g[near]), 1)[0]
    assert abs(slope + 4 / 3) < 0.01


def test_regime_changes_at_the_threshold():
    p_value, H_value = 64, 128
    theta = 1 + 3 * H_value / p_value**2
    rho_star = ascent_threshold(theta)
    below = (0.98 * rho_star / p_value**3) ** 0.25
    above = (1.02 * rho_star / p_value**3) ** 0.25
    assert predict_ascent(p_value, H_value, below).regime == "low-noise"
    assert predict_ascent(p_value, H_value, above).regime == "high-noise"


def test_ntk_rate_is_confirmed_by_the_simulator():
    from feynflow.simulation import simulate

    # Face B-C: p H sigma^4 = 1 with H sigma^2 = 22.6 >> 1; eta = 1.
    nu, p_value, H_value = 2, 4, 2048
    s = (1 / (p_value * H_value)) ** 0.25
    natural_T = H_value * s**2
    run = simulate(nu, False, p_value, H_value, s, natural_T, 0.5, 100, 6, method="rk4")
    rate = -np.polyfit(run.t[10:90], np.log(run.loss_mean[10:90]), 1)[0]
    # The derived loss decays as exp(-2 nu eta t); exp(-2 eta t) is ruled out.
    assert abs(rate - 2 * nu) < 0.2
    theory = theory_loss(
        "ntk",
        nu=nu,
        symmetric=False,
        p=p_value,
        H=H_value,
        sigma=s,
        T=natural_T,
        t=run.t,
    )
    # ||f(0)||^2 fluctuates a lot over six seeds, so compare shapes.
    shape = run.loss_mean / run.loss_mean[0]
    assert np.max(np.abs(shape - theory / theory[0])) < 0.05


def test_ascent_curve_expands_into_the_enumerated_leading_coefficients():
    # Near tau = 0 the predicted curve is sum_s Y_s tau^s / s! with the
    # leading Y_s of SYM nu = 4 (identity target): fit a polynomial.
    from feynflow import loss_coefficients

    p_value, H_value, s = 64, 256, 0.03
    values = {p: p_value, H: H_value, sigma: s}
    leading = [
        float(y.as_expr().subs(values))
        for y in loss_coefficients(4, 3, symmetric=True, leading=True)
    ]
    prediction = predict_ascent(p_value, H_value, s, t_min=-0.5, points=400)
    fit = np.polyfit(prediction.tau, prediction.loss, 5)[::-1]
    derived = [fit[k] * factorial(k) for k in range(4)]
    for k, tolerance in enumerate([1e-12, 1e-6, 1e-4, 1e-3]):
        assert abs(derived[k] - leading[k]) < tolerance * abs(leading[k])


def test_nu2_closed_form_follows_the_simulated_flow():
    from feynflow.simulation import simulate

    # SPEC's "noisy under" point H/p = 1/4, p sigma^2 = 16, with T = 1.
    p_value, H_value = 128, 32
    s = (16 / p_value) ** 0.5
    run = simulate(2, True, p_value, H_value, s, 1.0, 1.0, 400, 2, method="rk4")
    times, simulated = run.t[::20], run.loss_mean[::20]
    theory = theory_loss(
        "nu2", nu=2, symmetric=True, p=p_value, H=H_value, sigma=s, T=1.0, t=times
    )
    assert np.max(np.abs(simulated - theory)) < 0.02 * theory[0]
    assert abs(run.loss_mean[-1] - (p_value - H_value) / 2) < 0.05 * p_value / 2


@pytest.mark.parametrize("nu, p_value, H_value", [(2, 256, 4), (3, 48, 8)])
def test_free_under_closed_form_follows_the_simulated_flow(nu, p_value, H_value):
    from feynflow.simulation import simulate

    # Point A (H << p^(nu-1)), natural T = p^(nu-1) sigma^(2 nu - 2), sigma = 1.
    natural_T = float(p_value ** (nu - 1))
    run = simulate(
        nu,
        False,
        p_value,
        H_value,
        1.0,
        natural_T,
        1.0,
        200,
        2,
        target="zero",
        method="rk4",
    )
    theory = theory_loss(
        "free-under",
        nu=nu,
        symmetric=False,
        p=p_value,
        H=H_value,
        sigma=1.0,
        T=natural_T,
        t=run.t,
    )
    # The initial loss fluctuates between seeds; compare L(t) / L(0).
    shape = run.loss_mean / run.loss_mean[0]
    assert np.max(np.abs(shape - theory / theory[0])) < 0.02


def test_vertex_derivations_store_their_orders_and_read_them_back(tmp_path):
    from feynflow.cache import CoefficientCache
    from feynflow.expansion import leading_coefficients
    from feynflow.solutions import derive

    path = tmp_path / "coefficients.sqlite"
    under = derive("free-under", nu=3, symmetric=False, order=4, cache=path)
    stored = CoefficientCache(path).info()["entries"]
    assert stored == 5
    # A second derivation reads the five stored orders and adds none.
    again = derive("free-under", nu=3, symmetric=False, order=4, cache=path)
    assert CoefficientCache(path).info()["entries"] == stored
    assert again.loss == under.loss and again.series_check.agrees
    # Point B enumerates its own vertex: five more orders.
    over = derive("free-over", nu=3, symmetric=False, order=4, cache=path)
    assert CoefficientCache(path).info()["entries"] == 2 * stored
    assert over.series_check.agrees
    alpha = (7, 1, 0)
    fresh = leading_coefficients(3, 4, alpha, symmetric=False, target="zero")
    cached = leading_coefficients(
        3, 4, alpha, symmetric=False, target="zero", cache=path
    )
    assert cached == fresh
