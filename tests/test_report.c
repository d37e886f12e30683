/* report module: CSV content (exact) and SVG structure from telemetry
 * fixtures, xmllint validity of the written files, the no-GPU rendering,
 * resumed files (last run only), and errors. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "narrate/report.h"

static const char *fixture(const char *name) {
    static char buf[1024];
    const char *src = getenv("NARRATE_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/tests/data/gpu/%s", src ? src : ".", name);
    return buf;
}

static char *load(const char *path) {
    char *text = NULL;
    size_t len;
    struct nr_err err = {0};
    if (nr_file_read(path, &text, &len, &err) != NR_OK) {
        fprintf(stderr, "%s\n", err.msg);
        check_failures++;
    }
    return text;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static const char expected_csv[] =
    "type,batch,t,time,chunks,seconds,sec_per_chunk,batch_size,vram_used_gb,vram_total_gb,"
    "vram_percent,vram_reserved_gb,vram_proc_gb,gpu_util,health,trend,since_progress_s\n"
    "batch,1,45.32,18:27:45,3,45.32,15.11,3,7.2,12,60,0.25,6.1,97,settling,unknown,\n"
    "batch,2,89.5,18:28:29,3,44.18,14.73,3,7.3,12,61,0.25,6.2,98,settling,stable,\n"
    "watchdog,,215,18:30:35,,,,,11.8,12,98,,,,,,125.5\n"
    "batch,3,230.1,18:30:50,2,140.6,70.3,2,11.8,12,98,0.25,10.6,100,danger,growing,\n";

static void test_two_runs(void) {
    char *text = load(fixture("telemetry_two_runs.jsonl"));
    if (!text)
        return;
    struct nr_buf csv = {0}, svg = {0};
    struct nr_err err = {0};
    CHECK_EQ(nr_report_render(text, "two_runs", &csv, &svg, &err), NR_OK);
    CHECK_STR(csv.data, expected_csv); /* the first run (batch size 5) is not in it */
    const char *s = svg.data;
    CHECK_SUBSTR(s, "<svg xmlns=\"http://www.w3.org/2000/svg\"");
    CHECK_SUBSTR(s, "NVIDIA GeForce RTX 4070 Ti &amp; &lt;Co&gt; \xe2\x80\x94 batch size 3</text>");
    CHECK_SUBSTR(s, "started 18:27:00");
    CHECK_SUBSTR(s, "3 batches");
    CHECK_SUBSTR(s, "9 chunks (5 cached)");
    CHECK_SUBSTR(s, "VRAM trend growing");
    CHECK_SUBSTR(s, "<polyline id=\"vram-used\"");
    CHECK_SUBSTR(s, "<polyline id=\"vram-process\"");
    CHECK_SUBSTR(s, "<polyline id=\"speed\"");
    CHECK_SUBSTR(s, "<line id=\"guide-80\"");
    CHECK_SUBSTR(s, "<line id=\"guide-95\"");
    CHECK_SUBSTR(s, "<line id=\"total\"");
    CHECK_SUBSTR(s, "total 12.0 GB");
    CHECK_SUBSTR(s, "80 % (9.6 GB)");
    CHECK_SUBSTR(s, "seconds per chunk");
    CHECK_SUBSTR(s, "pause 3\xe2\x86\x92"
                    "2 (98%)");
    CHECK_SUBSTR(s, "Batch 2 at 18:28:29: VRAM 7.3/12.0GB (61%), 14.73 s/chunk");
    CHECK_SUBSTR(s, "stall: no batch finished for 126 s");
    CHECK_EQ(count_of(s, "<circle class=\"batch\""), 3);
    CHECK_EQ(count_of(s, "<rect class=\"batch-speed\""), 3);
    CHECK_EQ(count_of(s, "class=\"stall\""), 1);
    CHECK_EQ(count_of(s, "class=\"pause\""), 1);
    CHECK(strstr(s, "no GPU telemetry") == NULL);
    CHECK(strstr(s, "batch size 5") == NULL);
    /* 4 points on the used line: 3 batches and the watchdog sample */
    const char *pl = strstr(s, "<polyline id=\"vram-used\"");
    if (pl) {
        const char *pts = strstr(pl, "points=\"");
        const char *end = pts ? strchr(pts + 8, '"') : NULL;
        int commas = 0;
        for (const char *p = pts; p && p < end; p++)
            commas += *p == ',';
        CHECK_EQ(commas, 4);
    }
    nr_buf_deinit(&csv);
    nr_buf_deinit(&svg);
    nr_free(text);
}

static void test_no_gpu(void) {
    char *text = load(fixture("telemetry_no_gpu.jsonl"));
    if (!text)
        return;
    struct nr_buf csv = {0}, svg = {0};
    struct nr_err err = {0};
    CHECK_EQ(nr_report_render(text, "no_gpu", &csv, &svg, &err), NR_OK);
    CHECK_STR(
        csv.data,
        "type,batch,t,time,chunks,seconds,sec_per_chunk,batch_size,vram_used_gb,vram_total_gb,"
        "vram_percent,vram_reserved_gb,vram_proc_gb,gpu_util,health,trend,since_progress_s\n"
        "batch,1,1.5,09:00:01,3,1.5,0.5,3,,,,,,,none,unknown,\n"
        "batch,2,2.75,09:00:02,3,1.25,0.4167,3,,,,,,,none,unknown,\n");
    CHECK_SUBSTR(svg.data, "no GPU telemetry");
    CHECK_SUBSTR(svg.data, "<polyline id=\"speed\"");
    CHECK_SUBSTR(svg.data, "VRAM and speed \xe2\x80\x94 no GPU \xe2\x80\x94 batch size 3");
    CHECK(strstr(svg.data, "vram-used") == NULL);
    CHECK(strstr(svg.data, "guide-80") == NULL);
    CHECK_EQ(count_of(svg.data, "<rect class=\"batch-speed\""), 2);
    nr_buf_deinit(&csv);
    nr_buf_deinit(&svg);
    nr_free(text);
}

static void test_errors(const char *dir) {
    struct nr_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK_EQ(nr_report_build(path, &err), NR_STATUS_IO);
    CHECK_SUBSTR(err.msg, "telemetry.jsonl");
    nr_err_clear(&err);
    struct nr_buf csv = {0};
    CHECK_EQ(nr_report_render("", "empty", &csv, NULL, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "empty: no telemetry records");
    nr_err_clear(&err);
    CHECK_EQ(nr_report_render("not json\n[1,2]\n{\"type\":\"other\"}\n", "junk", &csv, NULL, &err),
             NR_STATUS_BAD_FORMAT);
    nr_buf_deinit(&csv);
    /* A start record alone: an empty graph, a header-only CSV. */
    struct nr_buf svg = {0};
    nr_err_clear(&err);
    CHECK_EQ(nr_report_render("{\"type\":\"start\",\"gpu\":\"G\",\"total_gb\":8,\"batch_size\":2}",
                              "start-only", &csv, &svg, &err),
             NR_OK);
    CHECK_EQ(count_of(csv.data, "\n"), 1);
    CHECK_SUBSTR(svg.data, "no batches in this run");
    nr_buf_deinit(&csv);
    nr_buf_deinit(&svg);
    /* Every allocation failing in turn: a clean error, no leak. */
    char *text = load(fixture("telemetry_two_runs.jsonl"));
    for (size_t n = 1; text && n < 400; n++) {
        nr_err_clear(&err);
        nr_alloc_fail_after(n);
        enum nr_status st = nr_report_render(text, "oom", &csv, &svg, &err);
        nr_alloc_fail_after(0);
        nr_buf_deinit(&csv);
        nr_buf_deinit(&svg);
        if (st == NR_OK)
            break;
        CHECK_EQ(st, NR_STATUS_NO_MEMORY);
    }
    nr_free(text);
}

/* Writes the fixture as dir/telemetry.jsonl, builds, checks both files. */
static int build_and_lint(const char *dir, const char *name, int have_xmllint) {
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mkdir(path, 0700) != 0) {
        perror(path);
        check_failures++;
        return 0;
    }
    char *text = load(fixture(name));
    char *tel = nr_path_join(path, "telemetry.jsonl");
    struct nr_err err = {0};
    CHECK_EQ(nr_file_write_atomic(tel, text, strlen(text), &err), NR_OK);
    CHECK_EQ(nr_report_build(path, &err), NR_OK);
    snprintf(cmd, sizeof cmd, "%s/vram.csv", path);
    char *csv = load(cmd);
    struct nr_buf want = {0};
    CHECK_EQ(nr_report_render(text, "x", &want, NULL, &err), NR_OK);
    CHECK_STR(csv, want.data);
    nr_buf_deinit(&want);
    nr_free(csv);
    snprintf(cmd, sizeof cmd, "%s/vram.svg", path);
    CHECK(access(cmd, R_OK) == 0);
    if (have_xmllint) {
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s/vram.svg'", path);
        CHECK_EQ(system(cmd), 0);
    }
    printf("wrote %s/vram.svg\n", path);
    nr_free(tel);
    nr_free(text);
    return 1;
}

int main(void) {
    char dir[] = "/tmp/narrate-test-report-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_two_runs();
    test_no_gpu();
    test_errors(dir);
    int have_xmllint = system("xmllint --version >/dev/null 2>&1") == 0;
    build_and_lint(dir, "telemetry_two_runs.jsonl", have_xmllint);
    build_and_lint(dir, "telemetry_no_gpu.jsonl", have_xmllint);
    if (!getenv("NARRATE_KEEP_TEST_OUTPUT"))
        check_remove_tree(dir);
    int rc = check_result("test_report");
    if (rc == 0 && !have_xmllint) {
        printf("xmllint not found (Debian: libxml2-utils): SVG validity not checked\n");
        return NR_SKIP;
    }
    return rc;
}
