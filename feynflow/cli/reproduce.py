"""``feynflow reproduce``: recompute the paper's claims and write a report."""

from __future__ import annotations

import argparse
import sys

from feynflow.cli._common import positive_int, show_progress

__all__ = ["register", "run", "ORDER"]

#: Position of the command in ``feynflow --help``.
ORDER = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` sub-command."""
    parser = subparsers.add_parser(
        "reproduce",
        help="recompute every claim of the paper, theory against experiment",
        description=(
            "Check exact coefficients against a brute force, Pareto fronts "
            "against the theorem, regime tables, closed forms, simulations "
            "against closed forms, the NTK limit and the ascent boundary; write "
            "DIR/report.md, PNG figures and DIR/summary.json.  Exit status 0 "
            "when no claim disagrees, 1 otherwise."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and few seeds (about half a minute) instead of the full run",
    )
    parser.add_argument(
        "--out",
        default="feynflow-report",
        metavar="DIR",
        help="output directory (default: feynflow-report)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes for enumeration and simulations (default: 1)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not read or write the coefficient cache",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``feynflow reproduce``; return the exit status."""
    from feynflow.reproduce import prepare_output, reproduce

    # A bad --out is refused before any work starts.
    prepare_output(args.out)
    bar = None
    progress = None
    if show_progress():
        from tqdm import tqdm

        bar = tqdm(total=1, desc="reproduce", unit="step", file=sys.stderr)

        def progress(stage: str, done: int, total: int) -> None:
            bar.total = total
            bar.set_postfix_str(stage[:40])
            bar.update(done - bar.n)

    try:
        result = reproduce(
            args.out,
            quick=args.quick,
            jobs=args.jobs,
            cache=not args.no_cache,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    counts = {}
    for claim in result.claims:
        counts[claim.status] = counts.get(claim.status, 0) + 1
    for claim in result.claims:
        if claim.status != "agrees":
            sys.stdout.write(f"{claim.status}: {claim.id}: {claim.title}\n")
    sys.stdout.write(
        f"{counts.get('agrees', 0)} agree, {counts.get('disagrees', 0)} disagree, "
        f"{counts.get('not run', 0)} not run in {result.elapsed_s:.0f} s; "
        f"report: {result.out / 'report.md'}\n"
    )
    return result.exit_status
