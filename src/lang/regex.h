/* regex.h - the language's Rust-syntax regular expressions: patterns in the
 * syntax of Rust's `regex` crate 1.5 (what Tremor 0.11 takes), run by PCRE2
 * with bounded work. Used by the re and rerg extractors and std::re (grok is
 * Oniguruma's, as in 0.11: extract_grok.c); nothing else includes pcre2.h.
 *
 * Not a Rust regex engine: PCRE2 backtracks, so the constructs that make
 * backtracking unbounded and that Rust rejects anyway (backreferences,
 * look-around, atomic groups, recursion, callouts, conditionals, (*VERB)s,
 * \C) are compile errors here (a++ is Rust's (a+)+, not possessive), and every
 * match runs under match, depth and heap limits (regex.c says which and why).
 * Invariant: a search either answers or fails with TR_ERUNTIME in bounded
 * time and memory; it never stalls its loop on one event.
 */
#ifndef TR_REGEX_H
#define TR_REGEX_H

#include <stddef.h>

/* Longest pattern accepted, in bytes (grok expands into one pattern). */
#define TR_REGEX_MAX_PATTERN (128 * 1024)

struct tr_regex;          /* a compiled pattern; immutable, shareable */
struct tr_regex_match;    /* one search's scratch: match data, JIT stack */

/* Flags of tr_regex_create. */
enum {
    /* Skip the JIT: for a pattern used once on a short subject, where
     * compiling machine code costs more than it saves. */
    TR_REGEX_NO_JIT = 1 << 0,
};

/* Compile pattern[0..len) (Rust syntax; embedded NULs allowed). 0 with *out
 * set; TR_EPARSE (unsupported or malformed syntax) or TR_ETOOBIG (pattern
 * or compiled form too large) with msg saying what and at which byte of the
 * pattern; -ENOMEM. *out is NULL on failure. */
int tr_regex_create(const char *pattern, size_t len, unsigned flags, struct tr_regex **out, char *msg,
                    size_t mlen);
void tr_regex_destroy(struct tr_regex *re);

/* Number of capture groups (group 0, the whole match, not counted). */
int tr_regex_ngroups(const struct tr_regex *re);
/* Name of capture group g (1-based), NULL when it has none. */
const char *tr_regex_group_name(const struct tr_regex *re, int g);
/* Group number of a named group, -1 when there is no such name. */
int tr_regex_group_index(const struct tr_regex *re, const char *name, size_t nlen);

/* Scratch for searching with re; one per thread at a time. -ENOMEM. */
int tr_regex_match_create(const struct tr_regex *re, struct tr_regex_match **out);
void tr_regex_match_destroy(struct tr_regex_match *m);

/* Search s[0..len) for the leftmost match starting at byte start or later
 * (start on a character boundary; the bytes before it still count for ^ and
 * \b). 1 on a match (groups via tr_regex_group), 0 on none, TR_ERUNTIME when
 * a limit stopped the search (tr_regex_match_error says which), -ENOMEM. */
int tr_regex_exec(struct tr_regex_match *m, const char *s, size_t len, size_t start);

/* Successive non-overlapping matches the way Rust's find_iter walks them: an
 * empty match right where the previous match ended is skipped, and after an
 * empty match the search moves on by one whole character. Zero-initialise. */
struct tr_regex_iter {
    int captures;      /* set: the caller reads groups (captures_iter), else
                        * only group 0 (find_iter); regex.c says why it matters */
    size_t next;       /* where the next search starts */
    size_t last_end;   /* end of the previous match */
    int started, done;
};
/* 1 with the next match in m, 0 when there are no more, or an error as
 * tr_regex_exec. */
int tr_regex_next(struct tr_regex_match *m, const char *s, size_t len, struct tr_regex_iter *it);

/* Byte range of group g (0: the whole match) of the last match: 1 with
 * [*so, *eo), 0 when the group took no part in it. */
int tr_regex_group(const struct tr_regex_match *m, int g, size_t *so, size_t *eo);
/* Why the last search failed ("" after a success). */
const char *tr_regex_match_error(const struct tr_regex_match *m);

#endif
