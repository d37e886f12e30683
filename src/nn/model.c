/* Models: loading (mmap + reader), validation, topological order,
 * constant folding, and the public accessors. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_internal.h"
#include "pb.h"
#include "reader.h"

int nr__nn_model_find(const struct nr_nn_model *m, const char *name) {
    struct nr__nn_reader rd = {.m = (struct nr_nn_model *)m, .err = NULL};
    return nr__nn_reader_find(&rd, name, strlen(name));
}

void nr_nn_model_free(struct nr_nn_model *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *n = &m->nodes[i];
        nr_free(n->op_type);
        nr_free(n->name);
        nr_free(n->in);
        nr_free(n->out);
        for (size_t k = 0; k < n->n_attrs; k++)
            nr__nn_attr_deinit(&n->attrs[k]);
        nr_free(n->attrs);
    }
    nr_free(m->nodes);
    for (size_t i = 0; i < m->n_values; i++) {
        nr_free(m->values[i].name);
        nr__nn_release(m->values[i].constant);
    }
    nr_free(m->values);
    nr_free(m->name_map);
    nr_free(m->inputs);
    nr_free(m->outputs);
    if (m->map)
        munmap(m->map, m->map_len);
    nr_free(m->label);
    nr_free(m);
}

/* Checks that every value is defined once and puts nodes in an order where
 * each runs after its producers (file order when it already is one). */
static enum nr_status order_nodes(struct nr_nn_model *m, struct nr_err *err) {
    enum nr_status st = NR_OK;
    int *producer = nr_malloc((m->n_values + 1) * sizeof *producer);
    int *indeg = nr_calloc(m->n_nodes + 1, sizeof *indeg);
    size_t *queue = nr_malloc((m->n_nodes + 1) * sizeof *queue);
    struct nr__nn_node *sorted = nr_malloc((m->n_nodes + 1) * sizeof *sorted);
    unsigned char *done = nr_calloc(m->n_values + 1, 1);
    if (!producer || !indeg || !queue || !sorted || !done) {
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", m->label);
        goto out;
    }
    for (size_t v = 0; v < m->n_values; v++)
        producer[v] = -1;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *n = &m->nodes[i];
        n->file_idx = i;
        for (size_t k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v < 0)
                continue;
            if (producer[v] >= 0 || m->values[v].constant || m->values[v].is_input) {
                st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: value '%s' is defined twice",
                                m->label, m->values[v].name);
                goto out;
            }
            producer[v] = (int)i;
        }
    }
    int in_order = 1;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *n = &m->nodes[i];
        for (size_t k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0 || m->values[v].constant || m->values[v].is_input)
                continue;
            if (producer[v] < 0) {
                st = nr_err_set(err, NR_STATUS_BAD_FORMAT,
                                "%s: value '%s' used by node '%s' is never defined", m->label,
                                m->values[v].name, n->name);
                goto out;
            }
            if (!done[v])
                in_order = 0;
            indeg[i]++;
        }
        for (size_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                done[n->out[k]] = 1;
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        int v = m->outputs[i];
        if (producer[v] < 0 && !m->values[v].constant && !m->values[v].is_input) {
            st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: graph output '%s' is never defined",
                            m->label, m->values[v].name);
            goto out;
        }
    }
    if (in_order)
        goto out;
    /* Kahn's algorithm; a node waits for each of its computed inputs. */
    size_t head = 0, tail = 0, n_sorted = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        if (indeg[i] == 0)
            queue[tail++] = i;
    while (head < tail) {
        size_t i = queue[head++];
        sorted[n_sorted++] = m->nodes[i];
        for (size_t k = 0; k < m->nodes[i].n_out; k++) {
            int v = m->nodes[i].out[k];
            if (v < 0)
                continue;
            /* every consumer loses one pending input per occurrence of v */
            for (size_t j = 0; j < m->n_nodes; j++)
                for (size_t q = 0; q < m->nodes[j].n_in; q++)
                    if (m->nodes[j].in[q] == v && --indeg[j] == 0)
                        queue[tail++] = j;
        }
    }
    if (n_sorted != m->n_nodes) {
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: the graph has a cycle", m->label);
        goto out;
    }
    memcpy(m->nodes, sorted, m->n_nodes * sizeof *sorted);
out:
    nr_free(producer);
    nr_free(indeg);
    nr_free(queue);
    nr_free(sorted);
    nr_free(done);
    return st;
}

/* Evaluates, once, every node whose inputs are all constants. */
static enum nr_status fold_constants(struct nr_nn_model *m, struct nr_err *err) {
    struct nr__nn_exec x = {
        .backend = NULL, .opset = m->opset, .threads = 1, .host_limit = NR_NN_FOLD_LIMIT};
    nr__nn_rng_seed(x.rng, 1);
    struct nr_nn_tensor *in[64];
    struct nr_nn_tensor *out[64];
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *n = &m->nodes[i];
        if (strcmp(n->op_type, "RandomNormalLike") == 0 || n->n_in > 64 || n->n_out > 64)
            continue;
        int all_const = 1;
        for (size_t k = 0; k < n->n_in && all_const; k++)
            if (n->in[k] >= 0 && (!m->values[n->in[k]].constant || m->values[n->in[k]].is_input))
                all_const = 0;
        if (!all_const)
            continue;
        for (size_t k = 0; k < n->n_in; k++)
            in[k] = n->in[k] >= 0 ? m->values[n->in[k]].constant : NULL;
        enum nr_status st = nr__nn_exec_node(&x, n, in, out, err);
        if (st != NR_OK)
            return st;
        for (size_t k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0) {
                nr__nn_release(out[k]);
                continue;
            }
            if (out[k]->st)
                out[k]->st->is_const = 1;
            m->values[n->out[k]].constant = out[k];
            m->stats.folded_bytes += out[k]->numel * nr_nn_dtype_size(out[k]->dtype);
        }
        n->is_folded = 1;
    }
    return NR_OK;
}

/* A LeakyRelu whose only consumer is a Conv or ConvTranspose (input 0) is
 * merged into it: the convolution applies it while copying its input into
 * the padded / im2col buffer it builds anyway, saving a pass over the data
 * and one tensor (HiFi-GAN decoders put one before every convolution). The
 * fused value can then no longer be asked for by name. */
static enum nr_status fuse_pre_activation(struct nr_nn_model *m, struct nr_err *err) {
    int *count = nr_calloc(m->n_values + 1, sizeof *count);
    int *who = nr_calloc(m->n_values + 1, sizeof *who);
    if (!count || !who) {
        nr_free(count);
        nr_free(who);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", m->label);
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct nr__nn_node *n = &m->nodes[i];
        if (n->is_folded)
            continue;
        for (size_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) {
                count[n->in[k]] += k == 0 ? 1 : 2; /* only input 0 can take the fusion */
                who[n->in[k]] = (int)i;
            }
    }
    for (size_t i = 0; i < m->n_outputs; i++)
        count[m->outputs[i]] += 2;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *l = &m->nodes[i];
        if (l->is_folded || strcmp(l->op_type, "LeakyRelu") != 0 || l->n_in != 1 || l->n_out != 1 ||
            l->in[0] < 0 || l->out[0] < 0 || count[l->out[0]] != 1)
            continue;
        struct nr__nn_node *c = &m->nodes[who[l->out[0]]];
        if ((strcmp(c->op_type, "Conv") != 0 && strcmp(c->op_type, "ConvTranspose") != 0) ||
            c->has_pre_act || c->n_in < 1 || c->in[0] != l->out[0])
            continue;
        c->in[0] = l->in[0];
        c->has_pre_act = 1;
        c->pre_alpha = nr__nn_attr_float(l, "alpha", 0.01f);
        l->is_fused = 1;
    }
    nr_free(count);
    nr_free(who);
    return NR_OK;
}

/* A Conv whose output's only consumer is an Add takes the Add's other
 * input as a residual: it starts its output from bias + residual (or writes
 * into the residual's buffer when that is its last use) and the Add is not
 * run (HiFi-GAN residual blocks end in x = conv(...) + x). Kernels check the
 * shapes at run time and fall back to a broadcasting add. The Conv's own
 * output can then no longer be requested by name. */
static enum nr_status fuse_residual(struct nr_nn_model *m, struct nr_err *err) {
    int *count = nr_calloc(m->n_values + 1, sizeof *count);
    int *who = nr_calloc(m->n_values + 1, sizeof *who);
    int *prod = nr_calloc(m->n_values + 1, sizeof *prod);
    enum nr_status st = NR_OK;
    if (!count || !who || !prod) {
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", m->label);
        goto out;
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct nr__nn_node *n = &m->nodes[i];
        if (n->is_folded || n->is_fused)
            continue;
        for (size_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) {
                count[n->in[k]]++;
                who[n->in[k]] = (int)i;
            }
    }
    for (size_t i = 0; i < m->n_outputs; i++)
        count[m->outputs[i]] += 2;
    /* who[] now names a value's (last) consumer; prod[] its producer */
    for (size_t v = 0; v < m->n_values; v++)
        prod[v] = -1;
    for (size_t i = 0; i < m->n_nodes; i++)
        for (size_t k = 0; k < m->nodes[i].n_out; k++)
            if (m->nodes[i].out[k] >= 0)
                prod[m->nodes[i].out[k]] = (int)i;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *c = &m->nodes[i];
        if (c->is_folded || c->is_fused || strcmp(c->op_type, "Conv") != 0 || c->n_out != 1 ||
            c->out[0] < 0 || c->n_in < 2 || c->n_in > 3 || count[c->out[0]] != 1)
            continue;
        struct nr__nn_node *a = &m->nodes[who[c->out[0]]];
        if (strcmp(a->op_type, "Add") != 0 || a->n_in != 2 || a->n_out != 1 || a->out[0] < 0 ||
            a->in[0] == a->in[1])
            continue;
        int res = a->in[0] == c->out[0] ? a->in[1] : a->in[0];
        /* the residual must exist when the Conv runs */
        if (res < 0 || res == c->out[0] || prod[res] > (int)i)
            continue;
        int *in = nr_realloc(c->in, 4 * sizeof *in);
        if (!in) {
            st = nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", m->label);
            goto out;
        }
        c->in = in;
        if (c->n_in == 2)
            c->in[2] = -1;
        c->in[3] = res;
        c->n_in = 4;
        c->has_residual = 1;
        c->out[0] = a->out[0];
        a->is_fused = 1;
    }
out:
    nr_free(count);
    nr_free(who);
    nr_free(prod);
    return st;
}

static enum nr_status load_common(struct nr_nn_model *m, struct nr_err *err) {
    struct nr__nn_reader rd = {.m = m, .err = err};
    enum nr_status st = nr__nn_read_model(&rd);
    if (st == NR_OK)
        st = order_nodes(m, err);
    if (st == NR_OK)
        st = fold_constants(m, err);
    if (st == NR_OK)
        st = fuse_pre_activation(m, err);
    if (st == NR_OK)
        st = fuse_residual(m, err);
    if (st != NR_OK)
        return st;
    m->stats.n_nodes_file = m->n_nodes;
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct nr__nn_node *n = &m->nodes[i];
        if (n->is_folded || n->is_fused)
            continue;
        m->stats.n_nodes_run++;
        for (size_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                m->values[n->in[k]].n_uses++;
    }
    for (size_t v = 0; v < m->n_values; v++)
        if (m->values[v].constant)
            m->stats.n_constants++;
    m->stats.opset = m->opset;
    m->stats.ir_version = m->ir_version;
    return NR_OK;
}

static struct nr_nn_model *model_new(const char *label) {
    struct nr_nn_model *m = nr_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->label = nr_strdup(label ? label : "model");
    if (!m->label) {
        nr_free(m);
        return NULL;
    }
    return m;
}

enum nr_status nr_nn_model_load_mem(const void *data, size_t len, const char *label,
                                    struct nr_nn_model **out, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_model_load_mem: out is NULL");
    *out = NULL;
    struct nr_nn_model *m = model_new(label);
    if (!m)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    m->bytes = data;
    m->n_bytes = data ? len : 0;
    enum nr_status st = load_common(m, err);
    if (st != NR_OK) {
        nr_nn_model_free(m);
        return st;
    }
    *out = m;
    return NR_OK;
}

enum nr_status nr_nn_model_load(const char *path, struct nr_nn_model **out, struct nr_err *err) {
    if (!out || !path)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_model_load: bad arguments");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return nr_err_set(err, NR_STATUS_IO, "%s: not a regular file", path);
    }
    struct nr_nn_model *m = model_new(path);
    if (!m) {
        close(fd);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    }
    if (sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            nr_nn_model_free(m);
            return nr_err_set(err, NR_STATUS_IO, "%s: mmap: %s", path, strerror(e));
        }
        m->map = p;
        m->map_len = (size_t)sb.st_size;
        m->bytes = p;
        m->n_bytes = m->map_len;
    }
    close(fd);
    enum nr_status st = load_common(m, err);
    if (st != NR_OK) {
        nr_nn_model_free(m);
        return st;
    }
    *out = m;
    return NR_OK;
}

size_t nr_nn_model_n_inputs(const struct nr_nn_model *m) {
    return m->n_inputs;
}

const char *nr_nn_model_input_name(const struct nr_nn_model *m, size_t i) {
    return i < m->n_inputs ? m->values[m->inputs[i]].name : NULL;
}

enum nr_nn_dtype nr_nn_model_input_dtype(const struct nr_nn_model *m, size_t i) {
    return i < m->n_inputs ? m->values[m->inputs[i]].in_dtype : (enum nr_nn_dtype)0;
}

int nr_nn_model_input_shape(const struct nr_nn_model *m, size_t i, int64_t *dims) {
    if (i >= m->n_inputs)
        return -1;
    const struct nr__nn_value *v = &m->values[m->inputs[i]];
    for (int k = 0; k < v->in_rank; k++)
        dims[k] = v->in_dims[k];
    return v->in_rank;
}

int nr_nn_model_has_input(const struct nr_nn_model *m, const char *name) {
    int v = nr__nn_model_find(m, name);
    return v >= 0 && m->values[v].is_input;
}

size_t nr_nn_model_n_outputs(const struct nr_nn_model *m) {
    return m->n_outputs;
}

const char *nr_nn_model_output_name(const struct nr_nn_model *m, size_t i) {
    return i < m->n_outputs ? m->values[m->outputs[i]].name : NULL;
}

const char *nr_nn_model_find_node_output(const struct nr_nn_model *m, const char *op_type, size_t k,
                                         size_t out_index) {
    /* nodes may have been reordered: rank matches by their file position */
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct nr__nn_node *n = &m->nodes[i];
        if (strcmp(n->op_type, op_type) != 0)
            continue;
        size_t rank = 0;
        for (size_t j = 0; j < m->n_nodes; j++)
            if (m->nodes[j].file_idx < n->file_idx && strcmp(m->nodes[j].op_type, op_type) == 0)
                rank++;
        if (rank == k)
            return out_index < n->n_out && n->out[out_index] >= 0
                       ? m->values[n->out[out_index]].name
                       : NULL;
    }
    return NULL;
}

void nr_nn_model_stats(const struct nr_nn_model *m, struct nr_nn_model_stats *out) {
    *out = m->stats;
}

/* Appends op (with its domain) to out unless it is already listed. */
static enum nr_status add_op(struct nr_buf *out, const uint8_t *dom, size_t dl, const uint8_t *op,
                             size_t ol) {
    char name[160];
    int is_default = dl == 0 || (dl == 7 && memcmp(dom, "ai.onnx", 7) == 0);
    int k = is_default ? snprintf(name, sizeof name, "%.*s", (int)(ol > 120 ? 120 : ol), op)
                       : snprintf(name, sizeof name, "%.*s:%.*s", (int)(dl > 32 ? 32 : dl), dom,
                                  (int)(ol > 120 ? 120 : ol), op);
    if (k <= 0)
        return NR_OK;
    for (const char *p = out->data; p && *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == strlen(name) && memcmp(p, name, len) == 0)
            return NR_OK;
        p = e ? e + 1 : p + len;
    }
    enum nr_status st = NR_OK;
    if (out->len)
        st = nr_buf_append(out, " ", 1);
    if (st == NR_OK)
        st = nr_buf_append(out, name, strlen(name));
    return st;
}

enum nr_status nr_nn_model_op_types(const char *path, struct nr_buf *out, struct nr_err *err) {
    char *data;
    size_t len;
    enum nr_status st = nr_file_read(path, &data, &len, err);
    if (st != NR_OK)
        return st;
    struct pb r, g;
    struct pb_field f, h;
    int rc = 0, rc2 = 0, found = 0;
    pb_init(&r, (const uint8_t *)data, len);
    while (st == NR_OK && (rc = pb_next(&r, &f)) > 0) {
        if (f.num != 7 || f.wire != PB_LEN)
            continue;
        found = 1;
        pb_init(&g, f.data, f.len);
        while (st == NR_OK && (rc2 = pb_next(&g, &h)) > 0) {
            if (h.num != 1 || h.wire != PB_LEN)
                continue;
            struct pb nd;
            struct pb_field k;
            const uint8_t *op = NULL, *dom = NULL;
            size_t ol = 0, dl = 0;
            pb_init(&nd, h.data, h.len);
            while ((rc2 = pb_next(&nd, &k)) > 0) {
                if (k.num == 4 && k.wire == PB_LEN) {
                    op = k.data;
                    ol = k.len;
                } else if (k.num == 7 && k.wire == PB_LEN) {
                    dom = k.data;
                    dl = k.len;
                }
            }
            if (rc2 < 0)
                break;
            if (op)
                st = add_op(out, dom, dl, op, ol);
        }
        if (rc2 < 0)
            break;
    }
    nr_free(data);
    if (st != NR_OK)
        return nr_err_set(err, st, "%s: out of memory", path);
    if (rc2 < 0 || rc < 0 || !found)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: malformed or not an ONNX model", path);
    return NR_OK;
}
