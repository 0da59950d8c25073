/* conn.h - the interface between the runtime and connectors.
 *
 * An onramp (source) produces events on the runtime's libuv loop; an offramp
 * (sink) consumes them. Connectors never see pipelines: the runtime hosts
 * each one, encodes/decodes with the configured codec and processors, keeps
 * the ids of every event in flight and turns an offramp's ack/fail by token
 * into contraflow. All calls happen on the loop thread.
 *
 * Offramp delivery contract: every send() of a transactional message must be
 * answered exactly once by tr_offramp_ack() or tr_offramp_fail() with its
 * token, also when the connection dies or the offramp closes (then: fail).
 * Before that answer it may be released once (tr_offramp_release): the peer
 * has it, so it leaves the sender's in-flight window, but the source keeps
 * it until the ack (and replays it after a fail).
 *
 * Contraflow rule: the runtime never calls back into a connector from inside
 * the host call it is making. tr_offramp_ack/fail/release/trigger/restore
 * only queue the insight (core/defer.h, the loop's deferred queue); it
 * travels upstream, and whatever it lets a source emit reaches send() again,
 * from the loop after the connector's callback has returned. The same holds
 * for an onramp's trigger/restore/ack/fail (delivered from the loop, never
 * inside emit_*) and for close(): its done(arg) may be called inside close(),
 * the runtime acts on it later. So a connector may answer from inside send()
 * or in the middle of walking its own queue without guarding against
 * re-entry. Answers of one offramp reach upstream in the order given.
 */
#ifndef TR_CONN_H
#define TR_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "core/error.h"
#include "core/value.h"

struct tr_preproc_limits;   /* codec/proc.h */
struct tr_codec;            /* codec/codec.h */
struct tr_cmap_pos;         /* config/cmap.h */
struct tr_ids;              /* core/event.h */

/* An onramp/offramp entry of the configuration, as a connector sees it.
 * Valid during create() only: copy what you keep. */
struct tr_conn_spec {
    const char *id;          /* artefact id, e.g. "metronome" */
    const char *type;        /* "metronome", "ws", ... */
    const char *instance;    /* e.g. "01" */
    const tr_value *config;  /* the entry's `config:` record, or a TR_NULL value */
    const char *file;        /* where the entry is, for diagnostics */
    int line, col;
    /* Optional: where each key of config was written, in its order (NULL:
     * config errors point at the entry). */
    const struct tr_cmap_pos *keys;
    uint32_t nkeys;
    bool linked;             /* the entry's `linked: true` (a linked transport) */
    const char *codec;       /* the entry's `codec:`, NULL when not given */
};

/* Check spec->config against a config map (config/cmap.h) and fill cfg:
 * unknown keys, types, ranges, required keys; defaults for absent ones.
 * Errors read "<type> '<id>': config.<key> must be ..." located at the
 * key when spec->keys has it, else at the entry. Strings written into cfg
 * are borrowed from spec->config. */
struct tr_cmap_entry;
int tr_conn_cfg_apply(const struct tr_conn_spec *s, const struct tr_cmap_entry *map, void *cfg,
                      struct tr_diag *d);

/* For a connector's own checks past the map (a host that does not parse):
 * fills d with TR_EINVAL_CFG and "<type> '<id>': config.<key> <message>",
 * located at that key when known, and returns TR_EINVAL_CFG. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int tr_conn_cfg_fail(const struct tr_conn_spec *s, const char *key, struct tr_diag *d,
                     const char *fmt, ...);

/* ---------------------------------------------------------------- onramps */

/* The runtime's side of an onramp. The runtime embeds this struct first in
 * its own; tests may supply their own ops. */
struct tr_onramp_host;
struct tr_onramp_host_ops {
    int64_t (*emit_value)(struct tr_onramp_host *h, tr_value value, tr_value meta);
    int (*emit_bytes)(struct tr_onramp_host *h, uint64_t stream, const void *data, size_t len,
                      tr_value meta);
    void (*stream_end)(struct tr_onramp_host *h, uint64_t stream);
    void (*done)(struct tr_onramp_host *h);
    /* The whole server should stop gracefully and exit 0 (Tremor's
     * close_on_done: a file onramp at the end of its file). */
    void (*shutdown)(struct tr_onramp_host *h);
    /* Optional (NULL: shutdown): stop gracefully and exit with code (the
     * cb test source's verdict). */
    void (*exit)(struct tr_onramp_host *h, int code);
    /* Optional: the id the next event of this onramp will get. Ids rise by
     * one per event (error events included), so the ids one emit_bytes()
     * gave are [next_id before, next_id after). NULL: not known. */
    uint64_t (*next_id)(struct tr_onramp_host *h);
    /* Optional (NULL: not available): an error event out of the port `err`
     * in 0.11's shape ({"error": msg, "event_id", "source_id"}, meta
     * {"error"}), with an event id of this onramp, so a linked onramp can
     * be answered through it. Returns that id, or a negative error
     * (TR_ENOTFOUND: nothing is linked from `err`). */
    int64_t (*emit_error)(struct tr_onramp_host *h, const char *msg);
    /* Optional: how many events (error events not counted) this onramp has
     * emitted so far. Read around an emit_bytes() with next_id it tells how
     * many of those ids will be acked, so a source that commits what it
     * read (kafka offsets) knows when a record is settled. NULL: not known. */
    uint64_t (*events)(struct tr_onramp_host *h);
};
struct tr_onramp_host {
    const struct tr_onramp_host_ops *ops;
    uv_loop_t *loop;
    /* Whether this instance's events want acks: the runtime sets it from
     * tr_onramp_ops.transactional before create(), which may change it
     * (an onramp transactional by configuration). */
    bool transactional;
};

struct tr_onramp_ops {
    const char *type;
    bool transactional;      /* wants acks/fails for its events */
    /* It learns which event ids its bytes became from tr_onramp_next_id /
     * tr_onramp_events around its emit calls (kafka, relp, ws with
     * hop_ack), so those ids must be taken inside the call: its frames are
     * never decoded off the loop (pipeline/world_decode.c). */
    bool ids_at_emit;
    const char *default_codec;  /* without `codec:` (0.11's default_codec); NULL: "json" */
    int (*create)(const struct tr_conn_spec *spec, struct tr_onramp_host *host, void **self,
                  struct tr_diag *d);
    int (*start)(void *self);                /* begin producing */
    void (*trigger)(void *self);             /* breaker: stop producing */
    void (*restore)(void *self);             /* breaker: produce again */
    void (*ack)(void *self, uint64_t event_id);
    void (*fail)(void *self, uint64_t event_id);
    /* Optional: an ack as the ids of this onramp the acked event carries,
     * min..max (an event built from several, e.g. a batch). When set it is
     * called instead of ack. Like Tremor's, event ids track ranges, so ids
     * between min and max that took another path are in it too. */
    void (*ack_range)(void *self, uint64_t min, uint64_t max);
    /* Stop producing, release every handle, then call done(arg) (maybe later). */
    void (*close)(void *self, void (*done)(void *arg), void *arg);
    /* Optional (NULL: defaults): bounds for what the runtime buffers for
     * each stream of this onramp (preprocessor state), asked once per new
     * stream; the pointer must stay valid until close. When a stream passes
     * them, emit_bytes returns TR_ETOOBIG or TR_EFULL and the onramp should
     * end that stream (close the connection). */
    const struct tr_preproc_limits *(*stream_limits)(void *self);
    /* Optional: the preprocessors used when the entry names none (stdin
     * reads lines, as in Tremor). NULL / 0: none. */
    char *const *default_pre;
    size_t ndefault_pre;
    /* Optional (linked transports, 0.11's reply_event): an event a pipeline
     * sent back to this onramp through a link to /onramp/ID/INSTANCE/in.
     * event_id is the largest id of this onramp the event carries (the
     * request it answers); stream the stream of emit_bytes that produced
     * that event (0 for emit_value, or when the runtime no longer knows:
     * it remembers the last 4096); codec is the entry's. value and meta
     * are borrowed for the call. NULL: the onramp cannot be linked back to. */
    void (*reply)(void *self, uint64_t event_id, uint64_t stream, const tr_value *value,
                  const tr_value *meta, const struct tr_codec *codec);
};

static inline uv_loop_t *tr_onramp_loop(struct tr_onramp_host *h) { return h->loop; }
/* An already structured event (codec bypassed). Takes value and meta.
 * Returns the event id given to it (>= 0) or a negative error. */
static inline int64_t tr_onramp_emit_value(struct tr_onramp_host *h, tr_value value, tr_value meta) {
    return h->ops->emit_value(h, value, meta);
}
/* Raw bytes of one stream (one connection): run through the preprocessors
 * and the codec; each decoded value becomes an event. Takes meta. Codec and
 * preprocessor errors become events on the onramp's `err` port (0.11's
 * shape), logged (rate-limited) and counted, never fatal; a negative return means the
 * stream cannot go on (a frame or buffer over the stream_limits, or out of
 * memory) and every later call for it fails the same way.
 * TR_ONRAMP_PAUSED: these events made a breaker downstream trigger (a full
 * qos::wal), or met one already on its way: stop reading now, as trigger()
 * will say (it follows from the
 * loop, then a restore when there is room). An onramp that reads many
 * chunks per loop turn must act on it, or it overruns what the WAL holds. */
#define TR_ONRAMP_PAUSED 1

/* What a linked server onramp (rest, ws) answers a request with while a
 * breaker downstream is open, instead of holding it until the restore (a
 * proxy's upstream may be down for long): the rest onramp with status 503
 * and retry-after: 1, the ws onramp as a text message. */
#define TR_BUSY_ERROR "{\"error\":\"unavailable: a circuit breaker downstream is open, retry later\"}"
static inline int tr_onramp_emit_bytes(struct tr_onramp_host *h, uint64_t stream, const void *data,
                                       size_t len, tr_value meta) {
    return h->ops->emit_bytes(h, stream, data, len, meta);
}
/* The stream ended: flush preprocessor state (a last line without newline). */
static inline void tr_onramp_stream_end(struct tr_onramp_host *h, uint64_t stream) {
    h->ops->stream_end(h, stream);
}
/* The onramp has nothing more to say (end of file, iterations done). */
static inline void tr_onramp_done(struct tr_onramp_host *h) { h->ops->done(h); }
static inline void tr_onramp_shutdown(struct tr_onramp_host *h) { h->ops->shutdown(h); }
/* The id the next event will get, or 0 when the host does not say. Only
 * exact around emit calls for a connector with ids_at_emit. */
static inline uint64_t tr_onramp_next_id(struct tr_onramp_host *h) {
    return h->ops->next_id ? h->ops->next_id(h) : 0;
}
/* Events emitted so far (see tr_onramp_host_ops.events), or 0 when the
 * host does not say. */
static inline uint64_t tr_onramp_events(struct tr_onramp_host *h) {
    return h->ops->events ? h->ops->events(h) : 0;
}
/* Stop gracefully, then exit the server with code (0.11's exit(code)). */
static inline void tr_onramp_exit(struct tr_onramp_host *h, int code) {
    if (h->ops->exit) h->ops->exit(h, code);
    else h->ops->shutdown(h);
}

/* --------------------------------------------------------------- offramps */

struct tr_offramp_host;
struct tr_offramp_host_ops {
    void (*ack)(struct tr_offramp_host *h, uint64_t token);
    void (*fail)(struct tr_offramp_host *h, uint64_t token);
    void (*trigger)(struct tr_offramp_host *h);
    void (*restore)(struct tr_offramp_host *h);
    /* The offramp has finished its job (e.g. a benchmark sink after its set
     * time): the server stops gracefully and exits 0. */
    void (*shutdown)(struct tr_offramp_host *h);
    /* May be NULL: the host has no window to free. */
    void (*release)(struct tr_offramp_host *h, const uint64_t *tokens, size_t n);
    /* May be NULL (no linked offramps). See tr_offramp_emit. */
    int (*emit)(struct tr_offramp_host *h, uint64_t token, bool err, tr_value value, tr_value meta);
    /* Optional (NULL: shutdown): stop gracefully and exit with code (the
     * `exit` offramp). */
    void (*exit)(struct tr_offramp_host *h, int code);
};
struct tr_offramp_host {
    const struct tr_offramp_host_ops *ops;
    uv_loop_t *loop;
};

struct tr_out_msg {
    uint64_t token;          /* answer transactional messages with this */
    bool transactional;
    const char *data;        /* encoded payload (codec + postprocessors); valid during send() only */
    size_t len;
    const tr_value *meta;    /* the event's metadata ($url, $binary, ...) */
    uint64_t ingest_ns;
    /* The event before encoding and its ids (NULL when the host has none,
     * e.g. a chunk of a split payload): for sinks that build their own
     * wire format from values (elastic). Valid during send() only. */
    const tr_value *value;
    const struct tr_ids *ids;
    /* value is a batch (generic::batch): data holds its elements encoded one
     * after another; value has Tremor's {"data": {"value", "meta", ...}} per
     * element (connectors/batch.h), for sinks that answer each one. */
    bool is_batch;
};

struct tr_offramp_ops {
    const char *type;
    /* It can be a linked transport: with `linked: true` it answers every
     * message (transactional or not) and sends responses (tr_offramp_emit). */
    bool linked;
    /* It is linked whether or not its entry says `linked: true`: 0.11's kv
     * and dns sinks ignore the flag and always reply on out/err, so 0.11's
     * configs link from them without it. The world hands create
     * spec->linked = true for these. */
    bool always_linked;
    /* send reads the message's bytes, never its value: an event still
     * holding undecoded JSON (TR_RAWJSON) is sent as it came in, under a
     * codec that writes it so. Sinks that build their own wire format
     * from values leave it false and always get decoded values. */
    bool bytes_only;
    int (*create)(const struct tr_conn_spec *spec, struct tr_offramp_host *host, void **self,
                  struct tr_diag *d);
    int (*start)(void *self);
    void (*send)(void *self, const struct tr_out_msg *m);
    void (*tick)(void *self, uint64_t now_ns);          /* every 100 ms; may be NULL */
    bool (*is_active)(void *self);                      /* connected and able to send */
    void (*close)(void *self, void (*done)(void *arg), void *arg);
};

static inline uv_loop_t *tr_offramp_loop(struct tr_offramp_host *h) { return h->loop; }
static inline void tr_offramp_ack(struct tr_offramp_host *h, uint64_t token) { h->ops->ack(h, token); }
static inline void tr_offramp_fail(struct tr_offramp_host *h, uint64_t token) { h->ops->fail(h, token); }
/* The peer has these n tokens, their acks or fails come later (see the
 * contract above). One call for a run: the host tells each upstream window
 * once for the whole run, not once per token. */
static inline void tr_offramp_release(struct tr_offramp_host *h, const uint64_t *tokens, size_t n) {
    if (h->ops->release && n) h->ops->release(h, tokens, n);
}
/* breaker: I cannot send now */
static inline void tr_offramp_trigger(struct tr_offramp_host *h) { h->ops->trigger(h); }
/* breaker: I can send again */
static inline void tr_offramp_restore(struct tr_offramp_host *h) { h->ops->restore(h); }
static inline void tr_offramp_shutdown(struct tr_offramp_host *h) { h->ops->shutdown(h); }
/* Linked offramps (`linked: true`): a response event out of the port `out`
 * (err false) or `err` into the pipelines linked from there. It carries the
 * ids of the message with `token` (so a linked onramp upstream finds the
 * request it answers): call it before that token's ack or fail. Every
 * message a linked offramp is sent has a token, transactional or not, and
 * each must be answered (a non-transactional answer goes nowhere). Takes
 * value and meta. Returns 0, TR_ENOTFOUND for a token not in flight,
 * TR_EUNSUPPORTED when the host has no links. */
static inline int tr_offramp_emit(struct tr_offramp_host *h, uint64_t token, bool err, tr_value value,
                                  tr_value meta) {
    if (!h->ops->emit) {
        tr_value_unref(value);
        tr_value_unref(meta);
        return TR_EUNSUPPORTED;
    }
    return h->ops->emit(h, token, err, value, meta);
}
static inline void tr_offramp_exit(struct tr_offramp_host *h, int code) {
    if (h->ops->exit) h->ops->exit(h, code);
    else h->ops->shutdown(h);
}

/* Registry of connector kinds (connectors/registry.c). NULL when unknown. */
const struct tr_onramp_ops *tr_onramp_find(const char *type);
const struct tr_offramp_ops *tr_offramp_find(const char *type);
/* The config map of a connector type (NULL when unknown or not described
 * yet); *found says whether the type exists at all. */
const struct tr_cmap_entry *tr_onramp_cmap(const char *type, int *found);
const struct tr_cmap_entry *tr_offramp_cmap(const char *type, int *found);
/* Print the config map(s) of a connector type to f (onramp and offramp when
 * both exist); with type NULL or unknown, print the lists of types instead
 * and return TR_ENOTFOUND for an unknown one. */
int tr_conn_help(const char *type, FILE *f);
/* Comma-separated list of known types, for error messages. */
const char *tr_onramp_types(void);
const char *tr_offramp_types(void);

/* "addr:port" (or "[addr]:port") of a connection's peer, for log lines;
 * "unknown peer" when it has gone already. Never fails. */
void tr_conn_peer_name(uv_tcp_t *t, char *out, size_t n);

#endif
