/* One render through the public render API, as the CLI does it, for the
 * tests that drive the render loop (test_render, the outputs tests). */
#ifndef NARRATE_TESTS_RENDER_RUN_H
#define NARRATE_TESTS_RENDER_RUN_H

#include <stdlib.h>

#include "narrate/render.h"

/* Collects log lines in memory. */
struct log_lines {
    struct nr_buf b;
};
static inline void log_collect(void *user, const char *line) {
    struct log_lines *l = user;
    if (nr_buf_printf(&l->b, "%s\n", line) != NR_OK)
        abort();
}

/* Renders book (or a manifest when manifest != NULL) into dir. engine,
 * lines, cb and progress may be NULL: without an engine the render opens
 * the one its settings name; progress gets the final progress. */
static inline enum nr_status run_render(const struct nr_settings *s, const char *dir,
                                        const char *book, const char *manifest,
                                        struct nr_engine *engine, struct log_lines *lines,
                                        const struct nr_render_callbacks *cb,
                                        struct nr_render_progress *progress, struct nr_err *err) {
    struct nr_log *log = NULL;
    struct nr_render *r = NULL;
    enum nr_status st = nr_log_new(&log, err);
    if (st != NR_OK)
        return st;
    if (lines)
        nr_log_add_sink(log, log_collect, lines);
    st = nr_render_new(s, dir, log, &r, err);
    if (st == NR_OK) {
        if (engine)
            nr_render_set_engine(r, engine);
        if (cb)
            nr_render_set_callbacks(r, cb);
        st = manifest ? nr_render_prepare_manifest(r, manifest, err)
                      : nr_render_prepare_book(r, book, err);
    }
    if (st == NR_OK)
        st = nr_render_run(r, err);
    if (r && progress)
        nr_render_get_progress(r, progress);
    nr_render_free(r);
    nr_log_free(log);
    return st;
}

#endif
