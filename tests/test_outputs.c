/* Finished outputs end to end: the sample EPUB rendered with a speech-like
 * test engine into every format, checked with ffprobe / ffmpeg (chapters,
 * tags, cover, duration, loudness, true peak), subtitles against a timeline
 * computed here from the manifest, chunk lengths and gaps; injected commit
 * failures and a mid-encode write failure leave no half-written file; a
 * missing cover is a warning. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "narrate/text.h"
#include "outputs/outputs_util.h"

#define RATE 22050
#define SECS_PER_CHAR 0.01
#define TARGET -18.0

static char root[256];
static char book[1024];

/* The timeline, from the manifest alone: chunk starts/ends and chapter
 * starts in samples, by the rules in the issue (gaps after chunks inside a
 * chapter, chapter gap between chapters). */
struct timeline {
    size_t n_chunks, n_chapters;
    uint64_t chunk_start[512], chunk_end[512];
    uint64_t chapter_start[16];
    uint64_t total;
};

static int make_timeline(const char *dir, const struct speech_engine *e,
                         const struct nr_settings *s, struct timeline *t,
                         struct nr_manifest **out) {
    char *path = nr_path_join(dir, "manifest.json");
    struct nr_manifest *m = NULL;
    struct nr_err err = {0};
    int ok = nr_manifest_load(path, &m, &err) == NR_OK && m->n_chunks <= 512 && m->n_chapters <= 16;
    nr_free(path);
    if (!ok) {
        fprintf(stderr, "manifest: %s\n", err.msg);
        nr_manifest_free(m);
        return -1;
    }
    memset(t, 0, sizeof *t);
    uint64_t pos = 0;
    for (size_t i = 0; i < m->n_chunks; i++) {
        const struct nr_chunk *c = &m->chunks[i];
        if (i > 0) {
            int ms = c->chapter != m->chunks[i - 1].chapter     ? s->gap_chapter_ms
                     : m->chunks[i - 1].gap == NR_GAP_PARAGRAPH ? s->gap_paragraph_ms
                                                                : s->gap_sentence_ms;
            pos += (uint64_t)ms * RATE / 1000;
        }
        if (i == 0 || c->chapter != m->chunks[i - 1].chapter)
            t->chapter_start[t->n_chapters++] = pos;
        t->chunk_start[i] = pos;
        pos += speech_len(e, c->text);
        t->chunk_end[i] = pos;
    }
    t->n_chunks = m->n_chunks;
    t->total = pos;
    *out = m;
    return 0;
}

static double secs(uint64_t samples) {
    return (double)samples / RATE;
}

/* "HH:MM:SS,mmm" or "HH:MM:SS.mmm" to seconds. */
static double stamp_secs(const char *s) {
    int h, m, sec, ms;
    char sep;
    if (sscanf(s, "%d:%d:%d%c%d", &h, &m, &sec, &sep, &ms) != 5)
        return -1;
    return h * 3600.0 + m * 60.0 + sec + ms / 1000.0;
}

/* Parses SRT or VTT cues; checks each against the timeline (to the ms). */
static void check_subtitles(const char *dir, const char *name, const struct timeline *t) {
    char *path = nr_path_join(dir, name);
    char *text = NULL;
    size_t len = 0;
    struct nr_err err = {0};
    CHECK_EQ(nr_file_read(path, &text, &len, &err), NR_OK);
    nr_free(path);
    if (!text)
        return;
    int vtt = strstr(name, ".vtt") != NULL;
    if (vtt)
        CHECK(strncmp(text, "WEBVTT\n\n", 8) == 0);
    size_t cues = 0;
    double last_end = -1;
    int in_order = 1, exact = 1;
    for (const char *p = strstr(text, " --> "); p; p = strstr(p + 5, " --> ")) {
        const char *line = p;
        while (line > text && line[-1] != '\n')
            line--;
        double a = stamp_secs(line), b = stamp_secs(p + 5);
        if (cues < t->n_chunks) {
            exact &= fabs(a - secs(t->chunk_start[cues])) <= 0.0011;
            exact &= fabs(b - secs(t->chunk_end[cues])) <= 0.0011;
        }
        in_order &= a >= last_end && b > a;
        last_end = b;
        cues++;
        if (!vtt) { /* the cue number line comes before the times */
            const char *num = line - 2;
            while (num > text && num[-1] != '\n')
                num--;
            in_order &= (size_t)atol(num) == cues;
        }
    }
    CHECK_EQ(cues, t->n_chunks);
    CHECK(in_order);
    CHECK(exact);
    CHECK_NEAR(last_end, secs(t->total), 0.05);
    nr_free(text);
}

/* A tag from the container (format) or, for Ogg, the audio stream; any case. */
static const char *tag(const cJSON *j, const char *key) {
    const cJSON *places[2] = {
        cJSON_GetObjectItemCaseSensitive(j, "format"),
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "streams"), 0)};
    for (int i = 0; i < 2; i++) {
        const cJSON *v =
            cJSON_GetObjectItem(cJSON_GetObjectItemCaseSensitive(places[i], "tags"), key);
        if (cJSON_IsString(v))
            return v->valuestring;
    }
    return NULL;
}

static int has_attached_pic(const cJSON *j) {
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(j, "streams")) {
        const cJSON *pic = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(st, "disposition"), "attached_pic");
        if (cJSON_IsNumber(pic) && pic->valueint == 1)
            return 1;
    }
    return 0;
}

static void check_loudness(const char *path) {
    struct own_measure own;
    struct ff_loudness ff;
    CHECK_EQ(decode_measure(path, &own), 0);
    CHECK_EQ(ffmpeg_ebur128(path, &ff), 0);
    fprintf(stderr, "  %s: own %.2f LUFS %.2f dBTP; ffmpeg %.2f LUFS %.2f dBTP\n", path, own.lufs,
            own.true_peak, ff.lufs, ff.true_peak);
    CHECK_NEAR(own.lufs, TARGET, 0.5);
    CHECK(own.true_peak <= -1.0);
    CHECK_NEAR(ff.lufs, TARGET, 0.5);
    CHECK(ff.true_peak <= -1.0);
    CHECK_NEAR(own.lufs, ff.lufs, 0.2); /* the two meters agree */
}

/* Every WAV chapter file is its stretch of book.wav, sample for sample
 * (one limiter runs over the whole book; chapter files are cut from its
 * output). The chapter files are "NN - Title.wav", in order by name. */
static int by_name(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void check_chapter_is_book(const char *book_path, const char *dir,
                                  const struct timeline *t) {
    char *names[16];
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) && n < 16) {
        size_t len = strlen(de->d_name);
        if (len > 9 && de->d_name[0] == '0' && strcmp(de->d_name + len - 4, ".wav") == 0)
            names[n++] = nr_strdup(de->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, by_name);
    CHECK_EQ(n, t->n_chapters);
    struct nr_audio whole = {0};
    struct nr_err err = {0};
    CHECK_EQ(nr_wav_read(book_path, &whole, &err), NR_OK);
    for (size_t k = 0; k < n; k++) {
        char *p = nr_path_join(dir, names[k]);
        struct nr_audio ch = {0};
        CHECK_EQ(nr_wav_read(p, &ch, &err), NR_OK);
        uint64_t start = t->chapter_start[k];
        CHECK(ch.n > 0 && start + ch.n <= whole.n);
        CHECK(start + ch.n <= whole.n &&
              memcmp(ch.samples, whole.samples + start, ch.n * sizeof(float)) == 0);
        nr_audio_deinit(&ch);
        nr_free(p);
        nr_free(names[k]);
    }
    nr_audio_deinit(&whole);
}

static void settings_for(struct nr_settings *s, const char *fmt) {
    nr_settings_defaults(s);
    snprintf(s->output_format, sizeof s->output_format, "%s", fmt);
}

/* One format: render, then check every output against the timeline. */
static void check_format(const char *fmt, struct speech_engine *e) {
    fprintf(stderr, "format %s\n", fmt);
    struct nr_settings s;
    settings_for(&s, fmt);
    char *dir = nr_path_join(root, fmt);
    struct nr_err err = {0};
    struct log_lines lines = {0};
    CHECK_EQ(run_render(&s, dir, book, NULL, &e->base, &lines, NULL, NULL, &err), NR_OK);
    if (err.status != NR_OK)
        fprintf(stderr, "render: %s\n", err.msg);
    struct timeline t;
    struct nr_manifest *m = NULL;
    if (make_timeline(dir, e, &s, &t, &m) != 0) {
        CHECK(0);
        nr_free(dir);
        nr_buf_deinit(&lines.b);
        return;
    }
    CHECK_EQ(t.n_chapters, 3);
    char name[64], ext[16];
    snprintf(ext, sizeof ext, ".%s", fmt);
    snprintf(name, sizeof name, "book.%s", fmt);
    char *path = nr_path_join(dir, name);
    CHECK(nr_file_exists(path));
    CHECK_EQ(count_names(dir, ext), 4); /* the book and 3 chapter files */
    CHECK_EQ(count_names(dir, ".tmp."), 0);
    int lossy_pic = strcmp(fmt, "wav") != 0;
    cJSON *j = ffprobe(path);
    CHECK(j != NULL);
    if (j && strcmp(fmt, "wav") != 0) {
        CHECK_STR(tag(j, "title"), m->title);
        CHECK_STR(tag(j, "artist"), m->author);
        CHECK(has_attached_pic(j) == lossy_pic);
        const cJSON *chapters = cJSON_GetObjectItemCaseSensitive(j, "chapters");
        CHECK_EQ(cJSON_GetArraySize(chapters), 3);
        int k = 0;
        const cJSON *ch;
        cJSON_ArrayForEach(ch, chapters) {
            const char *start = json_str(ch, "start_time", NULL);
            const char *ct = json_str(ch, "tags", "title");
            if (k < 3) {
                CHECK(start && fabs(atof(start) - secs(t.chapter_start[k])) <= 0.05);
                CHECK_STR(ct, m->chapter_titles[k]);
            }
            k++;
        }
    }
    cJSON_Delete(j);
    struct own_measure own;
    CHECK_EQ(decode_measure(path, &own), 0);
    CHECK_NEAR(own.seconds, secs(t.total), 0.05);
    check_loudness(path);
    /* The first chapter file: its own tags, and its length is its chunks
     * and the gaps between them. */
    char chname[256];
    snprintf(chname, sizeof chname, "01 - Chapter One - The Stopped Clock.%s", fmt);
    char *chpath = nr_path_join(dir, chname);
    CHECK(nr_file_exists(chpath));
    CHECK_EQ(decode_measure(chpath, &own), 0);
    CHECK_NEAR(own.seconds, secs(t.chapter_start[1]) - s.gap_chapter_ms / 1000.0, 0.05);
    if (strcmp(fmt, "wav") == 0)
        check_chapter_is_book(path, dir, &t);
    if (strcmp(fmt, "wav") != 0) {
        cJSON *cj = ffprobe(chpath);
        const char *track = tag(cj, "track");
        CHECK_STR(tag(cj, "title"), m->chapter_titles[0]);
        CHECK_STR(tag(cj, "album"), m->title);
        CHECK(track && atoi(track) == 1);
        cJSON_Delete(cj);
    }
    nr_free(chpath);
    check_subtitles(dir, "book.srt", &t);
    check_subtitles(dir, "book.vtt", &t);
    CHECK_SUBSTR(lines.b.data, "Loudness: measured");
    nr_manifest_free(m);
    nr_free(path);
    nr_free(dir);
    nr_buf_deinit(&lines.b);
}

/* Every atomic commit of a render fails in turn: each failed run leaves no
 * temp file and either no book.m4b or a complete one. */
static void check_injected_failures(struct speech_engine *e) {
    fprintf(stderr, "injected commit failures\n");
    struct nr_settings s;
    settings_for(&s, "m4b");
    char *dir = nr_path_join(root, "fail");
    char *path = nr_path_join(dir, "book.m4b");
    struct nr_err err = {0};
    CHECK_EQ(run_render(&s, dir, book, NULL, &e->base, NULL, NULL, NULL, &err), NR_OK);
    /* Some commits (the VRAM report) only warn when they fail; the loop goes
     * on past them. */
    int failed_on_book = 0, succeeded = 0;
    for (size_t k = 1; k <= 12; k++) {
        nr_err_clear(&err);
        nr_file_fail_write_after(k);
        enum nr_status st = run_render(&s, dir, book, NULL, &e->base, NULL, NULL, NULL, &err);
        nr_file_fail_write_after(0);
        succeeded = st == NR_OK;
        if (!succeeded) {
            CHECK_EQ(st, NR_STATUS_IO);
            CHECK_SUBSTR(err.msg, "injected write error");
            failed_on_book |= strstr(err.msg, "book.m4b") != NULL;
            fprintf(stderr, "  commit %zu: %s\n", k, err.msg);
        }
        CHECK_EQ(count_names(dir, ".tmp."), 0);
        if (nr_file_exists(path)) {
            cJSON *j = ffprobe(path);
            CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "chapters")), 3);
            cJSON_Delete(j);
        }
    }
    CHECK(failed_on_book);
    CHECK(succeeded); /* the later ones fail after the render's last commit */
    nr_free(path);
    nr_free(dir);
}

/* The encoder's own writes fail half way (a file size limit): no output
 * file of that format is left, under any name. Runs in a child so that the
 * limit does not touch the rest of the test. */
static void check_write_failure(struct speech_engine *e) {
    fprintf(stderr, "mid-encode write failure\n");
    struct nr_settings s;
    settings_for(&s, "wav");
    char *dir = nr_path_join(root, "fsize");
    struct nr_err err = {0};
    CHECK_EQ(run_render(&s, dir, book, NULL, &e->base, NULL, NULL, NULL, &err),
             NR_OK); /* fills the cache */
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {200 * 1024, 200 * 1024};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        settings_for(&s, "m4b");
        struct nr_err cerr = {0};
        enum nr_status st = run_render(&s, dir, book, NULL, &e->base, NULL, NULL, NULL, &cerr);
        fprintf(stderr, "  child: %s\n", cerr.msg);
        _exit(st == NR_STATUS_IO && strstr(cerr.msg, ".m4b") ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(count_names(dir, ".m4b"), 0);
    CHECK_EQ(count_names(dir, ".tmp."), 0);
    CHECK_EQ(count_names(dir, ".wav"), 4); /* the earlier WAV outputs are untouched */
    nr_free(dir);
}

/* The EPUB is gone when the book is assembled again: a warning, and the
 * audiobook without a cover. */
static void check_missing_cover(struct speech_engine *e) {
    fprintf(stderr, "missing cover\n");
    char *copy = nr_path_join(root, "copy.epub");
    char *data = NULL;
    size_t len = 0;
    struct nr_err err = {0};
    CHECK_EQ(nr_file_read(book, &data, &len, &err), NR_OK);
    CHECK_EQ(nr_file_write_atomic(copy, data, len, &err), NR_OK);
    nr_free(data);
    struct nr_settings s;
    settings_for(&s, "m4b");
    s.chapter_files = 0;
    char *dir = nr_path_join(root, "nocover");
    char *manifest = nr_path_join(dir, "manifest.json");
    char *path = nr_path_join(dir, "book.m4b");
    CHECK_EQ(run_render(&s, dir, copy, NULL, &e->base, NULL, NULL, NULL, &err), NR_OK);
    cJSON *j = ffprobe(path);
    CHECK(has_attached_pic(j));
    cJSON_Delete(j);
    CHECK_EQ(count_names(dir, ".m4b"), 1); /* chapter_files off: the book only */
    unlink(copy);
    struct log_lines lines = {0};
    CHECK_EQ(run_render(&s, dir, NULL, manifest, &e->base, &lines, NULL, NULL, &err), NR_OK);
    CHECK_SUBSTR(lines.b.data, "WARNING: no cover");
    j = ffprobe(path);
    CHECK(j && !has_attached_pic(j));
    CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "chapters")), 3);
    cJSON_Delete(j);
    nr_buf_deinit(&lines.b);
    nr_free(copy);
    nr_free(dir);
    nr_free(manifest);
    nr_free(path);
}

int main(int argc, char **argv) {
    if (!have_program("ffprobe") || !have_program("ffmpeg")) {
        fprintf(stderr, "ffmpeg/ffprobe not installed: skipped\n");
        return 77;
    }
    const char *src = getenv("NARRATE_SOURCE_DIR");
    snprintf(book, sizeof book, "%s/examples/the-lighthouse-keepers-clock.epub", src ? src : ".");
    snprintf(root, sizeof root, "/tmp/narrate-outputs-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    struct speech_engine e;
    speech_engine_init(&e, RATE, SECS_PER_CHAR);
    const char *only = argc > 1 ? argv[1] : NULL;
    const char *fmts[] = {"m4b", "mp3", "opus", "flac", "wav"};
    for (size_t i = 0; i < 5; i++)
        if (!only || strcmp(only, fmts[i]) == 0)
            check_format(fmts[i], &e);
    if (!only || strcmp(only, "failures") == 0) {
        check_injected_failures(&e);
        check_write_failure(&e);
        check_missing_cover(&e);
    }
    int rc = check_result("test_outputs");
    if (rc == 0)
        check_remove_tree(root);
    else
        fprintf(stderr, "outputs kept in %s\n", root);
    return rc;
}
