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

/* Mono PCM. The caller owns the struct; the samples are owned by it and
 * released with nr_audio_deinit. They are float, nominal range [-1, 1], in
 * samples, or, from an int16 engine (eSpeak NG), int16 in pcm16 (k stands
 * for k / 32768) with samples NULL: the engine's samples then go to the
 * cache as they came, with no conversion either way. Code that reads
 * samples calls nr_audio_to_float first unless its audio comes from
 * nr_cache_load or a float engine. */
struct nr_audio {
    float *samples; /* (n), or NULL when pcm16 holds the audio */
    size_t n;
    int rate;       /* Hz */
    int16_t *pcm16; /* (n) or NULL */
};
void nr_audio_deinit(struct nr_audio *a);
/* Makes samples hold the audio (converting pcm16, which is then freed). */
NR_MUST_CHECK enum nr_status nr_audio_to_float(struct nr_audio *a, struct nr_err *err);
/* Duration in seconds (0 for an empty buffer). */
double nr_audio_seconds(const struct nr_audio *a);

/* Chunk cache file: "NRPCM001", u32 rate, u32 sample format, u64 n, u64
 * XXH3-64 of the sample bytes, then n little-endian samples: int16 (format 1)
 * for pcm16 audio or when every float sample is exactly k / 32768, else
 * float32 (format 0). Loads back bit-exact either way, as float. Saved
 * atomically (temp + rename; not fsynced: every load checks the length and
 * the checksum). */
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

/* ---- loudness (EBU R128) ----------------------------------------------------- */

/* Streaming loudness meter: integrated loudness (LUFS: K-weighting, 400 ms
 * blocks, absolute and relative gates, BS.1770-4) and true peak (BS.1770-4
 * 4x oversampling, the same filter design as libebur128's) of a mono signal
 * fed block by block, both narrate's own (docs/OUTPUTS.md). Memory does not
 * grow with the length (block loudness is kept as a fixed histogram of
 * 0.01 LU bins with exact energy sums). The single channel is weighted as
 * one speaker (BS.1770 weight 1.0), as ffmpeg's ebur128 filter does. A
 * meter is used by one thread at a time; separate meters are independent. */
struct nr_loudness;
NR_MUST_CHECK enum nr_status nr_loudness_new(int rate, struct nr_loudness **out,
                                             struct nr_err *err);
/* The same meter without true peak (the oversampling is most of its time):
 * integrated loudness only; nr_loudness_result gives NAN for its peak. */
NR_MUST_CHECK enum nr_status nr_loudness_new_integrated(int rate, struct nr_loudness **out,
                                                        struct nr_err *err);
/* The same meter with true peak only: nr_loudness_result gives NAN for its
 * loudness. */
NR_MUST_CHECK enum nr_status nr_loudness_new_peak(int rate, struct nr_loudness **out,
                                                  struct nr_err *err);
/* Adds n samples; samples == NULL adds n samples of silence. */
NR_MUST_CHECK enum nr_status nr_loudness_add(struct nr_loudness *l, const float *samples,
                                             size_t n, struct nr_err *err);
/* Integrated loudness in LUFS (-HUGE_VAL for silence) and true peak in dBTP
 * (-HUGE_VAL for silence) of everything added so far; true_peak_db may be
 * NULL. */
NR_MUST_CHECK enum nr_status nr_loudness_result(struct nr_loudness *l, double *lufs,
                                                double *true_peak_db, struct nr_err *err);
void nr_loudness_free(struct nr_loudness *l);

/* The one gain (dB) that brings a signal measured at lufs / true_peak_db to
 * target_lufs without its true peak going above ceiling_db. *limited is set
 * to 1 when the ceiling, not the target, decided the gain (the result is
 * then quieter than the target). Silence gets 0 dB. */
double nr_loudness_gain_db(double lufs, double true_peak_db, double target_lufs,
                           double ceiling_db, int *limited);

/* ---- resampling (libsoxr) -------------------------------------------------- */

/* Receives output blocks of a stream stage; returns NR_OK to continue. */
typedef enum nr_status (*nr_audio_sink_fn)(void *user, const float *samples, size_t n,
                                           struct nr_err *err);

/* Streaming mono float resampler (soxr, high quality). Output is delivered
 * to sink in blocks as it is produced; memory is fixed. */
struct nr_resampler;
NR_MUST_CHECK enum nr_status nr_resampler_new(int in_rate, int out_rate, nr_audio_sink_fn sink,
                                              void *user, struct nr_resampler **out,
                                              struct nr_err *err);
/* Feeds n samples (samples == NULL: n samples of silence). */
NR_MUST_CHECK enum nr_status nr_resampler_push(struct nr_resampler *rs, const float *samples,
                                               size_t n, struct nr_err *err);
/* Drains the filter's tail; call once after the last push. */
NR_MUST_CHECK enum nr_status nr_resampler_flush(struct nr_resampler *rs, struct nr_err *err);
void nr_resampler_free(struct nr_resampler *rs);

/* ---- peak limiter ----------------------------------------------------------- */

/* Streaming look-ahead limiter (5 ms look-ahead, 60 ms release) that keeps
 * sample and interpolated inter-sample peaks at or below ceiling_db (dBFS,
 * <= 0). It delays by a few ms internally and gives the delay back at flush:
 * the output has exactly as many samples as the input, in the same place.
 * Output goes to sink in blocks. */
struct nr_limiter;
NR_MUST_CHECK enum nr_status nr_limiter_new(int rate, double ceiling_db, nr_audio_sink_fn sink,
                                            void *user, struct nr_limiter **out,
                                            struct nr_err *err);
/* Multiplies every sample pushed from now on by gain (1 until set), before
 * the limiter sees it: the same as scaling the input, without a copy. */
void nr_limiter_set_gain(struct nr_limiter *l, float gain);
/* Feeds n samples (samples == NULL: silence). */
NR_MUST_CHECK enum nr_status nr_limiter_push(struct nr_limiter *l, const float *samples, size_t n,
                                             struct nr_err *err);
/* Pushes out the delayed tail; call once after the last push. */
NR_MUST_CHECK enum nr_status nr_limiter_flush(struct nr_limiter *l, struct nr_err *err);
/* The deepest gain reduction applied so far, in dB (0 when untouched). */
double nr_limiter_max_reduction_db(const struct nr_limiter *l);
/* Output samples whose gain was below 1. */
uint64_t nr_limiter_samples_limited(const struct nr_limiter *l);
void nr_limiter_free(struct nr_limiter *l);

/* ---- encoded outputs ------------------------------------------------------- */

enum nr_audio_format {
    NR_AUDIO_FORMAT_WAV = 0, /* 16-bit PCM, the voice's rate (own writer) */
    NR_AUDIO_FORMAT_M4B,     /* AAC-LC in MP4 ("ipod" muxer), chapters + cover */
    NR_AUDIO_FORMAT_MP3,     /* LAME through libavcodec, ID3v2 tags, chapters + cover */
    NR_AUDIO_FORMAT_OPUS,    /* libopus in Ogg, 48 kHz, Vorbis comments + picture */
    NR_AUDIO_FORMAT_FLAC,    /* FFmpeg's FLAC encoder, 16-bit, the voice's rate */
};
/* Parses "wav", "m4b", "mp3", "opus", "flac". */
NR_MUST_CHECK enum nr_status nr_audio_format_parse(const char *name, enum nr_audio_format *out,
                                                   struct nr_err *err);
/* File extension without the dot ("m4b"). */
const char *nr_audio_format_ext(enum nr_audio_format f);
/* The rate a file of format f gets for a voice of rate in_rate (see
 * docs/OUTPUTS.md): WAV and FLAC keep it; M4B and MP3 keep 22050, 24000,
 * 32000, 44100 and 48000 and take the next of 24000/32000/48000 otherwise;
 * Opus is always 48000. */
int nr_audio_format_rate(enum nr_audio_format f, int in_rate);

/* A chapter mark, in input samples from the start of the file. */
struct nr_audio_chapter {
    const char *title;
    uint64_t start, end;
};

/* Everything an output file is tagged with; every field may be NULL / 0. */
struct nr_audio_tags {
    const char *title;  /* book or chapter title */
    const char *artist; /* the author */
    const char *album;  /* the book title */
    int track, n_tracks; /* chapter number of n_tracks (0: none) */
    const unsigned char *cover; /* JPEG or PNG bytes, borrowed for the open call */
    size_t cover_len;
    const struct nr_audio_chapter *chapters; /* borrowed for the open call */
    size_t n_chapters;
};

/* 1 when data looks like a JPEG or PNG image the outputs can carry (a header
 * with a size); *mime gets "image/jpeg" or "image/png". */
int nr_audio_cover_ok(const unsigned char *data, size_t len, const char **mime);

/* A streaming encoder writing one output file of any format. Input is mono
 * float at in_rate; it is scaled by gain, run through a peak limiter at
 * limit_db (dBTP; limit_db > 0 turns the limiter off), resampled to
 * nr_audio_format_rate() when that differs, encoded and muxed into a temp
 * file that nr_audio_encoder_close renames into place, so a failed encode
 * never leaves a half-written file under the final name. Memory is fixed
 * except for the MP4 muxer's sample index (64 bytes per AAC frame). */
struct nr_audio_encoder;
NR_MUST_CHECK enum nr_status nr_audio_encoder_open(const char *path, enum nr_audio_format f,
                                                   int in_rate, float gain, double limit_db,
                                                   const struct nr_audio_tags *tags,
                                                   struct nr_audio_encoder **out,
                                                   struct nr_err *err);
/* Appends n input samples (samples == NULL: silence). */
NR_MUST_CHECK enum nr_status nr_audio_encoder_write(struct nr_audio_encoder *e,
                                                    const float *samples, size_t n,
                                                    struct nr_err *err);
/* Input samples written so far. */
uint64_t nr_audio_encoder_samples(const struct nr_audio_encoder *e);
/* The limiter's deepest reduction (dB) and samples it touched so far. */
double nr_audio_encoder_limited(const struct nr_audio_encoder *e, uint64_t *n_samples);
/* Flushes, finishes the container and renames the file into place; frees e
 * in every case. On failure no file is left under the final name (an older
 * file there is untouched). */
NR_MUST_CHECK enum nr_status nr_audio_encoder_close(struct nr_audio_encoder *e,
                                                    struct nr_err *err);
/* Drops the temp file and frees e. e may be NULL. */
void nr_audio_encoder_abort(struct nr_audio_encoder *e);

/* ---- subtitles --------------------------------------------------------------- */

/* Streaming SRT + WebVTT writer: cues are appended as they are known and
 * both files are renamed into place by nr_subtitles_close. Times are given
 * in samples at rate and printed rounded to the millisecond. */
struct nr_subtitles;
NR_MUST_CHECK enum nr_status nr_subtitles_open(const char *srt_path, const char *vtt_path,
                                               int rate, struct nr_subtitles **out,
                                               struct nr_err *err);
/* One cue [start, end) with text (newlines become spaces; lines are wrapped
 * at 42 columns; VTT escapes & < >). */
NR_MUST_CHECK enum nr_status nr_subtitles_add(struct nr_subtitles *s, uint64_t start,
                                              uint64_t end, const char *text,
                                              struct nr_err *err);
/* Commits both files; frees s in every case. */
NR_MUST_CHECK enum nr_status nr_subtitles_close(struct nr_subtitles *s, struct nr_err *err);
void nr_subtitles_abort(struct nr_subtitles *s);

#endif
