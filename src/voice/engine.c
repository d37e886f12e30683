/* The engine factory and the thin dispatch layer over an engine's ops. */
#include "narrate/voice.h"

#include <string.h>

#ifdef NR_HAVE_PIPER
#include "piper.h"
#endif

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum nr_status nr_engine_open(const struct nr_settings *settings, struct nr_engine **out,
                              struct nr_err *err) {
    *out = NULL;
    const char *voice = settings->voice[0] ? settings->voice : "espeak:en-us";
    if (strncmp(voice, "espeak:", 7) == 0) {
        /* Parallel worker processes pay off only when a batch holds more than
         * one chunk and there is more than one core to run them on. */
        int cores = nr_cpu_count();
        int workers = settings->batch_size != 1 && cores > 1 ? cores : 1;
        if (settings->batch_size > 1 && workers > settings->batch_size)
            workers = settings->batch_size;
        return nr_espeak_open(voice + 7, settings->rate_wpm, workers, out, err);
    }
    if (ends_with(voice, ".onnx")) {
#ifdef NR_HAVE_PIPER
        return nr_piper_open(settings, out, err);
#else
        return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                          "%s: Piper voices are not available in this build", voice);
#endif
    }
    return nr_err_set(err, NR_STATUS_INVALID_ARG,
                      "voice \"%s\": unknown voice (use espeak:<name>, see `narrate voices`, or a "
                      "path to a Piper .onnx voice)",
                      voice);
}

enum nr_status nr_engine_synth_batch(struct nr_engine *e, const char *const *texts, size_t n,
                                     struct nr_audio *out, struct nr_err *err) {
    memset(out, 0, n * sizeof *out);
    enum nr_status st = e->ops->synth_batch(e, texts, n, out, err);
    if (st != NR_OK) {
        for (size_t i = 0; i < n; i++)
            nr_audio_deinit(&out[i]);
    }
    return st;
}

size_t nr_engine_batch_bytes(struct nr_engine *e, const char *const *texts, size_t n) {
    return e->ops->batch_bytes ? e->ops->batch_bytes(e, texts, n) : 0;
}

void nr_engine_hint_next(struct nr_engine *e, const char *const *texts, size_t n) {
    if (e->ops->hint_next)
        e->ops->hint_next(e, texts, n);
}

void nr_engine_free(struct nr_engine *e) {
    if (e)
        e->ops->destroy(e);
}

void nr_engine_set_log(struct nr_engine *e, struct nr_log *log) {
#ifdef NR_HAVE_PIPER
    if (e && strcmp(e->name, "piper") == 0)
        nr_piper_set_log(e, log);
#endif
    (void)e;
    (void)log;
}
