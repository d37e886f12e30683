/* Test engines: a tone engine with scripted failures and delays, for the
 * render tests (no eSpeak NG needed, exact lengths known in advance). */
#ifndef NARRATE_TESTS_ENGINES_H
#define NARRATE_TESTS_ENGINES_H

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "narrate/voice.h"

struct tone_engine {
    struct nr_engine base;
    int samples_per_char; /* audio length = chars * this */
    double sleep_s;       /* per batch */
    size_t oom_above;     /* batches larger than this fail with DEVICE_OOM (0 = never) */
    size_t calls, items;  /* counters */
};

/* Length of a text's audio, by the rule below. */
static inline size_t tone_len(const struct tone_engine *e, const char *text) {
    return strlen(text) * (size_t)e->samples_per_char;
}

static enum nr_status tone_synth(struct nr_engine *base, const char *const *texts, size_t n,
                                 struct nr_audio *out, struct nr_err *err) {
    struct tone_engine *e = (struct tone_engine *)base;
    if (e->oom_above && n > e->oom_above)
        return nr_err_set(err, NR_STATUS_DEVICE_OOM, "test: %zu items do not fit", n);
    if (e->sleep_s > 0)
        usleep((useconds_t)(e->sleep_s * 1e6));
    e->calls++;
    for (size_t i = 0; i < n; i++) {
        size_t len = tone_len(e, texts[i]);
        out[i].samples = nr_malloc((len ? len : 1) * sizeof(float));
        if (!out[i].samples)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "test: out of memory");
        for (size_t k = 0; k < len; k++)
            out[i].samples[k] = 0.25f * (float)sin(2 * M_PI * 440.0 * (double)k / 8000.0);
        out[i].n = len;
        out[i].rate = 8000;
        e->items++;
    }
    return NR_OK;
}

static void tone_destroy(struct nr_engine *base) {
    (void)base; /* caller-owned */
}

static const struct nr_engine_ops tone_ops = {tone_synth, NULL, tone_destroy, NULL};

static inline void tone_engine_init(struct tone_engine *e, int samples_per_char) {
    memset(e, 0, sizeof *e);
    e->base.ops = &tone_ops;
    snprintf(e->base.name, sizeof e->base.name, "test");
    snprintf(e->base.cache_key, sizeof e->base.cache_key, "engine=tone;spc=%d", samples_per_char);
    e->base.sample_rate = 8000;
    e->samples_per_char = samples_per_char;
}

#endif
