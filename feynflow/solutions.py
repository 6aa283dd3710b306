"""Closed forms of the expected loss, derived from the exact coefficients.

Each derivation enumerates the leading coefficients of ``E[L(t)]`` in a
regime, finds a recurrence for them with :func:`guess_recurrence`, turns it
into a first-order PDE for the generating function, solves that PDE by
characteristics and compares the series of the result with the enumerated
coefficients (SPEC sections 4 and 5).  The gradient-ascent predictions of the
symmetric ``nu = 4`` model are evaluated numerically.

Limitations: the free-evolution derivations need the enumeration up to order
4 at least (a first-order recurrence in one index has four unknowns and needs
a spare equation), and the core reaches order 5 of the free ``nu = 3, 4``
models in tens of seconds to many minutes, so these recurrences are found and
checked on five or six orders only.  SYM with odd ``nu`` is derived only at
point A (from data; the Pareto theorem does not cover it).  The segment A–B
is derived for SYM even ``nu >= 4`` only.  In the NTK case the coefficients
give the loss rate ``2 nu eta`` for ``T = H sigma^(2 nu - 2) / eta``, i.e.
``f(t) = F + e^(-nu eta t) (f(0) - F)``; SPEC 5.2's ``(1 - e^(-eta t)) F``
holds only with its ``eta`` read as ``nu eta``.

References
----------
.. [1] D. Yarotsky, E. Golikov, Y. Gusev, "Gradient Flow Through Diagram
   Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
   arXiv:2602.04548.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import numpy as np
import sympy
from scipy.integrate import solve_ivp
from scipy.special import erfcx, roots_laguerre

from feynflow.errors import ParameterError
from feynflow.summation import (
    CharacteristicSolution,
    FirstOrderPDE,
    Recurrence,
    guess_recurrence,
    solve_by_characteristics,
    taylor_coefficients,
)
from feynflow.symbols import POLY_GENS, H, T, p, sigma, t

__all__ = [
    "CASES",
    "Derivation",
    "SeriesCheck",
    "AscentPrediction",
    "check_case",
    "derive",
    "derive_free",
    "derive_nu2",
    "derive_ntk",
    "ntk_kernel_moments",
    "hadamard_by_residues",
    "narayana_generating_function",
    "theory_loss",
    "ascent_F",
    "ascent_threshold",
    "predict_ascent",
]

logger = logging.getLogger(__name__)

#: Cases with a derivation, as named on the command line.
CASES = ("free-under", "free-over", "free-general", "nu2", "ntk")

#: Orders enumerated by default (the free cases are the expensive ones).
DEFAULT_ORDERS = {
    "free-under": 4,
    "free-over": 4,
    "free-general": 4,
    "nu2": 8,
    "ntk": 4,
}

_x, _y, _z, _w = sympy.symbols("x y z w")

Monomial = tuple[int, int, int]


@dataclass(frozen=True)
class SeriesCheck:
    """Comparison of a closed form's ``t``-series with enumerated coefficients.

    Attributes
    ----------
    orders : int
        Highest order ``s`` compared (orders ``0..orders`` are compared).
    agrees : bool
        Whether every compared order matched exactly.
    mismatches : tuple of int
        The orders that did not match.
    """

    orders: int
    agrees: bool
    mismatches: tuple[int, ...] = ()


@dataclass
class Derivation:
    """A closed form of ``E[L(t)]`` together with the steps that produced it.

    Attributes
    ----------
    case : str
        One of :data:`CASES`.
    nu : int
        Tensor order.
    symmetric : bool
        SYM (True) or ASYM (False).
    loss : sympy.Expr
        ``E[L(t)]`` in the leading order of the regime, in ``t, T, p, H,
        sigma``.
    recurrence : Recurrence
        The recurrence found from the normalised leading coefficients.
    pde : FirstOrderPDE
        The equation of their generating function.
    characteristics : CharacteristicSolution
        Its solution by characteristics.
    initial_data : sympy.Expr
        The generating function on ``x = 0``, read off the data.
    series_check : SeriesCheck
        The ``t``-series of ``loss`` against the enumerated coefficients.
    substitution : dict
        Generating-function variable to its value in ``t, T, p, H, sigma``.
    data : dict
        The normalised coefficients the recurrence was found from.
    steps : list of str
        The derivation in words, one line per step.
    extra : dict
        Further results of the case (e.g. the Hadamard product of SYM
        ``nu = 2``, the kernel moments of the NTK case).
    """

    case: str
    nu: int
    symmetric: bool
    loss: sympy.Expr
    recurrence: Recurrence
    pde: FirstOrderPDE
    characteristics: CharacteristicSolution
    initial_data: sympy.Expr
    series_check: SeriesCheck
    substitution: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def scenario(self) -> str:
        """``"sym"`` or ``"asym"``."""
        return "sym" if self.symmetric else "asym"

    def to_dict(self) -> dict:
        """The JSON shape of ``feynflow solve`` (all values are strings or ints)."""
        return {
            "case": self.case,
            "nu": self.nu,
            "scenario": self.scenario,
            "loss": sympy.sstr(self.loss),
            "recurrence": str(self.recurrence),
            "pde": str(self.pde),
            "series_check": {
                "orders": self.series_check.orders,
                "agrees": self.series_check.agrees,
            },
        }


# --------------------------------------------------------------------------
# Boundary checks.


def check_case(case: str, nu: int, symmetric: bool) -> None:
    """Refuse a case the theory does not cover, with a one-line reason.

    Raises
    ------
    ParameterError
        For an unknown case or an unsupported combination.

    Examples
    --------
    >>> check_case("nu2", 2, True)
    >>> check_case("ntk", 3, True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    feynflow.errors.ParameterError: case 'ntk' needs --asym: only ASYM has ...
    """
    cases = ", ".join(CASES)
    if case not in CASES:
        raise ParameterError(f"unknown case {case!r}; the cases are {cases}")
    if not isinstance(nu, int) or isinstance(nu, bool) or nu < 2:
        raise ParameterError(f"nu={nu!r} is not allowed; must be an integer >= 2")
    if case == "free-general" and not (symmetric and nu % 2 == 0 and nu >= 4):
        raise ParameterError(
            f"case 'free-general' needs --sym and even nu >= 4 (got nu={nu}, "
            f"{'sym' if symmetric else 'asym'}): its recurrence is false for "
            f"nu = 2 and unproven otherwise (cases: {cases})"
        )
    if case == "free-over" and symmetric and nu % 2:
        raise ParameterError(
            f"case 'free-over' with --sym needs even nu (got nu={nu}): the "
            f"Pareto theorem does not cover SYM odd nu (cases: {cases})"
        )
    if case == "nu2" and not (symmetric and nu == 2):
        raise ParameterError(
            f"case 'nu2' is the SYM nu = 2 solution; use --nu 2 --sym (got "
            f"nu={nu}, {'sym' if symmetric else 'asym'}) (cases: {cases})"
        )
    if case == "ntk" and symmetric:
        raise ParameterError(
            f"case 'ntk' needs --asym: only ASYM has an NTK face (SYM even nu "
            f"has none, SYM odd nu is not covered) (cases: {cases})"
        )


def _check_order(order: int, least: int) -> int:
    if not isinstance(order, int) or isinstance(order, bool) or order < least:
        raise ParameterError(
            f"order={order!r} is not allowed; need an integer >= {least} for "
            "the recurrence to be determined with a spare equation"
        )
    return order


# --------------------------------------------------------------------------
# Shared steps.


def _terms(poly: sympy.Poly) -> dict[Monomial, Fraction]:
    """Exponents ``(q, n, 2l)`` of ``p, H, sigma`` to exact coefficient."""
    if tuple(poly.gens) != POLY_GENS:
        poly = sympy.Poly(poly.as_expr(), *POLY_GENS)
    return {m: Fraction(int(c.p), int(c.q)) for m, c in poly.terms() if c != 0}


def _monomial(exponents: Sequence[int]) -> sympy.Expr:
    return sympy.Mul(*(g**e for g, e in zip(POLY_GENS, exponents, strict=True)))


def _ratio(upper: Monomial, lower: Monomial) -> Monomial:
    return tuple(a - b for a, b in zip(upper, lower, strict=True))


def _geometric_ratio(monomials: Sequence[Monomial], what: str) -> Monomial:
    """The step ``r`` with ``monomials[s] = monomials[0] * r^s``, checked."""
    if len(monomials) < 2:
        raise ParameterError(f"need two orders to find the scale of {what}")
    step = _ratio(monomials[1], monomials[0])
    for s, m in enumerate(monomials):
        expected = tuple(a + s * b for a, b in zip(monomials[0], step, strict=True))
        if m != expected:
            raise ParameterError(
                f"the {what} terms are not a geometric progression at order {s}: "
                f"{_monomial(m)} instead of {_monomial(expected)}"
            )
    return step


def _solve_sequence(
    values: Sequence[Fraction], min_excess: int
) -> tuple[Recurrence, FirstOrderPDE, CharacteristicSolution]:
    """Recurrence, PDE and its solution for a one-index sequence with c_0 = 1."""
    data = {(s,): v for s, v in enumerate(values)}
    recurrence = guess_recurrence(
        data,
        indices=(sympy.Symbol("s", integer=True),),
        min_excess=min_excess,
        forward=0,
    )
    check = recurrence.check(data)
    if not check.agrees:
        raise ParameterError(f"guessed recurrence fails at {check.failures}")
    pde = recurrence.to_first_order_pde((_x,))
    solution = solve_by_characteristics(pde, sympy.Rational(values[0]))
    if solution.closed_form is None or not solution.verified:
        raise ParameterError(f"no verified closed form: {solution.reason}")
    return recurrence, pde, solution


def _compare_series(
    loss: sympy.Expr, expected: Sequence[sympy.Expr], order: int
) -> SeriesCheck:
    """Compare ``s! T^s [t^s] loss`` with ``expected[s]`` for ``s <= order``."""
    coefficients = taylor_coefficients(loss, t, order)
    mismatches = []
    for s in range(order + 1):
        derived = sympy.expand(coefficients[s] * math.factorial(s) * T**s)
        if sympy.expand(derived - expected[s]) != 0:
            mismatches.append(s)
    if mismatches:
        logger.warning("series check fails at orders %s", mismatches)
    return SeriesCheck(order, not mismatches, tuple(mismatches))


def _loss_coefficients(
    nu, order, symmetric, target, time_limit, progress=None, cache=None
):
    from feynflow.expansion import loss_coefficients

    return loss_coefficients(
        nu,
        order,
        symmetric=symmetric,
        target=target,
        leading=True,
        time_limit=time_limit,
        progress=progress,
        cache=cache,
    )


# --------------------------------------------------------------------------
# Free evolution.


def _vertex_coefficients(nu, order, symmetric, face, time_limit, progress, cache):
    """Free-evolution terms of ``Y_0..Y_order`` at point A or point B.

    Point A is the Pareto term with the fewest H-nodes, which is the one of
    most p-nodes (and, among those, most H-nodes); point B the one with the
    most H-nodes (and most p-nodes).  Both are found as the terms leading
    under a lexicographic scaling: ``D^{*(s+1)}`` has ``s + 2`` H-nodes and
    fewer than ``nu (s + 1) + 1`` p-nodes, so the weights below never let
    the second exponent outweigh the first.
    """
    from feynflow.expansion import leading_coefficients

    lexicographic = (order + 3, 1) if face == "under" else (1, nu * (order + 1) + 1)
    alpha = (*lexicographic, 0)
    return leading_coefficients(
        nu,
        order,
        alpha,
        symmetric=symmetric,
        target="zero",
        time_limit=time_limit,
        progress=progress,
        cache=cache,
    )


def derive_free(
    nu: int,
    symmetric: bool,
    face: str,
    *,
    order: int | None = None,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache=None,
) -> Derivation:
    """Derive the free-evolution loss at point A, point B or on the segment A–B.

    Free evolution is the zero target, ``Y_s = (-1)^s E[D^{*(s+1)}] / 2^{s+1}``.
    Point A (``face="under"``) keeps the Pareto term of ``Y_s`` with one
    H-node, point B (``"over"``) the one with the most H-nodes, and the
    segment (``"general"``, SYM even ``nu >= 4``) all Pareto terms, whose
    ratio of consecutive H-node counts is ``H / p^{nu/2}``.

    Parameters
    ----------
    nu : int
        Tensor order.
    symmetric : bool
        SYM or ASYM.
    face : {"under", "over", "general"}
        Which face of the Pareto polygon.
    order : int, optional
        Highest ``s`` enumerated (default 4; at least 4, so that the
        recurrence has a spare equation).
    time_limit : float, optional
        Seconds allowed to the enumeration.
    progress : callable, optional
        Called as ``progress(s, order)`` after each enumerated order.
    cache : bool, path or CoefficientCache, optional
        Where enumerated coefficients are kept, as for
        `feynflow.loss_coefficients` (default: none).

    Returns
    -------
    Derivation
        With ``loss`` the closed form and every step.

    Raises
    ------
    ParameterError
        For unsupported combinations, or when the data do not fit.

    Examples
    --------
    >>> from feynflow.symbols import p, H, sigma, t, T
    >>> d = derive_free(3, False, "under")
    >>> d.loss
    H*p**3*sigma**6/(2*(1 + 4*p**2*sigma**4*t/T)**(3/2))
    >>> d.series_check.agrees
    True

    Notes
    -----
    At one vertex the normalised coefficients obey a first-order recurrence
    with linear coefficients (four unknowns); with ``order = 4`` it is
    accepted on one spare equation (three with ``order = 6``), and the
    series check and the comparison with SPEC's formulas are what make it
    trustworthy.  SYM with odd ``nu`` is accepted at point A only, where the
    data give the SYM even formula.

    At a vertex only the terms of that vertex are enumerated (see
    `feynflow.expansion.leading_coefficients`): ``order = 6`` takes seconds
    to tens of seconds at ``nu = 3`` and minutes for ASYM ``nu = 4``; the
    guess and the PDE take well under a second.

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov, Y. Gusev, "Gradient Flow Through Diagram
       Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
       arXiv:2602.04548, section on free evolution.
    """
    faces = {"under": "free-under", "over": "free-over", "general": "free-general"}
    if face not in faces:
        raise ParameterError(f"face={face!r} is not allowed; use under, over, general")
    case = faces[face]
    check_case(case, nu, symmetric)
    order = _check_order(order if order is not None else DEFAULT_ORDERS[case], 4)
    if face == "general":
        Y = _loss_coefficients(
            nu, order, symmetric, "zero", time_limit, progress, cache
        )
        return _derive_free_segment(nu, Y, order)
    Y = _vertex_coefficients(nu, order, symmetric, face, time_limit, progress, cache)

    picked = []
    for s, poly in enumerate(Y):
        terms = _terms(poly)
        if not terms:
            raise ParameterError(f"Y_{s} has no leading term")
        chooser = min if face == "under" else max
        n_pick = chooser(m[1] for m in terms)
        candidates = [m for m in terms if m[1] == n_pick]
        if len(candidates) != 1:
            raise ParameterError(
                f"Y_{s} has {len(candidates)} Pareto terms with {n_pick} H-nodes"
            )
        picked.append((candidates[0], terms[candidates[0]]))
    monomials = [m for m, _ in picked]
    point = "A" if face == "under" else "B"
    step = _geometric_ratio(monomials, f"point {point}")
    a0 = picked[0][1]
    values = [c / (a0 * math.factorial(s)) for s, (_, c) in enumerate(picked)]
    recurrence, pde, solution = _solve_sequence(values, min_excess=1)

    scale = _monomial(step) * t / T
    prefactor = sympy.Rational(a0.numerator, a0.denominator) * _monomial(monomials[0])
    loss = prefactor * solution.closed_form.subs(_x, scale)
    expected = [
        sympy.Rational(c.numerator, c.denominator) * _monomial(m) for m, c in picked
    ]
    series = _compare_series(loss, expected, order)
    steps = [
        f"enumerated Y_0..Y_{order} (zero target, terms at point {point})",
        f"point {point}: Y_s ~ a_s * {_monomial(monomials[0])} * ({_monomial(step)})^s",
        f"c_s = a_s / (a_0 s!) = {[str(v) for v in values]}",
        f"recurrence found: {recurrence}",
        f"PDE: {pde}",
        f"characteristics: h(x) = {solution.closed_form}",
        f"x = {scale}, E[L(t)] = {loss}",
        f"series check to order {order}: {'agrees' if series.agrees else 'FAILS'}",
    ]
    return Derivation(
        case,
        nu,
        symmetric,
        loss,
        recurrence,
        pde,
        solution,
        solution.initial_data,
        series,
        {_x: scale},
        {(s,): v for s, v in enumerate(values)},
        steps,
    )


def _solve_two_index(data: dict, variables: tuple, min_excess: int):
    """Guess a recurrence for ``data[(s, j)]``, build its PDE and solve it.

    The generating function is ``sum data[(s, j)] x^s y^j`` in ``variables``
    ``(x, y)``; its initial data are the ``s = 0`` values.  Returns the
    recurrence, the PDE and the verified solution by characteristics.
    """
    indices = (sympy.Symbol("s", integer=True), sympy.Symbol("j", integer=True))
    recurrence = guess_recurrence(
        data, indices=indices, min_excess=min_excess, forward=0
    )
    check = recurrence.check(data)
    if not check.agrees:
        raise ParameterError(f"guessed recurrence fails at {check.failures}")
    pde = recurrence.to_first_order_pde(variables)
    second = variables[1]
    initial = sum(
        (
            sympy.Rational(v.numerator, v.denominator) * second**j
            for (s, j), v in data.items()
            if s == 0
        ),
        sympy.Integer(0),
    )
    solution = solve_by_characteristics(pde, initial)
    if solution.closed_form is None or not solution.verified:
        raise ParameterError(f"no verified closed form: {solution.reason}")
    return recurrence, pde, solution


def _derive_free_segment(nu: int, Y: list, order: int) -> Derivation:
    all_terms = [_terms(poly) for poly in Y]
    corner = []
    for terms in all_terms:
        lowest = min(m[1] for m in terms)
        corner.append(next(m for m in terms if m[1] == lowest))
    step = _geometric_ratio(corner, "point A")
    along = _ratio(
        max(all_terms[0], key=lambda m: m[1]), min(all_terms[0], key=lambda m: m[1])
    )
    if along[1] != 1:
        raise ParameterError(f"Y_0 does not span one H-node step: {along}")
    a0 = all_terms[0][corner[0]]
    data: dict[tuple[int, int], Fraction] = {}
    for s, terms in enumerate(all_terms):
        for j in range(order + 2):
            expected = tuple(
                c + s * d + j * e
                for c, d, e in zip(corner[0], step, along, strict=True)
            )
            data[(s, j)] = terms.pop(expected, Fraction(0)) / (a0 * math.factorial(s))
        if terms:
            raise ParameterError(
                f"Y_{s} has Pareto terms off the segment: "
                f"{[_monomial(m) for m in terms]}"
            )
    recurrence, pde, solution = _solve_two_index(data, (_x, _y), min_excess=2)
    substitution = {_x: _monomial(step) * t / T, _y: _monomial(along)}
    prefactor = sympy.Rational(a0.numerator, a0.denominator) * _monomial(corner[0])
    loss = prefactor * solution.closed_form.subs(substitution, simultaneous=True)
    loss = sympy.powsimp(sympy.factor_terms(loss))
    expected = [poly.as_expr() for poly in Y]
    series = _compare_series(loss, expected, order)
    steps = [
        f"enumerated Y_0..Y_{order} (zero target, SYM nu={nu}, Pareto terms)",
        f"Y_s = a * {_monomial(corner[0])} * ({_monomial(step)})^s * "
        f"sum_j c_(s,j) s! ({_monomial(along)})^j",
        f"recurrence found: {recurrence}",
        f"PDE: {pde}",
        f"initial data h(0, y) = {solution.initial_data}",
        f"characteristics: h(x, y) = {solution.closed_form}",
        f"E[L(t)] = {loss}",
        f"series check to order {order}: {'agrees' if series.agrees else 'FAILS'}",
    ]
    return Derivation(
        "free-general",
        nu,
        True,
        loss,
        recurrence,
        pde,
        solution,
        solution.initial_data,
        series,
        substitution,
        data,
        steps,
    )


# --------------------------------------------------------------------------
# SYM nu = 2.


def narayana_generating_function(z: sympy.Expr, y: sympy.Expr) -> sympy.Expr:
    """``h(z, y) = sum_{m >= 1} z^(m-1) sum_n N(m, n) y^n`` in closed form.

    ``N(m, n) = binom(m, n) binom(m, n-1) / m`` counts the minimal
    contractions (trees) of a cycle of ``2m`` edges with ``n`` H-nodes.

    Examples
    --------
    >>> import sympy
    >>> z, y = sympy.symbols("z y")
    >>> sympy.series(narayana_generating_function(z, y), z, 0, 3).expand()
    y + y*z + y*z**2 + y**2*z + 3*y**2*z**2 + y**3*z**2 + O(z**3)
    """
    root = sympy.sqrt(1 - 2 * z * (y + 1) + z**2 * (y - 1) ** 2)
    return (1 - z * (y + 1) - root) / (2 * z**2)


def hadamard_by_residues(
    rational: sympy.Expr, zeta: sympy.Symbol, series: sympy.Expr, z: sympy.Symbol
) -> sympy.Expr:
    """Hadamard product in ``z`` of a rational function and a power series.

    For ``R(zeta) = sum R_n zeta^n`` rational and proper, and
    ``g(z) = sum g_n z^n`` analytic at 0,
    ``(R . g)(z) = sum R_n g_n z^n = (1/2 pi i) oint R(zeta) g(z/zeta) dzeta/zeta``
    over a circle where both series converge; closing the contour outwards,
    it is minus the sum of the residues at the poles of ``R``.

    Parameters
    ----------
    rational : sympy.Expr
        ``R``, rational in ``zeta`` (coefficients may involve other symbols)
        and vanishing at infinity.
    zeta : sympy.Symbol
        Its variable.
    series : sympy.Expr
        ``g`` as an expression in ``z``.
    z : sympy.Symbol
        The variable of the product.

    Returns
    -------
    sympy.Expr
        ``(R . g)(z)``.

    Examples
    --------
    >>> import sympy
    >>> zeta, z, a = sympy.symbols("zeta z a")
    >>> hadamard_by_residues(1 / (1 - a * zeta), zeta, 1 / (1 - z), z)
    1/(-a*z + 1)
    """
    rational = sympy.together(rational)
    numerator, denominator = sympy.fraction(rational)
    num_poly = sympy.Poly(numerator, zeta)
    den_poly = sympy.Poly(denominator, zeta)
    if num_poly.degree() >= den_poly.degree():
        raise ParameterError(f"{rational} is not proper in {zeta}")
    poles = sympy.roots(den_poly)
    if sum(poles.values()) != den_poly.degree():
        raise ParameterError(f"could not find the poles of {rational}")
    total = sympy.Integer(0)
    for pole, multiplicity in poles.items():
        regular = sympy.cancel((zeta - pole) ** multiplicity * rational)
        piece = regular * series.subs(z, z / zeta) / zeta
        derivative = sympy.diff(piece, zeta, multiplicity - 1)
        residue = derivative.subs(zeta, pole) / math.factorial(multiplicity - 1)
        total += residue
    return -total


def _cycle_length(diagram) -> int:
    """Half the number of edges of a cycle diagram (refuses anything else)."""
    edges = diagram.edges
    degrees_h: dict[int, int] = {}
    degrees_p: dict[int, int] = {}
    for h, i, _ in edges:
        degrees_h[h] = degrees_h.get(h, 0) + 1
        degrees_p[i] = degrees_p.get(i, 0) + 1
    m = len(edges) // 2
    is_cycle = (
        diagram.n_h == m
        and diagram.n_p == m
        and all(d == 2 for d in (*degrees_h.values(), *degrees_p.values()))
        and diagram.is_connected()
    )
    if not is_cycle:
        raise ParameterError(f"{diagram} is not a single cycle")
    return m


def derive_nu2(
    *,
    order: int | None = None,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache=None,
) -> Derivation:
    """Derive the loss of the SYM ``nu = 2`` model on the whole triangle A–B–E.

    Steps (SPEC section 5.3): the merge powers ``A^{*(s+1)}`` are sums of
    cycles, ``sum_{s_D} M_{s, s_D} (cycle of 2(s_D + 1) edges)``; a recurrence
    for ``M_{s, s_D} / s!`` is found from them and gives a first-order PDE
    for ``f(x, z) = sum M_{s, s_D} x^s z^{s_D} / s!``, solved by
    characteristics from ``f(0, z)``.  The leading Wick averages of the
    cycles are Narayana numbers (checked against ``wick_expectation``, and
    their recurrence against the Narayana generating function ``h``), and
    ``Psi`` is the Hadamard product of ``f`` and ``h`` computed by residues:
    ``E[L(t)] ~ p/2 + p^2 sigma^2 Psi(-t/T, H/p, p sigma^2)``.

    Parameters
    ----------
    order : int, optional
        Highest ``s`` enumerated and compared (default 8, at least 4).
    time_limit : float, optional
        Seconds allowed to the enumeration.
    progress : callable, optional
        Called as ``progress(s, order)`` after each enumerated order.

    Returns
    -------
    Derivation
        ``extra`` holds ``"f"`` (in ``x, z``), ``"h"`` (in ``z, y``),
        ``"Psi"`` (in ``x, y, z``) and ``"narayana_recurrence"``.

    Examples
    --------
    >>> d = derive_nu2(order=5)
    >>> print(d.recurrence)
    (s)*C[s, j] + (4*(j + 1))*C[s - 1, j] + (-4*j)*C[s - 1, j - 1] = 0
    >>> d.series_check.agrees
    True

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov, Y. Gusev, "Gradient Flow Through Diagram
       Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
       arXiv:2602.04548, SYM nu = 2 solution.
    """
    from feynflow.expansion import loss_diagrams
    from feynflow.wick import wick_expectation

    order = _check_order(order if order is not None else DEFAULT_ORDERS["nu2"], 4)

    # M_{s, s_D}, and the diagrams on which Narayana numbers are checked.
    M: dict[tuple[int, int], Fraction] = {}
    cycles = {}
    for s in range(order + 1):
        for diagram, coefficient in loss_diagrams(2, s, symmetric=True).items():
            m = _cycle_length(diagram)
            M[(s, m - 1)] = M.get((s, m - 1), Fraction(0)) + coefficient
            cycles.setdefault(m, diagram)
    data = {
        (s, j): M.get((s, j), Fraction(0)) / math.factorial(s)
        for s in range(order + 1)
        for j in range(order + 2)
    }
    recurrence, pde, solution = _solve_two_index(data, (_x, _z), min_excess=4)
    f = solution.closed_form

    # Narayana numbers: leading Wick terms of each cycle, p^(m+1-n) H^n.
    narayana: dict[tuple[int, int], Fraction] = {}
    for m, diagram in sorted(cycles.items()):
        terms = _terms(wick_expectation(diagram))
        for (q, n, _two_l), c in terms.items():
            if q + n == m + 1:
                narayana[(m - 1, n)] = c
        for n in range(m + 2):
            narayana.setdefault((m - 1, n), Fraction(0))
    narayana_indices = (
        sympy.Symbol("j", integer=True),
        sympy.Symbol("n", integer=True),
    )
    narayana_recurrence = guess_recurrence(narayana, indices=narayana_indices)
    h = narayana_generating_function(_w, _y)
    if sympy.simplify(narayana_recurrence.apply(h, (_w, _y))) != 0:
        raise ParameterError("the Narayana generating function fails its recurrence")
    for j, coefficient in enumerate(taylor_coefficients(h, _w, max(cycles) - 1)):
        poly = sympy.Poly(coefficient, _y)
        for n in range(j + 3):
            if poly.coeff_monomial(_y**n) != narayana.get((j, n), 0):
                raise ParameterError(f"Narayana number ({j + 1}, {n}) disagrees")

    # Hadamard product in z of f(x, .) and h(., y), by residues.
    # f is rational in exp(4x); a plain symbol for it keeps the residue
    # computation algebraic.  The series h is kept abstract through the
    # residue, which then reads as SPEC's combination of h and h'.
    zeta = sympy.Symbol("zeta")
    growth = sympy.Symbol("E", positive=True)
    f_algebraic = f.subs(sympy.exp(4 * _x), growth)
    if _x in f_algebraic.free_symbols:
        raise ParameterError(f"f = {f} is not rational in exp(4x)")
    series = sympy.Function("h")
    Psi_abstract = hadamard_by_residues(
        f_algebraic.subs(_z, zeta), zeta, series(_z), _z
    )
    Psi_abstract = sympy.simplify(sympy.simplify(Psi_abstract).doit())
    Psi_abstract = Psi_abstract.subs(growth, sympy.exp(4 * _x))
    narayana_in_w = sympy.Lambda(_w, h)
    Psi = Psi_abstract.replace(series, narayana_in_w).doit()
    loss = p / 2 + p**2 * sigma**2 * Psi.subs(
        {_x: -t / T, _y: H / p, _z: p * sigma**2}, simultaneous=True
    )
    Y = _loss_coefficients(2, order, True, "identity", time_limit, progress, cache)
    series = _compare_series(loss, [poly.as_expr() for poly in Y], order)
    steps = [
        f"A^(*(s+1)) for s <= {order}: single cycles; M_(s, s_D) read off",
        f"recurrence found for M/s!: {recurrence}",
        f"PDE: {pde}",
        f"initial data f(0, z) = {solution.initial_data}",
        f"characteristics: f(x, z) = {f}",
        f"leading Wick terms of cycles = Narayana numbers; recurrence "
        f"{narayana_recurrence} holds for h",
        f"Hadamard product by residues: Psi(x, y, z) = {Psi_abstract}, with h "
        "the Narayana generating function",
        "E[L(t)] = p/2 + p^2 sigma^2 Psi(-t/T, H/p, p sigma^2)",
        f"series check to order {order}: {'agrees' if series.agrees else 'FAILS'}",
    ]
    extra = {
        "Psi_abstract": Psi_abstract,
        "f": f,
        "h": h.subs(_w, _z),
        "Psi": Psi,
        "narayana_recurrence": narayana_recurrence,
    }
    return Derivation(
        "nu2",
        2,
        True,
        loss,
        recurrence,
        pde,
        solution,
        solution.initial_data,
        series,
        {_x: -t / T, _y: H / p, _z: p * sigma**2},
        data,
        steps,
        extra,
    )


# --------------------------------------------------------------------------
# ASYM NTK.


def ntk_kernel_moments(nu: int) -> dict[str, sympy.Expr]:
    """Mean and variance of the initial tangent kernel on the diagonal, ASYM.

    ``Theta[i, j] = sum_u (df_i/du)(df_j/du)``; on the diagonal it is
    ``sum_k sum_m prod_{m' != m} u[m'][k][i_m']^2``, a sum of ``H``
    independent terms.  Its mean is ``nu H sigma^(2 nu - 2)``, so with
    ``T = H sigma^(2 nu - 2) / eta`` the kernel divided by ``T`` has mean
    ``eta nu`` on the diagonal, zero off it, and relative fluctuations
    ``O(H^(-1/2))``.

    Returns
    -------
    dict
        ``"mean_diagonal"``, ``"variance_diagonal"``, ``"mean_off_diagonal"``
        and ``"relative_fluctuation"`` (standard deviation over mean), as
        sympy expressions in ``H`` and ``sigma``.

    Examples
    --------
    >>> ntk_kernel_moments(2)["mean_diagonal"]
    2*H*sigma**2
    """
    if not isinstance(nu, int) or nu < 2:
        raise ParameterError(f"nu={nu!r} is not allowed; must be an integer >= 2")
    # Squares of distinct weights are independent with E = sigma^2,
    # E[(u^2)^2] = 3 sigma^4; expand the square of the sum term by term.
    squares = sympy.symbols(f"X0:{nu}", positive=True)
    term = sum(
        (sympy.Mul(*(squares[k] for k in range(nu) if k != m)) for m in range(nu)),
        sympy.Integer(0),
    )

    def average(expr):
        poly = sympy.Poly(sympy.expand(expr), *squares)
        total = sympy.Integer(0)
        for exponents, c in poly.terms():
            factor = sympy.Integer(1)
            for e in exponents:
                factor *= {0: 1, 1: sigma**2, 2: 3 * sigma**4}[e]
            total += c * factor
        return total

    mean_term = average(term)
    variance_term = sympy.expand(average(term**2) - mean_term**2)
    mean = H * mean_term
    variance = H * variance_term
    return {
        "mean_diagonal": mean,
        "variance_diagonal": variance,
        "mean_off_diagonal": sympy.Integer(0),
        "relative_fluctuation": sympy.simplify(sympy.sqrt(variance) / mean),
    }


def derive_ntk(
    nu: int,
    *,
    order: int | None = None,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache=None,
) -> Derivation:
    """Derive the ASYM loss on the NTK face B–C of the Pareto polygon.

    The face is selected by the scaling exponents ``H ~ a^nu``,
    ``p^(nu-1) H sigma^(2 nu) ~ 1`` (inside the B–C cone): the terms of
    ``Y_s`` maximising the growth ``a^(q + nu n + 2 l alpha_sigma) / T^s`` at
    natural ``T = H sigma^(2 nu - 2)`` are those of points B and C.  Both
    families are normalised, a recurrence is found for each (the same
    one), and the PDE is solved by characteristics.

    Parameters
    ----------
    nu : int
        Tensor order (ASYM).
    order : int, optional
        Highest ``s`` enumerated (default 4, at least 4).
    time_limit : float, optional
        Seconds allowed to the enumeration.
    progress : callable, optional
        Called as ``progress(s, order)`` after each enumerated order.

    Returns
    -------
    Derivation
        ``extra["kernel"]`` holds :func:`ntk_kernel_moments`.

    Examples
    --------
    >>> d = derive_ntk(2)
    >>> d.loss
    (H*p**2*sigma**4/2 + p/2)*exp(-4*H*sigma**2*t/T)

    Notes
    -----
    With ``T = H sigma^(2 nu - 2) / eta`` the model relaxes as
    ``f(t) = F + e^(-eta nu t) (f(0) - F)`` and the loss as
    ``e^(-2 eta nu t)``: the kernel limit is ``eta nu`` times the identity.
    SPEC 5.2 writes ``(1 - e^(-eta t)) F``, which matches only with ``eta``
    standing for ``eta nu``; the coefficients decide for the rate ``nu eta``.
    """
    check_case("ntk", nu, False)
    order = _check_order(order if order is not None else DEFAULT_ORDERS["ntk"], 4)
    Y = _loss_coefficients(nu, order, False, "identity", time_limit, progress, cache)
    alpha_sigma = Fraction(-(2 * nu - 1), 2 * nu)
    natural = Fraction(nu) + (2 * nu - 2) * alpha_sigma

    families: dict[str, list[tuple[Monomial, Fraction]]] = {"B": [], "C": []}
    for s, poly in enumerate(Y):
        terms = _terms(poly)
        growth = {m: m[0] + nu * m[1] + m[2] * alpha_sigma - s * natural for m in terms}
        best = max(growth.values())
        face = sorted(m for m in terms if growth[m] == best)
        if len(face) != 2:
            raise ParameterError(f"Y_{s} has {len(face)} terms on the NTK face")
        # C carries one p-node (the target's), B carries nu of them.
        by_q = {m[0]: m for m in face}
        families["C"].append((by_q[1], terms[by_q[1]]))
        families["B"].append((by_q[nu], terms[by_q[nu]]))
    steps_B = _geometric_ratio([m for m, _ in families["B"]], "point B")
    steps_C = _geometric_ratio([m for m, _ in families["C"]], "point C")
    if steps_B != steps_C:
        raise ParameterError("points B and C scale differently")
    results = {}
    for name, family in families.items():
        a0 = family[0][1]
        values = [c / (a0 * math.factorial(s)) for s, (_, c) in enumerate(family)]
        results[name] = (a0, values, *_solve_sequence(values, min_excess=1))
    if results["B"][2].terms != results["C"][2].terms:
        raise ParameterError("points B and C follow different recurrences")
    _, values, recurrence, pde, solution = results["B"]
    scale = _monomial(steps_B) * t / T
    prefactor = sum(
        (
            sympy.Rational(results[n][0].numerator, results[n][0].denominator)
            * _monomial(families[n][0][0])
            for n in ("B", "C")
        ),
        sympy.Integer(0),
    )
    loss = prefactor * solution.closed_form.subs(_x, scale)
    expected = [
        sum(
            (
                sympy.Rational(c.numerator, c.denominator) * _monomial(m)
                for m, c in (families["B"][s], families["C"][s])
            ),
            sympy.Integer(0),
        )
        for s in range(order + 1)
    ]
    series = _compare_series(loss, expected, order)
    kernel = ntk_kernel_moments(nu)
    steps = [
        f"enumerated Y_0..Y_{order} (ASYM nu={nu}, identity target, Pareto terms)",
        "NTK face: terms of points B (nu p-nodes) and C (one p-node) of each Y_s",
        f"both scale as ({_monomial(steps_B)})^s; normalised: "
        f"{[str(v) for v in values]}",
        f"recurrence found (same for B and C): {recurrence}",
        f"PDE: {pde}",
        f"characteristics: h(x) = {solution.closed_form}",
        f"E[L(t)] = {loss}",
        f"kernel: E[Theta_ii] = {kernel['mean_diagonal']}, relative fluctuation "
        f"{kernel['relative_fluctuation']}",
        f"series check to order {order}: {'agrees' if series.agrees else 'FAILS'}",
    ]
    return Derivation(
        "ntk",
        nu,
        False,
        loss,
        recurrence,
        pde,
        solution,
        solution.initial_data,
        series,
        {_x: scale},
        {(s,): v for s, v in enumerate(values)},
        steps,
        {"kernel": kernel},
    )


def derive(
    case: str,
    *,
    nu: int,
    symmetric: bool,
    order: int | None = None,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache=None,
) -> Derivation:
    """Run the derivation of ``case`` (one of :data:`CASES`).

    Raises
    ------
    ParameterError
        For combinations the theory does not cover (see :func:`check_case`).
    """
    check_case(case, nu, symmetric)
    if case.startswith("free-"):
        return derive_free(
            nu,
            symmetric,
            case.removeprefix("free-"),
            order=order,
            time_limit=time_limit,
            progress=progress,
            cache=cache,
        )
    options = {"time_limit": time_limit, "progress": progress, "cache": cache}
    if case == "nu2":
        return derive_nu2(order=order, **options)
    return derive_ntk(nu, order=order, **options)


# A derivation takes seconds and a simulation compares with it at every
# report; keep the closed forms of this process in memory (never on disk).
@functools.lru_cache(maxsize=32)
def _derived_loss(case: str, nu: int, symmetric: bool) -> sympy.Expr:
    # The nu2 closed form does not depend on the order checked; 4 is quick.
    order = DEFAULT_ORDERS[case] if case != "nu2" else 4
    return derive(case, nu=nu, symmetric=symmetric, order=order).loss


def theory_loss(
    case: str,
    *,
    nu: int,
    symmetric: bool,
    p: float,
    H: float,
    sigma: float,
    T: float,
    t,
) -> np.ndarray:
    """Evaluate the derived closed form of ``case`` at numeric parameters.

    Parameters
    ----------
    case : str
        One of :data:`CASES`.
    nu, symmetric :
        The scenario.
    p, H, sigma, T : float
        Parameters of the model and of the flow.
    t : array_like
        Times.

    Returns
    -------
    numpy.ndarray
        ``E[L(t)]`` predicted by the closed form, same shape as ``t``.

    Raises
    ------
    ParameterError
        For an unsupported case (see :func:`check_case`) or a non-positive
        parameter.

    Examples
    --------
    >>> theory_loss("ntk", nu=2, symmetric=False, p=4, H=100, sigma=0.1, T=1.0,
    ...             t=[0.0])
    array([2.08])
    """
    # The parameters shadow the symbols p, H, sigma, T of this module.
    import feynflow.symbols as names

    check_case(case, nu, symmetric)
    loss = _derived_loss(case, nu, symmetric)
    values = {names.p: p, names.H: H, names.sigma: sigma, names.T: T}
    for name, value in values.items():
        if not value > 0:
            raise ParameterError(f"{name}={value} is not allowed; must be > 0")
    times = np.asarray(t, dtype=float)
    expression = loss.subs({k: sympy.Rational(v) for k, v in values.items()})
    if case == "nu2":
        # exp(4t/T) grows past double range and the sum cancels to
        # (p - H)/2, so evaluate with mpmath at enough digits.
        function = sympy.lambdify(names.t, expression, "mpmath")
        out = []
        for value in times.ravel():
            # The closed form is 0/0 at t = 0 (a triple zero); step off it.
            if abs(value) < 1e-15 * T:
                value = 1e-15 * T
            digits = 80 + int(abs(4 * value / T) / math.log(10)) * 2
            with mpmath.workdps(digits):
                out.append(float(mpmath.re(function(mpmath.mpf(value)))))
        return np.array(out).reshape(times.shape)
    function = sympy.lambdify(names.t, expression, "numpy")
    return np.broadcast_to(np.asarray(function(times), dtype=float), times.shape).copy()


# --------------------------------------------------------------------------
# SYM nu = 4, gradient ascent.


def ascent_F(a, *, method: str = "erfc", dps: int = 30) -> mpmath.mpf:
    """``F(a) = integral_0^inf exp(4 a u^2 - u) u du`` for ``a <= 0``, in mpmath.

    Parameters
    ----------
    a : real
        Argument, ``<= 0`` (the integral diverges for ``a > 0``).
    method : {"erfc", "integral"}
        The closed form
        ``-1/(8a) + (1/(32a)) sqrt(pi/(-a)) exp(-1/(16a)) erfc(1/(4 sqrt(-a)))``
        or numerical quadrature of the integral.
    dps : int
        Decimal digits of the computation.

    Returns
    -------
    mpmath.mpf

    Examples
    --------
    >>> float(ascent_F(0))
    1.0
    >>> abs(ascent_F(-0.5) - ascent_F(-0.5, method="integral")) < 1e-25
    True
    """
    if method not in ("erfc", "integral"):
        raise ParameterError(f"method={method!r} is not allowed; use erfc or integral")
    with mpmath.workdps(dps):
        a = mpmath.mpf(a)
        if a > 0:
            raise ParameterError(f"a={a} is not allowed; F(a) needs a <= 0")
        if method == "integral":
            return +mpmath.quad(
                lambda u: mpmath.exp(4 * a * u**2 - u) * u, [0, 1, 10, mpmath.inf]
            )
        if a == 0:
            return mpmath.mpf(1)
        # The two terms cancel to O(1) while each is O(1/|a|): add digits.
        extra = int(max(0, -mpmath.log10(-a))) + 5
        with mpmath.workdps(dps + extra):
            root = 1 / (4 * mpmath.sqrt(-a))
            value = -1 / (8 * a) + mpmath.sqrt(mpmath.pi / (-a)) / (32 * a) * (
                mpmath.exp(root**2) * mpmath.erfc(root)
            )
        return +value


_LAGUERRE = roots_laguerre(120)


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F(a)`` and ``F'(a) = 4 integral u^3 exp(4 a u^2 - u) du`` in floats.

    With ``b = -4 a``, ``I_k = integral u^k exp(-b u^2 - u) du`` satisfy
    ``I_0 = sqrt(pi/b) erfcx(1/(2 sqrt b)) / 2`` and ``2 b I_(k+1) = k I_(k-1)
    - I_k + [k = 0]``; the recursion is stable for ``b >= 1``.  For ``b < 1``
    the weight ``exp(-b u^2)`` is smooth on the scale of ``exp(-u)`` and
    Gauss–Laguerre quadrature is used instead.
    """
    a = np.atleast_1d(np.asarray(a, dtype=float))
    b = -4.0 * a
    F = np.empty_like(a)
    dF = np.empty_like(a)
    small = b < 1.0
    if small.any():
        nodes, weights = _LAGUERRE
        damp = np.exp(-np.outer(b[small], nodes**2))
        F[small] = damp @ (weights * nodes)
        dF[small] = 4.0 * (damp @ (weights * nodes**3))
    large = ~small
    if large.any():
        bl = b[large]
        i0 = 0.5 * np.sqrt(np.pi / bl) * erfcx(0.5 / np.sqrt(bl))
        i1 = (1.0 - i0) / (2 * bl)
        i2 = (i0 - i1) / (2 * bl)
        i3 = (2 * i1 - i2) / (2 * bl)
        F[large] = i1
        dF[large] = 4.0 * i3
    return F, dF


@functools.lru_cache(maxsize=1)
def _cube_integral() -> mpmath.mpf:
    """``integral_{-inf}^0 F(u)^3 du`` to 20 digits."""
    with mpmath.workdps(20):
        return mpmath.quad(
            lambda u: ascent_F(u, dps=20) ** 3, [-mpmath.inf, -10, -1, -0.1, 0]
        )


def ascent_threshold(theta: float) -> float:
    """The noise threshold ``rho*(theta) = (16 theta integral_{-inf}^0 F^3)^(-1)``.

    Examples
    --------
    >>> rho_star = ascent_threshold(1.0)
    >>> abs(ascent_threshold(2.0) - rho_star / 2) < 1e-12
    True
    """
    if not theta > 0:
        raise ParameterError(f"theta={theta} is not allowed; must be > 0")
    return float(1 / (16 * theta * _cube_integral()))


@dataclass
class AscentPrediction:
    """The predicted gradient ascent of SYM ``nu = 4`` (SPEC section 5.4).

    Attributes
    ----------
    rho, theta, rho_star : float
        ``p^3 sigma^4``, ``1 + 3 H/p^2`` and the threshold ``rho*(theta)``.
    regime : str
        ``"low-noise"`` (``rho < rho*``) or ``"high-noise"``.
    tau_crit : float or None
        The blow-up time ``t/T < 0`` in the high-noise regime.
    tau, loss : numpy.ndarray
        The predicted curve, ``tau`` from 0 decreasing.
    g : numpy.ndarray
        ``(E[L] - p/2) / p^2`` on the curve.
    """

    rho: float
    theta: float
    rho_star: float
    regime: str
    tau_crit: float | None
    tau: np.ndarray
    loss: np.ndarray
    g: np.ndarray

    def to_dict(self) -> dict:
        """The JSON shape of ``feynflow ascent``."""
        return {
            "rho": self.rho,
            "theta": self.theta,
            "rho_star": self.rho_star,
            "regime": self.regime,
            "tau_crit": self.tau_crit,
            "curve": {"tau": self.tau.tolist(), "loss": self.loss.tolist()},
        }


def predict_ascent(
    p: float,
    H: float,
    sigma: float,
    *,
    t_min: float | None = None,
    points: int = 200,
) -> AscentPrediction:
    """Predict ``E[L(t)]`` for ``t/T <= 0`` in the SYM ``nu = 4`` model.

    With ``v = sigma^2 psi`` as parameter, ``r = phi^(-2)`` obeys
    ``dr/dv = 16 theta rho F(v)^3`` and ``dtau/dv = sqrt(r) / sigma^2``, from
    ``r = 1``, ``tau = 0`` at ``v = 0``; then
    ``g = (y theta / 2)(p sigma^2 phi F(v))^4 - (y/8) p sigma^4 phi^2 F'(v)``
    and ``E[L] = p/2 + p^2 g``.  In the high-noise regime ``r`` reaches zero at
    a finite ``v*``: that is the blow-up at ``tau_crit``.

    Parameters
    ----------
    p, H, sigma : float
        Target size, rank and initial scale (positive).
    t_min : float, optional
        Most negative ``tau = t/T`` of the curve (default ``-4 / sigma^2``);
        in the high-noise regime the curve stops before ``tau_crit``.
    points : int
        Number of points of the curve.

    Returns
    -------
    AscentPrediction

    Examples
    --------
    >>> low = predict_ascent(64, 64, 0.01)
    >>> low.regime
    'low-noise'

    Notes
    -----
    ``F`` and ``F'`` are evaluated in double precision (see :func:`ascent_F`
    for the multiprecision reference); the ODE is integrated with DOP853 at
    relative tolerance ``1e-12``.
    """
    for name, value in (("p", p), ("H", H), ("sigma", sigma)):
        if not value > 0:
            raise ParameterError(f"{name}={value} is not allowed; must be > 0")
    if points < 10:
        raise ParameterError(f"points={points} is not allowed; must be >= 10")
    y = H / p**2
    theta = 1 + 3 * y
    rho = p**3 * sigma**4
    rho_star = ascent_threshold(theta)
    regime = "low-noise" if rho < rho_star else "high-noise"
    s2 = sigma**2
    if t_min is None:
        t_min = -4.0 / s2
    if not t_min < 0:
        raise ParameterError(f"t_min={t_min} is not allowed; must be < 0")
    gain = 16 * theta * rho

    def rhs(v, state):
        F, _ = _moments(np.array([v]))
        r = max(state[0], 0.0)
        return [gain * F[0] ** 3, np.sqrt(r) / s2]

    def reach_bottom(v, state):
        return state[1] - t_min

    reach_bottom.terminal = True

    def blow_up(v, state):
        return state[0]

    blow_up.terminal = True
    # Far enough in v that tau passes t_min even though dtau/dv shrinks.
    v_floor = 4 * t_min * s2 - 10.0
    run = solve_ivp(
        rhs,
        (0.0, v_floor),
        [1.0, 0.0],
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
        dense_output=True,
        events=[reach_bottom, blow_up],
    )
    tau_crit = None
    if regime == "high-noise" and run.t_events[1].size:
        v_end = float(run.t_events[1][0])
        tau_crit = float(run.sol(v_end)[1])
    elif run.t_events[0].size:
        v_end = float(run.t_events[0][0])
    else:
        v_end = float(run.t[-1])
    if tau_crit is None:
        v = np.linspace(0.0, v_end, points)
    else:
        # Half the points spread evenly, half crowding towards the blow-up.
        gaps = np.geomspace(1e-7, 0.5, points - points // 2)
        v = np.concatenate(
            [
                np.linspace(0.0, v_end * 0.5, points // 2, endpoint=False),
                v_end * (1 - gaps[::-1]),
            ]
        )
    state = run.sol(v)
    r = np.clip(state[0], 1e-300, None)
    phi = 1 / np.sqrt(r)
    F, dF = _moments(v)
    g = (y * theta / 2) * (p * s2 * phi * F) ** 4 - (y / 8) * p * s2**2 * phi**2 * dF
    tau = state[1]
    keep = tau >= t_min
    return AscentPrediction(
        rho,
        theta,
        rho_star,
        regime,
        tau_crit,
        tau[keep],
        p / 2 + p**2 * g[keep],
        g[keep],
    )
