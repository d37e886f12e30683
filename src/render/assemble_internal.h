/* Assembly's parts shared by its two files: assemble.c (plan, measure,
 * gain fit, the entry point) and assemble_write.c (pass 2: the book file
 * and chapter files). Private to src/render. */
#ifndef NARRATE_RENDER_ASSEMBLE_INTERNAL_H
#define NARRATE_RENDER_ASSEMBLE_INTERNAL_H

#include "render_internal.h"

#include "narrate/audio.h"

struct assembly {
    struct nr_render *r;
    int rate; /* the voice's, Hz; every position below counts samples at it */
    enum nr_audio_format fmt;
    size_t *len;                    /* (n_chunks) samples of each chunk, from pass 1 */
    struct nr_audio_chapter *marks; /* (n_marks) chapters that have audio */
    size_t *mark_first, *mark_end;  /* (n_marks) their chunk ranges */
    size_t *mark_chapter;           /* (n_marks) their manifest chapter index */
    size_t n_marks;
    uint64_t total;       /* book length in samples */
    double gain_db;       /* the one gain ... */
    float gain;           /* ... as the factor every sample is multiplied by */
    double peak_db;       /* the book's true peak after the gain, before limiting */
    unsigned char *cover; /* JPEG/PNG bytes or NULL */
    size_t cover_len;
};

/* The limiter's ceiling (dBTP) for a format. */
double nr__asm_limit_db(enum nr_audio_format f);
/* "NN - Title.ext", safe for file systems and shells. */
void nr__asm_file_name(size_t number, const char *title, const char *ext, char *out, size_t size);
/* Samples of a gap of this kind at rate. */
size_t nr__asm_gap_samples(const struct nr_render *r, enum nr_gap gap, int rate);
/* The whole book times gain through lim, flushed at the end. */
NR_MUST_CHECK enum nr_status nr__asm_feed(const struct assembly *a, float gain,
                                          struct nr_limiter *lim, struct nr_err *err);
/* Pass 2: the book file and (unless chapter_files is off) the chapter files,
 * at a->gain through the limiter. */
NR_MUST_CHECK enum nr_status nr__asm_encode(struct assembly *a, struct nr_err *err);

#endif
