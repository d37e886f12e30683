/* Elementwise kernels: unary maps, binary ops with numpy broadcasting,
 * comparisons, Where, Cast, Clip and RandomNormalLike. A unary op or a
 * binary op whose output has an input's shape and dtype writes in place into
 * that input when the executor allows it (last use). */
#include <math.h>

#include "cpu.h"
#include "ops.h"

/* ---- strided loops ---------------------------------------------------------- */

/* Merges adjacent dimensions that every operand walks contiguously (or not
 * at all), so the inner loop runs as long as possible. Returns the new rank. */
static int collapse(int rank, int64_t *dims, int64_t (*st)[NR_NN_MAX_DIMS], int n_ops) {
    if (rank == 0) {
        dims[0] = 1;
        for (int k = 0; k < n_ops; k++)
            st[k][0] = 0;
        return 1;
    }
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (r > 0) {
            int ok = 1;
            for (int k = 0; k < n_ops; k++)
                if (st[k][r - 1] != st[k][i] * dims[i])
                    ok = 0;
            if (ok) {
                dims[r - 1] *= dims[i];
                for (int k = 0; k < n_ops; k++)
                    st[k][r - 1] = st[k][i];
                continue;
            }
        }
        dims[r] = dims[i];
        for (int k = 0; k < n_ops; k++)
            st[k][r] = st[k][i];
        r++;
    }
    return r;
}

typedef void (*inner2_fn)(const void *a, int64_t sa, const void *b, int64_t sb, void *o, int64_t n);

/* Elements below which an elementwise op runs on one thread. */
#define PARALLEL_MIN 65536

/* A binary op's iteration after collapsing: rows (every dim but the last)
 * times inner elements; tasks take `chunk` rows, or `chunk` elements of the
 * single row. */
struct loop2_job {
    int rank;
    int64_t dims[NR_NN_MAX_DIMS + 1], st[3][NR_NN_MAX_DIMS];
    const char *a, *b;
    char *o;
    size_t ea, eb, eo;
    inner2_fn f;
    int64_t rows, inner, chunk;
};

static void loop2_task(void *ctx, int64_t t, int worker) {
    (void)worker;
    const struct loop2_job *j = ctx;
    int r1 = j->rank - 1;
    if (j->rows == 1) {
        int64_t s = t * j->chunk, n = j->inner - s < j->chunk ? j->inner - s : j->chunk;
        j->f(j->a + s * j->st[0][r1] * (int64_t)j->ea, j->st[0][r1],
             j->b + s * j->st[1][r1] * (int64_t)j->eb, j->st[1][r1],
             j->o + s * j->st[2][r1] * (int64_t)j->eo, n);
        return;
    }
    int64_t end = (t + 1) * j->chunk < j->rows ? (t + 1) * j->chunk : j->rows;
    for (int64_t r = t * j->chunk; r < end; r++) {
        int64_t rem = r, oa = 0, ob = 0, oo = 0;
        for (int d = r1 - 1; d >= 0; d--) {
            int64_t i = rem % j->dims[d];
            rem /= j->dims[d];
            oa += i * j->st[0][d];
            ob += i * j->st[1][d];
            oo += i * j->st[2][d];
        }
        j->f(j->a + oa * (int64_t)j->ea, j->st[0][r1], j->b + ob * (int64_t)j->eb, j->st[1][r1],
             j->o + oo * (int64_t)j->eo, j->inner);
    }
}

/* Runs f over the output's rows; a, b, o are element-typed base pointers
 * with element sizes ea, eb, eo. Large outputs are split over the threads. */
static void loop2(struct nr__nn_exec *x, int rank, const int64_t *dims_in, const int64_t *sa_in,
                  const int64_t *sb_in, const char *a, size_t ea, const char *b, size_t eb, char *o,
                  size_t eo, inner2_fn f) {
    struct loop2_job j = {.a = a, .b = b, .o = o, .ea = ea, .eb = eb, .eo = eo, .f = f};
    int64_t so[NR_NN_MAX_DIMS];
    nr__strides(rank, dims_in, so);
    for (int i = 0; i < rank; i++) {
        j.dims[i] = dims_in[i];
        j.st[0][i] = sa_in[i];
        j.st[1][i] = sb_in[i];
        j.st[2][i] = so[i];
    }
    j.rank = collapse(rank, j.dims, j.st, 3);
    j.inner = j.dims[j.rank - 1];
    j.rows = 1;
    for (int d = 0; d < j.rank - 1; d++)
        j.rows *= j.dims[d];
    int64_t total = j.rows * j.inner, workers = nr__workers(x), tasks = 1;
    if (workers > 1 && total >= PARALLEL_MIN)
        tasks = workers * 4;
    int64_t units = j.rows == 1 ? j.inner : j.rows;
    j.chunk = (units + tasks - 1) / tasks;
    if (j.chunk < 1)
        j.chunk = 1;
    nr__parallel(x, (units + j.chunk - 1) / j.chunk, loop2_task, &j);
}

/* Inner loops: contiguous / scalar cases first so the compiler vectorizes. */
#define INNER2(name, TA, TB, TO, EXPR)                                                             \
    static void name(const void *A, int64_t sa, const void *B, int64_t sb, void *O, int64_t n) {   \
        const TA *a = A;                                                                           \
        const TB *b = B;                                                                           \
        TO *o = O;                                                                                 \
        if (sa == 1 && sb == 1) {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TA x = a[i];                                                                       \
                TB y = b[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (sa == 1 && sb == 0) {                                                           \
            TB y = b[0];                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TA x = a[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (sa == 0 && sb == 1) {                                                           \
            TA x = a[0];                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TB y = b[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TA x = a[i * sa];                                                                  \
                TB y = b[i * sb];                                                                  \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

/* Integer division and modulo guard against division by zero and
 * INT_MIN / -1 (a hostile model must not crash the process). */
static inline int64_t idiv64(int64_t x, int64_t y) {
    return y == 0 || (y == -1 && x == INT64_MIN) ? 0 : x / y;
}
static inline int32_t idiv32(int32_t x, int32_t y) {
    return y == 0 || (y == -1 && x == INT32_MIN) ? 0 : x / y;
}

INNER2(add_f32, float, float, float, x + y)
INNER2(sub_f32, float, float, float, x - y)
INNER2(mul_f32, float, float, float, x *y)
INNER2(div_f32, float, float, float, x / y)
INNER2(add_i64, int64_t, int64_t, int64_t, (uint64_t)x + (uint64_t)y)
INNER2(sub_i64, int64_t, int64_t, int64_t, (uint64_t)x - (uint64_t)y)
INNER2(mul_i64, int64_t, int64_t, int64_t, (uint64_t)x *(uint64_t)y)
INNER2(div_i64, int64_t, int64_t, int64_t, idiv64(x, y))
INNER2(add_i32, int32_t, int32_t, int32_t, (uint32_t)x + (uint32_t)y)
INNER2(sub_i32, int32_t, int32_t, int32_t, (uint32_t)x - (uint32_t)y)
INNER2(mul_i32, int32_t, int32_t, int32_t, (uint32_t)x *(uint32_t)y)
INNER2(div_i32, int32_t, int32_t, int32_t, idiv32(x, y))
INNER2(pow_f32_f32, float, float, float, y == 2.0f ? x * x : powf(x, y))
INNER2(pow_f32_i64, float, int64_t, float, powf(x, (float)y))
INNER2(pow_f32_i32, float, int32_t, float, powf(x, (float)y))
INNER2(pow_i64_i64, int64_t, int64_t, int64_t, nr__d2i64(pow((double)x, (double)y)))
INNER2(pow_i64_f32, int64_t, float, int64_t, nr__d2i64(pow((double)x, (double)y)))
INNER2(pow_i32_i32, int32_t, int32_t, int32_t, nr__d2i32(pow((double)x, (double)y)))
INNER2(pow_i32_f32, int32_t, float, int32_t, nr__d2i32(pow((double)x, (double)y)))
INNER2(pow_i64_i32, int64_t, int32_t, int64_t, nr__d2i64(pow((double)x, (double)y)))
INNER2(pow_i32_i64, int32_t, int64_t, int32_t, nr__d2i32(pow((double)x, (double)y)))
INNER2(eq_f32, float, float, uint8_t, x == y)
INNER2(eq_i64, int64_t, int64_t, uint8_t, x == y)
INNER2(eq_i32, int32_t, int32_t, uint8_t, x == y)
INNER2(eq_u8, uint8_t, uint8_t, uint8_t, x == y)
INNER2(lt_f32, float, float, uint8_t, x < y)
INNER2(lt_i64, int64_t, int64_t, uint8_t, x < y)
INNER2(lt_i32, int32_t, int32_t, uint8_t, x < y)
INNER2(le_f32, float, float, uint8_t, x <= y)
INNER2(le_i64, int64_t, int64_t, uint8_t, x <= y)
INNER2(le_i32, int32_t, int32_t, uint8_t, x <= y)
INNER2(ge_f32, float, float, uint8_t, x >= y)
INNER2(ge_i64, int64_t, int64_t, uint8_t, x >= y)
INNER2(ge_i32, int32_t, int32_t, uint8_t, x >= y)
INNER2(and_u8, uint8_t, uint8_t, uint8_t, x &&y)

enum bin_kind { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_EQ, B_LT, B_LE, B_GE, B_AND };

static inner2_fn pick(enum bin_kind k, enum nr_nn_dtype a, enum nr_nn_dtype b) {
#define BY_TYPE(f32, i64, i32)                                                                     \
    return a != b ? NULL : a == NR_NN_F32 ? f32 : a == NR_NN_I64 ? i64 : a == NR_NN_I32 ? i32 : NULL
    switch (k) {
    case B_ADD:
        BY_TYPE(add_f32, add_i64, add_i32);
    case B_SUB:
        BY_TYPE(sub_f32, sub_i64, sub_i32);
    case B_MUL:
        BY_TYPE(mul_f32, mul_i64, mul_i32);
    case B_DIV:
        BY_TYPE(div_f32, div_i64, div_i32);
    case B_LT:
        BY_TYPE(lt_f32, lt_i64, lt_i32);
    case B_LE:
        BY_TYPE(le_f32, le_i64, le_i32);
    case B_GE:
        BY_TYPE(ge_f32, ge_i64, ge_i32);
    case B_EQ:
        if (a == b && a == NR_NN_BOOL)
            return eq_u8;
        BY_TYPE(eq_f32, eq_i64, eq_i32);
    case B_AND:
        return a == NR_NN_BOOL && b == NR_NN_BOOL ? and_u8 : NULL;
    case B_POW:
        if (a == NR_NN_F32)
            return b == NR_NN_F32   ? pow_f32_f32
                   : b == NR_NN_I64 ? pow_f32_i64
                   : b == NR_NN_I32 ? pow_f32_i32
                                    : NULL;
        if (a == NR_NN_I64)
            return b == NR_NN_I64   ? pow_i64_i64
                   : b == NR_NN_F32 ? pow_i64_f32
                   : b == NR_NN_I32 ? pow_i64_i32
                                    : NULL;
        if (a == NR_NN_I32)
            return b == NR_NN_I32   ? pow_i32_i32
                   : b == NR_NN_F32 ? pow_i32_f32
                   : b == NR_NN_I64 ? pow_i32_i64
                                    : NULL;
        return NULL;
    }
#undef BY_TYPE
    return NULL;
}

static int same_shape(const struct nr_nn_tensor *t, int rank, const int64_t *dims) {
    if (t->ndim != rank)
        return 0;
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i])
            return 0;
    return 1;
}

static enum nr_status binary(OP_ARGS, enum bin_kind k) {
    enum nr_status st = nr__op_check(n, in, n_in, 2, 2, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0], *b = in[1];
    inner2_fn f = pick(k, a->dtype, b->dtype);
    if (!f)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "unsupported dtypes %s, %s",
                          nr_nn_dtype_name(a->dtype), nr_nn_dtype_name(b->dtype));
    enum nr_nn_dtype odt = (k >= B_EQ) ? NR_NN_BOOL : a->dtype;
    int rank;
    int64_t dims[NR_NN_MAX_DIMS];
    if (nr__broadcast_shape(a->ndim, a->dims, b->ndim, b->dims, &rank, dims) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "shapes do not broadcast");
    struct nr_nn_tensor *o = NULL;
    if (odt == a->dtype && same_shape(a, rank, dims))
        o = nr__nn_take_input(x, in, 0);
    if (!o && odt == b->dtype && same_shape(b, rank, dims))
        o = nr__nn_take_input(x, in, 1);
    if (!o && (st = nr__nn_alloc(x, odt, rank, dims, &o, err)) != NR_OK)
        return st;
    if (o->numel > 0) {
        int64_t sa[NR_NN_MAX_DIMS], sb[NR_NN_MAX_DIMS];
        nr__broadcast_strides(a, rank, dims, sa);
        nr__broadcast_strides(b, rank, dims, sb);
        loop2(x, rank, dims, sa, sb, nr__tdata(a), nr_nn_dtype_size(a->dtype), nr__tdata(b),
              nr_nn_dtype_size(b->dtype), nr__tdata(o), nr_nn_dtype_size(odt), f);
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_add(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_ADD);
}
enum nr_status nr__op_sub(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_SUB);
}
enum nr_status nr__op_mul(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_MUL);
}
enum nr_status nr__op_div(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_DIV);
}
enum nr_status nr__op_pow(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_POW);
}
enum nr_status nr__op_equal(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_EQ);
}
enum nr_status nr__op_less(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_LT);
}
enum nr_status nr__op_less_equal(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_LE);
}
enum nr_status nr__op_greater_equal(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_GE);
}
enum nr_status nr__op_and(OP_ARGS) {
    return binary(x, n, in, n_in, out, n_out, err, B_AND);
}

/* ---- Where ------------------------------------------------------------------ */

enum nr_status nr__op_where(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 3, 3, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *c = in[0], *a = in[1], *b = in[2];
    if (c->dtype != NR_NN_BOOL || a->dtype != b->dtype)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "bad dtypes");
    int r1, rank;
    int64_t d1[NR_NN_MAX_DIMS], dims[NR_NN_MAX_DIMS];
    if (nr__broadcast_shape(a->ndim, a->dims, b->ndim, b->dims, &r1, d1) < 0 ||
        nr__broadcast_shape(c->ndim, c->dims, r1, d1, &rank, dims) < 0)
        return nr__op_err(n, err, NR_STATUS_BAD_FORMAT, "shapes do not broadcast");
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, a->dtype, rank, dims, &o, err)) != NR_OK)
        return st;
    size_t es = nr_nn_dtype_size(a->dtype);
    int64_t sc[NR_NN_MAX_DIMS], sa[NR_NN_MAX_DIMS], sb[NR_NN_MAX_DIMS], idx[NR_NN_MAX_DIMS] = {0};
    nr__broadcast_strides(c, rank, dims, sc);
    nr__broadcast_strides(a, rank, dims, sa);
    nr__broadcast_strides(b, rank, dims, sb);
    const uint8_t *pc = nr__tu8(c);
    const char *pa = nr__tdata(a), *pb = nr__tdata(b);
    char *po = nr__tdata(o);
    int64_t oc = 0, oa = 0, ob = 0;
    for (size_t i = 0; i < o->numel; i++) {
        memcpy(po + i * es, pc[oc] ? pa + oa * (int64_t)es : pb + ob * (int64_t)es, es);
        for (int d = rank - 1; d >= 0; d--) {
            oc += sc[d];
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < dims[d])
                break;
            oc -= sc[d] * dims[d];
            oa -= sa[d] * dims[d];
            ob -= sb[d] * dims[d];
            idx[d] = 0;
        }
    }
    out[0] = o;
    return NR_OK;
}

/* ---- unary ------------------------------------------------------------------ */

/* Output for a unary op of dtype odt: the input itself when allowed. */
static enum nr_status unary_out(OP_ARGS, enum nr_nn_dtype odt, struct nr_nn_tensor **o) {
    (void)n_in;
    (void)n_out;
    (void)n;
    (void)out;
    *o = NULL;
    if (in[0]->dtype == odt)
        *o = nr__nn_take_input(x, in, 0);
    if (*o)
        return NR_OK;
    return nr__nn_alloc(x, odt, in[0]->ndim, in[0]->dims, o, err);
}

enum un_kind {
    U_CEIL,
    U_ERF,
    U_EXP,
    U_NEG,
    U_NOT,
    U_RELU,
    U_SIGMOID,
    U_SOFTPLUS,
    U_SQRT,
    U_TANH,
    U_LEAKY
};

static float softplus(float v) {
    return v > 0 ? v + log1pf(expf(-v)) : log1pf(expf(v));
}
static float sigmoid(float v) {
    if (v >= 0)
        return 1.0f / (1.0f + expf(-v));
    float e = expf(v);
    return e / (1.0f + e);
}

struct unary_job {
    enum un_kind k;
    const float *p;
    float *q;
    size_t cnt, chunk;
    float alpha;
};

/* Elements [t*chunk, (t+1)*chunk) of a float unary map (in place allowed). */
static void unary_task(void *ctx, int64_t t, int worker) {
    (void)worker;
    const struct unary_job *j = ctx;
    size_t s = (size_t)t * j->chunk;
    if (s >= j->cnt)
        return;
    size_t cnt = j->cnt - s < j->chunk ? j->cnt - s : j->chunk;
    const float *p = j->p + s;
    float *q = j->q + s;
    float alpha = j->alpha;
    switch (j->k) {
    case U_CEIL:
        for (size_t i = 0; i < cnt; i++)
            q[i] = ceilf(p[i]);
        break;
    case U_ERF:
        for (size_t i = 0; i < cnt; i++)
            q[i] = erff(p[i]);
        break;
    case U_EXP:
        for (size_t i = 0; i < cnt; i++)
            q[i] = expf(p[i]);
        break;
    case U_NEG:
        for (size_t i = 0; i < cnt; i++)
            q[i] = -p[i];
        break;
    case U_RELU:
        for (size_t i = 0; i < cnt; i++)
            q[i] = p[i] > 0 ? p[i] : 0.0f;
        break;
    case U_SIGMOID:
        for (size_t i = 0; i < cnt; i++)
            q[i] = sigmoid(p[i]);
        break;
    case U_SOFTPLUS:
        for (size_t i = 0; i < cnt; i++)
            q[i] = softplus(p[i]);
        break;
    case U_SQRT:
        for (size_t i = 0; i < cnt; i++)
            q[i] = sqrtf(p[i]);
        break;
    case U_TANH:
        for (size_t i = 0; i < cnt; i++)
            q[i] = tanhf(p[i]);
        break;
    case U_LEAKY:
        for (size_t i = 0; i < cnt; i++) {
            float v = p[i];
            q[i] = (v > 0.0f ? v : 0.0f) + alpha * (v < 0.0f ? v : 0.0f);
        }
        break;
    case U_NOT:
        break;
    }
}

static enum nr_status unary(OP_ARGS, enum un_kind k) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    int ok = a->dtype == NR_NN_F32 ||
             (k == U_NEG && (a->dtype == NR_NN_I64 || a->dtype == NR_NN_I32)) ||
             (k == U_NOT && a->dtype == NR_NN_BOOL) ||
             (k == U_RELU && (a->dtype == NR_NN_I64 || a->dtype == NR_NN_I32));
    if (k == U_NOT && a->dtype != NR_NN_BOOL)
        ok = 0;
    if (!ok)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "unsupported dtype %s",
                          nr_nn_dtype_name(a->dtype));
    struct nr_nn_tensor *o;
    if ((st = unary_out(x, n, in, n_in, out, n_out, err, a->dtype, &o)) != NR_OK)
        return st;
    size_t cnt = a->numel;
    if (a->dtype == NR_NN_I64) {
        const int64_t *p = nr__ti64(a);
        int64_t *q = nr__ti64(o);
        for (size_t i = 0; i < cnt; i++)
            q[i] = k == U_NEG ? (int64_t)(0 - (uint64_t)p[i]) : (p[i] > 0 ? p[i] : 0);
    } else if (a->dtype == NR_NN_I32) {
        const int32_t *p = nr__ti32(a);
        int32_t *q = nr__ti32(o);
        for (size_t i = 0; i < cnt; i++)
            q[i] = k == U_NEG ? (int32_t)(0 - (uint32_t)p[i]) : (p[i] > 0 ? p[i] : 0);
    } else if (a->dtype == NR_NN_BOOL) {
        const uint8_t *p = nr__tu8(a);
        uint8_t *q = nr__tu8(o);
        for (size_t i = 0; i < cnt; i++)
            q[i] = !p[i];
    } else {
        struct unary_job j = {.k = k,
                              .p = nr__tf32(a),
                              .q = nr__tf32(o),
                              .cnt = cnt,
                              .alpha = nr__nn_attr_float(n, "alpha", 0.01f)};
        int64_t workers = nr__workers(x), tasks = 1;
        if (workers > 1 && cnt >= PARALLEL_MIN)
            tasks = workers * 4;
        j.chunk = (cnt + (size_t)tasks - 1) / (size_t)tasks;
        nr__parallel(x, tasks, unary_task, &j);
    }
    out[0] = o;
    return NR_OK;
}

enum nr_status nr__op_ceil(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_CEIL);
}
enum nr_status nr__op_erf(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_ERF);
}
enum nr_status nr__op_exp(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_EXP);
}
enum nr_status nr__op_neg(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_NEG);
}
enum nr_status nr__op_not(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_NOT);
}
enum nr_status nr__op_relu(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_RELU);
}
enum nr_status nr__op_sigmoid(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_SIGMOID);
}
enum nr_status nr__op_softplus(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_SOFTPLUS);
}
enum nr_status nr__op_sqrt(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_SQRT);
}
enum nr_status nr__op_tanh(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_TANH);
}
enum nr_status nr__op_leaky_relu(OP_ARGS) {
    return unary(x, n, in, n_in, out, n_out, err, U_LEAKY);
}

/* ---- Cast ------------------------------------------------------------------- */

/* float -> integer casts saturate and map NaN to 0: C leaves out-of-range
 * conversions undefined, and a hostile model must not trigger that. */
static int64_t f2i64(float v) {
    if (!(v == v))
        return 0;
    if (v >= 9.2233720368547758e18f)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18f)
        return INT64_MIN;
    return (int64_t)v;
}
static int32_t f2i32(float v) {
    if (!(v == v))
        return 0;
    if (v >= 2147483647.0f)
        return INT32_MAX;
    if (v <= -2147483648.0f)
        return INT32_MIN;
    return (int32_t)v;
}

enum nr_status nr__op_cast(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    int64_t to = nr__nn_attr_int(n, "to", 0);
    if (to != NR_NN_F32 && to != NR_NN_I64 && to != NR_NN_I32 && to != NR_NN_BOOL)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "cast to dtype %lld", (long long)to);
    const struct nr_nn_tensor *a = in[0];
    struct nr_nn_tensor *o;
    if ((st = unary_out(x, n, in, n_in, out, n_out, err, (enum nr_nn_dtype)to, &o)) != NR_OK)
        return st;
    if (o == a) {
        out[0] = o;
        return NR_OK;
    }
    size_t cnt = a->numel;
    for (size_t i = 0; i < cnt; i++) {
        double dv = 0;
        float fv = 0;
        int is_f = a->dtype == NR_NN_F32;
        if (is_f)
            fv = nr__tf32(a)[i];
        else
            dv = (double)nr__int_at(a, i);
        switch ((enum nr_nn_dtype)to) {
        case NR_NN_F32:
            nr__tf32(o)[i] = is_f ? fv : (float)dv;
            break;
        case NR_NN_I64:
            nr__ti64(o)[i] = is_f ? f2i64(fv) : nr__int_at(a, i);
            break;
        case NR_NN_I32:
            nr__ti32(o)[i] = is_f ? f2i32(fv) : (int32_t)nr__int_at(a, i);
            break;
        case NR_NN_BOOL:
            nr__tu8(o)[i] = is_f ? fv != 0.0f : nr__int_at(a, i) != 0;
            break;
        }
    }
    out[0] = o;
    return NR_OK;
}

/* ---- Clip ------------------------------------------------------------------- */

enum nr_status nr__op_clip(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 3, n_out, 1, err);
    if (st != NR_OK)
        return st;
    const struct nr_nn_tensor *a = in[0];
    double lo = -INFINITY, hi = INFINITY;
    if (x->opset < 11) {
        lo = nr__nn_attr_float(n, "min", -INFINITY);
        hi = nr__nn_attr_float(n, "max", INFINITY);
    }
    for (size_t k = 1; k < n_in; k++) {
        if (!in[k])
            continue;
        if (in[k]->numel != 1 || in[k]->dtype != a->dtype)
            return nr__op_err(n, err, NR_STATUS_BAD_FORMAT,
                              "min/max must be scalars of the input's type");
        double v = a->dtype == NR_NN_F32 ? nr__tf32(in[k])[0] : (double)nr__int_at(in[k], 0);
        if (k == 1)
            lo = v;
        else
            hi = v;
    }
    if (a->dtype == NR_NN_BOOL)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "bool input");
    struct nr_nn_tensor *o;
    if ((st = unary_out(x, n, in, n_in, out, n_out, err, a->dtype, &o)) != NR_OK)
        return st;
    size_t cnt = a->numel;
    if (a->dtype == NR_NN_F32) {
        float l = (float)lo, h = (float)hi;
        const float *p = nr__tf32(a);
        float *q = nr__tf32(o);
        for (size_t i = 0; i < cnt; i++) {
            float v = p[i] < l ? l : p[i];
            q[i] = v > h ? h : v;
        }
    } else {
        for (size_t i = 0; i < cnt; i++) {
            double v = (double)nr__int_at(a, i);
            v = v < lo ? lo : v > hi ? hi : v;
            if (a->dtype == NR_NN_I64)
                nr__ti64(o)[i] = (int64_t)v;
            else
                nr__ti32(o)[i] = (int32_t)v;
        }
    }
    out[0] = o;
    return NR_OK;
}

/* ---- RandomNormalLike --------------------------------------------------------- */

enum nr_status nr__op_random_normal_like(OP_ARGS) {
    enum nr_status st = nr__op_check(n, in, n_in, 1, 1, n_out, 1, err);
    if (st != NR_OK)
        return st;
    int64_t dt = nr__nn_attr_int(n, "dtype", in[0]->dtype);
    if (dt != NR_NN_F32)
        return nr__op_err(n, err, NR_STATUS_UNSUPPORTED, "only float32 output is supported");
    float mean = nr__nn_attr_float(n, "mean", 0.0f);
    float scale = nr__nn_attr_float(n, "scale", 1.0f);
    struct nr_nn_tensor *o;
    if ((st = nr__nn_alloc(x, NR_NN_F32, in[0]->ndim, in[0]->dims, &o, err)) != NR_OK)
        return st;
    /* A seed attribute makes the node deterministic on its own; without one
     * (Piper) the session's generator is used. */
    const struct nr__nn_attr *sa = nr__nn_attr(n, "seed");
    struct nr__nn_exec local = *x;
    struct nr__nn_exec *g = x;
    if (sa && sa->type == NR__ATTR_FLOAT) {
        nr__nn_rng_seed(local.rng, (uint64_t)(int64_t)sa->f);
        g = &local;
    }
    float *q = nr__tf32(o);
    for (size_t i = 0; i < o->numel; i++)
        q[i] = mean + scale * (float)nr__nn_rand_normal(g);
    out[0] = o;
    return NR_OK;
}
