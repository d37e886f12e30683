/* A look-ahead peak limiter with a fixed delay that it takes back at the
 * end, so the output has exactly as many samples as the input.
 *
 * For each sample t the limiter needs a gain r[t] <= ceiling / peak(t),
 * where peak(t) is the sample and the largest value that a Catmull-Rom
 * interpolation finds between it and its neighbours (an estimate of the
 * inter-sample, "true" peak). It applies
 *     s[t] = mean(m'[t-L+1 .. t]),  m[t] = min(r[t .. t+L-1]),
 *     m'[t] = min(m[t], m'[t-1] + (1 - m'[t-1]) * a)   (slow recovery),
 * which is <= r[t] (every term of the mean is), reaches it smoothly over
 * the L look-ahead samples (no clicks) and lets go with the release time
 * constant. L is 5 ms: short enough to leave speech alone between peaks.
 *
 * How it is computed: in blocks of BLOCK input samples, each step over the
 * whole block before the next, so that they run as SIMD loops or as
 * independent chains side by side:
 *  1. the interval peaks and r, branch-free;
 *  2. the window minimum m, by doubling (min of pairs, of pairs of pairs,
 *     ...: log2(L) passes of one vector min each);
 *  3. the recovery, for the reduction u = 1 - m', which obeys
 *     u[t] = max(1 - m[t], (1 - a) u[t-1]): NL stretches of the block at
 *     once, then each takes in the carry of the one before (recover());
 *  4. the mean over the window from a running sum of u rounded to units of
 *     2^-40, kept exact (whole numbers in doubles): no drift over a
 *     ten-hour book, and the same sum whatever came before;
 *  5. the output, x times s, and the counts.
 * Blocks always start at multiples of BLOCK input samples (input is
 * staged until a block is full) and the stretches at fixed places in them,
 * so how the caller cuts its pushes changes no bit of the output. The
 * result is the definition above up to rounding (the test compares them
 * within 2e-5; measured 1.2e-7). */
#include "narrate/audio.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define LOOKAHEAD_MS 5
#define RELEASE_MS 60
#define BLOCK 2048
#define FIX_ONE 0x1p40 /* u in fixed point: units of 2^-40 */
#define NL 8           /* stretches of a block whose recovery runs side by side */

struct nr_limiter {
    nr_audio_sink_fn sink;
    void *user;
    float ceiling;  /* linear */
    float gain;     /* input gain */
    double keep;    /* 1 - a: what u keeps per sample while recovering */
    size_t L;       /* look-ahead, samples */
    size_t n_new;   /* input samples staged in x after the history */
    uint64_t P;     /* input samples consumed by the blocks done */
    float *x;       /* (L + 3 + BLOCK) input: x[i] is time P - (L + 3) + i */
    float *r;       /* (L - 1 + BLOCK) r: r[i] is time P - L - 1 + i */
    float *m;       /* (L - 1 + BLOCK) scratch: window minima */
    double *q;      /* (L + BLOCK + NL) u in fixed point: q[i] is time P - 2L - 1 + i */
    double *u;      /* (BLOCK + NL) 1 - m, then u, ... of the block's output samples */
    double *kp;     /* (BLOCK / NL + 1) kp[t] = k^(t+1), k = 1 - a */
    float *g;       /* (BLOCK + NL) m, then s, of the block's output samples */
    float *out;     /* (BLOCK) output */
    float ip_last;  /* interval peak of the last r computed */
    double u_last;  /* 1 - m' of the last output sample */
    float min_gain; /* smallest gain applied */
    uint64_t n_limited;
};

enum nr_status nr_limiter_new(int rate, double ceiling_db, nr_audio_sink_fn sink, void *user,
                              struct nr_limiter **out, struct nr_err *err) {
    *out = NULL;
    if (rate <= 0 || ceiling_db > 0)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "limiter: bad rate or ceiling");
    struct nr_limiter *l = nr_calloc(1, sizeof *l);
    if (!l)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "limiter: out of memory");
    l->sink = sink;
    l->user = user;
    l->ceiling = (float)pow(10.0, ceiling_db / 20.0);
    l->gain = 1.0f;
    l->keep = exp(-1000.0 / (RELEASE_MS * (double)rate));
    l->L = (size_t)rate * LOOKAHEAD_MS / 1000;
    if (l->L < 1)
        l->L = 1;
    size_t L = l->L;
    /* Zeros before the first sample stand for the silence before it. */
    l->x = nr_calloc(L + 3 + BLOCK, sizeof *l->x);
    l->r = nr_malloc((L - 1 + BLOCK) * sizeof *l->r);
    l->m = nr_calloc(L - 1 + BLOCK, sizeof *l->m);
    l->q = nr_calloc(L + BLOCK + NL, sizeof *l->q);
    l->u = nr_calloc(BLOCK + NL, sizeof *l->u);
    l->kp = nr_malloc((BLOCK / NL + 1) * sizeof *l->kp);
    l->g = nr_calloc(BLOCK + NL, sizeof *l->g);
    l->out = nr_calloc(BLOCK, sizeof *l->out);
    if (!l->x || !l->r || !l->m || !l->q || !l->u || !l->kp || !l->g || !l->out) {
        nr_limiter_free(l);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "limiter: out of memory");
    }
    for (size_t i = 0; i < L - 1 + BLOCK; i++)
        l->r[i] = 1.0f;
    l->kp[0] = l->keep;
    for (size_t t = 1; t <= BLOCK / NL; t++)
        l->kp[t] = l->kp[t - 1] * l->keep;
    l->min_gain = 1.0f;
    *out = l;
    return NR_OK;
}

/* NR_SIMD_CLONES: an AVX2 twin of a vector loop (src/audio/CMakeLists.txt). */
#ifndef NR_SIMD_CLONES
#define NR_SIMD_CLONES
#endif

/* fmaxf / fminf without the libm call, in the form SIMD max / min
 * instructions compute (the operands are never NaN here: a NaN sample
 * would come out NaN either way). */
static inline float max2(float a, float b) {
    return b > a ? b : a;
}
static inline float min2(float a, float b) {
    return b < a ? b : a;
}

/* Step 1: r[t] for the n times whose last neighbour x[t+2] is xs[i + 3]
 * (xs[i] is x[t-1]). Largest |value| of the Catmull-Rom curve through
 * x[t-1 .. t+2] between x[t] and x[t+1], sampled at quarter steps, is the
 * interval peak ip[t]; peak(t) = max(ip[t-1], ip[t]). The curve never
 * leaves 1.25x its four points, so a quiet stretch could skip the cubic;
 * computing it everywhere costs less than the branch, and r does not
 * change: below the ceiling r is 1 either way. */
NR_SIMD_CLONES static void peaks(const float *restrict xs, size_t n, float ceiling,
                                 float *restrict ip, float *restrict r) {
    for (size_t i = 0; i < n; i++) {
        float a = xs[i], b = xs[i + 1], c = xs[i + 2], d = xs[i + 3];
        float c0 = c - a, c1 = 2.0f * a - 5.0f * b + 4.0f * c - d, c2 = 3.0f * (b - c) + d - a;
        float p = max2(fabsf(b), fabsf(c));
        p = max2(p, fabsf(b + 0.125f * (c0 + 0.25f * (c1 + 0.25f * c2))));
        p = max2(p, fabsf(b + 0.25f * (c0 + 0.5f * (c1 + 0.5f * c2))));
        p = max2(p, fabsf(b + 0.375f * (c0 + 0.75f * (c1 + 0.75f * c2))));
        ip[i + 1] = p;
    }
    /* ip[0] is the interval peak before the first one of this call. */
    for (size_t i = 0; i < n; i++) {
        float peak = max2(ip[i], ip[i + 1]);
        /* ceiling / ceiling is exactly 1: no branch, no division by 0. */
        r[i] = ceiling / max2(peak, ceiling);
    }
}

/* Step 2: m[i] = min(r[i .. i+L-1]) for i < n; r has n + L - 1 values and
 * tmp as many places. */
NR_SIMD_CLONES static void window_min(const float *restrict r, size_t n, size_t L,
                                      float *restrict tmp, float *restrict m) {
    size_t len = n + L - 1, w = 1;
    memcpy(tmp, r, len * sizeof *tmp);
    /* After the pass for w, tmp[i] = min(r[i .. i+2w-1]) for i < len - w. */
    for (; 2 * w <= L; w *= 2) {
        len -= w;
        for (size_t i = 0; i < len; i++)
            tmp[i] = min2(tmp[i], tmp[i + w]);
    }
    /* Two windows of w (a power of two, w <= L < 2w) cover L. */
    for (size_t i = 0; i < n; i++)
        m[i] = min2(tmp[i], tmp[i + L - w]);
}

/* Step 5: out = x s, and the counts. Per-lane minima and counts (LANES
 * of them, whatever the vector width) make it one SIMD loop. */
#define LANES 16
NR_SIMD_CLONES static void apply(struct nr_limiter *l, const float *restrict x,
                                 const float *restrict s, size_t n) {
    float lo[LANES];
    int count[LANES] = {0}; /* each at most BLOCK / LANES */
    for (int k = 0; k < LANES; k++)
        lo[k] = 1.0f;
    float *restrict out = l->out;
    size_t j = 0;
    for (; j + LANES <= n; j += LANES) {
        for (int k = 0; k < LANES; k++) {
            float g = s[j + k];
            out[j + k] = x[j + k] * g;
            int limited = g < 0.999f; /* reductions of more than 0.01 dB */
            count[k] += limited;
            lo[k] = min2(lo[k], limited ? g : 1.0f);
        }
    }
    for (int k = 0; j < n; j++, k++) { /* minima and counts are exact: any lane will do */
        float g = s[j];
        out[j] = x[j] * g;
        int limited = g < 0.999f;
        count[k] += limited;
        lo[k] = min2(lo[k], limited ? g : 1.0f);
    }
    for (int k = 0; k < LANES; k++) {
        l->min_gain = min2(l->min_gain, lo[k]);
        l->n_limited += (uint64_t)count[k];
    }
}

/* Steps 3 and 4 for the block's n output samples: m[j] (window minima) in,
 * s[j] out in its place; the first skip samples are before the book.
 *
 * The recovery u[t] = max(d[t], k u[t-1]) (d = 1 - m, k = 1 - a) is cut
 * into NL stretches that run side by side, each from u = 0 (the first from
 * the last block's u): NL independent chains instead of one long one.
 * Then each stretch takes in what the one before it carried over: as
 * u[t] = max over s <= t of k^(t-s) d[s], its true u is
 * max(own u[t], k^(t-t0+1) U), U the true u where the stretch before it
 * ended (one vector pass with a table of powers of k; the powers round
 * differently from repeated multiplication, by parts in 1e14). The mean
 * over the window is a running sum of u rounded to units of 2^-40: whole
 * numbers below 2^53, which doubles add exactly, so each stretch starts
 * its sum from the L values before it and no order of additions gives
 * another result. Blocks start at fixed places in the book, so the
 * stretches do too: the same input gives the same bits. */
NR_SIMD_CLONES static void recover(struct nr_limiter *l, float *m, size_t skip, size_t n) {
    const size_t L = l->L, seg = (n + NL - 1) / NL;
    const double k = l->keep, inv = 1.0 / (FIX_ONE * (double)L);
    const double *restrict kp = l->kp;
    double *restrict u = l->u, *restrict q = l->q + L; /* q[j - L] reaches back */
    for (size_t j = 0; j < n; j++)
        u[j] = 1.0 - (double)m[j];
    for (size_t j = n; j < NL * seg; j++)
        u[j] = 0.0;
    for (size_t j = 0; j < skip; j++)
        u[j] = 0.0;
    double c[NL] = {l->u_last};
    for (size_t t = 0; t < seg; t++) {
        for (int i = 0; i < NL; i++) {
            double d = u[i * seg + t], ku = k * c[i];
            c[i] = d > ku ? d : ku;
            u[i * seg + t] = c[i];
        }
    }
    for (size_t i = 1; i < NL; i++) {
        const double carry = u[i * seg - 1];
        double *restrict ui = u + i * seg;
        for (size_t t = 0; t < seg; t++) {
            double v = kp[t] * carry;
            ui[t] = v > ui[t] ? v : ui[t];
        }
    }
    /* Below half a unit u counts for nothing: stop it before it turns
     * denormal. Whatever comes next is either larger or also 0. */
    l->u_last = u[n - 1] < 0.5 / FIX_ONE ? 0.0 : u[n - 1];
    for (size_t j = 0; j < NL * seg; j++) /* round to a whole number of units */
        q[j] = (u[j] * FIX_ONE + 0x1p52) - 0x1p52;
    for (size_t j = 0; j < NL * seg; j++) /* u now holds what each q adds */
        u[j] = q[j] - q[(ptrdiff_t)j - (ptrdiff_t)L];
    double box[NL];
    for (int i = 0; i < NL; i++) {
        box[i] = 0;
        for (ptrdiff_t j = (ptrdiff_t)(i * seg) - (ptrdiff_t)L; j < (ptrdiff_t)(i * seg); j++)
            box[i] += q[j];
    }
    for (size_t t = 0; t < seg; t++) {
        for (int i = 0; i < NL; i++) {
            box[i] += u[i * seg + t];
            u[i * seg + t] = box[i];
        }
    }
    for (size_t j = 0; j < n; j++)
        m[j] = (float)(1.0 - u[j] * inv);
}

/* Runs the n input samples staged in x through steps 1-5 and sends the
 * output on. */
static enum nr_status process(struct nr_limiter *l, size_t n, struct nr_err *err) {
    const size_t L = l->L, H = L + 3;
    float ip[BLOCK + 1];
    /* Times t = P-2 .. P+n-3 get r: their neighbours are all in x. */
    ip[0] = l->ip_last;
    peaks(l->x + H - 3, n, l->ceiling, ip, l->r + L - 1);
    if (l->P < 2) {
        /* Times before the first sample (t = P-2+j < 0) ask for no
         * limiting, and no interval peak reaches t = 0 from before it. */
        size_t j = 0;
        for (; j < n && l->P + j < 2; j++) {
            ip[j + 1] = 0.0f;
            l->r[L - 1 + j] = 1.0f;
        }
        if (j < n)
            l->r[L - 1 + j] = l->ceiling / max2(ip[j + 1], l->ceiling);
    }
    l->ip_last = ip[n];
    /* Output times tm = P-L-1 .. P+n-L-2 have their whole window in r. */
    float *m = l->g; /* m[j], then s[j] in place */
    window_min(l->r, n, L, l->m, m);
    /* The first L + 1 output times of the book are negative: none. */
    size_t skip = l->P < L + 1 ? (size_t)(L + 1 - l->P) : 0;
    if (skip > n)
        skip = n;
    float mmin = 1.0f;
    for (size_t j = skip; j < n; j++)
        mmin = min2(mmin, m[j]);
    double held = 0; /* sum of q over the last L output samples */
    for (size_t i = 0; i < L; i++)
        held += l->q[i];
    if (mmin == 1.0f && held == 0) {
        /* Nothing to limit and nothing held: s is 1 and u only decays. */
        memset(l->q + L, 0, n * sizeof *l->q);
        for (size_t j = 0; j < n; j++)
            m[j] = 1.0f;
        l->u_last = 0.0;
    } else {
        recover(l, m, skip, n);
    }
    apply(l, l->x + 2 + skip, m + skip, n - skip); /* x at time P - L - 1 + skip */
    /* Keep the history for the next block. */
    memmove(l->x, l->x + n, H * sizeof *l->x);
    memmove(l->r, l->r + n, (L - 1) * sizeof *l->r);
    memmove(l->q, l->q + n, L * sizeof *l->q);
    l->P += n;
    l->n_new = 0;
    return n > skip ? l->sink(l->user, l->out, n - skip, err) : NR_OK;
}

enum nr_status nr_limiter_push(struct nr_limiter *l, const float *samples, size_t n,
                               struct nr_err *err) {
    float *stage = l->x + l->L + 3;
    while (n > 0) {
        size_t m = BLOCK - l->n_new < n ? BLOCK - l->n_new : n;
        if (samples && l->gain != 1.0f) {
            const float g = l->gain;
            float *to = stage + l->n_new;
            for (size_t i = 0; i < m; i++)
                to[i] = samples[i] * g;
            samples += m;
        } else if (samples) {
            memcpy(stage + l->n_new, samples, m * sizeof *samples);
            samples += m;
        } else {
            memset(stage + l->n_new, 0, m * sizeof *stage);
        }
        l->n_new += m;
        n -= m;
        if (l->n_new == BLOCK) {
            enum nr_status st = process(l, BLOCK, err);
            if (st != NR_OK)
                return st;
        }
    }
    return NR_OK;
}

enum nr_status nr_limiter_flush(struct nr_limiter *l, struct nr_err *err) {
    /* L + 1 samples are still inside; silence pushes them out. */
    enum nr_status st = nr_limiter_push(l, NULL, l->L + 1, err);
    if (st == NR_OK && l->n_new > 0)
        st = process(l, l->n_new, err);
    return st;
}

void nr_limiter_set_gain(struct nr_limiter *l, float gain) {
    l->gain = gain;
}

double nr_limiter_max_reduction_db(const struct nr_limiter *l) {
    return -20.0 * log10(l->min_gain);
}

uint64_t nr_limiter_samples_limited(const struct nr_limiter *l) {
    return l->n_limited;
}

void nr_limiter_free(struct nr_limiter *l) {
    if (!l)
        return;
    nr_free(l->x);
    nr_free(l->r);
    nr_free(l->m);
    nr_free(l->q);
    nr_free(l->u);
    nr_free(l->kp);
    nr_free(l->g);
    nr_free(l->out);
    nr_free(l);
}
