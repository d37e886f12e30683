/* narrate voice: text-to-speech engines behind one interface.
 *
 *   struct nr_engine *e;
 *   if (nr_engine_open(&settings, &e, &err) != NR_OK) ...;
 *   const char *texts[2] = {"Hello.", "World."};
 *   struct nr_audio out[2];
 *   enum nr_status st = nr_engine_synth_batch(e, texts, 2, out, &err);
 *   // NR_STATUS_DEVICE_OOM is a normal, recoverable result: retry smaller.
 *   nr_engine_free(e);
 *
 * Thread safety: an engine is used from one thread at a time.
 *
 * struct nr_engine is public so that tests and tools can write engines of
 * their own (a sleeping engine for the watchdog test, a CUDA-allocating
 * engine for the device check); the render loop only calls through ops.
 */
#ifndef NARRATE_VOICE_H
#define NARRATE_VOICE_H

#include "narrate/audio.h"
#include "narrate/core.h"

struct nr_engine;

struct nr_engine_ops {
    /* Synthesizes n texts; on NR_OK out[0..n) each hold audio at the
     * engine's sample_rate (caller deinits them), float or, from an int16
     * engine, pcm16 (see struct nr_audio). On failure every out[i] is
     * zeroed. NR_STATUS_DEVICE_OOM means: try a smaller batch. */
    enum nr_status (*synth_batch)(struct nr_engine *e, const char *const *texts, size_t n,
                                  struct nr_audio *out, struct nr_err *err);
    /* Predicted device bytes for a batch of these texts; 0 = unknown. May be NULL. */
    size_t (*batch_bytes)(struct nr_engine *e, const char *const *texts, size_t n);
    /* Releases everything the engine holds, including the struct. */
    void (*destroy)(struct nr_engine *e);
    /* Optional (may be NULL): the texts the next synth_batch call will
     * probably ask for, given just before this batch's synth_batch. An
     * engine with idle capacity at the end of a batch may start on them
     * (eSpeak NG's workers do), so no worker waits while the caller stores
     * and logs a batch. Texts are copied; a wrong hint only wastes work. */
    void (*hint_next)(struct nr_engine *e, const char *const *texts, size_t n);
};

struct nr_engine {
    const struct nr_engine_ops *ops;
    char name[32];        /* engine kind: "espeak", "piper", "test" */
    char cache_key[1024]; /* engine + voice + every setting that changes audio */
    int sample_rate;
    int uses_gpu;         /* 1 when batches run on the GPU */
};

/* Opens the engine for settings->voice: "espeak:<name>" (default
 * "espeak:en-us") or a path to a Piper ".onnx" with ".onnx.json" beside it.
 * Errors name the voice and the problem. */
NR_MUST_CHECK enum nr_status nr_engine_open(const struct nr_settings *settings,
                                            struct nr_engine **out, struct nr_err *err);
NR_MUST_CHECK enum nr_status nr_engine_synth_batch(struct nr_engine *e, const char *const *texts,
                                                   size_t n, struct nr_audio *out,
                                                   struct nr_err *err);
size_t nr_engine_batch_bytes(struct nr_engine *e, const char *const *texts, size_t n);
/* Passes the next batch's texts to ops->hint_next when the engine has it. */
void nr_engine_hint_next(struct nr_engine *e, const char *const *texts, size_t n);
void nr_engine_free(struct nr_engine *e);
/* Lets the engine report warnings (e.g. a Piper voice's unknown phonemes)
 * on the activity log. log is borrowed until the engine is freed. */
void nr_engine_set_log(struct nr_engine *e, struct nr_log *log);

/* Appends a human-readable list of available voices to out. */
NR_MUST_CHECK enum nr_status nr_voices_list(struct nr_buf *out, struct nr_err *err);

/* eSpeak NG engine (voice/espeak.c). Starts `workers` worker processes
 * (at least 1) once; the chunks of a batch are spoken in parallel by them
 * (eSpeak NG is not thread-safe). Each chunk is spoken by a fresh fork of a
 * worker, so its audio depends on its text alone. */
NR_MUST_CHECK enum nr_status nr_espeak_open(const char *voice_name, int rate_wpm, int workers,
                                            struct nr_engine **out, struct nr_err *err);

/* The eSpeak NG worker loop (the narrate-espeak-worker program runs it):
 * reads requests from in_fd, answers on out_fd (protocol in espeak.c). */
_Noreturn void nr__espeak_worker_main(int in_fd, int out_fd, const char *voice, int rate_wpm);

#endif
