"""Targets beyond the identity: Kronecker-delta polynomials and modular addition.

A *delta target* is a sum, with exact rational weights, of products of
Kronecker deltas ``d(a, b) = delta(i_a = i_b)`` of the target's index
positions ``1..nu``.  A product of deltas is determined by the partition of
the positions into blocks of equal indices, so a delta target is a weighted
sum of partitions; the identity target is the one-block partition, the
all-ones tensor the partition into singletons.  *Modular addition* is
``F[i] = 1 if i_nu = (i_1 + ... + i_{nu-1}) mod p`` (indices from 0).

This module parses targets written as text, builds the diagrams ``R_F`` that
stand for ``sum f F``, and averages the diagrams of modular addition, whose
hyper-edges are linear congruences instead of deltas.

Target syntax
-------------
::

    target   := "identity" | "zero" | "modadd" | sum
    sum      := term (("+" | "-") term)*
    term     := factor (("*" factor) | ("/" integer))*
    factor   := ("+" | "-") factor | integer | "(" sum ")"
              | "identity" | "zero" | delta
    delta    := ("d" | "delta") "(" position ("," position)+ ")"

``d(a, b, c)`` is ``delta(i_a = i_b = i_c)``; positions are integers in
``1..nu``; ``identity`` inside a sum is ``d(1, ..., nu)``, ``zero`` is 0.
Blanks are ignored.  Texts longer than `MAX_TEXT_LENGTH` characters, nested
deeper than `MAX_DEPTH`, with integers longer than `MAX_DIGITS` digits or with
any other character or name are refused, and so are products that expand
to more than `MAX_TERMS` terms.  The text is never evaluated as
Python or by sympy.

References
----------
.. [1] D. Yarotsky, E. Golikov, M. Gusev, "Gradient Flow Through Diagram
   Expansions: Learning Regimes and Explicit Solutions", ICML 2026,
   arXiv:2602.04548.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

import pynauty
import sympy

from feynflow.diagrams import Diagram, DiagramSum, check_nu, d_diagram, merge
from feynflow.errors import ParameterError, TimeLimitError
from feynflow.wick import partner_orbits, ph_sigma_poly

__all__ = [
    "MAX_TEXT_LENGTH",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_TERMS",
    "Target",
    "parse_target",
    "r_diagrams",
    "half_norm_squared",
    "smith_invariants",
    "congruence_solutions",
    "modadd_counts",
    "ModularCoefficients",
    "modadd_coefficients",
]

logger = logging.getLogger(__name__)

#: Longest target text accepted, in characters.
MAX_TEXT_LENGTH = 2000
#: Deepest nesting of parentheses and signs accepted.
MAX_DEPTH = 20
#: Longest integer accepted, in digits.
MAX_DIGITS = 30
#: Most products of deltas a target may expand to.
MAX_TERMS = 500

#: A partition of positions ``0..nu-1``: sorted blocks, each a sorted tuple.
Partition = tuple[tuple[int, ...], ...]


# ---------------------------------------------------------------------------
# Targets and their text form
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A target tensor ``F`` of order ``nu``.

    Attributes
    ----------
    nu : int
        Tensor order.
    kind : {"delta", "modadd"}
        A delta polynomial (``terms`` hold it) or modular addition.
    terms : tuple of (partition, Fraction)
        For a delta target, ``F[i] = sum w * prod_blocks delta(block)``: each
        partition of the positions ``0..nu-1`` (sorted tuple of sorted blocks,
        singletons included) with its nonzero weight ``w``, sorted.

    Examples
    --------
    >>> t = parse_target("d(1,2) + 1/2*d(1,2)", 3)
    >>> t.terms
    ((((0, 1), (2,)), Fraction(3, 2)),)
    >>> str(t)
    '3/2*d(1,2)'
    """

    nu: int
    kind: str
    terms: tuple[tuple[Partition, Fraction], ...] = field(default=())

    @property
    def name(self) -> str:
        """Canonical text: equal targets have equal names."""
        if self.kind == "modadd":
            return "modadd"
        if not self.terms:
            return "zero"
        if self.terms == ((_full(self.nu), Fraction(1)),):
            return "identity"
        parts = []
        for partition, weight in self.terms:
            deltas = [
                "d(" + ",".join(str(m + 1) for m in block) + ")"
                for block in partition
                if len(block) > 1
            ]
            magnitude = abs(weight)
            factors = ([] if magnitude == 1 and deltas else [str(magnitude)]) + deltas
            parts.append(("-" if weight < 0 else "+", "*".join(factors)))
        text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        for sign, body in parts[1:]:
            text += f" {sign} {body}"
        return text

    def __str__(self) -> str:
        return self.name

    @property
    def same_sign(self) -> bool:
        """Whether all weights share one sign (no cancellation between terms)."""
        signs = {weight > 0 for _, weight in self.terms}
        return len(signs) <= 1

    @property
    def has_free_index(self) -> bool:
        """Whether some product of deltas leaves a position unconstrained."""
        return any(
            len(block) == 1 for partition, _ in self.terms for block in partition
        )

    def value(self, index: Iterable[int], p: int | None = None) -> Fraction:
        """``F[index]`` for 0-based indices (``p`` needed for modular addition)."""
        index = tuple(index)
        if self.kind == "modadd":
            if p is None:
                raise ParameterError("modular addition needs p to be evaluated")
            return Fraction(int(index[-1] == sum(index[:-1]) % p))
        return sum(
            (
                weight
                for partition, weight in self.terms
                if all(len({index[m] for m in block}) == 1 for block in partition)
            ),
            Fraction(0),
        )


def _full(nu: int) -> Partition:
    return (tuple(range(nu)),)


def _singletons(nu: int) -> Partition:
    return tuple((m,) for m in range(nu))


def _join(a: Partition, b: Partition, nu: int) -> Partition:
    """The finest partition coarser than both (the product of the deltas)."""
    parent = list(range(nu))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for block in a + b:
        for m in block[1:]:
            parent[find(m)] = find(block[0])
    blocks: dict[int, list[int]] = {}
    for m in range(nu):
        blocks.setdefault(find(m), []).append(m)
    return tuple(sorted(tuple(block) for block in blocks.values()))


Polynomial = dict[Partition, Fraction]

_NAMES = ("identity", "zero", "modadd", "d", "delta")

_TOKEN = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_][A-Za-z_0-9]*)|(.))", re.DOTALL)


class _Parser:
    """Recursive-descent parser of the target syntax (see the module docstring).

    State: ``tokens`` is the list of ``(kind, text, column)`` with kind
    ``"int"``, ``"name"`` or ``"op"``; ``at`` indexes the next token; ``depth``
    counts the open parentheses and signs, bounded by `MAX_DEPTH`.
    """

    def __init__(self, text: str, nu: int) -> None:
        self.text, self.nu = text, nu
        self.tokens: list[tuple[str, str, int]] = []
        for match in _TOKEN.finditer(text):
            number, name, other = match.groups()
            column = match.start(match.lastindex or 0) + 1
            if number is not None:
                if len(number) > MAX_DIGITS:
                    self.fail(
                        f"integer at column {column} has more than {MAX_DIGITS} digits"
                    )
                self.tokens.append(("int", number, column))
            elif name is not None:
                if name not in _NAMES:
                    self.fail(
                        f"unknown name {name!r} at column {column}; allowed: "
                        "identity, zero, modadd, d(a,b,...)"
                    )
                self.tokens.append(("name", name, column))
            elif other is not None and not other.isspace():
                if other not in "+-*/(),":
                    self.fail(f"unexpected character {other!r} at column {column}")
                self.tokens.append(("op", other, column))
        self.at = 0
        self.depth = 0

    def fail(self, reason: str) -> None:
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        raise ParameterError(f"target={shown!r}: {reason}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] == text:
            self.at += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            self.fail(f"expected {text!r} {self.where()}")

    def where(self) -> str:
        token = self.peek()
        if token is None:
            return "at the end"
        return f"at column {token[2]}, found {token[1]!r}"

    def integer(self) -> int:
        token = self.peek()
        if token is None or token[0] != "int":
            self.fail(f"expected an integer {self.where()}")
        self.at += 1
        return int(token[1])

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels {self.where()}")

    def parse(self) -> Polynomial:
        if not self.tokens:
            self.fail("empty target; use identity, zero, modadd or deltas d(a,b)")
        value = self.sum()
        if self.peek() is not None:
            self.fail(f"unexpected {self.peek()[1]!r} at column {self.peek()[2]}")
        return value

    def sum(self) -> Polynomial:
        value = self.term()
        while True:
            if self.take("+"):
                value = _add(value, self.term(), 1)
            elif self.take("-"):
                value = _add(value, self.term(), -1)
            else:
                return value

    def term(self) -> Polynomial:
        value = self.factor()
        while True:
            if self.take("*"):
                column = self.peek()[2] if self.peek() else len(self.text)
                value = _multiply(value, self.factor(), self.nu)
                if len(value) > MAX_TERMS:
                    self.fail(
                        f"the product before column {column} expands to more "
                        f"than {MAX_TERMS} products of deltas"
                    )
            elif self.take("/"):
                column = self.peek()[2] if self.peek() else len(self.text)
                divisor = self.integer()
                if divisor == 0:
                    self.fail(f"division by zero at column {column}")
                value = {k: w / divisor for k, w in value.items()}
            else:
                return value

    def factor(self) -> Polynomial:
        token = self.peek()
        if token is None:
            self.fail("the target ends where a factor was expected")
        kind, text, column = token
        if kind == "op" and text in "+-":
            self.at += 1
            self.nest()
            value = self.factor()
            self.depth -= 1
            return value if text == "+" else {k: -w for k, w in value.items()}
        if kind == "int":
            self.at += 1
            return {_singletons(self.nu): Fraction(int(text))}
        if kind == "op" and text == "(":
            self.at += 1
            self.nest()
            value = self.sum()
            self.expect(")")
            self.depth -= 1
            return value
        if kind == "name":
            self.at += 1
            if text == "identity":
                return {_full(self.nu): Fraction(1)}
            if text == "zero":
                return {}
            if text in ("d", "delta"):
                return {self.delta(column): Fraction(1)}
            self.fail("modadd is a target of its own and cannot be combined")
        self.fail(f"unexpected {text!r} at column {column}")

    def delta(self, column: int) -> Partition:
        self.expect("(")
        positions = [self.position()]
        while self.take(","):
            positions.append(self.position())
        self.expect(")")
        if len(positions) < 2:
            self.fail(f"the delta at column {column} needs at least two positions")
        block = tuple(sorted(set(positions)))
        singles = [(m,) for m in range(self.nu) if m not in block]
        return tuple(sorted([block] + singles))

    def position(self) -> int:
        token = self.peek()
        value = self.integer()
        if not 1 <= value <= self.nu:
            self.fail(
                f"position {value} at column {token[2]} is outside 1..{self.nu} "
                f"(nu={self.nu})"
            )
        return value - 1


def _add(a: Polynomial, b: Polynomial, sign: int) -> Polynomial:
    total = dict(a)
    for key, weight in b.items():
        total[key] = total.get(key, Fraction(0)) + sign * weight
    return {k: w for k, w in total.items() if w}


def _multiply(a: Polynomial, b: Polynomial, nu: int) -> Polynomial:
    total: Polynomial = {}
    for key_a, weight_a in a.items():
        for key_b, weight_b in b.items():
            key = _join(key_a, key_b, nu)
            total[key] = total.get(key, Fraction(0)) + weight_a * weight_b
    return {k: w for k, w in total.items() if w}


def parse_target(text: str | Target, nu: int) -> Target:
    """Parse a target written in feynflow's target syntax.

    Parameters
    ----------
    text : str or Target
        ``"identity"``, ``"zero"``, ``"modadd"`` or a sum of weighted products
        of deltas such as ``"d(1,2)*d(2,3) + 1/2*d(1,3)"`` (module docstring).
        A `Target` is returned unchanged if its ``nu`` matches.
    nu : int
        Tensor order; positions run over ``1..nu``.

    Returns
    -------
    Target
        Products of deltas are combined into partitions and like terms added,
        so tensors equal for every ``p`` give equal targets (and equal
        ``name``).

    Raises
    ------
    ParameterError
        With a one-line message naming the offending character, name,
        position or limit.

    Examples
    --------
    >>> parse_target("d(1,2)*d(2,3)", 3).name
    'identity'
    >>> parse_target("2*(d(1,2) - 1) + 2", 3).name
    '2*d(1,2)'
    >>> parse_target("d(1,4)", 3)
    Traceback (most recent call last):
    ...
    feynflow.errors.ParameterError: target='d(1,4)': position 4 at column 5 is \
outside 1..3 (nu=3)

    Notes
    -----
    Runs in time linear in the text times the number of partitions of
    ``nu`` positions (the Bell number), which bounds the number of terms.
    """
    nu = check_nu(nu)
    if isinstance(text, Target):
        if text.nu != nu:
            raise ParameterError(f"target {text.name!r} has nu={text.nu}, not {nu}")
        return text
    if not isinstance(text, str):
        raise ParameterError(f"target={text!r} is not a text; use e.g. 'd(1,2)'")
    if len(text) > MAX_TEXT_LENGTH:
        raise ParameterError(
            f"target text of {len(text)} characters is longer than the "
            f"{MAX_TEXT_LENGTH} allowed"
        )
    if text.strip() == "modadd":
        return Target(nu, "modadd")
    polynomial = _Parser(text, nu).parse()
    terms = tuple(sorted(polynomial.items(), key=lambda item: (len(item[0]), item[0])))
    return Target(nu, "delta", terms)


# ---------------------------------------------------------------------------
# Diagrams of delta targets
# ---------------------------------------------------------------------------


def r_diagrams(target: Target, symmetric: bool = True) -> DiagramSum:
    """The combination ``sum_j w_j R_{F_j}`` whose polynomial is ``sum f F``.

    ``R_{F_j}`` has one H-node and one p-node per block of the partition
    ``F_j``; the edge of colour ``m`` joins the H-node to the block of
    position ``m``.

    Parameters
    ----------
    target : Target
        A delta target.
    symmetric : bool
        Colour 1 throughout (SYM) or colours ``1..nu`` (ASYM).

    Returns
    -------
    DiagramSum

    Examples
    --------
    >>> from feynflow.diagrams import r_diagram
    >>> r_diagrams(parse_target("identity", 3)) == r_diagram(3)
    True

    Notes
    -----
    A delta hyper-edge on p-nodes identifies them, and merging commutes with
    that identification (it only deletes edges and identifies endpoints), so
    ``R_{F_j}`` is built with its delta blocks already contracted.
    """
    if target.kind != "delta":
        raise ParameterError(
            f"target {target.name!r} is not a delta polynomial; modular addition "
            "is averaged by feynflow.targets.modadd_coefficients"
        )
    total = DiagramSum()
    for partition, weight in target.terms:
        block_of = {m: b for b, block in enumerate(partition) for m in block}
        edges = [(0, block_of[m], 1 if symmetric else m + 1) for m in range(target.nu)]
        total = total + Diagram(1, len(partition), edges) * weight
    return total


def half_norm_squared(target: str | Target, nu: int) -> dict[int, Fraction]:
    """``||F||^2 / 2`` as ``{power of p: coefficient}``.

    For a delta target ``sum_j w_j F_j``, ``||F||^2 = sum_{j,k} w_j w_k
    p^{b(F_j v F_k)}`` with ``b`` the number of blocks of the join; for
    modular addition it is ``p^(nu-1)``.

    Examples
    --------
    >>> half_norm_squared("identity", 3)
    {1: Fraction(1, 2)}
    >>> half_norm_squared("d(1,2) + d(2,3)", 3)
    {2: Fraction(1, 1), 1: Fraction(1, 1)}
    """
    target = parse_target(target, nu)
    if target.kind == "modadd":
        return {nu - 1: Fraction(1, 2)}
    total: dict[int, Fraction] = {}
    for a, weight_a in target.terms:
        for b, weight_b in target.terms:
            blocks = len(_join(a, b, nu))
            total[blocks] = total.get(blocks, Fraction(0)) + weight_a * weight_b / 2
    return {q: c for q, c in total.items() if c}


# ---------------------------------------------------------------------------
# Linear congruences: Smith normal form
# ---------------------------------------------------------------------------


def smith_invariants(rows: list[list[int]]) -> list[int]:
    """Nonzero invariant factors ``d_1 | d_2 | ...`` of an integer matrix.

    Examples
    --------
    >>> smith_invariants([[2, 4], [6, 8]])
    [2, 4]
    >>> smith_invariants([[1, 1, -1]])
    [1]

    Notes
    -----
    Elimination by integer row and column operations (Euclid on the pivot),
    then the divisibility chain is restored from gcds and lcms of the
    diagonal.  Fine for the small matrices of contracted diagrams.
    """
    matrix = [list(row) for row in rows if any(row)]
    diagonal = []
    while matrix and matrix[0]:
        entries = [
            (abs(v), r, c)
            for r, row in enumerate(matrix)
            for c, v in enumerate(row)
            if v
        ]
        if not entries:
            break
        _, r, c = min(entries)
        matrix[0], matrix[r] = matrix[r], matrix[0]
        for row in matrix:
            row[0], row[c] = row[c], row[0]
        while True:
            pivot = matrix[0][0]
            done = True
            for r in range(1, len(matrix)):
                quotient = matrix[r][0] // pivot
                if quotient:
                    matrix[r] = [
                        a - quotient * b
                        for a, b in zip(matrix[r], matrix[0], strict=True)
                    ]
                if matrix[r][0]:
                    done = False
            for c in range(1, len(matrix[0])):
                quotient = matrix[0][c] // pivot
                if quotient:
                    for row in matrix:
                        row[c] -= quotient * row[0]
                if matrix[0][c]:
                    done = False
            if done:
                break
            # A remainder smaller than the pivot becomes the new pivot.
            entries = [
                (abs(matrix[r][0]), r, 0) for r in range(len(matrix)) if matrix[r][0]
            ]
            entries += [
                (abs(matrix[0][c]), 0, c) for c in range(len(matrix[0])) if matrix[0][c]
            ]
            _, r, c = min(entries)
            matrix[0], matrix[r] = matrix[r], matrix[0]
            for row in matrix:
                row[0], row[c] = row[c], row[0]
        diagonal.append(abs(matrix[0][0]))
        matrix = [row[1:] for row in matrix[1:] if any(row[1:])]
    # Diagonal entries need not divide each other yet; replacing (a, b) by
    # (gcd, lcm) keeps the module and restores the chain.
    for i in range(len(diagonal)):
        for j in range(i + 1, len(diagonal)):
            a, b = diagonal[i], diagonal[j]
            g = math.gcd(a, b)
            diagonal[i], diagonal[j] = g, a // g * b
    return diagonal


def congruence_solutions(n_vars: int, rows: list[list[int]], p: int) -> int:
    """Number of ``x`` in ``(Z/p)^n_vars`` with ``rows . x = 0 mod p``.

    With invariant factors ``d_1..d_r`` it is
    ``prod_k gcd(d_k, p) * p^(n_vars - r)``.

    Examples
    --------
    >>> congruence_solutions(2, [[2, 0]], 4)  # 2 x = 0 mod 4: x in {0, 2}
    8
    """
    invariants = smith_invariants(rows)
    count = p ** (n_vars - len(invariants))
    for d in invariants:
        count *= math.gcd(d, p)
    return count


def _prime_factors(n: int) -> set[int]:
    return set(sympy.factorint(n)) if n > 1 else set()


# ---------------------------------------------------------------------------
# Wick averages of diagrams with linear congruences
# ---------------------------------------------------------------------------

#: A reduced state: ``(n_h, n_p, edges, constraints)`` with each constraint a
#: sorted tuple of ``(p-node, coefficient)``, meaning ``sum c x = 0 mod p``.
State = tuple[int, int, tuple, tuple]

_memo: dict[tuple, tuple[dict, frozenset]] = {}
_memo_lock = threading.Lock()


def _normalise(constraint: dict[int, int]) -> tuple[tuple[int, int], ...] | None:
    """A constraint without zero terms, its sign fixed; None if it is ``0 = 0``."""
    items = tuple(sorted((x, c) for x, c in constraint.items() if c))
    if not items:
        return None
    coefficients = sorted(c for _, c in items)
    negated = sorted(-c for _, c in items)
    if negated > coefficients:
        items = tuple((x, -c) for x, c in items)
    return items


def _graph(n_h, n_p, edges, constraints, singled_out=None) -> pynauty.Graph:
    """Nauty graph of a state: edge and coefficient links become vertices."""
    first_edge = n_h + n_p
    first_constraint = first_edge + len(edges)
    vertex = first_constraint + len(constraints)
    adjacency: dict[int, list[int]] = {}
    cells: dict[tuple, set[int]] = {}
    for k, (h, i, colour) in enumerate(edges):
        adjacency[first_edge + k] = [h, n_h + i]
        cell = ("edge", colour) if k != singled_out else ("single",)
        cells.setdefault(cell, set()).add(first_edge + k)
    for j, constraint in enumerate(constraints):
        cells.setdefault(("constraint",), set()).add(first_constraint + j)
        for x, c in constraint:
            adjacency[vertex] = [first_constraint + j, n_h + x]
            cells.setdefault(("coefficient", c), set()).add(vertex)
            vertex += 1
    order = [set(range(n_h)), set(range(n_h, first_edge))]
    order += [cells[key] for key in sorted(cells, key=repr)]
    return pynauty.Graph(
        vertex,
        directed=False,
        adjacency_dict=adjacency,
        vertex_coloring=[cell for cell in order if cell],
    )


def _canonical_state(n_h, n_p, edges, constraints) -> State:
    graph = _graph(n_h, n_p, edges, constraints)
    label = pynauty.canon_label(graph)
    position = [0] * (n_h + n_p)
    for new, old in enumerate(label[: n_h + n_p]):
        position[old] = new
    new_edges = tuple(
        sorted((position[h], position[n_h + i] - n_h, c) for h, i, c in edges)
    )
    new_constraints = tuple(
        sorted(
            tuple(sorted((position[n_h + x] - n_h, c) for x, c in constraint))
            for constraint in constraints
        )
    )
    return (n_h, n_p, new_edges, new_constraints)


def _reduce_state(n_h, n_p, edges, constraints, p_value):
    """Drop what no later pairing can change; return a factor and the rest.

    Returns ``(factor, state)`` where ``factor`` is ``(q, n, scale)`` meaning
    ``p^q H^n * scale`` and ``state`` the canonical remainder.  An H-node
    without edges gives a factor ``H``; a p-node without edges and in no
    constraint a factor ``p``; a p-node without edges met by exactly one
    constraint with coefficient +-1 is solved for, dropping that constraint.
    """
    constraints = [dict(c) for c in constraints]
    used_h = {h for h, _, _ in edges}
    n_free_h = n_h - len(used_h)
    removed_p: set[int] = set()
    free_p = 0
    with_edges = {i for _, i, _ in edges}
    while True:
        constraints = [{x: v for x, v in c.items() if v} for c in constraints]
        constraints = [c for c in constraints if c]
        if p_value is not None:
            constraints = [
                {x: v % p_value for x, v in c.items() if v % p_value}
                for c in constraints
            ]
            constraints = [c for c in constraints if c]
        changed = False
        for i in range(n_p):
            if i in removed_p or i in with_edges:
                continue
            meeting = [c for c in constraints if c.get(i)]
            if not meeting:
                removed_p.add(i)
                free_p += 1
                changed = True
            elif (
                len(meeting) == 1
                and meeting[0][i] in (1, -1)
                or (
                    len(meeting) == 1
                    and p_value is not None
                    and math.gcd(meeting[0][i], p_value) == 1
                )
            ):
                constraints.remove(meeting[0])
                removed_p.add(i)
                changed = True
        if not changed:
            break
    kept_h = sorted(used_h)
    kept_p = [i for i in range(n_p) if i not in removed_p]
    h_map = {h: k for k, h in enumerate(kept_h)}
    p_map = {i: k for k, i in enumerate(kept_p)}
    new_edges = [(h_map[h], p_map[i], c) for h, i, c in edges]
    new_constraints = []
    for c in constraints:
        normal = _normalise({p_map[x]: v for x, v in c.items()})
        if normal is not None:
            new_constraints.append(normal)
    factor = (free_p, n_free_h) if p_value is None else (0, n_free_h)
    scale = 1 if p_value is None else p_value**free_p
    state = _canonical_state(len(kept_h), len(kept_p), new_edges, new_constraints)
    return (factor[0], factor[1], scale), state


def _leaf_value(n_p: int, constraints, p_value) -> tuple[dict, frozenset]:
    rows = [[0] * n_p for _ in constraints]
    for row, constraint in zip(rows, constraints, strict=True):
        for x, c in constraint:
            row[x] += c
    if p_value is not None:
        return {(0, 0): congruence_solutions(n_p, rows, p_value)}, frozenset()
    invariants = smith_invariants(rows)
    bad: set[int] = set()
    for d in invariants:
        bad |= _prime_factors(d)
    return {(n_p - len(invariants), 0): 1}, frozenset(bad)


def _state_value(state: State, p_value, deadline) -> tuple[dict, frozenset]:
    """Pairing counts ``{(q, n): count}`` of a reduced state and its bad primes.

    Pairs one edge with every partner of its colour (one partner per orbit of
    the automorphisms fixing that edge, weighted by the orbit size),
    contracts, reduces and recurses; a state without edges is a linear
    system whose solutions are counted by `smith_invariants`.
    """
    key = (state, p_value)
    cached = _memo.get(key)
    if cached is not None:
        return cached
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimitError("time limit reached while averaging a diagram")
    n_h, n_p, edges, constraints = state
    if not edges:
        value = _leaf_value(n_p, constraints, p_value)
        with _memo_lock:
            _memo[key] = value
        return value
    counts: dict[int, int] = {}
    for _, _, colour in edges:
        counts[colour] = counts.get(colour, 0) + 1
    if any(count % 2 for count in counts.values()):
        with _memo_lock:
            _memo[key] = ({}, frozenset())
        return {}, frozenset()

    first = min(range(len(edges)), key=lambda k: (counts[edges[k][2]], k))
    h_e, i_e, colour = edges[first]
    graph = _graph(n_h, n_p, edges, constraints, singled_out=first)

    value: dict[tuple[int, int], int] = {}
    bad: set[int] = set()
    for partner, orbit_size in partner_orbits(graph, n_h + n_p, edges, first):
        h_f, i_f, _ = edges[partner]
        h_of = [h_e if h == h_f else h for h in range(n_h)]
        i_of = [i_e if i == i_f else i for i in range(n_p)]
        rest = [
            (h_of[h], i_of[i], c)
            for k, (h, i, c) in enumerate(edges)
            if k not in (first, partner)
        ]
        merged = []
        for constraint in constraints:
            combined: dict[int, int] = {}
            for x, c in constraint:
                combined[i_of[x]] = combined.get(i_of[x], 0) + c
            merged.append(combined)
        rest, merged, new_h, new_p = _drop_nodes(
            rest, merged, n_h, n_p, h_f, i_f, h_f != h_e, i_f != i_e
        )
        (q0, n0, scale), sub = _reduce_state(new_h, new_p, rest, merged, p_value)
        branch, branch_bad = _state_value(sub, p_value, deadline)
        bad |= branch_bad
        weight = orbit_size * scale
        for (q, n), count in branch.items():
            monomial = (q + q0, n + n0)
            value[monomial] = value.get(monomial, 0) + weight * count
    result = ({k: c for k, c in value.items() if c}, frozenset(bad))
    with _memo_lock:
        _memo[key] = result
    return result


def _drop_nodes(edges, constraints, n_h, n_p, h_f, i_f, drop_h, drop_p):
    """Remove the contracted-away nodes ``h_f`` and ``i_f`` from the numbering."""

    def new_h(h: int) -> int:
        return h - (drop_h and h > h_f)

    def new_p(i: int) -> int:
        return i - (drop_p and i > i_f)

    edges = [(new_h(h), new_p(i), c) for h, i, c in edges]
    constraints = [{new_p(x): c for x, c in con.items()} for con in constraints]
    return edges, constraints, n_h - drop_h, n_p - drop_p


def _diagram_constraints(diagram: Diagram, nu: int) -> list[dict[int, int]]:
    """Decode the congruences carried by a merged modular-addition diagram.

    Each modular-addition hyper-edge is stored as two target hyper-edges: all
    ``nu`` of its p-nodes and its ``nu - 1`` inputs; the output is the node
    of the first missing from the second.  Merging adds one fresh hyper-edge
    sharing at most one p-node with the rest, so for ``nu >= 3`` each input
    set lies in exactly one full set.  For ``nu = 2`` the congruence is a
    delta and the input sets are not stored.
    """
    full = [t for t in diagram.targets if len(t) == nu]
    inputs = [set(t) for t in diagram.targets if len(t) == nu - 1]
    constraints = []
    for nodes in full:
        if nu == 2:
            constraints.append({nodes[0]: 1, nodes[1]: -1})
            continue
        (ins,) = [s for s in inputs if s <= set(nodes)]
        (out,) = set(nodes) - ins
        constraint = {x: 1 for x in ins}
        constraint[out] = -1
        constraints.append(constraint)
    return constraints


def modadd_r_diagram(nu: int, symmetric: bool = True) -> Diagram:
    """``R`` of modular addition: one H-node, ``nu`` p-nodes, one congruence.

    Examples
    --------
    >>> modadd_r_diagram(3).targets
    ((0, 1), (0, 1, 2))
    """
    nu = check_nu(nu)
    edges = [(0, m, 1 if symmetric else m + 1) for m in range(nu)]
    targets = [tuple(range(nu))]
    if nu > 2:
        targets.append(tuple(range(nu - 1)))
    return Diagram(1, nu, edges, targets)


def modadd_counts(
    diagram: Diagram, nu: int, p_value: int | None = None, deadline=None
) -> tuple[dict[tuple[int, int], int], frozenset]:
    """Pairing counts of a modular-addition diagram and its exceptional primes.

    Parameters
    ----------
    diagram : Diagram
        Built by merging `modadd_r_diagram` and ``D`` diagrams.
    nu : int
        Tensor order of the target.
    p_value : int, optional
        Evaluate at this ``p`` exactly; the keys are then ``(0, n)`` and the
        counts include every power of ``p``.
    deadline : float, optional
        ``time.monotonic()`` value after which `TimeLimitError` is raised.

    Returns
    -------
    counts : dict
        ``{(q, n): count}``: the average is ``sum count p^q H^n sigma^(2l)``.
    primes : frozenset of int
        Without ``p_value``: the primes dividing an invariant factor of some
        contracted system; for every ``p`` divisible by none of them the
        counts are exact.

    Examples
    --------
    >>> counts, primes = modadd_counts(modadd_r_diagram(2), 2)
    >>> counts, primes
    ({(1, 1): 1}, frozenset())
    """
    constraints = _diagram_constraints(diagram, nu)
    (q0, n0, scale), state = _reduce_state(
        diagram.n_h, diagram.n_p, list(diagram.edges), constraints, p_value
    )
    value, bad = _state_value(state, p_value, deadline)
    return {(q + q0, n + n0): c * scale for (q, n), c in value.items()}, bad


# ---------------------------------------------------------------------------
# Loss coefficients of modular addition
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModularCoefficients:
    """Loss coefficients of the modular-addition target.

    Attributes
    ----------
    coefficients : list of sympy.Poly
        ``[Y_0, ..., Y_order]`` in ``(p, H, sigma)``; free of ``p`` when
        ``p_value`` is set.
    p_value : int or None
        The ``p`` the coefficients are exact for, or None for polynomials.
    exceptional_primes : tuple of int
        Without ``p_value``: the polynomials are exact for every ``p``
        divisible by none of these primes, in particular every prime above
        `prime_bound`.
    """

    coefficients: list
    p_value: int | None
    exceptional_primes: tuple[int, ...]

    @property
    def prime_bound(self) -> int:
        """Largest exceptional prime (1 if none): exact for every prime above."""
        return max(self.exceptional_primes, default=1)


def modadd_coefficients(
    nu: int,
    order: int,
    symmetric: bool = True,
    p_value: int | None = None,
    leading: bool = False,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModularCoefficients:
    """Exact ``Y_0..Y_order`` for ``F = [i_nu = i_1 + ... + i_{nu-1} mod p]``.

    Parameters
    ----------
    nu : int
        Tensor order, ``>= 2``.
    order : int
        Highest ``s``, ``>= 0``.
    symmetric : bool
        SYM or ASYM scenario.
    p_value : int, optional
        Compute exactly at this integer ``p >= 1``.
    leading : bool
        Keep only the Pareto-optimal terms (and the constant).
    time_limit : float, optional
        Seconds after which `TimeLimitError` is raised.
    progress : callable, optional
        Called as ``progress(s, order)`` after each order.

    Returns
    -------
    ModularCoefficients

    Raises
    ------
    ParameterError
        For bad ``nu``, ``order`` or ``p_value``.
    TimeLimitError
        When ``time_limit`` runs out.

    Examples
    --------
    For ``nu = 2`` modular addition is the identity target:

    >>> from feynflow.expansion import loss_coefficients
    >>> result = modadd_coefficients(2, 1)
    >>> result.coefficients == loss_coefficients(2, 1)
    True

    Notes
    -----
    ``A = 1/2 D - R`` is merged as for other targets, the congruence of each
    ``R`` riding along as hyper-edges; the average of a merged diagram is a
    sum over pairings, each leaving a linear system over its p-classes whose
    solutions are counted from the Smith normal form.  Intermediate states
    are memoised on nauty canonical forms that include the congruences and
    their coefficients.

    References
    ----------
    .. [1] Yarotsky, Golikov, Gusev, ICML 2026, arXiv:2602.04548, section 2.
    """
    nu = check_nu(nu)
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ParameterError(f"order={order!r} is not allowed; must be an integer >= 0")
    if p_value is not None and (
        isinstance(p_value, bool) or not isinstance(p_value, int) or p_value < 1
    ):
        raise ParameterError(f"p_value={p_value!r} is not allowed; must be >= 1")
    deadline = None if time_limit is None else time.monotonic() + time_limit

    generator = Fraction(1, 2) * d_diagram(nu, symmetric) - modadd_r_diagram(
        nu, symmetric
    )
    power = generator
    coefficients = []
    primes: set[int] = set()
    for s in range(order + 1):
        if s:
            power = merge(power, generator)
        sign = -1 if s % 2 else 1
        terms: dict[tuple[int, int, int], Fraction] = {}
        for diagram, coeff in power.sorted_items():
            counts, bad = modadd_counts(diagram, nu, p_value, deadline)
            primes |= bad
            for (q, n), count in counts.items():
                key = (q, n, diagram.n_edges)
                terms[key] = terms.get(key, Fraction(0)) + sign * coeff * count
        terms = {k: c for k, c in terms.items() if c}
        if leading:
            from feynflow.wick import pareto_front

            by_level: dict[int, dict] = {}
            for (q, n, l), c in terms.items():
                by_level.setdefault(l, {})[(q, n)] = c
            terms = {
                (q, n, l): c
                for l, level in by_level.items()
                for (q, n), c in pareto_front(level).items()
            }
        if s == 0:
            if p_value is None:
                key = (nu - 1, 0, 0)
                terms[key] = terms.get(key, Fraction(0)) + Fraction(1, 2)
            else:
                key = (0, 0, 0)
                half = Fraction(p_value ** (nu - 1), 2)
                terms[key] = terms.get(key, Fraction(0)) + half
        coefficients.append(ph_sigma_poly(terms))
        logger.info("modadd order %d: %d diagram classes", s, len(power))
        if progress is not None:
            progress(s, order)
    if p_value is None:
        logger.info(
            "modadd polynomials exact for every p divisible by none of %s",
            sorted(primes),
        )
    return ModularCoefficients(coefficients, p_value, tuple(sorted(primes)))
