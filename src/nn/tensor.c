/* Tensors: headers, shared storage, and the TensorProto reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_internal.h"
#include "pb.h"

#define MAX_NUMEL ((size_t)1 << 40)

size_t nr_nn_dtype_size(enum nr_nn_dtype dtype) {
    switch (dtype) {
    case NR_NN_F32:
        return 4;
    case NR_NN_I32:
        return 4;
    case NR_NN_I64:
        return 8;
    case NR_NN_BOOL:
        return 1;
    }
    return 0;
}

const char *nr_nn_dtype_name(enum nr_nn_dtype dtype) {
    switch (dtype) {
    case NR_NN_F32:
        return "float32";
    case NR_NN_I32:
        return "int32";
    case NR_NN_I64:
        return "int64";
    case NR_NN_BOOL:
        return "bool";
    }
    return "?";
}

/* Names of the ONNX dtypes we refuse, for messages. */
const char *nr__nn_onnx_dtype_name(int64_t code) {
    static const char *const names[] = {"undefined",  "float32", "uint8",  "int8",   "uint16",
                                        "int16",      "int32",   "int64",  "string", "bool",
                                        "float16",    "double",  "uint32", "uint64", "complex64",
                                        "complex128", "bfloat16"};
    if (code >= 0 && code < (int64_t)(sizeof names / sizeof names[0]))
        return names[code];
    return "unknown";
}

size_t nr__nn_numel(int ndim, const int64_t *dims) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (uint64_t)dims[i] > MAX_NUMEL)
            return SIZE_MAX;
        if (dims[i] == 0)
            n = 0;
        else if (n > MAX_NUMEL / (size_t)dims[i])
            return SIZE_MAX;
        else
            n *= (size_t)dims[i];
    }
    return n;
}

static enum nr_status header_new(enum nr_nn_dtype dtype, int ndim, const int64_t *dims,
                                 struct nr_nn_tensor **out, struct nr_err *err) {
    *out = NULL;
    if (nr_nn_dtype_size(dtype) == 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "bad tensor dtype %d", (int)dtype);
    if (ndim < 0 || ndim > NR_NN_MAX_DIMS)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "tensor of %d dimensions (max %d)", ndim,
                          NR_NN_MAX_DIMS);
    size_t numel = nr__nn_numel(ndim, dims);
    if (numel == SIZE_MAX)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "bad tensor shape (negative or too large)");
    struct nr_nn_tensor *t = nr_calloc(1, sizeof *t);
    if (!t)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    t->dtype = dtype;
    t->device = NR_NN_DEVICE_CPU;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->numel = numel;
    *out = t;
    return NR_OK;
}

static enum nr_status host_tensor_new(enum nr_nn_dtype dtype, int ndim, const int64_t *dims,
                                      struct nr_nn_tensor **out, struct nr_err *err) {
    struct nr_nn_tensor *t;
    enum nr_status st = header_new(dtype, ndim, dims, &t, err);
    if (st != NR_OK)
        return st;
    if (t->numel > 0) {
        size_t bytes = t->numel * nr_nn_dtype_size(dtype);
        t->st = nr_calloc(1, sizeof *t->st);
        if (t->st)
            t->st->data = nr_calloc(1, bytes);
        if (!t->st || !t->st->data) {
            nr_free(t->st);
            nr_free(t);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory (tensor of %zu bytes)",
                              bytes);
        }
        t->st->bytes = bytes;
        t->st->refs = 1;
        t->st->is_owned = 1;
    }
    *out = t;
    return NR_OK;
}

enum nr_status nr_nn_tensor_new(enum nr_nn_dtype dtype, size_t ndim, const int64_t *dims,
                                struct nr_nn_tensor **out, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_tensor_new: out is NULL");
    *out = NULL;
    if (ndim > NR_NN_MAX_DIMS || (ndim > 0 && !dims))
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_tensor_new: bad ndim %zu", ndim);
    return host_tensor_new(dtype, (int)ndim, dims, out, err);
}

enum nr_status nr__nn_tensor_borrow(enum nr_nn_dtype dtype, int ndim, const int64_t *dims,
                                    void *data, struct nr_nn_tensor **out, struct nr_err *err) {
    struct nr_nn_tensor *t;
    enum nr_status st = header_new(dtype, ndim, dims, &t, err);
    if (st != NR_OK)
        return st;
    if (t->numel > 0) {
        t->st = nr_calloc(1, sizeof *t->st);
        if (!t->st) {
            nr_free(t);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        }
        t->st->data = data;
        t->st->bytes = t->numel * nr_nn_dtype_size(dtype);
        t->st->refs = 1;
        t->st->is_const = 1;
    }
    *out = t;
    return NR_OK;
}

enum nr_status nr__nn_tensor_view(const struct nr_nn_tensor *src, int ndim, const int64_t *dims,
                                  struct nr_nn_tensor **out, struct nr_err *err) {
    struct nr_nn_tensor *t;
    enum nr_status st = header_new(src->dtype, ndim, dims, &t, err);
    if (st != NR_OK)
        return st;
    NR_ASSERT(t->numel == src->numel);
    t->device = src->device;
    t->st = src->st;
    t->offset = src->offset;
    if (t->st)
        t->st->refs++;
    *out = t;
    return NR_OK;
}

void nr__nn_release(struct nr_nn_tensor *t) {
    if (!t)
        return;
    struct nr__nn_storage *s = t->st;
    if (s && --s->refs == 0) {
        if (s->backend)
            s->backend->ops->release(s->backend, s->data, s->bytes);
        else if (s->is_owned)
            nr_free(s->data);
        nr_free(s);
    }
    nr_free(t);
}

void nr_nn_tensor_free(struct nr_nn_tensor *t) {
    nr__nn_release(t);
}

void *nr_nn_tensor_data(const struct nr_nn_tensor *t) {
    return nr__tdata(t);
}
enum nr_nn_dtype nr_nn_tensor_dtype(const struct nr_nn_tensor *t) {
    return t->dtype;
}
enum nr_nn_device nr_nn_tensor_device(const struct nr_nn_tensor *t) {
    return t->device;
}
size_t nr_nn_tensor_ndim(const struct nr_nn_tensor *t) {
    return (size_t)t->ndim;
}
const int64_t *nr_nn_tensor_dims(const struct nr_nn_tensor *t) {
    return t->dims;
}
size_t nr_nn_tensor_numel(const struct nr_nn_tensor *t) {
    return t->numel;
}

/* ---- TensorProto --------------------------------------------------------- */

/* Where a TensorProto keeps its elements, found in a first pass. */
struct proto_scan {
    int64_t dims[NR_NN_MAX_DIMS];
    int ndim;
    int64_t dtype;
    const uint8_t *raw;
    size_t raw_len;
    int has_raw;
    size_t n_typed; /* elements in float_data / int32_data / int64_data */
    const uint8_t *name;
    size_t name_len;
};

static enum nr_status bad(struct nr_err *err, const char *label, const char *what) {
    return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: %s", label, what);
}

/* Adds a dim, refusing more than 8. */
static int add_dim(struct proto_scan *s, uint64_t v) {
    if (s->ndim >= NR_NN_MAX_DIMS)
        return -2;
    s->dims[s->ndim++] = (int64_t)v;
    return 0;
}

static enum nr_status scan_proto(const uint8_t *p, size_t len, const char *label,
                                 struct proto_scan *s, struct nr_err *err) {
    memset(s, 0, sizeof *s);
    struct pb r;
    struct pb_field f;
    int rc;
    pb_init(&r, p, len);
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1: /* dims */
            if (f.wire == PB_VARINT) {
                if (add_dim(s, f.v) < 0)
                    return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: tensor of more than 8 dims",
                                      label);
            } else if (f.wire == PB_LEN) {
                struct pb q;
                pb_init(&q, f.data, f.len);
                while (!pb_at_end(&q)) {
                    uint64_t v;
                    if (pb_varint(&q, &v) < 0)
                        return bad(err, label, "bad tensor dims");
                    if (add_dim(s, v) < 0)
                        return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                                          "%s: tensor of more than 8 dims", label);
                }
            } else {
                return bad(err, label, "bad tensor dims");
            }
            break;
        case 2:
            if (f.wire != PB_VARINT)
                return bad(err, label, "bad tensor data_type");
            s->dtype = (int64_t)f.v;
            break;
        case 3:
            return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: segmented tensors are not supported",
                              label);
        case 4: /* float_data */
            if (f.wire == PB_LEN) {
                if (f.len % 4)
                    return bad(err, label, "bad float_data length");
                s->n_typed += f.len / 4;
            } else if (f.wire == PB_I32) {
                s->n_typed++;
            } else {
                return bad(err, label, "bad float_data");
            }
            break;
        case 5: /* int32_data */
        case 7: /* int64_data */
            if (f.wire == PB_LEN) {
                size_t n;
                if (pb_count_packed_varints(f.data, f.len, &n) < 0)
                    return bad(err, label, "bad packed integers");
                s->n_typed += n;
            } else if (f.wire == PB_VARINT) {
                s->n_typed++;
            } else {
                return bad(err, label, "bad integer data");
            }
            break;
        case 8:
            if (f.wire != PB_LEN)
                return bad(err, label, "bad tensor name");
            s->name = f.data;
            s->name_len = f.len;
            break;
        case 9:
            if (f.wire != PB_LEN)
                return bad(err, label, "bad raw_data");
            s->raw = f.data;
            s->raw_len = f.len;
            s->has_raw = 1;
            break;
        case 13:
            return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                              "%s: tensor with external data is not supported", label);
        case 14:
            if (f.wire == PB_VARINT && f.v == 1)
                return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                                  "%s: tensor with external data is not supported", label);
            break;
        default:
            break; /* string_data, double_data, doc_string...: checked via dtype */
        }
    }
    if (rc < 0)
        return bad(err, label, "truncated or malformed tensor");
    return NR_OK;
}

/* Copies typed-field elements into dst (elements of dtype). */
static void fill_typed(const uint8_t *p, size_t len, enum nr_nn_dtype dtype, void *dst) {
    struct pb r;
    struct pb_field f;
    size_t k = 0;
    pb_init(&r, p, len);
    while (pb_next(&r, &f) > 0) {
        if (f.num == 4 && dtype == NR_NN_F32) {
            float *d = dst;
            if (f.wire == PB_LEN) {
                memcpy(d + k, f.data, f.len);
                k += f.len / 4;
            } else {
                uint32_t w = (uint32_t)f.v;
                memcpy(d + k++, &w, 4);
            }
        } else if ((f.num == 5 && (dtype == NR_NN_I32 || dtype == NR_NN_BOOL)) ||
                   (f.num == 7 && dtype == NR_NN_I64)) {
            struct pb q = {f.data, f.data};
            uint64_t v = f.v;
            int packed = f.wire == PB_LEN;
            if (packed)
                pb_init(&q, f.data, f.len);
            for (;;) {
                if (packed) {
                    if (pb_at_end(&q) || pb_varint(&q, &v) < 0)
                        break;
                }
                if (dtype == NR_NN_I64)
                    ((int64_t *)dst)[k++] = (int64_t)v;
                else if (dtype == NR_NN_I32)
                    ((int32_t *)dst)[k++] = (int32_t)(uint32_t)v;
                else
                    ((uint8_t *)dst)[k++] = v != 0;
                if (!packed)
                    break;
            }
        }
    }
}

enum nr_status nr__nn_tensor_from_proto(const uint8_t *p, size_t len, const char *label,
                                        int copy_always, struct nr_nn_tensor **out, char **name,
                                        struct nr_err *err) {
    *out = NULL;
    if (name)
        *name = NULL;
    struct proto_scan s;
    enum nr_status st = scan_proto(p, len, label, &s, err);
    if (st != NR_OK)
        return st;
    enum nr_nn_dtype dt = (enum nr_nn_dtype)s.dtype;
    if (s.dtype != NR_NN_F32 && s.dtype != NR_NN_I32 && s.dtype != NR_NN_I64 &&
        s.dtype != NR_NN_BOOL)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: unsupported tensor dtype %s (%lld)",
                          label, nr__nn_onnx_dtype_name(s.dtype), (long long)s.dtype);
    size_t numel = nr__nn_numel(s.ndim, s.dims);
    if (numel == SIZE_MAX)
        return bad(err, label, "bad tensor shape");
    size_t esz = nr_nn_dtype_size(dt);
    /* ONNX's typed fields hold bools and int32 in int32_data, int64 in int64_data. */
    if (s.has_raw) {
        if (s.raw_len != numel * esz)
            return nr_err_set(err, NR_STATUS_BAD_FORMAT,
                              "%s: raw_data holds %zu bytes, shape needs %zu", label, s.raw_len,
                              numel * esz);
    } else if (s.n_typed != numel) {
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: tensor holds %zu values, shape needs %zu",
                          label, s.n_typed, numel);
    }
    struct nr_nn_tensor *t = NULL;
    if (s.has_raw && !copy_always && ((uintptr_t)s.raw % esz) == 0 && dt != NR_NN_BOOL) {
        st = nr__nn_tensor_borrow(dt, s.ndim, s.dims, (void *)(uintptr_t)s.raw, &t, err);
    } else {
        st = host_tensor_new(dt, s.ndim, s.dims, &t, err);
        if (st == NR_OK && numel > 0) {
            if (s.has_raw) {
                memcpy(nr__tdata(t), s.raw, s.raw_len);
                if (dt == NR_NN_BOOL) {
                    uint8_t *b = nr__tu8(t);
                    for (size_t i = 0; i < numel; i++)
                        b[i] = b[i] != 0;
                }
            } else {
                fill_typed(p, len, dt, nr__tdata(t));
            }
        }
    }
    if (st != NR_OK)
        return st;
    if (name) {
        *name = s.name ? nr_strndup((const char *)s.name, s.name_len) : nr_strdup("");
        if (!*name) {
            nr__nn_release(t);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        }
    }
    *out = t;
    return NR_OK;
}

enum nr_status nr_nn_tensor_parse(const void *data, size_t len, const char *label,
                                  struct nr_nn_tensor **out, char **name, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_tensor_parse: out is NULL");
    return nr__nn_tensor_from_proto(data, len, label ? label : "tensor", 1, out, name, err);
}

enum nr_status nr_nn_tensor_load(const char *path, struct nr_nn_tensor **out, char **name,
                                 struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_nn_tensor_load: out is NULL");
    *out = NULL;
    char *buf;
    size_t len;
    enum nr_status st = nr_file_read(path, &buf, &len, err);
    if (st != NR_OK)
        return st;
    st = nr__nn_tensor_from_proto((const uint8_t *)buf, len, path, 1, out, name, err);
    nr_free(buf);
    return st;
}
