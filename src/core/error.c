/* error.c - names of return codes and the located diagnostic record. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tr_strerror(int rc) {
    switch (rc) {
    case 0: return "success";
    case TR_EPARSE: return "parse error";
    case TR_EINVAL_CFG: return "invalid configuration";
    case TR_ENOTFOUND: return "not found";
    case TR_EFULL: return "capacity reached";
    case TR_EDROPPED: return "dropped";
    case TR_ECORRUPT: return "corrupt data";
    case TR_ETOOBIG: return "too big";
    case TR_EDEPTH: return "nesting too deep";
    case TR_EUNSUPPORTED: return "not supported";
    case TR_ECLOSED: return "closed";
    case TR_ERUNTIME: return "runtime error";
    case TR_EREFUSED: return "refused by the receiver";
    default: break;
    }
    if (rc < 0 && rc > -4096) return strerror(-rc);
    return "unknown error";
}

void tr_diag_clear(struct tr_diag *d) {
    if (!d) return;
    d->file[0] = 0;
    d->line = d->col = 0;
    d->msg[0] = 0;
}

int tr_diag_vset(struct tr_diag *d, int rc, const char *file, int line, int col,
                 const char *fmt, va_list ap) {
    if (!d) return rc;
    char msg[sizeof d->msg];   /* formatted apart: an argument may be d->msg */
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (file) snprintf(d->file, sizeof d->file, "%s", file);
    d->line = line;
    d->col = col;
    memcpy(d->msg, msg, sizeof msg);
    return rc;
}

int tr_diag_set(struct tr_diag *d, int rc, const char *file, int line, int col,
                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rc = tr_diag_vset(d, rc, file, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

void tr_diag_locate(struct tr_diag *d, const char *file, int line, int col) {
    if (!d || d->file[0]) return;
    if (file) snprintf(d->file, sizeof d->file, "%s", file);
    d->line = line;
    d->col = col;
}

void tr_diag_format(const struct tr_diag *d, char *buf, size_t n) {
    if (d->file[0] && d->line > 0 && d->col > 0)
        snprintf(buf, n, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    else if (d->file[0] && d->line > 0)
        snprintf(buf, n, "%s:%d: %s", d->file, d->line, d->msg);
    else if (d->file[0])
        snprintf(buf, n, "%s: %s", d->file, d->msg);
    else
        snprintf(buf, n, "%s", d->msg);
}
