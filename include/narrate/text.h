/* narrate text: book loaders (TXT, Markdown, EPUB), normalization, chapter
 * detection, sentence split, chunker, manifest read/write.
 *
 *   struct nr_book *book;
 *   struct nr_manifest *m;
 *   if (nr_book_load("book.epub", &book, &err) == NR_OK &&
 *       nr_manifest_build(book, 400, &m, &err) == NR_OK)
 *       nr_manifest_save(m, "out/manifest.json", &err);
 *
 * Thread safety: no shared state; distinct objects may be used from
 * distinct threads.
 */
#ifndef NARRATE_TEXT_H
#define NARRATE_TEXT_H

#include "narrate/core.h"

/* One chapter of a loaded book. text holds normalized paragraphs separated
 * by exactly one blank line ("\n\n"); no leading or trailing whitespace. */
struct nr_chapter {
    char *title; /* never NULL; "Chapter N" when the source has none */
    char *text;
};

struct nr_book {
    char *title;       /* from OPF / first heading / file name; never NULL */
    char *author;      /* "" when unknown */
    char *source_path; /* as given to nr_book_load */
    char source_hash[33];
    size_t n_chapters;
    struct nr_chapter *chapters; /* n_chapters; at least 1 on success */
    unsigned char *cover;        /* EPUB cover image bytes or NULL */
    size_t cover_len;
    char cover_mime[32]; /* "image/jpeg", "image/png" or "" */
};

/* Loads a .txt, .md/.markdown or .epub file (by extension; other extensions
 * are read as plain text). Errors are one line naming the file and the
 * problem: missing, a directory, empty, binary, invalid UTF-8 (with byte
 * offset), not an EPUB, a spine naming a missing file. On failure *out is
 * NULL. The caller frees the book with nr_book_free. */
NR_MUST_CHECK enum nr_status nr_book_load(const char *path, struct nr_book **out,
                                          struct nr_err *err);
void nr_book_free(struct nr_book *book);

/* Validates UTF-8 and normalizes: curly quotes/apostrophes to ASCII ones,
 * dashes to " - ", ellipsis to "...", NBSP and other spaces to ' ', strips
 * control characters and BOM, collapses runs of spaces, trims each line,
 * and collapses runs of blank lines into one. Invalid UTF-8 is
 * NR_STATUS_BAD_FORMAT "invalid UTF-8 at byte N". *out is owned by the caller. */
NR_MUST_CHECK enum nr_status nr_text_normalize(const char *in, size_t len, char **out,
                                               struct nr_err *err);

/* Splits text into sentences; calls fn(user, start, len) for each, in order,
 * with whitespace trimmed. Respects abbreviations (Mr., Dr., St., e.g.,
 * U.S.), decimals, initials and closing quotes. Returns the count. */
typedef void (*nr_sentence_fn)(void *user, const char *start, size_t len);
size_t nr_text_split_sentences(const char *text, size_t len, nr_sentence_fn fn, void *user);

/* What follows a chunk when the book is assembled. */
enum nr_gap {
    NR_GAP_SENTENCE = 0, /* next chunk continues the paragraph */
    NR_GAP_PARAGRAPH,    /* chunk ends a paragraph */
    NR_GAP_CHAPTER,      /* chunk ends its chapter */
};

struct nr_chunk {
    char id[24];     /* "CCC-NNNN": chapter number and index, both 1-based */
    size_t chapter;  /* 0-based chapter index */
    size_t index;    /* 0-based index within the chapter */
    char *text;      /* never empty */
    char hash[33];   /* nr_hash_hex of text */
    enum nr_gap gap; /* what follows this chunk */
};

#define NR_MANIFEST_VERSION 1

/* The book's plan: what to say, in which order, and with what voice. */
struct nr_manifest {
    int version;
    char *title;
    char *author;
    char *source_path;
    char source_hash[33];
    char *voice;         /* voice spec, e.g. "espeak:en-us" (may be "" until render) */
    char *audio_settings; /* JSON text of the settings that change audio, or "{}" */
    int max_chunk_chars;
    size_t n_chapters;
    char **chapter_titles; /* n_chapters */
    size_t n_chunks;
    struct nr_chunk *chunks; /* n_chunks, in reading order */
    int rehashed;            /* set by load when chunks had no hash (edited) */
};

/* Chunks the book: whole sentences up to max_chars; a longer sentence is
 * split at ; : , and then between words. No empty chunk; every word of the
 * input lands in exactly one chunk, in order. *out owned by the caller. */
NR_MUST_CHECK enum nr_status nr_manifest_build(const struct nr_book *book, int max_chars,
                                               struct nr_manifest **out, struct nr_err *err);
/* Writes the manifest as JSON, atomically. */
NR_MUST_CHECK enum nr_status nr_manifest_save(const struct nr_manifest *m, const char *path,
                                              struct nr_err *err);
/* Reads a manifest. An unknown version, a missing field, or a chunk whose
 * "hash" does not match its text is an error naming the file (and chunk).
 * A chunk with no "hash" (or null) is taken as edited: its hash is computed
 * and m->rehashed is set, so the caller can save the manifest back. */
NR_MUST_CHECK enum nr_status nr_manifest_load(const char *path, struct nr_manifest **out,
                                              struct nr_err *err);
void nr_manifest_free(struct nr_manifest *m);
/* Replaces m->voice / m->audio_settings (strings copied). */
NR_MUST_CHECK enum nr_status nr_manifest_set_voice(struct nr_manifest *m, const char *voice,
                                                   const char *audio_settings_json,
                                                   struct nr_err *err);

#endif
