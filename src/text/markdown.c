/* Markdown inline stripping and chapter-line recognition. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "text_internal.h"

/* Index of the bracket closing the one at s[open], or n when unmatched. */
static size_t match_close(const char *s, size_t n, size_t open, char o, char c) {
    int depth = 0;
    for (size_t i = open; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (s[i] == o)
            depth++;
        else if (s[i] == c && --depth == 0)
            return i;
    }
    return n;
}

static int is_word_char(unsigned char c) {
    return isalnum(c) || c >= 0x80;
}

/* The emphasis/code markers are dropped; '_' only at a word boundary, so
 * snake_case words keep theirs. */
static int is_marker(const char *s, size_t n, size_t i) {
    char c = s[i];
    if (c == '*' || c == '`')
        return 1;
    if (c == '~')
        return (i + 1 < n && s[i + 1] == '~') || (i > 0 && s[i - 1] == '~');
    if (c == '_') {
        int before = i > 0 && is_word_char((unsigned char)s[i - 1]);
        int after = i + 1 < n && is_word_char((unsigned char)s[i + 1]);
        return !(before && after);
    }
    return 0;
}

enum nr_status nr__markdown_inline(struct nr_buf *out, const char *s, size_t n) {
    enum nr_status st = NR_OK;
    size_t i = 0;
    while (st == NR_OK && i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && ispunct((unsigned char)s[i + 1])) {
            st = nr_buf_append(out, s + i + 1, 1);
            i += 2;
        } else if (c == '<' && i + 3 < n && memcmp(s + i, "<!--", 4) == 0) {
            const char *e = NULL;
            for (size_t k = i + 4; k + 2 < n && !e; k++)
                if (memcmp(s + k, "-->", 3) == 0)
                    e = s + k;
            i = e ? (size_t)(e - s) + 3 : n;
        } else if (c == '<' && i + 1 < n &&
                   (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!')) {
            const char *gt = memchr(s + i, '>', n - i);
            if (gt) {
                i = (size_t)(gt - s) + 1;
                st = nr_buf_append(out, " ", 1); /* a tag separates words */
            } else {
                st = nr_buf_append(out, "<", 1);
                i++;
            }
        } else if ((c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '['))) {
            size_t open = c == '!' ? i + 1 : i;
            size_t close = match_close(s, n, open, '[', ']');
            size_t after = close + 1;
            size_t end = n;
            if (close < n && after < n && s[after] == '(')
                end = match_close(s, n, after, '(', ')');
            else if (close < n && after < n && s[after] == '[')
                end = match_close(s, n, after, '[', ']');
            if (end < n) {
                if (c == '[') /* a link: keep its text */
                    st = nr__markdown_inline(out, s + open + 1, close - open - 1);
                i = end + 1; /* an image is dropped whole */
            } else {
                st = nr_buf_append(out, s + i, 1);
                i++;
            }
        } else if (is_marker(s, n, i)) {
            i++;
        } else {
            st = nr_buf_append(out, s + i, 1);
            i++;
        }
    }
    return st;
}

/* ---- chapter lines -------------------------------------------------------- */

static const char *const k_number_words[] = {
    "one",       "two",      "three",    "four",    "five",     "six",      "seven",   "eight",
    "nine",      "ten",      "eleven",   "twelve",  "thirteen", "fourteen", "fifteen", "sixteen",
    "seventeen", "eighteen", "nineteen", "twenty",  "thirty",   "forty",    "fifty",   "sixty",
    "seventy",   "eighty",   "ninety",   "hundred", "and",
};

static int is_number_word(const char *w, size_t n) {
    for (size_t i = 0; i < sizeof k_number_words / sizeof *k_number_words; i++)
        if (strlen(k_number_words[i]) == n && strncasecmp(w, k_number_words[i], n) == 0)
            return strncasecmp(w, "and", 3) != 0 || n != 3 ? 1 : 2;
    return 0;
}

/* 1 if s[0..n) is a chapter number: digits, a roman numeral, or number
 * words ("Twenty-One"). */
static int is_number(const char *s, size_t n) {
    if (n == 0 || n > 40)
        return 0;
    size_t digits = 0, roman = 0;
    for (size_t i = 0; i < n; i++) {
        digits += isdigit((unsigned char)s[i]) != 0;
        roman += strchr("IVXLCDMivxlcdm", s[i]) != NULL && s[i] != '\0';
    }
    if (digits == n)
        return n <= 4;
    if (roman == n)
        return n <= 9;
    int words = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && s[e] != '-' && s[e] != ' ')
            e++;
        int k = is_number_word(s + i, e - i);
        if (!k)
            return 0;
        words += k == 1;
        i = e + 1;
    }
    return words > 0;
}

int nr__is_chapter_line(const char *line, size_t n) {
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        n--;
    if (n == 0 || n > 80)
        return 0;
    static const char *const keywords[] = {"chapter", "part", "book", "prologue", "epilogue"};
    for (size_t k = 0; k < sizeof keywords / sizeof *keywords; k++) {
        size_t kl = strlen(keywords[k]);
        if (n < kl || strncasecmp(line, keywords[k], kl) != 0)
            continue;
        const char *rest = line + kl;
        size_t rn = n - kl;
        int numbered = k < 3;
        if (numbered) {
            if (rn == 0 || rest[0] != ' ')
                return 0;
            while (rn > 0 && rest[0] == ' ')
                rest++, rn--;
            /* the number runs to a separator (": ", ". ", " - ") or the end */
            size_t e = 0;
            while (e < rn && rest[e] != ':' && rest[e] != '.' &&
                   !(e + 2 < rn && memcmp(rest + e, " - ", 3) == 0))
                e++;
            if (!is_number(rest, e))
                return 0;
            return 1;
        }
        /* Prologue / Epilogue alone or followed by a separator and a title */
        return rn == 0 || rest[0] == ':' || rest[0] == '.' ||
               (rn >= 3 && memcmp(rest, " - ", 3) == 0);
    }
    return 0;
}
