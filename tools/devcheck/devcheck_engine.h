/* A test-only TTS engine for the real-GPU device check: every batch really
 * allocates device memory with the CUDA runtime, and returns a short sine
 * tone per chunk (length proportional to the text) so the rest of the
 * pipeline (cache, assembly, WAV) runs unchanged.
 *
 *   steady: cudaMalloc chunk_gb per chunk for the batch, memset, free at
 *           the end of the batch (VRAM returns to the baseline each batch)
 *   leak:   as steady, plus leak_gb per batch that is kept until the engine
 *           is freed (VRAM grows by leak_gb per batch)
 *
 * dry_run replaces the CUDA calls by host malloc/memset/free so the driver
 * and script can be exercised on a machine without a GPU; it never claims
 * device memory and the device check never uses it.
 *
 * Thread safety: one thread at a time, like every engine. */
#ifndef NARRATE_DEVCHECK_ENGINE_H
#define NARRATE_DEVCHECK_ENGINE_H

#include "narrate/voice.h"

struct nr_devcheck_opts {
    int leak;        /* 0 steady, 1 leak */
    int device;      /* CUDA device index */
    double chunk_gb; /* GiB per chunk, held during the batch (default 2.0) */
    double leak_gb;  /* GiB kept per batch in leak mode (default 1.2) */
    int sleep_ms;    /* extra time per chunk, so batches take realistic time */
    int stall_batch; /* 1-based batch that sleeps stall_s first (0: none) */
    double stall_s;
    int dry_run; /* host memory instead of CUDA (no GPU needed) */
};

void nr_devcheck_opts_defaults(struct nr_devcheck_opts *o);
/* Opens the engine: initializes CUDA on o->device (unless dry_run). Errors
 * name the CUDA call and its error string. On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_devcheck_engine_open(const struct nr_devcheck_opts *o,
                                                     struct nr_engine **out, struct nr_err *err);

#endif
