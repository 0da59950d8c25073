/* ws_handshake.c - the HTTP/1.1 upgrade that opens a WebSocket (RFC 6455 4).
 *
 * Builds the client's request and the server's answers, collects a head that
 * arrives in pieces, and checks the other side's head. It is not an HTTP
 * server: anything but a well-formed GET upgrade is refused. Invariant: a
 * head is only parsed once complete and never longer than TR_WS_HEAD_MAX.
 *
 * Client request:                      Server answer:
 *   GET /path HTTP/1.1                   HTTP/1.1 101 Switching Protocols
 *   Host: host[:port]                    Upgrade: websocket
 *   Upgrade: websocket                   Connection: Upgrade
 *   Connection: Upgrade                  Sec-WebSocket-Accept: base64(SHA-1(key+GUID))
 *   Sec-WebSocket-Key: base64(16 random bytes)
 *   Sec-WebSocket-Version: 13
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "connectors/hop.h"
#include "connectors/ws_int.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int tr_ws_key_make(char out[TR_WS_KEY_LEN + 1]) {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) return TR_ERUNTIME;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
    out[TR_WS_KEY_LEN] = 0;
    return 0;
}

void tr_ws_accept_key(const char *key, size_t klen, char out[TR_WS_ACCEPT_LEN + 1]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) && EVP_DigestUpdate(c, key, klen) &&
             EVP_DigestUpdate(c, GUID, sizeof GUID - 1) && EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    if (!ok || mdlen != 20) {
        /* Cannot match any real accept value, so the handshake fails closed. */
        memset(out, '!', TR_WS_ACCEPT_LEN);
        out[TR_WS_ACCEPT_LEN] = 0;
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    out[TR_WS_ACCEPT_LEN] = 0;
}

int tr_ws_request_build_proto(struct tr_buf *b, const struct tr_ws_url *u, const char *key,
                              const char *proto) {
    return tr_buf_printf(b,
                         "GET %s HTTP/1.1\r\n"
                         "Host: %s\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "%s%s%s"
                         "\r\n",
                         u->path, u->authority, key, proto ? "Sec-WebSocket-Protocol: " : "",
                         proto ? proto : "", proto ? "\r\n" : "");
}

int tr_ws_request_build(struct tr_buf *b, const struct tr_ws_url *u, const char *key) {
    return tr_ws_request_build_proto(b, u, key, NULL);
}

int tr_ws_response_build_proto(struct tr_buf *b, const char *key, const char *proto) {
    char accept[TR_WS_ACCEPT_LEN + 1];
    tr_ws_accept_key(key, strlen(key), accept);
    return tr_buf_printf(b,
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n"
                         "%s%s%s"
                         "\r\n",
                         accept, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                         proto ? "\r\n" : "");
}

int tr_ws_response_build(struct tr_buf *b, const char *key) {
    return tr_ws_response_build_proto(b, key, NULL);
}

int tr_ws_reject_build(struct tr_buf *b, int status) {
    if (status == 426)
        return tr_buf_printf(b, "HTTP/1.1 426 Upgrade Required\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "Content-Length: 0\r\n"
                                "Connection: close\r\n\r\n");
    return tr_buf_printf(b, "HTTP/1.1 400 Bad Request\r\n"
                            "Content-Length: 0\r\n"
                            "Connection: close\r\n\r\n");
}

void tr_ws_head_init(struct tr_ws_head *h) {
    h->len = 0;
    h->done = false;
    h->buf[0] = 0;
}

/* The head ends with an empty line; a bare LF is tolerated as line end
 * (RFC 9112 2.2), so look for LF CR LF and LF LF. Returns the offset just
 * past the terminator, or 0. */
static size_t find_end(const char *b, size_t from, size_t len) {
    for (size_t i = from; i < len; i++) {
        if (b[i] != '\n') continue;
        if (i + 1 < len && b[i + 1] == '\n') return i + 2;
        if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n') return i + 3;
    }
    return 0;
}

int tr_ws_head_feed(struct tr_ws_head *h, const void *data, size_t len, size_t *used) {
    *used = 0;
    if (h->done) return 1;
    size_t room = TR_WS_HEAD_MAX - h->len;
    size_t take = len < room ? len : room;
    size_t old = h->len;
    memcpy(h->buf + h->len, data, take);
    h->len += take;
    /* the terminator may straddle the previous read: back up 2 bytes */
    size_t end = find_end(h->buf, old >= 2 ? old - 2 : 0, h->len);
    if (end) {
        *used = end - old;
        h->len = end;
        h->buf[end] = 0;
        h->done = true;
        return 1;
    }
    *used = take;
    if (h->len >= TR_WS_HEAD_MAX) return TR_ETOOBIG;
    return 0;
}

/* ------------------------------------------------------- head parsing */

struct line {
    const char *p;
    size_t n;
};

/* Next line of [*cur, end) without its CR LF; 0 at the end. */
static int next_line(const char **cur, const char *end, struct line *l) {
    if (*cur >= end) return 0;
    const char *nl = memchr(*cur, '\n', (size_t)(end - *cur));
    if (!nl) nl = end;
    l->p = *cur;
    l->n = (size_t)(nl - *cur);
    if (l->n && l->p[l->n - 1] == '\r') l->n--;
    *cur = nl < end ? nl + 1 : end;
    return 1;
}

static void trim(struct line *l) {
    while (l->n && (l->p[0] == ' ' || l->p[0] == '\t')) l->p++, l->n--;
    while (l->n && (l->p[l->n - 1] == ' ' || l->p[l->n - 1] == '\t')) l->n--;
}

static int name_is(const struct line *name, const char *want) {
    return name->n == strlen(want) && strncasecmp(name->p, want, name->n) == 0;
}

/* Does a comma-separated token list contain tok (case-insensitive)? */
static int has_token(const struct line *v, const char *tok) {
    const char *p = v->p, *end = v->p + v->n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        struct line t = {p, (size_t)((c ? c : end) - p)};
        trim(&t);
        if (name_is(&t, tok)) return 1;
        p = c ? c + 1 : end;
    }
    return 0;
}

static int key_valid(const struct line *v) {
    if (v->n != TR_WS_KEY_LEN || v->p[22] != '=' || v->p[23] != '=') return 0;
    for (size_t i = 0; i < 22; i++) {
        unsigned char c = (unsigned char)v->p[i];
        if (!isalnum(c) && c != '+' && c != '/') return 0;
    }
    /* 16 bytes leave 4 unused bits in the last character: they must be 0 */
    return strchr("AQgw", v->p[21]) != NULL;
}

struct hdrs {
    struct line upgrade, connection, key, version, accept, ext, proto;
    int nupgrade, nconnection, nkey, nversion, naccept, next, nproto, nhost;
};

/* Split the header lines after the first line into the fields we care for.
 * Returns 0, or TR_EPARSE with *why on a malformed line. */
static int scan_headers(const char *cur, const char *end, struct hdrs *hd, const char **why) {
    memset(hd, 0, sizeof *hd);
    struct line l;
    while (next_line(&cur, end, &l)) {
        if (l.n == 0) break;
        if (l.p[0] == ' ' || l.p[0] == '\t') {
            *why = "folded header lines are not allowed";
            return TR_EPARSE;
        }
        const char *colon = memchr(l.p, ':', l.n);
        if (!colon || colon == l.p) {
            *why = "malformed header line";
            return TR_EPARSE;
        }
        struct line name = {l.p, (size_t)(colon - l.p)};
        struct line val = {colon + 1, l.n - name.n - 1};
        if (name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t') {
            *why = "whitespace before ':' in a header";
            return TR_EPARSE;
        }
        trim(&val);
        if (name_is(&name, "Upgrade")) hd->upgrade = val, hd->nupgrade++;
        else if (name_is(&name, "Connection")) hd->connection = val, hd->nconnection++;
        else if (name_is(&name, "Sec-WebSocket-Key")) hd->key = val, hd->nkey++;
        else if (name_is(&name, "Sec-WebSocket-Version")) hd->version = val, hd->nversion++;
        else if (name_is(&name, "Sec-WebSocket-Accept")) hd->accept = val, hd->naccept++;
        else if (name_is(&name, "Sec-WebSocket-Extensions")) hd->ext = val, hd->next++;
        else if (name_is(&name, "Sec-WebSocket-Protocol")) hd->proto = val, hd->nproto++;
        else if (name_is(&name, "Host")) hd->nhost++;
    }
    return 0;
}

static int http_version_ok(const char *p, size_t n) {
    /* HTTP/1.1 or a later 1.x: upgrades do not exist before 1.1 */
    return n == 8 && memcmp(p, "HTTP/1.", 7) == 0 && p[7] >= '1' && p[7] <= '9';
}

int tr_ws_request_parse(const struct tr_ws_head *h, struct tr_ws_request *r, int *status,
                        struct tr_diag *d) {
    *status = 400;
    memset(r, 0, sizeof *r);
    if (!h->done) return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "incomplete request head");
    if (memchr(h->buf, 0, h->len))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "NUL byte in request head");
    const char *cur = h->buf, *end = h->buf + h->len;
    struct line l;
    next_line(&cur, end, &l);
    /* request-line = method SP request-target SP HTTP-version */
    const char *sp1 = memchr(l.p, ' ', l.n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(l.p + l.n - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp2 == sp1 + 1)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed request line");
    if (sp1 - l.p != 3 || memcmp(l.p, "GET", 3) != 0)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "method must be GET");
    if (!http_version_ok(sp2 + 1, (size_t)(l.p + l.n - sp2 - 1)))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "HTTP version must be 1.1");
    struct hdrs hd;
    const char *why = NULL;
    if (scan_headers(cur, end, &hd, &why) < 0) return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "%s", why);
    if (hd.nhost != 1) return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "exactly one Host header required");
    if (hd.nupgrade != 1 || !has_token(&hd.upgrade, "websocket"))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "not a WebSocket upgrade (Upgrade: websocket missing)");
    if (hd.nconnection < 1 || !has_token(&hd.connection, "upgrade"))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "Connection: Upgrade missing");
    if (hd.nkey != 1 || !key_valid(&hd.key))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "missing or malformed Sec-WebSocket-Key");
    if (hd.nversion != 1 || hd.version.n != 2 || memcmp(hd.version.p, "13", 2) != 0) {
        *status = 426;
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "Sec-WebSocket-Version must be 13");
    }
    memcpy(r->key, hd.key.p, TR_WS_KEY_LEN);
    r->key[TR_WS_KEY_LEN] = 0;
    /* only one header is looked at: a second one is unusual enough to ignore */
    r->hop = hd.nproto == 1 && has_token(&hd.proto, TR_HOP_PROTOCOL);
    *status = 101;
    return 0;
}

int tr_ws_response_check_proto(const struct tr_ws_head *h, const char *key, const char *proto,
                               struct tr_diag *d) {
    if (!h->done) return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "incomplete response head");
    if (memchr(h->buf, 0, h->len))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "NUL byte in response head");
    const char *cur = h->buf, *end = h->buf + h->len;
    struct line l;
    next_line(&cur, end, &l);
    /* status-line = HTTP-version SP status-code SP [reason-phrase] */
    if (l.n < 12 || !http_version_ok(l.p, 8) || l.p[8] != ' ' || !isdigit((unsigned char)l.p[9]) ||
        !isdigit((unsigned char)l.p[10]) || !isdigit((unsigned char)l.p[11]) ||
        (l.n > 12 && l.p[12] != ' '))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "malformed status line '%.*s'",
                           (int)(l.n > 80 ? 80 : l.n), l.p);
    if (memcmp(l.p + 9, "101", 3) != 0)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "server refused the upgrade: '%.*s'",
                           (int)(l.n > 80 ? 80 : l.n), l.p);
    struct hdrs hd;
    const char *why = NULL;
    if (scan_headers(cur, end, &hd, &why) < 0) return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "%s", why);
    if (hd.nupgrade != 1 || !has_token(&hd.upgrade, "websocket"))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "Upgrade: websocket missing in response");
    if (hd.nconnection < 1 || !has_token(&hd.connection, "upgrade"))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "Connection: Upgrade missing in response");
    char want[TR_WS_ACCEPT_LEN + 1];
    tr_ws_accept_key(key, strlen(key), want);
    if (hd.naccept != 1 || hd.accept.n != TR_WS_ACCEPT_LEN ||
        memcmp(hd.accept.p, want, TR_WS_ACCEPT_LEN) != 0)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "missing or wrong Sec-WebSocket-Accept");
    if (hd.next) return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "server chose an extension we did not offer");
    if (!proto && hd.nproto)
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "server chose a subprotocol we did not offer");
    if (proto && (hd.nproto != 1 || !name_is(&hd.proto, proto)))
        return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "server did not accept subprotocol %s", proto);
    return 0;
}

int tr_ws_response_check(const struct tr_ws_head *h, const char *key, struct tr_diag *d) {
    return tr_ws_response_check_proto(h, key, NULL, d);
}
