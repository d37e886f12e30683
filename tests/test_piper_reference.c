/* narrate's nn engine against ONNX Runtime on our own test voices: every
 * case in tests/data/voice/{tiny,multi}/test_data_set_* (made by
 * scripts/make-test-voice.py --refs, outputs from onnxruntime-node) must
 * have the same output shape and a relative L2 error <= 1e-4.
 *
 * Usage: test_piper_reference [THREADS [DIR...]]  (default: 1 thread, both voices) */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "narrate/core.h"
#include "narrate/nn.h"

#define MAX_RELATIVE_L2 1e-4

static double relative_l2(const float *got, const float *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        num += d * d;
        den += (double)want[i] * (double)want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void run_case(struct nr_nn_session *s, const char *dir, const char *name) {
    char path[2400];
    struct nr_err err = {0};
    struct nr_nn_tensor *in[4] = {0}, *want = NULL, *got = NULL;
    char *names[4] = {0};
    size_t n_in = 0;
    for (int i = 0; i < 4; i++) { /* input, input_lengths, scales[, sid] */
        snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, name, i);
        if (i == 3 && !nr_file_exists(path))
            break;
        CHECK(nr_nn_tensor_load(path, &in[i], &names[i], &err) == NR_OK);
        n_in++;
    }
    snprintf(path, sizeof path, "%s/%s/output_0.pb", dir, name);
    CHECK(nr_nn_tensor_load(path, &want, NULL, &err) == NR_OK);
    const char *in_names[4] = {names[0], names[1], names[2], names[3]};
    const struct nr_nn_tensor *inputs[4] = {in[0], in[1], in[2], in[3]};
    double t0 = nr_now();
    if (err.status == NR_OK &&
        nr_nn_session_run(s, in_names, inputs, n_in, NULL, &got, 1, &err) == NR_OK) {
        double ms = (nr_now() - t0) * 1e3;
        CHECK_EQ(nr_nn_tensor_ndim(got), nr_nn_tensor_ndim(want));
        int same_shape = nr_nn_tensor_ndim(got) == nr_nn_tensor_ndim(want);
        for (size_t d = 0; same_shape && d < nr_nn_tensor_ndim(got); d++)
            same_shape = nr_nn_tensor_dims(got)[d] == nr_nn_tensor_dims(want)[d];
        CHECK(same_shape);
        if (same_shape) {
            size_t n = nr_nn_tensor_numel(want);
            const float *g = nr_nn_tensor_data(got);
            double rel = relative_l2(g, nr_nn_tensor_data(want), n);
            int finite = 1;
            for (size_t i = 0; i < n; i++)
                finite &= isfinite(g[i]) != 0;
            CHECK(finite);
            printf("%s/%-18s samples %8zu  relative L2 %.3g  %s  %.1f ms\n", dir, name, n, rel,
                   rel <= MAX_RELATIVE_L2 ? "PASS" : "FAIL", ms);
            CHECK(rel <= MAX_RELATIVE_L2);
        }
    } else {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        CHECK(0);
    }
    for (int i = 0; i < 4; i++) {
        nr_nn_tensor_free(in[i]);
        nr_free(names[i]);
    }
    nr_nn_tensor_free(want);
    nr_nn_tensor_free(got);
}

static int name_cmp(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

/* Runs every case of one voice folder; returns the number of cases. */
static size_t run_voice(const char *dir, int threads) {
    char model_path[1100];
    snprintf(model_path, sizeof model_path, "%s/model.onnx", dir);
    struct nr_err err = {0};
    struct nr_nn_model *m;
    if (nr_nn_model_load(model_path, &m, &err) != NR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return 0;
    }
    struct nr_nn_model_stats st;
    nr_nn_model_stats(m, &st);
    printf("%s: %zu nodes in the file, %zu after constant folding\n", model_path, st.n_nodes_file,
           st.n_nodes_run);
    struct nr_nn_session_opts o;
    nr_nn_session_opts_defaults(&o);
    o.threads = threads;
    struct nr_nn_session *s;
    if (nr_nn_session_new(m, &o, &s, &err) != NR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        nr_nn_model_free(m);
        CHECK(0);
        return 0;
    }
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < 256;)
        if (strncmp(e->d_name, "test_data_set_", 14) == 0)
            names[n++] = nr_strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        run_case(s, dir, names[i]);
        nr_free(names[i]);
    }
    printf("%s: %zu cases, peak bytes of the last run %zu\n", dir, n, nr_nn_session_peak_bytes(s));
    nr_nn_session_free(s);
    nr_nn_model_free(m);
    return n;
}

int main(int argc, char **argv) {
    const char *src = getenv("NARRATE_SOURCE_DIR");
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2) {
        for (int i = 2; i < argc; i++)
            CHECK(run_voice(argv[i], threads) > 0);
        return check_result("test_piper_reference");
    }
    char dir[1024];
    /* tiny: B=1 with 1..6 symbols, four B=3 mixes, two text cases */
    snprintf(dir, sizeof dir, "%s/tests/data/voice/tiny", src ? src : ".");
    CHECK_EQ(run_voice(dir, threads), 12);
    /* multi (4 speakers, `sid` input): 1 and 6 symbols, a B=3 mix, one text */
    snprintf(dir, sizeof dir, "%s/tests/data/voice/multi", src ? src : ".");
    CHECK_EQ(run_voice(dir, threads), 4);
    return check_result("test_piper_reference");
}
