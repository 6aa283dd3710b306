"""``feynflow simulate``: gradient-flow loss curves averaged over seeds."""

from __future__ import annotations

import argparse
import csv
import math
import sys

import numpy as np

from feynflow.cli._common import (
    add_scenario_arguments,
    positive_int,
    print_json,
    show_progress,
)
from feynflow.errors import FeynflowError

__all__ = ["register", "run", "ORDER"]

#: Position of the command in ``feynflow --help``.
ORDER = 60

#: Closed forms ``--theory`` accepts (as in ``feynflow solve``).
THEORY_CASES = ("free-under", "free-over", "free-general", "nu2", "ntk")


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a real number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; must be finite")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` parser."""
    parser = subparsers.add_parser(
        "simulate",
        help="integrate the gradient flow numerically, averaged over seeds",
        description=(
            "Integrate du/dt = -(1/T) dL/du from i.i.d. N(0, sigma^2) weights "
            "and print the mean and standard deviation of L(t) over seeds."
        ),
    )
    add_scenario_arguments(parser)
    parser.add_argument("--p", type=positive_int, required=True, help="target size")
    parser.add_argument("--H", type=positive_int, required=True, help="model rank")
    parser.add_argument(
        "--sigma", type=_real, required=True, help="initial standard deviation (> 0)"
    )
    parser.add_argument(
        "--T", type=_real, required=True, help="inverse learning rate (> 0)"
    )
    parser.add_argument(
        "--t-max",
        type=_real,
        required=True,
        help="final time (!= 0; negative for gradient ascent)",
    )
    parser.add_argument(
        "--steps", type=positive_int, required=True, help="integration steps"
    )
    parser.add_argument(
        "--seeds", type=positive_int, required=True, help="number of seeds (0..M-1)"
    )
    parser.add_argument(
        "--target", choices=("identity", "zero"), default="identity", help="target"
    )
    parser.add_argument(
        "--method", choices=("euler", "rk4"), default="euler", help="integrator"
    )
    parser.add_argument(
        "--format", choices=("json", "csv"), default="json", help="output format"
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the curves into a PNG file"
    )
    parser.add_argument(
        "--theory",
        choices=THEORY_CASES,
        metavar="CASE",
        help=f"compare with a closed form: {', '.join(THEORY_CASES)}",
    )
    parser.set_defaults(func=run)


def _theory_curve(args: argparse.Namespace, times: np.ndarray) -> np.ndarray:
    try:
        from feynflow.solutions import theory_loss
    except ImportError:
        raise FeynflowError(
            "--theory needs feynflow.solutions.theory_loss, which is not "
            "available in this installation"
        ) from None
    curve = theory_loss(
        args.theory,
        nu=args.nu,
        symmetric=args.symmetric,
        p=args.p,
        H=args.H,
        sigma=args.sigma,
        T=args.T,
        t=times,
    )
    return np.asarray(curve, dtype=np.float64)


def _max_scaled_error(
    mean: np.ndarray, theory: np.ndarray, p: int, target: str
) -> float | None:
    """``max |L_sim - L_theory| / max(L_theory(0), ||F||^2 / 2)``."""
    norm = max(float(theory[0]), p / 2 if target == "identity" else 0.0)
    difference = np.abs(mean - theory)
    if norm <= 0 or not np.all(np.isfinite(difference)):
        return None
    return float(difference.max() / norm)


def _json_list(values: np.ndarray) -> list:
    # JSON has no inf or nan: a blown-up or undefined value becomes null.
    return [float(v) if math.isfinite(v) else None for v in values]


def run(args: argparse.Namespace) -> int:
    """Run the simulation and print the curves."""
    from feynflow.simulation import simulate

    result = simulate(
        nu=args.nu,
        symmetric=args.symmetric,
        p=args.p,
        H=args.H,
        sigma=args.sigma,
        T=args.T,
        t_max=args.t_max,
        steps=args.steps,
        seeds=args.seeds,
        target=args.target,
        method=args.method,
        progress=show_progress(),
    )
    if args.t_max > 0 and not np.all(np.isnan(result.blowup_time)):
        # Gradient descent cannot blow up in exact flow: the step is too large.
        print(
            f"feynflow: warning: the loss became non-finite during descent; "
            f"the step {args.t_max / args.steps:g} is too large for this flow, "
            "use more --steps",
            file=sys.stderr,
        )
    theory = None
    if args.theory is not None:
        theory = _theory_curve(args, result.t)

    if args.format == "json":
        data = {
            "t": _json_list(result.t),
            "loss_mean": _json_list(result.loss_mean),
            "loss_std": _json_list(result.loss_std),
            "params": result.params,
        }
        if not np.all(np.isnan(result.blowup_time)):
            data["blowup_time"] = _json_list(result.blowup_time)
        if theory is not None:
            data["theory"] = _json_list(theory)
            data["max_scaled_error"] = _max_scaled_error(
                result.loss_mean, theory, args.p, args.target
            )
        print_json(data)
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        header = ["t", "loss_mean", "loss_std"]
        columns = [result.t, result.loss_mean, result.loss_std]
        if theory is not None:
            header.append("theory")
            columns.append(theory)
        writer.writerow(header)
        for row in zip(*columns, strict=True):
            writer.writerow([repr(float(value)) for value in row])

    if args.plot:
        _plot(args, result, theory)
    return 0


def _plot(args: argparse.Namespace, result, theory: np.ndarray | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(result.t, result.loss_mean, label="simulation (mean)")
    axes.fill_between(
        result.t,
        result.loss_mean - result.loss_std,
        result.loss_mean + result.loss_std,
        alpha=0.3,
        label="± std over seeds",
    )
    if theory is not None:
        axes.plot(result.t, theory, "--", label=f"theory ({args.theory})")
    scenario = "SYM" if args.symmetric else "ASYM"
    axes.set_title(
        f"{scenario} nu={args.nu}, p={args.p}, H={args.H}, sigma={args.sigma:g}, "
        f"T={args.T:g}"
    )
    axes.set_xlabel("time t")
    axes.set_ylabel("loss L(t)")
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(args.plot, format="png")
    except OSError as exc:
        raise FeynflowError(f"cannot write the plot to {args.plot!r}: {exc}") from None
    finally:
        plt.close(figure)
