/* error.h - return codes and located diagnostics.
 *
 * Functions return 0 on success and a negative value on failure: -errno
 * captured at the failing call, or one of the TR_E* codes below (all below
 * -4096 so they never collide with errno values). Input errors (config,
 * query, JSON, frames, WAL records) also fill a struct tr_diag with the
 * source location, printed as "file:line:col: message".
 */
#ifndef TR_ERROR_H
#define TR_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    TR_EPARSE = -5000,   /* malformed input (syntax) */
    TR_EINVAL_CFG,       /* well-formed input with wrong contents */
    TR_ENOTFOUND,        /* a named thing does not exist */
    TR_EFULL,            /* capacity reached: caller should apply backpressure */
    TR_EDROPPED,         /* refused and counted (drop policy) */
    TR_ECORRUPT,         /* checksum or structure damage found */
    TR_ETOOBIG,          /* larger than the configured maximum */
    TR_EDEPTH,           /* nesting deeper than allowed */
    TR_EUNSUPPORTED,     /* a feature not implemented yet */
    TR_ECLOSED,          /* the object is closed or closing */
    TR_ERUNTIME,         /* script runtime error */
    TR_EREFUSED,         /* failed at once by its receiver (a sink that cannot take it now) */
};

/* Name of a return code: strerror for -errno, our text for TR_E*. */
const char *tr_strerror(int rc);

/* A diagnostic: where and what. message is owned by the struct. */
struct tr_diag {
    char file[256];
    int line;   /* 1-based, 0 = unknown */
    int col;    /* 1-based, 0 = unknown */
    char msg[1024];
};

void tr_diag_clear(struct tr_diag *d);
/* printf-style; file may be NULL to keep d->file. Returns TR_EPARSE-like rc
 * given so callers can `return tr_diag_set(d, rc, ...)`. d may be NULL. */
int tr_diag_set(struct tr_diag *d, int rc, const char *file, int line, int col,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
/* The same over a va_list, for a module's own printf-style error helper.
 * An argument may point into d->msg itself. */
int tr_diag_vset(struct tr_diag *d, int rc, const char *file, int line, int col,
                 const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 0)))
#endif
    ;
/* Where a checker that goes on after the first error (tremor check) sends
 * each one: d is located, detail a rendered source excerpt ending in a
 * newline or NULL. Both are valid during the call only. Returns 0 for
 * more errors, non-zero when it wants no more. */
typedef int (*tr_diag_sink)(void *arg, const struct tr_diag *d, const char *detail);

/* Give d a location if it has none yet (keeps its message). */
void tr_diag_locate(struct tr_diag *d, const char *file, int line, int col);
/* "file:line:col: msg" (parts that are unknown are left out) into buf. */
void tr_diag_format(const struct tr_diag *d, char *buf, size_t n);

#endif
