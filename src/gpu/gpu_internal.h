/* Private to the gpu module: the provider struct and helpers shared by its
 * files. Never included from another module. */
#ifndef NARRATE_GPU_INTERNAL_H
#define NARRATE_GPU_INTERNAL_H

#include <stdint.h>

#include "narrate/gpu.h"

#define NR__GIB 1073741824.0

enum nr__gpu_kind { NR__GPU_NONE = 0, NR__GPU_NVML, NR__GPU_FAKE };

struct nr__nvml; /* nvml.c */

/* A scripted trace for the fake provider (values in bytes). */
struct nr__fake {
    uint64_t total, start_free, reserved; /* reserved: NR_GPU_UNKNOWN when absent */
    uint64_t *used;                       /* (n_used) */
    size_t n_used;
    uint64_t *proc; /* (n_proc); NULL when absent */
    size_t n_proc;
    int *util; /* (n_util); NULL when absent */
    size_t n_util;
    size_t next; /* index of the next used value */
};

struct nr_gpu {
    enum nr__gpu_kind kind;
    char name[128];
    char detail[512];
    struct nr__nvml *nvml; /* NR__GPU_NVML */
    struct nr__fake fake;  /* NR__GPU_FAKE */
};

/* nvml.c: opens device `index` through NVML. Returns NR_OK with g->nvml set,
 * or NR_OK with g->nvml NULL and g->detail saying why there is no GPU, or an
 * error (index out of range, no memory). */
enum nr_status nr__nvml_open(struct nr_gpu *g, int index, struct nr_err *err);
void nr__nvml_sample(struct nr__nvml *n, struct nr_gpu_sample *s);
void nr__nvml_close(struct nr__nvml *n);

/* fake.c */
enum nr_status nr__fake_load(struct nr_gpu *g, const char *path, struct nr_err *err);
void nr__fake_sample(struct nr__fake *f, int startup, struct nr_gpu_sample *s);
void nr__fake_free(struct nr__fake *f);

/* Bytes to tenths / hundredths of a GiB, rounded half away from zero. */
long long nr__gib_tenths(uint64_t bytes);
long long nr__gib_hundredths(uint64_t bytes);

#endif
