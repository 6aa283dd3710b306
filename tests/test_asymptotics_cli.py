"""The ``pareto``, ``regime`` and ``regimes`` commands."""

import json
import subprocess
import sys

import pytest

from feynflow.asymptotics import theorem_front
from feynflow.cli import main


def run(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_error(argv, capsys):
    """Exit status and stderr of a command argparse rejects."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr().err


def test_pareto_json_shape_and_theorem(capsys):
    status, out, _ = run(
        ["pareto", "--nu", "2", "--asym", "--order", "4", "--format", "json"], capsys
    )
    assert status == 0
    data = json.loads(out)
    assert set(data) == {"nu", "scenario", "target", "order", "fronts"}
    assert (data["nu"], data["scenario"], data["target"], data["order"]) == (
        2,
        "asym",
        "identity",
        4,
    )
    assert [front["s"] for front in data["fronts"]] == [0, 1, 2, 3, 4]
    for front in data["fronts"]:
        assert set(front) == {"s", "terms", "vertices", "theorem"}
        assert front["theorem"] == "agrees"
        for term in front["terms"]:
            assert set(term) == {"p", "H", "sigma", "coeff", "s_D"}
            assert "." not in term["coeff"]
        found = {(t["p"], t["H"], t["sigma"]) for t in front["terms"]}
        expected = {t.exponents for t in theorem_front(2, front["s"], False)}
        assert found == expected
    assert data["fronts"][4]["vertices"] == {
        "A": {"s_D": 5, "n": 1},
        "B": {"s_D": 5, "n": 5},
        "C": {"s_D": 3, "n": 4},
        "D": {"s_D": 1, "n": 2},
        "E": {"s_D": 1, "n": 1},
    }


def test_pareto_sym_odd_nu_is_not_covered(capsys):
    status, out, _ = run(
        ["pareto", "--nu", "3", "--sym", "--order", "1", "--format", "json"], capsys
    )
    assert status == 0
    fronts = json.loads(out)["fronts"]
    assert {front["theorem"] for front in fronts} == {"not covered"}


def test_pareto_plot_is_saved(tmp_path, capsys):
    path = tmp_path / "polygon.png"
    status, _, _ = run(
        ["pareto", "--nu", "2", "--sym", "--order", "3", "--plot", str(path)], capsys
    )
    assert status == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_time_limit_exits_3(capsys):
    status, _, err = run(
        ["pareto", "--nu", "4", "--sym", "--order", "9", "--time-limit", "0.001"],
        capsys,
    )
    assert status == 3
    assert len(err.strip().splitlines()) == 1


def test_regime_json_shape(capsys):
    status, out, _ = run(
        ["regime", "--nu", "2", "--asym", "--alpha", "1", "2", "-3/4"]
        + ["--format", "json"],
        capsys,
    )
    assert status == 0
    assert json.loads(out) == {
        "face": "B-C",
        "vertices": ["B", "C"],
        "T_exponent": "1/2",
        "T": "H*sigma**2",
        "regime": "NTK (lazy), over-parameterized",
    }


@pytest.mark.parametrize("alpha", [["0", "1", "0"], ["1", "-1/2", "0"]])
def test_regime_refuses_non_growing_p_or_H(alpha, capsys):
    status, _, err = run(["regime", "--nu", "3", "--asym", "--alpha", *alpha], capsys)
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "must be > 0" in err


@pytest.mark.parametrize("bad", ["1/x", "-3/x", "1/0", "half", "-inf", "inf", "-nan"])
def test_regime_refuses_malformed_fractions(bad, capsys):
    code, err = run_error(
        ["regime", "--nu", "3", "--asym", "--alpha", "1", "1", bad], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert repr(bad) in err


def test_regime_sym_odd_nu_is_a_one_line_error(capsys):
    status, _, err = run(
        ["regime", "--nu", "3", "--sym", "--alpha", "1", "1", "0"], capsys
    )
    assert status == 2
    assert "not covered" in err and len(err.strip().splitlines()) == 1


def test_regimes_json_lists_every_face(capsys):
    status, out, _ = run(["regimes", "--nu", "3", "--asym", "--format", "json"], capsys)
    assert status == 0
    data = json.loads(out)
    faces = [row["face"] for row in data["regimes"]]
    assert faces[:10] == ["A", "A-B", "B", "B-C", "C", "C-D", "D", "D-E", "E", "E-A"]
    ntk = data["regimes"][3]
    assert ntk["T"] == "H*sigma**4"
    assert ntk["T_exponents"] == {"p": "0", "H": "1", "sigma": "4"}
    assert [c["relation"] for c in ntk["conditions"]] == ["equal", "infinity"]


@pytest.mark.parametrize("fmt", ["table", "latex"])
def test_regimes_text_formats(fmt, capsys):
    status, out, _ = run(["regimes", "--nu", "4", "--sym", "--format", fmt], capsys)
    assert status == 0
    assert "mean-field, over-parameterized, rich" in out


def test_command_line_error_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "feynflow", "regime", "--nu", "2", "--asym"]
        + ["--alpha", "-1", "1", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_pareto_zero_target_is_not_covered(capsys):
    status, out, _ = run(
        ["pareto", "--nu", "2", "--asym", "--order", "2", "--target", "zero"]
        + ["--format", "json"],
        capsys,
    )
    assert status == 0
    data = json.loads(out)
    assert data["target"] == "zero"
    # Free evolution merges only copies of D: every term has s_D = s + 1.
    for front in data["fronts"]:
        assert front["theorem"] == "not covered"
        assert {t["s_D"] for t in front["terms"]} == {front["s"] + 1}


def test_pareto_refuses_negative_order(capsys):
    code, err = run_error(["pareto", "--nu", "2", "--asym", "--order", "-1"], capsys)
    assert code == 2
    assert "must be >= 0" in err and len(err.strip().splitlines()) == 1


def test_pareto_with_worker_processes_equals_one_process():
    import json
    import subprocess
    import sys

    def fronts(*extra):
        result = subprocess.run(
            [sys.executable, "-m", "feynflow", "pareto", "--nu", "3", "--asym"]
            + ["--order", "3", "--format", "json", *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert fronts("--jobs", "2") == fronts()


def test_pareto_stores_fronts_in_the_cache_and_reads_them_back(tmp_path, capsys):
    path = tmp_path / "fronts.sqlite"
    argv = ["pareto", "--nu", "3", "--asym", "--order", "3", "--format", "json"]
    status, first, _ = run([*argv, "--cache", str(path)], capsys)
    assert status == 0
    status, out, _ = run(
        ["cache", "info", "--cache", str(path), "--format", "json"], capsys
    )
    assert status == 0 and json.loads(out)["entries"] == 4
    # Every order is stored: a run with no time to compute anything gets as
    # far as writing the result, where the limit, which covers the whole
    # command, stops it before anything is printed.
    status, out, err = run(
        [*argv, "--cache", str(path), "--time-limit", "1e-6"], capsys
    )
    assert (status, out) == (3, "")
    assert err.strip() == (
        "feynflow: stopped: time limit of 1e-06 s reached while writing the result"
    )
    status, again, _ = run([*argv, "--cache", str(path)], capsys)
    assert status == 0 and again == first
    # coefficients --leading finds the same entries.
    status, out, err = run(
        ["coefficients", "--nu", "3", "--asym", "--order", "3", "--leading"]
        + ["--cache", str(path), "--time-limit", "1e-6"],
        capsys,
    )
    assert (status, out) == (3, "")
    assert err.strip().endswith("reached while writing the result")
    # The entries are those of leading mode, computed here without the cache.
    from feynflow.expansion import loss_coefficients
    from feynflow.symbols import H, p, sigma

    fronts = json.loads(first)["fronts"]
    for s, poly in enumerate(loss_coefficients(3, 3, False, leading=True)):
        terms = {
            (term["p"], term["H"], term["sigma"]): term["coeff"]
            for term in fronts[s]["terms"]
        }
        expected = {
            monom: str(coeff)
            for monom, coeff in poly.as_poly(p, H, sigma).terms()
            if monom[2] > 0
        }
        assert terms == expected


def test_pareto_no_cache_writes_nothing(tmp_path, capsys, monkeypatch):
    path = tmp_path / "unused.sqlite"
    monkeypatch.setenv("FEYNFLOW_CACHE", str(path))
    status, _, _ = run(
        ["pareto", "--nu", "2", "--asym", "--order", "2", "--no-cache"], capsys
    )
    assert status == 0
    assert not path.exists()


def test_pareto_refuses_cache_and_no_cache_together(tmp_path, capsys):
    code, err = run_error(
        ["pareto", "--nu", "2", "--asym", "--order", "2"]
        + ["--cache", str(tmp_path / "c.sqlite"), "--no-cache"],
        capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
