/* script.h - a compiled tremor-script: runs once per event.
 *
 * Used by `tremor run FILE.tremor`, the scripts conformance suites and
 * script operators in queries. A script sees event, $ (meta), state and
 * args; it ends by emitting (optionally to a named port) or dropping.
 */
#ifndef TR_SCRIPT_H
#define TR_SCRIPT_H

#include <stddef.h>

#include "core/error.h"
#include "core/value.h"
#include "lang/query.h"

enum tr_script_outcome {
    TR_SCRIPT_EMIT,
    TR_SCRIPT_DROP,
};

int tr_script_compile(const char *path, const char *src, size_t len, struct tr_script **out,
                      struct tr_diag *d);
void tr_script_destroy(struct tr_script *s);

/* Run s. event, meta and state are in/out (the script may replace them).
 * On EMIT, *port is NULL for the default port or the name after `=>`; the
 * emitted value is left in *event. Runtime errors: TR_ERUNTIME and d. */
int tr_script_run(struct tr_script *s, const struct tr_lang_ctx *ctx, tr_value *event,
                  tr_value *meta, tr_value *state, enum tr_script_outcome *outcome,
                  const char **port, struct tr_diag *d);

#endif
