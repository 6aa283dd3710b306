"""Arguments and output helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction

__all__ = [
    "add_scenario_arguments",
    "positive_int",
    "nonnegative_int",
    "fraction",
    "scenario_name",
    "print_json",
    "show_progress",
    "poly_terms",
    "add_time_limit_argument",
    "positive_float",
    "nu_argument",
]


def _integer_at_least(text: str, minimum: int, name: str = "") -> int:
    """Parse an integer ``>= minimum`` for argparse; ``name`` prefixes errors."""
    label = f"{name}=" if name else ""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{label}{text!r} is not an integer; an integer >= {minimum} is required"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(
            f"{label}{value} is not allowed; must be >= {minimum}"
        )
    return value


def positive_int(text: str) -> int:
    """Parse an integer >= 1 for argparse."""
    return _integer_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """Parse an integer >= 0 for argparse."""
    return _integer_at_least(text, 0)


def fraction(text: str) -> Fraction:
    """Parse an exact rational such as ``3``, ``-1/2`` or ``0.25``."""
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rational number; use an integer or a fraction like -1/2"
        ) from None


def nu_argument(text: str) -> int:
    """Parse the tensor order ``nu`` (an integer >= 2)."""
    return _integer_at_least(text, 2, name="nu")


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--nu N`` and the required choice ``--sym`` / ``--asym``."""
    parser.add_argument(
        "--nu", type=nu_argument, required=True, help="tensor order (>= 2)"
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--sym",
        dest="symmetric",
        action="store_true",
        help="symmetric scenario: one weight matrix for every colour",
    )
    group.add_argument(
        "--asym",
        dest="symmetric",
        action="store_false",
        help="asymmetric scenario: nu independent weight matrices",
    )


def scenario_name(symmetric: bool) -> str:
    """Return ``"sym"`` or ``"asym"``."""
    return "sym" if symmetric else "asym"


def print_json(data: object) -> None:
    """Print ``data`` as JSON on stdout."""
    json.dump(data, sys.stdout, indent=None)
    sys.stdout.write("\n")


def show_progress() -> bool:
    """Whether a progress bar belongs on stderr (only on a terminal)."""
    return sys.stderr.isatty()


def poly_terms(poly) -> list[dict]:
    """JSON terms of a polynomial in ``(p, H, sigma)``.

    One dict per monomial ``coeff * p^p * H^H * sigma^sigma``, ``coeff`` an
    exact rational written as a string; zero terms are omitted.
    """
    terms = []
    for (q, n, power), coeff in poly.terms():
        if coeff != 0:
            terms.append({"p": q, "H": n, "sigma": power, "coeff": str(coeff)})
    return terms


def add_time_limit_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--time-limit SECONDS`` (stop with exit status 3 when exceeded)."""
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly (exit status 3) after this many seconds",
    )


def positive_float(text: str) -> float:
    """Parse a finite number > 0 for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; a positive number is required"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not allowed; must be > 0")
    return value
