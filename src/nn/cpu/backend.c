/* The CPU backend: a counting allocator over nr_malloc with an optional
 * byte limit, OpenBLAS's thread count, the op table, and helpers shared by
 * the kernels. */
#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"

/* OpenBLAS's own entry point (declared in its cblas.h on Debian, but not in
 * every variant's header). */
void openblas_set_num_threads(int num_threads);

/* Bytes each allocation carries in front of the data: the raw pointer and
 * the block's capacity, keeping the data 64-byte aligned for vector loads. */
#define HEADER 64

/* Freed blocks are kept for reuse: a Piper graph allocates the same few
 * shapes again and again, and fresh large blocks cost page faults (mmap,
 * zeroing, munmap) that took a fifth of a run's time. The cache outlives a
 * run (the next batch mostly has the same shapes) but holds at most
 * CACHE_SLOTS blocks, and live plus cached bytes stay under the highest
 * peak seen so far: a miss evicts cached blocks, largest first, to make
 * room. The session's destruction empties it (trim). */
#define CACHE_SLOTS 64

struct cpu_backend {
    struct nr__nn_backend base;
    struct {
        char *data;
        size_t cap;
    } cache[CACHE_SLOTS];
    int n_cache;
    size_t cached_bytes;
    size_t high;           /* highest peak of live bytes so far */
    struct nr__pool *pool; /* threads - 1 workers */
};

static void block_free(char *data) {
    char *raw;
    memcpy(&raw, data - sizeof raw, sizeof raw);
    nr_free(raw);
}

static size_t block_cap(const char *data) {
    size_t cap;
    memcpy(&cap, data - 2 * sizeof cap, sizeof cap);
    return cap;
}

static void *cpu_alloc(struct nr__nn_backend *b, size_t bytes) {
    struct cpu_backend *cb = (struct cpu_backend *)b;
    if (b->limit && (bytes > b->limit || b->current > b->limit - bytes))
        return NULL;
    if (bytes > SIZE_MAX / 2)
        return NULL;
    /* best fit among cached blocks at most 1/8 larger than asked */
    int best = -1;
    for (int i = 0; i < cb->n_cache; i++) {
        size_t cap = cb->cache[i].cap;
        if (cap >= bytes && cap - bytes <= bytes / 8 + 256 &&
            (best < 0 || cap < cb->cache[best].cap))
            best = i;
    }
    char *data;
    /* make room: live + cached + new stays under the highest peak */
    size_t high = cb->high > b->peak ? cb->high : b->peak;
    while (best < 0 && cb->n_cache > 0 && b->current + cb->cached_bytes + bytes > high) {
        int big = 0;
        for (int i = 1; i < cb->n_cache; i++)
            if (cb->cache[i].cap > cb->cache[big].cap)
                big = i;
        block_free(cb->cache[big].data);
        cb->cached_bytes -= cb->cache[big].cap;
        cb->cache[big] = cb->cache[--cb->n_cache];
    }
    if (best >= 0) {
        data = cb->cache[best].data;
        cb->cached_bytes -= cb->cache[best].cap;
        cb->cache[best] = cb->cache[--cb->n_cache];
    } else {
        char *raw = nr_malloc(bytes + HEADER * 2);
        if (!raw)
            return NULL;
        data = (char *)(((uintptr_t)raw + HEADER + 63) & ~(uintptr_t)63);
        memcpy(data - sizeof raw, &raw, sizeof raw);
        memcpy(data - 2 * sizeof bytes, &bytes, sizeof bytes);
    }
    b->current += bytes;
    if (b->current > b->peak)
        b->peak = b->current;
    if (b->peak > cb->high)
        cb->high = b->peak;
    return data;
}

static void cpu_release(struct nr__nn_backend *b, void *p, size_t bytes) {
    struct cpu_backend *cb = (struct cpu_backend *)b;
    if (!p)
        return;
    NR_ASSERT(b->current >= bytes);
    b->current -= bytes;
    size_t cap = block_cap(p);
    if (cb->n_cache < CACHE_SLOTS && b->current + cb->cached_bytes + cap <= cb->high) {
        cb->cache[cb->n_cache].data = p;
        cb->cache[cb->n_cache].cap = cap;
        cb->n_cache++;
        cb->cached_bytes += cap;
        return;
    }
    block_free(p);
}

static void cpu_trim(struct nr__nn_backend *b) {
    struct cpu_backend *cb = (struct cpu_backend *)b;
    for (int i = 0; i < cb->n_cache; i++)
        block_free(cb->cache[i].data);
    cb->n_cache = 0;
    cb->cached_bytes = 0;
}

static void cpu_set_threads(struct nr__nn_backend *b, int threads) {
    (void)b;
    openblas_set_num_threads(threads);
}

static void cpu_destroy(struct nr__nn_backend *b) {
    cpu_trim(b);
    nr__pool_free(((struct cpu_backend *)b)->pool);
    nr_free(b);
}

static const struct nr__nn_backend_ops cpu_ops = {
    .name = "cpu",
    .device = NR_NN_DEVICE_CPU,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .find_op = nr__nn_cpu_find_op,
    .set_threads = cpu_set_threads,
    .trim = cpu_trim,
    .destroy = cpu_destroy,
};

enum nr_status nr__nn_cpu_backend_new(const struct nr_nn_session_opts *o,
                                      struct nr__nn_backend **out, struct nr_err *err) {
    struct cpu_backend *cb = nr_calloc(1, sizeof *cb);
    if (!cb)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    struct nr__nn_backend *b = &cb->base;
    b->ops = &cpu_ops;
    b->limit = o->mem_limit;
    b->threads = o->threads > 0 ? o->threads : nr_cpu_count();
    if (b->threads > 1 && !(cb->pool = nr__pool_new(b->threads))) {
        nr_free(cb);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    }
    cpu_set_threads(b, b->threads);
    *out = b;
    return NR_OK;
}

/* ---- helpers for kernels ---------------------------------------------------- */

enum nr_status nr__op_err(const struct nr__nn_node *n, struct nr_err *err, enum nr_status st,
                          const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nr_err_set(err, st, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

enum nr_status nr__op_check(const struct nr__nn_node *n, struct nr_nn_tensor *const *in,
                            size_t n_in, size_t min_in, size_t max_in, size_t n_out,
                            size_t want_out, struct nr_err *err) {
    if (n_in < min_in || n_in > max_in)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "takes %zu to %zu inputs, has %zu", min_in,
                          max_in, n_in);
    for (size_t i = 0; i < min_in; i++)
        if (!in[i])
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "input %zu is missing", i);
    if (n_out < 1 || n_out > want_out)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "has %zu outputs, expected %zu", n_out,
                          want_out);
    return NR_OK;
}

int nr__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                        int64_t *out) {
    int r = na > nb ? na : nb;
    for (int i = 0; i < r; i++) {
        int64_t da = i < r - na ? 1 : a[i - (r - na)];
        int64_t db = i < r - nb ? 1 : b[i - (r - nb)];
        if (da == db || db == 1)
            out[i] = da;
        else if (da == 1)
            out[i] = db;
        else
            return -1;
    }
    *nout = r;
    return 0;
}

void nr__strides(int ndim, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

void nr__broadcast_strides(const struct nr_nn_tensor *t, int rank, const int64_t *dims,
                           int64_t *strides) {
    int64_t own[NR_NN_MAX_DIMS];
    nr__strides(t->ndim, t->dims, own);
    for (int i = 0; i < rank; i++) {
        int j = i - (rank - t->ndim);
        strides[i] = (j < 0 || (t->dims[j] == 1 && dims[i] != 1)) ? 0 : own[j];
    }
}

void nr__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int nr__workers(const struct nr__nn_exec *x) {
    return x->backend ? nr__pool_size(((const struct cpu_backend *)x->backend)->pool) : 1;
}

void nr__parallel(struct nr__nn_exec *x, int64_t n, nr__task_fn fn, void *ctx) {
    int w = nr__workers(x);
    if (w <= 1 || n <= 1) {
        for (int64_t i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    openblas_set_num_threads(1);
    nr__pool_run(((struct cpu_backend *)x->backend)->pool, n, fn, ctx);
    openblas_set_num_threads(x->backend->threads);
}

enum nr_status nr__scratch(struct nr__nn_exec *x, size_t bytes, void **p, struct nr_err *err) {
    *p = NULL;
    if (bytes == 0)
        return NR_OK;
    if (!x->backend && x->host_limit && bytes > x->host_limit - x->host_used)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "constant folding needs more than %zu bytes",
                          x->host_limit);
    *p = x->backend ? x->backend->ops->alloc(x->backend, bytes) : nr_malloc(bytes);
    if (*p && !x->backend)
        x->host_used += bytes;
    if (!*p) {
        if (x->backend)
            return nr_err_set(err, NR_STATUS_DEVICE_OOM,
                              "cpu: out of device memory (scratch of %zu bytes)", bytes);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory (scratch of %zu bytes)", bytes);
    }
    return NR_OK;
}

void nr__scratch_free(struct nr__nn_exec *x, void *p, size_t bytes) {
    if (!p)
        return;
    if (x->backend)
        x->backend->ops->release(x->backend, p, bytes);
    else
        nr_free(p);
}
