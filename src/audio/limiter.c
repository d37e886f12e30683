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
    float *box; /* (L) the last L values of m' */
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

static float x_at(const struct nr_limiter *l, int64_t t) {
    return t < 0 ? 0.0f : l->x[(uint64_t)t & l->mask];
}

/* Largest |value| of the Catmull-Rom curve through a, b, c, d between b and
 * c, sampled at quarter steps (b and c themselves included). */
static float interval_peak(float a, float b, float c, float d) {
    float p = fmaxf(fabsf(b), fabsf(c));
    for (int k = 1; k < 4; k++) {
        float u = (float)k / 4.0f;
        float v = b + 0.5f * u *
                          (c - a +
                           u * (2.0f * a - 5.0f * b + 4.0f * c - d + u * (3.0f * (b - c) + d - a)));
        p = fmaxf(p, fabsf(v));
    }
    return p;
}

static enum nr_status emit(struct nr_limiter *l, float y, struct nr_err *err) {
    l->out[l->n_out++] = y;
    if (l->n_out < OUT_BLOCK)
        return NR_OK;
    l->n_out = 0;
    return l->sink(l->user, l->out, OUT_BLOCK, err);
}

static enum nr_status step(struct nr_limiter *l, float in, struct nr_err *err) {
    l->x[l->T & l->mask] = in;
    l->T++;
    int64_t t = (int64_t)l->T - 3; /* x[t+2] just arrived: r[t] can be known */
    if (t < 0)
        return NR_OK;
    float a = x_at(l, t - 1), b = x_at(l, t), c = x_at(l, t + 1), d = x_at(l, t + 2);
    float near = fmaxf(fmaxf(fabsf(a), fabsf(b)), fmaxf(fabsf(c), fabsf(d)));
    /* The curve stays within 1.25x its four points: skip the quiet ones. */
    l->ip[(uint64_t)t & l->mask] = near * 1.25f < l->ceiling ? near : interval_peak(a, b, c, d);
    float peak =
        fmaxf(l->ip[(uint64_t)t & l->mask], t > 0 ? l->ip[(uint64_t)(t - 1) & l->mask] : 0);
    float r = peak > l->ceiling ? l->ceiling / peak : 1.0f;
    /* Sliding minimum of r over [tm, t]. */
    while (l->dq_n > 0 && l->dq_v[(l->dq_head + l->dq_n - 1) & l->mask] >= r)
        l->dq_n--;
    l->dq_i[(l->dq_head + l->dq_n) & l->mask] = (uint64_t)t;
    l->dq_v[(l->dq_head + l->dq_n) & l->mask] = r;
    l->dq_n++;
    int64_t tm = t - (int64_t)l->L + 1;
    if (tm < 0)
        return NR_OK;
    while (l->dq_i[l->dq_head] < (uint64_t)tm) {
        l->dq_head = (l->dq_head + 1) & l->mask;
        l->dq_n--;
    }
    double m = l->dq_v[l->dq_head];
    double mp = l->mp + (1.0 - l->mp) * l->release;
    l->mp = m < mp ? m : mp;
    size_t slot = (size_t)((uint64_t)tm % l->L);
    l->box_sum += l->mp - l->box[slot];
    l->box[slot] = (float)l->mp;
    float s = (float)(l->box_sum / (double)l->L);
    if (s > 1.0f)
        s = 1.0f;
    if (s < 0.999f) { /* count reductions of more than 0.01 dB */
        l->n_limited++;
        l->min_gain = fminf(l->min_gain, s);
    }
    return emit(l, x_at(l, tm) * s, err);
}

enum nr_status nr_limiter_push(struct nr_limiter *l, const float *samples, size_t n,
                               struct nr_err *err) {
    for (size_t i = 0; i < n; i++) {
        enum nr_status st = step(l, samples ? samples[i] : 0.0f, err);
        if (st != NR_OK)
            return st;
    }
    return NR_OK;
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
