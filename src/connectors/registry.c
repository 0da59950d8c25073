/* registry.c - connector kinds known to the configuration's `type:` key,
 * and the config map each one reads (for help and, later, the REST API).
 * A kind without a map yet has NULL: it still checks its keys itself. */
#include <stdio.h>
#include <string.h>

#include "config/cmap.h"
#include "connectors/conn.h"

extern const struct tr_onramp_ops tr_blaster_onramp;
extern const struct tr_onramp_ops tr_cb_onramp;
extern const struct tr_onramp_ops tr_crononome_onramp;
extern const struct tr_onramp_ops tr_file_onramp;
extern const struct tr_onramp_ops tr_kafka_onramp;
extern const struct tr_onramp_ops tr_metronome_onramp;
extern const struct tr_onramp_ops tr_nats_onramp;
extern const struct tr_onramp_ops tr_postgres_onramp;
extern const struct tr_onramp_ops tr_relp_onramp;
extern const struct tr_onramp_ops tr_rest_onramp;
extern const struct tr_onramp_ops tr_stdin_onramp;
extern const struct tr_onramp_ops tr_tcp_onramp;
extern const struct tr_onramp_ops tr_udp_onramp;
extern const struct tr_onramp_ops tr_unix_socket_onramp;
extern const struct tr_onramp_ops tr_ws_onramp;
extern const struct tr_offramp_ops tr_blackhole_offramp;
extern const struct tr_offramp_ops tr_cb_offramp;
extern const struct tr_offramp_ops tr_debug_offramp;
extern const struct tr_offramp_ops tr_dns_offramp;
extern const struct tr_offramp_ops tr_elastic_offramp;
extern const struct tr_offramp_ops tr_exit_offramp;
extern const struct tr_offramp_ops tr_file_offramp;
extern const struct tr_offramp_ops tr_kafka_offramp;
extern const struct tr_offramp_ops tr_kv_offramp;
extern const struct tr_offramp_ops tr_nats_offramp;
extern const struct tr_offramp_ops tr_postgres_offramp;
extern const struct tr_offramp_ops tr_rest_offramp;
extern const struct tr_offramp_ops tr_stdout_offramp;
extern const struct tr_offramp_ops tr_stderr_offramp;
extern const struct tr_offramp_ops tr_tcp_offramp;
extern const struct tr_offramp_ops tr_udp_offramp;
extern const struct tr_offramp_ops tr_unix_socket_offramp;
extern const struct tr_offramp_ops tr_ws_offramp;

extern const struct tr_cmap_entry tr_blackhole_cmap[];
extern const struct tr_cmap_entry tr_blaster_cmap[];
extern const struct tr_cmap_entry tr_cb_in_cmap[];
extern const struct tr_cmap_entry tr_cb_out_cmap[];
extern const struct tr_cmap_entry tr_crononome_cmap[];
extern const struct tr_cmap_entry tr_debug_cmap[];
extern const struct tr_cmap_entry tr_dns_cmap[];
extern const struct tr_cmap_entry tr_elastic_cmap[];
extern const struct tr_cmap_entry tr_exit_cmap[];
extern const struct tr_cmap_entry tr_file_in_cmap[];
extern const struct tr_cmap_entry tr_file_out_cmap[];
extern const struct tr_cmap_entry tr_kafka_in_cmap[];
extern const struct tr_cmap_entry tr_kafka_out_cmap[];
extern const struct tr_cmap_entry tr_kv_cmap[];
extern const struct tr_cmap_entry tr_metronome_cmap[];
extern const struct tr_cmap_entry tr_nats_in_cmap[];
extern const struct tr_cmap_entry tr_nats_out_cmap[];
extern const struct tr_cmap_entry tr_postgres_in_cmap[];
extern const struct tr_cmap_entry tr_postgres_out_cmap[];
extern const struct tr_cmap_entry tr_relp_server_cmap[];
extern const struct tr_cmap_entry tr_rest_server_cmap[];
extern const struct tr_cmap_entry tr_rest_client_cmap[];
extern const struct tr_cmap_entry tr_stdin_cmap[];
extern const struct tr_cmap_entry tr_stdout_cmap[];
extern const struct tr_cmap_entry tr_tcp_client_cmap[];
extern const struct tr_cmap_entry tr_tcp_server_cmap[];
extern const struct tr_cmap_entry tr_udp_in_cmap[];
extern const struct tr_cmap_entry tr_udp_out_cmap[];
extern const struct tr_cmap_entry tr_unix_server_cmap[];
extern const struct tr_cmap_entry tr_unix_client_cmap[];
extern const struct tr_cmap_entry tr_ws_server_cmap[];
extern const struct tr_cmap_entry tr_ws_client_cmap[];

static const struct {
    const char *type;
    const struct tr_cmap_entry *map;
} onramp_maps[] = {
    {"blaster", tr_blaster_cmap},
    {"cb", tr_cb_in_cmap},
    {"crononome", tr_crononome_cmap},
    {"file", tr_file_in_cmap},
    {"kafka", tr_kafka_in_cmap},
    {"metronome", tr_metronome_cmap},
    {"nats", tr_nats_in_cmap},
    {"postgres", tr_postgres_in_cmap},
    {"relp", tr_relp_server_cmap},
    {"rest", tr_rest_server_cmap},
    {"stdin", tr_stdin_cmap},
    {"tcp", tr_tcp_server_cmap},
    {"udp", tr_udp_in_cmap},
    {"unix-socket", tr_unix_server_cmap},
    {"ws", tr_ws_server_cmap},
}, offramp_maps[] = {
    {"blackhole", tr_blackhole_cmap},
    {"cb", tr_cb_out_cmap},
    {"debug", tr_debug_cmap},
    {"dns", tr_dns_cmap},
    {"elastic", tr_elastic_cmap},
    {"exit", tr_exit_cmap},
    {"file", tr_file_out_cmap},
    {"kafka", tr_kafka_out_cmap},
    {"kv", tr_kv_cmap},
    {"nats", tr_nats_out_cmap},
    {"postgres", tr_postgres_out_cmap},
    {"rest", tr_rest_client_cmap},
    {"stdout", tr_stdout_cmap},
    {"stderr", tr_stdout_cmap},
    {"tcp", tr_tcp_client_cmap},
    {"udp", tr_udp_out_cmap},
    {"unix-socket", tr_unix_client_cmap},
    {"ws", tr_ws_client_cmap},
};

static const struct tr_onramp_ops *const onramps[] = {
    &tr_blaster_onramp,
    &tr_cb_onramp,
    &tr_crononome_onramp,
    &tr_file_onramp,
    &tr_kafka_onramp,
    &tr_metronome_onramp,
    &tr_nats_onramp,
    &tr_postgres_onramp,
    &tr_relp_onramp,
    &tr_rest_onramp,
    &tr_stdin_onramp,
    &tr_tcp_onramp,
    &tr_udp_onramp,
    &tr_unix_socket_onramp,
    &tr_ws_onramp,
};

static const struct tr_offramp_ops *const offramps[] = {
    &tr_blackhole_offramp,
    &tr_cb_offramp,
    &tr_debug_offramp,
    &tr_dns_offramp,
    &tr_elastic_offramp,
    &tr_exit_offramp,
    &tr_file_offramp,
    &tr_kafka_offramp,
    &tr_kv_offramp,
    &tr_nats_offramp,
    &tr_postgres_offramp,
    &tr_rest_offramp,
    &tr_stdout_offramp,
    &tr_stderr_offramp,
    &tr_tcp_offramp,
    &tr_udp_offramp,
    &tr_unix_socket_offramp,
    &tr_ws_offramp,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const struct tr_onramp_ops *tr_onramp_find(const char *type) {
    for (size_t i = 0; i < COUNT(onramps); i++)
        if (strcmp(onramps[i]->type, type) == 0) return onramps[i];
    return NULL;
}

const struct tr_offramp_ops *tr_offramp_find(const char *type) {
    for (size_t i = 0; i < COUNT(offramps); i++)
        if (strcmp(offramps[i]->type, type) == 0) return offramps[i];
    return NULL;
}

/* The type lists for messages, made once from the tables above (on the
 * thread that loads the configuration). */
static const char *join_types(char *buf, size_t cap, const char *const *types, size_t n) {
    if (buf[0]) return buf;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", types[i]);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
    return buf;
}

const char *tr_onramp_types(void) {
    static char buf[512];
    const char *t[COUNT(onramps)];
    for (size_t i = 0; i < COUNT(onramps); i++) t[i] = onramps[i]->type;
    return join_types(buf, sizeof buf, t, COUNT(onramps));
}

const char *tr_offramp_types(void) {
    static char buf[512];
    const char *t[COUNT(offramps)];
    for (size_t i = 0; i < COUNT(offramps); i++) t[i] = offramps[i]->type;
    return join_types(buf, sizeof buf, t, COUNT(offramps));
}

const struct tr_cmap_entry *tr_onramp_cmap(const char *type, int *found) {
    *found = tr_onramp_find(type) != NULL;
    for (size_t i = 0; *found && i < COUNT(onramp_maps); i++)
        if (strcmp(onramp_maps[i].type, type) == 0) return onramp_maps[i].map;
    return NULL;
}

const struct tr_cmap_entry *tr_offramp_cmap(const char *type, int *found) {
    *found = tr_offramp_find(type) != NULL;
    for (size_t i = 0; *found && i < COUNT(offramp_maps); i++)
        if (strcmp(offramp_maps[i].type, type) == 0) return offramp_maps[i].map;
    return NULL;
}

static void print_one(const char *dir, const char *type, const struct tr_cmap_entry *map, FILE *f) {
    fprintf(f, "%s %s (config:):\n", dir, type);
    if (map) tr_cmap_print(map, f);
    else fprintf(f, "  (no config map yet: the connector checks its keys itself)\n");
}

int tr_conn_help(const char *type, FILE *f) {
    int on = 0, off = 0;
    const struct tr_cmap_entry *onmap = type ? tr_onramp_cmap(type, &on) : NULL;
    const struct tr_cmap_entry *offmap = type ? tr_offramp_cmap(type, &off) : NULL;
    if (!on && !off) {
        if (type) fprintf(f, "unknown connector type '%s'\n", type);
        fprintf(f, "onramp types: %s\nofframp types: %s\n", tr_onramp_types(), tr_offramp_types());
        return type ? TR_ENOTFOUND : 0;
    }
    if (on) print_one("onramp", type, onmap, f);
    if (on && off) fputc('\n', f);
    if (off) print_one("offramp", type, offmap, f);
    return 0;
}
