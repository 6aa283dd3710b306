"""Exact coefficients ``Y_s`` of the time expansion of the expected loss.

With ``A = 1/2 D_{2nu} - R_nu`` (identity target) or ``A = 1/2 D_{2nu}`` (zero
target) and left-nested merge powers ``A^{*(s+1)} = A^{*s} * A``,

    Y_s = T^s E[d^s L/dt^s (0)] = (-1)^s E[A^{*(s+1)}] + [s = 0] ||F||^2 / 2,

so that ``E[L(t)] ~ sum_s Y_s (t/T)^s / s!``.
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Callable
from fractions import Fraction

import sympy

from feynflow.diagrams import DiagramSum, check_nu, d_diagram, merge, r_diagram
from feynflow.errors import ParameterError, TimeLimitError
from feynflow.wick import (
    _contract_targets,
    _strictly_dominated,
    class_bound,
    ph_sigma_poly,
    wick_counts,
)

__all__ = [
    "TARGETS",
    "loss_coefficients",
    "loss_diagrams",
    "step_generator",
    "check_order",
    "check_target",
    "pareto_optimal",
]

logger = logging.getLogger(__name__)

#: Targets understood by `loss_coefficients`.
TARGETS = ("identity", "zero")


def check_target(target: object) -> str:
    """Return ``target`` if feynflow knows it, else raise `ParameterError`."""
    if target not in TARGETS:
        raise ParameterError(
            f"target={target!r} is not known; allowed: {', '.join(TARGETS)}"
        )
    return target  # type: ignore[return-value]


def check_order(order: object) -> int:
    """Return ``order`` if it is an integer >= 0, else raise `ParameterError`."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ParameterError(
            f"order={order!r} is not an integer; order must be an integer >= 0"
        )
    if order < 0:
        raise ParameterError(f"order={order} is negative; order must be >= 0")
    return int(order)


def step_generator(nu: int, symmetric: bool = True, target: str = "identity"):
    """The combination ``A`` with ``d/dt G = -(1/T) G * A`` for any diagram ``G``.

    ``A = 1/2 D_{2nu} - R_nu`` for the identity target, ``1/2 D_{2nu}`` for the
    zero target (free evolution).

    Examples
    --------
    >>> a = step_generator(2, symmetric=True)
    >>> sorted(a.values())
    [Fraction(-1, 1), Fraction(1, 2)]
    """
    nu, target = check_nu(nu), check_target(target)
    half_d = Fraction(1, 2) * d_diagram(nu, symmetric)
    if target == "zero":
        return half_d
    return half_d - r_diagram(nu, symmetric)


def loss_diagrams(
    nu: int, s: int, symmetric: bool = True, target: str = "identity"
) -> DiagramSum:
    """The merge power ``A^{*(s+1)}``, whose average gives ``Y_s``.

    Examples
    --------
    In the symmetric ``nu = 2`` model every diagram is a cycle; ``A^{*2}``
    holds the cycles with 2, 4 and 6 edges.

    >>> sorted(d.n_edges for d in loss_diagrams(2, 1))
    [2, 4, 6]
    """
    s = check_order(s)
    power = generator = step_generator(nu, symmetric, target)
    for _ in range(s):
        power = merge(power, generator)
    return power


def pareto_optimal(keys):
    """The keys ``(q, n, 2l)`` not dominated at equal ``2l``.

    ``(q, n)`` is dominated when another key with the same ``2l`` has
    componentwise ``>=`` exponents, one of them strictly.

    Examples
    --------
    >>> sorted(pareto_optimal([(2, 1, 4), (1, 2, 4), (1, 1, 4), (0, 0, 2)]))
    [(0, 0, 2), (1, 2, 4), (2, 1, 4)]
    """
    keys = set(keys)
    return {
        (q, n, l)
        for q, n, l in keys
        if not any(
            l2 == l and q2 >= q and n2 >= n and (q2, n2) != (q, n)
            for q2, n2, l2 in keys
        )
    }


def loss_coefficients(
    nu: int,
    order: int,
    symmetric: bool = True,
    target: str = "identity",
    leading: bool = False,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[sympy.Poly]:
    """Exact coefficients ``[Y_0, ..., Y_order]`` of the expected loss.

    ``E[L(t)] ~ sum_s Y_s (t/T)^s / s!`` where ``Y_s = T^s E[d^s L/dt^s]`` at
    ``t = 0``, for the rank-``H`` CP model of order ``nu`` fitted by gradient
    flow ``du/dt = -(1/T) dL/du`` from i.i.d. ``N(0, sigma^2)`` weights.

    Parameters
    ----------
    nu : int
        Tensor order, ``>= 2``.
    order : int
        Highest ``s`` wanted, ``>= 0``.
    symmetric : bool
        One weight matrix for every colour (SYM) or ``nu`` independent ones
        (ASYM).
    target : {"identity", "zero"}
        ``F[i] = 1`` on the diagonal, or ``F = 0`` (free evolution).
    leading : bool
        Keep only the Pareto-optimal terms of each ``Y_s`` (and, for the
        identity target, the constant ``p/2`` of ``Y_0``).
    time_limit : float, optional
        Seconds after which `TimeLimitError` is raised.
    progress : callable, optional
        Called as ``progress(s, order)`` after each order is done.

    Returns
    -------
    list of sympy.Poly
        Polynomials in ``(p, H, sigma)`` with rational coefficients.

    Raises
    ------
    ParameterError
        For ``nu < 2``, a negative or non-integer ``order`` or an unknown
        target.
    TimeLimitError
        When ``time_limit`` runs out.

    Examples
    --------
    >>> from feynflow import loss_coefficients, p, H
    >>> y = loss_coefficients(2, 1, symmetric=True)
    >>> y[0].as_expr()
    H**2*p*sigma**4/2 + H*p**2*sigma**4/2 + H*p*sigma**4/2 - H*p*sigma**2 + p/2
    >>> y[1].as_expr().subs({p: 2, H: 2})
    -576*sigma**6 + 160*sigma**4 - 16*sigma**2

    Notes
    -----
    Each order merges the previous power with ``A``, combining isomorphic
    diagrams by their nauty canonical forms, then averages every class with
    the memoised pairing recursion of `feynflow.wick.wick_expectation`.

    References
    ----------
    .. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 2.
    """
    nu, order, target = check_nu(nu), check_order(order), check_target(target)
    deadline = None if time_limit is None else time.monotonic() + time_limit

    def check_time() -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeLimitError(
                f"time limit of {time_limit} s reached before order {order}"
            )

    generator = step_generator(nu, symmetric, target)
    power = generator
    coefficients = []
    for s in range(order + 1):
        if s:
            power = merge(power, generator)
        check_time()
        sign = -1 if s % 2 else 1
        terms: dict[tuple[int, int, int], Fraction] = {}
        # In leading mode a diagram is skipped when every (q, n) it could
        # reach lies strictly below monomials already found at its sigma
        # power; all diagrams with one sigma power share one sign, so found
        # monomials never cancel.
        found: dict[int, set[tuple[int, int]]] = {}
        for diagram, coeff in power.items():
            if leading:
                seen = found.setdefault(diagram.n_edges, set())
                bound = class_bound(*_contract_targets(diagram))
                if seen and _strictly_dominated(bound, seen):
                    continue
            counts = wick_counts(diagram, leading=leading)
            for (q, n), count in counts.items():
                key = (q, n, diagram.n_edges)
                terms[key] = terms.get(key, Fraction(0)) + sign * coeff * count
                if leading:
                    seen.add((q, n))
            check_time()
        terms = {k: c for k, c in terms.items() if c}
        if leading:
            keep = pareto_optimal(terms)
            terms = {k: c for k, c in terms.items() if k in keep}
        if s == 0 and target == "identity":
            terms[(1, 0, 0)] = terms.get((1, 0, 0), Fraction(0)) + Fraction(1, 2)
        logger.info("order %d: %d diagram classes", s, len(power))
        coefficients.append(ph_sigma_poly(terms))
        if progress is not None:
            progress(s, order)
    return coefficients
