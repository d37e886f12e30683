/* libFuzzer target for the ONNX reader and executor. Each input is parsed
 * as a TensorProto and as a ModelProto; a model that loads is run once with
 * small inputs under a 64 MiB device-memory limit, so hostile attributes and
 * shapes reach the kernels too. Build: clang, -DNARRATE_FUZZ=ON (see
 * docs/NN.md). Any crash, sanitizer report or leak is a finding. */
#include <stdint.h>
#include <string.h>

#include "narrate/core.h"
#include "narrate/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds every listed input with a tensor of its declared shape (symbolic
 * dims 2, every dim at most 8; [2, 3] when no shape is declared) holding
 * small values, runs the graph and frees everything. */
static void run_once(const struct nr_nn_model *m) {
    struct nr_err err = {0};
    struct nr_nn_session *s;
    struct nr_nn_session_opts o;
    nr_nn_session_opts_defaults(&o);
    o.threads = 1;
    o.mem_limit = (size_t)64 << 20;
    if (nr_nn_session_new(m, &o, &s, &err) != NR_OK)
        return;
    size_t n_in = nr_nn_model_n_inputs(m), n_out = nr_nn_model_n_outputs(m);
    if (n_in > 8)
        n_in = 8;
    if (n_out > 8)
        n_out = 8;
    struct nr_nn_tensor *ins[8] = {0}, *outs[8] = {0};
    const char *names[8];
    int ok = 1;
    for (size_t i = 0; i < n_in && ok; i++) {
        int64_t dims[NR_NN_MAX_DIMS] = {2, 3};
        int rank = nr_nn_model_input_shape(m, i, dims);
        if (rank < 0)
            rank = 2;
        for (int d = 0; d < rank; d++)
            dims[d] = dims[d] < 0 ? 2 : dims[d] > 8 ? 8 : dims[d];
        names[i] = nr_nn_model_input_name(m, i);
        enum nr_nn_dtype dt = nr_nn_model_input_dtype(m, i);
        ok = nr_nn_tensor_new(dt, (size_t)rank, dims, &ins[i], &err) == NR_OK;
        size_t numel = ok ? nr_nn_tensor_numel(ins[i]) : 0;
        if (ok && dt != NR_NN_BOOL && dt != NR_NN_F32) {
            for (size_t k = 0; k < numel; k++) {
                if (dt == NR_NN_I64)
                    ((int64_t *)nr_nn_tensor_data(ins[i]))[k] = (int64_t)(k % 2);
                else
                    ((int32_t *)nr_nn_tensor_data(ins[i]))[k] = (int32_t)(k % 2);
            }
        } else if (ok && dt == NR_NN_F32) {
            for (size_t k = 0; k < numel; k++)
                ((float *)nr_nn_tensor_data(ins[i]))[k] = (float)(k % 7) * 0.25f - 0.5f;
        }
    }
    if (ok && nr_nn_session_run(s, names, (const struct nr_nn_tensor *const *)ins, n_in, NULL, outs,
                                n_out, &err) == NR_OK)
        for (size_t i = 0; i < n_out; i++)
            nr_nn_tensor_free(outs[i]);
    for (size_t i = 0; i < n_in; i++)
        nr_nn_tensor_free(ins[i]);
    nr_nn_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct nr_err err = {0};
    struct nr_nn_tensor *t = NULL;
    char *name = NULL;
    if (nr_nn_tensor_parse(data, size, "fuzz.pb", &t, &name, &err) == NR_OK) {
        nr_nn_tensor_free(t);
        nr_free(name);
    }
    nr_err_clear(&err);
    struct nr_nn_model *m = NULL;
    if (nr_nn_model_load_mem(data, size, "fuzz.onnx", &m, &err) == NR_OK) {
        run_once(m);
        nr_nn_model_free(m);
    }
    return 0;
}
