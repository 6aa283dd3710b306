"""Tests of ``feynflow solve`` and ``feynflow ascent``."""

import json

import pytest
import sympy

from feynflow.cli import main
from feynflow.solutions import theory_loss
from feynflow.symbols import H, T, p, sigma, t


def run_json(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def test_solve_json_has_the_stable_shape_and_a_parsable_loss(capsys):
    data = run_json(
        capsys, ["solve", "free-over", "--nu", "3", "--asym", "--format", "json"]
    )
    assert set(data) == {
        "case",
        "nu",
        "scenario",
        "loss",
        "recurrence",
        "pde",
        "series_check",
    }
    assert (data["case"], data["nu"], data["scenario"]) == ("free-over", 3, "asym")
    assert data["series_check"] == {"orders": 4, "agrees": True}
    names = {"p": p, "H": H, "sigma": sigma, "t": t, "T": T}
    loss = sympy.sympify(data["loss"], locals=names)
    assert loss.free_symbols <= set(names.values())
    expected = p**3 * H * sigma**6 / 2 * sympy.exp(-6 * H * sigma**4 * t / T)
    assert sympy.simplify(loss - expected) == 0


def test_solve_nu2_with_a_chosen_check_order(capsys):
    data = run_json(
        capsys,
        [
            "solve",
            "nu2",
            "--nu",
            "2",
            "--sym",
            "--format",
            "json",
            "--check-order",
            "5",
        ],
    )
    assert data["series_check"] == {"orders": 5, "agrees": True}
    names = {"p": p, "H": H, "sigma": sigma, "t": t, "T": T}
    loss = sympy.sympify(data["loss"], locals=names)
    assert loss.free_symbols <= set(names.values())
    # The printed loss is the derived closed form: compare with its evaluator.
    point = {p: 10, H: 4, sigma: sympy.Rational(3, 10), T: 1, t: sympy.Rational(1, 2)}
    expected = theory_loss(
        "nu2", nu=2, symmetric=True, p=10, H=4, sigma=0.3, T=1.0, t=[0.5]
    )[0]
    assert abs(float(sympy.N(loss.subs(point), 30)) - expected) < 1e-10


@pytest.mark.parametrize("fmt", ["pretty", "latex"])
def test_solve_prints_pretty_and_latex(capsys, fmt):
    assert main(["solve", "free-under", "--nu", "2", "--asym", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "E[L(t)]" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["solve", "free-general", "--nu", "3", "--sym"],
        ["solve", "free-general", "--nu", "2", "--sym"],
        ["solve", "ntk", "--nu", "2", "--sym"],
        ["solve", "nothing", "--nu", "2", "--sym"],
    ],
)
def test_solve_refuses_unsupported_cases_with_exit_two(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "free-under" in err and "Traceback" not in err


def test_ascent_json_shape_and_regimes(capsys):
    high = run_json(
        capsys,
        ["ascent", "--p", "64", "--H", "64", "--sigma", "0.06", "--format", "json"],
    )
    assert set(high) == {"rho", "theta", "rho_star", "regime", "tau_crit", "curve"}
    assert high["regime"] == "high-noise" and high["tau_crit"] < 0
    assert len(high["curve"]["tau"]) == len(high["curve"]["loss"]) > 10
    assert min(high["curve"]["tau"]) > high["tau_crit"]
    low = run_json(
        capsys,
        [
            "ascent",
            "--p",
            "64",
            "--H",
            "64",
            "--sigma",
            "0.02",
            "--t-min",
            "-50",
            "--format",
            "json",
        ],
    )
    assert low["regime"] == "low-noise" and low["tau_crit"] is None
    assert min(low["curve"]["tau"]) >= -50


def test_ascent_refuses_a_non_positive_sigma(capsys):
    # argparse reports bad values by exiting with status 2.
    with pytest.raises(SystemExit) as info:
        main(["ascent", "--p", "64", "--H", "64", "--sigma", "0"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_ascent_refuses_a_non_negative_t_min(capsys):
    argv = ["ascent", "--p", "64", "--H", "64", "--sigma", "0.02", "--t-min", "1"]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
