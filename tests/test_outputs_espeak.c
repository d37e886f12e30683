/* Acceptance (issue 6): the sample EPUB rendered with default settings (the
 * eSpeak NG voice, output_format m4b) gives book.m4b that ffprobe lists with
 * its 3 chapters and their titles, the cover, title and author tags, at
 * -18 +- 0.5 LUFS with a true peak <= -1 dBTP, measured by narrate's own
 * meter and by ffmpeg's ebur128 filter; chapter starts equal the subtitle
 * cue of each chapter's first chunk. */
#include <unistd.h>

#include "check.h"
#include "narrate/text.h"
#include "outputs/outputs_util.h"

int main(void) {
    if (!have_program("ffprobe") || !have_program("ffmpeg")) {
        fprintf(stderr, "ffmpeg/ffprobe not installed: skipped\n");
        return 77;
    }
    const char *src = getenv("NARRATE_SOURCE_DIR");
    char book[1024], root[] = "/tmp/narrate-accept-XXXXXX";
    snprintf(book, sizeof book, "%s/examples/the-lighthouse-keepers-clock.epub", src ? src : ".");
    if (!mkdtemp(root))
        return 1;
    struct nr_settings s;
    nr_settings_defaults(&s);
    CHECK_STR(s.output_format, "m4b");
    CHECK_EQ(s.chapter_files, 1);
    CHECK_NEAR(s.loudness_lufs, -18.0, 0);
    struct nr_err err = {0};
    struct log_lines lines = {0};
    double t0 = nr_now();
    CHECK_EQ(run_render(&s, root, book, NULL, NULL, &lines, NULL, NULL, &err), NR_OK);
    if (err.status != NR_OK)
        fprintf(stderr, "render: %s\n", err.msg);
    double took = nr_now() - t0;
    char *path = nr_path_join(root, "book.m4b");
    char *mpath = nr_path_join(root, "manifest.json");
    struct nr_manifest *m = NULL;
    CHECK_EQ(nr_manifest_load(mpath, &m, &err), NR_OK);
    cJSON *j = ffprobe(path);
    CHECK(j != NULL);
    if (m && j) {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
        CHECK_STR(json_str(fmt, "tags", "title"), m->title);
        CHECK_STR(json_str(fmt, "tags", "artist"), m->author);
        CHECK_STR(json_str(fmt, "tags", "album"), m->title);
        const cJSON *chapters = cJSON_GetObjectItemCaseSensitive(j, "chapters");
        CHECK_EQ(cJSON_GetArraySize(chapters), 3);
        CHECK_EQ(m->n_chapters, 3);
        int k = 0, pic = 0;
        const cJSON *ch, *st;
        char *srt = NULL;
        size_t len = 0;
        char *srt_path = nr_path_join(root, "book.srt");
        CHECK_EQ(nr_file_read(srt_path, &srt, &len, &err), NR_OK);
        nr_free(srt_path);
        cJSON_ArrayForEach(ch, chapters) {
            if (k < 3) {
                CHECK_STR(json_str(ch, "tags", "title"), m->chapter_titles[k]);
                /* The cue of the chapter's first chunk starts where the chapter does. */
                size_t first = 0;
                while (first < m->n_chunks && m->chunks[first].chapter != (size_t)k)
                    first++;
                char num[32];
                snprintf(num, sizeof num, "\n%zu\n", first + 1);
                const char *cue = srt ? strstr(srt, num) : NULL;
                int h = 0, mi = 0, sec = 0, ms = 0;
                if (first == 0 && srt && strncmp(srt, "1\n", 2) == 0)
                    cue = srt - 1;
                CHECK(cue && sscanf(cue + strlen(num), "%d:%d:%d,%d", &h, &mi, &sec, &ms) == 4);
                const char *start = json_str(ch, "start_time", NULL);
                CHECK(start &&
                      fabs(atof(start) - (h * 3600 + mi * 60 + sec + ms / 1000.0)) <= 0.05);
                fprintf(stderr, "  chapter %d \"%s\" at %s s\n", k + 1, m->chapter_titles[k],
                        start ? start : "?");
            }
            k++;
        }
        nr_free(srt);
        cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(j, "streams")) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "disposition");
            pic |= cJSON_GetObjectItemCaseSensitive(d, "attached_pic") &&
                   cJSON_GetObjectItemCaseSensitive(d, "attached_pic")->valueint == 1;
        }
        CHECK(pic);
    }
    struct own_measure own;
    struct ff_loudness ff;
    CHECK_EQ(decode_measure(path, &own), 0);
    CHECK_EQ(ffmpeg_ebur128(path, &ff), 0);
    fprintf(stderr,
            "acceptance: book.m4b %.1f min, own meter %.2f LUFS / %.2f dBTP, ffmpeg ebur128 "
            "%.2f LUFS / %.2f dBTP, render + assembly %.1f s\n",
            own.seconds / 60, own.lufs, own.true_peak, ff.lufs, ff.true_peak, took);
    CHECK_NEAR(own.lufs, -18.0, 0.5);
    CHECK_NEAR(ff.lufs, -18.0, 0.5);
    CHECK(own.true_peak <= -1.0);
    CHECK(ff.true_peak <= -1.0);
    CHECK_EQ(count_names(root, ".m4b"), 4);
    CHECK_SUBSTR(lines.b.data, "Wrote");
    cJSON_Delete(j);
    nr_manifest_free(m);
    nr_free(path);
    nr_free(mpath);
    nr_buf_deinit(&lines.b);
    int rc = check_result("test_outputs_espeak");
    if (rc == 0)
        check_remove_tree(root);
    return rc;
}
