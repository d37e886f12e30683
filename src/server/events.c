/* The event ring behind /api/events: every log line, progress report, chart
 * point and prompt becomes one numbered event. Streams remember the last
 * number they sent, so a reconnecting browser (Last-Event-ID) gets exactly
 * what it missed while the ring still holds it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "server_internal.h"

void nr__events_init(struct nr__events *ev) {
    memset(ev, 0, sizeof *ev);
    pthread_mutex_init(&ev->mu, NULL);
    /* Timed waits use the monotonic clock, immune to wall-clock jumps. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void nr__events_deinit(struct nr__events *ev) {
    for (size_t i = 0; i < NR__EVENT_RING; i++)
        nr_free(ev->ring[i].data);
    pthread_mutex_destroy(&ev->mu);
    pthread_cond_destroy(&ev->cv);
}

void nr__events_push(struct nr__events *ev, const char *type, const char *data) {
    char *copy = nr_strdup(data);
    if (!copy)
        return;
    pthread_mutex_lock(&ev->mu);
    uint64_t seq = ++ev->last_seq;
    struct nr__event *e = &ev->ring[seq % NR__EVENT_RING];
    nr_free(e->data);
    e->seq = seq;
    snprintf(e->type, sizeof e->type, "%s", type);
    e->data = copy;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

void nr__events_close(struct nr__events *ev) {
    pthread_mutex_lock(&ev->mu);
    ev->closing = 1;
    pthread_cond_broadcast(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

uint64_t nr__events_last(struct nr__events *ev) {
    pthread_mutex_lock(&ev->mu);
    uint64_t last = ev->last_seq;
    pthread_mutex_unlock(&ev->mu);
    return last;
}

static uint64_t oldest_kept(const struct nr__events *ev) {
    return ev->last_seq >= NR__EVENT_RING ? ev->last_seq - NR__EVENT_RING + 1 : 1;
}

int nr__events_wait_format(struct nr__events *ev, uint64_t *after, double timeout_s,
                           struct nr_buf *out) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)timeout_s;
    until.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->mu);
    int rc = 0;
    while (!ev->closing && ev->last_seq <= *after) {
        if (pthread_cond_timedwait(&ev->cv, &ev->mu, &until) == ETIMEDOUT)
            break;
    }
    if (ev->closing) {
        rc = -1;
    } else if (ev->last_seq > *after) {
        uint64_t seq = *after + 1;
        if (seq < oldest_kept(ev))
            seq = oldest_kept(ev);
        /* A bounded slice per call keeps one write reasonable; the stream
         * comes back for the rest at once. */
        for (int n = 0; seq <= ev->last_seq && n < 256; seq++, n++) {
            const struct nr__event *e = &ev->ring[seq % NR__EVENT_RING];
            if (nr_buf_printf(out, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)e->seq,
                              e->type, e->data) != NR_OK)
                break;
            *after = seq;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&ev->mu);
    return rc;
}

enum nr_status nr__events_recent_logs(struct nr__events *ev, uint64_t upto, size_t max_lines,
                                      struct nr_buf *out) {
    enum nr_status st = NR_OK;
    pthread_mutex_lock(&ev->mu);
    if (upto > ev->last_seq)
        upto = ev->last_seq;
    uint64_t first = oldest_kept(ev), seq = upto;
    size_t n = 0;
    /* Walk back to find where the last max_lines log events start. */
    for (; seq >= first && seq > 0 && n < max_lines; seq--)
        if (strcmp(ev->ring[seq % NR__EVENT_RING].type, "log") == 0)
            n++;
    int comma = 0;
    for (seq++; seq <= upto && st == NR_OK; seq++) {
        const struct nr__event *e = &ev->ring[seq % NR__EVENT_RING];
        if (e->seq != seq || strcmp(e->type, "log") != 0)
            continue;
        st = nr_buf_printf(out, "%s%s", comma ? "," : "", e->data);
        comma = 1;
    }
    pthread_mutex_unlock(&ev->mu);
    return st;
}
