"""Exact Taylor coefficients of closed forms by truncated power-series arithmetic.

``sympy.series`` re-simplifies at every step and becomes slow beyond a few
orders on the closed forms of the loss; here the expression tree is evaluated
once on truncated series whose coefficients live in the rational function
field of the remaining symbols, so twenty orders of an algebraic expression
take seconds.
"""

from __future__ import annotations

import logging

import sympy
from sympy.polys.fields import field

from feynflow.errors import ParameterError

__all__ = ["taylor_coefficients"]

logger = logging.getLogger(__name__)


class _Series:
    """A Laurent series ``sum_{start <= k < prec} coeffs[k - start] x^k + O(x^prec)``.

    Negative powers are allowed because the terms of a sum can have poles
    that cancel (the derivative of an algebraic generating function does).
    """

    __slots__ = ("coeffs", "start", "prec", "domain")

    def __init__(self, coeffs, prec, domain, start=0):
        self.start = start
        self.prec = max(prec, start)
        self.domain = domain
        coeffs = list(coeffs)[: self.prec - start]
        coeffs += [domain.zero] * (self.prec - start - len(coeffs))
        self.coeffs = coeffs

    def __getitem__(self, k: int):
        if k < self.start or k >= self.prec:
            return self.domain.zero
        return self.coeffs[k - self.start]

    @property
    def valuation(self) -> int:
        for k, c in enumerate(self.coeffs):
            if c != 0:
                return k + self.start
        return self.prec

    def __add__(self, other):
        start = min(self.start, other.start)
        prec = min(self.prec, other.prec)
        return _Series(
            [self[k] + other[k] for k in range(start, prec)], prec, self.domain, start
        )

    def __mul__(self, other):
        va, vb = self.valuation, other.valuation
        prec = min(self.prec + vb, other.prec + va)
        start = va + vb
        out = [self.domain.zero] * max(prec - start, 0)
        for i in range(va, self.prec):
            a = self[i]
            if a == 0:
                continue
            for j in range(vb, min(other.prec, prec - i)):
                b = other[j]
                if b != 0:
                    out[i + j - start] += a * b
        return _Series(out, prec, self.domain, start)

    def scale(self, factor):
        return _Series(
            [factor * c for c in self.coeffs], self.prec, self.domain, self.start
        )

    def _unit(self):
        """Split off ``x^v``: return ``(v, u)`` with ``u(0) != 0``."""
        v = self.valuation
        if v >= self.prec:
            raise ParameterError("division by a series that is zero to its precision")
        coeffs = [self[k] for k in range(v, self.prec)]
        return v, _Series(coeffs, self.prec - v, self.domain)

    def reciprocal(self):
        v, unit = self._unit()
        c0 = unit.coeffs[0]
        out = [1 / c0]
        for k in range(1, unit.prec):
            total = sum(
                (unit.coeffs[j] * out[k - j] for j in range(1, k + 1)),
                self.domain.zero,
            )
            out.append(-total / c0)
        return _Series(out, unit.prec - v, self.domain, -v)

    def __truediv__(self, other):
        return self * other.reciprocal()

    def _check_analytic(self, what: str) -> None:
        if self.valuation < 0:
            raise ParameterError(f"{what} of a series with a pole is not supported")

    def power(self, exponent: sympy.Rational):
        """``self ** exponent``; fractional powers need constant term one."""
        if exponent.is_Integer and exponent >= 0:
            if exponent == 0:
                return _Series([self.domain.one], max(self.prec, 1), self.domain)
            result = self
            for _ in range(int(exponent) - 1):
                result = result * self
            return result
        if exponent.is_Integer:
            return self.power(-exponent).reciprocal()
        self._check_analytic("a fractional power")
        if self[0] != 1:
            raise ParameterError(
                f"a fractional power needs constant term 1, got {self[0]}"
            )
        # J. C. P. Miller's recurrence for the coefficients of a^alpha.
        out = [self.domain.one]
        alpha = self.domain(exponent)
        for k in range(1, self.prec):
            total = sum(
                ((alpha * j - (k - j)) * self[j] * out[k - j] for j in range(1, k + 1)),
                self.domain.zero,
            )
            out.append(total / k)
        return _Series(out, self.prec, self.domain)

    def exp(self):
        self._check_analytic("exp")
        if self[0] != 0:
            raise ParameterError("exp of a series with nonzero constant term")
        out = [self.domain.one]
        for k in range(1, self.prec):
            total = sum(
                (j * self[j] * out[k - j] for j in range(1, k + 1)),
                self.domain.zero,
            )
            out.append(total / k)
        return _Series(out, self.prec, self.domain)

    def log(self):
        self._check_analytic("log")
        if self[0] != 1:
            raise ParameterError("log of a series with constant term other than 1")
        derivative = _Series(
            [k * self[k] for k in range(1, self.prec)], self.prec - 1, self.domain
        )
        quotient = derivative / self
        integral = [self.domain.zero] + [
            quotient[k] / (k + 1) for k in range(quotient.prec)
        ]
        return _Series(integral, quotient.prec + 1, self.domain)


def taylor_coefficients(
    expr: sympy.Expr, variable: sympy.Symbol, order: int
) -> list[sympy.Expr]:
    """Return the Taylor coefficients ``[c_0, ..., c_order]`` of ``expr`` at 0.

    Parameters
    ----------
    expr : sympy.Expr
        Built from rational constants, symbols, ``+``, ``*``, powers with
        rational exponents, ``exp`` and ``log``; analytic at
        ``variable = 0``.  Other symbols are treated as constants.
    variable : sympy.Symbol
        The expansion variable.
    order : int
        Highest power wanted.

    Returns
    -------
    list of sympy.Expr
        ``c_k`` with ``expr = sum c_k variable^k``, each a rational function
        of the other symbols.

    Raises
    ------
    ParameterError
        If a sub-expression is not analytic at 0 in a way the arithmetic can
        handle (e.g. ``sqrt`` of a series starting with a constant other
        than 1).

    Examples
    --------
    >>> import sympy
    >>> x, a = sympy.symbols("x a")
    >>> taylor_coefficients((1 - sympy.sqrt(1 - 4 * x)) / (2 * x), x, 4)
    [1, 1, 2, 5, 14]
    >>> taylor_coefficients(sympy.exp(a * x), x, 2)
    [1, a, a**2/2]

    Notes
    -----
    Products cost ``O(order^2)`` field operations; powers, ``exp`` and ``log``
    use the usual ``O(order^2)`` recurrences.  Divisions by a series vanishing
    at 0 lose precision, so the evaluation is repeated with more precision
    until ``order`` is reached.
    """
    if order < 0:
        raise ParameterError(f"order={order} is not allowed; must be >= 0")
    expr = sympy.sympify(expr)
    others = sorted(expr.free_symbols - {variable}, key=str)
    if others:
        domain, *_ = field(others, sympy.QQ)
    else:
        domain, *_ = field("unused_", sympy.QQ)
    extra = 4
    while True:
        cache: dict = {}
        series = _evaluate(expr, variable, order + 1 + extra, domain, cache)
        if series.prec > order:
            if series.valuation < 0:
                raise ParameterError(f"the expression has a pole at {variable} = 0")
            return [domain.to_domain().to_sympy(series[k]) for k in range(order + 1)]
        extra += order + 1 - series.prec + 2
        logger.debug("retrying series with %d extra terms", extra)


def _evaluate(expr, variable, prec, domain, cache) -> _Series:
    if expr in cache:
        return cache[expr]
    if expr == variable:
        result = _Series([domain.zero, domain.one], prec, domain)
    elif variable not in expr.free_symbols:
        result = _Series([domain.from_expr(expr)], prec, domain)
    elif expr.is_Add:
        parts = [_evaluate(a, variable, prec, domain, cache) for a in expr.args]
        result = parts[0]
        for part in parts[1:]:
            result = result + part
    elif expr.is_Mul:
        numerators, denominators = [], []
        for factor in expr.args:
            if factor.is_Pow and factor.exp.is_negative:
                denominators.append(
                    _evaluate(
                        sympy.Pow(factor.base, -factor.exp),
                        variable,
                        prec,
                        domain,
                        cache,
                    )
                )
            else:
                numerators.append(_evaluate(factor, variable, prec, domain, cache))
        result = numerators[0] if numerators else _Series([domain.one], prec, domain)
        for part in numerators[1:]:
            result = result * part
        for part in denominators:
            result = result / part
    elif expr.is_Pow:
        base = _evaluate(expr.base, variable, prec, domain, cache)
        exponent = expr.exp
        if not exponent.is_Rational:
            raise ParameterError(f"power with exponent {exponent} is not supported")
        if exponent.is_Integer:
            result = base.power(exponent)
        else:
            c0 = base[0]
            if base.valuation != 0:
                raise ParameterError(f"{expr} is not analytic at {variable} = 0")
            root = domain.from_expr(
                sympy.Pow(domain.to_domain().to_sympy(c0), exponent)
            )
            result = base.scale(1 / c0).power(exponent).scale(root)
    elif isinstance(expr, sympy.exp):
        argument = _evaluate(expr.args[0], variable, prec, domain, cache)
        constant = domain.to_domain().to_sympy(argument[0])
        shifted = argument + _Series([-argument[0]], prec, domain)
        result = shifted.exp()
        if constant != 0:
            result = result.scale(domain.from_expr(sympy.exp(constant)))
    elif isinstance(expr, sympy.log):
        argument = _evaluate(expr.args[0], variable, prec, domain, cache)
        c0 = argument[0]
        result = argument.scale(1 / c0).log()
        if c0 != 1:
            constant = sympy.log(domain.to_domain().to_sympy(c0))
            result = result + _Series([domain.from_expr(constant)], prec, domain)
    else:
        raise ParameterError(f"cannot expand {type(expr).__name__} in a series")
    cache[expr] = result
    return result
