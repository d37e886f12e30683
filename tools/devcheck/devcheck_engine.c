/* The device-check engine (see devcheck_engine.h). Plain C against the CUDA
 * runtime API: no kernels, so no nvcc; cudart is linked statically so the
 * binary needs only the driver's libcuda.so.1 on the device machine. */
#include <math.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "devcheck_engine.h"

#define GIB 1073741824.0
#define RATE 22050
#define SECONDS_PER_CHAR 0.012

struct dc_engine {
    struct nr_engine base;
    struct nr_devcheck_opts o;
    size_t chunk_bytes, leak_bytes;
    void **leaked; /* (n_leaked) blocks kept by the leak mode */
    size_t n_leaked, cap_leaked;
    int batch_no;
};

void nr_devcheck_opts_defaults(struct nr_devcheck_opts *o) {
    memset(o, 0, sizeof *o);
    o->chunk_gb = 2.0;
    o->leak_gb = 1.2;
    o->sleep_ms = 200;
}

static void sleep_s(double s) {
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One allocation of n bytes, touched end to end so it is really resident. */
static enum nr_status dev_alloc(struct dc_engine *e, void **p, size_t n, int fill,
                                struct nr_err *err) {
    *p = NULL;
    if (e->o.dry_run) {
        *p = nr_malloc(n);
        if (!*p)
            return nr_err_set(err, NR_STATUS_DEVICE_OOM, "dry run: malloc of %.2f GB failed",
                              (double)n / GIB);
        memset(*p, fill, n);
        return NR_OK;
    }
    cudaError_t rc = cudaMalloc(p, n);
    if (rc != cudaSuccess) {
        *p = NULL;
        (void)cudaGetLastError(); /* clear it: the context stays usable after an OOM */
        return nr_err_set(err,
                          rc == cudaErrorMemoryAllocation ? NR_STATUS_DEVICE_OOM : NR_STATUS_DEVICE,
                          "cudaMalloc(%.2f GB): %s", (double)n / GIB, cudaGetErrorString(rc));
    }
    rc = cudaMemset(*p, fill, n);
    if (rc != cudaSuccess) {
        cudaFree(*p);
        *p = NULL;
        return nr_err_set(err, NR_STATUS_DEVICE, "cudaMemset: %s", cudaGetErrorString(rc));
    }
    return NR_OK;
}

static void dev_free(struct dc_engine *e, void *p) {
    if (!p)
        return;
    if (e->o.dry_run)
        nr_free(p);
    else
        cudaFree(p);
}

static enum nr_status dev_sync(struct dc_engine *e, struct nr_err *err) {
    if (e->o.dry_run)
        return NR_OK;
    cudaError_t rc = cudaDeviceSynchronize();
    if (rc != cudaSuccess)
        return nr_err_set(err, NR_STATUS_DEVICE, "cudaDeviceSynchronize: %s",
                          cudaGetErrorString(rc));
    return NR_OK;
}

/* A sine tone whose pitch follows the text, so chunks sound different. */
static enum nr_status tone(const char *text, struct nr_audio *a, struct nr_err *err) {
    size_t chars = strlen(text);
    double secs = 0.25 + SECONDS_PER_CHAR * (double)chars;
    a->rate = RATE;
    a->n = (size_t)(secs * RATE);
    a->samples = nr_malloc(a->n * sizeof *a->samples);
    if (!a->samples) {
        a->n = 0;
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "devcheck: out of memory");
    }
    double f = 330.0 + (double)(nr_hash64(text, chars) % 220);
    for (size_t i = 0; i < a->n; i++)
        a->samples[i] = (float)(0.2 * sin(2.0 * M_PI * f * (double)i / RATE));
    nr_audio_fade_edges(a, RATE / 50);
    return NR_OK;
}

static enum nr_status keep_leak(struct dc_engine *e, struct nr_err *err) {
    if (e->n_leaked == e->cap_leaked) {
        size_t cap = e->cap_leaked ? 2 * e->cap_leaked : 16;
        void **p = nr_realloc(e->leaked, cap * sizeof *p);
        if (!p)
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "devcheck: out of memory");
        e->leaked = p;
        e->cap_leaked = cap;
    }
    void *blk = NULL;
    enum nr_status st = dev_alloc(e, &blk, e->leak_bytes, 0x6c, err);
    if (st == NR_OK)
        e->leaked[e->n_leaked++] = blk;
    return st;
}

static enum nr_status synth_batch(struct nr_engine *base, const char *const *texts, size_t n,
                                  struct nr_audio *out, struct nr_err *err) {
    struct dc_engine *e = (struct dc_engine *)base;
    memset(out, 0, n * sizeof *out);
    e->batch_no++;
    void **blocks = nr_calloc(n ? n : 1, sizeof *blocks);
    if (!blocks)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "devcheck: out of memory");
    enum nr_status st = NR_OK;
    /* The working set of the batch: chunk_gb per chunk, all live together. */
    for (size_t i = 0; i < n && st == NR_OK; i++)
        st = dev_alloc(e, &blocks[i], e->chunk_bytes, (int)(i & 0x7f), err);
    if (st == NR_OK)
        st = dev_sync(e, err);
    if (st == NR_OK && e->o.leak)
        st = keep_leak(e, err);
    if (st == NR_OK && e->o.stall_batch == e->batch_no)
        sleep_s(e->o.stall_s);
    if (st == NR_OK)
        sleep_s((double)e->o.sleep_ms * 1e-3 * (double)n);
    for (size_t i = 0; i < n && st == NR_OK; i++)
        st = tone(texts[i], &out[i], err);
    for (size_t i = 0; i < n; i++)
        dev_free(e, blocks[i]);
    nr_free(blocks);
    if (st == NR_OK)
        st = dev_sync(e, err);
    if (st != NR_OK)
        for (size_t i = 0; i < n; i++)
            nr_audio_deinit(&out[i]), memset(&out[i], 0, sizeof out[i]);
    return st;
}

static size_t batch_bytes(struct nr_engine *base, const char *const *texts, size_t n) {
    struct dc_engine *e = (struct dc_engine *)base;
    (void)texts;
    return n * e->chunk_bytes + (e->o.leak ? e->leak_bytes : 0);
}

static void destroy(struct nr_engine *base) {
    struct dc_engine *e = (struct dc_engine *)base;
    for (size_t i = 0; i < e->n_leaked; i++)
        dev_free(e, e->leaked[i]);
    nr_free(e->leaked);
    nr_free(e);
}

static const struct nr_engine_ops dc_ops = {synth_batch, batch_bytes, destroy, NULL};

enum nr_status nr_devcheck_engine_open(const struct nr_devcheck_opts *o, struct nr_engine **out,
                                       struct nr_err *err) {
    *out = NULL;
    if (!(o->chunk_gb >= 0) || !(o->leak_gb >= 0) || o->chunk_gb > 1024 || o->leak_gb > 1024)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "devcheck: sizes must be 0..1024 GB");
    if (!o->dry_run) {
        cudaError_t rc = cudaSetDevice(o->device);
        if (rc == cudaSuccess)
            rc = cudaFree(NULL); /* creates the context now, not in the first batch */
        if (rc != cudaSuccess)
            return nr_err_set(err, NR_STATUS_DEVICE, "CUDA device %d: %s", o->device,
                              cudaGetErrorString(rc));
    }
    struct dc_engine *e = nr_calloc(1, sizeof *e);
    if (!e)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "devcheck: out of memory");
    e->base.ops = &dc_ops;
    e->o = *o;
    e->chunk_bytes = (size_t)llround(o->chunk_gb * GIB);
    e->leak_bytes = (size_t)llround(o->leak_gb * GIB);
    snprintf(e->base.name, sizeof e->base.name, "test");
    snprintf(e->base.cache_key, sizeof e->base.cache_key, "devcheck-%s-tone-%.3f-%s",
             o->leak ? "leak" : "steady", SECONDS_PER_CHAR, o->dry_run ? "host" : "cuda");
    e->base.sample_rate = RATE;
    e->base.uses_gpu = !o->dry_run;
    *out = &e->base;
    return NR_OK;
}
