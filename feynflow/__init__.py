"""feynflow: exact diagram expansions of gradient flow in CP-decomposition models.

feynflow implements the framework of Yarotsky, Golikov and Gusev, "Gradient
Flow Through Diagram Expansions: Learning Regimes and Explicit Solutions"
(ICML 2026, arXiv:2602.04548).
"""

import importlib

from feynflow.errors import FeynflowError, ParameterError, TimeLimitError

# The rest is imported on first use (PEP 562), so that ``import feynflow``
# (and the command line, until it has a parser) does not wait for sympy,
# numpy and scipy.
_LAZY = {
    "feynflow.asymptotics": (
        "classify",
        "pareto_polygon",
        "pareto_terms",
        "regime_table",
    ),
    "feynflow.diagrams": ("Diagram", "DiagramSum", "d_diagram", "merge", "r_diagram"),
    "feynflow.expansion": (
        "leading_coefficients",
        "loss_coefficients",
        "loss_diagrams",
    ),
    "feynflow.simulation": ("SimulationResult", "simulate"),
    "feynflow.symbols": ("H", "T", "p", "sigma", "t"),
    "feynflow.targets": ("Target", "parse_target"),
    "feynflow.wick": ("wick_expectation",),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'feynflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


__version__ = "0.1.1"

__all__ = [
    "Diagram",
    "DiagramSum",
    "d_diagram",
    "r_diagram",
    "merge",
    "wick_expectation",
    "loss_coefficients",
    "leading_coefficients",
    "loss_diagrams",
    "pareto_terms",
    "pareto_polygon",
    "classify",
    "regime_table",
    "simulate",
    "SimulationResult",
    "Target",
    "parse_target",
    "FeynflowError",
    "ParameterError",
    "TimeLimitError",
    "p",
    "H",
    "sigma",
    "t",
    "T",
    "__version__",
]
