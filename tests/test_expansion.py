"""Loss coefficients against a diagram-free brute force and Monte Carlo."""

import itertools
import math

import numpy as np
import pytest
import sympy
from oracle import brute_force_coefficients

from feynflow import H, ParameterError, TimeLimitError, loss_coefficients, p, sigma
from feynflow.expansion import loss_diagrams, pareto_optimal

# (nu, symmetric, target, (p, H) sizes, highest order) checked against the
# brute force; ASYM nu = 4 at p = H = 2 and order 3 is the slowest (~10 s).
ORACLE_CASES = [
    (nu, symmetric, target, sizes, order)
    for nu in (2, 3, 4)
    for symmetric in (True, False)
    for target in ("identity", "zero")
    for sizes, order in (
        ([(1, 1), (1, 2), (2, 1)], 3),
        ([(2, 2)], 3 if (nu, symmetric) != (4, False) else 2),
    )
] + [
    (2, True, "identity", [(3, 3), (3, 2), (2, 3)], 3),
    (2, False, "identity", [(3, 3)], 3),
    (3, True, "identity", [(3, 1), (3, 2)], 2),
    (3, False, "zero", [(3, 2)], 2),
    (4, False, "identity", [(2, 2)], 3),
    (4, False, "zero", [(2, 2)], 3),
]


def _at(poly, p_value, h_value):
    values = sympy.Poly(poly.as_expr().subs({p: p_value, H: h_value}), sigma)
    return {m[0]: c for m, c in values.terms() if c}


@pytest.mark.parametrize("nu, symmetric, target, sizes, order", ORACLE_CASES)
def test_coefficients_match_brute_force_without_diagrams(
    nu, symmetric, target, sizes, order
):
    coefficients = loss_coefficients(nu, order, symmetric=symmetric, target=target)
    for p_value, h_value in sizes:
        brute = brute_force_coefficients(nu, p_value, h_value, order, symmetric, target)
        for s in range(order + 1):
            expected = {
                d: sympy.Rational(c.numerator, c.denominator)
                for d, c in brute[s].items()
            }
            assert _at(coefficients[s], p_value, h_value) == expected, (s, p_value)


def test_sym_nu2_coefficients_at_p_h_2_match_spec():
    s_ = sigma
    expected = [
        1 - 4 * s_**2 + 10 * s_**4,
        -16 * s_**2 + 160 * s_**4 - 576 * s_**6,
        -64 * s_**2 + 1600 * s_**4 - 16128 * s_**6 + 63744 * s_**8,
    ]
    for got, want in zip(loss_coefficients(2, 2), expected, strict=True):
        assert sympy.expand(got.as_expr().subs({p: 2, H: 2}) - want) == 0


def test_coefficients_are_exact_rational_polynomials():
    for poly in loss_coefficients(3, 2, symmetric=False):
        assert poly.gens == (p, H, sigma)
        assert poly.get_domain() == sympy.QQ


def test_leading_mode_keeps_exactly_the_pareto_terms():
    full = loss_coefficients(2, 5, symmetric=False)
    lead = loss_coefficients(2, 5, symmetric=False, leading=True)
    for s, (f, l) in enumerate(zip(full, lead, strict=True)):
        terms = dict(f.terms())
        if s == 0:
            terms.pop((1, 0, 0))
        keep = pareto_optimal(terms)
        expected = {k: c for k, c in terms.items() if k in keep}
        if s == 0:
            expected[(1, 0, 0)] = sympy.Rational(1, 2)
        assert dict(l.terms()) == expected


def test_zero_target_is_half_d_powers():
    # Free evolution: Y_0 = E[D]/2, no p/2 constant.
    y0 = loss_coefficients(2, 0, symmetric=False, target="zero")[0]
    assert y0.as_expr() == p**2 * H * sigma**4 / 2


def test_loss_diagrams_are_cycles_for_sym_nu2():
    for s in range(4):
        power = loss_diagrams(2, s)
        assert {d.n_edges for d in power} == {2 * (k + 1) for k in range(s + 2)}
        for diagram in power:
            degrees = [0] * (diagram.n_h + diagram.n_p)
            for h, i, _ in diagram.edges:
                degrees[h] += 1
                degrees[diagram.n_h + i] += 1
            assert set(degrees) == {2} and diagram.is_connected()


# -- Monte Carlo ------------------------------------------------------------


def _loss_and_gradient_norm(u, nu, symmetric, target):
    """Dense loss and squared gradient norm for a batch of weights.

    ``u`` has shape (samples, colours, H, p).
    """
    samples, _, h_size, p_size = u.shape
    letters = "abcdefg"[:nu]
    factors = [u[:, 0 if symmetric else m] for m in range(nu)]
    f = np.einsum(",".join(f"Sk{a}" for a in letters) + "->S" + letters, *factors)
    if target == "identity":
        for i in range(p_size):
            f[(slice(None),) + (i,) * nu] -= 1.0
    loss = 0.5 * np.sum(f.reshape(samples, -1) ** 2, axis=1)
    grads = []
    for m in range(nu):
        others = [factors[k] for k in range(nu) if k != m]
        spec = (
            "S"
            + letters
            + ","
            + ",".join(f"Sk{letters[k]}" for k in range(nu) if k != m)
            + f"->Sk{letters[m]}"
        )
        grads.append(np.einsum(spec, f, *others))
    if symmetric:
        norm = np.sum(sum(grads) ** 2, axis=(1, 2))
    else:
        norm = sum(np.sum(g**2, axis=(1, 2)) for g in grads)
    return loss, norm


@pytest.mark.parametrize(
    "nu, symmetric, p_value, h_value, sigma_value",
    [(2, True, 3, 2, 0.6), (3, False, 3, 2, 0.7), (3, True, 2, 3, 0.5)],
)
def test_y0_and_y1_match_monte_carlo(nu, symmetric, p_value, h_value, sigma_value):
    rng = np.random.default_rng(20260602)
    samples = 40000
    colours = 1 if symmetric else nu
    u = sigma_value * rng.standard_normal((samples, colours, h_value, p_value))
    loss, grad_norm = _loss_and_gradient_norm(u, nu, symmetric, "identity")
    y0, y1 = loss_coefficients(nu, 1, symmetric=symmetric)
    point = {p: p_value, H: h_value, sigma: sympy.Rational(str(sigma_value))}
    for exact, sample in ((y0, loss), (y1, -grad_norm)):
        value = float(exact.as_expr().subs(point))
        standard_error = sample.std(ddof=1) / math.sqrt(samples)
        # Five standard errors: a false alarm has probability below 1e-6.
        assert abs(sample.mean() - value) < 5 * standard_error, (value, sample.mean())


def test_y1_is_minus_mean_squared_gradient_exactly():
    # Brute force over all weights of E||grad L||^2 for SYM nu = 2, p = H = 2.
    import flint
    from oracle import twice_loss

    loss2, gens = twice_loss(2, 2, 2, True, "identity")
    norm4 = sum(
        (loss2.derivative(v) ** 2 for v in range(len(gens))),
        start=loss2.context().from_dict({}),
    )  # 4 ||grad L||^2
    average = {}
    for exponents, coeff in norm4.terms():
        exponents = [int(a) for a in exponents]
        if any(a % 2 for a in exponents):
            continue
        weight = int(coeff)
        for a in exponents:
            weight *= math.prod(range(a - 1, 0, -2))
        average[sum(exponents)] = average.get(sum(exponents), 0) + weight
    assert isinstance(norm4, flint.fmpz_mpoly)
    y1 = loss_coefficients(2, 1)[1]
    expected = sum(-sympy.Rational(c, 4) * sigma**d for d, c in average.items())
    assert sympy.expand(y1.as_expr().subs({p: 2, H: 2}) - expected) == 0


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"nu": 1, "order": 2}, "nu=1"),
        ({"nu": 2, "order": -1}, "order=-1"),
        ({"nu": 2, "order": 1.5}, "order=1.5"),
        ({"nu": 2, "order": 2, "target": "ones"}, "target='ones'"),
    ],
)
def test_bad_parameters_raise_one_line_parameter_errors(kwargs, fragment):
    with pytest.raises(ParameterError) as info:
        loss_coefficients(**kwargs)
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_time_limit_stops_a_long_run():
    with pytest.raises(TimeLimitError, match="time limit"):
        loss_coefficients(4, 8, symmetric=False, time_limit=0.2)


@pytest.mark.parametrize("nu, symmetric", [(2, True), (4, True), (3, False)])
def test_time_limit_message_names_the_last_order_finished(nu, symmetric):
    # Three routes of leading mode: pruned recursion, merger fronts, compiled
    # averages; each stops with the same kind of message.
    with pytest.raises(TimeLimitError) as info:
        loss_coefficients(nu, 10**6, symmetric=symmetric, leading=True, time_limit=0.5)
    message = str(info.value)
    assert message.startswith("time limit of 0.5 s reached after order ")
    assert int(message.rsplit(" ", 1)[1]) >= 0 and "\n" not in message


def test_leading_must_be_true_or_false():
    with pytest.raises(ParameterError, match="leading='no'"):
        loss_coefficients(4, 1, leading="no")


def test_every_orders_subset_is_consistent():
    # Asking for fewer orders gives the same leading coefficients.
    long = loss_coefficients(3, 2, symmetric=True)
    short = loss_coefficients(3, 1, symmetric=True)
    assert list(itertools.islice(long, 2)) == short
