"""Merger fronts of free evolution against the full enumeration and SPEC."""

import pytest

from feynflow import ParameterError
from feynflow.diagrams import merge
from feynflow.expansion import _average_chunk, pareto_optimal, step_generator
from feynflow.mergers import free_merger_fronts, merger_fronts_applies


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


def test_merger_fronts_refuse_scenarios_they_do_not_cover():
    assert not merger_fronts_applies(3, True, "zero")
    assert not merger_fronts_applies(4, False, "zero")
    assert not merger_fronts_applies(4, True, "identity")
    with pytest.raises(ParameterError, match="nu=3"):
        free_merger_fronts(3, 2)


def test_free_sym_nu4_closed_forms_agree_with_ten_orders_of_merger_fronts():
    from feynflow.solutions import derive

    for case in ("free-under", "free-over", "free-general"):
        derivation = derive(case, nu=4, symmetric=True, order=10)
        assert derivation.series_check.orders == 10
        assert derivation.series_check.agrees
