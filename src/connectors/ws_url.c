/* ws_url.c - parse ws:// and wss:// URLs (RFC 6455 section 3).
 *
 * Not a general URL parser: only the shapes a WebSocket client dials,
 * scheme://host[:port][/path][?query]. Percent-escapes are kept as they are
 * (the path goes to the server verbatim). Invariant: a parsed URL always has
 * a non-empty host, a port in 1..65535 and a path starting with '/'.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "connectors/ws_int.h"
#include "core/alloc.h"

static int bad(struct tr_diag *d, const char *url, const char *why) {
    return tr_diag_set(d, TR_EPARSE, NULL, 0, 0, "invalid url '%.200s': %s", url, why);
}

static int host_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

static int v6_char_ok(char c) {
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

void tr_ws_url_fini(struct tr_ws_url *u) {
    if (!u) return;
    tr_free(u->host);
    tr_free(u->path);
    tr_free(u->authority);
    memset(u, 0, sizeof *u);
}

int tr_ws_url_parse(const char *s, struct tr_ws_url *u, struct tr_diag *d) {
    memset(u, 0, sizeof *u);
    size_t total = strlen(s);
    if (total > TR_WS_URL_MAX) return bad(d, s, "longer than 2048 bytes");
    const char *p;
    if (strncasecmp(s, "ws://", 5) == 0) {
        p = s + 5;
    } else if (strncasecmp(s, "wss://", 6) == 0) {
        p = s + 6;
        u->tls = true;
    } else {
        return bad(d, s, "the scheme must be ws:// or wss://");
    }
    /* authority ends at the first '/', '?' or '#' */
    size_t alen = strcspn(p, "/?#");
    const char *a = p, *aend = p + alen, *rest = aend;
    if (memchr(a, '@', alen)) return bad(d, s, "user information is not supported");
    if (strchr(rest, '#')) return bad(d, s, "fragments are not allowed in WebSocket URLs");

    const char *h, *hend, *portp = NULL;
    bool v6 = false;
    if (a < aend && *a == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close) return bad(d, s, "missing ']' after IPv6 address");
        h = a + 1;
        hend = close;
        for (const char *c = h; c < hend; c++)
            if (!v6_char_ok(*c)) return bad(d, s, "malformed IPv6 address");
        if (!memchr(h, ':', (size_t)(hend - h))) return bad(d, s, "malformed IPv6 address");
        v6 = true;
        if (close + 1 < aend) {
            if (close[1] != ':') return bad(d, s, "unexpected characters after ']'");
            portp = close + 2;
        }
    } else {
        h = a;
        const char *colon = memchr(a, ':', alen);
        hend = colon ? colon : aend;
        if (colon) portp = colon + 1;
        for (const char *c = h; c < hend; c++)
            if (!host_char_ok(*c)) return bad(d, s, "invalid character in host");
    }
    if (hend == h) return bad(d, s, "missing host");

    unsigned long port = u->tls ? 443 : 80;
    if (portp) {
        if (portp == aend) return bad(d, s, "empty port");
        if (aend - portp > 5) return bad(d, s, "port out of range");
        port = 0;
        for (const char *c = portp; c < aend; c++) {
            if (*c < '0' || *c > '9') return bad(d, s, "port must be a number");
            port = port * 10 + (unsigned long)(*c - '0');
        }
        if (port == 0 || port > 65535) return bad(d, s, "port out of range (1-65535)");
    }
    u->port = (uint16_t)port;

    u->host = tr_strndup(h, (size_t)(hend - h));
    if (*rest == '/') {
        u->path = tr_strdup(rest);
    } else {
        /* "ws://h?x" has an empty path: the request target still needs '/' */
        size_t n = strlen(rest);
        u->path = tr_malloc(n + 2);
        if (u->path) {
            u->path[0] = '/';
            memcpy(u->path + 1, rest, n + 1);
        }
    }
    /* The Host header carries the port only when it is not the default. */
    char auth[TR_WS_URL_MAX + 16];
    bool dflt = port == (u->tls ? 443u : 80u);
    int n = snprintf(auth, sizeof auth, "%s%.*s%s", v6 ? "[" : "", (int)(hend - h), h,
                     v6 ? "]" : "");
    if (!dflt && n > 0) snprintf(auth + n, sizeof auth - (size_t)n, ":%lu", port);
    u->authority = tr_strdup(auth);
    if (!u->host || !u->path || !u->authority) {
        tr_ws_url_fini(u);
        return -ENOMEM;
    }
    return 0;
}
