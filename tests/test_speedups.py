"""The compiled inner loop against the Python steps, nauty and brute force.

`_feynflow_speedups` is built when feynflow is installed with a C compiler;
these tests check that every step it takes over gives what the Python code
(which it replaces) and independent computations give.  The averages are
also checked with the compiled loop switched off, against listing every
pairing.
"""

import itertools
import random
from collections import Counter

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pairings import all_pairings
from strategies import diagrams, graphs

from feynflow import wick
from feynflow.diagrams import Diagram

fast = wick._fast
needs_speedups = pytest.mark.skipif(
    fast is None, reason="_feynflow_speedups is not built (no C compiler?)"
)


def relabelled(graph, data):
    n_h, n_p, edges = graph
    h_perm = data.draw(st.permutations(range(n_h)))
    p_perm = data.draw(st.permutations(range(n_p)))
    moved = [(h_perm[h], p_perm[i], c) for h, i, c in edges]
    return n_h, n_p, data.draw(st.permutations(moved))


def isomorphic(a, b) -> bool:
    """Whether two small graphs are isomorphic, by trying every relabelling."""
    if a[:2] != b[:2] or len(a[2]) != len(b[2]):
        return False
    n_h, n_p = a[:2]
    target = Counter(b[2])
    for h_perm in itertools.permutations(range(n_h)):
        for p_perm in itertools.permutations(range(n_p)):
            if Counter((h_perm[h], p_perm[i], c) for h, i, c in a[2]) == target:
                return True
    return False


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_canonical_form_is_unchanged_by_relabelling(graph, data):
    assert fast.state_key(*graph) == fast.state_key(*relabelled(graph, data))


@needs_speedups
@settings(max_examples=400, deadline=None)
@given(
    graphs(max_h=3, max_p=3, max_edges=5, colours=2),
    graphs(max_h=3, max_p=3, max_edges=5, colours=2),
)
def test_canonical_forms_are_equal_exactly_for_isomorphic_graphs(a, b):
    # Small graphs, so that isomorphic pairs are frequent.
    assert (fast.state_key(*a) == fast.state_key(*b)) == isomorphic(a, b)


@needs_speedups
@settings(max_examples=200, deadline=None)
@given(graphs(), st.data())
def test_canonical_form_of_a_relabelled_copy_against_a_near_copy(graph, data):
    # One edge recoloured or moved is (usually) another graph: the forms
    # must agree with brute force either way.
    n_h, n_p, edges = graph
    k = data.draw(st.integers(0, len(edges) - 1))
    h, i, c = edges[k]
    changed = list(edges)
    changed[k] = data.draw(
        st.sampled_from(
            [(h, i, (c + 1) % 3), ((h + 1) % n_h, i, c), (h, (i + 1) % n_p, c)]
        )
    )
    other = relabelled((n_h, n_p, changed), data)
    same = isomorphic(graph, other)
    assert (fast.state_key(*graph) == fast.state_key(*other)) == same


@needs_speedups
def test_highly_symmetric_graphs_fall_back_to_nauty():
    # K_{7,7}: 7! orderings on either side, more than the compiled form tries.
    complete = [(h, i, 0) for h in range(7) for i in range(7)]
    assert fast.state_key(7, 7, complete) is None
    key = wick._state_key(7, 7, complete)
    assert key == wick._nauty_key(7, 7, complete)
    shuffled = [(6 - h, (i + 3) % 7, 0) for h, i, _ in complete]
    assert wick._state_key(7, 7, shuffled) == key


@needs_speedups
def test_branches_are_declined_when_a_remainder_is_too_symmetric():
    # K_{7,7} plus a double edge: pairing the double edge leaves K_{7,7}.
    complete = [(h, i, 0) for h in range(7) for i in range(7)]
    edges = [(0, 0, 0), *complete, (0, 0, 0)]
    assert fast.branches(7, 7, edges, 0) is None
    # The Python path then groups partners by nauty's orbits.
    branches = wick._branches(7, 7, edges, 0)
    assert sum(weight for weight, *_ in branches) == len(edges) - 1


@needs_speedups
def test_many_colours_or_edges_fall_back_to_nauty():
    # Labels pack one multiplicity per colour in 64 bits; beyond that, nauty.
    many_colours = [(0, 0, c) for c in range(40)]
    assert fast.state_key(1, 1, many_colours) is None
    assert wick._state_key(1, 1, many_colours) == wick._nauty_key(1, 1, many_colours)


@needs_speedups
def test_colours_beyond_the_compiled_range_take_the_python_steps():
    # Diagram accepts any positive colour; the compiled loop refuses those
    # above its range and the Python steps take over.
    diagram = Diagram(2, 1, [(0, 0, 5000), (1, 0, 5000)])
    with pytest.raises(OverflowError):
        fast.state_key(2, 1, list(diagram.edges))
    assert wick.wick_counts(diagram) == {(1, 1): 1}
    assert wick.face_counts(diagram, (1, 1)) == {(1, 1): 1}
    assert wick.linear_bound(2, 1, [(0, 0, 5000), (1, 0, 5000)], (1, 1)) >= 2


@needs_speedups
def test_edges_may_be_lists():
    assert wick.class_bound(2, 1, [[0, 0, 1], [1, 0, 1]]) == [(0, 2), (1, 1)]
    assert fast.state_key(2, 1, [[0, 0, 1], [1, 0, 1]]) == fast.state_key(
        2, 1, [(1, 0, 1), (0, 0, 1)]
    )


@needs_speedups
@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.integers(0, 5), st.integers(0, 5)), st.integers(-(2**80), 2**80)
    ),
    st.dictionaries(
        st.tuples(st.integers(0, 5), st.integers(0, 5)), st.integers(-(2**80), 2**80)
    ),
    st.integers(-(2**70), 2**70),
    st.integers(0, 3),
    st.integers(0, 3),
)
def test_add_into_matches_the_python_sum(total, part, weight, dq, dn):
    expected = dict(total)
    wick._add_python(expected, part, weight, dq, dn)
    fast.add_into(total, part, weight, dq, dn)
    assert total == expected


@needs_speedups
def test_add_into_a_dict_itself_reads_it_once():
    total = {(0, 0): 1, (1, 0): 2}
    fast.add_into(total, total, 3, 1, 0)
    assert total == {(0, 0): 1, (1, 0): 5, (2, 0): 6}


@needs_speedups
def test_bad_edges_are_refused_not_read_out_of_bounds():
    with pytest.raises(ValueError):
        fast.state_key(1, 1, [(0, 1, 0)])
    with pytest.raises(TypeError):
        fast.state_key(1, 1, [(0, 0)])
    with pytest.raises(ValueError):
        fast.contract(1, 1, [(0, 0, 0), (0, 0, 1)], 0, 0, 0)


def odd_colour(edges) -> bool:
    return any(k % 2 for k in Counter(c for _, _, c in edges).values())


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(graphs())
def test_first_edge_and_components_match_the_python_steps(graph):
    n_h, n_p, edges = graph
    if odd_colour(edges):
        assert fast.first_edge(*graph) == -1
    else:
        counts = Counter(c for _, _, c in edges)
        assert fast.first_edge(*graph) == wick._first_edge(n_h, n_p, edges, counts)
    network = nx.Graph()
    network.add_nodes_from(range(n_h + n_p))
    network.add_edges_from((h, n_h + i) for h, i, _ in edges)
    assert fast.components(*graph) == nx.number_connected_components(network)


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_contraction_matches_the_python_step(graph, data):
    n_h, n_p, edges = graph
    first = data.draw(st.integers(0, len(edges) - 1))
    colour = edges[first][2]
    partners = [e for k, e in enumerate(edges) if k != first and e[2] == colour]
    if not partners:
        return
    h_f, i_f, _ = data.draw(st.sampled_from(partners))
    expected = wick._contract(n_h, n_p, edges, first, h_f, i_f)
    assert fast.contract(n_h, n_p, edges, first, h_f, i_f) == expected


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_branches_group_every_partner_by_isomorphism_class(graph, data):
    # Contract with every partner edge one at a time (Python step), and
    # count the remainders by nauty's class: the grouped branches must give
    # the same counts.
    n_h, n_p, edges = graph
    first = data.draw(st.integers(0, len(edges) - 1))
    colour = edges[first][2]
    expected: Counter = Counter()
    for k, (h, i, c) in enumerate(edges):
        if k != first and c == colour:
            isolated, state = wick._contract(n_h, n_p, edges, first, h, i)
            cls = wick._nauty_key(*state) if state[2] else None
            expected[isolated, cls] += 1
    branches = fast.branches(n_h, n_p, edges, first)
    if branches is None:
        # Declined: some remainder is too symmetric for the compiled form.
        assert any(
            fast.state_key(*wick._contract(n_h, n_p, edges, first, h, i)[1]) is None
            for k, (h, i, c) in enumerate(edges)
            if k != first and c == colour
        )
        return
    found: Counter = Counter()
    for weight, q, n, n_h2, n_p2, rest, key in branches:
        state = (n_h2, n_p2, rest)
        cls = wick._nauty_key(*state) if rest else None
        found[(q, n), cls] += weight
        if rest:
            assert key == fast.state_key(*state)
        else:
            assert key is None
    assert found == expected


@pytest.fixture(params=["compiled", "python"])
def engine(request, monkeypatch):
    """Run a test with the compiled loop and again with the Python steps."""
    if request.param == "compiled" and fast is None:
        pytest.skip("_feynflow_speedups is not built")
    if request.param == "python":
        monkeypatch.setattr(wick, "_fast", None)
        monkeypatch.setattr(wick, "_add_into", wick._add_python)
    wick.clear_wick_cache()
    yield request.param
    wick.clear_wick_cache()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(diagram=diagrams(max_nodes=4, max_edges=8, colours=2))
def test_both_engines_match_listing_every_pairing(engine, diagram):
    expected = all_pairings(diagram.n_h, diagram.n_p, diagram.edges)
    assert wick.wick_counts(diagram) == expected


def test_both_engines_match_listing_every_pairing_on_merged_diagrams(engine):
    from feynflow.diagrams import d_diagram, merge

    for nu in (2, 3):
        for diagram in merge(d_diagram(nu, True), d_diagram(nu, False)):
            expected = all_pairings(diagram.n_h, diagram.n_p, diagram.edges)
            assert wick.wick_counts(diagram) == expected


@needs_speedups
def test_engines_agree_where_listing_pairings_is_too_slow(monkeypatch):
    # Three D-diagrams of SYM nu = 3 merged: 14 edges, 13!! = 135135 pairings.
    from feynflow.diagrams import d_diagram, merge

    d = d_diagram(3, True)
    merged = list(merge(merge(d, d), d))
    wick.clear_wick_cache()
    compiled = [wick.wick_counts(x) for x in merged]
    monkeypatch.setattr(wick, "_fast", None)
    monkeypatch.setattr(wick, "_add_into", wick._add_python)
    wick.clear_wick_cache()
    python = [wick.wick_counts(x) for x in merged]
    wick.clear_wick_cache()
    assert compiled == python
    assert all(
        sum(c.values()) == _pairing_count(x)
        for x, c in zip(merged, compiled, strict=True)
    )


def _pairing_count(diagram: Diagram) -> int:
    """Number of pairings of equal-colour edges: prod over colours (k-1)!!."""
    total = 1
    for k in Counter(c for _, _, c in diagram.edges).values():
        if k % 2:
            return 0
        total *= _double_factorial(k - 1)
    return total


def _double_factorial(k: int) -> int:
    return 1 if k <= 0 else k * _double_factorial(k - 2)


# The whole recursion in C (`average`), classes given by their canonical
# forms (`graph_of`) and merges (`mergers`), as used by `loss_coefficients`.


def _no_fallback(n_h, n_p, edges):
    raise AssertionError("the fallback was not expected here")


def _never_stop():
    pass


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(graphs(max_h=4, max_p=4, max_edges=10, colours=2))
def test_compiled_recursion_matches_listing_every_pairing(graph):
    n_h, n_p, edges = graph
    expected = all_pairings(n_h, n_p, edges)
    memo = {}
    found = fast.average((n_h, n_p, edges), memo, wick._state_step, _never_stop)
    assert {k: c for k, c in found.items() if c} == expected
    # Memoised values are those of the states, isolated nodes left out.
    for key, value in memo.items():
        if isinstance(key, bytes):
            state = fast.graph_of(key)
            assert value == {k: c for k, c in all_pairings(*state).items() if c} or (
                not value and not all_pairings(*state)
            )


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_a_canonical_form_stands_for_an_isomorphic_graph(graph, data):
    key = fast.state_key(*graph)
    if key is None:
        return
    decoded = fast.graph_of(key)
    assert fast.state_key(*decoded) == key
    assert fast.state_key(*relabelled(decoded, data)) == key
    assert decoded[:2] == graph[:2]
    assert Counter(c for *_, c in decoded[2]) == Counter(c for *_, c in graph[2])
    memo = {}
    assert fast.average(key, memo, _no_fallback, _never_stop) == fast.average(
        graph, {}, _no_fallback, _never_stop
    )


@needs_speedups
def test_small_graphs_decode_to_isomorphic_copies():
    for graph in [
        (1, 1, [(0, 0, 0)]),
        (2, 3, [(0, 0, 1), (1, 2, 1), (1, 2, 1), (0, 1, 2)]),
        (3, 1, [(0, 0, 0), (1, 0, 1), (2, 0, 2), (2, 0, 2)]),
        (2, 2, []),
    ]:
        assert isomorphic(fast.graph_of(fast.state_key(*graph)), graph)


@needs_speedups
def test_symmetric_states_go_to_the_fallback():
    # A 14-cycle alternating H- and p-nodes: both sides have 7! orderings
    # that keep their classes, so the compiled form declines and the
    # fallback (nauty's orbits) takes the state, and its parts come back.
    cycle = [(k, k, 0) for k in range(7)] + [(k, (k + 1) % 7, 0) for k in range(7)]
    calls = []

    def fallback(n_h, n_p, edges):
        calls.append(len(edges))
        return wick._state_step(n_h, n_p, edges)

    wick.clear_wick_cache()
    found = fast.average((7, 7, cycle), wick._memo, fallback, _never_stop)
    wick.clear_wick_cache()
    assert calls and calls[0] == 14
    assert found == all_pairings(7, 7, cycle)


@needs_speedups
def test_a_stopped_recursion_stores_only_finished_states():
    # A random graph of 30 edges with about two thousand states; the
    # recursion calls check() once per 256 new states.
    rng = random.Random(0)
    graph = (
        6,
        6,
        [(rng.randrange(6), rng.randrange(6), rng.randrange(2)) for _ in range(30)],
    )
    calls = []

    def stop():
        calls.append(1)
        if len(calls) == 3:
            raise wick.TimeLimitError("stop")

    memo = {}
    with pytest.raises(wick.TimeLimitError):
        fast.average(graph, memo, _no_fallback, stop)
    assert 512 <= len(memo) < 2000
    # Every stored state is finished: small ones against listing pairings,
    # all against a fresh computation.
    for key, value in memo.items():
        state = fast.graph_of(key)
        assert value == fast.average(key, {}, _no_fallback, _never_stop)
        if len(state[2]) <= 10:
            assert value == all_pairings(*state)
    # Going on from the partial memo gives the whole average.
    assert fast.average(graph, memo, _no_fallback, _never_stop) == fast.average(
        graph, {}, _no_fallback, _never_stop
    )


@needs_speedups
def test_compiled_recursion_refuses_bad_input():
    with pytest.raises(ValueError, match="canonical form"):
        fast.graph_of(b"not a form")
    with pytest.raises(ValueError, match="canonical form"):
        fast.average(b"\0" * 20 + b"\x05", {}, _no_fallback, _never_stop)
    with pytest.raises(TypeError):
        fast.average((1, 1, [(0, 0, 0)]), [], _no_fallback, _never_stop)
    with pytest.raises(TypeError):
        fast.graph_of("text")
    with pytest.raises(ValueError, match="out of range"):
        fast.mergers((1, 1, [(0, 0, 0)]), (1, 1, [(0, 0, 0)]), [(3, 1)])
    with pytest.raises(ValueError, match="repeated"):
        fast.mergers(
            (1, 1, [(0, 0, 0)]), (1, 1, [(0, 0, 0)]), [(0, 1)], [(0, 1), (0, 1)]
        )
    # A truncated form is refused, not read past its end.
    key = fast.state_key(2, 3, [(0, 0, 1), (1, 2, 1), (1, 2, 1), (0, 1, 2)])
    for cut in range(len(key)):
        with pytest.raises(ValueError):
            fast.graph_of(key[:cut])


def _python_mergers(a, b):
    """Mergers of two graphs by Diagram's own merge, as {Diagram: count}."""
    from feynflow.diagrams import merge

    return dict(merge(Diagram(*a), Diagram(*b)).items())


@needs_speedups
@settings(max_examples=200, deadline=None)
@given(
    graphs(max_h=3, max_p=3, max_edges=7, colours=2, first_colour=1),
    graphs(max_h=2, max_p=3, max_edges=5, colours=2, first_colour=1),
)
def test_compiled_mergers_match_merging_diagrams(a, b):
    # Orbits of b from nauty (what loss_coefficients passes), and also every
    # edge of b on its own: both must give the same classes.
    diagram_b = Diagram(*b)
    b_graph = (diagram_b.n_h, diagram_b.n_p, diagram_b.edges)
    every_edge = [(k, 1) for k in range(len(diagram_b.edges))]
    expected = {d: int(c) for d, c in _python_mergers(a, b).items()}
    diagram_a = Diagram(*a)
    a_graph = (diagram_a.n_h, diagram_a.n_p, diagram_a.edges)
    for graph, a_reps, reps in [
        (a, None, diagram_b.edge_orbits()),
        (a, None, every_edge),
        (a_graph, diagram_a.edge_orbits(), diagram_b.edge_orbits()),
    ]:
        classes, rest = fast.mergers(graph, b_graph, reps, a_reps)
        found: Counter = Counter()
        for key, count in classes.items():
            found[Diagram(*fast.graph_of(key))] += count
        for n_h, n_p, edges, count in rest:
            found[Diagram(n_h, n_p, edges)] += count
        assert dict(found) == expected
    # A class given by its canonical form merges like its graph.
    key = fast.state_key(*a)
    if key is not None:
        assert (
            fast.mergers(key, b_graph, every_edge)[0]
            == fast.mergers(fast.graph_of(key), b_graph, every_edge)[0]
        )


@pytest.mark.parametrize(
    "nu, order, symmetric, target",
    [(2, 3, True, "identity"), (3, 2, False, "identity"), (4, 1, True, "zero")],
)
def test_loss_coefficients_agree_with_and_without_the_compiled_loop(
    monkeypatch, nu, order, symmetric, target
):
    # With the compiled loop, levels are kept as canonical forms; without
    # it, as Diagram objects.  Both must give the reference's polynomials.
    from feynflow import _compiled, loss_coefficients
    from feynflow.reference import reference_loss_coefficients

    expected = reference_loss_coefficients(nu, order, symmetric, target)
    for leading in (False, True):
        runs = []
        for engine in ("compiled", "python"):
            if engine == "compiled" and fast is None:
                continue
            if engine == "python":
                monkeypatch.setattr(_compiled, "fast", None)
                monkeypatch.setattr(wick, "_fast", None)
                monkeypatch.setattr(wick, "_add_into", wick._add_python)
            wick.clear_wick_cache()
            runs.append(loss_coefficients(nu, order, symmetric, target, leading))
            monkeypatch.undo()
        wick.clear_wick_cache()
        for run in runs:
            if not leading:
                assert run == expected
            else:
                assert run == runs[-1]
