"""The regime table derived from the polygon reproduces SPEC section 3."""

import itertools
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from feynflow.asymptotics import (
    classify,
    format_regime_table,
    leading_terms,
    pareto_polygon,
    regime_table,
    theorem_front,
)
from feynflow.errors import ParameterError
from feynflow.symbols import H, p, sigma

F = Fraction


def spec_rows(nu, symmetric):
    """SPEC section 3's table, written out: face -> (equal, to_inf, to_zero, T).

    Each condition is a monomial that is ~ 1, tends to infinity or to zero.
    """
    if symmetric:
        return {
            "A-B": ([H**2 / p**nu], [p ** (nu - 1) * sigma**nu], [],
                    p ** (nu - 1) * sigma ** (2 * nu - 2)),
            "B-E": ([p ** (nu - 2) * H**2 * sigma ** (2 * nu)], [H**2 / p**nu], [],
                    sigma ** (nu - 2)),
            "E": ([], [], [p ** (nu - 2) * H**2 * sigma ** (2 * nu),
                           p ** (nu - 1) * sigma**nu], sigma ** (nu - 2)),
            "E-A": ([p ** (nu - 1) * sigma**nu], [], [H**2 / p**nu],
                    sigma ** (nu - 2)),
        }  # fmt: skip
    return {
        "A-B": ([H / p ** (nu - 1)], [p ** (nu - 1) * sigma**nu], [],
                H * sigma ** (2 * nu - 2)),
        "B-C": ([p ** (nu - 1) * H * sigma ** (2 * nu)], [H * sigma**nu], [],
                H * sigma ** (2 * nu - 2)),
        "C": ([], [H * sigma**nu], [p ** (nu - 1) * H * sigma ** (2 * nu)],
              H * sigma ** (2 * nu - 2)),
        "C-D": ([H * sigma**nu], [H / p ** (nu - 1)], [], sigma ** (nu - 2)),
        "D-E": ([H / p ** (nu - 1)], [], [H * sigma**nu], sigma ** (nu - 2)),
        "E-A": ([p ** (nu - 1) * sigma**nu], [], [H / p ** (nu - 1)],
                sigma ** (nu - 2)),
    }  # fmt: skip


def spec_names(symmetric):
    if symmetric:
        return {
            "A-B": "free evolution, balanced",
            "B-E": "mean-field, over-parameterized, rich",
            "E": "small init, rich",
            "E-A": "under-parameterized, rich",
        }
    return {
        "A-B": "free evolution, balanced",
        "B-C": "NTK (lazy), over-parameterized",
        "C": "NTK from a zero model",
        "C-D": "mean-field, rich",
        "D-E": "balanced, small init, rich",
        "E-A": "under-parameterized, rich",
    }


def hand_scalings(nu, symmetric):
    """One scaling (alpha_p, alpha_H, alpha_sigma) inside each row, by hand."""
    if symmetric:
        return {
            "A-B": (1, F(nu, 2), 0),
            "B-E": (1, nu, F(-(3 * nu - 2), 2 * nu)),
            "E": (1, 1, -2),
            "E-A": (1, F(1, 2), F(1 - nu, nu)),
        }
    return {
        "A-B": (1, nu - 1, 0),
        "B-C": (1, nu, F(1 - 2 * nu, 2 * nu)),
        "C": (1, 2 * nu, F(-3, 2)),
        "C-D": (1, nu, -1),
        "D-E": (1, nu - 1, -1),
        "E-A": (1, F(1, 2), F(1 - nu, nu)),
    }


CASES = [(2, False), (3, False), (4, False), (2, True), (4, True)]


def exponents(monomial):
    powers = sympy.Poly(monomial * p**50 * H**50 * sigma**50, p, H, sigma).monoms()
    assert len(powers) == 1
    return tuple(F(e - 50) for e in powers[0])


def value(vector, alpha):
    return sum(F(a) * F(b) for a, b in zip(vector, alpha, strict=True))


def spec_system(row):
    """(equalities, strict inequalities) as exponent vectors, with p, H > 0."""
    equal, to_inf, to_zero, _ = row
    eqs = [exponents(m) for m in equal]
    ineqs = [exponents(m) for m in to_inf]
    ineqs += [tuple(-x for x in exponents(m)) for m in to_zero]
    return eqs, [*ineqs, (1, 0, 0), (0, 1, 0)]


def derived_system(row):
    eqs, ineqs = [], [(1, 0, 0), (0, 1, 0)]
    for c in row.conditions:
        vector = tuple(F(x) for x in c.exponents)
        if c.relation == "equal":
            eqs.append(vector)
        elif c.relation == "infinity":
            ineqs.append(vector)
        else:
            ineqs.append(tuple(-x for x in vector))
    return eqs, ineqs


def extreme_rays(eqs, ineqs):
    """Extreme rays of the closed cone {alpha : eqs . alpha = 0, ineqs >= 0}.

    Works in coordinates of the null space of ``eqs``: a ray is the null
    direction of (dim - 1) of the inequalities that satisfies all of them.
    Rays are returned as coprime integer vectors.
    """
    basis = sympy.Matrix([list(e) for e in eqs] or [[0, 0, 0]]).nullspace()
    if not basis:
        return set()
    to_alpha = sympy.Matrix.hstack(*basis)
    forms = [sympy.Matrix([list(g)]) * to_alpha for g in ineqs]
    dim = to_alpha.shape[1]
    rays = set()
    for subset in itertools.combinations(forms, dim - 1):
        null = (
            sympy.Matrix.vstack(*subset).nullspace()
            if subset
            else [sympy.eye(dim)[:, 0]]
        )
        if len(null) != 1:
            continue
        for sign in (1, -1):
            direction = sign * null[0]
            if all((form * direction)[0] >= 0 for form in forms):
                alpha = to_alpha * direction
                scale = sympy.ilcm(*[sympy.fraction(x)[1] for x in alpha])
                ints = [int(x * scale) for x in alpha]
                divisor = sympy.igcd(*ints)
                rays.add(tuple(x // divisor for x in ints))
    return rays


def same_scalings(system_a, system_b):
    """Whether two (equalities, strict inequalities) systems allow the same
    scalings: same equality subspace and the same cone of inequalities."""
    eqs_a, ineqs_a = system_a
    eqs_b, ineqs_b = system_b
    rank = sympy.Matrix([list(e) for e in eqs_a + eqs_b] or [[0, 0, 0]]).rank()
    rank_a = sympy.Matrix([list(e) for e in eqs_a] or [[0, 0, 0]]).rank()
    rank_b = sympy.Matrix([list(e) for e in eqs_b] or [[0, 0, 0]]).rank()
    if not rank == rank_a == rank_b:
        return False
    rays_a = extreme_rays(eqs_a, ineqs_a)
    rays_b = extreme_rays(eqs_b, ineqs_b)
    if not rays_a or rays_a != rays_b:
        return False
    # A non-empty interior: the sum of the rays satisfies the strict ones.
    middle = [sum(r[k] for r in rays_a) for k in range(3)]
    return all(value(g, middle) > 0 for g in ineqs_a + ineqs_b)


def rows_by_face(nu, symmetric):
    return {row.face: row for row in regime_table(nu, symmetric)}


# --- The comparison helpers themselves -------------------------------------


def test_same_scalings_tells_equivalent_from_different_conditions():
    # H ~ p with p sigma^2 -> inf is the same as H ~ p with H sigma^2 -> inf,
    # but not the same as H ~ p with sigma -> inf.
    a = ([(-1, 1, 0)], [(1, 0, 2), (1, 0, 0), (0, 1, 0)])
    b = ([(-1, 1, 0)], [(0, 1, 2), (1, 0, 0), (0, 1, 0)])
    c = ([(-1, 1, 0)], [(0, 0, 1), (1, 0, 0), (0, 1, 0)])
    assert same_scalings(a, b)
    assert not same_scalings(a, c)


# --- SPEC's rows ------------------------------------------------------------


@pytest.mark.parametrize("nu, symmetric", CASES)
def test_derived_conditions_reproduce_spec_rows(nu, symmetric):
    rows = rows_by_face(nu, symmetric)
    for face, spec_row in spec_rows(nu, symmetric).items():
        assert face in rows, face
        assert same_scalings(derived_system(rows[face]), spec_system(spec_row)), face


@pytest.mark.parametrize("nu, symmetric", CASES)
def test_derived_natural_T_matches_spec_on_its_face(nu, symmetric):
    # A natural T is defined up to monomials that are ~ 1 on the face.
    rows = rows_by_face(nu, symmetric)
    for face, spec_row in spec_rows(nu, symmetric).items():
        eqs, _ = spec_system(spec_row)
        difference = exponents(rows[face].T / spec_row[3])
        rank = sympy.Matrix([list(e) for e in eqs] or [[0, 0, 0]]).rank()
        stacked = sympy.Matrix([list(e) for e in eqs] + [list(difference)]).rank()
        assert stacked == rank, (face, rows[face].T, spec_row[3])


@pytest.mark.parametrize("nu, symmetric", CASES)
def test_derived_natural_T_is_spec_text_except_nu2_sym_free_evolution(nu, symmetric):
    rows = rows_by_face(nu, symmetric)
    for face, spec_row in spec_rows(nu, symmetric).items():
        if (nu, symmetric, face) == (2, True, "A-B"):
            # H sigma^2 and p sigma^2 are equal on H ~ p; the rule picks H.
            natural_T = rows[face].T
            assert natural_T == H * sigma**2
            continue
        natural_T = rows[face].T
        assert natural_T == spec_row[3], face


@pytest.mark.parametrize("nu, symmetric", CASES)
def test_regime_names_match_spec(nu, symmetric):
    rows = rows_by_face(nu, symmetric)
    for face, name in spec_names(symmetric).items():
        assert rows[face].regime == name


@pytest.mark.parametrize("nu, symmetric", CASES)
def test_hand_scalings_lie_inside_their_spec_rows(nu, symmetric):
    for face, alpha in hand_scalings(nu, symmetric).items():
        eqs, ineqs = spec_system(spec_rows(nu, symmetric)[face])
        assert all(value(e, alpha) == 0 for e in eqs), face
        assert all(value(g, alpha) > 0 for g in ineqs), face


@pytest.mark.parametrize("nu, symmetric", CASES)
def test_classify_returns_spec_face_and_natural_T(nu, symmetric):
    for face, alpha in hand_scalings(nu, symmetric).items():
        result = classify(nu, symmetric, alpha)
        spec_T = spec_rows(nu, symmetric)[face][3]
        assert result.face == face
        assert result.tau == value(exponents(spec_T), alpha)
        assert result.tau == value(exponents(result.T), alpha)
        assert result.regime == spec_names(symmetric)[face]


@pytest.mark.parametrize("nu, symmetric", [(4, False), (6, False), (6, True)])
def test_rows_beyond_spec_table_agree_with_its_general_nu_formulas(nu, symmetric):
    rows = rows_by_face(nu, symmetric)
    for face, spec_row in spec_rows(nu, symmetric).items():
        assert same_scalings(derived_system(rows[face]), spec_system(spec_row))
        assert classify(nu, symmetric, hand_scalings(nu, symmetric)[face]).face == face


# --- Classification against brute force ------------------------------------


def brute_force_face(nu, symmetric, alpha, s):
    """(s_D, n) of the leading terms of the theorem's front at order s."""
    poly = sum(t.monomial for t in theorem_front(nu, s, symmetric))
    return {(t.s_D, t.n) for t in leading_terms(poly, alpha, nu=nu, s=s)}


scalings = st.tuples(
    st.fractions(min_value=Fraction(1, 10), max_value=5),
    st.fractions(min_value=Fraction(1, 10), max_value=5),
    st.fractions(min_value=-3, max_value=2),
)


@settings(max_examples=25, deadline=None)
@given(scalings, st.sampled_from(CASES))
def test_classified_face_holds_the_leading_terms_at_large_order(alpha, case):
    nu, symmetric = case
    result = classify(nu, symmetric, alpha)
    rows = rows_by_face(nu, symmetric)
    assert rows[result.face].contains(alpha)
    for s in (14, 16):
        polygon = pareto_polygon(
            nu, s, symmetric, terms=theorem_front(nu, s, symmetric)
        )
        leaders = brute_force_face(nu, symmetric, alpha, s)
        face = polygon.face(result.face)
        assert set(polygon.hull) & leaders == set(face.points)
    # tau is the per-order growth of the leading terms: Y_s ~ (a^tau)^s.
    low = max(value(t.exponents, alpha) for t in theorem_front(nu, 14, symmetric))
    high = max(value(t.exponents, alpha) for t in theorem_front(nu, 16, symmetric))
    assert (high - low) / 2 == result.tau


@settings(max_examples=40, deadline=None)
@given(scalings, st.sampled_from(CASES))
def test_each_scaling_lies_in_exactly_one_row(alpha, case):
    nu, symmetric = case
    rows = regime_table(nu, symmetric)
    assert sum(row.contains(alpha) for row in rows) == 1


def test_joint_scaling_selects_the_whole_polygon():
    result = classify(4, True, (1, 2, F(-3, 4)))
    assert result.face == "A-B-E"
    assert result.vertices == ("A", "B", "E")


def test_table_and_latex_formats():
    rows = regime_table(3, False)
    text = format_regime_table(rows)
    assert text.splitlines()[0].split()[:2] == ["face", "scaling"]
    assert "NTK (lazy), over-parameterized" in text
    latex = format_regime_table(rows, "latex")
    assert latex.startswith(r"\begin{tabular}") and latex.endswith(r"\end{tabular}")
    assert r"H \sigma^{4}" in latex


@pytest.mark.parametrize("alpha", [(0, 1, 0), (1, 0, 0), (-1, 2, 0), (1, F(-1, 2), 0)])
def test_classify_refuses_non_growing_p_or_H(alpha):
    with pytest.raises(ParameterError, match="must be > 0"):
        classify(3, False, alpha)


def test_classify_refuses_sym_odd_nu():
    with pytest.raises(ParameterError, match="not covered"):
        classify(3, True, (1, 1, 0))
