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
from feynflow.diagrams import DiagramSum, merge
from feynflow.errors import ParameterError
from feynflow.expansion import pareto_optimal, step_generator
from feynflow.wick import pareto_front, wick_counts


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
    front increases per order by the growth of the row's natural T (measured
    between orders 80 and 160, where the O(1) offsets are below 1/15)."""
    fronts = {s: [t.exponents for t in conjectured_front(nu, s)] for s in (80, 160)}
    grid = [
        (Fraction(1), Fraction(a, 4), Fraction(c, 60))
        for a in range(1, 17)
        for c in range(-120, 61)
    ]
    rows = conjectured_regimes(nu)
    assert {"A", "B=C", "D=E", "P"} <= {row.face for row in rows}
    for row in rows:
        inside = [alpha for alpha in grid if row.contains(alpha)]
        if len(row.face.split("-")) > 1 and not inside:
            continue  # a tie the grid does not hit exactly
        assert inside, row.face
        for alpha in inside[:: max(1, len(inside) // 3)]:
            best = {
                s: max(_growth(alpha, x) for x in points)
                for s, points in fronts.items()
            }
            measured = (best[160] - best[80]) / 80
            assert abs(measured - _growth(alpha, row.T_exponents)) < Fraction(1, 15), (
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
    assert {"A", "B=C", "D=E", "P"} <= {r["face"] for r in data["conjectured_regimes"]}


def _column_fronts(nu, most_d, order):
    """Pareto fronts of the columns s_D <= most_d of Y_0..Y_order, by merging
    only diagrams with at most most_d copies of D (merging never removes one)."""
    generator = step_generator(nu, True, "identity")
    power = generator
    fronts = []
    for copies in range(1, order + 2):
        if copies > 1:
            power = merge(power, generator)

        def s_D(diagram, copies=copies):
            return (diagram.n_edges - nu * copies + 2 * (copies - 1)) // nu

        power = DiagramSum({d: c for d, c in power.items() if s_D(d) <= most_d})
        found = {}
        for diagram, coeff in power.items():
            column = found.setdefault(s_D(diagram), {})
            for key, count in wick_counts(diagram).items():
                column[key] = column.get(key, 0) + coeff * count
        fronts.append(
            {
                column: set(pareto_front({k: v for k, v in c.items() if v}))
                for column, c in found.items()
                if any(c.values())
            }
        )
    return fronts


@pytest.mark.parametrize("nu, order", [(3, 9), (5, 6)])
def test_low_columns_at_high_order_agree_with_the_conjecture(nu, order):
    # For nu = 3 the columns s_D = 1 gain a power of p at s = 6 and s_D = 0
    # never does; for nu = 5 the gain shows at s = 6 too.
    for s, fronts in enumerate(_column_fronts(nu, 1, order)):
        expected = {}
        for term in conjectured_front(nu, s):
            if term.s_D <= 1:
                expected.setdefault(term.s_D, set()).add((term.q, term.n))
        assert fronts == expected, s
