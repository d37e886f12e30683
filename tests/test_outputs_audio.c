/* Output building blocks against hand-computed values: EBU R128 loudness
 * and true peak of sines, the own true-peak meter against libebur128's, the
 * one-gain rule, the limiter (exact pass-through below the ceiling, peaks
 * held above it, same length, sample for sample what its definition gives),
 * soxr resampling, SRT/VTT text, cover sniffing, format table, encoder
 * abort. */
#include <ebur128.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "narrate/audio.h"

static char tmpdir[256];

static float *sine(size_t n, int rate, double hz, double amp, double phase) {
    float *s = nr_malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = (float)(amp * sin(2 * M_PI * hz * (double)i / rate + phase));
    return s;
}

static void test_loudness(void) {
    struct nr_err err = {0};
    struct nr_loudness *l = NULL;
    /* BS.1770: a full-scale 997 Hz sine on one channel reads -3.01 LUFS, so
     * amplitude 0.5 reads 20*log10(0.5) - 3.01 = -9.03 LUFS. */
    float *s = sine(48000 * 10, 48000, 997.0, 0.5, 0.0);
    CHECK_EQ(nr_loudness_new(48000, &l, &err), NR_OK);
    CHECK_EQ(nr_loudness_add(l, s, 48000 * 10, &err), NR_OK);
    double lufs, tp;
    CHECK_EQ(nr_loudness_result(l, &lufs, &tp, &err), NR_OK);
    CHECK_NEAR(lufs, -9.03, 0.1);
    CHECK_NEAR(tp, -6.02, 0.1);
    nr_loudness_free(l);
    nr_free(s);
    /* A sine at a quarter of the rate, 45 degrees off: every sample is at
     * 0.5/sqrt(2) (-9.03 dBFS) but the wave peaks at 0.5 (-6.02 dBTP). The
     * true peak meter sees between the samples. */
    s = sine(48000 * 2, 48000, 12000.0, 0.5, M_PI / 4);
    CHECK_EQ(nr_loudness_new(48000, &l, &err), NR_OK);
    CHECK_EQ(nr_loudness_add(l, s, 48000 * 2, &err), NR_OK);
    CHECK_EQ(nr_loudness_result(l, &lufs, &tp, &err), NR_OK);
    CHECK_NEAR(tp, -6.02, 0.3);
    CHECK(tp > -8.5);
    nr_loudness_free(l);
    nr_free(s);
    /* Silence: no loudness, and the gain rule leaves it alone. */
    CHECK_EQ(nr_loudness_new(22050, &l, &err), NR_OK);
    CHECK_EQ(nr_loudness_add(l, NULL, 22050 * 3, &err), NR_OK);
    CHECK_EQ(nr_loudness_result(l, &lufs, &tp, &err), NR_OK);
    CHECK(!isfinite(lufs));
    int limited = -1;
    CHECK_NEAR(nr_loudness_gain_db(lufs, tp, -18, -1, &limited), 0.0, 0);
    nr_loudness_free(l);
    /* The rule by hand: -24 LUFS to -18 is +6 dB; with the peak at -10 dBTP
     * the peak lands at -4: fine. With the peak at -3, +6 would put it at
     * +3: the ceiling (-1) allows +2 only. */
    CHECK_NEAR(nr_loudness_gain_db(-24, -10, -18, -1, &limited), 6.0, 1e-9);
    CHECK_EQ(limited, 0);
    CHECK_NEAR(nr_loudness_gain_db(-24, -3, -18, -1, &limited), 2.0, 1e-9);
    CHECK_EQ(limited, 1);
    CHECK_NEAR(nr_loudness_gain_db(-12, -2, -18, -1, &limited), -6.0, 1e-9);
    CHECK_EQ(limited, 0);
    CHECK_EQ(nr_loudness_new(0, &l, &err), NR_STATUS_INVALID_ARG);
}

/* Deterministic noise in [-1, 1]. */
static float noise(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)((double)(*state >> 8) / (double)(1u << 23) - 1.0);
}

/* Speech-like test material: voiced bursts (a 140 Hz buzz with harmonics up
 * to the band edge and some noise, under a syllable envelope), single-sample
 * clicks and silent gaps, the parts that make inter-sample peaks. gap[i] is
 * set where the signal is a gap (fed as NULL silence). */
static float *speechlike(size_t n, int rate, uint32_t seed, unsigned char *gap) {
    float *s = nr_malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        double syll = sin(M_PI * fmod(t * 4.3, 1.0)); /* ~230 ms syllables */
        int in_gap = fmod(t, 1.7) > 1.35;             /* 350 ms pause every 1.7 s */
        double v = 0;
        for (int h = 1; 140.0 * h < rate / 2.0; h++)
            v += sin(2 * M_PI * 140.0 * h * t + h * 0.7) / h;
        v = 0.25 * v * syll * syll + 0.05 * noise(&seed);
        if (i % 4801 == 100)
            v = 0.9 * (i % 2 ? 1 : -1); /* a click */
        s[i] = in_gap ? 0.0f : (float)v;
        gap[i] = (unsigned char)in_gap;
    }
    return s;
}

/* libebur128's own true peak of s (gaps fed as zeros), in dBTP. */
static double ebur128_tp(const float *s, size_t n, int rate) {
    ebur128_state *st = ebur128_init(1, (unsigned long)rate, EBUR128_MODE_TRUE_PEAK);
    double tp = 0;
    if (!st || ebur128_add_frames_float(st, s, n) != EBUR128_SUCCESS ||
        ebur128_true_peak(st, 0, &tp) != EBUR128_SUCCESS)
        tp = -1;
    ebur128_destroy(&st);
    return tp > 0 ? 20.0 * log10(tp) : -HUGE_VAL;
}

/* libebur128's integrated loudness of s (gaps fed as zeros), in LUFS, in
 * its exact mode (every block kept, no histogram). */
static double ebur128_lufs(const float *s, size_t n, int rate) {
    ebur128_state *st = ebur128_init(1, (unsigned long)rate, EBUR128_MODE_I);
    double lufs = 0;
    if (!st || ebur128_add_frames_float(st, s, n) != EBUR128_SUCCESS ||
        ebur128_loudness_global(st, &lufs) != EBUR128_SUCCESS)
        lufs = NAN;
    ebur128_destroy(&st);
    return lufs;
}

/* The own meters read what libebur128's do: true peak (4x or 2x
 * oversampling, blocks, silence skipped) and integrated loudness
 * (K-weighting designed per rate, gating through the histogram) on sines
 * between the samples, noise and speech-like material, fed in odd pieces
 * with gaps as NULL silence; the integrated-only meter reads the same
 * loudness and no peak, the peak-only meter the same peak and no
 * loudness. */
static void test_true_peak(void) {
    struct nr_err err = {0};
    int rates[] = {16000, 22050, 24000, 44100, 48000, 96000, 192000};
    for (size_t r = 0; r < sizeof rates / sizeof *rates; r++) {
        int rate = rates[r];
        size_t n = (size_t)rate * 4;
        unsigned char *gap = nr_malloc(n);
        for (int kind = 0; kind < 3; kind++) {
            float *s;
            if (kind == 0) { /* near a quarter of the rate: peaks between samples */
                s = sine(n, rate, rate * 0.2471, 0.6, 0.77);
                memset(gap, 0, n);
            } else if (kind == 1) {
                uint32_t seed = 7u + (uint32_t)r;
                s = nr_malloc(n * sizeof *s);
                for (size_t i = 0; i < n; i++)
                    s[i] = 0.8f * noise(&seed);
                memset(gap, 0, n);
            } else {
                s = speechlike(n, rate, 99u + (uint32_t)r, gap);
            }
            struct nr_loudness *l = NULL, *li = NULL, *lp = NULL;
            CHECK_EQ(nr_loudness_new(rate, &l, &err), NR_OK);
            CHECK_EQ(nr_loudness_new_integrated(rate, &li, &err), NR_OK);
            CHECK_EQ(nr_loudness_new_peak(rate, &lp, &err), NR_OK);
            size_t step = 1;
            for (size_t i = 0; i < n && l && li && lp;) {
                size_t m = 1;
                while (i + m < n && gap[i + m] == gap[i] && m < step)
                    m++;
                const float *p = gap[i] ? NULL : s + i;
                CHECK_EQ(nr_loudness_add(l, p, m, &err), NR_OK);
                CHECK_EQ(nr_loudness_add(li, p, m, &err), NR_OK);
                CHECK_EQ(nr_loudness_add(lp, p, m, &err), NR_OK);
                i += m;
                step = step * 13 % 1999 + 1; /* 1 .. 1999, across block edges */
            }
            double lufs = 0, tp = 0, lufs_i = 0, tp_i = 0, lufs_p = 0, tp_p = 0;
            CHECK_EQ(nr_loudness_result(l, &lufs, &tp, &err), NR_OK);
            CHECK_EQ(nr_loudness_result(li, &lufs_i, &tp_i, &err), NR_OK);
            CHECK_EQ(nr_loudness_result(lp, &lufs_p, &tp_p, &err), NR_OK);
            double ref = ebur128_tp(s, n, rate), ref_lufs = ebur128_lufs(s, n, rate);
            if (fabs(tp - ref) > 0.001 || fabs(lufs - ref_lufs) > 0.001)
                fprintf(stderr,
                        "at %d Hz, signal %d: own %.5f LUFS %.5f dBTP, libebur128 %.5f LUFS "
                        "%.5f dBTP\n",
                        rate, kind, lufs, tp, ref_lufs, ref);
            CHECK_NEAR(tp, ref, 0.001);
            CHECK_NEAR(lufs, ref_lufs, 0.001);
            CHECK(lufs == lufs_i);
            CHECK(isnan(tp_i));
            CHECK(tp == tp_p);
            CHECK(isnan(lufs_p));
            CHECK_EQ(nr_loudness_result(li, &lufs_i, NULL, &err), NR_OK);
            nr_loudness_free(l);
            nr_loudness_free(li);
            nr_loudness_free(lp);
            nr_free(s);
        }
        nr_free(gap);
    }
    /* The sine at a quarter of the rate, 45 degrees off, by hand: samples
     * at 0.6/sqrt(2) (-7.45 dBFS), true peak 0.6 (-4.44 dBTP); the 49-tap
     * filter's ripple reads up to 0.2 dB over it. */
    float *s = sine(22050 * 2, 22050, 22050 / 4.0, 0.6, M_PI / 4);
    struct nr_loudness *l = NULL;
    double lufs, tp;
    CHECK_EQ(nr_loudness_new(22050, &l, &err), NR_OK);
    CHECK_EQ(nr_loudness_add(l, s, 22050 * 2, &err), NR_OK);
    CHECK_EQ(nr_loudness_result(l, &lufs, &tp, &err), NR_OK);
    CHECK_NEAR(tp, 20 * log10(0.6), 0.2);
    nr_loudness_free(l);
    nr_free(s);
}

/* The gates: sections of noise from loud to far below both gates, and
 * silence, at two rates; the own meter against libebur128's exact mode (the
 * histogram's 0.01 LU bins only matter where the relative gate cuts a bin).
 * By hand: a 997 Hz sine at amplitude 0.1 (-23.01 LUFS) with a 60 dB
 * quieter stretch as long: the quiet blocks fall under the relative gate, so
 * the book reads as its loud half (the blocks that straddle the step count
 * as loud ones with less energy: a little lower). */
static void test_loudness_gates(void) {
    struct nr_err err = {0};
    static const double amp[] = {0.5, 0.05, 0.3, 0.001, 0.2, 0.0, 0.1, 0.0003, 0.4, 0.02, 0.00001};
    int rates[] = {22050, 48000};
    for (size_t r = 0; r < 2; r++) {
        int rate = rates[r];
        size_t sec = (size_t)rate * 3, n = sec * (sizeof amp / sizeof *amp);
        float *s = nr_malloc(n * sizeof *s);
        uint32_t seed = 1234u;
        for (size_t i = 0; i < n; i++)
            s[i] = (float)(amp[i / sec] * noise(&seed));
        struct nr_loudness *l = NULL;
        CHECK_EQ(nr_loudness_new_integrated(rate, &l, &err), NR_OK);
        for (size_t i = 0; i < n && l; i += 1000)
            CHECK_EQ(nr_loudness_add(l, s + i, n - i < 1000 ? n - i : 1000, &err), NR_OK);
        double lufs = 0;
        CHECK_EQ(nr_loudness_result(l, &lufs, NULL, &err), NR_OK);
        nr_loudness_free(l);
        double ref = ebur128_lufs(s, n, rate);
        fprintf(stderr, "gates at %d Hz: own %.5f LUFS, libebur128 %.5f LUFS\n", rate, lufs, ref);
        CHECK_NEAR(lufs, ref, 0.005);
        nr_free(s);
        size_t half = (size_t)rate * 10;
        s = sine(2 * half, rate, 997.0, 0.1, 0.0);
        for (size_t i = half; i < 2 * half; i++)
            s[i] *= 0.001f;
        CHECK_EQ(nr_loudness_new_integrated(rate, &l, &err), NR_OK);
        CHECK_EQ(nr_loudness_add(l, s, 2 * half, &err), NR_OK);
        CHECK_EQ(nr_loudness_result(l, &lufs, NULL, &err), NR_OK);
        nr_loudness_free(l);
        CHECK(lufs < -23.01 && lufs > -23.3);
        CHECK_NEAR(lufs, ebur128_lufs(s, 2 * half, rate), 0.005);
        nr_free(s);
    }
}

/* Collects a stage's output. */
struct collect {
    float *s;
    size_t n, cap;
};
static enum nr_status collect_sink(void *user, const float *s, size_t n, struct nr_err *err) {
    struct collect *c = user;
    if (c->n + n > c->cap)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "collect: full");
    memcpy(c->s + c->n, s, n * sizeof *s);
    c->n += n;
    return NR_OK;
}

static void test_limiter(void) {
    struct nr_err err = {0};
    const int rate = 22050;
    size_t n = (size_t)rate * 3;
    struct collect out = {nr_malloc(n * sizeof(float)), 0, n};
    struct nr_limiter *lim = NULL;
    /* Below the ceiling: the output is the input, sample for sample (the
     * internal delay is given back). */
    float *s = sine(n, rate, 440.0, 0.1, 0.3);
    CHECK_EQ(nr_limiter_new(rate, -1.0, collect_sink, &out, &lim, &err), NR_OK);
    CHECK_EQ(nr_limiter_push(lim, s, 1000, &err), NR_OK);
    CHECK_EQ(nr_limiter_push(lim, s + 1000, n - 1000, &err), NR_OK);
    CHECK_EQ(nr_limiter_flush(lim, &err), NR_OK);
    CHECK_EQ(out.n, n);
    CHECK(out.n == n && memcmp(out.s, s, n * sizeof(float)) == 0);
    CHECK_NEAR(nr_limiter_max_reduction_db(lim), 0.0, 0);
    nr_limiter_free(lim);
    /* A full-scale burst from 1.0 s to 1.5 s in a 0.1 sine: the burst is
     * held at -6 dBTP (own meter, which interpolates differently), the
     * quiet part well before and after it is untouched. */
    for (size_t i = (size_t)rate; i < (size_t)rate * 3 / 2; i++)
        s[i] = (float)sin(2 * M_PI * 440.0 * (double)i / rate + 0.3);
    out.n = 0;
    CHECK_EQ(nr_limiter_new(rate, -6.0, collect_sink, &out, &lim, &err), NR_OK);
    CHECK_EQ(nr_limiter_push(lim, s, n, &err), NR_OK);
    CHECK_EQ(nr_limiter_flush(lim, &err), NR_OK);
    CHECK_EQ(out.n, n);
    float peak = 0;
    for (size_t i = 0; i < out.n; i++)
        peak = fmaxf(peak, fabsf(out.s[i]));
    CHECK(peak <= 0.5012f * 1.001f); /* -6 dB */
    CHECK(peak > 0.45f);             /* held, not crushed */
    struct nr_loudness *l = NULL;
    double lufs, tp;
    CHECK_EQ(nr_loudness_new(rate, &l, &err), NR_OK);
    CHECK_EQ(nr_loudness_add(l, out.s, out.n, &err), NR_OK);
    CHECK_EQ(nr_loudness_result(l, &lufs, &tp, &err), NR_OK);
    CHECK(tp <= -5.8);
    nr_loudness_free(l);
    CHECK_NEAR(nr_limiter_max_reduction_db(lim), 6.0, 0.2);
    int untouched = 1;
    for (size_t i = 0; i < (size_t)rate * 9 / 10; i++)
        untouched &= out.s[i] == s[i];
    for (size_t i = (size_t)rate * 5 / 2; i < n; i++) /* 1 s after: released */
        untouched &= fabsf(out.s[i] - s[i]) < 1e-3f;
    CHECK(untouched);
    nr_limiter_free(lim);
    nr_free(s);
    nr_free(out.s);
}

/* The limiter's output is its definition (limiter.c), computed here the
 * slow way in double: every interval peak by Catmull-Rom at quarter steps,
 * the minimum over the look-ahead window, the recovery one sample after the
 * other and the mean over the window by brute force. On speech-like
 * material 6 dB over the ceiling, and fed in odd pieces, which must not
 * change a bit. */
static float catmull(double a, double b, double c, double d, double u) {
    return (float)(b +
                   0.5 * u * (c - a + u * (2 * a - 5 * b + 4 * c - d + u * (3 * (b - c) + d - a))));
}

static void test_limiter_definition(int rate, double seconds) {
    struct nr_err err = {0};
    const double ceiling_db = -2.0;
    size_t n = (size_t)(rate * seconds), L = (size_t)rate * 5 / 1000;
    unsigned char *gap = nr_malloc(n);
    float *s = speechlike(n, rate, 5u, gap);
    for (size_t i = 0; i < n; i++)
        s[i] *= 2.0f; /* +6 dB: the clicks and the loud syllables get limited */
    /* Reference. x is s with silence on both sides. */
    size_t total = n + L + 8;
    double *x = nr_calloc(total + 2, sizeof *x); /* x[i + 1] = s[i] */
    for (size_t i = 0; i < n; i++)
        x[i + 1] = s[i];
    double c = pow(10.0, ceiling_db / 20.0), rel = 1.0 - exp(-1000.0 / (60.0 * rate));
    double *r = nr_malloc(total * sizeof *r), *mp = nr_malloc(total * sizeof *mp);
    double prev_ip = 0;
    for (size_t t = 0; t + 1 < total; t++) {
        double a = x[t], b = x[t + 1], cc = x[t + 2], d = x[t + 3];
        double ip = fmax(fabs(b), fabs(cc));
        for (int k = 1; k < 4; k++)
            ip = fmax(ip, fabs(catmull(a, b, cc, d, k / 4.0)));
        double peak = fmax(ip, prev_ip);
        prev_ip = ip;
        r[t] = peak > c ? c / peak : 1.0;
    }
    double last = 1.0;
    float *want = nr_malloc(n * sizeof *want);
    for (size_t t = 0; t < n; t++) {
        double m = 1.0;
        for (size_t k = t; k < t + L; k++)
            m = fmin(m, r[k]);
        last = fmin(m, last + (1.0 - last) * rel);
        mp[t] = last;
        double sum = 0;
        for (size_t k = 0; k < L; k++)
            sum += t >= k ? mp[t - k] : 1.0;
        want[t] = (float)(s[t] * fmin(sum / (double)L, 1.0));
    }
    struct collect out = {nr_malloc(n * sizeof(float)), 0, n};
    struct collect out2 = {nr_malloc(n * sizeof(float)), 0, n};
    struct nr_limiter *lim = NULL;
    CHECK_EQ(nr_limiter_new(rate, ceiling_db, collect_sink, &out, &lim, &err), NR_OK);
    CHECK_EQ(nr_limiter_push(lim, s, n, &err), NR_OK);
    CHECK_EQ(nr_limiter_flush(lim, &err), NR_OK);
    double limited_db = nr_limiter_max_reduction_db(lim);
    nr_limiter_free(lim);
    CHECK_EQ(out.n, n);
    double worst = 0;
    size_t n_limited = 0;
    for (size_t i = 0; i < out.n; i++) {
        worst = fmax(worst, fabs((double)out.s[i] - want[i]));
        n_limited += want[i] != s[i];
    }
    fprintf(stderr,
            "limiter vs definition: %zu of %zu samples limited (%.1f dB deepest), "
            "largest difference %.2g\n",
            n_limited, n, limited_db, worst);
    CHECK(worst < 2e-5);
    CHECK(n_limited > n / 20);
    CHECK(limited_db > 3.0);
    /* The same input in odd pieces, silence as NULL: the same bits. */
    CHECK_EQ(nr_limiter_new(rate, ceiling_db, collect_sink, &out2, &lim, &err), NR_OK);
    size_t step = 1;
    for (size_t i = 0; i < n && lim;) {
        size_t m = n - i < step ? n - i : step;
        int zeros = 1;
        for (size_t k = i; k < i + m; k++)
            zeros &= s[k] == 0.0f;
        CHECK_EQ(nr_limiter_push(lim, zeros ? NULL : s + i, m, &err), NR_OK);
        i += m;
        step = step * 17 % 5003 + 1;
    }
    CHECK_EQ(nr_limiter_flush(lim, &err), NR_OK);
    nr_limiter_free(lim);
    CHECK(out2.n == n && memcmp(out.s, out2.s, n * sizeof(float)) == 0);
    nr_free(out.s);
    nr_free(out2.s);
    nr_free(want);
    nr_free(mp);
    nr_free(r);
    nr_free(x);
    nr_free(s);
    nr_free(gap);
}

static size_t zero_crossings(const float *s, size_t n) {
    size_t z = 0;
    for (size_t i = 1; i < n; i++)
        z += (s[i - 1] < 0) != (s[i] < 0);
    return z;
}

static void test_resample(void) {
    struct nr_err err = {0};
    int pairs[][2] = {{22050, 44100}, {16000, 24000}, {24000, 48000}, {44100, 22050}};
    for (size_t p = 0; p < 4; p++) {
        int in = pairs[p][0], outr = pairs[p][1];
        float *s = sine((size_t)in, in, 1000.0, 0.5, 0.0); /* 1 s */
        struct collect out = {nr_malloc((size_t)outr * 2 * sizeof(float)), 0, (size_t)outr * 2};
        struct nr_resampler *rs = NULL;
        CHECK_EQ(nr_resampler_new(in, outr, collect_sink, &out, &rs, &err), NR_OK);
        CHECK_EQ(nr_resampler_push(rs, s, 777, &err), NR_OK); /* odd pieces */
        CHECK_EQ(nr_resampler_push(rs, s + 777, (size_t)in - 777, &err), NR_OK);
        CHECK_EQ(nr_resampler_flush(rs, &err), NR_OK);
        nr_resampler_free(rs);
        /* One second in, one second out; still 1 kHz (2000 zero crossings)
         * at the same level (RMS 0.5/sqrt(2)) away from the ends. */
        CHECK(out.n + 2 >= (size_t)outr && out.n <= (size_t)outr + 2);
        size_t a = (size_t)outr / 10, b = (size_t)outr * 9 / 10;
        double e = 0;
        for (size_t i = a; i < b; i++)
            e += (double)out.s[i] * out.s[i];
        CHECK_NEAR(sqrt(e / (double)(b - a)), 0.5 / sqrt(2.0), 0.005);
        CHECK_NEAR((double)zero_crossings(out.s + a, b - a), 1600.0, 3.0);
        nr_free(s);
        nr_free(out.s);
    }
}

static char *read_text(const char *name) {
    char *path = nr_path_join(tmpdir, name), *text = NULL;
    size_t n;
    struct nr_err err = {0};
    if (nr_file_read(path, &text, &n, &err) != NR_OK)
        text = NULL;
    nr_free(path);
    return text;
}

static void test_subtitles(void) {
    struct nr_err err = {0};
    char *srt = nr_path_join(tmpdir, "b.srt"), *vtt = nr_path_join(tmpdir, "b.vtt");
    struct nr_subtitles *s = NULL;
    /* Rate 1000: samples are milliseconds. */
    CHECK_EQ(nr_subtitles_open(srt, vtt, 1000, &s, &err), NR_OK);
    CHECK(!nr_file_exists(srt)); /* nothing under the final name until close */
    CHECK_EQ(nr_subtitles_add(s, 0, 1500, "Hello <there> & you.", &err), NR_OK);
    CHECK_EQ(nr_subtitles_add(s, 1750, 3723456,
                              "A line that is rather longer than forty-two columns, so it wraps.",
                              &err),
             NR_OK);
    CHECK_EQ(nr_subtitles_add(s, 100, 200, "Out of order.", &err), NR_STATUS_INVALID_ARG);
    CHECK_EQ(nr_subtitles_close(s, &err), NR_OK);
    char *a = read_text("b.srt"), *b = read_text("b.vtt");
    CHECK_STR(a, "1\n00:00:00,000 --> 00:00:01,500\nHello <there> & you.\n\n"
                 "2\n00:00:01,750 --> 01:02:03,456\nA line that is rather longer than\n"
                 "forty-two columns, so it wraps.\n\n");
    CHECK_STR(b, "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello &lt;there&gt; &amp; you.\n\n"
                 "00:00:01.750 --> 01:02:03.456\nA line that is rather longer than\n"
                 "forty-two columns, so it wraps.\n\n");
    nr_free(a);
    nr_free(b);
    /* Rounding to the millisecond: 22050 Hz, sample 11025 is 0.5 s;
     * sample 1 is 0.045 ms -> 0. */
    CHECK_EQ(nr_subtitles_open(srt, vtt, 22050, &s, &err), NR_OK);
    CHECK_EQ(nr_subtitles_add(s, 1, 11025, "x", &err), NR_OK);
    CHECK_EQ(nr_subtitles_close(s, &err), NR_OK);
    a = read_text("b.srt");
    CHECK_STR(a, "1\n00:00:00,000 --> 00:00:00,500\nx\n\n");
    nr_free(a);
    nr_free(srt);
    nr_free(vtt);
}

static void test_cover_and_formats(void) {
    const char *mime = NULL;
    /* A PNG signature and IHDR with a 2x3 size. */
    const unsigned char png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I',
                                   'H',  'D', 'R', 0,   0,    0,    2,    0,    0, 0, 3, 8,  2};
    CHECK(nr_audio_cover_ok(png, sizeof png, &mime));
    CHECK_STR(mime, "image/png");
    /* A JPEG: SOI, an APP0 segment, then SOF0 with height 16, width 32. */
    const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00,
                                 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00,
                                 0x20, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9};
    CHECK(nr_audio_cover_ok(jpg, sizeof jpg, &mime));
    CHECK_STR(mime, "image/jpeg");
    /* Garbage, a cut JPEG and a GIF are refused. */
    CHECK(!nr_audio_cover_ok((const unsigned char *)"not an image", 12, &mime));
    CHECK(mime == NULL);
    CHECK(!nr_audio_cover_ok(jpg, 12, &mime));
    CHECK(!nr_audio_cover_ok((const unsigned char *)"GIF89a\1\0\1\0", 10, NULL));
    CHECK(!nr_audio_cover_ok(NULL, 0, NULL));

    struct nr_err err = {0};
    enum nr_audio_format f;
    CHECK_EQ(nr_audio_format_parse("m4b", &f, &err), NR_OK);
    CHECK_EQ(f, NR_AUDIO_FORMAT_M4B);
    CHECK_EQ(nr_audio_format_parse("ogg", &f, &err), NR_STATUS_INVALID_ARG);
    CHECK_SUBSTR(err.msg, "wav, m4b, mp3, opus, flac");
    CHECK_STR(nr_audio_format_ext(NR_AUDIO_FORMAT_OPUS), "opus");
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_M4B, 22050), 22050);
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_M4B, 16000), 24000);
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_MP3, 8000), 24000);
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_MP3, 96000), 48000);
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_OPUS, 22050), 48000);
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_FLAC, 16000), 16000);
    CHECK_EQ(nr_audio_format_rate(NR_AUDIO_FORMAT_WAV, 16000), 16000);
}

/* An encoder that is aborted, or that fails to open, leaves nothing. */
static void test_encoder_abort(void) {
    struct nr_err err = {0};
    char *path = nr_path_join(tmpdir, "x.m4b");
    struct nr_audio_encoder *e = NULL;
    float *s = sine(16000, 16000, 300.0, 0.3, 0.0);
    CHECK_EQ(nr_audio_encoder_open(path, NR_AUDIO_FORMAT_M4B, 16000, 1.0f, -1.0, NULL, &e, &err),
             NR_OK);
    CHECK_EQ(nr_audio_encoder_write(e, s, 16000, &err), NR_OK);
    CHECK_EQ(nr_audio_encoder_samples(e), 16000);
    nr_audio_encoder_abort(e);
    CHECK(!nr_file_exists(path));
    /* A folder that does not exist: an I/O error naming the file. */
    char *bad = nr_path_join(tmpdir, "missing/x.mp3");
    CHECK_EQ(nr_audio_encoder_open(bad, NR_AUDIO_FORMAT_MP3, 16000, 1.0f, -1.0, NULL, &e, &err),
             NR_STATUS_IO);
    CHECK(e == NULL);
    CHECK_SUBSTR(err.msg, "missing/x.mp3");
    nr_free(bad);
    nr_free(s);
    nr_free(path);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/narrate-audio-out-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_loudness();
    test_true_peak();
    test_loudness_gates();
    test_limiter();
    test_limiter_definition(22050, 3.0);
    /* Longer, at another rate: many blocks, releases across their edges. */
    test_limiter_definition(48000, 9.5);
    test_resample();
    test_subtitles();
    test_cover_and_formats();
    test_encoder_abort();
    int rc = check_result("test_outputs_audio");
    check_remove_tree(tmpdir);
    return rc;
}
