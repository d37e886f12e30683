/* Plain-text and Markdown books: blocks, chapter detection, book title and
 * author. The file is normalized first, so lines are trimmed and there is at
 * most one blank line between paragraphs. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "text_internal.h"

enum block_kind { BLOCK_PARA, BLOCK_HEAD };

struct block {
    enum block_kind kind;
    int level;       /* heading level 1-6; 2 for "Chapter 12" lines */
    int is_pattern;  /* a "Chapter 12" line rather than Markdown syntax */
    size_t off, len; /* text in the parser's store */
};

struct parser {
    int md;
    int line_paragraphs; /* no blank lines in the file: each line is a paragraph */
    struct nr_buf store; /* block texts, back to back */
    struct nr_buf para;  /* lines of the paragraph being read, joined by ' ' */
    size_t para_lines;
    struct block *v;
    size_t n, cap;
};

static enum nr_status push_block(struct parser *p, enum block_kind kind, int level, int pattern,
                                 const char *s, size_t n) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct block *v = nr_realloc(p->v, cap * sizeof *v);
        if (!v)
            return NR_STATUS_NO_MEMORY;
        p->v = v;
        p->cap = cap;
    }
    size_t off = p->store.len;
    enum nr_status st =
        p->md ? nr__markdown_inline(&p->store, s, n) : nr_buf_append(&p->store, s, n);
    if (st != NR_OK)
        return st;
    p->v[p->n++] = (struct block){kind, level, pattern, off, p->store.len - off};
    return NR_OK;
}

static enum nr_status end_para(struct parser *p) {
    if (p->para_lines == 0)
        return NR_OK;
    enum nr_status st = push_block(p, BLOCK_PARA, 0, 0, p->para.data, p->para.len);
    p->para.len = 0;
    p->para_lines = 0;
    return st;
}

static enum nr_status add_line(struct parser *p, const char *s, size_t n) {
    enum nr_status st = NR_OK;
    if (p->para_lines > 0)
        st = nr_buf_append(&p->para, " ", 1);
    if (st == NR_OK)
        st = nr_buf_append(&p->para, s, n);
    p->para_lines++;
    if (st == NR_OK && p->line_paragraphs)
        st = end_para(p);
    return st;
}

static int all_chars(const char *s, size_t n, char c, size_t min) {
    if (n < min)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != c)
            return 0;
    return 1;
}

/* "---", "***", "_ _ _": a thematic break. */
static int is_rule(const char *s, size_t n) {
    if (n == 0 || (s[0] != '-' && s[0] != '*' && s[0] != '_'))
        return 0;
    size_t marks = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == s[0])
            marks++;
        else if (s[i] != ' ')
            return 0;
    }
    return marks >= 3;
}

/* Length of a list marker ("- ", "* ", "+ ", "12. ", "3) ") at s, or 0. */
static size_t list_marker(const char *s, size_t n) {
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ')
        return 2;
    size_t d = 0;
    while (d < n && d < 9 && isdigit((unsigned char)s[d]))
        d++;
    if (d > 0 && d + 1 < n && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ')
        return d + 2;
    return 0;
}

/* ATX heading: sets *level and the text range; 0 when not a heading. */
static int atx_heading(const char *s, size_t n, int *level, size_t *ts, size_t *tn) {
    size_t h = 0;
    while (h < n && s[h] == '#')
        h++;
    if (h == 0 || h > 6 || (h < n && s[h] != ' '))
        return 0;
    size_t a = h, b = n;
    while (a < b && s[a] == ' ')
        a++;
    while (b > a && s[b - 1] == '#') /* closing hashes */
        b--;
    if (b < n && b > a && s[b - 1] != ' ')
        b = n; /* "# C#" keeps its hash */
    while (b > a && s[b - 1] == ' ')
        b--;
    *level = (int)h;
    *ts = a;
    *tn = b - a;
    return 1;
}

static enum nr_status md_line(struct parser *p, const char *s, size_t n, int *in_fence) {
    if (n >= 3 && (memcmp(s, "```", 3) == 0 || memcmp(s, "~~~", 3) == 0)) {
        *in_fence = !*in_fence;
        return end_para(p);
    }
    if (*in_fence)
        return NR_OK;
    int level;
    size_t ts, tn;
    if (atx_heading(s, n, &level, &ts, &tn)) {
        enum nr_status st = end_para(p);
        return st != NR_OK ? st : push_block(p, BLOCK_HEAD, level, 0, s + ts, tn);
    }
    if ((all_chars(s, n, '=', 2) || all_chars(s, n, '-', 2)) && p->para_lines == 1) {
        /* Setext heading: the one-line paragraph above becomes a heading */
        enum nr_status st =
            push_block(p, BLOCK_HEAD, s[0] == '=' ? 1 : 2, 0, p->para.data, p->para.len);
        p->para.len = 0;
        p->para_lines = 0;
        return st;
    }
    if (is_rule(s, n) || all_chars(s, n, '=', 2))
        return end_para(p);
    if (s[0] == '[') { /* "[label]: url" reference definitions are not text */
        const char *rb = memchr(s, ']', n);
        if (rb && (size_t)(rb - s) + 1 < n && rb[1] == ':')
            return NR_OK;
    }
    if (nr__is_chapter_line(s, n)) {
        enum nr_status st = end_para(p);
        return st != NR_OK ? st : push_block(p, BLOCK_HEAD, 2, 1, s, n);
    }
    while (n > 0 && s[0] == '>') { /* block quote markers */
        s++, n--;
        while (n > 0 && s[0] == ' ')
            s++, n--;
    }
    if (n == 0)
        return end_para(p);
    size_t lm = list_marker(s, n);
    if (lm) {
        enum nr_status st = end_para(p);
        if (st != NR_OK)
            return st;
        s += lm, n -= lm;
    }
    return add_line(p, s, n);
}

static enum nr_status parse_lines(struct parser *p, const char *text) {
    int in_fence = 0;
    enum nr_status st = NR_OK;
    for (const char *s = text; st == NR_OK && *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 && !in_fence)
            st = end_para(p);
        else if (p->md)
            st = md_line(p, s, n, &in_fence);
        else if (nr__is_chapter_line(s, n)) {
            st = end_para(p);
            if (st == NR_OK)
                st = push_block(p, BLOCK_HEAD, 2, 1, s, n);
        } else
            st = add_line(p, s, n);
        s += n + (e ? 1 : 0);
    }
    return st == NR_OK ? end_para(p) : st;
}

/* ---- from blocks to chapters ------------------------------------------------ */

struct assembly {
    struct parser *p;
    long title_block; /* the single H1, or -1 */
    const char *path;
    struct nr_err *err;
};

static const char *btext(const struct parser *p, const struct block *b) {
    return p->store.data + b->off;
}

static int is_break(const struct assembly *a, size_t i) {
    const struct block *b = &a->p->v[i];
    return b->kind == BLOCK_HEAD && (long)i != a->title_block && (b->is_pattern || b->level <= 2);
}

/* "by Jane Doe": a short line naming the author. Returns the name offset. */
static size_t author_line(const char *s, size_t n) {
    if (n < 4 || n > 80 || strncasecmp(s, "by ", 3) != 0 || strchr("!?", s[n - 1]))
        return 0;
    size_t words = 0;
    for (size_t i = 3; i < n; i++)
        words += s[i] == ' ';
    return words < 8 ? 3 : 0;
}

static char *dup_range(const char *s, size_t n) {
    while (n > 0 && s[0] == ' ')
        s++, n--;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return nr_strndup(s, n);
}

/* Adds blocks [from, to) as one chapter, skipping the title and removed ones. */
static enum nr_status add_range(struct assembly *a, struct nr__chapters *ch, const char *title,
                                size_t from, size_t to, const unsigned char *removed,
                                int keep_empty) {
    struct nr_buf body = {0};
    enum nr_status st = NR_OK;
    for (size_t i = from; st == NR_OK && i < to; i++) {
        const struct block *b = &a->p->v[i];
        if ((long)i == a->title_block || removed[i] || b->len == 0)
            continue;
        if (body.len)
            st = nr_buf_append(&body, "\n\n", 2);
        if (st == NR_OK)
            st = nr_buf_append(&body, btext(a->p, b), b->len);
    }
    if (st == NR_OK && (body.len > 0 || keep_empty))
        st = nr__chapters_add(ch, title, body.data ? body.data : "", body.len, a->err);
    else if (st != NR_OK)
        st = nr_err_set(a->err, st, "out of memory");
    nr_buf_deinit(&body);
    return st;
}

/* Finds the author line and a plain-text title line in the preamble. */
static enum nr_status preamble_meta(struct assembly *a, struct nr_book *book, size_t end,
                                    unsigned char *removed) {
    struct parser *p = a->p;
    for (size_t i = 0, seen = 0; i < end && seen < 3; i++) {
        const struct block *b = &p->v[i];
        if (b->kind != BLOCK_PARA)
            continue;
        seen++;
        size_t at = author_line(btext(p, b), b->len);
        if (!at)
            continue;
        book->author = dup_range(btext(p, b) + at, b->len - at);
        if (!book->author)
            return NR_STATUS_NO_MEMORY;
        removed[i] = 1;
        /* the short line just above, without a title H1, is the title */
        const struct block *above = i > 0 ? &p->v[i - 1] : NULL;
        if (a->title_block < 0 && above && above->kind == BLOCK_PARA && above->len > 0 &&
            above->len <= 100 && !strchr(".!?", btext(p, above)[above->len - 1])) {
            book->title = dup_range(btext(p, &p->v[i - 1]), p->v[i - 1].len);
            if (!book->title)
                return NR_STATUS_NO_MEMORY;
            removed[i - 1] = 1;
        }
        break;
    }
    return NR_OK;
}

static char *file_stem(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return nr_strndup(base, n);
}

static enum nr_status assemble(struct assembly *a, struct nr_book *book) {
    struct parser *p = a->p;
    a->title_block = -1;
    size_t h1 = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->md && p->v[i].kind == BLOCK_HEAD && !p->v[i].is_pattern && p->v[i].level == 1) {
            h1++;
            a->title_block = (long)i;
        }
    if (h1 != 1)
        a->title_block = -1;
    size_t first = 0;
    while (first < p->n && !is_break(a, first))
        first++;
    unsigned char *removed = nr_calloc(p->n ? p->n : 1, 1);
    if (!removed)
        return nr_err_set(a->err, NR_STATUS_NO_MEMORY, "out of memory");
    struct nr__chapters ch = {0};
    enum nr_status st = NR_OK;
    if (a->title_block >= 0 &&
        !(book->title = nr_strndup(btext(p, &p->v[a->title_block]), p->v[a->title_block].len)))
        st = nr_err_set(a->err, NR_STATUS_NO_MEMORY, "out of memory");
    if (st == NR_OK && preamble_meta(a, book, first, removed) != NR_OK)
        st = nr_err_set(a->err, NR_STATUS_NO_MEMORY, "out of memory");
    if (st == NR_OK) {
        /* without chapter headings the book title names the one chapter */
        const char *t = first == p->n ? book->title : NR__OPENING_TITLE;
        st = add_range(a, &ch, t, 0, first, removed, 0);
    }
    for (size_t i = first; st == NR_OK && i < p->n;) {
        size_t j = i + 1;
        while (j < p->n && !is_break(a, j))
            j++;
        char *title = nr_strndup(btext(p, &p->v[i]), p->v[i].len);
        if (!title) {
            st = nr_err_set(a->err, NR_STATUS_NO_MEMORY, "out of memory");
            break;
        }
        st = add_range(a, &ch, title, i + 1, j, removed, 1);
        nr_free(title);
        i = j;
    }
    if (st == NR_OK && !book->title)
        book->title = file_stem(a->path);
    if (st == NR_OK && !book->author)
        book->author = nr_strdup("");
    if (st == NR_OK)
        nr__chapters_move(&ch, book);
    nr__chapters_deinit(&ch);
    nr_free(removed);
    return st;
}

enum nr_status nr__book_parse_plain(struct nr_book *book, const char *path, const char *data,
                                    size_t len, int is_markdown, struct nr_err *err) {
    char *text = NULL;
    struct nr_err local = {0};
    enum nr_status st = nr_text_normalize(data, len, &text, &local);
    if (st != NR_OK)
        return nr_err_set(err, st, "%s: %s", path, local.msg);
    struct parser p = {.md = is_markdown};
    p.line_paragraphs = !is_markdown && !strstr(text, "\n\n");
    st = parse_lines(&p, text);
    nr_free(text);
    if (st != NR_OK) {
        st = nr_err_set(err, st, "%s: out of memory", path);
    } else {
        struct assembly a = {.p = &p, .path = path, .err = &local};
        st = assemble(&a, book);
        if (st != NR_OK)
            st = nr_err_set(err, st, "%s: %s", path, local.msg);
    }
    nr_buf_deinit(&p.store);
    nr_buf_deinit(&p.para);
    nr_free(p.v);
    return st;
}
