/* lang_int.h - what the parts of src/lang share and nobody else needs.
 *
 * The compiled program (tr_prog), the per-run evaluation environment
 * (tr_env), the built-in function table entry (tr_fn) and the entry points
 * of compile.c, interp.c and the std_*.c modules. Not a public API: script.h
 * and query.h are. Invariant: a tr_prog is immutable after compilation, so
 * several runs may share it (one at a time).
 */
#ifndef TR_LANG_INT_H
#define TR_LANG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/value.h"
#include "lang/ast.h"
#include "lang/errfmt.h"
#include "lang/parse.h"
#include "lang/query.h"

/* Results of a built-in function besides 0. */
enum {
    TR_FN_BADTYPE = 1,   /* "Bad type passed to function m::f/n" */
    TR_FN_ERROR = 2,     /* "Runtime error in function m::f/n: <msg>" */
};

struct tr_fcall {
    const struct tr_lang_ctx *ctx;
    char msg[512];       /* for TR_FN_ERROR */
};

typedef int (*tr_fn_impl)(struct tr_fcall *c, const tr_value *args, size_t n, tr_value *out);

struct tr_fn {
    const char *module;  /* "string" */
    const char *name;    /* "format" */
    int min_args, max_args;  /* max -1: variadic */
    int pure;            /* may be evaluated at compile time */
    tr_fn_impl impl;
};

/* Find module::name among the built-ins; NULL if unknown. */
const struct tr_fn *tr_std_find(const char *module, size_t mlen, const char *name, size_t nlen);
/* 1 if module is a built-in module name ("string", "system", ...). */
int tr_std_has_module(const char *module, size_t mlen);
/* Module tables (std_*.c). Each ends with an entry whose name is NULL. */
extern const struct tr_fn tr_std_string[], tr_std_record[], tr_std_array[], tr_std_type[],
    tr_std_math[], tr_std_json[], tr_std_range[], tr_std_integer[], tr_std_float[],
    tr_std_system[], tr_std_test[], tr_std_datetime[], tr_std_re[], tr_std_random[], tr_std_chash[],
    tr_std_binary[], tr_std_base64[], tr_std_origin[];

/* Append the display form used by string::format and interpolation. */
int tr_value_display(const tr_value *v, struct tr_buf *out);
const char *tr_lang_type_name(const tr_value *v);

/* --- aggregate functions (aggr.c): aggr::stats::*, aggr::win::* --- */
struct tr_aggr_fn;
struct tr_aggr_state {
    const struct tr_aggr_fn *fn;
    int64_t n;
    double a, b, c;
    int has;             /* a value was seen (min, max, first, last) */
    tr_value v;          /* first/last value or collected array (owned) */
};
/* Find aggr::<module>::<name>; NULL if unknown. */
const struct tr_aggr_fn *tr_aggr_find(const char *module, const char *name);
void tr_aggr_arity(const struct tr_aggr_fn *f, int *min, int *max);
void tr_aggr_init(struct tr_aggr_state *s, const struct tr_aggr_fn *f);
void tr_aggr_fini(struct tr_aggr_state *s);
/* Fold one event's arguments in: 0, TR_FN_BADTYPE or -ENOMEM. */
int tr_aggr_accumulate(struct tr_aggr_state *s, const tr_value *args, size_t n);
int tr_aggr_emit(const struct tr_aggr_state *s, tr_value *out);
/* Merge src (an earlier window's state) into s, as tilted windows do. */
int tr_aggr_merge(struct tr_aggr_state *s, const struct tr_aggr_state *src);
/* Copy of src's state into dst (uninitialised). */
int tr_aggr_copy(struct tr_aggr_state *dst, const struct tr_aggr_state *src);
const char *tr_aggr_module(const struct tr_aggr_fn *f);
const char *tr_aggr_name(const struct tr_aggr_fn *f);

/* --- tilde extractors (extract.c) --- */
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
/* grok (extract_grok.c): logstash-style %{PATTERN:name} over a built-in pattern set. */
struct tr_grok;
int tr_grok_create(const char *pattern, struct tr_grok **out, char *msg, size_t mlen);
void tr_grok_destroy(struct tr_grok *g);
/* 1 on a match (record of the named captures in *out when need), 0 on none,
 * TR_ERUNTIME when a regex limit stopped the search, -ENOMEM. */
int tr_grok_run(const struct tr_grok *g, const struct tr_str *s, int need, tr_value *out);
/* Why the last tr_grok_run failed ("" after a success). */
const char *tr_grok_error(const struct tr_grok *g);
/* datetime (extract_datetime.c): parse s with a strftime-style format into
 * nanoseconds since the epoch (UTC unless the format has a zone). 1 on a
 * match with *ns set, 0 when s does not fit the format. */
int tr_datetime_parse(const char *s, size_t len, const char *fmt, int64_t *ns);
/* influx (extract_influx.c): 1 with the decoded line in *out, 0 when s is not one, -ENOMEM. */
int tr_influx_decode(const struct tr_str *s, uint64_t ingest_ns, tr_value *out);
/* 1 on a match (result in *out when need), 0 on none, TR_ERUNTIME when a
 * regex limit stopped re, rerg or grok (tr_extractor_error says which),
 * -ENOMEM. Runs of one extractor must not overlap (it keeps match scratch). */
int tr_extractor_run(const struct tr_extractor *x, const tr_value *v, int need, tr_value *out);
/* Why the last tr_extractor_run returned TR_ERUNTIME ("" otherwise). */
const char *tr_extractor_error(const struct tr_extractor *x);

/* --- binary literals (bytes.c) --- */
struct tr_bytes_w {
    uint8_t *data;
    size_t len, cap;
    uint8_t buf;                 /* a byte being filled from its high bit down */
    unsigned pending;            /* bits used in buf */
};
/* Append v as a part of type BT_* (ast.h) and width bits (0: a whole
 * binary). TR_ERUNTIME with msg set when v does not fit the type, TR_ETOOBIG
 * past the size bound, -ENOMEM. */
int tr_bytes_append(struct tr_bytes_w *w, int type, int little, unsigned bits, const tr_value *v, char *msg,
                    size_t mlen);
/* The binary built so far (a partial last byte goes in low-aligned); frees
 * w's buffer, also on failure. */
int tr_bytes_finish(struct tr_bytes_w *w, tr_value *out);

/* A compiled program: a script, or the shared part of a query. */
struct tr_prog {
    struct tr_arena *arena;
    struct tr_node *root;        /* N_BLOCK */
    int nlocals;
    char *path;
    char *src;
    size_t len;
    struct tr_lang_err *warnings;
    size_t nwarnings;
    tr_value args;               /* `args` for script operators (record or null) */
    struct tr_scope *scope;      /* names known to the compiler (consts, locals, uses) */
    struct tr_extractor **exts;  /* compiled extractors, destroyed with the program */
    size_t nexts, capexts;
};

/* How a script run ended; TR_RUN_RECUR: a function body asked to restart. */
enum { TR_RUN_VALUE = 0, TR_RUN_EMIT = 1, TR_RUN_DROP = 2, TR_RUN_RECUR = 3 };

struct tr_env {
    tr_value *event, *meta, *state;
    tr_value *locals;            /* prog->nlocals slots, TR_NULL with set[i] = 0 when unset */
    uint8_t *set;
    const tr_value *args, *group, *window;
    const struct tr_lang_ctx *ctx;
    struct tr_lang_err *err;
    struct tr_aggr_state *aggrs;  /* the current group's aggregates (windowed selects) */
    tr_value *recur_args;         /* arguments of a pending recur (owned, nrecur of them) */
    uint32_t nrecur;
    int depth;
    int folding;                 /* evaluating at compile time */
    /* emit/drop outcome */
    int outcome;
    tr_value emitted;
    struct tr_str *port;
};

/* Evaluate n into *out (one owned reference). Returns 0, TR_RUN_EMIT /
 * TR_RUN_DROP for control flow, or a negative error with env->err set. */
int tr_eval(struct tr_env *env, const struct tr_node *n, tr_value *out);
/* Run a block of script expressions (top-level or case body); the value of
 * the last one goes to *out. */
int tr_eval_block(struct tr_env *env, struct tr_node *const *v, uint32_t n, tr_value *out);

/* Resolve names, fold constants, check; fills prog (which takes arena). */
int tr_compile_prog(const char *path, const char *src, size_t len, int query,
                    const struct tr_lang_opts *opts, struct tr_prog **out, struct tr_parsed *parsed,
                    struct tr_lang_err *err);
void tr_prog_destroy(struct tr_prog *p);
/* Compile an embedded script body (define script ... end) sharing src. */
int tr_compile_body(struct tr_prog *parent, struct tr_node *body, struct tr_parsed *parsed,
                    const struct tr_lang_opts *opts, struct tr_prog **out, struct tr_lang_err *err);
/* What the compiler collects about one select statement. */
struct tr_select_info {
    int windowed;                /* event/$ may only appear inside aggregates */
    struct tr_node **aggrs;      /* aggregate calls, in slot order (tr_malloc'd) */
    size_t naggrs, capaggrs;
};
/* Compile a select clause expression (target, where, having, group by) in
 * the query's scope. no_event: reject event/$ outside aggregates. */
int tr_compile_select_expr(struct tr_prog *prog, struct tr_node *stmt, struct tr_node *e,
                           struct tr_select_info *si, int no_event, struct tr_lang_err *err);
/* In a windowed select, target sub-expressions equal to a group-by
 * expression become `group[i]` (before compiling the target). */
int tr_rewrite_group_refs(struct tr_prog *prog, struct tr_node *target, struct tr_node *group_by);

/* A `define tumbling window`, resolved (query.c) for select.c. */
struct tr_window_def {
    const char *name;
    int by_size;                 /* size = N; otherwise interval = N (ns) */
    uint64_t size, interval;
    int emit_empty;
    uint64_t max_groups;         /* UINT64_MAX: unbounded */
    struct tr_node *script;      /* per-event weight / time, or NULL */
};

/* Select statements at run time (select.c). */
int tr_select_create(struct tr_prog *prog, struct tr_node *stmt, const struct tr_window_def *wins,
                     size_t nwins, struct tr_select_info *info, struct tr_select **out);
void tr_select_destroy(struct tr_select *s);

/* Evaluate a constant expression (operator parameters). */
int tr_const_eval(struct tr_prog *prog, struct tr_node *e, tr_value *out, struct tr_lang_err *err);

#endif
