/* EPUB 2 and 3: META-INF/container.xml -> OPF -> spine, titles from the
 * EPUB 3 nav or the EPUB 2 NCX, cover image. The archive is read from
 * memory with libzip; XML with libxml2 without network access, without
 * loading DTDs and without substituting entities, and every decompressed
 * entry is capped, so hostile files fail cleanly. */
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

#include "text_internal.h"

#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

struct item {
    char *id, *path, *media, *props; /* path: resolved archive path */
};

struct toc_entry {
    char *path, *title;
};

struct epub {
    const char *path; /* the book file, for messages */
    struct nr_err *err;
    zip_t *za;
    size_t total; /* decompressed bytes so far */
    struct item *items;
    size_t n_items;
    struct toc_entry *toc;
    size_t n_toc, cap_toc;
};

static enum nr_status nomem(struct epub *e) {
    return nr_err_set(e->err, NR_STATUS_NO_MEMORY, "%s: out of memory", e->path);
}

/* ---- zip ------------------------------------------------------------------- */

/* Reads an archive entry (NUL-terminated). A missing entry is
 * NR_STATUS_BAD_FORMAT "<path>: <what> '<name>' is missing". */
static enum nr_status read_entry(struct epub *e, const char *name, const char *what, char **out,
                                 size_t *len) {
    *out = NULL;
    *len = 0;
    zip_int64_t idx = zip_name_locate(e->za, name, 0);
    if (idx < 0)
        idx = zip_name_locate(e->za, name, ZIP_FL_NOCASE);
    if (idx < 0)
        return nr_err_set(e->err, NR_STATUS_BAD_FORMAT, "%s: %s '%s' is missing from the archive",
                          e->path, what, name);
    zip_stat_t zs;
    if (zip_stat_index(e->za, (zip_uint64_t)idx, 0, &zs) == 0 && (zs.valid & ZIP_STAT_SIZE) &&
        zs.size > NR__ZIP_MAX_ENTRY)
        return nr_err_set(e->err, NR_STATUS_UNSUPPORTED, "%s: '%s' is too large (%llu bytes)",
                          e->path, name, (unsigned long long)zs.size);
    zip_file_t *zf = zip_fopen_index(e->za, (zip_uint64_t)idx, 0);
    if (!zf)
        return nr_err_set(e->err, NR_STATUS_BAD_FORMAT, "%s: cannot open '%s': %s", e->path, name,
                          zip_strerror(e->za));
    struct nr_buf b = {0};
    enum nr_status st = NR_OK;
    char chunk[16384];
    for (;;) {
        zip_int64_t got = zip_fread(zf, chunk, sizeof chunk);
        if (got < 0) {
            st = nr_err_set(e->err, NR_STATUS_BAD_FORMAT, "%s: cannot read '%s': %s", e->path, name,
                            zip_file_strerror(zf));
            break;
        }
        if (got == 0)
            break;
        if (b.len + (size_t)got > NR__ZIP_MAX_ENTRY || e->total + (size_t)got > NR__ZIP_MAX_TOTAL) {
            st = nr_err_set(e->err, NR_STATUS_UNSUPPORTED, "%s: '%s' is too large", e->path, name);
            break;
        }
        e->total += (size_t)got;
        if (nr_buf_append(&b, chunk, (size_t)got) != NR_OK) {
            st = nomem(e);
            break;
        }
    }
    zip_fclose(zf);
    if (st != NR_OK) {
        nr_buf_deinit(&b);
        return st;
    }
    *len = b.len;
    *out = nr_buf_take(&b);
    return *out ? NR_OK : nomem(e);
}

/* ---- paths ----------------------------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Resolves href (relative to the folder `base`, which is "" or ends in '/')
 * to an archive path: fragment dropped, %XX decoded, "." and ".." applied. */
static char *resolve(const char *base, const char *href) {
    size_t hn = strcspn(href, "#?");
    size_t bn = href[0] == '/' ? 0 : strlen(base);
    char *s = nr_malloc(bn + hn + 1);
    if (!s)
        return NULL;
    memcpy(s, base, bn);
    size_t o = bn;
    for (size_t i = 0; i < hn; i++) {
        int hi, lo;
        if (href[i] == '%' && i + 2 < hn && (hi = hexval(href[i + 1])) >= 0 &&
            (lo = hexval(href[i + 2])) >= 0) {
            s[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            s[o++] = href[i];
        }
    }
    s[o] = '\0';
    /* apply segments in place */
    size_t w = 0;
    for (size_t r = 0; r < o;) {
        size_t e = r;
        while (e < o && s[e] != '/')
            e++;
        size_t n = e - r;
        if (n == 0 || (n == 1 && s[r] == '.')) {
            /* skip */
        } else if (n == 2 && s[r] == '.' && s[r + 1] == '.') {
            while (w > 0 && s[w - 1] != '/')
                w--;
            if (w > 0)
                w--; /* the slash before the removed segment */
        } else {
            if (w > 0 && s[w - 1] != '/')
                s[w++] = '/';
            memmove(s + w, s + r, n);
            w += n;
        }
        r = e + 1;
    }
    s[w] = '\0';
    return s;
}

/* The folder part of an archive path, with its trailing '/' ("" for none). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return nr_strndup(path, slash ? (size_t)(slash - path) + 1 : 0);
}

/* ---- XML helpers ----------------------------------------------------------- */

static int named(const xmlNode *n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && n->name &&
           strcasecmp((const char *)n->name, name) == 0;
}

static const char *attr(const xmlNode *n, const char *name) {
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->name && strcmp((const char *)a->name, name) == 0 && a->children &&
            (a->children->type == XML_TEXT_NODE) && a->children->content)
            return (const char *)a->children->content;
    return NULL;
}

/* Next node in document order below root (children first), or NULL. */
static xmlNode *next_node(xmlNode *n, const xmlNode *root, int descend) {
    if (descend && n->children && n->type == XML_ELEMENT_NODE)
        return n->children;
    while (n && n != root && !n->next)
        n = n->parent;
    return (n && n != root) ? n->next : NULL;
}

/* Concatenated text below n (text and CDATA only; entity references are
 * not followed). Caller frees. */
static char *node_text(xmlNode *n) {
    struct nr_buf b = {0};
    if (nr_buf_append(&b, "", 0) != NR_OK)
        return NULL;
    for (xmlNode *c = n->children; c; c = next_node(c, n, 1)) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content &&
            nr_buf_append(&b, c->content, strlen((const char *)c->content)) != NR_OK) {
            nr_buf_deinit(&b);
            return NULL;
        }
    }
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '\n' || b.data[i] == '\t' || b.data[i] == '\r')
            b.data[i] = ' ';
    return nr_buf_take(&b);
}

static xmlDoc *parse_xml(const char *data, size_t len) {
    if (len > (size_t)0x7FFFFFFF)
        return NULL;
    struct nr__xml_quiet q;
    nr__xml_quiet_begin(&q);
    xmlDoc *doc = xmlReadMemory(data, (int)len, NULL, NULL, XML_OPTIONS);
    nr__xml_quiet_end(&q);
    return doc;
}

/* First element named `name` below n, in document order. */
static xmlNode *find(xmlNode *n, const char *name) {
    for (xmlNode *c = n; c; c = next_node(c, n, 1))
        if (named(c, name))
            return c;
    return NULL;
}

/* ---- container and OPF ----------------------------------------------------- */

static enum nr_status opf_path(struct epub *e, char **out) {
    *out = NULL;
    char *data;
    size_t len;
    if (zip_name_locate(e->za, "META-INF/container.xml", ZIP_FL_NOCASE) < 0)
        return nr_err_set(e->err, NR_STATUS_BAD_FORMAT,
                          "%s: not an EPUB (no META-INF/container.xml in the archive)", e->path);
    enum nr_status st = read_entry(e, "META-INF/container.xml", "container", &data, &len);
    if (st != NR_OK)
        return st;
    xmlDoc *doc = parse_xml(data, len);
    nr_free(data);
    const char *full = NULL;
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    for (xmlNode *n = root; n && !full; n = next_node(n, root, 1))
        if (named(n, "rootfile"))
            full = attr(n, "full-path");
    int found = full && *full;
    if (found)
        *out = resolve("", full);
    xmlFreeDoc(doc);
    if (!found)
        return nr_err_set(e->err, NR_STATUS_BAD_FORMAT,
                          "%s: not an EPUB (META-INF/container.xml names no rootfile)", e->path);
    return *out ? NR_OK : nomem(e);
}

static enum nr_status add_item(struct epub *e, xmlNode *n, const char *base) {
    const char *id = attr(n, "id"), *href = attr(n, "href");
    if (!id || !href || e->n_items >= NR__EPUB_MAX_ITEMS)
        return NR_OK;
    const char *media = attr(n, "media-type"), *props = attr(n, "properties");
    struct item *it = &e->items[e->n_items];
    it->id = nr_strdup(id);
    it->path = resolve(base, href);
    it->media = nr_strdup(media ? media : "");
    it->props = nr_strdup(props ? props : "");
    e->n_items++;
    if (!it->id || !it->path || !it->media || !it->props)
        return nomem(e);
    return NR_OK;
}

static const struct item *item_by_id(const struct epub *e, const char *id) {
    for (size_t i = 0; id && i < e->n_items; i++)
        if (strcmp(e->items[i].id, id) == 0)
            return &e->items[i];
    return NULL;
}

/* 1 when the space-separated list `props` holds `word`. */
static int has_token(const char *props, const char *word) {
    size_t wn = strlen(word);
    for (const char *p = props; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == wn && strncmp(p, word, n) == 0)
            return 1;
        p += n;
    }
    return 0;
}

/* ---- table of contents ------------------------------------------------------ */

static enum nr_status add_toc(struct epub *e, const char *base, const char *href, char *title) {
    if (!href || !title || e->n_toc >= NR__EPUB_MAX_ITEMS) {
        nr_free(title);
        return title || !href ? NR_OK : nomem(e);
    }
    if (e->n_toc == e->cap_toc) {
        size_t cap = e->cap_toc ? e->cap_toc * 2 : 32;
        struct toc_entry *v = nr_realloc(e->toc, cap * sizeof *v);
        if (!v) {
            nr_free(title);
            return nomem(e);
        }
        e->toc = v;
        e->cap_toc = cap;
    }
    char *path = resolve(base, href);
    if (!path) {
        nr_free(title);
        return nomem(e);
    }
    e->toc[e->n_toc++] = (struct toc_entry){path, title};
    return NR_OK;
}

/* EPUB 3 navigation document: the links of <nav epub:type="toc">. */
static enum nr_status read_nav(struct epub *e, const struct item *nav) {
    char *data;
    size_t len;
    enum nr_status st = read_entry(e, nav->path, "navigation document", &data, &len);
    if (st != NR_OK)
        return st;
    xmlDoc *doc = nr__html_parse(data, len);
    nr_free(data);
    char *base = dir_of(nav->path);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL, *navel = NULL;
    for (xmlNode *n = root; n && !navel; n = next_node(n, root, 1)) {
        const char *type = named(n, "nav") ? attr(n, "epub:type") : NULL;
        if (!type)
            type = named(n, "nav") ? attr(n, "type") : NULL;
        if (type && has_token(type, "toc"))
            navel = n;
    }
    if (!navel && root)
        navel = find(root, "nav");
    if (!base)
        st = nomem(e);
    for (xmlNode *n = navel; st == NR_OK && n; n = next_node(n, navel, 1))
        if (named(n, "a"))
            st = add_toc(e, base, attr(n, "href"), node_text(n));
    nr_free(base);
    xmlFreeDoc(doc);
    return st;
}

/* EPUB 2 NCX: every navPoint's label and content src, in document order. */
static enum nr_status read_ncx(struct epub *e, const struct item *ncx) {
    char *data;
    size_t len;
    enum nr_status st = read_entry(e, ncx->path, "NCX table of contents", &data, &len);
    if (st != NR_OK)
        return st;
    xmlDoc *doc = parse_xml(data, len);
    nr_free(data);
    char *base = dir_of(ncx->path);
    if (!base)
        st = nomem(e);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    for (xmlNode *n = root; st == NR_OK && n; n = next_node(n, root, 1)) {
        if (!named(n, "navPoint"))
            continue;
        xmlNode *label = NULL, *content = NULL;
        for (xmlNode *c = n->children; c; c = c->next) {
            if (named(c, "navLabel") && !label)
                label = c;
            if (named(c, "content") && !content)
                content = c;
        }
        if (label && content)
            st = add_toc(e, base, attr(content, "src"), node_text(label));
    }
    nr_free(base);
    xmlFreeDoc(doc);
    return st;
}

static const char *toc_title(const struct epub *e, const char *path) {
    for (size_t i = 0; i < e->n_toc; i++)
        if (strcmp(e->toc[i].path, path) == 0 && e->toc[i].title[0])
            return e->toc[i].title;
    return NULL;
}

/* A spine document's text and the byte range of its first heading. */
struct xhtml_text {
    struct nr_buf text;
    size_t head_start, head_end;
};

/* Case-insensitive equality after the titles were normalized. */
static int same_title(const char *a, const char *b) {
    return strcasecmp(a, b) == 0;
}

/* 1 for a title page: a document titled with the book's title whose text
 * is nothing but "by <author>" (or nothing). Its content is already in the
 * book's title and author, so it is not read as a chapter. */
static int is_title_page(const struct nr_book *book, const char *title, const char *text) {
    if (!title || !book->title || strcasecmp(title, book->title) != 0)
        return 0;
    if (!*text)
        return 1;
    if (strncasecmp(text, "by ", 3) == 0)
        text += 3;
    return book->author && *book->author && strcasecmp(text, book->author) == 0;
}

/* Normalizes s[0..n) of spine document it into *out. */
static enum nr_status normalize_in(struct epub *e, const struct item *it, const char *s, size_t n,
                                   char **out) {
    struct nr_err local = {0};
    enum nr_status st = nr_text_normalize(s, n, out, &local);
    if (st == NR_STATUS_NO_MEMORY)
        return nomem(e);
    if (st != NR_OK)
        return nr_err_set(e->err, st, "%s: '%s': %s", e->path, it->path, local.msg);
    return NR_OK;
}

/* Picks the title of a spine document (NULL: "Chapter N"). The first
 * heading is blanked out of the text when it leads the document and is (or
 * extends) the TOC title, so the title is not read twice. */
static enum nr_status choose_title(struct epub *e, const struct item *it, struct xhtml_text *x,
                                   char **title) {
    *title = NULL;
    const char *toc = toc_title(e, it->path);
    if (x->head_end <= x->head_start)
        return toc && !(*title = nr_strdup(toc)) ? nomem(e) : NR_OK;
    char *heading = NULL;
    enum nr_status st =
        normalize_in(e, it, x->text.data + x->head_start, x->head_end - x->head_start, &heading);
    if (st != NR_OK)
        return st;
    size_t lead = 0; /* only whitespace before the heading? */
    while (lead < x->head_start && (x->text.data[lead] == ' ' || x->text.data[lead] == '\n'))
        lead++;
    if (lead == x->head_start && *heading &&
        (!toc || same_title(toc, heading) || strncasecmp(heading, toc, strlen(toc)) == 0)) {
        memset(x->text.data + x->head_start, ' ', x->head_end - x->head_start);
        *title = heading;
        return NR_OK;
    }
    *title = nr_strdup(toc ? toc : heading);
    nr_free(heading);
    return *title ? NR_OK : nomem(e);
}

/* Adds one spine document as a chapter. A document with no text at all (a
 * cover page) is skipped; one that held only its heading passes the title
 * on to the next chapter; a title page is skipped. */
static enum nr_status add_document(struct epub *e, struct nr__chapters *ch, const struct item *it,
                                   const struct nr_book *book) {
    char *data, *norm = NULL, *title = NULL;
    size_t len;
    enum nr_status st = read_entry(e, it->path, "spine item", &data, &len);
    if (st != NR_OK)
        return st;
    struct xhtml_text x = {0};
    st = nr__xhtml_text(data, len, &x.text, &x.head_start, &x.head_end);
    nr_free(data);
    if (st != NR_OK)
        st = nomem(e);
    if (st == NR_OK)
        st = choose_title(e, it, &x, &title);
    if (st == NR_OK)
        st = normalize_in(e, it, x.text.data, x.text.len, &norm);
    if (st == NR_OK && (*norm || x.head_end > x.head_start) && !is_title_page(book, title, norm))
        st = nr__chapters_add(ch, title, norm, strlen(norm), e->err);
    nr_free(norm);
    nr_free(title);
    nr_buf_deinit(&x.text);
    return st;
}

/* ---- cover ------------------------------------------------------------------- */

static enum nr_status read_cover(struct epub *e, struct nr_book *book, const char *cover_id) {
    const struct item *cover = NULL;
    for (size_t i = 0; i < e->n_items && !cover; i++)
        if (has_token(e->items[i].props, "cover-image"))
            cover = &e->items[i];
    if (!cover)
        cover = item_by_id(e, cover_id);
    if (!cover || zip_name_locate(e->za, cover->path, 0) < 0)
        return NR_OK; /* no cover, or a dangling one: the book reads the same */
    char *data;
    size_t len;
    enum nr_status st = read_entry(e, cover->path, "cover image", &data, &len);
    if (st != NR_OK)
        return st;
    const unsigned char *u = (const unsigned char *)data;
    const char *mime = "";
    if (len >= 8 && memcmp(u, "\x89PNG\r\n\x1a\n", 8) == 0)
        mime = "image/png";
    else if (len >= 3 && u[0] == 0xFF && u[1] == 0xD8 && u[2] == 0xFF)
        mime = "image/jpeg";
    else if (strncmp(cover->media, "image/", 6) == 0 &&
             strlen(cover->media) < sizeof book->cover_mime)
        mime = cover->media;
    if (!*mime || len == 0) {
        nr_free(data);
        return NR_OK;
    }
    book->cover = (unsigned char *)data;
    book->cover_len = len;
    snprintf(book->cover_mime, sizeof book->cover_mime, "%s", mime);
    return NR_OK;
}

/* ---- OPF --------------------------------------------------------------------- */

struct opf {
    xmlDoc *doc;
    xmlNode *root;
    char *base;           /* folder of the OPF */
    const char *cover_id; /* EPUB 2 <meta name="cover" content="ID"> */
    const char *toc_id;   /* <spine toc="ID"> */
};

/* dc:title and the dc:creator list ("A, B") into the book. */
static enum nr_status read_metadata(struct epub *e, struct opf *o, struct nr_book *book) {
    xmlNode *meta = find(o->root, "metadata");
    struct nr_buf authors = {0};
    enum nr_status st = nr_buf_append(&authors, "", 0);
    for (xmlNode *n = meta ? meta->children : NULL; st == NR_OK && n; n = n->next) {
        if (named(n, "title") && !book->title) {
            char *t = node_text(n), *norm = NULL;
            struct nr_err local = {0};
            if (!t || nr_text_normalize(t, strlen(t), &norm, &local) != NR_OK)
                st = NR_STATUS_NO_MEMORY;
            nr_free(t);
            if (norm && *norm)
                book->title = norm;
            else
                nr_free(norm);
        } else if (named(n, "creator")) {
            char *t = node_text(n), *norm = NULL;
            struct nr_err local = {0};
            if (!t || nr_text_normalize(t, strlen(t), &norm, &local) != NR_OK)
                st = NR_STATUS_NO_MEMORY;
            if (st == NR_OK && *norm && authors.len)
                st = nr_buf_append(&authors, ", ", 2);
            if (st == NR_OK && *norm)
                st = nr_buf_append(&authors, norm, strlen(norm));
            nr_free(t);
            nr_free(norm);
        } else if (named(n, "meta")) {
            const char *name = attr(n, "name");
            if (name && strcmp(name, "cover") == 0)
                o->cover_id = attr(n, "content");
        }
    }
    if (st == NR_OK && !(book->author = nr_buf_take(&authors)))
        st = NR_STATUS_NO_MEMORY;
    nr_buf_deinit(&authors);
    return st == NR_OK ? NR_OK : nomem(e);
}

static enum nr_status read_opf(struct epub *e, struct opf *o, struct nr_book *book) {
    char *opf = NULL, *data = NULL;
    size_t len;
    enum nr_status st = opf_path(e, &opf);
    if (st == NR_OK)
        st = read_entry(e, opf, "package document", &data, &len);
    if (st == NR_OK) {
        o->doc = parse_xml(data, len);
        o->root = o->doc ? xmlDocGetRootElement(o->doc) : NULL;
        if (!o->root || !named(o->root, "package"))
            st = nr_err_set(e->err, NR_STATUS_BAD_FORMAT,
                            "%s: package document '%s' is not valid XML", e->path, opf);
    }
    if (st == NR_OK && !(o->base = dir_of(opf)))
        st = nomem(e);
    nr_free(data);
    nr_free(opf);
    if (st != NR_OK)
        return st;
    st = read_metadata(e, o, book);
    xmlNode *manifest = find(o->root, "manifest");
    if (st == NR_OK && manifest) {
        e->items = nr_calloc(NR__EPUB_MAX_ITEMS, sizeof *e->items);
        if (!e->items)
            return nomem(e);
        for (xmlNode *n = manifest->children; st == NR_OK && n; n = n->next)
            if (named(n, "item"))
                st = add_item(e, n, o->base);
    }
    xmlNode *spine = find(o->root, "spine");
    if (st == NR_OK && !spine)
        st = nr_err_set(e->err, NR_STATUS_BAD_FORMAT, "%s: the package document has no spine",
                        e->path);
    if (st == NR_OK)
        o->toc_id = attr(spine, "toc");
    return st;
}

static enum nr_status read_toc(struct epub *e, const struct opf *o) {
    for (size_t i = 0; i < e->n_items; i++)
        if (has_token(e->items[i].props, "nav"))
            return read_nav(e, &e->items[i]);
    const struct item *ncx = item_by_id(e, o->toc_id);
    for (size_t i = 0; i < e->n_items && !ncx; i++)
        if (strcmp(e->items[i].media, "application/x-dtbncx+xml") == 0)
            ncx = &e->items[i];
    if (!ncx || zip_name_locate(e->za, ncx->path, 0) < 0)
        return NR_OK; /* titles then come from headings */
    return read_ncx(e, ncx);
}

static int is_document(const struct item *it) {
    return strcmp(it->media, "application/xhtml+xml") == 0 || strcmp(it->media, "text/html") == 0 ||
           (it->media[0] == '\0');
}

static enum nr_status read_spine(struct epub *e, const struct opf *o, struct nr__chapters *ch,
                                 const struct nr_book *book) {
    xmlNode *spine = find(o->root, "spine");
    enum nr_status st = NR_OK;
    size_t count = 0;
    for (xmlNode *n = spine->children; st == NR_OK && n; n = n->next) {
        if (!named(n, "itemref"))
            continue;
        if (++count > NR__EPUB_MAX_ITEMS)
            return nr_err_set(e->err, NR_STATUS_UNSUPPORTED, "%s: more than %u spine items",
                              e->path, NR__EPUB_MAX_ITEMS);
        const char *idref = attr(n, "idref"), *linear = attr(n, "linear");
        const struct item *it = item_by_id(e, idref);
        if (!it)
            return nr_err_set(e->err, NR_STATUS_BAD_FORMAT,
                              "%s: spine names '%s', which the manifest does not list", e->path,
                              idref ? idref : "(no idref)");
        if ((linear && strcmp(linear, "no") == 0) || has_token(it->props, "nav") ||
            !is_document(it))
            continue; /* auxiliary content, the table of contents, images */
        st = add_document(e, ch, it, book);
    }
    return st;
}

static void epub_deinit(struct epub *e, struct opf *o) {
    for (size_t i = 0; i < e->n_items; i++) {
        nr_free(e->items[i].id);
        nr_free(e->items[i].path);
        nr_free(e->items[i].media);
        nr_free(e->items[i].props);
    }
    nr_free(e->items);
    for (size_t i = 0; i < e->n_toc; i++) {
        nr_free(e->toc[i].path);
        nr_free(e->toc[i].title);
    }
    nr_free(e->toc);
    nr_free(o->base);
    xmlFreeDoc(o->doc);
    zip_discard(e->za);
}

enum nr_status nr__book_parse_epub(struct nr_book *book, const char *path, const char *data,
                                   size_t len, struct nr_err *err) {
    struct epub e = {.path = path, .err = err};
    struct opf o = {0};
    struct nr__chapters ch = {0};
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    enum nr_status st = NR_OK;
    if (src)
        e.za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!e.za) {
        int code = zip_error_code_zip(&ze);
        if (code == ZIP_ER_MEMORY)
            st = nomem(&e);
        else if (code == ZIP_ER_NOZIP)
            st = nr_err_set(err, NR_STATUS_BAD_FORMAT,
                            "%s: not an EPUB (not a zip archive, or a truncated one)", path);
        else
            st = nr_err_set(err, NR_STATUS_BAD_FORMAT,
                            "%s: not an EPUB (damaged or truncated zip archive: %s)", path,
                            zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return st;
    }
    zip_error_fini(&ze);
    st = read_opf(&e, &o, book);
    if (st == NR_OK)
        st = read_toc(&e, &o);
    if (st == NR_OK)
        st = read_spine(&e, &o, &ch, book);
    if (st == NR_OK)
        st = read_cover(&e, book, o.cover_id);
    if (st == NR_OK && ch.n == 0)
        st = nr_err_set(err, NR_STATUS_BAD_FORMAT, "%s: the EPUB has no text", path);
    if (st == NR_OK && !book->title) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        const char *dot = strrchr(base, '.');
        book->title = nr_strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
    }
    if (st == NR_OK)
        nr__chapters_move(&ch, book);
    nr__chapters_deinit(&ch);
    epub_deinit(&e, &o);
    return st;
}
