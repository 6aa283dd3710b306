"""The ``feynflow`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``run`` as the
parser's default ``func``.  ``main`` discovers them, so a new command needs no
change here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import signal
import sys
import threading

from feynflow.cli import _common
from feynflow.errors import (
    FeynflowError,
    Interrupted,
    TimeLimitError,
    clear_interrupt,
    request_interrupt,
)

__all__ = ["main", "build_parser"]

#: Exit status for bad input (as argparse uses).
EXIT_USAGE = 2
#: Exit status when ``--time-limit`` stops a run.
EXIT_TIME_LIMIT = 3
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are a single line on stderr."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _command_modules() -> list:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``feynflow`` command with every sub-command."""
    from feynflow import __version__

    parser = _Parser(
        prog="feynflow",
        description="Exact diagram expansions of gradient flow in CP models.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress details"
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    subparsers.required = True
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    noted: list[int] = []
    clear_interrupt()
    previous = _note_interrupts(noted)
    try:
        try:
            status = _run(argv, noted)
        except Exception:
            # Ctrl-C inside a C extension can come out as another exception
            # (pynauty turns it into a TypeError): still an interruption.
            if not noted:
                raise
            status = _interrupted()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        clear_interrupt()
    if status == EXIT_INTERRUPTED:
        # A KeyboardInterrupt that left code run by exec() from a string (as
        # dataclasses and named tuples are built while modules load) makes
        # CPython end the process by SIGINT instead of with this status,
        # however it was handled since; a string run to its end clears that.
        exec("None")
    if argv is None and _common.stuck_pools:
        # A worker pool cut off by Ctrl-C may not be joinable (see
        # `_common.stop_pool`); everything stored is committed, so leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _note_interrupts(noted: list[int]):
    """Record every Ctrl-C in ``noted`` and raise KeyboardInterrupt as usual.

    Returns the handler to restore, or None when Ctrl-C is not handled here
    (ignored by the parent, or not the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return None

    def handler(signum, frame):
        noted.append(signum)
        request_interrupt()
        # A second Ctrl-C during the clean-up the first one started must not
        # break into that clean-up.
        if len(noted) == 1:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    return previous


def _interrupted() -> int:
    print("feynflow: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _run(argv: list[str] | None, noted: list[int]) -> int:
    try:
        # Inside the try: building the parser imports every command, which
        # takes a moment in which Ctrl-C must not give a traceback.
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        with _common.memory_ceiling():
            status = args.func(args)
    except (KeyboardInterrupt, Interrupted):
        return _interrupted()
    except TimeLimitError as exc:
        if noted:
            return _interrupted()
        print(f"feynflow: stopped: {exc}", file=sys.stderr)
        return EXIT_TIME_LIMIT
    except FeynflowError as exc:
        if noted:
            return _interrupted()
        print(f"feynflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        if noted:
            return _interrupted()
        print(
            "feynflow: error: out of memory: the machine has too little for "
            "this order; ask for a lower one",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (ArithmeticError, ValueError) as exc:
        if noted:
            return _interrupted()
        # Values that pass every check yet are too large or too small for the
        # numbers involved: still one line, never a traceback.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(
            f"feynflow: error: the input is out of the range this command can "
            f"compute ({type(exc).__name__}: {message})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    return 0 if status is None else int(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
