"""Commands ``pareto``, ``regime`` and ``regimes``: Pareto fronts and regimes.

``feynflow pareto`` computes the Pareto-optimal terms of ``Y_0 .. Y_S`` exactly
and compares them with the theorem; ``feynflow regime`` names the face of the
Pareto polygon a scaling selects; ``feynflow regimes`` prints the table of all
faces, derived from the polygon.
"""

from __future__ import annotations

import argparse
import logging

from feynflow.asymptotics import (
    CONJECTURE_STATEMENT,
    SYM_ODD_CHECKED_COLUMNS,
    SYM_ODD_CHECKED_ORDERS,
    classify,
    compare_with_conjecture,
    compare_with_theorem,
    conjectured_regimes,
    format_regime_table,
    pareto_polygon,
    pareto_terms,
    plot_polygon,
    regime_table,
)
from feynflow.cli._common import (
    accept_negative_values,
    add_scenario_arguments,
    add_time_limit_argument,
    check_plot_path,
    checked_target,
    fraction,
    jobs_argument,
    nonnegative_int,
    order_progress,
    print_json,
    scenario_name,
    stop_pool,
    worker_pool,
    writing_clock,
)
from feynflow.cli.cache import add_cache_arguments, cache_from_arguments

__all__ = ["register", "run", "ORDER"]

#: Position of these commands in ``feynflow --help``.
ORDER = 40

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pareto``, ``regime`` and ``regimes`` sub-commands."""
    pareto = subparsers.add_parser(
        "pareto",
        help="Pareto-optimal terms of Y_0..Y_S, their polygons and the theorem",
        description=(
            "Compute the Pareto-optimal terms of every Y_s up to --order "
            "exactly, draw each as a polygon in the (s_D, n) plane and compare "
            "with the theorem (Yarotsky, Golikov & Gusev, arXiv:2602.04548)."
        ),
    )
    add_scenario_arguments(pareto)
    pareto.add_argument(
        "--order", type=nonnegative_int, required=True, help="highest order S"
    )
    pareto.add_argument(
        "--target",
        default="identity",
        metavar="TARGET",
        help=(
            "identity (default), zero, modadd or a sum of products of deltas "
            "such as 'd(1,2) + 1/2' (see 'feynflow coefficients --help')"
        ),
    )
    pareto.add_argument("--format", choices=("json", "table"), default="table")
    pareto.add_argument(
        "--plot", metavar="FILE.png", help="save the polygon of Y_S to this file"
    )
    pareto.add_argument(
        "--jobs",
        type=jobs_argument,
        default=1,
        metavar="N",
        help="local worker processes for the enumeration (default 1)",
    )
    add_time_limit_argument(pareto)
    add_cache_arguments(pareto)
    pareto.set_defaults(func=run)

    regime = subparsers.add_parser(
        "regime",
        help="the polygon face and natural T selected by a scaling",
        description=(
            "For p ~ a^AP, H ~ a^AH, sigma ~ a^AS, name the face of the Pareto "
            "polygon that leads at large order, the natural inverse learning "
            "rate T ~ a^tau and the regime."
        ),
    )
    add_scenario_arguments(regime)
    regime.add_argument(
        "--alpha",
        nargs=3,
        type=fraction,
        required=True,
        metavar=("AP", "AH", "AS"),
        help="exponents of p, H, sigma (integers or fractions like -1/2)",
    )
    regime.add_argument("--format", choices=("json", "table"), default="table")
    accept_negative_values(regime)
    regime.set_defaults(func=run)

    regimes = subparsers.add_parser(
        "regimes",
        help="table of learning regimes derived from the Pareto polygon",
        description=(
            "Print every face of the large-order Pareto polygon with its "
            "scaling condition, natural T and regime name."
        ),
    )
    add_scenario_arguments(regimes)
    regimes.add_argument(
        "--format", choices=("table", "json", "latex"), default="table"
    )
    regimes.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run whichever of the three commands was chosen."""
    commands = {"pareto": _run_pareto, "regime": _run_regime, "regimes": _run_regimes}
    return commands[args.command](args)


def _run_pareto(args: argparse.Namespace) -> int:
    from feynflow.expansion import loss_coefficients

    check_time = writing_clock(args.time_limit)
    # Spellings of one tensor share its canonical name, which the theorem
    # and the JSON output use.
    args.target = str(checked_target(args.target, args.nu))
    check_plot_path(args.plot)

    executor = worker_pool(args.jobs) if args.jobs > 1 else None
    try:
        with (
            cache_from_arguments(args) as cache,
            order_progress(args.order + 1) as progress,
        ):
            coefficients = loss_coefficients(
                args.nu,
                args.order,
                symmetric=args.symmetric,
                target=args.target,
                leading=True,
                time_limit=args.time_limit,
                progress=progress,
                executor=executor,
                cache=cache,
            )
    finally:
        if executor is not None:
            stop_pool(executor)

    conjectured = args.symmetric and args.nu % 2 == 1 and args.target == "identity"
    fronts = []
    polygon = None
    for s, poly in enumerate(coefficients):
        check_time()
        terms = pareto_terms(poly, args.nu, s)
        comparison = compare_with_theorem(
            terms, args.nu, s, args.symmetric, args.target
        )
        if comparison.status == "disagrees":
            logger.warning("Y_%d: %s", s, comparison)
        vertices = {}
        if terms:
            polygon = pareto_polygon(
                args.nu, s, args.symmetric, args.target, terms=terms
            )
            vertices = {
                name: {"s_D": point[0], "n": point[1]}
                for name, point in polygon.vertices.items()
            }
        fronts.append(
            {
                "s": s,
                "terms": [
                    {
                        "p": t.q,
                        "H": t.n,
                        "sigma": t.sigma_power,
                        "coeff": str(t.coeff),
                        "s_D": t.s_D,
                    }
                    for t in terms
                ],
                "vertices": vertices,
                "theorem": comparison.status,
            }
        )
        if conjectured:
            fronts[-1]["conjecture"] = _conjecture_entry(terms, args.nu, s)

    check_time()
    if args.plot:
        _save_plot(polygon, args.plot)

    if args.format == "json":
        data = {
            "nu": args.nu,
            "scenario": scenario_name(args.symmetric),
            "target": args.target,
            "order": args.order,
            "fronts": fronts,
        }
        if conjectured:
            data["conjectured_regimes"] = [
                _regime_entry(row) for row in conjectured_regimes(args.nu)
            ]
        print_json(data)
    else:
        for front in fronts:
            vertices = ", ".join(
                f"{name}=({v['s_D']}, {v['n']})"
                for name, v in front["vertices"].items()
            )
            print(
                f"s={front['s']}: {len(front['terms'])} Pareto terms, "
                f"theorem {front['theorem']}; vertices {vertices}"
            )
            if "conjecture" in front:
                print(f"    conjecture {front['conjecture']['status']}")
            for term in front["terms"]:
                print(
                    f"    s_D={term['s_D']}  {term['coeff']} * p^{term['p']} "
                    f"H^{term['H']} sigma^{term['sigma']}"
                )
    return 0


def _conjecture_entry(terms, nu: int, s: int) -> dict:
    """The conjecture's verdict on one exact front, with where it was checked."""
    comparison = compare_with_conjecture(terms, nu, s)
    if comparison.status == "disagrees":
        logger.warning("Y_%d contradicts the conjecture: %s", s, comparison)
    checked = sorted(set(SYM_ODD_CHECKED_ORDERS.get(nu, ())) | {s})
    return {
        "label": "conjecture (not a theorem)",
        "statement": CONJECTURE_STATEMENT,
        "status": comparison.status,
        "missing": [list(x) for x in comparison.missing],
        "extra": [list(x) for x in comparison.extra],
        "checked_orders": checked if comparison.status == "agrees" else [],
        "checked_columns": {
            f"s_D<={most}": list(orders)
            for most, orders in SYM_ODD_CHECKED_COLUMNS.get(nu, {}).items()
        },
    }


def _regime_entry(row) -> dict:
    return {
        "face": row.face,
        "vertices": list(row.vertices),
        "conditions": [str(c) for c in row.conditions],
        "T": str(row.T),
        "regime": row.regime,
    }


def _save_plot(polygon, path: str) -> None:
    from feynflow.errors import ParameterError

    if polygon is None:
        raise ParameterError("no Pareto terms at any order; nothing to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ = plot_polygon(polygon)
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot save the plot to {path!r}: {exc}") from None
    finally:
        plt.close(fig)


def _run_regime(args: argparse.Namespace) -> int:
    result = classify(args.nu, args.symmetric, tuple(args.alpha))
    data = {
        "face": result.face,
        "vertices": list(result.vertices),
        "T_exponent": str(result.tau),
        "T": str(result.T),
        "regime": result.regime,
    }
    if args.format == "json":
        print_json(data)
    else:
        print(
            f"face {result.face}: {result.regime}; natural T = {result.T} "
            f"~ a^{result.tau}"
        )
    return 0


def _run_regimes(args: argparse.Namespace) -> int:
    rows = regime_table(args.nu, args.symmetric)
    if args.format == "json":
        print_json(
            {
                "nu": args.nu,
                "scenario": scenario_name(args.symmetric),
                "regimes": [
                    {
                        "face": row.face,
                        "vertices": list(row.vertices),
                        "conditions": [
                            {
                                "monomial": str(c.monomial),
                                "relation": c.relation,
                                "text": str(c),
                            }
                            for c in row.conditions
                        ],
                        "T": str(row.T),
                        "T_exponents": {
                            "p": str(row.T_exponents[0]),
                            "H": str(row.T_exponents[1]),
                            "sigma": str(row.T_exponents[2]),
                        },
                        "regime": row.regime,
                    }
                    for row in rows
                ],
            }
        )
    else:
        print(format_regime_table(rows, args.format))
    return 0
