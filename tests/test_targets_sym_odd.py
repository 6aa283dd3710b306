"""SYM with odd nu: exact fronts against the conjecture fitted to them."""

import json
from fractions import Fraction

import pytest

from feynflow import loss_coefficients
from feynflow.asymptotics import (
    compare_with_conjecture,
    conjectured_front,
    conjectured_regimes,
    pareto_terms,
)
from feynflow.cli import main
from feynflow.errors import ParameterError
from feynflow.expansion import pareto_optimal


@pytest.mark.parametrize("nu, order", [(3, 4), (5, 3)])
def test_exact_fronts_agree_with_the_conjecture(nu, order):
    coefficients = loss_coefficients(nu, order, symmetric=True, leading=True)
    for s, poly in enumerate(coefficients):
        terms = pareto_terms(poly, nu, s)
        assert compare_with_conjecture(terms, nu, s).status == "agrees", s


def test_leading_fronts_are_the_pareto_terms_of_the_full_coefficients_nu_3():
    full = loss_coefficients(3, 3, symmetric=True)
    leading = loss_coefficients(3, 3, symmetric=True, leading=True)
    for y_full, y_leading in zip(full, leading, strict=True):
        terms = dict(y_full.terms())
        keep = pareto_optimal(k for k in terms if k[2] > 0)
        assert {k for k in dict(y_leading.terms()) if k[2] > 0} == keep


def test_a_wrong_front_is_reported_as_disagreeing():
    front = list(conjectured_front(3, 3))
    dropped = front.pop()
    result = compare_with_conjecture(front, 3, 3)
    assert result.status == "disagrees" and result.missing == (dropped.exponents,)


def test_conjecture_refuses_even_nu():
    with pytest.raises(ParameterError, match="nu=4"):
        conjectured_front(4, 2)


def _growth(alpha, exponents):
    return sum(a * x for a, x in zip(alpha, exponents, strict=True))


@pytest.mark.parametrize("nu", [3, 5])
def test_regime_rows_give_the_growth_per_order_of_the_leading_terms(nu):
    """For scalings inside each row, the largest growth over the conjectured
    front increases per order by the growth of the row's natural T."""
    rows = conjectured_regimes(nu)
    grid = [
        (Fraction(1), Fraction(a, 4), Fraction(c, 60))
        for a in range(1, 17)
        for c in range(-120, 61)
    ]
    for row in rows:
        inside = [alpha for alpha in grid if row.contains(alpha)]
        assert inside, row.face
        for alpha in inside[:: max(1, len(inside) // 8)]:
            best = [
                max(_growth(alpha, t.exponents) for t in conjectured_front(nu, s))
                for s in (40, 42)
            ]
            assert (best[1] - best[0]) / 2 == _growth(alpha, row.T_exponents), (
                row.face,
                alpha,
            )


def test_pareto_command_reports_not_covered_and_the_conjecture(capsys):
    assert (
        main(["pareto", "--nu", "3", "--sym", "--order", "3", "--format", "json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    for front in data["fronts"]:
        assert front["theorem"] == "not covered"
        assert front["conjecture"]["status"] == "agrees"
        assert front["conjecture"]["label"].startswith("conjecture")
        assert front["s"] in front["conjecture"]["checked_orders"]
    assert [r["face"] for r in data["conjectured_regimes"]][:2] == ["A", "A-B=C"]
