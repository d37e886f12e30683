/* SRT and WebVTT subtitles, streamed cue by cue into atomic files. */
#include "narrate/audio.h"

#include <errno.h>
#include <string.h>

#define WRAP_COLUMNS 42 /* the usual subtitle line length */

struct nr_subtitles {
    struct nr_atomic_file srt, vtt;
    int rate;
    uint64_t n_cues;
    uint64_t last_end;
};

enum nr_status nr_subtitles_open(const char *srt_path, const char *vtt_path, int rate,
                                 struct nr_subtitles **out, struct nr_err *err) {
    *out = NULL;
    if (rate <= 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "subtitles: bad rate %d", rate);
    struct nr_subtitles *s = nr_calloc(1, sizeof *s);
    if (!s)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "subtitles: out of memory");
    s->rate = rate;
    enum nr_status st = nr_atomic_open(&s->srt, srt_path, err);
    if (st == NR_OK) {
        st = nr_atomic_open(&s->vtt, vtt_path, err);
        if (st != NR_OK)
            nr_atomic_abort(&s->srt);
    }
    if (st != NR_OK) {
        nr_free(s);
        return st;
    }
    if (fputs("WEBVTT\n\n", s->vtt.fp) == EOF) {
        nr_subtitles_abort(s);
        return nr_err_set(err, NR_STATUS_IO, "%s: write failed", vtt_path);
    }
    *out = s;
    return NR_OK;
}

/* HH:MM:SS<sep>mmm, rounded to the nearest millisecond. */
static void stamp(char *out, size_t size, uint64_t samples, int rate, char sep) {
    uint64_t ms = (samples * 1000 + (uint64_t)rate / 2) / (uint64_t)rate;
    snprintf(out, size, "%02llu:%02llu:%02llu%c%03llu", (unsigned long long)(ms / 3600000),
             (unsigned long long)(ms / 60000 % 60), (unsigned long long)(ms / 1000 % 60), sep,
             (unsigned long long)(ms % 1000));
}

/* Writes text to both files: whitespace runs become one space, lines break
 * at spaces before WRAP_COLUMNS characters (UTF-8 continuation bytes do not
 * count), and the VTT copy escapes & < >. */
static void put_text(struct nr_subtitles *s, const char *text) {
    const char *p = text;
    size_t col = 0;
    int any = 0;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (!*p)
            break;
        const char *w = p;
        size_t cols = 0;
        while (*p && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            if (((unsigned char)*p & 0xC0) != 0x80)
                cols++;
            p++;
        }
        if (col > 0) {
            int wrap = col + 1 + cols > WRAP_COLUMNS;
            fputc(wrap ? '\n' : ' ', s->srt.fp);
            fputc(wrap ? '\n' : ' ', s->vtt.fp);
            col = wrap ? 0 : col + 1;
        }
        fwrite(w, 1, (size_t)(p - w), s->srt.fp);
        for (const char *c = w; c < p; c++) {
            if (*c == '&')
                fputs("&amp;", s->vtt.fp);
            else if (*c == '<')
                fputs("&lt;", s->vtt.fp);
            else if (*c == '>')
                fputs("&gt;", s->vtt.fp);
            else
                fputc(*c, s->vtt.fp);
        }
        col += cols;
        any = 1;
    }
    if (!any) {
        /* An empty cue still needs a text line to parse. */
        fputc('-', s->srt.fp);
        fputc('-', s->vtt.fp);
    }
    fputs("\n\n", s->srt.fp);
    fputs("\n\n", s->vtt.fp);
}

enum nr_status nr_subtitles_add(struct nr_subtitles *s, uint64_t start, uint64_t end,
                                const char *text, struct nr_err *err) {
    if (end < start || start < s->last_end)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "subtitles: cue %llu out of order",
                          (unsigned long long)s->n_cues + 1);
    char a[32], b[32];
    s->n_cues++;
    s->last_end = end;
    stamp(a, sizeof a, start, s->rate, ',');
    stamp(b, sizeof b, end, s->rate, ',');
    fprintf(s->srt.fp, "%llu\n%s --> %s\n", (unsigned long long)s->n_cues, a, b);
    stamp(a, sizeof a, start, s->rate, '.');
    stamp(b, sizeof b, end, s->rate, '.');
    fprintf(s->vtt.fp, "%s --> %s\n", a, b);
    put_text(s, text);
    if (ferror(s->srt.fp) || ferror(s->vtt.fp))
        return nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", s->srt.final_path,
                          strerror(errno));
    return NR_OK;
}

enum nr_status nr_subtitles_close(struct nr_subtitles *s, struct nr_err *err) {
    enum nr_status st = nr_atomic_commit(&s->srt, err);
    if (st == NR_OK)
        st = nr_atomic_commit(&s->vtt, err);
    else
        nr_atomic_abort(&s->vtt);
    nr_free(s);
    return st;
}

void nr_subtitles_abort(struct nr_subtitles *s) {
    if (!s)
        return;
    nr_atomic_abort(&s->srt);
    nr_atomic_abort(&s->vtt);
    nr_free(s);
}
