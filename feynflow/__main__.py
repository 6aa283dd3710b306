"""The ``feynflow`` command: ``python -m feynflow`` and the installed script."""

import sys


def run() -> int:
    """Import the command line and run it; Ctrl-C while importing exits 130.

    The installed ``feynflow`` script calls this function, so that an
    interruption while the command line's modules load gives the same one
    line as one during a run.
    """
    try:
        from feynflow.cli import main
    except KeyboardInterrupt:
        import os

        print("feynflow: interrupted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)
    return main()


if __name__ == "__main__":
    sys.exit(run())
