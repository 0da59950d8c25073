/* json.c - the JSON codec: a non-recursive decoder straight into tr_values
 * and a compact / indented encoder.
 *
 * Not a DOM of its own and not a streaming reader. Invariants: the decoder
 * never reads outside buf[0..len) (the input need not be NUL-terminated),
 * keeps open containers and their members on explicit stacks (at most
 * TR_VALUE_MAX_DEPTH containers deep), builds each container once, at its
 * exact size, when it closes, and releases everything on any error. Number conversion
 * never depends on the C locale: text handed to strtod never contains a
 * decimal point, and the encoder rewrites whatever point printf used.
 */
#include "codec/json.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/base64.h"
#include "codec/json_scan.h"
#include "core/alloc.h"
#include "core/fmtnum.h"

/* Length of the well-formed UTF-8 sequence at p (2..4 bytes), or 0 for an
 * invalid one: stray continuation bytes, overlong forms, UTF-16 surrogates
 * (U+D800..DFFF) and anything above U+10FFFF. Only for p[0] >= 0x80. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* ------------------------------------------------------------------ */
/* numbers (shared by the decoder and the encoder's round-trip check) */

struct num {
    const uint8_t *int_s, *int_e;    /* integer digits */
    const uint8_t *frac_s, *frac_e;  /* fraction digits (empty if none) */
    int64_t exp;                     /* exponent as written (clamped) */
    uint64_t mant;                   /* leading significant digits ... */
    int64_t mant_exp;                /* ... times 10^mant_exp */
    int neg, is_int, overflow;       /* overflow: mant lost digits */
};

/* Exponents beyond this are clamped: far past any double, and still far
 * above any digit count an input can have, so clamping never changes the
 * result. */
#define EXP_CLAMP 1000000000000000LL

/* Eight digits at once (SWAR, as in Lemire's fast_float): timestamps
 * such as ingest_ns have 19, and a loop of one digit each was most of the
 * decoder's time on numbers. w holds the bytes in memory order, so only on
 * little-endian machines; elsewhere the byte loop does it all. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TR_SWAR_DIGITS 1
static inline int eight_digits(uint64_t w) {
    return (w & 0xF0F0F0F0F0F0F0F0ull) == 0x3030303030303030ull &&
           ((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) == 0x3030303030303030ull;
}

static inline uint64_t eight_value(uint64_t w) {
    w = ((w & 0x0F0F0F0F0F0F0F0Full) * 2561) >> 8;
    w = ((w & 0x00FF00FF00FF00FFull) * 6553601) >> 16;
    return ((w & 0x0000FFFF0000FFFFull) * 42949672960001ull) >> 32;
}
#endif

/* number = [ '-' ] ( '0' / digit1-9 *digit ) [ '.' 1*digit ] [ ( 'e' / 'E' ) [ '+' / '-' ] 1*digit ]
 * p is at '-' or a digit. Returns the end of the number, or NULL with
 * *err / *msg describing the first offending byte. */
static const uint8_t *scan_number(const uint8_t *p, const uint8_t *end, struct num *nm,
                                  const uint8_t **err, const char **msg) {
    uint64_t m = 0;
    int over = 0;
    int64_t mexp = 0;
    nm->neg = 0;
    nm->is_int = 1;
    nm->exp = 0;
    if (*p == '-') {
        nm->neg = 1;
        p++;
    }
    if (p == end || !is_digit(*p)) {
        *err = p;
        *msg = "expected a digit after '-'";
        return NULL;
    }
    nm->int_s = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            *err = p - 1;
            *msg = "leading zeros are not allowed in numbers";
            return NULL;
        }
    } else {
#ifdef TR_SWAR_DIGITS
        /* below 10^11, m * 10^8 + 8 digits stays below 10^19 < UINT64_MAX */
        while (end - p >= 8 && m < 100000000000ull) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!eight_digits(w)) break;
            m = m * 100000000u + eight_value(w);
            p += 8;
        }
#endif
        for (; p < end && is_digit(*p); p++) {
            unsigned d = *p - '0';
            /* 1844674407370955161 * 10 + 5 == UINT64_MAX */
            if (m < 1844674407370955161ULL || (m == 1844674407370955161ULL && d <= 5))
                m = m * 10 + d;
            else
                over = 1;
            if (over) mexp++;
        }
    }
    nm->int_e = nm->frac_s = nm->frac_e = p;
    if (p < end && *p == '.') {
        nm->is_int = 0;
        p++;
        if (p == end || !is_digit(*p)) {
            *err = p;
            *msg = "expected a digit after '.'";
            return NULL;
        }
        nm->frac_s = p;
        for (; p < end && is_digit(*p); p++) {
            unsigned d = *p - '0';
            if (over) continue;
            if (m < 1844674407370955161ULL || (m == 1844674407370955161ULL && d <= 5)) {
                m = m * 10 + d;
                mexp--;
            } else {
                over = 1;
            }
        }
        nm->frac_e = p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        int64_t x = 0;
        nm->is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == end || !is_digit(*p)) {
            *err = p;
            *msg = "expected a digit in the exponent";
            return NULL;
        }
        for (; p < end && is_digit(*p); p++)
            if (x < EXP_CLAMP) x = x * 10 + (*p - '0');
        nm->exp = eneg ? -x : x;
    }
    nm->mant = m;
    nm->mant_exp = mexp + nm->exp;
    nm->overflow = over;
    return p;
}

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The double nearest to the scanned number (sign included); it may be
 * infinite. 0 or -ENOMEM. */
static int num_double(const struct num *nm, double *out) {
    double f;
    if (!nm->overflow && nm->mant == 0) {
        f = 0.0;
    } else if (!nm->overflow && nm->mant <= (1ULL << 53) && nm->mant_exp >= -22 && nm->mant_exp <= 22 &&
               FLT_EVAL_METHOD == 0) {
        /* Both operands are exact doubles, so one IEEE operation gives the
         * correctly rounded result (Clinger's fast path). */
        f = (double)nm->mant;
        if (nm->mant_exp < 0)
            f /= pow10_exact[-nm->mant_exp];
        else
            f *= pow10_exact[nm->mant_exp];
    } else {
        /* All digits, no decimal point, adjusted exponent: strtod reads
         * that the same way in every locale and rounds correctly. */
        size_t ni = (size_t)(nm->int_e - nm->int_s), nf = (size_t)(nm->frac_e - nm->frac_s);
        size_t need = ni + nf + 32;
        char local[128];
        char *t = need <= sizeof local ? local : tr_malloc(need);
        if (!t) return -ENOMEM;
        memcpy(t, nm->int_s, ni);
        memcpy(t + ni, nm->frac_s, nf);
        snprintf(t + ni + nf, 32, "e%lld", (long long)(nm->exp - (int64_t)nf));
        f = strtod(t, NULL);
        if (t != local) tr_free(t);
    }
    *out = nm->neg ? -f : f;
    return 0;
}

/* ------------------------------------------------------------------ */
/* decoder                                                            */

struct parser {
    const uint8_t *start, *end;
    struct tr_diag *d;
    int rc;
    struct tr_varena *va;  /* where the document's strings and containers go */
    /* set at the first thing tr_json_encode would write otherwise:
     * whitespace, an escape, "-0", a float not in its shortest form, a
     * repeated key (tr_json_decode_canon) */
    int noncanon;
};

/* Record the first error: rc, and where (1-based line and byte column). */
static void fail(struct parser *ps, const uint8_t *at, int rc, const char *msg) {
    ps->rc = rc;
    if (!ps->d) return;
    size_t line = 1;
    const uint8_t *ls = ps->start;
    for (const uint8_t *q = ps->start; q < at; q++) {
        q = memchr(q, '\n', (size_t)(at - q));
        if (!q) break;
        line++;
        ls = q + 1;
    }
    size_t col = (size_t)(at - ls) + 1;
    int l = line > INT32_MAX ? INT32_MAX : (int)line;
    int c = col > INT32_MAX ? INT32_MAX : (int)col;
    if (at >= ps->end) {
        tr_diag_set(ps->d, rc, NULL, l, c, "%s at end of input", msg);
        return;
    }
    char near[64];
    size_t n = 0;
    for (const uint8_t *q = at; q < ps->end && q < at + 12 && *q != '\n'; q++) {
        if (*q >= 0x20 && *q < 0x7f && *q != '\'')
            near[n++] = (char)*q;
        else
            n += (size_t)snprintf(near + n, sizeof near - n, "\\x%02x", *q);
    }
    near[n] = 0;
    tr_diag_set(ps->d, rc, NULL, l, c, "%s near '%s'", msg, near);
}

/* Called before every token; compact JSON has no whitespace at all, so a
 * byte above ' ' (every token's first byte) ends it with one compare. */
static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* skip_ws for the decoder: whitespace the encoder would not write. */
static inline const uint8_t *ws(struct parser *ps, const uint8_t *p) {
    const uint8_t *q = skip_ws(p, ps->end);
    ps->noncanon |= q != p;
    return q;
}

static int hex4(const uint8_t *p, const uint8_t *end, uint32_t *out) {
    uint32_t v = 0;
    if (end - p < 4) return 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        if (c >= '0' && c <= '9')
            c -= '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            c = (uint8_t)((c | 0x20) - 'a' + 10);
        else
            return 0;
        v = v << 4 | c;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Resolve the escapes of the validated body [s, e) into o; returns the
 * number of bytes written, or 0 with ps set on a bad \u escape. The output
 * is never longer than the body. */
static size_t unescape(struct parser *ps, const uint8_t *s, const uint8_t *e, uint8_t *o, int *bad) {
    uint8_t *o0 = o;
    *bad = 0;
    while (s < e) {
        const uint8_t *bs = memchr(s, '\\', (size_t)(e - s));
        if (!bs) {
            memcpy(o, s, (size_t)(e - s));
            o += e - s;
            break;
        }
        memcpy(o, s, (size_t)(bs - s));
        o += bs - s;
        s = bs + 2;
        switch (bs[1]) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        default: { /* 'u': the scan admitted nothing else */
            uint32_t cp, lo;
            if (!hex4(s, e, &cp)) {
                fail(ps, bs, TR_EPARSE, "expected 4 hex digits after \\u");
                *bad = 1;
                return 0;
            }
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* a high surrogate must be followed by an escaped low one */
                if (e - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, e, &lo) && lo >= 0xDC00 &&
                    lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                } else {
                    fail(ps, bs, TR_EPARSE, "unpaired UTF-16 surrogate in \\u escape");
                    *bad = 1;
                    return 0;
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(ps, bs, TR_EPARSE, "unpaired UTF-16 surrogate in \\u escape");
                *bad = 1;
                return 0;
            }
            o += put_utf8(o, cp);
        }
        }
    }
    return (size_t)(o - o0);
}

/* string = '"' *( unescaped / '\' ( '"' / '\' / '/' / 'b' / 'f' / 'n' / 'r' / 't' / 'u' 4HEXDIG ) ) '"'
 * p is just past the opening quote. Returns the position after the closing
 * quote, or NULL with ps set. */
static const uint8_t *parse_string(struct parser *ps, const uint8_t *p, struct tr_str **out) {
    const uint8_t *end = ps->end, *s = p;
    int esc = 0;
    for (;;) {
        p += tr_json_scan_str(p, (size_t)(end - p));
        if (p == end) {
            fail(ps, s - 1, TR_EPARSE, "unterminated string");
            return NULL;
        }
        uint8_t c = *p;
        if (c == '"') break;
        if (c == '\\') {
            if (end - p < 2) {
                fail(ps, s - 1, TR_EPARSE, "unterminated string");
                return NULL;
            }
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': case 'u':
                break;
            default:
                fail(ps, p, TR_EPARSE, "invalid escape in string");
                return NULL;
            }
            esc = 1;
            p += 2;
        } else if (c < 0x20) {
            fail(ps, p, TR_EPARSE, "control character in string (it must be escaped)");
            return NULL;
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = utf8_seq(p, end);
            if (!n) {
                fail(ps, p, TR_EPARSE, "invalid UTF-8 in string");
                return NULL;
            }
            p += n;
        }
    }
    size_t raw = (size_t)(p - s);
    if (raw > UINT32_MAX) {
        fail(ps, s - 1, TR_ETOOBIG, "string longer than 4 GiB");
        return NULL;
    }
    struct tr_str *str = tr_varena_str(ps->va, raw);
    if (!str) {
        fail(ps, s - 1, -ENOMEM, "out of memory");
        return NULL;
    }
    if (!esc) {
        memcpy(str->data, s, raw);
        /* no escape: no '"', '\\' or control byte, and valid UTF-8 (checked
         * above with the encoder's own utf8_seq), so the encoder may copy it */
        str->json_plain = 1;
    } else {
        int bad;
        /* the encoder writes some escapes itself (\n, \"), but which ones
         * is canon_string's business: any escape counts as a change */
        ps->noncanon = 1;
        size_t n = unescape(ps, s, p, (uint8_t *)str->data, &bad);
        if (bad) {
            tr_str_unref(str);
            return NULL;
        }
        str->len = (uint32_t)n;
        str->data[n] = 0;
    }
    *out = str;
    return p + 1;
}

/* Convert the number at p into *out (see scan_number for the grammar). */
static const uint8_t *parse_number(struct parser *ps, const uint8_t *p, tr_value *out) {
    struct num nm;
    const uint8_t *err = NULL, *s = p;
    const char *msg = NULL;
    p = scan_number(p, ps->end, &nm, &err, &msg);
    if (!p) {
        fail(ps, err, TR_EPARSE, msg);
        return NULL;
    }
    if (nm.is_int && !nm.overflow) {
        if (!nm.neg) {
            *out = tr_v_uint(nm.mant);
            return p;
        }
        if (nm.mant <= (uint64_t)INT64_MAX) {
            ps->noncanon |= nm.mant == 0;   /* "-0" is written "0" */
            *out = tr_v_int(-(int64_t)nm.mant);
            return p;
        }
        if (nm.mant == (uint64_t)INT64_MAX + 1) {
            *out = tr_v_int(INT64_MIN);
            return p;
        }
    }
    double f;
    if (num_double(&nm, &f)) {
        fail(ps, s, -ENOMEM, "out of memory");
        return NULL;
    }
    if (isinf(f)) {
        fail(ps, s, TR_EPARSE, "number out of range for a 64-bit float");
        return NULL;
    }
    if (!ps->noncanon) {
        char tmp[TR_FMTNUM_MAX];
        size_t n = tr_fmtnum_json(f, tmp);
        ps->noncanon = n != (size_t)(p - s) || memcmp(tmp, s, n) != 0;
    }
    *out = tr_v_float(f);
    return p;
}

/* Members of the containers still open, innermost last. A container is
 * built in one go when it closes, at its exact size, so decoding never
 * grows an array or record. */
struct item {
    struct tr_str *key;  /* record member's key, NULL in arrays (owned) */
    tr_value v;          /* owned; TR_NULL while a key waits for its value */
};

struct frame {
    size_t base;  /* index of this container's first item */
    int is_rec;
};

struct dstack {
    struct frame *f, fl[32];
    struct item *it, il[64];
    size_t nf, fcap, ni, icap;
};

/* Double a stack that may still be in its local array. 0 or -ENOMEM. */
static int grow_stack(void **p, void *local, size_t *cap, size_t elem) {
    void *q = tr_malloc(2 * *cap * elem);
    if (!q) return -ENOMEM;
    memcpy(q, *p, *cap * elem);
    if (*p != local) tr_free(*p);
    *p = q;
    *cap *= 2;
    return 0;
}

static inline int push_item(struct dstack *st, struct tr_str *key, tr_value v) {
    if (st->ni == st->icap && grow_stack((void **)&st->it, st->il, &st->icap, sizeof *st->it)) {
        tr_str_unref(key);
        tr_value_unref(v);
        return -ENOMEM;
    }
    st->it[st->ni].key = key;
    st->it[st->ni].v = v;
    st->ni++;
    return 0;
}

/* Records up to this many members are built here without tr_rec_set_key's
 * general path; value.c gives records a hash index only above 16 fields,
 * so the result is the same record. */
#define REC_LINEAR 16

/* Pop the innermost frame and build its container from its items. On
 * failure the items not yet moved stay on the stack for the caller's
 * cleanup. */
static int close_container(struct dstack *st, struct tr_varena *va, tr_value *out, int *repeat) {
    struct frame fr = st->f[--st->nf];
    struct item *it = st->it + fr.base;
    size_t n = st->ni - fr.base, i = 0;
    int rc;
    if (fr.is_rec && n <= REC_LINEAR) {
        if ((rc = tr_varena_rec(va, n, out))) return rc;
        struct tr_rec *r = out->as.r;
        /* what tr_rec_set_key does for a record this small (no hash index),
         * stored directly: a repeated key keeps its first position and
         * takes the last value; the frame limit keeps the depth in bounds.
         * Keys are looked for among the earlier ones only when a bit of
         * their length and end bytes was seen before: repeats are rare, and
         * the scan was a twentieth of decoding a 13-key record. */
        uint64_t seen = 0;
        for (; i < n; i++) {
            struct tr_str *k = it[i].key;
            uint32_t j = r->len, dv = tr_value_depth(&it[i].v);
            unsigned first = k->len ? (unsigned char)k->data[0] : 0;
            unsigned last = k->len ? (unsigned char)k->data[k->len - 1] : 0;
            uint64_t bit = 1ull << ((k->len * 3u + first * 5u + last * 11u) & 63u);
            if (seen & bit) {
                for (j = 0; j < r->len; j++) {
                    const struct tr_str *o = r->fields[j].key;
                    if (tr_bytes_eq(o->data, o->len, k->data, k->len)) break;
                }
            }
            seen |= bit;
            if (dv + 1 > r->depth) r->depth = dv + 1;
            if (j < r->len) {
                tr_str_unref(k);
                tr_value_unref(r->fields[j].val);
                r->fields[j].val = it[i].v;
            } else {
                r->fields[j].key = k;
                r->fields[j].val = it[i].v;
                r->len++;
            }
            it[i].key = NULL;
            it[i].v = tr_v_null();
        }
    } else if (fr.is_rec) {
        if ((rc = tr_varena_rec(va, n, out))) return rc;
        /* a repeated key keeps its first position and takes the last value */
        for (; i < n && !rc; i++) {
            rc = tr_rec_set_key(out, it[i].key, it[i].v);
            it[i].key = NULL;
            it[i].v = tr_v_null();
        }
    } else {
        if ((rc = tr_varena_arr(va, n, out))) return rc;
        struct tr_arr *a = out->as.a;
        /* stored directly, so the depth is kept here; the frame limit above
         * already keeps it within TR_VALUE_MAX_DEPTH */
        for (; i < n && i < a->cap; i++) {
            uint32_t d = tr_value_depth(&it[i].v);
            if (d + 1 > a->depth) a->depth = d + 1;
            a->items[i] = it[i].v;
            it[i].v = tr_v_null();
        }
        a->len = (uint32_t)i;
        /* only beyond the capacity a hint may ask for */
        for (; i < n && !rc; i++) {
            rc = tr_arr_push(out, it[i].v);
            it[i].v = tr_v_null();
        }
    }
    if (rc) {
        tr_value_unref(*out);
        *out = tr_v_null();
        return rc;
    }
    if (fr.is_rec && out->as.r->len != n) *repeat = 1;   /* a repeated key was merged */
    st->ni = fr.base;
    return 0;
}

/* value = object / array / string / number / 'true' / 'false' / 'null'
 * object = '{' [ member *( ',' member ) ] '}' ; member = string ':' value
 * array = '[' [ value *( ',' value ) ] ']'
 * Driven by an explicit stack instead of recursion: the labels are the
 * states "a value is expected", "a key is expected", "a value is complete". */
int tr_json_decode(const char *buf, size_t len, tr_value *out, struct tr_diag *d) {
    return tr_json_decode_canon(buf, len, out, NULL, d);
}

int tr_json_decode_canon(const char *buf, size_t len, tr_value *out, int *canonical,
                         struct tr_diag *d) {
    static const uint8_t empty[1];
    struct parser ps;
    struct dstack st;
    const uint8_t *p, *end;
    tr_value v = tr_v_null();
    struct tr_str *s;
    struct tr_varena va;
    int rc;

    *out = tr_v_null();
    ps.start = buf ? (const uint8_t *)buf : empty;
    ps.end = ps.start + (buf ? len : 0);
    ps.d = d;
    ps.rc = 0;
    ps.noncanon = canonical == NULL;   /* nobody asked: no float formatted to compare */
    ps.va = &va;
    tr_varena_init_for(&va, len);
    st.f = st.fl;
    st.it = st.il;
    st.nf = st.ni = 0;
    st.fcap = sizeof st.fl / sizeof st.fl[0];
    st.icap = sizeof st.il / sizeof st.il[0];
    p = ps.start;
    end = ps.end;
    if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        fail(&ps, p, TR_EPARSE, "a byte order mark is not allowed");
        goto err;
    }

value:
    p = ws(&ps, p);
    if (p == end) {
        fail(&ps, p, TR_EPARSE, "expected a value");
        goto err;
    }
    switch (*p) {
    case '{':
    case '[':
        if (st.nf == TR_VALUE_MAX_DEPTH) {
            fail(&ps, p, TR_EDEPTH, "arrays and objects nested too deeply");
            goto err;
        }
        if (st.nf == st.fcap && grow_stack((void **)&st.f, st.fl, &st.fcap, sizeof *st.f)) {
            fail(&ps, p, -ENOMEM, "out of memory");
            goto err;
        }
        st.f[st.nf].base = st.ni;
        st.f[st.nf].is_rec = *p == '{';
        st.nf++;
        p = ws(&ps, p + 1);
        if (p < end && *p == (st.f[st.nf - 1].is_rec ? '}' : ']')) {
            p++;
            if ((rc = close_container(&st, &va, &v, &ps.noncanon))) {
                fail(&ps, p, rc, "out of memory");
                goto err;
            }
            goto have;
        }
        if (st.f[st.nf - 1].is_rec) goto key;
        goto value;
    case '"':
        if (!(p = parse_string(&ps, p + 1, &s))) goto err;
        v = tr_v_strobj(s);
        goto have;
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            v = tr_v_bool(1);
            p += 4;
            goto have;
        }
        break;
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            v = tr_v_bool(0);
            p += 5;
            goto have;
        }
        break;
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            v = tr_v_null();
            p += 4;
            goto have;
        }
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (!(p = parse_number(&ps, p, &v))) goto err;
        goto have;
    default: break;
    }
    fail(&ps, p, TR_EPARSE, "expected a value");
    goto err;

key:
    if (p == end || *p != '"') {
        fail(&ps, p, TR_EPARSE, "expected a string as object key");
        goto err;
    }
    if (!(p = parse_string(&ps, p + 1, &s))) goto err;
    if ((rc = push_item(&st, s, tr_v_null()))) {
        fail(&ps, p, rc, "out of memory");
        goto err;
    }
    p = ws(&ps, p);
    if (p == end || *p != ':') {
        fail(&ps, p, TR_EPARSE, "expected ':' after object key");
        goto err;
    }
    p++;
    goto value;

have:
    if (st.nf == 0) goto done;
    if (!st.f[st.nf - 1].is_rec) {
        rc = push_item(&st, NULL, v);
        v = tr_v_null();
        if (rc) {
            fail(&ps, p, rc, "out of memory");
            goto err;
        }
        p = ws(&ps, p);
        if (p < end && *p == ',') {
            p++;
            goto value;
        }
        if (p < end && *p == ']') {
            p++;
            if ((rc = close_container(&st, &va, &v, &ps.noncanon))) {
                fail(&ps, p, rc, "out of memory");
                goto err;
            }
            goto have;
        }
        fail(&ps, p, TR_EPARSE, "expected ',' or ']' after array element");
        goto err;
    }
    st.it[st.ni - 1].v = v;  /* the member whose key is waiting */
    v = tr_v_null();
    p = ws(&ps, p);
    if (p < end && *p == ',') {
        p = ws(&ps, p + 1);
        goto key;
    }
    if (p < end && *p == '}') {
        p++;
        if ((rc = close_container(&st, &va, &v, &ps.noncanon))) {
            fail(&ps, p, rc, "out of memory");
            goto err;
        }
        goto have;
    }
    fail(&ps, p, TR_EPARSE, "expected ',' or '}' after object member");
    goto err;

done:
    p = ws(&ps, p);
    if (p != end) {
        fail(&ps, p, TR_EPARSE, "unexpected text after the JSON document");
        goto err;
    }
    if (st.f != st.fl) tr_free(st.f);
    if (st.it != st.il) tr_free(st.it);
    tr_varena_done(&va);
    if (canonical) *canonical = !ps.noncanon;
    *out = v;
    return 0;

err:
    tr_value_unref(v);
    while (st.ni) {
        st.ni--;
        tr_str_unref(st.it[st.ni].key);
        tr_value_unref(st.it[st.ni].v);
    }
    if (st.f != st.fl) tr_free(st.f);
    if (st.it != st.il) tr_free(st.it);
    tr_varena_done(&va);
    if (canonical) *canonical = 0;
    return ps.rc;
}

/* ------------------------------------------------------------------ */
/* canonical text: what the encoder would write back                  */

/* How each byte is written inside a JSON string: 0 = as is, 'u' = \u00XX,
 * anything else = backslash + that letter. */
static const char esc_tab[256] = {
    ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
    [0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u',
    [0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u',
    [0x11] = 'u', [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u',
    [0x17] = 'u', [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u',
    [0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u', ['"'] = '"', ['\\'] = '\\',
};

/* The deepest nesting and the most keys (of all records open at once)
 * looked at; beyond them a document is simply not carried raw. */
#define CANON_DEPTH 32
#define CANON_KEYS 128

/* The string body at p (past its quote) when the encoder would write its
 * decoded bytes back as they are: no escape but the encoder's own (\" \\
 * \b \f \n \r \t, and \u00xx in lower-case hex for the other control
 * bytes), valid UTF-8. The position past the closing quote, or NULL. */
static const uint8_t *canon_string(const uint8_t *p, const uint8_t *end) {
    static const char hex[] = "0123456789abcdef";
    for (;;) {
        p += tr_json_scan_str(p, (size_t)(end - p));
        if (p == end) return NULL;
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (end - p < 2) return NULL;
            uint8_t e = p[1];
            if (e == 'u') {
                if (end - p < 6 || p[2] != '0' || p[3] != '0') return NULL;
                const char *h = memchr(hex, p[4], 2), *l = memchr(hex, p[5], 16);
                if (!h || !l) return NULL;
                uint8_t b = (uint8_t)((h - hex) << 4 | (l - hex));
                if (esc_tab[b] != 'u') return NULL;   /* \n, \t ... have their letter */
                p += 6;
            } else {
                if (e != '"' && e != '\\' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
                    return NULL;   /* \/ decodes to '/', which is written plain */
                p += 2;
            }
        } else if (c < 0x80) {
            return NULL;   /* a control byte: not JSON */
        } else {
            size_t n = utf8_seq(p, end);
            if (!n) return NULL;
            p += n;
        }
    }
}

/* The number at p when the encoder writes its value with the same bytes:
 * an integer without "-0", or a float in ryu's shortest form. The end of
 * the number, or NULL. */
static const uint8_t *canon_number(const uint8_t *p, const uint8_t *end) {
    /* Most numbers are integers (ids, timestamps): one without a sign
     * whose digits (no leading zero) are followed by neither '.' nor an
     * exponent, and that has at most 19 of them, is below 10^19 <
     * UINT64_MAX, so written back the same. Only the digits are counted. */
    if (*p != '-') {
        const uint8_t *q = p;
#ifdef TR_SWAR_DIGITS
        while (end - q >= 8 && q - p < 16) {
            uint64_t w;
            memcpy(&w, q, 8);
            if (!eight_digits(w)) break;
            q += 8;
        }
#endif
        while (q < end && is_digit(*q)) q++;
        size_t n = (size_t)(q - p);
        if (n >= 1 && n <= 19 && (p[0] != '0' || n == 1) &&
            (q == end || (*q != '.' && *q != 'e' && *q != 'E')))
            return q;
    }
    struct num nm;
    const uint8_t *err;
    const char *msg;
    const uint8_t *e = scan_number(p, end, &nm, &err, &msg);
    if (!e) return NULL;
    if (nm.is_int && !nm.overflow) {
        if (!nm.neg) return e;
        /* -0 becomes 0; below INT64_MIN it is a float */
        return nm.mant != 0 && nm.mant <= (uint64_t)INT64_MAX + 1 ? e : NULL;
    }
    double f;
    char tmp[TR_FMTNUM_MAX];
    if (num_double(&nm, &f) || isinf(f)) return NULL;
    size_t n = tr_fmtnum_json(f, tmp);
    return n == (size_t)(e - p) && memcmp(tmp, p, n) == 0 ? e : NULL;
}

struct canon_frame {
    uint32_t keys;   /* index of its first key in the key list */
    uint8_t is_rec;
    uint64_t seen;   /* the same filter of key length and end bytes as close_container's */
};

/* One state machine like tr_json_decode's, with no value built. Where the
 * decoder would take a thing the encoder writes otherwise (whitespace, a
 * repeated key, "1.0e0", "\u0041"), or fail, the answer is 0. */
int tr_json_canonical(const char *buf, size_t len) {
    struct canon_frame f[CANON_DEPTH];
    struct { const uint8_t *s; uint32_t n; } keys[CANON_KEYS];
    uint32_t nf = 0, nk = 0;
    if (!buf || !len) return 0;
    const uint8_t *p = (const uint8_t *)buf, *end = p + len;

value:
    if (p == end) return 0;
    switch (*p) {
    case '{':
    case '[':
        if (nf == CANON_DEPTH) return 0;
        f[nf].is_rec = *p == '{';
        f[nf].keys = nk;
        f[nf].seen = 0;
        nf++;
        p++;
        if (p < end && *p == (f[nf - 1].is_rec ? '}' : ']')) {
            p++;
            nf--;
            goto have;
        }
        if (f[nf - 1].is_rec) goto key;
        goto value;
    case '"':
        if (!(p = canon_string(p + 1, end))) return 0;
        goto have;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4)) return 0;
        p += 4;
        goto have;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5)) return 0;
        p += 5;
        goto have;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4)) return 0;
        p += 4;
        goto have;
    default:
        if (*p != '-' && !is_digit(*p)) return 0;
        if (!(p = canon_number(p, end))) return 0;
        goto have;
    }

key: {
    if (p == end || *p != '"' || nk == CANON_KEYS) return 0;
    const uint8_t *k = p + 1;
    if (!(p = canon_string(k, end))) return 0;
    /* two keys are one when their canonical texts are one; a repeat would
     * be merged by the decoder */
    uint32_t kn = (uint32_t)(p - 1 - k);
    unsigned first = kn ? k[0] : 0, last = kn ? k[kn - 1] : 0;
    uint64_t bit = 1ull << ((kn * 3u + first * 5u + last * 11u) & 63u);
    struct canon_frame *fr = &f[nf - 1];
    if (fr->seen & bit) {
        for (uint32_t j = fr->keys; j < nk; j++)
            if (tr_bytes_eq((const char *)keys[j].s, keys[j].n, (const char *)k, kn)) return 0;
    }
    fr->seen |= bit;
    keys[nk].s = k;
    keys[nk].n = kn;
    nk++;
    if (p == end || *p != ':') return 0;
    p++;
    goto value;
}

have:
    if (nf == 0) return p == end;
    if (p == end) return 0;
    if (*p == ',') {
        p++;
        if (f[nf - 1].is_rec) goto key;
        goto value;
    }
    if (*p != (f[nf - 1].is_rec ? '}' : ']')) return 0;
    p++;
    nk = f[--nf].keys;
    goto have;
}

int tr_json_decode_lazy(const char *buf, size_t len, tr_value *out, struct tr_diag *d) {
    if (len > UINT32_MAX || !tr_json_canonical(buf, len)) return tr_json_decode(buf, len, out, d);
    struct tr_varena va;
    tr_varena_init_for(&va, len);
    struct tr_str *s = tr_varena_str_new(&va, buf, len);
    tr_varena_done(&va);
    if (!s) {
        *out = tr_v_null();
        if (d) tr_diag_set(d, -ENOMEM, NULL, 1, 1, "out of memory");
        return -ENOMEM;
    }
    out->type = TR_RAWJSON;
    out->as.s = s;
    return 0;
}

int tr_json_materialize(tr_value *v) {
    if (v->type != TR_RAWJSON) return 0;
    tr_value out;
    int rc = tr_json_decode(v->as.s->data, v->as.s->len, &out, NULL);
    if (rc) return rc == -ENOMEM ? rc : TR_ECORRUPT;
    tr_value_unref(*v);
    *v = out;
    return 0;
}

/* ------------------------------------------------------------------ */
/* encoder                                                            */

/* Room for n more bytes plus the NUL that tr_buf keeps after the data.
 * The encoder writes bytes directly and only terminates at the end. */
static inline int room(struct tr_buf *b, size_t n) {
    return b->cap - b->len > n ? 0 : tr_buf_reserve(b, n);
}

static inline int put(struct tr_buf *b, const char *s, size_t n) {
    if (room(b, n)) return -ENOMEM;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static inline int put1(struct tr_buf *b, char c) {
    if (room(b, 1)) return -ENOMEM;
    b->data[b->len++] = c;
    return 0;
}

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of u written backwards ending at e; returns the start. */
static char *fmt_u32(char *e, uint32_t u) {
    while (u >= 100) {
        uint32_t r = u % 100;
        u /= 100;
        e -= 2;
        memcpy(e, digit_pairs + 2 * r, 2);
    }
    if (u >= 10) {
        e -= 2;
        memcpy(e, digit_pairs + 2 * u, 2);
    } else {
        *--e = (char)('0' + u);
    }
    return e;
}

/* The same for 64 bits. 64-bit division is several times dearer than
 * 32-bit, and ingest_ns-like numbers have 19 digits: the low 8-digit groups
 * are cut off with one 64-bit division each and written with 32-bit
 * arithmetic. */
static char *fmt_u64(char *e, uint64_t u) {
    while (u > UINT32_MAX) {
        uint32_t lo = (uint32_t)(u % 100000000u);
        u /= 100000000u;
        for (int i = 0; i < 4; i++) {
            e -= 2;
            memcpy(e, digit_pairs + 2 * (lo % 100), 2);
            lo /= 100;
        }
    }
    return fmt_u32(e, (uint32_t)u);
}

static int put_int(struct tr_buf *b, int neg, uint64_t mag) {
    char tmp[24], *e = tmp + sizeof tmp, *s = fmt_u64(e, mag);
    if (neg) *--s = '-';
    return put(b, s, (size_t)(e - s));
}

/* 0.11's JSON float text (tremor-value writes floats with ryu): see
 * core/fmtnum.h. */
static int put_f64(struct tr_buf *b, double f) {
    char tmp[TR_FMTNUM_MAX];
    size_t n = tr_fmtnum_json(f, tmp);
    return put(b, tmp, n);
}


/* A string the decoder found needs no escaping (tr_str.json_plain). */
static int put_plain(struct tr_buf *b, const struct tr_str *s) {
    if (room(b, (size_t)s->len + 2)) return -ENOMEM;
    char *o = b->data + b->len;
    o[0] = '"';
    memcpy(o + 1, s->data, s->len);
    o[1 + s->len] = '"';
    b->len += (size_t)s->len + 2;
    return 0;
}

static int put_str(struct tr_buf *b, const char *data, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)data, *e = p + len, *run = p;
    /* Reserve for every raw byte up front; each escape adds its extra
     * bytes to the reservation as it comes. */
    if (room(b, len + 2)) return -ENOMEM;
    b->data[b->len++] = '"';
    while (p < e) {
        p += tr_json_scan(p, (size_t)(e - p));
        if (p == e) break;
        uint8_t c = *p;
        char esc[6];
        size_t k;
        if (c >= 0x80) {
            size_t sl = utf8_seq(p, e);
            if (sl) {
                p += sl;
                continue;
            }
            memcpy(esc, "\\ufffd", 6);  /* not UTF-8: keep the output valid JSON */
            k = 6;
        } else if (!esc_tab[c]) {
            p++;
            continue;
        } else if (esc_tab[c] == 'u') {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        } else {
            esc[0] = '\\';
            esc[1] = esc_tab[c];
            k = 2;
        }
        memcpy(b->data + b->len, run, (size_t)(p - run));
        b->len += (size_t)(p - run);
        if (room(b, k + (size_t)(e - p))) return -ENOMEM;
        memcpy(b->data + b->len, esc, k);
        b->len += k;
        run = ++p;
    }
    memcpy(b->data + b->len, run, (size_t)(e - run));
    b->len += (size_t)(e - run);
    b->data[b->len++] = '"';
    return 0;
}

static int newline(struct tr_buf *b, int depth) {
    size_t n = 1 + 2 * (size_t)depth;
    if (room(b, n)) return -ENOMEM;
    b->data[b->len] = '\n';
    memset(b->data + b->len + 1, ' ', n - 1);
    b->len += n;
    return 0;
}

/* Bytes as simd-json's serde serializer writes them (json::encode): an
 * array of byte values, pretty as "[", a new line, "1,2,3", a new line, "]". */
static int put_bin_array(struct tr_buf *b, const struct tr_str *s, int depth, int pretty) {
    int rc;
    if ((rc = put1(b, '['))) return rc;
    if (pretty && s->len && (rc = newline(b, depth + 1))) return rc;
    for (uint32_t i = 0; i < s->len; i++) {
        char tmp[4], *e = tmp + sizeof tmp, *d = fmt_u64(e, (uint8_t)s->data[i]);
        if (i && (rc = put1(b, ','))) return rc;
        if ((rc = put(b, d, (size_t)(e - d)))) return rc;
    }
    if (pretty && s->len && (rc = newline(b, depth))) return rc;
    return put1(b, ']');
}

/* depth = number of arrays/records around v; flags: TR_JSON_*. */
static int enc(struct tr_buf *b, const tr_value *v, int depth, unsigned flags) {
    int rc, pretty = (flags & TR_JSON_PRETTY) != 0;
    switch (v->type) {
    case TR_NULL: return put(b, "null", 4);
    case TR_BOOL: return v->as.b ? put(b, "true", 4) : put(b, "false", 5);
    case TR_I64:
        return put_int(b, v->as.i < 0, v->as.i < 0 ? (uint64_t)0 - (uint64_t)v->as.i : (uint64_t)v->as.i);
    case TR_U64: return put_int(b, 0, v->as.u);
    case TR_F64: return put_f64(b, v->as.f);
    case TR_STR: return v->as.s->json_plain ? put_plain(b, v->as.s) : put_str(b, v->as.s->data, v->as.s->len);
    case TR_BIN: {
        if (flags & TR_JSON_BIN_ARRAY) return put_bin_array(b, v->as.s, depth, pretty);
        /* tremor-value writes bytes as a base64 string (standard alphabet,
         * padded) */
        const struct tr_str *s = v->as.s;
        size_t n = tr_base64_encoded_len(s->len);
        if (n == SIZE_MAX || n > SIZE_MAX - 2 - b->len || room(b, n + 2)) return -ENOMEM;
        b->data[b->len++] = '"';
        b->len += tr_base64_encode((const unsigned char *)s->data, s->len, b->data + b->len);
        b->data[b->len++] = '"';
        return 0;
    }
    case TR_ARR: {
        const struct tr_arr *a = v->as.a;
        if (depth >= TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
        if ((rc = put1(b, '['))) return rc;
        for (uint32_t i = 0; i < a->len; i++) {
            if (i && (rc = put1(b, ','))) return rc;
            if (pretty && (rc = newline(b, depth + 1))) return rc;
            if ((rc = enc(b, &a->items[i], depth + 1, flags))) return rc;
        }
        if (pretty && a->len && (rc = newline(b, depth))) return rc;
        return put1(b, ']');
    }
    case TR_REC: {
        const struct tr_rec *r = v->as.r;
        if (depth >= TR_VALUE_MAX_DEPTH) return TR_EDEPTH;
        if ((rc = put1(b, '{'))) return rc;
        for (uint32_t i = 0; i < r->len; i++) {
            const struct tr_field *f = &r->fields[i];
            if (i && (rc = put1(b, ','))) return rc;
            if (pretty && (rc = newline(b, depth + 1))) return rc;
            if ((rc = f->key->json_plain ? put_plain(b, f->key) : put_str(b, f->key->data, f->key->len)))
                return rc;
            if ((rc = pretty ? put(b, ": ", 2) : put1(b, ':'))) return rc;
            if ((rc = enc(b, &f->val, depth + 1, flags))) return rc;
        }
        if (pretty && r->len && (rc = newline(b, depth))) return rc;
        return put1(b, '}');
    }
    case TR_RAWJSON: {
        /* its bytes are what compact encoding would write */
        if (!pretty) return put(b, v->as.s->data, v->as.s->len);
        tr_value dv;
        if ((rc = tr_json_decode(v->as.s->data, v->as.s->len, &dv, NULL))) return rc == -ENOMEM ? rc : -EINVAL;
        rc = enc(b, &dv, depth, flags);
        tr_value_unref(dv);
        return rc;
    }
    default: return -EINVAL;
    }
}

int tr_json_encode_flags(const tr_value *v, struct tr_buf *out, unsigned flags) {
    size_t old = out->len;
    int rc = enc(out, v, 0, flags);
    if (rc) {
        out->len = old;
        if (out->data) out->data[old] = 0;
        return rc;
    }
    out->data[out->len] = 0;
    return 0;
}

int tr_json_encode(const tr_value *v, struct tr_buf *out) { return tr_json_encode_flags(v, out, 0); }

int tr_json_encode_pretty(const tr_value *v, struct tr_buf *out) {
    return tr_json_encode_flags(v, out, TR_JSON_PRETTY);
}
