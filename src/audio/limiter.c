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
 * constant. L is 5 ms: short enough to leave speech alone between peaks. */
#include "narrate/audio.h"

#include <math.h>

#define LOOKAHEAD_MS 5
#define RELEASE_MS 60
#define OUT_BLOCK 4096

struct nr_limiter {
    nr_audio_sink_fn sink;
    void *user;
    float ceiling;  /* linear */
    double release; /* a, per sample */
    size_t L;       /* look-ahead, samples */
    size_t mask;    /* ring size - 1 (power of two > L + 3) */
    uint64_t T;     /* input samples pushed */
    float *x;       /* (mask + 1) input ring */
    float *ip;      /* (mask + 1) interval peak between t and t+1 */
    uint64_t *dq_i; /* (mask + 1) monotonic deque of r: indexes ... */
    float *dq_v;    /* ... and values, increasing from the front */
    size_t dq_head, dq_n;
    float *box;  /* (L) the last L values of m' */
    size_t slot; /* where m'[tm] goes in box: tm % L */
    double box_sum;
    double mp;      /* m'[t-1] */
    float min_gain; /* smallest gain applied */
    uint64_t n_limited;
    size_t n_out;
    float out[OUT_BLOCK];
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
    l->release = 1.0 - exp(-1000.0 / (RELEASE_MS * (double)rate));
    l->L = (size_t)rate * LOOKAHEAD_MS / 1000;
    if (l->L < 1)
        l->L = 1;
    size_t size = 8;
    while (size < l->L + 4)
        size *= 2;
    l->mask = size - 1;
    l->x = nr_calloc(size, sizeof *l->x);
    l->ip = nr_calloc(size, sizeof *l->ip);
    l->dq_i = nr_calloc(size, sizeof *l->dq_i);
    l->dq_v = nr_calloc(size, sizeof *l->dq_v);
    l->box = nr_malloc(l->L * sizeof *l->box);
    if (!l->x || !l->ip || !l->dq_i || !l->dq_v || !l->box) {
        nr_limiter_free(l);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "limiter: out of memory");
    }
    for (size_t i = 0; i < l->L; i++)
        l->box[i] = 1.0f;
    l->box_sum = (double)l->L;
    l->mp = 1.0;
    l->min_gain = 1.0f;
    *out = l;
    return NR_OK;
}

/* fmaxf without the libm call (the operands are never NaN here: a NaN
 * sample would come out NaN either way). */
static inline float max2(float a, float b) {
    return b > a ? b : a;
}

/* Largest |value| of the Catmull-Rom curve through a, b, c, d between b and
 * c, sampled at quarter steps (b and c themselves included). */
static inline float interval_peak(float a, float b, float c, float d) {
    float p = max2(fabsf(b), fabsf(c));
    for (int k = 1; k < 4; k++) {
        float u = (float)k / 4.0f;
        float v = b + 0.5f * u *
                          (c - a +
                           u * (2.0f * a - 5.0f * b + 4.0f * c - d + u * (3.0f * (b - c) + d - a)));
        p = max2(p, fabsf(v));
    }
    return p;
}

/* One input sample per iteration; the state lives in locals and goes back
 * to *l at the end (or before the sink is called). The ring slots of
 * negative times are still zero (calloc) when they are read, which stands
 * for the silence before the first sample. */
enum nr_status nr_limiter_push(struct nr_limiter *l, const float *samples, size_t n,
                               struct nr_err *err) {
    const size_t mask = l->mask, L = l->L;
    const float ceiling = l->ceiling;
    const double release = l->release, dL = (double)L;
    float *x = l->x, *ip = l->ip, *dq_v = l->dq_v, *box = l->box, *out = l->out;
    uint64_t *dq_i = l->dq_i;
    uint64_t T = l->T;
    size_t dq_head = l->dq_head, dq_n = l->dq_n, slot = l->slot, n_out = l->n_out;
    double box_sum = l->box_sum, mp = l->mp;
    float min_gain = l->min_gain;
    uint64_t n_limited = l->n_limited;
    enum nr_status st = NR_OK;
    for (size_t i = 0; i < n; i++) {
        x[T & mask] = samples ? samples[i] : 0.0f;
        T++;
        if (T < 3)
            continue;
        uint64_t t = T - 3; /* x[t+2] just arrived: r[t] can be known */
        float a = x[(t - 1) & mask], b = x[t & mask], c = x[(t + 1) & mask], d = x[(t + 2) & mask];
        float near = max2(max2(fabsf(a), fabsf(b)), max2(fabsf(c), fabsf(d)));
        /* The curve stays within 1.25x its four points: skip the quiet ones. */
        float p = near * 1.25f < ceiling ? near : interval_peak(a, b, c, d);
        ip[t & mask] = p;
        float peak = max2(p, ip[(t - 1) & mask]);
        float r = peak > ceiling ? ceiling / peak : 1.0f;
        /* Sliding minimum of r over [tm, t]. */
        while (dq_n > 0 && dq_v[(dq_head + dq_n - 1) & mask] >= r)
            dq_n--;
        dq_i[(dq_head + dq_n) & mask] = t;
        dq_v[(dq_head + dq_n) & mask] = r;
        dq_n++;
        if (t + 1 < L)
            continue;
        uint64_t tm = t + 1 - L;
        while (dq_i[dq_head] < tm) {
            dq_head = (dq_head + 1) & mask;
            dq_n--;
        }
        double m = dq_v[dq_head];
        double mr = mp + (1.0 - mp) * release;
        mp = m < mr ? m : mr;
        box_sum += mp - box[slot];
        box[slot] = (float)mp;
        if (++slot == L)
            slot = 0;
        float s = (float)(box_sum / dL);
        if (s > 1.0f)
            s = 1.0f;
        if (s < 0.999f) { /* count reductions of more than 0.01 dB */
            n_limited++;
            min_gain = s < min_gain ? s : min_gain;
        }
        out[n_out++] = x[tm & mask] * s;
        if (n_out == OUT_BLOCK) {
            n_out = 0;
            st = l->sink(l->user, out, OUT_BLOCK, err);
            if (st != NR_OK)
                break;
        }
    }
    l->T = T;
    l->dq_head = dq_head;
    l->dq_n = dq_n;
    l->slot = slot;
    l->n_out = n_out;
    l->box_sum = box_sum;
    l->mp = mp;
    l->min_gain = min_gain;
    l->n_limited = n_limited;
    return st;
}

enum nr_status nr_limiter_flush(struct nr_limiter *l, struct nr_err *err) {
    /* L + 1 samples are still inside; silence pushes them out. */
    enum nr_status st = nr_limiter_push(l, NULL, l->L + 1, err);
    if (st == NR_OK && l->n_out > 0) {
        size_t n = l->n_out;
        l->n_out = 0;
        st = l->sink(l->user, l->out, n, err);
    }
    return st;
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
    nr_free(l->ip);
    nr_free(l->dq_i);
    nr_free(l->dq_v);
    nr_free(l->box);
    nr_free(l);
}
