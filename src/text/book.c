/* nr_book_load: file checks, format dispatch, chapter collection. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "text_internal.h"

void nr_book_free(struct nr_book *book) {
    if (!book)
        return;
    nr_free(book->title);
    nr_free(book->author);
    nr_free(book->source_path);
    if (book->chapters)
        for (size_t i = 0; i < book->n_chapters; i++) {
            nr_free(book->chapters[i].title);
            nr_free(book->chapters[i].text);
        }
    nr_free(book->chapters);
    nr_free(book->cover);
    nr_free(book);
}

/* ---- chapter collection -------------------------------------------------- */

/* "a" + ". " + "b", or "a b" when a already ends with punctuation. */
static char *join_titles(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    int punct = na > 0 && strchr(".!?:", a[na - 1]) != NULL;
    char *s = nr_malloc(na + nb + 3);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    size_t o = na;
    if (!punct)
        s[o++] = '.';
    s[o++] = ' ';
    memcpy(s + o, b, nb);
    s[o + nb] = '\0';
    return s;
}

enum nr_status nr__chapters_add(struct nr__chapters *c, const char *title, const char *text,
                                size_t text_len, struct nr_err *err) {
    char *norm = NULL, *ntitle = NULL;
    enum nr_status st = nr_text_normalize(text, text_len, &norm, err);
    if (st != NR_OK)
        return st;
    if (title && *title) {
        st = nr_text_normalize(title, strlen(title), &ntitle, err);
        if (st != NR_OK) {
            nr_free(norm);
            return st;
        }
        for (char *p = ntitle; *p; p++) /* a title is one line */
            if (*p == '\n')
                *p = ' ';
    }
    if (!*norm) { /* no body: keep the title for the next chapter */
        nr_free(norm);
        if (!ntitle || !*ntitle) {
            nr_free(ntitle);
            return NR_OK;
        }
        if (c->pending) {
            char *j = join_titles(c->pending, ntitle);
            nr_free(ntitle);
            if (!j)
                return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
            ntitle = j;
            nr_free(c->pending);
        }
        c->pending = ntitle;
        return NR_OK;
    }
    if (!ntitle || !*ntitle) {
        nr_free(ntitle);
        ntitle = nr_malloc(32);
        if (ntitle)
            snprintf(ntitle, 32, "Chapter %zu", c->n + 1);
    }
    if (ntitle && c->pending) {
        char *j = join_titles(c->pending, ntitle);
        nr_free(ntitle);
        ntitle = j;
    }
    if (!ntitle || (c->n == c->cap && c->cap > ((size_t)-1) / 2 / sizeof *c->v))
        goto nomem;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct nr_chapter *v = nr_realloc(c->v, cap * sizeof *v);
        if (!v)
            goto nomem;
        c->v = v;
        c->cap = cap;
    }
    nr_free(c->pending);
    c->pending = NULL;
    c->v[c->n].title = ntitle;
    c->v[c->n].text = norm;
    c->n++;
    return NR_OK;
nomem:
    nr_free(ntitle);
    nr_free(norm);
    return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
}

void nr__chapters_move(struct nr__chapters *c, struct nr_book *book) {
    book->chapters = c->v;
    book->n_chapters = c->n;
    c->v = NULL;
    c->n = c->cap = 0;
    nr_free(c->pending);
    c->pending = NULL;
}

void nr__chapters_deinit(struct nr__chapters *c) {
    for (size_t i = 0; i < c->n; i++) {
        nr_free(c->v[i].title);
        nr_free(c->v[i].text);
    }
    nr_free(c->v);
    nr_free(c->pending);
    memset(c, 0, sizeof *c);
}

/* ---- loading ------------------------------------------------------------- */

/* Lower-case extension of path ("" when none), at most 15 characters. */
static void extension(const char *path, char ext[16]) {
    ext[0] = '\0';
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || strlen(dot + 1) >= 16)
        return;
    size_t i = 0;
    for (const char *p = dot + 1; *p; p++)
        ext[i++] = (char)tolower((unsigned char)*p);
    ext[i] = '\0';
}

/* Refuses data that is not text: UTF-16, NUL bytes, or many control bytes. */
static enum nr_status check_text(const char *path, const unsigned char *d, size_t n,
                                 struct nr_err *err) {
    if (n >= 2 && ((d[0] == 0xFF && d[1] == 0xFE) || (d[0] == 0xFE && d[1] == 0xFF)))
        return nr_err_set(err, NR_STATUS_UNSUPPORTED,
                          "%s: UTF-16 text is not supported (save the file as UTF-8)", path);
    if (memchr(d, 0, n))
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: binary file (contains NUL bytes)", path);
    size_t sample = n < 65536 ? n : 65536, control = 0;
    for (size_t i = 0; i < sample; i++)
        if ((d[i] < 0x20 && d[i] != '\n' && d[i] != '\r' && d[i] != '\t' && d[i] != '\f') ||
            d[i] == 0x7F)
            control++;
    if (control * 20 > sample)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: binary file (%zu control bytes in %zu)",
                          path, control, sample);
    return NR_OK;
}

static enum nr_status check_path(const char *path, struct nr_err *err) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path,
                          errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: is a directory, not a book file", path);
    if (!S_ISREG(sb.st_mode))
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "%s: not a regular file", path);
    if (sb.st_size == 0)
        return nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: empty file", path);
    if ((unsigned long long)sb.st_size > NR__TEXT_MAX_FILE)
        return nr_err_set(err, NR_STATUS_UNSUPPORTED, "%s: file too large (%lld bytes, limit %u)",
                          path, (long long)sb.st_size, NR__TEXT_MAX_FILE);
    return NR_OK;
}

enum nr_status nr_book_load(const char *path, struct nr_book **out, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_book_load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_book_load: no path");
    enum nr_status st = check_path(path, err);
    if (st != NR_OK)
        return st;
    char *data = NULL;
    size_t len = 0;
    st = nr_file_read(path, &data, &len, err);
    if (st != NR_OK)
        return st;
    struct nr_book *book = nr_calloc(1, sizeof *book);
    if (!book || !(book->source_path = nr_strdup(path))) {
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
        goto done;
    }
    nr_hash_hex(data, len, book->source_hash);
    char ext[16];
    extension(path, ext);
    if (len == 0) {
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: empty file", path);
    } else if (strcmp(ext, "epub") == 0) {
        st = nr__book_parse_epub(book, path, data, len, err);
    } else {
        st = check_text(path, (const unsigned char *)data, len, err);
        if (st == NR_OK)
            st = nr__book_parse_plain(book, path, data, len,
                                      strcmp(ext, "md") == 0 || strcmp(ext, "markdown") == 0, err);
    }
    if (st == NR_OK && book->n_chapters == 0)
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: no text found", path);
    if (st == NR_OK && (!book->title || !book->author))
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
done:
    nr_free(data);
    if (st != NR_OK) {
        nr_book_free(book);
        return st;
    }
    *out = book;
    return NR_OK;
}
