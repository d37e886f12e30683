/* The narrate command: argument parsing, settings, progress bar, prompts,
 * exit codes. The only place that calls exit() or writes to the terminal
 * directly. */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "narrate/core.h"
#include "narrate/gpu.h"
#include "narrate/render.h"
#include "narrate/report.h"
#include "narrate/text.h"
#include "narrate/voice.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_FAIL = 1,        /* bad input (book, manifest, voice) or a failed render */
    EXIT_USAGE = 2,       /* bad command line or invalid settings */
    EXIT_GPU_OOM = 3,     /* out of GPU memory even at batch size 1 */
    EXIT_INTERRUPT = 130, /* stopped by Ctrl-C / SIGTERM; the same command resumes */
};

static const char usage_text[] =
    "Usage: narrate <command> [options]\n"
    "\n"
    "Commands:\n"
    "  render BOOK [-o DIR]       chunk BOOK (.txt, .md, .epub), synthesize, assemble audio\n"
    "  render --manifest FILE     re-render from an (edited) manifest: only changed chunks\n"
    "  chunks BOOK -o DIR         write DIR/manifest.json only\n"
    "  voices                     list the available voices\n"
    "  gpu                        start-up report: GPU, VRAM, recommended batch size\n"
    "  report DIR                 rebuild DIR/vram.csv and DIR/vram.svg from telemetry\n"
    "  settings                   show the settings file and its values\n"
    "  onnx-test DIR...           run ONNX test cases (model.onnx + test_data_set_*) on our engine\n"
    "  serve                      local web dashboard (see `narrate serve --help`)\n"
    "\n"
    "Options for render and chunks (each overrides settings.json for this run):\n"
    "  -o, --output DIR           output folder (default: BOOK's name + \"-audiobook\")\n"
    "  --voice V                  espeak:<name> (default espeak:en-us) or path/voice.onnx\n"
    "  --batch-size N|auto        chunks per batch (default 3)\n"
    "  --max-chunk-chars N        longest chunk (default 400)\n"
    "  --rate WPM                 eSpeak speaking rate (default 175)\n"
    "  --threads N                inference threads (0 = all cores)\n"
    "  --device cpu|cuda          where neural voices run\n"
    "  --gpu N                    which GPU to use and watch (default 0)\n"
    "  --seed N                   random seed of neural voices (default 1)\n"
    "  --speaker N                speaker of a multi-speaker voice\n"
    "  --stall-seconds N          stall warning after N s without a batch (default 120)\n"
    "  --no-pause                 never pause when VRAM is above vram_pause_percent\n"
    "  --format F                 m4b (default)|mp3|opus|flac|wav: book and chapter files\n"
    "  --no-chapter-files         write only the whole book, no file per chapter\n"
    "  --set KEY=VALUE            any setting (see `narrate settings`)\n"
    "  --settings FILE            settings file (default $XDG_CONFIG_HOME/narrate/settings.json)\n"
    "\n"
    "Environment:\n"
    "  NARRATE_FAKE_GPU=FILE.json a scripted GPU for trying the VRAM features without one\n"
    "\n"
    "Exit codes:\n"
    "  0    success\n"
    "  1    bad input (book, manifest, voice) or a failed render; one line says what and where\n"
    "  2    bad command line or invalid setting\n"
    "  3    out of GPU memory even with batch size 1\n"
    "  130  interrupted (Ctrl-C): finished batches are cached; run the same command to resume\n";

/* The CLI's stop flag, set by the SIGINT/SIGTERM handler (allowed global). */
static volatile int stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static int fail(const char *msg) {
    fprintf(stderr, "narrate: %s\n", msg);
    return EXIT_FAIL;
}

NR_PRINTF(1, 2) static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "narrate: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see `narrate --help`)\n");
    va_end(ap);
    return EXIT_USAGE;
}

static int exit_for(const struct nr_err *err) {
    switch (err->status) {
    case NR_OK: return EXIT_OK;
    case NR_STATUS_CANCELLED: return EXIT_INTERRUPT;
    case NR_STATUS_INVALID_ARG: return EXIT_USAGE;
    case NR_STATUS_DEVICE_OOM: return EXIT_GPU_OOM;
    default: return EXIT_FAIL;
    }
}

/* ---- terminal output ----------------------------------------------------------- */

struct term {
    int is_tty;
    int bar_shown;
};

static void clear_bar(struct term *t) {
    if (t->bar_shown) {
        fputs("\r\033[K", stdout);
        t->bar_shown = 0;
    }
}

static void print_line(void *user, const char *line) {
    struct term *t = user;
    clear_bar(t);
    puts(line);
    fflush(stdout);
}

static void fmt_duration(double s, char *buf, size_t size) {
    if (s < 0)
        snprintf(buf, size, "--");
    else
        nr_gpu_format_duration(s, buf, size);
}

static void on_progress(void *user, const struct nr_render_progress *p) {
    struct term *t = user;
    if (p->state != NR_RENDER_RUNNING || p->chunks_total == 0)
        return;
    char eta[32];
    fmt_duration(p->eta_seconds, eta, sizeof eta);
    if (!t->is_tty) {
        printf("  progress: %zu/%zu chunks, %.1f min of audio, ETA %s\n", p->chunks_done,
               p->chunks_total, p->audio_seconds / 60.0, eta);
        fflush(stdout);
        return;
    }
    int width = 30, fill = (int)((double)width * (double)p->chunks_done / (double)p->chunks_total);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    clear_bar(t);
    printf("[%s] %zu/%zu chunks | %.1f min audio | ETA %s", bar, p->chunks_done, p->chunks_total,
           p->audio_seconds / 60.0, eta);
    fflush(stdout);
    t->bar_shown = 1;
}

/* The VRAM pause prompt on a terminal: the seed's advice, then a question. */
static int on_prompt(void *user, const struct nr_render_prompt *p) {
    struct term *t = user;
    clear_bar(t);
    printf("%s\n", p->advice);
    for (;;) {
        printf("Reduce batch size from %d to %d and continue? [Y/n/q] ", p->batch_size,
               p->suggested);
        fflush(stdout);
        char line[64];
        if (!fgets(line, sizeof line, stdin) || stop_flag)
            return NR_PROMPT_STOP;
        char c = line[0];
        if (c == '\n' || c == 'y' || c == 'Y')
            return NR_PROMPT_REDUCE;
        if (c == 'n' || c == 'N')
            return NR_PROMPT_CONTINUE;
        if (c == 'q' || c == 'Q')
            return NR_PROMPT_STOP;
    }
}

/* ---- options --------------------------------------------------------------------- */

struct opts {
    const char *book;
    const char *manifest;
    const char *out_dir;
    const char *settings_path;
    int voice_given;
    /* Flag settings, applied after the settings file: "key=value" pairs. */
    char sets[32][600];
    int n_sets;
};

static int add_set(struct opts *o, const char *key, const char *value) {
    if (o->n_sets >= 32)
        return usage_error("too many options");
    snprintf(o->sets[o->n_sets++], sizeof o->sets[0], "%s=%s", key, value);
    return EXIT_OK;
}

/* Flags that map one to one onto a setting. */
static const struct {
    const char *flag, *key;
} flag_keys[] = {
    {"--voice", "voice"},         {"--batch-size", "batch_size"},
    {"--max-chunk-chars", "max_chunk_chars"}, {"--rate", "rate_wpm"},
    {"--threads", "threads"},     {"--device", "device"},
    {"--gpu", "gpu_index"},       {"--seed", "seed"},
    {"--speaker", "speaker"},     {"--stall-seconds", "stall_seconds"},
    {"--format", "output_format"},
};

static int parse_opts(int argc, char **argv, struct opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int matched = 0;
        for (size_t k = 0; k < sizeof flag_keys / sizeof flag_keys[0]; k++) {
            if (strcmp(a, flag_keys[k].flag) != 0)
                continue;
            if (!next)
                return usage_error("%s needs a value", a);
            const char *v = next;
            if (strcmp(a, "--batch-size") == 0 && strcmp(v, "auto") == 0)
                v = "0";
            if (strcmp(a, "--voice") == 0)
                o->voice_given = 1;
            int rc = add_set(o, flag_keys[k].key, v);
            if (rc)
                return rc;
            i++;
            matched = 1;
            break;
        }
        if (matched)
            continue;
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && next)
            o->out_dir = argv[++i];
        else if (!strcmp(a, "--manifest") && next)
            o->manifest = argv[++i];
        else if (!strcmp(a, "--settings") && next)
            o->settings_path = argv[++i];
        else if (!strcmp(a, "--no-pause") || !strcmp(a, "--no-chapter-files")) {
            int rc = add_set(o, a[5] == 'p' ? "pause_enabled" : "chapter_files", "false");
            if (rc)
                return rc;
        } else if (!strcmp(a, "--set") && next) {
            const char *eq = strchr(next, '=');
            if (!eq)
                return usage_error("--set needs KEY=VALUE, got \"%s\"", next);
            if (o->n_sets >= 32)
                return usage_error("too many options");
            snprintf(o->sets[o->n_sets++], sizeof o->sets[0], "%s", next);
            i++;
        } else if (a[0] == '-' && a[1])
            return usage_error("unknown option %s", a);
        else if (!o->book)
            o->book = a;
        else
            return usage_error("unexpected argument \"%s\"", a);
    }
    return EXIT_OK;
}

/* Loads settings.json (creating it with defaults on first use), then
 * applies the flags. */
static int load_settings(const struct opts *o, struct nr_settings *s) {
    struct nr_err err = {0};
    nr_settings_defaults(s);
    char *path = o->settings_path ? nr_strdup(o->settings_path) : nr_settings_path();
    if (!path)
        return fail("out of memory");
    enum nr_status st = nr_settings_load(s, path, &err);
    nr_free(path);
    for (int i = 0; st == NR_OK && i < o->n_sets; i++) {
        char key[64];
        const char *eq = strchr(o->sets[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - o->sets[i]), o->sets[i]);
        st = nr_settings_set(s, key, eq + 1, &err);
    }
    if (st != NR_OK) {
        fprintf(stderr, "narrate: %s\n", err.msg);
        return st == NR_STATUS_INVALID_ARG || st == NR_STATUS_BAD_FORMAT ? EXIT_USAGE : EXIT_FAIL;
    }
    return EXIT_OK;
}

/* BOOK's file name without its extension + "-audiobook". */
static char *default_out_dir(const char *book) {
    const char *base = strrchr(book, '/');
    base = base ? base + 1 : book;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    struct nr_buf b = {0};
    if (nr_buf_printf(&b, "%.*s-audiobook", (int)n, base) != NR_OK) {
        nr_buf_deinit(&b);
        return NULL;
    }
    return nr_buf_take(&b);
}

/* Folder of a manifest path ("." when it has none). */
static char *manifest_dir(const char *manifest) {
    const char *slash = strrchr(manifest, '/');
    if (!slash)
        return nr_strdup(".");
    return nr_strndup(manifest, slash == manifest ? 1 : (size_t)(slash - manifest));
}

/* A manifest remembers the voice it was rendered with; a --voice flag
 * overrides it. */
static enum nr_status voice_from_manifest(const char *path, struct nr_settings *s,
                                          struct nr_err *err) {
    struct nr_manifest *m = NULL;
    enum nr_status st = nr_manifest_load(path, &m, err);
    if (st == NR_OK && m->voice && *m->voice)
        st = nr_settings_set(s, "voice", m->voice, err);
    nr_manifest_free(m);
    return st;
}

/* ---- commands ---------------------------------------------------------------------- */

static int cmd_render(int argc, char **argv, int chunks_only) {
    struct opts o = {0};
    struct nr_settings s;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.book && !o.manifest)
        return usage_error("%s needs a BOOK (or --manifest FILE)", argv[0]);
    if (o.book && o.manifest)
        return usage_error("give a BOOK or --manifest, not both");
    if (chunks_only && !o.out_dir)
        return usage_error("chunks needs -o DIR");
    if ((rc = load_settings(&o, &s)))
        return rc;
    char *out = o.out_dir ? nr_strdup(o.out_dir)
                          : o.book ? default_out_dir(o.book) : manifest_dir(o.manifest);
    struct nr_err err = {0};
    struct nr_log *log = NULL;
    struct nr_render *r = NULL;
    struct term t = {isatty(STDOUT_FILENO), 0};
    if (!out || nr_log_new(&log, &err) != NR_OK) {
        nr_free(out);
        return fail("out of memory");
    }
    nr_log_add_sink(log, print_line, &t);
    enum nr_status st = NR_OK;
    if (o.manifest && !o.voice_given)
        st = voice_from_manifest(o.manifest, &s, &err);
    if (st == NR_OK)
        st = nr_render_new(&s, out, log, &r, &err);
    if (st == NR_OK) {
        st = o.book ? nr_render_prepare_book(r, o.book, &err)
                    : nr_render_prepare_manifest(r, o.manifest, &err);
        /* Whatever the status, a book or manifest that cannot be used is bad input. */
        if (st != NR_OK && err.status == NR_STATUS_INVALID_ARG)
            err.status = NR_STATUS_BAD_FORMAT;
    }
    if (st == NR_OK && chunks_only) {
        printf("Manifest: %s/manifest.json\n", out);
    } else if (st == NR_OK) {
        struct nr_render_callbacks cb = {&t, on_progress,
                                         t.is_tty && isatty(STDIN_FILENO) ? on_prompt : NULL};
        nr_render_set_callbacks(r, &cb);
        nr_render_set_stop_flag(r, &stop_flag);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        st = nr_render_run(r, &err);
        clear_bar(&t);
        if (st == NR_OK)
            printf("Done. Audio is in %s/ (book.%s%s)\n", out, s.output_format,
                   s.chapter_files ? " and one file per chapter" : "");
        else if (st == NR_STATUS_CANCELLED)
            fprintf(stderr,
                    "narrate: stopped; finished chunks are cached in %s/cache. Run the same "
                    "command again to resume.\n",
                    out);
    }
    if (st != NR_OK && st != NR_STATUS_CANCELLED)
        fprintf(stderr, "narrate: %s\n", err.msg);
    nr_render_free(r);
    nr_log_free(log);
    nr_free(out);
    return st == NR_OK ? EXIT_OK : exit_for(&err);
}

static int cmd_voices(void) {
    struct nr_buf b = {0};
    struct nr_err err = {0};
    if (nr_voices_list(&b, &err) != NR_OK) {
        nr_buf_deinit(&b);
        return fail(err.msg);
    }
    fputs(b.data, stdout);
    nr_buf_deinit(&b);
    return EXIT_OK;
}

static int cmd_gpu(int argc, char **argv) {
    struct opts o = {0};
    struct nr_settings s;
    int rc = parse_opts(argc, argv, &o);
    if (!rc && o.book)
        rc = usage_error("gpu takes no argument \"%s\"", o.book);
    if (rc || (rc = load_settings(&o, &s)))
        return rc;
    struct nr_err err = {0};
    struct nr_gpu *g = NULL;
    struct nr_buf b = {0};
    if (nr_gpu_open(s.gpu_index, &g, &err) != NR_OK ||
        nr_gpu_startup_report(g, s.batch_size, -1, &b, &err) != NR_OK) {
        nr_gpu_free(g);
        nr_buf_deinit(&b);
        fprintf(stderr, "narrate: %s\n", err.msg);
        return exit_for(&err);
    }
    fputs(b.data ? b.data : "", stdout);
    if (!nr_gpu_present(g))
        printf("(%s)\n", nr_gpu_detail(g));
    nr_buf_deinit(&b);
    nr_gpu_free(g);
    return EXIT_OK;
}

static int cmd_report(int argc, char **argv) {
    if (argc != 2)
        return usage_error("report needs one DIR (the render's output folder)");
    struct nr_err err = {0};
    if (nr_report_build(argv[1], &err) != NR_OK)
        return fail(err.msg);
    printf("Wrote %s/vram.csv and %s/vram.svg\n", argv[1], argv[1]);
    return EXIT_OK;
}

static int cmd_settings(int argc, char **argv) {
    struct opts o = {0};
    struct nr_settings s;
    int rc = parse_opts(argc, argv, &o);
    if (rc || (rc = load_settings(&o, &s)))
        return rc;
    char *path = o.settings_path ? nr_strdup(o.settings_path) : nr_settings_path();
    char *json = nr_settings_to_json(&s);
    struct nr_buf help = {0};
    if (!path || !json || nr_settings_describe(&help) != NR_OK) {
        nr_free(path);
        nr_free(json);
        nr_buf_deinit(&help);
        return fail("out of memory");
    }
    printf("Settings file: %s\n%s\nKeys:\n%s", path, json, help.data);
    nr_free(path);
    nr_free(json);
    nr_buf_deinit(&help);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    /* Chunk audio (about 1 MB a chunk) flows through the heap by the
     * hundreds: keep such buffers in the heap for reuse rather than mapping
     * and unmapping fresh, zero-filled pages for every one (measured: half
     * the page faults of an eSpeak NG render). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    if (argc < 2)
        return usage_error("missing command");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("narrate %s\n", NR_VERSION);
        return EXIT_OK;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") && strcmp(cmd, "onnx-test") && strcmp(cmd, "serve")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
    }
    if (!strcmp(cmd, "render"))
        return cmd_render(argc - 1, argv + 1, 0);
    if (!strcmp(cmd, "chunks"))
        return cmd_render(argc - 1, argv + 1, 1);
    if (!strcmp(cmd, "voices"))
        return cmd_voices();
    if (!strcmp(cmd, "gpu"))
        return cmd_gpu(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "settings"))
        return cmd_settings(argc - 1, argv + 1);
#ifdef NR_HAVE_ONNX_TEST
    if (!strcmp(cmd, "onnx-test"))
        return nr_cli_onnx_test(argc - 1, argv + 1);
#endif
#ifdef NR_HAVE_SERVE
    if (!strcmp(cmd, "serve"))
        return nr_cli_serve(argc - 1, argv + 1);
#endif
    return usage_error("unknown command \"%s\"", cmd);
}
