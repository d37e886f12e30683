/* narrate render: the scheduler. Pending chunks in batches, per-batch
 * activity log and telemetry, cache, pause/resume/stop, assembly.
 *
 *   struct nr_render *r;
 *   nr_render_new(&settings, "out", log, &r, &err);
 *   nr_render_prepare_book(r, "book.epub", &err);     // render_book()
 *   // or nr_render_prepare_manifest(r, "out/manifest.json", &err);
 *   enum nr_status st = nr_render_run(r, &err);       // NR_STATUS_CANCELLED after a stop
 *   nr_render_free(r);
 *
 * Thread safety: one thread runs nr_render_run; nr_render_request_stop,
 * _pause, _resume, _answer_prompt and nr_render_get_progress may be called
 * from any other thread (a signal handler may only set a flag that the
 * caller passes through nr_render_request_stop from a normal thread).
 */
#ifndef NARRATE_RENDER_H
#define NARRATE_RENDER_H

#include "narrate/core.h"
#include "narrate/text.h"
#include "narrate/voice.h"

struct nr_render;

struct nr_render_progress {
    size_t chunks_total;
    size_t chunks_done;      /* cached before the run + synthesized in it */
    size_t chunks_cached;    /* found in the cache at the start of the run */
    size_t chunks_synth;     /* synthesized in this run */
    size_t batches;          /* batches finished in this run */
    int batch_size;          /* current batch size */
    double audio_seconds;    /* audio of the chunks done */
    double elapsed_seconds;  /* since nr_render_run started */
    double eta_seconds;      /* < 0 when unknown */
    int state;               /* enum nr_render_state */
};

enum nr_render_state {
    NR_RENDER_IDLE = 0,
    NR_RENDER_RUNNING,
    NR_RENDER_PAUSED,
    NR_RENDER_PROMPT,   /* waiting for an answer to a VRAM pause prompt */
    NR_RENDER_ASSEMBLING,
    NR_RENDER_DONE,
    NR_RENDER_STOPPED,
    NR_RENDER_FAILED,
};

/* The answer to the > vram_pause_percent prompt. */
enum nr_prompt_answer {
    NR_PROMPT_REDUCE = 0, /* reduce batch size to the suggested value and continue */
    NR_PROMPT_CONTINUE,   /* continue with the same batch size */
    NR_PROMPT_STOP,       /* stop the render (resumable) */
};

struct nr_render_prompt {
    int batch_size;      /* current */
    int suggested;       /* the seed's rule: reduce by 1 or 2 */
    double used_percent; /* VRAM used % that triggered it */
    const char *advice;  /* the seed's "User actions" text, several lines */
};

struct nr_render_callbacks {
    void *user;
    /* After every batch and at state changes; called on the render thread. */
    void (*on_progress)(void *user, const struct nr_render_progress *p);
    /* Called on the render thread when VRAM crosses vram_pause_percent.
     * Returning an answer decides at once; a NULL callback means "no
     * interactive user": the render answers NR_PROMPT_REDUCE itself.
     * A callback may instead return -1 to wait for nr_render_answer_prompt
     * from another thread (the dashboard). */
    int (*on_prompt)(void *user, const struct nr_render_prompt *p);
};

/* Creates a render context for out_dir (created if missing). settings and
 * log are borrowed and must outlive the context. */
NR_MUST_CHECK enum nr_status nr_render_new(const struct nr_settings *settings, const char *out_dir,
                                           struct nr_log *log, struct nr_render **out,
                                           struct nr_err *err);
void nr_render_free(struct nr_render *r);

void nr_render_set_callbacks(struct nr_render *r, const struct nr_render_callbacks *cb);
/* Uses this engine instead of opening one from settings->voice. Borrowed. */
void nr_render_set_engine(struct nr_render *r, struct nr_engine *engine);

/* render_book(): loads and chunks the book, writes out_dir/manifest.json.
 * An existing manifest of the same book and chunking is reused as is. */
NR_MUST_CHECK enum nr_status nr_render_prepare_book(struct nr_render *r, const char *book_path,
                                                    struct nr_err *err);
/* _render_from_manifest_data(): reads a (possibly edited) manifest. */
NR_MUST_CHECK enum nr_status nr_render_prepare_manifest(struct nr_render *r,
                                                        const char *manifest_path,
                                                        struct nr_err *err);
/* The prepared manifest (borrowed), or NULL. */
const struct nr_manifest *nr_render_manifest(const struct nr_render *r);

/* Synthesizes every chunk not in the cache, in batches, then assembles the
 * chapter files and the book. Returns NR_STATUS_CANCELLED when stopped
 * (everything finished so far stays cached). */
NR_MUST_CHECK enum nr_status nr_render_run(struct nr_render *r, struct nr_err *err);

void nr_render_request_stop(struct nr_render *r);
/* A flag that a signal handler sets; the render stops after the current
 * batch when *flag becomes non-zero. Borrowed. */
void nr_render_set_stop_flag(struct nr_render *r, volatile int *flag);
void nr_render_pause(struct nr_render *r);
void nr_render_resume(struct nr_render *r);
void nr_render_answer_prompt(struct nr_render *r, enum nr_prompt_answer answer);
void nr_render_get_progress(struct nr_render *r, struct nr_render_progress *p);
const char *nr_render_state_name(int state);

/* Cache path of a chunk for an engine: out_dir/cache/<hash>.pcm where the
 * hash covers engine->cache_key and the chunk text. Caller frees. */
char *nr_render_cache_path(const char *out_dir, const struct nr_engine *engine,
                           const char *text);

#endif
