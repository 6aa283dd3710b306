"""Load the optional compiled inner loop, `_feynflow_speedups`.

The extension is built from ``feynflow/_speedups.c`` when feynflow is
installed with a C compiler at hand.  Without it, or with the environment
variable ``FEYNFLOW_PURE_PYTHON`` set to anything but ``0``, `fast` is None
and feynflow runs the same steps in Python, with nauty for canonical forms.
A copy built from another version of the source (another ``ABI``) is not
used.
"""

from __future__ import annotations

import os

#: The interface version this code expects of the extension.
ABI = 9


def _load():
    if os.environ.get("FEYNFLOW_PURE_PYTHON", "0") not in ("", "0"):
        return None
    try:
        import _feynflow_speedups
    except ImportError:
        return None
    if getattr(_feynflow_speedups, "ABI", None) != ABI:
        return None
    return _feynflow_speedups


fast = _load()


def engine() -> str:
    """Which steps run: the compiled loop or the Python steps (for logs)."""
    if fast is not None:
        return "compiled inner loop (_feynflow_speedups)"
    return "Python steps (the compiled inner loop is not built or is switched off)"
