/* Unicode punctuation and whitespace normalization (see text.h). */
#include <string.h>

#include "text_internal.h"

size_t nr__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int nr__utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = nr__utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

size_t nr__utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

/* What one code point becomes in the first pass. Returns the replacement
 * (possibly ""), or NULL to keep the original bytes. */
static const char *map_cp(uint32_t cp) {
    switch (cp) {
    case '\t':
    case 0x0B:
        return " ";
    case '\n':
    case 0x0C:
    case 0x2028:
        return "\n";
    case 0x2029:
        return "\n\n";
    case 0x00A0:
    case 0x1680:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return " ";
    case 0x00AD:
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
        return "";
    case 0x2018:
    case 0x2019:
    case 0x201A:
    case 0x201B:
    case 0x2032:
    case 0x02BC:
        return "'";
    case 0x201C:
    case 0x201D:
    case 0x201E:
    case 0x201F:
    case 0x2033:
    case 0x00AB:
    case 0x00BB:
        return "\"";
    case 0x2010:
    case 0x2011:
    case 0x2212:
        return "-";
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2015:
    case 0x2E3A:
    case 0x2E3B:
        return " - ";
    case 0x2026:
        return "...";
    default:
        break;
    }
    if (cp >= 0x2000 && cp <= 0x200A)
        return " ";
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
        return ""; /* other control characters */
    return NULL;
}

/* Second pass, in place: collapse spaces, trim lines, keep at most one
 * blank line between lines, no leading or trailing blank lines. */
static size_t tidy_lines(char *s, size_t n) {
    size_t o = 0, i = 0;
    int blank_pending = 0;
    while (i < n) {
        size_t eol = i;
        while (eol < n && s[eol] != '\n')
            eol++;
        size_t line_start = o;
        int need_space = 0;
        for (size_t k = i; k < eol; k++) {
            if (s[k] == ' ') {
                need_space = o > line_start;
                continue;
            }
            if (o == line_start && line_start > 0) {
                /* first visible character of a line: emit the separator */
                const char *sep = blank_pending ? "\n\n" : "\n";
                size_t sl = blank_pending ? 2 : 1;
                memcpy(s + o, sep, sl); /* o + sl <= k: the separator bytes were consumed */
                o += sl;
                line_start = o;
                blank_pending = 0;
            } else if (need_space) {
                s[o++] = ' ';
            }
            need_space = 0;
            s[o++] = s[k];
        }
        if (o == line_start && line_start > 0)
            blank_pending = 1; /* an empty line */
        i = eol + 1;
    }
    return o;
}

enum nr_status nr_text_normalize(const char *in, size_t len, char **out, struct nr_err *err) {
    if (!out)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_text_normalize: out is NULL");
    *out = NULL;
    if (!in && len)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "nr_text_normalize: in is NULL");
    /* Every mapping is no longer than its input, so len + 1 bytes suffice. */
    char *buf = nr_malloc(len + 1);
    if (!buf)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = nr__utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            nr_free(buf);
            return nr_err_set(err, NR_STATUS_BAD_FORMAT, "invalid UTF-8 at byte %zu", i);
        }
        if (cp == '\r') {
            buf[o++] = '\n';
            i += (i + 1 < len && s[i + 1] == '\n') ? 2 : 1;
            continue;
        }
        const char *rep = map_cp(cp);
        if (rep) {
            size_t rl = strlen(rep);
            memcpy(buf + o, rep, rl);
            o += rl;
        } else {
            memcpy(buf + o, s + i, n);
            o += n;
        }
        i += n;
    }
    o = tidy_lines(buf, o);
    buf[o] = '\0';
    *out = buf;
    return NR_OK;
}
