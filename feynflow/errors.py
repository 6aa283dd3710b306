"""The exceptions feynflow raises at its public boundary.

It also holds the flag by which a Ctrl-C that Python could not deliver as
`KeyboardInterrupt` (one raised inside a fork hook is swallowed) still stops
long computations at their next check (`feynflow.wick.check_deadline`).
"""

import threading

__all__ = [
    "FeynflowError",
    "ParameterError",
    "TimeLimitError",
    "Interrupted",
    "request_interrupt",
    "interrupt_requested",
    "clear_interrupt",
]

_interrupt = threading.Event()


def request_interrupt() -> None:
    """Ask running computations to stop with `Interrupted` at their next check."""
    _interrupt.set()


def interrupt_requested() -> bool:
    """Whether `request_interrupt` was called since the last `clear_interrupt`."""
    return _interrupt.is_set()


def clear_interrupt() -> None:
    """Withdraw a request made by `request_interrupt`."""
    _interrupt.clear()


class FeynflowError(Exception):
    """Base class of every error feynflow raises on purpose."""


class ParameterError(FeynflowError, ValueError):
    """A parameter is outside the range a function accepts.

    The message names the offending value and what is allowed, in one line.
    """


class TimeLimitError(FeynflowError, TimeoutError):
    """A computation ran past the time limit it was given."""


class Interrupted(FeynflowError):
    """A computation was stopped by the user (Ctrl-C)."""
