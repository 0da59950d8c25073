/* script.h - a compiled tremor-script: runs once per event.
 *
 * Used by `tremor run FILE.tremor`, the scripts conformance suites and
 * script operators in queries. A script sees event, $ (meta), state and
 * args; it ends by emitting (optionally to a named port) or dropping.
 */
#ifndef TR_SCRIPT_H
#define TR_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/value.h"
#include "lang/lang.h"
#include "lang/query.h"

enum tr_script_outcome {
    TR_SCRIPT_EMIT,
    TR_SCRIPT_DROP,
};

/* Compile with a plain diagnostic and no module path; tr_lang_compile_script
 * (lang.h) gives the full error and takes options. */
int tr_script_compile(const char *path, const char *src, size_t len, struct tr_script **out,
                      struct tr_diag *d);
void tr_script_destroy(struct tr_script *s);

/* Run s. event, meta and state are in/out (the script may replace them).
 * On EMIT, *port is NULL for the default port or the name after `=>`; the
 * emitted value is left in *event. Runtime errors: TR_ERUNTIME and d. */
int tr_script_run(struct tr_script *s, const struct tr_lang_ctx *ctx, tr_value *event,
                  tr_value *meta, tr_value *state, enum tr_script_outcome *outcome,
                  const char **port, struct tr_diag *d);

/* The error of the last failed tr_script_run (valid until the next run). */
const struct tr_lang_err *tr_script_last_error(const struct tr_script *s);
/* Render e (an error of this script) the way Tremor prints it. */
int tr_script_render(const struct tr_script *s, const struct tr_lang_err *e, struct tr_buf *out);
/* Compile-time warnings, rendered one after another separated by blank lines. */
size_t tr_script_warning_count(const struct tr_script *s);
int tr_script_render_warnings(const struct tr_script *s, struct tr_buf *out);
/* Set the `args` record seen by the script (takes args). */
void tr_script_set_args(struct tr_script *s, tr_value args);

/* Whether the script assigns to `event` or a path into it (`let event.a =
 * ...`). When not, the event it emits is the one it got, unchanged, or a
 * value it built. */
bool tr_script_writes_event(const struct tr_script *s);

#endif
