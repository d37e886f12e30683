/* Streaming: a ten-hour book (made by a fast test engine; its chunks share
 * a few cache files, so the cache stays small while assembly still reads
 * ten hours of chunks one at a time) goes through every stage: loudness,
 * limiter, encoder, chapter files, subtitles. Peak RSS must stay under
 * 100 MB. NARRATE_LONG_HOURS (default 10) and NARRATE_LONG_FORMAT (default
 * flac: the fastest real encoder, so the test fits in CI) change the book;
 * NARRATE_LONG_RSS_MB (default 100, 0 = not checked) the limit. The ASan
 * build runs one hour without the RSS check: ASan's shadow memory and
 * quarantine are not the program's. */
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "narrate/text.h"
#include "outputs/outputs_util.h"

#define RATE 8000
#define CHAPTERS 10

int main(void) {
    const char *h = getenv("NARRATE_LONG_HOURS");
    const char *f = getenv("NARRATE_LONG_FORMAT");
    double hours = h ? atof(h) : 10.0;
    const char *fmt = f ? f : "flac";
    const char *lim = getenv("NARRATE_LONG_RSS_MB");
    double rss_limit = lim ? atof(lim) : 100.0;
    if (!have_program("ffprobe")) {
        fprintf(stderr, "ffprobe not installed: skipped\n");
        return 77;
    }
    char root[] = "/tmp/narrate-long-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    /* Each chapter: one paragraph text repeated; 20 s of audio per chunk. */
    struct speech_engine e;
    const double chunk_secs = 20.0;
    char para[CHAPTERS][128];
    size_t per_chapter = (size_t)(hours * 3600.0 / chunk_secs / CHAPTERS + 0.5);
    struct nr_buf md = {0};
    int ok = 1;
    for (int c = 0; c < CHAPTERS; c++) {
        snprintf(para[c], sizeof para[c],
                 "This is the long passage of chapter %d, said again and again.", c + 1);
        ok &= nr_buf_printf(&md, "# Chapter %d\n\n", c + 1) == NR_OK;
        for (size_t k = 0; k < per_chapter; k++)
            ok &= nr_buf_printf(&md, "%s\n\n", para[c]) == NR_OK;
    }
    /* Every paragraph has the same length, so secs_per_char gives 20 s. */
    speech_engine_init(&e, RATE, chunk_secs / (double)strlen(para[0]));
    char *book = nr_path_join(root, "long.md");
    char *dir = nr_path_join(root, "out");
    struct nr_err err = {0};
    CHECK(ok);
    CHECK_EQ(nr_file_write_atomic(book, md.data, md.len, &err), NR_OK);
    nr_buf_deinit(&md);
    struct nr_settings s;
    nr_settings_defaults(&s);
    snprintf(s.output_format, sizeof s.output_format, "%s", fmt);
    double t0 = nr_now();
    struct log_lines lines = {0};
    CHECK_EQ(run_render(&s, dir, book, NULL, &e.base, &lines, NULL, NULL, &err), NR_OK);
    if (err.status != NR_OK)
        fprintf(stderr, "render: %s\n", err.msg);
    double elapsed = nr_now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    char name[32];
    snprintf(name, sizeof name, "book.%s", fmt);
    char *path = nr_path_join(dir, name);
    cJSON *j = ffprobe(path);
    const char *dur = json_str(cJSON_GetObjectItemCaseSensitive(j, "format"), "duration", NULL);
    /* The expected length from the manifest: chunk lengths by the engine's
     * rule, the gap after each chunk inside a chapter, chapter gaps. */
    char *mpath = nr_path_join(dir, "manifest.json");
    struct nr_manifest *m = NULL;
    CHECK_EQ(nr_manifest_load(mpath, &m, &err), NR_OK);
    uint64_t total = 0;
    for (size_t i = 0; m && i < m->n_chunks; i++) {
        if (i > 0) {
            int ms = m->chunks[i].chapter != m->chunks[i - 1].chapter ? s.gap_chapter_ms
                     : m->chunks[i - 1].gap == NR_GAP_PARAGRAPH       ? s.gap_paragraph_ms
                                                                      : s.gap_sentence_ms;
            total += (uint64_t)ms * RATE / 1000;
        }
        total += speech_len(&e, m->chunks[i].text);
    }
    double expect = (double)total / RATE;
    size_t n_chunks = m ? m->n_chunks : 0;
    nr_manifest_free(m);
    nr_free(mpath);
    fprintf(stderr,
            "long book: %.2f h of %s audio (%zu chunks, %zu synthesized), rendered and "
            "assembled in %.1f s, peak RSS %.1f MB\n",
            dur ? atof(dur) / 3600.0 : -1.0, fmt, n_chunks, e.items, elapsed, rss_mb);
    CHECK(dur && fabs(atof(dur) - expect) < 0.05);
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "chapters")), CHAPTERS);
    CHECK_EQ(e.items, 2 * CHAPTERS); /* one per distinct text: heading, paragraph */
    CHECK_EQ(count_names(dir, fmt), CHAPTERS + 1);
    if (rss_limit > 0)
        CHECK(rss_mb < rss_limit);
    cJSON_Delete(j);
    nr_buf_deinit(&lines.b);
    nr_free(path);
    nr_free(book);
    nr_free(dir);
    int rc = check_result("test_outputs_long");
    check_remove_tree(root);
    return rc;
}
