/* cmap.h - config maps: one declarative table of the keys a component reads.
 *
 * Every connector, operator, codec and processor describes its settings as a
 * table of entries (key, type, default, flags, offset into its instance
 * struct, one-line help) ended by a zero entry, in the habit of Fluent Bit's
 * config maps. tr_cmap_apply checks a config record against the table
 * (unknown keys, types, ranges, enum values, required keys) and writes every
 * entry's field: the given value, else the default, else zero. So "key
 * absent", "wrong type" and "out of range" mean the same everywhere, and the
 * same table prints the help text. Not a schema language: nested shapes are
 * taken as VALUE and checked by their owner. Invariant: on failure nothing
 * is half-written that the caller could mistake for a valid config (the
 * caller discards the instance), and the config itself is never changed.
 */
#ifndef TR_CMAP_H
#define TR_CMAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/value.h"

/* What an entry's field is (the C type written at offset in brackets). */
enum tr_cmap_type {
    TR_CMAP_END = 0,     /* ends a table */
    TR_CMAP_STR,         /* const char *, borrowed from the config (valid while it is) */
    TR_CMAP_BOOL,        /* bool */
    TR_CMAP_U64,         /* uint64_t; lo..hi checked when TR_CMAP_RANGE */
    TR_CMAP_I64,         /* int64_t; lo..hi checked when TR_CMAP_RANGE */
    TR_CMAP_F64,         /* double; any finite number, integers converted */
    TR_CMAP_DURATION_MS, /* uint64_t nanoseconds, written as integer milliseconds;
                            the range lo..hi is in milliseconds */
    TR_CMAP_ENUM,        /* int: index into choices */
    TR_CMAP_STR_LIST,    /* const tr_value *: an array of strings, borrowed; with
                            TR_CMAP_RANGE, lo..hi bounds its length */
    TR_CMAP_VALUE,       /* const tr_value *: any value, borrowed; its owner checks it */
};

/* Entry flags. */
#define TR_CMAP_REQUIRED   0x01u  /* absence is an error */
#define TR_CMAP_DEPRECATED 0x02u  /* accepted, with a located warning */
#define TR_CMAP_RANGE      0x04u  /* check lo..hi (integers below 2^53); an infinite
                                     bound is none: "at most hi" / "at least lo" */
#define TR_CMAP_PRESENCE   0x08u  /* write whether the key was given to the bool at seen */

struct tr_cmap_entry {
    enum tr_cmap_type type;
    const char *key;
    const char *def;              /* default as text ("100", "true", "json"), NULL: none */
    unsigned flags;
    size_t offset;                /* of the field in the instance struct */
    const char *help;             /* one line; also used in errors */
    double lo, hi;                /* TR_CMAP_RANGE bounds, inclusive */
    const char *const *choices;   /* TR_CMAP_ENUM: NULL-terminated allowed strings */
    const char *alias;            /* another accepted name (Tremor 0.11 spelling), or NULL */
    size_t seen;                  /* TR_CMAP_PRESENCE: offset of a bool */
};

/* The common fields of an entry, by name, so a table row reads
 *   {TR_CMAP_KEY(TR_CMAP_U64, "count", NULL, TR_CMAP_REQUIRED, offsetof(...), "help"), .lo = 1}
 * and optional fields (.lo/.hi, .choices, .alias, .seen) follow by name. */
#define TR_CMAP_KEY(t, k, dflt, fl, off, hlp) \
    .type = (t), .key = (k), .def = (dflt), .flags = (fl), .offset = (off), .help = (hlp)

/* How error messages are worded. Both report the same conditions. */
enum tr_cmap_style {
    /* Connectors: "<type> '<id>': config.<key> must be ..." */
    TR_CMAP_STYLE_CONFIG = 0,
    /* Operators, as Tremor's serde messages: "<kind> operator '<id>': missing field `k`",
     * "`k`: invalid type: string, expected ...", "unknown field `k`, expected one of ..." */
    TR_CMAP_STYLE_SERDE,
};

/* Where a key was written, for key-precise locations. */
struct tr_cmap_pos {
    int line, col;
};

/* Where the config came from and whose it is. */
struct tr_cmap_src {
    const char *file;             /* of the config node (artefact or statement) */
    int line, col;
    const char *kind;             /* "metronome", "qos::percentile", ... */
    const char *id;               /* artefact or node id */
    enum tr_cmap_style style;
    /* Optional: the position of each field of the config record, in its
     * order (NULL: every error points at line:col above). */
    const struct tr_cmap_pos *keys;
    uint32_t nkeys;
    /* Optional: receives each deprecation warning (NULL: logged with TR_WARN). */
    void (*warn)(void *arg, const struct tr_diag *w);
    void *warn_arg;
};

/* Check config (a record, or TR_NULL / NULL for "no config") against map
 * and fill instance. Returns 0, or TR_EINVAL_CFG with d located at the
 * offending key (or the config node) naming the component, the key and what
 * was expected; an unknown key lists the allowed ones. A deprecated key
 * that is given warns once per call. A map default that does not parse as
 * its type is our bug (assert). Nothing allocated: strings and values
 * written are borrowed from config. */
int tr_cmap_apply(const struct tr_cmap_entry *map, const tr_value *config, void *instance,
                  const struct tr_cmap_src *src, struct tr_diag *d);

/* The checks of tr_cmap_apply without an instance to fill (tremor check
 * looks at a config before anything is created). Deprecation warnings go
 * to src->warn only. 0, TR_EINVAL_CFG, -ENOMEM. */
int tr_cmap_check(const struct tr_cmap_entry *map, const tr_value *config,
                  const struct tr_cmap_src *src, struct tr_diag *d);

/* Like tr_cmap_check, but every error of config is handed to each(arg, d)
 * in key order (unknown keys, keys given twice, missing required keys,
 * wrong types and ranges), not only the first; each returns nonzero to
 * stop. Returns how many were found (or -ENOMEM, then none is reported
 * after it). */
int tr_cmap_check_each(const struct tr_cmap_entry *map, const tr_value *config,
                       const struct tr_cmap_src *src,
                       int (*each)(void *arg, const struct tr_diag *d), void *arg);

/* Check one given value v (non-NULL) against entry e alone and write its
 * field; the same checks and errors as tr_cmap_apply, for callers that look
 * keys up one by one. */
int tr_cmap_apply_one(const struct tr_cmap_entry *e, const tr_value *v, void *instance,
                      const struct tr_cmap_src *src, struct tr_diag *d);

/* The entry for key (or its alias), NULL when the map has none. */
const struct tr_cmap_entry *tr_cmap_find(const struct tr_cmap_entry *map, const char *key);

/* Print one line per entry: key, type, default, flags, help. */
void tr_cmap_print(const struct tr_cmap_entry *map, FILE *f);

/* "a, b, c": the keys of map (aliases not included) into buf (truncated). */
void tr_cmap_keys(const struct tr_cmap_entry *map, char *buf, size_t n);

#endif
