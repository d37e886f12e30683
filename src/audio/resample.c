/* Streaming mono resampling through libsoxr. */
#include "narrate/audio.h"

#include <soxr.h>

#define OUT_BLOCK 8192 /* output samples per sink call */

struct nr_resampler {
    soxr_t soxr;
    nr_audio_sink_fn sink;
    void *user;
    double ratio;
    float out[OUT_BLOCK];
};

enum nr_status nr_resampler_new(int in_rate, int out_rate, nr_audio_sink_fn sink, void *user,
                                struct nr_resampler **out, struct nr_err *err) {
    *out = NULL;
    if (in_rate <= 0 || out_rate <= 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "resample: bad rates %d -> %d", in_rate,
                          out_rate);
    struct nr_resampler *rs = nr_calloc(1, sizeof *rs);
    if (!rs)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "resample: out of memory");
    soxr_error_t e = NULL;
    /* Defaults: float32 in and out, SOXR_HQ (20-bit precision, 91 %
     * bandwidth), linear phase: speech keeps its timing exactly. */
    rs->soxr = soxr_create(in_rate, out_rate, 1, &e, NULL, NULL, NULL);
    if (!rs->soxr) {
        nr_free(rs);
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "resample %d -> %d: %s", in_rate, out_rate,
                          e ? e : "soxr failed");
    }
    rs->sink = sink;
    rs->user = user;
    rs->ratio = (double)out_rate / in_rate;
    *out = rs;
    return NR_OK;
}

/* Runs one soxr_process call and hands what came out to the sink. */
static enum nr_status step(struct nr_resampler *rs, const float *in, size_t n, size_t *used,
                           size_t *produced, struct nr_err *err) {
    size_t odone = 0;
    soxr_error_t e = soxr_process(rs->soxr, in, n, used, rs->out, OUT_BLOCK, &odone);
    if (e)
        return nr_err_set(err, NR_STATUS_DEVICE, "resample: %s", e);
    *produced = odone;
    return odone ? rs->sink(rs->user, rs->out, odone, err) : NR_OK;
}

enum nr_status nr_resampler_push(struct nr_resampler *rs, const float *samples, size_t n,
                                 struct nr_err *err) {
    static const float zeros[1024]; /* const table: silence to feed */
    while (n > 0) {
        /* Small pieces keep each call's output within one block. */
        size_t m = n < 1024 ? n : 1024;
        const float *in = samples ? samples : zeros;
        size_t off = 0;
        while (off < m) {
            size_t used = 0, produced = 0;
            enum nr_status st = step(rs, in + off, m - off, &used, &produced, err);
            if (st != NR_OK)
                return st;
            off += used;
        }
        n -= m;
        if (samples)
            samples += m;
    }
    return NR_OK;
}

enum nr_status nr_resampler_flush(struct nr_resampler *rs, struct nr_err *err) {
    for (;;) {
        size_t produced = 0;
        /* NULL input tells soxr the stream has ended; it then drains. */
        enum nr_status st = step(rs, NULL, 0, NULL, &produced, err);
        if (st != NR_OK || produced == 0)
            return st;
    }
}

void nr_resampler_free(struct nr_resampler *rs) {
    if (!rs)
        return;
    soxr_delete(rs->soxr);
    nr_free(rs);
}
