"""``feynflow coefficients``: exact coefficients Y_s of the expected loss."""

from __future__ import annotations

import argparse
import sys

import sympy

from feynflow.cli._common import (
    accept_negative_values,
    add_scenario_arguments,
    add_time_limit_argument,
    checked_target,
    fraction,
    jobs_argument,
    nonnegative_int,
    order_progress,
    poly_terms,
    positive_int,
    print_json,
    scenario_name,
    stop_pool,
    worker_pool,
    writing_clock,
)
from feynflow.cli.cache import add_cache_arguments, cache_from_arguments
from feynflow.errors import ParameterError

ORDER = 10


def register(subparsers) -> None:
    """Add the ``coefficients`` sub-command."""
    parser = subparsers.add_parser(
        "coefficients",
        help="exact coefficients Y_0..Y_S of the expected loss",
        description=(
            "Print Y_s = T^s E[d^s L/dt^s (0)] for s = 0..S as exact "
            "polynomials in p, H and sigma."
        ),
    )
    add_scenario_arguments(parser)
    parser.add_argument(
        "--order", type=nonnegative_int, required=True, help="highest s (>= 0)"
    )
    parser.add_argument(
        "--target",
        default="identity",
        metavar="TARGET",
        help=(
            "identity (default), zero, modadd, or a weighted sum of products of "
            "deltas of index positions 1..nu, e.g. 'd(1,2)*d(2,3) + 1/2*d(1,3)'"
        ),
    )
    parser.add_argument(
        "--p-value",
        type=positive_int,
        default=None,
        metavar="P",
        help="evaluate at this integer p (exact for modadd at any p)",
    )
    parser.add_argument(
        "--leading",
        action="store_true",
        help="only the Pareto-optimal terms of each Y_s",
    )
    parser.add_argument(
        "--alpha",
        nargs=3,
        type=fraction,
        default=None,
        metavar=("AP", "AH", "AS"),
        help=(
            "only the terms of each Y_s that lead when p ~ a^AP, H ~ a^AH, "
            "sigma ~ a^AS (AP, AH > 0; integers or fractions like -1/2); the "
            "pure-target constant of Y_0 is left out"
        ),
    )
    parser.add_argument("--format", choices=("table", "json", "latex"), default="table")
    accept_negative_values(parser)
    parser.add_argument(
        "--jobs",
        type=jobs_argument,
        default=1,
        metavar="N",
        help="local worker processes (default 1)",
    )
    add_time_limit_argument(parser)
    add_cache_arguments(parser)
    parser.set_defaults(func=run)


def compute_coefficients(args: argparse.Namespace, target) -> list:
    """Run `loss_coefficients` as the arguments ask: progress, jobs, cache.

    With ``--alpha``, `leading_coefficients` instead.
    """
    from feynflow.expansion import leading_coefficients, loss_coefficients

    executor = None
    if args.jobs > 1:
        executor = worker_pool(args.jobs)
    try:
        with (
            cache_from_arguments(args) as cache,
            order_progress(args.order + 1) as progress,
        ):
            if args.alpha is not None:
                return leading_coefficients(
                    args.nu,
                    args.order,
                    tuple(args.alpha),
                    symmetric=args.symmetric,
                    target=target,
                    time_limit=args.time_limit,
                    progress=progress,
                    executor=executor,
                    cache=cache,
                )
            return loss_coefficients(
                args.nu,
                args.order,
                symmetric=args.symmetric,
                target=target,
                leading=args.leading,
                time_limit=args.time_limit,
                progress=progress,
                executor=executor,
                cache=cache,
            )
    finally:
        if executor is not None:
            stop_pool(executor)


def _modadd_coefficients(args: argparse.Namespace):
    """Modular-addition coefficients, exact at ``--p-value`` or generic."""
    from feynflow.targets import modadd_coefficients

    with order_progress(args.order + 1) as progress:
        return modadd_coefficients(
            args.nu,
            args.order,
            args.symmetric,
            p_value=args.p_value,
            # Terms leading under --alpha are Pareto-optimal.
            leading=args.leading or args.alpha is not None,
            time_limit=args.time_limit,
            progress=progress,
        )


def _leading_part(poly, alpha):
    """The terms of ``poly`` that lead under ``alpha``, as a polynomial."""
    from feynflow.asymptotics import leading_terms
    from feynflow.expansion import _face_poly

    return _face_poly(leading_terms(poly, alpha))


def _without_p(poly, p_value: int):
    """``poly`` with ``p`` set to ``p_value``, still in ``(p, H, sigma)``."""
    from feynflow.symbols import POLY_GENS, p

    return sympy.Poly(poly.as_expr().subs(p, p_value), *POLY_GENS, domain="QQ")


def run(args: argparse.Namespace) -> int:
    """Compute and print the coefficients."""
    check_time = writing_clock(args.time_limit)
    target = checked_target(args.target, args.nu)
    name = str(target)
    extra: dict = {}
    if args.alpha is not None:
        if args.alpha[0] <= 0 or args.alpha[1] <= 0:
            raise ParameterError(
                f"--alpha {' '.join(map(str, args.alpha))} is not allowed; "
                "AP and AH must be > 0"
            )
        if args.p_value is not None:
            raise ParameterError(
                "--alpha and --p-value do not go together: a scaling needs p to grow"
            )
        if args.leading:
            raise ParameterError(
                "--leading and --alpha do not go together: --alpha keeps "
                "only the terms leading under that scaling"
            )
        extra["alpha"] = [str(a) for a in args.alpha]
    if name == "modadd":
        result = _modadd_coefficients(args)
        polys = result.coefficients
        if args.alpha is not None:
            polys = [_leading_part(poly, args.alpha) for poly in polys]
        if args.p_value is None:
            extra["exact_for"] = {
                "p_not_divisible_by": list(result.exceptional_primes),
                "primes_above": result.prime_bound,
            }
            if result.exceptional_primes and args.format != "json":
                primes = ", ".join(str(q) for q in result.exceptional_primes)
                print(
                    f"feynflow: warning: these polynomials hold only for p not "
                    f"divisible by {primes}; use --p-value P for such p",
                    file=sys.stderr,
                )
    else:
        polys = compute_coefficients(args, target)
        if args.p_value is not None:
            polys = [_without_p(poly, args.p_value) for poly in polys]
    if args.p_value is not None:
        extra["p_value"] = args.p_value

    if args.format == "json":
        coefficients = []
        for s, poly in enumerate(polys):
            check_time()
            terms = poly_terms(poly)
            if args.p_value is not None:
                for term in terms:
                    del term["p"]
            coefficients.append({"s": s, "terms": terms})
        check_time()
        print_json(
            {
                "nu": args.nu,
                "scenario": scenario_name(args.symmetric),
                "target": name,
                "order": args.order,
                "leading": bool(args.leading or args.alpha is not None),
                **extra,
                "coefficients": coefficients,
            }
        )
    else:
        # Every line is made before any is written: a run stopped by the
        # time limit prints nothing on standard output.
        lines = []
        for s, poly in enumerate(polys):
            check_time()
            if args.format == "latex":
                lines.append(f"Y_{{{s}}} &= {sympy.latex(poly.as_expr())} \\\\\n")
            else:
                lines.append(f"Y_{s} = {poly.as_expr()}\n")
        check_time()
        sys.stdout.write("".join(lines))
    return 0
