/* std_random.c - std::random: pseudo-random values.
 *
 * bool, integer, float and string. Like Tremor, every call seeds its
 * generator from the event's ingest time, so one event always sees the same
 * values (and tests are repeatable); the sequence is splitmix64, not Rust's
 * SmallRng, so the numbers themselves differ from Tremor's. Not pure: calls
 * are never folded at compile time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/std_int.h"

#define MAX_RANDOM_STRING (1u << 20)

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t seed(const struct tr_fcall *c) { return c->ctx ? c->ctx->ingest_ns : 0; }

/* Uniform in [0, n) without modulo bias. */
static uint64_t below(uint64_t *s, uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = next(s);
    while (r >= lim);
    return r % n;
}

static int rbool(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    uint64_t s = seed(c);
    *out = tr_v_bool(next(&s) & 1);
    return 0;
}

static int rinteger(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    uint64_t s = seed(c);
    if (n == 0) {
        *out = tr_v_int((int64_t)next(&s));
        return 0;
    }
    if (n == 1) {
        if (a[0].type != TR_I64 && a[0].type != TR_U64) return TR_FN_BADTYPE;
        if (a[0].type == TR_I64 && a[0].as.i < 0) return TR_FN_BADTYPE;
        uint64_t hi = a[0].type == TR_I64 ? (uint64_t)a[0].as.i : a[0].as.u;
        if (hi == 0) {
            snprintf(c->msg, sizeof c->msg, "Invalid arguments. Single argument value must be > 0.");
            return TR_FN_ERROR;
        }
        *out = tr_v_uint(below(&s, hi));
        return 0;
    }
    if (a[0].type != TR_I64 || a[1].type != TR_I64) return TR_FN_BADTYPE;
    if (a[0].as.i >= a[1].as.i) {
        snprintf(c->msg, sizeof c->msg, "Invalid arguments. First argument must be lower than second argument");
        return TR_FN_ERROR;
    }
    uint64_t span = (uint64_t)a[1].as.i - (uint64_t)a[0].as.i;
    *out = tr_v_int((int64_t)((uint64_t)a[0].as.i + below(&s, span)));
    return 0;
}

static int num(const tr_value *v, double *d) {
    if (v->type == TR_F64) *d = v->as.f;
    else if (v->type == TR_I64) *d = (double)v->as.i;
    else if (v->type == TR_U64) *d = (double)v->as.u;
    else return 0;
    return 1;
}

static int rfloat(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    uint64_t s = seed(c);
    double u = (double)(next(&s) >> 11) / 9007199254740992.0, lo = 0, hi = 1;
    if (n == 1 && !num(&a[0], &hi)) return TR_FN_BADTYPE;
    if (n == 2 && (!num(&a[0], &lo) || !num(&a[1], &hi))) return TR_FN_BADTYPE;
    if (n >= 1 && !(lo < hi)) {
        snprintf(c->msg, sizeof c->msg, n == 1 ? "Invalid arguments. Single argument value must be > 0."
                                               : "Invalid arguments. First argument must be lower than second argument");
        return TR_FN_ERROR;
    }
    *out = tr_v_float(lo + u * (hi - lo));
    return 0;
}

static int rstring(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)n;
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (a[0].type != TR_I64 || a[0].as.i < 0) return TR_FN_BADTYPE;
    if ((uint64_t)a[0].as.i > MAX_RANDOM_STRING) {
        snprintf(c->msg, sizeof c->msg, "Invalid arguments. Length must be at most %u.", MAX_RANDOM_STRING);
        return TR_FN_ERROR;
    }
    size_t len = (size_t)a[0].as.i;
    char *buf = tr_malloc(len + 1);
    if (!buf) return -ENOMEM;
    uint64_t s = seed(c);
    for (size_t i = 0; i < len; i++) buf[i] = alnum[below(&s, sizeof alnum - 1)];
    int rc = tr_v_str(buf, len, out);
    tr_free(buf);
    return rc ? -ENOMEM : 0;
}

const struct tr_fn tr_std_random[] = {
    {"random", "bool", 0, 0, 0, rbool},
    {"random", "integer", 0, 2, 0, rinteger},
    {"random", "float", 0, 2, 0, rfloat},
    {"random", "string", 1, 1, 0, rstring},
    {NULL, NULL, 0, 0, 0, NULL},
};
