/* The activity log: timestamped lines to the terminal sinks and a file. */
#include "narrate/core.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SINKS 4

struct nr_log {
    pthread_mutex_t mu;
    char *path;
    struct {
        nr_log_sink_fn fn;
        void *user;
    } sinks[MAX_SINKS];
};

double nr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void nr_clock_hms(char *out, size_t size) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, size, "%H:%M:%S", &tm);
}

int nr_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

enum nr_status nr_log_new(struct nr_log **out, struct nr_err *err) {
    struct nr_log *log = nr_calloc(1, sizeof *log);
    if (!log) {
        *out = NULL;
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "log: out of memory");
    }
    pthread_mutex_init(&log->mu, NULL);
    *out = log;
    return NR_OK;
}

void nr_log_free(struct nr_log *log) {
    if (!log)
        return;
    pthread_mutex_destroy(&log->mu);
    nr_free(log->path);
    nr_free(log);
}

enum nr_status nr_log_set_file(struct nr_log *log, const char *path, struct nr_err *err) {
    char *copy = NULL;
    if (path && !(copy = nr_strdup(path)))
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "log: out of memory");
    pthread_mutex_lock(&log->mu);
    nr_free(log->path);
    log->path = copy;
    pthread_mutex_unlock(&log->mu);
    return NR_OK;
}

void nr_log_add_sink(struct nr_log *log, nr_log_sink_fn fn, void *user) {
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < MAX_SINKS; i++) {
        if (!log->sinks[i].fn) {
            log->sinks[i].fn = fn;
            log->sinks[i].user = user;
            break;
        }
    }
    pthread_mutex_unlock(&log->mu);
}

void nr_log_remove_sink(struct nr_log *log, nr_log_sink_fn fn, void *user) {
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < MAX_SINKS; i++) {
        if (log->sinks[i].fn == fn && log->sinks[i].user == user)
            log->sinks[i].fn = NULL;
    }
    pthread_mutex_unlock(&log->mu);
}

static void emit(struct nr_log *log, const char *line) {
    pthread_mutex_lock(&log->mu);
    for (int i = 0; i < MAX_SINKS; i++) {
        if (log->sinks[i].fn)
            log->sinks[i].fn(log->sinks[i].user, line);
    }
    /* The activity log file is best effort: a failing log must not stop a
     * render whose audio is still being written correctly. */
    if (log->path && nr_file_append_line(log->path, line, NULL) != NR_OK) {
        /* ignored on purpose, see above */
    }
    pthread_mutex_unlock(&log->mu);
}

NR_PRINTF(3, 0) static void vlog(struct nr_log *log, int stamp, const char *fmt, va_list ap);

static void vlog(struct nr_log *log, int stamp, const char *fmt, va_list ap) {
    if (!log)
        return;
    char line[2048];
    size_t off = 0;
    if (stamp) {
        char hms[16];
        nr_clock_hms(hms, sizeof hms);
        off = (size_t)snprintf(line, sizeof line, "[%s] ", hms);
    }
    vsnprintf(line + off, sizeof line - off, fmt, ap);
    /* Multi-line text is emitted line by line so every sink sees whole lines. */
    char *s = line;
    for (;;) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        if (*s || nl)
            emit(log, s);
        if (!nl || !nl[1])
            break;
        s = nl + 1;
    }
}

void nr_log_event(struct nr_log *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(log, 1, fmt, ap);
    va_end(ap);
}

void nr_log_raw(struct nr_log *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(log, 0, fmt, ap);
    va_end(ap);
}
