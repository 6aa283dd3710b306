"""The ``feynflow coefficients`` command and the command-line conventions."""

import json
import subprocess
import sys

import pytest
import sympy

from feynflow import H, loss_coefficients, p, sigma
from feynflow.cli import main


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "feynflow", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_output_has_the_documented_shape_and_exact_values(capsys):
    assert (
        main(["coefficients", "--nu", "2", "--sym", "--order", "2", "--format", "json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    keys = ["nu", "scenario", "target", "order", "leading", "coefficients"]
    assert list(data) == keys
    assert (data["nu"], data["scenario"], data["target"], data["order"]) == (
        2,
        "sym",
        "identity",
        2,
    )
    assert data["leading"] is False
    polys = loss_coefficients(2, 2)
    for s, entry in enumerate(data["coefficients"]):
        assert entry["s"] == s
        rebuilt = sum(
            sympy.Rational(t["coeff"]) * p ** t["p"] * H ** t["H"] * sigma ** t["sigma"]
            for t in entry["terms"]
        )
        assert sympy.expand(rebuilt - polys[s].as_expr()) == 0
        assert all(set(t) == {"p", "H", "sigma", "coeff"} for t in entry["terms"])
        assert all(t["coeff"] != "0" for t in entry["terms"])


def test_y0_json_holds_the_half_norm_of_the_target(capsys):
    main(["coefficients", "--nu", "3", "--asym", "--order", "0", "--format", "json"])
    terms = json.loads(capsys.readouterr().out)["coefficients"][0]["terms"]
    assert {"p": 1, "H": 0, "sigma": 0, "coeff": "1/2"} in terms


def test_table_and_latex_formats(capsys):
    main(["coefficients", "--nu", "2", "--asym", "--order", "1"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("Y_0 = ") and table[1].startswith("Y_1 = ")
    main(["coefficients", "--nu", "2", "--asym", "--order", "1", "--format", "latex"])
    latex = capsys.readouterr().out
    assert latex.count("\\\\") == 2 and "\\sigma" in latex


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--nu", "1", "--sym", "--order", "2"], "nu=1"),
        (["--nu", "x", "--sym", "--order", "2"], "nu='x'"),
        (["--nu", "2", "--sym", "--order", "-1"], "-1"),
        (["--nu", "2", "--sym", "--order", "2.5"], "2.5"),
        (["--nu", "2", "--sym", "--asym", "--order", "2"], "not allowed with"),
        (["--nu", "2", "--order", "2"], "--sym --asym"),
        (["--nu", "2", "--sym", "--order", "2", "--target", "ones"], "ones"),
        (["--nu", "2", "--sym", "--order", "2", "--time-limit", "0"], "0"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(args, fragment):
    result = run_cli("coefficients", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_time_limit_exits_with_status_3():
    result = run_cli(
        "coefficients", "--nu", "4", "--asym", "--order", "9", "--time-limit", "0.5"
    )
    assert result.returncode == 3
    assert "time limit" in result.stderr and "Traceback" not in result.stderr


def test_console_script_and_module_agree():
    result = run_cli("coefficients", "--nu", "2", "--sym", "--order", "1")
    assert result.returncode == 0
    assert result.stdout.startswith("Y_0 = ")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_keeps_the_cache_usable(tmp_path, jobs):
    import signal
    import time

    cache = tmp_path / "interrupted.sqlite"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feynflow",
            "coefficients",
            "--nu",
            "4",
            "--asym",
            "--order",
            "8",
            "--cache",
            str(cache),
            "--jobs",
            jobs,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert err.strip() == "feynflow: interrupted"
    # The orders finished before Ctrl-C are stored and exact.
    from feynflow.cache import CoefficientCache

    with CoefficientCache(cache) as store:
        entries = store.info()["entries"]
    assert entries >= 1
    resumed = run_cli(
        "coefficients",
        "--nu",
        "4",
        "--asym",
        "--order",
        "1",
        "--cache",
        str(cache),
        "--format",
        "json",
    )
    assert resumed.returncode == 0
    data = json.loads(resumed.stdout)
    polys = loss_coefficients(4, 1, symmetric=False)
    for entry, poly in zip(data["coefficients"], polys, strict=True):
        rebuilt = sum(
            sympy.Rational(t["coeff"]) * p ** t["p"] * H ** t["H"] * sigma ** t["sigma"]
            for t in entry["terms"]
        )
        assert sympy.expand(rebuilt - poly.as_expr()) == 0
