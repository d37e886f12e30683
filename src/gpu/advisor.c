/* Batch advisor, start-up report and the text/JSON forms of a sample.
 *
 * Every GB figure is computed once as an integer count of tenths (or
 * hundredths) of a GiB, and both the text and the table lookup use that
 * integer, so what the report shows and what it decides can never disagree
 * (a "12 GB" card reports 11.99 GiB and shows "12.0 GB": it gets the 12 GB
 * row, as the seed's RTX 4070 Ti example expects). */
#include <string.h>

#include "gpu_internal.h"

int nr_gpu_recommend_batch(uint64_t total_bytes) {
    long long tenths = nr__gib_tenths(total_bytes);
    if (tenths >= 240)
        return 10;
    if (tenths >= 160)
        return 5;
    if (tenths >= 120)
        return 3;
    if (tenths >= 80)
        return 2;
    return 1;
}

int nr_gpu_reduced_batch(int batch) {
    if (batch <= 2)
        return 1;
    if (batch == 3)
        return 2;
    return batch - 2;
}

/* "12.0" from bytes. */
static void fmt_tenths(uint64_t bytes, char *buf, size_t size) {
    long long t = nr__gib_tenths(bytes);
    snprintf(buf, size, "%lld.%lld", t / 10, t % 10);
}

void nr_gpu_format_vram(const struct nr_gpu_sample *s, char *buf, size_t size) {
    if (!size)
        return;
    if (!s || !s->valid || s->total == 0) {
        snprintf(buf, size, "n/a");
        return;
    }
    char used[32], total[32];
    fmt_tenths(s->used, used, sizeof used);
    fmt_tenths(s->total, total, sizeof total);
    snprintf(buf, size, "%s/%sGB (%d%%)", used, total, nr_gpu_sample_percent(s));
}

enum nr_status nr_gpu_startup_report(struct nr_gpu *g, int batch_size, int recommended,
                                     struct nr_buf *out, struct nr_err *err) {
    enum nr_status st;
    if (!nr_gpu_present(g)) {
        st = nr_buf_printf(out, "GPU: none detected (rendering on CPU)\n");
        goto done;
    }
    struct nr_gpu_sample s;
    nr_gpu_sample_startup(g, &s);
    if (!s.valid) {
        st = nr_buf_printf(out, "GPU: %s\nVRAM: n/a (the memory query failed)\n", nr_gpu_name(g));
        goto done;
    }
    char total[32], avail[32];
    fmt_tenths(s.total, total, sizeof total);
    fmt_tenths(s.free, avail, sizeof avail);
    st = nr_buf_printf(out, "GPU: %s\nTotal VRAM: %s GB\nAvailable VRAM: %s GB\n", nr_gpu_name(g),
                       total, avail);
    if (st != NR_OK)
        goto done;
    int rec = recommended > 0 ? recommended : nr_gpu_recommend_batch(s.total);
    /* The card's total, rounded to whole GB, unless rounding would name a
     * size from another row of the table (7.9 GB is not "8GB"). */
    long long tenths = nr__gib_tenths(s.total);
    long long whole_gb = (tenths + 5) / 10;
    char gb[32];
    if (nr_gpu_recommend_batch((uint64_t)whole_gb << 30) == nr_gpu_recommend_batch(s.total))
        snprintf(gb, sizeof gb, "%lld", whole_gb);
    else
        snprintf(gb, sizeof gb, "%lld.%lld", tenths / 10, tenths % 10);
    if (batch_size <= 0)
        st = nr_buf_printf(out, "Batch size: auto (starting at %d)\n", rec);
    else if (batch_size == rec)
        st = nr_buf_printf(out, "Current batch size (%d) is optimal for your GPU\n", batch_size);
    else
        st = nr_buf_printf(out,
                           "NOTE: For %sGB VRAM, recommended batch size is %d (current: %d)\n"
                           "      Adjust in Advanced Settings if needed\n",
                           gb, rec, batch_size);
done:
    if (st != NR_OK)
        return nr_err_set(err, st, "out of memory");
    return NR_OK;
}

/* ,"key":7.25 with 1 or 2 decimals, or ,"key":null. */
static enum nr_status json_gb(struct nr_buf *out, const char *key, uint64_t bytes, int known) {
    if (!known)
        return nr_buf_printf(out, ",\"%s\":null", key);
    long long h = nr__gib_hundredths(bytes);
    if (h % 10 == 0)
        return nr_buf_printf(out, ",\"%s\":%lld.%lld", key, h / 100, (h / 10) % 10);
    return nr_buf_printf(out, ",\"%s\":%lld.%02lld", key, h / 100, h % 100);
}

enum nr_status nr_gpu_sample_json(const struct nr_gpu_sample *s, struct nr_buf *out,
                                  struct nr_err *err) {
    int v = s && s->valid && s->total > 0;
    enum nr_status st = json_gb(out, "vram_used_gb", v ? s->used : 0, v);
    if (st == NR_OK)
        st = json_gb(out, "vram_total_gb", v ? s->total : 0, v);
    if (st == NR_OK)
        st = json_gb(out, "vram_free_gb", v ? s->free : 0, v);
    if (st == NR_OK)
        st = json_gb(out, "vram_reserved_gb", v ? s->reserved : 0,
                     v && s->reserved != NR_GPU_UNKNOWN);
    if (st == NR_OK)
        st =
            json_gb(out, "vram_proc_gb", v ? s->proc_used : 0, v && s->proc_used != NR_GPU_UNKNOWN);
    if (st == NR_OK) {
        if (v && s->util_percent >= 0)
            st = nr_buf_printf(out, ",\"gpu_util\":%d", s->util_percent);
        else
            st = nr_buf_printf(out, ",\"gpu_util\":null");
    }
    if (st == NR_OK) {
        if (v)
            st = nr_buf_printf(out, ",\"vram_percent\":%d", nr_gpu_sample_percent(s));
        else
            st = nr_buf_printf(out, ",\"vram_percent\":null");
    }
    if (st != NR_OK)
        return nr_err_set(err, st, "out of memory");
    return NR_OK;
}

void nr_gpu_format_duration(double seconds, char *buf, size_t size) {
    long long t = seconds > 0 ? (long long)seconds : 0;
    if (t < 60)
        snprintf(buf, size, "%llds", t);
    else if (t < 3600)
        snprintf(buf, size, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(buf, size, "%lldh%02lldm%02llds", t / 3600, (t / 60) % 60, t % 60);
}
