/* EBU R128 loudness through libebur128, and the one-gain rule. */
#include "narrate/audio.h"

#include <ebur128.h>
#include <math.h>

struct nr_loudness {
    ebur128_state *st;
};

enum nr_status nr_loudness_new(int rate, struct nr_loudness **out, struct nr_err *err) {
    *out = NULL;
    if (rate <= 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "loudness: bad sample rate %d", rate);
    struct nr_loudness *l = nr_calloc(1, sizeof *l);
    if (!l)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: out of memory");
    /* Integrated loudness keeps a histogram (EBUR128_MODE_HISTOGRAM), not
     * every 400 ms block, so a ten-hour book costs the same as a minute. */
    l->st = ebur128_init(1, (unsigned long)rate,
                         EBUR128_MODE_I | EBUR128_MODE_TRUE_PEAK | EBUR128_MODE_HISTOGRAM);
    if (!l->st) {
        nr_free(l);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: cannot start the meter");
    }
    *out = l;
    return NR_OK;
}

enum nr_status nr_loudness_add(struct nr_loudness *l, const float *samples, size_t n,
                               struct nr_err *err) {
    static const float zeros[4096]; /* const table: silence to feed */
    while (n > 0) {
        size_t m = samples ? n : (n < 4096 ? n : 4096);
        if (ebur128_add_frames_float(l->st, samples ? samples : zeros, m) != EBUR128_SUCCESS)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: meter failed");
        n -= m;
        if (samples)
            samples += m;
    }
    return NR_OK;
}

enum nr_status nr_loudness_result(struct nr_loudness *l, double *lufs, double *true_peak_db,
                                  struct nr_err *err) {
    double li = 0, tp = 0;
    if (ebur128_loudness_global(l->st, &li) != EBUR128_SUCCESS ||
        ebur128_true_peak(l->st, 0, &tp) != EBUR128_SUCCESS)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "loudness: no result");
    *lufs = li; /* libebur128 reports -HUGE_VAL when every block is gated out */
    *true_peak_db = tp > 0 ? 20.0 * log10(tp) : -HUGE_VAL;
    return NR_OK;
}

void nr_loudness_free(struct nr_loudness *l) {
    if (!l)
        return;
    ebur128_destroy(&l->st);
    nr_free(l);
}

double nr_loudness_gain_db(double lufs, double true_peak_db, double target_lufs, double ceiling_db,
                           int *limited) {
    *limited = 0;
    if (!isfinite(lufs) || !isfinite(true_peak_db))
        return 0.0; /* silence (or a meter with nothing in it): leave it alone */
    double gain = target_lufs - lufs;
    /* A gain scales every sample, so it moves the true peak by exactly the
     * same number of dB. */
    if (true_peak_db + gain > ceiling_db) {
        gain = ceiling_db - true_peak_db;
        *limited = 1;
    }
    return gain;
}
