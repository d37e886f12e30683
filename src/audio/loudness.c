/* EBU R128 loudness: integrated loudness through libebur128, true peak by
 * an own 4x oversampling meter, and the one-gain rule.
 *
 * True peak (BS.1770-4 Annex 2): the signal is upsampled (4x below 96 kHz,
 * 2x below 192 kHz) by a 49-tap Hann-windowed sinc and the largest |value|
 * of the upsampled signal or of the samples is the peak; the same design as
 * libebur128's, whose scalar, channel-generic loop was three quarters of the
 * meter's time. Here each tap of each phase runs over a block of samples
 * (loops the compiler turns into SIMD), and silence costs nothing once the
 * filter's memory has emptied. */
#include "narrate/audio.h"

#include <ebur128.h>
#include <math.h>
#include <string.h>

#define TP_TAPS 49                      /* odd: the middle tap is on a sample */
#define TP_MAX_PHASE_TAPS 24            /* (TP_TAPS - 1) / 2, for factor 2 */
#define TP_HIST (TP_MAX_PHASE_TAPS - 1) /* earlier samples a phase reads */
#define TP_BLOCK 512

struct true_peak {
    int factor;                    /* 4, 2 or 1 (sample peak only) */
    int taps;                      /* per phase, phases 1 .. factor-1 */
    float h[3][TP_MAX_PHASE_TAPS]; /* h[f-1][k]: tap k of phase f */
    float buf[TP_HIST + TP_BLOCK]; /* TP_HIST earlier samples, then a block */
    size_t quiet;                  /* zeros fed last (counted up to TP_HIST) */
    float peak;
};

struct nr_loudness {
    ebur128_state *st;
    struct true_peak *tp; /* NULL: integrated loudness only */
};

/* Phase f (1 <= f < factor) of the upsampled signal at input time t is
 * sum_k h[f][k] x[t-k], with h[f][k] = w(j) sinc((j - 24) / factor),
 * j = k * factor + f (phase 0 is the sample itself). */
static void tp_init(struct true_peak *p, int rate) {
    p->factor = rate < 96000 ? 4 : rate < 192000 ? 2 : 1;
    p->taps = p->factor > 1 ? (TP_TAPS - 1) / p->factor : 0;
    for (int f = 1; f < p->factor; f++) {
        for (int k = 0; k < p->taps; k++) {
            int j = k * p->factor + f;
            double m = (double)j - (TP_TAPS - 1) / 2.0;
            double x = M_PI * m / p->factor;
            double w = 0.5 * (1.0 - cos(2.0 * M_PI * j / (TP_TAPS - 1)));
            p->h[f - 1][k] = (float)(w * sin(x) / x); /* m is never 0 off phase 0 */
        }
    }
    p->quiet = TP_HIST;
}

static inline float max2(float a, float b) {
    return b > a ? b : a;
}

/* Peaks of the m samples at buf[TP_HIST ..], then keeps the last TP_HIST.
 * Loops over t inside the loop over taps: the compiler makes them SIMD. */
static void tp_block(struct true_peak *p, size_t m) {
    float lane[8] = {0}; /* per-lane maxima */
    float acc[TP_BLOCK];
    const float *x = p->buf + TP_HIST;
    for (size_t t = 0; t < m; t++)
        lane[t & 7] = max2(lane[t & 7], fabsf(x[t]));
    for (int f = 0; f + 1 < p->factor; f++) {
        const float *h = p->h[f];
        for (size_t t = 0; t < m; t++)
            acc[t] = h[0] * x[t];
        for (int k = 1; k < p->taps; k++) {
            const float *xk = x - k;
            float c = h[k];
            for (size_t t = 0; t < m; t++)
                acc[t] += c * xk[t];
        }
        for (size_t t = 0; t < m; t++)
            lane[t & 7] = max2(lane[t & 7], fabsf(acc[t]));
    }
    for (int i = 0; i < 8; i++)
        p->peak = max2(p->peak, lane[i]);
    memmove(p->buf, p->buf + m, TP_HIST * sizeof *p->buf);
}

static void tp_add(struct true_peak *p, const float *s, size_t n) {
    while (n > 0) {
        if (!s && p->quiet >= TP_HIST)
            return; /* silence after silence: every phase is zero */
        size_t m = n < TP_BLOCK ? n : TP_BLOCK;
        if (s) {
            memcpy(p->buf + TP_HIST, s, m * sizeof *s);
            s += m;
            p->quiet = 0;
        } else {
            memset(p->buf + TP_HIST, 0, m * sizeof *p->buf);
            p->quiet += m;
        }
        tp_block(p, m);
        n -= m;
    }
}

static enum nr_status start(int rate, int true_peak, struct nr_loudness **out, struct nr_err *err) {
    *out = NULL;
    if (rate <= 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "loudness: bad sample rate %d", rate);
    struct nr_loudness *l = nr_calloc(1, sizeof *l);
    if (!l)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: out of memory");
    if (true_peak) {
        l->tp = nr_calloc(1, sizeof *l->tp);
        if (!l->tp) {
            nr_free(l);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: out of memory");
        }
        tp_init(l->tp, rate);
    }
    /* Integrated loudness keeps a histogram (EBUR128_MODE_HISTOGRAM), not
     * every 400 ms block, so a ten-hour book costs the same as a minute. */
    l->st = ebur128_init(1, (unsigned long)rate, EBUR128_MODE_I | EBUR128_MODE_HISTOGRAM);
    if (!l->st) {
        nr_free(l->tp);
        nr_free(l);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: cannot start the meter");
    }
    *out = l;
    return NR_OK;
}

enum nr_status nr_loudness_new(int rate, struct nr_loudness **out, struct nr_err *err) {
    return start(rate, 1, out, err);
}

enum nr_status nr_loudness_new_integrated(int rate, struct nr_loudness **out, struct nr_err *err) {
    return start(rate, 0, out, err);
}

enum nr_status nr_loudness_add(struct nr_loudness *l, const float *samples, size_t n,
                               struct nr_err *err) {
    static const float zeros[4096]; /* const table: silence to feed */
    if (l->tp)
        tp_add(l->tp, samples, n);
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
    double li = 0;
    if (ebur128_loudness_global(l->st, &li) != EBUR128_SUCCESS)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "loudness: no result");
    *lufs = li; /* libebur128 reports -HUGE_VAL when every block is gated out */
    if (true_peak_db) {
        double tp = l->tp ? l->tp->peak : 0;
        *true_peak_db = !l->tp ? NAN : tp > 0 ? 20.0 * log10(tp) : -HUGE_VAL;
    }
    return NR_OK;
}

void nr_loudness_free(struct nr_loudness *l) {
    if (!l)
        return;
    ebur128_destroy(&l->st);
    nr_free(l->tp);
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
