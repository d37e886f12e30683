/* nn engine core: tensors, TensorProto, the reader's refusals, truncated and
 * corrupt files, constant folding, use counts / in-place / peak bytes,
 * allocation failure at every step, the device-memory limit (OOM), the
 * random generator's reproducibility, and Piper's model quirks. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"
#include "narrate/core.h"
#include "narrate/nn.h"
#include "test_nn_build.c"

static void test_tensor_api(void) {
    struct nr_err err = {0};
    struct nr_nn_tensor *t;
    int64_t dims[3] = {2, 3, 4};
    CHECK_EQ(nr_nn_tensor_new(NR_NN_F32, 3, dims, &t, &err), NR_OK);
    CHECK_EQ(nr_nn_tensor_numel(t), 24);
    CHECK_EQ(nr_nn_tensor_ndim(t), 3);
    CHECK_EQ(nr_nn_tensor_dims(t)[2], 4);
    CHECK_EQ(nr_nn_tensor_dtype(t), NR_NN_F32);
    CHECK_EQ(nr_nn_tensor_device(t), NR_NN_DEVICE_CPU);
    CHECK(((float *)nr_nn_tensor_data(t))[23] == 0.0f);
    nr_nn_tensor_free(t);
    int64_t neg[1] = {-1};
    CHECK_EQ(nr_nn_tensor_new(NR_NN_F32, 1, neg, &t, &err), NR_STATUS_INVALID_ARG);
    CHECK(t == NULL);
    nr_err_clear(&err);
    CHECK_EQ(nr_nn_tensor_new(NR_NN_F32, 9, dims, &t, &err), NR_STATUS_INVALID_ARG);
    nr_err_clear(&err);
    CHECK_EQ(nr_nn_tensor_new(NR_NN_I64, 0, NULL, &t, &err), NR_OK); /* scalar */
    CHECK_EQ(nr_nn_tensor_numel(t), 1);
    nr_nn_tensor_free(t);
    CHECK_STR(nr_nn_dtype_name(NR_NN_BOOL), "bool");
    CHECK(nr_nn_op_is_supported("ConvTranspose"));
    CHECK(!nr_nn_op_is_supported("LSTM"));
}

static void test_tensor_proto(void) {
    struct nr_err err = {0};
    struct nr_nn_tensor *t;
    char *name;
    /* typed fields: float_data packed, dims [2,2] */
    struct pbw p = {0};
    pw_int(&p, 1, 2);
    pw_int(&p, 1, 2);
    pw_int(&p, 2, NR_NN_F32);
    float fv[4] = {1.5f, -2.0f, 3.25f, 0.0f};
    pw_bytes(&p, 4, fv, sizeof fv);
    pw_str(&p, 8, "w");
    CHECK_EQ(nr_nn_tensor_parse(p.d, p.n, "t.pb", &t, &name, &err), NR_OK);
    CHECK_STR(name, "w");
    CHECK_EQ(nr_nn_tensor_numel(t), 4);
    CHECK(((float *)nr_nn_tensor_data(t))[2] == 3.25f);
    nr_free(name);
    nr_nn_tensor_free(t);
    free(p.d);
    /* int64_data unpacked with a negative value; a scalar (no dims) */
    memset(&p, 0, sizeof p);
    pw_int(&p, 2, NR_NN_I64);
    pw_int(&p, 7, -5);
    CHECK_EQ(nr_nn_tensor_parse(p.d, p.n, "t.pb", &t, NULL, &err), NR_OK);
    CHECK_EQ(nr_nn_tensor_ndim(t), 0);
    CHECK_EQ(((int64_t *)nr_nn_tensor_data(t))[0], -5);
    nr_nn_tensor_free(t);
    free(p.d);
    /* raw_data of the wrong length */
    memset(&p, 0, sizeof p);
    pw_int(&p, 1, 3);
    pw_int(&p, 2, NR_NN_F32);
    pw_bytes(&p, 9, fv, 8);
    CHECK_EQ(nr_nn_tensor_parse(p.d, p.n, "t.pb", &t, NULL, &err), NR_STATUS_BAD_FORMAT);
    CHECK(t == NULL);
    CHECK_SUBSTR(err.msg, "t.pb: ");
    nr_err_clear(&err);
    free(p.d);
    /* float16 is refused as unsupported, naming the dtype */
    memset(&p, 0, sizeof p);
    pw_int(&p, 1, 1);
    pw_int(&p, 2, 10);
    pw_bytes(&p, 9, fv, 2);
    CHECK_EQ(nr_nn_tensor_parse(p.d, p.n, "h.pb", &t, NULL, &err), NR_STATUS_UNSUPPORTED);
    CHECK_SUBSTR(err.msg, "float16");
    nr_err_clear(&err);
    free(p.d);
    /* external data */
    memset(&p, 0, sizeof p);
    pw_int(&p, 1, 1);
    pw_int(&p, 2, NR_NN_F32);
    pw_int(&p, 14, 1);
    CHECK_EQ(nr_nn_tensor_parse(p.d, p.n, "e.pb", &t, NULL, &err), NR_STATUS_UNSUPPORTED);
    CHECK_SUBSTR(err.msg, "external data");
    nr_err_clear(&err);
    free(p.d);
}

/* y = Relu(x * w + b) with w, b initializers; 2 nodes. */
static struct pbw small_model(void) {
    struct mb m;
    mb_init(&m, 15);
    int64_t d3[1] = {3};
    float w[3] = {1, -2, 3}, b[3] = {0.5f, 0.5f, -10};
    mb_initializer(&m, "w", NR_NN_F32, 1, d3, w);
    mb_initializer(&m, "b", NR_NN_F32, 1, d3, b);
    mb_input(&m, "x", NR_NN_F32);
    mb_node(&m, "Mul", "x,w", "xw", 0);
    mb_node(&m, "Add", "xw,b", "s", 0);
    mb_node(&m, "Relu", "s", "y", 0);
    mb_output(&m, "y", NR_NN_F32);
    return mb_finish(&m);
}

static void test_small_model(void) {
    struct pbw bytes = small_model();
    struct nr_err err = {0};
    int64_t d[2] = {2, 3};
    float xv[6] = {1, 1, 1, 2, -1, 4};
    struct nr_nn_tensor *xin = tensor_f32(2, d, xv), *y = NULL;
    const char *names[1] = {"x"};
    const struct nr_nn_tensor *ins[1] = {xin};
    CHECK_EQ(run_model(&bytes, 1, names, ins, 1, &y, 1, &err), NR_OK);
    if (y) {
        float want[6] = {1.5f, 0, 0, 2.5f, 2.5f, 2};
        CHECK_EQ(nr_nn_tensor_ndim(y), 2);
        for (int i = 0; i < 6; i++)
            CHECK_NEAR(((float *)nr_nn_tensor_data(y))[i], want[i], 1e-6);
    }
    nr_nn_tensor_free(y);
    /* a wrong input dtype and a missing input are INVALID_ARG */
    struct nr_nn_tensor *xi = tensor_i64(2, d, (const int64_t[6]){0});
    const struct nr_nn_tensor *bad[1] = {xi};
    CHECK_EQ(run_model(&bytes, 1, names, bad, 1, &y, 1, &err), NR_STATUS_INVALID_ARG);
    CHECK(y == NULL);
    nr_err_clear(&err);
    CHECK_EQ(run_model(&bytes, 0, NULL, NULL, 1, &y, 1, &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "'x' is not given");
    nr_err_clear(&err);
    nr_nn_tensor_free(xi);
    nr_nn_tensor_free(xin);
    free(bytes.d);
}

static void test_truncated_and_corrupt(void) {
    struct pbw bytes = small_model();
    struct nr_err err = {0};
    struct nr_nn_model *m;
    /* every proper prefix is refused as malformed (the graph is the last field) */
    int all_bad = 1;
    for (size_t len = 0; len < bytes.n; len++) {
        uint8_t *copy = malloc(len + 1);
        memcpy(copy, bytes.d, len);
        enum nr_status st = nr_nn_model_load_mem(copy, len, "cut.onnx", &m, &err);
        if (st != NR_STATUS_BAD_FORMAT || m != NULL) {
            fprintf(stderr, "prefix %zu: status %d\n", len, (int)st);
            all_bad = 0;
        }
        nr_nn_model_free(m);
        nr_err_clear(&err);
        free(copy);
    }
    CHECK(all_bad);
    /* the same through a file */
    char path[] = "/tmp/nr_nn_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes.d, bytes.n / 2) == (ssize_t)(bytes.n / 2));
    close(fd);
    CHECK_EQ(nr_nn_model_load(path, &m, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, path);
    nr_err_clear(&err);
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    CHECK_EQ(nr_nn_model_load(path, &m, &err), NR_STATUS_BAD_FORMAT); /* empty */
    CHECK_SUBSTR(err.msg, "empty");
    nr_err_clear(&err);
    unlink(path);
    CHECK_EQ(nr_nn_model_load(path, &m, &err), NR_STATUS_IO);
    nr_err_clear(&err);
    /* flipping bytes never crashes; the result is OK or an error status */
    for (size_t i = 0; i < bytes.n; i++) {
        uint8_t *copy = malloc(bytes.n);
        memcpy(copy, bytes.d, bytes.n);
        copy[i] ^= 0xa5;
        enum nr_status st = nr_nn_model_load_mem(copy, bytes.n, "flip.onnx", &m, &err);
        CHECK(st == NR_OK || st == NR_STATUS_BAD_FORMAT || st == NR_STATUS_UNSUPPORTED);
        nr_nn_model_free(m);
        nr_err_clear(&err);
        free(copy);
    }
    free(bytes.d);
    /* refusals with clear messages */
    struct mb mm;
    mb_init(&mm, 15);
    mb_input(&mm, "x", NR_NN_F32);
    mb_node(&mm, "LSTM", "x", "y", 0);
    mb_output(&mm, "y", NR_NN_F32);
    bytes = mb_finish(&mm);
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "lstm.onnx", &m, &err), NR_STATUS_UNSUPPORTED);
    CHECK_SUBSTR(err.msg, "lstm.onnx: unsupported op LSTM");
    nr_err_clear(&err);
    free(bytes.d);
    mb_init(&mm, 15);
    mb_input(&mm, "x", NR_NN_F32);
    mb_node(&mm, "Relu", "nothere", "y", 0);
    mb_output(&mm, "y", NR_NN_F32);
    bytes = mb_finish(&mm);
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "u.onnx", &m, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "never defined");
    nr_err_clear(&err);
    free(bytes.d);
    /* a GRAPH attribute (If/Loop bodies) */
    mb_init(&mm, 15);
    mb_input(&mm, "x", NR_NN_F32);
    struct pbw ga = {0}, sub = {0};
    pw_str(&sub, 2, "body");
    pw_str(&ga, 1, "body");
    pw_int(&ga, 20, 5);
    pw_sub(&ga, 6, &sub);
    mb_node(&mm, "Relu", "x", "y", 1, ga);
    mb_output(&mm, "y", NR_NN_F32);
    bytes = mb_finish(&mm);
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "g.onnx", &m, &err), NR_STATUS_UNSUPPORTED);
    CHECK_SUBSTR(err.msg, "subgraphs");
    nr_err_clear(&err);
    free(bytes.d);
}

/* Shape arithmetic on constants folds at load; RandomNormalLike never does. */
static void test_constant_folding(void) {
    struct mb m;
    mb_init(&m, 15);
    int64_t d2[1] = {2}, one[1] = {1};
    int64_t sh[2] = {3, 2};
    float c[2] = {1, 2};
    mb_initializer(&m, "c", NR_NN_F32, 1, d2, c);
    mb_initializer(&m, "shape", NR_NN_I64, 1, d2, sh);
    mb_initializer(&m, "one", NR_NN_I64, 1, one, (int64_t[1]){1});
    mb_input(&m, "x", NR_NN_F32);
    mb_node(&m, "ConstantOfShape", "shape", "z", 1,
            attr_tensor("value", tensor_proto(NULL, NR_NN_F32, 1, one, (float[1]){0.5f})));
    mb_node(&m, "Add", "shape,one", "shape2", 0);                    /* [4,3] */
    mb_node(&m, "ReduceSum", "z", "zs", 1, attr_int("keepdims", 0)); /* 3 */
    mb_node(&m, "Mul", "c,zs", "k", 0);                              /* [3,6] */
    mb_node(&m, "Mul", "x,k", "y", 0);
    mb_node(&m, "RandomNormalLike", "c", "r", 0);
    mb_output(&m, "y", NR_NN_F32);
    mb_output(&m, "shape2", NR_NN_I64);
    mb_output(&m, "r", NR_NN_F32);
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    struct nr_nn_model *model;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "fold.onnx", &model, &err), NR_OK);
    struct nr_nn_model_stats st;
    nr_nn_model_stats(model, &st);
    CHECK_EQ(st.n_nodes_file, 6);
    CHECK_EQ(st.n_nodes_run, 2); /* Mul(x,k) and RandomNormalLike */
    CHECK_EQ(st.opset, 15);
    CHECK_EQ(nr_nn_model_n_inputs(model), 1);
    CHECK_EQ(nr_nn_model_n_outputs(model), 3);
    struct nr_nn_session *s;
    CHECK_EQ(nr_nn_session_new(model, NULL, &s, &err), NR_OK);
    struct nr_nn_tensor *xin = tensor_f32(1, d2, (float[2]){1, -1}), *outs[3] = {0};
    const char *names[1] = {"x"};
    const struct nr_nn_tensor *ins[1] = {xin};
    CHECK_EQ(nr_nn_session_run(s, names, ins, 1, NULL, outs, 3, &err), NR_OK);
    if (outs[0]) {
        CHECK_NEAR(((float *)nr_nn_tensor_data(outs[0]))[0], 3.0, 1e-6);
        CHECK_NEAR(((float *)nr_nn_tensor_data(outs[0]))[1], -6.0, 1e-6);
        CHECK_EQ(((int64_t *)nr_nn_tensor_data(outs[1]))[0], 4);
        CHECK_EQ(((int64_t *)nr_nn_tensor_data(outs[1]))[1], 3);
    }
    for (int i = 0; i < 3; i++)
        nr_nn_tensor_free(outs[i]);
    nr_nn_tensor_free(xin);
    nr_nn_session_free(s);
    nr_nn_model_free(model);
    free(bytes.d);
}

/* x -> Relu -> Neg -> Relu -> Neg: each node may write into its input
 * (last use), so the peak is one tensor; the backend is empty after a run. */
static void test_peak_and_in_place(void) {
    struct mb m;
    mb_init(&m, 15);
    mb_input(&m, "x", NR_NN_F32);
    mb_node(&m, "Relu", "x", "a", 0);
    mb_node(&m, "Neg", "a", "b", 0);
    mb_node(&m, "Relu", "b", "c", 0);
    mb_node(&m, "Neg", "c", "y", 0);
    mb_node(&m, "Sigmoid", "a", "unused", 0); /* a second consumer of a: no in-place for Neg */
    mb_output(&m, "y", NR_NN_F32);
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    struct nr_nn_model *model;
    struct nr_nn_session *s;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "chain.onnx", &model, &err), NR_OK);
    CHECK_EQ(nr_nn_session_new(model, NULL, &s, &err), NR_OK);
    int64_t d[1] = {1000};
    float xv[1000];
    for (int i = 0; i < 1000; i++)
        xv[i] = (float)(i % 7) - 3.0f;
    struct nr_nn_tensor *xin = tensor_f32(1, d, xv), *y = NULL;
    const char *names[1] = {"x"};
    const struct nr_nn_tensor *ins[1] = {xin};
    CHECK_EQ(nr_nn_session_run(s, names, ins, 1, NULL, &y, 1, &err), NR_OK);
    /* a (4000 B) is new (x belongs to the caller) and lives until Sigmoid,
     * which comes last; b is new (a is still needed); c and y reuse b;
     * Sigmoid reuses a. Peak: a + b. */
    CHECK_EQ(nr_nn_session_peak_bytes(s), 2 * 4000);
    CHECK_EQ(nr_nn_session_current_bytes(s), 0);
    if (y) {
        /* y = -relu(-relu(x)) = 0 for every x */
        int zero = 1;
        for (int i = 0; i < 1000; i++)
            zero &= ((float *)nr_nn_tensor_data(y))[i] == 0.0f;
        CHECK(zero);
    }
    nr_nn_tensor_free(y);
    /* asking for an intermediate value keeps it alive and returns it */
    const char *outn[2] = {"a", "y"};
    struct nr_nn_tensor *o2[2] = {0};
    CHECK_EQ(nr_nn_session_run(s, names, ins, 1, outn, o2, 2, &err), NR_OK);
    if (o2[0])
        CHECK(((float *)nr_nn_tensor_data(o2[0]))[6] == 3.0f);
    nr_nn_tensor_free(o2[0]);
    nr_nn_tensor_free(o2[1]);
    CHECK_STR(nr_nn_model_find_node_output(model, "Neg", 1, 0), "y");
    CHECK(nr_nn_model_find_node_output(model, "Neg", 2, 0) == NULL);
    nr_nn_tensor_free(xin);
    nr_nn_session_free(s);
    nr_nn_model_free(model);
    free(bytes.d);
}

/* A backend byte limit turns into NR_STATUS_DEVICE_OOM; the session keeps
 * working for inputs that fit. */
static void test_device_oom(void) {
    struct pbw bytes = small_model();
    struct nr_err err = {0};
    struct nr_nn_model *model;
    struct nr_nn_session *s;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "oom.onnx", &model, &err), NR_OK);
    struct nr_nn_session_opts o;
    nr_nn_session_opts_defaults(&o);
    o.mem_limit = 64 * 1024;
    CHECK_EQ(nr_nn_session_new(model, &o, &s, &err), NR_OK);
    const char *names[1] = {"x"};
    int64_t big[2] = {10000, 3}, small[2] = {2, 3};
    float *zeros = calloc(30000, sizeof(float));
    struct nr_nn_tensor *xb = tensor_f32(2, big, zeros), *xs = tensor_f32(2, small, zeros), *y;
    const struct nr_nn_tensor *ib[1] = {xb}, *is[1] = {xs};
    CHECK_EQ(nr_nn_session_run(s, names, ib, 1, NULL, &y, 1, &err), NR_STATUS_DEVICE_OOM);
    CHECK(y == NULL);
    CHECK_SUBSTR(err.msg, "out of device memory");
    CHECK_EQ(nr_nn_session_current_bytes(s), 0);
    nr_err_clear(&err);
    CHECK_EQ(nr_nn_session_run(s, names, is, 1, NULL, &y, 1, &err), NR_OK);
    CHECK(y != NULL);
    CHECK(nr_nn_session_peak_bytes(s) > 0 && nr_nn_session_peak_bytes(s) <= 64 * 1024);
    nr_nn_tensor_free(y);
    free(zeros);
    nr_nn_tensor_free(xb);
    nr_nn_tensor_free(xs);
    nr_nn_session_free(s);
    nr_nn_model_free(model);
    free(bytes.d);
}

/* Fails the k-th allocation for every k: each attempt ends in a clean
 * NO_MEMORY / DEVICE_OOM (ASan checks for leaks), until one succeeds. */
static void test_alloc_failures(void) {
    struct pbw bytes = small_model();
    int64_t d[2] = {2, 3};
    float xv[6] = {1, 1, 1, 2, -1, 4};
    struct nr_nn_tensor *xin = tensor_f32(2, d, xv);
    const char *names[1] = {"x"};
    const struct nr_nn_tensor *ins[1] = {xin};
    int ok_at = 0, bad_status = 0;
    for (size_t k = 1; k < 500 && !ok_at; k++) {
        struct nr_err err = {0};
        struct nr_nn_tensor *y = NULL;
        nr_alloc_fail_after(k);
        enum nr_status st = run_model(&bytes, 1, names, ins, 1, &y, 1, &err);
        nr_alloc_fail_after(0);
        if (st == NR_OK) {
            ok_at = (int)k;
            CHECK_NEAR(((float *)nr_nn_tensor_data(y))[0], 1.5, 1e-6);
        } else if (st != NR_STATUS_NO_MEMORY && st != NR_STATUS_DEVICE_OOM) {
            fprintf(stderr, "alloc %zu: %s\n", k, err.msg);
            bad_status = 1;
        } else {
            CHECK(y == NULL);
        }
        nr_nn_tensor_free(y);
    }
    CHECK(ok_at > 10);
    CHECK(!bad_status);
    nr_nn_tensor_free(xin);
    free(bytes.d);
}

static void test_random_normal(void) {
    struct mb m;
    mb_init(&m, 15);
    mb_input(&m, "x", NR_NN_F32);
    mb_node(&m, "RandomNormalLike", "x", "r", 2, attr_float("mean", 1.0f),
            attr_float("scale", 2.0f));
    mb_output(&m, "r", NR_NN_F32);
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    int64_t d[1] = {100000};
    float *zeros = calloc(100000, sizeof(float));
    struct nr_nn_tensor *xin = tensor_f32(1, d, zeros), *a = NULL, *b = NULL, *c = NULL;
    const char *names[1] = {"x"};
    const struct nr_nn_tensor *ins[1] = {xin};
    CHECK_EQ(run_model(&bytes, 1, names, ins, 1, &a, 42, &err), NR_OK);
    CHECK_EQ(run_model(&bytes, 1, names, ins, 1, &b, 42, &err), NR_OK);
    CHECK_EQ(run_model(&bytes, 1, names, ins, 1, &c, 43, &err), NR_OK);
    if (a && b && c) {
        const float *pa = nr_nn_tensor_data(a), *pb = nr_nn_tensor_data(b),
                    *pc = nr_nn_tensor_data(c);
        CHECK(memcmp(pa, pb, 100000 * sizeof(float)) == 0);
        CHECK(memcmp(pa, pc, 100000 * sizeof(float)) != 0);
        double sum = 0, sq = 0;
        for (int i = 0; i < 100000; i++) {
            sum += pa[i];
            sq += (double)pa[i] * pa[i];
        }
        double mean = sum / 1e5, var = sq / 1e5 - mean * mean;
        CHECK_NEAR(mean, 1.0, 0.03); /* 3 sigma of the mean: 0.019 */
        CHECK_NEAR(sqrt(var), 2.0, 0.03);
    }
    /* a session restarts its generator each run: two runs agree */
    struct nr_nn_model *model;
    struct nr_nn_session *s;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "rnd.onnx", &model, &err), NR_OK);
    CHECK_EQ(nr_nn_session_new(model, NULL, &s, &err), NR_OK);
    nr_nn_session_set_seed(s, 42);
    struct nr_nn_tensor *r1 = NULL, *r2 = NULL;
    CHECK_EQ(nr_nn_session_run(s, names, ins, 1, NULL, &r1, 1, &err), NR_OK);
    CHECK_EQ(nr_nn_session_run(s, names, ins, 1, NULL, &r2, 1, &err), NR_OK);
    if (r1 && r2 && a) {
        CHECK(memcmp(nr_nn_tensor_data(r1), nr_nn_tensor_data(r2), 400000) == 0);
        CHECK(memcmp(nr_nn_tensor_data(r1), nr_nn_tensor_data(a), 400000) == 0);
    }
    nr_nn_tensor_free(r1);
    nr_nn_tensor_free(r2);
    nr_nn_session_free(s);
    nr_nn_model_free(model);
    nr_nn_tensor_free(a);
    nr_nn_tensor_free(b);
    nr_nn_tensor_free(c);
    nr_nn_tensor_free(xin);
    free(zeros);
    free(bytes.d);
}

/* Piper's single-speaker voices hold `sid` as an initializer; older
 * exporters also list initializers as graph inputs (then they may be fed). */
static void test_piper_inputs(void) {
    struct mb m;
    mb_init(&m, 15);
    int64_t one[1] = {1};
    mb_initializer(&m, "sid", NR_NN_I64, 1, one, (int64_t[1]){0});
    mb_initializer(&m, "bias", NR_NN_F32, 1, one, (float[1]){10});
    mb_input(&m, "input", NR_NN_I64);
    mb_input(&m, "bias", NR_NN_F32);
    mb_node(&m, "Add", "input,sid", "s", 0);
    mb_node(&m, "Cast", "s", "f", 1, attr_int("to", NR_NN_F32));
    mb_node(&m, "Add", "f,bias", "output", 0);
    mb_output(&m, "output", NR_NN_F32);
    struct pbw bytes = mb_finish(&m);
    struct nr_err err = {0};
    struct nr_nn_model *model;
    CHECK_EQ(nr_nn_model_load_mem(bytes.d, bytes.n, "p.onnx", &model, &err), NR_OK);
    CHECK_EQ(nr_nn_model_n_inputs(model), 1);
    CHECK_STR(nr_nn_model_input_name(model, 0), "input");
    CHECK(!nr_nn_model_has_input(model, "sid"));
    CHECK(nr_nn_model_has_input(model, "bias"));
    nr_nn_model_free(model);
    int64_t d[2] = {1, 2};
    struct nr_nn_tensor *in = tensor_i64(2, d, (int64_t[2]){3, 4}), *y = NULL;
    struct nr_nn_tensor *bias = tensor_f32(1, one, (float[1]){100});
    const char *names1[1] = {"input"};
    const struct nr_nn_tensor *ins1[1] = {in};
    CHECK_EQ(run_model(&bytes, 1, names1, ins1, 1, &y, 1, &err), NR_OK);
    if (y)
        CHECK_NEAR(((float *)nr_nn_tensor_data(y))[1], 14, 0);
    nr_nn_tensor_free(y);
    const char *names2[2] = {"input", "bias"};
    const struct nr_nn_tensor *ins2[2] = {in, bias};
    CHECK_EQ(run_model(&bytes, 2, names2, ins2, 1, &y, 1, &err), NR_OK);
    if (y)
        CHECK_NEAR(((float *)nr_nn_tensor_data(y))[1], 104, 0);
    nr_nn_tensor_free(y);
    const char *names3[2] = {"input", "sid"};
    CHECK_EQ(run_model(&bytes, 2, names3, ins2, 1, &y, 1, &err), NR_STATUS_INVALID_ARG);
    nr_nn_tensor_free(in);
    nr_nn_tensor_free(bias);
    free(bytes.d);
}

static void test_op_types(void) {
    struct pbw bytes = small_model();
    char path[] = "/tmp/nr_nn_ops_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, bytes.d, bytes.n) == (ssize_t)bytes.n);
    close(fd);
    struct nr_buf ops = {0};
    struct nr_err err = {0};
    CHECK_EQ(nr_nn_model_op_types(path, &ops, &err), NR_OK);
    CHECK_STR(ops.data, "Mul Add Relu");
    nr_buf_deinit(&ops);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, bytes.d, bytes.n - 3) == (ssize_t)(bytes.n - 3));
    close(fd);
    CHECK_EQ(nr_nn_model_op_types(path, &ops, &err), NR_STATUS_BAD_FORMAT);
    nr_buf_deinit(&ops);
    unlink(path);
    free(bytes.d);
}

/* Loads data and runs it the way fuzz/fuzz_onnx.c does: inputs of their
 * declared shapes (symbolic dims 2, at most 8 per dim), zero values. The
 * load must succeed and the run end in NR_OK or a clean error. */
static void run_declared(const unsigned char *data, size_t len, const char *label) {
    struct nr_err err = {0};
    struct nr_nn_model *m = NULL;
    CHECK_EQ(nr_nn_model_load_mem(data, len, label, &m, &err), NR_OK);
    if (!m)
        return;
    size_t n_in = nr_nn_model_n_inputs(m);
    struct nr_nn_tensor *ins[8] = {0}, *out = NULL;
    const char *names[8];
    for (size_t i = 0; i < n_in && i < 8; i++) {
        int64_t dims[8] = {2, 3};
        int rank = nr_nn_model_input_shape(m, i, dims);
        rank = rank < 0 ? 2 : rank;
        for (int d = 0; d < rank; d++)
            dims[d] = dims[d] < 0 ? 2 : dims[d] > 8 ? 8 : dims[d];
        names[i] = nr_nn_model_input_name(m, i);
        CHECK_EQ(nr_nn_tensor_new(nr_nn_model_input_dtype(m, i), (size_t)rank, dims, &ins[i], &err),
                 NR_OK);
    }
    struct nr_nn_session *s;
    CHECK_EQ(nr_nn_session_new(m, NULL, &s, &err), NR_OK);
    enum nr_status st = nr_nn_session_run(s, names, (const struct nr_nn_tensor *const *)ins,
                                          n_in < 8 ? n_in : 8, NULL, &out, 1, &err);
    CHECK(st == NR_OK || st == NR_STATUS_BAD_FORMAT || st == NR_STATUS_UNSUPPORTED);
    nr_nn_tensor_free(out);
    for (size_t i = 0; i < 8; i++)
        nr_nn_tensor_free(ins[i]);
    nr_nn_session_free(s);
    nr_nn_model_free(m);
}

/* Inputs that crashed the fuzzer once (fuzz/fuzz_onnx.c), kept as
 * regression cases: each must load or fail cleanly. */
static void test_fuzz_regressions(void) {
    /* an attribute holding a STRINGS list and an INTS list at once */
    static const unsigned char two_lists[] = {
        0x08, 0x07, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2d, 0x74, 0x65, 0x73,
        0x74, 0x3a, 0x96, 0x01, 0x0a, 0x38, 0x0a, 0x04, 0x64, 0x61, 0x74, 0x61, 0x12, 0x07, 0x72,
        0x65, 0x64, 0x75, 0x63, 0x65, 0x64, 0x22, 0x09, 0x52, 0x65, 0x64, 0x75, 0x63, 0x65, 0x4d,
        0x61, 0x78, 0x2a, 0x0b, 0x4a, 0x04, 0x61, 0x78, 0x65, 0x73, 0x40, 0x01, 0xa0, 0x01, 0x07,
        0x2a, 0x0f, 0x0a, 0x08, 0x6b, 0x65, 0x65, 0x70, 0x64, 0x69, 0x6d, 0x73, 0x18, 0x01, 0xa0,
        0x01, 0x02, 0x12, 0x1f, 0x74, 0x65, 0x73, 0x74, 0x5f, 0x72, 0x65, 0x64, 0x75, 0x63, 0x65,
        0x5f, 0x6d, 0x61, 0x78, 0x5f, 0x6b, 0x65, 0x65, 0x70, 0x64, 0x69, 0x6d, 0x73, 0x5f, 0x72,
        0x61, 0x6e, 0x64, 0x6f, 0x6d, 0x5a, 0x1a, 0x0a, 0x04, 0x64, 0x61, 0x74, 0x61, 0x12, 0x12,
        0x0a, 0x10, 0x08, 0x01, 0x12, 0x0c, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x02, 0x0a,
        0x02, 0x08, 0x02, 0x62, 0x1d, 0x0a, 0x07, 0x72, 0x65, 0x64, 0x75, 0x63, 0x65, 0x64, 0x12,
        0x12, 0x0a, 0x10, 0x08, 0x01, 0x12, 0x0c, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x01,
        0x0a, 0x02, 0x10, 0x0d,
    };
    struct nr_err err = {0};
    struct nr_nn_model *m = NULL;
    enum nr_status st = nr_nn_model_load_mem(two_lists, sizeof two_lists, "crash1", &m, &err);
    CHECK(st == NR_OK || st == NR_STATUS_BAD_FORMAT || st == NR_STATUS_UNSUPPORTED);
    nr_nn_model_free(m);
    /* a Conv whose input has a zero dim (x [1, 1, 0, 5]) and padding: the
     * output is the bias alone, computed without touching the empty input */
    static const unsigned char conv_empty[] = {
        0x4a, 0x00, 0x08, 0x06, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x65, 0x6b, 0x6e, 0x64, 0x2d, 0x74,
        0x65, 0x73, 0x74, 0x3a, 0xd3, 0x01, 0x0a, 0x4b, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x57, 0x12,
        0x01, 0x79, 0x22, 0x04, 0x43, 0x6f, 0x6e, 0x76, 0x2a, 0x15, 0x0a, 0x0c, 0x6b, 0x65, 0x72,
        0x6e, 0x65, 0x6c, 0x5f, 0x73, 0x68, 0x61, 0x70, 0x65, 0x40, 0x03, 0x3d, 0x03, 0xa0, 0x01,
        0x07, 0x2a, 0x11, 0x0a, 0x04, 0x70, 0x61, 0x64, 0x73, 0x40, 0x7a, 0x40, 0x00, 0x40, 0x01,
        0x40, 0x00, 0xa0, 0x01, 0x07, 0x2a, 0x10, 0x0a, 0x07, 0x73, 0x74, 0x72, 0x69, 0x64, 0x65,
        0x73, 0x40, 0x02, 0x40, 0x02, 0xa0, 0x2e, 0x07, 0x12, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x5f,
        0x63, 0x6f, 0x6e, 0x76, 0x5f, 0x77, 0x69, 0x74, 0x68, 0x5f, 0x73, 0x74, 0x72, 0x69, 0x64,
        0x65, 0x73, 0x5f, 0x61, 0x6e, 0x64, 0x5f, 0x61, 0x73, 0x79, 0x6d, 0x6d, 0x65, 0x74, 0x72,
        0x69, 0x63, 0x5f, 0x70, 0x61, 0x64, 0x64, 0x69, 0x6e, 0x67, 0x5a, 0x1b, 0x0a, 0x01, 0x78,
        0x12, 0x16, 0x0a, 0x14, 0x08, 0x01, 0x12, 0x10, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08,
        0x01, 0x0a, 0x02, 0x08, 0x00, 0x0a, 0x02, 0x08, 0x05, 0x5a, 0x1b, 0x0a, 0x01, 0x57, 0x12,
        0x16, 0x0a, 0x14, 0x08, 0x01, 0x12, 0x10, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x01,
        0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x03, 0x62, 0x1b, 0x0a, 0x01, 0x79, 0x12, 0x16,
        0x0a, 0x14, 0x08, 0x01, 0x12, 0x10, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x02, 0x08,
        0x02, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0b,
    };
    run_declared(conv_empty, sizeof conv_empty, "crash2");
    /* a Conv whose output is empty: no pointer arithmetic on its NULL data */
    static const unsigned char conv_empty_out[] = {
        0x08, 0x06, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2d, 0x74, 0x65, 0x73,
        0x74, 0x3a, 0xb3, 0x01, 0x0a, 0x39, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x57, 0x12, 0x01, 0x79,
        0x22, 0x04, 0x43, 0x6f, 0x6e, 0x76, 0x2a, 0x15, 0x0a, 0x0c, 0x6b, 0x65, 0x72, 0x6e, 0x65,
        0x6c, 0x57, 0x73, 0x68, 0x61, 0x70, 0x65, 0x40, 0x03, 0x40, 0x03, 0xa0, 0x01, 0x07, 0x2a,
        0x11, 0x0a, 0x04, 0x70, 0x61, 0x64, 0x73, 0x40, 0x00, 0x40, 0x00, 0x40, 0x00, 0x40, 0x00,
        0xa0, 0x01, 0x07, 0x12, 0x1f, 0x74, 0x65, 0x73, 0x74, 0xdf, 0x62, 0x61, 0x73, 0x69, 0x63,
        0x7f, 0x63, 0x6f, 0x6e, 0x76, 0x5f, 0x77, 0x69, 0x74, 0x68, 0x6f, 0x75, 0x74, 0x5f, 0x70,
        0x61, 0x64, 0x64, 0x69, 0x6e, 0x67, 0x5a, 0x1b, 0x0a, 0x01, 0x78, 0x12, 0x16, 0x0a, 0x14,
        0x08, 0x01, 0x12, 0x10, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08,
        0x05, 0x0a, 0x02, 0x08, 0x05, 0x5a, 0x1b, 0x0a, 0x01, 0x57, 0x12, 0x16, 0x0a, 0x14, 0x08,
        0x01, 0x12, 0x10, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x13,
        0x0a, 0x02, 0x08, 0x3d, 0x62, 0x1b, 0x0a, 0x01, 0x79, 0x12, 0x16, 0x0a, 0x00, 0x40, 0x00,
        0x40, 0x00, 0x08, 0x01, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x03, 0x42, 0x04, 0x0a,
        0x00, 0x10, 0x0b,
    };
    run_declared(conv_empty_out, sizeof conv_empty_out, "crash3");
}

int main(void) {
    test_tensor_api();
    test_tensor_proto();
    test_small_model();
    test_truncated_and_corrupt();
    test_constant_folding();
    test_peak_and_in_place();
    test_device_oom();
    test_alloc_failures();
    test_random_normal();
    test_piper_inputs();
    test_fuzz_regressions();
    test_op_types();
    return check_result("test_nn");
}
