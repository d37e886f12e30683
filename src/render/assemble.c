/* Assembly: chapter files and book.wav from the cached chunks, in manifest
 * order, with sentence / paragraph / chapter gaps. Streams one chunk at a
 * time, so memory does not grow with the book. */
#include "render_internal.h"

#include <math.h>
#include <string.h>

#include "narrate/audio.h"

#define FADE_MS 4        /* raised-cosine fade at each chunk edge: no clicks */
#define PEAK_LIMIT 0.98f /* never let a sample reach full scale: no clipping */

/* "NN - Title.wav" with characters that file systems or shells trip on
 * replaced; at most ~100 bytes, cut on a UTF-8 boundary. */
static void chapter_file_name(size_t number, const char *title, char *out, size_t size) {
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
    snprintf(out, size, "%02zu - %s.wav", number, n ? clean : "Chapter");
}

static size_t gap_samples(const struct nr_render *r, enum nr_gap gap, int rate) {
    int ms = gap == NR_GAP_SENTENCE    ? r->s.gap_sentence_ms
             : gap == NR_GAP_PARAGRAPH ? r->s.gap_paragraph_ms
                                       : r->s.gap_chapter_ms;
    return (size_t)((long long)ms * rate / 1000);
}

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
    return st;
}

/* First pass: the book's peak, for one gain that keeps every sample below
 * full scale. One gain for the whole book, never per chunk. */
static enum nr_status book_gain(struct nr_render *r, float *gain, struct nr_err *err) {
    float peak = 0;
    for (size_t i = 0; i < r->m->n_chunks; i++) {
        struct nr_audio a;
        enum nr_status st = load_chunk(r, i, &a, err);
        if (st != NR_OK)
            return st;
        for (size_t k = 0; k < a.n; k++)
            peak = fmaxf(peak, fabsf(a.samples[k]));
        nr_audio_deinit(&a);
    }
    *gain = peak > PEAK_LIMIT ? PEAK_LIMIT / peak : 1.0f;
    return NR_OK;
}

static enum nr_status write_both(struct nr_wav_writer *ch, struct nr_wav_writer *book,
                                 const float *s, size_t n, struct nr_err *err) {
    enum nr_status st = nr_wav_writer_write(ch, s, n, err);
    return st == NR_OK ? nr_wav_writer_write(book, s, n, err) : st;
}

/* Writes chapter c (chunks [first, end)) into its own file and the book. */
static enum nr_status write_chapter(struct nr_render *r, size_t c, size_t first, size_t end,
                                    struct nr_wav_writer *book, struct nr_err *err) {
    int rate = r->engine->sample_rate;
    char name[160];
    chapter_file_name(c + 1, r->m->chapter_titles[c], name, sizeof name);
    char *path = nr_path_join(r->out_dir, name);
    if (!path)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    struct nr_wav_writer ch;
    enum nr_status st = nr_wav_writer_open(&ch, path, rate, err);
    nr_free(path);
    if (st != NR_OK)
        return st;
    ch.gain = book->gain;
    for (size_t i = first; i < end && st == NR_OK; i++) {
        struct nr_audio a;
        st = load_chunk(r, i, &a, err);
        if (st != NR_OK)
            break;
        nr_audio_fade_edges(&a, (size_t)(rate * FADE_MS / 1000));
        st = write_both(&ch, book, a.samples, a.n, err);
        nr_audio_deinit(&a);
        if (st == NR_OK && i + 1 < end) {
            size_t gap = gap_samples(r, r->m->chunks[i].gap, rate);
            st = write_both(&ch, book, NULL, gap, err);
        }
    }
    if (st != NR_OK) {
        nr_wav_writer_abort(&ch);
        return st;
    }
    st = nr_wav_writer_close(&ch, err);
    if (st == NR_OK)
        nr_log_event(r->log, "Wrote %s/%s (%.1f min)", r->out_dir, name,
                     (double)ch.n_samples / rate / 60.0);
    return st;
}

enum nr_status nr__render_assemble(struct nr_render *r, struct nr_err *err) {
    float gain;
    enum nr_status st = book_gain(r, &gain, err);
    if (st != NR_OK)
        return st;
    char *path = nr_path_join(r->out_dir, "book.wav");
    if (!path)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "assemble: out of memory");
    struct nr_wav_writer book;
    st = nr_wav_writer_open(&book, path, r->engine->sample_rate, err);
    if (st != NR_OK) {
        nr_free(path);
        return st;
    }
    book.gain = gain;
    size_t i = 0;
    for (size_t c = 0; c < r->m->n_chapters && st == NR_OK; c++) {
        size_t first = i;
        while (i < r->m->n_chunks && r->m->chunks[i].chapter == c)
            i++;
        if (i == first)
            continue; /* a chapter without chunks has no audio */
        if (first > 0)
            st = nr_wav_writer_silence(&book, gap_samples(r, NR_GAP_CHAPTER,
                                                          r->engine->sample_rate), err);
        if (st == NR_OK)
            st = write_chapter(r, c, first, i, &book, err);
    }
    if (st == NR_OK)
        st = nr_wav_writer_close(&book, err);
    else
        nr_wav_writer_abort(&book);
    if (st == NR_OK) {
        double secs = (double)book.n_samples / r->engine->sample_rate;
        nr_log_event(r->log, "Wrote %s (%d:%02d:%02d)", path, (int)(secs / 3600),
                     (int)(secs / 60) % 60, (int)secs % 60);
    }
    nr_free(path);
    return st;
}
