"""Finding linear recurrences with polynomial coefficients from exact data.

The guesser looks for shifts ``K`` and polynomials ``P_k`` of bounded degree
with ``sum_k C_{n+k} P_k(n+k) = 0`` at every position the data determines,
boundary positions included (values off ``N^d`` are zero).  The unknown
coefficients of the ``P_k`` form the nullspace of an exact integer matrix.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import flint
import sympy

from feynflow.errors import ParameterError
from feynflow.summation.recurrence import Index, Recurrence, _fraction, index_symbols

__all__ = ["guess_recurrence"]

logger = logging.getLogger(__name__)


def guess_recurrence(
    data: Mapping[Index, object],
    *,
    indices: Sequence[sympy.Symbol] | None = None,
    max_shift: int = 1,
    max_degree: int = 2,
    min_excess: int = 4,
    forward: int | None = None,
) -> Recurrence:
    """Find the smallest recurrence with polynomial coefficients fitting ``data``.

    Candidates are sets of shifts inside the box ``{-max_shift, ..., 0}^d``
    containing ``0``, with every ``P_k`` of total degree at most ``D``; they
    are tried in order of their number of unknown coefficients, and the first
    whose equations have a one-dimensional nullspace, with at least
    ``min_excess`` more equations than unknowns, is returned.

    Parameters
    ----------
    data : mapping
        Index tuple (``d`` non-negative integers) to exact value.  Every
        position of the box the data spans should be present (zeros
        included); indices with a negative entry are zero by convention.
    indices : sequence of sympy.Symbol, optional
        Names of the indices in the result.
    max_shift : int
        Largest backward shift tried in each index.
    max_degree : int
        Largest total degree of the coefficient polynomials.
    min_excess : int
        How many more equations than unknowns a solution needs before it is
        trusted.
    forward : int, optional
        If given, every shift other than ``0`` must decrease this index, so
        that the recurrence computes ``C`` row by row in it; its PDE then has
        a non-characteristic hyperplane ``x_forward = 0`` on which the
        initial data can be given.

    Returns
    -------
    Recurrence
        The recurrence, with integer coefficients without common factor.

    Raises
    ------
    ParameterError
        If the data are empty or no candidate fits.

    Examples
    --------
    Catalan numbers need a factor ``n`` so that the recurrence also holds
    at ``n = 0``:

    >>> from math import comb
    >>> data = {(n,): comb(2 * n, n) // (n + 1) for n in range(16)}
    >>> print(guess_recurrence(data))
    (n*(n + 1))*C[n] + (-2*n*(2*n - 1))*C[n - 1] = 0

    Notes
    -----
    A candidate with ``u`` unknowns builds a matrix with one row per
    determined position; its nullspace is computed exactly over the integers
    with python-flint.  Minimality is in the number of unknowns, so the
    answer is unique only up to the multiples the nullspace test rules out.

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov, Y. Gusev, "Gradient Flow Through Diagram
       Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
       arXiv:2602.04548 (section on summing the series).
    """
    if not data:
        raise ParameterError("no data given; need at least one value")
    dimensions = {len(key) for key in data}
    if len(dimensions) != 1:
        raise ParameterError("data keys have different lengths; use one per index")
    dimension = dimensions.pop()
    if max_shift < 1 or max_degree < 0:
        raise ParameterError(
            f"max_shift={max_shift}, max_degree={max_degree}: need max_shift >= 1 "
            "and max_degree >= 0"
        )
    indices = tuple(indices) if indices is not None else index_symbols(dimension)
    values = {tuple(k): _fraction(v) for k, v in data.items()}

    if forward is not None and not 0 <= forward < dimension:
        raise ParameterError(f"forward={forward} is not an index in 0..{dimension - 1}")
    for shifts, degree in _candidates(dimension, max_shift, max_degree, forward):
        found = _solve_candidate(values, shifts, degree, min_excess)
        if found is None:
            continue
        monomials = _monomials(dimension, degree)
        terms = {}
        for i, k in enumerate(shifts):
            block = found[i * len(monomials) : (i + 1) * len(monomials)]
            terms[k] = sum(
                (
                    c * sympy.Mul(*(s**e for s, e in zip(indices, alpha, strict=True)))
                    for c, alpha in zip(block, monomials, strict=True)
                ),
                sympy.Integer(0),
            )
        recurrence = Recurrence(terms, indices)
        logger.info("guessed recurrence %s", recurrence)
        return recurrence
    raise ParameterError(
        f"no recurrence with shifts in [-{max_shift}, 0]^{dimension} and "
        f"degree <= {max_degree} fits the {len(values)} values given"
    )


def _monomials(dimension: int, degree: int) -> list[Index]:
    return [
        alpha
        for total in range(degree + 1)
        for alpha in itertools.product(range(total + 1), repeat=dimension)
        if sum(alpha) == total
    ]


def _candidates(dimension: int, max_shift: int, max_degree: int, forward: int | None):
    zero = (0,) * dimension
    box = [
        k
        for k in itertools.product(range(-max_shift, 1), repeat=dimension)
        if k != zero and (forward is None or k[forward] < 0)
    ]
    candidates = []
    for size in range(1, len(box) + 1):
        for others in itertools.combinations(box, size):
            for degree in range(max_degree + 1):
                shifts = (zero, *others)
                unknowns = len(shifts) * len(_monomials(dimension, degree))
                depth = max(-min(k) for k in others)
                candidates.append((unknowns, depth, degree, shifts))
    candidates.sort()
    for _, _, degree, shifts in candidates:
        yield shifts, degree


def _solve_candidate(
    values: dict[Index, Fraction],
    shifts: tuple[Index, ...],
    degree: int,
    min_excess: int,
) -> list[int] | None:
    dimension = len(shifts[0])
    monomials = _monomials(dimension, degree)
    unknowns = len(shifts) * len(monomials)
    rows = []
    positions = {
        tuple(a - b for a, b in zip(m, k, strict=True)) for m in values for k in shifts
    }
    for n in sorted(positions):
        row: list[Fraction] = []
        nonzero = False
        determined = True
        for k in shifts:
            m = tuple(a + b for a, b in zip(n, k, strict=True))
            if any(c < 0 for c in m):
                value = Fraction(0)
            elif m in values:
                value = values[m]
            else:
                determined = False
                break
            nonzero = nonzero or value != 0
            row.extend(
                value * math.prod(c**e for c, e in zip(m, a, strict=True))
                for a in monomials
            )
        if determined and nonzero:
            rows.append(row)
    if len(rows) < unknowns + min_excess:
        return None

    scaled = []
    for row in rows:
        common = math.lcm(*(x.denominator for x in row))
        scaled.append([int(x * common) for x in row])
    basis, nullity = flint.fmpz_mat(scaled).nullspace()
    if nullity == 0:
        return None
    if nullity > 2:
        logger.info("nullspace of dimension %d for shifts %s", nullity, shifts)
        return None
    vectors = [[int(basis[i, c]) for i in range(unknowns)] for c in range(nullity)]
    vector = _sparsest(vectors, len(monomials))
    content = math.gcd(*vector)
    vector = [v // content for v in vector]
    # Sign convention: the coefficient polynomial of the zero shift has a
    # positive leading coefficient, so equal recurrences print identically.
    own = [v for v in vector[: len(monomials)] if v]
    if own and own[-1] < 0:
        vector = [-v for v in vector]
    return vector


def _sparsest(vectors: list[list[int]], own_size: int) -> list[int]:
    """The sparsest nonzero vector of a nullspace of dimension one or two.

    Data with extra structure (a generating function that is a function of
    fewer variables, say) satisfy more than one recurrence of the same
    shape; the sparsest combination is the simplest of them.  In two
    dimensions every vector with a given zero coordinate is a multiple of
    one combination, so trying each coordinate finds the sparsest vector.
    Vectors whose zero-shift polynomial vanishes are avoided, since they
    cannot produce the sequence.
    """
    if len(vectors) == 1:
        return vectors[0]
    first, second = vectors
    candidates = [first, second]
    for i in range(len(first)):
        combination = [
            second[i] * a - first[i] * b for a, b in zip(first, second, strict=True)
        ]
        if any(combination):
            candidates.append(combination)

    def cost(vector):
        return (not any(vector[:own_size]), sum(1 for v in vector if v))

    return min(candidates, key=cost)
