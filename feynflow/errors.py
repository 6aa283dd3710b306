"""The exceptions feynflow raises at its public boundary."""

__all__ = ["FeynflowError", "ParameterError", "TimeLimitError", "Interrupted"]


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
