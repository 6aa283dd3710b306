"""First-order linear PDEs solved by the method of characteristics.

The equation is ``Phi(x) . grad h = phi(x) h + psi(x)`` with the value of
``h`` given on the hyperplane ``x_1 = 0``.  Along a characteristic,
``dx/dx_1 = Phi / Phi_1`` and ``dh/dx_1 = (phi h + psi) / Phi_1``; the curves
through ``(0, xi)`` give first integrals ``xi(x)``, and the linear equation
for ``h`` carries the initial value ``h(0, xi)`` to ``x`` (SPEC section 4).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy
from scipy.integrate import solve_ivp

from feynflow.errors import ParameterError
from feynflow.summation.recurrence import FirstOrderPDE

__all__ = ["CharacteristicSolution", "solve_by_characteristics"]

logger = logging.getLogger(__name__)


@dataclass
class CharacteristicSolution:
    """The solution of a first-order linear PDE by characteristics.

    Attributes
    ----------
    pde : FirstOrderPDE
        The equation solved.
    initial_data : sympy.Expr
        ``h`` on ``x_1 = 0``, a function of ``x_2, ..., x_d``.
    system : tuple of sympy.Eq
        The characteristic system in the parameter ``tau``:
        ``dx_i/dtau = Phi_i``, ``dh/dtau = phi h + psi``.
    curves : tuple of sympy.Expr
        ``x_j`` (``j >= 2``) along the characteristic through ``(0, xi)``, as
        functions of ``x_1`` and the start ``xi_j``; empty when unknown.
    first_integrals : tuple of sympy.Expr
        ``xi_j(x)``: the start of the characteristic through ``x``, constant
        along characteristics; empty when unknown.
    closed_form : sympy.Expr or None
        ``h(x)``, or None when no closed form was found; then
        :meth:`evaluate` solves the characteristic system numerically.
    verified : bool
        Whether the closed form, substituted into the PDE, gave zero.
    reason : str
        Why no closed form was found (empty otherwise).
    starts : tuple of sympy.Symbol
        The symbols ``xi_j`` naming the start of a characteristic in
        ``curves``.
    """

    pde: FirstOrderPDE
    initial_data: sympy.Expr
    system: tuple[sympy.Eq, ...]
    curves: tuple[sympy.Expr, ...] = ()
    first_integrals: tuple[sympy.Expr, ...] = ()
    closed_form: sympy.Expr | None = None
    verified: bool = False
    reason: str = ""
    starts: tuple[sympy.Symbol, ...] = field(default=())

    def evaluate(self, point: Sequence[float]) -> float:
        """Evaluate ``h`` at ``point`` numerically along its characteristic.

        The characteristic through ``point`` is followed back to ``x_1 = 0``
        with scipy's ``solve_ivp`` (DOP853, relative tolerance ``1e-12``),
        then the linear equation for ``h`` is integrated forward again.

        Parameters
        ----------
        point : sequence of float
            Coordinates ``(x_1, ..., x_d)``.

        Returns
        -------
        float
            The value of ``h``.
        """
        variables = self.pde.variables
        point = [float(c) for c in point]
        if len(point) != len(variables):
            raise ParameterError(
                f"point has {len(point)} coordinates; the PDE has {len(variables)}"
            )
        slope = _numeric_field(self.pde)
        rest = point[1:]
        if point[0] != 0 and len(variables) > 1:
            back = solve_ivp(
                lambda s, y: slope(s, y)[0],
                (point[0], 0.0),
                rest,
                method="DOP853",
                rtol=1e-12,
                atol=1e-14,
            )
            if not back.success:
                raise ParameterError(
                    f"characteristic through {point} does not reach x_1 = 0: "
                    f"{back.message}"
                )
            rest = list(back.y[:, -1])
        start_h = complex(
            self.initial_data.subs(dict(zip(variables[1:], rest, strict=True)))
        ).real
        if point[0] == 0:
            return start_h

        def forward(s, y):
            dx, a, b = slope(s, y[:-1])
            return [*dx, a * y[-1] + b]

        run = solve_ivp(
            forward,
            (0.0, point[0]),
            [*rest, start_h],
            method="DOP853",
            rtol=1e-12,
            atol=1e-14,
        )
        if not run.success:
            raise ParameterError(f"characteristic integration failed: {run.message}")
        return float(run.y[-1, -1])


def _numeric_field(pde: FirstOrderPDE) -> Callable:
    variables = pde.variables
    lead = pde.Phi[0]
    ratios = [sympy.lambdify(variables, c / lead, "numpy") for c in pde.Phi[1:]]
    a = sympy.lambdify(variables, pde.phi / lead, "numpy")
    b = sympy.lambdify(variables, pde.psi / lead, "numpy")

    def slope(s, rest):
        args = (s, *rest)
        return [float(r(*args)) for r in ratios], float(a(*args)), float(b(*args))

    return slope


def solve_by_characteristics(
    pde: FirstOrderPDE,
    initial_data: sympy.Expr,
    *,
    simplify: bool = True,
) -> CharacteristicSolution:
    """Solve ``Phi . grad h = phi h + psi`` with ``h`` given on ``x_1 = 0``.

    Parameters
    ----------
    pde : FirstOrderPDE
        The equation; ``Phi_1`` must not vanish on ``x_1 = 0`` near the
        points of interest (the hyperplane must be non-characteristic).
    initial_data : sympy.Expr
        ``h(0, x_2, ..., x_d)`` as an expression in ``x_2, ..., x_d``.
    simplify : bool
        Simplify the closed form (slower, much shorter output).

    Returns
    -------
    CharacteristicSolution
        The characteristic system, first integrals and closed form, or the
        system alone (``closed_form=None``, with ``reason``) when sympy finds
        no explicit characteristic curves or integrals.

    Raises
    ------
    ParameterError
        If ``Phi_1`` is identically zero or the initial data depend on
        ``x_1``.

    Examples
    --------
    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> pde = FirstOrderPDE((x, y), (sympy.Integer(1), y), sympy.Integer(1))
    >>> solution = solve_by_characteristics(pde, y**2)
    >>> solution.closed_form
    y**2*exp(-x)
    >>> solution.first_integrals
    (y*exp(-x),)

    Notes
    -----
    The characteristic system is written with ``x_1`` as parameter:
    ``dx_j/dx_1 = Phi_j / Phi_1``.  When each of these depends on ``x_1`` and
    ``x_j`` only, every curve is found by ``sympy.dsolve`` separately, and
    ``xi_j`` by ``sympy.solve``; coupled systems go to ``dsolve`` as a system.
    The equation for ``h`` along a curve is linear, so it is integrated with
    an integrating factor, using ``sympy.integrate``.  The result is checked
    by substituting it into the PDE.

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov, Y. Gusev, "Gradient Flow Through Diagram
       Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
       arXiv:2602.04548.
    """
    variables = pde.variables
    first, rest = variables[0], variables[1:]
    if sympy.simplify(pde.Phi[0]) == 0:
        raise ParameterError(
            f"Phi_1 is zero: x_1 = {first} cannot parametrise the characteristics"
        )
    initial_data = sympy.sympify(initial_data)
    if first in initial_data.free_symbols:
        raise ParameterError(
            f"initial data {initial_data} depend on {first}; they must be given "
            f"on {first} = 0"
        )

    tau = sympy.Symbol("tau")
    h_of_tau = sympy.Function("h")(tau)
    curves_of_tau = [sympy.Function(str(v))(tau) for v in variables]
    on_curve = dict(zip(variables, curves_of_tau, strict=True))
    system = tuple(
        sympy.Eq(c.diff(tau), Phi_i.subs(on_curve, simultaneous=True))
        for c, Phi_i in zip(curves_of_tau, pde.Phi, strict=True)
    ) + (
        sympy.Eq(
            h_of_tau.diff(tau),
            (pde.phi * sympy.Symbol("h") + pde.psi)
            .subs(on_curve, simultaneous=True)
            .subs(sympy.Symbol("h"), h_of_tau),
        ),
    )
    result = CharacteristicSolution(pde, initial_data, system)

    starts = tuple(sympy.Symbol(f"xi_{v}") for v in rest)
    curves = _characteristic_curves(pde, starts)
    if curves is None:
        result.reason = "sympy found no explicit characteristic curves"
        logger.info("no closed form: %s", result.reason)
        return result
    integrals = _invert_curves(curves, rest, starts, first)
    if integrals is None:
        result.curves = tuple(curves)
        result.reason = "the characteristic curves could not be inverted for xi"
        logger.info("no closed form: %s", result.reason)
        return result

    s = sympy.Dummy("s")
    along = {
        first: s,
        **{v: c.subs(first, s) for v, c in zip(rest, curves, strict=True)},
    }
    lead = pde.Phi[0].subs(along, simultaneous=True)
    rate = sympy.simplify(pde.phi.subs(along, simultaneous=True) / lead)
    source = sympy.simplify(pde.psi.subs(along, simultaneous=True) / lead)
    exponent = _integral_from_zero(rate, s, first)
    start_value = initial_data.subs(
        dict(zip(rest, starts, strict=True)), simultaneous=True
    )
    transported = start_value
    if source != 0:
        s_exponent = exponent.subs(first, s)
        transported += _integral_from_zero(source * sympy.exp(-s_exponent), s, first)
    along_solution = sympy.exp(exponent) * transported
    if along_solution.has(sympy.Integral):
        result.curves = tuple(curves)
        result.first_integrals = tuple(integrals)
        result.reason = "sympy could not integrate the equation for h along a curve"
        logger.info("no closed form: %s", result.reason)
        return result

    closed = along_solution.subs(
        dict(zip(starts, integrals, strict=True)), simultaneous=True
    )
    if simplify:
        closed = _tidy(closed)
    result.curves = tuple(curves)
    result.first_integrals = tuple(integrals)
    result.starts = starts
    result.closed_form = closed
    result.verified = _verify(pde, closed, initial_data)
    if not result.verified:
        logger.warning("closed form %s failed the PDE check", closed)
    return result


def _characteristic_curves(
    pde: FirstOrderPDE, starts: Sequence[sympy.Symbol]
) -> list[sympy.Expr] | None:
    variables = pde.variables
    first, rest = variables[0], variables[1:]
    ratios = [sympy.simplify(c / pde.Phi[0]) for c in pde.Phi[1:]]
    curves = []
    for variable, ratio, start in zip(rest, ratios, starts, strict=True):
        others = ratio.free_symbols & (set(rest) - {variable})
        if others:
            return _coupled_curves(first, rest, ratios, starts)
        if ratio == 0:
            curves.append(start)
            continue
        function = sympy.Function("X")(first)
        equation = sympy.Eq(function.diff(first), ratio.subs(variable, function))
        try:
            solutions = sympy.dsolve(
                equation, function, ics={function.subs(first, 0): start}
            )
        except (NotImplementedError, ValueError, TypeError) as exc:
            logger.info("dsolve failed on %s: %s", equation, exc)
            return None
        if isinstance(solutions, list):
            solutions = [sol for sol in solutions if _starts_at(sol.rhs, first, start)]
            if len(solutions) != 1:
                return None
            solutions = solutions[0]
        if not isinstance(solutions, sympy.Eq) or solutions.lhs != function:
            return None
        curves.append(sympy.simplify(solutions.rhs))
    return curves


def _starts_at(expr: sympy.Expr, first: sympy.Symbol, start: sympy.Symbol) -> bool:
    value = sympy.simplify(expr.subs(first, 0) - start)
    return value == 0


def _coupled_curves(first, rest, ratios, starts) -> list[sympy.Expr] | None:
    functions = [sympy.Function(f"X{i}")(first) for i in range(len(rest))]
    on_curve = dict(zip(rest, functions, strict=True))
    equations = [
        sympy.Eq(f.diff(first), r.subs(on_curve, simultaneous=True))
        for f, r in zip(functions, ratios, strict=True)
    ]
    ics = {f.subs(first, 0): s for f, s in zip(functions, starts, strict=True)}
    try:
        solutions = sympy.dsolve(equations, functions, ics=ics)
    except (NotImplementedError, ValueError, TypeError) as exc:
        logger.info("dsolve failed on the coupled system: %s", exc)
        return None
    if not solutions or not isinstance(solutions[0], sympy.Eq):
        return None
    by_function = {sol.lhs: sol.rhs for sol in solutions}
    if set(by_function) != set(functions):
        return None
    return [sympy.simplify(by_function[f]) for f in functions]


def _invert_curves(curves, rest, starts, first) -> list[sympy.Expr] | None:
    if not rest:
        return []
    equations = [sympy.Eq(v, c) for v, c in zip(rest, curves, strict=True)]
    try:
        solutions = sympy.solve(equations, list(starts), dict=True)
    except NotImplementedError:
        return None
    solutions = [
        sol
        for sol in solutions
        if set(sol) == set(starts)
        and all(
            sympy.simplify(sol[s].subs(first, 0) - v) == 0
            for s, v in zip(starts, rest, strict=True)
        )
    ]
    if len(solutions) != 1:
        return None
    return [sympy.simplify(solutions[0][s]) for s in starts]


def _integral_from_zero(integrand, s, upper) -> sympy.Expr:
    """``integral_0^upper integrand ds`` with logarithms real near ``s = 0``.

    ``sympy.integrate`` writes antiderivatives such as ``log(12 s - 1)``,
    whose difference is right but whose exponential carries a spurious
    ``(-1)^(1/3)``; since ``log(u)`` and ``log(-u)`` differ by a constant,
    each logarithm whose argument is negative at ``s = 0`` is flipped first.
    """
    antiderivative = sympy.integrate(integrand, s)
    if antiderivative.has(sympy.Integral):
        return sympy.integrate(integrand, (s, 0, upper))
    flips = {}
    for log in antiderivative.atoms(sympy.log):
        at_zero = log.args[0].subs(s, 0)
        if at_zero.is_number and at_zero.is_negative:
            flips[log] = sympy.log(sympy.expand(-log.args[0]))
    antiderivative = antiderivative.xreplace(flips)
    return sympy.simplify(antiderivative.subs(s, upper) - antiderivative.subs(s, 0))


def _tidy(expr: sympy.Expr) -> sympy.Expr:
    candidates = [sympy.simplify(expr)]
    candidates.append(sympy.factor(sympy.powsimp(candidates[0])))
    return min(candidates, key=sympy.count_ops)


def _verify(pde: FirstOrderPDE, closed: sympy.Expr, initial_data: sympy.Expr) -> bool:
    variables = pde.variables
    residual = pde.residual(closed)
    start_error = closed.subs(variables[0], 0) - initial_data
    if sympy.simplify(residual) == 0 and sympy.simplify(start_error) == 0:
        return True
    # sympy's simplify is incomplete for nested radicals and logarithms;
    # fall back on values at random points close to the origin.
    rng = random.Random(12345)
    for _ in range(6):
        point = {v: sympy.Rational(rng.randint(1, 40), 400) for v in variables}
        values = [
            complex(sympy.N(e.subs(point), 30))
            for e in (residual, start_error.subs(variables[0], 0))
        ]
        if not np.allclose(values, 0, atol=1e-20):
            return False
    return True
