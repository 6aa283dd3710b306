"""``feynflow ascent``: the predicted gradient ascent of SYM nu = 4."""

from __future__ import annotations

import argparse
import sys

from feynflow.cli._common import positive_float, positive_int, print_json
from feynflow.errors import ParameterError
from feynflow.solutions import predict_ascent

__all__ = ["register", "run", "ORDER"]

#: Position of the command in ``feynflow --help``.
ORDER = 55


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ascent`` sub-command."""
    parser = subparsers.add_parser(
        "ascent",
        help="predict gradient ascent (t < 0) of the SYM nu = 4 model",
        description=(
            "Threshold rho*(theta), noise regime, blow-up time and predicted "
            "loss curve of SYM nu = 4 gradient ascent, tau = t/T <= 0."
        ),
    )
    parser.add_argument("--p", type=positive_float, required=True, help="target size")
    parser.add_argument("--H", type=positive_float, required=True, help="model rank")
    parser.add_argument(
        "--sigma", type=positive_float, required=True, help="initial scale"
    )
    parser.add_argument(
        "--t-min",
        type=float,
        default=None,
        metavar="X",
        help="most negative t/T of the curve (default -4/sigma^2)",
    )
    parser.add_argument(
        "--points", type=positive_int, default=200, help="points on the curve"
    )
    parser.add_argument(
        "--format",
        choices=("pretty", "json"),
        default="pretty",
        help="output format (default: pretty)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``feynflow ascent``; return the exit status."""
    if args.t_min is not None and not args.t_min < 0:
        raise ParameterError(f"--t-min {args.t_min} is not allowed; must be < 0")
    prediction = predict_ascent(
        args.p, args.H, args.sigma, t_min=args.t_min, points=args.points
    )
    if args.format == "json":
        print_json(prediction.to_dict())
        return 0
    out = sys.stdout
    out.write(f"rho = p^3 sigma^4 = {prediction.rho:.6g}\n")
    out.write(f"theta = 1 + 3 H/p^2 = {prediction.theta:.6g}\n")
    out.write(f"rho* = {prediction.rho_star:.6g}\n")
    out.write(f"regime: {prediction.regime}\n")
    if prediction.tau_crit is not None:
        out.write(f"tau_crit = {prediction.tau_crit:.10g}\n")
    step = max(1, len(prediction.tau) // 10)
    out.write("   tau            E[L]\n")
    for tau, loss in zip(prediction.tau[::step], prediction.loss[::step], strict=True):
        out.write(f"  {tau:<14.6g} {loss:.10g}\n")
    return 0
