/* EBU R128 loudness (BS.1770-4): integrated loudness and true peak by
 * narrate's own meters, and the one-gain rule.
 *
 * Integrated loudness: the K-weighting filter (a high shelf and the RLB
 * high-pass, two biquads in double, designed for any rate from their analog
 * prototypes as libebur128 does), the mean square of each 100 ms segment,
 * 400 ms blocks every 100 ms, the absolute gate (-70 LUFS) and the relative
 * gate (-10 LU). A block's energy goes into a histogram of 0.01 LU bins that
 * keeps the exact energy sum and count of each bin, so memory is fixed for
 * any length and the only approximation is where the relative gate falls
 * inside one bin (a bin counts when its mean is above the gate). libebur128
 * did the same work through a generic per-channel, per-sample loop at three
 * times the cost and keeps 0.1 LU bins of bin-centre energies; it stays the
 * independent reference in the tests.
 *
 * True peak (BS.1770-4 Annex 2): the signal is upsampled (4x below 96 kHz,
 * 2x below 192 kHz) by a 49-tap Hann-windowed sinc and the largest |value|
 * of the upsampled signal or of the samples is the peak; the same design as
 * libebur128's. Each tap of each phase runs over a block of samples (loops
 * the compiler turns into SIMD), and silence costs nothing once the
 * filter's memory has emptied. */
#include "narrate/audio.h"

#include <math.h>
#include <string.h>

/* NR_SIMD_CLONES: an AVX2 twin of a vector loop (src/audio/CMakeLists.txt). */
#ifndef NR_SIMD_CLONES
#define NR_SIMD_CLONES
#endif

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

/* Block loudness histogram: 0.01 LU bins from the absolute gate up; the
 * top bin takes everything louder (a mono full-scale signal stays far
 * below +30 LUFS). */
#define KW_GATE_ABS -70.0 /* LUFS */
#define KW_BINS_PER_LU 100
#define KW_BINS (100 * KW_BINS_PER_LU)
#define KW_OFFSET -0.691 /* BS.1770: loudness = -0.691 + 10 log10(energy) */

#define KW_LANES 8 /* stretches of a 100 ms segment filtered side by side */
#define KW_V 2     /* ... as this many vectors of 4 */
/* GCC's and clang's vector type: element by element IEEE arithmetic, the
 * same bits in SSE2 halves or AVX2 wholes. */
typedef double v4d __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

struct kweight {
    double c[2][5];          /* biquad k: b0 b1 b2 a1 a2 (a0 = 1) */
    double st[4];            /* y[t-1] y[t-2] v[t-1] v[t-2] before the segment (y: shelf out,
                                v: high-pass out) */
    double xh[2];            /* x[t-1] x[t-2] before the segment */
    size_t n100;             /* samples in 100 ms */
    size_t sl;               /* samples in a stretch: n100 / KW_LANES (0: one plain loop) */
    size_t fill;             /* samples staged for the current segment */
    int quiet;               /* nothing but zeros staged so far */
    float *in;               /* (n100) the current segment's samples */
    double *lx, *lv;         /* (KW_LANES * sl) inputs and outputs, stretch-interleaved */
    double *bv;              /* (4 * sl) v from unit y[-1], y[-2], v[-1], v[-2]; no input */
    double by[2][2];         /* y at the stretch's last two samples from unit y[-1], y[-2] */
    double bve[4][2];        /* v at the stretch's last two samples from each unit state */
    double seg[3];           /* sums of squares of the three segments before the current one */
    uint64_t n_seg;          /* complete segments */
    double bin_e[KW_BINS];   /* energy sum of the blocks in each bin */
    uint64_t bin_n[KW_BINS]; /* their count */
};

struct nr_loudness {
    struct kweight *kw;   /* NULL: true peak only */
    struct true_peak *tp; /* NULL: integrated loudness only */
};

/* The K-weighting filter for any rate: BS.1770's two 48 kHz biquads are a
 * high shelf (f0 1681.97 Hz, +4.0 dB, Q 0.7072) and a high-pass (f0
 * 38.135 Hz, Q 0.5003), brought to the rate by the bilinear transform with
 * the frequency prewarped (the parameters that give BS.1770's table back
 * exactly at 48 kHz, as libebur128 uses them). */
static void kw_init(struct kweight *k, int rate) {
    double K = tan(M_PI * 1681.974450955533 / rate), Q = 0.7071752369554196;
    double vh = pow(10.0, 3.999843853973347 / 20.0), vb = pow(vh, 0.4996667741545416);
    double a0 = 1.0 + K / Q + K * K;
    k->c[0][0] = (vh + vb * K / Q + K * K) / a0;
    k->c[0][1] = 2.0 * (K * K - vh) / a0;
    k->c[0][2] = (vh - vb * K / Q + K * K) / a0;
    k->c[0][3] = 2.0 * (K * K - 1.0) / a0;
    k->c[0][4] = (1.0 - K / Q + K * K) / a0;
    K = tan(M_PI * 38.13547087602444 / rate);
    Q = 0.5003270373238773;
    a0 = 1.0 + K / Q + K * K;
    k->c[1][0] = 1.0; /* BS.1770 leaves the high-pass numerator unscaled */
    k->c[1][1] = -2.0;
    k->c[1][2] = 1.0;
    k->c[1][3] = 2.0 * (K * K - 1.0) / a0;
    k->c[1][4] = (1.0 - K / Q + K * K) / a0;
    k->n100 = (size_t)(rate + 5) / 10;
    k->sl = k->n100 >= 8 * KW_LANES ? k->n100 / KW_LANES : 0;
    k->quiet = 1;
}

/* The buffers and the stretch responses: with zero input, v over a
 * stretch from each unit state (y[-1], y[-2], v[-1], v[-2]), and y at its
 * end from unit y[-1], y[-2]. */
static int kw_alloc(struct kweight *k) {
    size_t sl = k->sl ? k->sl : 1;
    k->in = nr_malloc(k->n100 * sizeof *k->in);
    k->lx = nr_malloc(KW_LANES * sl * sizeof *k->lx);
    k->lv = nr_malloc(KW_LANES * sl * sizeof *k->lv);
    k->bv = nr_malloc(4 * sl * sizeof *k->bv);
    if (!k->in || !k->lx || !k->lv || !k->bv)
        return 0;
    const double a1 = k->c[0][3], a2 = k->c[0][4], r1 = k->c[1][3], r2 = k->c[1][4];
    for (int j = 0; j < 4; j++) {
        double y1 = j == 0, y2 = j == 1, v1 = j == 2, v2 = j == 3;
        for (size_t t = 0; t < sl; t++) {
            double y = -a2 * y2 - a1 * y1;
            double v = ((y - 2.0 * y1 + y2) - r2 * v2) - r1 * v1;
            y2 = y1;
            y1 = y;
            v2 = v1;
            v1 = v;
            k->bv[j * sl + t] = v;
        }
        if (j < 2) {
            k->by[j][0] = y1;
            k->by[j][1] = y2;
        }
        k->bve[j][0] = v1;
        k->bve[j][1] = v2;
    }
    return 1;
}

/* Both biquads over n samples from state (st, xh), in order: the sum of
 * the squares of the output; st and xh move on. Direct form I: each output
 * depends on the last one through one multiply and one subtraction. */
static double kw_run(struct kweight *k, const float *x, size_t n) {
    const double b0 = k->c[0][0], b1 = k->c[0][1], b2 = k->c[0][2], a1 = k->c[0][3],
                 a2 = k->c[0][4], r1 = k->c[1][3], r2 = k->c[1][4];
    double x1 = k->xh[0], x2 = k->xh[1], y1 = k->st[0], y2 = k->st[1], v1 = k->st[2], v2 = k->st[3],
           acc = 0;
    for (size_t i = 0; i < n; i++) {
        double xi = x[i];
        double y = ((b0 * xi + b1 * x1 + b2 * x2) - a2 * y2) - a1 * y1;
        double v = ((y - 2.0 * y1 + y2) - r2 * v2) - r1 * v1;
        x2 = x1;
        x1 = xi;
        y2 = y1;
        y1 = y;
        v2 = v1;
        v1 = v;
        acc += v * v;
    }
    k->xh[0] = x1;
    k->xh[1] = x2;
    k->st[0] = y1;
    k->st[1] = y2;
    k->st[2] = v1;
    k->st[3] = v2;
    return acc;
}

/* The sum of squares of the K-weighted segment staged in k->in, the filter
 * being linear: the segment is cut into KW_LANES stretches, each filtered
 * from rest (the true inputs before it, zero y and v) side by side, one
 * stretch per SIMD lane. Each stretch's true output is that plus the
 * response to its true starting state, a sum of the four unit responses;
 * the starting states follow one another from the stretch ends. The few
 * samples past the last whole stretch run in order. The same segment and
 * state always give the same bits (fixed lanes, fixed order of sums). */
NR_SIMD_CLONES static double kw_segment_energy(struct kweight *k) {
    const size_t sl = k->sl, n = k->n100;
    const float *x = k->in;
    double *restrict lx = k->lx, *restrict lv = k->lv;
    const double *restrict bv = k->bv;
    for (size_t t = 0; t < sl; t++)
        for (int i = 0; i < KW_LANES; i++)
            lx[t * KW_LANES + i] = x[(size_t)i * sl + t];
    const double b0 = k->c[0][0], b1 = k->c[0][1], b2 = k->c[0][2], a1 = k->c[0][3],
                 a2 = k->c[0][4], r1 = k->c[1][3], r2 = k->c[1][4];
    /* Lane i: x[t-1], x[t-2], y[t-1], y[t-2], v[t-1], v[t-2]. */
    v4d x1[KW_V], x2[KW_V], y1[KW_V] = {0}, y2[KW_V] = {0}, v1[KW_V] = {0}, v2[KW_V] = {0};
    double h1[KW_LANES], h2[KW_LANES];
    h1[0] = k->xh[0];
    h2[0] = k->xh[1];
    for (int i = 1; i < KW_LANES; i++) {
        h1[i] = x[(size_t)i * sl - 1];
        h2[i] = x[(size_t)i * sl - 2];
    }
    memcpy(x1, h1, sizeof x1);
    memcpy(x2, h2, sizeof x2);
    for (size_t t = 0; t < sl; t++) {
        for (int h = 0; h < KW_V; h++) {
            v4d xi;
            memcpy(&xi, lx + t * KW_LANES + 4 * h, sizeof xi);
            v4d y = ((b0 * xi + b1 * x1[h] + b2 * x2[h]) - a2 * y2[h]) - a1 * y1[h];
            v4d v = ((y - 2.0 * y1[h] + y2[h]) - r2 * v2[h]) - r1 * v1[h];
            x2[h] = x1[h];
            x1[h] = xi;
            y2[h] = y1[h];
            y1[h] = y;
            v2[h] = v1[h];
            v1[h] = v;
            memcpy(lv + t * KW_LANES + 4 * h, &v, sizeof v);
        }
    }
    double e1[KW_LANES], e2[KW_LANES], w1[KW_LANES], w2[KW_LANES];
    memcpy(e1, y1, sizeof e1);
    memcpy(e2, y2, sizeof e2);
    memcpy(w1, v1, sizeof w1);
    memcpy(w2, v2, sizeof w2);
    /* Starting states: each stretch's from the end of the one before. */
    double s[4][KW_LANES];
    double st[4] = {k->st[0], k->st[1], k->st[2], k->st[3]};
    for (int i = 0; i < KW_LANES; i++) {
        double e[4] = {e1[i], e2[i], w1[i], w2[i]};
        for (int q = 0; q < 4; q++)
            s[q][i] = st[q];
        for (int q = 0; q < 2; q++) {
            e[q] += st[0] * k->by[0][q] + st[1] * k->by[1][q];
            e[2 + q] += st[0] * k->bve[0][q] + st[1] * k->bve[1][q] + st[2] * k->bve[2][q] +
                        st[3] * k->bve[3][q];
        }
        memcpy(st, e, sizeof st);
    }
    v4d s0[KW_V], s1[KW_V], s2[KW_V], s3[KW_V], acc[KW_V] = {0};
    memcpy(s0, s[0], sizeof s0);
    memcpy(s1, s[1], sizeof s1);
    memcpy(s2, s[2], sizeof s2);
    memcpy(s3, s[3], sizeof s3);
    for (size_t t = 0; t < sl; t++) {
        for (int h = 0; h < KW_V; h++) {
            v4d v;
            memcpy(&v, lv + t * KW_LANES + 4 * h, sizeof v);
            v = v + s0[h] * bv[t] + s1[h] * bv[sl + t] + s2[h] * bv[2 * sl + t] +
                s3[h] * bv[3 * sl + t];
            acc[h] += v * v;
        }
    }
    memcpy(k->st, st, sizeof st);
    k->xh[0] = x[KW_LANES * sl - 1];
    k->xh[1] = x[KW_LANES * sl - 2];
    double sum = kw_run(k, x + KW_LANES * sl, n - KW_LANES * sl), lanes[KW_LANES];
    memcpy(lanes, acc, sizeof lanes);
    for (int i = 0; i < KW_LANES; i++)
        sum += lanes[i];
    return sum;
}

/* The staged 100 ms segment is complete: its energy, and the 400 ms block
 * ending with it into the histogram (from the fourth segment on). */
static void kw_segment(struct kweight *k) {
    double rest = fabs(k->st[0]) + fabs(k->st[1]) + fabs(k->st[2]) + fabs(k->st[3]) +
                  fabs(k->xh[0]) + fabs(k->xh[1]);
    double acc = k->quiet && rest == 0 ? 0.0 /* silence into a filter at rest */
                 : k->sl               ? kw_segment_energy(k)
                                       : kw_run(k, k->in, k->n100);
    if (k->n_seg >= 3) {
        double e = (k->seg[0] + k->seg[1] + k->seg[2] + acc) / (4.0 * (double)k->n100);
        double lu = e > 0 ? KW_OFFSET + 10.0 * log10(e) : -HUGE_VAL;
        if (lu > KW_GATE_ABS) {
            double b = floor((lu - KW_GATE_ABS) * KW_BINS_PER_LU);
            size_t i = b < KW_BINS - 1 ? (size_t)b : KW_BINS - 1;
            k->bin_e[i] += e;
            k->bin_n[i]++;
        }
    }
    k->seg[0] = k->seg[1];
    k->seg[1] = k->seg[2];
    k->seg[2] = acc;
    k->fill = 0;
    k->quiet = 1;
    k->n_seg++;
    /* After a long silence the filter's memory fades towards denormals,
     * which are slow; far below anything audible it is zero. */
    if (fabs(k->st[0]) + fabs(k->st[1]) + fabs(k->st[2]) + fabs(k->st[3]) < 1e-30)
        memset(k->st, 0, sizeof k->st);
}

/* Stages samples (NULL: silence) segment by segment: a segment is measured
 * when it is complete, so how the signal is cut into calls changes nothing. */
static void kw_add(struct kweight *k, const float *s, size_t n) {
    while (n > 0) {
        size_t m = k->n100 - k->fill < n ? k->n100 - k->fill : n;
        if (s) {
            memcpy(k->in + k->fill, s, m * sizeof *s);
            s += m;
            k->quiet = 0;
        } else {
            memset(k->in + k->fill, 0, m * sizeof *k->in);
        }
        k->fill += m;
        n -= m;
        if (k->fill == k->n100)
            kw_segment(k);
    }
}

static void kw_free(struct kweight *k) {
    if (!k)
        return;
    nr_free(k->in);
    nr_free(k->lx);
    nr_free(k->lv);
    nr_free(k->bv);
    nr_free(k);
}

/* Integrated loudness: the blocks above the absolute gate, then those
 * above the relative gate (their mean energy - 10 LU). */
static double kw_result(const struct kweight *k) {
    double e = 0;
    uint64_t n = 0;
    for (size_t i = 0; i < KW_BINS; i++) {
        e += k->bin_e[i];
        n += k->bin_n[i];
    }
    if (n == 0)
        return -HUGE_VAL;
    double gate = e / (double)n * 0.1;
    e = 0;
    n = 0;
    for (size_t i = 0; i < KW_BINS; i++) {
        if (k->bin_n[i] > 0 && k->bin_e[i] / (double)k->bin_n[i] > gate) {
            e += k->bin_e[i];
            n += k->bin_n[i];
        }
    }
    return n ? KW_OFFSET + 10.0 * log10(e / (double)n) : -HUGE_VAL;
}

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
 * Eight output times at a time, every tap of a phase added into one vector
 * that stays in a register (the same sum, in the same order, as one time
 * at a time: the last few times are done so). */
NR_SIMD_CLONES static void tp_block(struct true_peak *p, size_t m) {
    const float *x = p->buf + TP_HIST;
    const v8i magnitude = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                           0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    v8f lane = {0};
    size_t t = 0;
    for (; t + 8 <= m; t += 8) {
        v8f v;
        memcpy(&v, x + t, sizeof v);
        v = (v8f)((v8i)v & magnitude);
        v8i more = v > lane;
        lane = (v8f)(((v8i)v & more) | ((v8i)lane & ~more));
        for (int f = 0; f + 1 < p->factor; f++) {
            const float *h = p->h[f];
            v8f acc;
            memcpy(&acc, x + t, sizeof acc);
            acc = h[0] * acc;
            for (int k = 1; k < p->taps; k++) {
                v8f xk;
                memcpy(&xk, x + t - k, sizeof xk);
                acc += h[k] * xk;
            }
            acc = (v8f)((v8i)acc & magnitude);
            more = acc > lane;
            lane = (v8f)(((v8i)acc & more) | ((v8i)lane & ~more));
        }
    }
    float peak = p->peak, lanes[8];
    memcpy(lanes, &lane, sizeof lanes);
    for (int i = 0; i < 8; i++)
        peak = max2(peak, lanes[i]);
    for (; t < m; t++) {
        peak = max2(peak, fabsf(x[t]));
        for (int f = 0; f + 1 < p->factor; f++) {
            const float *h = p->h[f];
            float acc = h[0] * x[t];
            for (int k = 1; k < p->taps; k++)
                acc += h[k] * x[t - k];
            peak = max2(peak, fabsf(acc));
        }
    }
    p->peak = peak;
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

static enum nr_status start(int rate, int integrated, int true_peak, struct nr_loudness **out,
                            struct nr_err *err) {
    *out = NULL;
    if (rate <= 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "loudness: bad sample rate %d", rate);
    struct nr_loudness *l = nr_calloc(1, sizeof *l);
    if (l && integrated) {
        l->kw = nr_calloc(1, sizeof *l->kw);
        if (l->kw) {
            kw_init(l->kw, rate);
            if (!kw_alloc(l->kw)) {
                kw_free(l->kw);
                l->kw = NULL;
            }
        }
    }
    if (l && true_peak) {
        l->tp = nr_calloc(1, sizeof *l->tp);
        if (l->tp)
            tp_init(l->tp, rate);
    }
    if (!l || (integrated && !l->kw) || (true_peak && !l->tp)) {
        nr_loudness_free(l);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "loudness: out of memory");
    }
    *out = l;
    return NR_OK;
}

enum nr_status nr_loudness_new(int rate, struct nr_loudness **out, struct nr_err *err) {
    return start(rate, 1, 1, out, err);
}

enum nr_status nr_loudness_new_integrated(int rate, struct nr_loudness **out, struct nr_err *err) {
    return start(rate, 1, 0, out, err);
}

enum nr_status nr_loudness_new_peak(int rate, struct nr_loudness **out, struct nr_err *err) {
    return start(rate, 0, 1, out, err);
}

enum nr_status nr_loudness_add(struct nr_loudness *l, const float *samples, size_t n,
                               struct nr_err *err) {
    (void)err; /* nothing in the meter can fail once it is made */
    if (l->tp)
        tp_add(l->tp, samples, n);
    if (l->kw)
        kw_add(l->kw, samples, n);
    return NR_OK;
}

enum nr_status nr_loudness_result(struct nr_loudness *l, double *lufs, double *true_peak_db,
                                  struct nr_err *err) {
    (void)err;
    *lufs = l->kw ? kw_result(l->kw) : NAN;
    if (true_peak_db) {
        double tp = l->tp ? l->tp->peak : 0;
        *true_peak_db = !l->tp ? NAN : tp > 0 ? 20.0 * log10(tp) : -HUGE_VAL;
    }
    return NR_OK;
}

void nr_loudness_free(struct nr_loudness *l) {
    if (!l)
        return;
    kw_free(l->kw);
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
