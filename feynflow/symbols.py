"""The sympy symbols in which feynflow writes its results."""

import sympy

__all__ = ["p", "H", "sigma", "t", "T", "POLY_GENS"]

#: Target size (range of a p-node's index).
p = sympy.Symbol("p", positive=True, integer=True)
#: Model rank (range of an H-node's index).
H = sympy.Symbol("H", positive=True, integer=True)
#: Standard deviation of the Gaussian initialisation.
sigma = sympy.Symbol("sigma", positive=True)
#: Time of the gradient flow.
t = sympy.Symbol("t", real=True)
#: Inverse learning rate.
T = sympy.Symbol("T", positive=True)

#: Generators, in order, of every coefficient polynomial feynflow returns.
POLY_GENS = (p, H, sigma)
