/* Times narrate's nn engine on a Piper-style voice, for bench/nn/run.sh.
 *
 *   narrate-bench-nn MODEL THREADS BATCH [PHONEMES [REPEATS]]
 *
 * Feeds the same inputs as bench/nn/ort-bench.js: item b has
 * PHONEMES - 4 + 4 * (b % 3) phonemes (B=1: PHONEMES), ids interspersed
 * with the pad as Piper does, scales [0.667, 1, 0] (noise_w 0 so that both
 * engines draw the same durations and make the same amount of audio).
 * Prints one JSON line: median and best run time, seconds of audio, peak
 * bytes of the run's values, peak RSS of the process. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "narrate/core.h"
#include "narrate/nn.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int fail(const struct nr_err *err) {
    fprintf(stderr, "narrate-bench-nn: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: narrate-bench-nn MODEL THREADS BATCH [PHONEMES [REPEATS]]\n");
        return 2;
    }
    const char *path = argv[1];
    int threads = atoi(argv[2]), batch = atoi(argv[3]);
    int phonemes = argc > 4 ? atoi(argv[4]) : 40, repeats = argc > 5 ? atoi(argv[5]) : 5;
    if (batch < 1 || batch > 64 || phonemes < 5 || phonemes > 1000 || repeats < 1 || repeats > 100)
        return 2;
    struct nr_err err = {0};
    double t_load = nr_now();
    struct nr_nn_model *m;
    if (nr_nn_model_load(path, &m, &err) != NR_OK)
        return fail(&err);
    t_load = nr_now() - t_load;
    struct nr_nn_session_opts o;
    nr_nn_session_opts_defaults(&o);
    o.threads = threads;
    o.seed = 1;
    struct nr_nn_session *s;
    if (nr_nn_session_new(m, &o, &s, &err) != NR_OK)
        return fail(&err);

    int64_t tmax = 0, lens[64];
    for (int b = 0; b < batch; b++) {
        int p = batch == 1 ? phonemes : phonemes - 4 + 4 * (b % 3);
        lens[b] = 2 * p + 2;
        if (lens[b] > tmax)
            tmax = lens[b];
    }
    int64_t dims[2] = {batch, tmax}, three = 3;
    struct nr_nn_tensor *in[3];
    if (nr_nn_tensor_new(NR_NN_I64, 2, dims, &in[0], &err) != NR_OK ||
        nr_nn_tensor_new(NR_NN_I64, 1, dims, &in[1], &err) != NR_OK ||
        nr_nn_tensor_new(NR_NN_F32, 1, &three, &in[2], &err) != NR_OK)
        return fail(&err);
    int64_t *ids = nr_nn_tensor_data(in[0]), *len = nr_nn_tensor_data(in[1]);
    for (int b = 0; b < batch; b++) {
        int64_t *row = ids + b * tmax;
        int p = (int)(lens[b] - 2) / 2;
        row[0] = 1; /* ^ */
        for (int k = 0; k < p; k++) {
            row[1 + 2 * k] = 14 + (k * 7 + b * 11) % 60;
            row[2 + 2 * k] = 0; /* _ */
        }
        row[lens[b] - 1] = 2; /* $ */
        len[b] = lens[b];
    }
    float *sc = nr_nn_tensor_data(in[2]);
    sc[0] = 0.667f;
    sc[1] = 1.0f;
    sc[2] = 0.0f;

    const char *names[3] = {"input", "input_lengths", "scales"};
    const struct nr_nn_tensor *inputs[3] = {in[0], in[1], in[2]};
    double times[101];
    size_t samples = 0;
    for (int r = 0; r <= repeats; r++) { /* run 0 warms up */
        struct nr_nn_tensor *out;
        double t0 = nr_now();
        if (nr_nn_session_run(s, names, inputs, 3, NULL, &out, 1, &err) != NR_OK)
            return fail(&err);
        times[r] = nr_now() - t0;
        samples = nr_nn_tensor_numel(out);
        nr_nn_tensor_free(out);
    }
    qsort(times + 1, (size_t)repeats, sizeof(double), cmp_double);
    struct nr_nn_model_stats st;
    nr_nn_model_stats(m, &st);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"engine\":\"narrate\",\"threads\":%d,\"batch\":%d,\"median_s\":%.6f,\"best_s\":%.6f,"
           "\"audio_s\":%.4f,\"samples\":%zu,\"load_s\":%.4f,\"peak_run_bytes\":%zu,"
           "\"weight_bytes\":%zu,\"nodes_file\":%zu,\"nodes_run\":%zu,\"max_rss_kb\":%ld}\n",
           nr_nn_session_threads(s), batch, times[1 + (repeats - 1) / 2], times[1],
           (double)samples / 22050.0, samples, t_load, nr_nn_session_peak_bytes(s), st.weight_bytes,
           st.n_nodes_file, st.n_nodes_run, ru.ru_maxrss);
    for (int i = 0; i < 3; i++)
        nr_nn_tensor_free(in[i]);
    nr_nn_session_free(s);
    nr_nn_model_free(m);
    return 0;
}
