/* narrate audio: PCM buffers, WAV files, the chunk cache format.
 *
 *   struct nr_audio a = {0};
 *   if (nr_cache_load("cache/ab12.pcm", &a, &err) == NR_OK) { ...; nr_audio_deinit(&a); }
 *
 * Thread safety: no shared state.
 */
#ifndef NARRATE_AUDIO_H
#define NARRATE_AUDIO_H

#include "narrate/core.h"

/* Mono float PCM, nominal range [-1, 1]. The caller owns the struct; the
 * samples are owned by it and released with nr_audio_deinit. */
struct nr_audio {
    float *samples; /* (n) */
    size_t n;
    int rate; /* Hz */
};
void nr_audio_deinit(struct nr_audio *a);
/* Duration in seconds (0 for an empty buffer). */
double nr_audio_seconds(const struct nr_audio *a);

/* Chunk cache file: "NRPCM001", u32 rate, u32 reserved, u64 n, u64 XXH3-64
 * of the sample bytes, then n little-endian float32 samples. Saved
 * atomically (temp + fsync + rename). */
NR_MUST_CHECK enum nr_status nr_cache_save(const char *path, const struct nr_audio *a,
                                           struct nr_err *err);
/* Loads a cache file; a truncated file, a wrong length or a checksum
 * mismatch is NR_STATUS_BAD_FORMAT. On failure a is zeroed. */
NR_MUST_CHECK enum nr_status nr_cache_load(const char *path, struct nr_audio *a,
                                           struct nr_err *err);

/* Streaming 16-bit mono WAV writer into a temp file renamed on close, so a
 * failed or interrupted write never leaves a half-written file. Samples are
 * scaled by gain, rounded and clipped to int16. */
struct nr_wav_writer {
    struct nr_atomic_file af;
    int rate;
    uint64_t n_samples;
    float gain;
};
NR_MUST_CHECK enum nr_status nr_wav_writer_open(struct nr_wav_writer *w, const char *path,
                                                int rate, struct nr_err *err);
NR_MUST_CHECK enum nr_status nr_wav_writer_write(struct nr_wav_writer *w, const float *samples,
                                                 size_t n, struct nr_err *err);
NR_MUST_CHECK enum nr_status nr_wav_writer_silence(struct nr_wav_writer *w, size_t n,
                                                   struct nr_err *err);
/* Fixes the header, fsyncs and renames into place. */
NR_MUST_CHECK enum nr_status nr_wav_writer_close(struct nr_wav_writer *w, struct nr_err *err);
/* Drops the temp file. Safe after a failed write. */
void nr_wav_writer_abort(struct nr_wav_writer *w);

/* Reads a 16-bit PCM mono WAV (for tests and tools). */
NR_MUST_CHECK enum nr_status nr_wav_read(const char *path, struct nr_audio *a,
                                         struct nr_err *err);

/* Applies a raised-cosine fade of fade_samples at both ends (removes clicks
 * at joins when the chunk does not start or end at zero). */
void nr_audio_fade_edges(struct nr_audio *a, size_t fade_samples);

#endif
