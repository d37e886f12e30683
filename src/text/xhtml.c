/* XHTML to text: paragraphs from block elements, skipped elements, the
 * first heading's position. Parsed with libxml2's HTML parser, which knows
 * the HTML entities (&nbsp;) without loading a DTD and never touches the
 * network; the tree is walked without recursion, so hostile nesting depth
 * cannot overflow the stack. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "text_internal.h"

#define HTML_OPTIONS                                                                               \
    (HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER)

/* Swallows libxml2's messages (e.g. "encoding error" for a bad byte). */
static void silent(void *ctx, const char *msg, ...) {
    (void)ctx;
    (void)msg;
}

void nr__xml_quiet_begin(struct nr__xml_quiet *q) {
    q->generic = (void (*)(void))xmlGenericError;
    q->generic_ctx = xmlGenericErrorContext;
    q->structured = (void (*)(void))xmlStructuredError;
    q->structured_ctx = xmlStructuredErrorContext;
    xmlSetGenericErrorFunc(NULL, silent);
    xmlSetStructuredErrorFunc(NULL, NULL);
}

void nr__xml_quiet_end(const struct nr__xml_quiet *q) {
    xmlSetGenericErrorFunc(q->generic_ctx, (xmlGenericErrorFunc)q->generic);
    xmlSetStructuredErrorFunc(q->structured_ctx, (xmlStructuredErrorFunc)q->structured);
}

static int named(const xmlNode *n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && n->name &&
           strcasecmp((const char *)n->name, name) == 0;
}

/* The encoding named by an XML declaration or a meta charset in the first
 * kilobyte ("encoding=\"iso-8859-1\"", "charset=windows-1252"), or "". */
static void declared_encoding(const char *s, size_t n, char out[48]) {
    out[0] = '\0';
    size_t lim = n < 1024 ? n : 1024;
    static const char *const keys[] = {"encoding=", "charset="};
    for (size_t k = 0; k < 2 && !out[0]; k++) {
        size_t kl = strlen(keys[k]);
        for (size_t i = 0; i + kl < lim && !out[0]; i++) {
            if (strncasecmp(s + i, keys[k], kl) != 0)
                continue;
            size_t j = i + kl, o = 0;
            if (j < lim && (s[j] == '"' || s[j] == '\''))
                j++;
            while (j < lim && o < 47 && (isalnum((unsigned char)s[j]) || strchr("-_.:", s[j])))
                out[o++] = s[j++];
            out[o] = '\0';
        }
    }
}

struct _xmlDoc *nr__html_parse(const char *data, size_t len) {
    if (len > (size_t)0x7FFFFFFF)
        return NULL;
    /* EPUB content is UTF-8 or UTF-16. Old files in another encoding are
     * read by their declaration, else as Windows-1252, so libxml2 always
     * hands back valid UTF-8. */
    const unsigned char *u = (const unsigned char *)data;
    char declared[48];
    const char *enc = "UTF-8";
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        enc = "UTF-16";
    } else if (!nr__utf8_valid(data, len)) {
        declared_encoding(data, len, declared);
        int utf = strncasecmp(declared, "utf", 3) == 0;
        enc = declared[0] && !utf ? declared : "windows-1252";
    }
    struct nr__xml_quiet q;
    nr__xml_quiet_begin(&q);
    xmlDoc *doc = htmlReadMemory(data, (int)len, NULL, enc, HTML_OPTIONS);
    if (!doc && strcmp(enc, "UTF-8") != 0 && strcmp(enc, "UTF-16") != 0)
        doc = htmlReadMemory(data, (int)len, NULL, "ISO-8859-1", HTML_OPTIONS);
    nr__xml_quiet_end(&q);
    return doc;
}

static int in_set(const xmlNode *n, const char *const *set, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (named(n, set[i]))
            return 1;
    return 0;
}

static int is_skipped(const xmlNode *n) {
    static const char *const k[] = {"script",   "style", "head",  "img",   "svg",    "math",
                                    "object",   "embed", "audio", "video", "iframe", "template",
                                    "noscript", "title", "rt",    "rp",    "canvas", "map"};
    return in_set(n, k, sizeof k / sizeof *k);
}

static int is_block(const xmlNode *n) {
    static const char *const k[] = {
        "p",  "div",        "h1",         "h2",      "h3",      "h4",     "h5",    "h6",  "li",
        "br", "blockquote", "section",    "article", "header",  "footer", "aside", "nav", "ul",
        "ol", "dl",         "dt",         "dd",      "pre",     "hr",     "table", "tr",  "td",
        "th", "figure",     "figcaption", "caption", "address", "body",   "main"};
    return in_set(n, k, sizeof k / sizeof *k);
}

static int is_heading(const xmlNode *n) {
    return n->name && (n->name[0] == 'h' || n->name[0] == 'H') && n->name[1] >= '1' &&
           n->name[1] <= '6' && n->name[2] == '\0';
}

struct xhtml {
    struct nr_buf text; /* paragraphs separated by blank lines */
    size_t head_start;  /* offset of the first heading's text */
    size_t head_end;    /* end of it; 0 while not seen */
    int in_head;        /* inside the first heading */
    xmlNode *head_node;
};

static enum nr_status para_break(struct xhtml *x) {
    return nr_buf_append(&x->text, "\n\n", 2);
}

static void leave(struct xhtml *x, xmlNode *n, enum nr_status *st) {
    if (x->in_head && n == x->head_node) {
        x->in_head = 0;
        x->head_end = x->text.len;
    }
    if (*st == NR_OK && is_block(n))
        *st = para_break(x);
}

/* Walks body in document order without recursion (hostile nesting depth
 * cannot overflow the stack), collecting text. */
static enum nr_status walk_body(struct xhtml *x, xmlNode *body) {
    enum nr_status st = NR_OK;
    xmlNode *n = body->children;
    while (n && st == NR_OK) {
        int descend = 0;
        if (n->type == XML_ELEMENT_NODE && !is_skipped(n)) {
            if (is_block(n))
                st = para_break(x);
            if (is_heading(n) && !x->head_node) {
                x->head_node = n;
                x->in_head = 1;
                x->head_start = x->text.len;
            }
            if (n->children)
                descend = 1;
            else
                leave(x, n, &st);
        } else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content) {
            size_t at = x->text.len;
            st = nr_buf_append(&x->text, n->content, strlen((const char *)n->content));
            for (size_t i = at; st == NR_OK && i < x->text.len; i++)
                if (x->text.data[i] == '\n' || x->text.data[i] == '\r' || x->text.data[i] == '\t')
                    x->text.data[i] = ' ';
        }
        if (descend) {
            n = n->children;
            continue;
        }
        while (n && n != body && !n->next) {
            n = n->parent;
            if (n && n != body)
                leave(x, n, &st);
        }
        n = (n && n != body) ? n->next : NULL;
    }
    return st;
}

enum nr_status nr__xhtml_text(const char *data, size_t len, struct nr_buf *text, size_t *head_start,
                              size_t *head_end) {
    *head_start = *head_end = 0;
    enum nr_status st = nr_buf_append(text, "", 0);
    xmlDoc *doc = st == NR_OK ? nr__html_parse(data, len) : NULL;
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL, *body = NULL;
    for (xmlNode *n = root; n && !body; n = n->children) /* html > body, or html > head + body */
        for (xmlNode *c = n; c && !body; c = c->next)
            if (named(c, "body"))
                body = c;
    if (root) {
        struct xhtml x = {.text = *text};
        st = walk_body(&x, body ? body : root);
        *text = x.text;
        *head_start = x.head_start;
        *head_end = x.head_end;
    }
    xmlFreeDoc(doc);
    return st;
}
