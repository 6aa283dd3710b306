/*
 * Compiled inner loop of feynflow's Wick recursion (see feynflow/wick.py).
 *
 * A graph here is bipartite between H-nodes 0..n_h-1 and p-nodes 0..n_p-1,
 * given as a sequence of edges (h, i, colour), parallel edges allowed.  The
 * module offers what the recursion does for every intermediate graph:
 *
 *   state_key(n_h, n_p, edges)   a canonical form (bytes) of the isomorphism
 *                                class, or None when it would be costly;
 *   branches(n_h, n_p, edges, first)
 *                                every way of pairing edge `first`, with the
 *                                contracted remainders of equal canonical
 *                                form grouped (None when some remainder has
 *                                no cheap canonical form);
 *   contract(...), components(...), first_edge(...)
 *                                the single steps, for the Python code and
 *                                its tests.
 *
 * The canonical form.  Each bundle (the edges between one H-node and one
 * p-node) gets the label sum_c m_c << (shift * c), where m_c is the number of
 * its edges of colour c and shift = bit length of the number of edges, so a
 * label determines the bundle.  Colour refinement of the labelled bipartite
 * graph splits both sides into classes that every isomorphism respects.  One
 * side S is then ordered in every way that keeps its classes in order (each
 * class permuted in every way), and for each ordering the other side's rows
 * (labels to S in that order) are sorted; the smallest such matrix, with the
 * sizes, is the form.  Two graphs get equal forms exactly when they are
 * isomorphic: the set of orderings is carried along by an isomorphism, and
 * the matrix gives back the graph.  When both sides would need more than
 * ORDERING_LIMIT orderings, state_key returns None and the caller uses
 * nauty instead; the choice depends only on the classes, so isomorphic
 * graphs always take the same road.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ABI_VERSION 2
#define ORDERING_LIMIT 720
#define MAX_CELLS (1 << 16)

typedef uint64_t label_t;

typedef struct {
    int n_h, n_p;
    Py_ssize_t n_edges;
    int *h, *i, *c;
} graph_t;

/* ------------------------------------------------------------------ */
/* Input                                                              */

static int
parse_count(PyObject *obj, const char *name, int *out)
{
    long value = PyLong_AsLong(obj);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (value < 0 || value > (1L << 20)) {
        PyErr_Format(PyExc_ValueError, "%s=%ld is out of range", name, value);
        return -1;
    }
    *out = (int)value;
    return 0;
}

/* Read edges into g (arrays allocated with PyMem_Malloc; free with
 * graph_free).  Every edge must be a 3-tuple of ints in range. */
static int
graph_parse(graph_t *g, PyObject *n_h, PyObject *n_p, PyObject *edges)
{
    memset(g, 0, sizeof(*g));
    if (parse_count(n_h, "n_h", &g->n_h) < 0 || parse_count(n_p, "n_p", &g->n_p) < 0)
        return -1;
    PyObject *seq = PySequence_Fast(edges, "edges must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    g->n_edges = n;
    g->h = PyMem_Malloc(sizeof(int) * (3 * (size_t)n + 1));
    if (g->h == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    g->i = g->h + n;
    g->c = g->i + n;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *edge = items[k];
        if (!PyTuple_Check(edge) || PyTuple_GET_SIZE(edge) != 3) {
            PyErr_SetString(PyExc_TypeError, "an edge must be a tuple (h, i, colour)");
            goto fail;
        }
        long h = PyLong_AsLong(PyTuple_GET_ITEM(edge, 0));
        long i = PyLong_AsLong(PyTuple_GET_ITEM(edge, 1));
        long c = PyLong_AsLong(PyTuple_GET_ITEM(edge, 2));
        if (PyErr_Occurred())
            goto fail;
        if (h < 0 || h >= g->n_h || i < 0 || i >= g->n_p || c < 0 || c > 4096) {
            PyErr_Format(PyExc_ValueError, "edge (%ld, %ld, %ld) is out of range", h, i, c);
            goto fail;
        }
        g->h[k] = (int)h;
        g->i[k] = (int)i;
        g->c[k] = (int)c;
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    PyMem_Free(g->h);
    g->h = NULL;
    return -1;
}

static void
graph_free(graph_t *g)
{
    PyMem_Free(g->h);
    g->h = NULL;
}

/* ------------------------------------------------------------------ */
/* Sorting with a context (merge sort of int indices, stable)          */

typedef int (*cmp_t)(const void *ctx, int a, int b);

static void
merge_sort(int *a, int *tmp, int n, cmp_t cmp, const void *ctx)
{
    if (n < 2)
        return;
    if (n <= 8) {
        for (int x = 1; x < n; x++) {
            int v = a[x], y = x - 1;
            while (y >= 0 && cmp(ctx, a[y], v) > 0) {
                a[y + 1] = a[y];
                y--;
            }
            a[y + 1] = v;
        }
        return;
    }
    int half = n / 2;
    merge_sort(a, tmp, half, cmp, ctx);
    merge_sort(a + half, tmp, n - half, cmp, ctx);
    int x = 0, y = half, z = 0;
    while (x < half && y < n)
        tmp[z++] = cmp(ctx, a[x], a[y]) <= 0 ? a[x++] : a[y++];
    while (x < half)
        tmp[z++] = a[x++];
    while (y < n)
        tmp[z++] = a[y++];
    memcpy(a, tmp, sizeof(int) * n);
}

/* ------------------------------------------------------------------ */
/* Canonical form                                                      */

typedef struct {
    int n_h, n_p, n;      /* n = n_h + n_p; H-nodes first, then p-nodes */
    label_t *matrix;      /* n_p rows of n_h labels */
    int *colour;          /* class of each node */
    /* signatures of the current round: pairs (label, neighbour class) */
    int *start, *length;
    label_t *sig_label;
    int *sig_colour;
} refine_t;

static inline label_t
entry(const refine_t *r, int h, int i)
{
    return r->matrix[(size_t)i * r->n_h + h];
}

static int
cmp_pair(const void *ctx, int a, int b)
{
    const refine_t *r = ctx;
    if (r->sig_label[a] != r->sig_label[b])
        return r->sig_label[a] < r->sig_label[b] ? -1 : 1;
    return (r->sig_colour[a] > r->sig_colour[b]) - (r->sig_colour[a] < r->sig_colour[b]);
}

static int
cmp_node(const void *ctx, int a, int b)
{
    const refine_t *r = ctx;
    if (r->colour[a] != r->colour[b])
        return r->colour[a] < r->colour[b] ? -1 : 1;
    int la = r->length[a], lb = r->length[b];
    int sa = r->start[a], sb = r->start[b];
    for (int k = 0; k < la && k < lb; k++) {
        int c = cmp_pair(ctx, sa + k, sb + k);
        if (c)
            return c;
    }
    return (la > lb) - (la < lb);
}

/* Colour refinement to a stable partition; returns the number of classes.
 * pair_label and pair_colour hold 2 * n_edges entries, order, tmp and
 * new_colour one per node. */
static int
refine(refine_t *r, int *order, int *tmp, label_t *pair_label, int *pair_colour,
       int *new_colour)
{
    int n = r->n;
    int classes = (r->n_h > 0) + (r->n_p > 0);
    for (int v = 0; v < n; v++)
        r->colour[v] = v < r->n_h ? 0 : 1;
    for (;;) {
        /* signatures: for H-node h the pairs (label, class of i), for p-node
         * i the pairs (label, class of h), sorted */
        int pos = 0;
        for (int h = 0; h < r->n_h; h++) {
            r->start[h] = pos;
            for (int i = 0; i < r->n_p; i++) {
                label_t l = entry(r, h, i);
                if (l) {
                    pair_label[pos] = l;
                    pair_colour[pos] = r->colour[r->n_h + i];
                    pos++;
                }
            }
            r->length[h] = pos - r->start[h];
        }
        for (int i = 0; i < r->n_p; i++) {
            int v = r->n_h + i;
            r->start[v] = pos;
            for (int h = 0; h < r->n_h; h++) {
                label_t l = entry(r, h, i);
                if (l) {
                    pair_label[pos] = l;
                    pair_colour[pos] = r->colour[h];
                    pos++;
                }
            }
            r->length[v] = pos - r->start[v];
        }
        /* sort each signature in place (by label, then neighbour class) */
        r->sig_label = pair_label;
        r->sig_colour = pair_colour;
        for (int v = 0; v < n; v++) {
            int s = r->start[v], len = r->length[v];
            for (int x = 1; x < len; x++) {
                label_t l = pair_label[s + x];
                int c = pair_colour[s + x], y = x - 1;
                while (y >= 0 && (pair_label[s + y] > l ||
                                  (pair_label[s + y] == l && pair_colour[s + y] > c))) {
                    pair_label[s + y + 1] = pair_label[s + y];
                    pair_colour[s + y + 1] = pair_colour[s + y];
                    y--;
                }
                pair_label[s + y + 1] = l;
                pair_colour[s + y + 1] = c;
            }
        }
        for (int v = 0; v < n; v++)
            order[v] = v;
        merge_sort(order, tmp, n, cmp_node, r);
        int rank = 0;
        for (int k = 0; k < n; k++) {
            if (k > 0 && cmp_node(r, order[k - 1], order[k]) != 0)
                rank++;
            new_colour[order[k]] = rank;
        }
        int count = n ? rank + 1 : 0;
        memcpy(r->colour, new_colour, sizeof(int) * n);
        if (count == classes)
            return count;
        classes = count;
    }
}

/* Number of orderings of the nodes [first, first + count) that keep their
 * classes, capped at limit + 1. */
static long
orderings(const int *colour, int first, int count, int *sorted, int *tmp,
          const refine_t *r, long limit)
{
    for (int k = 0; k < count; k++)
        sorted[k] = first + k;
    merge_sort(sorted, tmp, count, cmp_node, r);
    long total = 1;
    int run = 1;
    for (int k = 1; k <= count; k++) {
        if (k < count && colour[sorted[k]] == colour[sorted[k - 1]]) {
            run++;
            total *= run;
            if (total > limit)
                return limit + 1;
        }
        else {
            run = 1;
        }
    }
    return total;
}

static int
next_permutation(int *a, int n)
{
    int x = n - 2;
    while (x >= 0 && a[x] >= a[x + 1])
        x--;
    if (x < 0) {
        for (int l = 0, h = n - 1; l < h; l++, h--) {
            int t = a[l]; a[l] = a[h]; a[h] = t;
        }
        return 0;
    }
    int y = n - 1;
    while (a[y] <= a[x])
        y--;
    int t = a[x]; a[x] = a[y]; a[y] = t;
    for (int l = x + 1, h = n - 1; l < h; l++, h--) {
        t = a[l]; a[l] = a[h]; a[h] = t;
    }
    return 1;
}

typedef struct {
    const label_t *rows;
    int width;
} rows_t;

static int
cmp_row(const void *ctx, int a, int b)
{
    const rows_t *m = ctx;
    const label_t *x = m->rows + (size_t)a * m->width;
    const label_t *y = m->rows + (size_t)b * m->width;
    for (int k = 0; k < m->width; k++)
        if (x[k] != y[k])
            return x[k] < y[k] ? -1 : 1;
    return 0;
}

/* Canonical form of g as a new bytes object, Py_None (new reference) when
 * too many orderings would be needed, NULL on error. */
static PyObject *
canonical_form(const graph_t *g)
{
    int n_h = g->n_h, n_p = g->n_p, n = n_h + n_p;
    Py_ssize_t E = g->n_edges;
    int shift = 1;
    while (((Py_ssize_t)1 << shift) <= E)
        shift++;
    int max_colour = 0;
    for (Py_ssize_t k = 0; k < E; k++)
        if (g->c[k] > max_colour)
            max_colour = g->c[k];
    if ((long)n_h * n_p > MAX_CELLS || shift * (max_colour + 1) > 63)
        Py_RETURN_NONE;

    size_t cells = (size_t)n_h * n_p;
    size_t pairs = 2 * (size_t)E + 1;
    size_t ints = 8 * (size_t)n + pairs + 8;
    char *arena = PyMem_Malloc(sizeof(label_t) * (3 * cells + pairs + 1) + sizeof(int) * ints);
    if (arena == NULL)
        return PyErr_NoMemory();
    label_t *matrix = (label_t *)arena;
    label_t *cand = matrix + cells;
    label_t *best = cand + cells;
    label_t *pair_label = best + cells;
    int *ip = (int *)(pair_label + pairs);
    int *colour = ip; ip += n + 1;
    int *start = ip; ip += n + 1;
    int *length = ip; ip += n + 1;
    int *order = ip; ip += n + 1;
    int *tmp = ip; ip += n + 1;
    int *new_colour = ip; ip += n + 1;
    int *perm = ip; ip += n + 1;
    int *rows = ip; ip += n + 1;
    int *pair_colour = ip; ip += pairs;

    memset(matrix, 0, sizeof(label_t) * cells);
    for (Py_ssize_t k = 0; k < E; k++)
        matrix[(size_t)g->i[k] * n_h + g->h[k]] += (label_t)1 << (shift * g->c[k]);

    refine_t r = {n_h, n_p, n, matrix, colour, start, length, NULL, NULL};
    refine(&r, order, tmp, pair_label, pair_colour, new_colour);

    long by_h = orderings(colour, 0, n_h, perm, tmp, &r, ORDERING_LIMIT);
    long by_p = orderings(colour, n_h, n_p, perm, tmp, &r, ORDERING_LIMIT);
    if (by_h > ORDERING_LIMIT && by_p > ORDERING_LIMIT) {
        PyMem_Free(arena);
        Py_RETURN_NONE;
    }
    int side_h = by_h <= by_p;          /* order the H-nodes, sort p rows */
    int width = side_h ? n_h : n_p;     /* size of S */
    int height = side_h ? n_p : n_h;    /* rows: the other side */
    int first = side_h ? 0 : n_h;
    /* S in class order; perm holds node numbers within the side */
    orderings(colour, first, width, perm, tmp, &r, ORDERING_LIMIT);
    for (int k = 0; k < width; k++)
        perm[k] -= first;
    /* class blocks of perm, each sorted ascending to start */
    int *block_start = new_colour;      /* reuse: at most width + 1 blocks */
    int blocks = 0;
    for (int k = 0; k < width; k++)
        if (k == 0 || colour[first + perm[k]] != colour[first + perm[k - 1]])
            block_start[blocks++] = k;
    block_start[blocks] = width;
    for (int b = 0; b < blocks; b++) {
        int s = block_start[b], len = block_start[b + 1] - s;
        for (int x = 1; x < len; x++) {
            int v = perm[s + x], y = x - 1;
            while (y >= 0 && perm[s + y] > v) {
                perm[s + y + 1] = perm[s + y];
                y--;
            }
            perm[s + y + 1] = v;
        }
    }
    int have_best = 0;
    rows_t m = {cand, width};
    size_t size = (size_t)height * width;
    label_t *scratch = PyMem_Malloc(sizeof(label_t) * (size + 1));
    if (scratch == NULL) {
        PyMem_Free(arena);
        return PyErr_NoMemory();
    }
    for (;;) {
        for (int t = 0; t < height; t++)
            for (int k = 0; k < width; k++)
                cand[(size_t)t * width + k] =
                    side_h ? entry(&r, perm[k], t) : entry(&r, t, perm[k]);
        for (int t = 0; t < height; t++)
            rows[t] = t;
        merge_sort(rows, tmp, height, cmp_row, &m);
        for (int t = 0; t < height; t++)
            memcpy(scratch + (size_t)t * width, cand + (size_t)rows[t] * width,
                   sizeof(label_t) * width);
        int better = !have_best;
        if (have_best) {
            for (size_t k = 0; k < size; k++)
                if (scratch[k] != best[k]) {
                    better = scratch[k] < best[k];
                    break;
                }
        }
        if (better) {
            memcpy(best, scratch, sizeof(label_t) * size);
            have_best = 1;
        }
        /* next ordering: odometer over the blocks */
        int b = blocks - 1;
        while (b >= 0) {
            int s = block_start[b], len = block_start[b + 1] - s;
            if (next_permutation(perm + s, len))
                break;
            b--;
        }
        if (b < 0)
            break;
    }
    PyMem_Free(scratch);
    uint64_t header[5] = {(uint64_t)n_h, (uint64_t)n_p, (uint64_t)E,
                          (uint64_t)side_h, (uint64_t)width};
    PyObject *out = PyBytes_FromStringAndSize(NULL, sizeof(header) + sizeof(label_t) * size);
    if (out != NULL) {
        char *buf = PyBytes_AS_STRING(out);
        memcpy(buf, header, sizeof(header));
        memcpy(buf + sizeof(header), best, sizeof(label_t) * size);
    }
    PyMem_Free(arena);
    return out;
}

static PyObject *
py_state_key(PyObject *self, PyObject *args)
{
    PyObject *n_h, *n_p, *edges;
    if (!PyArg_ParseTuple(args, "OOO:state_key", &n_h, &n_p, &edges))
        return NULL;
    graph_t g;
    if (graph_parse(&g, n_h, n_p, edges) < 0)
        return NULL;
    PyObject *out = canonical_form(&g);
    graph_free(&g);
    return out;
}

/* ------------------------------------------------------------------ */
/* Contraction                                                         */

/* Pair edge `first` with the first edge (h_f, i_f, colour of first) after
 * it is removed; the rest is written to out (numbered without gaps).
 * Returns 0, or -1 with ValueError when there is no such partner. */
static int
contract_into(const graph_t *g, Py_ssize_t first, int h_f, int i_f, graph_t *out,
              int *iso_q, int *iso_n, int *map_h, int *map_p)
{
    int h_e = g->h[first], i_e = g->i[first], colour = g->c[first];
    Py_ssize_t partner = -1;
    for (Py_ssize_t k = 0; k < g->n_edges; k++)
        if (k != first && g->h[k] == h_f && g->i[k] == i_f && g->c[k] == colour) {
            partner = k;
            break;
        }
    if (partner < 0) {
        PyErr_SetString(PyExc_ValueError, "no partner edge of that colour there");
        return -1;
    }
    int degree_h = 0, degree_p = 0;
    for (Py_ssize_t k = 0; k < g->n_edges; k++) {
        if (k == first || k == partner)
            continue;
        if (g->h[k] == h_e || g->h[k] == h_f)
            degree_h++;
        if (g->i[k] == i_e || g->i[k] == i_f)
            degree_p++;
    }
    /* h_f joins h_e; the joined node goes when it has no edges left */
    int gone = 0;
    for (int h = 0; h < g->n_h; h++) {
        int is_gone = (h == h_f && h_f != h_e) || (h == h_e && !degree_h);
        map_h[h] = is_gone ? -1 : h - gone;
        gone += is_gone;
    }
    out->n_h = g->n_h - gone;
    map_h[h_f] = map_h[h_e];
    gone = 0;
    for (int i = 0; i < g->n_p; i++) {
        int is_gone = (i == i_f && i_f != i_e) || (i == i_e && !degree_p);
        map_p[i] = is_gone ? -1 : i - gone;
        gone += is_gone;
    }
    out->n_p = g->n_p - gone;
    map_p[i_f] = map_p[i_e];
    Py_ssize_t n = 0;
    for (Py_ssize_t k = 0; k < g->n_edges; k++) {
        if (k == first || k == partner)
            continue;
        out->h[n] = map_h[g->h[k]];
        out->i[n] = map_p[g->i[k]];
        out->c[n] = g->c[k];
        n++;
    }
    out->n_edges = n;
    *iso_q = !degree_p;
    *iso_n = !degree_h;
    return 0;
}

static PyObject *
edge_list(const graph_t *g)
{
    PyObject *list = PyList_New(g->n_edges);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < g->n_edges; k++) {
        PyObject *edge = Py_BuildValue("(iii)", g->h[k], g->i[k], g->c[k]);
        if (edge == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, k, edge);
    }
    return list;
}

static int
alloc_like(graph_t *out, const graph_t *g)
{
    out->h = PyMem_Malloc(sizeof(int) * (3 * (size_t)g->n_edges + 1));
    if (out->h == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->i = out->h + g->n_edges;
    out->c = out->i + g->n_edges;
    return 0;
}

static PyObject *
py_contract(PyObject *self, PyObject *args)
{
    PyObject *n_h, *n_p, *edges;
    Py_ssize_t first;
    int h_f, i_f;
    if (!PyArg_ParseTuple(args, "OOOnii:contract", &n_h, &n_p, &edges, &first, &h_f, &i_f))
        return NULL;
    graph_t g, out;
    if (graph_parse(&g, n_h, n_p, edges) < 0)
        return NULL;
    PyObject *result = NULL;
    if (first < 0 || first >= g.n_edges || h_f < 0 || h_f >= g.n_h || i_f < 0 || i_f >= g.n_p) {
        PyErr_SetString(PyExc_ValueError, "edge or partner out of range");
        graph_free(&g);
        return NULL;
    }
    if (alloc_like(&out, &g) < 0) {
        graph_free(&g);
        return NULL;
    }
    int *maps = PyMem_Malloc(sizeof(int) * ((size_t)g.n_h + g.n_p + 1));
    int iso_q, iso_n;
    if (maps == NULL)
        PyErr_NoMemory();
    else if (contract_into(&g, first, h_f, i_f, &out, &iso_q, &iso_n, maps, maps + g.n_h) == 0) {
        PyObject *list = edge_list(&out);
        if (list != NULL)
            result = Py_BuildValue("(ii)(iiN)", iso_q, iso_n, out.n_h, out.n_p, list);
    }
    PyMem_Free(maps);
    graph_free(&out);
    graph_free(&g);
    return result;
}

/* ------------------------------------------------------------------ */
/* Components, first edge                                              */

static int
find(int *parent, int a)
{
    while (parent[a] != a)
        a = parent[a] = parent[parent[a]];
    return a;
}

static long
count_components(const graph_t *g, int *parent)
{
    int n = g->n_h + g->n_p;
    long count = n;
    for (int v = 0; v < n; v++)
        parent[v] = v;
    for (Py_ssize_t k = 0; k < g->n_edges; k++) {
        int a = find(parent, g->h[k]), b = find(parent, g->n_h + g->i[k]);
        if (a != b) {
            parent[a] = b;
            count--;
        }
    }
    return count;
}

static PyObject *
py_components(PyObject *self, PyObject *args)
{
    PyObject *n_h, *n_p, *edges;
    if (!PyArg_ParseTuple(args, "OOO:components", &n_h, &n_p, &edges))
        return NULL;
    graph_t g;
    if (graph_parse(&g, n_h, n_p, edges) < 0)
        return NULL;
    int *parent = PyMem_Malloc(sizeof(int) * ((size_t)g.n_h + g.n_p + 1));
    PyObject *out = NULL;
    if (parent == NULL)
        PyErr_NoMemory();
    else
        out = PyLong_FromLong(count_components(&g, parent));
    PyMem_Free(parent);
    graph_free(&g);
    return out;
}

/* The edge to pair first: of the rarest colour, at a node of least degree,
 * lowest index on ties (as feynflow.wick._first_edge); -1 when a colour has
 * an odd number of edges (no pairing exists).  Returns -2 on memory error. */
static Py_ssize_t
first_edge(const graph_t *g)
{
    int colours = 0;
    for (Py_ssize_t k = 0; k < g->n_edges; k++)
        if (g->c[k] + 1 > colours)
            colours = g->c[k] + 1;
    int *count = PyMem_Calloc((size_t)colours + g->n_h + g->n_p + 1, sizeof(int));
    if (count == NULL) {
        PyErr_NoMemory();
        return -2;
    }
    int *degree_h = count + colours, *degree_p = degree_h + g->n_h;
    for (Py_ssize_t k = 0; k < g->n_edges; k++) {
        count[g->c[k]]++;
        degree_h[g->h[k]]++;
        degree_p[g->i[k]]++;
    }
    Py_ssize_t best = -1;
    for (int c = 0; c < colours; c++)
        if (count[c] % 2)
            goto done;
    long best_count = 0, best_degree = 0;
    for (Py_ssize_t k = 0; k < g->n_edges; k++) {
        long cnt = count[g->c[k]];
        long deg = degree_h[g->h[k]] < degree_p[g->i[k]] ? degree_h[g->h[k]] : degree_p[g->i[k]];
        if (best < 0 || cnt < best_count || (cnt == best_count && deg < best_degree)) {
            best = k;
            best_count = cnt;
            best_degree = deg;
        }
    }
done:
    PyMem_Free(count);
    return best;
}

static PyObject *
py_first_edge(PyObject *self, PyObject *args)
{
    PyObject *n_h, *n_p, *edges;
    if (!PyArg_ParseTuple(args, "OOO:first_edge", &n_h, &n_p, &edges))
        return NULL;
    graph_t g;
    if (graph_parse(&g, n_h, n_p, edges) < 0)
        return NULL;
    Py_ssize_t k = first_edge(&g);
    graph_free(&g);
    if (k == -2)
        return NULL;
    return PyLong_FromSsize_t(k);
}

/* ------------------------------------------------------------------ */
/* Branches                                                            */

/* For edge `first` of g: every partner bundle (h, i) of its colour, with
 * the number of partner edges there; contract with each, and group the
 * remainders by (nodes dropped, canonical form).  Returns a list of tuples
 * (weight, q, n, n_h, n_p, edges, key): pairing `first` with any of
 * `weight` partners leaves `q` p-nodes and `n` H-nodes without edges and a
 * remainder isomorphic to (n_h, n_p, edges), whose canonical form is `key`
 * (None when the remainder has no edges).  Returns None instead when some
 * remainder has no cheap canonical form (see state_key): for such
 * symmetric graphs the orbits of nauty's automorphism group group the
 * partners better. */
static PyObject *
py_branches(PyObject *self, PyObject *args)
{
    PyObject *n_h, *n_p, *edges;
    Py_ssize_t first;
    if (!PyArg_ParseTuple(args, "OOOn:branches", &n_h, &n_p, &edges, &first))
        return NULL;
    graph_t g, out;
    if (graph_parse(&g, n_h, n_p, edges) < 0)
        return NULL;
    if (first < 0 || first >= g.n_edges) {
        PyErr_SetString(PyExc_ValueError, "first edge out of range");
        graph_free(&g);
        return NULL;
    }
    PyObject *result = NULL, *groups = NULL;
    int *maps = NULL, *weight = NULL;
    if (alloc_like(&out, &g) < 0) {
        graph_free(&g);
        return NULL;
    }
    size_t cells = (size_t)g.n_h * g.n_p;
    maps = PyMem_Malloc(sizeof(int) * ((size_t)g.n_h + g.n_p + 1));
    weight = PyMem_Calloc(cells + 1, sizeof(int));
    result = PyList_New(0);
    groups = PyDict_New();
    if (maps == NULL || weight == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (result == NULL || groups == NULL)
        goto fail;
    int colour = g.c[first];
    for (Py_ssize_t k = 0; k < g.n_edges; k++)
        if (k != first && g.c[k] == colour)
            weight[(size_t)g.h[k] * g.n_p + g.i[k]]++;
    for (int h = 0; h < g.n_h; h++) {
        for (int i = 0; i < g.n_p; i++) {
            int w = weight[(size_t)h * g.n_p + i];
            if (!w)
                continue;
            int iso_q, iso_n;
            if (contract_into(&g, first, h, i, &out, &iso_q, &iso_n, maps, maps + g.n_h) < 0)
                goto fail;
            PyObject *key;
            if (out.n_edges) {
                key = canonical_form(&out);
                if (key == NULL)
                    goto fail;
                if (key == Py_None) {
                    /* too symmetric: the caller finds orbits with nauty */
                    Py_DECREF(key);
                    Py_DECREF(groups);
                    Py_DECREF(result);
                    PyMem_Free(maps);
                    PyMem_Free(weight);
                    graph_free(&out);
                    graph_free(&g);
                    Py_RETURN_NONE;
                }
            }
            else {
                key = Py_None;
                Py_INCREF(key);
            }
            if (key != Py_None) { /* remainders without edges are not grouped */
                PyObject *group = Py_BuildValue("(iiO)", iso_q, iso_n, key);
                if (group == NULL) {
                    Py_DECREF(key);
                    goto fail;
                }
                PyObject *seen = PyDict_GetItemWithError(groups, group);
                if (seen == NULL && PyErr_Occurred()) {
                    Py_DECREF(group);
                    Py_DECREF(key);
                    goto fail;
                }
                if (seen != NULL) {
                    /* add w to the weight of the branch already listed */
                    Py_ssize_t at = PyLong_AsSsize_t(seen);
                    PyObject *entry = PyList_GET_ITEM(result, at);
                    PyObject *old = PyTuple_GET_ITEM(entry, 0);
                    PyObject *sum = PyLong_FromLong(PyLong_AsLong(old) + w);
                    Py_DECREF(group);
                    Py_DECREF(key);
                    if (sum == NULL)
                        goto fail;
                    PyTuple_SET_ITEM(entry, 0, sum);
                    Py_DECREF(old);
                    continue;
                }
                PyObject *at = PyLong_FromSsize_t(PyList_GET_SIZE(result));
                int bad = at == NULL || PyDict_SetItem(groups, group, at) < 0;
                Py_XDECREF(at);
                Py_DECREF(group);
                if (bad) {
                    Py_DECREF(key);
                    goto fail;
                }
            }
            PyObject *list = edge_list(&out);
            if (list == NULL) {
                Py_DECREF(key);
                goto fail;
            }
            PyObject *entry = Py_BuildValue("(iiiiiNN)", w, iso_q, iso_n, out.n_h, out.n_p,
                                            list, key);
            if (entry == NULL || PyList_Append(result, entry) < 0) {
                Py_XDECREF(entry);
                goto fail;
            }
            Py_DECREF(entry);
        }
    }
    Py_DECREF(groups);
    PyMem_Free(maps);
    PyMem_Free(weight);
    graph_free(&out);
    graph_free(&g);
    return result;
fail:
    Py_XDECREF(result);
    Py_XDECREF(groups);
    PyMem_Free(maps);
    PyMem_Free(weight);
    graph_free(&out);
    graph_free(&g);
    return NULL;
}

/* ------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"state_key", py_state_key, METH_VARARGS,
     "state_key(n_h, n_p, edges) -> bytes or None: canonical form of a graph."},
    {"branches", py_branches, METH_VARARGS,
     "branches(n_h, n_p, edges, first) -> list of pairings of edge first, grouped."},
    {"contract", py_contract, METH_VARARGS,
     "contract(n_h, n_p, edges, first, h_f, i_f) -> ((q, n), (n_h, n_p, edges))."},
    {"components", py_components, METH_VARARGS,
     "components(n_h, n_p, edges) -> number of connected components."},
    {"first_edge", py_first_edge, METH_VARARGS,
     "first_edge(n_h, n_p, edges) -> index of the edge to pair first, or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_feynflow_speedups",
    "Compiled inner loop of feynflow's Wick recursion.", -1, methods,
};

PyMODINIT_FUNC
PyInit__feynflow_speedups(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "ABI", ABI_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
