/* std_int.h - the built-in function table shared by std.c, the std_*.c modules,
 * the compiler (name lookup, constant folding) and the interpreter (calls).
 *
 * A built-in is a plain C function over values; it never sees the AST or
 * the evaluation environment, only the run context (tr_fcall). Also how
 * values print inside strings (display.c) and their type names (interp.c),
 * which std functions and the interpreter both need.
 */
#ifndef TR_LANG_STD_INT_H
#define TR_LANG_STD_INT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/value.h"
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
    tr_std_binary[], tr_std_base64[], tr_std_origin[], tr_std_url[];

/* Append the display form used by string::format and interpolation. */
int tr_value_display(const tr_value *v, struct tr_buf *out);
/* Append the form Rust's ToString gives (array::join): floats as `{}`
 * prints them, bytes as <<[1, 2]>>, the rest as tr_value_display. */
int tr_value_to_string(const tr_value *v, struct tr_buf *out);
const char *tr_lang_type_name(const tr_value *v);

#endif
