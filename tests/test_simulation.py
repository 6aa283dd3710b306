"""Tests of the gradient-flow simulator against independent computations.

The closed forms of SPEC section 5 are written out here, independently of the
summation code, and the simulated mean loss is compared with them at sizes
that run in seconds.  They are large-size limits, so each comparison is made at
two sizes and the error must shrink as ``p`` grows.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import warnings

import mpmath
import numpy as np
import pytest

from feynflow.cli import main
from feynflow.errors import ParameterError
from feynflow.simulation import (
    DEFAULT_MEMORY_LIMIT,
    dense_loss_and_gradient,
    initial_weights,
    integrate,
    loss_and_gradient,
    memory_estimate,
    simulate,
)

# --------------------------------------------------------------------------
# Loss and gradient.


def _brute_force_loss(weights, nu, symmetric, target):
    """L = 1/2 sum (f - F)^2 by explicit loops over every index tuple."""
    colours, rank, size = weights.shape
    total = 0.0
    for index in itertools.product(range(size), repeat=nu):
        value = sum(
            math.prod(weights[0 if symmetric else m, k, index[m]] for m in range(nu))
            for k in range(rank)
        )
        if target == "identity" and len(set(index)) == 1:
            value -= 1.0
        total += value * value
    return 0.5 * total


def _finite_difference_gradient(weights, loss, step=1e-5):
    gradient = np.zeros_like(weights)
    for position in np.ndindex(weights.shape):
        up, down = weights.copy(), weights.copy()
        up[position] += step
        down[position] -= step
        gradient[position] = (loss(up) - loss(down)) / (2 * step)
    return gradient


@pytest.mark.parametrize("target", ["identity", "zero"])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("nu", [2, 3])
def test_dense_loss_matches_brute_force_sum(nu, symmetric, target):
    rng = np.random.default_rng(11 * nu + symmetric)
    weights = rng.normal(size=(1 if symmetric else nu, 3, 3))
    loss, _ = dense_loss_and_gradient(weights, nu, symmetric, target)
    assert loss == pytest.approx(_brute_force_loss(weights, nu, symmetric, target))


@pytest.mark.parametrize(("p", "H"), [(3, 4), (4, 2), (2, 5), (2, 9)])
@pytest.mark.parametrize("target", ["identity", "zero"])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("nu", [2, 3, 4])
def test_gram_gradient_equals_dense_and_finite_differences(nu, symmetric, target, p, H):
    rng = np.random.default_rng(100 * nu + 10 * p + H + symmetric)
    weights = 0.8 * rng.normal(size=(1 if symmetric else nu, H, p))

    loss, gradient = loss_and_gradient(weights, nu, symmetric, target)
    dense_loss, dense_gradient = dense_loss_and_gradient(weights, nu, symmetric, target)
    numeric = _finite_difference_gradient(
        weights, lambda w: dense_loss_and_gradient(w, nu, symmetric, target)[0]
    )

    assert loss == pytest.approx(dense_loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient, dense_gradient, rtol=1e-11, atol=1e-11)
    scale = np.abs(dense_gradient).max()
    np.testing.assert_allclose(dense_gradient, numeric, rtol=0, atol=1e-7 * scale)


def test_dense_gradient_with_arbitrary_target_matches_finite_differences():
    rng = np.random.default_rng(5)
    weights = rng.normal(size=(3, 2, 3))
    target = rng.normal(size=(3, 3, 3))
    _, gradient = dense_loss_and_gradient(weights, 3, False, target)
    numeric = _finite_difference_gradient(
        weights, lambda w: dense_loss_and_gradient(w, 3, False, target)[0]
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-7, atol=1e-7)


def test_loss_and_gradient_refuses_wrong_shape():
    with pytest.raises(ParameterError, match=r"\(3, H, p\)"):
        loss_and_gradient(np.zeros((1, 2, 2)), 3, False)


# --------------------------------------------------------------------------
# Seeding.


def test_initial_weights_follow_documented_draw_order():
    # One standard_normal call of C*H*p numbers, C order (colour, k, i).
    flat = np.random.default_rng(42).standard_normal(3 * 4 * 5)
    weights = initial_weights(3, False, p=5, H=4, sigma=0.3, seed=42)
    np.testing.assert_array_equal(weights, 0.3 * flat.reshape(3, 4, 5))


def test_same_seeds_give_same_curves_and_other_seeds_do_not():
    kwargs = dict(nu=3, symmetric=False, p=4, H=3, sigma=0.6, T=1.0, t_max=1.0)
    first = simulate(**kwargs, steps=20, seeds=[3, 8], return_runs=True)
    again = simulate(**kwargs, steps=20, seeds=[3, 8], return_runs=True)
    other = simulate(**kwargs, steps=20, seeds=[4, 9], return_runs=True)
    np.testing.assert_array_equal(first.runs, again.runs)
    assert not np.allclose(first.runs, other.runs)

    # The count form uses seeds 0..n-1, and each run does not depend on the
    # other seeds of the batch.
    counted = simulate(**kwargs, steps=20, seeds=3, return_runs=True)
    single = simulate(**kwargs, steps=20, seeds=[2], return_runs=True)
    assert counted.params["seeds"] == [0, 1, 2]
    np.testing.assert_allclose(counted.runs[2], single.runs[0], rtol=1e-13)


def test_mean_and_std_are_over_seeds():
    result = simulate(2, True, 3, 4, 0.5, 1.0, 0.5, 10, seeds=4, return_runs=True)
    np.testing.assert_allclose(result.loss_mean, result.runs.mean(axis=0))
    np.testing.assert_allclose(result.loss_std, result.runs.std(axis=0, ddof=1))
    assert result.t[0] == 0.0 and result.t[-1] == 0.5 and len(result.t) == 11
    assert result.loss_mean.dtype == np.float64


def test_initial_loss_matches_wick_values_of_spec():
    # E[L(0)] for SYM nu=2, identity target, from SPEC section 2:
    # 1/2 E[D_4] - E[R_2] + p/2 with E[D_4] = (p^2 H + p H^2 + p H) sigma^4.
    p, H, sigma = 6, 5, 0.4
    result = simulate(2, True, p, H, sigma, 1.0, 1.0, 1, seeds=4000)
    expected = (
        0.5 * (p * p * H + p * H * H + p * H) * sigma**4 - p * H * sigma**2 + p / 2
    )
    standard_error = result.loss_std[0] / math.sqrt(4000)
    assert abs(result.loss_mean[0] - expected) < 4 * standard_error


# --------------------------------------------------------------------------
# The integrators.


def _energy_defect(method, steps, symmetric):
    """|L(t_max) - L(0) + (1/T) integral ||grad L||^2 dt| along one run.

    The integral uses the quadrature that matches the integrator's order:
    the left Riemann sum for Euler, Simpson's rule for RK4.
    """
    nu, T, t_max = 3, 2.0, 1.0
    weights = initial_weights(nu, symmetric, p=4, H=5, sigma=0.6, seed=1)
    squared_norms = []

    def observer(n, t, state, loss, gradient):
        squared_norms.append(float(np.sum(gradient * gradient)))

    t, loss = integrate(
        weights, nu, symmetric, T, t_max, steps, method=method, observer=observer
    )
    norms = np.array(squared_norms)
    dt = t_max / steps
    if method == "euler":
        dissipated = dt * norms[:-1].sum()
    else:
        weights_simpson = np.ones(steps + 1)
        weights_simpson[1:-1:2] = 4
        weights_simpson[2:-1:2] = 2
        dissipated = dt / 3 * np.dot(weights_simpson, norms)
    return abs(loss[-1] - loss[0] + dissipated / T)


@pytest.mark.parametrize("symmetric", [True, False])
def test_loss_decays_at_rate_gradient_norm_squared_to_first_order_with_euler(
    symmetric,
):
    coarse = _energy_defect("euler", 200, symmetric)
    fine = _energy_defect("euler", 400, symmetric)
    assert coarse > 0
    assert 1.7 < coarse / fine < 2.3


@pytest.mark.parametrize("symmetric", [True, False])
def test_loss_decays_at_rate_gradient_norm_squared_to_fourth_order_with_rk4(
    symmetric,
):
    coarse = _energy_defect("rk4", 20, symmetric)
    fine = _energy_defect("rk4", 40, symmetric)
    assert coarse > 1e-11
    assert 12 < coarse / fine < 20


def test_halving_the_euler_step_halves_the_error():
    kwargs = dict(nu=2, symmetric=True, p=5, H=4, sigma=0.5, T=1.0, t_max=2.0)
    reference = simulate(**kwargs, steps=1600, seeds=[0], method="rk4")
    errors = []
    for steps in (100, 200, 400):
        euler = simulate(**kwargs, steps=steps, seeds=[0], method="euler")
        stride = 1600 // steps
        errors.append(np.abs(euler.loss_mean - reference.loss_mean[::stride]).max())
    assert 1.7 < errors[0] / errors[1] < 2.3
    assert 1.7 < errors[1] / errors[2] < 2.3


# --------------------------------------------------------------------------
# Gradient ascent and blow-up.


def test_gradient_ascent_blows_up_cleanly_at_high_noise():
    # SYM nu=4 ascent (SPEC 5.4) with p^3 sigma^4 = 8 about 4 times the
    # critical rho* = (16 theta int F^3)^(-1) ~ 0.52 (theta = 4, int F^3 ~ 0.030).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = simulate(
            4, True, 8, 64, 0.25, 1.0, -0.2, 1000, seeds=3, return_runs=True
        )
    assert np.all(np.isfinite(result.blowup_time))
    assert np.all((result.blowup_time < -0.005) & (result.blowup_time > -0.2))
    for run, blowup in zip(result.runs, result.blowup_time, strict=True):
        before = result.t > blowup
        assert np.all(np.isfinite(run[before]))
        assert np.all(np.isinf(run[~before]))
        # Ascent: the loss grows until it overflows.
        assert np.all(np.diff(run[before]) >= 0)
        assert run[before][-1] > 1e30
    assert result.first_blowup_time == pytest.approx(result.blowup_time.max())
    assert np.isinf(result.loss_mean[-1]) and np.isnan(result.loss_std[-1])


def test_gradient_ascent_at_low_noise_returns_to_p_over_2_from_below():
    # p^3 sigma^4 ~ 0.05, a tenth of rho*: no blow-up, and L -> ||F||^2/2.
    p = 8
    result = simulate(4, True, p, 64, 0.1, 1.0, -200.0, 1000, seeds=3)
    assert np.all(np.isnan(result.blowup_time))
    assert math.isnan(result.first_blowup_time)
    gap = p / 2 - result.loss_mean
    assert np.all(gap[1:] > 0)
    assert np.all(np.diff(gap[100:]) < 0)
    assert gap[-1] < 1e-3


# --------------------------------------------------------------------------
# Input checks and memory.


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"p": 0}, "p=0"),
        ({"H": -3}, "H=-3"),
        ({"sigma": 0.0}, "sigma=0.0"),
        ({"sigma": -1.0}, "sigma=-1.0"),
        ({"T": 0}, "T=0"),
        ({"steps": 0}, "steps=0"),
        ({"t_max": 0.0}, "t_max=0.0"),
        ({"seeds": 0}, "seeds=0"),
        ({"seeds": [-1]}, "seeds="),
        ({"nu": 1}, "nu=1"),
        ({"target": "ones"}, "target='ones'"),
        ({"method": "rk2"}, "method='rk2'"),
        ({"backend": "jax"}, "backend='jax'"),
    ],
)
def test_bad_input_is_refused_with_one_line_naming_the_value(change, pattern):
    kwargs = dict(
        nu=2,
        symmetric=True,
        p=3,
        H=3,
        sigma=0.5,
        T=1.0,
        t_max=1.0,
        steps=5,
        seeds=1,
    )
    kwargs.update(change)
    with pytest.raises(ParameterError, match=pattern) as info:
        simulate(**kwargs)
    assert "\n" not in str(info.value)


def test_run_too_large_for_memory_is_refused_with_the_estimate():
    estimate = memory_estimate(3, True, 1000, 100_000)
    assert estimate > DEFAULT_MEMORY_LIMIT
    with pytest.raises(ParameterError, match=r"\d+\.\d\d GiB") as info:
        simulate(3, True, 1000, 100_000, 0.1, 1.0, 1.0, 10, seeds=1)
    assert f"{estimate / 2**30:.2f} GiB" in str(info.value)
    with pytest.raises(ParameterError, match="GiB"):
        simulate(2, True, 50, 50, 0.1, 1.0, 1.0, 10, seeds=1, memory_limit=1000)


def test_memory_estimate_counts_the_gram_matrices():
    # Two H x H matrices (G and G^(nu-1)) dominate a SYM run with H >> p.
    estimate = memory_estimate(4, True, 8, 4096)
    assert 2 * 4096**2 * 8 <= estimate < 3 * 4096**2 * 8


# --------------------------------------------------------------------------
# Agreement with the closed forms of SPEC section 5 (written out here).


def _double_factorial(n):
    return math.prod(range(n, 0, -2))


def free_asym_under(t, nu, p, H, sigma, T):
    """SPEC 5.1, point A, ASYM: a power law."""
    initial = 0.5 * p**nu * H * sigma ** (2 * nu)
    rate = 2 * (nu - 1) * p ** (nu - 1) * sigma ** (2 * (nu - 1)) / T
    return initial * (1 + rate * t) ** (-nu / (nu - 1))


def free_asym_over(t, nu, p, H, sigma, T):
    """SPEC 5.1, point B, ASYM: exponential decay."""
    initial = 0.5 * p**nu * H * sigma ** (2 * nu)
    return initial * np.exp(-2 * nu * sigma ** (2 * (nu - 1)) * H * t / T)


def free_sym_segment(t, nu, p, H, sigma, T):
    """SPEC 5.1, whole segment A-B, SYM even nu >= 4."""
    theta = 1 + _double_factorial(nu - 1) * H / p ** (nu / 2)
    initial = 0.5 * p**nu * H * sigma ** (2 * nu) * theta
    rate = 2 * nu * (nu - 1) * theta * p ** (nu - 1) * sigma ** (2 * (nu - 1)) / T
    return initial * (1 + rate * t) ** (-nu / (nu - 1))


def _narayana(w, y):
    """Narayana generating function h(w, y) of SPEC 5.3 and its w-derivative."""
    if w == 0:
        return y, y + y * y
    root = mpmath.sqrt(1 - 2 * w * (y + 1) + w * w * (y - 1) ** 2)
    numerator = 1 - w * (y + 1) - root
    numerator_prime = -(y + 1) - (-(y + 1) + w * (y - 1) ** 2) / root
    value = numerator / (2 * w * w)
    return value, numerator_prime / (2 * w * w) - numerator / w**3


def sym_nu2(t, p, H, sigma, T):
    """SPEC 5.3: E[L] ~ p/2 + p^2 sigma^2 Psi(-t/T, H/p, p sigma^2)."""
    with mpmath.workdps(50):
        y, z = mpmath.mpf(H) / p, mpmath.mpf(p) * mpmath.mpf(sigma) ** 2
        values = []
        for time in t:
            growth = mpmath.exp(4 * mpmath.mpf(time) / T)  # e^{-4x}, x = -t/T
            h, h_prime = _narayana(z * (1 - growth), y)
            psi = growth * (z * growth / 2 * h_prime - h)
            values.append(float(p / 2 + p * p * sigma**2 * psi))
    return np.array(values)


def scaled_error(result, theory, norm):
    return float(np.max(np.abs(result.loss_mean - theory)) / norm)


def test_transcribed_psi_has_the_limits_stated_in_spec():
    # t = 0: the leading terms of E[L(0)]; t -> infinity: max((p - H)/2, 0).
    p, sigma = 40, 0.3
    for H in (10, 40, 80):
        start, end = sym_nu2([0.0, 30.0], p, H, sigma, 1.0)
        expected = 0.5 * (p * p * H + p * H * H) * sigma**4 - p * H * sigma**2
        assert start == pytest.approx(p / 2 + expected, rel=1e-12)
        assert end == pytest.approx(max((p - H) / 2, 0), abs=1e-6)


def _free_asym_error(p, H, theory, rate_scale, seeds, t_max, steps):
    nu, sigma = 3, 1.0
    T = rate_scale(p, H)
    result = simulate(nu, False, p, H, sigma, T, t_max, steps, seeds, target="zero")
    curve = theory(result.t, nu, p, H, sigma, T)
    return scaled_error(result, curve, curve[0])


def test_free_asym_nu3_under_parameterized_follows_power_law():
    # p = H, so H / p^2 -> 0; T makes the predicted curve (1 + t)^(-3/2).
    def natural_T(p, H):
        return 4 * p**2

    errors = [
        _free_asym_error(p, p, free_asym_under, natural_T, 4, 10.0, 500)
        for p in (16, 64)
    ]
    assert errors[1] < errors[0]
    assert errors[1] < 0.04


@pytest.mark.slow
def test_free_asym_nu3_over_parameterized_decays_exponentially():
    # H = p^3 >> p^2; T makes the predicted curve exp(-t).
    def natural_T(p, H):
        return 6 * H

    errors = [
        _free_asym_error(p, p**3, free_asym_over, natural_T, 8, 3.0, 150)
        for p in (4, 6)
    ]
    assert errors[1] < errors[0]
    assert errors[1] < 0.08


@pytest.mark.slow
def test_free_sym_nu4_follows_the_whole_segment_formula():
    # H = p^2 (theta = 4), E[L(0)] = 1 and T makes the curve (1 + t)^(-4/3).
    errors, shape_errors = [], []
    for p in (8, 16):
        H = p * p
        theta = 1 + 3 * H / p**2
        sigma = (2 / (p**4 * H * theta)) ** (1 / 8)
        T = 24 * theta * p**3 * sigma**6
        result = simulate(4, True, p, H, sigma, T, 4.0, 100, 4, target="zero")
        curve = free_sym_segment(result.t, 4, p, H, sigma, T)
        assert np.allclose(curve, (1 + result.t) ** (-4 / 3))

        # The exact E[L(0)] = E[sum_{k,k'} (u_k . u_k')^4] sigma^8 / 2 from
        # Gaussian moments: E|u|^8 = p(p+2)(p+4)(p+6) on the diagonal and
        # E (u . v)^4 = 3 p (p+2) off it; the closed form keeps only its
        # leading terms, a relative error of about 4.5/p.
        exact = (
            0.5
            * sigma**8
            * (H * p * (p + 2) * (p + 4) * (p + 6) + 3 * H * (H - 1) * p * (p + 2))
        )
        standard_error = result.loss_std[0] / 2
        assert abs(result.loss_mean[0] - exact) < 4 * standard_error

        errors.append(scaled_error(result, curve, curve[0]))
        # The prefactor E[L(0)] has a relative correction ~ 4.5/p; the shape
        # of the curve converges faster.
        shape = result.loss_mean / result.loss_mean[0]
        shape_errors.append(float(np.max(np.abs(shape - curve))))
    assert errors[1] < errors[0] < 0.6
    assert shape_errors[1] < shape_errors[0] < 0.25


# (H/p, p sigma^2, t_max, steps, seeds): the four scenarios of SPEC section 6.
SYM_NU2_SCENARIOS = {
    "noisy under": (1 / 4, 16.0, 1.0, 400, 16),
    "noisy over": (8.0, 10.0, 0.5, 500, 8),
    "low-noise under": (1 / 8, 1e-2, 4.0, 200, 8),
    "general": (1.0, 1.0, 3.0, 300, 16),
}


@pytest.mark.parametrize("scenario", list(SYM_NU2_SCENARIOS))
def test_sym_nu2_matches_narayana_closed_form(scenario):
    ratio, noise, t_max, steps, seeds = SYM_NU2_SCENARIOS[scenario]
    errors = []
    for p in (16, 32):
        H = round(ratio * p)
        sigma = math.sqrt(noise / p)
        result = simulate(2, True, p, H, sigma, 1.0, t_max, steps, seeds, method="rk4")

        # At t = 0 the sample mean of a few seeds scatters around the exact
        # E[L(0)] (SPEC section 2) by its standard error, which in the noisy
        # scenarios exceeds the closed form's own error; it is checked
        # statistically, and the comparison with the closed form starts at
        # the next sampled time.
        exact = (
            0.5 * (p * p * H + p * H * H + p * H) * sigma**4 - p * H * sigma**2 + p / 2
        )
        standard_error = result.loss_std[0] / math.sqrt(seeds)
        assert abs(result.loss_mean[0] - exact) < 4 * standard_error

        # The closed form is costly in mpmath: compare on every 10th time.
        curve = sym_nu2(result.t[::10], p, H, sigma, 1.0)
        norm = max(curve[0], p / 2)
        difference = np.abs(result.loss_mean[::10] - curve)[1:]
        errors.append(float(difference.max() / norm))
    assert errors[1] < errors[0]
    assert errors[1] < 0.01


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "nu", "symmetric", "p", "H", "sigma", "T", "formula"),
    [
        ("free-under", 3, False, 16, 16, 1.0, 1024.0, free_asym_under),
        ("free-over", 3, False, 4, 64, 1.0, 384.0, free_asym_over),
        ("free-general", 4, True, 8, 64, 0.3, 5.0, free_sym_segment),
    ],
)
def test_closed_forms_of_solutions_agree_with_spec(
    case, nu, symmetric, p, H, sigma, T, formula
):
    # The derived closed forms (feynflow.solutions) against the formulas of
    # SPEC section 5 as transcribed above.
    solutions = pytest.importorskip("feynflow.solutions")
    times = np.linspace(0.0, 3.0, 7)
    derived = solutions.theory_loss(
        case, nu=nu, symmetric=symmetric, p=p, H=H, sigma=sigma, T=T, t=times
    )
    np.testing.assert_allclose(derived, formula(times, nu, p, H, sigma, T), rtol=1e-10)


@pytest.mark.slow
def test_nu2_closed_form_of_solutions_agrees_with_spec():
    solutions = pytest.importorskip("feynflow.solutions")
    times = np.linspace(0.0, 2.0, 5)
    for p, H, sigma in [(32, 8, math.sqrt(0.5)), (32, 32, math.sqrt(1 / 32))]:
        derived = solutions.theory_loss(
            "nu2", nu=2, symmetric=True, p=p, H=H, sigma=sigma, T=1.0, t=times
        )
        np.testing.assert_allclose(derived, sym_nu2(times, p, H, sigma, 1.0), rtol=1e-9)


# --------------------------------------------------------------------------
# Torch backend.


def test_torch_backend_gives_the_numpy_curves():
    pytest.importorskip("torch")
    for nu, symmetric in [(2, True), (3, False), (4, True)]:
        kwargs = dict(
            nu=nu,
            symmetric=symmetric,
            p=5,
            H=7,
            sigma=0.4,
            T=1.0,
            t_max=2.0,
            steps=100,
            seeds=3,
            return_runs=True,
        )
        with_numpy = simulate(**kwargs, method="rk4")
        with_torch = simulate(**kwargs, method="rk4", backend="torch", device="cpu")
        np.testing.assert_allclose(
            with_torch.runs, with_numpy.runs, rtol=1e-10, atol=1e-10
        )


# --------------------------------------------------------------------------
# Command line.


SMALL = [
    "simulate",
    "--nu",
    "2",
    "--sym",
    "--p",
    "4",
    "--H",
    "3",
    "--sigma",
    "0.5",
    "--T",
    "1",
    "--t-max",
    "1",
    "--steps",
    "20",
    "--seeds",
    "2",
]


def test_cli_json_has_the_curves_of_simulate(capsys):
    assert main(SMALL) == 0
    data = json.loads(capsys.readouterr().out)
    expected = simulate(2, True, 4, 3, 0.5, 1.0, 1.0, 20, 2)
    assert set(data) == {"t", "loss_mean", "loss_std", "params"}
    np.testing.assert_allclose(data["loss_mean"], expected.loss_mean, rtol=1e-15)
    np.testing.assert_allclose(data["t"], expected.t)
    assert data["params"]["p"] == 4 and data["params"]["symmetric"] is True


def test_cli_csv_has_one_row_per_time(capsys):
    assert main([*SMALL, "--format", "csv", "--method", "rk4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "t,loss_mean,loss_std"
    assert len(lines) == 22


@pytest.mark.parametrize(
    "change",
    [
        ["--p", "0"],
        ["--H", "-2"],
        ["--sigma", "0"],
        ["--sigma", "-1"],
        ["--steps", "0"],
        ["--t-max", "0"],
        ["--T", "0"],
    ],
)
def test_cli_bad_input_exits_2_with_one_line(change, capsys):
    argv = list(SMALL)
    flag = argv.index(change[0])
    argv[flag + 1] = change[1]
    with pytest.raises(SystemExit) as info:
        status = main(argv)
        raise SystemExit(status)
    assert info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error


def test_cli_theory_adds_theory_and_max_scaled_error(capsys, monkeypatch):
    # A stand-in closed form makes the check independent of the summation code.
    module = type(sys)("feynflow.solutions")
    module.theory_loss = lambda case, *, nu, symmetric, p, H, sigma, T, t: np.full_like(
        np.asarray(t, dtype=float), p / 2.0
    )
    monkeypatch.setitem(sys.modules, "feynflow.solutions", module)
    assert main([*SMALL, "--theory", "nu2"]) == 0
    data = json.loads(capsys.readouterr().out)
    mean = np.array(data["loss_mean"])
    assert data["theory"] == [2.0] * 21
    assert data["max_scaled_error"] == pytest.approx(np.max(np.abs(mean - 2.0)) / 2)


def test_cli_theory_without_closed_forms_exits_2(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "feynflow.solutions", None)
    assert main([*SMALL, "--theory", "nu2"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "theory" in error


def test_cli_plot_writes_a_png(tmp_path, capsys):
    target = tmp_path / "curve.png"
    assert main([*SMALL, "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
