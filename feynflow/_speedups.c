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
 *                                its tests;
 *   add_into(total, part, weight, dq, dn)
 *                                sums of polynomials {(q, n): count};
 *   average(graph, memo, fallback, check)
 *                                the whole recursion: pair the first edge,
 *                                contract, group the remainders by form,
 *                                recurse, memoised under the forms;
 *   graph_of(key)                the graph a canonical form stands for;
 *   mergers(a, b, b_edges)       every merger of two graphs, grouped by
 *                                canonical form.
 *
 * The canonical form.  Each bundle (the edges between one H-node and one
 * p-node) gets the label sum_c m_c << (shift * c), where m_c is the number of
 * its edges of colour c and shift = bit length of the number of edges, so a
 * label determines the bundle.  Colour refinement of the labelled bipartite
 * graph splits both sides into classes that every isomorphism respects.  One
 * side S is then made discrete by individualisation and refinement: each
 * node of the first class of S with several nodes is given a class of its
 * own in turn, and the graph refined again, until every node of S is alone
 * in its class.  At each such leaf S is ordered by class and the other
 * side's rows (labels to S in that order) are sorted; the smallest matrix
 * over all leaves, with the sizes, is the form.  Two graphs get equal forms
 * exactly when they are isomorphic: every step depends only on the graph,
 * so an isomorphism carries the leaves of one search onto those of the
 * other, and the matrix gives back the graph.  A search has at most as many
 * leaves as S has orderings that keep its first classes; when both sides
 * have more than ORDERING_LIMIT of them, state_key returns None and the
 * caller uses nauty instead.  That choice depends only on the classes, so
 * isomorphic graphs always take the same road.  The form is written as
 * bytes (see encode_form) from which the graph can be read back, so a
 * class of graphs can be kept as its form alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define ABI_VERSION 9
#define ORDERING_LIMIT 720
#define MAX_CELLS (1 << 16)
#define MAX_COLOUR 4096

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
        PyObject *edge = items[k], **part;
        if (PyTuple_Check(edge) && PyTuple_GET_SIZE(edge) == 3)
            part = &PyTuple_GET_ITEM(edge, 0);
        else if (PyList_Check(edge) && PyList_GET_SIZE(edge) == 3)
            part = &PyList_GET_ITEM(edge, 0);
        else {
            PyErr_SetString(PyExc_TypeError, "an edge must be a triple (h, i, colour)");
            goto fail;
        }
        long h = PyLong_AsLong(part[0]);
        long i = PyLong_AsLong(part[1]);
        long c = PyLong_AsLong(part[2]);
        if (PyErr_Occurred())
            goto fail;
        if (h < 0 || h >= g->n_h || i < 0 || i >= g->n_p || c < 0) {
            PyErr_Format(PyExc_ValueError, "edge (%ld, %ld, %ld) is out of range", h, i, c);
            goto fail;
        }
        if (c > MAX_COLOUR) {
            /* the callers then take the Python steps */
            PyErr_Format(PyExc_OverflowError, "colour %ld is above %d", c, MAX_COLOUR);
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
    int n_h, n_p, n;          /* n = n_h + n_p; H-nodes first, then p-nodes */
    const label_t *matrix;    /* n_p rows of n_h labels */
    /* the bundles at each node, as pairs (label, node at the other end) */
    int *start, *length;
    label_t *pair_label;
    int *neighbour;
    int n_pairs;
    uint64_t *hash;           /* signature hash of each node */
    int *colour;              /* class of each node (a level's array) */
    int *order, *tmp, *new_colour;  /* scratch, one entry per node */
} refine_t;

static inline label_t
entry(const refine_t *r, int h, int i)
{
    return r->matrix[(size_t)i * r->n_h + h];
}

/* A 64-bit mix (splitmix64's finaliser), for hashing signatures. */
static inline uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Order of nodes by class, then by signature hash. */
static inline int
node_before(int a, int b, const int *colour, const uint64_t *hash)
{
    return colour[a] < colour[b] || (colour[a] == colour[b] && hash[a] < hash[b]);
}

/* Sort nodes by (class, hash), stably. */
static void
sort_nodes(int *a, int *tmp, int n, const int *colour, const uint64_t *hash)
{
    if (n <= 16) {
        for (int x = 1; x < n; x++) {
            int v = a[x], y = x - 1;
            while (y >= 0 && node_before(v, a[y], colour, hash)) {
                a[y + 1] = a[y];
                y--;
            }
            a[y + 1] = v;
        }
        return;
    }
    int half = n / 2;
    sort_nodes(a, tmp, half, colour, hash);
    sort_nodes(a + half, tmp, n - half, colour, hash);
    int x = 0, y = half, z = 0;
    while (x < half && y < n)
        tmp[z++] = node_before(a[y], a[x], colour, hash) ? a[y++] : a[x++];
    while (x < half)
        tmp[z++] = a[x++];
    while (y < n)
        tmp[z++] = a[y++];
    memcpy(a, tmp, sizeof(int) * n);
}

static void
build_pairs(refine_t *r)
{
    int pos = 0;
    for (int h = 0; h < r->n_h; h++) {
        r->start[h] = pos;
        for (int i = 0; i < r->n_p; i++) {
            label_t l = entry(r, h, i);
            if (l) {
                r->pair_label[pos] = l;
                r->neighbour[pos++] = r->n_h + i;
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
                r->pair_label[pos] = l;
                r->neighbour[pos++] = h;
            }
        }
        r->length[v] = pos - r->start[v];
    }
    r->n_pairs = pos;
}

/* Refine r->colour (integers; `classes` distinct values) until stable; the
 * classes are then numbered 0, 1, ... in the order of (class, signature),
 * so the result depends only on the graph and the starting classes.  A
 * node's signature is the multiset of its pairs (label, class of the other
 * end), compared through a hash: two signatures that collide stay in one
 * class, which only makes the partition coarser, never the form wrong (the
 * form is the matrix, and the search below treats all orderings of a
 * class alike).  Returns the number of classes. */
static int
refine(refine_t *r, int classes)
{
    int n = r->n;
    for (;;) {
        for (int v = 0; v < n; v++) {
            uint64_t h = 0;
            for (int k = r->start[v]; k < r->start[v] + r->length[v]; k++)
                h += mix(r->pair_label[k] * 0x9e3779b97f4a7c15ULL
                         + (uint64_t)r->colour[r->neighbour[k]]);
            r->hash[v] = h;
        }
        for (int v = 0; v < n; v++)
            r->order[v] = v;
        sort_nodes(r->order, r->tmp, n, r->colour, r->hash);
        int rank = 0;
        for (int k = 0; k < n; k++) {
            int a = r->order[k], b = k ? r->order[k - 1] : a;
            if (k > 0 && (r->colour[a] != r->colour[b] || r->hash[a] != r->hash[b]))
                rank++;
            r->new_colour[a] = rank;
        }
        int count = n ? rank + 1 : 0;
        memcpy(r->colour, r->new_colour, sizeof(int) * n);
        if (count == classes)
            return count;
        classes = count;
    }
}

/* Product of the factorials of the class sizes among nodes
 * [first, first + count), capped at limit + 1: how many orderings of that
 * side keep its classes. */
static long
class_orderings(const refine_t *r, int first, int count, long limit)
{
    int *size = r->tmp;
    for (int v = 0; v < r->n; v++)
        size[v] = 0;
    long total = 1;
    for (int v = first; v < first + count; v++) {
        total *= ++size[r->colour[v]];
        if (total > limit)
            return limit + 1;
    }
    return total;
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

/* The search for the smallest matrix: the side S (H-nodes when side_h)
 * is made discrete by individualising, in turn, each node of its first
 * class of several nodes and refining again; at each leaf S is ordered by
 * class and the other side's rows are sorted. */
typedef struct {
    refine_t *r;
    int side_h, first, width, height;
    label_t *cand, *scratch, *best;
    int *perm, *rows;
    int have_best;
} search_t;

static void
leaf(search_t *s)
{
    refine_t *r = s->r;
    /* classes of S are distinct: place node v at position rank among S */
    int *by_colour = r->new_colour;
    for (int v = 0; v < r->n; v++)
        by_colour[v] = -1;
    for (int k = 0; k < s->width; k++)
        by_colour[r->colour[s->first + k]] = k;
    int at = 0;
    for (int c = 0; c < r->n; c++)
        if (by_colour[c] >= 0)
            s->perm[at++] = by_colour[c];
    int width = s->width, height = s->height;
    for (int t = 0; t < height; t++)
        for (int k = 0; k < width; k++)
            s->cand[(size_t)t * width + k] =
                s->side_h ? entry(r, s->perm[k], t) : entry(r, t, s->perm[k]);
    for (int t = 0; t < height; t++)
        s->rows[t] = t;
    rows_t m = {s->cand, width};
    merge_sort(s->rows, r->tmp, height, cmp_row, &m);
    for (int t = 0; t < height; t++)
        memcpy(s->scratch + (size_t)t * width, s->cand + (size_t)s->rows[t] * width,
               sizeof(label_t) * width);
    size_t size = (size_t)height * width;
    int better = !s->have_best;
    if (s->have_best) {
        for (size_t k = 0; k < size; k++)
            if (s->scratch[k] != s->best[k]) {
                better = s->scratch[k] < s->best[k];
                break;
            }
    }
    if (better) {
        memcpy(s->best, s->scratch, sizeof(label_t) * size);
        s->have_best = 1;
    }
}

/* Returns 0 when done, -1 on memory error. */
static int
search(search_t *s, int classes)
{
    refine_t *r = s->r;
    int n = r->n;
    int *colour = r->colour;
    /* first class (lowest number) holding two nodes of S */
    int *seen = r->new_colour, target = -1;
    for (int v = 0; v < n; v++)
        seen[v] = 0;
    for (int k = 0; k < s->width; k++) {
        int c = colour[s->first + k];
        if (++seen[c] == 2 && (target < 0 || c < target))
            target = c;
    }
    if (target < 0) {
        leaf(s);
        return 0;
    }
    int *level = PyMem_Malloc(sizeof(int) * 2 * ((size_t)n + 1));
    if (level == NULL)
        return -1;
    int *saved = level + n + 1;
    memcpy(saved, colour, sizeof(int) * n);
    int result = 0;
    for (int k = 0; k < s->width && result == 0; k++) {
        int v = s->first + k;
        if (saved[v] != target)
            continue;
        for (int u = 0; u < n; u++)
            level[u] = 2 * saved[u] + (saved[u] == target && u != v);
        r->colour = level;
        int count = refine(r, classes + 1);
        result = search(s, count);
    }
    r->colour = colour;
    PyMem_Free(level);
    return result;
}

/* The bytes of a form: a header of five 32-bit words (n_h, n_p, number of
 * edges, side, width), then the matrix, read row by row, as varints: for
 * each nonzero label the number of zero labels before it, then the label.
 * Matrices are sparse, and short forms are cheap to hash, compare and keep
 * (memoised averages are stored under them). */
static unsigned char *
put_varint(unsigned char *at, uint64_t x)
{
    while (x >= 0x80) {
        *at++ = (unsigned char)(x | 0x80);
        x >>= 7;
    }
    *at++ = (unsigned char)x;
    return at;
}

static PyObject *
encode_form(int n_h, int n_p, Py_ssize_t E, int side_h, int width, size_t size,
            const label_t *matrix)
{
    uint32_t header[5] = {(uint32_t)n_h, (uint32_t)n_p, (uint32_t)E, (uint32_t)side_h,
                          (uint32_t)width};
    /* at most 10 bytes per varint, two per nonzero label (at most E) */
    size_t most = sizeof(header) + 20 * ((size_t)E + 1);
    unsigned char stack[1024], *buf = most <= sizeof(stack) ? stack : PyMem_Malloc(most);
    if (buf == NULL)
        return PyErr_NoMemory();
    memcpy(buf, header, sizeof(header));
    unsigned char *at = buf + sizeof(header);
    uint64_t gap = 0;
    for (size_t k = 0; k < size; k++) {
        if (!matrix[k]) {
            gap++;
            continue;
        }
        at = put_varint(at, gap);
        at = put_varint(at, matrix[k]);
        gap = 0;
    }
    PyObject *out = PyBytes_FromStringAndSize((const char *)buf, at - buf);
    if (buf != stack)
        PyMem_Free(buf);
    return out;
}

/* Canonical form of g as a new bytes object, Py_None (new reference) when
 * it would cost too much, NULL on error. */
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
    size_t ints = 8 * ((size_t)n + 1) + pairs;
    char *arena = PyMem_Malloc(sizeof(label_t) * (4 * cells + pairs + n + 2) + sizeof(int) * ints);
    if (arena == NULL)
        return PyErr_NoMemory();
    label_t *matrix = (label_t *)arena;
    label_t *cand = matrix + cells;
    label_t *best = cand + cells;
    label_t *scratch = best + cells;
    label_t *pair_label = scratch + cells;
    uint64_t *hash = pair_label + pairs;
    int *ip = (int *)(hash + n + 1);
    int *colour = ip; ip += n + 1;
    int *start = ip; ip += n + 1;
    int *length = ip; ip += n + 1;
    int *order = ip; ip += n + 1;
    int *tmp = ip; ip += n + 1;
    int *new_colour = ip; ip += n + 1;
    int *perm = ip; ip += n + 1;
    int *rows = ip; ip += n + 1;
    int *neighbour = ip; ip += pairs;

    memset(matrix, 0, sizeof(label_t) * cells);
    for (Py_ssize_t k = 0; k < E; k++)
        matrix[(size_t)g->i[k] * n_h + g->h[k]] += (label_t)1 << (shift * g->c[k]);

    refine_t r = {n_h, n_p, n, matrix, start, length, pair_label,
                  neighbour, 0, hash, colour, order, tmp, new_colour};
    build_pairs(&r);
    for (int v = 0; v < n; v++)
        colour[v] = v < n_h ? 0 : 1;
    int classes = refine(&r, (n_h > 0) + (n_p > 0));

    /* individualise on the side with fewer orderings (H on ties); the
     * search has at most that many leaves, and when both sides have more
     * than ORDERING_LIMIT (cycles, for instance, which refinement does not
     * split), nauty does better */
    long by_h = class_orderings(&r, 0, n_h, ORDERING_LIMIT);
    long by_p = class_orderings(&r, n_h, n_p, ORDERING_LIMIT);
    if (by_h > ORDERING_LIMIT && by_p > ORDERING_LIMIT) {
        PyMem_Free(arena);
        Py_RETURN_NONE;
    }
    int side_h = by_h <= by_p;
    search_t s = {&r, side_h, side_h ? 0 : n_h, side_h ? n_h : n_p, side_h ? n_p : n_h,
                  cand, scratch, best, perm, rows, 0};
    if (search(&s, classes) < 0) {
        PyMem_Free(arena);
        return PyErr_NoMemory();
    }
    PyObject *out = encode_form(n_h, n_p, E, side_h, s.width, (size_t)s.height * s.width, best);
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
/* Sums of polynomials {(q, n): count}                                 */

/* The pairs (q, n) with small entries, made once and shared by every
 * polynomial: memoised averages hold millions of terms, and one tuple per
 * term would be most of their memory. */
#define MONOMIAL_RANGE 128
static PyObject *monomials[MONOMIAL_RANGE * MONOMIAL_RANGE];

/* A new reference to the tuple (q, n). */
static PyObject *
monomial(long q, long n)
{
    if (q >= 0 && n >= 0 && q < MONOMIAL_RANGE && n < MONOMIAL_RANGE) {
        PyObject **slot = &monomials[q * MONOMIAL_RANGE + n];
        if (*slot == NULL && (*slot = Py_BuildValue("(ll)", q, n)) == NULL)
            return NULL;
        Py_INCREF(*slot);
        return *slot;
    }
    return Py_BuildValue("(ll)", q, n);
}

/* total[(q + dq, n + dn)] += weight * count for every (q, n): count of
 * part (a dict other than total); the counts are Python ints of any size.
 * Returns 0, or -1 with an exception set. */
static int
add_into(PyObject *total, PyObject *part, PyObject *weight, long dq, long dn)
{
    int overflow = 0;
    int unit = PyLong_CheckExact(weight) && PyLong_AsLongAndOverflow(weight, &overflow) == 1
               && !overflow;
    if (PyErr_Occurred())
        return -1;
    Py_ssize_t pos = 0;
    PyObject *key, *count;
    while (PyDict_Next(part, &pos, &key, &count)) {
        Py_INCREF(key);
        Py_INCREF(count);
        PyObject *target = NULL, *term = NULL, *sum = NULL;
        int bad = 1;
        if (dq || dn) {
            if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 2) {
                PyErr_SetString(PyExc_TypeError, "keys must be pairs (q, n)");
                goto next;
            }
            long q = PyLong_AsLong(PyTuple_GET_ITEM(key, 0));
            long n = PyLong_AsLong(PyTuple_GET_ITEM(key, 1));
            if (PyErr_Occurred())
                goto next;
            target = monomial(q + dq, n + dn);
        }
        else {
            target = key;
            Py_INCREF(target);
        }
        if (target == NULL)
            goto next;
        term = unit ? (Py_INCREF(count), count) : PyNumber_Multiply(weight, count);
        if (term == NULL)
            goto next;
        PyObject *old = PyDict_GetItemWithError(total, target);
        if (old != NULL)
            sum = PyNumber_Add(old, term);
        else if (!PyErr_Occurred())
            sum = (Py_INCREF(term), term);
        bad = sum == NULL || PyDict_SetItem(total, target, sum) < 0;
    next:
        Py_XDECREF(sum);
        Py_XDECREF(term);
        Py_XDECREF(target);
        Py_DECREF(count);
        Py_DECREF(key);
        if (bad)
            return -1;
    }
    return 0;
}

static PyObject *
py_add_into(PyObject *self, PyObject *args)
{
    PyObject *total, *part, *weight;
    long dq, dn;
    if (!PyArg_ParseTuple(args, "O!O!Oll:add_into", &PyDict_Type, &total, &PyDict_Type,
                          &part, &weight, &dq, &dn))
        return NULL;
    int status;
    if (part == total) {
        /* adding a dict to itself: read a copy */
        PyObject *copy = PyDict_Copy(part);
        if (copy == NULL)
            return NULL;
        status = add_into(total, copy, weight, dq, dn);
        Py_DECREF(copy);
    }
    else {
        status = add_into(total, part, weight, dq, dn);
    }
    if (status < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* Graphs given by their canonical forms                               */

/* Fill g (arrays allocated here; free with graph_free) with the graph a
 * canonical form of canonical_form stands for: its nodes in canonical order.
 * Returns 0, or -1 with ValueError for bytes that are no such form. */
static int
get_varint(const unsigned char **at, const unsigned char *end, uint64_t *x)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && *at < end; shift += 7) {
        unsigned char byte = *(*at)++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *x = value;
            return 0;
        }
    }
    return -1;
}

static int
graph_from_key(PyObject *key, graph_t *g)
{
    memset(g, 0, sizeof(*g));
    uint32_t header[5];
    Py_ssize_t len = PyBytes_GET_SIZE(key);
    const unsigned char *at = (const unsigned char *)PyBytes_AS_STRING(key);
    const unsigned char *end = at + len;
    if (len < (Py_ssize_t)sizeof(header))
        goto bad;
    memcpy(header, at, sizeof(header));
    at += sizeof(header);
    uint64_t n_h = header[0], n_p = header[1], E = header[2], side_h = header[3];
    uint64_t width = header[4];
    if (n_h > (1u << 20) || n_p > (1u << 20) || E > (1u << 30) || side_h > 1
        || width != (side_h ? n_h : n_p))
        goto bad;
    uint64_t size = (side_h ? n_p : n_h) * width;
    int shift = 1;
    while (((uint64_t)1 << shift) <= E)
        shift++;
    label_t mask = ((label_t)1 << shift) - 1;
    g->n_h = (int)n_h;
    g->n_p = (int)n_p;
    g->n_edges = (Py_ssize_t)E;
    g->h = PyMem_Malloc(sizeof(int) * (3 * (size_t)E + 1));
    if (g->h == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    g->i = g->h + E;
    g->c = g->i + E;
    Py_ssize_t k = 0;
    uint64_t cell = 0;
    while (at < end) {
        uint64_t gap, label;
        if (get_varint(&at, end, &gap) < 0 || get_varint(&at, end, &label) < 0 || !label
            || gap >= size - cell)
            goto bad_graph;
        cell += gap;
        uint64_t t = cell / width, x = cell % width;
        cell++;
        for (int c = 0; label; c++, label >>= shift) {
            for (label_t m = label & mask; m; m--) {
                if (k >= (Py_ssize_t)E)
                    goto bad_graph;
                g->h[k] = (int)(side_h ? x : t);
                g->i[k] = (int)(side_h ? t : x);
                g->c[k] = c;
                k++;
            }
        }
    }
    if (k != (Py_ssize_t)E)
        goto bad_graph;
    return 0;
bad_graph:
    graph_free(g);
bad:
    PyErr_SetString(PyExc_ValueError, "not a canonical form of state_key");
    return -1;
}

/* A graph argument: a canonical form (bytes) or a triple (n_h, n_p, edges). */
static int
graph_arg(PyObject *obj, graph_t *g)
{
    if (PyBytes_Check(obj))
        return graph_from_key(obj, g);
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 3) {
        memset(g, 0, sizeof(*g));
        PyErr_SetString(PyExc_TypeError, "a graph is bytes or a triple (n_h, n_p, edges)");
        return -1;
    }
    return graph_parse(g, PyTuple_GET_ITEM(obj, 0), PyTuple_GET_ITEM(obj, 1),
                       PyTuple_GET_ITEM(obj, 2));
}

static PyObject *
py_graph_of(PyObject *self, PyObject *key)
{
    if (!PyBytes_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "graph_of needs a canonical form (bytes)");
        return NULL;
    }
    graph_t g;
    if (graph_from_key(key, &g) < 0)
        return NULL;
    PyObject *list = edge_list(&g);
    PyObject *out = list == NULL ? NULL : Py_BuildValue("(iiN)", g.n_h, g.n_p, list);
    graph_free(&g);
    return out;
}

/* ------------------------------------------------------------------ */
/* Mergers                                                             */

/* Every merger of a with b: an edge of a and an edge of b of one colour are
 * deleted and their H-endpoints and p-endpoints identified (the nodes of b
 * are numbered after those of a, except the deleted edge's endpoints).  The
 * edges of a are taken once per distinct triple, weighted by its number of
 * copies, or, when a_reps is given, as the representatives listed there with
 * their weights; those of b are the representatives given with their weights
 * (its edge orbits, say).  Returns (classes, rest): classes maps each canonical
 * form met to the number of mergers with it; rest lists (n_h, n_p, edges,
 * count) for mergers with no cheap canonical form, one entry per merger. */
static PyObject *
py_mergers(PyObject *self, PyObject *args)
{
    PyObject *a_obj, *b_obj, *b_reps, *a_reps = Py_None;
    if (!PyArg_ParseTuple(args, "OOO|O:mergers", &a_obj, &b_obj, &b_reps, &a_reps))
        return NULL;
    graph_t a, b, m;
    if (graph_arg(a_obj, &a) < 0)
        return NULL;
    if (graph_arg(b_obj, &b) < 0) {
        graph_free(&a);
        return NULL;
    }
    memset(&m, 0, sizeof(m));
    PyObject *classes = NULL, *rest = NULL, *reps = NULL, *out = NULL;
    Py_ssize_t *rep_index = NULL;
    long *rep_weight = NULL, *a_weight = NULL;
    int *h_map = NULL, *p_map = NULL;
    reps = PySequence_Fast(b_reps, "the edges of b must be a sequence of (index, weight)");
    if (reps == NULL)
        goto done;
    Py_ssize_t n_reps = PySequence_Fast_GET_SIZE(reps);
    rep_index = PyMem_Malloc(sizeof(Py_ssize_t) * (n_reps + 1));
    rep_weight = PyMem_Malloc(sizeof(long) * (n_reps + 1));
    a_weight = PyMem_Malloc(sizeof(long) * (a.n_edges + 1));
    h_map = PyMem_Malloc(sizeof(int) * ((size_t)b.n_h + b.n_p + 1));
    p_map = h_map + b.n_h;
    Py_ssize_t E = a.n_edges + b.n_edges - 2;
    m.h = PyMem_Malloc(sizeof(int) * (3 * (size_t)(E > 0 ? E : 0) + 1));
    if (!rep_index || !rep_weight || !a_weight || !h_map || !m.h) {
        PyErr_NoMemory();
        goto done;
    }
    m.i = m.h + (E > 0 ? E : 0);
    m.c = m.i + (E > 0 ? E : 0);
    for (Py_ssize_t r = 0; r < n_reps; r++) {
        PyObject *item = PySequence_Fast_GET_ITEM(reps, r);
        Py_ssize_t index;
        long weight;
        if (!PyArg_ParseTuple(item, "nl:mergers", &index, &weight))
            goto done;
        if (index < 0 || index >= b.n_edges || weight < 1) {
            PyErr_SetString(PyExc_ValueError, "an edge of b is out of range");
            goto done;
        }
        rep_index[r] = index;
        rep_weight[r] = weight;
    }
    if (a_reps != Py_None) {
        /* representatives of a's edges given (its orbits, say) */
        PyObject *given = PySequence_Fast(a_reps, "the edges of a must be a sequence");
        if (given == NULL)
            goto done;
        for (Py_ssize_t k = 0; k < a.n_edges; k++)
            a_weight[k] = 0;
        for (Py_ssize_t r = 0; r < PySequence_Fast_GET_SIZE(given); r++) {
            Py_ssize_t index;
            long weight;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(given, r), "nl:mergers", &index,
                                  &weight)) {
                Py_DECREF(given);
                goto done;
            }
            if (index < 0 || index >= a.n_edges || weight < 1 || a_weight[index]) {
                Py_DECREF(given);
                PyErr_SetString(PyExc_ValueError, "an edge of a is out of range or repeated");
                goto done;
            }
            a_weight[index] = weight;
        }
        Py_DECREF(given);
    }
    else {
        /* a's parallel copies of one triple give equal mergers: weight the
         * first */
        for (Py_ssize_t k = 0; k < a.n_edges; k++) {
            a_weight[k] = 1;
            for (Py_ssize_t j = 0; j < k; j++)
                if (a_weight[j] && a.h[j] == a.h[k] && a.i[j] == a.i[k] && a.c[j] == a.c[k]) {
                    a_weight[j]++;
                    a_weight[k] = 0;
                    break;
                }
        }
    }
    classes = PyDict_New();
    rest = PyList_New(0);
    if (classes == NULL || rest == NULL)
        goto done;
    m.n_h = a.n_h + b.n_h - 1;
    m.n_p = a.n_p + b.n_p - 1;
    m.n_edges = E;
    for (Py_ssize_t ka = 0; ka < a.n_edges; ka++) {
        if (!a_weight[ka])
            continue;
        for (Py_ssize_t r = 0; r < n_reps; r++) {
            Py_ssize_t kb = rep_index[r];
            if (b.c[kb] != a.c[ka])
                continue;
            int h_a = a.h[ka], i_a = a.i[ka], h_b = b.h[kb], i_b = b.i[kb];
            for (int h = 0; h < b.n_h; h++)
                h_map[h] = h == h_b ? h_a : a.n_h + h - (h > h_b);
            for (int i = 0; i < b.n_p; i++)
                p_map[i] = i == i_b ? i_a : a.n_p + i - (i > i_b);
            Py_ssize_t n = 0;
            for (Py_ssize_t k = 0; k < a.n_edges; k++)
                if (k != ka) {
                    m.h[n] = a.h[k];
                    m.i[n] = a.i[k];
                    m.c[n++] = a.c[k];
                }
            for (Py_ssize_t k = 0; k < b.n_edges; k++)
                if (k != kb) {
                    m.h[n] = h_map[b.h[k]];
                    m.i[n] = p_map[b.i[k]];
                    m.c[n++] = b.c[k];
                }
            long count = a_weight[ka] * rep_weight[r];
            PyObject *key = canonical_form(&m);
            if (key == NULL)
                goto done;
            int bad;
            if (key == Py_None) {
                PyObject *list = edge_list(&m);
                PyObject *entry =
                    list == NULL ? NULL : Py_BuildValue("(iiNl)", m.n_h, m.n_p, list, count);
                bad = entry == NULL || PyList_Append(rest, entry) < 0;
                Py_XDECREF(entry);
            }
            else {
                PyObject *old = PyDict_GetItemWithError(classes, key);
                PyObject *sum = NULL;
                if (old != NULL) {
                    long before = PyLong_AsLong(old);
                    sum = before == -1 && PyErr_Occurred() ? NULL : PyLong_FromLong(before + count);
                }
                else if (!PyErr_Occurred())
                    sum = PyLong_FromLong(count);
                bad = sum == NULL || PyDict_SetItem(classes, key, sum) < 0;
                Py_XDECREF(sum);
            }
            Py_DECREF(key);
            if (bad)
                goto done;
        }
    }
    out = PyTuple_Pack(2, classes, rest);
done:
    Py_XDECREF(classes);
    Py_XDECREF(rest);
    Py_XDECREF(reps);
    PyMem_Free(rep_index);
    PyMem_Free(rep_weight);
    PyMem_Free(a_weight);
    PyMem_Free(h_map);
    graph_free(&m);
    graph_free(&a);
    graph_free(&b);
    return out;
}

/* ------------------------------------------------------------------ */
/* The whole Wick recursion                                            */

typedef struct {
    PyObject *memo;      /* canonical form -> {(q, n): count} */
    PyObject *fallback;  /* fallback(n_h, n_p, edges) -> value of one state */
    PyObject *check;     /* check() raises to stop (time limit, interrupt) */
    unsigned long misses;
} average_t;

typedef struct {
    int h, i, q, n;
    long weight;
    PyObject *key;       /* owned; Py_None when the remainder has no edges */
} branch_t;

static PyObject *
fallback_value(const graph_t *g, average_t *ctx)
{
    PyObject *list = edge_list(g);
    if (list == NULL)
        return NULL;
    PyObject *value = PyObject_CallFunction(ctx->fallback, "iiN", g->n_h, g->n_p, list);
    if (value != NULL && !PyDict_Check(value)) {
        Py_DECREF(value);
        PyErr_SetString(PyExc_TypeError, "the fallback must return a dict");
        return NULL;
    }
    return value;
}

static int
add_count(PyObject *value, int q, int n, long weight)
{
    PyObject *term = monomial(q, n);
    if (term == NULL)
        return -1;
    PyObject *old = PyDict_GetItemWithError(value, term), *sum = NULL;
    if (old != NULL) {
        PyObject *w = PyLong_FromLong(weight);
        sum = w == NULL ? NULL : PyNumber_Add(old, w);
        Py_XDECREF(w);
    }
    else if (!PyErr_Occurred())
        sum = PyLong_FromLong(weight);
    int bad = sum == NULL || PyDict_SetItem(value, term, sum) < 0;
    Py_XDECREF(sum);
    Py_DECREF(term);
    return bad ? -1 : 0;
}

static int
same_key(PyObject *a, PyObject *b)
{
    if (a == Py_None || b == Py_None)
        return a == b;
    Py_ssize_t n = PyBytes_GET_SIZE(a);
    return n == PyBytes_GET_SIZE(b) && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), n) == 0;
}

/* The average of g (edges, no node without edges; canonical form `key`, a
 * borrowed bytes object), as a new reference to {(q, n): count}, memoised.
 * Pairs the first edge (first_edge) with every partner bundle, groups the
 * remainders by canonical form and recurses; when some remainder has no
 * cheap canonical form, the whole state goes to the fallback. */
static PyObject *
state_value(const graph_t *g, PyObject *key, average_t *ctx, int store)
{
    PyObject *value = PyDict_GetItemWithError(ctx->memo, key);
    if (value != NULL) {
        Py_INCREF(value);
        return value;
    }
    if (PyErr_Occurred())
        return NULL;
    if ((++ctx->misses & 255) == 0) {
        PyObject *ok = PyObject_CallNoArgs(ctx->check);
        if (ok == NULL)
            return NULL;
        Py_DECREF(ok);
    }
    Py_ssize_t first = first_edge(g);
    if (first == -2)
        return NULL;
    value = PyDict_New();
    if (value == NULL)
        return NULL;
    if (first < 0)
        goto store;

    graph_t child;
    memset(&child, 0, sizeof(child));
    size_t cells = (size_t)g->n_h * g->n_p;
    int *maps = PyMem_Malloc(sizeof(int) * ((size_t)g->n_h + g->n_p + 1));
    int *weight = PyMem_Calloc(cells + 1, sizeof(int));
    branch_t *branch = PyMem_Malloc(sizeof(branch_t) * (g->n_edges + 1));
    int n_branches = 0, failed = 0, symmetric = 0;
    if (maps == NULL || weight == NULL || branch == NULL || alloc_like(&child, g) < 0) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        failed = 1;
        goto branches_done;
    }
    int colour = g->c[first];
    for (Py_ssize_t k = 0; k < g->n_edges; k++)
        if (k != first && g->c[k] == colour)
            weight[(size_t)g->h[k] * g->n_p + g->i[k]]++;
    for (int h = 0; h < g->n_h && !failed && !symmetric; h++)
        for (int i = 0; i < g->n_p; i++) {
            int w = weight[(size_t)h * g->n_p + i];
            if (!w)
                continue;
            int iso_q, iso_n;
            if (contract_into(g, first, h, i, &child, &iso_q, &iso_n, maps, maps + g->n_h) < 0) {
                failed = 1;
                break;
            }
            PyObject *child_key;
            if (child.n_edges) {
                child_key = canonical_form(&child);
                if (child_key == NULL) {
                    failed = 1;
                    break;
                }
                if (child_key == Py_None) {
                    Py_DECREF(child_key);
                    symmetric = 1;
                    break;
                }
            }
            else {
                child_key = Py_None;
                Py_INCREF(child_key);
            }
            int b;
            for (b = 0; b < n_branches; b++)
                if (branch[b].q == iso_q && branch[b].n == iso_n
                    && same_key(branch[b].key, child_key))
                    break;
            if (b < n_branches) {
                branch[b].weight += w;
                Py_DECREF(child_key);
                continue;
            }
            branch_t fresh = {h, i, iso_q, iso_n, w, child_key};
            branch[n_branches++] = fresh;
        }
    for (int b = 0; b < n_branches && !failed && !symmetric; b++) {
        if (branch[b].key == Py_None) {
            if (add_count(value, branch[b].q, branch[b].n, branch[b].weight) < 0)
                failed = 1;
            continue;
        }
        int iso_q, iso_n;
        if (contract_into(g, first, branch[b].h, branch[b].i, &child, &iso_q, &iso_n, maps,
                          maps + g->n_h) < 0) {
            failed = 1;
            break;
        }
        PyObject *part = state_value(&child, branch[b].key, ctx, 1);
        if (part == NULL) {
            failed = 1;
            break;
        }
        PyObject *w = PyLong_FromLong(branch[b].weight);
        if (w == NULL || add_into(value, part, w, iso_q, iso_n) < 0)
            failed = 1;
        Py_XDECREF(w);
        Py_DECREF(part);
    }
branches_done:
    for (int b = 0; b < n_branches; b++)
        Py_DECREF(branch[b].key);
    PyMem_Free(branch);
    PyMem_Free(maps);
    PyMem_Free(weight);
    graph_free(&child);
    if (failed) {
        Py_DECREF(value);
        return NULL;
    }
    if (symmetric) {
        /* the fallback groups the partners by nauty's orbits and stores
         * the value itself */
        Py_DECREF(value);
        return fallback_value(g, ctx);
    }
store:
    if (store && PyDict_SetItem(ctx->memo, key, value) < 0) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

/* average(graph, memo, fallback, check) -> {(q, n): count}: the number of
 * pairings of the graph's edges leaving q p-nodes and n H-nodes (nodes
 * without edges count).  graph is a canonical form or (n_h, n_p, edges).
 * Values of intermediate graphs are read from and stored in memo under
 * their canonical forms; a graph without a cheap one is handed to
 * fallback(n_h, n_p, edges), which must return its value (nodes without
 * edges excluded, as here).  check() is called now and then and may raise
 * to stop the computation; nothing unfinished is stored.  With store false
 * the graph's own value is not stored (its parts are): for graphs that
 * will not be met again. */
static PyObject *
py_average(PyObject *self, PyObject *args)
{
    PyObject *obj, *memo, *fallback, *check;
    int store = 1;
    if (!PyArg_ParseTuple(args, "OO!OO|p:average", &obj, &PyDict_Type, &memo, &fallback, &check,
                          &store))
        return NULL;
    graph_t g, state;
    if (graph_arg(obj, &g) < 0)
        return NULL;
    memset(&state, 0, sizeof(state));
    PyObject *result = NULL, *value = NULL, *key = NULL;
    int *label = PyMem_Malloc(sizeof(int) * ((size_t)g.n_h + g.n_p + 1));
    if (label == NULL || alloc_like(&state, &g) < 0) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    /* drop nodes without edges: each is a factor p or H of its own */
    int n = g.n_h + g.n_p;
    for (int v = 0; v < n; v++)
        label[v] = -1;
    for (Py_ssize_t k = 0; k < g.n_edges; k++)
        label[g.h[k]] = label[g.n_h + g.i[k]] = 0;
    int used_h = 0, used_p = 0;
    for (int h = 0; h < g.n_h; h++)
        if (label[h] == 0)
            label[h] = used_h++;
    for (int i = 0; i < g.n_p; i++)
        if (label[g.n_h + i] == 0)
            label[g.n_h + i] = used_p++;
    state.n_h = used_h;
    state.n_p = used_p;
    state.n_edges = g.n_edges;
    for (Py_ssize_t k = 0; k < g.n_edges; k++) {
        state.h[k] = label[g.h[k]];
        state.i[k] = label[g.n_h + g.i[k]];
        state.c[k] = g.c[k];
    }
    int iso_q = g.n_p - used_p, iso_n = g.n_h - used_h;
    result = PyDict_New();
    if (result == NULL)
        goto done;
    if (!state.n_edges) {
        if (add_count(result, iso_q, iso_n, 1) < 0)
            Py_CLEAR(result);
        goto done;
    }
    average_t ctx = {memo, fallback, check, 0};
    if (PyBytes_Check(obj) && !iso_q && !iso_n) {
        key = obj; /* the graph is its own canonical representative */
        Py_INCREF(key);
    }
    else if ((key = canonical_form(&state)) == NULL) {
        Py_CLEAR(result);
        goto done;
    }
    value = key == Py_None ? fallback_value(&state, &ctx)
                           : state_value(&state, key, &ctx, store);
    if (value == NULL) {
        Py_CLEAR(result);
        goto done;
    }
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL || add_into(result, value, one, iso_q, iso_n) < 0)
        Py_CLEAR(result);
    Py_XDECREF(one);
done:
    Py_XDECREF(key);
    Py_XDECREF(value);
    PyMem_Free(label);
    graph_free(&state);
    graph_free(&g);
    return result;
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
    {"add_into", py_add_into, METH_VARARGS,
     "add_into(total, part, weight, dq, dn): total[(q+dq, n+dn)] += weight * c."},
    {"first_edge", py_first_edge, METH_VARARGS,
     "first_edge(n_h, n_p, edges) -> index of the edge to pair first, or -1."},
    {"graph_of", py_graph_of, METH_O,
     "graph_of(key) -> (n_h, n_p, edges): the graph a canonical form stands for."},
    {"mergers", py_mergers, METH_VARARGS,
     "mergers(a, b, b_edges, a_edges=None) -> ({key: count}, [(n_h, n_p, edges, count)])."},
    {"average", py_average, METH_VARARGS,
     "average(graph, memo, fallback, check, store=True) -> {(q, n): count}."},
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
