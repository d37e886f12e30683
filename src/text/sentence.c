/* Sentence splitting. A boundary is a run of . ! ? (plus any closing quotes
 * or brackets) followed by whitespace, unless the next word starts with a
 * lower-case letter, or the period ends an abbreviation or an initial. A
 * blank line always ends a sentence. Boundaries fall only on whitespace, so
 * the sentences cover every word of the text exactly once. */
#include <ctype.h>
#include <string.h>

#include "text_internal.h"

/* Abbreviations (lower case, without the final period) after which a period
 * never ends a sentence: titles before names, and Latin/country forms that
 * are usually followed by more of the sentence. */
static const char *const k_never[] = {
    "mr",  "mrs",  "ms", "messrs", "dr",  "prof", "st",  "mt",  "rev", "fr",    "gen",
    "col", "capt", "lt", "sgt",    "gov", "sen",  "rep", "hon", "mme", "mlle",  "vs",
    "cf",  "viz",  "jr", "sr",     "e.g", "i.e",  "u.s", "u.k", "u.n", "u.s.a",
};
/* Abbreviations that do not end a sentence when a number follows ("No. 5"). */
static const char *const k_before_number[] = {
    "no", "nos", "vol", "vols", "p", "pp", "fig", "ch", "sec", "art", "approx", "op", "nr",
};

static int is_space(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}
static int is_closer(char c) {
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}';
}
static int is_opener(char c) {
    return c == '"' || c == '\'' || c == '(' || c == '[' || c == '{';
}
static int is_term(char c) {
    return c == '.' || c == '!' || c == '?';
}

static int in_list(const char *w, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

/* Classifies the word before a single period: returns 1 when the period may
 * end a sentence, given the first character of the next word. */
static int period_may_end(const char *text, size_t start, size_t dot, char next) {
    size_t ws = dot;
    while (ws > start && !is_space(text[ws - 1]))
        ws--;
    while (ws < dot && is_opener(text[ws]))
        ws++;
    size_t n = dot - ws;
    if (n == 0 || n > 15)
        return 1;
    char w[16];
    int all_single = 1, all_upper = 1;
    for (size_t i = 0; i < n; i++) {
        w[i] = (char)tolower((unsigned char)text[ws + i]);
        /* "J.R.R" and "a.m": single letters separated by periods */
        int letter_pos = (i % 2 == 0);
        if (letter_pos ? !isalpha((unsigned char)text[ws + i]) : text[ws + i] != '.')
            all_single = 0;
        if (letter_pos && !isupper((unsigned char)text[ws + i]))
            all_upper = 0;
    }
    w[n] = '\0';
    if (n % 2 == 0)
        all_single = 0;
    if (in_list(w, k_never, sizeof k_never / sizeof *k_never))
        return 0;
    if (isdigit((unsigned char)next) &&
        in_list(w, k_before_number, sizeof k_before_number / sizeof *k_before_number))
        return 0;
    if (all_single && all_upper)
        return 0; /* an initial: "J. R. R. Tolkien", "J.R.R. Tolkien" */
    return 1;
}

/* Decides whether the terminator run text[t0..t1) followed by closers up to
 * `end` (which is at whitespace or the end) ends a sentence. */
static int is_boundary(const char *text, size_t len, size_t start, size_t t0, size_t t1,
                       size_t end) {
    size_t j = end;
    while (j < len && is_space(text[j]))
        j++;
    while (j < len && is_opener(text[j]))
        j++;
    if (j >= len)
        return 1;
    char next = text[j];
    if (islower((unsigned char)next))
        return 0; /* "Stop!" she said. / Wait... what? */
    for (size_t k = t0; k < t1; k++)
        if (text[k] != '.')
            return 1;
    if (t1 - t0 >= 2)
        return 1; /* an ellipsis before a capital */
    return period_may_end(text, start, t0, next);
}

static int emit(const char *text, size_t a, size_t b, nr_sentence_fn fn, void *user) {
    while (a < b && is_space(text[a]))
        a++;
    while (b > a && is_space(text[b - 1]))
        b--;
    if (a == b)
        return 0;
    if (fn)
        fn(user, text + a, b - a);
    return 1;
}

size_t nr_text_split_sentences(const char *text, size_t len, nr_sentence_fn fn, void *user) {
    if (!text)
        return 0;
    size_t count = 0, start = 0, i = 0;
    while (i < len) {
        char c = text[i];
        if (c == '\n') {
            size_t j = i + 1;
            while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r'))
                j++;
            if (j < len && text[j] == '\n') { /* a blank line */
                count += (size_t)emit(text, start, i, fn, user);
                start = i = j + 1;
                continue;
            }
            i++;
            continue;
        }
        if (!is_term(c)) {
            i++;
            continue;
        }
        size_t t0 = i;
        while (i < len && is_term(text[i]))
            i++;
        size_t t1 = i, end = i;
        while (end < len && is_closer(text[end]))
            end++;
        if (end < len && !is_space(text[end])) {
            i = end; /* "3.14", "U.S." inside a word, ".)x" */
            continue;
        }
        if (is_boundary(text, len, start, t0, t1, end)) {
            count += (size_t)emit(text, start, end, fn, user);
            start = end;
        }
        i = end;
    }
    count += (size_t)emit(text, start, len, fn, user);
    return count;
}
