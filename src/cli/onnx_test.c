/* `narrate onnx-test`: runs ONNX test cases (ONNX's own layout: model.onnx
 * plus test_data_set_N/input_N.pb and output_N.pb) on our engine and
 * compares every output. One line per case; the last line is
 * "N passed, M failed"; the exit code is 1 when any case failed.
 *
 * A DIR that holds no model.onnx is treated as a folder of cases (e.g.
 * /usr/share/libonnx-testdata/data/node). With --only-supported, cases whose
 * model the engine refuses as unsupported (ops outside the op set, dtypes
 * other than float32/int64/int32/bool, ...) are reported as SKIP with the
 * reason and do not count as failures. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "narrate/core.h"
#include "narrate/nn.h"

#define MAX_IO 64

struct opts {
    int threads;
    double rtol, atol;
    int only_supported;
    int min_pass; /* fail the run when fewer cases pass (guards against silent skips) */
};

struct tally {
    int passed, failed;
    int outside; /* cases with ops outside the op set (--only-supported) */
    int skipped; /* cases inside the op set the engine refuses (dtypes, subgraphs, ...) */
};

/* With --only-supported: 1 when every node's op is in the engine's op set;
 * else 0 and why names the others. */
static int ops_supported(const char *model, char *why, size_t why_len) {
    struct nr_buf ops = {0};
    struct nr_err err = {0};
    if (nr_nn_model_op_types(model, &ops, &err) != NR_OK) {
        nr_buf_deinit(&ops);
        return 1; /* let the load report the problem */
    }
    int ok = 1;
    size_t k = 0;
    for (char *p = ops.data; p && *p;) {
        char *e = strchr(p, ' ');
        if (e)
            *e = '\0';
        if (!nr_nn_op_is_supported(p)) {
            if (ok)
                k += (size_t)snprintf(why, why_len, "ops outside the op set:");
            ok = 0;
            if (k < why_len)
                k += (size_t)snprintf(why + k, why_len - k, " %s", p);
        }
        p = e ? e + 1 : p + strlen(p);
    }
    nr_buf_deinit(&ops);
    return ok;
}

/* snprintf into a path buffer; returns -1 when the result does not fit. */
static int path_fmt(char *buf, size_t n, const char *fmt, ...) NR_PRINTF(3, 4);
static int path_fmt(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that start with prefix (NULL entries on failure).
 * Caller frees each name and the array. */
static char **list_dir(const char *dir, const char *prefix, size_t *count) {
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = nr_realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[*count] = nr_strdup(e->d_name)))
            break;
        (*count)++;
    }
    closedir(d);
    if (names)
        qsort(names, *count, sizeof *names, cmp_str);
    return names;
}

static void free_list(char **names, size_t count) {
    for (size_t i = 0; i < count; i++)
        nr_free(names[i]);
    nr_free(names);
}

/* Compares got with want; returns 1 when they match. *max_err gets the
 * largest absolute difference; why explains a mismatch. */
static int compare(const struct nr_nn_tensor *got, const struct nr_nn_tensor *want,
                   const struct opts *o, double *max_err, char *why, size_t why_len) {
    if (nr_nn_tensor_dtype(got) != nr_nn_tensor_dtype(want)) {
        snprintf(why, why_len, "dtype %s, expected %s", nr_nn_dtype_name(nr_nn_tensor_dtype(got)),
                 nr_nn_dtype_name(nr_nn_tensor_dtype(want)));
        return 0;
    }
    size_t nd = nr_nn_tensor_ndim(got);
    const int64_t *gd = nr_nn_tensor_dims(got), *wd = nr_nn_tensor_dims(want);
    int same = nd == nr_nn_tensor_ndim(want);
    for (size_t i = 0; same && i < nd; i++)
        same = gd[i] == wd[i];
    if (!same) {
        int k = snprintf(why, why_len, "shape [");
        for (size_t i = 0; i < nd && k < (int)why_len; i++)
            k += snprintf(why + k, why_len - (size_t)k, "%s%lld", i ? "," : "", (long long)gd[i]);
        if (k < (int)why_len)
            k += snprintf(why + k, why_len - (size_t)k, "], expected [");
        for (size_t i = 0; i < nr_nn_tensor_ndim(want) && k < (int)why_len; i++)
            k += snprintf(why + k, why_len - (size_t)k, "%s%lld", i ? "," : "", (long long)wd[i]);
        if (k < (int)why_len)
            snprintf(why + k, why_len - (size_t)k, "]");
        return 0;
    }
    size_t cnt = nr_nn_tensor_numel(got);
    const void *g = nr_nn_tensor_data(got), *w = nr_nn_tensor_data(want);
    int ok = 1;
    for (size_t i = 0; i < cnt; i++) {
        double a, b;
        switch (nr_nn_tensor_dtype(got)) {
        case NR_NN_F32:
            a = ((const float *)g)[i];
            b = ((const float *)w)[i];
            break;
        case NR_NN_I64:
            a = (double)((const int64_t *)g)[i];
            b = (double)((const int64_t *)w)[i];
            break;
        case NR_NN_I32:
            a = ((const int32_t *)g)[i];
            b = ((const int32_t *)w)[i];
            break;
        default:
            a = ((const uint8_t *)g)[i] != 0;
            b = ((const uint8_t *)w)[i] != 0;
            break;
        }
        if (isnan(a) && isnan(b))
            continue;
        if (isinf(a) && isinf(b) && (a > 0) == (b > 0))
            continue;
        double d = fabs(a - b);
        if (!(d <= *max_err))
            *max_err = isnan(d) ? INFINITY : d;
        double tol = nr_nn_tensor_dtype(got) == NR_NN_F32 ? o->atol + o->rtol * fabs(b) : 0.0;
        if (!(d <= tol)) {
            if (ok)
                snprintf(why, why_len, "element %zu: %.9g, expected %.9g", i, a, b);
            ok = 0;
        }
    }
    return ok;
}

/* Runs one data set of a case. Returns 1 pass, 0 fail, -1 skip (reason in why). */
static int run_data_set(struct nr_nn_session *s, const struct nr_nn_model *m, const char *dir,
                        const struct opts *o, double *max_err, double *ms, char *why,
                        size_t why_len) {
    struct nr_err err = {0};
    size_t n_in_files, n_out_files;
    char **in_files = list_dir(dir, "input_", &n_in_files);
    char **out_files = list_dir(dir, "output_", &n_out_files);
    struct nr_nn_tensor *ins[MAX_IO] = {0}, *wants[MAX_IO] = {0}, *gots[MAX_IO] = {0};
    char *in_names[MAX_IO] = {0}, *out_names[MAX_IO] = {0};
    int result = 0;
    if (n_in_files > MAX_IO || n_out_files > MAX_IO || n_out_files == 0) {
        snprintf(why, why_len, "bad data set (%zu inputs, %zu outputs)", n_in_files, n_out_files);
        goto out;
    }
    /* input_N.pb: files sort as input_0, input_1, ... input_10: order by N */
    for (size_t i = 0; i < n_in_files + n_out_files; i++) {
        int is_in = i < n_in_files;
        size_t k = is_in ? i : i - n_in_files;
        char path[4096];
        path_fmt(path, sizeof path, "%s/%s_%zu.pb", dir, is_in ? "input" : "output", k);
        char *name = NULL;
        struct nr_nn_tensor *t;
        enum nr_status st = nr_nn_tensor_load(path, &t, &name, &err);
        if (st != NR_OK) {
            snprintf(why, why_len, "%s", err.msg);
            result = st == NR_STATUS_UNSUPPORTED ? -1 : 0;
            goto out;
        }
        if (is_in) {
            ins[k] = t;
            in_names[k] = name;
        } else {
            wants[k] = t;
            out_names[k] = name;
        }
    }
    /* unnamed tensors feed the model's inputs / outputs in order */
    for (size_t k = 0; k < n_in_files; k++)
        if (!in_names[k][0] && k < nr_nn_model_n_inputs(m)) {
            nr_free(in_names[k]);
            in_names[k] = nr_strdup(nr_nn_model_input_name(m, k));
        }
    for (size_t k = 0; k < n_out_files; k++)
        if (!out_names[k][0] && k < nr_nn_model_n_outputs(m)) {
            nr_free(out_names[k]);
            out_names[k] = nr_strdup(nr_nn_model_output_name(m, k));
        }
    double t0 = nr_now();
    enum nr_status st =
        nr_nn_session_run(s, (const char *const *)in_names, (const struct nr_nn_tensor *const *)ins,
                          n_in_files, (const char *const *)out_names, gots, n_out_files, &err);
    *ms += (nr_now() - t0) * 1000.0;
    if (st != NR_OK) {
        snprintf(why, why_len, "%s", err.msg);
        result = st == NR_STATUS_UNSUPPORTED ? -1 : 0;
        goto out;
    }
    result = 1;
    for (size_t k = 0; k < n_out_files; k++) {
        char w[256];
        if (!compare(gots[k], wants[k], o, max_err, w, sizeof w)) {
            if (result)
                snprintf(why, why_len, "output %zu (%s): %s", k, out_names[k], w);
            result = 0;
        }
    }
out:
    for (size_t k = 0; k < MAX_IO; k++) {
        nr_nn_tensor_free(ins[k]);
        nr_nn_tensor_free(wants[k]);
        nr_nn_tensor_free(gots[k]);
        nr_free(in_names[k]);
        nr_free(out_names[k]);
    }
    free_list(in_files, n_in_files);
    free_list(out_files, n_out_files);
    return result;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    while (s && s[1] == '\0' && s > p) { /* trailing slash */
        const char *q = s - 1;
        while (q > p && *q != '/')
            q--;
        return *q == '/' ? q + 1 : q;
    }
    return s ? s + 1 : p;
}

static void run_case(const char *dir, const struct opts *o, struct tally *t) {
    char path[4096], why[768] = "";
    const char *name = base_name(dir);
    path_fmt(path, sizeof path, "%s/model.onnx", dir);
    struct nr_err err = {0};
    struct nr_nn_model *m = NULL;
    struct nr_nn_session *s = NULL;
    double max_err = 0, ms = 0;
    int result = 0;
    if (o->only_supported && !ops_supported(path, why, sizeof why)) {
        t->outside++;
        printf("%-64s SKIP  %s\n", name, why);
        return;
    }
    enum nr_status st = nr_nn_model_load(path, &m, &err);
    if (st != NR_OK) {
        snprintf(why, sizeof why, "%s", err.msg);
        result = st == NR_STATUS_UNSUPPORTED ? -1 : 0;
        goto report;
    }
    struct nr_nn_session_opts so;
    nr_nn_session_opts_defaults(&so);
    so.threads = o->threads;
    if ((st = nr_nn_session_new(m, &so, &s, &err)) != NR_OK) {
        snprintf(why, sizeof why, "%s", err.msg);
        goto report;
    }
    size_t n_sets;
    char **sets = list_dir(dir, "test_data_set_", &n_sets);
    result = n_sets ? 1 : 0;
    if (!n_sets)
        snprintf(why, sizeof why, "no test_data_set_* folders");
    for (size_t i = 0; i < n_sets && result == 1; i++) {
        char sd[4096];
        path_fmt(sd, sizeof sd, "%s/%s", dir, sets[i]);
        result = run_data_set(s, m, sd, o, &max_err, &ms, why, sizeof why);
    }
    free_list(sets, n_sets);
report:
    if (result < 0 && !o->only_supported)
        result = 0;
    if (result == 1) {
        t->passed++;
        printf("%-64s PASS  max_abs_err %-10.3g %9.3f ms\n", name, max_err, ms);
    } else if (result < 0) {
        t->skipped++;
        printf("%-64s SKIP  %s\n", name, why);
    } else {
        t->failed++;
        printf("%-64s FAIL  max_abs_err %-10.3g %9.3f ms  %s\n", name, max_err, ms, why);
    }
    fflush(stdout);
    nr_nn_session_free(s);
    nr_nn_model_free(m);
}

static void run_path(const char *dir, const struct opts *o, struct tally *t) {
    char path[4096];
    path_fmt(path, sizeof path, "%s/model.onnx", dir);
    if (nr_file_exists(path)) {
        run_case(dir, o, t);
        return;
    }
    size_t n;
    char **subs = list_dir(dir, "", &n);
    if (!subs || n == 0) {
        printf("%-64s FAIL  no model.onnx and no test cases\n", dir);
        t->failed++;
    }
    for (size_t i = 0; i < n; i++) {
        char sub[4096];
        path_fmt(sub, sizeof sub, "%s/%s", dir, subs[i]);
        if (is_dir(sub))
            run_path(sub, o, t);
    }
    free_list(subs, n);
}

static int usage(void) {
    fprintf(stderr, "usage: narrate onnx-test [--threads N] [--rtol R] [--atol A] "
                    "[--only-supported] [--min-pass N] DIR...\n"
                    "  DIR is a test case (model.onnx + test_data_set_*/) or a folder of them.\n"
                    "  --only-supported  skip cases with ops outside the engine's op set, and\n"
                    "                    cases it refuses as unsupported (dtypes, subgraphs)\n"
                    "  --min-pass N      also fail when fewer than N cases pass\n");
    return 2;
}

int nr_cli_onnx_test(int argc, char **argv) {
    struct opts o = {.threads = 0, .rtol = 1e-4, .atol = 1e-5};
    int first = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "--threads") && i + 1 < argc) {
            o.threads = (int)strtol(argv[++i], &end, 10);
            if (*end || o.threads < 0)
                return usage();
        } else if (!strcmp(a, "--rtol") && i + 1 < argc) {
            o.rtol = strtod(argv[++i], &end);
            if (*end || o.rtol < 0)
                return usage();
        } else if (!strcmp(a, "--atol") && i + 1 < argc) {
            o.atol = strtod(argv[++i], &end);
            if (*end || o.atol < 0)
                return usage();
        } else if (!strcmp(a, "--min-pass") && i + 1 < argc) {
            o.min_pass = (int)strtol(argv[++i], &end, 10);
            if (*end || o.min_pass < 0)
                return usage();
        } else if (!strcmp(a, "--only-supported")) {
            o.only_supported = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (a[0] == '-') {
            return usage();
        } else {
            if (!first)
                first = i;
        }
    }
    if (!first)
        return usage();
    struct tally t = {0};
    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '-') { /* skip options and their values */
            if (strcmp(argv[i], "--only-supported") != 0)
                i++;
            continue;
        }
        run_path(argv[i], &o, &t);
    }
    if (o.only_supported)
        printf("%d cases use ops outside the op set (skipped); %d within it, of which %d "
               "skipped for unsupported dtypes or features\n",
               t.outside, t.passed + t.failed + t.skipped, t.skipped);
    else if (t.skipped)
        printf("%d skipped (unsupported)\n", t.skipped);
    if (t.passed < o.min_pass)
        printf("only %d cases passed, expected at least %d\n", t.passed, o.min_pass);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed || t.passed < o.min_pass ? 1 : 0;
}
