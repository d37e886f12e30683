/* Loader tests: EPUB 2 and 3 fixtures (tests/data/text/make-fixtures.py),
 * the sample book in both formats, Markdown and plain-text chapter
 * detection, and every kind of bad input. Expected values are written by
 * hand from the fixture sources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "narrate/text.h"
#include "test_text_util.h"

static struct nr_book *load_ok(const char *path) {
    struct nr_book *b = NULL;
    struct nr_err err = {0};
    if (nr_book_load(path, &b, &err) != NR_OK) {
        fprintf(stderr, "load %s failed: %s\n", path, err.msg);
        CHECK(0);
        return NULL;
    }
    return b;
}

static void check_chapter(const struct nr_book *b, size_t i, const char *title, const char *text) {
    CHECK(i < b->n_chapters);
    if (i >= b->n_chapters)
        return;
    CHECK_STR(b->chapters[i].title, title);
    CHECK_STR(b->chapters[i].text, text);
}

/* Loads path, expecting failure with status and a one-line message that
 * starts with "<path>: " and contains `needle`. */
static void load_bad(const char *path, enum nr_status status, const char *needle, int line) {
    struct nr_book *b = (struct nr_book *)1;
    struct nr_err err = {0};
    enum nr_status st = nr_book_load(path, &b, &err);
    if (st != status || !strstr(err.msg, needle))
        fprintf(stderr, "bad-input case at line %d: status %d, message \"%s\"\n", line, (int)st,
                err.msg);
    CHECK_EQ(st, status);
    CHECK(b == NULL);
    CHECK_SUBSTR(err.msg, needle);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0 &&
          strncmp(err.msg + strlen(path), ": ", 2) == 0);
    CHECK(strchr(err.msg, '\n') == NULL);
}

static void test_epub3(void) {
    struct nr_book *b = load_ok(source_path("tests/data/text/epub3-nav.epub"));
    if (!b)
        return;
    CHECK_STR(b->title, "Tide & Time");
    CHECK_STR(b->author, "Ann Example, Bo Sample");
    CHECK_EQ(b->n_chapters, 4);
    /* cover.xhtml (an image only), the nav document and the non-linear
     * notes are not chapters; script, svg and img text is dropped */
    check_chapter(
        b, 0, "The Harbor",
        "First & foremost, the tide came in.\n\nIt was 3.5 m high... \"Really?\" she asked.");
    check_chapter(b, 1, "The Storm", "Rain fell.\n\nWind blew.\n\nOne\n\nTwo\n\nQuoted words.");
    /* the nav title wins over a different heading, which stays in the text */
    check_chapter(b, 2, "Calm", "Afterwards\n\nThe sea was flat.");
    check_chapter(b, 3, "Chapter 4", "Unnamed chapter text.");
    CHECK_STR(b->cover_mime, "image/png");
    CHECK_EQ(b->cover_len, 75);
    CHECK(b->cover && memcmp(b->cover, "\x89PNG\r\n\x1a\n", 8) == 0);
    CHECK_EQ(strlen(b->source_hash), 32);
    nr_book_free(b);
}

static void test_epub2(void) {
    struct nr_book *b = load_ok(source_path("tests/data/text/epub2-ncx.epub"));
    if (!b)
        return;
    CHECK_STR(b->title, "The Second Edition");
    CHECK_STR(b->author, "C. Writer");
    CHECK_EQ(b->n_chapters, 3);
    /* a part page with only a heading joins the next chapter's title; the
     * heading extends the NCX label "Chapter 1" and is not read twice */
    check_chapter(b, 0, "Part One. Chapter 1: Arrival",
                  "Mr. Brown arrived at 9 a.m. on Monday.\n\nHe said - quietly - \"Hello.\"");
    check_chapter(b, 1, "Departure", "Dr. Grey left.");
    check_chapter(b, 2, "Epilogue", "The end.");
    CHECK_STR(b->cover_mime, "image/jpeg");
    CHECK_EQ(b->cover_len, 22);
    nr_book_free(b);
}

/* Not-UTF-8 content documents are decoded, and libxml2's complaints about
 * them never reach stderr (a library does not print). */
static void test_epub_encodings(void) {
    fflush(stderr);
    int saved = dup(2);
    char log[1200];
    snprintf(log, sizeof log, "%s/stderr.txt", scratch_dir());
    FILE *f = fopen(log, "w+");
    CHECK(saved >= 0 && f != NULL);
    if (saved < 0 || !f)
        return;
    dup2(fileno(f), 2);
    struct nr_book *b = NULL;
    struct nr_err err = {0};
    enum nr_status st = nr_book_load(source_path("tests/data/text/encodings.epub"), &b, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long printed = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    fclose(f);
    CHECK_EQ(printed, 0);
    CHECK_EQ(st, NR_OK);
    if (!b) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_EQ(b->n_chapters, 3);
    check_chapter(b, 0, "Chapter 1", "Un caf\xC3\xA9 noir.");
    check_chapter(b, 1, "Chapter 2", "\"Quoted\" na\xC3\xAFve.");
    check_chapter(b, 2, "Chapter 3", "Sixteen bits.");
    nr_book_free(b);
}

static void test_sample_book(void) {
    struct nr_book *md = load_ok(source_path("examples/the-lighthouse-keepers-clock.md"));
    struct nr_book *ep = load_ok(source_path("examples/the-lighthouse-keepers-clock.epub"));
    if (!md || !ep) {
        nr_book_free(md);
        nr_book_free(ep);
        return;
    }
    CHECK_STR(md->title, "The Lighthouse Keeper's Clock");
    CHECK_STR(md->author, "the narrate contributors");
    CHECK_EQ(md->n_chapters, 3);
    CHECK_STR(md->chapters[0].title, "Chapter One: The Stopped Clock");
    CHECK_STR(md->chapters[1].title, "Chapter Two: Dr. Okafor's Visit");
    CHECK_STR(md->chapters[2].title, "Chapter Three: Twelve Minutes Past");
    size_t words = 0;
    for (size_t i = 0; i < md->n_chapters; i++)
        words += words_count(md->chapters[i].text);
    printf("  sample book: %zu words in %zu chapters\n", words, md->n_chapters);
    CHECK(words >= 1500);
    /* the EPUB made by scripts/make-sample-epub.py reads the same */
    CHECK_STR(ep->title, md->title);
    CHECK_STR(ep->author, md->author);
    CHECK_EQ(ep->n_chapters, md->n_chapters);
    for (size_t i = 0; i < md->n_chapters && i < ep->n_chapters; i++) {
        CHECK_STR(ep->chapters[i].title, md->chapters[i].title);
        CHECK_STR(ep->chapters[i].text, md->chapters[i].text);
    }
    CHECK_STR(ep->cover_mime, "image/png");
    CHECK(ep->cover_len > 1000);
    /* the story's first sentence and an em dash turned into " - " */
    CHECK(strncmp(md->chapters[0].text, "The lighthouse at St. Brannock's Point", 38) == 0);
    CHECK_SUBSTR(md->chapters[0].text, "It swung twice - tick, tock - and stopped again");
    nr_book_free(md);
    nr_book_free(ep);
}

static struct nr_book *load_text(const char *name, const char *text) {
    return load_ok(scratch_file(name, text, strlen(text)));
}

static void test_markdown_chapters(void) {
    struct nr_book *b = load_text("a.md", "# Book\n\nby Someone\n\n## One\n\nText one.\n\n"
                                          "## Two\n\nText two.\nSame paragraph.\n");
    if (b) {
        CHECK_STR(b->title, "Book");
        CHECK_STR(b->author, "Someone");
        CHECK_EQ(b->n_chapters, 2);
        check_chapter(b, 0, "One", "Text one.");
        check_chapter(b, 1, "Two", "Text two. Same paragraph.");
        nr_book_free(b);
    }
    /* two H1s: both are chapters, the title comes from the file name */
    b = load_text("two-h1.md", "# A\n\nx.\n\n# B\n\ny.\n");
    if (b) {
        CHECK_STR(b->title, "two-h1");
        CHECK_STR(b->author, "");
        CHECK_EQ(b->n_chapters, 2);
        check_chapter(b, 0, "A", "x.");
        check_chapter(b, 1, "B", "y.");
        nr_book_free(b);
    }
    /* text before the first chapter heading becomes "Opening" */
    b = load_text("opening.md", "# Book\n\nA foreword.\n\n## One\n\nText.\n");
    if (b) {
        CHECK_EQ(b->n_chapters, 2);
        check_chapter(b, 0, "Opening", "A foreword.");
        check_chapter(b, 1, "One", "Text.");
        nr_book_free(b);
    }
    /* Setext headings and inline syntax */
    b = load_text("setext.md",
                  "Book\n====\n\nFirst\n-----\n\nBody *emph* __strong__ [link](http://x) "
                  "![img](y.png) <b>bold</b> `code` snake_case \\*star\\*.\n\n"
                  "```\ncode block\n```\n\n---\n\n- item one\n- item two\n\n> quoted\n> more\n\n"
                  "### Deeper heading\n\n1. numbered\n\n<!-- a comment -->\n\n[ref]: http://x\n");
    if (b) {
        CHECK_STR(b->title, "Book");
        CHECK_EQ(b->n_chapters, 1);
        check_chapter(
            b, 0, "First",
            "Body emph strong link bold code snake_case *star*.\n\nitem one\n\nitem two\n\n"
            "quoted more\n\nDeeper heading\n\nnumbered");
        nr_book_free(b);
    }
    /* a heading with no body joins the next one */
    b = load_text("parts.md", "## Part One\n\n## Chapter 1\n\nText.\n\n## Empty at the end\n");
    if (b) {
        CHECK_EQ(b->n_chapters, 1);
        check_chapter(b, 0, "Part One. Chapter 1", "Text.");
        nr_book_free(b);
    }
    /* only a title H1: one chapter named after the book */
    b = load_text("single.md", "# Only Title\n\nJust text.\n");
    if (b) {
        CHECK_STR(b->title, "Only Title");
        CHECK_EQ(b->n_chapters, 1);
        check_chapter(b, 0, "Only Title", "Just text.");
        nr_book_free(b);
    }
    /* an image-only paragraph above the author line is no title */
    b = load_text("image-first.md", "![cover](cover.png)\n\nby Someone\n\n## One\n\nText.\n");
    if (b) {
        CHECK_STR(b->title, "image-first");
        CHECK_STR(b->author, "Someone");
        CHECK_EQ(b->n_chapters, 1);
        check_chapter(b, 0, "One", "Text.");
        nr_book_free(b);
    }
    /* "Chapter" lines inside Markdown count too */
    b = load_text("lines.md", "Chapter 1\n\nAlpha.\n\nCHAPTER II\n\nBeta.\n");
    if (b) {
        CHECK_EQ(b->n_chapters, 2);
        check_chapter(b, 0, "Chapter 1", "Alpha.");
        check_chapter(b, 1, "CHAPTER II", "Beta.");
        nr_book_free(b);
    }
}

static void test_text_chapters(void) {
    struct nr_book *b =
        load_text("book.txt", "CHAPTER I\nIt begins.\n\nCHAPTER II\n\nIt goes on.\n\n"
                              "Chapter Three: The End\n\nIt ends.\n"
                              "# not a heading in .txt\n");
    if (b) {
        CHECK_STR(b->title, "book");
        CHECK_EQ(b->n_chapters, 3);
        check_chapter(b, 0, "CHAPTER I", "It begins.");
        check_chapter(b, 1, "CHAPTER II", "It goes on.");
        check_chapter(b, 2, "Chapter Three: The End", "It ends. # not a heading in .txt");
        nr_book_free(b);
    }
    /* no blank lines at all: each line is a paragraph */
    b = load_text("lines.txt", "Line one.\nLine two.\n");
    if (b) {
        CHECK_EQ(b->n_chapters, 1);
        check_chapter(b, 0, "Chapter 1", "Line one.\n\nLine two.");
        nr_book_free(b);
    }
    /* a title line and an author line before the first chapter */
    b = load_text("time.text",
                  "THE TIME\n\nby H. G. Wells\n\nPart One\n\nText.\n\nPART II\n\nMore.\n");
    if (b) {
        CHECK_STR(b->title, "THE TIME");
        CHECK_STR(b->author, "H. G. Wells");
        CHECK_EQ(b->n_chapters, 2);
        check_chapter(b, 0, "Part One", "Text.");
        check_chapter(b, 1, "PART II", "More.");
        nr_book_free(b);
    }
    /* other extensions are plain text; Windows line ends and a BOM */
    b = load_text("notes.log", "\xEF\xBB\xBFHello.\r\n\r\nWorld.\r\n");
    if (b) {
        CHECK_STR(b->title, "notes");
        check_chapter(b, 0, "Chapter 1", "Hello.\n\nWorld.");
        nr_book_free(b);
    }
}

static void test_bad_input(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/does-not-exist.md", scratch_dir());
    load_bad(path, NR_STATUS_IO, "no such file", __LINE__);
    load_bad(scratch_file("empty.txt", "", 0), NR_STATUS_BAD_FORMAT, "empty file", __LINE__);
    load_bad(scratch_file("empty.epub", "", 0), NR_STATUS_BAD_FORMAT, "empty file", __LINE__);
    load_bad(scratch_dir(), NR_STATUS_INVALID_ARG, "is a directory", __LINE__);

    unsigned char garbage[4096];
    test_rng_state = 7;
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (unsigned char)test_rand();
    load_bad(scratch_file("garbage.txt", garbage, sizeof garbage), NR_STATUS_BAD_FORMAT,
             "binary file", __LINE__);
    load_bad(scratch_file("garbage.epub", garbage, sizeof garbage), NR_STATUS_BAD_FORMAT,
             "not an EPUB", __LINE__);
    /* control characters without NUL bytes */
    char ctrl[200];
    for (size_t i = 0; i < sizeof ctrl; i++)
        ctrl[i] = (char)(i % 3 == 0 ? 'a' : 1 + (int)(i % 7));
    load_bad(scratch_file("ctrl.md", ctrl, sizeof ctrl), NR_STATUS_BAD_FORMAT, "binary file",
             __LINE__);

    const char latin1[] = "Hello world.\nCaf\xE9 au lait.\n";
    load_bad(scratch_file("latin1.txt", latin1, sizeof latin1 - 1), NR_STATUS_BAD_FORMAT,
             "invalid UTF-8 at byte 16", __LINE__);
    load_bad(scratch_file("utf16.txt", "\xFF\xFEH\0i\0", 6), NR_STATUS_UNSUPPORTED, "UTF-16",
             __LINE__);
    load_bad(scratch_file("blank.md", "   \n\n  \n", 8), NR_STATUS_BAD_FORMAT, "no text", __LINE__);

    load_bad(source_path("tests/data/text/not-epub.epub"), NR_STATUS_BAD_FORMAT,
             "not an EPUB (no META-INF/container.xml", __LINE__);
    load_bad(source_path("tests/data/text/missing-spine.epub"), NR_STATUS_BAD_FORMAT,
             "'OEBPS/ch2.xhtml' is missing", __LINE__);
    load_bad(source_path("tests/data/text/truncated.epub"), NR_STATUS_BAD_FORMAT, "truncated",
             __LINE__);
    load_bad(source_path("tests/data/text/zipbomb.epub"), NR_STATUS_UNSUPPORTED, "too large",
             __LINE__);
}

static void test_hostile(void) {
    /* an external entity must not be fetched */
    struct nr_book *b = load_ok(source_path("tests/data/text/hostile-xxe.epub"));
    if (b) {
        CHECK_STR(b->title, "Hostile");
        for (size_t i = 0; i < b->n_chapters; i++) {
            CHECK(strstr(b->chapters[i].text, "root:") == NULL);
            CHECK_SUBSTR(b->chapters[i].text, "Safe text.");
        }
        nr_book_free(b);
    }
    /* exponential entity expansion: refused or left unexpanded */
    struct nr_err err = {0};
    b = NULL;
    double t0 = nr_now();
    enum nr_status st = nr_book_load(source_path("tests/data/text/hostile-laughs.epub"), &b, &err);
    CHECK(nr_now() - t0 < 5.0);
    if (st == NR_OK) {
        CHECK(strstr(b->title, "lollol") == NULL);
        nr_book_free(b);
    } else {
        CHECK_EQ(st, NR_STATUS_BAD_FORMAT);
        CHECK(b == NULL);
    }
}

int main(void) {
    test_epub3();
    test_epub2();
    test_epub_encodings();
    test_sample_book();
    test_markdown_chapters();
    test_text_chapters();
    test_bad_input();
    test_hostile();
    scratch_cleanup();
    return check_result("test_text_load");
}
