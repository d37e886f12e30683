/* Internals of the nn module: tensors with shared storage, the parsed
 * graph, the backend interface and the op kernel signature. Never included
 * from another module. */
#ifndef NARRATE_NN_INTERNAL_H
#define NARRATE_NN_INTERNAL_H

#include <stdint.h>

#include "narrate/nn.h"

/* ---- storage and tensors ------------------------------------------------- */

struct nr__nn_backend;

/* A block of element data, shared by tensors that view it (Reshape,
 * Squeeze, Unsqueeze alias their input). refs counts the tensors holding it.
 * Storage with backend == NULL is either nr_malloc'd host memory (is_owned)
 * or borrowed memory such as weights in the mapped file (never freed). */
struct nr__nn_storage {
    void *data;
    size_t bytes;
    int refs;
    int is_owned;                   /* free data when refs drops to 0 */
    int is_const;                   /* model constant: never written, never reused in place */
    struct nr__nn_backend *backend; /* allocator that owns data, or NULL (host nr_malloc) */
};

struct nr_nn_tensor {
    enum nr_nn_dtype dtype;
    enum nr_nn_device device;
    int ndim;
    int64_t dims[NR_NN_MAX_DIMS];
    size_t numel;
    struct nr__nn_storage *st; /* NULL when numel == 0 */
    size_t offset;             /* byte offset into st->data */
};

static inline void *nr__tdata(const struct nr_nn_tensor *t) {
    return t->st ? (char *)t->st->data + t->offset : NULL;
}
static inline float *nr__tf32(const struct nr_nn_tensor *t) {
    return (float *)nr__tdata(t);
}
static inline int64_t *nr__ti64(const struct nr_nn_tensor *t) {
    return (int64_t *)nr__tdata(t);
}
static inline int32_t *nr__ti32(const struct nr_nn_tensor *t) {
    return (int32_t *)nr__tdata(t);
}
static inline uint8_t *nr__tu8(const struct nr_nn_tensor *t) {
    return (uint8_t *)nr__tdata(t);
}

/* Name of an ONNX TensorProto.DataType code ("float16", "uint8", ...). */
const char *nr__nn_onnx_dtype_name(int64_t code);

/* numel of dims, or SIZE_MAX on negative dims / overflow past 2^40 elements. */
size_t nr__nn_numel(int ndim, const int64_t *dims);

/* A tensor that borrows data (not freed): used for constants in the file. */
NR_MUST_CHECK enum nr_status nr__nn_tensor_borrow(enum nr_nn_dtype dtype, int ndim,
                                                  const int64_t *dims, void *data,
                                                  struct nr_nn_tensor **out, struct nr_err *err);
/* A new tensor header viewing t's storage with another shape (same numel). */
NR_MUST_CHECK enum nr_status nr__nn_tensor_view(const struct nr_nn_tensor *t, int ndim,
                                                const int64_t *dims, struct nr_nn_tensor **out,
                                                struct nr_err *err);
/* Parses a TensorProto; raw_data is used in place when aligned and
 * copy_always is 0. label is the path for messages. */
NR_MUST_CHECK enum nr_status nr__nn_tensor_from_proto(const uint8_t *p, size_t len,
                                                      const char *label, int copy_always,
                                                      struct nr_nn_tensor **out, char **name,
                                                      struct nr_err *err);

/* ---- backend ------------------------------------------------------------- */

struct nr__nn_exec;
struct nr__nn_node;

/* A kernel: reads in[0..n_in) (an entry is NULL for an omitted optional
 * input), allocates and fills out[0..n_out) through nr__nn_alloc. On failure
 * the outputs it made are released by the caller. */
typedef enum nr_status (*nr__nn_op_fn)(struct nr__nn_exec *x, const struct nr__nn_node *n,
                                       struct nr_nn_tensor *const *in, size_t n_in,
                                       struct nr_nn_tensor **out, size_t n_out, struct nr_err *err);

/* The table a backend fills in. Every byte of tensor data a run uses goes
 * through alloc/release, which count bytes, honour the limit and keep the
 * peak. A CUDA backend adds its own kernels and copy functions here. */
struct nr__nn_backend_ops {
    const char *name;
    enum nr_nn_device device;
    void *(*alloc)(struct nr__nn_backend *b, size_t bytes);
    void (*release)(struct nr__nn_backend *b, void *p, size_t bytes);
    nr__nn_op_fn (*find_op)(const char *op_type);
    void (*set_threads)(struct nr__nn_backend *b, int threads);
    /* returns cached free memory to the system (after each run) */
    void (*trim)(struct nr__nn_backend *b);
    void (*destroy)(struct nr__nn_backend *b);
};

struct nr__nn_backend {
    const struct nr__nn_backend_ops *ops;
    size_t limit;   /* 0 = none */
    size_t current; /* bytes held now */
    size_t peak;    /* highest current since the last reset */
    int threads;
};

NR_MUST_CHECK enum nr_status nr__nn_cpu_backend_new(const struct nr_nn_session_opts *o,
                                                    struct nr__nn_backend **out,
                                                    struct nr_err *err);
nr__nn_op_fn nr__nn_cpu_find_op(const char *op_type);

/* ---- graph --------------------------------------------------------------- */

enum nr__nn_attr_type {
    NR__ATTR_FLOAT = 1,
    NR__ATTR_INT = 2,
    NR__ATTR_STRING = 3,
    NR__ATTR_TENSOR = 4,
    NR__ATTR_GRAPH = 5,
    NR__ATTR_FLOATS = 6,
    NR__ATTR_INTS = 7,
    NR__ATTR_STRINGS = 8,
};

struct nr__nn_attr {
    char *name;
    enum nr__nn_attr_type type;
    float f;
    int64_t i;
    char *s;  /* STRING (NUL-terminated copy) */
    size_t n; /* count of the attribute type's list (FLOATS / INTS / STRINGS) */
    size_t n_floats, n_ints, n_strings; /* as read (a hostile file may give several lists) */
    float *floats;                      /* [n_floats] */
    int64_t *ints;                      /* [n_ints] */
    char **strings;                     /* [n_strings] */
    struct nr_nn_tensor *t;             /* TENSOR */
};

struct nr__nn_node {
    char *op_type;
    char *name;
    size_t n_in, n_out;
    int *in;  /* [n_in] value ids, -1 = omitted optional input */
    int *out; /* [n_out] value ids, -1 = omitted optional output */
    size_t n_attrs;
    struct nr__nn_attr *attrs;
    nr__nn_op_fn fn;  /* CPU kernel (load-time folding and the CPU backend) */
    int is_folded;    /* evaluated at load; not run */
    int is_fused;     /* merged into its consumer at load (LeakyRelu before Conv); not run */
    size_t file_idx;  /* position in the file's graph */
    int has_pre_act;  /* Conv/ConvTranspose: a LeakyRelu on input 0 was fused in */
    float pre_alpha;  /* its alpha */
    int has_residual; /* Conv: a following Add was fused in; in[3] is the residual */
};

struct nr__nn_value {
    char *name;
    struct nr_nn_tensor *constant;   /* initializer or folded value, else NULL */
    int is_input;                    /* declared graph input */
    enum nr_nn_dtype in_dtype;       /* declared input dtype (0 = unknown) */
    int in_rank;                     /* declared input rank, -1 = unknown */
    int64_t in_dims[NR_NN_MAX_DIMS]; /* declared dims, -1 = symbolic */
    int n_uses;                      /* consumers among run nodes (+ graph outputs) */
};

struct nr_nn_model {
    char *label;
    void *map; /* mmap'd file (NULL when loaded from memory) */
    size_t map_len;
    const uint8_t *bytes;
    size_t n_bytes;
    int64_t opset, ir_version;

    size_t n_values, cap_values;
    struct nr__nn_value *values;
    size_t n_nodes;
    struct nr__nn_node *nodes; /* topological order */
    size_t n_file_nodes;       /* nodes as read */
    int *inputs;               /* value ids of feedable inputs without initializer */
    size_t n_inputs;
    int *outputs; /* value ids */
    size_t n_outputs;
    int *name_map;       /* open-addressing table of value ids, -1 = empty */
    size_t name_map_cap; /* power of two */
    struct nr_nn_model_stats stats;
};

/* Bytes constant folding may allocate for one model: a hostile file must
 * not make the loader allocate without bound. */
#ifndef NR_NN_FOLD_LIMIT
#define NR_NN_FOLD_LIMIT ((size_t)2 << 30)
#endif

/* ---- execution context given to kernels ---------------------------------- */

struct nr__nn_exec {
    struct nr__nn_backend *backend; /* NULL: host nr_malloc (load-time folding) */
    uint64_t rng[4];                /* xoshiro256** state */
    int threads;
    int64_t opset;     /* the model's default-domain opset (attribute forms differ) */
    size_t host_limit; /* without a backend (constant folding): bytes it may allocate in all */
    size_t host_used;
    unsigned char *taken; /* [n_in] set by nr__nn_take_input */
    /* in-place hint: in[i] may be overwritten and given as an output */
    const unsigned char *can_reuse; /* [n_in] for the current node, or NULL */
};

/* Allocates an uninitialised tensor through the exec's allocator. */
NR_MUST_CHECK enum nr_status nr__nn_alloc(struct nr__nn_exec *x, enum nr_nn_dtype dtype, int ndim,
                                          const int64_t *dims, struct nr_nn_tensor **out,
                                          struct nr_err *err);
/* Releases a tensor header and its share of the storage. */
void nr__nn_release(struct nr_nn_tensor *t);
/* Hands in[i] to the caller as an output if the executor allows it (last
 * use, not a constant, sole owner), else NULL. */
struct nr_nn_tensor *nr__nn_take_input(struct nr__nn_exec *x, struct nr_nn_tensor *const *in,
                                       size_t i);

/* Attribute lookup (NULL when absent). */
const struct nr__nn_attr *nr__nn_attr(const struct nr__nn_node *n, const char *name);
int64_t nr__nn_attr_int(const struct nr__nn_node *n, const char *name, int64_t def);
float nr__nn_attr_float(const struct nr__nn_node *n, const char *name, float def);

/* Random normal numbers from the exec's generator. */
double nr__nn_rand_normal(struct nr__nn_exec *x);
void nr__nn_rng_seed(uint64_t s[4], uint64_t seed);

/* Value id of name in m, or -1. */
int nr__nn_model_find(const struct nr_nn_model *m, const char *name);

/* Model internals used by the session. */
NR_MUST_CHECK enum nr_status nr__nn_exec_node(struct nr__nn_exec *x, const struct nr__nn_node *n,
                                              struct nr_nn_tensor *const *in,
                                              struct nr_nn_tensor **out, struct nr_err *err);

#endif
