/* conn.c - typed, located reads of a connector's `config:` record.
 *
 * tr_conn_cfg_apply is the way in: it hands the record to the connector's
 * config map, with each key's position so errors point at the key; every
 * connector is described by one. Also the peer-name helper of the servers.
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
