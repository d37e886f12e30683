/* A tiny ONNX model writer for the nn tests: a protobuf encoder plus
 * helpers for nodes, attributes, initializers, inputs and outputs. Included
 * (#include "test_nn_build.c") by each nn test program; everything static.
 * Allocation failures abort: this is test scaffolding. Not every program
 * uses every helper. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "narrate/nn.h"

struct pbw {
    uint8_t *d;
    size_t n, cap;
};

static void pw_raw(struct pbw *w, const void *p, size_t len) {
    if (w->n + len > w->cap) {
        w->cap = (w->n + len) * 2 + 64;
        w->d = realloc(w->d, w->cap);
        if (!w->d)
            abort();
    }
    if (len)
        memcpy(w->d + w->n, p, len);
    w->n += len;
}

static void pw_varint(struct pbw *w, uint64_t v) {
    uint8_t b[10];
    size_t k = 0;
    do {
        b[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[k] |= 0x80;
        k++;
    } while (v);
    pw_raw(w, b, k);
}

static void pw_tag(struct pbw *w, unsigned field, unsigned wire) {
    pw_varint(w, ((uint64_t)field << 3) | wire);
}
static void pw_int(struct pbw *w, unsigned field, int64_t v) {
    pw_tag(w, field, 0);
    pw_varint(w, (uint64_t)v);
}
static void pw_float(struct pbw *w, unsigned field, float f) {
    pw_tag(w, field, 5);
    pw_raw(w, &f, 4);
}
static void pw_bytes(struct pbw *w, unsigned field, const void *p, size_t len) {
    pw_tag(w, field, 2);
    pw_varint(w, len);
    pw_raw(w, p, len);
}
static void pw_str(struct pbw *w, unsigned field, const char *s) {
    pw_bytes(w, field, s, strlen(s));
}
/* Appends sub as a length-delimited field and frees it. */
static void pw_sub(struct pbw *w, unsigned field, struct pbw *sub) {
    pw_bytes(w, field, sub->d, sub->n);
    free(sub->d);
    memset(sub, 0, sizeof *sub);
}

/* ---- TensorProto ----------------------------------------------------------- */

/* TensorProto with raw_data (elements of dtype, host order). */
static struct pbw tensor_proto(const char *name, enum nr_nn_dtype dt, int ndim, const int64_t *dims,
                               const void *data) {
    struct pbw t = {0};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        pw_int(&t, 1, dims[i]);
        n *= (size_t)dims[i];
    }
    pw_int(&t, 2, dt);
    if (name)
        pw_str(&t, 8, name);
    pw_bytes(&t, 9, data, n * nr_nn_dtype_size(dt));
    return t;
}

/* ---- attributes -------------------------------------------------------------- */

static struct pbw attr_int(const char *name, int64_t v) {
    struct pbw a = {0};
    pw_str(&a, 1, name);
    pw_int(&a, 20, 2);
    pw_int(&a, 3, v);
    return a;
}
static struct pbw attr_float(const char *name, float v) {
    struct pbw a = {0};
    pw_str(&a, 1, name);
    pw_int(&a, 20, 1);
    pw_float(&a, 2, v);
    return a;
}
static struct pbw attr_str(const char *name, const char *v) {
    struct pbw a = {0};
    pw_str(&a, 1, name);
    pw_int(&a, 20, 3);
    pw_str(&a, 4, v);
    return a;
}
static struct pbw attr_ints(const char *name, int n, const int64_t *v) {
    struct pbw a = {0};
    pw_str(&a, 1, name);
    pw_int(&a, 20, 7);
    for (int i = 0; i < n; i++)
        pw_int(&a, 8, v[i]);
    return a;
}
static struct pbw attr_tensor(const char *name, struct pbw t) {
    struct pbw a = {0};
    pw_str(&a, 1, name);
    pw_int(&a, 20, 4);
    pw_sub(&a, 5, &t);
    return a;
}

/* ---- models ------------------------------------------------------------------ */

struct mb {
    struct pbw g;
    int opset;
};

static void mb_init(struct mb *m, int opset) {
    memset(m, 0, sizeof *m);
    m->opset = opset;
    pw_str(&m->g, 2, "test");
}

/* node(m, "Add", "a,b", "c", n_attrs, attr...) ; "" in a list = omitted input */
static void mb_node(struct mb *m, const char *op, const char *ins, const char *outs, int n_attrs,
                    ...) {
    struct pbw nd = {0};
    const char *lists[2] = {ins, outs};
    for (int l = 0; l < 2; l++) {
        const char *p = lists[l];
        while (p && *p) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            pw_bytes(&nd, l == 0 ? 1 : 2, p, len);
            p = c ? c + 1 : NULL;
        }
    }
    pw_str(&nd, 3, op);
    pw_str(&nd, 4, op);
    va_list ap;
    va_start(ap, n_attrs);
    for (int i = 0; i < n_attrs; i++) {
        struct pbw a = va_arg(ap, struct pbw);
        pw_sub(&nd, 5, &a);
    }
    va_end(ap);
    pw_sub(&m->g, 1, &nd);
}

/* The same with an array of attributes. */
static void mb_node_v(struct mb *m, const char *op, const char *ins, const char *outs, int n_attrs,
                      struct pbw *attrs) {
    struct pbw nd = {0};
    const char *lists[2] = {ins, outs};
    for (int l = 0; l < 2; l++) {
        const char *p = lists[l];
        while (p && *p) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            pw_bytes(&nd, l == 0 ? 1 : 2, p, len);
            p = c ? c + 1 : NULL;
        }
    }
    pw_str(&nd, 3, op);
    pw_str(&nd, 4, op);
    for (int i = 0; i < n_attrs; i++)
        pw_sub(&nd, 5, &attrs[i]);
    pw_sub(&m->g, 1, &nd);
}

static void mb_initializer(struct mb *m, const char *name, enum nr_nn_dtype dt, int ndim,
                           const int64_t *dims, const void *data) {
    struct pbw t = tensor_proto(name, dt, ndim, dims, data);
    pw_sub(&m->g, 5, &t);
}

/* Graph input (field 11) or output (field 12) with an element type and no shape. */
static void mb_io(struct mb *m, int is_output, const char *name, enum nr_nn_dtype dt) {
    struct pbw tt = {0}, ty = {0}, vi = {0};
    pw_int(&tt, 1, dt);
    pw_sub(&ty, 1, &tt);
    pw_str(&vi, 1, name);
    pw_sub(&vi, 2, &ty);
    pw_sub(&m->g, is_output ? 12 : 11, &vi);
}
#define mb_input(m, name, dt) mb_io(m, 0, name, dt)
#define mb_output(m, name, dt) mb_io(m, 1, name, dt)

/* The ModelProto bytes (caller frees .d): ir_version, opset_import, graph last. */
static struct pbw mb_finish(struct mb *m) {
    struct pbw model = {0}, op = {0};
    pw_int(&model, 1, 8);
    pw_str(&op, 1, "");
    pw_int(&op, 2, m->opset);
    pw_sub(&model, 8, &op);
    pw_sub(&model, 7, &m->g);
    return model;
}

/* ---- running ------------------------------------------------------------------ */

static struct nr_nn_tensor *tensor_f32(int ndim, const int64_t *dims, const float *v) {
    struct nr_nn_tensor *t;
    struct nr_err err = {0};
    if (nr_nn_tensor_new(NR_NN_F32, (size_t)ndim, dims, &t, &err) != NR_OK)
        abort();
    if (nr_nn_tensor_numel(t))
        memcpy(nr_nn_tensor_data(t), v, nr_nn_tensor_numel(t) * sizeof(float));
    return t;
}

static struct nr_nn_tensor *tensor_i64(int ndim, const int64_t *dims, const int64_t *v) {
    struct nr_nn_tensor *t;
    struct nr_err err = {0};
    if (nr_nn_tensor_new(NR_NN_I64, (size_t)ndim, dims, &t, &err) != NR_OK)
        abort();
    if (nr_nn_tensor_numel(t))
        memcpy(nr_nn_tensor_data(t), v, nr_nn_tensor_numel(t) * sizeof(int64_t));
    return t;
}

/* Threads run_model's sessions use (tests run their cases at 1 and at 3). */
static int test_threads = 1;

/* Loads bytes, runs with the given inputs, returns the first n_out outputs
 * (in order of the graph's outputs). Returns the status; err gets the message. */
static enum nr_status run_model(const struct pbw *bytes, int n_in, const char *const *names,
                                const struct nr_nn_tensor *const *ins, int n_out,
                                struct nr_nn_tensor **outs, uint64_t seed, struct nr_err *err) {
    struct nr_nn_model *m = NULL;
    struct nr_nn_session *s = NULL;
    enum nr_status st = nr_nn_model_load_mem(bytes->d, bytes->n, "test.onnx", &m, err);
    if (st == NR_OK) {
        struct nr_nn_session_opts o;
        nr_nn_session_opts_defaults(&o);
        o.threads = test_threads;
        o.seed = seed;
        st = nr_nn_session_new(m, &o, &s, err);
    }
    if (st == NR_OK)
        st = nr_nn_session_run(s, names, ins, (size_t)n_in, NULL, outs, (size_t)n_out, err);
    nr_nn_session_free(s);
    nr_nn_model_free(m);
    return st;
}
