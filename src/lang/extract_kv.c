/* extract_kv.c - the kv extractor as Tremor 0.11 runs it (the tremor-kv
 * crate 0.2.0): the pattern names separators, not a grammar. Text between
 * %{key} and %{val} is a key separator, any other text a field separator;
 * none given means " " and ":". The subject is split at every field
 * separator in turn, each field at every key separator in turn, and a
 * field that splits into exactly two parts is a pair (a later pair with
 * the same key wins); no pair at all is no match.
 * Invariant: no separator is empty, and none contains another of either
 * kind (the crate refuses such patterns), so the splits are unambiguous.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/extract_int.h"

struct sep {
    char *s;
    size_t len;
};

struct seps {
    struct sep *v;
    size_t n, cap;
};

struct tr_kv {
    struct seps field, key;
};

struct span {
    size_t off, len;
};

static void seps_fini(struct seps *s) {
    for (size_t i = 0; i < s->n; i++) tr_free(s->v[i].s);
    tr_free(s->v);
}

void tr_kv_destroy(struct tr_kv *kv) {
    if (!kv) return;
    seps_fini(&kv->field);
    seps_fini(&kv->key);
    tr_free(kv);
}

/* Add p[0..n) with the crate's escapes (\\ \n \t \r; any other is an
 * error) resolved. */
static int seps_add(struct seps *s, const char *p, size_t n, char *msg, size_t mlen) {
    char *d = tr_malloc(n + 1);
    if (!d) return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\') {
            d[o++] = p[i];
            continue;
        }
        if (++i == n) {
            tr_free(d);
            snprintf(msg, mlen, "Unterminated escape at the end of line or of a delimiter %%{ can't be escaped");
            return TR_EPARSE;
        }
        switch (p[i]) {
        case '\\': d[o++] = '\\'; break;
        case 'n': d[o++] = '\n'; break;
        case 't': d[o++] = '\t'; break;
        case 'r': d[o++] = '\r'; break;
        default: {
            /* name the whole character, not its first byte */
            size_t cl = 1;
            while (i + cl < n && ((unsigned char)p[i + cl] & 0xC0) == 0x80) cl++;
            snprintf(msg, mlen, "Invalid escape sequence \\'%.*s' is not valid.", (int)cl, p + i);
            tr_free(d);
            return TR_EPARSE;
        }
        }
    }
    d[o] = 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        struct sep *v = tr_realloc(s->v, cap * sizeof *v);
        if (!v) {
            tr_free(d);
            return -ENOMEM;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct sep){d, o};
    return 0;
}

static int cmp_sep(const void *a, const void *b) {
    const struct sep *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sort bytewise and drop repeats, as the crate does before using them. */
static void seps_norm(struct seps *s) {
    qsort(s->v, s->n, sizeof *s->v, cmp_sep);
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (o && !cmp_sep(&s->v[o - 1], &s->v[i])) {
            tr_free(s->v[i].s);
            continue;
        }
        s->v[o++] = s->v[i];
    }
    s->n = o;
}

static int contains(const struct sep *hay, const struct sep *needle) {
    return memmem(hay->s, hay->len, needle->s, needle->len) != NULL;
}

/* A separator inside another (of the other kind, or another of its own). */
static const struct sep *clash(const struct seps *own, const struct seps *other) {
    for (size_t i = 0; i < own->n; i++) {
        for (size_t j = 0; j < other->n; j++)
            if (contains(&other->v[j], &own->v[i])) return &own->v[i];
        for (size_t j = 0; j < own->n; j++)
            if (j != i && contains(&own->v[j], &own->v[i])) return &own->v[i];
    }
    return NULL;
}

static const char *find(const char *p, const char *end, const char *lit) {
    return memmem(p, (size_t)(end - p), lit, strlen(lit));
}

int tr_kv_create(const char *pattern, struct tr_kv **out, char *msg, size_t mlen) {
    *out = NULL;
    struct tr_kv *kv = tr_calloc(1, sizeof *kv);
    if (!kv) return -ENOMEM;
    int rc = 0;
    const char *p = pattern, *end = pattern + strlen(pattern);
    /* compile: text before a %{key} separates fields, text from %{key} to
     * %{val} separates key from value */
    while (!rc && p < end) {
        if ((size_t)(end - p) >= 6 && !memcmp(p, "%{key}", 6)) {
            p += 6;
            const char *v = find(p, end, "%{val}");
            if (!v) {
                snprintf(msg, mlen, "invalid pattern at character %zu", (size_t)(p - pattern));
                rc = TR_EPARSE;
                break;
            }
            if (v != p) rc = seps_add(&kv->key, p, (size_t)(v - p), msg, mlen);
            p = v + 6;
        } else {
            const char *k = find(p, end, "%{key}");
            const char *stop = k ? k : end;
            rc = seps_add(&kv->field, p, (size_t)(stop - p), msg, mlen);
            p = stop;
        }
    }
    if (!rc && !kv->field.n) rc = seps_add(&kv->field, " ", 1, msg, mlen);
    if (!rc && !kv->key.n) rc = seps_add(&kv->key, ":", 1, msg, mlen);
    if (!rc) {
        seps_norm(&kv->field);
        seps_norm(&kv->key);
        const struct sep *bad = clash(&kv->field, &kv->key);
        if (!bad) bad = clash(&kv->key, &kv->field);
        if (bad) {
            snprintf(msg, mlen,
                     "The seperator '%.*s' is used for both key value seperation as well as pair seperation.",
                     (int)(bad->len > 64 ? 64 : bad->len), bad->s);
            rc = TR_EPARSE;
        }
    }
    if (rc) {
        if (rc == -ENOMEM) snprintf(msg, mlen, "out of memory");
        tr_kv_destroy(kv);
        return rc;
    }
    *out = kv;
    return 0;
}

/* Split every span of *in at every separator of seps in turn (the crate's
 * multi_split); *in is replaced by the pieces. */
static int multi_split(const char *base, const struct seps *seps, struct span **in, size_t *n) {
    for (size_t k = 0; k < seps->n; k++) {
        const struct sep *sp = &seps->v[k];
        size_t cnt = 0;
        for (size_t i = 0; i < *n; i++) {
            const char *p = base + (*in)[i].off, *e = p + (*in)[i].len;
            cnt++;
            while ((p = memmem(p, (size_t)(e - p), sp->s, sp->len))) {
                cnt++;
                p += sp->len;
            }
        }
        if (cnt == *n) continue;
        struct span *o = tr_malloc(cnt * sizeof *o);
        if (!o) return -ENOMEM;
        size_t m = 0;
        for (size_t i = 0; i < *n; i++) {
            const char *p = base + (*in)[i].off, *e = p + (*in)[i].len, *q;
            while ((q = memmem(p, (size_t)(e - p), sp->s, sp->len))) {
                o[m++] = (struct span){(size_t)(p - base), (size_t)(q - p)};
                p = q + sp->len;
            }
            o[m++] = (struct span){(size_t)(p - base), (size_t)(e - p)};
        }
        tr_free(*in);
        *in = o;
        *n = m;
    }
    return 0;
}

int tr_kv_run(const struct tr_kv *kv, const struct tr_str *s, int need, tr_value *out) {
    struct span *fields = tr_malloc(sizeof *fields), *parts = NULL;
    size_t nf = 1, pairs = 0;
    int rc = fields ? 0 : -ENOMEM;
    if (!rc) {
        fields[0] = (struct span){0, s->len};
        rc = multi_split(s->data, &kv->field, &fields, &nf);
    }
    int made = 0;
    if (!rc && need && !(rc = tr_v_rec(4, out))) made = 1;
    for (size_t i = 0; !rc && i < nf; i++) {
        size_t np = 1;
        tr_free(parts);
        if (!(parts = tr_malloc(sizeof *parts))) {
            rc = -ENOMEM;
            break;
        }
        parts[0] = fields[i];
        if ((rc = multi_split(s->data, &kv->key, &parts, &np))) break;
        if (np != 2) continue;   /* fields without exactly one key separator are dropped */
        pairs++;
        if (!need) continue;
        tr_value v;
        rc = tr_v_str(s->data + parts[1].off, parts[1].len, &v);
        if (!rc) rc = tr_rec_set(out, s->data + parts[0].off, parts[0].len, v);
    }
    tr_free(parts);
    tr_free(fields);
    if (made && (rc || !pairs)) {
        tr_value_unref(*out);
        *out = tr_v_null();
    }
    if (rc) return rc;
    return pairs > 0;
}
