"""Pareto terms, the theorem's fronts, polygons and leading terms."""

from fractions import Fraction

import matplotlib
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from feynflow.asymptotics import (
    ParetoTerm,
    compare_with_theorem,
    joint_scaling,
    leading_terms,
    pareto_polygon,
    pareto_terms,
    plot_polygon,
    theorem_front,
)
from feynflow.errors import ParameterError
from feynflow.symbols import POLY_GENS, H, p, sigma

matplotlib.use("Agg")


def skyline(exponents):
    """Pareto front of (q, n, 2l) triples by a sort-and-sweep, per sigma level.

    Sorting by q descending (n descending on ties), a point is on the front
    exactly when its n beats every n seen before it at the same level.
    """
    front = set()
    for level in {e[2] for e in exponents}:
        points = sorted({(q, n) for q, n, l in exponents if l == level}, reverse=True)
        best_n = None
        for q, n in points:
            if best_n is None or n > best_n:
                front.add((q, n, level))
                best_n = n
    return front


monomials = st.dictionaries(
    st.tuples(
        st.integers(0, 6), st.integers(0, 6), st.integers(1, 5).map(lambda k: 2 * k)
    ),
    st.fractions(min_value=-5, max_value=5).filter(bool),
    min_size=1,
    max_size=25,
)
positive = st.fractions(min_value=Fraction(1, 20), max_value=10)
scalings = st.tuples(positive, positive, st.fractions(min_value=-4, max_value=4))


def as_poly(terms):
    return sympy.Poly.from_dict(
        {k: sympy.Rational(v.numerator, v.denominator) for k, v in terms.items()},
        *POLY_GENS,
        domain="QQ",
    )


def theorem_poly(nu, s, symmetric):
    """A polynomial whose monomials are exactly the theorem's front."""
    return sum(t.monomial for t in theorem_front(nu, s, symmetric))


# --- Pareto terms -----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(monomials)
def test_pareto_terms_match_sort_and_sweep_skyline(terms):
    found = {t.exponents for t in pareto_terms(as_poly(terms))}
    assert found == skyline(list(terms))


@settings(max_examples=40, deadline=None)
@given(monomials)
def test_pareto_terms_keep_exact_coefficients(terms):
    for term in pareto_terms(as_poly(terms)):
        assert term.coeff == terms[term.exponents]
        assert isinstance(term.coeff, Fraction)


def test_pure_target_constant_is_not_a_pareto_term():
    y0 = p / 2 + p**2 * H * sigma**4 / 2 + p * H**2 * sigma**4 / 2 - p * H * sigma**2
    exponents = {t.exponents for t in pareto_terms(y0)}
    assert exponents == {(2, 1, 4), (1, 2, 4), (1, 1, 2)}


def test_s_D_is_recovered_from_the_power_of_sigma():
    # 2l = nu (s_D + 1) + (nu - 2) s with nu = 3, s = 2: s_D = 0, 1, 2, 3.
    poly = sum(p * H * sigma ** (3 * (s_D + 1) + 2) for s_D in range(4))
    assert [t.s_D for t in pareto_terms(poly, nu=3, s=2)] == [0, 1, 2, 3]


def test_impossible_sigma_power_is_refused():
    with pytest.raises(ParameterError, match="sigma\\*\\*5"):
        pareto_terms(p * H * sigma**5, nu=2, s=1)


def test_non_polynomial_is_refused():
    with pytest.raises(ParameterError):
        pareto_terms(1 / p + sigma)


# --- The theorem ------------------------------------------------------------


def test_theorem_front_sym_nu2_s0_matches_E_D4_and_E_R2():
    # SPEC: E[D_4] = (p^2 H + p H^2 + p H) sigma^4, E[R_2] = p H sigma^2 (SYM).
    # Y_0 - p/2 = E[D_4]/2 - E[R_2]; its Pareto terms, by hand:
    expected = {(1, 1, 2), (2, 1, 4), (1, 2, 4)}
    assert {t.exponents for t in theorem_front(2, 0)} == expected


def test_theorem_front_asym_e_d_is_single_point_at_s0():
    # ASYM: E[R] = 0 (one edge per colour), E[D] = p^nu H sigma^{2nu}.
    for nu in (2, 3, 5):
        assert [t.exponents for t in theorem_front(nu, 0, False)] == [(nu, 1, 2 * nu)]


@pytest.mark.parametrize("nu", [2, 4, 6])
@pytest.mark.parametrize("s", [0, 1, 2, 5])
def test_theorem_front_sym_size_is_triangle_count(nu, s):
    # sum_{s_D=0}^{s+1} (s_D + 1) lattice points.
    assert len(theorem_front(nu, s, True)) == (s + 2) * (s + 3) // 2


@pytest.mark.parametrize("nu", [2, 3, 5])
@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_theorem_front_asym_exclusions_are_absent(nu, s):
    front = theorem_front(nu, s, False)
    assert all((s + 1 - t.s_D) % 2 == 0 for t in front)
    assert all((t.n, t.s_D) != (s + 2, s + 1) for t in front)


def test_theorem_refuses_sym_odd_nu():
    with pytest.raises(ParameterError, match="nu=3"):
        theorem_front(3, 1, True)


def test_comparison_lists_differences():
    front = list(theorem_front(4, 2, True))
    wrong = [*front[1:], ParetoTerm(9, 9, front[0].sigma_power, Fraction(1), 0)]
    result = compare_with_theorem(wrong, 4, 2, True)
    assert result.status == "disagrees"
    assert result.missing == (front[0].exponents,)
    assert result.extra == ((9, 9, front[0].sigma_power),)


@pytest.mark.parametrize(
    "nu, symmetric, target", [(3, True, "identity"), (2, True, "zero")]
)
def test_comparison_not_covered(nu, symmetric, target):
    result = compare_with_theorem([], nu, 1, symmetric, target)
    assert result.status == "not covered"


# --- Polygons ---------------------------------------------------------------


@pytest.mark.parametrize("nu", [2, 4, 6])
@pytest.mark.parametrize("s", [1, 2, 3, 6])
def test_sym_polygon_vertices_are_spec_triangle(nu, s):
    poly = pareto_polygon(nu, s, True, terms=theorem_front(nu, s, True))
    assert poly.vertices == {"A": (s + 1, 1), "B": (s + 1, s + 2), "E": (0, 1)}
    assert [f.name for f in poly.faces] == ["A", "A-B", "B", "B-E", "E", "E-A", "A-B-E"]


@pytest.mark.parametrize("nu", [2, 3, 5])
@pytest.mark.parametrize("s", [3, 4, 5, 6, 9, 10])
def test_asym_polygon_vertices_are_spec_pentagon(nu, s):
    d = 0 if s % 2 else 1
    poly = pareto_polygon(nu, s, False, terms=theorem_front(nu, s, False))
    assert poly.vertices == {
        "A": (s + 1, 1),
        "B": (s + 1, s + 1),
        "C": (s - 1, s),
        "D": (d, d + 1),
        "E": (d, 1),
    }
    assert len(poly.hull) == (4 if s % 2 else 5)


@pytest.mark.parametrize("s", [1, 2])
def test_asym_small_orders_names_follow_spec_formulas(s):
    # At s = 1, 2 SPEC's formulas make C coincide with D (and E at s = 1).
    d = 0 if s % 2 else 1
    poly = pareto_polygon(3, s, False, terms=theorem_front(3, s, False))
    assert poly.vertices["C"] == (s - 1, s) == poly.vertices["D"]
    assert poly.vertices["E"] == (d, 1)


@pytest.mark.parametrize(
    "nu, symmetric", [(2, True), (4, True), (6, True), (2, False), (3, False)]
)
@pytest.mark.parametrize("s", [1, 2, 4, 7])
def test_pareto_points_lie_on_plane_of_joint_scaling(nu, symmetric, s):
    poly = pareto_polygon(nu, s, symmetric, terms=theorem_front(nu, s, symmetric))
    assert poly.coplanar
    if s >= 2 or symmetric:
        assert poly.plane_normal == joint_scaling(nu, symmetric)
    assert poly.matches_joint_scaling


def test_plane_check_detects_points_off_the_plane():
    front = list(theorem_front(2, 2, True))
    bent = [
        *front[:-1],
        ParetoTerm(front[-1].q + 1, *front[-1].exponents[1:], None, front[-1].s_D),
    ]
    poly = pareto_polygon(2, 2, True, terms=bent)
    assert not poly.coplanar
    assert poly.plane_normal is None
    assert poly.matches_joint_scaling is False


def test_polygon_needs_s_D():
    with pytest.raises(ParameterError, match="s_D"):
        pareto_polygon(2, 1, terms=[ParetoTerm(1, 1, 2)])


def test_plot_polygon_draws_points_hull_and_labels(tmp_path):
    poly = pareto_polygon(3, 4, False, terms=theorem_front(3, 4, False))
    fig, ax = plot_polygon(poly)
    labels = sorted(text.get_text() for text in ax.texts)
    assert labels == ["A", "B", "C", "D", "E"]
    assert "s_D" in ax.get_xlabel() and "n" in ax.get_ylabel()
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == len(poly.terms)
    path = tmp_path / "polygon.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


# --- Leading terms ----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(monomials, scalings, st.fractions(min_value=Fraction(1, 7), max_value=9))
def test_leading_terms_unchanged_by_positive_rescaling(terms, alpha, factor):
    poly = as_poly(terms)
    scaled = tuple(factor * a for a in alpha)
    assert leading_terms(poly, alpha) == leading_terms(poly, scaled)


@settings(max_examples=40, deadline=None)
@given(monomials, scalings)
def test_every_leading_term_is_pareto_optimal(terms, alpha):
    poly = as_poly(terms)
    front = set(pareto_terms(poly))
    leaders = leading_terms(poly, alpha)
    assert leaders
    assert set(leaders) <= front


@settings(max_examples=40, deadline=None)
@given(scalings, st.integers(2, 6), st.booleans())
def test_leading_terms_of_theorem_fronts_are_on_front(alpha, nu, symmetric):
    if symmetric and nu % 2:
        nu += 1
    poly = theorem_poly(nu, 5, symmetric)
    leaders = leading_terms(poly, alpha, nu=nu, s=5)
    front = {(t.s_D, t.n) for t in theorem_front(nu, 5, symmetric)}
    assert {(t.s_D, t.n) for t in leaders} <= front


@settings(max_examples=40, deadline=None)
@given(monomials, scalings)
def test_leading_terms_grow_fastest_and_ties_are_all_kept(terms, alpha):
    leaders = set(leading_terms(as_poly(terms), alpha))
    ap, ah, asg = alpha
    growth = {k: ap * k[0] + ah * k[1] + asg * k[2] for k in terms}
    best = max(growth.values())
    assert {t.exponents for t in leaders} == {k for k in terms if growth[k] == best}


@pytest.mark.parametrize(
    "alpha", [(0, 1, 0), (1, -1, 0), (1, 1), ("x", 1, 0), (0.5, 1, 0)]
)
def test_bad_scalings_are_refused(alpha):
    with pytest.raises(ParameterError):
        leading_terms(p * H * sigma**2, alpha)


def test_string_fractions_are_accepted():
    a = leading_terms(p * sigma**2 + H * sigma**2, ("1", "2", "-1/2"))
    assert [t.monomial for t in a] == [H * sigma**2]
