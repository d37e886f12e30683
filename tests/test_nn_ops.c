/* nn CPU kernels against hand-computed values and, for the convolutions
 * and MatMul, against naive direct loops written here. Inputs are fed at
 * run time (graph inputs), so the run-time paths are the ones tested (e.g.
 * Pad amounts computed at run time, negative = cropping). Random data comes
 * from a fixed LCG; the seed is printed. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "narrate/core.h"
#include "narrate/nn.h"
#include "test_nn_build.c"

#define MAXT 8

/* Runs one op on graph inputs i0..; ins[k] == NULL is an omitted optional
 * input. Returns the status; outs[0..n_out) on success. */
static enum nr_status op_run(int opset, const char *op, int n_in, struct nr_nn_tensor **ins,
                             int n_attrs, struct pbw *attrs, int n_out,
                             struct nr_nn_tensor **outs) {
    struct mb m;
    mb_init(&m, opset);
    char in_list[256] = "", out_list[256] = "", name[16];
    const char *names[MAXT];
    const struct nr_nn_tensor *fed[MAXT];
    int n_fed = 0;
    static char name_store[MAXT][16];
    for (int k = 0; k < n_in; k++) {
        if (k)
            strcat(in_list, ",");
        if (!ins[k])
            continue;
        snprintf(name, sizeof name, "i%d", k);
        strcat(in_list, name);
        mb_input(&m, name, nr_nn_tensor_dtype(ins[k]));
        snprintf(name_store[n_fed], 16, "%s", name);
        names[n_fed] = name_store[n_fed];
        fed[n_fed++] = ins[k];
    }
    for (int k = 0; k < n_out; k++) {
        snprintf(name, sizeof name, "%so%d", k ? "," : "", k);
        strcat(out_list, name);
    }
    mb_node_v(&m, op, in_list, out_list, n_attrs, attrs);
    for (int k = 0; k < n_out; k++) {
        snprintf(name, sizeof name, "o%d", k);
        mb_output(&m, name, NR_NN_F32);
    }
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    enum nr_status st = run_model(&bytes, n_fed, names, fed, n_out, outs, 1, &err);
    if (st != NR_OK)
        fprintf(stderr, "  %s: %s\n", op, err.msg);
    free(bytes.d);
    return st;
}

static struct nr_nn_tensor *tensor_i32(int ndim, const int64_t *dims, const int32_t *v) {
    struct nr_nn_tensor *t;
    struct nr_err err = {0};
    if (nr_nn_tensor_new(NR_NN_I32, (size_t)ndim, dims, &t, &err) != NR_OK)
        abort();
    memcpy(nr_nn_tensor_data(t), v, nr_nn_tensor_numel(t) * sizeof(int32_t));
    return t;
}

static struct nr_nn_tensor *tensor_bool(int ndim, const int64_t *dims, const uint8_t *v) {
    struct nr_nn_tensor *t;
    struct nr_err err = {0};
    if (nr_nn_tensor_new(NR_NN_BOOL, (size_t)ndim, dims, &t, &err) != NR_OK)
        abort();
    memcpy(nr_nn_tensor_data(t), v, nr_nn_tensor_numel(t));
    return t;
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define F32(...) ((const float[]){__VA_ARGS__})
#define I64(...) ((const int64_t[]){__VA_ARGS__})

/* Checks t's shape and float values. */
static void expect_f32(const char *what, const struct nr_nn_tensor *t, int ndim,
                       const int64_t *dims, const float *want, double tol) {
    if (!t) {
        fprintf(stderr, "%s: no output\n", what);
        check_failures++;
        return;
    }
    int ok = nr_nn_tensor_dtype(t) == NR_NN_F32 && (int)nr_nn_tensor_ndim(t) == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = nr_nn_tensor_dims(t)[i] == dims[i];
    if (!ok) {
        fprintf(stderr, "%s: wrong dtype or shape (ndim %zu)\n", what, nr_nn_tensor_ndim(t));
        check_failures++;
        return;
    }
    const float *p = nr_nn_tensor_data(t);
    for (size_t i = 0; i < nr_nn_tensor_numel(t); i++)
        if (!(fabs((double)p[i] - (double)want[i]) <= tol)) {
            fprintf(stderr, "%s: element %zu = %.9g, want %.9g\n", what, i, p[i], want[i]);
            check_failures++;
            return;
        }
}

static void expect_i64(const char *what, const struct nr_nn_tensor *t, int ndim,
                       const int64_t *dims, const int64_t *want) {
    if (!t || nr_nn_tensor_dtype(t) != NR_NN_I64 || (int)nr_nn_tensor_ndim(t) != ndim) {
        fprintf(stderr, "%s: no output, wrong dtype or rank\n", what);
        check_failures++;
        return;
    }
    for (int i = 0; i < ndim; i++)
        if (nr_nn_tensor_dims(t)[i] != dims[i]) {
            fprintf(stderr, "%s: dim %d = %lld, want %lld\n", what, i,
                    (long long)nr_nn_tensor_dims(t)[i], (long long)dims[i]);
            check_failures++;
            return;
        }
    const int64_t *p = nr_nn_tensor_data(t);
    for (size_t i = 0; i < nr_nn_tensor_numel(t); i++)
        if (p[i] != want[i]) {
            fprintf(stderr, "%s: element %zu = %lld, want %lld\n", what, i, (long long)p[i],
                    (long long)want[i]);
            check_failures++;
            return;
        }
}

static void free_all(struct nr_nn_tensor **t, int n) {
    for (int i = 0; i < n; i++) {
        nr_nn_tensor_free(t[i]);
        t[i] = NULL;
    }
}

/* ---- random data ---------------------------------------------------------- */

static uint64_t rng_state = 20261127;
static float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}
static struct nr_nn_tensor *tensor_rand(int ndim, const int64_t *dims) {
    struct nr_nn_tensor *t;
    struct nr_err err = {0};
    if (nr_nn_tensor_new(NR_NN_F32, (size_t)ndim, dims, &t, &err) != NR_OK)
        abort();
    float *p = nr_nn_tensor_data(t);
    for (size_t i = 0; i < nr_nn_tensor_numel(t); i++)
        p[i] = frand();
    return t;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_slice(void) {
    struct nr_nn_tensor *in[5] = {0}, *o[1] = {0};
    float v[10];
    for (int i = 0; i < 10; i++)
        v[i] = (float)i;
    in[0] = tensor_f32(1, DIMS(10), v);
    /* step -1 from the end to before the start: reversed */
    in[1] = tensor_i64(1, DIMS(1), I64(-1));
    in[2] = tensor_i64(1, DIMS(1), I64(INT64_MIN));
    in[3] = tensor_i64(1, DIMS(1), I64(0));
    in[4] = tensor_i64(1, DIMS(1), I64(-1));
    CHECK_EQ(op_run(15, "Slice", 5, in, 0, NULL, 1, o), NR_OK);
    expect_f32("slice reverse", o[0], 1, DIMS(10), F32(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 0);
    free_all(o, 1);
    free_all(in + 1, 4);
    /* step -2 from -2 */
    in[1] = tensor_i64(1, DIMS(1), I64(-2));
    in[2] = tensor_i64(1, DIMS(1), I64(-100));
    in[3] = tensor_i64(1, DIMS(1), I64(0));
    in[4] = tensor_i64(1, DIMS(1), I64(-2));
    CHECK_EQ(op_run(15, "Slice", 5, in, 0, NULL, 1, o), NR_OK);
    expect_f32("slice step -2", o[0], 1, DIMS(5), F32(8, 6, 4, 2, 0), 0);
    free_all(o, 1);
    free_all(in, 5);
    /* 2-D, axis -1 only, ends past the dim, default steps */
    float m[12] = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};
    in[0] = tensor_f32(2, DIMS(3, 4), m);
    in[1] = tensor_i64(1, DIMS(1), I64(1));
    in[2] = tensor_i64(1, DIMS(1), I64(1000));
    in[3] = tensor_i64(1, DIMS(1), I64(-1));
    CHECK_EQ(op_run(15, "Slice", 4, in, 0, NULL, 1, o), NR_OK);
    expect_f32("slice axis -1", o[0], 2, DIMS(3, 3), F32(1, 2, 3, 11, 12, 13, 21, 22, 23), 0);
    free_all(o, 1);
    free_all(in, 5);
}

static void test_pad(void) {
    struct nr_nn_tensor *in[3] = {0}, *o[1] = {0};
    float v[10] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
    in[0] = tensor_f32(3, DIMS(1, 2, 5), v);
    /* negative pads crop: [1, 2, 5] -> [1, 2, 2] = x[..., 1:3] */
    in[1] = tensor_i64(1, DIMS(6), I64(0, 0, -1, 0, 0, -2));
    CHECK_EQ(op_run(15, "Pad", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("pad crop", o[0], 3, DIMS(1, 2, 2), F32(1, 2, 11, 12), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    /* grow on one side, crop on the other, constant 7 */
    in[1] = tensor_i64(1, DIMS(6), I64(0, 0, 2, 0, 0, -3));
    in[2] = tensor_f32(0, NULL, F32(7));
    CHECK_EQ(op_run(15, "Pad", 3, in, 0, NULL, 1, o), NR_OK);
    expect_f32("pad mixed", o[0], 3, DIMS(1, 2, 4), F32(7, 7, 0, 1, 7, 7, 10, 11), 0);
    free_all(o, 1);
    free_all(in, 3);
    /* reflect and edge */
    in[0] = tensor_f32(1, DIMS(4), F32(1, 2, 3, 4));
    in[1] = tensor_i64(1, DIMS(2), I64(2, 1));
    struct pbw a[1] = {attr_str("mode", "reflect")};
    CHECK_EQ(op_run(15, "Pad", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("pad reflect", o[0], 1, DIMS(7), F32(3, 2, 1, 2, 3, 4, 3), 0);
    free_all(o, 1);
    a[0] = attr_str("mode", "edge");
    CHECK_EQ(op_run(15, "Pad", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("pad edge", o[0], 1, DIMS(7), F32(1, 1, 1, 2, 3, 4, 4), 0);
    free_all(o, 1);
    free_all(in, 3);
    /* cropping past the input is an error, not a crash */
    in[0] = tensor_f32(1, DIMS(2), F32(1, 2));
    in[1] = tensor_i64(1, DIMS(2), I64(-2, -1));
    CHECK_EQ(op_run(15, "Pad", 2, in, 0, NULL, 1, o), NR_STATUS_BAD_FORMAT);
    free_all(in, 3);
}

static void test_cumsum(void) {
    struct nr_nn_tensor *in[2] = {0}, *o[1] = {0};
    in[0] = tensor_f32(2, DIMS(2, 3), F32(1, 2, 3, 4, 5, 6));
    in[1] = tensor_i32(0, NULL, (const int32_t[]){1}); /* int32 axis tensor, as Piper has */
    CHECK_EQ(op_run(15, "CumSum", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("cumsum", o[0], 2, DIMS(2, 3), F32(1, 3, 6, 4, 9, 15), 0);
    free_all(o, 1);
    struct pbw a[2] = {attr_int("exclusive", 1)};
    CHECK_EQ(op_run(15, "CumSum", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("cumsum exclusive", o[0], 2, DIMS(2, 3), F32(0, 1, 3, 0, 4, 9), 0);
    free_all(o, 1);
    a[0] = attr_int("reverse", 1);
    CHECK_EQ(op_run(15, "CumSum", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("cumsum reverse", o[0], 2, DIMS(2, 3), F32(6, 5, 3, 15, 11, 6), 0);
    free_all(o, 1);
    a[0] = attr_int("reverse", 1);
    a[1] = attr_int("exclusive", 1);
    CHECK_EQ(op_run(15, "CumSum", 2, in, 2, a, 1, o), NR_OK);
    expect_f32("cumsum reverse exclusive", o[0], 2, DIMS(2, 3), F32(5, 3, 0, 11, 6, 0), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_i64(0, NULL, I64(-2)); /* axis 0 */
    CHECK_EQ(op_run(15, "CumSum", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("cumsum axis 0", o[0], 2, DIMS(2, 3), F32(1, 2, 3, 5, 7, 9), 0);
    free_all(o, 1);
    free_all(in, 2);
    in[0] = tensor_i64(1, DIMS(4), I64(5, -1, 2, 7));
    in[1] = tensor_i32(1, DIMS(1), (const int32_t[]){0});
    CHECK_EQ(op_run(15, "CumSum", 2, in, 0, NULL, 1, o), NR_OK);
    expect_i64("cumsum int64", o[0], 1, DIMS(4), I64(5, 4, 6, 13));
    free_all(o, 1);
    free_all(in, 2);
}

static void test_nonzero_scatter_gather(void) {
    struct nr_nn_tensor *in[3] = {0}, *o[1] = {0};
    in[0] = tensor_f32(2, DIMS(2, 3), F32(1, 0, 2, 0, 0, 3));
    CHECK_EQ(op_run(15, "NonZero", 1, in, 0, NULL, 1, o), NR_OK);
    expect_i64("nonzero", o[0], 2, DIMS(2, 3), I64(0, 0, 1, 0, 2, 2));
    free_all(o, 1);
    free_all(in, 1);
    in[0] = tensor_bool(1, DIMS(4), (const uint8_t[]){0, 0, 0, 0});
    CHECK_EQ(op_run(15, "NonZero", 1, in, 0, NULL, 1, o), NR_OK);
    expect_i64("nonzero none", o[0], 2, DIMS(1, 0), I64(0));
    free_all(o, 1);
    free_all(in, 1);
    /* ScatterND (ONNX's example) */
    in[0] = tensor_f32(1, DIMS(8), F32(1, 2, 3, 4, 5, 6, 7, 8));
    in[1] = tensor_i64(2, DIMS(4, 1), I64(4, 3, 1, 7));
    in[2] = tensor_f32(1, DIMS(4), F32(9, 10, 11, 12));
    CHECK_EQ(op_run(15, "ScatterND", 3, in, 0, NULL, 1, o), NR_OK);
    expect_f32("scatternd", o[0], 1, DIMS(8), F32(1, 11, 3, 10, 9, 6, 7, 12), 0);
    free_all(o, 1);
    free_all(in, 3);
    /* ScatterND of rows, negative index */
    in[0] = tensor_f32(2, DIMS(3, 2), F32(0, 0, 0, 0, 0, 0));
    in[1] = tensor_i64(2, DIMS(1, 1), I64(-1));
    in[2] = tensor_f32(2, DIMS(1, 2), F32(5, 6));
    CHECK_EQ(op_run(15, "ScatterND", 3, in, 0, NULL, 1, o), NR_OK);
    expect_f32("scatternd rows", o[0], 2, DIMS(3, 2), F32(0, 0, 0, 0, 5, 6), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_i64(2, DIMS(1, 1), I64(3)); /* out of range: error */
    CHECK_EQ(op_run(15, "ScatterND", 3, in, 0, NULL, 1, o), NR_STATUS_BAD_FORMAT);
    free_all(in, 3);
    /* GatherND: elements, rows, and batch_dims = 1 */
    in[0] = tensor_f32(2, DIMS(2, 2), F32(0, 1, 2, 3));
    in[1] = tensor_i64(2, DIMS(2, 2), I64(0, 0, 1, 1));
    CHECK_EQ(op_run(15, "GatherND", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("gathernd elements", o[0], 1, DIMS(2), F32(0, 3), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_i64(2, DIMS(2, 1), I64(1, 0));
    CHECK_EQ(op_run(15, "GatherND", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("gathernd rows", o[0], 2, DIMS(2, 2), F32(2, 3, 0, 1), 0);
    free_all(o, 1);
    free_all(in, 2);
    in[0] = tensor_f32(3, DIMS(2, 2, 2), F32(0, 1, 2, 3, 4, 5, 6, 7));
    in[1] = tensor_i64(2, DIMS(2, 1), I64(1, 0));
    struct pbw a[1] = {attr_int("batch_dims", 1)};
    CHECK_EQ(op_run(15, "GatherND", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("gathernd batch", o[0], 2, DIMS(2, 2), F32(2, 3, 4, 5), 0);
    free_all(o, 1);
    free_all(in, 2);
    /* Gather with a negative index, GatherElements on axis 1 */
    in[0] = tensor_f32(2, DIMS(3, 2), F32(1, 2, 3, 4, 5, 6));
    in[1] = tensor_i64(1, DIMS(2), I64(-1, 0));
    CHECK_EQ(op_run(15, "Gather", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("gather", o[0], 2, DIMS(2, 2), F32(5, 6, 1, 2), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_i64(2, DIMS(3, 2), I64(1, 1, 0, 1, 1, 0));
    a[0] = attr_int("axis", 1);
    CHECK_EQ(op_run(15, "GatherElements", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("gather elements", o[0], 2, DIMS(3, 2), F32(2, 2, 3, 4, 6, 5), 0);
    free_all(o, 1);
    free_all(in, 2);
}

/* ---- convolutions against direct loops ------------------------------------------- */

struct conv1d {
    int64_t n, c, l, m, k, stride, dil, pad_b, pad_e, group, outpad;
};

static int64_t conv_out_len(const struct conv1d *p) {
    return (p->l + p->pad_b + p->pad_e - (p->k - 1) * p->dil - 1) / p->stride + 1;
}

static void conv1d_ref(const struct conv1d *p, const float *x, const float *w, const float *b,
                       float *y) {
    int64_t T = conv_out_len(p), cg = p->c / p->group, mg = p->m / p->group;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t m = 0; m < p->m; m++)
            for (int64_t t = 0; t < T; t++) {
                double acc = b ? b[m] : 0;
                int64_t g = m / mg;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t k = 0; k < p->k; k++) {
                        int64_t s = t * p->stride + k * p->dil - p->pad_b;
                        if (s >= 0 && s < p->l)
                            acc += (double)x[(n * p->c + g * cg + c) * p->l + s] *
                                   w[(m * cg + c) * p->k + k];
                    }
                y[(n * p->m + m) * T + t] = (float)acc;
            }
}

static void check_conv1d(const char *what, struct conv1d p) {
    struct nr_nn_tensor *in[3], *o[1] = {0};
    in[0] = tensor_rand(3, DIMS(p.n, p.c, p.l));
    in[1] = tensor_rand(3, DIMS(p.m, p.c / p.group, p.k));
    in[2] = tensor_rand(1, DIMS(p.m));
    struct pbw a[5] = {attr_ints("strides", 1, (int64_t[]){p.stride}),
                       attr_ints("dilations", 1, (int64_t[]){p.dil}),
                       attr_ints("pads", 2, (int64_t[]){p.pad_b, p.pad_e}),
                       attr_int("group", p.group), attr_ints("kernel_shape", 1, (int64_t[]){p.k})};
    CHECK_EQ(op_run(15, "Conv", 3, in, 5, a, 1, o), NR_OK);
    int64_t T = conv_out_len(&p);
    float *want = malloc((size_t)(p.n * p.m * T) * sizeof *want);
    conv1d_ref(&p, nr_nn_tensor_data(in[0]), nr_nn_tensor_data(in[1]), nr_nn_tensor_data(in[2]),
               want);
    expect_f32(what, o[0], 3, DIMS(p.n, p.m, T), want, 1e-4);
    free(want);
    free_all(o, 1);
    free_all(in, 3);
}

static int64_t convt_out_len(const struct conv1d *p) {
    return p->stride * (p->l - 1) + p->outpad + (p->k - 1) * p->dil + 1 - p->pad_b - p->pad_e;
}

/* y[m, t*s + k*d - pad] += x[c, t] * w[c, m, k] */
static void convt1d_ref(const struct conv1d *p, const float *x, const float *w, const float *b,
                        float *y) {
    int64_t T = convt_out_len(p), cg = p->c / p->group, mg = p->m / p->group;
    for (int64_t i = 0; i < p->n * p->m * T; i++)
        y[i] = b ? b[(i / T) % p->m] : 0;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t c = 0; c < p->c; c++)
            for (int64_t mm = 0; mm < mg; mm++)
                for (int64_t t = 0; t < p->l; t++)
                    for (int64_t k = 0; k < p->k; k++) {
                        int64_t o = t * p->stride + k * p->dil - p->pad_b;
                        int64_t g = c / cg, m = g * mg + mm;
                        if (o >= 0 && o < T)
                            y[(n * p->m + m) * T + o] +=
                                x[(n * p->c + c) * p->l + t] * w[(c * mg + mm) * p->k + k];
                    }
}

static void check_convt1d(const char *what, struct conv1d p) {
    struct nr_nn_tensor *in[3], *o[1] = {0};
    in[0] = tensor_rand(3, DIMS(p.n, p.c, p.l));
    in[1] = tensor_rand(3, DIMS(p.c, p.m / p.group, p.k));
    in[2] = tensor_rand(1, DIMS(p.m));
    struct pbw a[5] = {attr_ints("strides", 1, (int64_t[]){p.stride}),
                       attr_ints("dilations", 1, (int64_t[]){p.dil}),
                       attr_ints("pads", 2, (int64_t[]){p.pad_b, p.pad_e}),
                       attr_int("group", p.group),
                       attr_ints("output_padding", 1, (int64_t[]){p.outpad})};
    CHECK_EQ(op_run(15, "ConvTranspose", 3, in, 5, a, 1, o), NR_OK);
    int64_t T = convt_out_len(&p);
    float *want = malloc((size_t)(p.n * p.m * T) * sizeof *want);
    convt1d_ref(&p, nr_nn_tensor_data(in[0]), nr_nn_tensor_data(in[1]), nr_nn_tensor_data(in[2]),
                want);
    expect_f32(what, o[0], 3, DIMS(p.n, p.m, T), want, 1e-4);
    free(want);
    free_all(o, 1);
    free_all(in, 3);
}

static void test_convolutions(void) {
    /* n, c, l, m, k, stride, dil, pad_b, pad_e, group, outpad */
    check_conv1d("conv1d general", (struct conv1d){2, 4, 37, 6, 5, 2, 2, 3, 1, 2, 0});
    check_conv1d("conv1d same", (struct conv1d){1, 8, 50, 8, 7, 1, 1, 3, 3, 1, 0});
    check_conv1d("conv1d dilated 5", (struct conv1d){3, 6, 40, 6, 3, 1, 5, 5, 5, 1, 0});
    check_conv1d("conv1d blocks", (struct conv1d){1, 64, 1500, 3, 5, 1, 2, 4, 4, 1, 0});
    check_conv1d("conv1d 1x1", (struct conv1d){2, 16, 33, 8, 1, 1, 1, 0, 0, 1, 0});
    check_conv1d("conv1d 1x1 padded", (struct conv1d){1, 4, 9, 3, 1, 1, 1, 1, 2, 1, 0});
    /* depthwise with dilation up to 12, as in Piper's stochastic duration predictor */
    check_conv1d("depthwise d12", (struct conv1d){2, 8, 30, 8, 3, 1, 12, 12, 12, 8, 0});
    check_conv1d("depthwise d3 s2", (struct conv1d){1, 5, 21, 5, 3, 2, 3, 3, 3, 5, 0});
    check_conv1d("depthwise short input", (struct conv1d){1, 4, 3, 4, 3, 1, 9, 9, 9, 4, 0});
    /* Piper's decoder upsampling: kernel 16 stride 8, kernel 8 stride 4 */
    check_convt1d("convT k16 s8", (struct conv1d){2, 12, 9, 6, 16, 8, 1, 4, 4, 1, 0});
    check_convt1d("convT k8 s4", (struct conv1d){1, 6, 13, 3, 8, 4, 1, 2, 2, 1, 0});
    check_convt1d("convT groups dil outpad", (struct conv1d){1, 4, 7, 6, 3, 2, 2, 1, 0, 2, 1});
    check_convt1d("convT blocks", (struct conv1d){2, 16, 600, 32, 16, 8, 1, 4, 4, 1, 0});
    check_convt1d("convT one frame", (struct conv1d){1, 3, 1, 2, 16, 8, 1, 4, 4, 1, 0});
    /* 2-D conv with padding and stride against a direct loop */
    struct nr_nn_tensor *in[3], *o[1] = {0};
    in[0] = tensor_rand(4, DIMS(1, 2, 5, 6));
    in[1] = tensor_rand(4, DIMS(3, 2, 3, 2));
    struct pbw a[2] = {attr_ints("strides", 2, (int64_t[]){2, 1}),
                       attr_ints("pads", 4, (int64_t[]){1, 0, 1, 1})};
    CHECK_EQ(op_run(15, "Conv", 2, in, 2, a, 1, o), NR_OK);
    /* out: H = (5+2-3)/2+1 = 3, W = (6+1-2)/1+1 = 6 */
    float want[3 * 3 * 6];
    const float *x = nr_nn_tensor_data(in[0]), *w = nr_nn_tensor_data(in[1]);
    for (int m = 0; m < 3; m++)
        for (int oh = 0; oh < 3; oh++)
            for (int ow = 0; ow < 6; ow++) {
                double acc = 0;
                for (int c = 0; c < 2; c++)
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 2; kw++) {
                            int ih = oh * 2 + kh - 1, iw = ow + kw;
                            if (ih >= 0 && ih < 5 && iw < 6)
                                acc +=
                                    x[(c * 5 + ih) * 6 + iw] * w[((m * 2 + c) * 3 + kh) * 2 + kw];
                        }
                want[(m * 3 + oh) * 6 + ow] = (float)acc;
            }
    expect_f32("conv2d", o[0], 4, DIMS(1, 3, 3, 6), want, 1e-4);
    free_all(o, 1);
    free_all(in, 2);
}

/* LeakyRelu -> Conv / ConvTranspose: the loader fuses the activation into
 * the convolution (one node runs); results match a direct loop over the
 * activated input. */
static void check_fused(const char *what, int transpose, struct conv1d p) {
    struct mb m;
    mb_init(&m, 15);
    struct nr_nn_tensor *xin = tensor_rand(3, DIMS(p.n, p.c, p.l));
    struct nr_nn_tensor *w = transpose ? tensor_rand(3, DIMS(p.c, p.m / p.group, p.k))
                                       : tensor_rand(3, DIMS(p.m, p.c / p.group, p.k));
    mb_initializer(&m, "w", NR_NN_F32, 3, nr_nn_tensor_dims(w), nr_nn_tensor_data(w));
    mb_input(&m, "x", NR_NN_F32);
    mb_node(&m, "LeakyRelu", "x", "a", 1, attr_float("alpha", 0.1f));
    mb_node(&m, transpose ? "ConvTranspose" : "Conv", "a,w", "y", 4,
            attr_ints("strides", 1, (int64_t[]){p.stride}),
            attr_ints("dilations", 1, (int64_t[]){p.dil}),
            attr_ints("pads", 2, (int64_t[]){p.pad_b, p.pad_e}), attr_int("group", p.group));
    mb_output(&m, "y", NR_NN_F32);
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    struct nr_nn_model *model;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "fused.onnx", &model, &err), NR_OK);
    struct nr_nn_model_stats st;
    nr_nn_model_stats(model, &st);
    CHECK_EQ(st.n_nodes_run, 1);
    nr_nn_model_free(model);
    struct nr_nn_tensor *y = NULL;
    const char *names[1] = {"x"};
    const struct nr_nn_tensor *ins[1] = {xin};
    CHECK_EQ(run_model(&bytes, 1, names, ins, 1, &y, 1, &err), NR_OK);
    size_t nx = nr_nn_tensor_numel(xin);
    float *act = malloc(nx * sizeof *act);
    for (size_t i = 0; i < nx; i++) {
        float v = ((float *)nr_nn_tensor_data(xin))[i];
        act[i] = v < 0 ? 0.1f * v : v;
    }
    int64_t T = transpose ? convt_out_len(&p) : conv_out_len(&p);
    float *want = malloc((size_t)(p.n * p.m * T) * sizeof *want);
    if (transpose)
        convt1d_ref(&p, act, nr_nn_tensor_data(w), NULL, want);
    else
        conv1d_ref(&p, act, nr_nn_tensor_data(w), NULL, want);
    expect_f32(what, y, 3, DIMS(p.n, p.m, T), want, 1e-4);
    free(want);
    free(act);
    nr_nn_tensor_free(y);
    nr_nn_tensor_free(w);
    nr_nn_tensor_free(xin);
    free(bytes.d);
}

static void test_fused(void) {
    /* n, c, l, m, k, stride, dil, pad_b, pad_e, group, outpad */
    /* ck = 192 and 2000 columns: several column blocks */
    check_fused("fused conv k3 d3", 0, (struct conv1d){2, 64, 2000, 4, 3, 1, 3, 3, 3, 1, 0});
    check_fused("fused conv 1x1", 0, (struct conv1d){1, 8, 40, 4, 1, 1, 1, 0, 0, 1, 0});
    check_fused("fused conv stride 2", 0, (struct conv1d){1, 4, 41, 4, 5, 2, 1, 2, 2, 2, 0});
    check_fused("fused depthwise", 0, (struct conv1d){1, 4, 30, 4, 3, 1, 2, 2, 2, 4, 0});
    check_fused("fused convT k16 s8", 1, (struct conv1d){1, 16, 700, 32, 16, 8, 1, 4, 4, 1, 0});
}

/* Conv followed by Add: the loader moves the Add into the Conv. mode 0:
 * the residual's last use (the output takes over its buffer); 1: the
 * residual is also a graph output (kept, added while writing); 2: a
 * broadcast residual [1, M, 1] (the Conv falls back to an Add); reversed
 * puts the residual first in the Add. */
static void check_residual(const char *what, int mode, int reversed) {
    struct conv1d p = {1, 8, 500, 8, 3, 1, 3, 3, 3, 1, 0};
    struct mb m;
    mb_init(&m, 15);
    int64_t rdims[3] = {1, 8, mode == 2 ? 1 : 500};
    struct nr_nn_tensor *xin = tensor_rand(3, DIMS(p.n, p.c, p.l));
    struct nr_nn_tensor *rin = tensor_rand(3, rdims);
    struct nr_nn_tensor *w = tensor_rand(3, DIMS(p.m, p.c, p.k)), *b = tensor_rand(1, DIMS(p.m));
    mb_initializer(&m, "w", NR_NN_F32, 3, nr_nn_tensor_dims(w), nr_nn_tensor_data(w));
    mb_initializer(&m, "b", NR_NN_F32, 1, nr_nn_tensor_dims(b), nr_nn_tensor_data(b));
    mb_input(&m, "x", NR_NN_F32);
    mb_input(&m, "r0", NR_NN_F32);
    mb_node(&m, "Neg", "r0", "nr", 0); /* an engine-owned residual: -r0 */
    mb_node(&m, "Conv", "x,w,b", "c", 3, attr_ints("dilations", 1, (int64_t[]){p.dil}),
            attr_ints("pads", 2, (int64_t[]){p.pad_b, p.pad_e}),
            attr_ints("kernel_shape", 1, (int64_t[]){p.k}));
    mb_node(&m, "Add", reversed ? "nr,c" : "c,nr", "y", 0);
    mb_output(&m, "y", NR_NN_F32);
    if (mode == 1)
        mb_output(&m, "nr", NR_NN_F32);
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    struct nr_nn_model *model;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "res.onnx", &model, &err), NR_OK);
    struct nr_nn_model_stats st;
    nr_nn_model_stats(model, &st);
    CHECK_EQ(st.n_nodes_run, 2); /* Neg and Conv */
    nr_nn_model_free(model);
    struct nr_nn_tensor *outs[2] = {0};
    const char *names[2] = {"x", "r0"};
    const struct nr_nn_tensor *ins[2] = {xin, rin};
    CHECK_EQ(run_model(&bytes, 2, names, ins, mode == 1 ? 2 : 1, outs, 1, &err), NR_OK);
    int64_t T = conv_out_len(&p);
    float *want = malloc((size_t)(p.m * T) * sizeof *want);
    conv1d_ref(&p, nr_nn_tensor_data(xin), nr_nn_tensor_data(w), nr_nn_tensor_data(b), want);
    const float *r = nr_nn_tensor_data(rin);
    for (int64_t i = 0; i < p.m * T; i++)
        want[i] -= mode == 2 ? r[i / T] : r[i];
    expect_f32(what, outs[0], 3, DIMS(1, p.m, T), want, 1e-4);
    if (mode == 1 && outs[1])
        CHECK(((float *)nr_nn_tensor_data(outs[1]))[7] == -r[7]);
    free(want);
    free_all(outs, 2);
    nr_nn_tensor_free(xin);
    nr_nn_tensor_free(rin);
    nr_nn_tensor_free(w);
    nr_nn_tensor_free(b);
    free(bytes.d);
}

static void test_residual(void) {
    check_residual("residual in place", 0, 0);
    check_residual("residual in place, reversed", 0, 1);
    check_residual("residual kept", 1, 0);
    check_residual("residual broadcast", 2, 1);
}

static void test_matmul(void) {
    struct nr_nn_tensor *in[2], *o[1] = {0};
    in[0] = tensor_rand(4, DIMS(2, 1, 3, 4));
    in[1] = tensor_rand(3, DIMS(5, 4, 2));
    CHECK_EQ(op_run(15, "MatMul", 2, in, 0, NULL, 1, o), NR_OK);
    float want[2 * 5 * 3 * 2];
    const float *a = nr_nn_tensor_data(in[0]), *b = nr_nn_tensor_data(in[1]);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 5; j++)
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 2; c++) {
                    double acc = 0;
                    for (int k = 0; k < 4; k++)
                        acc += a[(i * 3 + r) * 4 + k] * b[(j * 4 + k) * 2 + c];
                    want[((i * 5 + j) * 3 + r) * 2 + c] = (float)acc;
                }
    expect_f32("matmul broadcast", o[0], 4, DIMS(2, 5, 3, 2), want, 1e-5);
    free_all(o, 1);
    free_all(in, 2);
    /* 1-D operands: [4] x [4,3] -> [3]; [2,3,4] x [4] -> [2,3] */
    in[0] = tensor_f32(1, DIMS(4), F32(1, 2, 3, 4));
    in[1] = tensor_f32(2, DIMS(4, 3), F32(1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1));
    CHECK_EQ(op_run(15, "MatMul", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("matmul vec-mat", o[0], 1, DIMS(3), F32(5, 6, 7), 0);
    free_all(o, 1);
    free_all(in, 2);
    in[0] = tensor_f32(3, DIMS(2, 1, 2), F32(1, 2, 3, 4));
    in[1] = tensor_f32(1, DIMS(2), F32(10, 1));
    CHECK_EQ(op_run(15, "MatMul", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("matmul mat-vec", o[0], 2, DIMS(2, 1), F32(12, 34), 0);
    free_all(o, 1);
    free_all(in, 2);
}

/* Attribute forms (older opsets) and input forms (newer) give the same result. */
static void test_opset_forms(void) {
    struct nr_nn_tensor *in[2] = {0}, *o[3] = {0};
    float v[6] = {1, 2, 3, 4, 5, 6};
    in[0] = tensor_f32(3, DIMS(2, 1, 3), v);
    struct pbw a[2] = {attr_ints("axes", 1, (int64_t[]){-2})};
    CHECK_EQ(op_run(11, "Squeeze", 1, in, 1, a, 1, o), NR_OK);
    expect_f32("squeeze attr", o[0], 2, DIMS(2, 3), v, 0);
    free_all(o, 1);
    in[1] = tensor_i64(1, DIMS(1), I64(1));
    CHECK_EQ(op_run(13, "Squeeze", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("squeeze input", o[0], 2, DIMS(2, 3), v, 0);
    free_all(o, 1);
    CHECK_EQ(op_run(13, "Squeeze", 1, in, 0, NULL, 1, o), NR_OK); /* all 1-dims */
    expect_f32("squeeze all", o[0], 2, DIMS(2, 3), v, 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_i64(1, DIMS(2), I64(0, -1));
    CHECK_EQ(op_run(13, "Unsqueeze", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("unsqueeze input", o[0], 5, DIMS(1, 2, 1, 3, 1), v, 0);
    free_all(o, 1);
    a[0] = attr_ints("axes", 2, (int64_t[]){0, 4});
    CHECK_EQ(op_run(11, "Unsqueeze", 1, in, 1, a, 1, o), NR_OK);
    expect_f32("unsqueeze attr", o[0], 5, DIMS(1, 2, 1, 3, 1), v, 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    /* ReduceSum: attribute axes (opset 11), input axes (13) */
    in[1] = tensor_i64(1, DIMS(1), I64(2));
    CHECK_EQ(op_run(13, "ReduceSum", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("reducesum input", o[0], 3, DIMS(2, 1, 1), F32(6, 15), 0);
    free_all(o, 1);
    a[0] = attr_ints("axes", 1, (int64_t[]){0});
    a[1] = attr_int("keepdims", 0);
    CHECK_EQ(op_run(11, "ReduceSum", 1, in, 2, a, 1, o), NR_OK);
    expect_f32("reducesum attr", o[0], 2, DIMS(1, 3), F32(5, 7, 9), 0);
    free_all(o, 1);
    a[0] = attr_ints("axes", 1, (int64_t[]){-1});
    CHECK_EQ(op_run(15, "ReduceMean", 1, in, 1, a, 1, o), NR_OK);
    expect_f32("reducemean", o[0], 3, DIMS(2, 1, 1), F32(2, 5), 1e-6);
    free_all(o, 1);
    a[0] = attr_ints("axes", 1, (int64_t[]){0});
    CHECK_EQ(op_run(15, "ReduceMax", 1, in, 1, a, 1, o), NR_OK);
    expect_f32("reducemax", o[0], 3, DIMS(1, 1, 3), F32(4, 5, 6), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    /* Split: attribute (11), input (13), equal parts */
    in[1] = tensor_i64(1, DIMS(2), I64(1, 2));
    struct pbw sa[2] = {attr_int("axis", -1)};
    CHECK_EQ(op_run(13, "Split", 2, in, 1, sa, 2, o), NR_OK);
    expect_f32("split input 0", o[0], 3, DIMS(2, 1, 1), F32(1, 4), 0);
    expect_f32("split input 1", o[1], 3, DIMS(2, 1, 2), F32(2, 3, 5, 6), 0);
    free_all(o, 2);
    sa[0] = attr_int("axis", 2);
    sa[1] = attr_ints("split", 2, (int64_t[]){2, 1});
    CHECK_EQ(op_run(11, "Split", 1, in, 2, sa, 2, o), NR_OK);
    expect_f32("split attr 1", o[1], 3, DIMS(2, 1, 1), F32(3, 6), 0);
    free_all(o, 2);
    sa[0] = attr_int("axis", 2);
    CHECK_EQ(op_run(13, "Split", 1, in, 1, sa, 3, o), NR_OK);
    expect_f32("split equal 2", o[2], 3, DIMS(2, 1, 1), F32(3, 6), 0);
    free_all(o, 3);
    free_all(in, 2);
}

static void test_elementwise(void) {
    struct nr_nn_tensor *in[3] = {0}, *o[1] = {0};
    /* Where with three-way broadcasting */
    in[0] = tensor_bool(2, DIMS(2, 1), (const uint8_t[]){1, 0});
    in[1] = tensor_f32(2, DIMS(1, 3), F32(1, 2, 3));
    in[2] = tensor_f32(0, NULL, F32(-1));
    CHECK_EQ(op_run(15, "Where", 3, in, 0, NULL, 1, o), NR_OK);
    expect_f32("where", o[0], 2, DIMS(2, 3), F32(1, 2, 3, -1, -1, -1), 0);
    free_all(o, 1);
    free_all(in, 3);
    /* Softmax over axis 1 of [1,3,2] */
    in[0] = tensor_f32(3, DIMS(1, 3, 2), F32(0, 1000, 1, 1000, 2, 1000));
    struct pbw a[2] = {attr_int("axis", 1)};
    CHECK_EQ(op_run(15, "Softmax", 1, in, 1, a, 1, o), NR_OK);
    double e0 = 1, e1 = exp(1.0), e2 = exp(2.0), s = e0 + e1 + e2;
    expect_f32("softmax", o[0], 3, DIMS(1, 3, 2),
               F32((float)(e0 / s), 1.0f / 3, (float)(e1 / s), 1.0f / 3, (float)(e2 / s), 1.0f / 3),
               1e-6);
    free_all(o, 1);
    free_all(in, 1);
    /* unary maps against libm in double */
    float xs[5] = {-3.5f, -0.5f, 0.0f, 0.7f, 4.0f};
    const char *ops[5] = {"Erf", "Softplus", "Sigmoid", "Tanh", "Exp"};
    for (int k = 0; k < 5; k++) {
        in[0] = tensor_f32(1, DIMS(5), xs);
        float want[5];
        for (int i = 0; i < 5; i++) {
            double v = xs[i];
            want[i] = (float)(k == 0   ? erf(v)
                              : k == 1 ? log1p(exp(v))
                              : k == 2 ? 1 / (1 + exp(-v))
                              : k == 3 ? tanh(v)
                                       : exp(v));
        }
        CHECK_EQ(op_run(15, ops[k], 1, in, 0, NULL, 1, o), NR_OK);
        expect_f32(ops[k], o[0], 1, DIMS(5), want, 2e-6 * (k == 4 ? 60 : 1));
        free_all(o, 1);
        free_all(in, 1);
    }
    in[0] = tensor_f32(1, DIMS(4), F32(-2, -0.5f, 0, 3));
    a[0] = attr_float("alpha", 0.2f);
    CHECK_EQ(op_run(15, "LeakyRelu", 1, in, 1, a, 1, o), NR_OK);
    expect_f32("leakyrelu", o[0], 1, DIMS(4), F32(-0.4f, -0.1f, 0, 3), 1e-7);
    free_all(o, 1);
    CHECK_EQ(op_run(15, "Ceil", 1, in, 0, NULL, 1, o), NR_OK);
    expect_f32("ceil", o[0], 1, DIMS(4), F32(-2, 0, 0, 3), 0);
    free_all(o, 1);
    /* Clip: min input only (opset 11+), attributes (opset 6) */
    in[1] = tensor_f32(0, NULL, F32(-1));
    CHECK_EQ(op_run(13, "Clip", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("clip min", o[0], 1, DIMS(4), F32(-1, -0.5f, 0, 3), 0);
    free_all(o, 1);
    a[0] = attr_float("min", -1);
    a[1] = attr_float("max", 1);
    CHECK_EQ(op_run(6, "Clip", 1, in, 2, a, 1, o), NR_OK);
    expect_f32("clip attrs", o[0], 1, DIMS(4), F32(-1, -0.5f, 0, 1), 0);
    free_all(o, 1);
    /* Pow with exponent 2 and 0.5 (LayerNorm's variance and sqrt) */
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_f32(0, NULL, F32(2));
    CHECK_EQ(op_run(15, "Pow", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("pow 2", o[0], 1, DIMS(4), F32(4, 0.25f, 0, 9), 0);
    free_all(o, 1);
    free_all(in, 2);
    /* Cast: truncation toward zero, NaN -> 0, saturation; int -> bool -> float */
    in[0] = tensor_f32(1, DIMS(4), F32(-1.7f, 2.9f, NAN, 1e20f));
    a[0] = attr_int("to", NR_NN_I64);
    CHECK_EQ(op_run(15, "Cast", 1, in, 1, a, 1, o), NR_OK);
    expect_i64("cast f32->i64", o[0], 1, DIMS(4), I64(-1, 2, 0, INT64_MAX));
    free_all(o, 1);
    free_all(in, 1);
    in[0] = tensor_i64(1, DIMS(3), I64(0, 5, -2));
    a[0] = attr_int("to", NR_NN_BOOL);
    CHECK_EQ(op_run(15, "Cast", 1, in, 1, a, 1, o), NR_OK);
    CHECK(o[0] && nr_nn_tensor_dtype(o[0]) == NR_NN_BOOL &&
          memcmp(nr_nn_tensor_data(o[0]), (const uint8_t[]){0, 1, 1}, 3) == 0);
    free_all(o, 1);
    /* Div on integers truncates; by zero gives 0 instead of a crash */
    in[1] = tensor_i64(1, DIMS(3), I64(0, 2, 0));
    CHECK_EQ(op_run(15, "Div", 2, in, 0, NULL, 1, o), NR_OK);
    expect_i64("div int", o[0], 1, DIMS(3), I64(0, 2, 0));
    free_all(o, 1);
    /* comparisons broadcast and give bool; And / Not */
    CHECK_EQ(op_run(15, "Less", 2, in, 0, NULL, 1, o), NR_OK);
    CHECK(o[0] && memcmp(nr_nn_tensor_data(o[0]), (const uint8_t[]){0, 0, 1}, 3) == 0);
    free_all(o, 1);
    CHECK_EQ(op_run(15, "GreaterOrEqual", 2, in, 0, NULL, 1, o), NR_OK);
    CHECK(o[0] && memcmp(nr_nn_tensor_data(o[0]), (const uint8_t[]){1, 1, 0}, 3) == 0);
    free_all(o, 1);
    free_all(in, 2);
    in[0] = tensor_bool(2, DIMS(2, 2), (const uint8_t[]){1, 0, 1, 1});
    in[1] = tensor_bool(1, DIMS(2), (const uint8_t[]){1, 0});
    CHECK_EQ(op_run(15, "And", 2, in, 0, NULL, 1, o), NR_OK);
    CHECK(o[0] && memcmp(nr_nn_tensor_data(o[0]), (const uint8_t[]){1, 0, 1, 0}, 4) == 0);
    free_all(o, 1);
    CHECK_EQ(op_run(15, "Not", 1, in, 0, NULL, 1, o), NR_OK);
    CHECK(o[0] && memcmp(nr_nn_tensor_data(o[0]), (const uint8_t[]){0, 1, 0, 0}, 4) == 0);
    free_all(o, 1);
    free_all(in, 2);
}

/* Outputs large enough to be split over threads: a broadcast Add (rows),
 * a same-shape Mul (one long row) and Tanh. */
static void test_large_elementwise(void) {
    struct nr_nn_tensor *in[2] = {0}, *o[1] = {0};
    in[0] = tensor_rand(3, DIMS(2, 300, 200));
    in[1] = tensor_rand(2, DIMS(300, 1));
    CHECK_EQ(op_run(15, "Add", 2, in, 0, NULL, 1, o), NR_OK);
    float *want = malloc(120000 * sizeof *want);
    const float *a = nr_nn_tensor_data(in[0]), *b = nr_nn_tensor_data(in[1]);
    for (int i = 0; i < 120000; i++)
        want[i] = a[i] + b[(i / 200) % 300];
    expect_f32("large add", o[0], 3, DIMS(2, 300, 200), want, 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_rand(3, DIMS(2, 300, 200));
    b = nr_nn_tensor_data(in[1]);
    CHECK_EQ(op_run(15, "Mul", 2, in, 0, NULL, 1, o), NR_OK);
    for (int i = 0; i < 120000; i++)
        want[i] = a[i] * b[i];
    expect_f32("large mul", o[0], 3, DIMS(2, 300, 200), want, 0);
    free_all(o, 1);
    CHECK_EQ(op_run(15, "Tanh", 1, in, 0, NULL, 1, o), NR_OK);
    for (int i = 0; i < 120000; i++)
        want[i] = tanhf(a[i]);
    expect_f32("large tanh", o[0], 3, DIMS(2, 300, 200), want, 0);
    free_all(o, 1);
    free(want);
    free_all(in, 2);
}

static void test_shape_ops(void) {
    struct nr_nn_tensor *in[3] = {0}, *o[1] = {0};
    in[0] = tensor_f32(2, DIMS(3, 1), F32(1, 2, 3));
    in[1] = tensor_i64(1, DIMS(3), I64(2, 1, 2));
    CHECK_EQ(op_run(15, "Expand", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("expand", o[0], 3, DIMS(2, 3, 2), F32(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3), 0);
    free_all(o, 1);
    free_all(in, 2);
    in[0] = tensor_f32(0, NULL, F32(1));
    in[1] = tensor_f32(0, NULL, F32(2.1f));
    in[2] = tensor_f32(0, NULL, F32(0.5f));
    CHECK_EQ(op_run(15, "Range", 3, in, 0, NULL, 1, o), NR_OK);
    expect_f32("range f32", o[0], 1, DIMS(3), F32(1, 1.5f, 2), 0);
    free_all(o, 1);
    free_all(in, 3);
    in[0] = tensor_i64(0, NULL, I64(10));
    in[1] = tensor_i64(0, NULL, I64(4));
    in[2] = tensor_i64(0, NULL, I64(-3));
    CHECK_EQ(op_run(15, "Range", 3, in, 0, NULL, 1, o), NR_OK);
    expect_i64("range i64", o[0], 1, DIMS(2), I64(10, 7));
    free_all(o, 1);
    free_all(in, 3);
    in[0] = tensor_i64(1, DIMS(2), I64(2, 2));
    struct pbw a[1] = {attr_tensor("value", tensor_proto(NULL, NR_NN_I64, 1, DIMS(1), I64(9)))};
    CHECK_EQ(op_run(15, "ConstantOfShape", 1, in, 1, a, 1, o), NR_OK);
    expect_i64("constantofshape", o[0], 2, DIMS(2, 2), I64(9, 9, 9, 9));
    free_all(o, 1);
    free_all(in, 1);
    in[0] = tensor_f32(3, DIMS(1, 2, 3), F32(1, 2, 3, 4, 5, 6));
    a[0] = attr_ints("perm", 3, (int64_t[]){0, 2, 1});
    CHECK_EQ(op_run(15, "Transpose", 1, in, 1, a, 1, o), NR_OK);
    expect_f32("transpose", o[0], 3, DIMS(1, 3, 2), F32(1, 4, 2, 5, 3, 6), 0);
    free_all(o, 1);
    CHECK_EQ(op_run(15, "Shape", 1, in, 0, NULL, 1, o), NR_OK);
    expect_i64("shape", o[0], 1, DIMS(3), I64(1, 2, 3));
    free_all(o, 1);
    in[1] = tensor_f32(3, DIMS(1, 2, 1), F32(7, 8));
    a[0] = attr_int("axis", -1);
    CHECK_EQ(op_run(15, "Concat", 2, in, 1, a, 1, o), NR_OK);
    expect_f32("concat", o[0], 3, DIMS(1, 2, 4), F32(1, 2, 3, 7, 4, 5, 6, 8), 0);
    free_all(o, 1);
    nr_nn_tensor_free(in[1]);
    in[1] = tensor_i64(1, DIMS(2), I64(0, -1)); /* 0 copies the dim */
    CHECK_EQ(op_run(15, "Reshape", 2, in, 0, NULL, 1, o), NR_OK);
    expect_f32("reshape", o[0], 2, DIMS(1, 6), F32(1, 2, 3, 4, 5, 6), 0);
    free_all(o, 1);
    free_all(in, 2);
}

int main(void) {
    /* every case on one thread, then on three (the thread pool's paths) */
    for (test_threads = 1; test_threads <= 3; test_threads += 2) {
        rng_state = 20261127;
        printf("test_nn_ops: threads %d, random seed %llu\n", test_threads,
               (unsigned long long)rng_state);
        test_slice();
        test_pad();
        test_cumsum();
        test_nonzero_scatter_gather();
        test_convolutions();
        test_fused();
        test_residual();
        test_matmul();
        test_opset_forms();
        test_elementwise();
        test_shape_ops();
        test_large_elementwise();
    }
    return check_result("test_nn_ops");
}
