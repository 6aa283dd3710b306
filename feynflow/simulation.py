"""Numerical gradient flow of the CP model, averaged over random initialisations.

The simulator integrates ``du/dt = -(1/T) dL/du`` for the rank-``H`` CP model
of SPEC section 1 and returns the mean and standard deviation of the loss over
seeds.  Loss and gradient are evaluated through ``H x H`` Gram matrices, so the
``p^nu`` tensor is never formed; a plain dense implementation serves as the
reference for small sizes and arbitrary targets.

References
----------
.. [1] D. Yarotsky, E. Golikov and M. Gusev, "Gradient Flow Through Diagram
   Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
   arXiv:2602.04548.
"""

from __future__ import annotations

import logging
import math
import numbers
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feynflow.errors import ParameterError

__all__ = [
    "SimulationResult",
    "simulate",
    "initial_weights",
    "loss_and_gradient",
    "dense_loss_and_gradient",
    "memory_estimate",
    "integrate",
    "DEFAULT_MEMORY_LIMIT",
]

logger = logging.getLogger(__name__)

#: Largest working memory (bytes) one seed of a run may need before ``simulate``
#: refuses it.
DEFAULT_MEMORY_LIMIT = 8 * 2**30

_TARGETS = ("identity", "zero")
_METHODS = ("euler", "rk4")
_BACKENDS = ("numpy", "torch")
_BYTES = 8  # float64
# Gram-matrix entries of a whole batch of seeds that still fit in the cache.
_BATCH_ENTRIES = 2**17


@dataclass(frozen=True)
class SimulationResult:
    """Loss curves of a gradient-flow simulation.

    Attributes
    ----------
    t : numpy.ndarray
        The ``steps + 1`` times ``0, dt, ..., t_max`` (float64).
    loss_mean : numpy.ndarray
        Mean of ``L(t)`` over seeds; ``inf`` from the first time at which some
        seed has blown up.
    loss_std : numpy.ndarray
        Sample standard deviation (``ddof=1``; zero for a single seed) of
        ``L(t)`` over seeds; ``nan`` where some seed has blown up.
    params : dict
        The arguments of the run (``nu``, ``symmetric``, ``p``, ``H``, ``sigma``,
        ``T``, ``t_max``, ``steps``, ``seeds`` as a list, ``target``, ``method``,
        ``backend``).
    blowup_time : numpy.ndarray
        For every seed, the first time of the grid at which the loss was no
        longer a finite float64 (``nan`` if it stayed finite).
    runs : numpy.ndarray or None
        Every seed's curve, shape ``(n_seeds, steps + 1)``, if requested.
    """

    t: np.ndarray
    loss_mean: np.ndarray
    loss_std: np.ndarray
    params: dict
    blowup_time: np.ndarray
    runs: np.ndarray | None = field(default=None)

    @property
    def first_blowup_time(self) -> float:
        """Blow-up time of the seed that blew up first (``nan`` if none did)."""
        finite = self.blowup_time[~np.isnan(self.blowup_time)]
        if finite.size == 0:
            return math.nan
        # Ascent runs towards negative t: the earliest blow-up is nearest to 0.
        return float(finite[np.argmin(np.abs(finite))])


# --------------------------------------------------------------------------
# Array operations shared by the numpy and torch backends.


class _Backend:
    """The handful of array operations the flow needs, for one library.

    Operations write into caller-provided buffers (``out``): the flow reuses
    the same few large arrays at every step, because allocating fresh
    megabyte-sized arrays (and faulting their pages in) can cost more than
    the arithmetic.
    """

    def __init__(self, name: str, device: str | None = None) -> None:
        self.name = name
        if name == "torch":
            import torch

            self.torch = torch
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.device = torch.device(device)

    def asarray(self, array: np.ndarray) -> Any:
        if self.name == "torch":
            return self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return np.array(array, dtype=np.float64)

    def to_numpy(self, array: Any) -> np.ndarray:
        if self.name == "torch":
            return array.detach().cpu().numpy()
        return np.asarray(array)

    def empty(self, shape: tuple) -> Any:
        if self.name == "torch":
            return self.torch.empty(shape, dtype=self.torch.float64, device=self.device)
        return np.empty(shape)

    def matmul(self, left: Any, right: Any, out: Any) -> Any:
        """``out = left @ right`` over the last two axes, batched over the first."""
        if self.name == "torch":
            out.copy_(left @ right)
            return out
        # numpy's batched matmul is erratic in speed (sometimes 10x slower
        # than BLAS on each slice), so the seeds are multiplied one by one.
        for index in range(left.shape[0]):
            np.matmul(left[index], right[index], out=out[index])
        return out

    def gram(self, rows: Any, out: Any, scratch: Any = None) -> Any:
        """``out = rows @ rows^T`` per seed; ``scratch`` holds ``rows^T``.

        numpy sends ``A @ A.T`` to BLAS ``syrk``, which (OpenBLAS) is slower
        than a general product when the inner dimension is much smaller than
        the output; with a ``scratch`` buffer the general product is used.
        """
        if self.name == "torch":
            out.copy_(rows @ rows.transpose(-1, -2))
            return out
        for index in range(rows.shape[0]):
            if scratch is None:
                np.matmul(rows[index], rows[index].T, out=out[index])
            else:
                np.copyto(scratch[index], rows[index].T)
                np.matmul(rows[index], scratch[index], out=out[index])
        return out

    def multiply(self, left: Any, right: Any, out: Any) -> Any:
        if self.name == "torch":
            return self.torch.mul(left, right, out=out)
        return np.multiply(left, right, out=out)

    def transpose(self, array: Any) -> Any:
        if self.name == "torch":
            return array.transpose(-1, -2)
        return np.swapaxes(array, -1, -2)

    def subtract_identity(self, matrices: Any) -> None:
        """Subtract the identity from each square matrix, in place."""
        if self.name == "torch":
            matrices.diagonal(dim1=-2, dim2=-1).sub_(1.0)
        else:
            diagonal = np.arange(matrices.shape[-1])
            matrices[:, diagonal, diagonal] -= 1.0

    def inner(self, left: Any, right: Any) -> np.ndarray:
        """Sum of the elementwise product over the last two axes, per seed."""
        if self.name == "torch":
            return self.to_numpy((left * right).sum(dim=(-1, -2)))
        # BLAS dot products, much faster than numpy's summation of a product.
        return np.array(
            [np.vdot(left[index], right[index]) for index in range(left.shape[0])]
        )


class _Evaluator:
    """Loss and gradient for batches of weights of shape ``(S, C, H, p)``.

    ``C`` is 1 (SYM) or ``nu`` (ASYM).  Calling it returns the loss per seed
    (a numpy array of shape ``(S,)``) and the gradient, written into a buffer
    that the next call overwrites.
    """

    def __init__(
        self, nu: int, symmetric: bool, target: str, shape: tuple, ops: _Backend
    ) -> None:
        self.nu = nu
        self.symmetric = symmetric
        self.identity = target == "identity"
        self.ops = ops
        n_seeds, colours, n_rank, size = shape
        self.size = size
        self.gradient = ops.empty(shape)
        # For nu = 2 the model f is itself a p x p matrix; when p < H it is
        # cheaper than the H x H Gram and avoids cancellation in the loss.
        self.model_route = nu == 2 and size < n_rank
        # See _Backend.gram: a transposed copy of the weights when p << H.
        self.scratch = (
            ops.empty((n_seeds, size, n_rank))
            if ops.name == "numpy" and 4 * size < n_rank and not self.model_route
            else None
        )
        if self.model_route:
            self.model = ops.empty((n_seeds, size, size))
        elif symmetric:
            self.gram = ops.empty((n_seeds, n_rank, n_rank))
            self.gram_power = ops.empty((n_seeds, n_rank, n_rank)) if nu > 2 else None
            self.weight_power = (
                ops.empty((n_seeds, n_rank, size)) if self.identity and nu > 2 else None
            )
        else:
            self.grams = [ops.empty((n_seeds, n_rank, n_rank)) for _ in range(nu)]

    def __call__(self, weights: Any) -> tuple[np.ndarray, Any]:
        if self.model_route:
            return self._model_route(weights)
        if self.symmetric:
            return self._symmetric(weights)
        return self._asymmetric(weights)

    def _model_route(self, weights: Any) -> tuple[np.ndarray, Any]:
        ops, residual, gradient = self.ops, self.model, self.gradient
        first = weights[:, 0]
        second = first if self.symmetric else weights[:, 1]
        ops.matmul(ops.transpose(first), second, out=residual)
        if self.identity:
            ops.subtract_identity(residual)
        loss = 0.5 * ops.inner(residual, residual)
        if self.symmetric:
            ops.matmul(first, residual, out=gradient[:, 0])
            gradient *= 2.0
        else:
            ops.matmul(second, ops.transpose(residual), out=gradient[:, 0])
            ops.matmul(first, residual, out=gradient[:, 1])
        return loss, gradient

    def _power(self, base: Any, exponent: int, out: Any) -> Any:
        """``base ** exponent`` elementwise (``exponent >= 1``) into ``out``."""
        if exponent == 1:
            return base
        self.ops.multiply(base, base, out=out)
        for _ in range(exponent - 2):
            self.ops.multiply(out, base, out=out)
        return out

    def _symmetric(self, weights: Any) -> tuple[np.ndarray, Any]:
        # The nu colour contributions to the derivative in the shared matrix
        # are equal: nu (G^(nu-1) U - U^(nu-1)), powers elementwise.
        ops, nu, gradient = self.ops, self.nu, self.gradient
        matrix = weights[:, 0]
        gram = ops.gram(matrix, out=self.gram, scratch=self.scratch)
        gram_power = self._power(gram, nu - 1, self.gram_power)
        loss = 0.5 * ops.inner(gram_power, gram)
        ops.matmul(gram_power, matrix, out=gradient[:, 0])
        if self.identity:
            weight_power = self._power(matrix, nu - 1, self.weight_power)
            loss = loss - ops.inner(weight_power, matrix) + 0.5 * self.size
            gradient[:, 0] -= weight_power
        gradient *= float(nu)
        return loss, gradient

    def _asymmetric(self, weights: Any) -> tuple[np.ndarray, Any]:
        # The derivative in colour m involves the product of the other
        # colours' Gram matrices (and weights); prefix and suffix products
        # give all of them in O(nu) elementwise products instead of O(nu^2).
        ops, nu, gradient = self.ops, self.nu, self.gradient
        grams = [
            ops.gram(weights[:, m], out=self.grams[m], scratch=self.scratch)
            for m in range(nu)
        ]
        gram_others = _products_of_others(grams)
        loss = 0.5 * ops.inner(gram_others[0], grams[0])
        for m in range(nu):
            ops.matmul(gram_others[m], weights[:, m], out=gradient[:, m])
        if self.identity:
            weight_others = _products_of_others([weights[:, m] for m in range(nu)])
            loss = loss - ops.inner(weight_others[0], weights[:, 0]) + 0.5 * self.size
            for m in range(nu):
                gradient[:, m] -= weight_others[m]
        return loss, gradient


def _batched_loss_and_gradient(
    weights: Any, nu: int, symmetric: bool, target: str, ops: _Backend
) -> tuple[np.ndarray, Any]:
    """One evaluation of :class:`_Evaluator` (the gradient is a fresh array)."""
    evaluate = _Evaluator(nu, symmetric, target, tuple(weights.shape), ops)
    return evaluate(weights)


def _products_of_others(factors: list) -> list:
    """For each position ``m``, the elementwise product of all factors but ``m``."""
    count = len(factors)
    prefix = [None] * count
    suffix = [None] * count
    for m in range(1, count):
        prefix[m] = (
            factors[m - 1] if prefix[m - 1] is None else prefix[m - 1] * factors[m - 1]
        )
    for m in range(count - 2, -1, -1):
        suffix[m] = (
            factors[m + 1] if suffix[m + 1] is None else suffix[m + 1] * factors[m + 1]
        )
    products = []
    for m in range(count):
        if prefix[m] is None:
            products.append(suffix[m])
        elif suffix[m] is None:
            products.append(prefix[m])
        else:
            products.append(prefix[m] * suffix[m])
    return products


def _check_weights(weights: np.ndarray, nu: int, symmetric: bool) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    colours = 1 if symmetric else nu
    if weights.ndim != 3 or weights.shape[0] != colours:
        raise ParameterError(
            f"weights of shape {weights.shape} are not allowed; expected "
            f"({colours}, H, p) for {'SYM' if symmetric else 'ASYM'} nu={nu}"
        )
    return weights


def loss_and_gradient(
    weights: np.ndarray, nu: int, symmetric: bool, target: str = "identity"
) -> tuple[float, np.ndarray]:
    """Loss and gradient of the CP model through ``H x H`` Gram matrices.

    The loss is ``L = 1/2 sum (f - F)^2`` with the model
    ``f[i1..inu] = sum_k prod_m u[m][k][i_m]``.  It is evaluated without the
    ``p^nu`` tensor: with the Gram matrices ``G_m = U_m U_m^T``,
    ``sum f^2 = sum_{k,k'} prod_m G_m[k,k']`` and, for the identity target,
    ``sum f F = sum_{k,i} prod_m U_m[k,i]``.  Differentiating,
    ``dL/dU_m = (prod_{m' != m} G_m') U_m - prod_{m' != m} U_m'`` (products
    elementwise), and in SYM the ``nu`` colour contributions add up to
    ``nu (G^{nu-1} U - U^{nu-1})``.

    Parameters
    ----------
    weights : numpy.ndarray
        Shape ``(1, H, p)`` in SYM (the one matrix shared by every colour) or
        ``(nu, H, p)`` in ASYM; entry ``[m, k, i]`` is ``u[m][k][i]``.
    nu : int
        Tensor order, ``nu >= 2``.
    symmetric : bool
        SYM (one weight matrix) or ASYM (``nu`` independent ones).
    target : {"identity", "zero"}
        Target tensor ``F``: the identity (diagonal) tensor or zero.

    Returns
    -------
    loss : float
        The value of ``L``.
    gradient : numpy.ndarray
        ``dL/du`` with the shape of ``weights``.  In SYM it is the derivative
        in the shared matrix, i.e. the sum over colours.

    Raises
    ------
    ParameterError
        If ``nu < 2``, the target is unknown or the weights have the wrong
        shape.

    See Also
    --------
    dense_loss_and_gradient : the reference that forms the ``p^nu`` tensor.

    Notes
    -----
    Costs ``O(nu H^2 p)`` time and ``O(nu H^2 + nu H p)`` memory.  For
    ``nu = 2`` and ``p < H`` the ``p x p`` matrix ``U_1^T U_2`` (the model
    itself) replaces the ``H x H`` Gram matrix, which is cheaper and avoids
    the cancellation between ``sum f^2`` and ``sum f F``.

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov and M. Gusev, "Gradient Flow Through
       Diagram Expansions: Learning Regimes and Explicit Solutions",
       ICML 2026, arXiv:2602.04548, section 6.

    Examples
    --------
    A SYM ``nu = 2`` model with ``U = I`` (``H = p = 2``) fits the identity:

    >>> import numpy as np
    >>> loss, gradient = loss_and_gradient(np.eye(2)[None], 2, True)
    >>> float(loss), float(abs(gradient).max())
    (0.0, 0.0)
    """
    _check_scenario(nu, target)
    weights = _check_weights(weights, nu, symmetric)
    ops = _Backend("numpy")
    loss, gradient = _batched_loss_and_gradient(
        weights[None], nu, symmetric, target, ops
    )
    return float(loss[0]), gradient[0]


def dense_loss_and_gradient(
    weights: np.ndarray,
    nu: int,
    symmetric: bool,
    target: str | np.ndarray = "identity",
) -> tuple[float, np.ndarray]:
    """Loss and gradient of the CP model from the full ``p^nu`` tensor.

    The model tensor ``f`` is built with ``numpy.einsum`` and
    ``L = 1/2 sum (f - F)^2``; the derivative in ``u[m][k][i]`` contracts the
    residual ``f - F`` with the other colours' weights.  This is the plain
    reference for :func:`loss_and_gradient`, usable for any target.

    Parameters
    ----------
    weights : numpy.ndarray
        Shape ``(1, H, p)`` (SYM) or ``(nu, H, p)`` (ASYM).
    nu : int
        Tensor order, ``nu >= 2``.
    symmetric : bool
        SYM or ASYM scenario.
    target : {"identity", "zero"} or numpy.ndarray
        The target tensor ``F``, by name or as an array of shape ``(p,) * nu``.

    Returns
    -------
    loss : float
        The value of ``L``.
    gradient : numpy.ndarray
        ``dL/du`` with the shape of ``weights`` (summed over colours in SYM).

    Raises
    ------
    ParameterError
        If ``nu < 2``, the weights or the target have the wrong shape, or the
        target name is unknown.

    Notes
    -----
    Costs ``O(nu H p^nu)`` time and ``O(p^nu)`` memory: meant for small ``p``.

    Examples
    --------
    >>> import numpy as np
    >>> loss, _ = dense_loss_and_gradient(np.ones((2, 1, 2)), 2, False)
    >>> float(loss)  # f is all ones, F the 2 x 2 identity
    1.0
    """
    if isinstance(target, str):
        _check_scenario(nu, target)
    else:
        _check_scenario(nu, "zero")
    weights = _check_weights(weights, nu, symmetric)
    size = weights.shape[2]
    if isinstance(target, str):
        target_tensor = np.zeros((size,) * nu)
        if target == "identity":
            target_tensor[(np.arange(size),) * nu] = 1.0
    else:
        target_tensor = np.asarray(target, dtype=np.float64)
        if target_tensor.shape != (size,) * nu:
            raise ParameterError(
                f"target of shape {target_tensor.shape} is not allowed; "
                f"expected {(size,) * nu}"
            )

    matrices = [weights[0 if symmetric else m] for m in range(nu)]
    letters = string.ascii_lowercase[:nu]
    rank_letter = "z"
    operands = ",".join(rank_letter + letter for letter in letters)
    model = np.einsum(f"{operands}->{letters}", *matrices, optimize=True)
    residual = model - target_tensor
    loss = 0.5 * float(np.sum(residual * residual))

    gradients = []
    for m in range(nu):
        others = [rank_letter + letters[j] for j in range(nu) if j != m]
        expression = f"{letters},{','.join(others)}->{rank_letter}{letters[m]}"
        gradients.append(
            np.einsum(
                expression,
                residual,
                *[matrices[j] for j in range(nu) if j != m],
                optimize=True,
            )
        )
    if symmetric:
        return loss, np.sum(gradients, axis=0)[None]
    return loss, np.stack(gradients)


# --------------------------------------------------------------------------
# Initialisation, memory, validation.


def initial_weights(
    nu: int, symmetric: bool, p: int, H: int, sigma: float, seed: int
) -> np.ndarray:
    """Draw the i.i.d. ``N(0, sigma^2)`` initial weights of one run.

    The ``C * H * p`` standard normals (``C = 1`` in SYM, ``nu`` in ASYM) come
    from one call ``numpy.random.default_rng(seed).standard_normal((C, H, p))``,
    filled in C order (colour, then rank index ``k``, then index ``i``), and
    are multiplied by ``sigma``.  The PCG64 generator and this fixed order make
    the weights the same on every machine for a given numpy release.

    Parameters
    ----------
    nu : int
        Tensor order, ``nu >= 2``.
    symmetric : bool
        SYM (one matrix) or ASYM (``nu`` matrices).
    p, H : int
        Target size and model rank, both ``>= 1``.
    sigma : float
        Standard deviation, ``> 0``.
    seed : int
        Non-negative seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(C, H, p)``.

    Examples
    --------
    >>> import numpy as np
    >>> a = initial_weights(3, False, 4, 5, 0.1, seed=7)
    >>> a.shape
    (3, 5, 4)
    >>> bool(np.array_equal(a, initial_weights(3, False, 4, 5, 0.1, seed=7)))
    True
    """
    colours = 1 if symmetric else nu
    generator = np.random.default_rng(seed)
    return sigma * generator.standard_normal((colours, H, p))


def memory_estimate(
    nu: int, symmetric: bool, p: int, H: int, method: str = "euler"
) -> int:
    """Working memory, in bytes, that one seed of :func:`simulate` needs.

    Counts the float64 arrays alive during a step: the weights with their
    gradient, integrator and scratch buffers (4 arrays of ``C H p`` for
    Euler, 6 for RK4) and the Gram matrices with their elementwise products (2 ``H x H``
    arrays in SYM, ``4 nu`` in ASYM; one ``p x p`` array for ``nu = 2`` with
    ``p < H``).

    Parameters
    ----------
    nu : int
        Tensor order.
    symmetric : bool
        SYM or ASYM.
    p, H : int
        Target size and model rank.
    method : {"euler", "rk4"}
        Integrator.

    Returns
    -------
    int
        Estimated bytes.

    Examples
    --------
    >>> memory_estimate(2, True, 512, 1024) < 2**30
    True
    """
    colours = 1 if symmetric else nu
    weight_copies = 4 if method == "euler" else 6
    weights = weight_copies * colours * H * p
    if nu == 2 and p < H:
        grams = p * p
    elif symmetric:
        grams = 2 * H * H
    else:
        grams = 4 * nu * H * H
    return _BYTES * (weights + grams)


def _check_scenario(nu: Any, target: str) -> None:
    if not isinstance(nu, numbers.Integral) or isinstance(nu, bool) or nu < 2:
        raise ParameterError(f"nu={nu!r} is not allowed; must be an integer >= 2")
    if target not in _TARGETS:
        raise ParameterError(
            f"target={target!r} is not allowed; choose one of {', '.join(_TARGETS)}"
        )


def _positive_integer(name: str, value: Any) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ParameterError(
            f"{name}={value!r} is not allowed; must be an integer >= 1"
        )
    return int(value)


def _positive_real(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ParameterError(
            f"{name}={value!r} is not allowed; must be a finite real > 0"
        )
    return number


def _check_t_max(t_max: Any) -> float:
    try:
        value = float(t_max)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value == 0:
        raise ParameterError(
            f"t_max={t_max!r} is not allowed; must be a finite real != 0"
        )
    return value


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ParameterError(
            f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}"
        )


def _seed_list(seeds: Any) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        return list(range(_positive_integer("seeds", seeds)))
    if isinstance(seeds, Sequence) and not isinstance(seeds, str) and len(seeds) > 0:
        values = list(seeds)
        if all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
            for s in values
        ):
            return [int(s) for s in values]
    raise ParameterError(
        f"seeds={seeds!r} is not allowed; give a count >= 1 or a non-empty "
        "sequence of integers >= 0"
    )


# --------------------------------------------------------------------------
# The flow.


def simulate(
    nu: int,
    symmetric: bool,
    p: int,
    H: int,
    sigma: float,
    T: float,
    t_max: float,
    steps: int,
    seeds: int | Sequence[int],
    target: str = "identity",
    method: str = "euler",
    backend: str = "numpy",
    return_runs: bool = False,
    progress: bool = False,
    *,
    memory_limit: int | None = None,
    device: str | None = None,
) -> SimulationResult:
    """Integrate the gradient flow of the CP model from random initialisations.

    Gradient flow with inverse learning rate ``T`` is
    ``du/dt = -(1/T) dL/du``; every seed starts from i.i.d. ``N(0, sigma^2)``
    weights (see :func:`initial_weights`) and the loss is recorded at the
    ``steps + 1`` times ``linspace(0, t_max, steps + 1)``.  A negative
    ``t_max`` runs the flow backwards, i.e. gradient ascent; a seed whose loss
    stops being a finite float64 is stopped and its blow-up time recorded.

    Parameters
    ----------
    nu : int
        Tensor order, ``nu >= 2``.
    symmetric : bool
        SYM (one weight matrix for every colour) or ASYM.
    p, H : int
        Target size and model rank, ``>= 1``.
    sigma : float
        Standard deviation of the initial weights, ``> 0``.
    T : float
        Inverse learning rate, ``> 0``.
    t_max : float
        Final time, non-zero; negative for gradient ascent.
    steps : int
        Number of integration steps, ``>= 1`` (step ``dt = t_max / steps``).
    seeds : int or sequence of int
        Number of seeds (then seeds ``0, ..., seeds - 1``) or the seeds.
    target : {"identity", "zero"}
        Target tensor: identity (diagonal) or zero (free evolution).
    method : {"euler", "rk4"}
        Explicit Euler ``u <- u - (dt/T) grad L`` (as in the paper) or the
        classical fourth-order Runge-Kutta method.
    backend : {"numpy", "torch"}
        Array library; torch runs in float64 on CUDA when available.
    return_runs : bool
        Also return every seed's curve.
    progress : bool
        Show a tqdm progress bar on stderr.
    memory_limit : int, optional
        Bytes one seed may need (default :data:`DEFAULT_MEMORY_LIMIT`).
    device : str, optional
        Torch device (``"cpu"``, ``"cuda"``); ignored by numpy.

    Returns
    -------
    SimulationResult
        Times, mean and standard deviation of the loss, parameters, blow-up
        times and (optionally) all curves, as float64 numpy arrays.

    Raises
    ------
    ParameterError
        If a size is not a positive integer, ``sigma <= 0``, ``T <= 0``,
        ``t_max = 0``, ``steps < 1``, an option is unknown, torch is requested
        but not installed, or one seed needs more memory than the limit (the
        message gives the estimate).

    See Also
    --------
    loss_and_gradient : the Gram-matrix evaluation used at every step.

    Notes
    -----
    Each step costs ``O(nu H^2 p)`` (``O(H p^2)`` for ``nu = 2``, ``p < H``)
    per seed; RK4 costs four gradient evaluations per step.  Small problems
    integrate several seeds together as one batch; large ones one at a time,
    reusing the same buffers at every step.  The loss
    ``1/2 sum f^2 - sum f F + p/2`` is a difference of large terms, so near a
    perfect fit its absolute accuracy is about ``1e-16 * sum f^2``.  A
    blow-up is detected on the grid: the recorded time is the first grid
    time with a non-finite loss, so it is accurate to about one step.

    On a machine shared with other jobs, multithreaded BLAS can be many times
    slower than one thread (``OPENBLAS_NUM_THREADS=1``).

    References
    ----------
    .. [1] D. Yarotsky, E. Golikov and M. Gusev, "Gradient Flow Through
       Diagram Expansions: Learning Regimes and Explicit Solutions",
       ICML 2026, arXiv:2602.04548, section 6.

    Examples
    --------
    Free evolution of SYM ``nu = 2`` decreases the loss:

    >>> result = simulate(nu=2, symmetric=True, p=4, H=3, sigma=0.5, T=1.0,
    ...                   t_max=1.0, steps=100, seeds=2, target="zero")
    >>> result.t.shape, bool(result.loss_mean[-1] < result.loss_mean[0])
    ((101,), True)
    """
    _check_scenario(nu, target)
    p = _positive_integer("p", p)
    H = _positive_integer("H", H)
    steps = _positive_integer("steps", steps)
    sigma = _positive_real("sigma", sigma)
    T = _positive_real("T", T)
    t_max = _check_t_max(t_max)
    _check_choice("method", method, _METHODS)
    _check_choice("backend", backend, _BACKENDS)
    seed_values = _seed_list(seeds)
    limit = DEFAULT_MEMORY_LIMIT if memory_limit is None else memory_limit
    per_seed = memory_estimate(nu, symmetric, p, H, method)
    if per_seed > limit:
        raise ParameterError(
            f"p={p}, H={H} needs about {per_seed / 2**30:.2f} GiB per seed, more "
            f"than the limit of {limit / 2**30:.2f} GiB; reduce p or H"
        )
    if backend == "torch":
        try:
            ops = _Backend("torch", device)
        except ImportError:
            raise ParameterError(
                "backend='torch' is not allowed: torch is not installed"
            ) from None
    else:
        ops = _Backend("numpy")

    times = np.linspace(0.0, t_max, steps + 1)
    runs = np.empty((len(seed_values), steps + 1))
    blowup = np.full(len(seed_values), math.nan)
    batch = max(1, min(len(seed_values), limit // per_seed, _batch_size(nu, p, H)))
    logger.info(
        "simulating %s nu=%d p=%d H=%d, %d seeds in batches of %d, %d %s steps",
        "SYM" if symmetric else "ASYM",
        nu,
        p,
        H,
        len(seed_values),
        batch,
        steps,
        method,
    )
    bar = None
    if progress:
        from tqdm import tqdm

        n_batches = -(-len(seed_values) // batch)
        bar = tqdm(total=steps * n_batches, unit="step", leave=False)
    for start in range(0, len(seed_values), batch):
        chunk = seed_values[start : start + batch]
        weights = np.stack(
            [initial_weights(nu, symmetric, p, H, sigma, seed) for seed in chunk]
        )
        runs[start : start + len(chunk)], blowup[start : start + len(chunk)] = (
            _integrate(
                ops.asarray(weights),
                nu,
                symmetric,
                target,
                method,
                T,
                times,
                ops,
                bar,
            )
        )
    if bar is not None:
        bar.close()

    loss_mean, loss_std = _statistics(runs)
    params = {
        "nu": nu,
        "symmetric": bool(symmetric),
        "p": p,
        "H": H,
        "sigma": sigma,
        "T": T,
        "t_max": t_max,
        "steps": steps,
        "seeds": seed_values,
        "target": target,
        "method": method,
        "backend": backend,
    }
    return SimulationResult(
        t=times,
        loss_mean=loss_mean,
        loss_std=loss_std,
        params=params,
        blowup_time=blowup,
        runs=runs if return_runs else None,
    )


def integrate(
    weights: np.ndarray,
    nu: int,
    symmetric: bool,
    T: float,
    t_max: float,
    steps: int,
    target: str = "identity",
    method: str = "euler",
    observer: Callable[[int, float, np.ndarray, float, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the gradient flow of one run from given weights.

    This is the integrator of :func:`simulate` for a single starting point;
    it lets the caller watch the state along the way.

    Parameters
    ----------
    weights : numpy.ndarray
        Starting weights, shape ``(1, H, p)`` (SYM) or ``(nu, H, p)`` (ASYM).
    nu : int
        Tensor order, ``nu >= 2``.
    symmetric : bool
        SYM or ASYM.
    T : float
        Inverse learning rate, ``> 0``.
    t_max : float
        Final time, non-zero (negative for gradient ascent).
    steps : int
        Number of steps, ``>= 1``.
    target : {"identity", "zero"}
        Target tensor.
    method : {"euler", "rk4"}
        Integrator.
    observer : callable, optional
        Called as ``observer(n, t_n, weights_n, loss_n, gradient_n)`` at every
        grid time; the arrays are reused afterwards, so copy what you keep.

    Returns
    -------
    t : numpy.ndarray
        The ``steps + 1`` grid times.
    loss : numpy.ndarray
        The loss at those times (``inf`` from the blow-up time on).

    Raises
    ------
    ParameterError
        On the same bad input as :func:`simulate`.

    Examples
    --------
    Rank one, ``p = 1``: ``L = (u^2 - 1)^2 / 2`` relaxes to 0.

    >>> import numpy as np
    >>> t, loss = integrate(np.full((1, 1, 1), 0.5), 2, True, 1.0, 5.0, 500)
    >>> bool(loss[-1] < 1e-6)
    True
    """
    _check_scenario(nu, target)
    weights = _check_weights(weights, nu, symmetric)
    steps = _positive_integer("steps", steps)
    T = _positive_real("T", T)
    t_max = _check_t_max(t_max)
    _check_choice("method", method, _METHODS)
    times = np.linspace(0.0, t_max, steps + 1)

    def watch(n: int, state: Any, loss: np.ndarray, gradient: Any) -> None:
        observer(n, float(times[n]), state[0], float(loss[0]), gradient[0])

    runs, _ = _integrate(
        weights[None].copy(),
        nu,
        symmetric,
        target,
        method,
        T,
        times,
        _Backend("numpy"),
        None,
        None if observer is None else watch,
    )
    return times, runs[0]


def _batch_size(nu: int, p: int, H: int) -> int:
    """How many seeds to integrate together.

    Batching saves Python overhead on small problems, but once the Gram
    matrices of a batch outgrow the CPU cache it is slower than one seed at a
    time.
    """
    gram_entries = p * p if nu == 2 and p < H else H * H
    return max(1, _BATCH_ENTRIES // gram_entries)


def _statistics(runs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample standard deviation over seeds, without numpy warnings."""
    finite = np.all(np.isfinite(runs), axis=0)
    loss_mean = np.full(runs.shape[1], math.inf)
    loss_std = np.full(runs.shape[1], math.nan)
    good = runs[:, finite]
    # Just before a blow-up the finite losses can be near the float64 maximum;
    # their mean or spread may then overflow to inf, which is the right answer.
    with np.errstate(over="ignore", invalid="ignore"):
        loss_mean[finite] = good.mean(axis=0)
        if runs.shape[0] > 1:
            loss_std[finite] = good.std(axis=0, ddof=1)
        else:
            loss_std[finite] = 0.0
    return loss_mean, loss_std


def _integrate(
    weights: Any,
    nu: int,
    symmetric: bool,
    target: str,
    method: str,
    T: float,
    times: np.ndarray,
    ops: _Backend,
    bar: Any = None,
    observer: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one batch of seeds; return its curves and blow-up times.

    ``bar``, if given, is a tqdm progress bar advanced once per step.
    ``observer(n, weights, loss, gradient)``, if given, sees the state at
    every grid time ``times[n]`` (batched backend arrays, overwritten after the
    call).  The weights are updated in place.
    """
    n_seeds = weights.shape[0]
    steps = len(times) - 1
    dt = float(times[1] - times[0])
    runs = np.empty((n_seeds, steps + 1))
    blowup = np.full(n_seeds, math.nan)
    alive = np.ones(n_seeds, dtype=bool)
    evaluate = _Evaluator(nu, symmetric, target, tuple(weights.shape), ops)
    if method == "rk4":
        # RK4 state: the intermediate point and the weighted sum of slopes.
        stage = ops.empty(tuple(weights.shape))
        slopes = ops.empty(tuple(weights.shape))

    # Overflow and inf - inf are expected in a blow-up and are detected below.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for n in range(steps + 1):
            loss, gradient = evaluate(weights)
            if observer is not None:
                observer(n, weights, loss, gradient)
            runs[:, n] = loss
            newly_dead = alive & ~np.isfinite(loss)
            if newly_dead.any():
                blowup[newly_dead] = times[n]
                alive &= ~newly_dead
                logger.info("%d seed(s) blew up at t=%g", newly_dead.sum(), times[n])
                # Dead seeds continue as zero weights, which stay finite.
                mask = ops.asarray(alive.astype(np.float64))[:, None, None, None]
                weights *= mask
                gradient *= mask
            if not alive.any():
                runs[:, n:] = math.inf
                break
            if n == steps:
                break
            # du/dt = -(1/T) grad L, updated in place to reuse the buffers.
            if method == "euler":
                gradient *= -dt / T
                weights += gradient
            else:
                ops.multiply(gradient, 1.0, out=slopes)
                for fraction, count in ((0.5, 2), (0.5, 2), (1.0, 1)):
                    ops.multiply(gradient, -fraction * dt / T, out=stage)
                    stage += weights
                    gradient = evaluate(stage)[1]
                    for _ in range(count):
                        slopes += gradient
                slopes *= -dt / (6.0 * T)
                weights += slopes
            if bar is not None:
                bar.update(1)

    # A dead seed's curve is infinite from its blow-up time on.
    for seed in np.flatnonzero(~np.isnan(blowup)):
        runs[seed, _time_index(times, blowup[seed]) :] = math.inf
    return runs, blowup


def _time_index(times: np.ndarray, value: float) -> int:
    """Index of ``value`` in the time grid ``times``."""
    return int(np.flatnonzero(times == value)[0])
