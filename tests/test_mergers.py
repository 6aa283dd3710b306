"""Merger fronts of the symmetric model with even nu against full enumeration."""

from fractions import Fraction

import pytest

from feynflow import ParameterError, TimeLimitError, loss_coefficients
from feynflow.diagrams import merge
from feynflow.expansion import _average_chunk, pareto_optimal, step_generator
from feynflow.mergers import (
    free_merger_fronts,
    iter_merger_fronts,
    merger_fronts,
    merger_fronts_applies,
)


def _enumerated_fronts(nu, order):
    """Pareto terms of Y_s by merging every diagram and averaging it exactly."""
    generator = step_generator(nu, True, "zero")
    power = generator
    fronts = []
    for s in range(order + 1):
        if s:
            power = merge(power, generator)
        terms = _average_chunk(sorted(power.items()), -1 if s % 2 else 1, False)
        keep = pareto_optimal({k for k, c in terms.items() if c})
        fronts.append({k: c for k, c in terms.items() if k in keep})
    return fronts


@pytest.mark.parametrize("nu, order", [(4, 3), (6, 2), (8, 1)])
def test_merger_fronts_equal_full_enumeration(nu, order):
    assert free_merger_fronts(nu, order) == _enumerated_fronts(nu, order)


@pytest.mark.parametrize("nu", [4, 6])
def test_merger_fronts_follow_the_spec_segment_recurrence(nu):
    # SPEC 5.1: C_{n,s} = 2 nu (2 (nu-1) s + 2) [(nu-1)!! C_{n-1,s-1} + C_{n,s-1}]
    # for the counts C_{n,s} of optimal pairings of D^{*(s+1)} with n H-nodes;
    # Y_s = (-1)^s E[D^{*(s+1)}] / 2^(s+1).
    double_factorial = 1
    for k in range(nu - 1, 0, -2):
        double_factorial *= k
    fronts = free_merger_fronts(nu, 8)
    counts = [
        {n: abs(c) * 2 ** (s + 1) for (q, n, _), c in front.items()}
        for s, front in enumerate(fronts)
    ]
    for s in range(1, 9):
        factor = 2 * nu * (2 * (nu - 1) * s + 2)
        for n, value in counts[s].items():
            expected = factor * (
                double_factorial * counts[s - 1].get(n - 1, 0) + counts[s - 1].get(n, 0)
            )
            assert value == expected


def _pareto_part(poly, drop_constant):
    terms = {m: Fraction(int(c.p), int(c.q)) for m, c in poly.terms()}
    if drop_constant:
        terms.pop((1, 0, 0), None)
    keep = pareto_optimal(set(terms))
    return {m: c for m, c in terms.items() if m in keep}


@pytest.mark.parametrize(
    "nu, order",
    [
        (4, 4),
        (6, 3),
        (8, 2),
        pytest.param(4, 5, marks=pytest.mark.slow),
        pytest.param(6, 4, marks=pytest.mark.slow),
    ],
)
def test_merger_fronts_equal_pareto_part_of_full_enumeration_with_identity(nu, order):
    # The full enumeration merges every diagram and averages every pairing;
    # R_nu * R_nu already has optimal pairings with three cross pairs, which
    # only the insertion of R into several pairs of one entry produces.
    full = loss_coefficients(nu, order, symmetric=True)
    fronts = merger_fronts(nu, order, target="identity")
    for s in range(order + 1):
        assert fronts[s] == _pareto_part(full[s], drop_constant=s == 0)


def test_leading_mode_adds_the_target_constant_to_the_merger_front():
    y0 = loss_coefficients(4, 0, symmetric=True, leading=True)[0]
    assert dict(y0.terms())[(1, 0, 0)] == Fraction(1, 2)


def test_merger_fronts_refuse_scenarios_they_do_not_cover():
    assert merger_fronts_applies(4, True, "identity")
    assert merger_fronts_applies(6, True, "zero")
    assert not merger_fronts_applies(3, True, "zero")
    assert not merger_fronts_applies(2, True, "identity")
    assert not merger_fronts_applies(4, False, "zero")
    assert not merger_fronts_applies(4, True, "modadd")
    with pytest.raises(ParameterError, match="nu=3"):
        free_merger_fronts(3, 2)
    for order in (-1, 2.5, "2", None, True):
        with pytest.raises(ParameterError, match=f"order={order!r}"):
            merger_fronts(4, order)
    assert not merger_fronts_applies("4", True, "identity")
    assert not merger_fronts_applies(4.0, True, "identity")
    with pytest.raises(ParameterError, match="target='d\\(1,2\\)'"):
        merger_fronts(4, 2, target="d(1,2)")


@pytest.mark.parametrize("nu", [-4, 0, 1, 2, 3, 5])
def test_merger_fronts_name_the_even_nu_they_need(nu):
    with pytest.raises(ParameterError, match=f"nu={nu} .*even nu >= 4"):
        merger_fronts(nu, 1)


def test_merger_fronts_stop_at_the_time_limit_with_the_last_order_done():
    import time

    start = time.monotonic()
    with pytest.raises(TimeLimitError, match=r"of 0.5 s reached after order \d+$"):
        merger_fronts(4, 10**6, time_limit=0.5)
    assert time.monotonic() - start < 5
    with pytest.raises(TimeLimitError, match="of 0.5 s"):
        for _ in iter_merger_fronts(6, 10**6, "zero", time_limit=0.5):
            pass


def test_a_generous_time_limit_changes_no_front():
    assert merger_fronts(4, 6, time_limit=600) == merger_fronts(4, 6)
    assert free_merger_fronts(6, 4, time_limit=600) == free_merger_fronts(6, 4)


@pytest.mark.parametrize("time_limit", [0, -1, float("inf"), float("nan"), "5", True])
def test_merger_fronts_refuse_a_bad_time_limit(time_limit):
    with pytest.raises(ParameterError, match="time_limit="):
        merger_fronts(4, 2, time_limit=time_limit)


def test_free_sym_nu4_closed_forms_agree_with_ten_orders_of_merger_fronts():
    from feynflow.solutions import derive

    for case in ("free-under", "free-over", "free-general"):
        derivation = derive(case, nu=4, symmetric=True, order=10)
        assert derivation.series_check.orders == 10
        assert derivation.series_check.agrees
