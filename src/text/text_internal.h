/* Helpers shared by the files of the text module. Not a public header. */
#ifndef NARRATE_TEXT_INTERNAL_H
#define NARRATE_TEXT_INTERNAL_H

#include <stdint.h>

#include "narrate/text.h"

/* Upper bounds that keep hostile inputs from exhausting memory. */
#define NR__TEXT_MAX_FILE (256u * 1024u * 1024u) /* a .txt/.md/.epub file, bytes */
#define NR__ZIP_MAX_ENTRY (64u * 1024u * 1024u)  /* one decompressed zip entry, bytes */
#define NR__ZIP_MAX_TOTAL (512u * 1024u * 1024u) /* all decompressed entries of one EPUB */
#define NR__EPUB_MAX_ITEMS 4096u                 /* manifest items, spine items, TOC entries */

/* The synthetic title of text that comes before a book's first heading. The
 * manifest builder does not announce it (see docs/text.md). */
#define NR__OPENING_TITLE "Opening"

/* Decodes one strict UTF-8 sequence (no overlongs, surrogates or values
 * above U+10FFFF) at s[0..n). Returns its length 1-4 and sets *cp, or 0
 * when the bytes are not valid UTF-8. */
size_t nr__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* 1 when s[0..n) is valid UTF-8 throughout (by nr__utf8_decode), else 0. */
int nr__utf8_valid(const char *s, size_t n);
/* Number of code points in the valid UTF-8 string s[0..n). */
size_t nr__utf8_count(const char *s, size_t n);

/* Collects a book's chapters. A chapter whose text is empty after
 * normalization is not added; its title (a heading with no body, such as
 * "Part One") is kept and put in front of the next chapter's title. */
struct nr__chapters {
    struct nr_chapter *v; /* n entries, cap allocated */
    size_t n, cap;
    char *pending; /* title waiting for the next chapter, or NULL */
};

/* Adds a chapter. title may be NULL or "" ("Chapter N" is used); text is
 * normalized first (it must be valid UTF-8). Both are copied. */
NR_MUST_CHECK enum nr_status nr__chapters_add(struct nr__chapters *c, const char *title,
                                              const char *text, size_t text_len,
                                              struct nr_err *err);
/* Moves the chapters into book (book->chapters must be empty). */
void nr__chapters_move(struct nr__chapters *c, struct nr_book *book);
void nr__chapters_deinit(struct nr__chapters *c);

/* Format loaders. book is zeroed except source_path; on failure the caller
 * frees whatever they stored with nr_book_free. Messages start "<path>: ". */
NR_MUST_CHECK enum nr_status nr__book_parse_plain(struct nr_book *book, const char *path,
                                                  const char *data, size_t len, int is_markdown,
                                                  struct nr_err *err);
NR_MUST_CHECK enum nr_status nr__book_parse_epub(struct nr_book *book, const char *path,
                                                 const char *data, size_t len, struct nr_err *err);

/* libxml2 reports some problems (encoding errors) through its per-thread
 * error handlers even when parse options ask for silence; a library must
 * not print, so parsing runs between these two calls, which install a
 * silent handler and then restore the caller's. Function pointers are kept
 * as void (*)(void) so this header needs no libxml2 header. */
struct nr__xml_quiet {
    void (*generic)(void);
    void *generic_ctx;
    void (*structured)(void);
    void *structured_ctx;
};
void nr__xml_quiet_begin(struct nr__xml_quiet *q);
void nr__xml_quiet_end(const struct nr__xml_quiet *q);

/* Parses (X)HTML with libxml2's HTML parser (no network, no DTD, errors
 * silent). NULL when nothing could be parsed. Free with xmlFreeDoc. */
struct _xmlDoc *nr__html_parse(const char *data, size_t len);
/* Appends the text of an (X)HTML document to text: block elements end
 * paragraphs (blank lines), script/style/img/svg/head and the like are
 * skipped; not yet normalized. [*head_start, *head_end) is the first
 * heading's text in `text` (both 0 when there is none). An unparseable
 * document gives no text. Fails only with NR_STATUS_NO_MEMORY. */
NR_MUST_CHECK enum nr_status nr__xhtml_text(const char *data, size_t len, struct nr_buf *text,
                                            size_t *head_start, size_t *head_end);

/* Strips Markdown inline syntax (emphasis markers, links, images, HTML tags
 * and comments, backslash escapes) from s[0..n), appending to out. */
NR_MUST_CHECK enum nr_status nr__markdown_inline(struct nr_buf *out, const char *s, size_t n);

/* 1 if line (trimmed) is a chapter heading by itself: "Chapter 12",
 * "CHAPTER XII", "Chapter One: The Storm", "Part Two", "Prologue". */
int nr__is_chapter_line(const char *line, size_t n);

#endif
