/* extract_dissect.c - the dissect extractor: split a string at literal
 * delimiters into named fields (`%{a} %{b}`).
 *
 * Field forms: %{name} %{name:int|float|string} %{?skip} %{&lookup}
 * (key is the value of an earlier ?skip of that name), %{+append} (joined
 * with the last padding, " " by default), %{} (skipped), %{_} / %{_(p)}
 * (drop repeats of p). It is not logstash's dissect: no ->, no /n order.
 * Invariant: a compiled pattern never has two fields without a delimiter
 * or padding between them, so each field ends at the next delimiter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "lang/extract_int.h"

#define MAX_DISSECT_CMDS 256

enum { C_DELIM, C_FIELD, C_PAD };
enum { T_STRING, T_INT, T_FLOAT };

struct cmd {
    int kind;
    char *text;          /* delimiter, padding or field name */
    size_t len;
    int ignore, lookup, add, conv;
    struct tr_str *key;  /* a plain field's name, shared by every result (hashed once) */
};

struct tr_dissect {
    struct cmd *cmds;
    size_t n;
    size_t nfields;      /* fields a result can have: its record's capacity */
    size_t nskip;        /* ?skip fields (%{} too) */
};

void tr_dissect_destroy(struct tr_dissect *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        tr_free(d->cmds[i].text);
        tr_str_unref(d->cmds[i].key);
    }
    tr_free(d->cmds);
    tr_free(d);
}

static int push(struct tr_dissect *d, int kind, const char *t, size_t len, struct cmd **out) {
    if (d->n >= MAX_DISSECT_CMDS) return TR_ETOOBIG;
    struct cmd *nc = tr_realloc(d->cmds, (d->n + 1) * sizeof *nc);
    if (!nc) return -ENOMEM;
    d->cmds = nc;
    struct cmd *c = &d->cmds[d->n];
    memset(c, 0, sizeof *c);
    c->text = tr_malloc(len + 1);
    if (!c->text) return -ENOMEM;
    memcpy(c->text, t, len);
    c->text[len] = 0;
    c->len = len;
    c->kind = kind;
    d->n++;
    *out = c;
    return 0;
}

/* A literal delimiter; \\ \n \t \r are the only escapes. */
static int delimiter(struct tr_dissect *d, const char *p, size_t len, char *msg, size_t mlen) {
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (size_t i = 0; i < len && !rc; i++) {
        char ch = p[i];
        if (ch == '\\') {
            if (++i >= len) {
                snprintf(msg, mlen, "Unterminated escape at the end of line or of a delimiter %%{ can't be escaped");
                rc = TR_EPARSE;
                break;
            }
            switch (p[i]) {
            case '\\': ch = '\\'; break;
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            default:
                snprintf(msg, mlen, "Invalid escape sequence \\'%c' is not valid.", p[i]);
                rc = TR_EPARSE;
                continue;
            }
        }
        rc = tr_buf_putc(&b, ch);
    }
    struct cmd *c;
    if (!rc) rc = push(d, C_DELIM, b.data ? b.data : "", b.len, &c);
    tr_buf_fini(&b);
    return rc;
}

/* The inside of %{...}: [?&+_]name[:type] or _(pad). */
static int field(struct tr_dissect *d, const char *f, size_t len, size_t at, char *msg, size_t mlen) {
    struct cmd *c;
    int rc;
    if (len && f[0] == '_') {
        if (len == 1) return push(d, C_PAD, " ", 1, &c);
        if (len < 3 || f[1] != '(' || f[len - 1] != ')') {
            snprintf(msg, mlen, "Invalid padding at %zu", at);
            return TR_EPARSE;
        }
        return push(d, C_PAD, f + 2, len - 3, &c);
    }
    int ignore = 0, lookup = 0, add = 0;
    if (len == 0) ignore = 1;
    else if (f[0] == '?') ignore = 1, f++, len--;
    else if (f[0] == '&') lookup = 1, f++, len--;
    else if (f[0] == '+') add = 1, f++, len--;
    int conv = T_STRING;
    const char *colon = ignore || add ? NULL : memchr(f, ':', len);
    size_t nlen = colon ? (size_t)(colon - f) : len;
    if (colon) {
        const char *t = colon + 1;
        size_t tl = len - nlen - 1;
        if (tl == 3 && !memcmp(t, "int", 3)) conv = T_INT;
        else if (tl == 5 && !memcmp(t, "float", 5)) conv = T_FLOAT;
        else if (tl == 6 && !memcmp(t, "string", 6)) conv = T_STRING;
        else {
            snprintf(msg, mlen, "Invalid type '%.*s' at %zu", (int)(tl > 64 ? 64 : tl), t, at);
            return TR_EPARSE;
        }
    }
    if ((rc = push(d, C_FIELD, f, nlen, &c))) return rc;
    c->ignore = ignore, c->lookup = lookup, c->add = add, c->conv = conv;
    if (!ignore) d->nfields++;
    else d->nskip++;
    if (!ignore && !lookup && !add && !(c->key = tr_str_new(f, nlen))) return -ENOMEM;
    return 0;
}

int tr_dissect_create(const char *pattern, struct tr_dissect **out, char *msg, size_t mlen) {
    *out = NULL;
    struct tr_dissect *d = tr_calloc(1, sizeof *d);
    if (!d) return -ENOMEM;
    const char *p = pattern;
    int rc = 0, was_field = 0;
    while (*p && !rc) {
        size_t at = (size_t)(p - pattern);
        if (p[0] == '%' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            const char *next = strstr(p + 2, "%{");
            if (!close || (next && next < close)) {
                snprintf(msg, mlen, "Unterminated patter at %zu", at);
                rc = TR_EPARSE;
                break;
            }
            rc = field(d, p + 2, (size_t)(close - p - 2), at, msg, mlen);
            if (rc) break;
            p = close + 1;
            const struct cmd *c = &d->cmds[d->n - 1];
            if (c->kind == C_PAD) {
                if (c->len && !strncmp(p, c->text, c->len)) {
                    snprintf(msg, mlen, "The padding at %zu can't be followed up by a dilimiter that begins with it", at);
                    rc = TR_EPARSE;
                }
                was_field = 0;
            } else {
                if (was_field) {
                    snprintf(msg, mlen, "A dilimiter needs to be provided between the two patterns at %zu", at);
                    rc = TR_EPARSE;
                }
                was_field = 1;
            }
        } else {
            const char *next = strstr(p, "%{");
            size_t len = next ? (size_t)(next - p) : strlen(p);
            rc = delimiter(d, p, len, msg, mlen);
            p += len;
            was_field = 0;
        }
    }
    if (rc == TR_ETOOBIG) snprintf(msg, mlen, "dissect pattern has more than %d parts", MAX_DISSECT_CMDS);
    if (rc) {
        tr_dissect_destroy(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* Values of ?skip fields, looked up (and consumed) by &lookup fields. */
struct skipped {
    const char *name, *val;
    size_t vlen;
};

static int convert(const struct cmd *c, const char *v, size_t n, struct tr_varena *va, tr_value *out) {
    if (c->conv == T_STRING) {
        struct tr_str *s = tr_varena_str_new(va, v, n);
        if (!s) return -ENOMEM;
        *out = tr_v_strobj(s);
        return 0;
    }
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return 1;
    memcpy(tmp, v, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    if (c->conv == T_INT) {
        long long i = strtoll(tmp, &end, 10);
        if (*end || errno || tmp[0] == ' ' || tmp[0] == '\t') return 1;
        *out = tr_v_int(i);
    } else {
        double f = strtod(tmp, &end);
        if (*end || tmp[0] == ' ' || tmp[0] == '\t') return 1;
        *out = tr_v_float(f);
    }
    return 0;
}

/* Store one field's text; 1 when the event does not fit (bad number, append to a non-string). */
static int store(const struct cmd *c, const char *key, size_t klen, const char *v, size_t n, const char *sep,
                 size_t seplen, struct skipped *sk, size_t *nsk, struct tr_varena *va, tr_value *out) {
    if (c->ignore) {
        sk[*nsk].name = c->text, sk[*nsk].val = v, sk[*nsk].vlen = n;
        (*nsk)++;
        return 0;
    }
    tr_value val;
    int rc;
    if (c->add) {
        tr_value *old = tr_rec_get(out, key, klen);
        if (old && old->type != TR_STR) return 1;
        if (old) {
            struct tr_buf b;
            tr_buf_init(&b);
            rc = tr_buf_append(&b, old->as.s->data, old->as.s->len);
            if (!rc) rc = tr_buf_append(&b, sep, seplen);
            if (!rc) rc = tr_buf_append(&b, v, n);
            if (!rc) rc = tr_v_str(b.data ? b.data : "", b.len, &val);
            tr_buf_fini(&b);
        } else {
            rc = tr_v_str(v, n, &val);
        }
    } else {
        rc = convert(c, v, n, va, &val);
    }
    if (rc) return rc;
    if (c->key) return tr_rec_set_key(out, tr_str_ref(c->key), val);
    return tr_rec_set(out, key, klen, val);
}

/* The result's record and strings share arena blocks (value.h): a web log
 * line of 60 fields was 120 allocations (names and values), now one or
 * two. Names come from the pattern, already hashed. */
int tr_dissect_run(const struct tr_dissect *d, const struct tr_str *s, int need, tr_value *out) {
    tr_value r;
    struct tr_varena va;
    tr_varena_init_for(&va, s->len);
    int rc = tr_varena_rec(&va, d->nfields ? d->nfields : 1, &r);
    if (rc) {
        tr_varena_done(&va);
        return rc;
    }
    struct skipped few[16];
    struct skipped *sk = d->nskip <= 16 ? few : tr_calloc(d->nskip, sizeof *sk);
    if (!sk) {
        tr_value_unref(r);
        tr_varena_done(&va);
        return -ENOMEM;
    }
    size_t nsk = 0;
    const char *data = s->data, *end = s->data + s->len;
    const char *sep = " ";
    size_t seplen = 1;
    int matched = 1;
    for (size_t t = 0; t < d->n && matched == 1 && rc == 0; t++) {
        const struct cmd *c = &d->cmds[t];
        size_t left = (size_t)(end - data);
        if (c->kind == C_DELIM) {
            if (left < c->len || memcmp(data, c->text, c->len)) matched = 0;
            else data += c->len;
            continue;
        }
        if (c->kind == C_PAD) {
            sep = c->text, seplen = c->len;
            while (c->len && (size_t)(end - data) >= c->len && !memcmp(data, c->text, c->len)) data += c->len;
            continue;
        }
        const char *key = c->text;
        size_t klen = c->len;
        if (c->lookup) {
            size_t k = 0;
            while (k < nsk && strcmp(sk[k].name, c->text)) k++;
            if (k == nsk || sk[k].vlen == 0) {
                matched = 0;
                continue;
            }
            key = sk[k].val, klen = sk[k].vlen;
            sk[k] = sk[--nsk];
        }
        /* the field ends where the next padding or delimiter starts */
        const struct cmd *nx = t + 1 < d->n ? &d->cmds[t + 1] : NULL;
        const char *stop = end;
        if (nx && nx->kind == C_PAD) {
            const char *f = nx->len ? memmem(data, left, nx->text, nx->len) : data;
            if (f) stop = f;
            else if (t + 2 < d->n) nx = &d->cmds[t + 2];
            else nx = NULL;
            /* padding that is not there may only be followed by a delimiter */
            if (!f && nx && nx->kind != C_DELIM) {
                matched = 0;
                continue;
            }
        }
        if (nx && nx->kind == C_DELIM && stop == end) {
            const char *f = memmem(data, left, nx->text, nx->len);
            if (!f) {
                matched = 0;
                continue;
            }
            stop = f;
        } else if (nx && nx->kind == C_FIELD) {
            matched = 0;
            continue;
        }
        rc = store(c, key, klen, data, (size_t)(stop - data), sep, seplen, sk, &nsk, &va, &r);
        if (rc == 1) matched = 0, rc = 0;
        data = stop;
    }
    if (!rc && matched && data != end) matched = 0;
    if (sk != few) tr_free(sk);
    tr_varena_done(&va);
    if (rc < 0 || !matched || !need) {
        tr_value_unref(r);
        return rc < 0 ? rc : matched;
    }
    *out = r;
    return 1;
}
