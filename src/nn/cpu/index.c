/* Indexing and data movement: Concat, Split, Slice, Transpose, Gather,
 * GatherElements, GatherND, ScatterND, Pad. Every index read from a tensor
 * is bounds-checked: a bad index is an error, never an out-of-range read. */
#include "cpu.h"
#include "ops.h"

/* Copies src's elements, addressed by the strided walk (start offset, dims,
 * strides in elements), contiguously into dst. */
static void strided_copy(char *dst, const char *src, size_t es, int rank, const int64_t *dims,
                         const int64_t *strides, int64_t start, size_t total) {
    if (total == 0)
        return;
    if (rank == 0) {
        memcpy(dst, src + start * (int64_t)es, es);
        return;
    }
    int64_t idx[NR_NN_MAX_DIMS] = {0};
    int64_t inner = dims[rank - 1], s = strides[rank - 1], off = start;
    for (size_t i = 0; i < total; i += (size_t)inner) {
        if (s == 1) {
            memcpy(dst + i * es, src + off * (int64_t)es, (size_t)inner * es);
        } else if (es == 4) {
            const float *sp = (const float *)(const void *)src + off;
            float *dp = (float *)(void *)dst + i;
            for (int64_t j = 0; j < inner; j++)
                dp[j] = sp[j * s];
        } else {
            for (int64_t j = 0; j < inner; j++)
                memcpy(dst + (i + (size_t)j) * es, src + (off + j * s) * (int64_t)es, es);
        }
        for (int d = rank - 2; d >= 0; d--) {
            off += strides[d];
            if (++idx[d] < dims[d])
                break;
            off -= strides[d] * dims[d];
            idx[d] = 0;
        }
    }
}

enum nr_status nr__op_concat(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 64, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int ax = nr__axis(nr__nn_attr_int(n, "axis", 0), a->ndim);
    if (ax < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis");
    int64_t dims[NR_NN_MAX_DIMS];
    memcpy(dims, a->dims, sizeof dims);
    dims[ax] = 0;
    for (size_t k = 0; k < n_in; k++) {
        const struct nr_nn_tensor *t = in[k];
        if (!t || t->dtype != a->dtype || t->ndim != a->ndim)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "inputs differ in type or rank");
        for (int d = 0; d < a->ndim; d++)
            if (d != ax && t->dims[d] != a->dims[d])
                return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "inputs differ in dim %d", d);
        dims[ax] += t->dims[ax];
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, a->ndim, dims, &o, err)) != NR_OK)
        return st;
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= dims[d];
    for (int d = ax + 1; d < a->ndim; d++)
        inner *= dims[d];
    char *dst = nr__tdata(o);
    size_t row = (size_t)(dims[ax] * inner) * es, pos = 0;
    for (size_t k = 0; k < n_in; k++) {
        size_t chunk = (size_t)(in[k]->dims[ax] * inner) * es;
        const char *src = nr__tdata(in[k]);
        if (chunk)
            for (int64_t ob = 0; ob < outer; ob++)
                memcpy(dst + (size_t)ob * row + pos, src + (size_t)ob * chunk, chunk);
        pos += chunk;
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_split(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 2, n_out, 64, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int ax = nr__axis(nr__nn_attr_int(n, "axis", 0), a->ndim);
    if (ax < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis");
    int64_t sizes[64];
    size_t ns = 0;
    const struct nr__nn_attr *sa = nr__nn_attr(n, "split");
    if (n_in > 1 && in[1]) {
        if (nr__read_ints(in[1], sizes, 64, &ns) < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad split tensor");
    } else if (sa && sa->type == NR__ATTR_INTS) {
        if (sa->n > 64)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad split attribute");
        memcpy(sizes, sa->ints, sa->n * sizeof *sizes);
        ns = sa->n;
    } else {
        /* equal parts; the last one smaller when the dim does not divide (opset 18) */
        int64_t chunk = (a->dims[ax] + (int64_t)n_out - 1) / (int64_t)n_out;
        int64_t left = a->dims[ax];
        for (size_t k = 0; k < n_out; k++) {
            sizes[k] = left < chunk ? left : chunk;
            left -= sizes[k];
        }
        ns = n_out;
    }
    if (ns != n_out)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "%zu split sizes for %zu outputs", ns,
                          n_out);
    int64_t sum = 0;
    for (size_t k = 0; k < ns; k++) {
        if (sizes[k] < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "negative split size");
        sum += sizes[k];
    }
    if (sum != a->dims[ax])
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "split sizes do not add up to the dim");
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++)
        outer *= a->dims[d];
    for (int d = ax + 1; d < a->ndim; d++)
        inner *= a->dims[d];
    size_t row = (size_t)(a->dims[ax] * inner) * es, pos = 0;
    const char *src = nr__tdata(a);
    for (size_t k = 0; k < n_out; k++) {
        int64_t dims[NR_NN_MAX_DIMS];
        memcpy(dims, a->dims, sizeof dims);
        dims[ax] = sizes[k];
        if ((st = nr__nn_alloc(x, a->dtype, a->ndim, dims, &out[k], err)) != NR_OK)
            return st;
        size_t chunk = (size_t)(sizes[k] * inner) * es;
        char *dst = nr__tdata(out[k]);
        if (chunk)
            for (int64_t ob = 0; ob < outer; ob++)
                memcpy(dst + (size_t)ob * chunk, src + (size_t)ob * row + pos, chunk);
        pos += chunk;
    }
    return NR_OK;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

enum nr_status nr__op_slice(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, x->opset < 10 ? 1 : 3, 5, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int r = a->ndim;
    int64_t starts[NR_NN_MAX_DIMS], ends[NR_NN_MAX_DIMS], axes[NR_NN_MAX_DIMS],
        steps[NR_NN_MAX_DIMS];
    size_t ns, ne, na, nst;
    if (x->opset < 10 && n_in == 1) {
        const struct nr__nn_attr *s = nr__nn_attr(n, "starts"), *e = nr__nn_attr(n, "ends"),
                                 *ax = nr__nn_attr(n, "axes");
        if (!s || !e || s->type != NR__ATTR_INTS || e->type != NR__ATTR_INTS ||
            (ax && ax->type != NR__ATTR_INTS) || s->n != e->n || s->n > NR_NN_MAX_DIMS ||
            (ax && ax->n != s->n))
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad starts/ends attributes");
        ns = ne = s->n;
        memcpy(starts, s->ints, ns * sizeof(int64_t));
        memcpy(ends, e->ints, ns * sizeof(int64_t));
        na = ax ? ax->n : 0;
        if (ax)
            memcpy(axes, ax->ints, na * sizeof(int64_t));
        nst = 0;
    } else {
        if (nr__read_ints(in[1], starts, NR_NN_MAX_DIMS, &ns) < 0 ||
            nr__read_ints(in[2], ends, NR_NN_MAX_DIMS, &ne) < 0 || ns != ne)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad starts/ends");
        na = nst = 0;
        if (n_in > 3 && in[3] && (nr__read_ints(in[3], axes, NR_NN_MAX_DIMS, &na) < 0 || na != ns))
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axes");
        if (n_in > 4 && in[4] &&
            (nr__read_ints(in[4], steps, NR_NN_MAX_DIMS, &nst) < 0 || nst != ns))
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad steps");
    }
    int64_t st_[NR_NN_MAX_DIMS], stp[NR_NN_MAX_DIMS], dims[NR_NN_MAX_DIMS];
    unsigned char seen[NR_NN_MAX_DIMS] = {0};
    for (int d = 0; d < r; d++) {
        st_[d] = 0;
        stp[d] = 1;
        dims[d] = a->dims[d];
    }
    for (size_t i = 0; i < ns; i++) {
        int d = nr__axis(na ? axes[i] : (int64_t)i, r);
        if (d < 0 || seen[d])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad or repeated axis");
        seen[d] = 1;
        int64_t step = nst ? steps[i] : 1, dim = a->dims[d];
        if (step == 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "step 0");
        int64_t s = starts[i], e = ends[i];
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        int64_t len;
        if (step > 0) {
            s = clamp64(s, 0, dim);
            e = clamp64(e, 0, dim);
            len = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = clamp64(s, -1, dim - 1);
            e = clamp64(e, -1, dim - 1);
            len = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        st_[d] = s;
        stp[d] = step;
        dims[d] = len;
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, r, dims, &o, err)) != NR_OK)
        return st;
    int64_t own[NR_NN_MAX_DIMS], strides[NR_NN_MAX_DIMS], start = 0;
    nr__strides(r, a->dims, own);
    for (int d = 0; d < r; d++) {
        strides[d] = own[d] * stp[d];
        if (dims[d] > 0)
            start += st_[d] * own[d];
    }
    strided_copy(nr__tdata(o), nr__tdata(a), nr_nn_dtype_size(a->dtype), r, dims, strides, start,
                 o->numel);
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_transpose(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int r = a->ndim;
    int64_t perm[NR_NN_MAX_DIMS];
    const struct nr__nn_attr *pa = nr__nn_attr(n, "perm");
    if (pa && pa->type == NR__ATTR_INTS && pa->n > 0) {
        if ((int)pa->n != r)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "perm has %zu entries for rank %d",
                              pa->n, r);
        memcpy(perm, pa->ints, (size_t)r * sizeof *perm);
    } else {
        for (int d = 0; d < r; d++)
            perm[d] = r - 1 - d;
    }
    unsigned char seen[NR_NN_MAX_DIMS] = {0};
    int64_t own[NR_NN_MAX_DIMS], dims[NR_NN_MAX_DIMS], strides[NR_NN_MAX_DIMS];
    nr__strides(r, a->dims, own);
    for (int d = 0; d < r; d++) {
        int p = nr__axis(perm[d], r);
        if (p < 0 || seen[p])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad perm");
        seen[p] = 1;
        dims[d] = a->dims[p];
        strides[d] = own[p];
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, r, dims, &o, err)) != NR_OK)
        return st;
    strided_copy(nr__tdata(o), nr__tdata(a), nr_nn_dtype_size(a->dtype), r, dims, strides, 0,
                 o->numel);
    out[0] = o;
    return NR_OK;
}

/* Reads index i of an index tensor, normalized against dim; -1 when out of range. */
static int64_t index_at(const struct nr_nn_tensor *t, size_t i, int64_t dim) {
    int64_t v = nr__int_at(t, i);
    if (v < 0)
        v += dim;
    return v < 0 || v >= dim ? -1 : v;
}

enum nr_status nr__op_gather(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0], *ix = in[1];
    int ax = nr__axis(nr__nn_attr_int(n, "axis", 0), a->ndim);
    if (ax < 0 || (ix->dtype != NR_NN_I64 && ix->dtype != NR_NN_I32))
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis or index type");
    int r = a->ndim - 1 + ix->ndim;
    if (r > NR_NN_MAX_DIMS)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "more than 8 dims");
    int64_t dims[NR_NN_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < ax; d++)
        dims[k++] = a->dims[d];
    for (int d = 0; d < ix->ndim; d++)
        dims[k++] = ix->dims[d];
    for (int d = ax + 1; d < a->ndim; d++)
        dims[k++] = a->dims[d];
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, r, dims, &o, err)) != NR_OK)
        return st;
    if (o->numel == 0) {
        out[0] = o;
        return NR_OK;
    }
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t outer = 1, inner = 1, dim = a->dims[ax];
    for (int d = 0; d < ax; d++)
        outer *= a->dims[d];
    for (int d = ax + 1; d < a->ndim; d++)
        inner *= a->dims[d];
    size_t chunk = (size_t)inner * es;
    const char *src = nr__tdata(a);
    char *dst = nr__tdata(o);
    for (int64_t ob = 0; ob < outer; ob++)
        for (size_t i = 0; i < ix->numel; i++) {
            int64_t v = index_at(ix, i, dim);
            if (v < 0) {
                nr__nn_release(o);
                return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "index %lld out of range",
                                  (long long)nr__int_at(ix, i));
            }
            memcpy(dst + ((size_t)ob * ix->numel + i) * chunk,
                   src + ((size_t)(ob * dim + v)) * chunk, chunk);
        }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_gather_elements(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0], *ix = in[1];
    int ax = nr__axis(nr__nn_attr_int(n, "axis", 0), a->ndim);
    if (ax < 0 || ix->ndim != a->ndim || (ix->dtype != NR_NN_I64 && ix->dtype != NR_NN_I32))
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis, rank or index type");
    for (int d = 0; d < a->ndim; d++)
        if (d != ax && ix->dims[d] > a->dims[d])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "indices larger than data");
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, ix->ndim, ix->dims, &o, err)) != NR_OK)
        return st;
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t own[NR_NN_MAX_DIMS], idx[NR_NN_MAX_DIMS] = {0};
    nr__strides(a->ndim, a->dims, own);
    const char *src = nr__tdata(a);
    char *dst = nr__tdata(o);
    for (size_t i = 0; i < o->numel; i++) {
        int64_t v = index_at(ix, i, a->dims[ax]);
        if (v < 0) {
            nr__nn_release(o);
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "index out of range");
        }
        int64_t off = 0;
        for (int d = 0; d < a->ndim; d++)
            off += (d == ax ? v : idx[d]) * own[d];
        memcpy(dst + i * es, src + off * (int64_t)es, es);
        for (int d = a->ndim - 1; d >= 0; d--) {
            if (++idx[d] < ix->dims[d])
                break;
            idx[d] = 0;
        }
    }
    out[0] = o;
    return NR_OK;
}

/* Offset (in elements of data) of the index tuple number t of indices
 * [..., k] for GatherND / ScatterND, from dimension `first` of data; -1 when
 * out of range. */
static int64_t tuple_offset(const struct nr_nn_tensor *ix, size_t t, int64_t k,
                            const struct nr_nn_tensor *data, int first, const int64_t *own) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; j++) {
        int64_t v = index_at(ix, t * (size_t)k + (size_t)j, data->dims[first + j]);
        if (v < 0)
            return -1;
        off += v * own[first + j];
    }
    return off;
}

enum nr_status nr__op_gather_nd(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0], *ix = in[1];
    int b = (int)nr__nn_attr_int(n, "batch_dims", 0);
    if (ix->ndim < 1 || (ix->dtype != NR_NN_I64 && ix->dtype != NR_NN_I32) || b < 0 ||
        b >= ix->ndim || b >= a->ndim)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad indices");
    int64_t k = ix->dims[ix->ndim - 1];
    if (k < 1 || k > a->ndim - b)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad index depth");
    for (int d = 0; d < b; d++)
        if (ix->dims[d] != a->dims[d])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "batch dims differ");
    int64_t dims[NR_NN_MAX_DIMS];
    int r = 0;
    for (int d = 0; d < ix->ndim - 1; d++)
        dims[r++] = ix->dims[d];
    for (int d = b + (int)k; d < a->ndim; d++) {
        if (r >= NR_NN_MAX_DIMS)
            return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "more than 8 dims");
        dims[r++] = a->dims[d];
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, r, dims, &o, err)) != NR_OK)
        return st;
    if (o->numel == 0) {
        out[0] = o;
        return NR_OK;
    }
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t own[NR_NN_MAX_DIMS], slice = 1, batch = 1, batch_stride;
    nr__strides(a->ndim, a->dims, own);
    for (int d = b + (int)k; d < a->ndim; d++)
        slice *= a->dims[d];
    for (int d = 0; d < b; d++)
        batch *= a->dims[d];
    batch_stride = b > 0 ? own[b - 1] : 0;
    size_t n_tuples = ix->numel / (size_t)k, per_batch = batch ? n_tuples / (size_t)batch : 0;
    const char *src = nr__tdata(a);
    char *dst = nr__tdata(o);
    for (size_t t = 0; t < n_tuples; t++) {
        int64_t off = tuple_offset(ix, t, k, a, b, own);
        if (off < 0) {
            nr__nn_release(o);
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "index out of range");
        }
        off += (int64_t)(per_batch ? t / per_batch : 0) * batch_stride;
        memcpy(dst + t * (size_t)slice * es, src + off * (int64_t)es, (size_t)slice * es);
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_scatter_nd(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 3, 3, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0], *ix = in[1], *u = in[2];
    if (ix->ndim < 1 || (ix->dtype != NR_NN_I64 && ix->dtype != NR_NN_I32) || u->dtype != a->dtype)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad indices or updates");
    int64_t k = ix->dims[ix->ndim - 1];
    if (k < 1 || k > a->ndim || u->ndim != ix->ndim - 1 + a->ndim - (int)k)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad index depth or update rank");
    for (int d = 0; d < ix->ndim - 1; d++)
        if (u->dims[d] != ix->dims[d])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "updates do not match indices");
    for (int d = (int)k; d < a->ndim; d++)
        if (u->dims[ix->ndim - 1 + d - (int)k] != a->dims[d])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "updates do not match data");
    const struct nr__nn_attr *red = nr__nn_attr(n, "reduction");
    int mode = 0; /* 0 none, 1 add, 2 mul */
    if (red && red->type == NR__ATTR_STRING && strcmp(red->s, "none") != 0) {
        mode = strcmp(red->s, "add") == 0 ? 1 : strcmp(red->s, "mul") == 0 ? 2 : -1;
        if (mode < 0 || a->dtype == NR_NN_BOOL)
            return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "reduction '%s'", red->s);
    }
    struct nr_nn_tensor *o = nr__nn_take_input(x, in, 0);
    if (!o) {
        if ((st = nr__nn_alloc(x, a->dtype, a->ndim, a->dims, &o, err)) != NR_OK)
            return st;
        if (a->numel)
            memcpy(nr__tdata(o), nr__tdata(a), a->numel * nr_nn_dtype_size(a->dtype));
    }
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t own[NR_NN_MAX_DIMS], slice = 1;
    nr__strides(a->ndim, a->dims, own);
    for (int d = (int)k; d < a->ndim; d++)
        slice *= a->dims[d];
    size_t n_tuples = o->numel && slice ? ix->numel / (size_t)k : 0;
    char *dst = nr__tdata(o);
    const char *src = nr__tdata(u);
    for (size_t t = 0; t < n_tuples; t++) {
        int64_t off = tuple_offset(ix, t, k, a, 0, own);
        if (off < 0) {
            if (o != a)
                nr__nn_release(o);
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "index out of range");
        }
        const char *up = src + t * (size_t)slice * es;
        char *dp = dst + off * (int64_t)es;
        if (mode == 0) {
            memcpy(dp, up, (size_t)slice * es);
            continue;
        }
        for (int64_t j = 0; j < slice; j++) {
            if (a->dtype == NR_NN_F32) {
                float *p = (float *)(void *)dp + j, v = ((const float *)(const void *)up)[j];
                *p = mode == 1 ? *p + v : *p * v;
            } else if (a->dtype == NR_NN_I64) {
                int64_t *p = (int64_t *)(void *)dp + j, v = ((const int64_t *)(const void *)up)[j];
                *p = (int64_t)(mode == 1 ? (uint64_t)*p + (uint64_t)v : (uint64_t)*p * (uint64_t)v);
            } else {
                int32_t *p = (int32_t *)(void *)dp + j, v = ((const int32_t *)(const void *)up)[j];
                *p = (int32_t)(mode == 1 ? (uint32_t)*p + (uint32_t)v : (uint32_t)*p * (uint32_t)v);
            }
        }
    }
    out[0] = o;
    return NR_OK;
}

/* Source index along one dim for output position o of Pad; -1 = constant. */
static int64_t pad_src(int64_t o, int64_t before, int64_t dim, int mode) {
    int64_t i = o - before;
    if (i >= 0 && i < dim)
        return i;
    if (mode == 0 || dim == 0)
        return -1;
    if (mode == 2) /* edge */
        return i < 0 ? 0 : dim - 1;
    if (dim == 1) /* reflect */
        return 0;
    int64_t period = 2 * (dim - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < dim ? i : period - i;
}

enum nr_status nr__op_pad(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 4, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int r = a->ndim;
    int64_t pads[2 * NR_NN_MAX_DIMS] = {0}, raw[2 * NR_NN_MAX_DIMS], axes[NR_NN_MAX_DIMS];
    size_t np = 0, na = 0;
    const struct nr__nn_attr *pa = nr__nn_attr(n, "pads");
    if (n_in > 1 && in[1]) {
        if (nr__read_ints(in[1], raw, 2 * NR_NN_MAX_DIMS, &np) < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad pads");
    } else if (pa && pa->type == NR__ATTR_INTS && pa->n <= 2 * NR_NN_MAX_DIMS) {
        memcpy(raw, pa->ints, pa->n * sizeof *raw);
        np = pa->n;
    }
    if (n_in > 3 && in[3]) {
        if (nr__read_ints(in[3], axes, NR_NN_MAX_DIMS, &na) < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axes");
    } else {
        na = (size_t)r;
        for (int d = 0; d < r; d++)
            axes[d] = d;
    }
    if (np != 2 * na)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "%zu pads for %zu axes", np, na);
    for (size_t i = 0; i < na; i++) {
        int d = nr__axis(axes[i], r);
        if (d < 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad axis");
        pads[d] = raw[i];
        pads[r + d] = raw[na + i];
    }
    const struct nr__nn_attr *ma = nr__nn_attr(n, "mode");
    int mode = 0;
    if (ma && ma->type == NR__ATTR_STRING) {
        if (strcmp(ma->s, "reflect") == 0)
            mode = 1;
        else if (strcmp(ma->s, "edge") == 0)
            mode = 2;
        else if (strcmp(ma->s, "constant") != 0)
            return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "mode '%s'", ma->s);
    }
    int64_t dims[NR_NN_MAX_DIMS];
    for (int d = 0; d < r; d++) {
        dims[d] = a->dims[d] + pads[d] + pads[r + d];
        if (dims[d] < 0 || pads[d] > (int64_t)1 << 40 || pads[r + d] > (int64_t)1 << 40)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "pads crop past the input");
        if (mode != 0 && a->dims[d] == 0 && dims[d] > 0)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "cannot reflect an empty dim");
    }
    size_t es = nr_nn_dtype_size(a->dtype);
    char cval[8] = {0};
    if (n_in > 2 && in[2] && in[2]->numel > 0) {
        if (in[2]->dtype != a->dtype)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "constant_value type differs");
        memcpy(cval, nr__tdata(in[2]), es);
    } else if (a->dtype == NR_NN_F32) {
        float v = nr__nn_attr_float(n, "value", 0.0f);
        memcpy(cval, &v, 4);
    }
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, r, dims, &o, err)) != NR_OK)
        return st;
    if (o->numel == 0) {
        out[0] = o;
        return NR_OK;
    }
    int64_t own[NR_NN_MAX_DIMS], idx[NR_NN_MAX_DIMS] = {0};
    nr__strides(r, a->dims, own);
    const char *src = nr__tdata(a);
    char *dst = nr__tdata(o);
    int64_t inner = r ? dims[r - 1] : 1;
    for (size_t i = 0; i < o->numel; i += (size_t)inner) {
        /* the row's base offset, or -1 when an outer index falls in padding */
        int64_t base = 0;
        for (int d = 0; d < r - 1 && base >= 0; d++) {
            int64_t s = pad_src(idx[d], pads[d], a->dims[d], mode);
            base = s < 0 ? -1 : base + s * own[d];
        }
        for (int64_t j = 0; j < inner; j++) {
            int64_t s = r ? pad_src(j, pads[r - 1], a->dims[r - 1], mode) : 0;
            char *dp = dst + (i + (size_t)j) * es;
            if (base < 0 || s < 0)
                memcpy(dp, cval, es);
            else
                memcpy(dp, src + (base + s) * (int64_t)es, es);
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
    out[0] = o;
    return NR_OK;
}
