/* The chunker: turns a book's chapters into manifest chunks.
 *
 * Each chapter starts with its announced title (see docs/text.md), then its
 * paragraphs. Within a paragraph, whole sentences are packed into chunks of
 * at most max_chars code points; a chunk never spans two paragraphs. A
 * sentence longer than the limit is cut after the latest ; : or , that fits,
 * else between words; a word longer than the limit is a chunk by itself.
 * Chunk text is the paragraph's words joined by single spaces, so every word
 * lands in exactly one chunk, in order. */
#include <stdio.h>
#include <string.h>

#include "text_internal.h"

struct chunker {
    struct nr_manifest *m;
    size_t cap;            /* allocated entries of m->chunks */
    size_t max;            /* limit in code points */
    size_t chapter;        /* 0-based chapter being chunked */
    struct nr_buf cur;     /* sentences packed so far for the next chunk */
    size_t cur_cps;        /* code points in cur */
    enum nr_status status; /* first failure inside the sentence callback */
};

static int is_space(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Appends a chunk whose text is s[0..n) with whitespace runs collapsed. */
static enum nr_status push_chunk(struct chunker *c, const char *s, size_t n, enum nr_gap gap) {
    struct nr_manifest *m = c->m;
    if (m->n_chunks == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct nr_chunk *v = nr_realloc(m->chunks, cap * sizeof *v);
        if (!v)
            return NR_STATUS_NO_MEMORY;
        m->chunks = v;
        c->cap = cap;
    }
    char *text = nr_malloc(n + 1);
    if (!text)
        return NR_STATUS_NO_MEMORY;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i])) {
            if (o > 0 && !is_space(s[i - 1]))
                text[o++] = ' ';
        } else {
            text[o++] = s[i];
        }
    }
    while (o > 0 && text[o - 1] == ' ')
        o--;
    text[o] = '\0';
    NR_ASSERT(o > 0);
    size_t index = 0;
    if (m->n_chunks > 0 && m->chunks[m->n_chunks - 1].chapter == c->chapter)
        index = m->chunks[m->n_chunks - 1].index + 1;
    struct nr_chunk *k = &m->chunks[m->n_chunks++];
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%03u-%04u", (unsigned)(c->chapter + 1), (unsigned)(index + 1));
    k->chapter = c->chapter;
    k->index = index;
    k->text = text;
    nr_hash_hex(text, o, k->hash);
    k->gap = gap;
    return NR_OK;
}

static enum nr_status flush(struct chunker *c, enum nr_gap gap) {
    if (c->cur.len == 0)
        return NR_OK;
    enum nr_status st = push_chunk(c, c->cur.data, c->cur.len, gap);
    c->cur.len = 0;
    if (c->cur.data)
        c->cur.data[0] = '\0';
    c->cur_cps = 0;
    return st;
}

/* Cuts a sentence longer than the limit into pieces, each its own chunk. */
static enum nr_status split_long(struct chunker *c, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            break;
        size_t piece = i, cps = 0, cut = 0; /* cut: end of the latest ; : , word */
        size_t end = i;                     /* end of the last word that fits */
        size_t w = i;
        while (w < n) {
            size_t we = w;
            while (we < n && !is_space(s[we]))
                we++;
            size_t wcps = nr__utf8_count(s + w, we - w) + (cps ? 1 : 0);
            if (cps + wcps > c->max)
                break;
            cps += wcps;
            end = we;
            char last = s[we - 1];
            if (last == ';' || last == ':' || last == ',')
                cut = we;
            w = we;
            while (w < n && is_space(s[w]))
                w++;
        }
        if (end == piece) { /* a single word longer than the limit */
            while (end < n && !is_space(s[end]))
                end++;
        } else if (w < n && cut > piece) {
            end = cut; /* the sentence goes on: prefer a punctuation break */
        }
        enum nr_status st = push_chunk(c, s + piece, end - piece, NR_GAP_SENTENCE);
        if (st != NR_OK)
            return st;
        i = end;
    }
    return NR_OK;
}

static void on_sentence(void *user, const char *s, size_t n) {
    struct chunker *c = user;
    if (c->status != NR_OK)
        return;
    size_t cps = nr__utf8_count(s, n);
    enum nr_status st = NR_OK;
    if (cps > c->max) {
        st = flush(c, NR_GAP_SENTENCE);
        if (st == NR_OK)
            st = split_long(c, s, n);
    } else {
        if (c->cur.len > 0 && c->cur_cps + 1 + cps > c->max)
            st = flush(c, NR_GAP_SENTENCE);
        if (st == NR_OK && c->cur.len > 0) {
            st = nr_buf_append(&c->cur, " ", 1);
            c->cur_cps++;
        }
        if (st == NR_OK) {
            st = nr_buf_append(&c->cur, s, n);
            c->cur_cps += cps;
        }
    }
    c->status = st;
}

/* Chunks one paragraph; its last chunk gets `gap`. */
static enum nr_status chunk_paragraph(struct chunker *c, const char *p, size_t n, enum nr_gap gap) {
    size_t before = c->m->n_chunks;
    nr_text_split_sentences(p, n, on_sentence, c);
    if (c->status != NR_OK)
        return c->status;
    enum nr_status st = flush(c, NR_GAP_SENTENCE);
    if (st != NR_OK)
        return st;
    if (c->m->n_chunks > before)
        c->m->chunks[c->m->n_chunks - 1].gap = gap;
    return NR_OK;
}

/* The spoken form of a chapter title: the title with a final period unless
 * it already ends a sentence (a final : ; or , becomes the period). "" when
 * the title is not announced. */
static char *title_sentence(const struct nr_chapter *ch, size_t chapter) {
    const char *t = ch->title ? ch->title : "";
    size_t n = strlen(t);
    if (n == 0 || (chapter == 0 && strcmp(t, NR__OPENING_TITLE) == 0))
        return nr_strdup("");
    size_t e = n;
    while (e > 0 && (t[e - 1] == '"' || t[e - 1] == '\'' || t[e - 1] == ')'))
        e--;
    int ended = e > 0 && (t[e - 1] == '.' || t[e - 1] == '!' || t[e - 1] == '?');
    int dangling = e == n && (t[n - 1] == ':' || t[n - 1] == ';' || t[n - 1] == ',');
    char *s = nr_malloc(n + 2);
    if (!s)
        return NULL;
    memcpy(s, t, n);
    if (dangling)
        s[n - 1] = '.'; /* "Part One:" is read as "Part One." */
    else if (!ended)
        s[n++] = '.';
    s[n] = '\0';
    return s;
}

static enum nr_status chunk_chapter(struct chunker *c, const struct nr_chapter *ch) {
    char *title = title_sentence(ch, c->chapter);
    if (!title)
        return NR_STATUS_NO_MEMORY;
    enum nr_status st = chunk_paragraph(c, title, strlen(title), NR_GAP_PARAGRAPH);
    nr_free(title);
    const char *t = ch->text ? ch->text : "";
    while (st == NR_OK && *t) {
        const char *e = strstr(t, "\n\n");
        size_t n = e ? (size_t)(e - t) : strlen(t);
        st = chunk_paragraph(c, t, n, NR_GAP_PARAGRAPH);
        t += n;
        while (*t == '\n')
            t++;
    }
    if (st == NR_OK && c->m->n_chunks > 0 && c->m->chunks[c->m->n_chunks - 1].chapter == c->chapter)
        c->m->chunks[c->m->n_chunks - 1].gap = NR_GAP_CHAPTER;
    return st;
}

static enum nr_status copy_book_fields(struct nr_manifest *m, const struct nr_book *book) {
    m->version = NR_MANIFEST_VERSION;
    m->title = nr_strdup(book->title ? book->title : "");
    m->author = nr_strdup(book->author ? book->author : "");
    m->source_path = nr_strdup(book->source_path ? book->source_path : "");
    memcpy(m->source_hash, book->source_hash, sizeof m->source_hash);
    m->source_hash[32] = '\0';
    m->voice = nr_strdup("");
    m->audio_settings = nr_strdup("{}");
    if (!m->title || !m->author || !m->source_path || !m->voice || !m->audio_settings)
        return NR_STATUS_NO_MEMORY;
    if (book->n_chapters > 0) {
        m->chapter_titles = nr_calloc(book->n_chapters, sizeof *m->chapter_titles);
        if (!m->chapter_titles)
            return NR_STATUS_NO_MEMORY;
    }
    m->n_chapters = book->n_chapters;
    for (size_t i = 0; i < book->n_chapters; i++) {
        const char *t = book->chapters[i].title;
        m->chapter_titles[i] = nr_strdup(t ? t : "");
        if (!m->chapter_titles[i])
            return NR_STATUS_NO_MEMORY;
    }
    return NR_OK;
}

enum nr_status nr_manifest_build(const struct nr_book *book, int max_chars,
                                 struct nr_manifest **out, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_manifest_build: out is NULL");
    *out = NULL;
    if (!book)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_manifest_build: book is NULL");
    if (max_chars < 1)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "max_chunk_chars must be at least 1 (got %d)",
                          max_chars);
    struct nr_manifest *m = nr_calloc(1, sizeof *m);
    if (!m)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    m->max_chunk_chars = max_chars;
    struct chunker c = {.m = m, .max = (size_t)max_chars};
    enum nr_status st = copy_book_fields(m, book);
    for (size_t i = 0; st == NR_OK && i < book->n_chapters; i++) {
        c.chapter = i;
        st = chunk_chapter(&c, &book->chapters[i]);
    }
    nr_buf_deinit(&c.cur);
    if (st != NR_OK) {
        nr_manifest_free(m);
        return nr_err_set(err, st, "building the manifest: out of memory");
    }
    if (m->n_chunks == 0) {
        nr_manifest_free(m);
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: the book has no text to read",
                          book->source_path ? book->source_path : "book");
    }
    *out = m;
    return NR_OK;
}
