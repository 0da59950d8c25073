/* url.h - Tremor artefact URLs and {placeholder} substitution.
 *
 * Grammar (Tremor 0.11 src/url.rs):
 *     url     = [ "tremor://" host ] "/" kind "/" artefact [ "/" instance [ "/" port ] ] [ "/" ]
 *     kind    = "onramp" | "offramp" | "pipeline" | "binding"
 * Segments are kept as written (no percent-decoding), so "{instance}" stays a
 * literal segment until tr_url_substitute replaces it. Ports are free names
 * (in, out, err, metrics, or any output port a query declares). Not a general
 * URL parser: no query, fragment, userinfo or other scheme.
 */
#ifndef TR_URL_H
#define TR_URL_H

#include <stddef.h>

#include "core/error.h"
#include "core/value.h"

enum tr_url_kind { TR_URL_ONRAMP, TR_URL_OFFRAMP, TR_URL_PIPELINE, TR_URL_BINDING };

/* Empty string = absent. Sizes include the NUL. */
struct tr_url {
    enum tr_url_kind kind;
    char host[128];
    char artefact[128];
    char instance[128];
    char port[64];
};

/* Parse s into u. Errors: TR_EPARSE with d->msg saying what is wrong and at
 * which character (d has no line: the caller knows where s came from and
 * should re-locate the message). u is zeroed on failure. */
int tr_url_parse(const char *s, struct tr_url *u, struct tr_diag *d);

/* "/kind/artefact[/instance[/port]]" (with "tremor://host" in front when a
 * host is set) into buf; returns the length it needed (snprintf-style). */
int tr_url_format(const struct tr_url *u, char *buf, size_t n);

/* "onramp", "offramp", "pipeline", "binding". */
const char *tr_url_kind_name(enum tr_url_kind k);

/* Replace every {name} in s by vars[name]; vars is a record whose values are
 * strings (NULL or TR_NULL: no placeholders defined). An unknown name, a
 * non-string value, an empty {} or a '{' without '}' is TR_EINVAL_CFG with a
 * message naming it and listing the names vars defines. Text outside braces
 * is copied as is. *out is a new string (tr_free it) or NULL on failure.
 * Results longer than TR_URL_MAX_SUBST bytes are TR_ETOOBIG. */
#define TR_URL_MAX_SUBST 65536
int tr_url_substitute(const char *s, const tr_value *vars, char **out, struct tr_diag *d);

#endif
