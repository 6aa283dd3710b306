"""Out-of-range input to any command: one line on stderr, status 2."""

import json
import subprocess
import sys

import pytest


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "feynflow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["coefficients", "--nu", "2", "--sym", "--order", "1", "--jobs", "100000"],
            "100000",
        ),
        (
            ["coefficients", "--nu", "99999999999999999999", "--sym", "--order", "0"],
            "between 2 and 64",
        ),
        (
            ["regime", "--nu", "2", "--asym", "--alpha", "1", "2", "1e-99999"],
            "1e-99999",
        ),
        (
            ["ascent", "--p", "4", "--H", "4", "--sigma", "1e-300", "--format", "json"],
            "out of the range",
        ),
        (
            ["ascent", "--p", "4", "--H", "4", "--sigma", "1e300", "--format", "json"],
            "out of the range",
        ),
        (
            [
                "coefficients",
                "--nu",
                "2",
                "--sym",
                "--order",
                "1",
                "--time-limit",
                "inf",
            ],
            "finite",
        ),
        (
            ["coefficients", "--nu", "3", "--asym", "--order", "1"]
            + ["--target", "d(1,9)"],
            "--target 'd(1,9)'",
        ),
        (
            ["pareto", "--nu", "2", "--asym", "--order", "1", "--target", "bogus"],
            "--target 'bogus'",
        ),
        (
            ["pareto", "--nu", "2", "--asym", "--order", "1", "--plot", "."],
            "is a directory",
        ),
    ],
)
def test_out_of_range_input_gives_one_line_and_status_2(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_time_limit_stops_a_single_long_average():
    # Diagrams with hundreds of edges (order 2 alone takes over 20 s): the
    # limit must act inside one average.
    result = run_cli(
        "coefficients", "--nu", "64", "--sym", "--order", "2", "--time-limit", "2"
    )
    assert result.returncode == 3
    assert "time limit" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["coefficients", "--nu", "2", "--asym", "--order", "9" * 23],
        ["coefficients", "--nu", "4", "--sym", "--target", "zero", "--leading"]
        + ["--order", "100000000"],
        ["pareto", "--nu", "4", "--asym", "--order", "1000000000"],
    ],
)
def test_time_limit_holds_for_huge_orders(args):
    # Nothing may be built per order before the clock is checked: a huge
    # order still stops at the limit, with little memory.
    result = run_cli(*args, "--time-limit", "2")
    assert result.returncode == 3, result.stderr
    assert "time limit" in result.stderr and "Traceback" not in result.stderr


def test_modadd_polynomial_warns_where_it_does_not_hold():
    result = run_cli(
        "coefficients", "--nu", "3", "--sym", "--order", "1", "--target", "modadd"
    )
    assert result.returncode == 0
    assert "warning" in result.stderr and "divisible by 2" in result.stderr


def test_stored_order_with_other_generators_is_a_miss_not_an_answer(tmp_path):
    import os

    from feynflow.cache import CoefficientCache
    from feynflow.expansion import _cache_key

    path = tmp_path / "forged.sqlite"
    with CoefficientCache(path) as store:
        for s in range(2):
            store.put(
                _cache_key(2, True, "identity", False, s),
                {"gens": ["p", "H"], "polys": [[[[1, 0], "1/2"]]]},
            )
    env = dict(os.environ, FEYNFLOW_CACHE=str(path))
    result = run_cli(
        "coefficients",
        "--nu",
        "2",
        "--sym",
        "--order",
        "1",
        "--format",
        "json",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    y0 = json.loads(result.stdout)["coefficients"][0]["terms"]
    assert {"p": 1, "H": 0, "sigma": 0, "coeff": "1/2"} in y0
    assert len(y0) > 1  # the real Y_0, not the forged p/2


def test_memory_ceiling_turns_exhaustion_into_memory_error():
    resource = pytest.importorskip("resource")
    from feynflow.cli import _common

    available = _common._available_memory()
    if available is None:
        pytest.skip("the kernel does not report available memory here")
    before = resource.getrlimit(resource.RLIMIT_AS)
    with _common.memory_ceiling():
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == before[0]:
            pytest.skip("a lower address-space limit is already set")
        # More than the ceiling cannot even be mapped: nothing is touched.
        with pytest.raises(MemoryError):
            bytearray(soft + 1)
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_running_out_of_memory_is_one_line_with_status_2():
    pytest.importorskip("resource")
    from feynflow.cli import _common

    if _common._available_memory() is None:
        pytest.skip("the kernel does not report available memory here")
    # A fresh process (this one reuses memory it freed, without mapping more)
    # told the machine has 20 MB left: ASYM nu = 3 to order 5 needs more.
    script = (
        "import sys\n"
        "from feynflow.cli import _common, main\n"
        "_common._available_memory = lambda: 20 * 2**20\n"
        "sys.exit(main(['coefficients', '--nu', '3', '--asym', '--order', '5',"
        " '--no-cache']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("feynflow: error: out of memory")
    assert len(result.stderr.strip().splitlines()) == 1
