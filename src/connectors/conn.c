/* conn.c - typed, located reads of a connector's `config:` record.
 *
 * tr_conn_cfg_apply is the way in: it hands the record to the connector's
 * config map, with each key's position so errors point at the key. The
 * one-key readers below predate the maps and stay only for the connectors
 * not yet described by one (ws_client).
 */
#include "connectors/conn.h"

#include "config/cmap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tr_conn_cfg_apply(const struct tr_conn_spec *s, const struct tr_cmap_entry *map, void *cfg,
                      struct tr_diag *d) {
    struct tr_cmap_src src = {.file = s->file, .line = s->line, .col = s->col, .kind = s->type,
                              .id = s->id, .style = TR_CMAP_STYLE_CONFIG, .keys = s->keys,
                              .nkeys = s->nkeys};
    return tr_cmap_apply(map, s->config, cfg, &src, d);
}

/* Where key was written: its own line:col when known, else the entry's. */
static void key_pos(const struct tr_conn_spec *s, const char *key, int *line, int *col) {
    *line = s->line;
    *col = s->col;
    const tr_value *c = s->config;
    for (uint32_t i = 0; c && c->type == TR_REC && s->keys && i < tr_rec_len(c) && i < s->nkeys; i++)
        if (strcmp(tr_rec_at(c, i)->key->data, key) == 0 && s->keys[i].line > 0) {
            *line = s->keys[i].line;
            *col = s->keys[i].col;
        }
}

int tr_conn_cfg_fail(const struct tr_conn_spec *s, const char *key, struct tr_diag *d,
                     const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    key_pos(s, key, &line, &col);
    return tr_diag_set(d, TR_EINVAL_CFG, s->file, line, col, "%s '%s': config.%s %s", s->type, s->id,
                       key, msg);
}

static const tr_value *get(const struct tr_conn_spec *s, const char *key) {
    if (!s->config || s->config->type != TR_REC) return NULL;
    return tr_rec_get_cstr(s->config, key);
}

/* One key through a one-entry map, so these readers check and word
 * exactly as the maps do. */
static int read_one(const struct tr_conn_spec *s, const char *key, enum tr_cmap_type type,
                    void *out, struct tr_diag *d) {
    const tr_value *v = get(s, key);
    if (!v) return TR_ENOTFOUND;
    struct tr_cmap_entry e = {TR_CMAP_KEY(type, key, NULL, 0, 0, NULL)};
    struct tr_cmap_src src = {.file = s->file, .kind = s->type, .id = s->id,
                              .style = TR_CMAP_STYLE_CONFIG};
    key_pos(s, key, &src.line, &src.col);
    return tr_cmap_apply_one(&e, v, out, &src, d);
}

int tr_conn_cfg_str(const struct tr_conn_spec *s, const char *key, const char **out,
                    struct tr_diag *d) {
    return read_one(s, key, TR_CMAP_STR, out, d);
}

int tr_conn_cfg_uint(const struct tr_conn_spec *s, const char *key, uint64_t *out,
                     struct tr_diag *d) {
    return read_one(s, key, TR_CMAP_U64, out, d);
}

int tr_conn_cfg_bool(const struct tr_conn_spec *s, const char *key, bool *out,
                     struct tr_diag *d) {
    return read_one(s, key, TR_CMAP_BOOL, out, d);
}

int tr_conn_cfg_known(const struct tr_conn_spec *s, const char *const *keys, struct tr_diag *d) {
    if (!s->config || s->config->type != TR_REC) return 0;
    for (uint32_t i = 0; i < tr_rec_len(s->config); i++) {
        const char *k = tr_rec_at(s->config, i)->key->data;
        int ok = 0;
        for (const char *const *p = keys; *p; p++)
            if (strcmp(*p, k) == 0) ok = 1;
        if (ok) continue;
        char known[512] = "";
        size_t off = 0;
        for (const char *const *p = keys; *p && off < sizeof known; p++) {
            int w = snprintf(known + off, sizeof known - off, "%s%s", off ? ", " : "", *p);
            if (w < 0) break;
            off += (size_t)w;
        }
        int line, col;
        key_pos(s, k, &line, &col);
        return tr_diag_set(d, TR_EINVAL_CFG, s->file, line, col,
                           "%s '%s': unknown config key '%s' (known: %s)", s->type, s->id, k,
                           known[0] ? known : "none");
    }
    return 0;
}

void tr_conn_peer_name(uv_tcp_t *t, char *out, size_t n) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64];
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0 &&
        uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip) == 0) {
        if (ss.ss_family == AF_INET6)
            snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
        else
            snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
        return;
    }
    snprintf(out, n, "unknown peer");
}
