/* Assembly, pass 2: the book file and the chapter files, written from the
 * cache at the one gain through the limiter (see assemble.c for the passes
 * and docs/OUTPUTS.md for the figures). Every output is written to a temp
 * name and renamed when complete. */
#include "assemble_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void log_written(struct nr_render *r, const char *path, uint64_t samples, int rate) {
    double secs = (double)samples / rate;
    nr_log_event(r->log, "Wrote %s (%d:%02d:%02d)", path, (int)(secs / 3600), (int)(secs / 60) % 60,
                 (int)secs % 60);
}

/* st after another side (a thread) ended with other: its failure replaces
 * st when st is fine or only the echo of it (CANCELLED: "the other side
 * failed", or the same stop seen here too). */
static enum nr_status take_failure(enum nr_status st, struct nr_err *err, enum nr_status other,
                                   const struct nr_err *other_err) {
    if (other == NR_OK || (st != NR_OK && st != NR_STATUS_CANCELLED))
        return st;
    nr_err_clear(err);
    return nr_err_set(err, other, "%s", other_err->msg);
}

/* Encoders get the limited signal: their own gain and limiter are off. */
#define NO_LIMITER 1.0

static enum nr_status open_chapter_file(struct assembly *a, size_t j, struct nr_audio_encoder **out,
                                        char **path_out, struct nr_err *err) {
    const struct nr_manifest *m = a->r->m;
    size_t c = a->mark_chapter[j];
    char name[160];
    nr__asm_file_name(c + 1, m->chapter_titles[c], nr_audio_format_ext(a->fmt), name, sizeof name);
    char *path = nr_path_join(a->r->out_dir, name);
    if (!path)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    struct nr_audio_tags t = {.title = m->chapter_titles[c],
                              .artist = m->author,
                              .album = m->title,
                              .track = (int)c + 1,
                              .n_tracks = (int)m->n_chapters,
                              .cover = a->cover,
                              .cover_len = a->cover_len};
    enum nr_status st =
        nr_audio_encoder_open(path, a->fmt, a->rate, 1.0f, NO_LIMITER, &t, out, err);
    if (st != NR_OK)
        nr_free(path);
    else
        *path_out = path;
    return st;
}

/* Where mark j's audio ends: the next chapter's gap is not in its file. */
static uint64_t chapter_stop(const struct assembly *a, size_t j) {
    return j + 1 < a->n_marks
               ? a->marks[j + 1].start - nr__asm_gap_samples(a->r, NR_GAP_CHAPTER, a->rate)
               : a->total;
}

/* Pass 2's chapter side: the limited book, in book order; from a chapter's
 * first sample to its last it goes to the chapter's file. */
struct writer {
    struct assembly *a;
    atomic_int *stop; /* set when the book's side failed (own-limiter chapter side only) */
    struct nr_audio_encoder *ch;
    char *ch_path;
    size_t next;  /* the mark whose file is open or opens next */
    uint64_t pos; /* book samples seen */
    /* The last finished chapter file, being closed (encoder flushed, file
     * synced and renamed) on a thread of its own while the next one is
     * written: a sync waits for the disk, which would stall every side. */
    pthread_t closer;
    int closing;
    struct nr_audio_encoder *c_enc;
    char *c_path;
    uint64_t c_samples;
    enum nr_status c_st;
    struct nr_err c_err;
};

static void *close_run(void *user) {
    struct writer *w = user;
    w->c_st = nr_audio_encoder_close(w->c_enc, &w->c_err);
    w->c_enc = NULL;
    if (w->c_st == NR_OK)
        log_written(w->a->r, w->c_path, w->c_samples, w->a->rate);
    return NULL;
}

/* Waits for the chapter file being closed, if any: its status. */
static enum nr_status close_wait(struct writer *w, struct nr_err *err) {
    if (!w->c_path)
        return NR_OK;
    if (w->closing)
        pthread_join(w->closer, NULL);
    w->closing = 0;
    nr_free(w->c_path);
    w->c_path = NULL;
    return w->c_st == NR_OK ? NR_OK : nr_err_set(err, w->c_st, "%s", w->c_err.msg);
}

/* Hands the finished chapter file to the closer, or closes it here, after
 * the one before it is closed: chapter files are committed in order. */
static enum nr_status close_start(struct writer *w, uint64_t samples, struct nr_err *err) {
    enum nr_status st = close_wait(w, err);
    if (st != NR_OK)
        return st;
    w->c_enc = w->ch;
    w->c_path = w->ch_path;
    w->c_samples = samples;
    w->ch = NULL;
    w->ch_path = NULL;
    /* Only a WAV file is closed aside: the others' encoders hold several
     * MB until they are flushed, which three at a time would add to the
     * peak memory, and their encoding, not the sync, is what they wait on. */
    w->closing =
        w->a->fmt == NR_AUDIO_FORMAT_WAV && pthread_create(&w->closer, NULL, close_run, w) == 0;
    if (!w->closing) {
        close_run(w);
        return close_wait(w, err);
    }
    return NR_OK;
}

static enum nr_status to_chapters(void *user, const float *s, size_t n, struct nr_err *err) {
    struct writer *w = user;
    struct assembly *a = w->a;
    uint64_t end = w->pos + n;
    if (w->stop && atomic_load(w->stop))
        return nr_err_set(err, NR_STATUS_CANCELLED, "assemble: the book failed");
    enum nr_status st = NR_OK;
    while (st == NR_OK && w->next < a->n_marks) {
        uint64_t stop = chapter_stop(a, w->next);
        if (!w->ch) {
            uint64_t start = a->marks[w->next].start;
            /* Not reached yet (an empty chapter opens at its position). */
            if (start > end || (start == end && stop > start))
                break;
            s += start - w->pos;
            n -= (size_t)(start - w->pos);
            w->pos = start;
            st = open_chapter_file(a, w->next, &w->ch, &w->ch_path, err);
            if (st != NR_OK)
                break;
        }
        size_t m = stop - w->pos < n ? (size_t)(stop - w->pos) : n;
        st = nr_audio_encoder_write(w->ch, s, m, err);
        s += m;
        n -= m;
        w->pos += m;
        if (st != NR_OK || w->pos < stop)
            break;
        st = close_start(w, stop - a->marks[w->next].start, err);
        w->next++;
    }
    w->pos = end;
    return st;
}

/* Pass 2 runs the limiter once and hands its output to the writers (the
 * book's encoder, the chapter files') through a ring of blocks that each
 * of them reads in full on its own thread: the limiter and the encoders
 * share the cores, and a slow encoder holds the others back by at most
 * RING_SLOTS blocks. Large blocks, and a wake-up only for a side that
 * waits, keep the threads from ping-ponging. Any side that fails stops the
 * others. */
#define RING_SLOTS 8
#define RING_BLOCK 16384
#define MAX_READERS 2

struct reader {
    struct ring *q;
    int k;                  /* which tail is this reader's */
    nr_audio_sink_fn write; /* what it does with each block */
    void *user;
    pthread_t th;
    enum nr_status st;
    struct nr_err err;
};

struct ring {
    pthread_mutex_t mu;
    pthread_cond_t data, space; /* for the readers, for the producer */
    float (*slot)[RING_BLOCK];  /* (RING_SLOTS) */
    size_t len[RING_SLOTS];     /* samples in each slot */
    size_t fill;                /* samples in the slot being filled */
    uint64_t head;              /* blocks written */
    uint64_t tail[MAX_READERS]; /* blocks each reader is done with */
    int n_readers, done, failed;
    int readers_waiting, writer_waiting;
    struct reader rd[MAX_READERS];
    struct nr_audio_encoder *direct; /* written by the producer itself, or NULL */
    atomic_int *stop;                /* set when a chapter side of its own failed, or NULL */
};

static void ring_stop(struct ring *q, int failed) {
    pthread_mutex_lock(&q->mu);
    q->done = 1;
    q->failed |= failed;
    pthread_cond_broadcast(&q->data);
    pthread_cond_broadcast(&q->space);
    pthread_mutex_unlock(&q->mu);
}

static void *reader_run(void *user) {
    struct reader *rd = user;
    struct ring *q = rd->q;
    enum nr_status st = NR_OK;
    while (st == NR_OK) {
        pthread_mutex_lock(&q->mu);
        while (q->tail[rd->k] == q->head && !q->done && !q->failed) {
            q->readers_waiting++;
            pthread_cond_wait(&q->data, &q->mu);
            q->readers_waiting--;
        }
        uint64_t b = q->tail[rd->k];
        int stop = q->failed || b == q->head; /* failed, or done and read */
        pthread_mutex_unlock(&q->mu);
        if (stop)
            break;
        st = rd->write(rd->user, q->slot[b % RING_SLOTS], q->len[b % RING_SLOTS], &rd->err);
        pthread_mutex_lock(&q->mu);
        q->tail[rd->k]++;
        if (st != NR_OK) {
            q->failed = 1;
            pthread_cond_broadcast(&q->data);
        }
        if (q->writer_waiting || st != NR_OK)
            pthread_cond_signal(&q->space);
        pthread_mutex_unlock(&q->mu);
    }
    rd->st = st;
    return NULL;
}

/* Makes the slot being filled readable. */
static void ring_publish(struct ring *q) {
    pthread_mutex_lock(&q->mu);
    q->len[q->head % RING_SLOTS] = q->fill;
    q->head++;
    q->fill = 0;
    if (q->readers_waiting)
        pthread_cond_broadcast(&q->data);
    pthread_mutex_unlock(&q->mu);
}

/* The limiter's sink: samples into the ring, or straight to the writers
 * when no thread could be started. */
static enum nr_status to_ring(void *user, const float *s, size_t n, struct nr_err *err) {
    struct ring *q = user;
    if (q->stop && atomic_load(q->stop))
        return nr_err_set(err, NR_STATUS_CANCELLED, "assemble: a chapter file failed");
    if (q->direct) {
        enum nr_status st = nr_audio_encoder_write(q->direct, s, n, err);
        if (st != NR_OK)
            return st;
    }
    if (!q->slot) {
        for (int k = 0; k < q->n_readers; k++) {
            enum nr_status st = q->rd[k].write(q->rd[k].user, s, n, err);
            if (st != NR_OK)
                return st;
        }
        return NR_OK;
    }
    while (n > 0) {
        if (q->fill == 0) { /* a new slot: wait until every reader is done with it */
            pthread_mutex_lock(&q->mu);
            for (;;) {
                uint64_t oldest = q->head;
                for (int k = 0; k < q->n_readers; k++)
                    oldest = q->tail[k] < oldest ? q->tail[k] : oldest;
                if (q->failed || q->head - oldest < RING_SLOTS)
                    break;
                q->writer_waiting = 1;
                pthread_cond_wait(&q->space, &q->mu);
                q->writer_waiting = 0;
            }
            int failed = q->failed;
            pthread_mutex_unlock(&q->mu);
            if (failed)
                return nr_err_set(err, NR_STATUS_CANCELLED, "assemble: a writer failed");
        }
        /* Only this thread moves head: the slot is its own until then. */
        float *to = q->slot[q->head % RING_SLOTS] + q->fill;
        size_t m = RING_BLOCK - q->fill < n ? RING_BLOCK - q->fill : n;
        if (s)
            memcpy(to, s, m * sizeof *s);
        else
            memset(to, 0, m * sizeof *s);
        q->fill += m;
        n -= m;
        if (s)
            s += m;
        if (q->fill == RING_BLOCK)
            ring_publish(q);
    }
    return NR_OK;
}

/* Starts a thread per reader; when one cannot start, none runs and to_ring
 * calls the writers itself (q->slot stays NULL). */
static void ring_start(struct ring *q) {
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->data, NULL);
    pthread_cond_init(&q->space, NULL);
    q->slot = q->n_readers ? nr_malloc(RING_SLOTS * sizeof *q->slot) : NULL;
    if (!q->slot)
        return;
    int k = 0;
    for (; k < q->n_readers; k++)
        if (pthread_create(&q->rd[k].th, NULL, reader_run, &q->rd[k]) != 0)
            break;
    if (k < q->n_readers) {
        ring_stop(q, 0); /* nothing was written: the ones started end at once */
        for (int j = 0; j < k; j++)
            pthread_join(q->rd[j].th, NULL);
        q->done = q->failed = 0;
        nr_free(q->slot);
        q->slot = NULL;
    }
}

/* Hands on the last samples and waits for the readers; the first real
 * failure (not the echo of another side's) wins over the producer's status
 * st. */
static enum nr_status ring_finish(struct ring *q, enum nr_status st, struct nr_err *err) {
    if (q->slot) {
        if (st == NR_OK && q->fill > 0)
            ring_publish(q);
        ring_stop(q, st != NR_OK);
        for (int k = 0; k < q->n_readers; k++)
            pthread_join(q->rd[k].th, NULL);
        nr_free(q->slot);
        q->slot = NULL;
    }
    pthread_cond_destroy(&q->data);
    pthread_cond_destroy(&q->space);
    pthread_mutex_destroy(&q->mu);
    for (int k = 0; k < q->n_readers; k++)
        st = take_failure(st, err, q->rd[k].st, &q->rd[k].err);
    return st;
}

static enum nr_status to_book(void *user, const float *s, size_t n, struct nr_err *err) {
    return nr_audio_encoder_write(user, s, n, err);
}

/* The chapter files of an encoded format: the book through its own copy of
 * the gain and limiter (the same input, so the same output as the book's)
 * on a second thread. Handing them the book's limited blocks instead left
 * a ten-hour M4B's peak memory 7 MB higher (three threads' malloc arenas
 * around two growing MP4 indexes), and the limiter is little next to an
 * encoder. */
struct chapter_job {
    struct writer *w;
    atomic_int stop; /* either side failed: both stop */
    pthread_t th;
    enum nr_status st;
    struct nr_err err;
};

static void *encode_chapters(void *user) {
    struct chapter_job *job = user;
    struct assembly *a = job->w->a;
    struct nr_limiter *lim = NULL;
    enum nr_status st =
        nr_limiter_new(a->rate, nr__asm_limit_db(a->fmt), to_chapters, job->w, &lim, &job->err);
    if (st == NR_OK)
        st = nr__asm_feed(a, a->gain, lim, &job->err);
    if (st != NR_OK)
        atomic_store(&job->stop, 1);
    nr_limiter_free(lim);
    job->st = st;
    return NULL;
}

/* Pass 2: the book through the gain and the limiter into the book file, and
 * the chapter files beside it. */
enum nr_status nr__asm_encode(struct assembly *a, struct nr_err *err) {
    struct nr_render *r = a->r;
    char name[32];
    snprintf(name, sizeof name, "book.%s", nr_audio_format_ext(a->fmt));
    char *path = nr_path_join(r->out_dir, name);
    if (!path)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    struct nr_audio_tags t = {.title = r->m->title,
                              .artist = r->m->author,
                              .album = r->m->title,
                              .cover = a->cover,
                              .cover_len = a->cover_len,
                              .chapters = a->marks,
                              .n_chapters = a->n_marks};
    struct nr_audio_encoder *book = NULL;
    struct nr_limiter *lim = NULL;
    struct writer w = {.a = a};
    struct ring q = {.n_readers = 0};
    struct chapter_job job = {.w = &w, .st = NR_OK};
    atomic_init(&job.stop, 0);
    int own = 0; /* the chapter side runs its own limiter on a thread */
    enum nr_status st =
        nr_audio_encoder_open(path, a->fmt, a->rate, 1.0f, NO_LIMITER, &t, &book, err);
    if (st == NR_OK)
        st = nr_limiter_new(a->rate, nr__asm_limit_db(a->fmt), to_ring, &q, &lim, err);
    if (st == NR_OK) {
        /* WAV: writing a file costs about what limiting does, so the book
         * and the chapters each get a thread and the limiter runs once.
         * The encoded formats: the limiter's thread encodes the book. */
        if (a->fmt == NR_AUDIO_FORMAT_WAV) {
            q.rd[q.n_readers++] = (struct reader){.q = &q, .write = to_book, .user = book};
            if (r->s.chapter_files)
                q.rd[q.n_readers++] =
                    (struct reader){.q = &q, .k = 1, .write = to_chapters, .user = &w};
        } else {
            q.direct = book;
            q.stop = w.stop = &job.stop;
            own = r->s.chapter_files;
            if (own && pthread_create(&job.th, NULL, encode_chapters, &job) != 0) {
                encode_chapters(&job); /* no thread: one after the other */
                own = 0;
            }
        }
        ring_start(&q);
        st = nr__asm_feed(a, a->gain, lim, err);
        st = ring_finish(&q, st, err);
        if (st != NR_OK)
            atomic_store(&job.stop, 1); /* the chapter side stops too */
        if (own)
            pthread_join(job.th, NULL);
        st = take_failure(st, err, job.st, &job.err);
    }
    if (st == NR_OK && r->s.chapter_files) {
        st = to_chapters(&w, NULL, 0, err); /* empty chapters at the very end */
        if (st == NR_OK && w.next != a->n_marks)
            st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "assemble: %zu of %zu chapter files written",
                            w.next, a->n_marks);
    }
    enum nr_status cst = close_wait(&w, st == NR_OK ? err : &(struct nr_err){0});
    if (st == NR_OK)
        st = cst;
    if (st == NR_OK && nr_audio_encoder_samples(book) != a->total)
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "assemble: %s has %llu samples, planned %llu",
                        path, (unsigned long long)nr_audio_encoder_samples(book),
                        (unsigned long long)a->total);
    if (st == NR_OK) {
        uint64_t n_limited = nr_limiter_samples_limited(lim);
        double depth = nr_limiter_max_reduction_db(lim);
        st = nr_audio_encoder_close(book, err);
        book = NULL;
        if (st == NR_OK && n_limited > 0)
            nr_log_event(r->log, "Limiter: %.2f%% of the book's samples limited, at most %.1f dB",
                         100.0 * (double)n_limited / (double)(a->total ? a->total : 1), depth);
        if (st == NR_OK)
            log_written(r, path, a->total, a->rate);
    }
    nr_audio_encoder_abort(w.ch);
    nr_free(w.ch_path);
    nr_audio_encoder_abort(book);
    nr_limiter_free(lim);
    nr_free(path);
    return st;
}
