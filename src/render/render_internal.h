/* Private to src/render: the render context shared by its files. */
#ifndef NARRATE_RENDER_INTERNAL_H
#define NARRATE_RENDER_INTERNAL_H

#include <pthread.h>

#include "narrate/gpu.h"
#include "narrate/render.h"

struct nr_render {
    struct nr_settings s; /* a copy: the batch size changes during a run */
    char *out_dir;
    char *cache_dir;
    char *manifest_path;
    char *telemetry_path;
    int lock_fd;        /* holds OUT/.narrate.lock; -1 before it is taken */
    struct nr_log *log; /* borrowed */
    struct nr_engine *engine;
    int owns_engine;
    struct nr_manifest *m;
    struct nr_render_callbacks cb;
    volatile int *stop_flag; /* borrowed, may be NULL */

    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    int stop_req;
    int pause_req;
    int prompt_answer; /* -1: none yet */
    struct nr_render_progress prog;

    /* Run state, render thread only. */
    double t0;
    double synth_seconds;
    struct nr_gpu *gpu;
    struct nr_gpu_health health;
    struct nr_gpu_watchdog *wd;
    struct nr_gpu_sample last_sample;
    double peak_used_gb;
};

/* Synthesizes every pending chunk in batches (batch.c). pending holds chunk
 * indexes into r->m->chunks, one per distinct cache file. */
enum nr_status nr__render_batches(struct nr_render *r, const size_t *pending, size_t n_pending,
                                  struct nr_err *err);
/* Writes the chapter files and book.wav from the cache (assemble.c). */
enum nr_status nr__render_assemble(struct nr_render *r, struct nr_err *err);
/* Sets the state and reports progress through the callback. */
void nr__render_set_state(struct nr_render *r, int state);
void nr__render_notify(struct nr_render *r);
/* Appends one JSON object line to telemetry.jsonl (best effort: logged). */
void nr__render_telemetry(struct nr_render *r, const char *json);
/* 1 when a stop was requested (flag, API). */
int nr__render_should_stop(struct nr_render *r);

#endif
