/* narrate gpu: GPU telemetry (NVML by dlopen, a fake provider, or none),
 * the start-up report and batch advisor, the VRAM health monitor and the
 * stall watchdog.
 *
 *   struct nr_gpu *g;
 *   if (nr_gpu_open(settings.gpu_index, &g, &err) != NR_OK) ...;  // no GPU is not an error
 *   nr_gpu_startup_report(g, settings.batch_size, -1, &buf, &err);  // "GPU: ...\nTotal VRAM: ..."
 *   struct nr_gpu_health h; nr_gpu_health_init(&h);
 *   for each batch {
 *       struct nr_gpu_sample s; nr_gpu_sample(g, &s);
 *       char vram[64]; nr_gpu_format_vram(&s, vram, sizeof vram);  // "7.2/12.0GB (60%)"
 *       nr_gpu_health_update(&h, &s, &lines, &err);                // log `lines` (0..n lines)
 *   }
 *   nr_gpu_free(g);
 *
 * "GB" in every text and JSON field is GiB (2^30 bytes), as nvidia-smi and
 * the seed's "12.0 GB" for a 12 GB card count it. docs/GPU.md has the rules.
 *
 * Thread safety: a struct nr_gpu and a struct nr_gpu_health are used from
 * one thread at a time. The watchdog runs its own thread; its functions may
 * be called from any thread. Everything else is pure.
 */
#ifndef NARRATE_GPU_H
#define NARRATE_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "narrate/core.h"

/* Marks reserved / proc_used as unknown (NVML's own NVML_VALUE_NOT_AVAILABLE). */
#define NR_GPU_UNKNOWN UINT64_MAX

/* One telemetry sample. Memory in bytes. When valid is 0 (no GPU, or the
 * query failed) every other field except t is 0. */
struct nr_gpu_sample {
    int valid;
    double t;           /* nr_now() when taken (monotonic seconds) */
    uint64_t used;      /* device memory in use, as nvidia-smi shows it */
    uint64_t total;     /* device memory */
    uint64_t free;      /* total - used - reserved */
    uint64_t reserved;  /* driver/firmware reserve (NVML v2); NR_GPU_UNKNOWN if not reported */
    uint64_t proc_used; /* this process's use; NR_GPU_UNKNOWN if not reported */
    int util_percent;   /* GPU utilization 0..100; -1 if not reported */
};

/* Rounded percentage of used/total (what "(60%)" shows and what the health
 * classes and the pause rule compare), or -1 when !s->valid. */
int nr_gpu_sample_percent(const struct nr_gpu_sample *s);

/* ---- provider -------------------------------------------------------------- */

struct nr_gpu; /* a provider: NVML, fake (NARRATE_FAKE_GPU=<file.json>), or none */

/* Opens GPU `index` (0-based). Chooses, in order: the fake provider when
 * the environment variable NARRATE_FAKE_GPU names a JSON trace file; NVML
 * (library from NARRATE_NVML_LIB, default "libnvidia-ml.so.1"); else the
 * "none" provider. No library, no driver or no device is NOT an error: the
 * result is NR_OK with a "none" provider (nr_gpu_present() == 0,
 * nr_gpu_detail() says why). Errors: a fake file that cannot be read or
 * parsed (the message names the file), an index past the device count
 * (NR_STATUS_INVALID_ARG), no memory. On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_gpu_open(int index, struct nr_gpu **out, struct nr_err *err);
/* 1 for NVML and fake providers, 0 for "none" (and for NULL). */
int nr_gpu_present(const struct nr_gpu *g);
/* Device name ("NVIDIA H100 80GB HBM3"), or "none". Owned by g. */
const char *nr_gpu_name(const struct nr_gpu *g);
/* "nvml", "fake" or "none". */
const char *nr_gpu_provider(const struct nr_gpu *g);
/* One line on where the data comes from or why there is none
 * ("NVML 12.570.86, device 0 of 1", "fake trace tests/x.json",
 * "libnvidia-ml.so.1: cannot open shared object file"). Owned by g. */
const char *nr_gpu_detail(const struct nr_gpu *g);
/* Takes one sample: one NVML call set (memory, utilization, this process's
 * memory; a few milliseconds, so once per batch, not in a tight loop).
 * Fake: the next used_gb value of the trace (the last one repeats). None
 * or a failed query: s->valid = 0. */
void nr_gpu_sample(struct nr_gpu *g, struct nr_gpu_sample *s);
/* The start-up sample: NVML as nr_gpu_sample; the fake provider's initial
 * state (free = free_gb), which does NOT advance its trace. Use it for
 * samples taken before the first batch (the watchdog's batch-0 sample), so
 * the first batch line shows used_gb[0]. */
void nr_gpu_sample_startup(struct nr_gpu *g, struct nr_gpu_sample *s);
/* nr_gpu_free(NULL) does nothing. */
void nr_gpu_free(struct nr_gpu *g);

/* ---- batch advisor and start-up report ------------------------------------ */

/* The seed's table on the total rounded to 0.1 GB (what the report shows):
 * >= 24 GB -> 10, >= 16 -> 5, >= 12 -> 3, >= 8 -> 2, else 1. */
int nr_gpu_recommend_batch(uint64_t total_bytes);
/* The seed's "reduce by 1-2" rule: 1 -> 1, 2 -> 1, 3 -> 2, n >= 4 -> n - 2
 * (5 -> 3). Never below 1. */
int nr_gpu_reduced_batch(int batch);
/* Appends the start-up report (no timestamps; each line ends in '\n'):
 *   GPU: NVIDIA GeForce RTX 4070 Ti
 *   Total VRAM: 12.0 GB
 *   Available VRAM: 7.1 GB
 *   Current batch size (3) is optimal for your GPU
 * or, when batch_size differs from the recommendation, the last line is
 *   NOTE: For 24GB VRAM, recommended batch size is 10 (current: 3)
 *         Adjust in Advanced Settings if needed
 * No GPU: "GPU: none detected (rendering on CPU)\n". recommended <= 0 uses
 * nr_gpu_recommend_batch(); batch_size <= 0 means "auto" and prints
 * "Batch size: auto (starting at N)". Takes a fresh sample (the fake
 * provider's start-up state, which does not advance its trace). */
NR_MUST_CHECK enum nr_status nr_gpu_startup_report(struct nr_gpu *g, int batch_size,
                                                   int recommended, struct nr_buf *out,
                                                   struct nr_err *err);

/* ---- formatting -------------------------------------------------------------- */

/* "7.2/12.0GB (60%)", or "n/a" when !s->valid. Always NUL-terminates. */
void nr_gpu_format_vram(const struct nr_gpu_sample *s, char *buf, size_t size);
/* Appends the telemetry fields, each with a leading comma:
 *   ,"vram_used_gb":7.2,"vram_total_gb":12.0,"vram_free_gb":4.8,"vram_reserved_gb":0.3,
 *    "vram_proc_gb":6.1,"gpu_util":97,"vram_percent":60
 * GB values with up to 2 decimals (at least 1). Unknown values are null;
 * when !s->valid every field is null. */
NR_MUST_CHECK enum nr_status nr_gpu_sample_json(const struct nr_gpu_sample *s, struct nr_buf *out,
                                                struct nr_err *err);

/* ---- health monitor ---------------------------------------------------------- */

#define NR_GPU_HEALTH_HISTORY 8 /* samples kept; the trend uses all of them */

/* Caller-owned; initialize with nr_gpu_health_init. Fields are private. */
struct nr_gpu_health {
    double used_gb[NR_GPU_HEALTH_HISTORY]; /* (n) last valid samples' used GB, oldest first */
    int n;                                 /* samples held, <= NR_GPU_HEALTH_HISTORY */
    int percent;                           /* last sample's rounded percent, -1 before one */
    int cls;                               /* current class (private enum) */
    int band;                              /* current level band, with hysteresis */
    double slope_gb;                       /* trend: least-squares GB/batch over used_gb */
    double growth_gb;                      /* least-squares GB/batch over the last 3 */
};
void nr_gpu_health_init(struct nr_gpu_health *h);
/* Feeds the sample taken after one batch. Invalid samples change nothing.
 * When the class changes, appends the line to log for this batch (no
 * timestamp, '\n'-terminated) to `lines`; otherwise appends nothing.
 * Classes (first match wins; % = nr_gpu_sample_percent; falling back below
 * 96, 80 or 70 % needs 2 points more, so a value hovering at a threshold
 * does not log every batch; docs/GPU.md has the reasons):
 *   danger          % > 95
 *                   "WARNING: VRAM 11.8/12.0GB (98%) - danger: reduce batch size immediately"
 *   growing         >= 3 samples, growth over the last 3 >= 1.0 GB/batch
 *                   "WARNING: VRAM growing +1.1GB/batch - possible memory leak; restart
 *                   to recover (the render resumes from cache)" (one line)
 *   caution         80 <= % <= 95
 *                   "WARNING: VRAM 10.1/12.0GB (84%) - caution: close background apps
 *                   or reduce batch size" (one line)
 *   settling        < 3 samples (no line)
 *   could_increase  last 3 within +-0.5 GB, % < 70
 *                   "VRAM stable at 7.3/12.0GB (61%) - could increase batch size for speed"
 *   stable          last 3 within +-0.5 GB, 70 <= % < 80
 *                   "VRAM stable at 9.1/12.0GB (76%) - healthy"
 *   varying         otherwise
 *                   "VRAM varying 5.0-7.0GB over the last 3 batches"
 * Errors: no memory (appending to lines); the state is updated anyway. */
NR_MUST_CHECK enum nr_status nr_gpu_health_update(struct nr_gpu_health *h,
                                                  const struct nr_gpu_sample *s,
                                                  struct nr_buf *lines, struct nr_err *err);
/* "none" (no valid sample yet), "settling", "stable", "could_increase",
 * "varying", "growing", "caution", "danger". */
const char *nr_gpu_health_class(const struct nr_gpu_health *h);
/* Least-squares slope over the kept samples: "growing" (>= +0.1 GB/batch),
 * "shrinking" (<= -0.1), "stable"; "unknown" with fewer than 2 samples. */
const char *nr_gpu_health_trend(const struct nr_gpu_health *h);
/* The trend's slope in GB per batch (0 with fewer than 2 samples). */
double nr_gpu_health_slope_gb(const struct nr_gpu_health *h);

/* ---- stall watchdog ------------------------------------------------------------ */

struct nr_gpu_watchdog;
/* Called on the watchdog thread right after a stall line was logged. */
typedef void (*nr_gpu_watchdog_fn)(void *user, double since_progress_s,
                                   const struct nr_gpu_sample *last);

/* Starts the watchdog thread. When no batch has finished for stall_seconds
 * (counted from start or from the last batch) it logs through
 * nr_log_event(log, ...):
 *   WARNING: no batch finished for 2m05s (last: Batch 3, VRAM 11.8/12.0GB (98%)) - likely
 *   stalled or hung
 * ("last: none" before the first batch), then calls on_stall (may be NULL).
 * It repeats at most once per stall_seconds while the stall lasts. log and
 * user are borrowed until nr_gpu_watchdog_stop. On failure *out is NULL. */
NR_MUST_CHECK enum nr_status nr_gpu_watchdog_start(struct nr_gpu_watchdog **out,
                                                   double stall_seconds, struct nr_log *log,
                                                   nr_gpu_watchdog_fn on_stall, void *user,
                                                   struct nr_err *err);
/* Records that batch `batch_no` (1-based) finished with sample s (may be
 * NULL): clears the stall and restarts the clock. batch_no <= 0 only records
 * s as the latest sample (e.g. the start-up sample) without counting progress. */
void nr_gpu_watchdog_batch_done(struct nr_gpu_watchdog *w, int batch_no,
                                const struct nr_gpu_sample *s);
/* While paused (the render waits for the user at a VRAM prompt, or is
 * paused), no stall is reported; resuming restarts the clock. */
void nr_gpu_watchdog_set_paused(struct nr_gpu_watchdog *w, int paused);
/* Number of stall lines logged so far. */
int nr_gpu_watchdog_stalls(struct nr_gpu_watchdog *w);
/* Wakes and joins the thread at once, then frees w. NULL does nothing. */
void nr_gpu_watchdog_stop(struct nr_gpu_watchdog *w);

/* "45s", "2m05s", "1h02m05s" (seconds rounded down). */
void nr_gpu_format_duration(double seconds, char *buf, size_t size);

#endif
