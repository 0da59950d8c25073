/* registry.c - connector kinds known to the configuration's `type:` key. */
#include <string.h>

#include "connectors/conn.h"

extern const struct tr_onramp_ops tr_blaster_onramp;
extern const struct tr_onramp_ops tr_file_onramp;
extern const struct tr_onramp_ops tr_metronome_onramp;
extern const struct tr_onramp_ops tr_stdin_onramp;
extern const struct tr_onramp_ops tr_tcp_onramp;
extern const struct tr_onramp_ops tr_ws_onramp;
extern const struct tr_offramp_ops tr_blackhole_offramp;
extern const struct tr_offramp_ops tr_file_offramp;
extern const struct tr_offramp_ops tr_stdout_offramp;
extern const struct tr_offramp_ops tr_stderr_offramp;
extern const struct tr_offramp_ops tr_tcp_offramp;
extern const struct tr_offramp_ops tr_ws_offramp;

static const struct tr_onramp_ops *const onramps[] = {
    &tr_blaster_onramp,
    &tr_file_onramp,
    &tr_metronome_onramp,
    &tr_stdin_onramp,
    &tr_tcp_onramp,
    &tr_ws_onramp,
};

static const struct tr_offramp_ops *const offramps[] = {
    &tr_blackhole_offramp,
    &tr_file_offramp,
    &tr_stdout_offramp,
    &tr_stderr_offramp,
    &tr_tcp_offramp,
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

const char *tr_onramp_types(void) { return "blaster, file, metronome, stdin, tcp, ws"; }
const char *tr_offramp_types(void) { return "blackhole, file, stdout, stderr, tcp, ws"; }
