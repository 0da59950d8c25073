/* extract_int.h - tilde extractors (extract*.c) for the compiler and the interpreter.
 *
 * The compiler creates an extractor once from its pattern (errors become
 * compile errors); the interpreter runs it per event. Each kind lives in
 * its own extract_<kind>.c; extract.c dispatches.
 */
#ifndef TR_LANG_EXTRACT_INT_H
#define TR_LANG_EXTRACT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

struct tr_extractor;
int tr_extractor_create(const char *kind, const char *pattern, struct tr_extractor **out, char *msg,
                        size_t mlen);
void tr_extractor_destroy(struct tr_extractor *x);
/* cidr (extract_cidr.c): a comma-separated list of networks, or "" for any address. */
struct tr_cidr;
int tr_cidr_create(const char *pattern, struct tr_cidr **out, char *msg, size_t mlen);
void tr_cidr_destroy(struct tr_cidr *c);
/* 1 on a match ({prefix, mask} in *out when need), 0 on none, -ENOMEM. */
int tr_cidr_run(const struct tr_cidr *c, const struct tr_str *s, int need, tr_value *out);
/* dissect (extract_dissect.c): split at literal delimiters into named fields. */
struct tr_dissect;
int tr_dissect_create(const char *pattern, struct tr_dissect **out, char *msg, size_t mlen);
void tr_dissect_destroy(struct tr_dissect *d);
/* 1 on a match (the fields record in *out when need), 0 on none, -ENOMEM. */
int tr_dissect_run(const struct tr_dissect *d, const struct tr_str *s, int need, tr_value *out);
/* grok (extract_grok.c, the one module that uses Oniguruma): logstash-style
 * %{PATTERN}, %{PATTERN:alias} and %{PATTERN=regex} expanded the way
 * Tremor 0.11's grok crate (1.2.0) does, over its base pattern set
 * (grok_patterns.c), and run by Oniguruma in Ruby syntax. */
struct tr_grok_def {
    const char *name, *def;
};
extern const struct tr_grok_def tr_grok_base[];
extern const size_t tr_grok_nbase;
/* Where 0.11 looks for extra definitions ("NAME regex" lines, # comments). */
#define TR_GROK_PATTERNS_FILE "/etc/tremor/grok.patterns"
struct tr_grok;
/* Compile pattern. When patterns_file is not NULL and can be read, its
 * definitions are added to the base set; a file that cannot be read or
 * parsed, or that leaves pattern uncompilable, is ignored as 0.11 ignores
 * it (then the base set alone decides). TR_EPARSE with msg on a pattern the
 * crate rejects, TR_ETOOBIG when it expands beyond TR_GROK_MAX_REGEX,
 * -ENOMEM. Reads the file on the calling thread. */
#define TR_GROK_MAX_REGEX (256 * 1024)
int tr_grok_create(const char *pattern, const char *patterns_file, struct tr_grok **out, char *msg,
                   size_t mlen);
void tr_grok_destroy(struct tr_grok *g);
/* 1 on a match (record of every named capture, "" for those that took no
 * part, in *out when need), 0 on none (or s is not UTF-8), TR_ERUNTIME when
 * the match limit stopped the search, -ENOMEM. Runs of one grok must not
 * overlap (it keeps match scratch). */
int tr_grok_run(const struct tr_grok *g, const struct tr_str *s, int need, tr_value *out);
/* Why the last tr_grok_run failed ("" after a success). */
const char *tr_grok_error(const struct tr_grok *g);
/* kv (extract_kv.c): pairs split at the separators the pattern names
 * (%{key}SEP%{val} for keys, text around for fields; " " and ":" when it
 * names none), as Tremor 0.11's tremor-kv 0.2.0. TR_EPARSE with msg for a
 * pattern that crate rejects, -ENOMEM. */
struct tr_kv;
int tr_kv_create(const char *pattern, struct tr_kv **out, char *msg, size_t mlen);
void tr_kv_destroy(struct tr_kv *kv);
/* 1 on a match (the pairs record in *out when need), 0 when no field is a
 * pair, -ENOMEM. */
int tr_kv_run(const struct tr_kv *kv, const struct tr_str *s, int need, tr_value *out);
/* datetime (extract_datetime.c): parse s with a strftime-style format into
 * nanoseconds since the epoch as chrono 0.4.19 reads it (UTC unless the
 * format names a zone, which it must then read; outside +-292 years the
 * value wraps as 0.11's does). 1 on a match with *ns set, 0 when s does not
 * fit the format. */
int tr_datetime_parse(const char *s, size_t len, const char *fmt, int64_t *ns);
/* influx (extract_influx.c): 1 with the decoded line in *out, 0 when s is not one, -ENOMEM. */
int tr_influx_decode(const struct tr_str *s, uint64_t ingest_ns, tr_value *out);
/* 1 on a match (result in *out when need), 0 on none, TR_ERUNTIME when a
 * regex limit stopped re, rerg or grok (tr_extractor_error says which),
 * -ENOMEM. Runs of one extractor must not overlap (it keeps match scratch). */
int tr_extractor_run(const struct tr_extractor *x, const tr_value *v, int need, tr_value *out);
/* Why the last tr_extractor_run returned TR_ERUNTIME ("" otherwise). */
const char *tr_extractor_error(const struct tr_extractor *x);

#endif
