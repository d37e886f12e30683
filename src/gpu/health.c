/* VRAM health after every batch: a class from the seed's rules, logged only
 * when it changes, and a least-squares trend. docs/GPU.md explains the
 * choices (the 70-80 % and 90-95 % gaps, the hysteresis). */
#include <math.h>
#include <string.h>

#include "gpu_internal.h"

enum cls {
    CLS_NONE = 0,
    CLS_SETTLING,
    CLS_STABLE,
    CLS_COULD_INCREASE,
    CLS_VARYING,
    CLS_GROWING,
    CLS_CAUTION,
    CLS_DANGER,
};

static const char *const cls_names[] = {
    "none", "settling", "stable", "could_increase", "varying", "growing", "caution", "danger",
};

/* Level bands by rounded percent: 0 below 70, 1 70..79, 2 80..95, 3 above 95. */
enum { BAND_LOW = 0, BAND_OK, BAND_CAUTION, BAND_DANGER };

#define WINDOW 3            /* batches for "stable" and "growing" */
#define STABLE_RANGE_GB 1.0 /* +-0.5 GB: max - min over the window */
#define GROWING_GB 1.0      /* GB per batch */
#define TREND_GB 0.1        /* |slope| for growing / shrinking trends */
#define HYSTERESIS 2        /* percentage points to fall back below a band's floor */
#define EPS 1e-9

static const int band_floor[] = {0, 70, 80, 96};

/* The band for percent p. Rising takes effect at the floor; falling back
 * out of a band needs p below its floor by HYSTERESIS points, so a sample
 * hovering at 80 % does not log a line on every batch. */
static int band_of(int p, int prev) {
    int b = p >= 96 ? BAND_DANGER : p >= 80 ? BAND_CAUTION : p >= 70 ? BAND_OK : BAND_LOW;
    while (b < prev && p >= band_floor[b + 1] - HYSTERESIS)
        b++;
    return b;
}

/* Least-squares slope of y[0..n) against x = 0..n-1. */
static double ls_slope(const double *y, int n) {
    if (n < 2)
        return 0;
    double mx = (n - 1) / 2.0, my = 0;
    for (int i = 0; i < n; i++)
        my += y[i];
    my /= n;
    double sxy = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        sxy += (i - mx) * (y[i] - my);
        sxx += (i - mx) * (i - mx);
    }
    return sxy / sxx;
}

void nr_gpu_health_init(struct nr_gpu_health *h) {
    memset(h, 0, sizeof *h);
    h->percent = -1;
    h->cls = CLS_NONE;
    h->band = BAND_LOW;
}

/* "+1.1" style, tenths rounded half away from zero. */
static void fmt_gb1(double gb, char *buf, size_t size) {
    long long t = llround(fabs(gb) * 10.0);
    snprintf(buf, size, "%s%lld.%lld", gb < 0 ? "-" : "", t / 10, t % 10);
}

static enum nr_status class_line(const struct nr_gpu_health *h, const struct nr_gpu_sample *s,
                                 double lo, double hi, struct nr_buf *lines) {
    char vram[64], a[32], b[32];
    nr_gpu_format_vram(s, vram, sizeof vram);
    switch (h->cls) {
    case CLS_DANGER:
        return nr_buf_printf(lines, "WARNING: VRAM %s - danger: reduce batch size immediately\n",
                             vram);
    case CLS_GROWING:
        fmt_gb1(h->growth_gb, a, sizeof a);
        return nr_buf_printf(lines,
                             "WARNING: VRAM growing +%sGB/batch - possible memory leak; restart "
                             "to recover (the render resumes from cache)\n",
                             a);
    case CLS_CAUTION:
        return nr_buf_printf(
            lines, "WARNING: VRAM %s - caution: close background apps or reduce batch size\n",
            vram);
    case CLS_COULD_INCREASE:
        return nr_buf_printf(lines, "VRAM stable at %s - could increase batch size for speed\n",
                             vram);
    case CLS_STABLE:
        return nr_buf_printf(lines, "VRAM stable at %s - healthy\n", vram);
    case CLS_VARYING:
        fmt_gb1(lo, a, sizeof a);
        fmt_gb1(hi, b, sizeof b);
        return nr_buf_printf(lines, "VRAM varying %s-%sGB over the last %d batches\n", a, b,
                             WINDOW);
    default:
        return NR_OK; /* none, settling: nothing to say yet */
    }
}

enum nr_status nr_gpu_health_update(struct nr_gpu_health *h, const struct nr_gpu_sample *s,
                                    struct nr_buf *lines, struct nr_err *err) {
    if (!s || !s->valid || s->total == 0)
        return NR_OK;
    if (h->n == NR_GPU_HEALTH_HISTORY) {
        memmove(h->used_gb, h->used_gb + 1, (NR_GPU_HEALTH_HISTORY - 1) * sizeof h->used_gb[0]);
        h->n--;
    }
    h->used_gb[h->n++] = (double)s->used / NR__GIB;
    h->percent = nr_gpu_sample_percent(s);
    h->band = band_of(h->percent, h->band);
    h->slope_gb = ls_slope(h->used_gb, h->n);

    const double *win = h->used_gb + (h->n > WINDOW ? h->n - WINDOW : 0);
    int nw = h->n < WINDOW ? h->n : WINDOW;
    double lo = win[0], hi = win[0];
    for (int i = 1; i < nw; i++) {
        lo = win[i] < lo ? win[i] : lo;
        hi = win[i] > hi ? win[i] : hi;
    }
    h->growth_gb = nw == WINDOW ? ls_slope(win, nw) : 0;

    int cls;
    if (h->band == BAND_DANGER)
        cls = CLS_DANGER;
    else if (nw == WINDOW && h->growth_gb >= GROWING_GB - EPS)
        cls = CLS_GROWING;
    else if (h->band == BAND_CAUTION)
        cls = CLS_CAUTION;
    else if (nw < WINDOW)
        cls = CLS_SETTLING;
    else if (hi - lo <= STABLE_RANGE_GB + EPS)
        cls = h->band == BAND_LOW ? CLS_COULD_INCREASE : CLS_STABLE;
    else
        cls = CLS_VARYING;

    if (cls == h->cls)
        return NR_OK;
    h->cls = cls;
    if (lines && class_line(h, s, lo, hi, lines) != NR_OK)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    return NR_OK;
}

const char *nr_gpu_health_class(const struct nr_gpu_health *h) {
    if (!h || h->cls < 0 || h->cls > CLS_DANGER)
        return "none";
    return cls_names[h->cls];
}

const char *nr_gpu_health_trend(const struct nr_gpu_health *h) {
    if (!h || h->n < 2)
        return "unknown";
    if (h->slope_gb >= TREND_GB - EPS)
        return "growing";
    if (h->slope_gb <= -TREND_GB + EPS)
        return "shrinking";
    return "stable";
}

double nr_gpu_health_slope_gb(const struct nr_gpu_health *h) {
    return h && h->n >= 2 ? h->slope_gb : 0;
}
