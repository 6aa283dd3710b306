"""Linear recurrences with polynomial coefficients and the PDEs they give.

A sequence ``C_n`` indexed by ``n`` in ``N^d`` (and ``C_n = 0`` off ``N^d``)
satisfies the recurrence with shifts ``K`` and polynomial coefficients ``P_k``
when ``sum_{k in K} C_{n+k} P_k(n+k) = 0`` for *every* ``n`` in ``Z^d``.  The
generating function ``h(x) = sum_n C_n x^n`` then solves
``sum_{k in K} x^{-k} P_k(x d/dx) h = 0`` (SPEC section 4).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import sympy

from feynflow.errors import ParameterError

__all__ = [
    "Recurrence",
    "RecurrenceCheck",
    "FirstOrderPDE",
    "euler_operator",
    "index_symbols",
    "as_data",
]

logger = logging.getLogger(__name__)

Index = tuple[int, ...]


def index_symbols(dimension: int) -> tuple[sympy.Symbol, ...]:
    """Return the default index symbols ``n`` (one index) or ``n1, n2, ...``.

    Parameters
    ----------
    dimension : int
        Number of indices ``d >= 1``.

    Returns
    -------
    tuple of sympy.Symbol
        Integer symbols naming the indices.

    Examples
    --------
    >>> index_symbols(1)
    (n,)
    >>> index_symbols(2)
    (n1, n2)
    """
    if dimension < 1:
        raise ParameterError(f"dimension={dimension} is not allowed; must be >= 1")
    if dimension == 1:
        return (sympy.Symbol("n", integer=True),)
    return tuple(sympy.Symbol(f"n{i + 1}", integer=True) for i in range(dimension))


def euler_operator(
    polynomial: sympy.Expr,
    indices: Sequence[sympy.Symbol],
    target: sympy.Expr,
    variables: Sequence[sympy.Symbol],
) -> sympy.Expr:
    """Apply ``P(x d/dx)`` to ``target``: index ``indices[i]`` becomes ``x_i d/dx_i``.

    Parameters
    ----------
    polynomial : sympy.Expr
        Polynomial ``P`` in the index symbols.
    indices : sequence of sympy.Symbol
        The index symbols, one per variable.
    target : sympy.Expr
        The expression acted on (a concrete function of ``variables`` or an
        undefined ``sympy.Function`` applied to them).
    variables : sequence of sympy.Symbol
        The generating-function variables ``x_1, ..., x_d``.

    Returns
    -------
    sympy.Expr
        ``P(x_1 d/dx_1, ..., x_d d/dx_d) target``.

    Examples
    --------
    >>> import sympy
    >>> n, x = sympy.symbols("n x")
    >>> euler_operator(n**2 + 1, [n], x**3, [x])
    10*x**3
    """
    poly = sympy.Poly(sympy.expand(polynomial), *indices)
    result = sympy.Integer(0)
    for exponents, coefficient in poly.terms():
        term = target
        for variable, power in zip(variables, exponents, strict=True):
            for _ in range(power):
                term = variable * sympy.diff(term, variable)
        result += coefficient * term
    return result


@dataclass(frozen=True)
class RecurrenceCheck:
    """Outcome of checking a recurrence on data.

    Attributes
    ----------
    positions : int
        Number of positions ``n`` at which the recurrence could be evaluated
        (every ``C_{n+k}`` known or off ``N^d``) and involved a nonzero value.
    failures : tuple
        The positions where the residual is not zero.
    """

    positions: int
    failures: tuple[Index, ...] = ()

    @property
    def agrees(self) -> bool:
        """Whether the recurrence held at every checked position."""
        return self.positions > 0 and not self.failures


@dataclass(frozen=True)
class FirstOrderPDE:
    """The first-order linear PDE ``Phi(x) . grad h = phi(x) h + psi(x)``.

    Attributes
    ----------
    variables : tuple of sympy.Symbol
        ``x_1, ..., x_d``.
    Phi : tuple of sympy.Expr
        The vector field of the characteristics.
    phi : sympy.Expr
        Coefficient of ``h`` on the right-hand side.
    psi : sympy.Expr
        Inhomogeneous term.
    """

    variables: tuple[sympy.Symbol, ...]
    Phi: tuple[sympy.Expr, ...]
    phi: sympy.Expr
    psi: sympy.Expr = sympy.Integer(0)

    def residual(self, h: sympy.Expr) -> sympy.Expr:
        """Return ``Phi . grad h - phi h - psi`` for a candidate solution ``h``."""
        grad = sum(
            (
                c * sympy.diff(h, v)
                for c, v in zip(self.Phi, self.variables, strict=True)
            ),
            sympy.Integer(0),
        )
        return grad - self.phi * h - self.psi

    def __str__(self) -> str:
        h = sympy.Function("h")(*self.variables)
        lhs = sum(
            (
                c * sympy.Derivative(h, v)
                for c, v in zip(self.Phi, self.variables, strict=True)
            ),
            sympy.Integer(0),
        )
        return f"{sympy.sstr(lhs)} = {sympy.sstr(self.phi * h + self.psi)}"


@dataclass(frozen=True)
class Recurrence:
    """A linear recurrence with polynomial coefficients in ``d`` indices.

    The recurrence states ``sum_{k in K} C_{n+k} P_k(n+k) = 0`` for every
    ``n`` in ``Z^d``, with ``C_n = 0`` off ``N^d`` (SPEC section 4): note that
    ``P_k`` is evaluated at the index of the term it multiplies, and that the
    relation must hold at the boundary too, which is what makes the
    generating function satisfy a differential equation without boundary
    terms.

    Parameters
    ----------
    terms : mapping
        Shift ``k`` (tuple of ``d`` integers) to polynomial ``P_k`` in
        ``indices``.
    indices : sequence of sympy.Symbol, optional
        Index symbols; defaults to :func:`index_symbols`.

    Examples
    --------
    The binomial coefficients satisfy ``n C(n,k) = n C(n-1,k) + n C(n-1,k-1)``,
    the factor ``n`` making it hold at ``n = 0`` as well:

    >>> from math import comb
    >>> import sympy
    >>> n1, n2 = index_symbols(2)
    >>> rec = Recurrence({(0, 0): n1, (-1, 0): -(n1 + 1), (-1, -1): -(n1 + 1)})
    >>> data = {(a, b): comb(a, b) for a in range(8) for b in range(8)}
    >>> rec.check(data).agrees
    True
    >>> x, y = sympy.symbols("x y")
    >>> print(rec.to_first_order_pde((x, y)))
    (-x*y - x + 1)*Derivative(h(x, y), x) = (y + 1)*h(x, y)

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov, Y. Gusev, "Gradient Flow Through Diagram
       Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
       arXiv:2602.04548.
    """

    terms: Mapping[Index, sympy.Expr]
    indices: tuple[sympy.Symbol, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.terms:
            raise ParameterError("a recurrence needs at least one shift; got none")
        dims = {len(k) for k in self.terms}
        if len(dims) != 1:
            raise ParameterError(
                f"shifts {sorted(self.terms)} have different lengths; "
                "all shifts must have one entry per index"
            )
        dimension = dims.pop()
        indices = tuple(self.indices) or index_symbols(dimension)
        if len(indices) != dimension:
            raise ParameterError(
                f"{len(indices)} index symbols given for {dimension} indices"
            )
        terms = {
            tuple(int(c) for c in k): sympy.expand(sympy.sympify(v))
            for k, v in self.terms.items()
        }
        terms = {k: v for k, v in terms.items() if v != 0}
        if not terms:
            raise ParameterError("every coefficient polynomial P_k is zero")
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "indices", indices)

    @property
    def dimension(self) -> int:
        """Number of indices ``d``."""
        return len(self.indices)

    @property
    def shifts(self) -> tuple[Index, ...]:
        """The shifts ``K``, sorted."""
        return tuple(sorted(self.terms))

    def __str__(self) -> str:
        parts = []
        for k in sorted(self.terms, reverse=True):
            args = ", ".join(
                sympy.sstr(i + s) for i, s in zip(self.indices, k, strict=True)
            )
            # P_k is a function of the index of the term it multiplies.
            shifted = {i: i + s for i, s in zip(self.indices, k, strict=True)}
            poly = sympy.factor(self.terms[k].subs(shifted, simultaneous=True))
            parts.append(f"({sympy.sstr(poly)})*C[{args}]")
        return " + ".join(parts) + " = 0"

    def coefficient(self, shift: Index, point: Index) -> Fraction:
        """Return ``P_shift`` evaluated at the integer point ``point``."""
        value = self.terms[shift].subs(dict(zip(self.indices, point, strict=True)))
        return Fraction(int(sympy.numer(value)), int(sympy.denom(value)))

    def residual(self, data: Mapping[Index, object], n: Index) -> Fraction | None:
        """Return ``sum_k C_{n+k} P_k(n+k)``, or None if some value is unknown."""
        total = Fraction(0)
        for k in self.terms:
            m = tuple(a + b for a, b in zip(n, k, strict=True))
            if any(c < 0 for c in m):
                continue
            if m not in data:
                return None
            value = _fraction(data[m])
            if value:
                total += value * self.coefficient(k, m)
        return total

    def positions(self, data: Mapping[Index, object]) -> list[Index]:
        """Positions ``n`` where every term is known and one value is nonzero."""
        candidates = {
            tuple(a - b for a, b in zip(m, k, strict=True))
            for m in data
            for k in self.terms
        }
        found = []
        for n in sorted(candidates):
            terms = [
                tuple(a + b for a, b in zip(n, k, strict=True)) for k in self.terms
            ]
            inside = [m for m in terms if all(c >= 0 for c in m)]
            if not all(m in data for m in inside):
                continue
            if any(_fraction(data[m]) for m in inside):
                found.append(n)
        return found

    def check(self, data: Mapping[Index, object]) -> RecurrenceCheck:
        """Check the recurrence at every position the data determines.

        Parameters
        ----------
        data : mapping
            Index tuple to exact value (int, Fraction or sympy Rational);
            indices with a negative entry are zero by convention and need
            not be listed.

        Returns
        -------
        RecurrenceCheck
            Number of positions checked and those that fail.
        """
        positions = self.positions(data)
        failures = tuple(n for n in positions if self.residual(data, n) != 0)
        logger.info(
            "recurrence checked at %d positions, %d failures",
            len(positions),
            len(failures),
        )
        return RecurrenceCheck(len(positions), failures)

    def _clearing_monomial(self) -> list[int]:
        return [max(k[i] for k in self.terms) for i in range(self.dimension)]

    def apply(self, h: sympy.Expr, variables: Sequence[sympy.Symbol]) -> sympy.Expr:
        """Apply the differential operator of the recurrence to ``h``.

        The operator is ``sum_k x^{m-k} P_k(x d/dx)`` where ``m`` is the
        componentwise largest shift, i.e. SPEC's ``sum_k x^{-k} P_k(x d/dx)``
        multiplied by ``x^m`` so that no negative power remains.

        Parameters
        ----------
        h : sympy.Expr
            A function of ``variables`` (concrete or undefined).
        variables : sequence of sympy.Symbol
            Generating-function variables, one per index.

        Returns
        -------
        sympy.Expr
            The operator applied to ``h`` (zero iff ``h`` solves the PDE).
        """
        variables = self._check_variables(variables)
        top = self._clearing_monomial()
        result = sympy.Integer(0)
        for k, poly in self.terms.items():
            monomial = sympy.Mul(
                *(v ** (m - s) for v, m, s in zip(variables, top, k, strict=True))
            )
            result += monomial * euler_operator(poly, self.indices, h, variables)
        return result

    def to_pde(self, variables: Sequence[sympy.Symbol]) -> sympy.Expr:
        """Return the PDE of the generating function as an expression ``= 0``.

        Examples
        --------
        >>> import sympy
        >>> n, = index_symbols(1)
        >>> x = sympy.Symbol("x")
        >>> rec = Recurrence({(0,): n, (-1,): -2})
        >>> rec.to_pde([x])
        -2*x*h(x) + x*Derivative(h(x), x)
        """
        variables = self._check_variables(variables)
        h = sympy.Function("h")(*variables)
        return sympy.expand(self.apply(h, variables))

    def to_first_order_pde(self, variables: Sequence[sympy.Symbol]) -> FirstOrderPDE:
        """Write the PDE as ``Phi . grad h = phi h`` when it is of first order.

        The common monomial factor of the operator is divided out, so that
        ``Phi`` does not vanish identically on a coordinate hyperplane
        because of a bookkeeping power of ``x``.

        Raises
        ------
        ParameterError
            If some ``P_k`` has degree above one, so the PDE is of higher order.
        """
        variables = self._check_variables(variables)
        degree = max(
            sympy.Poly(poly, *self.indices).total_degree()
            for poly in self.terms.values()
        )
        if degree > 1:
            raise ParameterError(
                f"the recurrence has coefficients of degree {degree}; a "
                "first-order PDE needs degree <= 1"
            )
        h = sympy.Function("h")(*variables)
        operator = self.to_pde(variables)
        Phi = [sympy.expand(operator.coeff(sympy.Derivative(h, v))) for v in variables]
        zeroth = sympy.expand(
            operator
            - sum(
                c * sympy.Derivative(h, v) for c, v in zip(Phi, variables, strict=True)
            )
        )
        phi = sympy.expand(-zeroth.coeff(h))
        common = sympy.gcd_list([c for c in [*Phi, phi] if c != 0])
        Phi = [sympy.factor(sympy.cancel(c / common)) for c in Phi]
        phi = sympy.factor(sympy.cancel(phi / common))
        return FirstOrderPDE(tuple(variables), tuple(Phi), phi, sympy.Integer(0))

    def _check_variables(
        self, variables: Sequence[sympy.Symbol]
    ) -> tuple[sympy.Symbol, ...]:
        variables = tuple(variables)
        if len(variables) != self.dimension:
            raise ParameterError(
                f"{len(variables)} variables given for a recurrence in "
                f"{self.dimension} indices; give one variable per index"
            )
        return variables

    def generate(
        self, initial: Mapping[Index, object], bounds: Sequence[int]
    ) -> dict[Index, Fraction]:
        """Extend initial values to the box ``0 <= n_i <= bounds[i]``.

        The recurrence is solved for its term with the lexicographically
        largest shift, which must be ``(0, ..., 0)`` and have a coefficient
        that does not vanish where it is used; values not determined that way
        come from ``initial`` (and are zero if absent).

        Parameters
        ----------
        initial : mapping
            Index tuple to exact value, the values the recurrence cannot
            produce (e.g. the row ``n_1 = 0``).
        bounds : sequence of int
            Inclusive upper bound per index.

        Returns
        -------
        dict
            Every value in the box, as ``Fraction``.
        """
        zero = (0,) * self.dimension
        if max(self.terms) != zero:
            raise ParameterError(
                f"largest shift is {max(self.terms)}; generate() needs it to be {zero}"
            )
        values: dict[Index, Fraction] = {}
        for n in itertools.product(*(range(b + 1) for b in bounds)):
            lead = self.coefficient(zero, n)
            if lead == 0 or n in initial:
                values[n] = _fraction(initial.get(n, 0))
                continue
            total = Fraction(0)
            for k in self.terms:
                if k == zero:
                    continue
                m = tuple(a + b for a, b in zip(n, k, strict=True))
                if any(c < 0 for c in m):
                    continue
                total += values[m] * self.coefficient(k, m)
            values[n] = -total / lead
        return values


def _fraction(value: object) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    value = sympy.Rational(value)
    return Fraction(int(value.p), int(value.q))


def as_data(values: Iterable[object]) -> dict[Index, Fraction]:
    """Turn a one-index list ``[C_0, C_1, ...]`` into recurrence data."""
    return {(i,): _fraction(v) for i, v in enumerate(values)}
