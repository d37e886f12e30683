/* Private to the report module: the last run of a telemetry file. */
#ifndef NARRATE_REPORT_INTERNAL_H
#define NARRATE_REPORT_INTERNAL_H

#include <stddef.h>

#include "narrate/report.h"

/* A number that may be missing or null in the record. */
struct nr__num {
    int has;
    double v;
};

enum nr__row_type { NR__ROW_BATCH, NR__ROW_WATCHDOG, NR__ROW_PAUSE };

/* One batch, watchdog or pause record. */
struct nr__row {
    enum nr__row_type type;
    struct nr__num batch, t, n, seconds, sec_per_chunk, batch_size, new_batch_size;
    struct nr__num used, total, percent, reserved, proc, util, since;
    char time[16];
    char health[24], trend[16], answer[16];
};

struct nr__run {
    /* from the start record */
    char gpu[128], engine[64], voice[160], start_time[16], end_status[16], end_trend[16];
    struct nr__num total_gb, batch_size, chunks_total, chunks_cached;
    int has_start, has_end;
    struct nr__num end_batches, end_chunks, end_t;
    struct nr__row *rows; /* (n_rows) in file order */
    size_t n_rows, cap_rows;
    size_t skipped_lines; /* unparsable lines in the whole file */
};

void nr__run_deinit(struct nr__run *r);
/* svg.c: appends the SVG of run r to out. */
enum nr_status nr__report_svg(const struct nr__run *r, struct nr_buf *out, struct nr_err *err);

#endif
