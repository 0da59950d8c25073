/* url.c - parsing Tremor artefact URLs and substituting {placeholders}.
 *
 * Not a general URL library: only the shape of url.h. Parsing never
 * allocates; every segment is length-checked against the fixed fields of
 * struct tr_url before it is copied. Error messages quote the URL and give a
 * 1-based character position so a caller can add the file location.
 */
#include "config/url.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

static const char *const kind_names[] = {"onramp", "offramp", "pipeline", "binding"};

const char *tr_url_kind_name(enum tr_url_kind k) {
    return (unsigned)k < 4 ? kind_names[k] : "?";
}

static int bad(struct tr_url *u, struct tr_diag *d, const char *s, size_t pos, const char *what) {
    memset(u, 0, sizeof *u);
    return tr_diag_set(d, TR_EPARSE, "", 0, 0, "invalid URL '%s': %s (at character %zu)", s, what,
                       pos + 1);
}

/* Characters that cannot be part of a segment: they would make the URL mean
 * something else to a real URL parser, or cannot be written unquoted. */
static int bad_char(unsigned char c) {
    return c < 0x20 || c == 0x7f || c == ' ' || c == '?' || c == '#' || c == '\\';
}

static int copy_seg(char *dst, size_t cap, const char *p, size_t n) {
    if (n >= cap) return TR_ETOOBIG;
    memcpy(dst, p, n);
    dst[n] = 0;
    return 0;
}

int tr_url_parse(const char *s, struct tr_url *u, struct tr_diag *d) {
    memset(u, 0, sizeof *u);
    if (!s) return tr_diag_set(d, TR_EPARSE, "", 0, 0, "invalid URL: none given");
    size_t len = strlen(s), i = 0;
    int rel = 0;
    for (size_t k = 0; k < len; k++)
        if (bad_char((unsigned char)s[k])) {
            char what[64];
            snprintf(what, sizeof what, "character 0x%02X is not allowed", (unsigned char)s[k]);
            return bad(u, d, s, k, what);
        }
    if (!strncmp(s, "tremor://", 9)) {
        i = 9;
        size_t h = i;
        while (i < len && s[i] != '/') i++;
        if (copy_seg(u->host, sizeof u->host, s + h, i - h))
            return bad(u, d, s, h, "host name longer than 127 characters");
        if (i == len) return bad(u, d, s, i, "expected '/<kind>/<artefact>' after the host");
    } else if (s[0] != '/') {
        const char *colon = strstr(s, "://");
        if (colon)
            return bad(u, d, s, 0, "only tremor:// URLs are understood");
        if (len == 0) return bad(u, d, s, 0, "expected '/<kind>/<artefact>[/<instance>[/<port>]]'");
        /* relative (0.11 reads it against tremor://localhost/):
         * onramp/http_in/{instance}/in */
        rel = 1;
    }
    /* s[i] == '/' (or a relative path's start): at most 4 segments */
    const char *seg[5];
    size_t seglen[5], segpos[5];
    int nseg = 0;
    while (i < len) {
        size_t start = rel ? i : ++i;   /* skip the '/' */
        rel = 0;
        while (i < len && s[i] != '/') i++;
        if (i == start) {
            if (i == len) break;   /* one trailing '/' is allowed */
            return bad(u, d, s, start, "empty path segment");
        }
        if (nseg == 4)
            return bad(u, d, s, start,
                       "too many path segments (at most /<kind>/<artefact>/<instance>/<port>)");
        seg[nseg] = s + start;
        seglen[nseg] = i - start;
        segpos[nseg] = start;
        nseg++;
    }
    if (nseg == 0) return bad(u, d, s, i, "expected '/<kind>/<artefact>'");
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (strlen(kind_names[k]) == seglen[0] && !memcmp(seg[0], kind_names[k], seglen[0]))
            kind = k;
    if (kind < 0) {
        char what[200];
        snprintf(what, sizeof what,
                 "unknown artefact kind '%.*s' (expected onramp, offramp, pipeline or binding)",
                 (int)(seglen[0] > 64 ? 64 : seglen[0]), seg[0]);
        return bad(u, d, s, segpos[0], what);
    }
    u->kind = (enum tr_url_kind)kind;
    if (nseg < 2) return bad(u, d, s, len, "no artefact id after the kind");
    if (copy_seg(u->artefact, sizeof u->artefact, seg[1], seglen[1]))
        return bad(u, d, s, segpos[1], "artefact id longer than 127 characters");
    if (nseg > 2 && copy_seg(u->instance, sizeof u->instance, seg[2], seglen[2]))
        return bad(u, d, s, segpos[2], "instance id longer than 127 characters");
    if (nseg > 3 && copy_seg(u->port, sizeof u->port, seg[3], seglen[3]))
        return bad(u, d, s, segpos[3], "port name longer than 63 characters");
    return 0;
}

int tr_url_format(const struct tr_url *u, char *buf, size_t n) {
    return snprintf(buf, n, "%s%s/%s/%s%s%s%s%s", u->host[0] ? "tremor://" : "", u->host,
                    tr_url_kind_name(u->kind), u->artefact, u->instance[0] ? "/" : "",
                    u->instance, u->port[0] ? "/" : "", u->port);
}

/* "a, b, c" of the names a vars record defines (truncated to fit). */
static void list_names(const tr_value *vars, char *buf, size_t n) {
    buf[0] = 0;
    if (!vars || vars->type != TR_REC || tr_rec_len(vars) == 0) {
        snprintf(buf, n, "none");
        return;
    }
    size_t used = 0;
    for (uint32_t i = 0; i < tr_rec_len(vars) && used + 1 < n; i++) {
        const struct tr_str *k = tr_rec_at(vars, i)->key;
        int w = snprintf(buf + used, n - used, "%s%.*s", i ? ", " : "",
                         (int)(k->len > 64 ? 64 : k->len), k->data);
        if (w < 0) break;
        used += (size_t)w;
    }
}

int tr_url_substitute(const char *s, const tr_value *vars, char **out, struct tr_diag *d) {
    *out = NULL;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = 0;
    const char *p = s;
    char names[256];
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            rc = tr_buf_append(&b, p, strlen(p));
            break;
        }
        rc = tr_buf_append(&b, p, (size_t)(open - p));
        if (rc) break;
        const char *close = strchr(open + 1, '}');
        if (!close) {
            rc = tr_diag_set(d, TR_EINVAL_CFG, "", 0, 0,
                             "'{' without a closing '}' in '%s' (at character %zu)", s,
                             (size_t)(open - s) + 1);
            break;
        }
        size_t nlen = (size_t)(close - open - 1);
        if (nlen == 0) {
            rc = tr_diag_set(d, TR_EINVAL_CFG, "", 0, 0,
                             "empty placeholder '{}' in '%s' (at character %zu)", s,
                             (size_t)(open - s) + 1);
            break;
        }
        const tr_value *v = NULL;
        if (vars && vars->type == TR_REC) v = tr_rec_get(vars, open + 1, nlen);
        if (!v) {
            list_names(vars, names, sizeof names);
            rc = tr_diag_set(d, TR_EINVAL_CFG, "", 0, 0,
                             "unknown placeholder '{%.*s}' in '%s' (the mapping defines: %s)",
                             (int)(nlen > 64 ? 64 : nlen), open + 1, s, names);
            break;
        }
        if (v->type != TR_STR) {
            rc = tr_diag_set(d, TR_EINVAL_CFG, "", 0, 0,
                             "placeholder '{%.*s}' in '%s' has a %s value, expected a string",
                             (int)(nlen > 64 ? 64 : nlen), open + 1, s,
                             tr_type_name((enum tr_type)v->type));
            break;
        }
        rc = tr_buf_append(&b, v->as.s->data, v->as.s->len);
        if (rc) break;
        if (b.len > TR_URL_MAX_SUBST) break;
        p = close + 1;
    }
    if (!rc && b.len > TR_URL_MAX_SUBST)
        rc = tr_diag_set(d, TR_ETOOBIG, "", 0, 0,
                         "'%s' grows beyond %d bytes once placeholders are substituted", s,
                         TR_URL_MAX_SUBST);
    if (rc) {
        tr_buf_fini(&b);
        return rc;
    }
    *out = tr_buf_steal(&b, NULL);
    if (!*out) {
        /* an empty result never allocated: hand out an empty string */
        *out = tr_strdup("");
        if (!*out) return -ENOMEM;
    }
    return 0;
}
