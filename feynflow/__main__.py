"""Allow ``python -m feynflow``."""

import sys

from feynflow.cli import main

sys.exit(main())
