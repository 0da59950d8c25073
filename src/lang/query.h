/* query.h - a compiled trickle query: the graph it declares and its selects.
 *
 * The pipeline layer builds its graph from this description: the builtin
 * nodes in, out, err, then every `create stream`, `create operator`,
 * `create script` and `select` in file order. The language layer owns the
 * parsing, constant evaluation of operator parameters and the evaluation of
 * select statements; it knows nothing about ports wiring at run time.
 * One tr_query is compiled per pipeline instance; it is not thread-safe.
 */
#ifndef TR_QUERY_H
#define TR_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/event.h"
#include "core/value.h"

/* The builtin nodes of every query, in this order, and the default port
 * names; a node and its port share the name, as in Tremor 0.11
 * (tremor-pipeline's IN, OUT, ERR, METRICS). Events written into `out`,
 * `err` or `metrics` leave the pipeline through the output port of that
 * name. Defined here once. */
#define TR_PORT_IN "in"
#define TR_PORT_OUT "out"
#define TR_PORT_ERR "err"
#define TR_PORT_METRICS "metrics"
#define TR_QUERY_BUILTIN_NODES {TR_PORT_IN, TR_PORT_OUT, TR_PORT_ERR, TR_PORT_METRICS}
#define TR_QUERY_NBUILTIN 4

struct tr_query;
struct tr_select;
struct tr_script;

/* Where an event came from (tremor::origin), as the onramp that read it
 * describes it: scheme://host[:port][/path/segments]. The strings belong to
 * the caller and must outlive the run. Without one, origin::* returns null
 * (onramps do not describe their origin yet). */
struct tr_lang_origin {
    const char *scheme;
    const char *host;
    int has_port;           /* 0: the uri has no port, origin::port() is null */
    uint16_t port;
    const char *const *path;
    size_t npath;
};

/* What the running system tells the language. */
struct tr_lang_ctx {
    const char *instance;   /* system::instance(): -i of server run, "tremor-script" standalone */
    uint64_t ingest_ns;     /* of the event being processed (system::ingest_ns()) */
    const struct tr_lang_origin *origin;   /* NULL: unknown, every origin::* is null */
};

/* Emitted events go through this callback; the callee takes ev (it must
 * tr_event_fini it). A non-zero return stops the run and is returned. */
typedef int (*tr_emit_fn)(void *arg, const char *port, struct tr_event *ev);

enum tr_qnode_kind {
    TR_QN_STREAM,     /* create stream NAME */
    TR_QN_OPERATOR,   /* create operator NAME [from DEF] [with ... end] */
    TR_QN_SCRIPT,     /* create script NAME [from DEF] [with ... end] */
    TR_QN_SELECT,     /* select ... from A[/p] into B[/q] */
};

struct tr_qnode {
    enum tr_qnode_kind kind;
    const char *id;          /* stream/operator/script name; for a select "select_N" */
    int line, col;           /* of the statement, for diagnostics */
    /* TR_QN_OPERATOR */
    const char *op_kind;     /* "qos::wal", "passthrough", "grouper::bucket", ... */
    tr_value params;         /* record: define's defaults with create's `with` applied */
    /* TR_QN_SCRIPT */
    struct tr_script *script;
    /* TR_QN_SELECT */
    const char *from_node, *from_port;   /* port defaults to "out" */
    const char *into_node, *into_port;   /* port defaults to "in" */
    struct tr_select *select;
};

/* Compile src (the contents of path) into q. On error returns TR_EPARSE or
 * TR_EINVAL_CFG with d located in path. No module path: tr_lang_compile_query
 * (lang.h) takes options and gives the full, self-rendering error. */
int tr_query_compile(const char *path, const char *src, size_t len, struct tr_query **out,
                     struct tr_diag *d);
void tr_query_destroy(struct tr_query *q);

/* The id from `#!config id = "name"` at the top of the file, or NULL. */
const char *tr_query_config_id(const struct tr_query *q);
/* `#!config metrics_interval_s = N` (seconds between the pipeline's node
 * metrics, Tremor 0.11; 0: at every event), or -1 when not given. */
int64_t tr_query_metrics_interval_s(const struct tr_query *q);
size_t tr_query_node_count(const struct tr_query *q);
const struct tr_qnode *tr_query_node(const struct tr_query *q, size_t i);

/* Run a select on one event. Takes ev. Each output is passed to emit
 * (port is always "out" for a plain select). A runtime error returns
 * TR_ERUNTIME with d located in the query source. */
int tr_select_run(struct tr_select *s, const struct tr_lang_ctx *ctx, struct tr_event *ev,
                  tr_emit_fn emit, void *arg, struct tr_diag *d);
/* 1 when s emits every event as it came on "out" and keeps no state
 * (`select event from ... into ...` with no where, group by, having or
 * window): a caller may pass the event on without running s. */
int tr_select_passes_event(const struct tr_select *s);
/* Time passes (windows, ticks); may emit. */
int tr_select_tick(struct tr_select *s, const struct tr_lang_ctx *ctx, uint64_t now_ns,
                   tr_emit_fn emit, void *arg, struct tr_diag *d);

/* --- extensions (error rendering, full error details) --- */
#include "core/buf.h"
#include "lang/lang.h"

/* Render an error of this query (compile error: use tr_lang_render on the
 * source directly). */
int tr_query_render(const struct tr_query *q, const struct tr_lang_err *e, struct tr_buf *out);
/* The error of the last failed tr_select_run of s. */
const struct tr_lang_err *tr_select_last_error(const struct tr_select *s);
/* That error as 0.11's pipeline logs a runtime error of its query: the
 * source excerpt of tr_lang_locate (errfmt.h) appended to out. TR_ENOTFOUND:
 * no error, no position, or one 0.11 logs as a bare message. */
int tr_select_locate(const struct tr_select *s, struct tr_buf *out);
size_t tr_query_warning_count(const struct tr_query *q);
int tr_query_render_warnings(const struct tr_query *q, struct tr_buf *out);

#endif
