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


def test_a_pool_whose_reader_hangs_is_recorded_not_waited_for(monkeypatch):
    # A worker terminated while sending a result leaves the pool's reader
    # waiting for the rest for ever; stop_pool must not hang on it, and must
    # record the pool so that the command line exits without joining it.
    import threading

    from feynflow.cli import _common

    release = threading.Event()
    reader = threading.Thread(target=release.wait, daemon=True)
    reader.start()

    class StuckPool:
        _processes: dict = {}
        _executor_manager_thread = reader

        def shutdown(self, wait=True, cancel_futures=False):
            assert not wait and cancel_futures

    monkeypatch.setattr(_common, "READER_WAIT", 0.05)
    monkeypatch.setattr(_common, "stuck_pools", [])
    pool = StuckPool()
    _common.stop_pool(pool)
    assert _common.stuck_pools == [pool]
    release.set()
    reader.join()
    healthy = StuckPool()
    healthy._executor_manager_thread = reader
    _common.stop_pool(healthy)
    assert _common.stuck_pools == [pool]


@pytest.mark.parametrize(
    "scenario, target, alpha",
    [
        ("--asym", "identity", ("1", "2", "-3/4")),
        ("--sym", "identity", ("1", "1", "-1/2")),
        ("--asym", "zero", ("2", "1", "0")),
    ],
)
def test_alpha_keeps_exactly_the_terms_leading_under_that_scaling(
    capsys, scenario, target, alpha
):
    from fractions import Fraction

    base = ["coefficients", "--nu", "2", scenario, "--order", "3", "--target", target]
    assert main([*base, "--format", "json", "--no-cache"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert main([*base, "--format", "json", "--no-cache", "--alpha", *alpha]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["leading"] is True and data["alpha"] == list(alpha)
    weights = [Fraction(a) for a in alpha]
    for every, chosen in zip(full["coefficients"], data["coefficients"], strict=True):
        terms = [t for t in every["terms"] if t["sigma"] > 0]
        growth = [
            weights[0] * t["p"] + weights[1] * t["H"] + weights[2] * t["sigma"]
            for t in terms
        ]
        expected = [t for t, g in zip(terms, growth, strict=True) if g == max(growth)]
        key = lambda t: (t["p"], t["H"], t["sigma"])  # noqa: E731
        assert sorted(chosen["terms"], key=key) == sorted(expected, key=key)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--alpha", "0", "1", "0"], "AP and AH must be > 0"),
        (["--alpha", "1", "-1/2", "0"], "AP and AH must be > 0"),
        (["--alpha", "1", "1/0", "0"], "not a rational number"),
        (["--alpha", "1", "1"], "expected 3 arguments"),
        (["--alpha", "1", "1", "0", "--leading"], "do not go together"),
        (["--alpha", "1", "1", "0", "--p-value", "3"], "do not go together"),
    ],
)
def test_bad_alpha_gets_one_line_and_status_2(extra, message):
    result = run_cli("coefficients", "--nu", "2", "--sym", "--order", "1", *extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_turned_into_another_error_by_an_extension_is_an_interruption(
    monkeypatch, capsys
):
    # pynauty reports a KeyboardInterrupt raised while it reads an attribute
    # as a TypeError; the command line must still say "interrupted".
    import os
    import signal
    import time

    import feynflow.cli.coefficients as command

    def interrupted_in_c(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise TypeError("missing 'vertex_coloring' attribute") from None

    monkeypatch.setattr(command, "run", interrupted_in_c)
    status = main(["coefficients", "--nu", "2", "--sym", "--order", "1"])
    assert status == 130
    assert capsys.readouterr().err.strip() == "feynflow: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_modadd_with_alpha_keeps_its_validity_and_the_leading_terms(capsys):
    from fractions import Fraction

    base = ["coefficients", "--nu", "3", "--sym", "--order", "2"]
    base += ["--target", "modadd", "--format", "json", "--no-cache"]
    assert main(base) == 0
    full = json.loads(capsys.readouterr().out)
    assert main([*base, "--alpha", "1", "1", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["exact_for"] == full["exact_for"]
    for every, chosen in zip(full["coefficients"], data["coefficients"], strict=True):
        terms = [t for t in every["terms"] if t["sigma"] > 0]
        best = max(t["p"] + t["H"] for t in terms)
        expected = [t for t in terms if t["p"] + t["H"] == best]
        assert sorted(chosen["terms"], key=str) == sorted(expected, key=str)
        assert all(Fraction(t["coeff"]) for t in chosen["terms"])


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0])
def test_ctrl_c_while_commands_are_imported_exits_130(delay):
    # Imports run dataclass and named-tuple code through exec(); CPython then
    # ends the process by SIGINT unless the command line leaves by itself.
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "feynflow", "coefficients", "--nu", "3"]
        + ["--asym", "--order", "9", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip() == "feynflow: interrupted"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_second_ctrl_c_does_not_break_into_the_clean_up(jobs):
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "feynflow", "coefficients", "--nu", "4"]
        + ["--asym", "--order", "8", "--no-cache", "--jobs", jobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip() == "feynflow: interrupted"


def test_an_interrupt_python_could_not_deliver_still_stops_the_computation():
    # A KeyboardInterrupt raised in a fork hook is swallowed; the request
    # left by the command line's handler stops the next check instead.
    from feynflow.errors import Interrupted, clear_interrupt, request_interrupt

    request_interrupt()
    try:
        with pytest.raises(Interrupted):
            loss_coefficients(4, 6, symmetric=False)
    finally:
        clear_interrupt()
    assert len(loss_coefficients(2, 1)) == 2  # no request is left behind


@pytest.mark.parametrize("output", ["table", "latex", "json"])
def test_time_limit_covers_writing_the_result(tmp_path, capsys, output):
    from feynflow import loss_coefficients

    path = tmp_path / "c.sqlite"
    loss_coefficients(2, 5, symmetric=False, leading=True, cache=path)
    argv = ["coefficients", "--nu", "2", "--asym", "--order", "5", "--leading"]
    status = main(
        [*argv, "--cache", str(path), "--format", output, "--time-limit", "1e-6"]
    )
    out, err = capsys.readouterr()
    assert (status, out) == (3, "")
    assert err.strip().endswith("reached while writing the result")
    assert len(err.strip().splitlines()) == 1
