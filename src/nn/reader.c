/* The ONNX reader: ModelProto -> GraphProto -> nodes, attributes,
 * initializers, inputs and outputs, straight from the protobuf wire format.
 * Value names are interned in a hash table; nodes refer to values by id.
 * Every length is checked (pb.h); any malformed field is NR_STATUS_BAD_FORMAT
 * naming the file, never a crash. */
#include <string.h>

#include "nn_internal.h"
#include "pb.h"
#include "reader.h"

/* ---- name -> value id ---------------------------------------------------- */

static uint64_t hash_name(const uint8_t *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int map_grow(struct nr__nn_reader *rd) {
    size_t cap = rd->m->name_map_cap ? rd->m->name_map_cap * 2 : 1024;
    int *slots = nr_malloc(cap * sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < cap; i++)
        slots[i] = -1;
    for (size_t v = 0; v < rd->m->n_values; v++) {
        const char *nm = rd->m->values[v].name;
        size_t h = (size_t)hash_name((const uint8_t *)nm, strlen(nm)) & (cap - 1);
        while (slots[h] >= 0)
            h = (h + 1) & (cap - 1);
        slots[h] = (int)v;
    }
    nr_free(rd->m->name_map);
    rd->m->name_map = slots;
    rd->m->name_map_cap = cap;
    return 0;
}

int nr__nn_reader_find(const struct nr__nn_reader *rd, const char *name, size_t len) {
    if (!rd->m->name_map_cap)
        return -1;
    size_t h = (size_t)hash_name((const uint8_t *)name, len) & (rd->m->name_map_cap - 1);
    while (rd->m->name_map[h] >= 0) {
        const char *nm = rd->m->values[rd->m->name_map[h]].name;
        if (strlen(nm) == len && memcmp(nm, name, len) == 0)
            return rd->m->name_map[h];
        h = (h + 1) & (rd->m->name_map_cap - 1);
    }
    return -1;
}

/* Returns the id of the value called name, creating it when absent; -1 on
 * allocation failure. */
static int intern(struct nr__nn_reader *rd, const uint8_t *name, size_t len) {
    int id = nr__nn_reader_find(rd, (const char *)name, len);
    if (id >= 0)
        return id;
    struct nr_nn_model *m = rd->m;
    if ((m->n_values + 1) * 2 > rd->m->name_map_cap && map_grow(rd) < 0)
        return -1;
    if (m->n_values == m->cap_values) {
        size_t cap = m->cap_values ? m->cap_values * 2 : 256;
        struct nr__nn_value *v = nr_realloc(m->values, cap * sizeof *v);
        if (!v)
            return -1;
        m->values = v;
        m->cap_values = cap;
    }
    struct nr__nn_value *v = &m->values[m->n_values];
    memset(v, 0, sizeof *v);
    v->name = nr_strndup((const char *)name, len);
    if (!v->name)
        return -1;
    size_t h = (size_t)hash_name(name, len) & (rd->m->name_map_cap - 1);
    while (rd->m->name_map[h] >= 0)
        h = (h + 1) & (rd->m->name_map_cap - 1);
    rd->m->name_map[h] = (int)m->n_values;
    return (int)m->n_values++;
}

/* ---- helpers --------------------------------------------------------------- */

static enum nr_status bad(struct nr__nn_reader *rd, const char *what) {
    return nr_err_set(rd->err, NR_STATUS_BAD_FORMAT, "%s: %s", rd->m->label, what);
}

static enum nr_status oom(struct nr__nn_reader *rd) {
    return nr_err_set(rd->err, NR_STATUS_NO_MEMORY, "%s: out of memory", rd->m->label);
}

static int str_eq(const uint8_t *p, size_t n, const char *s) {
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Appends x to a growable int64 array. */
static int push_i64(int64_t **a, size_t *n, int64_t x) {
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 4;
        int64_t *na = nr_realloc(*a, cap * sizeof *na);
        if (!na)
            return -1;
        *a = na;
    }
    (*a)[(*n)++] = x;
    return 0;
}

static int push_f32(float **a, size_t *n, float x) {
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 4;
        float *na = nr_realloc(*a, cap * sizeof *na);
        if (!na)
            return -1;
        *a = na;
    }
    (*a)[(*n)++] = x;
    return 0;
}

static int push_str(char ***a, size_t *n, const uint8_t *s, size_t len) {
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 4;
        char **na = nr_realloc(*a, cap * sizeof *na);
        if (!na)
            return -1;
        *a = na;
    }
    char *c = nr_strndup((const char *)s, len);
    if (!c)
        return -1;
    (*a)[(*n)++] = c;
    return 0;
}

static float f32_from_bits(uint32_t w) {
    float f;
    memcpy(&f, &w, 4);
    return f;
}

/* ---- attributes ------------------------------------------------------------ */

static enum nr_status parse_attr(struct nr__nn_reader *rd, const uint8_t *p, size_t len,
                                 struct nr__nn_attr *a) {
    struct pb r;
    struct pb_field f;
    int rc;
    int seen = 0; /* which value field appeared, for files without a type */
    memset(a, 0, sizeof *a);
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
            if (f.wire != PB_LEN || a->name)
                return bad(rd, "bad attribute name");
            if (!(a->name = nr_strndup((const char *)f.data, f.len)))
                return oom(rd);
            break;
        case 20:
            if (f.wire != PB_VARINT)
                return bad(rd, "bad attribute type");
            a->type = (enum nr__nn_attr_type)f.v;
            break;
        case 2:
            if (f.wire != PB_I32)
                return bad(rd, "bad float attribute");
            a->f = f32_from_bits((uint32_t)f.v);
            seen = NR__ATTR_FLOAT;
            break;
        case 3:
            if (f.wire != PB_VARINT)
                return bad(rd, "bad int attribute");
            a->i = (int64_t)f.v;
            seen = NR__ATTR_INT;
            break;
        case 4:
            if (f.wire != PB_LEN || a->s)
                return bad(rd, "bad string attribute");
            if (!(a->s = nr_strndup((const char *)f.data, f.len)))
                return oom(rd);
            seen = NR__ATTR_STRING;
            break;
        case 5: {
            if (f.wire != PB_LEN || a->t)
                return bad(rd, "bad tensor attribute");
            enum nr_status st =
                nr__nn_tensor_from_proto(f.data, f.len, rd->m->label, 0, &a->t, NULL, rd->err);
            if (st != NR_OK)
                return st;
            seen = NR__ATTR_TENSOR;
            break;
        }
        case 6:
        case 11:
            return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                              "%s: subgraphs (GRAPH attributes) are not supported", rd->m->label);
        case 7:
            if (f.wire == PB_I32) {
                if (push_f32(&a->floats, &a->n_floats, f32_from_bits((uint32_t)f.v)) < 0)
                    return oom(rd);
            } else if (f.wire == PB_LEN && f.len % 4 == 0) {
                for (size_t k = 0; k < f.len; k += 4) {
                    uint32_t w;
                    memcpy(&w, f.data + k, 4);
                    if (push_f32(&a->floats, &a->n_floats, f32_from_bits(w)) < 0)
                        return oom(rd);
                }
            } else {
                return bad(rd, "bad floats attribute");
            }
            seen = NR__ATTR_FLOATS;
            break;
        case 8:
            if (f.wire == PB_VARINT) {
                if (push_i64(&a->ints, &a->n_ints, (int64_t)f.v) < 0)
                    return oom(rd);
            } else if (f.wire == PB_LEN) {
                struct pb q;
                pb_init(&q, f.data, f.len);
                while (!pb_at_end(&q)) {
                    uint64_t v;
                    if (pb_varint(&q, &v) < 0)
                        return bad(rd, "bad ints attribute");
                    if (push_i64(&a->ints, &a->n_ints, (int64_t)v) < 0)
                        return oom(rd);
                }
            } else {
                return bad(rd, "bad ints attribute");
            }
            seen = NR__ATTR_INTS;
            break;
        case 9:
            if (f.wire != PB_LEN)
                return bad(rd, "bad strings attribute");
            if (push_str(&a->strings, &a->n_strings, f.data, f.len) < 0)
                return oom(rd);
            seen = NR__ATTR_STRINGS;
            break;
        case 10:
        case 22:
        case 23:
            return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                              "%s: tensor-list and sparse attributes are not supported",
                              rd->m->label);
        case 21:
            return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                              "%s: attribute references (functions) are not supported",
                              rd->m->label);
        default:
            break;
        }
    }
    if (rc < 0)
        return bad(rd, "truncated or malformed attribute");
    if (!a->name)
        return bad(rd, "attribute without a name");
    if (a->type == 0)
        a->type = (enum nr__nn_attr_type)seen;
    /* A type whose payload is absent reads as empty / zero, as protobuf does. */
    switch (a->type) {
    case NR__ATTR_FLOAT:
    case NR__ATTR_INT:
    case NR__ATTR_STRING:
    case NR__ATTR_FLOATS:
    case NR__ATTR_INTS:
    case NR__ATTR_STRINGS:
        break;
    case NR__ATTR_TENSOR:
        if (!a->t)
            return bad(rd, "tensor attribute without a tensor");
        break;
    case NR__ATTR_GRAPH:
        return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                          "%s: subgraphs (GRAPH attributes) are not supported", rd->m->label);
    default:
        return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED, "%s: attribute '%s' of unknown type %d",
                          rd->m->label, a->name, (int)a->type);
    }
    if (a->type == NR__ATTR_STRING && !a->s && !(a->s = nr_strdup("")))
        return oom(rd);
    a->n = a->type == NR__ATTR_FLOATS    ? a->n_floats
           : a->type == NR__ATTR_INTS    ? a->n_ints
           : a->type == NR__ATTR_STRINGS ? a->n_strings
                                         : 0;
    /* the list of the declared type must exist when a kernel reads it */
    if (a->n == 0 && a->type == NR__ATTR_INTS && !a->ints && !(a->ints = nr_malloc(8)))
        return oom(rd);
    return NR_OK;
}

void nr__nn_attr_deinit(struct nr__nn_attr *a) {
    nr_free(a->name);
    nr_free(a->s);
    nr_free(a->floats);
    nr_free(a->ints);
    for (size_t i = 0; a->strings && i < a->n_strings; i++)
        nr_free(a->strings[i]);
    nr_free(a->strings);
    nr__nn_release(a->t);
}

/* ---- nodes ----------------------------------------------------------------- */

static int push_id(int **a, size_t *n, int id) {
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 4;
        int *na = nr_realloc(*a, cap * sizeof *na);
        if (!na)
            return -1;
        *a = na;
    }
    (*a)[(*n)++] = id;
    return 0;
}

static enum nr_status parse_node(struct nr__nn_reader *rd, const uint8_t *p, size_t len,
                                 struct nr__nn_node *n) {
    struct pb r;
    struct pb_field f;
    int rc;
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num >= 1 && f.num <= 7 && f.num != 5 && f.num != 6 && f.wire != PB_LEN)
            return bad(rd, "bad node field");
        switch (f.num) {
        case 1:
        case 2: {
            int id = -1;
            if (f.len > 0 && (id = intern(rd, f.data, f.len)) < 0)
                return oom(rd);
            int rc2 = f.num == 1 ? push_id(&n->in, &n->n_in, id) : push_id(&n->out, &n->n_out, id);
            if (rc2 < 0)
                return oom(rd);
            break;
        }
        case 3:
            nr_free(n->name);
            if (!(n->name = nr_strndup((const char *)f.data, f.len)))
                return oom(rd);
            break;
        case 4:
            nr_free(n->op_type);
            if (!(n->op_type = nr_strndup((const char *)f.data, f.len)))
                return oom(rd);
            break;
        case 7:
            if (f.len && !str_eq(f.data, f.len, "ai.onnx"))
                return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                                  "%s: operator domain '%.*s' is not supported", rd->m->label,
                                  (int)(f.len > 64 ? 64 : f.len), (const char *)f.data);
            break;
        case 5: {
            if (f.wire != PB_LEN)
                return bad(rd, "bad node attribute");
            if ((n->n_attrs & (n->n_attrs - 1)) == 0) {
                size_t cap = n->n_attrs ? n->n_attrs * 2 : 4;
                struct nr__nn_attr *na = nr_realloc(n->attrs, cap * sizeof *na);
                if (!na)
                    return oom(rd);
                n->attrs = na;
            }
            struct nr__nn_attr *a = &n->attrs[n->n_attrs];
            enum nr_status st = parse_attr(rd, f.data, f.len, a);
            n->n_attrs++; /* counted even on failure so the cleanup frees its parts */
            if (st != NR_OK)
                return st;
            break;
        }
        default:
            break;
        }
    }
    if (rc < 0)
        return bad(rd, "truncated or malformed node");
    if (!n->op_type)
        return bad(rd, "node without op_type");
    if (!n->name && !(n->name = nr_strdup("")))
        return oom(rd);
    n->fn = nr__nn_cpu_find_op(n->op_type);
    if (!n->fn)
        return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED, "%s: unsupported op %s (node '%s')",
                          rd->m->label, n->op_type, n->name);
    return NR_OK;
}

/* ---- graph ----------------------------------------------------------------- */

/* TensorShapeProto (repeated dim (1): dim_value (1) or dim_param (2)) into
 * dims; -1 for a symbolic or missing size. Returns the rank, or -1 when
 * there are more than 8 dims. */
static int parse_shape(const uint8_t *p, size_t len, int64_t *dims, int *bad_out) {
    struct pb r;
    struct pb_field f;
    int rc, rank = 0;
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 1 || f.wire != PB_LEN)
            continue;
        if (rank >= NR_NN_MAX_DIMS)
            return -1;
        dims[rank] = -1;
        struct pb q;
        struct pb_field g;
        pb_init(&q, f.data, f.len);
        while ((rc = pb_next(&q, &g)) > 0)
            if (g.num == 1 && g.wire == PB_VARINT && (int64_t)g.v >= 0)
                dims[rank] = (int64_t)g.v;
        if (rc < 0)
            *bad_out = 1;
        rank++;
    }
    if (rc < 0)
        *bad_out = 1;
    return rank;
}

/* ValueInfoProto: name (1) and TypeProto (2) -> tensor_type (1) ->
 * elem_type (1), shape (2). */
static enum nr_status parse_value_info(struct nr__nn_reader *rd, const uint8_t *p, size_t len,
                                       const uint8_t **name, size_t *name_len, int64_t *elem,
                                       int *rank, int64_t *dims) {
    struct pb r;
    struct pb_field f;
    int rc, bad_shape = 0;
    *name = NULL;
    *name_len = 0;
    *elem = 0;
    *rank = -1;
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1 && f.wire == PB_LEN) {
            *name = f.data;
            *name_len = f.len;
        } else if (f.num == 2 && f.wire == PB_LEN) {
            struct pb t;
            struct pb_field g;
            pb_init(&t, f.data, f.len);
            while ((rc = pb_next(&t, &g)) > 0) {
                if (g.num == 1 && g.wire == PB_LEN) {
                    struct pb tt;
                    struct pb_field h;
                    pb_init(&tt, g.data, g.len);
                    while ((rc = pb_next(&tt, &h)) > 0) {
                        if (h.num == 1 && h.wire == PB_VARINT)
                            *elem = (int64_t)h.v;
                        else if (h.num == 2 && h.wire == PB_LEN)
                            *rank = parse_shape(h.data, h.len, dims, &bad_shape);
                    }
                    if (rc < 0)
                        return bad(rd, "malformed tensor type");
                }
            }
            if (rc < 0)
                return bad(rd, "malformed type");
        }
    }
    if (rc < 0 || bad_shape)
        return bad(rd, "malformed value info");
    if (!*name || *name_len == 0)
        return bad(rd, "graph input or output without a name");
    return NR_OK;
}

static enum nr_status parse_graph(struct nr__nn_reader *rd, const uint8_t *p, size_t len) {
    struct nr_nn_model *m = rd->m;
    struct pb r;
    struct pb_field f;
    int rc;
    enum nr_status st;
    /* Pass 1: initializers, so that inputs shadowed by them are known. */
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 15)
            return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                              "%s: sparse initializers are not supported", m->label);
        if (f.num != 5)
            continue;
        if (f.wire != PB_LEN)
            return bad(rd, "bad initializer");
        struct nr_nn_tensor *t;
        char *name;
        st = nr__nn_tensor_from_proto(f.data, f.len, m->label, 0, &t, &name, rd->err);
        if (st != NR_OK)
            return st;
        int id = name[0] ? intern(rd, (const uint8_t *)name, strlen(name)) : -2;
        nr_free(name);
        if (id == -2 || (id >= 0 && m->values[id].constant)) {
            nr__nn_release(t);
            return bad(rd, id == -2 ? "initializer without a name" : "duplicate initializer");
        }
        if (id < 0) {
            nr__nn_release(t);
            return oom(rd);
        }
        m->values[id].constant = t;
        m->stats.weight_bytes += t->numel * nr_nn_dtype_size(t->dtype);
    }
    if (rc < 0)
        return bad(rd, "truncated or malformed graph");
    /* Pass 2: inputs, nodes, outputs, in file order within each kind. */
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 11 || f.num == 12) {
            const uint8_t *nm;
            size_t nl;
            int64_t elem, dims[NR_NN_MAX_DIMS];
            int rank;
            if (f.wire != PB_LEN)
                return bad(rd, "bad graph input/output");
            if ((st = parse_value_info(rd, f.data, f.len, &nm, &nl, &elem, &rank, dims)) != NR_OK)
                return st;
            int id = intern(rd, nm, nl);
            if (id < 0)
                return oom(rd);
            struct nr__nn_value *v = &m->values[id];
            if (f.num == 11) {
                if (v->is_input)
                    return bad(rd, "duplicate graph input");
                v->is_input = 1;
                v->in_dtype = (enum nr_nn_dtype)elem;
                v->in_rank = rank;
                if (rank > 0)
                    memcpy(v->in_dims, dims, (size_t)rank * sizeof *dims);
                if (!v->constant) {
                    if (elem != NR_NN_F32 && elem != NR_NN_I64 && elem != NR_NN_I32 &&
                        elem != NR_NN_BOOL)
                        return nr_err_set(rd->err, NR_STATUS_UNSUPPORTED,
                                          "%s: input '%s' has unsupported dtype %s (%lld)",
                                          m->label, v->name, nr__nn_onnx_dtype_name(elem),
                                          (long long)elem);
                    if (push_id(&m->inputs, &m->n_inputs, id) < 0)
                        return oom(rd);
                }
            } else if (push_id(&m->outputs, &m->n_outputs, id) < 0) {
                return oom(rd);
            }
        } else if (f.num == 1) {
            if (f.wire != PB_LEN)
                return bad(rd, "bad node");
            if (m->n_nodes == rd->cap_nodes) {
                size_t cap = rd->cap_nodes ? rd->cap_nodes * 2 : 64;
                struct nr__nn_node *nn = nr_realloc(m->nodes, cap * sizeof *nn);
                if (!nn)
                    return oom(rd);
                m->nodes = nn;
                rd->cap_nodes = cap;
            }
            struct nr__nn_node *n = &m->nodes[m->n_nodes++];
            memset(n, 0, sizeof *n);
            if ((st = parse_node(rd, f.data, f.len, n)) != NR_OK)
                return st;
        }
    }
    if (rc < 0)
        return bad(rd, "truncated or malformed graph");
    if (m->n_outputs == 0)
        return bad(rd, "graph has no outputs");
    return NR_OK;
}

enum nr_status nr__nn_read_model(struct nr__nn_reader *rd) {
    struct nr_nn_model *m = rd->m;
    struct pb r;
    struct pb_field f;
    int rc;
    const uint8_t *graph = NULL;
    size_t graph_len = 0;
    int have_opset = 0;
    if (m->n_bytes == 0)
        return bad(rd, "empty file");
    pb_init(&r, m->bytes, m->n_bytes);
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1 && f.wire == PB_VARINT) {
            m->ir_version = (int64_t)f.v;
        } else if (f.num == 7) {
            if (f.wire != PB_LEN || graph)
                return bad(rd, "bad graph field");
            graph = f.data;
            graph_len = f.len;
        } else if (f.num == 8) {
            if (f.wire != PB_LEN)
                return bad(rd, "bad opset_import");
            struct pb q;
            struct pb_field g;
            int is_default = 1;
            int64_t version = 0;
            pb_init(&q, f.data, f.len);
            while ((rc = pb_next(&q, &g)) > 0) {
                if (g.num == 1 && g.wire == PB_LEN)
                    is_default = g.len == 0 || str_eq(g.data, g.len, "ai.onnx");
                else if (g.num == 2 && g.wire == PB_VARINT)
                    version = (int64_t)g.v;
            }
            if (rc < 0)
                return bad(rd, "malformed opset_import");
            if (is_default) {
                m->opset = version;
                have_opset = 1;
            }
        } else if ((f.num == 7 || f.num == 8) && f.wire != PB_LEN) {
            return bad(rd, "bad model field");
        }
    }
    if (rc < 0)
        return bad(rd, "truncated or malformed model (not an ONNX file?)");
    if (!graph)
        return bad(rd, "no graph (not an ONNX model?)");
    if (!have_opset)
        m->opset = 15; /* files without opset_import: assume the op set we target */
    if (m->opset < 1 || m->opset > 1000)
        return bad(rd, "bad opset version");
    return parse_graph(rd, graph, graph_len);
}
