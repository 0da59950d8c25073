/* hints.h - what to write instead, for the load errors people make when
 * they copy Tremor's tutorial from a web page: operator parameters without
 * `with ... end;`, and YAML whose indentation was lost on the way. */
#ifndef TR_CLI_HINTS_H
#define TR_CLI_HINTS_H

#include <stddef.h>

#include "core/error.h"

/* When d (a load error of the file d->file) is one of those mistakes, write
 * the advice, with the corrected text, into out (n bytes) and return 1;
 * else 0. */
int tr_hint_for(const struct tr_diag *d, char *out, size_t n);

#endif
