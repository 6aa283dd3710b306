"""Hypothesis strategies for small random diagrams."""

from hypothesis import strategies as st

from feynflow.diagrams import Diagram


@st.composite
def diagrams(draw, max_nodes: int = 3, max_edges: int = 6, colours: int = 2):
    """A diagram with 1..max_nodes nodes of each kind and up to max_edges edges."""
    n_h = draw(st.integers(1, max_nodes))
    n_p = draw(st.integers(1, max_nodes))
    edges = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_h - 1),
                st.integers(0, n_p - 1),
                st.integers(1, colours),
            ),
            min_size=1,
            max_size=max_edges,
        )
    )
    return Diagram(n_h, n_p, edges)
