"""Hypothesis strategies for small random diagrams."""

from hypothesis import strategies as st

from feynflow.diagrams import Diagram


@st.composite
def graphs(draw, max_h=4, max_p=5, max_edges=12, colours=3, first_colour=0):
    """``(n_h, n_p, edges)``: 1..max_h H-nodes, 1..max_p p-nodes, 1..max_edges
    edges of colours ``first_colour .. first_colour + colours - 1``; nodes
    without edges allowed."""
    n_h = draw(st.integers(1, max_h))
    n_p = draw(st.integers(1, max_p))
    edges = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_h - 1),
                st.integers(0, n_p - 1),
                st.integers(first_colour, first_colour + colours - 1),
            ),
            min_size=1,
            max_size=max_edges,
        )
    )
    return n_h, n_p, edges


@st.composite
def diagrams(draw, max_nodes: int = 3, max_edges: int = 6, colours: int = 2):
    """A diagram with 1..max_nodes nodes of each kind and up to max_edges edges."""
    return Diagram(*draw(graphs(max_nodes, max_nodes, max_edges, colours, 1)))
