/* Piper voices (VITS exported to ONNX) on narrate's own inference engine.
 *
 *   struct nr_settings s;
 *   nr_settings_defaults(&s);
 *   snprintf(s.voice, sizeof s.voice, "%s", "voices/en_US-x-medium.onnx");
 *   struct nr_engine *e;
 *   if (nr_piper_open(&s, &e, &err) != NR_OK) ...;   // err.msg names the file
 *   ... nr_engine_synth_batch(e, texts, n, out, &err) ...
 *   nr_engine_free(e);
 *
 * A voice is `X.onnx` with its config `X.onnx.json` beside it (Piper's
 * format: audio.sample_rate, espeak.voice, inference.{noise_scale,
 * length_scale, noise_w}, phoneme_id_map, num_speakers). See docs/PIPER.md.
 *
 * Thread safety: an engine is used from one thread at a time. Phonemization
 * goes through libespeak-ng, whose state is process-global: only one thread
 * of the process may phonemize or synthesize with eSpeak NG at a time.
 */
#ifndef NARRATE_VOICE_PIPER_H
#define NARRATE_VOICE_PIPER_H

#include <stdint.h>

#include "narrate/voice.h"

/* Opens the Piper voice settings->voice (a path ending in ".onnx"). Uses
 * settings->threads (0 = all cores), seed, speaker, and noise_scale,
 * length_scale, noise_w (each < 0 = the voice config's value). Errors are
 * one line naming the file: a missing, truncated or non-ONNX model
 * (NR_STATUS_IO / NR_STATUS_BAD_FORMAT / NR_STATUS_UNSUPPORTED), a model
 * that is not a Piper graph, a config that is missing or has no
 * phoneme_id_map, a speaker out of range (NR_STATUS_INVALID_ARG).
 * On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_piper_open(const struct nr_settings *s, struct nr_engine **out,
                                           struct nr_err *err);

/* Sends the engine's warnings (an unknown phoneme, once per engine) to log.
 * log is borrowed and must outlive the engine; NULL stops. e must be a
 * Piper engine. */
void nr_piper_set_log(struct nr_engine *e, struct nr_log *log);

/* Text to IPA phonemes the way the engine sees them: eSpeak NG clause by
 * clause, each clause followed by its terminator (. , ? ! ; :) and clauses
 * joined by a space. *ipa is nr_malloc'd (caller frees); NULL on failure. */
NR_MUST_CHECK enum nr_status nr_piper_phonemize(struct nr_engine *e, const char *text, char **ipa,
                                                struct nr_err *err);

/* Text to the model's symbol ids: "^", each known phoneme followed by "_",
 * then "$". Unknown phonemes are dropped and counted in *n_dropped (may be
 * NULL). *ids is nr_malloc'd (caller frees); NULL on failure. */
NR_MUST_CHECK enum nr_status nr_piper_text_to_ids(struct nr_engine *e, const char *text,
                                                  int64_t **ids, size_t *n_ids, size_t *n_dropped,
                                                  struct nr_err *err);

/* Frames of every item of the last successful batch (the sums of the
 * graph's Ceil output), and the hop size in samples per frame. Returns the
 * number of items (0 before the first batch); frames is borrowed, valid
 * until the next batch. For tests and tools. */
size_t nr_piper_last_frames(const struct nr_engine *e, const int64_t **frames, int64_t *hop);

#endif
