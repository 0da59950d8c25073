/* dns_answer.c - DNS response messages to 0.11's record values.
 *
 * Message layout (RFC 1035 4.1), all integers big-endian:
 *   header   12 bytes: id(2) flags(2, rcode in the low 4 bits) qdcount(2)
 *                      ancount(2) nscount(2) arcount(2)
 *   question qdcount x { name, type(2), class(2) }
 *   answer   ancount x { name, type(2), class(2), ttl(4), rdlength(2), rdata }
 * Names are label sequences or compression pointers; c-ares expands them
 * (it bounds pointer chains). Only the header, questions and answers are
 * read; authority and additional sections are ignored as trust-dns's
 * lookup does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ares.h>

#include "connectors/dns_answer.h"
#include "core/buf.h"
#include "core/utf8.h"

static const struct {
    const char *name;
    int type;
} types[] = {
    {"A", 1},      {"AAAA", 28},     {"ANAME", 65305}, {"ANY", 255},        {"AXFR", 252}, {"CAA", 257},
    {"CNAME", 5},  {"HINFO", 13},    {"HTTPS", 65},    {"IXFR", 251},       {"MX", 15},    {"NAPTR", 35},
    {"NS", 2},     {"NULL", 10},     {"OPENPGPKEY", 61}, {"OPT", 41},       {"PTR", 12},   {"SOA", 6},
    {"SRV", 33},   {"SSHFP", 44},    {"SVCB", 64},     {"TLSA", 52},        {"TXT", 16},   {"ZERO", 0},
};

int tr_dns_type_from_name(const char *name) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0) return types[i].type;
    return -1;
}

const char *tr_dns_type_name(int type, char *buf, size_t n) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == type) return types[i].name;
    snprintf(buf, n, "TYPE%d", type);
    return buf;
}

static unsigned u16at(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t u32at(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Append the expanded name at p as trust-dns prints it (fully qualified:
 * "a.b." and "." for the root); *used gets its encoded length. */
static int name_at(const uint8_t *p, const uint8_t *msg, size_t len, struct tr_buf *b, size_t *used) {
    char *s = NULL;
    long enc = 0;
    if (ares_expand_name(p, msg, (int)len, &s, &enc) != ARES_SUCCESS || enc <= 0) return TR_EPARSE;
    int rc = tr_buf_append(b, s, strlen(s));
    if (!rc) rc = tr_buf_putc(b, '.');   /* c-ares leaves it off, the root is "" */
    ares_free_string(s);
    *used = (size_t)enc;
    return rc ? -ENOMEM : 0;
}

/* Skip the name at msg[off..): its encoded length, or 0 when malformed. */
static size_t skip_name(const uint8_t *msg, size_t len, size_t off) {
    struct tr_buf b;
    size_t used = 0;
    tr_buf_init(&b);
    int rc = name_at(msg + off, msg, len, &b, &used);
    tr_buf_fini(&b);
    return rc ? 0 : used;
}

/* Bytes as Rust's String::from_utf8_lossy. */
static int lossy(struct tr_buf *b, const uint8_t *p, size_t n) {
    while (n) {
        int valid = 0;
        size_t k = tr_utf8_step(p, n, &valid);
        if (k == 0 || k > n) k = n;
        int rc = valid == 1 ? tr_buf_append(b, p, k) : tr_buf_append(b, "\xef\xbf\xbd", 3);
        if (rc) return -ENOMEM;
        p += k;
        n -= k;
    }
    return 0;
}

/* The text of one record's rdata msg[off..off+rdlen), or 1 to skip it. */
static int render(const uint8_t *msg, size_t len, size_t off, size_t rdlen, int type, struct tr_buf *b) {
    const uint8_t *rd = msg + off;
    char ip[INET6_ADDRSTRLEN];
    size_t used = 0;
    switch (type) {
    case 1:
        if (rdlen != 4 || !inet_ntop(AF_INET, rd, ip, sizeof ip)) return TR_EPARSE;
        return tr_buf_append(b, ip, strlen(ip)) ? -ENOMEM : 0;
    case 28:
        if (rdlen != 16 || !inet_ntop(AF_INET6, rd, ip, sizeof ip)) return TR_EPARSE;
        return tr_buf_append(b, ip, strlen(ip)) ? -ENOMEM : 0;
    case 2: case 5: case 12: case 65305: {
        int rc = name_at(rd, msg, len, b, &used);
        return rc ? rc : used > rdlen ? TR_EPARSE : 0;
    }
    case 15: {
        if (rdlen < 3) return TR_EPARSE;
        if (tr_buf_printf(b, "%u ", u16at(rd))) return -ENOMEM;
        int rc = name_at(rd + 2, msg, len, b, &used);
        return rc ? rc : used + 2 > rdlen ? TR_EPARSE : 0;
    }
    case 33: {
        if (rdlen < 7) return TR_EPARSE;
        if (tr_buf_printf(b, "%u %u %u ", u16at(rd), u16at(rd + 2), u16at(rd + 4))) return -ENOMEM;
        int rc = name_at(rd + 6, msg, len, b, &used);
        return rc ? rc : used + 6 > rdlen ? TR_EPARSE : 0;
    }
    case 6: {
        size_t u1 = 0, u2 = 0;
        int rc = name_at(rd, msg, len, b, &u1);
        if (!rc && u1 >= rdlen) rc = TR_EPARSE;
        if (!rc && tr_buf_putc(b, ' ')) rc = -ENOMEM;
        if (!rc) rc = name_at(rd + u1, msg, len, b, &u2);
        if (!rc && u1 + u2 + 20 != rdlen) rc = TR_EPARSE;
        if (rc) return rc;
        const uint8_t *q = rd + u1 + u2;
        return tr_buf_printf(b, " %u %u %u %u %u", u32at(q), u32at(q + 4), u32at(q + 8), u32at(q + 12),
                             u32at(q + 16)) ? -ENOMEM : 0;
    }
    case 16: {
        size_t i = 0;
        while (i < rdlen) {
            size_t n = rd[i];
            if (i + 1 + n > rdlen) return TR_EPARSE;
            if (lossy(b, rd + i + 1, n)) return -ENOMEM;
            i += 1 + n;
        }
        return 0;
    }
    default:
        return 1;
    }
}

int tr_dns_answer_parse(const uint8_t *msg, size_t len, int qtype, tr_value *arr, int *rcode) {
    *rcode = 0;
    if (len < 12 || len > 65535) return TR_EPARSE;
    *rcode = (int)(u16at(msg + 2) & 0xF);
    unsigned qd = u16at(msg + 4), an = u16at(msg + 6);
    size_t off = 12;
    for (unsigned i = 0; i < qd; i++) {
        size_t n = off < len ? skip_name(msg, len, off) : 0;
        if (n == 0 || off + n + 4 > len) return TR_EPARSE;
        off += n + 4;
    }
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    for (unsigned i = 0; i < an && !rc; i++) {
        size_t n = off < len ? skip_name(msg, len, off) : 0;
        if (n == 0 || off + n + 10 > len) {
            rc = TR_EPARSE;
            break;
        }
        off += n;
        int type = (int)u16at(msg + off);
        uint32_t ttl = u32at(msg + off + 4);
        size_t rdlen = u16at(msg + off + 8);
        off += 10;
        if (off + rdlen > len) {
            rc = TR_EPARSE;
            break;
        }
        if (type == qtype || qtype == 255) {
            tr_buf_reset(&b);
            int r = render(msg, len, off, rdlen, type, &b);
            if (r < 0) {
                rc = r;
                break;
            }
            if (r == 0) {
                char tb[16];
                tr_value rec, s;
                rc = tr_v_rec(2, &rec);
                if (!rc) {
                    rc = tr_v_str(b.data ? b.data : "", b.len, &s);
                    const char *tn = tr_dns_type_name(type, tb, sizeof tb);
                    if (!rc) rc = tr_rec_set(&rec, tn, strlen(tn), s);
                    if (!rc) rc = tr_rec_set(&rec, "ttl", 3, tr_v_int(ttl));
                    if (!rc) rc = tr_arr_push(arr, rec);
                    else tr_value_unref(rec);
                }
            }
        }
        off += rdlen;
    }
    tr_buf_fini(&b);
    return rc;
}
