/* Provider selection (fake, NVML, none) and the calls that dispatch on it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

enum nr_status nr_gpu_open(int index, struct nr_gpu **out, struct nr_err *err) {
    *out = NULL;
    struct nr_gpu *g = nr_calloc(1, sizeof *g);
    if (!g)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    snprintf(g->name, sizeof g->name, "none");
    const char *fake = getenv("NARRATE_FAKE_GPU");
    enum nr_status st;
    if (fake && *fake) {
        st = nr__fake_load(g, fake, err);
        if (st == NR_OK)
            g->kind = NR__GPU_FAKE;
    } else {
        st = nr__nvml_open(g, index, err);
        if (st == NR_OK && g->nvml)
            g->kind = NR__GPU_NVML;
    }
    if (st != NR_OK) {
        nr_free(g);
        return st;
    }
    *out = g;
    return NR_OK;
}

int nr_gpu_present(const struct nr_gpu *g) {
    return g && g->kind != NR__GPU_NONE;
}

const char *nr_gpu_name(const struct nr_gpu *g) {
    return nr_gpu_present(g) ? g->name : "none";
}

const char *nr_gpu_provider(const struct nr_gpu *g) {
    if (!g)
        return "none";
    switch (g->kind) {
    case NR__GPU_NVML:
        return "nvml";
    case NR__GPU_FAKE:
        return "fake";
    case NR__GPU_NONE:
        break;
    }
    return "none";
}

const char *nr_gpu_detail(const struct nr_gpu *g) {
    return g ? g->detail : "no provider";
}

static void take(struct nr_gpu *g, int startup, struct nr_gpu_sample *s) {
    memset(s, 0, sizeof *s);
    s->t = nr_now();
    if (!g)
        return;
    switch (g->kind) {
    case NR__GPU_NVML:
        nr__nvml_sample(g->nvml, s);
        break;
    case NR__GPU_FAKE:
        nr__fake_sample(&g->fake, startup, s);
        break;
    case NR__GPU_NONE:
        break;
    }
    if (s->valid && s->total == 0) { /* a device reporting no memory is not a usable sample */
        memset(s, 0, sizeof *s);
        s->t = nr_now();
    }
}

void nr_gpu_sample(struct nr_gpu *g, struct nr_gpu_sample *s) {
    take(g, 0, s);
}

void nr_gpu_sample_startup(struct nr_gpu *g, struct nr_gpu_sample *s) {
    take(g, 1, s);
}

void nr_gpu_free(struct nr_gpu *g) {
    if (!g)
        return;
    nr__nvml_close(g->nvml);
    nr__fake_free(&g->fake);
    nr_free(g);
}

long long nr__gib_tenths(uint64_t bytes) {
    return llround((double)bytes / NR__GIB * 10.0);
}

long long nr__gib_hundredths(uint64_t bytes) {
    return llround((double)bytes / NR__GIB * 100.0);
}

int nr_gpu_sample_percent(const struct nr_gpu_sample *s) {
    if (!s || !s->valid || s->total == 0)
        return -1;
    return (int)lround((double)s->used * 100.0 / (double)s->total);
}
