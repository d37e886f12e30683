/* Unit tests of the text module: normalization, sentence split, chapter
 * lines, the chunker (hand-computed cases, every word in exactly one chunk
 * on the sample book and on a generated 1 MB text), the manifest file, and
 * allocation failures. Expected values are written by hand. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "narrate/text.h"
#include "test_text_util.h"
#include "text/text_internal.h"

/* ---- normalization --------------------------------------------------------- */

static void norm_case(const char *in, const char *want, int line) {
    char *out = NULL;
    struct nr_err err = {0};
    enum nr_status st = nr_text_normalize(in, strlen(in), &out, &err);
    if (st != NR_OK || strcmp(out, want) != 0)
        fprintf(stderr, "normalize case at line %d\n", line);
    CHECK_EQ(st, NR_OK);
    CHECK_STR(out, want);
    nr_free(out);
}

static void norm_bad(const char *in, size_t n, const char *want_msg, int line) {
    char *out = (char *)1;
    struct nr_err err = {0};
    enum nr_status st = nr_text_normalize(in, n, &out, &err);
    if (st != NR_STATUS_BAD_FORMAT)
        fprintf(stderr, "normalize bad case at line %d\n", line);
    CHECK_EQ(st, NR_STATUS_BAD_FORMAT);
    CHECK(out == NULL);
    CHECK_STR(err.msg, want_msg);
}

static void test_normalize(void) {
    norm_case(
        "\xE2\x80\x9CHello,\xE2\x80\x9D she said \xE2\x80\x94 it\xE2\x80\x99s late\xE2\x80\xA6",
        "\"Hello,\" she said - it's late...", __LINE__);
    norm_case("word\xE2\x80\x94word and 1990\xE2\x80\x93"
              "2000",
              "word - word and 1990 - 2000", __LINE__);
    norm_case("  a\xC2\xA0\xC2\xA0"
              "b\t c  \r\n\r\n\r\n\n  d  \n",
              "a b c\n\nd", __LINE__);
    norm_case("\xEF\xBB\xBFx\x01y\x7F"
              "z",
              "xyz", __LINE__);
    norm_case("soft\xC2\xADhyphen zero\xE2\x80\x8Bwidth", "softhyphen zerowidth", __LINE__);
    norm_case("line1\rline2\r\nline3", "line1\nline2\nline3", __LINE__);
    norm_case("\n\n\n  x  \n\n\n", "x", __LINE__);
    norm_case("", "", __LINE__);
    norm_case("   \n \t \n", "", __LINE__);
    norm_case(
        "\xE2\x80\x98single\xE2\x80\x99 \xC2\xABguillemets\xC2\xBB \xE2\x80\x9Elow\xE2\x80\x9C",
        "'single' \"guillemets\" \"low\"", __LINE__);
    norm_case("para one\xE2\x80\xA9para two", "para one\n\npara two", __LINE__);
    norm_case("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82",
              "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82", __LINE__);
    norm_case("a\xE2\x80\x83"
              "b\xE3\x80\x80"
              "c",
              "a b c", __LINE__);
    norm_bad("ab\xFF"
             "cd",
             5, "invalid UTF-8 at byte 2", __LINE__);
    norm_bad("\xC0\xAF", 2, "invalid UTF-8 at byte 0", __LINE__);           /* overlong '/' */
    norm_bad("xy\xED\xA0\x80", 5, "invalid UTF-8 at byte 2", __LINE__);     /* surrogate */
    norm_bad("abc\xE2\x80", 5, "invalid UTF-8 at byte 3", __LINE__);        /* truncated */
    norm_bad("ok\xF4\x90\x80\x80", 6, "invalid UTF-8 at byte 2", __LINE__); /* > U+10FFFF */
    norm_bad("\x80", 1, "invalid UTF-8 at byte 0", __LINE__);
}

/* ---- sentences --------------------------------------------------------------- */

struct sentences {
    char *s[32];
    size_t n;
};

static void collect(void *user, const char *start, size_t len) {
    struct sentences *ss = user;
    if (ss->n < 32)
        ss->s[ss->n] = strndup(start, len);
    ss->n++;
}

static void split_case(const char *text, const char *const *want, size_t n_want, int line) {
    struct sentences ss = {{0}, 0};
    size_t count = nr_text_split_sentences(text, strlen(text), collect, &ss);
    int bad = count != n_want || ss.n != n_want;
    for (size_t i = 0; !bad && i < n_want; i++)
        bad = strcmp(ss.s[i], want[i]) != 0;
    if (bad) {
        fprintf(stderr, "split case at line %d: got %zu sentences:\n", line, ss.n);
        for (size_t i = 0; i < ss.n && i < 32; i++)
            fprintf(stderr, "  [%s]\n", ss.s[i]);
    }
    CHECK_EQ(count, n_want);
    CHECK_EQ(ss.n, n_want);
    for (size_t i = 0; i < n_want && i < ss.n; i++)
        CHECK_STR(ss.s[i], want[i]);
    for (size_t i = 0; i < ss.n && i < 32; i++)
        free(ss.s[i]);
}

#define SPLIT(text, ...)                                                                           \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__};                                          \
        split_case(text, want_, sizeof want_ / sizeof *want_, __LINE__);                           \
    } while (0)

static void test_sentences(void) {
    SPLIT("Mr. Smith went to Washington. He arrived at 3.14 p.m. on Tuesday.",
          "Mr. Smith went to Washington.", "He arrived at 3.14 p.m. on Tuesday.");
    SPLIT("\"Stop!\" she said. \"Go.\" He went.", "\"Stop!\" she said.", "\"Go.\"", "He went.");
    SPLIT("J. R. R. Tolkien wrote books. Dr. Who? No idea...", "J. R. R. Tolkien wrote books.",
          "Dr. Who?", "No idea...");
    SPLIT("Wait... what? I mean... Really!", "Wait... what?", "I mean...", "Really!");
    SPLIT("See e.g. Paris, i.e. France. The U.S. Army left. Then the U.K. team.",
          "See e.g. Paris, i.e. France.", "The U.S. Army left.", "Then the U.K. team.");
    SPLIT("It cost No. 5 and vol. 2. (He laughed.) Then St. Ives.", "It cost No. 5 and vol. 2.",
          "(He laughed.)", "Then St. Ives.");
    SPLIT("Apples, pears, etc. We ate them at 9 a.m. Then slept.", "Apples, pears, etc.",
          "We ate them at 9 a.m.", "Then slept.");
    SPLIT("No. I won't. Mrs. Ms. and Prof. Jones vs. Sr. Lee.", "No.", "I won't.",
          "Mrs. Ms. and Prof. Jones vs. Sr. Lee.");
    SPLIT("She said 'fine.' Then left.", "She said 'fine.'", "Then left.");
    SPLIT("One line\n\nTwo line", "One line", "Two line");
    SPLIT("Pi is 3.14159. It is irrational!", "Pi is 3.14159.", "It is irrational!");
    SPLIT("J.R.R. Tolkien and C.S. Lewis met. They talked.", "J.R.R. Tolkien and C.S. Lewis met.",
          "They talked.");
    SPLIT("What?! Really?? Yes.", "What?!", "Really??", "Yes.");
    SPLIT("  no terminator here  ", "no terminator here");
    SPLIT("He said, \"Go now.\" \"Why?\" she asked.", "He said, \"Go now.\"",
          "\"Why?\" she asked.");
    SPLIT("The end.", "The end.");
    CHECK_EQ(nr_text_split_sentences("   \n\n  ", 7, NULL, NULL), 0);
    CHECK_EQ(nr_text_split_sentences("A. B. C.", 8, NULL, NULL), 1); /* initials */
}

/* ---- chapter lines ------------------------------------------------------------ */

static void test_chapter_lines(void) {
    static const char *const yes[] = {
        "Chapter 12",       "CHAPTER XII",         "Chapter One",          "Part One",
        "PART II",          "Chapter Twenty-One",  "Chapter 3: The Storm", "CHAPTER XII. THE END",
        "Prologue",         "Epilogue: After",     "chapter iv",           "Book Two",
        "Chapter 7 - Home", "Chapter One Hundred",
    };
    static const char *const no[] = {
        "Chapter",
        "Part one of the plan was simple.",
        "Chapters 1 and 2",
        "The Chapter 12",
        "Chapter 12 was long and had many pages in it",
        "Partner Two",
        "Prologues are fun",
        "Chapter 12345",
        "",
        "Part of it",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!nr__is_chapter_line(yes[i], strlen(yes[i]))) {
            fprintf(stderr, "not recognized as a chapter line: \"%s\"\n", yes[i]);
            CHECK(0);
        }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (nr__is_chapter_line(no[i], strlen(no[i]))) {
            fprintf(stderr, "wrongly recognized as a chapter line: \"%s\"\n", no[i]);
            CHECK(0);
        }
}

/* ---- chunker -------------------------------------------------------------------- */

struct want_chunk {
    const char *id;
    const char *text;
    enum nr_gap gap;
};

static void chunk_case(struct nr_chapter *ch, size_t n_ch, int max, const struct want_chunk *want,
                       size_t n_want, int line) {
    struct nr_book book = {
        .title = "T", .author = "", .source_path = "mem", .n_chapters = n_ch, .chapters = ch};
    struct nr_manifest *m = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_manifest_build(&book, max, &m, &err), NR_OK);
    if (!m)
        return;
    if (m->n_chunks != n_want) {
        fprintf(stderr, "chunk case at line %d: %zu chunks\n", line, m->n_chunks);
        for (size_t i = 0; i < m->n_chunks; i++)
            fprintf(stderr, "  %s [%s] gap %d\n", m->chunks[i].id, m->chunks[i].text,
                    (int)m->chunks[i].gap);
    }
    CHECK_EQ(m->n_chunks, n_want);
    for (size_t i = 0; i < n_want && i < m->n_chunks; i++) {
        CHECK_STR(m->chunks[i].id, want[i].id);
        CHECK_STR(m->chunks[i].text, want[i].text);
        CHECK_EQ(m->chunks[i].gap, want[i].gap);
        char h[33];
        nr_hash_hex(want[i].text, strlen(want[i].text), h);
        CHECK_STR(m->chunks[i].hash, h);
    }
    nr_manifest_free(m);
}

static void test_chunker_cases(void) {
    const enum nr_gap S = NR_GAP_SENTENCE, P = NR_GAP_PARAGRAPH, C = NR_GAP_CHAPTER;
    struct nr_chapter a[] = {
        {"T", "Short one. Short two. This sentence is a bit longer than the rest."}};
    const struct want_chunk wa[] = {{"001-0001", "T.", P},
                                    {"001-0002", "Short one. Short two.", S},
                                    {"001-0003", "This sentence is a bit longer than the", S},
                                    {"001-0004", "rest.", C}};
    chunk_case(a, 1, 40, wa, 4, __LINE__);

    struct nr_chapter b[] = {{"Title!", "Alpha beta, gamma delta epsilon, zeta eta theta iota."}};
    const struct want_chunk wb[] = {{"001-0001", "Title!", P},
                                    {"001-0002", "Alpha beta,", S},
                                    {"001-0003", "gamma delta epsilon,", S},
                                    {"001-0004", "zeta eta theta iota.", C}};
    chunk_case(b, 1, 30, wb, 4, __LINE__);

    struct nr_chapter c[] = {{"X", "a Supercalifragilistic b."}};
    const struct want_chunk wc[] = {{"001-0001", "X.", P},
                                    {"001-0002", "a", S},
                                    {"001-0003", "Supercalifragilistic", S},
                                    {"001-0004", "b.", C}};
    chunk_case(c, 1, 10, wc, 4, __LINE__);

    /* "Opening" (untitled text before the first heading) is not announced;
     * a chunk never spans two paragraphs. */
    struct nr_chapter d[] = {{"Opening", "One. Two.\n\nThree."}, {"Next", "Four."}};
    const struct want_chunk wd[] = {{"001-0001", "One. Two.", P},
                                    {"001-0002", "Three.", C},
                                    {"002-0001", "Next.", P},
                                    {"002-0002", "Four.", C}};
    chunk_case(d, 2, 400, wd, 4, __LINE__);

    /* the limit counts code points, not bytes */
    struct nr_chapter e[] = {{"E", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9 "
                                   "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9."}};
    const struct want_chunk we[] = {{"001-0001", "E.", P},
                                    {"001-0002", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", S},
                                    {"001-0003", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9.", C}};
    chunk_case(e, 1, 5, we, 3, __LINE__);
    struct nr_chapter e2[] = {{"E", "\xC3\xA9\xC3\xA9 \xC3\xA9\xC3\xA9."}};
    const struct want_chunk we2[] = {{"001-0001", "E.", P},
                                     {"001-0002", "\xC3\xA9\xC3\xA9 \xC3\xA9\xC3\xA9.", C}};
    chunk_case(e2, 1, 6, we2, 2, __LINE__); /* 6 code points, 10 bytes: one chunk */

    /* a title ending in ':' is read with a period instead */
    struct nr_chapter g[] = {{"Part One:", "Go."}};
    const struct want_chunk wg[] = {{"001-0001", "Part One.", P}, {"001-0002", "Go.", C}};
    chunk_case(g, 1, 400, wg, 2, __LINE__);

    /* sentences pack exactly up to the limit: 10 + 1 + 10 = 21 */
    struct nr_chapter f[] = {{"F", "Aaaa bbbb. Cccc dddd. Eeee."}};
    const struct want_chunk wf[] = {
        {"001-0001", "F.", P}, {"001-0002", "Aaaa bbbb. Cccc dddd.", S}, {"001-0003", "Eeee.", C}};
    chunk_case(f, 1, 21, wf, 3, __LINE__);

    struct nr_err err = {0};
    struct nr_manifest *m = (struct nr_manifest *)1;
    struct nr_chapter empty[] = {{"", ""}};
    struct nr_book eb = {
        .title = "T", .author = "", .source_path = "empty.md", .n_chapters = 1, .chapters = empty};
    CHECK_EQ(nr_manifest_build(&eb, 400, &m, &err), NR_STATUS_BAD_FORMAT);
    CHECK(m == NULL);
    CHECK_SUBSTR(err.msg, "empty.md");
    nr_err_clear(&err);
    CHECK_EQ(nr_manifest_build(&eb, 0, &m, &err), NR_STATUS_INVALID_ARG);
}

/* ---- every word in exactly one chunk ---------------------------------------------- */

/* The announced title of chapter i, as docs/text.md specifies it. */
static void expected_title(const struct nr_chapter *ch, size_t i, char *out, size_t size) {
    out[0] = '\0';
    if (!ch->title[0] || (i == 0 && strcmp(ch->title, "Opening") == 0))
        return;
    size_t n = strlen(ch->title);
    char last = ch->title[n - 1];
    if (last == ':' || last == ';' || last == ',') {
        snprintf(out, size, "%.*s.", (int)n - 1, ch->title);
        return;
    }
    size_t e = n; /* closing quotes and brackets do not hide a final period */
    while (e > 0 && strchr("\"')", ch->title[e - 1]))
        e--;
    int ended = e > 0 && strchr(".!?", ch->title[e - 1]);
    snprintf(out, size, "%s%s", ch->title, ended ? "" : ".");
}

/* Checks the words, the paragraph boundaries, the gaps, the ids and the
 * chunk lengths of m against book. */
static void check_chunks(const struct nr_book *book, const struct nr_manifest *m, int max) {
    size_t k = 0; /* next chunk */
    size_t max_len = 0, long_words = 0;
    for (size_t c = 0; c < book->n_chapters; c++) {
        char title[1024];
        expected_title(&book->chapters[c], c, title, sizeof title);
        /* units: the title paragraph, then each paragraph of the text */
        const char *t = book->chapters[c].text;
        int first = 1;
        size_t index = 0;
        while (first || *t) {
            const char *unit;
            size_t ulen;
            if (first) {
                first = 0;
                unit = title;
                ulen = strlen(title);
                if (!ulen)
                    continue;
            } else {
                const char *e = strstr(t, "\n\n");
                unit = t;
                ulen = e ? (size_t)(e - t) : strlen(t);
                t += ulen;
                while (*t == '\n')
                    t++;
            }
            char *u = strndup(unit, ulen);
            struct words want = {0}, got = {0};
            words_add(&want, u);
            free(u);
            while (got.n < want.n && k < m->n_chunks) {
                const struct nr_chunk *ck = &m->chunks[k++];
                char id[24];
                snprintf(id, sizeof id, "%03u-%04u", (unsigned)(c + 1), (unsigned)(index + 1));
                CHECK_STR(ck->id, id);
                CHECK_EQ(ck->chapter, c);
                CHECK_EQ(ck->index, index);
                index++;
                CHECK(ck->text[0] != '\0');
                size_t before = got.n;
                words_add(&got, ck->text);
                size_t cps = nr__utf8_count(ck->text, strlen(ck->text));
                if (cps > (size_t)max) {
                    CHECK_EQ(got.n - before, 1); /* only a single long word may exceed */
                    long_words++;
                } else if (cps > max_len) {
                    max_len = cps;
                }
                int last_of_unit = got.n >= want.n;
                int last_of_chapter = last_of_unit && !*t;
                CHECK_EQ(ck->gap, last_of_chapter ? NR_GAP_CHAPTER
                                  : last_of_unit  ? NR_GAP_PARAGRAPH
                                                  : NR_GAP_SENTENCE);
            }
            CHECK_EQ(got.n, want.n); /* a chunk spanning two paragraphs overshoots */
            for (size_t i = 0; i < want.n && i < got.n; i++)
                if (strcmp(want.w[i], got.w[i]) != 0) {
                    fprintf(stderr, "chapter %zu: word %zu: want \"%s\", got \"%s\"\n", c, i,
                            want.w[i], got.w[i]);
                    CHECK(0);
                    break;
                }
            words_free(&want);
            words_free(&got);
        }
    }
    CHECK_EQ(k, m->n_chunks);
    CHECK(max_len <= (size_t)max);
    printf("  %zu chunks, longest %zu code points (limit %d), %zu single-word chunks over it\n",
           m->n_chunks, max_len, max, long_words);
}

static void test_sample_words(void) {
    struct nr_book *book = NULL;
    struct nr_err err = {0};
    const char *path = source_path("examples/the-lighthouse-keepers-clock.md");
    CHECK_EQ(nr_book_load(path, &book, &err), NR_OK);
    if (!book) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    static const int limits[] = {400, 120, 40, 12};
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        struct nr_manifest *m = NULL;
        CHECK_EQ(nr_manifest_build(book, limits[i], &m, &err), NR_OK);
        if (m)
            check_chunks(book, m, limits[i]);
        nr_manifest_free(m);
    }
    nr_book_free(book);
}

static void gen_word(struct nr_buf *b) {
    static const char *const pool[] = {
        "the",
        "lamp",
        "keeper",
        "Mr.",
        "Dr.",
        "St.",
        "e.g.",
        "i.e.",
        "U.S.",
        "3.14",
        "0.8",
        "\"Stop!\"",
        "she",
        "said,",
        "wave;",
        "tide:",
        "clock",
        "\xE2\x80\x9Cquoted\xE2\x80\x9D",
        "it\xE2\x80\x99s",
        "dash\xE2\x80\x94here",
        "wait\xE2\x80\xA6",
        "caf\xC3\xA9",
        "J.",
        "R.",
        "(aside)",
        "[note]",
        "No.",
        "5",
        "a.m.",
        "and",
        "of",
        "sea",
        "storm",
        "Tolkien",
    };
    CHECK_EQ(nr_buf_printf(b, "%s", pool[test_rand() % (sizeof pool / sizeof *pool)]), NR_OK);
}

static void gen_sentence(struct nr_buf *b) {
    unsigned kind = test_rand() % 60;
    size_t words = kind == 0   ? 300 + test_rand() % 400 /* very long, with commas */
                   : kind == 1 ? 200 + test_rand() % 200 /* very long, no break marks */
                               : 3 + test_rand() % 25;
    for (size_t i = 0; i < words; i++) {
        if (i)
            CHECK_EQ(nr_buf_append(b, " ", 1), NR_OK);
        if (kind == 1)
            CHECK_EQ(nr_buf_printf(b, "w%u", test_rand() % 1000), NR_OK);
        else
            gen_word(b);
        if (kind == 0 && test_rand() % 9 == 0)
            CHECK_EQ(nr_buf_append(b, ",", 1), NR_OK);
    }
    if (test_rand() % 80 == 0) { /* a very long word */
        CHECK_EQ(nr_buf_append(b, " ", 1), NR_OK);
        size_t n = 400 + test_rand() % 900;
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(nr_buf_printf(b, "%c", 'a' + (int)(test_rand() % 26)), NR_OK);
    }
    static const char *const ends[] = {".", "!", "?", "...", ".\"", "?\"", "!)"};
    CHECK_EQ(nr_buf_printf(b, "%s", ends[test_rand() % 7]), NR_OK);
}

static void test_generated_megabyte(void) {
    unsigned long long seed = 20260127;
    const char *env = getenv("NARRATE_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    test_rng_state = seed;
    printf("  generated text seed %llu (set NARRATE_TEST_SEED to reproduce)\n", seed);
    struct nr_buf b = {0};
    size_t chapter = 0;
    while (b.len < 1000000) {
        if (b.len / 60000 >= chapter)
            CHECK_EQ(nr_buf_printf(&b, "Chapter %zu\n\n", ++chapter), NR_OK);
        size_t sentences = 1 + test_rand() % 8;
        for (size_t i = 0; i < sentences; i++) {
            if (i)
                CHECK_EQ(nr_buf_append(&b, test_rand() % 7 == 0 ? "\n" : " ", 1), NR_OK);
            gen_sentence(&b);
        }
        CHECK_EQ(nr_buf_append(&b, "\n\n", 2), NR_OK);
    }
    const char *path = scratch_file("generated.txt", b.data, b.len);
    size_t len = b.len;
    nr_buf_deinit(&b);
    double t0 = nr_now();
    struct nr_book *book = NULL;
    struct nr_manifest *m = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_book_load(path, &book, &err), NR_OK);
    if (book)
        CHECK_EQ(nr_manifest_build(book, 400, &m, &err), NR_OK);
    double secs = nr_now() - t0;
    printf("  %zu bytes, %zu chapters: load + chunk in %.3f s\n", len, book ? book->n_chapters : 0,
           secs);
#if defined(__SANITIZE_ADDRESS__) || defined(__OPTIMIZE__) == 0
    CHECK(secs < 10.0); /* sanitizer or unoptimized build */
#else
    CHECK(secs < 1.0);
#endif
    if (book) {
        CHECK_EQ(book->n_chapters, chapter);
        CHECK_STR(book->chapters[0].title, "Chapter 1");
    }
    if (book && m)
        check_chunks(book, m, 400);
    nr_manifest_free(m);
    nr_book_free(book);
}

/* ---- manifest file ------------------------------------------------------------------- */

static void test_manifest_round_trip(void) {
    struct nr_book *book = NULL;
    struct nr_manifest *m = NULL, *back = NULL;
    struct nr_err err = {0};
    CHECK_EQ(nr_book_load(source_path("examples/the-lighthouse-keepers-clock.md"), &book, &err),
             NR_OK);
    if (!book)
        return;
    CHECK_EQ(nr_manifest_build(book, 200, &m, &err), NR_OK);
    nr_book_free(book);
    if (!m)
        return;
    CHECK_EQ(nr_manifest_set_voice(m, "espeak:en-us", "{ \"rate\": 175, \"gaps\": [1, 2] }", &err),
             NR_OK);
    CHECK_STR(m->audio_settings, "{\"rate\":175,\"gaps\":[1,2]}");
    CHECK_EQ(nr_manifest_set_voice(m, "x", "[1]", &err), NR_STATUS_BAD_FORMAT);
    CHECK_STR(m->voice, "espeak:en-us"); /* unchanged after the failure */
    nr_err_clear(&err);
    char path[1200];
    snprintf(path, sizeof path, "%s/manifest.json", scratch_dir());
    CHECK_EQ(nr_manifest_save(m, path, &err), NR_OK);
    CHECK_EQ(nr_manifest_load(path, &back, &err), NR_OK);
    if (!back) {
        fprintf(stderr, "%s\n", err.msg);
        nr_manifest_free(m);
        return;
    }
    CHECK_EQ(back->version, NR_MANIFEST_VERSION);
    CHECK_STR(back->title, m->title);
    CHECK_STR(back->title, "The Lighthouse Keeper's Clock");
    CHECK_STR(back->author, m->author);
    CHECK_STR(back->source_path, m->source_path);
    CHECK_STR(back->source_hash, m->source_hash);
    CHECK_EQ(strlen(back->source_hash), 32);
    CHECK_STR(back->voice, "espeak:en-us");
    CHECK_STR(back->audio_settings, m->audio_settings);
    CHECK_EQ(back->max_chunk_chars, 200);
    CHECK_EQ(back->rehashed, 0);
    CHECK_EQ(back->n_chapters, m->n_chapters);
    for (size_t i = 0; i < m->n_chapters && i < back->n_chapters; i++)
        CHECK_STR(back->chapter_titles[i], m->chapter_titles[i]);
    CHECK_EQ(back->n_chunks, m->n_chunks);
    for (size_t i = 0; i < m->n_chunks && i < back->n_chunks; i++) {
        CHECK_STR(back->chunks[i].id, m->chunks[i].id);
        CHECK_EQ(back->chunks[i].chapter, m->chunks[i].chapter);
        CHECK_EQ(back->chunks[i].index, m->chunks[i].index);
        CHECK_STR(back->chunks[i].text, m->chunks[i].text);
        CHECK_STR(back->chunks[i].hash, m->chunks[i].hash);
        CHECK_EQ(back->chunks[i].gap, m->chunks[i].gap);
    }
    /* saving what was loaded gives the same bytes */
    char path2[1200], *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    snprintf(path2, sizeof path2, "%s/manifest2.json", scratch_dir());
    CHECK_EQ(nr_manifest_save(back, path2, &err), NR_OK);
    CHECK_EQ(nr_file_read(path, &a, &na, &err), NR_OK);
    CHECK_EQ(nr_file_read(path2, &b, &nb, &err), NR_OK);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
    nr_free(a);
    nr_free(b);
    nr_manifest_free(back);
    nr_manifest_free(m);
}

/* Writes a one-chapter manifest with two chunks; hash2 is the second
 * chunk's "hash" member text (e.g. "\"hash\":null,") or "". */
static const char *write_manifest(const char *name, int version, const char *hash2) {
    char h1[33], json[2048];
    nr_hash_hex("One.", 4, h1);
    snprintf(json, sizeof json,
             "{\"format\":\"narrate-manifest\",\"version\":%d,"
             "\"book\":{\"title\":\"T\",\"author\":\"A\",\"source_path\":\"b.md\","
             "\"source_hash\":\"00112233445566778899aabbccddeeff\"},"
             "\"voice\":\"espeak:en-us\",\"audio_settings\":{},\"max_chunk_chars\":400,"
             "\"chapters\":[{\"number\":1,\"title\":\"One\"}],"
             "\"chunks\":[{\"id\":\"001-0001\",\"chapter\":0,\"index\":0,\"text\":\"One.\","
             "\"hash\":\"%s\",\"gap\":\"paragraph\"},"
             "{\"id\":\"001-0002\",\"chapter\":0,\"index\":1,\"text\":\"Edited text.\",%s"
             "\"gap\":\"chapter\"}]}\n",
             version, h1, hash2);
    return scratch_file(name, json, strlen(json));
}

static void test_manifest_edits(void) {
    struct nr_manifest *m = NULL;
    struct nr_err err = {0};
    char h2[33];
    nr_hash_hex("Edited text.", 12, h2);

    const char *p = write_manifest("edited.json", 1, "");
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_OK);
    if (m) {
        CHECK_EQ(m->rehashed, 1);
        CHECK_EQ(m->n_chunks, 2);
        CHECK_STR(m->chunks[1].hash, h2);
        CHECK_STR(m->chunks[1].text, "Edited text.");
        CHECK_EQ(m->chunks[1].gap, NR_GAP_CHAPTER);
        nr_manifest_free(m);
        m = NULL;
    }
    p = write_manifest("null-hash.json", 1, "\"hash\":null,");
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_OK);
    CHECK(m && m->rehashed == 1);
    nr_manifest_free(m);
    m = NULL;

    char good[64];
    snprintf(good, sizeof good, "\"hash\":\"%s\",", h2);
    p = write_manifest("good.json", 1, good);
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_OK);
    CHECK(m && m->rehashed == 0);
    nr_manifest_free(m);
    m = NULL;

    p = write_manifest("wrong-hash.json", 1, "\"hash\":\"00000000000000000000000000000000\",");
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_STATUS_BAD_FORMAT);
    CHECK(m == NULL);
    CHECK_SUBSTR(err.msg, p);
    CHECK_SUBSTR(err.msg, "chunk 001-0002");
    CHECK_SUBSTR(err.msg, "does not match");
    CHECK(strchr(err.msg, '\n') == NULL);
    nr_err_clear(&err);

    p = write_manifest("version.json", 7, "");
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_STATUS_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK_SUBSTR(err.msg, p);
    CHECK_SUBSTR(err.msg, "unknown manifest version 7");
    nr_err_clear(&err);

    const char *bad = "{\"format\":\"narrate-manifest\",\"version\":1}";
    p = scratch_file("missing.json", bad, strlen(bad));
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_STATUS_BAD_FORMAT);
    CHECK_SUBSTR(err.msg, "missing or invalid field \"book\"");
    nr_err_clear(&err);

    const char *broken = "{\"format\": \"narrate-manifest\", \"version\": 1,,}";
    p = scratch_file("broken.json", broken, strlen(broken));
    CHECK_EQ(nr_manifest_load(p, &m, &err), NR_STATUS_BAD_FORMAT);
    /* the second comma is byte 44; cJSON reports the byte after it */
    const char *near = strstr(err.msg, "invalid JSON near byte ");
    CHECK(near != NULL);
    if (near) {
        long at = strtol(near + strlen("invalid JSON near byte "), NULL, 10);
        CHECK(at == 44 || at == 45);
    }
    nr_err_clear(&err);

    CHECK(nr_manifest_load("/nonexistent/manifest.json", &m, &err) != NR_OK);
    CHECK(m == NULL);
}

/* ---- allocation failures ----------------------------------------------------------- */

static void test_alloc_failures(void) {
    struct nr_chapter ch[] = {
        {"The First", "Mr. Penhallow wound the clock. It stopped at 3.12, and he wrote it down.\n\n"
                      "\"Someone should be told,\" he said."},
        {"The Second", "A very long sentence, with commas, and more words than fit; it splits."},
    };
    struct nr_book book = {.title = "Small",
                           .author = "A",
                           .source_path = "small.md",
                           .n_chapters = 2,
                           .chapters = ch};
    size_t n, failures = 0;
    for (n = 1; n < 10000; n++) {
        struct nr_manifest *m = (struct nr_manifest *)1;
        struct nr_err err = {0};
        nr_alloc_fail_after(n);
        enum nr_status st = nr_manifest_build(&book, 30, &m, &err);
        nr_alloc_fail_after(0);
        if (st == NR_OK) {
            CHECK(m != NULL && m->n_chunks > 4);
            nr_manifest_free(m);
            break;
        }
        failures++;
        CHECK_EQ(st, NR_STATUS_NO_MEMORY);
        CHECK(m == NULL);
    }
    printf("  manifest build: %zu allocation failures handled, succeeded at %zu\n", failures, n);
    CHECK(failures >= 5);

    const char *md = "# Small Book\n\nby Someone\n\n## One\n\nText *one*. [Link](x).\n\n"
                     "## Part Two\n\n## Two\n\n- item\n- item two\n";
    const char *path = scratch_file("small.md", md, strlen(md));
    failures = 0;
    for (n = 1; n < 10000; n++) {
        struct nr_book *b = (struct nr_book *)1;
        struct nr_err err = {0};
        nr_alloc_fail_after(n);
        enum nr_status st = nr_book_load(path, &b, &err);
        nr_alloc_fail_after(0);
        if (st == NR_OK) {
            CHECK(b && b->n_chapters == 2);
            if (b && b->n_chapters == 2)
                CHECK_STR(b->chapters[1].title, "Part Two. Two");
            nr_book_free(b);
            break;
        }
        failures++;
        CHECK_EQ(st, NR_STATUS_NO_MEMORY);
        CHECK(b == NULL);
    }
    printf("  markdown load: %zu allocation failures handled, succeeded at %zu\n", failures, n);
    CHECK(failures >= 5);

    const char *mpath = write_manifest("alloc.json", 1, "");
    failures = 0;
    for (n = 1; n < 10000; n++) {
        struct nr_manifest *m = (struct nr_manifest *)1;
        struct nr_err err = {0};
        nr_alloc_fail_after(n);
        enum nr_status st = nr_manifest_load(mpath, &m, &err);
        nr_alloc_fail_after(0);
        if (st == NR_OK) {
            nr_manifest_free(m);
            break;
        }
        failures++;
        CHECK_EQ(st, NR_STATUS_NO_MEMORY);
        CHECK(m == NULL);
    }
    printf("  manifest load: %zu allocation failures handled, succeeded at %zu\n", failures, n);
    CHECK(failures >= 5);
}

int main(void) {
    test_normalize();
    test_sentences();
    test_chapter_lines();
    test_chunker_cases();
    test_sample_words();
    test_generated_megabyte();
    test_manifest_round_trip();
    test_manifest_edits();
    test_alloc_failures();
    scratch_cleanup();
    return check_result("test_text");
}
