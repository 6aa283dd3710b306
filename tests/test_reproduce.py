"""Tests of ``feynflow reproduce``: the checks, the report and its safe writing."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import pytest

import feynflow.reproduce as reproduce_module
from feynflow.asymptotics import regime_table
from feynflow.cli import main
from feynflow.errors import ParameterError
from feynflow.reproduce import (
    Claim,
    agreement,
    brute_force_coefficients,
    prepare_output,
    reproduce,
    spec_regime_rows,
    write_summary,
)


def test_brute_force_matches_spec_values_sym_nu2_p2_h2():
    # SPEC section 2, SYM nu = 2, p = H = 2, identity target, in powers of sigma.
    y = brute_force_coefficients(2, True, 2, 2, 2)
    assert y[0] == {0: 1, 2: -4, 4: 10}
    assert y[1] == {2: -16, 4: 160, 6: -576}
    assert y[2] == {2: -64, 4: 1600, 6: -16128, 8: 63744}


def test_brute_force_free_asym_d_average():
    # Zero target: Y_0 = E[D]/2 = p^nu H sigma^(2 nu) / 2 for ASYM (SPEC section 2).
    y = brute_force_coefficients(3, False, 2, 2, 0, target="zero")
    assert y[0] == {6: Fraction(2**3 * 2, 2)}


def test_brute_force_first_order_is_minus_mean_squared_gradient():
    # Y_1 = -E ||grad L||^2: at p = H = 1, SYM nu = 2, L = (u^2 - 1)^2 / 2,
    # grad L = 2 u (u^2 - 1), so E[grad^2] = 4 (E u^6 - 2 E u^4 + E u^2).
    y = brute_force_coefficients(2, True, 1, 1, 1)
    assert y[1] == {6: -4 * 15, 4: 4 * 2 * 3, 2: -4}


def test_spec_regime_rows_select_the_same_scalings_as_regime_table():
    grid = reproduce_module._alpha_grid(12)
    for nu, symmetric in ((2, False), (3, False), (4, True)):
        table = {row.face: row for row in regime_table(nu, symmetric)}
        for face, spec in spec_regime_rows(nu, symmetric).items():
            selected = [
                a
                for a in grid
                if all(reproduce_module._holds(c, a) for c in spec["conditions"])
            ]
            assert selected, face
            assert all(table[face].contains(a) for a in selected), face


def test_agreement_band_is_noise_plus_finite_size_error():
    theory = [1.0, 0.5]
    # Deviation 0.05 at the second point; noise band 3 * 0.02 / 2 = 0.03.
    assert not agreement([1.0, 0.55], [0.02, 0.02], 4, theory, 0.0)["agrees"]
    # The finite-size band 0.05 * 0.5 = 0.025 closes the gap.
    assert agreement([1.0, 0.55], [0.02, 0.02], 4, theory, 0.05)["agrees"]
    blown = agreement([1.0, None], [0.0, None], 4, theory, 1.0)
    assert blown["blown_up"] and not blown["agrees"]


def test_prepare_output_refuses_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(ParameterError, match="is a file"):
        prepare_output(target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_prepare_output_refuses_an_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ParameterError, match="cannot write"):
            prepare_output(locked / "report")
        with pytest.raises(ParameterError, match="cannot write"):
            prepare_output(locked)
    finally:
        locked.chmod(0o700)


def test_prepare_output_removes_a_previous_summary(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    prepare_output(tmp_path)
    assert not (tmp_path / "summary.json").exists()


def test_summary_is_never_half_written(tmp_path, monkeypatch):
    claims = [Claim("a", "b", "agrees", {"x": 1})]

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_summary(tmp_path, claims, 1.0)
    assert list(tmp_path.iterdir()) == []


def test_summary_shape(tmp_path):
    path = write_summary(tmp_path, [Claim("a", "b", "disagrees", {"x": 1})], 2.5)
    data = json.loads(path.read_text())
    assert set(data) == {"claims", "elapsed_s", "version"}
    assert data["claims"] == [
        {"id": "a", "title": "b", "status": "disagrees", "measure": {"x": 1}}
    ]


def test_cli_bad_out_is_one_line_exit_2(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["reproduce", "--quick", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]


def test_cli_jobs_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--jobs", "0"])
    assert exit_info.value.code == 2


def test_interrupted_run_leaves_no_summary(tmp_path, monkeypatch, capsys):
    (tmp_path / "summary.json").write_text('{"claims": []}')

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce_module, "_check_coefficients", interrupted)
    assert main(["reproduce", "--quick", "--out", str(tmp_path)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()


def _tiny_settings(quick: bool) -> dict:
    scenario = reproduce_module.Scenario(
        "simulation/nu2/tiny",
        "SYM nu=2, p sigma^2 = 1, H = p",
        "nu2",
        2,
        True,
        "identity",
        tuple(
            {
                "p": p,
                "H": p,
                "sigma": (1 / p) ** 0.5,
                "T": 1.0,
                "t_max": 1.0,
                "steps": 100,
                "seeds": 3,
            }
            for p in (8, 16)
        ),
    )
    return {
        "brute_force": [(2, True, 2, 1, 1)],
        "pareto": [(2, True, 2), (2, False, 2)],
        "regimes": [(2, False)],
        "derive_orders": {"nu2": 4},
        "scenarios": [scenario],
        "kernel_H": (16, 64),
        "kernel_seeds": 50,
        "ascent_p": 8,
        "ascent_seeds": 1,
        "ascent_theta": (1.75,),
        "ascent_rho_factors": (0.25, 4.0),
        "ascent_steps": 100,
    }


@pytest.mark.slow
def test_tiny_run_writes_report_summary_and_figures_and_reuses_cache(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(reproduce_module, "_settings", _tiny_settings)
    monkeypatch.setattr(
        reproduce_module, "CLOSED_FORMS", (("nu2", 2, True), ("ntk", 2, False))
    )
    cache = tmp_path / "cache.sqlite"
    first = reproduce(tmp_path / "out", quick=True, cache=cache)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    statuses = {c["id"]: c["status"] for c in summary["claims"]}
    assert statuses["coefficients/brute-force"] == "agrees"
    assert statuses["closed-form/ntk/asym2"] == "agrees"
    assert statuses["regimes/asym2"] == "agrees"
    assert "simulation/nu2/tiny" in statuses
    assert "ascent/boundary/sym4" in statuses
    assert all(s in reproduce_module.STATUSES for s in statuses.values())
    report = (tmp_path / "out" / "report.md").read_text()
    assert "simulation-nu2-tiny.png" in report
    for figure in ("pareto-polygons.png", "ntk-kernel.png", "ascent-phase.png"):
        assert (tmp_path / "out" / figure).stat().st_size > 1000
    assert summary["cache"]["misses"] > 0

    second = reproduce(tmp_path / "again", quick=True, cache=cache)
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["cache"]["misses"] == 0
    assert [c.status for c in second.claims] == [c.status for c in first.claims]


@pytest.mark.slow
def test_ctrl_c_gives_one_line_exit_130_and_no_summary(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"claims": []}')
    env = dict(os.environ, FEYNFLOW_CACHE=str(tmp_path / "cache.sqlite"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feynflow",
            "reproduce",
            "--quick",
            "--jobs",
            "2",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    # Interrupt once the run is under way (its first figure exists), as
    # Ctrl-C does: the signal reaches the whole process group.
    deadline = time.monotonic() + 120
    while not (out / "pareto-polygons.png").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip() == "feynflow: interrupted"
    assert not (out / "summary.json").exists()
