"""Brute-force loss coefficients with no diagrams, for small p and H.

The loss is written as an explicit integer polynomial in all ``p*H*colours``
weights (python-flint), the flow derivative ``G -> sum_u (dG/du)(dL/du)`` is
applied ``s`` times, and every monomial is averaged with
``E[u^a] = (a-1)!! sigma^a`` for even ``a``.  Any target tensor can be given
as a function of the index tuple (`brute_force_tensor_coefficients`).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import flint


def _double_factorial(n: int) -> int:
    result = 1
    while n > 1:
        result *= n
        n -= 2
    return result


def _weights(nu: int, p: int, H: int, symmetric: bool):
    colours = 1 if symmetric else nu
    ctx = flint.fmpz_mpoly_ctx.get(("u", colours * H * p), "lex")
    gens = ctx.gens()

    def u(m: int, k: int, i: int):
        m = 0 if symmetric else m
        return gens[(m * H + k) * p + i]

    return ctx, gens, u


def twice_loss(nu: int, p: int, H: int, symmetric: bool, target: str):
    """``2 L`` as an integer polynomial in the weights, and the weights."""
    ctx, gens, u = _weights(nu, p, H, symmetric)
    total = ctx.from_dict({})
    for index in itertools.product(range(p), repeat=nu):
        f = ctx.from_dict({})
        for k in range(H):
            term = ctx.from_dict({(0,) * len(gens): 1})
            for m, i in enumerate(index):
                term *= u(m, k, i)
            f += term
        if target == "identity" and len(set(index)) == 1:
            f -= 1
        total += f * f
    return total, gens


def brute_force_coefficients(
    nu: int, p: int, H: int, order: int, symmetric: bool, target: str
) -> list[dict[int, Fraction]]:
    """``[Y_0, ..., Y_order]`` at the given ``p, H``, each ``{sigma power: coeff}``."""
    loss2, gens = twice_loss(nu, p, H, symmetric, target)
    gradient = [loss2.derivative(v) for v in range(len(gens))]
    current = loss2  # 2^(s+1) (-T)^s d^s L/dt^s
    result = []
    for s in range(order + 1):
        averaged: dict[int, Fraction] = {}
        for flint_exponents, coeff in current.terms():
            exponents = [int(a) for a in flint_exponents]
            if any(a % 2 for a in exponents):
                continue
            weight = int(coeff)
            for a in exponents:
                weight = weight * _double_factorial(a - 1)
            degree = sum(exponents)
            averaged[degree] = averaged.get(degree, Fraction(0)) + weight
        # Y_s = T^s E[d^s L/dt^s] and d/dt = -(1/T) (G -> sum dG/du dL/du).
        scale = Fraction((-1) ** s, 2 ** (s + 1))
        result.append({d: c * scale for d, c in averaged.items() if c})
        if s < order:
            current = sum(
                (current.derivative(v) * gradient[v] for v in range(len(gens))),
                start=loss2.context().from_dict({}),
            )
    return result


def brute_force_tensor_coefficients(
    nu: int, p: int, H: int, order: int, symmetric: bool, tensor
) -> list[dict[int, Fraction]]:
    """Like `brute_force_coefficients` for any target ``F[i] = tensor(i)``.

    ``tensor`` maps a tuple of ``nu`` 0-based indices to an exact rational.
    The polynomials have rational coefficients (``flint.fmpq_mpoly``).
    """
    colours = 1 if symmetric else nu
    n_vars = colours * H * p
    ctx = flint.fmpq_mpoly_ctx.get(("u", n_vars), "lex")
    gens = ctx.gens()
    one = ctx.from_dict({(0,) * n_vars: 1})

    def u(m: int, k: int, i: int):
        return gens[((0 if symmetric else m) * H + k) * p + i]

    loss2 = ctx.from_dict({})
    for index in itertools.product(range(p), repeat=nu):
        f = ctx.from_dict({})
        for k in range(H):
            term = one
            for m, i in enumerate(index):
                term = term * u(m, k, i)
            f += term
        value = Fraction(tensor(index))
        f -= one * flint.fmpq(value.numerator, value.denominator)
        loss2 += f * f
    gradient = [loss2.derivative(v) for v in range(n_vars)]
    current = loss2
    result = []
    for s in range(order + 1):
        averaged: dict[int, Fraction] = {}
        for flint_exponents, coeff in current.terms():
            exponents = [int(a) for a in flint_exponents]
            if any(a % 2 for a in exponents):
                continue
            weight = Fraction(int(coeff.p), int(coeff.q))
            for a in exponents:
                weight = weight * _double_factorial(a - 1)
            degree = sum(exponents)
            averaged[degree] = averaged.get(degree, Fraction(0)) + weight
        scale = Fraction((-1) ** s, 2 ** (s + 1))
        result.append({d: c * scale for d, c in averaged.items() if c})
        if s < order:
            current = sum(
                (current.derivative(v) * gradient[v] for v in range(n_vars)),
                start=ctx.from_dict({}),
            )
    return result
