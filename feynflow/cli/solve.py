"""``feynflow solve``: derive a closed form of the expected loss."""

from __future__ import annotations

import argparse
import sys

import sympy

from feynflow.cli._common import (
    add_scenario_arguments,
    add_time_limit_argument,
    order_progress,
    positive_int,
    print_json,
    scenario_name,
)
from feynflow.solutions import CASES, DEFAULT_ORDERS, check_case, derive

__all__ = ["register", "run", "ORDER"]

#: Position of the command in ``feynflow --help``.
ORDER = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``solve`` sub-command."""
    parser = subparsers.add_parser(
        "solve",
        help="derive a closed form of E[L(t)] (recurrence, PDE, characteristics)",
        description=(
            "Enumerate the leading loss coefficients of a regime, find their "
            "recurrence, solve the PDE of the generating function by "
            "characteristics and check the closed form against the series. "
            f"Cases: {', '.join(CASES)}."
        ),
    )
    parser.add_argument("case", metavar="CASE", help=f"one of {', '.join(CASES)}")
    add_scenario_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("pretty", "latex", "json"),
        default="pretty",
        help="output format (default: pretty)",
    )
    parser.add_argument(
        "--check-order",
        type=positive_int,
        default=None,
        metavar="K",
        help=(
            "highest order enumerated and compared with the closed form "
            "(default: 4; 8 for nu2; at least 4)"
        ),
    )
    add_time_limit_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``feynflow solve``; return the exit status."""
    check_case(args.case, args.nu, args.symmetric)
    order = args.check_order or DEFAULT_ORDERS[args.case]
    with order_progress(order + 1, "enumerating orders") as progress:
        derivation = derive(
            args.case,
            nu=args.nu,
            symmetric=args.symmetric,
            order=order,
            time_limit=args.time_limit,
            progress=progress,
        )
    if args.format == "json":
        print_json(derivation.to_dict())
    elif args.format == "latex":
        sys.stdout.write(f"E[L(t)] = {sympy.latex(derivation.loss)}\n")
    else:
        sys.stdout.write(
            f"{args.case}, nu = {args.nu}, {scenario_name(args.symmetric)}\n"
        )
        for step in derivation.steps:
            sys.stdout.write(f"  * {step}\n")
        sys.stdout.write("\nE[L(t)] =\n")
        sys.stdout.write(sympy.pretty(derivation.loss) + "\n")
    return 0
