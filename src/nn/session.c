/* Sessions: the executor. Nodes run in (topological) graph order; each
 * value carries a use count and is released right after its last consumer;
 * every byte of tensor data goes through the backend allocator, which keeps
 * the peak. Kernels may take over an input's buffer for their output when
 * this node is the input's last consumer (in-place elementwise ops). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

struct nr_nn_session {
    const struct nr_nn_model *m;
    struct nr__nn_backend *backend;
    uint64_t seed;
    size_t last_peak;
    struct nr_nn_tensor **vals; /* [n_values] live tensors of the current run */
    int *uses;                  /* [n_values] remaining consumers */
    unsigned char *is_kept;     /* [n_values] requested outputs */
    unsigned char *reuse;       /* [max_in] */
    unsigned char *taken;       /* [max_in] */
    size_t max_in;
    int profile;
    size_t n_prof;
    struct nr_nn_op_profile prof[64]; /* per op type, last run */
};

/* ---- helpers for kernels --------------------------------------------------- */

enum nr_status nr__nn_alloc(struct nr__nn_exec *x, enum nr_nn_dtype dtype, int ndim,
                            const int64_t *dims, struct nr_nn_tensor **out, struct nr_err *err) {
    *out = NULL;
    if (ndim < 0 || ndim > NR_NN_MAX_DIMS)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "tensor of %d dimensions (max %d)", ndim,
                          NR_NN_MAX_DIMS);
    size_t numel = nr__nn_numel(ndim, dims);
    if (numel == SIZE_MAX)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "computed a bad shape (negative or huge)");
    struct nr_nn_tensor *t = nr_calloc(1, sizeof *t);
    if (!t)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    t->dtype = dtype;
    t->device = x->backend ? x->backend->ops->device : NR_NN_DEVICE_CPU;
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->numel = numel;
    if (numel > 0) {
        size_t bytes = numel * nr_nn_dtype_size(dtype);
        struct nr__nn_storage *s = nr_calloc(1, sizeof *s);
        if (!s) {
            nr_free(t);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        }
        if (x->backend) {
            s->data = x->backend->ops->alloc(x->backend, bytes);
            s->backend = x->backend;
        } else if (x->host_limit && bytes > x->host_limit - x->host_used) {
            s->data = NULL;
        } else {
            s->data = nr_malloc(bytes);
            s->is_owned = 1;
            x->host_used += s->data ? bytes : 0;
        }
        if (!s->data) {
            nr_free(s);
            nr_free(t);
            if (x->backend)
                return nr_err_set(err, NR_STATUS_DEVICE_OOM,
                                  "%s: out of device memory (%zu bytes more, %zu held, limit %zu)",
                                  x->backend->ops->name, bytes, x->backend->current,
                                  x->backend->limit);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory (%zu bytes)", bytes);
        }
        s->bytes = bytes;
        s->refs = 1;
        t->st = s;
    }
    *out = t;
    return NR_OK;
}

struct nr_nn_tensor *nr__nn_take_input(struct nr__nn_exec *x, struct nr_nn_tensor *const *in,
                                       size_t i) {
    if (!x->can_reuse || !x->can_reuse[i] || !in[i] || !in[i]->st || in[i]->st->refs != 1 ||
        in[i]->st->is_const || !in[i]->st->backend)
        return NULL;
    x->taken[i] = 1;
    return in[i];
}

const struct nr__nn_attr *nr__nn_attr(const struct nr__nn_node *n, const char *name) {
    for (size_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t nr__nn_attr_int(const struct nr__nn_node *n, const char *name, int64_t def) {
    const struct nr__nn_attr *a = nr__nn_attr(n, name);
    return a && a->type == NR__ATTR_INT ? a->i : def;
}

float nr__nn_attr_float(const struct nr__nn_node *n, const char *name, float def) {
    const struct nr__nn_attr *a = nr__nn_attr(n, name);
    if (a && a->type == NR__ATTR_FLOAT)
        return a->f;
    if (a && a->type == NR__ATTR_INT)
        return (float)a->i;
    return def;
}

/* ---- random numbers --------------------------------------------------------
 * The generator is fixed and documented (docs/NN.md): xoshiro256** seeded by
 * four splitmix64 steps from the seed; each normal number is one Box-Muller
 * cosine draw from two 53-bit uniforms u1 in (0,1], u2 in [0,1). */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void nr__nn_rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double nr__nn_rand_normal(struct nr__nn_exec *x) {
    double u1 = (double)((xoshiro_next(x->rng) >> 11) + 1) * 0x1.0p-53;
    double u2 = (double)(xoshiro_next(x->rng) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- one node ---------------------------------------------------------------- */

enum nr_status nr__nn_exec_node(struct nr__nn_exec *x, const struct nr__nn_node *n,
                                struct nr_nn_tensor *const *in, struct nr_nn_tensor **out,
                                struct nr_err *err) {
    for (size_t k = 0; k < n->n_out; k++)
        out[k] = NULL;
    enum nr_status st = n->fn(x, n, in, n->n_in, out, n->n_out, err);
    if (st == NR_OK) {
        for (size_t k = 0; k < n->n_out; k++)
            if (!out[k])
                st = nr_err_set(err, NR_STATUS_UNSUPPORTED,
                                "node '%s' (%s): output %zu is not produced", n->name, n->op_type,
                                k);
    }
    if (st != NR_OK) {
        for (size_t k = 0; k < n->n_out; k++) {
            /* an output that took over an input is released by the executor */
            int is_input = 0;
            for (size_t q = 0; q < n->n_in; q++)
                if (out[k] && out[k] == in[q])
                    is_input = 1;
            if (!is_input)
                nr__nn_release(out[k]);
            out[k] = NULL;
        }
    }
    return st;
}

/* ---- sessions ---------------------------------------------------------------- */

void nr_nn_session_opts_defaults(struct nr_nn_session_opts *o) {
    memset(o, 0, sizeof *o);
    o->device = NR_NN_DEVICE_CPU;
    o->threads = 0;
    o->seed = 1;
}

void nr_nn_session_free(struct nr_nn_session *s) {
    if (!s)
        return;
    if (s->backend)
        s->backend->ops->destroy(s->backend);
    nr_free(s->vals);
    nr_free(s->uses);
    nr_free(s->is_kept);
    nr_free(s->reuse);
    nr_free(s->taken);
    nr_free(s);
}

enum nr_status nr_nn_session_new(const struct nr_nn_model *m, const struct nr_nn_session_opts *o,
                                 struct nr_nn_session **out, struct nr_err *err) {
    if (!out || !m)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_session_new: bad arguments");
    *out = NULL;
    struct nr_nn_session_opts def;
    if (!o) {
        nr_nn_session_opts_defaults(&def);
        o = &def;
    }
    if (o->device != NR_NN_DEVICE_CPU)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: only the CPU backend is built",
                          m->label);
    struct nr_nn_session *s = nr_calloc(1, sizeof *s);
    if (!s)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    s->m = m;
    s->seed = o->seed;
    s->profile = o->profile;
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].n_in > s->max_in)
            s->max_in = m->nodes[i].n_in;
    s->vals = nr_calloc(m->n_values + 1, sizeof *s->vals);
    s->uses = nr_calloc(m->n_values + 1, sizeof *s->uses);
    s->is_kept = nr_calloc(m->n_values + 1, 1);
    s->reuse = nr_calloc(s->max_in + 1, 1);
    s->taken = nr_calloc(s->max_in + 1, 1);
    if (!s->vals || !s->uses || !s->is_kept || !s->reuse || !s->taken) {
        nr_nn_session_free(s);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    }
    enum nr_status st = nr__nn_cpu_backend_new(o, &s->backend, err);
    if (st != NR_OK) {
        nr_nn_session_free(s);
        return st;
    }
    *out = s;
    return NR_OK;
}

void nr_nn_session_set_seed(struct nr_nn_session *s, uint64_t seed) {
    s->seed = seed;
}
size_t nr_nn_session_peak_bytes(const struct nr_nn_session *s) {
    return s->last_peak;
}
size_t nr_nn_session_current_bytes(const struct nr_nn_session *s) {
    return s->backend->current;
}
int nr_nn_session_threads(const struct nr_nn_session *s) {
    return s->backend->threads;
}

/* Drops the run's reference to value v (constants are never released). */
static void drop_value(struct nr_nn_session *s, int v) {
    if (s->vals[v] && s->vals[v] != s->m->values[v].constant)
        nr__nn_release(s->vals[v]);
    s->vals[v] = NULL;
}

static enum nr_status bind_inputs(struct nr_nn_session *s, const char *const *in_names,
                                  const struct nr_nn_tensor *const *inputs, size_t n_in,
                                  struct nr_err *err) {
    const struct nr_nn_model *m = s->m;
    for (size_t i = 0; i < n_in; i++) {
        int v = in_names && in_names[i] ? nr__nn_model_find(m, in_names[i]) : -1;
        if (v < 0 || !m->values[v].is_input)
            return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: '%s' is not an input of the model",
                              m->label, in_names && in_names[i] ? in_names[i] : "(null)");
        const struct nr_nn_tensor *t = inputs[i];
        if (!t)
            return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: input '%s' is NULL", m->label,
                              in_names[i]);
        enum nr_nn_dtype want = m->values[v].in_dtype;
        if (want && want != t->dtype)
            return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: input '%s' must be %s, not %s",
                              m->label, in_names[i], nr_nn_dtype_name(want),
                              nr_nn_dtype_name(t->dtype));
        if (s->vals[v] && s->vals[v] != m->values[v].constant)
            return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: input '%s' is given twice", m->label,
                              in_names[i]);
        struct nr_nn_tensor *b;
        enum nr_status st = nr__nn_tensor_borrow(t->dtype, t->ndim, t->dims, nr__tdata(t), &b, err);
        if (st != NR_OK)
            return st;
        s->vals[v] = b;
    }
    for (size_t i = 0; i < m->n_inputs; i++)
        if (!s->vals[m->inputs[i]])
            return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: input '%s' is not given", m->label,
                              m->values[m->inputs[i]].name);
    return NR_OK;
}

static void profile_add(struct nr_nn_session *s, const char *op_type, double dt) {
    size_t i = 0;
    while (i < s->n_prof && strcmp(s->prof[i].op_type, op_type) != 0)
        i++;
    if (i == s->n_prof) {
        if (s->n_prof == sizeof s->prof / sizeof s->prof[0])
            return;
        s->prof[s->n_prof++] = (struct nr_nn_op_profile){.op_type = op_type};
    }
    s->prof[i].calls++;
    s->prof[i].seconds += dt;
}

static int cmp_prof(const void *a, const void *b) {
    double x = ((const struct nr_nn_op_profile *)a)->seconds;
    double y = ((const struct nr_nn_op_profile *)b)->seconds;
    return x > y ? -1 : x < y;
}

size_t nr_nn_session_profile(const struct nr_nn_session *s, struct nr_nn_op_profile *out,
                             size_t max) {
    struct nr_nn_op_profile sorted[64];
    memcpy(sorted, s->prof, s->n_prof * sizeof *sorted);
    qsort(sorted, s->n_prof, sizeof *sorted, cmp_prof);
    for (size_t i = 0; i < s->n_prof && i < max; i++)
        out[i] = sorted[i];
    return s->n_prof;
}

static enum nr_status run_nodes(struct nr_nn_session *s, struct nr__nn_exec *x,
                                struct nr_err *err) {
    const struct nr_nn_model *m = s->m;
    struct nr_nn_tensor *in[64], *out[64];
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct nr__nn_node *n = &m->nodes[i];
        if (n->is_folded || n->is_fused)
            continue;
        if (n->n_in > 64 || n->n_out > 64)
            return nr_err_set(err, NR_STATUS_UNSUPPORTED, "node '%s' has too many inputs", n->name);
        for (size_t k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            in[k] = v >= 0 ? s->vals[v] : NULL;
            if (v >= 0 && !in[k])
                return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: value '%s' is not available",
                                  m->label, m->values[v].name);
            int dup = 0;
            for (size_t q = 0; q < n->n_in; q++)
                if (q != k && n->in[q] == v)
                    dup = 1;
            s->reuse[k] = v >= 0 && s->uses[v] == 1 && !dup && !s->is_kept[v];
            s->taken[k] = 0;
        }
        x->can_reuse = s->reuse;
        x->taken = s->taken;
        double t0 = s->profile ? nr_now() : 0;
        enum nr_status st = nr__nn_exec_node(x, n, in, out, err);
        if (s->profile)
            profile_add(s, n->op_type, nr_now() - t0);
        x->can_reuse = NULL;
        for (size_t k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0)
                continue;
            if (s->taken[k])
                s->vals[v] = NULL; /* now owned by an output (or released on failure) */
            if (--s->uses[v] == 0 && !s->is_kept[v])
                drop_value(s, v);
        }
        if (st != NR_OK) {
            for (size_t k = 0; k < n->n_in; k++)
                if (s->taken[k]) {
                    int owned = 0;
                    for (size_t q = 0; q < n->n_out; q++)
                        owned |= out[q] == in[k];
                    if (!owned)
                        nr__nn_release(in[k]);
                }
            return st;
        }
        for (size_t k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v < 0 || (s->uses[v] == 0 && !s->is_kept[v]))
                nr__nn_release(out[k]);
            else
                s->vals[v] = out[k];
        }
    }
    return NR_OK;
}

enum nr_status nr_nn_session_run(struct nr_nn_session *s, const char *const *in_names,
                                 const struct nr_nn_tensor *const *inputs, size_t n_in,
                                 const char *const *out_names, struct nr_nn_tensor **outputs,
                                 size_t n_out, struct nr_err *err) {
    if (!s || (n_in && !inputs) || (n_out && !outputs))
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_session_run: bad arguments");
    const struct nr_nn_model *m = s->m;
    for (size_t i = 0; i < n_out; i++)
        outputs[i] = NULL;
    if (!out_names && n_out > m->n_outputs)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: the model has %zu outputs, not %zu",
                          m->label, m->n_outputs, n_out);
    enum nr_status st = NR_OK;
    int *out_ids = nr_malloc((n_out + 1) * sizeof *out_ids);
    if (!out_ids)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    for (size_t v = 0; v < m->n_values; v++) {
        s->vals[v] = m->values[v].constant;
        s->uses[v] = m->values[v].n_uses;
        s->is_kept[v] = 0;
    }
    for (size_t i = 0; i < n_out; i++) {
        int v =
            out_names ? (out_names[i] ? nr__nn_model_find(m, out_names[i]) : -1) : m->outputs[i];
        if (v < 0) {
            st = nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: no value named '%s'", m->label,
                            out_names[i] ? out_names[i] : "(null)");
            goto out;
        }
        out_ids[i] = v;
        s->is_kept[v] = 1;
    }
    s->backend->peak = s->backend->current;
    s->n_prof = 0;
    if (s->backend->ops->set_threads)
        s->backend->ops->set_threads(s->backend, s->backend->threads);
    if ((st = bind_inputs(s, in_names, inputs, n_in, err)) != NR_OK)
        goto out;
    struct nr__nn_exec x = {
        .backend = s->backend, .threads = s->backend->threads, .opset = m->opset};
    nr__nn_rng_seed(x.rng, s->seed);
    if ((st = run_nodes(s, &x, err)) != NR_OK)
        goto out;
    for (size_t i = 0; i < n_out; i++) {
        const struct nr_nn_tensor *t = s->vals[out_ids[i]];
        if (!t) {
            st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: value '%s' was not computed", m->label,
                            m->values[out_ids[i]].name);
            goto out;
        }
        st = nr_nn_tensor_new(t->dtype, (size_t)t->ndim, t->dims, &outputs[i], err);
        if (st != NR_OK)
            goto out;
        if (t->numel)
            memcpy(nr__tdata(outputs[i]), nr__tdata(t), t->numel * nr_nn_dtype_size(t->dtype));
    }
out:
    for (size_t v = 0; v < m->n_values; v++)
        drop_value(s, v);
    s->last_peak = s->backend->peak;
    /* a failed run (e.g. out of device memory) gives its cached blocks back */
    if (st != NR_OK && s->backend->ops->trim)
        s->backend->ops->trim(s->backend);
    if (st != NR_OK)
        for (size_t i = 0; i < n_out; i++) {
            nr_nn_tensor_free(outputs[i]);
            outputs[i] = NULL;
        }
    nr_free(out_ids);
    return st;
}
