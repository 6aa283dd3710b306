"""The ``--target`` and ``--p-value`` options of ``feynflow coefficients``."""

import json
import subprocess
import sys

import sympy
from oracle import brute_force_tensor_coefficients

from feynflow import H, loss_coefficients, p, sigma
from feynflow.cli import main
from feynflow.targets import parse_target


def _json(capsys, *args):
    assert main(["coefficients", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _rebuild(terms):
    return sum(
        sympy.Rational(t["coeff"])
        * p ** t.get("p", 0)
        * H ** t["H"]
        * sigma ** t["sigma"]
        for t in terms
    )


def test_delta_target_json_is_the_library_result_under_its_canonical_name(capsys):
    data = _json(capsys, "--nu", "3", "--sym", "--order", "1", "--target", "1/2+d(2,1)")
    assert data["target"] == "d(1,2) + 1/2"
    polys = loss_coefficients(3, 1, target="d(1,2) + 1/2")
    for entry, poly in zip(data["coefficients"], polys, strict=True):
        assert sympy.expand(_rebuild(entry["terms"]) - poly.as_expr()) == 0


def test_modadd_at_p_value_omits_p_and_matches_brute_force(capsys):
    data = _json(
        capsys,
        *("--nu", "3", "--asym", "--order", "1", "--target", "modadd"),
        *("--p-value", "3"),
    )
    assert data["p_value"] == 3 and "exact_for" not in data
    target = parse_target("modadd", 3)
    brute = brute_force_tensor_coefficients(
        3, 3, 1, 1, False, lambda index: target.value(index, 3)
    )
    for entry, expected in zip(data["coefficients"], brute, strict=True):
        assert all("p" not in t for t in entry["terms"])
        at_h1 = sympy.Poly(_rebuild(entry["terms"]).subs(H, 1), sigma)
        got = {m[0]: c for m, c in at_h1.terms() if c}
        assert got == {
            d: sympy.Rational(c.numerator, c.denominator) for d, c in expected.items()
        }


def test_generic_modadd_states_where_the_polynomial_holds(capsys):
    data = _json(capsys, "--nu", "3", "--sym", "--order", "1", "--target", "modadd")
    assert data["exact_for"] == {"p_not_divisible_by": [2], "primes_above": 2}


def test_hostile_target_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "feynflow", "coefficients", "--nu", "3", "--sym"]
        + ["--order", "1", "--target", "__import__('os').system('echo hi')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown name '__import__'" in result.stderr


def test_pareto_of_a_delta_target_is_not_covered_by_the_theorem(capsys):
    assert (
        main(
            ["pareto", "--nu", "3", "--asym", "--order", "2", "--format", "json"]
            + ["--target", "1 + d(2,1)"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == "d(1,2) + 1"
    assert {front["theorem"] for front in data["fronts"]} == {"not covered"}
    polys = loss_coefficients(3, 2, symmetric=False, target="d(1,2) + 1")
    for front, poly in zip(data["fronts"], polys, strict=True):
        terms = {(t["p"], t["H"], t["sigma"]): t["coeff"] for t in front["terms"]}
        for (q, n, power), coeff in terms.items():
            assert sympy.Rational(coeff) == poly.coeff_monomial(
                p**q * H**n * sigma**power
            )
