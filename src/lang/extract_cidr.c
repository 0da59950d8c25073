/* extract_cidr.c - the `cidr` tilde extractor.
 *
 * `~ cidr||` matches any IPv4 or IPv6 address or network (a.b.c.d[/n],
 * v6[/n]) and yields {prefix, mask} as byte (v4) or 16-bit word (v6)
 * arrays; `~ cidr|net, net|` matches only addresses inside one of the
 * listed networks. Not supported: Tremor's short IPv4 forms ("10.1" for
 * 10.0.0.1). Invariant: a parsed network has its host bits cleared.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "lang/extract_int.h"

#define MAX_CIDR_RULES 1024

struct net {
    int v6;
    uint8_t addr[16];
    unsigned bits;
};

struct tr_cidr {
    struct net *rules;
    size_t n;
};

static void apply_mask(struct net *n) {
    unsigned len = n->v6 ? 16 : 4;
    for (unsigned i = 0; i < len; i++) {
        unsigned keep = n->bits > i * 8 ? n->bits - i * 8 : 0;
        if (keep < 8) n->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
}

/* "addr[/bits]" (no spaces); 0, or TR_EPARSE. */
static int parse_net(const char *s, size_t len, struct net *out) {
    char buf[64];
    if (len == 0 || len >= sizeof buf) return TR_EPARSE;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!slash[1] || slash[1] == '-' || slash[1] == '+') return TR_EPARSE;
        bits = strtol(slash + 1, &end, 10);
        if (*end) return TR_EPARSE;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) out->v6 = 0;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1) out->v6 = 1;
    else return TR_EPARSE;
    long max = out->v6 ? 128 : 32;
    if (bits > max) return TR_EPARSE;
    out->bits = (unsigned)(bits < 0 ? max : bits);
    apply_mask(out);
    return 0;
}

static int contains(const struct net *net, const struct net *ip) {
    if (net->v6 != ip->v6) return 0;
    struct net m = *ip;
    m.bits = net->bits;
    apply_mask(&m);
    return memcmp(m.addr, net->addr, net->v6 ? 16 : 4) == 0;
}

int tr_cidr_create(const char *pattern, struct tr_cidr **out, char *msg, size_t mlen) {
    *out = NULL;
    struct tr_cidr *c = tr_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    const char *p = pattern;
    size_t cap = 0;
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (c->n >= MAX_CIDR_RULES) {
            snprintf(msg, mlen, "too many networks (at most %d)", MAX_CIDR_RULES);
            tr_cidr_destroy(c);
            return TR_ETOOBIG;
        }
        if (tr_grow((void **)&c->rules, &cap, c->n + 1, sizeof *c->rules)) {
            tr_cidr_destroy(c);
            return -ENOMEM;
        }
        if (parse_net(a, (size_t)(b - a), &c->rules[c->n])) {
            snprintf(msg, mlen, "invalid CIDR: %.*s", (int)(b - a), a);
            tr_cidr_destroy(c);
            return TR_EPARSE;
        }
        c->n++;
        p = *e ? e + 1 : e;
    }
    *out = c;
    return 0;
}

void tr_cidr_destroy(struct tr_cidr *c) {
    if (!c) return;
    tr_free(c->rules);
    tr_free(c);
}

static int push_words(tr_value *arr, const uint8_t *b, int v6) {
    for (unsigned i = 0; i < (v6 ? 8u : 4u); i++) {
        int64_t w = v6 ? (int64_t)((unsigned)b[2 * i] << 8 | b[2 * i + 1]) : (int64_t)b[i];
        if (tr_arr_push(arr, tr_v_int(w))) return -ENOMEM;
    }
    return 0;
}

int tr_cidr_run(const struct tr_cidr *c, const struct tr_str *s, int need, tr_value *out) {
    struct net ip;
    if (parse_net(s->data, s->len, &ip)) return 0;
    if (c->n) {
        /* a listed network holds only addresses */
        int hit = 0;
        for (size_t i = 0; i < c->n && !hit; i++) hit = contains(&c->rules[i], &ip);
        if (!hit) return 0;
    }
    if (!need) return 1;
    struct net mask;
    memset(&mask, 0, sizeof mask);
    mask.v6 = ip.v6;
    for (unsigned i = 0; i < 16; i++) mask.addr[i] = 0xff;
    mask.bits = ip.bits;
    apply_mask(&mask);
    tr_value rec, pre, msk;
    if (tr_v_rec(2, &rec)) return -ENOMEM;
    if (tr_v_arr(8, &pre)) {
        tr_value_unref(rec);
        return -ENOMEM;
    }
    if (tr_v_arr(8, &msk)) {
        tr_value_unref(rec);
        tr_value_unref(pre);
        return -ENOMEM;
    }
    int rc = push_words(&pre, ip.addr, ip.v6);
    if (!rc) rc = push_words(&msk, mask.addr, ip.v6);
    if (rc) {
        tr_value_unref(pre);
        tr_value_unref(msk);
    } else {
        rc = tr_rec_set(&rec, "prefix", 6, pre);
        if (rc) tr_value_unref(msk);
        else rc = tr_rec_set(&rec, "mask", 4, msk);
    }
    if (rc) {
        tr_value_unref(rec);
        return -ENOMEM;
    }
    *out = rec;
    return 1;
}
