/* libFuzzer target for the EPUB loader. Each input becomes a temp file
 * named *.epub that is loaded with nr_book_load (and, when it loads,
 * chunked). Any crash, leak, hang or sanitizer report is a finding; a clean
 * error status is fine.
 *
 * Input forms, so that mutations reach the XML code and not only the zip
 * reader (and the Markdown/plain-text loaders get fuzzed too):
 *   - starting with "PK": the bytes are the EPUB file itself;
 *   - starting with "MD:" or "TX:": the rest is a .md or .txt book;
 *   - otherwise: parts separated by "\n@@\n", stored (uncompressed) in a zip
 *     under fixed names: META-INF/container.xml, OEBPS/content.opf,
 *     OEBPS/nav.xhtml, OEBPS/toc.ncx, OEBPS/c1.xhtml, OEBPS/c2.xhtml,
 *     "OEBPS/c 3.xhtml", OEBPS/cover.png.
 *
 *   CC=clang cmake -S . -B build-fuzz -DNARRATE_FUZZ=ON -DBUILD_TESTING=OFF
 *   cmake --build build-fuzz --target fuzz_epub
 *   build-fuzz/src/text/fuzz_epub -max_total_time=180 -max_len=20000 corpus/ tests/data/text/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "narrate/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char paths[3][256];
static int registered;

/* Removes the temp files when the fuzzer exits. */
static void remove_temps(void) {
    for (size_t i = 0; i < 3; i++)
        if (paths[i][0])
            unlink(paths[i]);
}

/* One temp file per process and extension, rewritten for every input. */
static const char *temp_path(const char *ext) {
    char *path = paths[ext[0] == 'e' ? 0 : ext[0] == 'm' ? 1 : 2];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, 256, "%s/fuzz-book-XXXXXX.%s", dir ? dir : "/tmp", ext);
        int fd = mkstemps(path, (int)strlen(ext) + 1);
        if (fd < 0)
            abort();
        close(fd);
        if (!registered++)
            atexit(remove_temps);
    }
    return path;
}

static void write_raw(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

static void write_parts(const char *path, const uint8_t *data, size_t size) {
    static const char *const names[] = {
        "META-INF/container.xml", "OEBPS/content.opf", "OEBPS/nav.xhtml", "OEBPS/toc.ncx",
        "OEBPS/c1.xhtml",         "OEBPS/c2.xhtml",    "OEBPS/c 3.xhtml", "OEBPS/cover.png",
    };
    int zerr;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za)
        abort();
    const uint8_t *p = data, *end = data + size;
    for (size_t i = 0; i < sizeof names / sizeof *names && p <= end; i++) {
        const uint8_t *sep = NULL;
        for (const uint8_t *q = p; q + 4 <= end && !sep; q++)
            if (memcmp(q, "\n@@\n", 4) == 0)
                sep = q;
        size_t n = (size_t)((sep ? sep : end) - p);
        zip_source_t *src = zip_source_buffer(za, p, n, 0);
        zip_int64_t idx = src ? zip_file_add(za, names[i], src, ZIP_FL_OVERWRITE) : -1;
        if (idx < 0) {
            zip_source_free(src);
            abort();
        }
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        if (!sep)
            break;
        p = sep + 4;
    }
    if (zip_close(za) != 0) /* an archive with no entries is not written */
        write_raw(path, (const uint8_t *)"", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path;
    if (size >= 3 && (memcmp(data, "MD:", 3) == 0 || memcmp(data, "TX:", 3) == 0)) {
        path = temp_path(data[0] == 'M' ? "md" : "txt");
        write_raw(path, data + 3, size - 3);
    } else if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        path = temp_path("epub");
        write_raw(path, data, size);
    } else {
        path = temp_path("epub");
        write_parts(path, data, size);
    }
    struct nr_book *book = NULL;
    struct nr_err err = {0};
    if (nr_book_load(path, &book, &err) == NR_OK) {
        if (!book || book->n_chapters == 0 || !book->title || !book->author)
            abort(); /* the documented guarantees of a successful load */
        for (size_t i = 0; i < book->n_chapters; i++)
            if (!book->chapters[i].title || !book->chapters[i].text || !book->chapters[i].text[0])
                abort();
        struct nr_manifest *m = NULL;
        if (nr_manifest_build(book, 200, &m, &err) == NR_OK)
            nr_manifest_free(m);
        nr_book_free(book);
    } else if (book) {
        abort();
    }
    return 0;
}
