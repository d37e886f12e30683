/* Stall watchdog: a thread that wakes when the stall limit would be reached
 * and logs a warning when no batch finished in time. It sleeps on a
 * condition variable with a deadline (CLOCK_MONOTONIC), so a finished batch
 * or a stop wakes it at once and stopping never waits for the limit. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "gpu_internal.h"

struct nr_gpu_watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double stall_s;
    struct nr_log *log; /* borrowed */
    nr_gpu_watchdog_fn on_stall;
    void *user;
    /* guarded by mu */
    int stop, paused, stalls;
    int last_batch; /* 0 before the first batch */
    struct nr_gpu_sample last;
    double progress_t;  /* nr_now() of the last batch, start or resume */
    double next_warn_t; /* earliest time of the next warning */
};

/* CLOCK_MONOTONIC now + wait_s, for pthread_cond_timedwait. */
static struct timespec deadline_ts(double wait_s) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (wait_s < 0)
        wait_s = 0;
    if (wait_s > 3600)
        wait_s = 3600;
    double whole = floor(wait_s);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((wait_s - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *run(void *arg) {
    struct nr_gpu_watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        double now = nr_now();
        if (w->paused) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        if (now < w->next_warn_t) {
            struct timespec ts = deadline_ts(w->next_warn_t - now);
            int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            (void)rc; /* woken or timed out: re-check everything from the top */
            continue;
        }
        /* Stalled: format the line under the lock, log and call back outside it. */
        double since = now - w->progress_t;
        struct nr_gpu_sample last = w->last;
        int batch = w->last_batch;
        w->next_warn_t = now + w->stall_s;
        w->stalls++;
        pthread_mutex_unlock(&w->mu);

        char dur[32], vram[64], which[32];
        nr_gpu_format_duration(since, dur, sizeof dur);
        nr_gpu_format_vram(&last, vram, sizeof vram);
        if (batch > 0)
            snprintf(which, sizeof which, "Batch %d", batch);
        else
            snprintf(which, sizeof which, "none");
        nr_log_event(
            w->log,
            "WARNING: no batch finished for %s (last: %s, VRAM %s) - likely stalled or hung", dur,
            which, vram);
        if (w->on_stall)
            w->on_stall(w->user, since, &last);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum nr_status nr_gpu_watchdog_start(struct nr_gpu_watchdog **out, double stall_seconds,
                                     struct nr_log *log, nr_gpu_watchdog_fn on_stall, void *user,
                                     struct nr_err *err) {
    *out = NULL;
    if (!(stall_seconds > 0))
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "stall_seconds must be > 0 (got %g)",
                          stall_seconds);
    struct nr_gpu_watchdog *w = nr_calloc(1, sizeof *w);
    if (!w)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    w->stall_s = stall_seconds;
    w->log = log;
    w->on_stall = on_stall;
    w->user = user;
    w->progress_t = nr_now();
    w->next_warn_t = w->progress_t + stall_seconds;
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(&w->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (rc != 0) {
        nr_free(w);
        return nr_err_set(err, NR_STATUS_IO, "watchdog condition variable: %s", strerror(rc));
    }
    pthread_mutex_init(&w->mu, NULL);
    rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        nr_free(w);
        return nr_err_set(err, NR_STATUS_IO, "watchdog thread: %s", strerror(rc));
    }
    *out = w;
    return NR_OK;
}

void nr_gpu_watchdog_batch_done(struct nr_gpu_watchdog *w, int batch_no,
                                const struct nr_gpu_sample *s) {
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    if (s)
        w->last = *s;
    if (batch_no > 0) {
        w->last_batch = batch_no;
        w->progress_t = nr_now();
        w->next_warn_t = w->progress_t + w->stall_s;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

void nr_gpu_watchdog_set_paused(struct nr_gpu_watchdog *w, int paused) {
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->paused && !paused) { /* resuming: the time spent paused is not a stall */
        w->progress_t = nr_now();
        w->next_warn_t = w->progress_t + w->stall_s;
    }
    w->paused = paused != 0;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int nr_gpu_watchdog_stalls(struct nr_gpu_watchdog *w) {
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    int n = w->stalls;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void nr_gpu_watchdog_stop(struct nr_gpu_watchdog *w) {
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    nr_free(w);
}
