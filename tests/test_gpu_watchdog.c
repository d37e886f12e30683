/* Stall watchdog with real time: a 2-second limit fires once per limit while
 * no batch finishes, is cleared by a finished batch, stays quiet while
 * paused, and stops at once. Runs in about 8 seconds. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "narrate/gpu.h"

struct capture {
    pthread_mutex_t mu;
    char lines[8][512];
    int n;
    int calls;
    double since[8];
    uint64_t last_used[8];
};

static void sink(void *user, const char *line) {
    struct capture *c = user;
    pthread_mutex_lock(&c->mu);
    if (c->n < 8)
        snprintf(c->lines[c->n], sizeof c->lines[0], "%s", line);
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

static void on_stall(void *user, double since, const struct nr_gpu_sample *last) {
    struct capture *c = user;
    pthread_mutex_lock(&c->mu);
    if (c->calls < 8) {
        c->since[c->calls] = since;
        c->last_used[c->calls] = last->valid ? last->used : 0;
    }
    c->calls++;
    pthread_mutex_unlock(&c->mu);
}

static int count(struct capture *c) {
    pthread_mutex_lock(&c->mu);
    int n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* "[HH:MM:SS] " then the text. */
static void check_line(const char *line, const char *text) {
    CHECK(strlen(line) > 11 && line[0] == '[' && line[3] == ':' && line[6] == ':' &&
          line[9] == ']' && line[10] == ' ');
    CHECK_STR(line + (strlen(line) > 11 ? 11 : 0), text);
}

static void test_stall_and_clear(struct nr_log *log, struct capture *c) {
    struct nr_gpu_watchdog *w = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_watchdog_start(&w, 2.0, log, on_stall, c, &err), NR_OK);
    if (!w)
        return;
    struct nr_gpu_sample s = {.valid = 1, .total = 12ULL << 30, .used = 7ULL << 30};
    nr_gpu_watchdog_batch_done(w, 0, &s); /* start-up sample: not progress */
    sleep_s(1.0);
    s.used = (uint64_t)(11.8 * 1073741824.0);
    nr_gpu_watchdog_batch_done(w, 3, &s); /* the clock restarts here */
    sleep_s(1.5);
    CHECK_EQ(count(c), 0); /* 2.5 s since start, 1.5 s since batch 3 */
    sleep_s(0.9);
    CHECK_EQ(count(c), 1); /* fired at 2.0 s after batch 3 */
    if (count(c) >= 1)
        check_line(c->lines[0], "WARNING: no batch finished for 2s (last: Batch 3, VRAM "
                                "11.8/12.0GB (98%)) - likely stalled or hung");
    CHECK_EQ(c->calls, 1);
    CHECK(c->since[0] >= 2.0 && c->since[0] < 2.5);
    CHECK_EQ(c->last_used[0], s.used);
    sleep_s(1.0);
    CHECK_EQ(count(c), 1); /* at most once per stall_seconds */
    sleep_s(1.0);
    CHECK_EQ(count(c), 2); /* 4 s: the second warning (checked at 4.4 s) */
    if (count(c) >= 2)
        check_line(c->lines[1], "WARNING: no batch finished for 4s (last: Batch 3, VRAM "
                                "11.8/12.0GB (98%)) - likely stalled or hung");
    nr_gpu_watchdog_batch_done(w, 4, &s); /* cleared */
    sleep_s(1.2);
    CHECK_EQ(count(c), 2);
    CHECK_EQ(nr_gpu_watchdog_stalls(w), 2);
    double t0 = nr_now();
    nr_gpu_watchdog_stop(w);
    CHECK(nr_now() - t0 < 0.2); /* stop does not wait for the limit */
}

static void test_paused_and_no_batch(struct nr_log *log, struct capture *c) {
    struct nr_gpu_watchdog *w = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_watchdog_start(&w, 1.0, log, NULL, NULL, &err), NR_OK);
    if (!w)
        return;
    nr_gpu_watchdog_set_paused(w, 1);
    sleep_s(1.3);
    CHECK_EQ(count(c), 0);
    nr_gpu_watchdog_set_paused(w, 0); /* the clock restarts */
    sleep_s(0.7);
    CHECK_EQ(count(c), 0);
    sleep_s(0.5);
    CHECK_EQ(count(c), 1);
    if (count(c) >= 1)
        check_line(c->lines[0], "WARNING: no batch finished for 1s (last: none, VRAM n/a) - "
                                "likely stalled or hung");
    nr_gpu_watchdog_stop(w);
    nr_gpu_watchdog_stop(NULL);
}

int main(void) {
    struct nr_log *log = NULL;
    struct nr_err err = {0};
    if (nr_log_new(&log, &err) != NR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static struct capture c1, c2;
    pthread_mutex_init(&c1.mu, NULL);
    pthread_mutex_init(&c2.mu, NULL);

    nr_log_add_sink(log, sink, &c1);
    test_stall_and_clear(log, &c1);
    nr_log_remove_sink(log, sink, &c1);

    nr_log_add_sink(log, sink, &c2);
    test_paused_and_no_batch(log, &c2);
    nr_log_remove_sink(log, sink, &c2);

    struct nr_gpu_watchdog *w = (struct nr_gpu_watchdog *)&w;
    CHECK_EQ(nr_gpu_watchdog_start(&w, 0, log, NULL, NULL, &err), NR_STATUS_INVALID_ARG);
    CHECK(w == NULL);
    nr_log_free(log);
    return check_result("test_gpu_watchdog");
}
