"""feynflow: exact diagram expansions of gradient flow in CP-decomposition models.

feynflow implements the framework of Yarotsky, Golikov and Gusev, "Gradient
Flow Through Diagram Expansions: Learning Regimes and Explicit Solutions"
(ICML 2026, arXiv:2602.04548).
"""

from feynflow.asymptotics import classify, pareto_polygon, pareto_terms, regime_table
from feynflow.diagrams import Diagram, DiagramSum, d_diagram, merge, r_diagram
from feynflow.errors import FeynflowError, ParameterError, TimeLimitError
from feynflow.expansion import loss_coefficients, loss_diagrams
from feynflow.simulation import SimulationResult, simulate
from feynflow.symbols import H, T, p, sigma, t
from feynflow.targets import Target, parse_target
from feynflow.wick import wick_expectation

__version__ = "0.1.0"

__all__ = [
    "Diagram",
    "DiagramSum",
    "d_diagram",
    "r_diagram",
    "merge",
    "wick_expectation",
    "loss_coefficients",
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
