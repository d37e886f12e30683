/* Private to src/render: the background cache writer (commit.c). */
#ifndef NARRATE_RENDER_COMMIT_H
#define NARRATE_RENDER_COMMIT_H

#include <pthread.h>

#include "narrate/audio.h"

struct nr_committer;

enum nr_status nr__committer_start(struct nr_committer **out, struct nr_err *err);
/* Queues audio for path (both taken: path is freed, *audio zeroed), waiting
 * while the queue is full. Returns an earlier write error instead, if any;
 * then path and audio are freed by the caller's deinit as usual. */
enum nr_status nr__committer_push(struct nr_committer *c, char *path, struct nr_audio *audio,
                                  struct nr_err *err);
/* The first write error so far, or NR_OK. */
enum nr_status nr__committer_check(struct nr_committer *c, struct nr_err *err);
/* Writes everything queued, stops the thread and frees c; returns the first
 * write error, if any. NULL does nothing. */
enum nr_status nr__committer_finish(struct nr_committer *c, struct nr_err *err);

#endif
