/* Shared helpers of the CPU kernels. */
#ifndef NARRATE_NN_CPU_H
#define NARRATE_NN_CPU_H

#include <string.h>

#include "../nn_internal.h"

#define OP_ARGS                                                                                    \
    struct nr__nn_exec *x, const struct nr__nn_node *n, struct nr_nn_tensor *const *in,            \
        size_t n_in, struct nr_nn_tensor **out, size_t n_out, struct nr_err *err

/* Kernel error "node '<name>' (<op>): <what>". */
enum nr_status nr__op_err(const struct nr__nn_node *n, struct nr_err *err, enum nr_status st,
                          const char *fmt, ...) NR_PRINTF(4, 5);

/* Checks the count of inputs (min..max, required ones present) and outputs. */
NR_MUST_CHECK enum nr_status nr__op_check(const struct nr__nn_node *n,
                                          struct nr_nn_tensor *const *in, size_t n_in,
                                          size_t min_in, size_t max_in, size_t n_out,
                                          size_t want_out, struct nr_err *err);

/* Normalizes axis into [0, rank), or returns -1. */
static inline int nr__axis(int64_t axis, int rank) {
    if (axis < 0)
        axis += rank;
    return axis < 0 || axis >= rank ? -1 : (int)axis;
}

/* double -> integer conversions that saturate and map NaN to 0: C leaves
 * out-of-range conversions undefined, and a hostile model must not reach
 * undefined behaviour. */
static inline int64_t nr__d2i64(double v) {
    if (!(v == v))
        return 0;
    if (v >= 9.2233720368547758e18)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)v;
}
static inline int32_t nr__d2i32(double v) {
    if (!(v == v))
        return 0;
    if (v >= 2147483647.0)
        return INT32_MAX;
    if (v <= -2147483648.0)
        return INT32_MIN;
    return (int32_t)v;
}

/* Element i of an integer tensor (int64, int32 or bool) as int64. */
static inline int64_t nr__int_at(const struct nr_nn_tensor *t, size_t i) {
    switch (t->dtype) {
    case NR_NN_I64:
        return nr__ti64(t)[i];
    case NR_NN_I32:
        return nr__ti32(t)[i];
    case NR_NN_BOOL:
        return nr__tu8(t)[i];
    case NR_NN_F32:
        return nr__d2i64(nr__tf32(t)[i]);
    }
    return 0;
}

/* Reads an integer tensor of at most max elements into dst; -1 if it is
 * too long or not an integer type. */
static inline int nr__read_ints(const struct nr_nn_tensor *t, int64_t *dst, size_t max,
                                size_t *count) {
    if (t->numel > max || (t->dtype != NR_NN_I64 && t->dtype != NR_NN_I32))
        return -1;
    for (size_t i = 0; i < t->numel; i++)
        dst[i] = nr__int_at(t, i);
    *count = t->numel;
    return 0;
}

/* Broadcasts shapes a and b (numpy rules) into out; -1 if incompatible. */
int nr__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                        int64_t *out);
/* Strides (in elements) of t viewed with rank `rank` against out dims: 0 on
 * broadcast dimensions. */
void nr__broadcast_strides(const struct nr_nn_tensor *t, int rank, const int64_t *dims,
                           int64_t *strides);
/* Row-major strides of dims. */
void nr__strides(int ndim, const int64_t *dims, int64_t *strides);

/* sgemm wrappers (row-major), threads already set on the backend. */
void nr__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

/* Thread pool (pool.c). A task gets its index and the worker running it
 * (0 .. workers-1), e.g. to pick its own scratch buffer. */
typedef void (*nr__task_fn)(void *ctx, int64_t i, int worker);
struct nr__pool;
struct nr__pool *nr__pool_new(int threads);
void nr__pool_free(struct nr__pool *p);
int nr__pool_size(const struct nr__pool *p);
void nr__pool_run(struct nr__pool *p, int64_t n, nr__task_fn fn, void *ctx);
/* Runs tasks 0..n-1 on the session's threads (serially without a backend,
 * e.g. during constant folding); BLAS is single-threaded meanwhile. */
void nr__parallel(struct nr__nn_exec *x, int64_t n, nr__task_fn fn, void *ctx);
/* Threads nr__parallel may use (>= 1). */
int nr__workers(const struct nr__nn_exec *x);

/* Scratch memory that counts toward the run's peak (through the backend
 * when there is one). */
NR_MUST_CHECK enum nr_status nr__scratch(struct nr__nn_exec *x, size_t bytes, void **p,
                                         struct nr_err *err);
void nr__scratch_free(struct nr__nn_exec *x, void *p, size_t bytes);

#endif
