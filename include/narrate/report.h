/* narrate report: the VRAM / throughput graph (SVG) and CSV export, built
 * from a render's telemetry.jsonl.
 *
 *   struct nr_err err = {0};
 *   if (nr_report_build("out", &err) != NR_OK)   // writes out/vram.csv, out/vram.svg
 *       ...;
 *
 * telemetry.jsonl holds one JSON object per line; "type" is one of start,
 * batch, watchdog, pause, end (docs/GPU.md has every field). A resumed
 * render appends another start..end run; the CSV and the graph show the
 * LAST run only. Unknown types and unknown fields are ignored.
 *
 * Thread safety: no shared state.
 */
#ifndef NARRATE_REPORT_H
#define NARRATE_REPORT_H

#include "narrate/core.h"

/* Reads dir/telemetry.jsonl and writes dir/vram.csv (one row per batch and
 * per watchdog record of the last run) and dir/vram.svg, both atomically.
 * Lines that do not parse as JSON objects are skipped (a render killed
 * mid-write can leave a partial last line). Errors: a missing telemetry
 * file (NR_STATUS_IO), a file without one usable record
 * (NR_STATUS_BAD_FORMAT), write failures. Each file is replaced whole or not at all; vram.csv is
 * written first, so a failed SVG write leaves the new CSV beside the old SVG. */
NR_MUST_CHECK enum nr_status nr_report_build(const char *dir, struct nr_err *err);

/* The same from text already in memory (for tests and the dashboard):
 * appends the CSV and the SVG of the last run to csv / svg (either may be
 * NULL). source names the input in error messages. */
NR_MUST_CHECK enum nr_status nr_report_render(const char *jsonl, const char *source,
                                              struct nr_buf *csv, struct nr_buf *svg,
                                              struct nr_err *err);

#endif
