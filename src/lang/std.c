/* std.c - the table of built-in module functions.
 *
 * Maps module::name to the C implementations in the std_*.c files. It does
 * not know about `use`: compile.c decides which modules a program may call.
 * Invariant: the table is constant and shared by every program.
 */
#include <string.h>

#include "lang/std_int.h"

static const struct {
    const char *name;
    const struct tr_fn *fns;
} modules[] = {
    {"string", tr_std_string}, {"record", tr_std_record}, {"array", tr_std_array},
    {"type", tr_std_type},     {"math", tr_std_math},     {"json", tr_std_json},
    {"range", tr_std_range},   {"integer", tr_std_integer}, {"float", tr_std_float},
    {"system", tr_std_system}, {"test", tr_std_test},       {"datetime", tr_std_datetime},
    {"re", tr_std_re},         {"random", tr_std_random},   {"chash", tr_std_chash},
    {"binary", tr_std_binary}, {"base64", tr_std_base64},   {"origin", tr_std_origin},
    {"url", tr_std_url},
};

static int same(const char *a, const char *b, size_t n) { return strlen(a) == n && memcmp(a, b, n) == 0; }

int tr_std_has_module(const char *module, size_t mlen) {
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
        if (same(modules[i].name, module, mlen)) return 1;
    return 0;
}

const struct tr_fn *tr_std_find(const char *module, size_t mlen, const char *name, size_t nlen) {
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        if (!same(modules[i].name, module, mlen)) continue;
        for (const struct tr_fn *f = modules[i].fns; f->name; f++)
            if (same(f->name, name, nlen)) return f;
    }
    return NULL;
}
