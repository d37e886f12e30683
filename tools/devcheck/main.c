/* narrate-devcheck: renders a book with the CUDA-allocating test engine
 * through the normal render API, so the activity log shows real NVML
 * numbers. Used by scripts/device-check.sh on a GPU machine.
 *
 *   narrate-devcheck --gpu-report [--batch-size 3]
 *   narrate-devcheck --mode steady|leak -o DIR [options] BOOK
 */
#include <stdlib.h>
#include <string.h>

#include "devcheck_engine.h"
#include "narrate/gpu.h"
#include "narrate/render.h"
#include "narrate/report.h"

static void usage(FILE *f) {
    fprintf(f, "usage: narrate-devcheck --gpu-report [--batch-size N] [--gpu N]\n"
               "       narrate-devcheck --mode steady|leak -o DIR [options] BOOK\n"
               "options:\n"
               "  --batch-size N     chunks per batch (default 3, the seed's default)\n"
               "  --gpu N            GPU index for NVML and CUDA (default 0)\n"
               "  --chunk-gb X       device memory per chunk during a batch (default 2.0)\n"
               "  --leak-gb X        memory kept per batch in leak mode (default 1.2)\n"
               "  --sleep-ms N       extra time per chunk (default 200)\n"
               "  --stall-batch K    batch K first sleeps --stall-s seconds (watchdog demo)\n"
               "  --stall-s S        (default 0)\n"
               "  --stall-seconds S  watchdog limit (default 120)\n"
               "  --dry-run          host memory instead of CUDA (no GPU needed)\n");
}

static void print_line(void *user, const char *line) {
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

static int gpu_report(int gpu, int batch) {
    struct nr_gpu *g = NULL;
    struct nr_err err = {0};
    if (nr_gpu_open(gpu, &g, &err) != NR_OK) {
        fprintf(stderr, "narrate-devcheck: %s\n", err.msg);
        return 1;
    }
    struct nr_buf b = {0};
    int rc = 0;
    if (nr_gpu_startup_report(g, batch, -1, &b, &err) != NR_OK) {
        fprintf(stderr, "narrate-devcheck: %s\n", err.msg);
        rc = 1;
    } else {
        printf("%s(%s)\n", b.data, nr_gpu_detail(g));
    }
    nr_buf_deinit(&b);
    nr_gpu_free(g);
    return rc;
}

static int render(const char *book, const char *out, struct nr_settings *s,
                  const struct nr_devcheck_opts *o) {
    struct nr_err err = {0};
    struct nr_log *log = NULL;
    struct nr_engine *engine = NULL;
    struct nr_render *r = NULL;
    int rc = 1;
    if (nr_log_new(&log, &err) != NR_OK)
        goto done;
    nr_log_add_sink(log, print_line, NULL);
    if (nr_devcheck_engine_open(o, &engine, &err) != NR_OK)
        goto done;
    if (nr_render_new(s, out, log, &r, &err) != NR_OK)
        goto done;
    nr_render_set_engine(r, engine);
    if (nr_render_prepare_book(r, book, &err) != NR_OK)
        goto done;
    if (nr_render_run(r, &err) != NR_OK)
        goto done;
    /* The render writes the graph too; rebuilding it is cheap and makes the
     * check independent of that. */
    if (nr_report_build(out, &err) == NR_OK)
        rc = 0;
done:
    if (rc)
        fprintf(stderr, "narrate-devcheck: %s\n", err.msg[0] ? err.msg : "failed");
    nr_render_free(r);
    nr_engine_free(engine);
    nr_log_free(log);
    return rc;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    struct nr_settings s;
    nr_settings_defaults(&s);
    /* The device machine lacks FFmpeg: this tool writes WAV whatever the
     * project's default output format is. */
    snprintf(s.output_format, sizeof s.output_format, "wav");
    struct nr_devcheck_opts o;
    nr_devcheck_opts_defaults(&o);
    const char *out = NULL, *book = NULL, *mode = NULL;
    int report = 0;
    double stall_limit = s.stall_seconds;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (!strcmp(a, "--gpu-report"))
            report = 1, takes = 0;
        else if (!strcmp(a, "--dry-run"))
            o.dry_run = 1, takes = 0;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !book)
            book = a, takes = 0;
        else if (!v)
            ok = 0;
        else if (!strcmp(a, "--mode"))
            mode = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--batch-size"))
            ok = parse_int(v, 1, 1000, &s.batch_size);
        else if (!strcmp(a, "--gpu"))
            ok = parse_int(v, 0, 63, &s.gpu_index);
        else if (!strcmp(a, "--chunk-gb"))
            ok = parse_double(v, 0, 1024, &o.chunk_gb);
        else if (!strcmp(a, "--leak-gb"))
            ok = parse_double(v, 0, 1024, &o.leak_gb);
        else if (!strcmp(a, "--sleep-ms"))
            ok = parse_int(v, 0, 600000, &o.sleep_ms);
        else if (!strcmp(a, "--stall-batch"))
            ok = parse_int(v, 0, 1000000, &o.stall_batch);
        else if (!strcmp(a, "--stall-s"))
            ok = parse_double(v, 0, 86400, &o.stall_s);
        else if (!strcmp(a, "--stall-seconds"))
            ok = parse_double(v, 1, 86400, &stall_limit);
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "narrate-devcheck: bad argument %s%s%s\n", a, v && takes ? " " : "",
                    v && takes ? v : "");
            usage(stderr);
            return 2;
        }
        i += takes;
    }
    if (report)
        return gpu_report(s.gpu_index, s.batch_size);
    if (!mode || !out || !book || (strcmp(mode, "steady") && strcmp(mode, "leak"))) {
        usage(stderr);
        return 2;
    }
    o.leak = !strcmp(mode, "leak");
    o.device = s.gpu_index;
    s.stall_seconds = (int)stall_limit;
    return render(book, out, &s, &o);
}
