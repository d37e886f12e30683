/* gpu module: advisor table, start-up report text, VRAM format and JSON,
 * health classes from scripted traces, the fake provider, the none
 * provider (NVML absent) and the NVML provider against a stand-in library
 * (test_gpu_nvml_double.c) built in four ABI variants. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "narrate/gpu.h"

#define GIB 1073741824.0

static char tmpdir[256];

static const char *data_path(const char *name) {
    static char buf[1024];
    const char *src = getenv("NARRATE_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/tests/data/gpu/%s", src ? src : ".", name);
    return buf;
}

/* Opens the fake provider on a file; returns NULL (and counts a failure) on error. */
static struct nr_gpu *open_fake(const char *path) {
    setenv("NARRATE_FAKE_GPU", path, 1);
    struct nr_gpu *g = NULL;
    struct nr_err err = {0};
    if (nr_gpu_open(0, &g, &err) != NR_OK) {
        fprintf(stderr, "open %s: %s\n", path, err.msg);
        check_failures++;
        return NULL;
    }
    CHECK_EQ(nr_gpu_present(g), 1);
    CHECK_STR(nr_gpu_provider(g), "fake");
    return g;
}

/* Writes a one-off trace and returns its path. */
static const char *write_trace(const char *name, double total, double free_gb) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.json", tmpdir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return path;
    fprintf(f,
            "{\"name\": \"Test GPU\", \"total_gb\": %.3f, \"free_gb\": %.3f, \"used_gb\": [1.0]}\n",
            total, free_gb);
    fclose(f);
    return path;
}

static void check_report(const char *path, int batch, int recommended, const char *expected) {
    struct nr_gpu *g = open_fake(path);
    if (!g)
        return;
    struct nr_buf b = {0};
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_startup_report(g, batch, recommended, &b, &err), NR_OK);
    CHECK_STR(b.data, expected);
    nr_buf_deinit(&b);
    nr_gpu_free(g);
}

static void test_table(void) {
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(7.9 * GIB)), 1);
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(8.0 * GIB)), 2);
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(11.9 * GIB)), 2);
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(12.0 * GIB)), 3);
    CHECK_EQ(nr_gpu_recommend_batch(12282ULL << 20), 3); /* RTX 4070 Ti: 11.99 GiB shows 12.0 */
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(15.9 * GIB)), 3);
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(16.0 * GIB)), 5);
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(23.9 * GIB)), 5);
    CHECK_EQ(nr_gpu_recommend_batch((uint64_t)(24.0 * GIB)), 10);
    CHECK_EQ(nr_gpu_recommend_batch(81559ULL << 20), 10); /* H100 80GB */
    CHECK_EQ(nr_gpu_recommend_batch(0), 1);

    CHECK_EQ(nr_gpu_reduced_batch(5), 3);
    CHECK_EQ(nr_gpu_reduced_batch(10), 8);
    CHECK_EQ(nr_gpu_reduced_batch(4), 2);
    CHECK_EQ(nr_gpu_reduced_batch(3), 2);
    CHECK_EQ(nr_gpu_reduced_batch(2), 1);
    CHECK_EQ(nr_gpu_reduced_batch(1), 1);
    CHECK_EQ(nr_gpu_reduced_batch(0), 1);
    CHECK_EQ(nr_gpu_reduced_batch(-4), 1);
}

static void test_startup_report(void) {
    /* The seed's own example, from the seed's own numbers. */
    check_report(data_path("rtx4070ti.json"), 3, -1,
                 "GPU: NVIDIA GeForce RTX 4070 Ti\n"
                 "Total VRAM: 12.0 GB\n"
                 "Available VRAM: 7.1 GB\n"
                 "Current batch size (3) is optimal for your GPU\n");
    check_report(write_trace("t79", 7.9, 7.0), 3, -1,
                 "GPU: Test GPU\nTotal VRAM: 7.9 GB\nAvailable VRAM: 7.0 GB\n"
                 "NOTE: For 7.9GB VRAM, recommended batch size is 1 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t79", 7.9, 7.0), 1, -1,
                 "GPU: Test GPU\nTotal VRAM: 7.9 GB\nAvailable VRAM: 7.0 GB\n"
                 "Current batch size (1) is optimal for your GPU\n");
    check_report(write_trace("t80", 8.0, 6.5), 3, -1,
                 "GPU: Test GPU\nTotal VRAM: 8.0 GB\nAvailable VRAM: 6.5 GB\n"
                 "NOTE: For 8GB VRAM, recommended batch size is 2 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t80", 8.0, 6.5), 2, -1,
                 "GPU: Test GPU\nTotal VRAM: 8.0 GB\nAvailable VRAM: 6.5 GB\n"
                 "Current batch size (2) is optimal for your GPU\n");
    check_report(write_trace("t119", 11.9, 11.0), 3, -1,
                 "GPU: Test GPU\nTotal VRAM: 11.9 GB\nAvailable VRAM: 11.0 GB\n"
                 "NOTE: For 11.9GB VRAM, recommended batch size is 2 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t120", 12.0, 11.2), 5, -1,
                 "GPU: Test GPU\nTotal VRAM: 12.0 GB\nAvailable VRAM: 11.2 GB\n"
                 "NOTE: For 12GB VRAM, recommended batch size is 3 (current: 5)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t160", 16.0, 15.0), 3, -1,
                 "GPU: Test GPU\nTotal VRAM: 16.0 GB\nAvailable VRAM: 15.0 GB\n"
                 "NOTE: For 16GB VRAM, recommended batch size is 5 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t160", 16.0, 15.0), 5, -1,
                 "GPU: Test GPU\nTotal VRAM: 16.0 GB\nAvailable VRAM: 15.0 GB\n"
                 "Current batch size (5) is optimal for your GPU\n");
    /* The seed's NOTE example: 24 GB, batch 3. */
    check_report(write_trace("t240", 24.0, 22.5), 3, -1,
                 "GPU: Test GPU\nTotal VRAM: 24.0 GB\nAvailable VRAM: 22.5 GB\n"
                 "NOTE: For 24GB VRAM, recommended batch size is 10 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t240", 24.0, 22.5), 10, -1,
                 "GPU: Test GPU\nTotal VRAM: 24.0 GB\nAvailable VRAM: 22.5 GB\n"
                 "Current batch size (10) is optimal for your GPU\n");
    check_report(write_trace("t236", 23.6, 20.0), 10, -1,
                 "GPU: Test GPU\nTotal VRAM: 23.6 GB\nAvailable VRAM: 20.0 GB\n"
                 "NOTE: For 23.6GB VRAM, recommended batch size is 5 (current: 10)\n"
                 "      Adjust in Advanced Settings if needed\n");
    /* An engine's own recommendation replaces the table; auto batch size. */
    check_report(write_trace("t240", 24.0, 22.5), 3, 7,
                 "GPU: Test GPU\nTotal VRAM: 24.0 GB\nAvailable VRAM: 22.5 GB\n"
                 "NOTE: For 24GB VRAM, recommended batch size is 7 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
    check_report(write_trace("t120", 12.0, 11.2), 0, -1,
                 "GPU: Test GPU\nTotal VRAM: 12.0 GB\nAvailable VRAM: 11.2 GB\n"
                 "Batch size: auto (starting at 3)\n");
    /* An 80 GB H100 (81559 MiB = 79.6 GiB) is an "80GB" card. */
    check_report(data_path("h100.json"), 3, -1,
                 "GPU: NVIDIA H100 80GB HBM3\nTotal VRAM: 79.6 GB\nAvailable VRAM: 78.5 GB\n"
                 "NOTE: For 80GB VRAM, recommended batch size is 10 (current: 3)\n"
                 "      Adjust in Advanced Settings if needed\n");
}

static void test_fake_trace(void) {
    struct nr_gpu *g = open_fake(data_path("rtx4070ti.json"));
    if (!g)
        return;
    CHECK_STR(nr_gpu_name(g), "NVIDIA GeForce RTX 4070 Ti");
    struct nr_buf b = {0};
    struct nr_err err = {0};
    /* The report's sample is the start-up state and does not advance the trace. */
    CHECK_EQ(nr_gpu_startup_report(g, 3, -1, &b, &err), NR_OK);
    nr_buf_deinit(&b);
    struct nr_gpu_sample s0;
    char vram0[64];
    nr_gpu_sample_startup(g, &s0); /* 12.0 - 7.1 free: does not advance either */
    nr_gpu_format_vram(&s0, vram0, sizeof vram0);
    CHECK_STR(vram0, "4.9/12.0GB (41%)");
    CHECK_EQ(s0.free, (uint64_t)llround(7.1 * GIB));
    const char *expect[] = {"7.2/12.0GB (60%)", "7.3/12.0GB (61%)", "7.3/12.0GB (61%)",
                            "7.3/12.0GB (61%)", "7.3/12.0GB (61%)"};
    for (int i = 0; i < 5; i++) {
        struct nr_gpu_sample s;
        char vram[64];
        nr_gpu_sample(g, &s);
        CHECK_EQ(s.valid, 1);
        CHECK(s.t > 0);
        CHECK_EQ(s.used + s.free, s.total); /* no reserve in this trace */
        CHECK_EQ(s.reserved, NR_GPU_UNKNOWN);
        CHECK_EQ(s.proc_used, NR_GPU_UNKNOWN);
        CHECK_EQ(s.util_percent, -1);
        nr_gpu_format_vram(&s, vram, sizeof vram);
        CHECK_STR(vram, expect[i]);
    }
    struct nr_gpu_sample s;
    nr_gpu_sample(g, &s);
    CHECK_EQ(nr_gpu_sample_json(&s, &b, &err), NR_OK);
    CHECK_STR(b.data, ",\"vram_used_gb\":7.3,\"vram_total_gb\":12.0,\"vram_free_gb\":4.7,"
                      "\"vram_reserved_gb\":null,\"vram_proc_gb\":null,\"gpu_util\":null,"
                      "\"vram_percent\":61");
    nr_buf_deinit(&b);
    nr_gpu_free(g);

    /* Every optional field, with two-decimal values. */
    g = open_fake(data_path("h100.json"));
    if (!g)
        return;
    nr_gpu_sample(g, &s);
    CHECK_EQ(nr_gpu_sample_json(&s, &b, &err), NR_OK);
    /* free = 79.647 - 0.52 - 0.55 = 78.577 */
    CHECK_STR(b.data, ",\"vram_used_gb\":0.55,\"vram_total_gb\":79.65,\"vram_free_gb\":78.58,"
                      "\"vram_reserved_gb\":0.52,\"vram_proc_gb\":0.0,\"gpu_util\":0,"
                      "\"vram_percent\":1");
    nr_buf_deinit(&b);
    nr_gpu_sample(g, &s);
    CHECK_EQ(nr_gpu_sample_json(&s, &b, &err), NR_OK);
    CHECK_STR(b.data, ",\"vram_used_gb\":2.5,\"vram_total_gb\":79.65,\"vram_free_gb\":76.63,"
                      "\"vram_reserved_gb\":0.52,\"vram_proc_gb\":1.97,\"gpu_util\":97,"
                      "\"vram_percent\":3");
    nr_buf_deinit(&b);
    nr_gpu_sample(g, &s);
    CHECK_EQ(s.util_percent, 100);
    CHECK_EQ(s.proc_used, (uint64_t)llround(1.97 * GIB)); /* last value repeats */
    nr_gpu_free(g);

    /* Invalid samples: "n/a" and nulls. */
    memset(&s, 0, sizeof s);
    char vram[64];
    nr_gpu_format_vram(&s, vram, sizeof vram);
    CHECK_STR(vram, "n/a");
    CHECK_EQ(nr_gpu_sample_percent(&s), -1);
    CHECK_EQ(nr_gpu_sample_json(&s, &b, &err), NR_OK);
    CHECK_STR(b.data, ",\"vram_used_gb\":null,\"vram_total_gb\":null,\"vram_free_gb\":null,"
                      "\"vram_reserved_gb\":null,\"vram_proc_gb\":null,\"gpu_util\":null,"
                      "\"vram_percent\":null");
    nr_buf_deinit(&b);
    char small[4];
    s.valid = 1;
    s.used = 7ULL << 30;
    s.total = 12ULL << 30;
    nr_gpu_format_vram(&s, small, sizeof small);
    CHECK_STR(small, "7.0"); /* truncated, terminated */
}

/* Feeds a trace through the fake provider into the health monitor and
 * checks the lines emitted after each batch ("" = none). */
static void run_trace(const char *file, int n, const char *const *lines, const char *final_class,
                      const char *final_trend, double final_slope) {
    struct nr_gpu *g = open_fake(data_path(file));
    if (!g)
        return;
    struct nr_gpu_health h;
    nr_gpu_health_init(&h);
    CHECK_STR(nr_gpu_health_class(&h), "none");
    CHECK_STR(nr_gpu_health_trend(&h), "unknown");
    for (int i = 0; i < n; i++) {
        struct nr_gpu_sample s;
        struct nr_buf b = {0};
        struct nr_err err = {0};
        nr_gpu_sample(g, &s);
        CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
        if (strcmp(b.data ? b.data : "", lines[i]) != 0) {
            fprintf(stderr, "%s batch %d: got \"%s\", expected \"%s\"\n", file, i + 1,
                    b.data ? b.data : "", lines[i]);
            check_failures++;
        }
        nr_buf_deinit(&b);
    }
    CHECK_STR(nr_gpu_health_class(&h), final_class);
    CHECK_STR(nr_gpu_health_trend(&h), final_trend);
    CHECK_NEAR(nr_gpu_health_slope_gb(&h), final_slope, 1e-6);
    nr_gpu_free(g);
}

static void test_health(void) {
    const char *stable61[] = {
        "", "", "VRAM stable at 7.3/12.0GB (61%) - could increase batch size for speed\n",
        "", "", ""};
    /* slope of 7.2 7.3 7.3 7.3 7.2 7.3 by least squares: 0.1 / 17.5 GB/batch */
    run_trace("stable_61.json", 6, stable61, "could_increase", "stable", 0.1 / 17.5);

    const char *stable75[] = {"", "", "VRAM stable at 9.0/12.0GB (75%) - healthy\n", ""};
    run_trace("stable_75.json", 4, stable75, "stable", "stable", 0.02);

    const char *leak[] = {
        "",
        "",
        "WARNING: VRAM growing +1.1GB/batch - possible memory leak; restart to recover (the "
        "render resumes from cache)\n",
        "",
        "",
        "",
        "", /* 61..88 %: still growing, which outranks caution */
        "WARNING: VRAM 11.7/12.0GB (98%) - danger: reduce batch size immediately\n"};
    run_trace("leak.json", 8, leak, "danger", "growing", 1.1);

    const char *caution[] = {
        "WARNING: VRAM 10.1/12.0GB (84%) - caution: close background apps or reduce batch size\n",
        "",
        "",
        "", /* 79 %: within the 2-point hysteresis, still caution */
        "VRAM varying 9.0-10.1GB over the last 3 batches\n",
        "VRAM stable at 9.1/12.0GB (76%) - healthy\n"};
    /* slope of 10.1 10.2 10.1 9.5 9.0 9.1: -4.6 / 17.5 GB/batch */
    run_trace("caution.json", 6, caution, "stable", "shrinking", -4.6 / 17.5);

    const char *danger[] = {
        "WARNING: VRAM 11.8/12.0GB (98%) - danger: reduce batch size immediately\n", "", "", ""};
    run_trace("danger.json", 4, danger, "danger", "stable", 0);

    /* The 90-95 % gap is caution; 95 % is not yet danger, 96 % is. */
    struct nr_gpu_health h;
    nr_gpu_health_init(&h);
    struct nr_gpu_sample s = {.valid = 1, .total = 100ULL << 30, .used = 92ULL << 30};
    struct nr_buf b = {0};
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
    CHECK_STR(b.data, "WARNING: VRAM 92.0/100.0GB (92%) - caution: close background apps or "
                      "reduce batch size\n");
    nr_buf_deinit(&b);
    s.used = 95ULL << 30;
    CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
    CHECK(b.data == NULL || b.data[0] == '\0');
    CHECK_STR(nr_gpu_health_class(&h), "caution");
    s.used = 96ULL << 30;
    CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
    CHECK_STR(nr_gpu_health_class(&h), "danger");
    nr_buf_deinit(&b);
    /* 94 % stays danger (hysteresis), 93 % drops to caution. */
    s.used = 94ULL << 30;
    CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
    CHECK_STR(nr_gpu_health_class(&h), "danger");
    s.used = 93ULL << 30;
    CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
    CHECK_STR(nr_gpu_health_class(&h), "caution");
    nr_buf_deinit(&b);
    /* An invalid sample changes nothing. */
    memset(&s, 0, sizeof s);
    CHECK_EQ(nr_gpu_health_update(&h, &s, &b, &err), NR_OK);
    CHECK_STR(nr_gpu_health_class(&h), "caution");
    CHECK(b.data == NULL || b.data[0] == '\0');
    nr_buf_deinit(&b);

    /* Growth of 0.9 GB/batch is not "growing"; 1.1 is. */
    nr_gpu_health_init(&h);
    double used[] = {2.0, 2.9, 3.8};
    for (int i = 0; i < 3; i++) {
        struct nr_gpu_sample t = {
            .valid = 1, .total = 100ULL << 30, .used = (uint64_t)llround(used[i] * GIB)};
        CHECK_EQ(nr_gpu_health_update(&h, &t, &b, &err), NR_OK);
    }
    CHECK_STR(nr_gpu_health_class(&h), "varying");
    CHECK_STR(b.data, "VRAM varying 2.0-3.8GB over the last 3 batches\n");
    nr_buf_deinit(&b);
    struct nr_gpu_sample t = {
        .valid = 1, .total = 100ULL << 30, .used = (uint64_t)llround(5.1 * GIB)};
    CHECK_EQ(nr_gpu_health_update(&h, &t, &b, &err), NR_OK); /* 2.9 3.8 5.1: 1.1/batch */
    CHECK_STR(nr_gpu_health_class(&h), "growing");
    CHECK_SUBSTR(b.data, "growing +1.1GB/batch");
    nr_buf_deinit(&b);
}

static void test_none_provider(void) {
    unsetenv("NARRATE_FAKE_GPU");
    setenv("NARRATE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    struct nr_gpu *g = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    CHECK(g != NULL);
    CHECK_EQ(nr_gpu_present(g), 0);
    CHECK_STR(nr_gpu_name(g), "none");
    CHECK_STR(nr_gpu_provider(g), "none");
    CHECK_SUBSTR(nr_gpu_detail(g), "NVML not available");
    CHECK_SUBSTR(nr_gpu_detail(g), "/nonexistent/libnvidia-ml.so.1");
    struct nr_buf b = {0};
    CHECK_EQ(nr_gpu_startup_report(g, 3, -1, &b, &err), NR_OK);
    CHECK_STR(b.data, "GPU: none detected (rendering on CPU)\n");
    nr_buf_deinit(&b);
    struct nr_gpu_sample s;
    nr_gpu_sample(g, &s);
    CHECK_EQ(s.valid, 0);
    CHECK(s.t > 0);
    char vram[16];
    nr_gpu_format_vram(&s, vram, sizeof vram);
    CHECK_STR(vram, "n/a");
    nr_gpu_free(g);
    nr_gpu_free(NULL);
    CHECK_EQ(nr_gpu_present(NULL), 0);

    /* A library that is not NVML at all. */
    setenv("NARRATE_NVML_LIB", "libm.so.6", 1);
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    CHECK_EQ(nr_gpu_present(g), 0);
    CHECK_SUBSTR(nr_gpu_detail(g), "lacks nvmlInit");
    nr_gpu_free(g);
}

static void check_double(const char *env, int has_v2, size_t stride) {
    const char *lib = getenv(env);
    if (!lib || !*lib) {
        fprintf(stderr, "%s not set: NVML double not built?\n", env);
        check_failures++;
        return;
    }
    unsetenv("NARRATE_FAKE_GPU");
    setenv("NARRATE_NVML_LIB", lib, 1);
    struct nr_gpu *g = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    if (!g)
        return;
    CHECK_EQ(nr_gpu_present(g), 1);
    CHECK_STR(nr_gpu_provider(g), "nvml");
    CHECK_STR(nr_gpu_name(g), "NVIDIA Double 80GB");
    char want[64];
    snprintf(want, sizeof want, "%zu-byte process records", stride);
    CHECK_SUBSTR(nr_gpu_detail(g), want); /* the stride chosen from the symbols */
    CHECK_SUBSTR(nr_gpu_detail(g), has_v2 ? "memory info v2" : "memory info v1");
    struct nr_gpu_sample s;
    nr_gpu_sample(g, &s);
    CHECK_EQ(s.valid, 1);
    CHECK_EQ(s.total, 81559ULL << 20);
    CHECK_EQ(s.used, (has_v2 ? 1234ULL : 1234ULL + 530ULL) << 20);
    CHECK_EQ(s.free, (81559ULL - 1234 - 530) << 20);
    CHECK_EQ(s.reserved, has_v2 ? 530ULL << 20 : NR_GPU_UNKNOWN);
    CHECK_EQ(s.proc_used, 2048ULL << 20); /* 1.5 + 0.5 GiB of this pid, not pid 1's 5 GiB */
    CHECK_EQ(s.util_percent, 42);
    struct nr_buf b = {0};
    CHECK_EQ(nr_gpu_startup_report(g, 10, -1, &b, &err), NR_OK);
    CHECK_STR(b.data, "GPU: NVIDIA Double 80GB\nTotal VRAM: 79.6 GB\nAvailable VRAM: 77.9 GB\n"
                      "Current batch size (10) is optimal for your GPU\n");
    nr_buf_deinit(&b);
    nr_gpu_free(g);

    /* Index past the device count is an error; no device or no driver is not. */
    CHECK_EQ(nr_gpu_open(1, &g, &err), NR_STATUS_INVALID_ARG);
    CHECK(g == NULL);
    CHECK_SUBSTR(err.msg, "GPU index 1 out of range (1 GPU: 0..0)");
    nr_err_clear(&err);
    setenv("NVML_DOUBLE_COUNT", "0", 1);
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    CHECK_EQ(nr_gpu_present(g), 0);
    CHECK_SUBSTR(nr_gpu_detail(g), "no NVIDIA GPU found");
    nr_gpu_free(g);
    unsetenv("NVML_DOUBLE_COUNT");
    setenv("NVML_DOUBLE_INIT", "9", 1);
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    CHECK_EQ(nr_gpu_present(g), 0);
    CHECK_SUBSTR(nr_gpu_detail(g), "Driver Not Loaded");
    nr_gpu_free(g);
    unsetenv("NVML_DOUBLE_INIT");

    /* memory v2 refused (an old driver's version mismatch): v1 from then on. */
    setenv("NVML_DOUBLE_MEM2", "25", 1);
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    nr_gpu_sample(g, &s);
    CHECK_EQ(s.valid, 1);
    CHECK_EQ(s.used, (1234ULL + 530ULL) << 20);
    CHECK_EQ(s.reserved, NR_GPU_UNKNOWN);
    unsetenv("NVML_DOUBLE_MEM2");
    nr_gpu_sample(g, &s); /* still v1: the fallback sticks */
    CHECK_EQ(s.reserved, NR_GPU_UNKNOWN);
    nr_gpu_free(g);
    /* Memory queries failing (GPU lost): an invalid sample, not a crash. */
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    setenv("NVML_DOUBLE_MEM", "15", 1);
    nr_gpu_sample(g, &s);
    CHECK_EQ(s.valid, 0);
    CHECK(s.t > 0);
    unsetenv("NVML_DOUBLE_MEM");
    nr_gpu_free(g);
}

static void test_nvml_double(void) {
    check_double("NVML_DOUBLE_MODERN", 1, 24);
    check_double("NVML_DOUBLE_CC", 1, 32);
    check_double("NVML_DOUBLE_OLD", 0, 16);
    /* Symbols say 32-byte records, the data is 24-byte: still this PID's 2 GiB. */
    check_double("NVML_DOUBLE_MISMATCH", 1, 32);
}

static void check_bad_fake(const char *path, enum nr_status want, const char *msg) {
    setenv("NARRATE_FAKE_GPU", path, 1);
    struct nr_gpu *g = (struct nr_gpu *)&g; /* must be reset to NULL */
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_open(0, &g, &err), want);
    CHECK(g == NULL);
    CHECK_SUBSTR(err.msg, path);
    CHECK_SUBSTR(err.msg, msg);
}

static void test_bad_fake(void) {
    check_bad_fake(data_path("broken.json"), NR_STATUS_BAD_FORMAT, "invalid JSON");
    check_bad_fake(data_path("bad_used.json"), NR_STATUS_BAD_FORMAT, "\"used_gb\"[1]");
    check_bad_fake(data_path("no-such-trace.json"), NR_STATUS_IO, "fake GPU file");
    char path[512];
    snprintf(path, sizeof path, "%s/missing_name.json", tmpdir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"total_gb\": 8, \"used_gb\": [1]}", f);
        fclose(f);
    }
    check_bad_fake(path, NR_STATUS_BAD_FORMAT, "\"name\"");
    snprintf(path, sizeof path, "%s/zero_total.json", tmpdir);
    f = fopen(path, "w");
    if (f) {
        fputs("{\"name\": \"x\", \"total_gb\": 0, \"used_gb\": [0]}", f);
        fclose(f);
    }
    check_bad_fake(path, NR_STATUS_BAD_FORMAT, "\"total_gb\" must be > 0");
    /* An empty variable means "not set". */
    setenv("NARRATE_FAKE_GPU", "", 1);
    setenv("NARRATE_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    struct nr_gpu *g = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_gpu_open(0, &g, &err), NR_OK);
    CHECK_STR(nr_gpu_provider(g), "none");
    nr_gpu_free(g);
}

static void test_alloc_failures(void) {
    /* Every allocation of opening a fake provider failing in turn: a clean error each time. */
    for (size_t n = 1; n < 64; n++) {
        setenv("NARRATE_FAKE_GPU", data_path("h100.json"), 1);
        struct nr_gpu *g = NULL;
        struct nr_err err = {0};
        nr_alloc_fail_after(n);
        enum nr_status st = nr_gpu_open(0, &g, &err);
        nr_alloc_fail_after(0);
        if (st == NR_OK) {
            CHECK(g != NULL);
            nr_gpu_free(g);
            break;
        }
        CHECK(g == NULL);
        CHECK(err.status != NR_OK);
    }
}

static void test_duration(void) {
    char b[32];
    nr_gpu_format_duration(0.4, b, sizeof b);
    CHECK_STR(b, "0s");
    nr_gpu_format_duration(2.2, b, sizeof b);
    CHECK_STR(b, "2s");
    nr_gpu_format_duration(125.9, b, sizeof b);
    CHECK_STR(b, "2m05s");
    nr_gpu_format_duration(3725, b, sizeof b);
    CHECK_STR(b, "1h02m05s");
    nr_gpu_format_duration(-3, b, sizeof b);
    CHECK_STR(b, "0s");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/narrate-test-gpu-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_table();
    test_startup_report();
    test_fake_trace();
    test_health();
    test_none_provider();
    test_nvml_double();
    test_bad_fake();
    test_alloc_failures();
    test_duration();
    check_remove_tree(tmpdir);
    return check_result("test_gpu");
}
