"""Large-size asymptotics: Pareto terms, Pareto polygons and learning regimes.

When ``p ~ a**alpha_p``, ``H ~ a**alpha_H`` and ``sigma ~ a**alpha_sigma`` grow
with ``a``, a monomial ``p**q * H**n * sigma**(2*l)`` of a loss coefficient
``Y_s`` grows like ``a**(alpha_p*q + alpha_H*n + 2*alpha_sigma*l)``.  This module
finds the monomials that can lead (the Pareto terms), draws them as a polygon
in the ``(s_D, n)`` plane, and reads the learning regimes off that polygon's
faces: the scaling condition of each face, its natural inverse learning rate
``T`` and its name.

All arithmetic is exact (``fractions.Fraction``); sympy is used only to write
results as expressions in ``p, H, sigma``.

References
----------
.. [1] D. Yarotsky, E. Golikov and Y. Gusev, "Gradient Flow Through Diagram
   Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
   arXiv:2602.04548, Section 3.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING

import sympy

from feynflow.errors import ParameterError
from feynflow.symbols import POLY_GENS, H, p, sigma

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ParetoTerm",
    "TheoremComparison",
    "Face",
    "ParetoPolygon",
    "ScalingCondition",
    "Classification",
    "RegimeRow",
    "pareto_terms",
    "theorem_front",
    "compare_with_theorem",
    "joint_scaling",
    "pareto_polygon",
    "growth_exponent",
    "leading_terms",
    "classify",
    "regime_table",
    "format_regime_table",
    "plot_polygon",
    "SYM_ODD_CHECKED_ORDERS",
    "SYM_ODD_CHECKED_COLUMNS",
    "CONJECTURE_STATEMENT",
    "conjectured_front",
    "compare_with_conjecture",
    "conjectured_regimes",
]

logger = logging.getLogger(__name__)

#: Vertex names of the polygon, in counter-clockwise order starting at ``A``.
SYM_VERTEX_NAMES = ("A", "B", "E")
ASYM_VERTEX_NAMES = ("A", "B", "C", "D", "E")

#: Orders at which the theorem's polygon already has its large-order shape
#: (every named vertex distinct); even, so that ASYM polygons are pentagons.
_GENERIC_ORDER = {True: 4, False: 6}

Exponents = tuple[Fraction, Fraction, Fraction]


# ---------------------------------------------------------------------------
# Pareto terms
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoTerm:
    """One monomial ``coeff * p**q * H**n * sigma**sigma_power`` of ``Y_s``.

    Attributes
    ----------
    q, n : int
        Powers of ``p`` (distinct p-nodes) and of ``H`` (distinct H-nodes).
    sigma_power : int
        Power ``2*l`` of ``sigma`` (number of edges of the contracted diagram).
    coeff : fractions.Fraction or None
        The exact coefficient; ``None`` for a term of the theorem, which
        states the terms up to nonzero coefficients.
    s_D : int or None
        Number of copies of ``D_{2 nu}`` merged into the diagram, recovered
        from ``2 l = nu (s_D + 1) + (nu - 2) s``; ``None`` when ``nu`` and
        ``s`` were not given.
    """

    q: int
    n: int
    sigma_power: int
    coeff: Fraction | None = None
    s_D: int | None = None

    @property
    def exponents(self) -> tuple[int, int, int]:
        """The powers ``(q, n, 2 l)`` of ``(p, H, sigma)``."""
        return (self.q, self.n, self.sigma_power)

    @property
    def monomial(self) -> sympy.Expr:
        """The monomial ``p**q * H**n * sigma**(2 l)`` without its coefficient."""
        return p**self.q * H**self.n * sigma**self.sigma_power


def _as_fraction(value: object) -> Fraction:
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, (int, Fraction)) and not isinstance(value, bool):
        return Fraction(value)
    raise ParameterError(
        f"coefficient {value!r} is not an exact rational; use int, Fraction or "
        "sympy.Rational"
    )


def _as_poly(poly: object) -> sympy.Poly:
    if isinstance(poly, sympy.Poly):
        if poly.gens == POLY_GENS:
            return poly
        expr = poly.as_expr()
    elif isinstance(poly, sympy.Expr):
        expr = poly
    else:
        raise ParameterError(
            f"{type(poly).__name__} is not a polynomial; pass a sympy Poly or "
            "expression in p, H, sigma"
        )
    try:
        return sympy.Poly(expr, *POLY_GENS, domain="QQ")
    except sympy.PolynomialError:
        raise ParameterError(
            f"{expr} is not a polynomial in p, H, sigma with rational coefficients"
        ) from None


def _check_nu_s(nu: int, s: int) -> None:
    if not isinstance(nu, int) or isinstance(nu, bool) or nu < 2:
        raise ParameterError(f"nu={nu!r} is not allowed; nu must be an integer >= 2")
    if not isinstance(s, int) or isinstance(s, bool) or s < 0:
        raise ParameterError(f"s={s!r} is not allowed; s must be an integer >= 0")


def _s_D(sigma_power: int, nu: int, s: int) -> int:
    """Recover ``s_D`` from ``2 l = nu (s_D + 1) + (nu - 2) s``."""
    numerator = sigma_power - (nu - 2) * s
    if numerator % nu or not 0 <= numerator // nu - 1 <= s + 1:
        raise ParameterError(
            f"sigma**{sigma_power} cannot occur in Y_{s} for nu={nu}; "
            f"the power must be nu*(s_D+1)+(nu-2)*s with 0 <= s_D <= {s + 1}"
        )
    return numerator // nu - 1


def _terms(poly: object, nu: int | None, s: int | None) -> list[ParetoTerm]:
    """All monomials of ``poly`` except the pure-target constant (no sigma)."""
    if (nu is None) != (s is None):
        raise ParameterError("give both nu and s (to recover s_D) or neither")
    if nu is not None:
        _check_nu_s(nu, s)
    terms = []
    for (q, n, sigma_power), coeff in _as_poly(poly).terms():
        if sigma_power == 0 or coeff == 0:
            continue
        s_D = _s_D(sigma_power, nu, s) if nu is not None else None
        terms.append(ParetoTerm(q, n, sigma_power, _as_fraction(coeff), s_D))
    return terms


def _pareto_filter(terms: Iterable[ParetoTerm]) -> list[ParetoTerm]:
    by_level: dict[int, list[ParetoTerm]] = {}
    for term in terms:
        by_level.setdefault(term.sigma_power, []).append(term)
    front = []
    for level in by_level.values():
        for term in level:
            dominated = any(
                other.q >= term.q
                and other.n >= term.n
                and (other.q, other.n) != (term.q, term.n)
                for other in level
            )
            if not dominated:
                front.append(term)
    return sorted(front, key=lambda t: (t.sigma_power, t.n, t.q))


def pareto_terms(
    poly: sympy.Poly | sympy.Expr, nu: int | None = None, s: int | None = None
) -> tuple[ParetoTerm, ...]:
    """Return the Pareto-optimal monomials of a loss coefficient ``Y_s``.

    A monomial ``p**q * H**n * sigma**(2*l)`` is *Pareto-optimal* if no other
    monomial with the same power of ``sigma`` has both powers ``(q', n')``
    at least ``(q, n)`` and one of them larger.  Only Pareto-optimal terms can
    lead when ``p`` and ``H`` grow (see :func:`leading_terms`).  The
    pure-target constant (the term without ``sigma``, ``p/2`` in ``Y_0`` for
    the identity target) is excluded.

    Parameters
    ----------
    poly : sympy.Poly or sympy.Expr
        A polynomial in ``p, H, sigma`` with rational coefficients.
    nu, s : int, optional
        Tensor order and the order ``s`` of ``Y_s``; when given, each term's
        ``s_D`` is recovered from its power of ``sigma``.

    Returns
    -------
    tuple of ParetoTerm
        Sorted by power of ``sigma``, then ``n``.

    Raises
    ------
    ParameterError
        If ``poly`` is not such a polynomial, or a power of ``sigma`` cannot
        occur in ``Y_s``.

    Examples
    --------
    >>> from feynflow.symbols import p, H, sigma
    >>> y = 3 * p**2 * H * sigma**4 + p * H * sigma**4 + p * H**2 * sigma**4
    >>> [(t.q, t.n, t.sigma_power, t.coeff) for t in pareto_terms(y)]
    [(2, 1, 4, Fraction(3, 1)), (1, 2, 4, Fraction(1, 1))]
    >>> pareto_terms(y, nu=2, s=0)[0].s_D
    1

    Notes
    -----
    Runs in ``O(m**2)`` time for ``m`` monomials.

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3.
    """
    return tuple(_pareto_filter(_terms(poly, nu, s)))


# ---------------------------------------------------------------------------
# The theorem
# ---------------------------------------------------------------------------


def _theorem_covers(nu: int, symmetric: bool, target: str) -> bool:
    return target == "identity" and (not symmetric or nu % 2 == 0)


def _check_target(target: str, nu: int) -> None:
    """Accept the named targets and any text of `feynflow.targets`' syntax."""
    if target in ("identity", "zero"):
        return
    if not isinstance(target, str):
        raise ParameterError(
            f"target={target!r} is not allowed; use 'identity', 'zero' or a "
            "target text such as 'd(1,2)'"
        )
    from feynflow.targets import parse_target

    parse_target(target, nu)


def theorem_front(nu: int, s: int, symmetric: bool = True) -> tuple[ParetoTerm, ...]:
    """Return the Pareto-optimal terms of ``Y_s`` that the theorem predicts.

    For the identity target the theorem lists
    ``p**Q(n, s_D) * H**n * sigma**(nu*(s_D+1) + (nu-2)*s)`` for
    ``0 <= s_D <= s+1`` and ``1 <= n <= s_D+1``, with
    ``Q = 1 + (nu-1)*s_D - (nu/2)*(n-1)`` (SYM, even ``nu``) or
    ``Q = 1 + (nu-1)*(s_D+1-n)`` (ASYM, without odd ``s_R = s+1-s_D`` and
    without ``(n, s_D) = (s+2, s+1)``).

    Parameters
    ----------
    nu : int
        Tensor order, ``>= 2``; even when ``symmetric``.
    s : int
        Order of the coefficient, ``>= 0``.
    symmetric : bool
        SYM (True) or ASYM (False) scenario.

    Returns
    -------
    tuple of ParetoTerm
        With ``coeff=None`` (the theorem gives no coefficients), sorted as
        :func:`pareto_terms` sorts.

    Raises
    ------
    ParameterError
        For SYM with odd ``nu`` (not covered by the theorem) or bad ``nu, s``.

    Examples
    --------
    >>> [(t.q, t.n, t.sigma_power) for t in theorem_front(2, 0)]
    [(1, 1, 2), (2, 1, 4), (1, 2, 4)]
    >>> [(t.s_D, t.n) for t in theorem_front(3, 1, symmetric=False)]
    [(0, 1), (2, 1), (2, 2)]

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3.
    """
    _check_nu_s(nu, s)
    if symmetric and nu % 2:
        raise ParameterError(
            f"nu={nu} in the symmetric scenario is not covered by the theorem; "
            "it covers even nu (SYM) and every nu >= 2 (ASYM)"
        )
    terms = []
    for s_D in range(s + 2):
        s_R = s + 1 - s_D
        if not symmetric and s_R % 2:
            continue
        for n in range(1, s_D + 2):
            if not symmetric and (n, s_D) == (s + 2, s + 1):
                continue
            if symmetric:
                q = 1 + (nu - 1) * s_D - (nu // 2) * (n - 1)
            else:
                q = 1 + (nu - 1) * (s_D + 1 - n)
            sigma_power = nu * (s_D + 1) + (nu - 2) * s
            terms.append(ParetoTerm(q, n, sigma_power, None, s_D))
    return tuple(sorted(terms, key=lambda t: (t.sigma_power, t.n, t.q)))


@dataclass(frozen=True)
class TheoremComparison:
    """Outcome of comparing computed Pareto terms with the theorem.

    Attributes
    ----------
    status : str
        ``"agrees"``, ``"disagrees"`` or ``"not covered"``.
    missing : tuple of (q, n, 2 l)
        Exponents the theorem predicts but the data lack.
    extra : tuple of (q, n, 2 l)
        Exponents in the data the theorem does not predict.
    """

    status: str
    missing: tuple[tuple[int, int, int], ...] = ()
    extra: tuple[tuple[int, int, int], ...] = ()

    def __str__(self) -> str:
        if self.status != "disagrees":
            return self.status
        return f"disagrees (missing {list(self.missing)}, extra {list(self.extra)})"


def compare_with_theorem(
    terms: Iterable[ParetoTerm],
    nu: int,
    s: int,
    symmetric: bool = True,
    target: str = "identity",
) -> TheoremComparison:
    """Compare computed Pareto terms of ``Y_s`` with :func:`theorem_front`.

    Parameters
    ----------
    terms : iterable of ParetoTerm
        The computed Pareto terms (for instance from :func:`pareto_terms`).
    nu, s : int
        Tensor order and order of the coefficient.
    symmetric : bool
        SYM (True) or ASYM (False).
    target : {"identity", "zero"}
        The target; the theorem covers only the identity.

    Returns
    -------
    TheoremComparison
        ``"not covered"`` for SYM with odd ``nu`` or a non-identity target.

    Raises
    ------
    ParameterError
        For ``nu < 2``, ``s < 0`` or an unknown target.

    Examples
    --------
    >>> front = theorem_front(2, 1)
    >>> compare_with_theorem(front, 2, 1).status
    'agrees'
    >>> print(compare_with_theorem(front[1:], 2, 1))
    disagrees (missing [(1, 1, 2)], extra [])
    >>> compare_with_theorem(front, 3, 1).status
    'not covered'
    """
    _check_nu_s(nu, s)
    _check_target(target, nu)
    if not _theorem_covers(nu, symmetric, target):
        return TheoremComparison("not covered")
    expected = {t.exponents for t in theorem_front(nu, s, symmetric)}
    found = {t.exponents for t in terms}
    missing = tuple(sorted(expected - found))
    extra = tuple(sorted(found - expected))
    status = "agrees" if not missing and not extra else "disagrees"
    return TheoremComparison(status, missing, extra)


def joint_scaling(nu: int, symmetric: bool) -> Exponents | None:
    """Return the scaling ``(alpha_p, alpha_H, alpha_sigma)`` under which
    every Pareto term of the theorem grows alike.

    Parameters
    ----------
    nu : int
        Tensor order, ``>= 2``.
    symmetric : bool
        SYM (True) or ASYM (False).

    Returns
    -------
    tuple of Fraction or None
        ``(1, nu/2, (1-nu)/nu)`` for SYM with even ``nu``,
        ``(1, nu-1, (1-nu)/nu)`` for ASYM; ``None`` for SYM with odd ``nu``,
        which the theorem does not cover.

    Examples
    --------
    >>> [str(a) for a in joint_scaling(4, True)]
    ['1', '2', '-3/4']
    """
    if symmetric and nu % 2:
        return None
    alpha_H = Fraction(nu, 2) if symmetric else Fraction(nu - 1)
    return (Fraction(1), alpha_H, Fraction(1 - nu, nu))


# ---------------------------------------------------------------------------
# Exact plane geometry
# ---------------------------------------------------------------------------


def _cross(o: Sequence[Fraction], a: Sequence[Fraction], b: Sequence[Fraction]):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _convex_hull(points: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Counter-clockwise hull vertices (Andrew's monotone chain), exact.

    Collinear points on a side are not vertices.  One point gives itself; a
    segment gives its two ends.
    """
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts
    lower: list[tuple[int, int]] = []
    for pt in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], pt) <= 0:
            lower.pop()
        lower.append(pt)
    upper: list[tuple[int, int]] = []
    for pt in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], pt) <= 0:
            upper.pop()
        upper.append(pt)
    hull = lower[:-1] + upper[:-1]
    return hull if len(hull) >= 2 else pts[:1]


def _sub(a: Sequence, b: Sequence) -> tuple:
    return tuple(Fraction(x) - Fraction(y) for x, y in zip(a, b, strict=True))


def _dot(a: Sequence, b: Sequence) -> Fraction:
    return sum(
        (Fraction(x) * Fraction(y) for x, y in zip(a, b, strict=True)), Fraction(0)
    )


def _cross3(a: Sequence[Fraction], b: Sequence[Fraction]) -> tuple:
    return (
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    )


def _plane_normal(points: Sequence[Sequence[int]]) -> Exponents | None:
    """Normal of the plane through 3-D points, scaled to a first entry 1.

    ``None`` if the points are collinear (no unique plane) or not coplanar.
    """
    if len(points) < 3:
        return None
    base = points[0]
    diffs = [_sub(pt, base) for pt in points[1:]]
    normal = None
    for i, u in enumerate(diffs):
        for v in diffs[i + 1 :]:
            candidate = _cross3(u, v)
            if any(candidate):
                normal = candidate
                break
        if normal is not None:
            break
    if normal is None or any(_dot(normal, d) for d in diffs):
        return None
    scale = next(c for c in normal if c)
    if normal[0]:
        scale = normal[0]
    return tuple(c / scale for c in normal)


def _primitive(vector: Sequence[Fraction]) -> tuple[int, ...]:
    """The integer vector with coprime entries on the ray of ``vector``."""
    denominator = math.lcm(*(Fraction(x).denominator for x in vector))
    ints = [int(Fraction(x) * denominator) for x in vector]
    divisor = math.gcd(*ints) or 1
    return tuple(x // divisor for x in ints)


def _rank(vectors: Sequence[Sequence[Fraction]]) -> int:
    if not vectors:
        return 0
    return sympy.Matrix([[sympy.Rational(x) for x in v] for v in vectors]).rank()


# ---------------------------------------------------------------------------
# The Pareto polygon
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    """A face of the Pareto polygon: a vertex, a side, or the whole polygon.

    Attributes
    ----------
    name : str
        Vertex names in polygon order joined by ``-`` (``"A-B"``, ``"C"``);
        names of coinciding vertices are joined by ``=`` (``"D=E"``).
    vertices : tuple of str
        The named vertices on the face, in polygon order.
    points : tuple of (s_D, n)
        The hull vertices of the face.
    """

    name: str
    vertices: tuple[str, ...]
    points: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ParetoPolygon:
    """The hull of the Pareto points of ``Y_s`` in the ``(s_D, n)`` plane.

    Attributes
    ----------
    nu, s : int
        Tensor order and order of the coefficient.
    symmetric : bool
        SYM (True) or ASYM (False).
    target : str
        ``"identity"`` or ``"zero"``.
    terms : tuple of ParetoTerm
        The Pareto terms drawn.
    hull : tuple of (s_D, n)
        Distinct hull vertices, counter-clockwise, starting at ``A``.
    vertices : dict
        Vertex name -> ``(s_D, n)``; coinciding vertices share a point.
    faces : tuple of Face
        Vertices and sides in polygon order, then the whole polygon.
    plane_normal : tuple of Fraction or None
        Normal ``(alpha_p, alpha_H, alpha_sigma)`` of the plane through all
        ``(q, n, 2 l)``, scaled so ``alpha_p = 1``; ``None`` when the points
        do not determine one plane (fewer than three non-collinear points) or
        are not coplanar.
    coplanar : bool
        Whether all ``(q, n, 2 l)`` lie on one plane.
    joint_scaling : tuple of Fraction or None
        SPEC's joint scaling (see :func:`joint_scaling`).
    matches_joint_scaling : bool or None
        Whether every Pareto term grows alike under ``joint_scaling``.
    """

    nu: int
    s: int
    symmetric: bool
    target: str
    terms: tuple[ParetoTerm, ...]
    hull: tuple[tuple[int, int], ...]
    vertices: dict[str, tuple[int, int]]
    faces: tuple[Face, ...]
    plane_normal: Exponents | None
    coplanar: bool
    joint_scaling: Exponents | None
    matches_joint_scaling: bool | None

    def term_at(self, point: tuple[int, int]) -> ParetoTerm:
        """The Pareto term drawn at ``point = (s_D, n)``."""
        for term in self.terms:
            if (term.s_D, term.n) == tuple(point):
                return term
        raise ParameterError(f"no Pareto term at (s_D, n) = {point}")

    def face(self, name: str) -> Face:
        """The face called ``name`` (e.g. ``"B-C"``)."""
        for face in self.faces:
            if face.name == name:
                return face
        names = [f.name for f in self.faces]
        raise ParameterError(f"face {name!r} is not one of {names}")


def _name_vertices(
    hull: Sequence[tuple[int, int]], symmetric: bool, nu: int
) -> dict[str, tuple[int, int]]:
    """Name hull vertices by their geometric role.

    ``A``: largest ``s_D``, then smallest ``n``; ``B``: largest ``s_D``, then
    largest ``n``; ``E``: smallest ``s_D``, then smallest ``n``; ``D``:
    smallest ``s_D``, then largest ``n``; ``C``: the vertex after ``B`` on the
    upper chain from ``B`` to ``D`` (``D`` itself when that chain has no
    vertex in between).  SYM with even ``nu`` names only ``A, B, E``.
    """
    names = {
        "A": min(hull, key=lambda v: (-v[0], v[1])),
        "B": max(hull, key=lambda v: (v[0], v[1])),
        "D": min(hull, key=lambda v: (v[0], -v[1])),
        "E": min(hull, key=lambda v: (v[0], v[1])),
    }
    start = hull.index(names["B"])
    chain = [hull[(start + k) % len(hull)] for k in range(len(hull))]
    chain = chain[: chain.index(names["D"]) + 1]
    names["C"] = chain[1] if len(chain) >= 3 else names["D"]
    wanted = SYM_VERTEX_NAMES if symmetric and nu % 2 == 0 else ASYM_VERTEX_NAMES
    return {name: names[name] for name in wanted}


def _faces(
    hull: Sequence[tuple[int, int]], vertices: dict[str, tuple[int, int]]
) -> tuple[Face, ...]:
    def label(point):
        return "=".join(n for n in vertices if vertices[n] == point)

    def named(points):
        return tuple(n for pt in points for n in vertices if vertices[n] == pt)

    faces = []
    for i, point in enumerate(hull):
        faces.append(Face(label(point), named([point]), (point,)))
        if len(hull) >= 2 and not (len(hull) == 2 and i == 1):
            side = (point, hull[(i + 1) % len(hull)])
            faces.append(Face("-".join(map(label, side)), named(side), side))
    if len(hull) >= 3:
        faces.append(Face("-".join(map(label, hull)), named(hull), tuple(hull)))
    return tuple(faces)


def _polygon_from_terms(
    terms: Sequence[ParetoTerm], nu: int, s: int, symmetric: bool, target: str
) -> ParetoPolygon:
    if not terms:
        raise ParameterError(f"Y_{s} has no Pareto terms; there is no polygon")
    if any(t.s_D is None for t in terms):
        raise ParameterError("every Pareto term needs its s_D to draw the polygon")
    hull = _convex_hull((t.s_D, t.n) for t in terms)
    a_point = min(hull, key=lambda v: (-v[0], v[1]))
    start = hull.index(a_point)
    hull = hull[start:] + hull[:start]
    vertices = _name_vertices(hull, symmetric, nu)
    # Hull vertices the scenario's names do not reach (only possible for data
    # the theorem does not describe) get the extra names V1, V2, ...
    extra = [pt for pt in hull if pt not in vertices.values()]
    for k, pt in enumerate(extra):
        vertices[f"V{k + 1}"] = pt

    points = [t.exponents for t in terms]
    normal = _plane_normal(points)
    coplanar = normal is not None or _rank([_sub(x, points[0]) for x in points]) < 3
    scaling = joint_scaling(nu, symmetric)
    matches = None
    if scaling is not None:
        growth = {_dot(scaling, pt) for pt in points}
        matches = len(growth) == 1
    return ParetoPolygon(
        nu=nu,
        s=s,
        symmetric=symmetric,
        target=target,
        terms=tuple(terms),
        hull=tuple(hull),
        vertices=vertices,
        faces=_faces(hull, vertices),
        plane_normal=normal,
        coplanar=coplanar,
        joint_scaling=scaling,
        matches_joint_scaling=matches,
    )


def pareto_polygon(
    nu: int,
    s: int,
    symmetric: bool = True,
    target: str = "identity",
    *,
    terms: Sequence[ParetoTerm] | None = None,
    time_limit: float | None = None,
) -> ParetoPolygon:
    """Return the Pareto polygon of ``Y_s``: the hull of its Pareto points.

    Each Pareto term ``p**q * H**n * sigma**(2 l)`` is drawn at ``(s_D, n)``.
    Vertices are named by their geometric role, which for the theorem's
    fronts gives SPEC's names: ``A = (s+1, 1)``, ``B``, ``E`` for SYM with
    even ``nu``; ``A, B, C, D, E`` for ASYM.  The polygon also records whether
    all ``(q, n, 2 l)`` lie on one plane and that plane's normal.

    Parameters
    ----------
    nu, s : int
        Tensor order (``>= 2``) and order (``>= 0``).
    symmetric : bool
        SYM (True) or ASYM (False).
    target : {"identity", "zero"}
        The target.
    terms : sequence of ParetoTerm, optional
        The Pareto terms to draw, with ``s_D`` set (e.g. from
        :func:`theorem_front`).  By default they are computed exactly with
        ``feynflow.loss_coefficients(..., leading=True)``.
    time_limit : float, optional
        Seconds allowed for that computation.

    Returns
    -------
    ParetoPolygon

    Raises
    ------
    ParameterError
        On bad parameters or terms without ``s_D``.
    TimeLimitError
        If the exact computation runs past ``time_limit``.

    Examples
    --------
    >>> poly = pareto_polygon(3, 4, symmetric=False, terms=theorem_front(3, 4, False))
    >>> poly.vertices
    {'A': (5, 1), 'B': (5, 5), 'C': (3, 4), 'D': (1, 2), 'E': (1, 1)}
    >>> [f.name for f in poly.faces][:4]
    ['A', 'A-B', 'B', 'B-C']
    >>> [str(a) for a in poly.plane_normal]
    ['1', '2', '-2/3']

    Notes
    -----
    The hull is Andrew's monotone chain on exact integers, ``O(m log m)`` for
    ``m`` terms.

    SYM with odd ``nu`` is outside the theorem: its vertices get the ASYM
    names, and its Pareto triples need not be coplanar (exact data for
    ``nu = 3`` and ``nu = 5`` leave the plane from ``s = 2`` on), in which
    case the polygon alone does not decide which terms lead.

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3.
    """
    _check_nu_s(nu, s)
    _check_target(target, nu)
    if terms is None:
        from feynflow.expansion import loss_coefficients

        coefficients = loss_coefficients(
            nu,
            s,
            symmetric=symmetric,
            target=target,
            leading=True,
            time_limit=time_limit,
        )
        terms = pareto_terms(coefficients[s], nu, s)
    return _polygon_from_terms(list(terms), nu, s, symmetric, target)


# ---------------------------------------------------------------------------
# Leading terms under a scaling
# ---------------------------------------------------------------------------


def _check_alpha(alpha: Sequence[object]) -> Exponents:
    # A string or a set is iterable too, but "110" or {1, 2, 3} is no triple.
    if isinstance(alpha, (str, bytes, set, frozenset, dict)):
        raise ParameterError(
            f"alpha={alpha!r} is not a triple (alpha_p, alpha_H, alpha_sigma)"
        )
    try:
        values = tuple(alpha)
    except TypeError:
        raise ParameterError(
            f"alpha={alpha!r} is not a triple (alpha_p, alpha_H, alpha_sigma)"
        ) from None
    if len(values) != 3:
        raise ParameterError(
            f"alpha={alpha!r} has {len(values)} entries; it needs exactly 3 "
            "(alpha_p, alpha_H, alpha_sigma)"
        )
    exact = []
    for name, value in zip(("alpha_p", "alpha_H", "alpha_sigma"), values, strict=True):
        if isinstance(value, str):
            try:
                value = Fraction(value)
            except (ValueError, ZeroDivisionError):
                raise ParameterError(
                    f"{name}={value!r} is not a rational number; use an integer "
                    "or a fraction like -1/2"
                ) from None
        try:
            exact.append(_as_fraction(value))
        except ParameterError:
            raise ParameterError(
                f"{name}={value!r} is not an exact rational; use int, Fraction, "
                "sympy.Rational or a string like '-1/2'"
            ) from None
    if exact[0] <= 0 or exact[1] <= 0:
        raise ParameterError(
            f"alpha_p={exact[0]}, alpha_H={exact[1]} is not allowed; "
            "both must be > 0 (p and H grow)"
        )
    return tuple(exact)


def growth_exponent(term: ParetoTerm, alpha: Sequence[object]) -> Fraction:
    """Return ``alpha_p*q + alpha_H*n + alpha_sigma*2l`` for ``term``.

    The monomial grows like ``a`` to this power when ``p ~ a**alpha_p``,
    ``H ~ a**alpha_H``, ``sigma ~ a**alpha_sigma``.

    Parameters
    ----------
    term : ParetoTerm
        The monomial.
    alpha : sequence of three exact rationals
        ``(alpha_p, alpha_H, alpha_sigma)`` with ``alpha_p, alpha_H > 0``.

    Returns
    -------
    fractions.Fraction

    Raises
    ------
    ParameterError
        If ``alpha_p <= 0``, ``alpha_H <= 0`` or an entry is not rational.

    Examples
    --------
    >>> from fractions import Fraction
    >>> growth_exponent(ParetoTerm(2, 1, 4), (1, 1, Fraction(-1, 4)))
    Fraction(2, 1)
    """
    return _dot(_check_alpha(alpha), term.exponents)


def leading_terms(
    poly: sympy.Poly | sympy.Expr,
    alpha: Sequence[object],
    nu: int | None = None,
    s: int | None = None,
) -> tuple[ParetoTerm, ...]:
    """Return the terms of ``poly`` that grow fastest under the scaling
    ``p ~ a**alpha_p``, ``H ~ a**alpha_H``, ``sigma ~ a**alpha_sigma``.

    The pure-target constant (no ``sigma``) is excluded, as for
    :func:`pareto_terms`.  Ties are all returned (a face of the polygon).

    Parameters
    ----------
    poly : sympy.Poly or sympy.Expr
        A polynomial in ``p, H, sigma``.
    alpha : sequence of three exact rationals
        ``(alpha_p, alpha_H, alpha_sigma)``; ``alpha_p, alpha_H > 0``.
    nu, s : int, optional
        As in :func:`pareto_terms`, to fill in ``s_D``.

    Returns
    -------
    tuple of ParetoTerm
        Empty if ``poly`` has no term with ``sigma``.

    Raises
    ------
    ParameterError
        If ``alpha_p <= 0``, ``alpha_H <= 0`` or an entry is not rational.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from feynflow.symbols import p, H, sigma
    >>> y = p**2 * H * sigma**4 + p * H**2 * sigma**4 + p * sigma**2
    >>> [t.monomial for t in leading_terms(y, (1, 2, Fraction(-1, 2)))]
    [H**2*p*sigma**4]
    >>> len(leading_terms(y, (1, 1, 0)))
    2

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3.
    """
    exact = _check_alpha(alpha)
    terms = _terms(poly, nu, s)
    if not terms:
        return ()
    growth = {term: _dot(exact, term.exponents) for term in terms}
    best = max(growth.values())
    leaders = [term for term in terms if growth[term] == best]
    return tuple(sorted(leaders, key=lambda t: (t.sigma_power, t.n, t.q)))


# ---------------------------------------------------------------------------
# Scaling conditions, regimes, classification
# ---------------------------------------------------------------------------

_RELATIONS = {"equal": "~ 1", "infinity": "-> inf", "zero": "-> 0"}


@dataclass(frozen=True)
class ScalingCondition:
    """A condition on a scaling: ``p**a * H**b * sigma**c`` tends to a limit.

    Attributes
    ----------
    exponents : tuple of int
        Coprime integer powers ``(a, b, c)`` of ``(p, H, sigma)``, oriented
        so that the first nonzero of ``c, b, a`` is positive.
    relation : {"equal", "infinity", "zero"}
        The monomial stays of order one, tends to infinity, or to zero.
    """

    exponents: tuple[int, int, int]
    relation: str

    @classmethod
    def from_ratio(cls, exponents: Sequence[Fraction], grows: bool | None):
        """Condition that ``p**a H**b sigma**c`` is ``~ 1`` (``grows=None``),
        ``-> inf`` (True) or ``-> 0`` (False)."""
        vector = _primitive(exponents)
        leading = next(x for x in reversed(vector) if x)
        if leading < 0:
            vector = tuple(-x for x in vector)
            grows = None if grows is None else not grows
        relation = "equal" if grows is None else ("infinity" if grows else "zero")
        return cls(vector, relation)

    @property
    def monomial(self) -> sympy.Expr:
        """``p**a * H**b * sigma**c``."""
        a, b, c = self.exponents
        return p**a * H**b * sigma**c

    def holds(self, alpha: Sequence[object]) -> bool:
        """Whether the scaling ``alpha`` satisfies the condition."""
        value = _dot(self.exponents, _check_alpha(alpha))
        if self.relation == "equal":
            return value == 0
        return value > 0 if self.relation == "infinity" else value < 0

    def __str__(self) -> str:
        if self.relation == "equal":
            numerator, denominator = sympy.fraction(self.monomial)
            return f"{numerator} ~ {denominator}"
        return f"{self.monomial} {_RELATIONS[self.relation]}"

    def latex(self) -> str:
        """The condition in LaTeX."""
        if self.relation == "equal":
            numerator, denominator = sympy.fraction(self.monomial)
            return f"{sympy.latex(numerator)} \\sim {sympy.latex(denominator)}"
        limit = r"\infty" if self.relation == "infinity" else "0"
        return f"{sympy.latex(self.monomial)} \\to {limit}"


#: Regime names, keyed by scenario ("sym" for SYM with even nu, "asym") and
#: the face's vertex names.  Conditions and natural T are derived; only
#: names live here.  Faces of SPEC's table carry its names; the remaining
#: vertices carry the names the paper gives the points A and B of free
#: evolution, and by analogy for D and E.
_REGIME_NAMES = {
    ("sym", ("A",)): "free evolution, under-parameterized",
    ("sym", ("A", "B")): "free evolution, balanced",
    ("sym", ("B",)): "free evolution, over-parameterized",
    ("sym", ("B", "E")): "mean-field, over-parameterized, rich",
    ("sym", ("E",)): "small init, rich",
    ("sym", ("E", "A")): "under-parameterized, rich",
    ("asym", ("A",)): "free evolution, under-parameterized",
    ("asym", ("A", "B")): "free evolution, balanced",
    ("asym", ("B",)): "free evolution, over-parameterized",
    ("asym", ("B", "C")): "NTK (lazy), over-parameterized",
    ("asym", ("C",)): "NTK from a zero model",
    ("asym", ("C", "D")): "mean-field, rich",
    ("asym", ("D",)): "over-parameterized, small init, rich",
    ("asym", ("D", "E")): "balanced, small init, rich",
    ("asym", ("E",)): "under-parameterized, small init, rich",
    ("asym", ("E", "A")): "under-parameterized, rich",
}
_JOINT_NAME = "joint scaling: every Pareto term leads"


@dataclass(frozen=True)
class RegimeRow:
    """One row of the regime table: a face and the scalings it leads under.

    Attributes
    ----------
    face : str
        Face name (``"B-C"``).
    vertices : tuple of str
        Its vertex names in polygon order.
    conditions : tuple of ScalingCondition
        Scalings ``alpha`` (with ``alpha_p, alpha_H > 0``) satisfying all of
        them are exactly those under which this face leads.
    T : sympy.Expr
        Natural inverse learning rate, a monomial in ``p, H, sigma``.
    T_exponents : tuple of Fraction
        Powers of ``(p, H, sigma)`` in ``T``.
    regime : str
        The regime's name.
    """

    face: str
    vertices: tuple[str, ...]
    conditions: tuple[ScalingCondition, ...]
    T: sympy.Expr
    T_exponents: Exponents
    regime: str

    @property
    def condition(self) -> str:
        """The conditions as text, joined by commas."""
        return ", ".join(str(c) for c in self.conditions)

    def contains(self, alpha: Sequence[object]) -> bool:
        """Whether the scaling ``alpha`` satisfies every condition."""
        return all(c.holds(alpha) for c in self.conditions)


@dataclass(frozen=True)
class Classification:
    """The large-order behaviour of ``Y_s`` under one scaling.

    Attributes
    ----------
    face : str
        The dominating face (``"B-C"``, ``"C"``, ...).
    vertices : tuple of str
        Its vertices in polygon order.
    tau : fractions.Fraction
        ``T ~ a**tau``: the natural inverse learning rate's growth.
    T : sympy.Expr
        The natural ``T`` as a monomial in ``p, H, sigma``.
    regime : str
        The regime's name.
    """

    face: str
    vertices: tuple[str, ...]
    tau: Fraction
    T: sympy.Expr
    regime: str


def _scenario_key(nu: int, symmetric: bool) -> str:
    return "sym" if symmetric else "asym"


def _check_covered(nu: int, symmetric: bool) -> None:
    if symmetric and nu % 2:
        raise ParameterError(
            f"nu={nu} in the symmetric scenario is not covered by the theorem, "
            "so its large-order polygon is unknown; use even nu or --asym"
        )


@cache
def _generic_polygons(nu: int, symmetric: bool) -> tuple[ParetoPolygon, ParetoPolygon]:
    """The theorem's polygons at two orders of the same parity.

    Both already have the large-order shape: the sides point in the same
    directions at every larger order of that parity, so the face a linear
    functional selects is the same, and the per-order growth of each named
    vertex's monomial is the difference between the two divided by 2.
    """
    _check_nu_s(nu, 0)
    _check_covered(nu, symmetric)
    order = _GENERIC_ORDER[symmetric]
    return tuple(
        pareto_polygon(nu, s, symmetric, terms=theorem_front(nu, s, symmetric))
        for s in (order, order + 2)
    )


def _vertex_exponents(polygon: ParetoPolygon, name: str) -> tuple[int, int, int]:
    return polygon.term_at(polygon.vertices[name]).exponents


def _per_order_exponents(nu: int, symmetric: bool, name: str) -> Exponents:
    """Growth per order of vertex ``name``'s monomial: its natural ``T``."""
    low, high = _generic_polygons(nu, symmetric)
    step = high.s - low.s
    diff = _sub(_vertex_exponents(high, name), _vertex_exponents(low, name))
    return tuple(d / step for d in diff)


def _T_preference(exponents: Exponents) -> tuple:
    """Among equivalent monomials on a face, prefer the one with fewest
    symbols, then lowest total power of ``p`` and ``H``, then without ``p``.
    """
    power_p, power_H, _ = exponents
    symbols = sum(1 for x in exponents if x)
    return (symbols, abs(power_p) + abs(power_H), power_p != 0)


def _natural_T(nu: int, symmetric: bool, names: Sequence[str]):
    candidates = [_per_order_exponents(nu, symmetric, n) for n in names]
    exponents = min(candidates, key=_T_preference)
    a, b, c = (sympy.Rational(x.numerator, x.denominator) for x in exponents)
    return exponents, p**a * H**b * sigma**c


def _condition_preference(condition: ScalingCondition) -> tuple:
    """Of equivalent conditions, show the one with fewest symbols, then one
    without ``p``, then one with ``H``."""
    power_p, power_H, _ = condition.exponents
    symbols = sum(1 for x in condition.exponents if x)
    return (symbols, power_p != 0, power_H == 0)


def _face_conditions(polygon: ParetoPolygon, face: Face) -> list[ScalingCondition]:
    """Scaling conditions under which ``face`` leads.

    On a convex polygon a linear functional is largest on ``face`` exactly
    when it is equal on the face's vertices and each end of the face beats
    its neighbour outside the face.  Both are ratios of vertex monomials.
    """
    hull = list(polygon.hull)

    def exponents(point):
        return polygon.term_at(point).exponents

    equalities = []
    for a, b in zip(face.points[:-1], face.points[1:], strict=True):
        ratio = _sub(exponents(a), exponents(b))
        if _rank([*equalities, ratio]) > len(equalities):
            equalities.append(ratio)

    # The face's points run counter-clockwise, so its outside neighbours are
    # the hull vertex before its first point and the one after its last.
    first = hull.index(face.points[0])
    last = hull.index(face.points[-1])
    pairs = [
        (face.points[0], hull[first - 1]),
        (face.points[-1], hull[(last + 1) % len(hull)]),
    ]
    inequalities = [
        _sub(exponents(end), exponents(neighbour))
        for end, neighbour in pairs
        if neighbour not in face.points
    ]

    conditions = [ScalingCondition.from_ratio(e, None) for e in equalities]
    growing = [ScalingCondition.from_ratio(g, True) for g in inequalities]
    kept: list[ScalingCondition] = []
    kept_vectors: list[tuple] = []
    for condition in sorted(growing, key=_condition_preference):
        vector = condition.exponents
        if condition.relation == "zero":
            vector = tuple(-x for x in vector)
        if _redundant(vector, kept_vectors, equalities):
            continue
        kept.append(condition)
        kept_vectors.append(vector)
    return conditions + kept


def _redundant(vector, kept_vectors, equalities) -> bool:
    """Whether ``vector . alpha > 0`` already follows, given the equalities,
    from a kept inequality or from ``alpha_p, alpha_H > 0``.

    It does when ``vector`` is, modulo the equalities, a positive multiple of
    a kept inequality or a non-negative combination of ``(1, 0, 0)`` and
    ``(0, 1, 0)`` (not both zero).
    """
    for other in kept_vectors:
        weights = _combination(vector, [other], equalities)
        if weights is not None and weights[0] > 0:
            return True
    weights = _combination(vector, [(1, 0, 0), (0, 1, 0)], equalities)
    return weights is not None and min(weights) >= 0 and max(weights) > 0


def _combination(vector, others, equalities) -> list[Fraction] | None:
    """The unique weights ``w`` with ``vector - sum w_i others_i`` in the span
    of ``equalities``; ``None`` if there are none or they are not unique."""
    columns = [*others, *equalities]
    matrix = sympy.Matrix([[sympy.Rational(c[k]) for c in columns] for k in range(3)])
    rhs = sympy.Matrix([sympy.Rational(x) for x in vector])
    try:
        solution, free = matrix.gauss_jordan_solve(rhs)
    except ValueError:
        return None
    if free.shape[0]:
        return None
    return [Fraction(int(w.p), int(w.q)) for w in solution[: len(others)]]


def regime_table(nu: int, symmetric: bool = True) -> tuple[RegimeRow, ...]:
    """Return the learning regimes of ``(nu, scenario)``, derived from the
    theorem's Pareto polygon at large order.

    Each face of the polygon (vertex, side, or the whole polygon) is a
    regime: the scalings under which its terms lead, written as ratios of
    the monomials of its vertices and their neighbours; the natural ``T``,
    the per-order growth of a face vertex's monomial; and a name.

    Parameters
    ----------
    nu : int
        Tensor order ``>= 2`` (even for SYM).
    symmetric : bool
        SYM (True) or ASYM (False).

    Returns
    -------
    tuple of RegimeRow
        Faces in polygon order (``A``, ``A-B``, ``B``, ...), then the whole
        polygon (the joint scaling).

    Raises
    ------
    ParameterError
        For SYM with odd ``nu`` (no theorem) or ``nu < 2``.

    Examples
    --------
    >>> row = regime_table(3, symmetric=False)[3]
    >>> row.face, row.condition, row.T
    ('B-C', 'H*p**2*sigma**6 ~ 1, H*sigma**3 -> inf', H*sigma**4)
    >>> row.regime
    'NTK (lazy), over-parameterized'

    Notes
    -----
    SYM with odd ``nu`` is not covered by the theorem and is refused.  For
    ASYM at odd orders the vertices ``D`` and ``E`` coincide, so the side
    ``D-E`` shrinks to a point there; the table describes even orders.

    A natural ``T`` is defined only up to monomials that stay of order one
    on the face.  Among the face's vertex monomials the one with fewest
    symbols is written, then the one with the lowest total power of ``p``
    and ``H``, then one without ``p``.  For SYM ``nu = 2`` on ``A-B`` this
    gives ``H*sigma**2`` where SPEC writes ``p*sigma**2``; the two are equal
    up to order one there, since ``H ~ p``.  Conditions implied by others
    (given the face's equalities and ``alpha_p, alpha_H > 0``) are dropped,
    so a row may show a different but equivalent condition than SPEC's.

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3.
    """
    polygon = _generic_polygons(nu, symmetric)[0]
    key = _scenario_key(nu, symmetric)
    rows = []
    for face in polygon.faces:
        exponents, T = _natural_T(nu, symmetric, face.vertices)
        if len(face.points) == len(polygon.hull) and len(polygon.hull) >= 3:
            name = _JOINT_NAME
        else:
            name = _REGIME_NAMES.get((key, face.vertices), "")
        rows.append(
            RegimeRow(
                face=face.name,
                vertices=face.vertices,
                conditions=tuple(_face_conditions(polygon, face)),
                T=T,
                T_exponents=exponents,
                regime=name,
            )
        )
    return tuple(rows)


def classify(nu: int, symmetric: bool, alpha: Sequence[object]) -> Classification:
    """Return the face of the Pareto polygon that leads at large order under
    the scaling ``alpha``, with the natural ``T`` and the regime's name.

    The growth exponent of a Pareto term is linear in its ``(s_D, n)``, so
    the leading terms of ``Y_s`` lie on the face of the polygon where that
    linear function is largest.  ``Y_s`` then grows like ``base**s`` and the
    natural inverse learning rate ``T ~ a**tau`` balances the base:
    ``tau`` is the per-order growth of the face's monomials.

    Parameters
    ----------
    nu : int
        Tensor order ``>= 2`` (even for SYM).
    symmetric : bool
        SYM (True) or ASYM (False).
    alpha : sequence of three exact rationals
        ``(alpha_p, alpha_H, alpha_sigma)`` with ``alpha_p, alpha_H > 0``;
        strings like ``"-1/2"`` are accepted.

    Returns
    -------
    Classification

    Raises
    ------
    ParameterError
        For ``alpha_p <= 0``, ``alpha_H <= 0``, non-rational entries, or SYM
        with odd ``nu``.

    Examples
    --------
    NTK initialisation ``sigma**2 ~ 1/sqrt(p H)`` for ``nu = 2`` with
    ``H ~ p**2`` (more weights than targets):

    >>> from fractions import Fraction
    >>> c = classify(2, False, (1, 2, Fraction(-3, 4)))
    >>> c.face, c.T, c.tau
    ('B-C', H*sigma**2, Fraction(1, 2))
    >>> c.regime
    'NTK (lazy), over-parameterized'

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3.
    """
    exact = _check_alpha(alpha)
    polygon = _generic_polygons(nu, symmetric)[0]
    growth = {pt: _dot(exact, polygon.term_at(pt).exponents) for pt in polygon.hull}
    best = max(growth.values())
    winners = {pt for pt, g in growth.items() if g == best}
    face = next(f for f in polygon.faces if set(f.points) == winners)
    exponents, T = _natural_T(nu, symmetric, face.vertices)
    tau = _dot(exact, exponents)
    if len(winners) == len(polygon.hull) and len(polygon.hull) >= 3:
        name = _JOINT_NAME
    else:
        name = _REGIME_NAMES.get((_scenario_key(nu, symmetric), face.vertices), "")
    logger.info("alpha=%s: face %s, tau=%s", exact, face.name, tau)
    return Classification(face.name, face.vertices, tau, T, name)


def format_regime_table(rows: Sequence[RegimeRow], style: str = "table") -> str:
    """Format regime rows as an aligned text table or a LaTeX ``tabular``.

    Parameters
    ----------
    rows : sequence of RegimeRow
        From :func:`regime_table`.
    style : {"table", "latex"}
        Plain text with aligned columns, or a LaTeX ``tabular``.

    Returns
    -------
    str
        Columns face, scaling condition, natural ``T`` and regime.

    Raises
    ------
    ParameterError
        For an unknown ``style``.

    Examples
    --------
    >>> print(format_regime_table(regime_table(2, True)[:2]))  # doctest: +ELLIPSIS
    face  scaling condition ...
    A     H/p -> 0, p*sigma**2 -> inf ...
    ...
    """
    if style == "latex":
        lines = [
            r"\begin{tabular}{llll}",
            r"face & scaling condition & natural $T$ & regime \\",
            r"\hline",
        ]
        for row in rows:
            condition = ", ".join(f"${c.latex()}$" for c in row.conditions)
            face = row.face.replace("-", "--")
            lines.append(
                f"{face} & {condition} & ${sympy.latex(row.T)}$ & {row.regime} \\\\"
            )
        lines.append(r"\end{tabular}")
        return "\n".join(lines)
    if style != "table":
        raise ParameterError(f"style={style!r} is not allowed; use 'table' or 'latex'")
    header = ("face", "scaling condition", "natural T", "regime")
    body = [(r.face, r.condition, str(r.T), r.regime) for r in rows]
    widths = [max(len(line[k]) for line in [header, *body]) for k in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    )


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def plot_polygon(polygon: ParetoPolygon, ax: Axes | None = None) -> tuple[Figure, Axes]:
    """Draw a Pareto polygon: its Pareto points, hull and named vertices.

    Parameters
    ----------
    polygon : ParetoPolygon
        From :func:`pareto_polygon`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> poly = pareto_polygon(2, 3, terms=theorem_front(2, 3))
    >>> fig, ax = plot_polygon(poly)
    >>> ax.get_xlabel()
    '$s_D$ (copies of $D_{2\\\\nu}$)'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    else:
        fig = ax.figure
    xs = [t.s_D for t in polygon.terms]
    ys = [t.n for t in polygon.terms]
    ax.scatter(xs, ys, color="tab:blue", zorder=3, label="Pareto terms")

    hull = list(polygon.hull)
    if len(hull) >= 2:
        closed = hull + hull[:1]
        ax.fill(
            [v[0] for v in closed],
            [v[1] for v in closed],
            color="tab:blue",
            alpha=0.15,
            zorder=1,
        )
        ax.plot(
            [v[0] for v in closed],
            [v[1] for v in closed],
            color="tab:blue",
            zorder=2,
        )

    for point in hull:
        label = "=".join(n for n in polygon.vertices if polygon.vertices[n] == point)
        ax.annotate(
            label,
            point,
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=11,
            fontweight="bold",
        )

    scenario = "SYM" if polygon.symmetric else "ASYM"
    ax.set_title(
        f"Pareto polygon of $Y_{{{polygon.s}}}$, {scenario}, $\\nu={polygon.nu}$"
    )
    ax.set_xlabel("$s_D$ (copies of $D_{2\\nu}$)")
    ax.set_ylabel("$n$ (H-nodes, power of $H$)")
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.9)
    ax.grid(True, alpha=0.3)
    return fig, ax


# ---------------------------------------------------------------------------
# SYM with odd nu: a conjecture fitted to exact fronts
# ---------------------------------------------------------------------------

#: Where :func:`conjectured_front` was compared with exact Pareto terms and
#: agreed with them: every column of the orders listed, and, in
#: `SYM_ODD_CHECKED_COLUMNS` (``{nu: {m: orders}}``), the columns
#: ``s_D <= m`` of the orders given, computed by restricting the merge powers
#: to diagrams with at most ``m`` copies of ``D``.
#: ``benchmarks/sym_odd_fronts.py`` repeats the comparison.
SYM_ODD_CHECKED_ORDERS = {3: tuple(range(7)), 5: tuple(range(5))}
SYM_ODD_CHECKED_COLUMNS = {
    3: {1: tuple(range(20)), 2: tuple(range(12)), 3: tuple(range(10))},
    5: {1: tuple(range(12)), 2: tuple(range(9))},
}

CONJECTURE_STATEMENT = (
    "SYM, odd nu, identity target (conjecture, fitted to exact fronts): with "
    "k = (nu-1)/2, s_R = s+1-s_D and c = 1 + 2k s_D, the Pareto terms of Y_s "
    "are the undominated ones among p^Q H^n sigma^(nu(s_D+1)+(nu-2)s) for the "
    "s_D in 0..s+1 with s_R even, where, when s_R = 0, Q = c for n = 1 and "
    "Q = c - k n for 2 <= n <= s_D, and, when s_R >= 2, "
    "Q = min(c, c - k(n-1) + floor((s_R-2)/4)) for 1 <= n <= s_D+1; the "
    "coefficient at A = (s_D, n) = (s+1, 1) is "
    "(1/2) (-2 nu)^s prod_{j=1..s} (1 + (nu-1) j)."
)


def _check_sym_odd(nu: int, s: int) -> None:
    _check_nu_s(nu, s)
    if nu % 2 == 0:
        raise ParameterError(
            f"nu={nu} is even; the conjecture is about SYM with odd nu >= 3"
        )


def _conjectured_q(nu: int, s: int, s_D: int, n: int) -> int:
    k = (nu - 1) // 2
    cap = 1 + 2 * k * s_D
    s_R = s + 1 - s_D
    if s_R == 0:
        return cap if n == 1 else cap - k * n
    return min(cap, cap - k * (n - 1) + (s_R - 2) // 4)


def conjectured_front(nu: int, s: int) -> tuple[ParetoTerm, ...]:
    """Return the Pareto terms of ``Y_s`` conjectured for SYM with odd ``nu``.

    This is a *conjecture*, fitted to the exact Pareto terms computed by
    ``loss_coefficients(nu, s, symmetric=True, leading=True)`` and checked at
    the orders listed in `SYM_ODD_CHECKED_ORDERS`; it is not a theorem.  With
    ``k = (nu-1)/2`` and ``s_R = s + 1 - s_D`` (which must be even):

    ``c = 1 + 2k s_D`` (the number of p-nodes before pairing), the Pareto
    terms are the undominated ones (at equal ``s_D``) among

    * ``s_R = 0``: ``n = 1`` with ``Q = c``, and ``2 <= n <= s_D`` with
      ``Q = c - k n``;
    * ``s_R >= 2``: ``1 <= n <= s_D + 1`` with
      ``Q = min(c, c - k (n - 1) + floor((s_R - 2) / 4))``.

    Compared with SYM even ``nu``, each extra H-class costs ``k = (nu-1)/2``
    powers of ``p`` instead of ``nu/2``; diagrams of ``D`` alone pay ``k``
    more once they have two H-classes and never reach ``n = s_D + 1``; and
    every four further copies of ``R`` beyond two win back one power of ``p``
    (first seen at ``s = 6``: for ``nu = 3`` the term ``p^3 H^2`` with
    ``s_D = 1`` replaces ``p^3 H`` and ``p^2 H^2``).  The last rule rests on
    the fewest data: gains of one and two powers only.

    Parameters
    ----------
    nu : int
        Odd tensor order ``>= 3``.
    s : int
        Order, ``>= 0``.

    Returns
    -------
    tuple of ParetoTerm
        Sorted as :func:`pareto_terms` sorts; ``coeff`` is set at
        ``A = (s_D, n) = (s + 1, 1)`` to
        ``(1/2) (-2 nu)^s prod_{j=1..s} (1 + (nu-1) j)`` (the free-evolution
        flower count of SPEC 5.1) and ``None`` elsewhere.

    Raises
    ------
    ParameterError
        For even ``nu`` or bad ``nu, s``.

    Examples
    --------
    >>> [(t.s_D, t.n, t.q) for t in conjectured_front(3, 2)]
    [(1, 1, 3), (1, 2, 2), (3, 1, 7), (3, 2, 5), (3, 3, 4)]
    >>> conjectured_front(3, 2)[2].coeff
    Fraction(270, 1)

    References
    ----------
    .. [1] Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548, Sec. 3
       (the theorem for even nu, which this extends by conjecture).
    """
    _check_sym_odd(nu, s)
    coeff_a = Fraction(1, 2) * (-2 * nu) ** s
    for j in range(1, s + 1):
        coeff_a *= 1 + (nu - 1) * j
    terms = []
    for s_D in range(s + 2):
        s_R = s + 1 - s_D
        if s_R % 2:
            continue
        top = s_D if s_R == 0 and s_D >= 1 else s_D + 1
        for n in range(1, top + 1):
            q = _conjectured_q(nu, s, s_D, n)
            sigma_power = nu * (s_D + 1) + (nu - 2) * s
            coeff = coeff_a if (s_D, n) == (s + 1, 1) else None
            terms.append(ParetoTerm(q, n, sigma_power, coeff, s_D))
    return tuple(_pareto_filter(terms))


def compare_with_conjecture(
    terms: Iterable[ParetoTerm], nu: int, s: int
) -> TheoremComparison:
    """Compare computed Pareto terms with :func:`conjectured_front`.

    Exponents must match exactly, and the coefficient at ``A`` too.

    Returns
    -------
    TheoremComparison
        ``"agrees"`` or ``"disagrees"`` (with the exponents missing or extra;
        a wrong coefficient at ``A`` is listed as both).

    Examples
    --------
    >>> compare_with_conjecture(conjectured_front(5, 3), 5, 3).status
    'agrees'
    """
    expected = conjectured_front(nu, s)
    terms = list(terms)
    found = {t.exponents for t in terms}
    wanted = {t.exponents for t in expected}
    missing = set(wanted - found)
    extra = set(found - wanted)
    a_term = next(t for t in expected if t.coeff is not None)
    for term in terms:
        if term.exponents == a_term.exponents and term.coeff not in (
            None,
            a_term.coeff,
        ):
            missing.add(term.exponents)
            extra.add(term.exponents)
    status = "agrees" if not missing and not extra else "disagrees"
    return TheoremComparison(status, tuple(sorted(missing)), tuple(sorted(extra)))


def _growth_vertices(nu: int) -> dict[str, Exponents]:
    """Growth per order ``(q, n, 2l) / s`` of the extreme families of the
    conjectured front, as ``s -> infinity``.

    A family ``s_D ~ a s``, ``n ~ b s`` (``0 <= b <= a <= 1``) grows like
    ``(min(2k a, 2k a - k b + (1 - a)/4), b, nu a + nu - 2)`` per order;
    the first entry is concave and piecewise linear, so the extreme
    families sit at the corners of its two pieces: ``A`` (``a = 1, b = 0``),
    ``B=C`` (``a = b = 1``), ``D=E`` (``a = b = 0``) and ``P``, where the
    line ``b = (1 - a)/(4k)`` on which the gain of the ``R`` copies reaches
    the p-node cap meets ``b = a``.
    """
    k = Fraction(nu - 1, 2)
    a_p = 1 / (4 * k + 1)
    return {
        "A": (2 * k, Fraction(0), Fraction(2 * nu - 2)),
        "B=C": (k, Fraction(1), Fraction(2 * nu - 2)),
        "D=E": (Fraction(0), Fraction(0), Fraction(nu - 2)),
        "P": (2 * k * a_p, a_p, nu * a_p + nu - 2),
    }


def _exposing_alpha(face, others) -> Exponents | None:
    """A scaling ``(1, alpha_H, alpha_sigma)`` with ``alpha_H > 0`` under which
    the growths in ``face`` tie and beat every one in ``others``, if any.

    Candidates are exact rationals: the solutions of the face's equalities
    when they fix the scaling, else points of a fine grid on their solution
    set.
    """
    grid = [Fraction(j, 24) for j in range(1, 24 * 8)]
    sigmas = [Fraction(j, 120) for j in range(-480, 241)]
    candidates = []
    diffs = [_sub(face[0], g) for g in face[1:]]
    if len(diffs) >= 2:
        (a1, b1, c1), (a2, b2, c2) = diffs[:2]
        det = b1 * c2 - b2 * c1
        if det:
            alpha_h = (-a1 * c2 + a2 * c1) / det
            alpha_s = (-b1 * a2 + b2 * a1) / det
            candidates.append((Fraction(1), alpha_h, alpha_s))
    elif len(diffs) == 1:
        a1, b1, c1 = diffs[0]
        if c1:
            for alpha_h in grid:
                candidates.append((Fraction(1), alpha_h, -(a1 + b1 * alpha_h) / c1))
        elif b1:
            candidates = [(Fraction(1), -a1 / b1, c) for c in sigmas]
    else:
        candidates = [(Fraction(1), h, c) for h in grid[::4] for c in sigmas[::3]]
    for alpha in candidates:
        if alpha[1] <= 0:
            continue
        values = [_dot(alpha, g) for g in face]
        if len(set(values)) == 1 and all(_dot(alpha, g) < values[0] for g in others):
            return alpha
    return None


def conjectured_regimes(nu: int) -> tuple[RegimeRow, ...]:
    """Large-order regimes of SYM with odd ``nu``, from :func:`conjectured_front`.

    The conjectured Pareto triples ``(q, n, 2l)`` of ``Y_s`` are not coplanar
    (the column of ``D`` copies alone lies ``k = (nu-1)/2`` powers of ``p``
    below the plane of the others, and copies of ``R`` beyond two win back
    powers of ``p``), so one polygon does not pick the leading face by one
    linear functional.  At large order the leading terms are decided by the
    growth per order of their monomials, the natural ``T``.  The extreme
    growths (see `_growth_vertices`) are those of ``A`` (free evolution,
    ``p^(nu-1) sigma^(2nu-2)``), of ``B`` and ``C`` alike
    (``p^k H sigma^(2nu-2)``), of ``D`` and ``E`` alike (``sigma^(nu-2)``),
    and of a family ``P`` inside the polygon, with
    ``s_D = n = s/(4k+1)``, that exists only because of the ``R`` gain.  The
    rows are the faces of the hull of these four growths that some scaling
    with ``alpha_p, alpha_H > 0`` selects.

    Parameters
    ----------
    nu : int
        Odd tensor order ``>= 3``.

    Returns
    -------
    tuple of RegimeRow
        Vertices, then sides, then the triangles; ``regime`` names the faces
        the covered cases also have, by analogy, and calls the others new.

    Examples
    --------
    >>> rows = {row.face: row for row in conjectured_regimes(3)}
    >>> rows["A-B=C"].condition
    'H ~ p, p**2*sigma**3 -> inf, p**8*sigma**12/H -> inf'
    >>> rows["P"].T
    H**(1/5)*p**(2/5)*sigma**(8/5)

    Notes
    -----
    This table rests on the conjecture, including its extrapolation of the
    ``R`` gain to large ``s_R``, which data check only up to gains of two
    powers of ``p``.  Faces are found by exact tests of rational scalings
    (the ties that fix a scaling, else a grid of ``alpha_H`` in steps of
    1/24 up to 8 and ``alpha_sigma`` in steps of 1/120 in ``[-4, 2]``), so a
    face exposed only outside that range would be missed.
    """
    _check_sym_odd(nu, 0)
    vectors = _growth_vertices(nu)
    members = {"A": ("A",), "B=C": ("B", "C"), "D=E": ("D", "E"), "P": ("P",)}
    names = {
        ("A",): "free evolution, under-parameterized",
        ("A", "B=C"): "free evolution, balanced",
        ("B=C",): "over-parameterized (free evolution at B, NTK-like at C)",
        ("B=C", "D=E"): "mean-field, rich",
        ("D=E",): "small init, rich",
        ("A", "D=E"): "under-parameterized, rich",
    }
    order = ["A", "B=C", "D=E", "P"]
    faces = [
        face
        for size in (1, 2, 3)
        for face in itertools.combinations(order, size)
        if _exposing_alpha(
            [vectors[g] for g in face], [vectors[g] for g in order if g not in face]
        )
        is not None
    ]
    rows = []
    for face in faces:
        equalities = [
            _sub(vectors[a], vectors[b])
            for a, b in zip(face[:-1], face[1:], strict=True)
        ]
        inequalities = [
            _sub(vectors[face[0]], vectors[other])
            for other in order
            if other not in face
        ]
        conditions = [ScalingCondition.from_ratio(e, None) for e in equalities]
        kept_vectors: list[tuple] = []
        for vector in inequalities:
            if _redundant(vector, kept_vectors, equalities):
                continue
            conditions.append(ScalingCondition.from_ratio(vector, True))
            kept_vectors.append(vector)
        exponents = min((vectors[g] for g in face), key=_T_preference)
        a, b, c = (sympy.Rational(x.numerator, x.denominator) for x in exponents)
        rows.append(
            RegimeRow(
                face="-".join(face),
                vertices=tuple(v for g in face for v in members[g]),
                conditions=tuple(conditions),
                T=p**a * H**b * sigma**c,
                T_exponents=exponents,
                regime=names.get(face, "new in odd nu (gain of R copies), rich"),
            )
        )
    return tuple(rows)
