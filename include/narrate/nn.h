/* narrate nn: a small ONNX inference engine (CPU backend now, CUDA later).
 *
 *   struct nr_err err = {0};
 *   struct nr_nn_model *m;
 *   if (nr_nn_model_load("voice.onnx", &m, &err) != NR_OK) ...;   // err.msg: "<path>: <what>"
 *   struct nr_nn_session_opts o;
 *   nr_nn_session_opts_defaults(&o);      // CPU, all cores, seed 1, no memory limit
 *   o.threads = 4;
 *   struct nr_nn_session *s;
 *   if (nr_nn_session_new(m, &o, &s, &err) != NR_OK) ...;
 *   int64_t dims[2] = {1, 5};
 *   struct nr_nn_tensor *ids;
 *   if (nr_nn_tensor_new(NR_NN_I64, 2, dims, &ids, &err) != NR_OK) ...;
 *   int64_t *p = nr_nn_tensor_data(ids);   // fill p[0..4]
 *   const char *in_names[1] = {"input"};
 *   const struct nr_nn_tensor *in[1] = {ids};
 *   const char *out_names[1] = {"output"};
 *   struct nr_nn_tensor *out[1];
 *   if (nr_nn_session_run(s, in_names, in, 1, out_names, out, 1, &err) != NR_OK) ...;
 *   // out[0] is a host tensor owned by the caller
 *   nr_nn_tensor_free(out[0]); nr_nn_tensor_free(ids);
 *   nr_nn_session_free(s); nr_nn_model_free(m);   // the model must outlive its sessions
 *
 * Thread safety: a loaded model is read-only and may be shared by sessions
 * on different threads; a session is used by one thread at a time. The CPU
 * backend sets OpenBLAS's thread count, which is process-wide, when a session
 * is created and before each run.
 */
#ifndef NARRATE_NN_H
#define NARRATE_NN_H

#include <stddef.h>
#include <stdint.h>

#include "narrate/core.h"

/* Element types. The values are ONNX's TensorProto.DataType codes. */
enum nr_nn_dtype {
    NR_NN_F32 = 1,
    NR_NN_I32 = 6,
    NR_NN_I64 = 7,
    NR_NN_BOOL = 9, /* one byte per element, 0 or 1 */
};

/* Where a tensor's data lives. */
enum nr_nn_device {
    NR_NN_DEVICE_CPU = 0,
    NR_NN_DEVICE_CUDA = 1, /* not built yet: sessions asking for it get NR_STATUS_UNSUPPORTED */
};

#define NR_NN_MAX_DIMS 8

struct nr_nn_model;   /* a loaded, constant-folded graph (the file is mmap'd, weights used in place)
                       */
struct nr_nn_session; /* one backend + its allocator + run state for one model */
struct nr_nn_tensor;  /* dtype, shape (<= 8 dims), data, device */

/* ---- tensors ------------------------------------------------------------- */

/* Allocates a zero-filled host tensor (nr_malloc). ndim may be 0 (a scalar,
 * one element); a dimension may be 0 (no elements). Negative dims, ndim > 8
 * or an element count that overflows are NR_STATUS_INVALID_ARG. On failure
 * *out is NULL. */
NR_MUST_CHECK enum nr_status nr_nn_tensor_new(enum nr_nn_dtype dtype, size_t ndim,
                                              const int64_t *dims, struct nr_nn_tensor **out,
                                              struct nr_err *err);
/* Frees a tensor made by this API (nr_nn_tensor_new, _load, session outputs). NULL is fine. */
void nr_nn_tensor_free(struct nr_nn_tensor *t);
/* Element data, contiguous row-major; float / int64_t / int32_t / uint8_t
 * by dtype. Host tensors only (all tensors handed out by this API are host
 * tensors). NULL only when the tensor has no elements. */
void *nr_nn_tensor_data(const struct nr_nn_tensor *t);
enum nr_nn_dtype nr_nn_tensor_dtype(const struct nr_nn_tensor *t);
enum nr_nn_device nr_nn_tensor_device(const struct nr_nn_tensor *t);
size_t nr_nn_tensor_ndim(const struct nr_nn_tensor *t);
/* Array of ndim dimensions, valid as long as the tensor. */
const int64_t *nr_nn_tensor_dims(const struct nr_nn_tensor *t);
size_t nr_nn_tensor_numel(const struct nr_nn_tensor *t);
/* Bytes of one element of dtype (4, 8, 4, 1); 0 for an unknown value. */
size_t nr_nn_dtype_size(enum nr_nn_dtype dtype);
/* "float32", "int64", "int32", "bool" or "?". */
const char *nr_nn_dtype_name(enum nr_nn_dtype dtype);

/* Reads a serialized ONNX TensorProto file (the test-case layout's
 * input_N.pb / output_N.pb) into a new host tensor. If name is not NULL,
 * *name receives the tensor's name (nr_malloc'd, possibly ""; caller frees).
 * Unsupported dtypes are NR_STATUS_UNSUPPORTED, malformed data
 * NR_STATUS_BAD_FORMAT; messages start with "<path>: ". */
NR_MUST_CHECK enum nr_status nr_nn_tensor_load(const char *path, struct nr_nn_tensor **out,
                                               char **name, struct nr_err *err);
/* The same from memory (label names the data in messages). */
NR_MUST_CHECK enum nr_status nr_nn_tensor_parse(const void *data, size_t len, const char *label,
                                                struct nr_nn_tensor **out, char **name,
                                                struct nr_err *err);

/* ---- models -------------------------------------------------------------- */

/* Loads an ONNX model: mmaps the file, parses the protobuf, checks every
 * node against the supported op set, sorts nodes topologically if needed
 * and folds constants (every node whose inputs are all constants, except
 * RandomNormalLike, is evaluated once, on the CPU).
 * Errors (message "<path>: <what>"): NR_STATUS_IO (cannot open/map),
 * NR_STATUS_BAD_FORMAT (malformed or truncated protobuf, dangling value
 * names, bad shapes), NR_STATUS_UNSUPPORTED (an op outside the op set,
 * external data, subgraphs, dtypes other than f32/i64/i32/bool),
 * NR_STATUS_NO_MEMORY. On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_nn_model_load(const char *path, struct nr_nn_model **out,
                                              struct nr_err *err);
/* The same from a buffer that the caller keeps alive and unchanged until
 * nr_nn_model_free (weights point into it). label names it in messages. */
NR_MUST_CHECK enum nr_status nr_nn_model_load_mem(const void *data, size_t len, const char *label,
                                                  struct nr_nn_model **out, struct nr_err *err);
void nr_nn_model_free(struct nr_nn_model *m);

/* The graph's inputs that the caller must feed: graph inputs without an
 * initializer of the same name (a single-speaker Piper voice holds `sid` as
 * an initializer, so it is not listed). Names are valid as long as the model. */
size_t nr_nn_model_n_inputs(const struct nr_nn_model *m);
const char *nr_nn_model_input_name(const struct nr_nn_model *m, size_t i);
enum nr_nn_dtype nr_nn_model_input_dtype(const struct nr_nn_model *m, size_t i);
/* Declared shape of input i: returns the rank and fills dims[0..rank)
 * (at most 8) with sizes, -1 for symbolic ones ("batch", "phonemes");
 * returns -1 when the file declares no shape. */
int nr_nn_model_input_shape(const struct nr_nn_model *m, size_t i, int64_t *dims);
/* 1 when name is a feedable input (a listed input, or an initializer that
 * is also declared as a graph input), else 0. */
int nr_nn_model_has_input(const struct nr_nn_model *m, const char *name);
size_t nr_nn_model_n_outputs(const struct nr_nn_model *m);
const char *nr_nn_model_output_name(const struct nr_nn_model *m, size_t i);
/* Output name `out_index` of the k-th node (0-based, graph order) whose
 * op_type is op_type, in the graph as read from the file, or NULL. Such a
 * value may be asked for in nr_nn_session_run like a graph output (Piper:
 * the durations are the output of the graph's single "Ceil" node). */
const char *nr_nn_model_find_node_output(const struct nr_nn_model *m, const char *op_type, size_t k,
                                         size_t out_index);

struct nr_nn_model_stats {
    size_t n_nodes_file; /* nodes in the file's graph */
    size_t n_nodes_run;  /* nodes left to run after constant folding */
    size_t n_constants;  /* initializers + folded values */
    size_t weight_bytes; /* bytes of initializers (in place in the mapped file, or copied when
                            misaligned) */
    size_t folded_bytes; /* bytes of values computed by constant folding */
    int64_t opset;       /* default-domain opset version from opset_import */
    int64_t ir_version;
};
void nr_nn_model_stats(const struct nr_nn_model *m, struct nr_nn_model_stats *out);

/* 1 when op_type (default ONNX domain) is in the engine's op set. */
int nr_nn_op_is_supported(const char *op_type);

/* Reads only the node op types of the ONNX file at path (no weights, no
 * checks beyond the wire format) and appends each distinct one once, in
 * order of first use, separated by single spaces, to out; ops of another
 * domain are written "domain:op". For tools that select models by op set
 * (the conformance runner). Errors as nr_nn_model_load's. */
NR_MUST_CHECK enum nr_status nr_nn_model_op_types(const char *path, struct nr_buf *out,
                                                  struct nr_err *err);

/* ---- sessions ------------------------------------------------------------ */

struct nr_nn_session_opts {
    enum nr_nn_device device; /* NR_NN_DEVICE_CPU */
    int threads;              /* 0 = all cores */
    uint64_t seed;            /* RandomNormalLike seed; the same seed gives identical outputs */
    size_t mem_limit;         /* bytes the backend allocator may hold at once; 0 = no limit */
    int profile;              /* 1: time every op type (nr_nn_session_profile) */
};
void nr_nn_session_opts_defaults(struct nr_nn_session_opts *o);

/* Creates a session on model m (borrowed: m must outlive the session).
 * Sets the thread count once. On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_nn_session_new(const struct nr_nn_model *m,
                                               const struct nr_nn_session_opts *opts,
                                               struct nr_nn_session **out, struct nr_err *err);
void nr_nn_session_free(struct nr_nn_session *s);

/* Runs the graph. in_names[i] names the value inputs[i] feeds (every input
 * listed by nr_nn_model_n_inputs must be fed; an initializer declared as a
 * graph input may be overridden). out_names[i] names a graph output or any
 * other value of the file's graph (e.g. nr_nn_model_find_node_output), except
 * values removed by fusion at load (a LeakyRelu output feeding a convolution,
 * a Conv output feeding an Add: docs/NN.md); NULL
 * means the model's first n_out outputs in order. On NR_OK outputs[i] are new
 * host tensors owned by the caller (nr_nn_tensor_free). Shapes are dynamic:
 * outputs have the shapes the computation gives, whatever the file declares.
 * Errors: NR_STATUS_INVALID_ARG (missing/unknown names, wrong input dtype),
 * NR_STATUS_BAD_FORMAT (shapes that do not fit an op at run time),
 * NR_STATUS_DEVICE_OOM (the backend allocator hit mem_limit or the device
 * is full: the session stays usable, retry with smaller inputs),
 * NR_STATUS_NO_MEMORY (host allocation failed). On failure every outputs[i]
 * is NULL and nothing needs freeing. Every run starts the random generator
 * afresh from the session's seed, so the same seed and inputs give identical
 * outputs whatever ran before (change it per batch with
 * nr_nn_session_set_seed). */
NR_MUST_CHECK enum nr_status nr_nn_session_run(struct nr_nn_session *s, const char *const *in_names,
                                               const struct nr_nn_tensor *const *inputs,
                                               size_t n_in, const char *const *out_names,
                                               struct nr_nn_tensor **outputs, size_t n_out,
                                               struct nr_err *err);
/* Sets the seed the following runs start their random generator from. */
void nr_nn_session_set_seed(struct nr_nn_session *s, uint64_t seed);
/* Peak bytes held by the backend allocator during the last run (values,
 * scratch buffers, the outputs before they are handed over); 0 before the
 * first run. Model weights are not included (see nr_nn_model_stats). */
size_t nr_nn_session_peak_bytes(const struct nr_nn_session *s);
/* Bytes the backend allocator holds right now (0 between runs). */
size_t nr_nn_session_current_bytes(const struct nr_nn_session *s);
/* Threads the session uses (resolved: never 0). */
int nr_nn_session_threads(const struct nr_nn_session *s);

/* Time spent per op type in the last run (opts.profile = 1). */
struct nr_nn_op_profile {
    const char *op_type; /* valid as long as the model */
    size_t calls;
    double seconds;
};
/* Fills out[0..min(max, count)) with the last run's op types, most time
 * first, and returns count (0 when profiling is off). */
size_t nr_nn_session_profile(const struct nr_nn_session *s, struct nr_nn_op_profile *out,
                             size_t max);

#endif
