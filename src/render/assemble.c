/* Assembly: the book file, chapter files and subtitles from the cached
 * chunks, in manifest order, with sentence / paragraph / chapter gaps.
 *
 * Streaming passes over the cache, one chunk in memory per thread:
 *  1. measure: chunk lengths, the book's timeline (chapter marks, one
 *     subtitle cue per chunk, written as they are known) and its integrated
 *     loudness, gaps included; its true peak on a second thread over its
 *     own reading of the cache;
 *  1b. the book through the peak limiter at two gains at once (two
 *     threads, each reading the cache), measured, to correct the one gain
 *     for what limiting takes off (a third measurement only when the
 *     correction lands far from both);
 *  2. encode: one gain for the whole book (never per chunk) and one
 *     limiter, whose output goes through a ring of blocks to the chapter
 *     files (unless chapter_files is off) on a second thread and to the
 *     book file (on a third thread for WAV, by the limiter's thread for the
 *     encoded formats). docs/OUTPUTS.md explains the figures.
 * Pass 2 lives in assemble_write.c. Every output is written to a temp name
 * and renamed when complete. Output is the same for the same cache,
 * whichever thread runs first.
 * Memory: the manifest, one size_t per chunk and one mark per chapter, one
 * chunk per thread that reads the cache, and the ring (512 KB). */
#include "assemble_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "narrate/audio.h"

#define FADE_MS 4 /* raised-cosine fade at each chunk edge: no clicks */
/* True peak: EBU R128 asks for <= -1 dBTP. The one book gain brings the
 * loudness to the target; a look-ahead limiter then holds the peaks at the
 * format's limit_db, under -1 to leave room for what resampling and lossy
 * codecs add to peaks. Speech synthesizers often have a peak-to-loudness
 * ratio above 17 dB (eSpeak NG: about 21 dB), so a gain alone could not reach
 * -18 LUFS without the peaks crossing -1 dBTP. The limiter may take off at
 * most MAX_LIMITING dB; beyond that the gain is lowered instead and the book
 * stays quieter than the target (logged). Limiting takes a little off the
 * loudness, so pass 1b measures the limited book and moves the one gain by
 * what it lost. */
#define MAX_LIMITING 8.0

/* Per format: the limiter's ceiling (dBTP) and the loudness its encoder
 * takes off (LU, added to the gain). Measured with ffmpeg's ebur128 filter
 * on eSpeak NG speech and on the test engine's clicks: AAC at 64 kbit/s keeps
 * the loudness but overshoots single-sample clicks by up to 1.3 dB; LAME at
 * 64 kbit/s loses 0.4 LU (its low-pass) and overshoots by 0.2-0.8 dB; Opus at
 * 32 kbit/s loses 0.4 LU and overshoots by up to 0.7 dB; FLAC/WAV change
 * nothing. */
double nr__asm_limit_db(enum nr_audio_format f) {
    return f == NR_AUDIO_FORMAT_OPUS || f == NR_AUDIO_FORMAT_M4B ? -2.5 : -2.0;
}
static double codec_loss_db(enum nr_audio_format f) {
    return f == NR_AUDIO_FORMAT_MP3 || f == NR_AUDIO_FORMAT_OPUS ? 0.4 : 0.0;
}

/* "NN - Title.ext" with characters that file systems or shells trip on
 * replaced; at most ~100 bytes of title, cut on a UTF-8 boundary. */
void nr__asm_file_name(size_t number, const char *title, const char *ext, char *out, size_t size) {
    char clean[112];
    size_t n = 0;
    int space = 0;
    for (const unsigned char *p = (const unsigned char *)title; *p && n < 100; p++) {
        unsigned char c = *p;
        if (c == ':' && n > 0 && n < 98) {
            /* "Chapter One: Title" reads as "Chapter One - Title". */
            clean[n++] = ' ';
            c = '-';
        } else if (c < 0x20 || strchr("/\\*?\"<>|", c)) {
            c = ' ';
        }
        if (c == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n < 99)
            clean[n++] = ' ';
        space = 0;
        clean[n++] = (char)c;
    }
    while (n > 0 && ((unsigned char)clean[n - 1] & 0xC0) == 0x80)
        n--; /* drop a cut multi-byte sequence's tail ... */
    if (n > 0 && ((unsigned char)clean[n - 1] & 0xC0) == 0xC0)
        n--; /* ... and its lead byte */
    while (n > 0 && (clean[n - 1] == '.' || clean[n - 1] == ' '))
        n--;
    clean[n] = '\0';
    snprintf(out, size, "%02zu - %s.%s", number, n ? clean : "Chapter", ext);
}

size_t nr__asm_gap_samples(const struct nr_render *r, enum nr_gap gap, int rate) {
    int ms = gap == NR_GAP_SENTENCE    ? r->s.gap_sentence_ms
             : gap == NR_GAP_PARAGRAPH ? r->s.gap_paragraph_ms
                                       : r->s.gap_chapter_ms;
    return (size_t)((long long)ms * rate / 1000);
}

/* Loads chunk i from the cache with its edge fades, exactly as it is
 * measured and as it is written. */
static enum nr_status load_chunk(struct nr_render *r, size_t i, struct nr_audio *a,
                                 struct nr_err *err) {
    char *path = nr_render_cache_path(r->out_dir, r->engine, r->m->chunks[i].text);
    if (!path)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    enum nr_status st = nr_cache_load(path, a, err);
    nr_free(path);
    if (st == NR_OK && a->rate != r->engine->sample_rate) {
        nr_audio_deinit(a);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "chunk %s: sample rate %d, expected %d",
                          r->m->chunks[i].id, a->rate, r->engine->sample_rate);
    }
    if (st == NR_OK)
        nr_audio_fade_edges(a, (size_t)(r->engine->sample_rate * FADE_MS / 1000));
    return st;
}

static int ends_with_epub(const char *path) {
    size_t n = strlen(path);
    return n > 5 && strcasecmp(path + n - 5, ".epub") == 0;
}

/* The cover comes from the EPUB named by the manifest's source_path (the
 * manifest does not carry it), read again only when that file still exists.
 * Whatever goes wrong is a warning: the audiobook is made without a cover. */
static void load_cover(struct assembly *a) {
    struct nr_render *r = a->r;
    const char *src = r->m->source_path;
    if (a->fmt == NR_AUDIO_FORMAT_WAV || !src || !ends_with_epub(src))
        return;
    if (!nr_file_exists(src)) {
        nr_log_event(r->log, "WARNING: no cover: %s is not there any more", src);
        return;
    }
    struct nr_book *book = NULL;
    struct nr_err err = {0};
    if (nr_book_load(src, &book, &err) != NR_OK) {
        nr_log_event(r->log, "WARNING: no cover: %s", err.msg);
        return;
    }
    if (!book->cover || book->cover_len == 0)
        nr_log_event(r->log, "WARNING: %s has no cover image: the audiobook has none", src);
    else if (!nr_audio_cover_ok(book->cover, book->cover_len, NULL))
        nr_log_event(r->log,
                     "WARNING: the cover image of %s (%s, %zu bytes) is not a readable JPEG or "
                     "PNG: the audiobook has none",
                     src, book->cover_mime[0] ? book->cover_mime : "unknown type", book->cover_len);
    else {
        a->cover = book->cover; /* moved: the book's buffer came from nr_malloc */
        a->cover_len = book->cover_len;
        book->cover = NULL;
        book->cover_len = 0;
    }
    nr_book_free(book);
}

/* Chapter ranges: the chapters that have chunks, in order. */
static enum nr_status plan_chapters(struct assembly *a, struct nr_err *err) {
    const struct nr_manifest *m = a->r->m;
    size_t n = m->n_chapters ? m->n_chapters : 1;
    a->len = nr_calloc(m->n_chunks ? m->n_chunks : 1, sizeof *a->len);
    a->marks = nr_calloc(n, sizeof *a->marks);
    a->mark_first = nr_calloc(n, sizeof *a->mark_first);
    a->mark_end = nr_calloc(n, sizeof *a->mark_end);
    a->mark_chapter = nr_calloc(n, sizeof *a->mark_chapter);
    if (!a->len || !a->marks || !a->mark_first || !a->mark_end || !a->mark_chapter)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    size_t i = 0;
    for (size_t c = 0; c < m->n_chapters; c++) {
        size_t first = i;
        while (i < m->n_chunks && m->chunks[i].chapter == c)
            i++;
        if (i == first)
            continue; /* a chapter without chunks has no audio */
        a->mark_first[a->n_marks] = first;
        a->mark_end[a->n_marks] = i;
        a->mark_chapter[a->n_marks] = c;
        a->marks[a->n_marks].title = m->chapter_titles[c];
        a->n_marks++;
    }
    if (i != m->n_chunks)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: chunk %s is out of chapter order",
                          a->r->manifest_path, m->chunks[i].id);
    return NR_OK;
}

/* What walk() hands on: chunk i's samples, or a gap (i == GAP, samples
 * NULL). */
#define GAP SIZE_MAX
typedef enum nr_status (*visit_fn)(void *user, size_t i, const float *samples, size_t n,
                                   struct nr_err *err);

/* The whole book as it is assembled, in order: each chunk from the cache
 * with its edge fades, and the gaps. With check, every chunk must still
 * have the length pass 1 found. */
static enum nr_status walk(const struct assembly *a, int check, visit_fn visit, void *user,
                           struct nr_err *err) {
    struct nr_render *r = a->r;
    enum nr_status st = NR_OK;
    for (size_t j = 0; j < a->n_marks && st == NR_OK; j++) {
        if (j > 0)
            st = visit(user, GAP, NULL, nr__asm_gap_samples(r, NR_GAP_CHAPTER, a->rate), err);
        for (size_t i = a->mark_first[j]; i < a->mark_end[j] && st == NR_OK; i++) {
            /* Ctrl-C or Stop during assembly: every output is still a temp
             * file, removed on the way out; the cache is complete, so the
             * same command assembles again. */
            if (nr__render_should_stop(r))
                return nr_err_set(err, NR_STATUS_CANCELLED, "render stopped");
            struct nr_audio au;
            st = load_chunk(r, i, &au, err);
            if (st != NR_OK)
                break;
            if (check && au.n != a->len[i])
                st =
                    nr_err_set(err, NR_STATUS_BAD_FORMAT,
                               "chunk %s changed in the cache during assembly", r->m->chunks[i].id);
            if (st == NR_OK)
                st = visit(user, i, au.samples, au.n, err);
            nr_audio_deinit(&au);
            if (st == NR_OK && i + 1 < a->mark_end[j])
                st = visit(user, GAP, NULL, nr__asm_gap_samples(r, r->m->chunks[i].gap, a->rate),
                           err);
        }
    }
    return st;
}

static enum nr_status visit_meter(void *user, size_t i, const float *s, size_t n,
                                  struct nr_err *err) {
    (void)i;
    return nr_loudness_add(user, s, n, err);
}

static enum nr_status visit_limiter(void *user, size_t i, const float *s, size_t n,
                                    struct nr_err *err) {
    (void)i;
    return nr_limiter_push(user, s, n, err);
}

/* Pass 1 on the first thread: lengths, timeline, subtitles, integrated
 * loudness. */
struct timeline {
    struct assembly *a;
    struct nr_loudness *l;
    struct nr_subtitles *subs;
    uint64_t pos;
    size_t next; /* the mark that starts at the next chunk of its range */
};

static enum nr_status visit_timeline(void *user, size_t i, const float *s, size_t n,
                                     struct nr_err *err) {
    struct timeline *tl = user;
    struct assembly *a = tl->a;
    enum nr_status st = nr_loudness_add(tl->l, s, n, err);
    if (i != GAP) {
        if (tl->next < a->n_marks && i == a->mark_first[tl->next])
            a->marks[tl->next++].start = tl->pos;
        if (st == NR_OK)
            st = nr_subtitles_add(tl->subs, tl->pos, tl->pos + n, a->r->m->chunks[i].text, err);
        a->len[i] = n;
    }
    tl->pos += n;
    return st;
}

/* Pass 1 on the second thread: the true peak (4x oversampling, the larger
 * half of the metering), over its own reading of the cache. */
struct peak_job {
    const struct assembly *a;
    struct nr_loudness *l;
    enum nr_status st;
    struct nr_err err;
};

static void *peak_run(void *user) {
    struct peak_job *job = user;
    job->st = walk(job->a, 0, visit_meter, job->l, &job->err);
    return NULL;
}

/* Pass 1: the timeline and the loudness here, the true peak beside it. A
 * chapter runs until the next one starts (its gap included). */
static enum nr_status measure(struct assembly *a, struct nr_subtitles *subs, double *lufs,
                              double *tp, struct nr_err *err) {
    struct timeline tl = {.a = a, .subs = subs};
    struct peak_job job = {.a = a, .st = NR_OK};
    enum nr_status st = nr_loudness_new_integrated(a->rate, &tl.l, err);
    if (st == NR_OK)
        st = nr_loudness_new_peak(a->rate, &job.l, err);
    if (st != NR_OK) {
        nr_loudness_free(tl.l);
        return st;
    }
    pthread_t th;
    int threaded = pthread_create(&th, NULL, peak_run, &job) == 0;
    st = walk(a, 0, visit_timeline, &tl, err);
    if (threaded)
        pthread_join(th, NULL);
    else if (st == NR_OK)
        peak_run(&job); /* no thread: one after the other */
    if (st == NR_OK && job.st != NR_OK)
        st = nr_err_set(err, job.st, "%s", job.err.msg);
    a->total = tl.pos;
    for (size_t j = 0; j < a->n_marks; j++)
        a->marks[j].end = j + 1 < a->n_marks ? a->marks[j + 1].start : a->total;
    if (st == NR_OK)
        st = nr_loudness_result(tl.l, lufs, NULL, err);
    double none;
    if (st == NR_OK)
        st = nr_loudness_result(job.l, &none, tp, err);
    nr_loudness_free(tl.l);
    nr_loudness_free(job.l);
    return st;
}

/* The one gain for the book, logged with the figures it came from. */
static void decide_gain(struct assembly *a, double lufs, double tp, int *limited) {
    double target = a->r->s.loudness_lufs;
    double gain_db =
        nr_loudness_gain_db(lufs, tp, target, nr__asm_limit_db(a->fmt) + MAX_LIMITING, limited);
    a->gain_db = gain_db;
    a->gain = (float)pow(10.0, gain_db / 20.0);
    a->peak_db = tp + gain_db;
    if (!isfinite(lufs)) {
        *limited = 1; /* nothing to correct either */
        nr_log_event(a->r->log, "Loudness: the book is silent; no gain applied");
        return;
    }
    nr_log_event(a->r->log,
                 "Loudness: measured %.1f LUFS, true peak %.1f dBTP; gain %+.2f dB for the whole "
                 "book -> %.1f LUFS, peaks limited to %.1f dBTP",
                 lufs, tp, gain_db, lufs + gain_db, nr__asm_limit_db(a->fmt));
    if (*limited)
        nr_log_event(a->r->log,
                     "Loudness: %.1f LUFS is below the %.1f LUFS target: more gain would need more "
                     "than %.0f dB of peak limiting",
                     lufs + gain_db, target, MAX_LIMITING);
}

/* Collects the limiter's output into a loudness meter. */
static enum nr_status to_meter(void *user, const float *s, size_t n, struct nr_err *err) {
    return nr_loudness_add(user, s, n, err);
}

/* The whole book times gain through lim, flushed at the end. */
enum nr_status nr__asm_feed(const struct assembly *a, float gain, struct nr_limiter *lim,
                            struct nr_err *err) {
    nr_limiter_set_gain(lim, gain);
    enum nr_status st = walk(a, 1, visit_limiter, lim, err);
    return st == NR_OK ? nr_limiter_flush(lim, err) : st;
}

/* The book at gain_db through the limiter: its integrated loudness (no true
 * peak: the limiter has decided it, and metering it would cost 4x
 * oversampling). */
static enum nr_status measure_limited(const struct assembly *a, double gain_db, double *lufs,
                                      struct nr_err *err) {
    struct nr_loudness *l = NULL;
    struct nr_limiter *lim = NULL;
    enum nr_status st = nr_loudness_new_integrated(a->rate, &l, err);
    if (st == NR_OK)
        st = nr_limiter_new(a->rate, nr__asm_limit_db(a->fmt), to_meter, l, &lim, err);
    if (st == NR_OK)
        st = nr__asm_feed(a, (float)pow(10.0, gain_db / 20.0), lim, err);
    if (st == NR_OK)
        st = nr_loudness_result(l, lufs, NULL, err);
    nr_limiter_free(lim);
    nr_loudness_free(l);
    return st;
}

/* One measurement of pass 1b, on its own thread. */
struct probe {
    const struct assembly *a;
    double gain_db, lufs;
    enum nr_status st;
    struct nr_err err;
};

static void *probe_run(void *user) {
    struct probe *p = user;
    p->st = measure_limited(p->a, p->gain_db, &p->lufs, &p->err);
    return NULL;
}

/* Measures the limited book at two gains at once, p[0] here and p[1] on a
 * second thread (one after the other if no thread can be started). The
 * results do not depend on which thread ran what. */
static enum nr_status probe_two(struct probe p[2], struct nr_err *err) {
    pthread_t th;
    int threaded = pthread_create(&th, NULL, probe_run, &p[1]) == 0;
    probe_run(&p[0]);
    if (threaded)
        pthread_join(th, NULL);
    else
        probe_run(&p[1]);
    for (int k = 0; k < 2; k++)
        if (p[k].st != NR_OK)
            return nr_err_set(err, p[k].st, "%s", p[k].err.msg);
    return NR_OK;
}

/* Pass 1b: limiting takes some loudness off, and more gain means a little
 * more limiting, so the loudness after the limiter is a curve L(g) that
 * rises more slowly than g. It is measured at the gain of pass 1 and at
 * PROBE_STEP dB more, both in one pass over the cache (two threads), and
 * the gain moves to where the secant through the two reaches the target.
 * When that lies far beyond the second point, L is measured there once more
 * and the secant through the last two points decides (the curve bends with
 * heavy limiting). Nothing moves when the first point is within 0.05 LU of
 * the target; the raise and the codec allowance stay within MAX_LIMITING of
 * the ceiling. */
#define PROBE_STEP 1.0

/* Where the line through (g0, l0) and (g1, l1) reaches target; its slope is
 * kept in [0.1, 1] (1: no limiting; a flat line cannot ask for a huge raise). */
static double secant(double g0, double l0, double g1, double l1, double target) {
    double slope = fmin(fmax((l1 - l0) / (g1 - g0), 0.1), 1.0);
    return g0 + (target - l0) / slope;
}

static enum nr_status correct_gain(struct assembly *a, struct nr_err *err) {
    struct nr_render *r = a->r;
    double target = r->s.loudness_lufs;
    double g0 = a->gain_db, top = nr__asm_limit_db(a->fmt) + MAX_LIMITING - a->peak_db + g0;
    enum nr_status st = NR_OK;
    if (top - g0 >= 0.05) {
        double step = fmin(PROBE_STEP, top - g0);
        struct probe p[2] = {{.a = a, .gain_db = g0}, {.a = a, .gain_db = g0 + step}};
        st = probe_two(p, err);
        double short0 = target - p[0].lufs;
        if (st == NR_OK && isfinite(p[0].lufs) && isfinite(p[1].lufs) && short0 >= 0.05) {
            double g = fmin(secant(g0, p[0].lufs, g0 + step, p[1].lufs, target), top);
            if (g > g0 + 2 * step) {
                double lufs = 0;
                st = measure_limited(a, g, &lufs, err);
                if (st == NR_OK && isfinite(lufs))
                    g = fmin(secant(g0 + step, p[1].lufs, g, lufs, target), top);
            }
            a->gain_db = g;
            nr_log_event(r->log,
                         "Loudness: %.2f LU short after limiting (%.2f LU at %+.2f dB more); gain "
                         "raised by %.2f dB",
                         short0, target - p[1].lufs, step, g - g0);
        }
    }
    double codec = fmin(codec_loss_db(a->fmt), top - a->gain_db);
    if (st == NR_OK && codec > 0) {
        a->gain_db += codec;
        nr_log_event(r->log, "Loudness: +%.2f dB for what the %s encoder takes off", codec,
                     r->s.output_format);
    }
    a->gain = (float)pow(10.0, a->gain_db / 20.0);
    return st;
}

static enum nr_status open_subtitles(struct assembly *a, struct nr_subtitles **out,
                                     struct nr_err *err) {
    char *srt = nr_path_join(a->r->out_dir, "book.srt");
    char *vtt = nr_path_join(a->r->out_dir, "book.vtt");
    enum nr_status st = srt && vtt
                            ? nr_subtitles_open(srt, vtt, a->rate, out, err)
                            : nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    nr_free(srt);
    nr_free(vtt);
    return st;
}

enum nr_status nr__render_assemble(struct nr_render *r, struct nr_err *err) {
    struct assembly a = {.r = r, .rate = r->engine->sample_rate};
    struct nr_subtitles *subs = NULL;
    double t0 = nr_now();
    enum nr_status st = nr_audio_format_parse(r->s.output_format, &a.fmt, err);
    if (st == NR_OK)
        st = plan_chapters(&a, err);
    if (st == NR_OK)
        st = open_subtitles(&a, &subs, err);
    double lufs = 0, tp = 0, t[3];
    if (st == NR_OK)
        st = measure(&a, subs, &lufs, &tp, err);
    t[0] = nr_now();
    int limited = 0;
    if (st == NR_OK)
        decide_gain(&a, lufs, tp, &limited);
    if (st == NR_OK && !limited)
        st = correct_gain(&a, err);
    t[1] = nr_now();
    if (st == NR_OK) {
        load_cover(&a);
        st = nr__asm_encode(&a, err);
    }
    t[2] = nr_now();
    if (st == NR_OK) {
        st = nr_subtitles_close(subs, err);
        subs = NULL;
    }
    nr_subtitles_abort(subs);
    if (st == NR_OK)
        nr_log_event(r->log,
                     "Assembled %s in %.2fs (measure %.2fs, gain fit %.2fs, encode %.2fs): %zu "
                     "chapters, %zu subtitle cues",
                     r->s.output_format, nr_now() - t0, t[0] - t0, t[1] - t[0], t[2] - t[1],
                     a.n_marks, r->m->n_chunks);
    nr_free(a.len);
    nr_free(a.marks);
    nr_free(a.mark_first);
    nr_free(a.mark_end);
    nr_free(a.mark_chapter);
    nr_free(a.cover);
    return st;
}
