"""Allow ``python -m feynflow``."""

import sys

try:
    from feynflow.cli import main
except KeyboardInterrupt:
    # Ctrl-C while the package is still being imported.
    import os

    print("feynflow: interrupted", file=sys.stderr)
    sys.stderr.flush()
    os._exit(130)

sys.exit(main())
