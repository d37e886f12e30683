/* narrate core: errors, allocation hooks, logging, files, hashing, settings.
 *
 *   struct nr_err err = {0};
 *   char *buf; size_t n;
 *   if (nr_file_read("book.txt", &buf, &n, &err) != NR_OK)
 *       fprintf(stderr, "narrate: %s\n", err.msg);
 *
 * Thread safety: every function here may be called from any thread on
 * distinct objects. The allocation-failure hook and the log sink are
 * process-wide and meant to be set once, before threads start.
 */
#ifndef NARRATE_CORE_H
#define NARRATE_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NR_VERSION "0.1.0"

#if defined(__GNUC__)
#define NR_MUST_CHECK __attribute__((warn_unused_result))
#define NR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NR_MUST_CHECK
#define NR_PRINTF(a, b)
#endif

/* ---- errors ------------------------------------------------------------ */

enum nr_status {
    NR_OK = 0,
    NR_STATUS_INVALID_ARG,
    NR_STATUS_NO_MEMORY,
    NR_STATUS_IO,
    NR_STATUS_BAD_FORMAT,
    NR_STATUS_UNSUPPORTED,
    NR_STATUS_DEVICE,
    NR_STATUS_DEVICE_OOM,
    NR_STATUS_CANCELLED,
};

struct nr_err {
    enum nr_status status;
    char msg[512];
};

/* Records status and message in err unless err already holds an error (the
 * first error wins). err may be NULL. Returns status, so callers can write
 * `return nr_err_set(err, NR_STATUS_IO, "open %s: %s", path, strerror(errno));` */
enum nr_status nr_err_set(struct nr_err *err, enum nr_status status, const char *fmt, ...)
    NR_PRINTF(3, 4);
/* Clears err back to NR_OK. */
void nr_err_clear(struct nr_err *err);
/* Short lower-case name of a status ("io", "device out of memory", ...). */
const char *nr_status_name(enum nr_status status);

/* Aborts with file:line; enabled in every build type. Bugs are not statuses. */
#define NR_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            nr__assert_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)
_Noreturn void nr__assert_fail(const char *expr, const char *file, int line);

/* ---- allocation ---------------------------------------------------------- */

/* All project allocations go through these so tests can fail the N-th one.
 * nr_free(NULL) does nothing. */
void *nr_malloc(size_t n);
void *nr_calloc(size_t count, size_t size);
void *nr_realloc(void *p, size_t n);
void nr_free(void *p);
char *nr_strdup(const char *s);
char *nr_strndup(const char *s, size_t n);
/* Test hook: the n-th allocation from now fails (1 = the next one); 0 turns
 * the hook off. Returns the number of allocations counted since the last call. */
size_t nr_alloc_fail_after(size_t n);

/* Growable byte buffer. The buffer is always NUL-terminated (data may be
 * NULL while len == 0). On allocation failure the append functions return
 * NR_STATUS_NO_MEMORY and leave the buffer as it was. */
struct nr_buf {
    char *data;
    size_t len;
    size_t cap;
};
NR_MUST_CHECK enum nr_status nr_buf_append(struct nr_buf *b, const void *data, size_t n);
NR_MUST_CHECK enum nr_status nr_buf_printf(struct nr_buf *b, const char *fmt, ...) NR_PRINTF(2, 3);
NR_MUST_CHECK enum nr_status nr_buf_vprintf(struct nr_buf *b, const char *fmt, va_list ap)
    NR_PRINTF(2, 0);
/* Moves the data out (caller frees with nr_free) and resets b. */
char *nr_buf_take(struct nr_buf *b);
void nr_buf_deinit(struct nr_buf *b);

/* ---- files --------------------------------------------------------------- */

/* Reads a whole file. *out is NUL-terminated, owned by the caller (nr_free).
 * A directory is an error. On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_file_read(const char *path, char **out, size_t *len,
                                          struct nr_err *err);
/* Writes data to path atomically: a temp file in the same folder, fsync,
 * rename, fsync of the folder. On failure the old file (if any) is untouched
 * and no temp file is left behind. */
NR_MUST_CHECK enum nr_status nr_file_write_atomic(const char *path, const void *data, size_t len,
                                                  struct nr_err *err);
/* Appends one line (a '\n' is added) with O_APPEND; creates the file. */
NR_MUST_CHECK enum nr_status nr_file_append_line(const char *path, const char *line,
                                                 struct nr_err *err);
/* mkdir -p. */
NR_MUST_CHECK enum nr_status nr_mkdir_p(const char *path, struct nr_err *err);
/* 1 when path names an existing regular file, else 0. */
int nr_file_exists(const char *path);
/* Joins a and b with one '/'. Caller frees. NULL on allocation failure. */
char *nr_path_join(const char *a, const char *b);

/* Test hook for I/O error injection: the n-th atomic write from now fails
 * with NR_STATUS_IO ("injected write error"); 0 turns it off. Also settable
 * with the environment variable NARRATE_FAIL_WRITE=N, read on first use. */
void nr_file_fail_write_after(size_t n);

/* Opens a temp file next to path for streaming writes; nr_atomic_commit
 * fsyncs and renames it over path, nr_atomic_abort removes it. */
struct nr_atomic_file {
    FILE *fp;
    char *tmp_path;
    char *final_path;
    int skip_dir_sync;  /* set after open: skip the folder fsync after the rename */
    int skip_data_sync; /* set after open: skip the file's fsync before it.
                           Both only for files whose loss or damage is detected
                           and repaired, like cache files (length and checksum
                           checked on every load: a torn one is rendered again) */
};
NR_MUST_CHECK enum nr_status nr_atomic_open(struct nr_atomic_file *af, const char *path,
                                            struct nr_err *err);
NR_MUST_CHECK enum nr_status nr_atomic_commit(struct nr_atomic_file *af, struct nr_err *err);
void nr_atomic_abort(struct nr_atomic_file *af);
/* Deletes the temp files (NAME.tmp.XXXXXX) that writers killed before
 * commit or abort left in dir, and returns how many. Only for a folder that
 * nothing is writing to (a render holds its folder's lock). */
size_t nr_atomic_remove_leftovers(const char *dir);

/* ---- hashing ------------------------------------------------------------- */

/* 128-bit XXH3 of data, as 32 lowercase hex characters plus NUL. */
void nr_hash_hex(const void *data, size_t len, char out[33]);
/* 64-bit XXH3 of data. */
uint64_t nr_hash64(const void *data, size_t len);

/* ---- time and logging ---------------------------------------------------- */

/* Monotonic seconds. */
double nr_now(void);
/* Local wall-clock "HH:MM:SS" into out (at least 9 bytes). */
void nr_clock_hms(char *out, size_t size);

/* The activity log: each line goes to the terminal sink (if set) and is
 * appended to a file (if set). Lines are prefixed "[HH:MM:SS] " by
 * nr_log_event; nr_log_raw writes the text as given. Thread-safe. */
struct nr_log;
typedef void (*nr_log_sink_fn)(void *user, const char *line);
NR_MUST_CHECK enum nr_status nr_log_new(struct nr_log **out, struct nr_err *err);
void nr_log_free(struct nr_log *log);
/* path may be NULL to stop writing to a file. The path is copied. */
NR_MUST_CHECK enum nr_status nr_log_set_file(struct nr_log *log, const char *path,
                                             struct nr_err *err);
/* Adds a sink (up to 4); each line is passed to every sink in order. */
void nr_log_add_sink(struct nr_log *log, nr_log_sink_fn fn, void *user);
void nr_log_remove_sink(struct nr_log *log, nr_log_sink_fn fn, void *user);
void nr_log_event(struct nr_log *log, const char *fmt, ...) NR_PRINTF(2, 3);
void nr_log_raw(struct nr_log *log, const char *fmt, ...) NR_PRINTF(2, 3);

/* ---- settings ------------------------------------------------------------ */

/* The largest batch: the batch_size setting's upper bound, the most chunks
 * the render loop hands an engine at once. */
#define NR_BATCH_MAX 256

/* Every user setting. The seed's user_settings.json; defaults in
 * nr_settings_defaults(). Flags override values loaded from the file. */
struct nr_settings {
    int batch_size;         /* chunks per batch; seed default 3; 0 = auto (later issue) */
    int max_chunk_chars;    /* chunker limit, default 400 */
    int stall_seconds;      /* watchdog limit, default 120 */
    int vram_pause_percent; /* pause above this used %, default 95 */
    int gap_sentence_ms;    /* silence between chunks of one paragraph, default 250 */
    int gap_paragraph_ms;   /* silence after a paragraph, default 600 */
    int gap_chapter_ms;     /* silence between chapters in book.wav, default 1500 */
    int rate_wpm;           /* speaking rate for eSpeak voices, default 175 */
    int threads;            /* inference threads, 0 = all cores */
    int gpu_index;          /* which GPU to watch/use, default 0 */
    double noise_scale;     /* Piper: < 0 means "from the voice config" */
    double length_scale;    /* Piper: < 0 means "from the voice config" */
    double noise_w;         /* Piper: < 0 means "from the voice config" */
    uint64_t seed;          /* random seed for stochastic voices, default 1 */
    int speaker;            /* Piper multi-speaker id, default 0 */
    char voice[512];        /* "espeak:en-us" or a path to a Piper .onnx */
    char device[16];        /* "cpu" or "cuda" */
    char output_format[16]; /* "wav" (more in the outputs issue) */
    double loudness_lufs;   /* target integrated loudness, default -18 */
    int pause_enabled;      /* pause at vram_pause_percent, default 1 */
    int chapter_files;      /* write one file per chapter besides the book, default 1 */
};

void nr_settings_defaults(struct nr_settings *s);
/* Path of settings.json: $XDG_CONFIG_HOME/narrate/settings.json or
 * ~/.config/narrate/settings.json. Caller frees. NULL on failure. */
char *nr_settings_path(void);
/* Loads path into s (which must hold defaults or earlier values). A missing
 * file is written with the current values first. Unknown keys and bad
 * values are errors naming the key and the allowed values. */
NR_MUST_CHECK enum nr_status nr_settings_load(struct nr_settings *s, const char *path,
                                              struct nr_err *err);
/* Writes s to path atomically as pretty JSON. */
NR_MUST_CHECK enum nr_status nr_settings_save(const struct nr_settings *s, const char *path,
                                              struct nr_err *err);
/* Sets one key from its text form ("batch_size", "5"), with validation. */
NR_MUST_CHECK enum nr_status nr_settings_set(struct nr_settings *s, const char *key,
                                             const char *value, struct nr_err *err);
/* Serializes s as a JSON object (caller frees). NULL on allocation failure. */
char *nr_settings_to_json(const struct nr_settings *s);
/* Applies a JSON object of settings (all or some keys) with validation; on
 * failure s is unchanged. */
NR_MUST_CHECK enum nr_status nr_settings_from_json(struct nr_settings *s, const char *json,
                                                   struct nr_err *err);

/* Appends one line per setting: "  name  help (allowed values)". */
NR_MUST_CHECK enum nr_status nr_settings_describe(struct nr_buf *out);

/* Number of online CPU cores (at least 1). */
int nr_cpu_count(void);

#endif
