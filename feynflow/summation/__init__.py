"""Summation of the loss series: recurrences, PDEs and characteristics.

The leading coefficients of the loss expansion in a regime satisfy linear
recurrences with polynomial coefficients; their generating functions then
satisfy linear PDEs, here of first order, which are solved by
characteristics (Yarotsky, Golikov and Gusev, ICML 2026, arXiv:2602.04548,
section 4).
"""

from feynflow.summation.characteristics import (
    CharacteristicSolution,
    solve_by_characteristics,
)
from feynflow.summation.guess import guess_recurrence
from feynflow.summation.recurrence import (
    FirstOrderPDE,
    Recurrence,
    RecurrenceCheck,
    as_data,
    euler_operator,
    index_symbols,
)
from feynflow.summation.series import taylor_coefficients

__all__ = [
    "CharacteristicSolution",
    "FirstOrderPDE",
    "Recurrence",
    "RecurrenceCheck",
    "as_data",
    "euler_operator",
    "guess_recurrence",
    "index_symbols",
    "solve_by_characteristics",
    "taylor_coefficients",
]
