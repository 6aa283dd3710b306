"""``feynflow cache``: inspect or empty the persistent coefficient cache.

``feynflow cache info`` reports where the cache lives, how many entries it
holds and its size; ``feynflow cache clear`` removes the entries.  Both take
``--cache PATH`` (default: ``$FEYNFLOW_CACHE``, else
``$XDG_CACHE_HOME/feynflow/coefficients.sqlite``).

This module also offers :func:`add_cache_arguments` and
:func:`cache_from_arguments`, the ``--cache PATH`` / ``--no-cache`` options of
the commands that compute coefficients.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

from feynflow.cache import (
    CacheError,
    CacheWarning,
    CoefficientCache,
    NullCache,
    default_cache_path,
    open_cache,
)
from feynflow.cli._common import print_json

__all__ = ["ORDER", "register", "run", "add_cache_arguments", "cache_from_arguments"]

ORDER = 90


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--cache PATH`` and ``--no-cache`` to a command that computes.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser; :func:`cache_from_arguments` reads the result.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_cache_arguments(parser)
    >>> cache_from_arguments(parser.parse_args(["--no-cache"])).enabled
    False
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--cache",
        type=pathlib.Path,
        metavar="PATH",
        help="SQLite file of computed coefficients (default: $FEYNFLOW_CACHE, "
        "else $XDG_CACHE_HOME/feynflow/coefficients.sqlite)",
    )
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor store computed coefficients",
    )


def cache_from_arguments(args: argparse.Namespace) -> CoefficientCache | NullCache:
    """Return the cache chosen by ``--cache`` / ``--no-cache``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a parser set up by :func:`add_cache_arguments`.

    Returns
    -------
    CoefficientCache or NullCache
    """
    _show_cache_warnings_on_one_line()
    return open_cache(
        getattr(args, "cache", None), enabled=not getattr(args, "no_cache", False)
    )


def _show_cache_warnings_on_one_line() -> None:
    """Print a :class:`CacheWarning` as ``feynflow: warning: ...`` on stderr.

    Other warnings keep Python's format; the source line of the ``warn`` call
    means nothing to a command-line user.
    """
    original = warnings.showwarning
    if getattr(original, "shows_cache_warnings", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CacheWarning):
            print(f"feynflow: warning: {message}", file=file or sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    show.shows_cache_warnings = True
    warnings.showwarning = show


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``feynflow cache`` with its sub-commands ``info`` and ``clear``."""
    parser = subparsers.add_parser(
        "cache",
        help="inspect or empty the persistent coefficient cache",
        description="Inspect or empty the SQLite file in which computed "
        "coefficients are kept (default: $FEYNFLOW_CACHE, else "
        "$XDG_CACHE_HOME/feynflow/coefficients.sqlite).",
    )
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION")
    actions.required = True

    info = actions.add_parser(
        "info", help="show the cache's path, entries and size in bytes"
    )
    info.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help='output format; json gives {"path", "entries", "bytes", ...}',
    )

    clear = actions.add_parser("clear", help="remove the cached coefficients")
    clear.add_argument(
        "--stale",
        action="store_true",
        help="remove only entries written by other feynflow versions",
    )

    for action in (info, clear):
        action.add_argument(
            "--cache",
            type=pathlib.Path,
            metavar="PATH",
            help=f"the cache file (default: {default_cache_path()})",
        )
        action.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out ``feynflow cache info`` or ``feynflow cache clear``."""
    with CoefficientCache(args.cache) as cache:
        if args.cache_action == "info":
            report = cache.info()
            if args.format == "json":
                print_json(report)
            else:
                _print_info(report)
            return 0

        try:
            cache.info()
            damage = None
        except CacheError as exc:
            damage = exc
        removed = cache.clear(stale_only=args.stale)
    if damage is not None:
        print(f"deleted the damaged cache {cache.path} ({damage})")
    else:
        noun = "entry" if removed == 1 else "entries"
        print(f"removed {removed} {noun} from {cache.path}")
    return 0


def _print_info(report: dict) -> None:
    print(f"path:     {report['path']}")
    if not report["exists"]:
        print("entries:  0 (no cache file yet)")
        return
    print(f"entries:  {report['entries']}")
    print(f"bytes:    {report['bytes']}")
    for version, count in report["versions"].items():
        print(f"version {version}: {count} entries")
