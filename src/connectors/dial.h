/* dial.h - the TCP connection under a stream offramp (ws, tcp): connect to
 * host:port trying every resolved address, retry while away (capped
 * exponential backoff with jitter: 0.5-1 s first, at most 5 s),
 * write bytes, and answer transactional messages once the peer's TCP has
 * acknowledged their last byte (outq.h: TX_ACK reports as they come, else
 * SIOCOUTQ polling). Sends never wait for acks: any number of messages may
 * be tracked at once. Not a protocol: the owner frames its bytes, logs and
 * drives its breaker from the up/down callbacks.
 * Invariant: at most one connection is current; every tracked message is
 * answered exactly once (acked or failed), in stream order.
 */
#ifndef TR_DIAL_H
#define TR_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "connectors/conn.h"
#include "core/buf.h"

struct tr_hist;

struct tr_dial;

/* All called on the loop; arg is the one given to tr_dial_create. */
struct tr_dial_cbs {
    /* TCP is connected and being read; tcp is lent for socket options. */
    void (*up)(void *arg, uv_tcp_t *tcp);
    /* Bytes from the peer; NULL when they are read only to see it leave. */
    void (*read)(void *arg, const char *p, size_t n);
    /* A write completed and acks were checked; may be NULL. */
    void (*written)(void *arg);
    /* Optional: tracked tokens the peer has (acked) or that are lost with
     * the connection (failed) go here instead of to the host, so the owner
     * can answer them itself (e.g. after a linger). */
    void (*acked)(void *arg, uint64_t token);
    /* Optional: after a run of acked() calls (one peer acknowledgement
     * answers many), so the owner can answer the run at once. */
    void (*acked_all)(void *arg);
    void (*failed)(void *arg, uint64_t token);
    /* The connection (connected: up() was called) or an attempt ended.
     * What the peer had is acked before this call, the rest is failed
     * right after it; then the next attempt is planned (unless closing). */
    void (*down)(void *arg, bool connected, const char *why);
};

enum tr_dial_flags {
    /* Acks also wait for tr_dial_confirm (e.g. the peer's application
     * answered a ping), not only for the peer's TCP. */
    TR_DIAL_ACK_CONFIRMED = 1 << 0,
    /* Do not ask for TX_ACK reports: poll SIOCOUTQ (the fallback; tests). */
    TR_DIAL_ACK_POLL = 1 << 1,
};

/* Counters of one dial over all its connections. */
struct tr_dial_stats {
    uint64_t acked, failed;      /* tracked messages answered */
    uint64_t reports;            /* TX_ACK reports read */
    uint64_t polls;              /* SIOCOUTQ reads */
    struct tr_hist *ack_ns;      /* handed to the socket (tr_dial_write, or
                                  * tr_dial_track when the bytes were already
                                  * written) -> peer acknowledged (and
                                  * confirmed), ns; NULL if it could not be made */
};

/* Prepare (nothing happens before tr_dial_start). hostname is copied.
 * 0 and *out, or -ENOMEM (*out NULL). Acks and fails go to host. */
int tr_dial_create(uv_loop_t *loop, struct tr_offramp_host *host, const char *hostname,
                   uint16_t port, unsigned flags, const struct tr_dial_cbs *cbs, void *arg,
                   struct tr_dial **out);
/* The first attempt; later ones follow by themselves (tr_dial_retry_ms). */
void tr_dial_start(struct tr_dial *d);

/* True while the current connection is established (between up and down). */
bool tr_dial_connected(const struct tr_dial *d);
/* Write len bytes of data (taken, also on failure) on the current
 * connection. 0, -ENOMEM or a libuv error; on failure the caller decides
 * whether to tr_dial_drop. */
int tr_dial_write(struct tr_dial *d, char *data, size_t len);
/* Stream offset just past everything written on this connection so far. */
uint64_t tr_dial_queued(const struct tr_dial *d);
/* Bytes handed to tr_dial_write that libuv has not yet given the kernel. */
size_t tr_dial_backlog(const struct tr_dial *d);
/* Answer token once the peer acknowledged stream offset end (ends in
 * order). 0 or -ENOMEM (then it is not tracked: the caller answers it). */
int tr_dial_track(struct tr_dial *d, uint64_t token, uint64_t end);
/* TR_DIAL_ACK_CONFIRMED: the peer confirmed the stream up to end (takes
 * effect at the next check, e.g. tr_dial_poll_acks, which then also reads
 * the TX_ACK reports queued so far: one system call per confirmation). */
void tr_dial_confirm(struct tr_dial *d, uint64_t end);
/* Ack what the peer is known to have acknowledged (and confirmed), and
 * keep watching while some wait. Cheap enough to call per send: with TX_ACK
 * reports it makes no system call (they are read as they arrive). */
void tr_dial_poll_acks(struct tr_dial *d);
/* True while connected with TX_ACK reports (false: SIOCOUTQ polling). */
bool tr_dial_txack(const struct tr_dial *d);
/* Counters and the ack latency histogram (owned by d). */
const struct tr_dial_stats *tr_dial_stats(const struct tr_dial *d);
/* Append a blackhole-style report of the ack latencies headed by title.
 * 0 or -ENOMEM. */
int tr_dial_report(const struct tr_dial *d, const char *title, struct tr_buf *out);
/* tr_dial_report written to stdout at once, as the blackhole prints its
 * report (the offramps' `ack_report`). Best effort: nothing on -ENOMEM. */
void tr_dial_print_report(const struct tr_dial *d, const char *title);
/* The delay before the next attempt, planned when the last one ended (for
 * down() to say). */
uint64_t tr_dial_retry_ms(const struct tr_dial *d);
/* End the current connection (no-op without one); down() says why. */
void tr_dial_drop(struct tr_dial *d, const char *why);

/* Stop retrying. A connection still current may finish on its own for up
 * to linger_ms (the owner has said goodbye) before it is dropped with "no
 * close reply in time"; with linger_ms 0 it is dropped at once ("closing").
 * done(arg) runs once everything is freed (d is gone then). */
void tr_dial_close(struct tr_dial *d, unsigned linger_ms, void (*done)(void *), void *arg);

#endif
