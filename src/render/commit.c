/* The cache committer: a thread that writes finished chunks to the cache
 * (temp file and rename; see nr_cache_save) while the next batch is being
 * synthesized, so that the writes overlap with synthesis. The
 * queue is bounded, so memory stays flat however far synthesis runs ahead.
 * The first write error is kept and reported by the next call. */
#include "commit.h"

#include <string.h>

#include "narrate/audio.h"

#define QUEUE_MAX 64

struct job {
    char *path;
    struct nr_audio audio;
};

struct nr_committer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job queue[QUEUE_MAX];
    size_t head, count;
    int busy;   /* the thread is writing a job it has taken off the queue */
    int closing;
    struct nr_err err; /* first failure */
};

static void *run(void *arg) {
    struct nr_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->count == 0 && !c->closing)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->count == 0)
            break;
        struct job j = c->queue[c->head];
        c->head = (c->head + 1) % QUEUE_MAX;
        c->count--;
        c->busy = 1;
        int failed = c->err.status != NR_OK;
        pthread_mutex_unlock(&c->mu);
        struct nr_err err = {0};
        /* After a failure nothing more is written: the render is ending. */
        enum nr_status st = failed ? NR_OK : nr_cache_save(j.path, &j.audio, &err);
        nr_free(j.path);
        nr_audio_deinit(&j.audio);
        pthread_mutex_lock(&c->mu);
        if (st != NR_OK && c->err.status == NR_OK)
            c->err = err;
        c->busy = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

enum nr_status nr__committer_start(struct nr_committer **out, struct nr_err *err) {
    struct nr_committer *c = nr_calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "render: out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        nr_free(c);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "render: cannot start the cache thread");
    }
    *out = c;
    return NR_OK;
}

/* Returns the kept error (copied into err) or NR_OK. Caller holds mu. */
static enum nr_status kept_error(struct nr_committer *c, struct nr_err *err) {
    if (c->err.status == NR_OK)
        return NR_OK;
    if (err && err->status == NR_OK)
        *err = c->err;
    return c->err.status;
}

enum nr_status nr__committer_push(struct nr_committer *c, char *path, struct nr_audio *audio,
                                  struct nr_err *err) {
    pthread_mutex_lock(&c->mu);
    while (c->count == QUEUE_MAX && c->err.status == NR_OK)
        pthread_cond_wait(&c->cv, &c->mu);
    enum nr_status st = kept_error(c, err);
    if (st == NR_OK) {
        c->queue[(c->head + c->count) % QUEUE_MAX] = (struct job){path, *audio};
        c->count++;
        memset(audio, 0, sizeof *audio);
        path = NULL;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    nr_free(path);
    return st;
}

enum nr_status nr__committer_check(struct nr_committer *c, struct nr_err *err) {
    pthread_mutex_lock(&c->mu);
    enum nr_status st = kept_error(c, err);
    pthread_mutex_unlock(&c->mu);
    return st;
}

enum nr_status nr__committer_finish(struct nr_committer *c, struct nr_err *err) {
    if (!c)
        return NR_OK;
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    enum nr_status st = kept_error(c, err);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    nr_free(c);
    return st;
}
