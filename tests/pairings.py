"""Averages of diagrams by listing every pairing, with no memoisation."""

from __future__ import annotations


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        x = parent[x]
    return x


def all_pairings(n_h: int, n_p: int, edges) -> dict[tuple[int, int], int]:
    """``{(q, n): number of pairings leaving q p-nodes and n H-nodes}``."""
    edges = list(edges)
    counts: dict[tuple[int, int], int] = {}

    def extend(left: list[int], pairs: list[tuple[int, int]]) -> None:
        if not left:
            parent_h, parent_p = list(range(n_h)), list(range(n_p))
            for a, b in pairs:
                parent_h[_find(parent_h, edges[a][0])] = _find(parent_h, edges[b][0])
                parent_p[_find(parent_p, edges[a][1])] = _find(parent_p, edges[b][1])
            key = (
                len({_find(parent_p, i) for i in range(n_p)}),
                len({_find(parent_h, h) for h in range(n_h)}),
            )
            counts[key] = counts.get(key, 0) + 1
            return
        first = left[0]
        for partner in left[1:]:
            if edges[first][2] == edges[partner][2]:
                rest = [e for e in left if e not in (first, partner)]
                extend(rest, [*pairs, (first, partner)])

    extend(list(range(len(edges))), [])
    return counts
